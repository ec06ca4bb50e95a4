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
#include "ref_va.h"
#include "region_map.h"
#include "runtime.h"
#include "util.h"

/* One region mapping of this process. */
struct rmap {
	struct map_owner owner; /* first: map_owner() gives the rmap */
	struct rmap *next;
	struct ref_runtime *rt;
	uint64_t *id;        /* per index: the reference that covers it (one
			      * for the first mapping, one per extension) */
	char *addr;
	uint64_t es;         /* extent size */
	uint64_t n;          /* region indices [0, n) are mapped */
	uint64_t *ext;       /* device extent of each index */
	uint8_t *zapped;     /* per index: replaced by PROT_NONE */
	uint64_t slot, gen;  /* the region: its logical size, the VA records
			      * (ref_va.h) */
	uint8_t uuid[16];    /* the pool's: a map of another pool is refused */
	uint64_t serial;     /* unique in the process: tells mappings apart
			      * even at a reused address (region_map_serial) */
};

/* Registration caches told of each range before a zap replaces it
 * (region_map_zap_hook()). */
static region_zap_fn zap_hooks[REGION_ZAP_HOOKS];

void region_map_zap_hook(unsigned which, region_zap_fn fn)
{
	if (which < REGION_ZAP_HOOKS)
		__atomic_store_n(&zap_hooks[which], fn, __ATOMIC_RELEASE);
}

void region_zap_hooks(void *addr, size_t len)
{
	for (unsigned k = 0; k < REGION_ZAP_HOOKS; k++) {
		region_zap_fn fn = __atomic_load_n(&zap_hooks[k], __ATOMIC_ACQUIRE);

		if (fn)
			fn(addr, len);
	}
}

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
	free(m->id);
	free(m->ext);
	free(m->zapped);
	free(m);
}

/* Room for indices [0, n) in the per-index arrays (new ones zeroed). */
static int rmap_room(struct rmap *m, uint64_t n)
{
	uint64_t *id, *ext;
	uint8_t *z;

	if (!(id = realloc(m->id, n * sizeof(*id))))
		return daxmap_err(ENOMEM, "out of memory");
	m->id = id;
	if (!(ext = realloc(m->ext, n * sizeof(*ext))))
		return daxmap_err(ENOMEM, "out of memory");
	m->ext = ext;
	if (!(z = realloc(m->zapped, n)))
		return daxmap_err(ENOMEM, "out of memory");
	m->zapped = z;
	for (uint64_t i = m->n; i < n; i++)
		m->zapped[i] = 0;
	return 0;
}

/* Before the unmap: a release no longer finds the mapping, and
 * registration caches drop what they hold in it. */
static void rmap_unmapping(struct map_owner *o)
{
	const struct rmap *m = (const struct rmap *)o;
	struct rmap **pp;

	region_zap_hooks(m->addr, m->n * m->es);
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

	/* before the references go: an MR over the range outlives it */
	ref_va_retire(m->rt, (uintptr_t)m->addr, m->n * m->es, m->slot, m->gen);
	/* each reference once; -ENOENT when a zap dropped it all */
	for (uint64_t i = 0; i < m->n; i++)
		if (i == 0 || m->id[i] != m->id[i - 1])
			ref_put(m->rt, m->id[i]);
	ref_detach(m->rt);
	rmap_free(m);
}

/* The region's extents as the registry keeps them, and their runs. */
static int rmap_new(struct daxmap_pool *pool, const struct region_desc *r,
		    struct rmap **mp, struct ext_run **runs, size_t *nruns)
{
	const struct pool_core *c = pool_core(pool);
	struct rmap *m = calloc(1, sizeof(*m));
	int rc;

	*mp = m;
	if (!m)
		return daxmap_err(ENOMEM, "out of memory");
	if ((rc = rmap_room(m, r->keep)))
		return rc;
	m->owner = (struct map_owner){ rmap_unmapping, rmap_unmapped };
	m->es = pool_core_extent_size(c);
	m->n = r->keep;
	m->slot = r->slot;
	m->gen = r->gen;
	memcpy(m->uuid, pool_uuid(pool), sizeof(m->uuid));
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
			const struct daxmap_range *r, size_t n, unsigned flags, uint64_t reserve,
			struct rmap *m)
{
	int rc;

