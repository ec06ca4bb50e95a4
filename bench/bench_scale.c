/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_scale.c -- what a pool operation costs as the pool grows. For each
 * size, on a new sparse emulated device of that size (2 MiB extents), in
 * one run:
 *
 * - region map+unmap (daxmap_region_map() + daxmap_map_delete()), next to
 *   daxmap_map_new() + daxmap_map_delete() of the same device range and a
 *   plain mmap+munmap of it;
 * - region create+remove per second;
 * - the time to open the pool.
 *
 * The pool holds --regions regions besides the measured one, so its tables
 * are not empty. Medians over --rounds rounds; in each round every size
 * and every variant runs, interleaved, so drift hits all alike. Prints
 * JSON, with each ratio taken within the run.
 *
 *   bench_scale [--sizes 1G,64G,1536G] [--map-ops N] [--pool-ops N]
 *               [--rounds R] [--extents K] [--regions B] DIR
 *
 * DIR: where the sparse files go (removed at the end).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <json-c/json.h>

#include <daxmap.h>

#include "bench_util.h"

#define USAGE "usage: bench_scale [--sizes LIST] [--map-ops N] [--pool-ops N] [--rounds R] [--extents K] [--regions B] DIR\n"
#define MAXSIZES 8
#define REGION "bench-scale"

const char bench_name[] = "bench_scale";

struct size_ctx {
	uint64_t bytes;
	char path[4096];
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	struct daxmap_pool_stat st;
	struct daxmap_range *ranges;
	size_t nranges;
	int fd;
	uint64_t len;
	/* per round */
	double *map_ns, *map_new_ns, *mmap_ns, *create_remove_ps, *open_ms;
};

static double region_map_unmap(struct size_ctx *s, int n)
{
	double t0 = now_ns();

	for (int i = 0; i < n; i++) {
		struct daxmap_map *m;

		if (daxmap_region_map(&m, s->pool, REGION, 0) < 0)
			die("daxmap_region_map");
		daxmap_map_delete(&m);
	}
	return (now_ns() - t0) / n;
}

static double map_new_delete(struct size_ctx *s, int n)
{
	double t0 = now_ns();

	for (int i = 0; i < n; i++) {
		struct daxmap_map *m;

		if (daxmap_map_new_ranges(&m, s->dev, s->ranges, s->nranges, 0) < 0)
			die("daxmap_map_new_ranges");
		daxmap_map_delete(&m);
	}
	return (now_ns() - t0) / n;
}

/* The descriptor is the anchor's only: a process holding one of its own
 * has its mappings read at every release (foreign_watch.c). */
static double plain_mmap_munmap(struct size_ctx *s, int n)
{
	double t0, ns;

	if ((s->fd = open(s->path, O_RDWR | O_CLOEXEC)) < 0)
		die_errno(s->path);
	t0 = now_ns();
	for (int i = 0; i < n; i++) {
		void *p = mmap(NULL, s->len, PROT_READ | PROT_WRITE, MAP_SHARED, s->fd,
			       (off_t)s->ranges[0].offset);

		if (p == MAP_FAILED)
			die_errno("mmap");
		munmap(p, s->len);
	}
	ns = (now_ns() - t0) / n;
	close(s->fd);
	return ns;
}

static double create_remove(struct size_ctx *s, int n, uint64_t k)
{
	double t0 = now();

	for (int i = 0; i < n; i++) {
		if (daxmap_region_create(s->pool, "bench-cr", k * s->st.extent_size, NULL) < 0)
			die("daxmap_region_create");
		if (daxmap_region_remove(s->pool, "bench-cr", 0) < 0)
			die("daxmap_region_remove");
	}
	return n / (now() - t0);
}

/* Close the pool and open it again: the time of the open. */
static double reopen_ms(struct size_ctx *s)
{
	double t0;

	daxmap_pool_close(s->pool);
	t0 = now_ns();
	if (daxmap_pool_open(&s->pool, s->dev, 0) < 0)
		die("daxmap_pool_open");
	return (now_ns() - t0) / 1e6;
}

static void setup(struct size_ctx *s, const char *dir, uint64_t k, int regions, int rounds)
{
	int fd;

	snprintf(s->path, sizeof(s->path), "%s/bench-scale-%llu.img", dir,
		 (unsigned long long)s->bytes);
	fd = open(s->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)s->bytes) != 0)
		die_errno(s->path);
	close(fd);
	s->dev = bench_dev_open(s->path, 2 << 20);
	s->pool = bench_pool_new(s->dev, &s->st);
	/* other regions, so the tables hold something */
	for (int i = 0; i < regions; i++) {
		char name[32];

		snprintf(name, sizeof(name), "other-%d", i);
		if (daxmap_region_create(s->pool, name, (uint64_t)(i % 4 + 1) * s->st.extent_size,
					 NULL) < 0)
			die("daxmap_region_create");
	}
	if (daxmap_region_create(s->pool, REGION, k * s->st.extent_size, NULL) < 0 ||
	    daxmap_region_ranges(s->pool, REGION, &s->ranges, &s->nranges) < 0)
		die("region");
	s->len = k * s->st.extent_size;
	/* its first mapping zeroes it: out of the measured ones */
	region_map_unmap(s, 1);
	s->map_ns = calloc_doubles(rounds);
	s->map_new_ns = calloc_doubles(rounds);
	s->mmap_ns = calloc_doubles(rounds);
	s->create_remove_ps = calloc_doubles(rounds);
	s->open_ms = calloc_doubles(rounds);
}

