/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * region_map.c -- the region mappings of this process (region_map.h).
 *
 * A region mapping holds one reference per extent it covers; deleting the
 * mapping drops it. A release zaps the releasing process's own mappings of
 * its extents (PROT_NONE, the userspace image of the kernel's
 * unmap_mapping_range() when fs/dax breaks layouts), so the registry keeps
 * every region mapping with the device extent of each of its indices.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "error.h"
#include "map.h"
#include "pool_handle.h"
#include "ref.h"
#include "region_map.h"
#include "runtime.h"
#include "util.h"

/* One region mapping of this process. */
struct rmap {
	struct map_owner owner; /* first: map_owner() gives the rmap */
	struct rmap *next;
	struct ref_runtime *rt;
	uint64_t id;         /* its reference */
	char *addr;
	uint64_t es;         /* extent size */
	uint64_t n;          /* region indices [0, n) are mapped */
	uint64_t *ext;       /* device extent of each index */
	uint8_t *zapped;     /* per index: replaced by PROT_NONE */
	uint64_t serial;     /* unique in the process: tells mappings apart
			      * even at a reused address (region_map_serial) */
};

static pthread_mutex_t rmaps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rmap *rmaps;
static pthread_once_t rmaps_once = PTHREAD_ONCE_INIT;
static uint64_t rmap_serial;

/*
 * A region mapping is made, marked MADV_DONTFORK and listed under this
 * lock (read); fork() takes it (write), so a child never inherits a
 * mapping in between: one with no reference, that a release would not
 * wait for.
 */
static pthread_rwlock_t fork_lock = PTHREAD_RWLOCK_INITIALIZER;

static void fork_prepare(void)
{
	pthread_rwlock_wrlock(&fork_lock);
}

static void fork_parent(void)
{
	pthread_rwlock_unlock(&fork_lock);
}

/*
 * A fork()ed child has none of these mappings (MADV_DONTFORK), but it has
 * the parent's libpmem2 map registry, which still lists their addresses:
 * a new mapping there would be refused as "already registered". Keep the
 * addresses taken (PROT_NONE) in the child so the kernel never hands them
 * out; deleting the inherited handle frees them.
 */
static void fork_child(void)
{
	pthread_rwlock_init(&fork_lock, NULL);
	for (struct rmap *m = rmaps; m; m = m->next)
		for (uint64_t i = 0; i < m->n; i++)
			if (!m->zapped[i]) /* a zapped one is inherited as it is */
				mmap(m->addr + i * m->es, m->es, PROT_NONE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
				     MAP_FIXED_NOREPLACE, -1, 0);
	pthread_mutex_init(&rmaps_lock, NULL);
	rmaps = NULL;
}

