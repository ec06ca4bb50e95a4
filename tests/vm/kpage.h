/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kpage.h -- the kernel's own reference, pin and map counts of a page, read
 * from the running kernel's struct page records through /proc/kcore.
 *
 * A test oracle for the QEMU rig (tests/vm/run), where the tests run as
 * root: it needs CAP_SYS_ADMIN (PFNs in /proc/PID/pagemap), readable
 * /proc/kallsyms addresses and /proc/kcore.  The struct page layout is
 * known per kernel version (kpage.c's table, from include/linux/mm_types.h
 * of Linux 6.1, 6.12 and 7.3); another version is refused unless
 * KPAGE_LAYOUT names a known one.  See tests/vm/README.md, "kpage".
 */
#ifndef DAXMAP_TESTS_KPAGE_H
#define DAXMAP_TESTS_KPAGE_H

#include <stdint.h>
#include <sys/types.h>

struct kpage;

/* What the kernel's records hold for one page and its folio. */
struct kpage_counts {
	uint64_t pfn;		/* the page asked about */
	uint64_t head_pfn;	/* its folio's head page */
	unsigned int order;	/* folio order: 0 for a single page, 9 for 2 MiB */
	int refcount;		/* the folio's _refcount (the head page's) */
	/* The folio's _pincount; -1 for a single page, whose pins are in
	 * refcount instead (GUP_PIN_COUNTING_BIAS, 1024, each). */
	int pincount;
	int mapcount;		/* this page's own PTE mappings (_mapcount + 1) */
	/* Mappings of the whole folio by one PMD/PUD (entire mapcount + 1);
	 * -1 for a single page. */
	int entire_mapcount;
	/* 6.12 on: all mappings of any page of the folio (_large_mapcount + 1);
	 * -1 where the kernel has no such count (6.1) or for a single page. */
	int large_mapcount;
	/* 6.12 on: _nr_pages_mapped as stored (bit 23, ENTIRELY_MAPPED, set
	 * while an entire mapping exists); -1 where absent. */
	int nr_pages_mapped;
};

/* Opens /proc/kallsyms and /proc/kcore and picks the layout for the running
 * kernel.  0, or -1 with kpage_error() set. */
int kpage_open(struct kpage **kpp);
void kpage_close(struct kpage *kp);

/* The struct folio layout in use: "6.1", "6.12" or "7.3". */
const char *kpage_layout(const struct kpage *kp);

/* The PFN that backs virtual address VADDR of process PID (0: this one),
 * from /proc/PID/pagemap.  The page must be present (touched). */
int kpage_pfn(pid_t pid, uint64_t vaddr, uint64_t *pfn);

/* The counts for PFN.  Its struct page (and its folio's first two) must
 * sit in memory the kernel lists as System RAM in /proc/kcore: true for
 * hmem devdax and NVDIMM namespaces made with "ndctl create-namespace
 * -M mem"; not for "-M dev", whose records are on the device itself. */
int kpage_read_pfn(struct kpage *kp, uint64_t pfn, struct kpage_counts *c);

/* kpage_pfn(0, addr) and kpage_read_pfn(). */
int kpage_read(struct kpage *kp, const void *addr, struct kpage_counts *c);

/* Why the last call failed (per thread). */
const char *kpage_error(void);

#endif
