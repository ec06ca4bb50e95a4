/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * release.h -- removing or shrinking a region: zap, wait, finish, and the
 * reclaim that finishes releases left waiting (doc/refcount-design.md).
 */
#ifndef DAXMAP_RELEASE_H
#define DAXMAP_RELEASE_H

#include <stdint.h>

#include "daxmap.h"

struct ref_runtime;

/*
 * Release the extents of region name past keep (keep 0: remove it): zap,
 * wait up to timeout_ms, free. Removing a region already being removed
 * waits again. Takes the pool lock itself.
 */
int release_region(struct daxmap_pool *pool, const char *name, uint64_t keep,
		   int timeout_ms);
/*
 * Under the exclusive pool lock: free the ZAP extents of the region in
 * slot at gen if no reference covers them. 0 (also when another process
 * finished them, or nothing is pending), -EBUSY naming the holders, or
 * -errno. *freed (may be NULL) grows by the extents freed.
 */
int release_finish(struct daxmap_pool *pool, struct ref_runtime *rt, uint64_t slot,
		   uint64_t gen, uint64_t *freed);
/* Under the exclusive pool lock: daxmap_pool_reclaim(). */
int release_reclaim(struct daxmap_pool *pool, struct daxmap_reclaim_stat *st);

#endif
