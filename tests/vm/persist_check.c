/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * persist_check.c -- data persisted through libdaxmap survives the guest
 * being killed (the QEMU process SIGKILLed) and booted again.
 *
 *   persist_check write PATH   write a pattern into every 2 MiB, persist,
 *                              print "persisted", then wait to be killed
 *   persist_check verify PATH  check the pattern; exit 0 if intact
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <daxmap.h>

#define CHUNKS 32

static void pattern(char *buf, size_t len, uint64_t chunk)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)((chunk * 131 + i * 7) & 0xff);
}

int main(int argc, char **argv)
{
	struct daxmap_dev *dev;
	struct daxmap_map *map;
	char want[4096];
	uint64_t span, chunk;
	char *a;
	int bad = 0;

	if (argc != 3 || (strcmp(argv[1], "write") && strcmp(argv[1], "verify"))) {
		fprintf(stderr, "usage: persist_check write|verify PATH\n");
		return 2;
	}
	if (daxmap_dev_open(&dev, argv[2], 0, 0) < 0) {
		fprintf(stderr, "persist_check: %s\n", daxmap_errormsg());
		return 1;
	}
	/* 64 MiB or one alignment unit (1 GiB), 32 stamps spread over it */
	span = daxmap_dev_align(dev) > (64ULL << 20) ? daxmap_dev_align(dev) : 64ULL << 20;
	chunk = span / CHUNKS;
	if (daxmap_map_new(&map, dev, 0, span, 0) < 0) {
		fprintf(stderr, "persist_check: %s\n", daxmap_errormsg());
		return 1;
	}
	a = daxmap_map_addr(map);
	for (uint64_t c = 0; c < CHUNKS; c++) {
		pattern(want, sizeof(want), c);
		if (argv[1][0] == 'w')
			daxmap_map_memcpy(map, a + c * chunk, want, sizeof(want), 0);
		else if (memcmp(a + c * chunk, want, sizeof(want)) != 0)
			bad++;
	}
	if (argv[1][0] == 'w') {
		printf("%s: persisted %d stamps\n", argv[2], CHUNKS);
		fflush(stdout);
		pause(); /* the rig kills the whole machine here */
	}
	printf("%s: %d of %d stamps damaged\n", argv[2], bad, CHUNKS);
	daxmap_map_delete(&map);
	daxmap_dev_close(dev);
	return bad ? 1 : 0;
}
