/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * core_ops.h -- region operations on a bare pool core, for the crash
 * simulator and the fuzzer: what the library does with no reference held
 * (a remove or shrink is its zap, then at once its finish).
 */
#ifndef DAXMAP_TEST_CORE_OPS_H
#define DAXMAP_TEST_CORE_OPS_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

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

/*
 * Does the view a (kept up to date by its operations) equal b (a fresh
 * scan of the same media)? NULL, or the first difference, in why. Every
 * part of the view: counts, regions with their extents, each extent's
 * kind, the free set, and the name index (every region found by name).
 */
static inline const char *core_view_diff(const struct pool_core *a, const struct pool_core *b,
					 char *why, size_t len)
{
	uint64_t nx = a->sb.nextents;

	if (a->nfree != b->nfree || a->nused != b->nused || a->nbad != b->nbad ||
	    a->norphan != b->norphan || a->nzap != b->nzap || a->problems != b->problems) {
		snprintf(why, len, "counts free/used/bad/orphan/zap/problems %llu/%llu/%llu/%llu/%llu/%llu, on media %llu/%llu/%llu/%llu/%llu/%llu",
			 (unsigned long long)a->nfree, (unsigned long long)a->nused,
			 (unsigned long long)a->nbad, (unsigned long long)a->norphan,
			 (unsigned long long)a->nzap, (unsigned long long)a->problems,
			 (unsigned long long)b->nfree, (unsigned long long)b->nused,
			 (unsigned long long)b->nbad, (unsigned long long)b->norphan,
			 (unsigned long long)b->nzap, (unsigned long long)b->problems);
		return why;
	}
	for (uint64_t s = 0; s < a->sb.region_slots; s++) {
		const struct region_view *v = &a->views[s], *w = &b->views[s];
		struct region_desc d;

		if (v->state != w->state) {
			snprintf(why, len, "slot %llu: state %u, on media %u", (unsigned long long)s,
				 v->state, w->state);
			return why;
		}
		if (v->state == RS_FREE)
			continue;
		if (v->gen != w->gen || v->n != w->n || v->keep != w->keep ||
		    v->written != w->written || v->ctime != w->ctime || strcmp(v->name, w->name) ||
		    memcmp(v->ext, w->ext, v->n * sizeof(*v->ext))) {
			snprintf(why, len, "slot %llu ('%s'): the region differs from the media",
				 (unsigned long long)s, w->name);
			return why;
		}
		/* a damaged pool may hold a name twice: then either will do */
		if (pool_region_find(a, v->name, v->state == RS_LIVE ? FIND_LIVE : FIND_ZAP, &d) ||
		    strcmp(d.name, v->name) || (a->problems == 0 && d.slot != s)) {
			snprintf(why, len, "slot %llu ('%s'): not found by its name",
				 (unsigned long long)s, v->name);
			return why;
		}
	}
	for (uint64_t x = 0; x < nx; x++) {
		bool fa = (a->freebits[x / 64] >> (x % 64)) & 1;

		if (a->kind[x] != b->kind[x] || fa != (b->kind[x] == EK_FREE)) {
			snprintf(why, len, "extent %llu: kind %u%s, on media %u", (unsigned long long)x,
				 a->kind[x], fa ? " (in the free set)" : "", b->kind[x]);
			return why;
		}
	}
	return NULL;
}

#endif
