/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * region_map.h -- the region mappings of this process: made with one
 * reference per extent, listed so a release can zap them, kept from
 * fork() children. The pin layer's one door to regions: it asks here which
 * pool extents a byte range of a mapping covers.
 */
#ifndef DAXMAP_REGION_MAP_H
#define DAXMAP_REGION_MAP_H

#include <stddef.h>
#include <stdint.h>

#include "daxmap.h"
#include "runs.h"

struct ref_runtime;

/* daxmap_region_map(): map the region called name, taking a REF_MAP on
 * each of its extents until daxmap_map_delete(), inside a reservation of
 * reserve bytes (0: the region's size; daxmap_region_map_reserve()). */
int region_map_open(struct daxmap_map **mapp, struct daxmap_pool *pool,
		    const char *name, uint64_t reserve, unsigned flags);
/* daxmap_region_map_extend(): map in place what the region gained. */
int region_map_extend(struct daxmap_pool *pool, struct daxmap_map *map);
/* daxmap_region_map_get_lsize() and set: the region's logical size
 * through one of its mappings, without the pool lock. */
int region_map_get_lsize(struct daxmap_pool *pool, const struct daxmap_map *map,
			 uint64_t *lsize);
int region_map_set_lsize(struct daxmap_pool *pool, struct daxmap_map *map, uint64_t lsize);
struct region_desc;

/* Under the exclusive pool lock: make the region's extents [from, to)
 * read as zeros, durably (map_zero_ranges()). */
int region_zero(struct daxmap_pool *pool, const struct region_desc *d, uint64_t from,
		uint64_t to);

/*
 * Release, step 2: replace this process's mappings of the extents in runs
 * (sorted) with PROT_NONE, so a stale access faults instead of reaching
 * the next owner's data, and drop their references on them.
 */
void region_map_zap(struct ref_runtime *rt, const struct ext_run *runs, size_t nruns);

/*
 * The pool extents under bytes [off, off + len) of a region mapping, as
 * sorted runs (free() them), and a share of its runtime attachment
 * (ref_detach() it). -EINVAL: not a region mapping, or the range is not
 * inside it; -ESTALE: part of the range was released (ZAP).
 */
int region_map_runs(const struct daxmap_map *map, uint64_t off, uint64_t len,
		    struct ref_runtime **rt, struct ext_run **runs, size_t *n);
/* The pool's extent size, for a region mapping (0 otherwise): extent x
 * is device bytes [x * size, (x + 1) * size). */
uint64_t region_map_extent_size(const struct daxmap_map *map);
/* A number no other region mapping of this process has (0: not a region
 * mapping): caches key on it, since a mapping's address may be reused. */
uint64_t region_map_serial(const struct daxmap_map *map);

#endif
