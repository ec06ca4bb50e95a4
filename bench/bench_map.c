/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_map.c -- faults and time to touch a mapping; memcpy-to-persistence
 * bandwidth of libdaxmap next to libpmem2's pmem2_memcpy and a plain
 * memcpy, on the same device range in the same run. Prints JSON.
 *
 *   bench_map [--align SIZE] [--len SIZE] [--copy SIZE] [--rounds N] PATH
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libpmem2.h>

#include <daxmap.h>

#include "bench_util.h"

#define USAGE "usage: bench_map [--align SIZE] [--len SIZE] [--copy SIZE] [--rounds N] PATH\n"

const char bench_name[] = "bench_map";

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* GB/s of copying `copy` bytes `rounds` times with fn. */
typedef void (*copy_fn)(void *ctx, void *dst, const void *src, size_t len);

static double bandwidth(copy_fn fn, void *ctx, char *dst, const char *src,
			size_t copy, int rounds)
{
	double t0 = now();

	for (int i = 0; i < rounds; i++)
		fn(ctx, dst, src, copy);
	return (double)copy * rounds / (now() - t0) / 1e9;
}

static void copy_daxmap(void *ctx, void *dst, const void *src, size_t len)
{
	daxmap_map_memcpy(ctx, dst, src, len, DAXMAP_F_NONTEMPORAL);
}

static void copy_pmem2(void *ctx, void *dst, const void *src, size_t len)
{
	pmem2_memcpy_fn f = (pmem2_memcpy_fn)(uintptr_t)ctx;

	f(dst, src, len, PMEM2_F_MEM_NONTEMPORAL);
}

static void copy_plain(void *ctx, void *dst, const void *src, size_t len)
{
	(void)ctx;
	memcpy(dst, src, len);
	__asm__ __volatile__("" ::: "memory");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "align", required_argument, NULL, 'a' },
		{ "len", required_argument, NULL, 'l' },
		{ "copy", required_argument, NULL, 'c' },
		{ "rounds", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t align = 0, len = 0, copy = 64ULL << 20;
	int rounds = 8, c;
	struct daxmap_dev *dev;
	struct daxmap_map *map;
	struct json_object *out, *j;

	while ((c = getopt_long(argc, argv, "a:l:c:r:", lo, NULL)) != -1) {
		if ((c == 'a' && parse_size(optarg, &align)) ||
		    (c == 'l' && parse_size(optarg, &len)) ||
		    (c == 'c' && parse_size(optarg, &copy)) ||
		    (c == 'r' && (rounds = atoi(optarg)) <= 0) || c == '?')
			usage(USAGE);
	}
	if (optind != argc - 1)
		usage(USAGE);
	dev = bench_dev_open(argv[optind], align);
	if (!len)
		len = daxmap_dev_size(dev) < (2ULL << 30) ? daxmap_dev_size(dev) : (2ULL << 30);
	len -= len % daxmap_dev_align(dev);
	if (copy > len)
		copy = len;

	out = bench_out_new(argv[optind], dev);
	json_object_object_add(out, "align", json_object_new_int64((int64_t)daxmap_dev_align(dev)));

	/* 1. faults and time to touch every 4 KiB of a fresh mapping */
	if (daxmap_map_new(&map, dev, 0, len, 0) < 0)
		die("map");
	{
		volatile char *p = daxmap_map_addr(map);
		double t0 = now();
		long f0 = minflt();

		/* stores: a read of an fsdax hole maps the huge zero page */
		for (uint64_t off = 0; off < len; off += 4096)
			p[off] = 1;
		long faults = minflt() - f0;
		double t = now() - t0;

		j = json_object_new_object();
		json_object_object_add(j, "bytes", json_object_new_int64((int64_t)len));
		json_object_object_add(j, "page_size", json_object_new_int64((int64_t)daxmap_map_pagesize(map)));
		json_object_object_add(j, "faults", json_object_new_int64(faults));
		json_object_object_add(j, "faults_expected_at_page_size",
				       json_object_new_int64((int64_t)(len / daxmap_map_pagesize(map))));
		json_object_object_add(j, "faults_per_gib", jd((double)faults * (1 << 30) / (double)len, 3));
		json_object_object_add(j, "seconds", jd(t, 3));
		json_object_object_add(out, "touch", j);
	}

	/* 2. memcpy to persistence, all three on the same device range */
	{
		char *src = aligned_alloc(4096, copy), *dst = daxmap_map_addr(map);
		int fd = -1;
		struct pmem2_source *psrc = NULL;
		struct pmem2_map *pmap = NULL;
		void *second;

		if (!src)
			die("malloc");
		memset(src, 0x5a, copy);
		/* libpmem2's own functions on a second mapping of the same range
		 * (one address range can be registered with libpmem2 only once) */
		uint64_t a = daxmap_dev_align(dev);
		size_t second_len = (copy + a - 1) / a * a; /* devdax: whole units */

		fd = open(argv[optind], O_RDWR);
		second = mmap(NULL, second_len, PROT_READ | PROT_WRITE,
			      daxmap_map_is_sync(map) ? MAP_SHARED_VALIDATE | MAP_SYNC : MAP_SHARED,
			      fd, 0);
		if (fd < 0 || second == MAP_FAILED || pmem2_source_from_fd(&psrc, fd) ||
		    pmem2_map_from_existing(&pmap, psrc, second, copy,
					    (enum pmem2_granularity)daxmap_map_granularity(map))) {
			fprintf(stderr, "bench_map: libpmem2 anchor: %s %s\n", strerror(errno), pmem2_errormsg());
			return 1;
		}
		pmem2_memcpy_fn pf = pmem2_get_memcpy_fn(pmap);

		/* warm: fault everything in first */
		copy_plain(NULL, dst, src, copy);
		copy_plain(NULL, second, src, copy);
		double bw_dm = 0, bw_p2 = 0, bw_plain = 0;

		/* interleaved trials, best of each, so drift hits all alike */
		for (int t = 0; t < 3; t++) {
			double x = bandwidth(copy_daxmap, map, dst, src, copy, rounds);
			double y = bandwidth(copy_pmem2, (void *)(uintptr_t)pf, second, src, copy, rounds);
			double z = bandwidth(copy_plain, NULL, dst, src, copy, rounds);

			bw_dm = x > bw_dm ? x : bw_dm;
			bw_p2 = y > bw_p2 ? y : bw_p2;
			bw_plain = z > bw_plain ? z : bw_plain;
		}

		j = json_object_new_object();
		json_object_object_add(j, "bytes", json_object_new_int64((int64_t)copy));
		json_object_object_add(j, "rounds", json_object_new_int(rounds));
		json_object_object_add(j, "granularity", json_object_new_string(
			daxmap_map_granularity(map) == DAXMAP_GRANULARITY_PAGE ? "page" :
			daxmap_map_granularity(map) == DAXMAP_GRANULARITY_CACHE_LINE ? "cache_line" : "byte"));
		json_object_object_add(j, "daxmap_memcpy_gbps", jd(bw_dm, 3));
		json_object_object_add(j, "pmem2_memcpy_gbps", jd(bw_p2, 3));
		json_object_object_add(j, "plain_memcpy_gbps", jd(bw_plain, 3));
		json_object_object_add(j, "daxmap_vs_pmem2", jd(bw_dm / bw_p2, 3));
		json_object_object_add(out, "memcpy_persist", j);
		pmem2_map_delete(&pmap);
		pmem2_source_delete(&psrc);
		munmap(second, second_len);
		close(fd);
		free(src);
	}
	daxmap_map_delete(&map);
	daxmap_dev_close(dev);
	bench_print(out);
	return 0;
}
