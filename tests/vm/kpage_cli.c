/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kpage -- print the kernel's counts for a page (tests/vm/kpage.h), as root.
 *
 *   kpage --pfn PFN             the page frame PFN
 *   kpage --pid PID ADDR        the page at virtual address ADDR of PID
 *
 * Numbers may be decimal or 0x-prefixed hex.  One line of key=value pairs;
 * exit 1 with the reason on stderr when the records cannot be read.
 */
#define _GNU_SOURCE
#include "kpage.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
	fprintf(stderr, "usage: kpage --pfn PFN | kpage --pid PID ADDR\n");
	return 2;
}

static int number(const char *s, uint64_t *v)
{
	char *end;

	*v = strtoull(s, &end, 0);
	return *s && !*end ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct kpage *kp;
	struct kpage_counts c;
	uint64_t pfn, pid, addr;

	if (argc == 3 && strcmp(argv[1], "--pfn") == 0) {
		if (number(argv[2], &pfn))
			return usage();
	} else if (argc == 4 && strcmp(argv[1], "--pid") == 0) {
		if (number(argv[2], &pid) || number(argv[3], &addr))
			return usage();
		if (kpage_pfn((pid_t)pid, addr, &pfn)) {
			fprintf(stderr, "kpage: %s\n", kpage_error());
			return 1;
		}
	} else {
		return usage();
	}
	if (kpage_open(&kp) || kpage_read_pfn(kp, pfn, &c)) {
		fprintf(stderr, "kpage: %s\n", kpage_error());
		kpage_close(kp);
		return 1;
	}
	printf("layout=%s pfn=%#" PRIx64 " head_pfn=%#" PRIx64 " order=%u refcount=%d pincount=%d"
	       " mapcount=%d entire_mapcount=%d large_mapcount=%d nr_pages_mapped=%s%x\n",
	       kpage_layout(kp), c.pfn, c.head_pfn, c.order, c.refcount, c.pincount, c.mapcount,
	       c.entire_mapcount, c.large_mapcount, c.nr_pages_mapped < 0 ? "-" : "0x",
	       (unsigned int)(c.nr_pages_mapped < 0 ? -c.nr_pages_mapped : c.nr_pages_mapped));
	kpage_close(kp);
	return 0;
}
