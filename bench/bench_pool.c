/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_pool.c -- region create+remove per second and fences per operation
 * (counted by the persistence ops table), next to an fsdax file created,
 * fallocated and unlinked in the same run; and the open time of a pool
 * with 1M extents. Prints JSON.
 *
 *   bench_pool [--align SIZE] [--ops N] [--extents K] [--fsdax-dir DIR] PATH
 *   bench_pool --open-1m FILE     (FILE: a scratch file, made 4 GiB sparse)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include <daxmap.h>

#include "lib/pool_handle.h"

#include "bench_util.h"

#define USAGE "usage: bench_pool [--align BYTES] [--ops N] [--extents K] [--fsdax-dir DIR] PATH\n"
#define USAGE_1M "       bench_pool --open-1m FILE\n"

const char bench_name[] = "bench_pool";

/* create+remove of regions of k extents, n times */
static struct json_object *regions(struct daxmap_pool *pool, uint64_t es, int n, uint64_t k)
{
	struct json_object *j = json_object_new_object();
	uint64_t d0 = pool_drains(pool), f0 = pool_flushes(pool), dc = 0;
	double t0 = now(), t;

	for (int i = 0; i < n; i++) {
		uint64_t before = pool_drains(pool);

		if (daxmap_region_create(pool, "bench", k * es, NULL) < 0)
			die("create");
		dc += pool_drains(pool) - before;
		if (daxmap_region_remove(pool, "bench", 0) < 0)
			die("remove");
	}
	t = now() - t0;
	json_object_object_add(j, "extents_per_region", json_object_new_int64((int64_t)k));
	json_object_object_add(j, "ops", json_object_new_int(n));
	json_object_object_add(j, "create_remove_per_sec", jd(n / t, 3));
	json_object_object_add(j, "fences_per_create", jd((double)dc / n, 3));
	json_object_object_add(j, "fences_per_remove",
			       jd((double)(pool_drains(pool) - d0 - dc) / n, 3));
	json_object_object_add(j, "flushes_per_create_remove",
			       jd((double)(pool_flushes(pool) - f0) / n, 3));
	return j;
}

static struct json_object *fsdax_files(const char *dir, uint64_t size, int n)
{
	struct json_object *j = json_object_new_object();
	char path[4096];
	double t0 = now(), t;

	snprintf(path, sizeof(path), "%s/bench-pool-anchor", dir);
	for (int i = 0; i < n; i++) {
		int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);

		if (fd < 0 || posix_fallocate(fd, 0, (off_t)size) != 0) {
			perror(path);
			exit(1);
		}
		/* durable like a region: the metadata of create and unlink */
		fsync(fd);
		close(fd);
		unlink(path);
	}
	t = now() - t0;
	json_object_object_add(j, "dir", json_object_new_string(dir));
	json_object_object_add(j, "bytes", json_object_new_int64((int64_t)size));
	json_object_object_add(j, "create_fallocate_unlink_per_sec", jd(n / t, 3));
	return j;
}

static int open_1m(const char *path)
{
	const uint64_t n = 1 << 20, es = 4096;
	struct json_object *j = json_object_new_object();
	struct daxmap_pool_stat st;
	struct daxmap_pool *pool;
	struct daxmap_dev *dev;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	double t0, topen, tfmt;

	if (fd < 0 || ftruncate(fd, (off_t)(n * es)) != 0) {
		perror(path);
		return 1;
	}
	close(fd);
	/* on any file, not only an emulated device as bench_dev_open() does */
	setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 0);
	dev = bench_dev_open(path, es);
	t0 = now();
	if (daxmap_pool_format(dev, es, DAXMAP_FORMAT_FORCE) < 0)
		die("format");
	tfmt = now() - t0;
	/* half the extents owned by 250 regions of 2048 extents, scattered by removes */
	if (daxmap_pool_open(&pool, dev, 0) < 0)
		die("open");
	for (int i = 0; i < 500; i++) {
		char name[16];

		snprintf(name, sizeof(name), "r%d", i);
		if (daxmap_region_create(pool, name, 2048 * es, NULL) < 0)
			die("create");
	}
	for (int i = 0; i < 500; i += 2) {
		char name[16];

		snprintf(name, sizeof(name), "r%d", i);
		if (daxmap_region_remove(pool, name, 0) < 0)
			die("remove");
	}
	daxmap_pool_close(pool);
	t0 = now();
	if (daxmap_pool_open(&pool, dev, 0) < 0)
		die("open");
	topen = now() - t0;
	daxmap_pool_stat(pool, &st);
	json_object_object_add(j, "extents", json_object_new_int64((int64_t)st.extents_total));
	json_object_object_add(j, "extents_used", json_object_new_int64((int64_t)st.extents_used));
	json_object_object_add(j, "regions", json_object_new_int((int)st.regions));
	json_object_object_add(j, "format_seconds", jd(tfmt, 3));
	json_object_object_add(j, "open_seconds", jd(topen, 3));
	json_object_object_add(j, "open_ns_per_extent", jd(topen * 1e9 / (double)st.extents_total, 3));
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
	unlink(path);
	bench_print(j);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "align", required_argument, NULL, 'a' },
		{ "ops", required_argument, NULL, 'n' },
		{ "extents", required_argument, NULL, 'k' },
		{ "fsdax-dir", required_argument, NULL, 'd' },
		{ "open-1m", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL;
	uint64_t align = 0, k = 64;
	int n = 200, c;
	struct daxmap_pool_stat st;
	struct daxmap_pool *pool;
	struct daxmap_dev *dev;
	struct json_object *out, *arr;

	while ((c = getopt_long(argc, argv, "a:n:k:d:o:", lo, NULL)) != -1) {
		switch (c) {
		case 'a': align = strtoull(optarg, NULL, 0); break;
		case 'n': n = atoi(optarg); break;
		case 'k': k = strtoull(optarg, NULL, 0); break;
		case 'd': dir = optarg; break;
		case 'o': return open_1m(optarg);
		default: usage(USAGE USAGE_1M);
		}
	}
	if (optind != argc - 1 || n <= 0 || k == 0)
		usage(USAGE);
	dev = bench_dev_open(argv[optind], align);
	pool = bench_pool_new(dev, &st);
	if (k > st.extents_free)
		k = st.extents_free;
	out = bench_out_new(argv[optind], dev);
	json_object_object_add(out, "extent_size", json_object_new_int64((int64_t)st.extent_size));
	arr = json_object_new_array();
	/* fences must not grow with the region: 1 extent and k extents */
	json_object_array_add(arr, regions(pool, st.extent_size, n, 1));
	json_object_array_add(arr, regions(pool, st.extent_size, n, k));
	json_object_object_add(out, "regions", arr);
	if (dir)
		json_object_object_add(out, "anchor_fsdax_file",
				       fsdax_files(dir, st.extent_size, n));
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
	bench_print(out);
	return 0;
}
