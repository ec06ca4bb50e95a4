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
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <libpmem2.h>

#include <daxmap.h>

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

static int parse_size(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x = strtoull(s, &end, 0);

	switch (*end) {
	case 'K': x <<= 10; break;
	case 'M': x <<= 20; break;
	case 'G': x <<= 30; break;
	case '\0': break;
	default: return -1;
	}
	*v = x;
	return x ? 0 : -1;
}

static void die(const char *what)
{
	fprintf(stderr, "bench_map: %s: %s\n", what, daxmap_errormsg());
	exit(1);
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

static struct json_object *jd(double v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.3f", v);
	return json_object_new_double_s(v, buf);
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
	struct json_object *out = json_object_new_object(), *j;

	while ((c = getopt_long(argc, argv, "a:l:c:r:", lo, NULL)) != -1) {
		if ((c == 'a' && parse_size(optarg, &align)) ||
		    (c == 'l' && parse_size(optarg, &len)) ||
		    (c == 'c' && parse_size(optarg, &copy)) ||
		    (c == 'r' && (rounds = atoi(optarg)) <= 0) || c == '?') {
			fprintf(stderr, "usage: bench_map [--align SIZE] [--len SIZE] [--copy SIZE] [--rounds N] PATH\n");
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: bench_map [--align SIZE] [--len SIZE] [--copy SIZE] [--rounds N] PATH\n");
		return 2;
	}
	if (daxmap_dev_open(&dev, argv[optind], align, 0) < 0)
		die(argv[optind]);
	/* an emulated device would be persisted with msync: compare the
	 * cache-line paths instead, as on real pmem */
	if (daxmap_dev_kind(dev) == DAXMAP_KIND_FILE)
		setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 0);
	if (!len)
		len = daxmap_dev_size(dev) < (2ULL << 30) ? daxmap_dev_size(dev) : (2ULL << 30);
	len -= len % daxmap_dev_align(dev);
	if (copy > len)
		copy = len;

	json_object_object_add(out, "path", json_object_new_string(argv[optind]));
	json_object_object_add(out, "kind", json_object_new_string(
		daxmap_kind_name(daxmap_dev_kind(dev))));
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
		json_object_object_add(j, "faults_per_gib", jd((double)faults * (1 << 30) / (double)len));
		json_object_object_add(j, "seconds", jd(t));
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
		json_object_object_add(j, "daxmap_memcpy_gbps", jd(bw_dm));
		json_object_object_add(j, "pmem2_memcpy_gbps", jd(bw_p2));
		json_object_object_add(j, "plain_memcpy_gbps", jd(bw_plain));
		json_object_object_add(j, "daxmap_vs_pmem2", jd(bw_dm / bw_p2));
		json_object_object_add(out, "memcpy_persist", j);
		pmem2_map_delete(&pmap);
		pmem2_source_delete(&psrc);
		munmap(second, second_len);
		close(fd);
		free(src);
	}
	daxmap_map_delete(&map);
	daxmap_dev_close(dev);
	printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY));
	json_object_put(out);
	return 0;
}
