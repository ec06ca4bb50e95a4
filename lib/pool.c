/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pool.c -- every daxmap_pool_* function: format, open and close, usage,
 * check, and the reference listings and reclaim.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daxmap.h"
#include "error.h"
#include "pool_handle.h"
#include "ref.h"
#include "release.h"
#include "runtime.h"
#include "util.h"

#define OPEN_FLAGS (DAXMAP_POOL_RDONLY | DAXMAP_POOL_NORECLAIM)

/* Under the format's lock: processes that hold references on the pool
 * (mappings, pins) would alias the new pool's extents. */
static int refuse_in_use(const struct pool_sb *old)
{
	pid_t pids[8];
	char list[160];
	size_t len = 0;
	int n = runtime_users(old->uuid, pids, 8);

	if (n <= 0)
		return n;
	list[0] = '\0';
	for (int i = 0; i < n && i < 8 && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%d", i ? ", " : "",
					(int)pids[i]);
	return daxmap_err(EBUSY,
			  "the pool is in use by %d process(es) (pid %s%s): formatting would hand their mapped extents to the new pool; stop them, or pass DAXMAP_FORMAT_FORCE_IN_USE (daxmapctl format --force-in-use)",
			  n, list, n > 8 ? ", ..." : "");
}

DAXMAP_EXPORT int daxmap_pool_format(struct daxmap_dev *dev, uint64_t extent_size,
				     unsigned flags)
{
	return pool_format_device(dev, extent_size, flags, refuse_in_use);
}

DAXMAP_EXPORT int daxmap_pool_open(struct daxmap_pool **poolp, struct daxmap_dev *dev,
				   unsigned flags)
{
	struct daxmap_pool *pool;
	int rc;

	if (!poolp)
		return daxmap_err(EINVAL, "daxmap_pool_open: poolp is required");
	*poolp = NULL;
	if (flags & ~OPEN_FLAGS)
		return daxmap_err(EINVAL, "daxmap_pool_open: unknown flags 0x%x", flags & ~OPEN_FLAGS);
	if ((rc = pool_handle_open(&pool, dev, flags & DAXMAP_POOL_RDONLY)))
		return rc;
	/* drop dead holders' references and finish idle releases; after a
	 * reboot the runtime state is void and every release is idle */
	if (!pool_rdonly(pool) && !(flags & DAXMAP_POOL_NORECLAIM) &&
	    (pool_releases_pending(pool_core(pool)) || runtime_exists(pool))) {
		if ((rc = pool_begin(pool, true)) == 0) {
			rc = release_reclaim(pool, NULL);
			pool_end(pool);
		}
	}
	if (rc == 0)
		*poolp = pool;
	else
		daxmap_pool_close(pool);
	return rc;
}

DAXMAP_EXPORT void daxmap_pool_close(struct daxmap_pool *pool)
{
	if (!pool)
		return;
	runtime_close(pool);
	pool_handle_close(pool);
}

DAXMAP_EXPORT int daxmap_pool_stat(struct daxmap_pool *pool,
				   struct daxmap_pool_stat *st)
{
	int rc = pool_begin_read(pool, st != NULL, "daxmap_pool_stat", "st");

	if (rc)
		return rc;
	pool_core_stat(pool_core(pool), st);
	pool_end(pool);
	return 0;
}

DAXMAP_EXPORT int daxmap_pool_bad_extents(struct daxmap_pool *pool,
					  uint64_t **extents, size_t *count)
{
	int rc = pool_begin_read(pool, extents && count, "daxmap_pool_bad_extents",
				 "extents and count");

	if (rc)
		return rc;
	rc = pool_bad_list(pool_core(pool), extents, count);
	pool_end(pool);
	return rc;
}

DAXMAP_EXPORT int daxmap_pool_check(struct daxmap_dev *dev, unsigned flags,
				    daxmap_report_fn report, void *arg)
{
	if (flags & ~DAXMAP_CHECK_REPAIR)
		return daxmap_err(EINVAL, "daxmap_pool_check: unknown flags 0x%x",
				  flags & ~DAXMAP_CHECK_REPAIR);
	return pool_check_device(dev, flags & DAXMAP_CHECK_REPAIR, report, arg);
}

DAXMAP_EXPORT int daxmap_pool_reclaim(struct daxmap_pool *pool,
				      struct daxmap_reclaim_stat *st)
{
	int rc = pool_begin(pool, true);

	if (rc)
		return rc;
	rc = pool_rdonly(pool) ? daxmap_err(EROFS, "the pool was opened read-only")
			       : release_reclaim(pool, st);
	pool_end(pool);
	return rc;
}

/* The reference state of the extents of every region (or of region) into
 * v, which has room for every used extent; ref and pins: every extent's
 * counts (NULL: nothing is referenced). */