	pthread_rwlock_rdlock(&fork_lock);
	if ((rc = map_new_reserved(mapp, pool_dev(pool), r, n, flags, reserve, true)))
		goto out;
	if (madvise(daxmap_map_addr(*mapp), daxmap_map_len(*mapp), MADV_DONTFORK) != 0) {
		rc = daxmap_err(errno, "madvise(MADV_DONTFORK): %s", strerror(errno));
		daxmap_map_delete(mapp);
		goto out;
	}
	m->addr = daxmap_map_addr(*mapp);
	/* its holder's own: not a foreign mapping of the device */
	ref_va_set(m->rt, m->id[0], (uintptr_t)m->addr, m->n * m->es);
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
 * A new registry entry for region d, holding one reference on its extents
 * (the id of every index): its ranges (*r, *n) and extent runs (*runs,
 * *nruns) for the caller, who frees them. On failure *mp may hold a part:
 * rmap_drop() it.
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
	if ((rc = ref_get((*mp)->rt, REF_MAP, 0, ref_flags, *runs, *nruns, &(*mp)->id[0]))) {
		ref_detach((*mp)->rt);
		(*mp)->rt = NULL;
		return rc;
	}
	for (uint64_t i = 1; i < (*mp)->n; i++)
		(*mp)->id[i] = (*mp)->id[0];
	return 0;
}

/* Undo rmap_take(). */
static void rmap_drop(struct rmap *m)
{
	if (m && m->rt) {
		ref_put(m->rt, m->id[0]);
		ref_detach(m->rt);
	}
	rmap_free(m);
}

/* The reservation for a region of size bytes: reserve rounded up to whole
 * extents, and at least the region. */
static int reservation(const struct region_desc *d, uint64_t es, uint64_t reserve,
		       uint64_t *out)
{
	char a[48], b[48];

	if (reserve && reserve < d->keep * es)
		return daxmap_err(EFBIG, "region '%s' (%s) is larger than the reservation of %s",
				  d->name, fmt_size(a, sizeof(a), d->keep * es),
				  fmt_size(b, sizeof(b), reserve));
	if (reserve > UINT64_MAX - es)
		return daxmap_err(EINVAL, "a reservation of %#" PRIx64 " bytes is too large", reserve);
	*out = (reserve + es - 1) / es * es;
	return 0;
}

/*
 * Without the lock shared with other processes (pool_view_begin()): a
 * region whose view is current and that has nothing to zero. 1 when the
 * locked way must be taken, with nothing held.
 */
static int map_unlocked(struct daxmap_map **mapp, struct daxmap_pool *pool, const char *name,
			uint64_t reserve, unsigned flags)
{
	struct daxmap_range *r = NULL;
	struct ext_run *runs = NULL;
	struct region_desc d;
	struct rmap *m = NULL;
	size_t n = 0, nruns = 0;
	int rc;

	if (pool_view_begin(pool))
		return 1;
	if (pool_region_find(pool_core(pool), name, FIND_LIVE, &d) || d.written < d.keep ||
	    reservation(&d, pool_core_extent_size(pool_core(pool)), reserve, &reserve))
		rc = 1;
	else
		rc = rmap_take(pool, &d, 0, &m, &r, &n, &runs, &nruns) ? 1 : 0;
	/* the sequence moved: a writer began meanwhile; start over locked */
	if (!pool_view_end(pool))
		rc = 1;
	if (rc == 0 && map_and_list(mapp, pool, r, n, flags, reserve, m) != 0)
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
		    const char *name, uint64_t reserve, unsigned flags)
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
	if ((rc = map_unlocked(mapp, pool, name, reserve, flags & ~DAXMAP_MAP_OVERWRITE)) != 1)
		return rc;
	if ((rc = begin_written(pool, name, flags & DAXMAP_MAP_OVERWRITE, &d)))
		return rc;
	/*
	 * A mapping holds one reference per extent it covers. The pool says
	 * these extents are live (its lock is held shared: no release can
	 * start), so a ZAP mark left on them by a releaser that died after
	 * freeing them is stale: REF_LIVE clears it in the same section.
	 */
	if ((rc = reservation(&d, pool_core_extent_size(pool_core(pool)), reserve, &reserve)) == 0 &&
	    (rc = rmap_take(pool, &d, REF_LIVE, &m, &r, &n, &runs, &nruns)) == 0 &&
	    (rc = map_and_list(mapp, pool, r, n, flags & ~DAXMAP_MAP_OVERWRITE, reserve, m)) == 0)
		m = NULL;
	rmap_drop(m);
	free(runs);
	free(r);
	pool_end(pool);
	return rc;
}

