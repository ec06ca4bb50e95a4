/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * region.c -- every daxmap_region_* function: create, resize, remove,
 * list, ranges, map.
 */
#include <errno.h>
#include <stdlib.h>

#include "daxmap.h"
#include "error.h"
#include "pool_handle.h"
#include "ref.h"
#include "region_map.h"
#include "release.h"
#include "runtime.h"
#include "util.h"

/*
 * Under the exclusive lock: a 1.1 pool (one that could not move to 1.2)
 * records nothing of what was mapped, so the extents a create or a grow
 * just handed out, [from, n), are zeroed now, before anyone can map them.
 * (A crash in between leaves them as they were: 1.2 pools have no window.)
 */
static int zero_handed_out(struct daxmap_pool *pool, const char *name, uint64_t from)
{
	struct region_desc d;

	if (pool_core_zeroes_on_map(pool_core(pool)) ||
	    pool_region_find(pool_core(pool), name, FIND_LIVE, &d))
		return 0;
	return region_zero(pool, &d, from, d.n);
}

DAXMAP_EXPORT int daxmap_region_create(struct daxmap_pool *pool, const char *name,
				       uint64_t size, uint64_t *actual)
{
	int rc = pool_begin(pool, true);

	if (rc)
		return rc;
	if ((rc = pool_region_create(pool_core(pool), name, size, actual)) == 0)
		rc = zero_handed_out(pool, name, 0);
	pool_end(pool);
	return rc;
}

/* Under the exclusive lock: grow, or refuse what the pool core refuses. A
 * pending shrink of the region is finished first if it can be. */
static int grow(struct daxmap_pool *pool, const char *name, uint64_t size, uint64_t *actual,
		const struct region_desc *d)
{
	struct ref_runtime *rt;
	int rc;

	if (d && size && region_releasing(d) && runtime_attach(pool, &rt) == 0) {
		release_finish(pool, rt, d->slot, d->gen, NULL);
		ref_detach(rt);
	}
	rc = pool_region_grow(pool_core(pool), name, size, actual);
	return rc == 0 && d ? zero_handed_out(pool, name, d->keep) : rc;
}

/* 0, a positive number of milliseconds or DAXMAP_WAIT_FOREVER: nothing
 * else is a timeout (a negative one would wait forever by accident). */
static int check_timeout(int timeout_ms)
{
	if (timeout_ms < 0 && timeout_ms != DAXMAP_WAIT_FOREVER)
		return daxmap_err(EINVAL,
				  "timeout_ms %d: give 0 (do not wait), a number of milliseconds, or DAXMAP_WAIT_FOREVER (-1)",
				  timeout_ms);
	return 0;
}

DAXMAP_EXPORT int daxmap_region_resize(struct daxmap_pool *pool, const char *name,
				       uint64_t size, uint64_t *actual, int timeout_ms)
{
	struct region_desc d;
	uint64_t es, keep;
	bool found;
	int rc;

	if (!name)
		return daxmap_err(EINVAL, "a region name is required");
	if ((rc = check_timeout(timeout_ms)))
		return rc;
	if ((rc = pool_begin(pool, true)))
		return rc;
	es = pool_core_extent_size(pool_core(pool));
	keep = size / es + (size % es != 0);
	found = pool_region_find(pool_core(pool), name, FIND_LIVE, &d) == 0;
	/* growing, or a size the pool core refuses: no references involved */
	if (size == 0 || !found || keep >= d.keep) {
		rc = grow(pool, name, size, actual, found ? &d : NULL);
		pool_end(pool);
		return rc;
	}
	pool_end(pool);
	if ((rc = release_region(pool, name, keep, timeout_ms)) == 0 && actual)
		*actual = keep * es;
	return rc;
}

DAXMAP_EXPORT int daxmap_region_remove(struct daxmap_pool *pool, const char *name,
				       int timeout_ms)
{
	int rc;

	if (!name)
		return daxmap_err(EINVAL, "a region name is required");
	if ((rc = check_timeout(timeout_ms)))
		return rc;
	return release_region(pool, name, 0, timeout_ms);
}

DAXMAP_EXPORT int daxmap_region_list(struct daxmap_pool *pool,
				     struct daxmap_region_info **infos,
				     size_t *count)
{
	int rc = pool_begin_read(pool, infos && count, "daxmap_region_list", "infos and count");

	if (rc)
		return rc;
	rc = pool_region_infos(pool_core(pool), infos, count);
	pool_end(pool);
	return rc;
}

DAXMAP_EXPORT void daxmap_region_list_free(struct daxmap_region_info *infos)
{
	free(infos);
}

DAXMAP_EXPORT int daxmap_region_ranges(struct daxmap_pool *pool, const char *name,
				       struct daxmap_range **ranges, size_t *count)
{
	struct region_desc d;
	int rc;

	if ((rc = pool_begin_read(pool, ranges && count && name, "daxmap_region_ranges",
				  "name, ranges and count")))
		return rc;
	if ((rc = pool_region_find(pool_core(pool), name, FIND_LIVE, &d)) == 0)
		rc = pool_region_ranges(pool_core(pool), d.slot, ranges, count);
	pool_end(pool);
	return rc;
}

DAXMAP_EXPORT int daxmap_region_map(struct daxmap_map **mapp, struct daxmap_pool *pool,
				    const char *name, unsigned flags)
{
	if (!mapp || !name)
		return daxmap_err(EINVAL, "daxmap_region_map: mapp and name are required");
	*mapp = NULL;
	return region_map_open(mapp, pool, name, flags);
}
