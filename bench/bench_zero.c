/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_zero.c -- what zeroing a new region costs: the first mapping of a
 * region whose extents hold a previous owner's bytes, zeroed (the default)
 * and with DAXMAP_MAP_OVERWRITE (not zeroed), alone and followed by a
 * write of the whole region; next to a plain memset and libpmem2's
 * non-temporal memset (through daxmap_map_memset) of the same bytes, in
 * the same run. Prints JSON.
 *
 *   bench_zero [--align SIZE] [--region SIZE] [--rounds N] PATH
 *
 * Each round, for each variant in turn: create the region, map it once
 * with DAXMAP_MAP_OVERWRITE and fill it with 0xab (the previous owner),
 * remove it, create it again (the same extents: the pool hands out the
 * lowest free ones), then time its first mapping, and then a
 * non-temporal memset of all of it (a caller writing what it got). The
 * zeroed variant's mapping must read as zeros (checked at every 4 KiB).
 * Medians over the rounds. On devdax the library zeroes with non-temporal
 * stores and one drain; on a file (fsdax, emulated) it punches holes and
 * the filesystem hands out zeroed blocks at the first fault, which the
 * write then pays.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <daxmap.h>

#include "bench_util.h"

#define USAGE "usage: bench_zero [--align SIZE] [--region SIZE] [--rounds N] PATH\n"

const char bench_name[] = "bench_zero";

/* The region "z" as a previous owner left it: created, filled, removed,
 * created again. */
static void dirty_new_region(struct daxmap_pool *pool, uint64_t len)
{
	struct daxmap_map *m;

	if (daxmap_region_create(pool, "z", len, NULL) < 0 ||
	    daxmap_region_map(&m, pool, "z", DAXMAP_MAP_OVERWRITE) < 0)
		die("create and map z");
	daxmap_map_memset(m, daxmap_map_addr(m), 0xab, len, DAXMAP_F_NONTEMPORAL);
	if (daxmap_map_delete(&m) < 0 || daxmap_region_remove(pool, "z", 0) < 0 ||
	    daxmap_region_create(pool, "z", len, NULL) < 0)
		die("remove and create z");
}

struct timing {
	double map_ms, fill_ms;
};

/* The first mapping of a new region (flags), then a write of all of it. */
static struct timing first_map(struct daxmap_pool *pool, uint64_t len, unsigned flags)
{
	struct daxmap_map *m;
	struct timing t;
	const char *p;
	double t0;

	dirty_new_region(pool, len);
	t0 = now();
	if (daxmap_region_map(&m, pool, "z", flags) < 0)
		die("first map of z");
	t.map_ms = (now() - t0) * 1e3;
	p = daxmap_map_addr(m);
	if (!(flags & DAXMAP_MAP_OVERWRITE))
		for (uint64_t off = 0; off < len; off += 4096)
			if (p[off] || p[off + 4095]) {
				fprintf(stderr, "bench_zero: byte %llu of a new region is not zero\n",
					(unsigned long long)(p[off] ? off : off + 4095));
				exit(1);
			}
	t0 = now();
	daxmap_map_memset(m, daxmap_map_addr(m), 0x5a, len, DAXMAP_F_NONTEMPORAL);
	t.fill_ms = (now() - t0) * 1e3;
	if (daxmap_map_delete(&m) < 0 || daxmap_region_remove(pool, "z", 0) < 0)
		die("unmap and remove z");
	return t;
}

/* Anchors on a mapped region of the same size: memset, and libpmem2's
 * non-temporal memset with its drain. */