/* The ranges a zap replaced, for the hooks (called without rmaps_lock: a
 * cache may ask region_map_covers() meanwhile). */
struct zapped {
	struct { void *addr; size_t len; } *v;
	size_t n, cap;
};

static void zapped_add(struct zapped *z, void *addr, size_t len)
{
	if (z->n && (char *)z->v[z->n - 1].addr + z->v[z->n - 1].len == (char *)addr) {
		z->v[z->n - 1].len += len;
		return;
	}
	if (z->n == z->cap) {
		size_t cap = z->cap ? z->cap * 2 : 8;
		void *g = realloc(z->v, cap * sizeof(*z->v));

		if (!g)
			return; /* the cache then learns of it at the unmap */
		z->v = g;
		z->cap = cap;
	}
	z->v[z->n].addr = addr;
	z->v[z->n++].len = len;
}

void region_map_zap(struct ref_runtime *rt, const struct ext_run *runs, size_t nruns)
{
	struct zapped z = { NULL, 0, 0 };

	pthread_once(&rmaps_once, rmaps_init);
	pthread_mutex_lock(&rmaps_lock);
	for (struct rmap *m = rmaps; m; m = m->next) {
		bool retired = false;

		if (m->rt != rt)
			continue;
		for (uint64_t i = 0; i < m->n; i++) {
			if (m->zapped[i] || !runs_contain(runs, nruns, m->ext[i]))
				continue;
			/* an MR over the range outlives the mapping: the
			 * release looks for one there */
			if (!retired) {
				ref_va_retire(rt, (uintptr_t)m->addr, m->n * m->es, m->slot, m->gen);
				retired = true;
			}
			zapped_add(&z, m->addr + i * m->es, m->es);
			/* MAP_FIXED replaces the pages in one step: the range
			 * stays reserved, so nothing else lands there */
			if (mmap(m->addr + i * m->es, m->es, PROT_NONE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
				 -1, 0) == MAP_FAILED)
				continue; /* keeps its reference: the wait names it */
			m->zapped[i] = 1;
			ref_put_run(rt, m->id[i], (struct ext_run){ m->ext[i], 1 });
		}
	}
	pthread_mutex_unlock(&rmaps_lock);
	/* the MRs registration caches keep over the old pages: dropped now,
	 * or the release waits for them */
	for (size_t k = 0; k < z.n; k++)
		region_zap_hooks(z.v[k].addr, z.v[k].len);
	free(z.v);
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
	if (last >= m->n) /* the length grew, the arrays not yet */
		rc = map_span_refused(map, off, len);
	for (uint64_t i = first; rc == 0 && i <= last; i++)
		if (m->zapped[i]) {
			rc = daxmap_err(ESTALE,
					"bytes %#" PRIx64 "-%#" PRIx64 " of the mapping were released (ZAP) and unmapped",
					i * m->es, (i + 1) * m->es - 1);
			break;
		}
	/* under the lock: an extension may move the array */
	if (rc == 0 && (rc = runs_of(m->ext + first, last + 1 - first, runs, n)) == 0)
		*rt = ref_share(m->rt);
	pthread_mutex_unlock(&rmaps_lock);
	return rc;
}

uint64_t region_map_serial(const struct daxmap_map *map)
{
	const struct rmap *m = rmap_of(map);

	return m ? m->serial : 0;
}

