/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * core_ops.h -- region operations on a bare pool core, for the crash
 * simulator and the fuzzer: what the library does with no reference held
 * (a remove or shrink is its zap, then at once its finish).
 */
#ifndef DAXMAP_TEST_CORE_OPS_H
#define DAXMAP_TEST_CORE_OPS_H

#include <errno.h>

#include "lib/pool_core.h"

/* The live region's slot, or -1. */
static inline long core_find(const struct pool_core *pc, const char *name)
{
	struct region_desc d;

	return pool_region_find(pc, name, FIND_LIVE, &d) == 0 ? (long)d.slot : -1;
}

/* Device extent of index i of the live region called name. */
static inline uint64_t core_ext(const struct pool_core *pc, const char *name, uint64_t i)
{
	struct region_desc d;
	uint64_t x = EXT_NONE;

	if (pool_region_find(pc, name, FIND_LIVE, &d) == 0 && i < d.n)
		pool_region_extents(pc, d.slot, i, i + 1, &x);
	return x;
}

/* Release extents [keep, n) of name (keep 0: remove it), with no wait. */
static inline int core_release(struct pool_core *pc, const char *name, uint64_t keep)
{
	uint64_t slot, gen;
	int rc = pool_region_zap(pc, name, keep, &slot, &gen);

	return rc ? rc : pool_region_finish(pc, slot, gen);
}

static inline int core_remove(struct pool_core *pc, const char *name)
{
	return core_release(pc, name, 0);
}

/* Grow, or shrink by a release, to size bytes. */
static inline int core_resize(struct pool_core *pc, const char *name, uint64_t size,
			      uint64_t *actual)
{
	uint64_t es = pc->sb.extent_size, n = size / es + (size % es != 0);
	struct region_desc d;
	int rc;

	if (size == 0 || pool_region_find(pc, name, FIND_LIVE, &d) || n >= d.n)
		return pool_region_grow(pc, name, size, actual);
	if ((rc = core_release(pc, name, n)) == 0 && actual)
		*actual = n * es;
	return rc;
}

#endif