static void rmaps_init(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static struct rmap *rmap_of(const struct daxmap_map *map)
{
	return map ? (struct rmap *)map_owner(map) : NULL;
}

static void rmap_free(struct rmap *m)
{
	if (!m)
		return;
	free(m->ext);
	free(m->zapped);
	free(m);
}

/* Before the unmap: a release no longer finds the mapping. */
static void rmap_unmapping(struct map_owner *o)
{
	struct rmap **pp;

	pthread_mutex_lock(&rmaps_lock);
	for (pp = &rmaps; *pp && &(*pp)->owner != o; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = (*pp)->next;
	pthread_mutex_unlock(&rmaps_lock);
}

/* After the unmap: drop what a zap did not drop yet. */
static void rmap_unmapped(struct map_owner *o)
{
	struct rmap *m = (struct rmap *)o;

	ref_put(m->rt, m->id); /* -ENOENT when a zap dropped it all */
	ref_detach(m->rt);
	rmap_free(m);
}

/* The region's extents as the registry keeps them, and their runs. */
static int rmap_new(struct daxmap_pool *pool, const struct region_desc *r,
		    struct rmap **mp, struct ext_run **runs, size_t *nruns)
{
	const struct pool_core *c = pool_core(pool);
	struct rmap *m = calloc(1, sizeof(*m));

	*mp = m;
	if (!m || !(m->ext = malloc((r->keep ? r->keep : 1) * sizeof(*m->ext))) ||
	    !(m->zapped = calloc(r->keep ? r->keep : 1, 1)))
		return daxmap_err(ENOMEM, "out of memory");
	m->owner = (struct map_owner){ rmap_unmapping, rmap_unmapped };
	m->es = pool_core_extent_size(c);
	m->n = r->keep;
	m->serial = __atomic_add_fetch(&rmap_serial, 1, __ATOMIC_RELAXED);
	pool_region_extents(c, r->slot, 0, r->keep, m->ext);
	return runs_of(m->ext, m->n, runs, nruns);
}

/*
 * Map the ranges and list the mapping, under the fork lock: a fork()ed
 * child inherits neither the mapping nor the reference. On failure the
 * caller still owns m and its reference.
 */
static int map_and_list(struct daxmap_map **mapp, struct daxmap_pool *pool,
			const struct daxmap_range *r, size_t n, unsigned flags, struct rmap *m)
{
	int rc;

	pthread_rwlock_rdlock(&fork_lock);
	if ((rc = daxmap_map_new_ranges(mapp, pool_dev(pool), r, n, flags)))
		goto out;
	if (madvise(daxmap_map_addr(*mapp), daxmap_map_len(*mapp), MADV_DONTFORK) != 0) {
		rc = daxmap_err(errno, "madvise(MADV_DONTFORK): %s", strerror(errno));
		daxmap_map_delete(mapp);
		goto out;
	}
	m->addr = daxmap_map_addr(*mapp);
	map_set_owner(*mapp, &m->owner);
	pthread_mutex_lock(&rmaps_lock);
	m->next = rmaps;
	rmaps = m;
	pthread_mutex_unlock(&rmaps_lock);
out:
	pthread_rwlock_unlock(&fork_lock);
	return rc;
}

int region_zero(struct daxmap_pool *pool, const struct region_desc *d, uint64_t from,
		uint64_t to)
{
	const struct pool_core *c = pool_core(pool);
	uint64_t es = pool_core_extent_size(c), n = to - from;
	uint64_t *x = malloc((n ? n : 1) * sizeof(*x));
	struct daxmap_range *r = malloc((n ? n : 1) * sizeof(*r));
	size_t k = 0;
	int rc;

	if (!x || !r) {
		rc = daxmap_err(ENOMEM, "out of memory");
		goto out;
	}
	pool_region_extents(c, d->slot, from, to, x);
	for (uint64_t i = 0; i < n; i++) {
		if (k && r[k - 1].offset + r[k - 1].len == x[i] * es)
			r[k - 1].len += es;
		else
			r[k++] = (struct daxmap_range){ x[i] * es, es };
	}
	rc = k ? map_zero_ranges(pool_dev(pool), r, k) : 0;
out:
	free(x);
	free(r);
	return rc;
}

/*
 * Under the exclusive pool lock: the region's extents that were never
 * mapped since they were handed out ([written, keep)) are zeroed -- unless
 * the caller overwrites everything -- and then counted as written, so a
 * new owner never sees a previous one's bytes (fs/dax zeroes an unwritten
 * extent on its first fault the same way).
 */
static int zero_unwritten(struct daxmap_pool *pool, const struct region_desc *d, bool overwrite)
{
	int rc = overwrite ? 0 : region_zero(pool, d, d->written, d->keep);

	return rc ? rc : pool_region_written(pool_core(pool), d->slot, d->gen, d->keep);
}

/*
 * Begin a region mapping: the pool locked shared, the region found; or,
 * when part of it was never mapped, locked exclusive and that part zeroed
 * first (once: the next mapping finds it written).
 */
static int begin_written(struct daxmap_pool *pool, const char *name, bool overwrite,
			 struct region_desc *d)
{
	int rc = pool_begin(pool, false);

	if (rc)
		return rc;
	if ((rc = pool_region_find(pool_core(pool), name, FIND_LIVE, d)) ||
	    d->written >= d->keep)
		goto out;
	pool_end(pool);
	if ((rc = pool_begin(pool, true)))
		return rc;
	if ((rc = pool_region_find(pool_core(pool), name, FIND_LIVE, d)) == 0 &&
	    d->written < d->keep) {
		if (pool_rdonly(pool))
			rc = daxmap_err(EROFS,
					"region '%s' has extents never mapped since they were handed out: a read-write mapping zeroes them first",
					name);
		else
			rc = zero_unwritten(pool, d, overwrite);
	}
out:
	if (rc)
		pool_end(pool);
	return rc;
}

/*
 * A new registry entry for region d, holding its references: its ranges
 * (*r, *n) and extent runs (*runs, *nruns) for the caller, who frees
 * them. On failure *mp may hold a part: rmap_drop() it.
 */
static int rmap_take(struct daxmap_pool *pool, const struct region_desc *d, unsigned ref_flags,
		     struct rmap **mp, struct daxmap_range **r, size_t *n, struct ext_run **runs,
		     size_t *nruns)
{
	int rc;

	if ((rc = pool_region_ranges(pool_core(pool), d->slot, r, n)) ||
	    (rc = rmap_new(pool, d, mp, runs, nruns)) ||
	    (rc = runtime_attach(pool, &(*mp)->rt)))
		return rc;
	if ((rc = ref_get((*mp)->rt, REF_MAP, 0, ref_flags, *runs, *nruns, &(*mp)->id))) {
		ref_detach((*mp)->rt);
		(*mp)->rt = NULL;
	}
	return rc;
}

/* Undo rmap_take(). */
static void rmap_drop(struct rmap *m)
{
	if (m && m->rt) {
		ref_put(m->rt, m->id);
		ref_detach(m->rt);
	}
	rmap_free(m);
}

/*
 * Without the lock shared with other processes (pool_view_begin()): a
 * region whose view is current and that has nothing to zero. 1 when the
 * locked way must be taken, with nothing held.
 */
static int map_unlocked(struct daxmap_map **mapp, struct daxmap_pool *pool, const char *name,
			unsigned flags)
{
	struct daxmap_range *r = NULL;
	struct ext_run *runs = NULL;
	struct region_desc d;
	struct rmap *m = NULL;
	size_t n = 0, nruns = 0;
	int rc;

	if (pool_view_begin(pool))
		return 1;
	if (pool_region_find(pool_core(pool), name, FIND_LIVE, &d) || d.written < d.keep)
		rc = 1;
	else
		rc = rmap_take(pool, &d, 0, &m, &r, &n, &runs, &nruns) ? 1 : 0;
	/* the sequence moved: a writer began meanwhile; start over locked */
	if (!pool_view_end(pool))
		rc = 1;
	if (rc == 0 && map_and_list(mapp, pool, r, n, flags, m) != 0)
		rc = 1;
	if (rc == 0) {
		/*
		 * A release that marked these extents after the reference was
		 * taken, and zapped this process's mappings before this one
		 * was listed, would wait for it: give it up (the locked way
		 * then says the region is being removed).
		 */
		if (ref_zapped(m->rt, runs, nruns, false)) {
			daxmap_map_delete(mapp);
			rc = 1;
		}
		m = NULL;
	}
	rmap_drop(m);
	free(runs);
	free(r);
	return rc;
}

int region_map_open(struct daxmap_map **mapp, struct daxmap_pool *pool,
		    const char *name, unsigned flags)
{
	struct daxmap_range *r = NULL;
	struct ext_run *runs = NULL;
	struct region_desc d;
	struct rmap *m = NULL;
	size_t n, nruns;
	int rc;

	if (flags & ~DAXMAP_MAP_OVERWRITE)
		return daxmap_err(EINVAL, "daxmap_region_map: unknown flags 0x%x",
				  flags & ~DAXMAP_MAP_OVERWRITE);
	pthread_once(&rmaps_once, rmaps_init);
	if ((rc = map_unlocked(mapp, pool, name, flags & ~DAXMAP_MAP_OVERWRITE)) != 1)
		return rc;
	if ((rc = begin_written(pool, name, flags & DAXMAP_MAP_OVERWRITE, &d)))
		return rc;
	/*
	 * A mapping holds one reference per extent it covers. The pool says
	 * these extents are live (its lock is held shared: no release can
	 * start), so a ZAP mark left on them by a releaser that died after
	 * freeing them is stale: REF_LIVE clears it in the same section.
	 */
	if ((rc = rmap_take(pool, &d, REF_LIVE, &m, &r, &n, &runs, &nruns)) == 0 &&
	    (rc = map_and_list(mapp, pool, r, n, flags & ~DAXMAP_MAP_OVERWRITE, m)) == 0)
		m = NULL;
	rmap_drop(m);
	free(runs);
	free(r);
	pool_end(pool);
	return rc;
}

void region_map_zap(struct ref_runtime *rt, const struct ext_run *runs, size_t nruns)
{
	pthread_once(&rmaps_once, rmaps_init);
	pthread_mutex_lock(&rmaps_lock);
	for (struct rmap *m = rmaps; m; m = m->next) {
		if (m->rt != rt)
			continue;
		for (uint64_t i = 0; i < m->n; i++) {
			if (m->zapped[i] || !runs_contain(runs, nruns, m->ext[i]))
				continue;
			/* MAP_FIXED replaces the pages in one step: the range
			 * stays reserved, so nothing else lands there */
			if (mmap(m->addr + i * m->es, m->es, PROT_NONE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
				 -1, 0) == MAP_FAILED)
				continue; /* keeps its reference: the wait names it */
			m->zapped[i] = 1;
			ref_put_run(rt, m->id, (struct ext_run){ m->ext[i], 1 });
		}
	}
	pthread_mutex_unlock(&rmaps_lock);
}

int region_map_runs(const struct daxmap_map *map, uint64_t off, uint64_t len,
		    struct ref_runtime **rt, struct ext_run **runs, size_t *n)
{
	const struct rmap *m = rmap_of(map);
	uint64_t first, last;
	int rc = 0;

	*runs = NULL;
	*n = 0;
	if (!m)
		return daxmap_err(EINVAL,
				  "not a region mapping (daxmap_region_map()): references are counted per pool extent");
	if ((rc = map_check_span(map, off, len)))
		return rc;
	first = off / m->es;
	last = (off + len - 1) / m->es;
	pthread_mutex_lock(&rmaps_lock);
	for (uint64_t i = first; i <= last; i++)
		if (m->zapped[i]) {
			rc = daxmap_err(ESTALE,
					"bytes %#" PRIx64 "-%#" PRIx64 " of the mapping were released (ZAP) and unmapped",
					i * m->es, (i + 1) * m->es - 1);
			break;
		}
	pthread_mutex_unlock(&rmaps_lock);
	if (rc == 0 && (rc = runs_of(m->ext + first, last + 1 - first, runs, n)) == 0)
		*rt = ref_share(m->rt);
	return rc;
}

uint64_t region_map_serial(const struct daxmap_map *map)
{
	const struct rmap *m = rmap_of(map);

	return m ? m->serial : 0;
}

uint64_t region_map_extent_size(const struct daxmap_map *map)
{
	const struct rmap *m = rmap_of(map);

	return m ? m->es : 0;
}