bool region_map_covers(const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	bool in = false;

	pthread_mutex_lock(&rmaps_lock);
	for (const struct rmap *m = rmaps; m && !in; m = m->next) {
		uintptr_t lo = (uintptr_t)m->addr, hi = lo + m->n * m->es;

		if (a < lo || len > hi - a || (a + len > hi))
			continue;
		in = true;
		for (uint64_t i = (a - lo) / m->es; len && i <= (a + len - 1 - lo) / m->es; i++)
			in = in && !m->zapped[i];
	}
	pthread_mutex_unlock(&rmaps_lock);
	return in;
}

uint64_t region_map_extent_size(const struct daxmap_map *map)
{
	const struct rmap *m = rmap_of(map);

	return m ? m->es : 0;
}

/* The region mapping behind map, made through pool; else -EINVAL. */
static struct rmap *rmap_of_pool(struct daxmap_pool *pool, const struct daxmap_map *map,
				 const char *fn)
{
	struct rmap *m = rmap_of(map);

	if (!pool || !m) {
		daxmap_err(EINVAL, "%s: %s", fn, !pool ? "a pool is required" :
			   "not a region mapping (daxmap_region_map())");
		return NULL;
	}
	if (memcmp(m->uuid, pool_uuid(pool), sizeof(m->uuid)) != 0) {
		daxmap_err(EINVAL, "%s: the mapping is of a region of another pool", fn);
		return NULL;
	}
	return m;
}

/* Indices of [0, keep) that are not mapped: past the end, or turned
 * PROT_NONE by a shrink of this process. */
static bool rmap_missing(const struct rmap *m, uint64_t i)
{
	return i >= m->n || m->zapped[i];
}

/*
 * Under rmaps_lock and the pool lock: map indices [from, to) of the region
 * (all missing) at their place, with a reference of their own. The device
 * ranges of consecutive extents are merged, as the first mapping does.
 */
static int rmap_place(struct daxmap_map *map, struct rmap *m, const uint64_t *ext,
		      uint64_t from, uint64_t to)
{
	struct daxmap_range *r = malloc((to - from) * sizeof(*r));
	struct ext_run *runs = NULL;
	size_t n = 0, nruns;
	uint64_t id;
	int rc;

	if (!r)
		return daxmap_err(ENOMEM, "out of memory");
	for (uint64_t i = from; i < to; i++) {
		if (n && r[n - 1].offset + r[n - 1].len == ext[i] * m->es)
			r[n - 1].len += m->es;
		else
			r[n++] = (struct daxmap_range){ ext[i] * m->es, m->es };
	}
	if ((rc = runs_of(ext + from, to - from, &runs, &nruns)) ||
	    (rc = ref_get(m->rt, REF_MAP, 0, REF_LIVE, runs, nruns, &id)))
		goto out;
	if ((rc = map_place(map, from * m->es, r, n)) == 0 &&
	    madvise(m->addr + from * m->es, (to - from) * m->es, MADV_DONTFORK) != 0)
		rc = daxmap_err(errno, "madvise(MADV_DONTFORK): %s", strerror(errno));
	if (rc) {
		ref_put(m->rt, id);
		goto out;
	}
	/* its holder's own: not a foreign mapping of the device */
	ref_va_set(m->rt, id, (uintptr_t)(m->addr + from * m->es), (to - from) * m->es);
	for (uint64_t i = from; i < to; i++) {
		m->ext[i] = ext[i];
		m->id[i] = id;
		m->zapped[i] = 0;
	}
out:
	free(runs);
	free(r);
	return rc;
}

/* Under the pool lock: map what the region has and map lacks. */
static int rmap_extend(struct daxmap_map *map, struct rmap *m, struct daxmap_pool *pool,
		       const struct region_desc *d)
{
	uint64_t *ext = malloc(d->keep * sizeof(*ext)), old = m->n;
	int rc = 0;

	if (!ext)
		return daxmap_err(ENOMEM, "out of memory");
	pool_region_extents(pool_core(pool), d->slot, 0, d->keep, ext);
	pthread_rwlock_rdlock(&fork_lock);
	pthread_mutex_lock(&rmaps_lock);
	if (d->keep > m->n && (rc = rmap_room(m, d->keep)) == 0)
		m->n = d->keep; /* the new indices count as zapped till placed */
	for (uint64_t i = old; i < m->n; i++)
		m->zapped[i] = 1;
	for (uint64_t i = 0; rc == 0 && i < d->keep; i++) {
		uint64_t j = i;

		if (!rmap_missing(m, i))
			continue;
		while (j < d->keep && rmap_missing(m, j))
			j++;
		rc = rmap_place(map, m, ext, i, j);
		i = j;
	}
	if (rc) /* what was not placed is not there */
		while (m->n > old && m->zapped[m->n - 1])
			m->n--;
	pthread_mutex_unlock(&rmaps_lock);
	pthread_rwlock_unlock(&fork_lock);
	free(ext);
	return rc;
}