static void teardown(struct size_ctx *s)
{
	free(s->ranges);
	daxmap_pool_close(s->pool);
	daxmap_dev_close(s->dev);
	unlink(s->path);
	free(s->map_ns);
	free(s->map_new_ns);
	free(s->mmap_ns);
	free(s->create_remove_ps);
	free(s->open_ms);
}

static int parse_sizes(char *list, uint64_t *v, int max)
{
	int n = 0;

	for (char *t = strtok(list, ","); t; t = strtok(NULL, ",")) {
		if (n == max || parse_size(t, &v[n]))
			return -1;
		n++;
	}
	return n;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "sizes", required_argument, NULL, 's' },
		{ "map-ops", required_argument, NULL, 'm' },
		{ "pool-ops", required_argument, NULL, 'p' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "extents", required_argument, NULL, 'k' },
		{ "regions", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	char sizes_arg[256] = "1G,64G,1536G";
	uint64_t sizes[MAXSIZES], k = 4;
	int nsizes, map_ops = 2000, pool_ops = 2000, rounds = 5, regions = 64, c;
	struct size_ctx ctx[MAXSIZES];
	struct json_object *out, *arr;
	double base_rate = 0;

	while ((c = getopt_long(argc, argv, "s:m:p:r:k:b:", lo, NULL)) != -1) {
		switch (c) {
		case 's': snprintf(sizes_arg, sizeof(sizes_arg), "%s", optarg); break;
		case 'm': map_ops = atoi(optarg); break;
		case 'p': pool_ops = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		case 'k': k = strtoull(optarg, NULL, 0); break;
		case 'b': regions = atoi(optarg); break;
		default: usage(USAGE);
		}
	}
	nsizes = parse_sizes(sizes_arg, sizes, MAXSIZES);
	if (optind != argc - 1 || nsizes <= 0 || map_ops <= 0 || pool_ops <= 0 ||
	    rounds <= 0 || k == 0 || regions < 0)
		usage(USAGE);
	/* emulated devices with the cache-line path of real pmem, not msync */
	setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 0);
	memset(ctx, 0, sizeof(ctx));
	for (int i = 0; i < nsizes; i++) {
		ctx[i].bytes = sizes[i];
		setup(&ctx[i], argv[optind], k, regions, rounds);
	}
	for (int r = 0; r < rounds; r++)
		for (int i = 0; i < nsizes; i++) {
			struct size_ctx *s = &ctx[i];

			s->map_ns[r] = region_map_unmap(s, map_ops);
			s->map_new_ns[r] = map_new_delete(s, map_ops);
			s->mmap_ns[r] = plain_mmap_munmap(s, map_ops);
			s->create_remove_ps[r] = create_remove(s, pool_ops, k);
			s->open_ms[r] = reopen_ms(s);
		}

	out = json_object_new_object();
	json_object_object_add(out, "extent_size", json_object_new_int64(2 << 20));
	json_object_object_add(out, "region_extents", json_object_new_int64((int64_t)k));
	json_object_object_add(out, "other_regions", json_object_new_int(regions));
	json_object_object_add(out, "map_ops", json_object_new_int(map_ops));
	json_object_object_add(out, "pool_ops", json_object_new_int(pool_ops));
	json_object_object_add(out, "rounds", json_object_new_int(rounds));
	json_object_object_add(out, "cpus_online", json_object_new_int64(sysconf(_SC_NPROCESSORS_ONLN)));
	arr = json_object_new_array();
	for (int i = 0; i < nsizes; i++) {
		struct size_ctx *s = &ctx[i];
		struct json_object *j = json_object_new_object();
		double m = median(s->map_ns, rounds), mn = median(s->map_new_ns, rounds);
		double pm = median(s->mmap_ns, rounds), cr = median(s->create_remove_ps, rounds);

		if (i == 0)
			base_rate = cr;
		json_object_object_add(j, "device_bytes", json_object_new_int64((int64_t)s->bytes));
		json_object_object_add(j, "extents", json_object_new_int64((int64_t)s->st.extents_total));
		json_object_object_add(j, "region_map_unmap_ns", jd(m, 1));
		json_object_object_add(j, "anchor_daxmap_map_new_delete_ns", jd(mn, 1));
		json_object_object_add(j, "anchor_plain_mmap_munmap_ns", jd(pm, 1));
		json_object_object_add(j, "region_vs_map_new", jd(m / mn, 2));
		json_object_object_add(j, "map_new_vs_plain", jd(mn / pm, 2));
		json_object_object_add(j, "create_remove_per_sec", jd(cr, 1));
		json_object_object_add(j, "create_remove_vs_first_size", jd(cr / base_rate, 2));
		json_object_object_add(j, "open_ms", jd(median(s->open_ms, rounds), 3));
		json_object_array_add(arr, j);
		teardown(s);
	}
	json_object_object_add(out, "sizes", arr);
	bench_print(out);
	return 0;
}