static size_t fill_refs(const struct pool_core *c, const uint32_t *ref, const uint32_t *pins,
			const char *region, uint64_t es, struct daxmap_extent_refs *v, size_t room)
{
	uint64_t *ext = NULL;
	struct region_desc d;
	size_t n = 0;

	for (long s = -1; (s = pool_region_next(c, s, &d)) >= 0;) {
		uint64_t *g;

		if (region && strcmp(d.name, region) != 0)
			continue;
		if (!(g = realloc(ext, (d.n ? d.n : 1) * sizeof(*ext))))
			break;
		ext = g;
		pool_region_extents(c, d.slot, 0, d.n, ext);
		for (uint64_t i = 0; i < d.n && n < room; i++) {
			struct daxmap_extent_refs *e = &v[n];

			if (ext[i] == EXT_NONE)
				continue;
			e->extent = ext[i];
			e->offset = ext[i] * es;
			snprintf(e->region, sizeof(e->region), "%s", d.name);
			e->index = i;
			e->releasing = i >= d.keep;
			if (ref) {
				e->refcount = ref[ext[i]];
				e->pins = pins[ext[i]];
			}
			n++;
		}
	}
	free(ext);
	return n;
}

/* A listing of references: read the pool, with the runtime state if any
 * process uses the pool (*rt NULL otherwise). end_listing() ends it. */
static int begin_listing(struct daxmap_pool *pool, bool present, const char *fn,
			 const char *required, struct ref_runtime **rt)
{
	int rc = pool_begin_read(pool, present, fn, required);

	if (rc == 0 && (rc = runtime_attach_existing(pool, rt)))
		pool_end(pool);
	return rc;
}

static void end_listing(struct daxmap_pool *pool, struct ref_runtime *rt)
{
	if (rt)
		ref_detach(rt);
	pool_end(pool);
}

static int list_refs(struct daxmap_pool *pool, struct ref_runtime *rt, const char *region,
		     struct daxmap_extent_refs **refs, size_t *count)
{
	struct daxmap_extent_refs *v;
	struct daxmap_pool_stat st;
	struct region_desc d;
	uint32_t *ref = NULL, *pins = NULL;
	int rc = 0;

	if (region && (rc = pool_region_find(pool_core(pool), region, FIND_LIVE | FIND_ZAP, &d)))
		return rc;
	pool_core_stat(pool_core(pool), &st);
	if (!(v = calloc(st.extents_used ? st.extents_used : 1, sizeof(*v))))
		return daxmap_err(ENOMEM, "out of memory");
	/* one pass over the ledgers for every extent */
	if (rt && (!(ref = malloc(st.extents_total * sizeof(*ref))) ||
		   !(pins = malloc(st.extents_total * sizeof(*pins)))))
		rc = daxmap_err(ENOMEM, "out of memory");
	if (rc == 0 && rt)
		rc = ref_counts(rt, 0, st.extents_total, ref, pins, NULL);
	if (rc == 0) {
		*count = fill_refs(pool_core(pool), ref, pins, region, st.extent_size, v,
				   st.extents_used);
		*refs = v;
	} else {
		free(v);
	}
	free(ref);
	free(pins);
	return rc;
}

DAXMAP_EXPORT int daxmap_pool_refs(struct daxmap_pool *pool, const char *region,
				   struct daxmap_extent_refs **refs, size_t *count)
{
	struct ref_runtime *rt;
	int rc = begin_listing(pool, refs && count, "daxmap_pool_refs", "refs and count", &rt);

	if (rc)
		return rc;
	rc = list_refs(pool, rt, region, refs, count);
	end_listing(pool, rt);
	return rc;
}

static int list_holders(struct daxmap_pool *pool, struct ref_runtime *rt,
			struct daxmap_holding **holdings, size_t *count)
{
	struct daxmap_holding *v;
	struct ref_holding *hs = NULL;
	int n = ref_holders_all(rt, &hs);

	if (n < 0)
		return n;
	if (!(v = calloc(n ? (size_t)n : 1, sizeof(*v)))) {
		free(hs);
		return daxmap_err(ENOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++) {
		bool rel;

		v[i] = (struct daxmap_holding){
			.pid = hs[i].pid, .start_time = hs[i].start_time, .alive = hs[i].alive,
			.kind = hs[i].kind == REF_PIN ? DAXMAP_REF_PIN : DAXMAP_REF_MAP,
			.backend = (enum daxmap_pin_backend)hs[i].backend,
			.revocable = hs[i].revocable, .extent = hs[i].run.first,
			.extents = hs[i].run.count, .id = hs[i].id };
		if (!pool_extent_owner(pool_core(pool), hs[i].run.first, v[i].region, &v[i].index, &rel))
			v[i].index = 0;
	}
	free(hs);
	*holdings = v;
	*count = (size_t)n;
	return 0;
}

DAXMAP_EXPORT int daxmap_pool_holders(struct daxmap_pool *pool,
				      struct daxmap_holding **holdings, size_t *count)
{
	struct ref_runtime *rt;
	int rc = begin_listing(pool, holdings && count, "daxmap_pool_holders",
			       "holdings and count", &rt);

	if (rc)
		return rc;
	rc = list_holders(pool, rt, holdings, count);
	end_listing(pool, rt);
	return rc;
}