/* Under the pool lock: the region of mapping m, and whether it fits the
 * mapping's reservation. */
static int extend_target(struct daxmap_pool *pool, const struct rmap *m,
			 const struct daxmap_map *map, struct region_desc *d)
{
	char a[48], b[48];

	if (pool_region_at(pool_core(pool), m->slot, m->gen, d) != 0 || d->zap)
		return daxmap_err(ESTALE, "the region of this mapping was removed");
	if (d->keep * m->es > map_reserved(map))
		return daxmap_err(EFBIG, "region '%s' (%s) outgrew the mapping's reservation of %s",
				  d->name, fmt_size(a, sizeof(a), d->keep * m->es),
				  fmt_size(b, sizeof(b), map_reserved(map)));
	return 0;
}

int region_map_extend(struct daxmap_pool *pool, struct daxmap_map *map)
{
	struct rmap *m = rmap_of_pool(pool, map, "daxmap_region_map_extend");
	struct region_desc d;
	int rc;

	if (!m)
		return -EINVAL;
	if ((rc = pool_begin(pool, false)))
		return rc;
	rc = extend_target(pool, m, map, &d);
	/* what the region gained was never mapped: zeroed first, exclusive
	 * (the indices mapped already were all written when they were) */
	if (rc == 0 && d.written < d.keep) {
		pool_end(pool);
		if ((rc = pool_begin(pool, true)))
			return rc;
		if ((rc = extend_target(pool, m, map, &d)) == 0 && d.written < d.keep)
			rc = pool_rdonly(pool) ?
				daxmap_err(EROFS, "region '%s' has extents never mapped since they were handed out: a read-write mapping zeroes them first",
					   d.name) : zero_unwritten(pool, &d, false);
	}
	if (rc == 0)
		rc = rmap_extend(map, m, pool, &d);
	pool_end(pool);
	return rc;
}

static int lsize_stale(void)
{
	return daxmap_err(ESTALE, "the region of this mapping was removed");
}

int region_map_get_lsize(struct daxmap_pool *pool, const struct daxmap_map *map,
			 uint64_t *lsize)
{
	const struct rmap *m = rmap_of_pool(pool, map, "daxmap_region_map_get_lsize");

	if (!m)
		return -EINVAL;
	if (!lsize)
		return daxmap_err(EINVAL, "daxmap_region_map_get_lsize: lsize is required");
	/* the mapping's references keep the slot from being reused */
	return pool_region_lsize(pool_core(pool), m->slot, m->gen, lsize) ? lsize_stale() : 0;
}

int region_map_set_lsize(struct daxmap_pool *pool, struct daxmap_map *map, uint64_t lsize)
{
	struct rmap *m = rmap_of_pool(pool, map, "daxmap_region_map_set_lsize");
	int rc;

	if (!m)
		return -EINVAL;
	/*
	 * No pool lock: the references keep the slot from being reused. Held
	 * under rmaps_lock, a release by this process cannot drop them
	 * (region_map_zap()) between the check and the store; the handle's
	 * own lock keeps its persistence counters to one thread.
	 */
	pool_lock_local(pool);
	pthread_mutex_lock(&rmaps_lock);
	rc = m->zapped[0] ? -ESTALE : pool_region_set_lsize(pool_core(pool), m->slot, m->gen, lsize);
	pthread_mutex_unlock(&rmaps_lock);
	pool_unlock_local(pool);
	return rc == -ESTALE ? lsize_stale() : rc;
}
