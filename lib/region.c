/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * region.c -- every daxmap_region_* function: create, resize, remove,
 * list, ranges, map.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdlib.h>
#include <unistd.h>

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

/* A resize or grow begins: the exclusive pool lock, the live region of
 * that name (*found), the extents size bytes take (*keep). */
static int begin_sizing(struct daxmap_pool *pool, const char *name, uint64_t size,
			struct region_desc *d, bool *found, uint64_t *keep)
{
	uint64_t es;
	int rc;

	if (!name)
		return daxmap_err(EINVAL, "a region name is required");
	if ((rc = pool_begin(pool, true)))
		return rc;
	es = pool_core_extent_size(pool_core(pool));
	*keep = size / es + (size % es != 0);
	*found = pool_region_find(pool_core(pool), name, FIND_LIVE, d) == 0;
	return 0;
}

DAXMAP_EXPORT int daxmap_region_resize(struct daxmap_pool *pool, const char *name,
				       uint64_t size, uint64_t *actual, int timeout_ms)
{
	struct region_desc d;
	uint64_t es, keep;
	bool found;
	int rc;

	if (name && (rc = check_timeout(timeout_ms)))
		return rc;
	if ((rc = begin_sizing(pool, name, size, &d, &found, &keep)))
		return rc;
	es = pool_core_extent_size(pool_core(pool));
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
	return region_map_open(mapp, pool, name, 0, flags);
}

DAXMAP_EXPORT int daxmap_region_grow(struct daxmap_pool *pool, const char *name,
				     uint64_t size, uint64_t *actual)
{
	struct region_desc d;
	uint64_t keep;
	bool found;
	int rc;

	if ((rc = begin_sizing(pool, name, size, &d, &found, &keep)))
		return rc;
	/* already that large (another process grew it): left as it is */
	if (size && found && d.keep >= keep) {
		if (actual)
			*actual = d.keep * pool_core_extent_size(pool_core(pool));
	} else {
		rc = grow(pool, name, size, actual, found ? &d : NULL);
	}
	pool_end(pool);
	return rc;
}

DAXMAP_EXPORT int daxmap_region_map_reserve(struct daxmap_map **mapp, struct daxmap_pool *pool,
					    const char *name, uint64_t reserve, unsigned flags)
{
	if (!mapp || !name)
		return daxmap_err(EINVAL, "daxmap_region_map_reserve: mapp and name are required");
	*mapp = NULL;
	if (!reserve)
		return daxmap_err(EINVAL, "daxmap_region_map_reserve: a reservation of 0 bytes");
	return region_map_open(mapp, pool, name, reserve, flags);
}

DAXMAP_EXPORT int daxmap_region_map_extend(struct daxmap_pool *pool, struct daxmap_map *map)
{
	return region_map_extend(pool, map);
}

DAXMAP_EXPORT int daxmap_region_exists(struct daxmap_pool *pool, const char *name)
{
	struct region_desc d;
	int found;

	if (!pool || !name)
		return daxmap_err(EINVAL, "daxmap_region_exists: pool and name are required");
	/* the handle's view, when no writer changed the pool since it was
	 * made (a name lookup); else the records themselves */
	if (pool_view_begin(pool) == 0) {
		found = pool_region_find(pool_core(pool), name, FIND_LIVE, &d) == 0;
		if (pool_view_end(pool))
			return found;
	}
	return pool_region_peek(pool_core(pool), name);
}

DAXMAP_EXPORT int daxmap_region_never_mapped(struct daxmap_pool *pool, const char *name)
{
	struct region_desc d;
	int rc = pool_begin_read(pool, name != NULL, "daxmap_region_never_mapped", "pool and name");

	if (rc)
		return rc;
	/* 1.2 records which indices were mapped (the written word) */
	if ((rc = pool_region_find(pool_core(pool), name, FIND_LIVE, &d)) == 0)
		rc = pool_core_zeroes_on_map(pool_core(pool)) && d.written == 0;
	pool_end(pool);
	return rc;
}

/* The live region called name, under the pool lock taken by the caller. */
static int find_live(struct daxmap_pool *pool, const char *name, struct region_desc *d)
{
	return pool_region_find(pool_core(pool), name, FIND_LIVE, d);
}

DAXMAP_EXPORT int daxmap_region_get_lsize(struct daxmap_pool *pool, const char *name,
					  uint64_t *lsize)
{
	struct region_desc d;
	int rc = pool_begin_read(pool, name && lsize, "daxmap_region_get_lsize",
				 "name and lsize");

	if (rc)
		return rc;
	if ((rc = find_live(pool, name, &d)) == 0)
		rc = pool_region_lsize(pool_core(pool), d.slot, d.gen, lsize);
	pool_end(pool);
	return rc;
}