static void anchors(struct daxmap_pool *pool, uint64_t len, double *plain_ms, double *nt_ms)
{
	struct daxmap_map *m;
	char *p;
	double t0;

	if (daxmap_region_create(pool, "anchor", len, NULL) < 0 ||
	    daxmap_region_map(&m, pool, "anchor", 0) < 0)
		die("anchor region");
	p = daxmap_map_addr(m);
	memset(p, 1, len); /* faulted in, as the regions above are by then */
	t0 = now();
	memset(p, 0, len);
	*plain_ms = (now() - t0) * 1e3;
	t0 = now();
	daxmap_map_memset(m, p, 0, len, DAXMAP_F_NONTEMPORAL);
	*nt_ms = (now() - t0) * 1e3;
	if (daxmap_map_delete(&m) < 0 || daxmap_region_remove(pool, "anchor", 0) < 0)
		die("anchor remove");
}

static struct json_object *pair(double a, double b, const char *na, const char *nb)
{
	struct json_object *j = json_object_new_object();

	json_object_object_add(j, na, jd(a, 2));
	json_object_object_add(j, nb, jd(b, 2));
	return j;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "align", required_argument, NULL, 'a' },
		{ "region", required_argument, NULL, 'r' },
		{ "rounds", required_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	uint64_t align = 0, len = 64ULL << 20;
	int rounds = 5, c;
	double *zm, *zf, *om, *of, *pm, *nm;
	struct daxmap_pool_stat st;
	struct daxmap_pool *pool;
	struct daxmap_dev *dev;
	struct json_object *out;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (parse_size(optarg, &align))
				usage(USAGE);
			break;
		case 'r':
			if (parse_size(optarg, &len))
				usage(USAGE);
			break;
		case 'n':
			rounds = atoi(optarg);
			if (rounds < 1)
				usage(USAGE);
			break;
		default:
			usage(USAGE);
		}
	}
	if (optind != argc - 1)
		usage(USAGE);
	dev = bench_dev_open(argv[optind], align);
	pool = bench_pool_new(dev, &st);
	len = (len + st.extent_size - 1) / st.extent_size * st.extent_size;
	zm = calloc_doubles(rounds);
	zf = calloc_doubles(rounds);
	om = calloc_doubles(rounds);
	of = calloc_doubles(rounds);
	pm = calloc_doubles(rounds);
	nm = calloc_doubles(rounds);
	for (int i = 0; i < rounds; i++) {
		struct timing z = first_map(pool, len, 0);
		struct timing o = first_map(pool, len, DAXMAP_MAP_OVERWRITE);

		zm[i] = z.map_ms;
		zf[i] = z.map_ms + z.fill_ms;
		om[i] = o.map_ms;
		of[i] = o.map_ms + o.fill_ms;
		anchors(pool, len, &pm[i], &nm[i]);
	}

	out = bench_out_new(argv[optind], dev);
	json_object_object_add(out, "region_bytes", json_object_new_int64((int64_t)len));
	json_object_object_add(out, "extent_size", json_object_new_int64((int64_t)st.extent_size));
	json_object_object_add(out, "rounds", json_object_new_int(rounds));
	{
		double z = median(zm, rounds), o = median(om, rounds);
		double zfill = median(zf, rounds), ofill = median(of, rounds);
		double p = median(pm, rounds), n = median(nm, rounds);

		json_object_object_add(out, "first_map_ms", pair(z, o, "zeroed", "overwrite"));
		json_object_object_add(out, "first_map_and_write_all_ms",
				       pair(zfill, ofill, "zeroed", "overwrite"));
		json_object_object_add(out, "anchor_ms",
				       pair(p, n, "memset", "pmem2_memset_nt"));
		/* on a file most of it comes at the write's faults: both */
		json_object_object_add(out, "zeroing_costs_ms",
				       pair(z - o, zfill - ofill, "first_map",
					    "first_map_and_write_all"));
		json_object_object_add(out, "zeroing_costs_per_pmem2_memset_nt",
				       pair((z - o) / n, (zfill - ofill) / n, "first_map",
					    "first_map_and_write_all"));
	}
	bench_print(out);
	free(zm);
	free(zf);
	free(om);
	free(of);
	free(pm);
	free(nm);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
	return 0;
}