DAXMAP_EXPORT int daxmap_region_set_lsize(struct daxmap_pool *pool, const char *name,
					  uint64_t lsize)
{
	struct region_desc d;
	int rc;

	if (!name)
		return daxmap_err(EINVAL, "a region name is required");
	if ((rc = pool_begin(pool, true)))
		return rc;
	if ((rc = find_live(pool, name, &d)) == 0)
		rc = pool_region_set_lsize(pool_core(pool), d.slot, d.gen, lsize);
	pool_end(pool);
	return rc;
}

DAXMAP_EXPORT int daxmap_region_map_get_lsize(struct daxmap_pool *pool,
					      const struct daxmap_map *map, uint64_t *lsize)
{
	return region_map_get_lsize(pool, map, lsize);
}

DAXMAP_EXPORT int daxmap_region_map_set_lsize(struct daxmap_pool *pool, struct daxmap_map *map,
					      uint64_t lsize)
{
	return region_map_set_lsize(pool, map, lsize);
}

/* ---- region locks ---- */

struct daxmap_lock {
	struct daxmap_pool *pool;
	int fd;          /* its own open file description: the owner */
	uint64_t base;   /* the region's lock space in the device's */
};

DAXMAP_EXPORT int daxmap_lock_open(struct daxmap_lock **lkp, struct daxmap_pool *pool,
				   const char *name)
{
	struct daxmap_lock *lk;
	struct region_desc d;
	int rc;

	if (!lkp)
		return daxmap_err(EINVAL, "daxmap_lock_open: lkp is required");
	*lkp = NULL;
	if ((rc = pool_begin_read(pool, name != NULL, "daxmap_lock_open", "pool and name")))
		return rc;
	rc = find_live(pool, name, &d);
	pool_end(pool);
	if (rc)
		return rc;
	if (!(lk = calloc(1, sizeof(*lk))))
		return daxmap_err(ENOMEM, "out of memory");
	if ((rc = pool_lock_owner(pool, &lk->fd))) {
		free(lk);
		return rc;
	}
	lk->pool = pool;
	lk->base = pool_region_lock_base(d.slot, d.gen);
	*lkp = lk;
	return 0;
}

DAXMAP_EXPORT void daxmap_lock_close(struct daxmap_lock **lkp)
{
	if (!lkp || !*lkp)
		return;
	close((*lkp)->fd); /* the kernel drops the description's locks */
	free(*lkp);
	*lkp = NULL;
}

/* The fcntl(2) type of a lock type, or -1. */
static short lock_kind(enum daxmap_lock_type type)
{
	switch (type) {
	case DAXMAP_LOCK_UNLOCK:
		return F_UNLCK;
	case DAXMAP_LOCK_SHARED:
		return F_RDLCK;
	case DAXMAP_LOCK_EXCL:
		return F_WRLCK;
	}
	return -1;
}

static int lock_args(const char *fn, const struct daxmap_lock *lk, uint64_t start, uint64_t len,
		     enum daxmap_lock_type type)
{
	if (!lk)
		return daxmap_err(EINVAL, "%s: a lock owner is required", fn);
	if (len == 0 || start >= DAXMAP_LOCK_SPAN || len > DAXMAP_LOCK_SPAN - start)
		return daxmap_err(EINVAL, "%s: [%#" PRIx64 ", +%#" PRIx64 ") is not inside a region's %#llx lock bytes",
				  fn, start, len, DAXMAP_LOCK_SPAN);
	if (lock_kind(type) < 0)
		return daxmap_err(EINVAL, "%s: unknown lock type %d", fn, (int)type);
	return 0;
}

DAXMAP_EXPORT int daxmap_lock_set(struct daxmap_lock *lk, uint64_t start, uint64_t len,
				  enum daxmap_lock_type type, unsigned flags)
{
	int rc = lock_args("daxmap_lock_set", lk, start, len, type);

	if (rc)
		return rc;
	if (flags & ~DAXMAP_LOCK_WAIT)
		return daxmap_err(EINVAL, "daxmap_lock_set: unknown flags 0x%x", flags & ~DAXMAP_LOCK_WAIT);
	return pool_lock_range(lk->pool, lk->fd, lk->base + start, len, lock_kind(type),
			       flags & DAXMAP_LOCK_WAIT);
}

DAXMAP_EXPORT int daxmap_lock_test(struct daxmap_lock *lk, uint64_t start, uint64_t len,
				   enum daxmap_lock_type type)
{
	int rc = lock_args("daxmap_lock_test", lk, start, len, type);

	if (rc)
		return rc;
	if (type == DAXMAP_LOCK_UNLOCK)
		return daxmap_err(EINVAL, "daxmap_lock_test: test for a shared or an exclusive lock");
	return pool_lock_probe(lk->pool, lk->fd, lk->base + start, len, lock_kind(type));
}
