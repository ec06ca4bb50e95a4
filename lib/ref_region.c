/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ref_region.c -- the region operations that involve references (SPEC §4):
 * mapping a region takes one reference per extent it covers, deleting the
 * mapping drops it; removing or shrinking a region is zap, wait, reclaim.
 *
 * Release, as the kernel truncates a DAX file (seeds/000, 002):
 *   1. mark the extents ZAP in the runtime state (no new reference), then
 *      in the persistent metadata (one drain);
 *   2. replace this process's own mappings of them with PROT_NONE, so a
 *      stale access faults (the kernel's unmap_mapping_range());
 *   3. the ZAP mark wakes the revokers of revocable pins (pin.c);
 *   4. wait, up to the caller's timeout, for every count to reach zero;
 *   5. free the extents (one drain), then clear the runtime mark.
 * On timeout the extents stay ZAP; daxmap_pool_reclaim() from any process
 * (and pool open) finishes them once idle.
 *
 * Lock order: the pool's OFD lock, then the runtime mutex. Mapping holds
 * the pool lock shared, the zap and the free hold it exclusive; the wait in
 * between holds none, so other pool operations go on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "daxmap.h"
#include "error.h"
#include "map.h"
#include "pool.h"
#include "ref.h"
#include "ref_region.h"
#include "util.h"

/* One region mapping of this process: what a zap or a pin needs. */
struct rmap {
	struct rmap *next;
	struct ref_rt *rt;
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
 * A fork()ed child has none of these mappings (MADV_DONTFORK), but it has
 * the parent's libpmem2 map registry, which still lists their addresses:
 * a new mapping there would be refused as "already registered". Keep the
 * addresses taken (PROT_NONE) in the child so the kernel never hands them
 * out; deleting the inherited handle frees them.
 */
static void rmaps_atfork_child(void)
{
	for (struct rmap *m = rmaps; m; m = m->next)
		for (uint64_t i = 0; i < m->n; i++)
			if (!m->zapped[i]) /* a zapped one is inherited as it is */
				mmap(m->addr + i * m->es, m->es, PROT_NONE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
				     MAP_FIXED_NOREPLACE, -1, 0);
	pthread_mutex_init(&rmaps_lock, NULL);
	rmaps = NULL;
}

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

static void fork_child(void)
{
	pthread_rwlock_init(&fork_lock, NULL);
	rmaps_atfork_child();
}

static void rmaps_init(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void detach_on_close(void *rt)
{
	ref_detach(rt);
}

static const char *runtime_dir(void)
{
	const char *dir = getenv("DAXMAP_RUNTIME_DIR");

	if (!dir || !*dir)
		return NULL;
	mkdir(dir, 0700);
	return dir;
}

/*
 * The process's attachment to the pool's runtime state: made once per pool
 * handle and kept until the pool is closed (each attachment costs a file
 * open and a registration). DAXMAP_RUNTIME_DIR moves the state out of
 * /dev/shm (tests). The caller detaches what it gets.
 */
static int attach(struct daxmap_pool *pool, struct ref_rt **rt)
{
	const struct pool_core *c = pool_core_of(pool);
	void **held = pool_upper(pool, detach_on_close);
	int rc;

	/* a pool handle inherited through fork() gets this process's own */
	if (*held && ref_stale(*held))
		*held = NULL;
	if (!*held && (rc = ref_attach((struct ref_rt **)held, c->sb.uuid, c->sb.nextents,
				       runtime_dir())))
		return rc;
	*rt = ref_share(*held);
	return 0;
}

/* Extents ext[from, to) (skipping cleared ones) as sorted, merged runs. */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int ext_runs(const uint64_t *ext, uint64_t from, uint64_t to,
		    struct ref_run **runs, size_t *n)
{
	uint64_t *v = malloc((to > from ? to - from : 1) * sizeof(*v));
	size_t k = 0;

	*runs = NULL;
	*n = 0;
	if (!v)
		return daxmap_err(ENOMEM, "out of memory");
	for (uint64_t i = from; i < to; i++)
		if (ext[i] != UINT64_MAX)
			v[k++] = ext[i];
	qsort(v, k, sizeof(*v), cmp_u64);
	*runs = malloc((k ? k : 1) * sizeof(**runs));
	if (!*runs) {
		free(v);
		return daxmap_err(ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < k; i++) {
		if (*n && (*runs)[*n - 1].first + (*runs)[*n - 1].count == v[i])
			(*runs)[*n - 1].count++;
		else
			(*runs)[(*n)++] = (struct ref_run){ v[i], 1 };
	}
	free(v);
	return 0;
}

static bool in_runs(const struct ref_run *runs, size_t n, uint64_t x)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x < runs[mid].first)
			hi = mid;
		else if (x >= runs[mid].first + runs[mid].count)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static void unlink_rmap(void *arg)
{
	struct rmap **pp;

	pthread_mutex_lock(&rmaps_lock);
	for (pp = &rmaps; *pp && *pp != arg; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = ((struct rmap *)arg)->next;
	pthread_mutex_unlock(&rmaps_lock);
}

/* After the unmap: what a zap did not drop yet. */
static void drop_rmap(void *arg)
{
	struct rmap *m = arg;

	ref_put(m->rt, m->id); /* -ENOENT when a zap dropped it all */
	ref_detach(m->rt);
	free(m->ext);
	free(m->zapped);
	free(m);
}

DAXMAP_EXPORT int daxmap_region_map(struct daxmap_map **mapp, struct daxmap_pool *pool,
				    const char *name, unsigned flags)
{
	struct daxmap_range *r = NULL;
	const struct region_view *v;
	struct ref_run *runs = NULL;
	struct rmap *m = NULL;
	size_t n, nruns;
	int rc;

	if (!mapp || !name)
		return daxmap_err(EINVAL, "daxmap_region_map: mapp and name are required");
	*mapp = NULL;
	pthread_once(&rmaps_once, rmaps_init);
	if ((rc = pool_begin(pool, false)))
		return rc;
	if ((rc = pool_ranges_locked(pool, name, &r, &n)))
		goto out;
	v = &pool_core_of(pool)->rv[pool_find(pool_core_of(pool), name)];
	m = calloc(1, sizeof(*m));
	if (!m || !(m->ext = malloc(v->keep * sizeof(*m->ext))) ||
	    !(m->zapped = calloc(v->keep, 1))) {
		rc = daxmap_err(ENOMEM, "out of memory");
		goto out;
	}
	m->es = pool_core_of(pool)->sb.extent_size;
	m->n = v->keep;
	m->serial = __atomic_add_fetch(&rmap_serial, 1, __ATOMIC_RELAXED);
	memcpy(m->ext, v->ext, v->keep * sizeof(*m->ext));
	if ((rc = ext_runs(v->ext, 0, v->keep, &runs, &nruns)))
		goto out;
	if ((rc = attach(pool, &m->rt)))
		goto out;
	/*
	 * A mapping holds one reference per extent it covers. The pool says
	 * these extents are live (its lock is held shared: no release can
	 * start), so a ZAP mark left on them by a releaser that died after
	 * freeing them is stale: REF_LIVE clears it in the same section.
	 */
	if ((rc = ref_get(m->rt, REF_MAP, 0, REF_LIVE, runs, nruns, &m->id))) {
		ref_detach(m->rt);
		goto out;
	}
	pthread_rwlock_rdlock(&fork_lock);
	if ((rc = daxmap_map_new_ranges(mapp, pool_dev(pool), r, n, flags))) {
		pthread_rwlock_unlock(&fork_lock);
		ref_put(m->rt, m->id);
		ref_detach(m->rt);
		goto out;
	}
	/* a fork()ed child inherits neither the mapping nor the reference */
	if (madvise((*mapp)->addr, (*mapp)->len, MADV_DONTFORK) != 0) {
		rc = daxmap_err(errno, "madvise(MADV_DONTFORK): %s", strerror(errno));
		pthread_rwlock_unlock(&fork_lock);
		daxmap_map_delete(mapp);
		ref_put(m->rt, m->id);
		ref_detach(m->rt);
		goto out;
	}
	m->addr = (*mapp)->addr;
	(*mapp)->on_unmap = unlink_rmap;
	(*mapp)->on_delete = drop_rmap;
	(*mapp)->on_delete_arg = m;
	pthread_mutex_lock(&rmaps_lock);
	m->next = rmaps;
	rmaps = m;
	pthread_mutex_unlock(&rmaps_lock);
	pthread_rwlock_unlock(&fork_lock);
	m = NULL;
out:
	if (m) {
		free(m->ext);
		free(m->zapped);
		free(m);
	}
	free(runs);
	free(r);
	pool_end(pool);
	return rc;
}

int region_map_runs(const struct daxmap_map *map, uint64_t off, uint64_t len,
		    struct ref_rt **rt, struct ref_run **runs, size_t *n)
{
	const struct rmap *m;
	uint64_t first, last;
	int rc = 0;

	*runs = NULL;
	*n = 0;
	if (!map || map->on_delete != drop_rmap)
		return daxmap_err(EINVAL,
				  "not a region mapping (daxmap_region_map()): references are counted per pool extent");
	m = map->on_delete_arg;
	if (len == 0 || off >= map->len || len > map->len - off)
		return daxmap_err(EINVAL, "range [%#" PRIx64 ", +%#" PRIx64 ") is not inside the %#" PRIx64 "-byte mapping",
				  off, len, map->len);
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
	if (rc == 0 && (rc = ext_runs(m->ext, first, last + 1, runs, n)) == 0)
		*rt = ref_share(m->rt);
	return rc;
}

uint64_t region_map_serial(const struct daxmap_map *map)
{
	return map && map->on_delete == drop_rmap
		? ((const struct rmap *)map->on_delete_arg)->serial : 0;
}

enum daxmap_dev_kind region_map_kind(const struct daxmap_map *map)
{
	return daxmap_dev_kind(map->dev);
}

/*
 * Step 2: replace this process's mappings of the extents in runs with
 * PROT_NONE (a stale access faults instead of reaching the next owner's
 * data) and drop their references on them.
 */
static void zap_own(struct ref_rt *rt, const struct ref_run *runs, size_t nruns)
{
	pthread_mutex_lock(&rmaps_lock);
	for (struct rmap *m = rmaps; m; m = m->next) {
		if (m->rt != rt)
			continue;
		for (uint64_t i = 0; i < m->n; i++) {
			if (m->zapped[i] || !in_runs(runs, nruns, m->ext[i]))
				continue;
			/* MAP_FIXED replaces the pages in one step: the range
			 * stays reserved, so nothing else lands there */
			if (mmap(m->addr + i * m->es, m->es, PROT_NONE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
				 -1, 0) == MAP_FAILED)
				continue; /* keeps its reference: the wait names it */
			m->zapped[i] = 1;
			ref_put_run(rt, m->id, (struct ref_run){ m->ext[i], 1 });
		}
	}
	pthread_mutex_unlock(&rmaps_lock);
}

/*
 * Step 5, under the exclusive pool lock: free the ZAP extents of the
 * region in slot at gen if no reference covers them. 0 (also when another
 * process finished them), -EBUSY with the holders, or -errno.
 */
static int finish_locked(struct daxmap_pool *pool, struct ref_rt *rt, uint64_t slot,
			 uint64_t gen, uint64_t *freed)
{
	struct pool_core *c = pool_core_of(pool);
	const struct region_view *v = &c->rv[slot];
	struct ref_run *runs;
	uint64_t count;
	size_t n;
	int rc;

	if (v->state == RS_FREE || v->gen != gen || !rv_releasing(v))
		return 0;
	count = v->n - v->keep;
	if ((rc = ext_runs(v->ext, v->keep, v->n, &runs, &n)))
		return rc;
	/*
	 * Marked again: after a crash or reboot only the pool remembers, and
	 * the mark keeps new references out between the idle check and the
	 * free. The DAX_ZAP check itself is the pool's (pool_region_finish()
	 * refuses a record with nothing marked ZAP): the runtime marks are
	 * derived from the pool here, so they cannot check it a second time.
	 */
	if ((rc = ref_zap(rt, runs, n, true)) == 0 &&
	    (rc = ref_wait_idle(rt, runs, n, 0)) == 0) {
		if ((rc = pool_region_finish(c, slot, gen)) == 0) {
			ref_zap(rt, runs, n, false);
			if (freed)
				*freed += count;
		} else if (rc == -ESTALE) {
			rc = 0;
		}
	}
	free(runs);
	return rc;
}

/*
 * Remove (keep 0) or shrink region name to keep extents: zap, wait up to
 * timeout_ms, reclaim. Removing a region already being removed waits again.
 */
static int release(struct daxmap_pool *pool, const char *name, uint64_t keep,
		   int timeout_ms)
{
	struct pool_core *c;
	struct ref_run *runs = NULL;
	struct ref_rt *rt = NULL;
	uint64_t slot, gen, count = 0;
	size_t n;
	long s;
	int rc;

	pthread_once(&rmaps_once, rmaps_init);
	if ((rc = pool_begin(pool, true)))
		return rc;
	c = pool_core_of(pool);
	/* refused before anything is marked */
	if (c->rdonly) {
		rc = daxmap_err(EROFS, "the pool was opened read-only");
		goto out_locked;
	}
	if ((rc = attach(pool, &rt)))
		goto out_locked;
	s = pool_find(c, name);
	if (s < 0 && keep == 0 && (s = pool_find_zap(c, name)) >= 0) {
		/* removed before, still waiting for references: wait again */
		slot = (uint64_t)s;
		gen = c->rv[s].gen;
		rc = ext_runs(c->rv[s].ext, 0, c->rv[s].n, &runs, &n);
		goto wait;
	}
	if (s < 0) {
		rc = daxmap_err(ENOENT, "no region named '%s'", name);
		goto out_locked;
	}
	/* an earlier release of this region: finish it if it can be */
	if (rv_releasing(&c->rv[s]) &&
	    (rc = finish_locked(pool, rt, (uint64_t)s, c->rv[s].gen, NULL)) != 0 &&
	    !(rc == -EBUSY && keep == 0))
		goto out_locked;
	if (keep >= c->rv[s].n) {
		rc = 0; /* nothing past keep */
		goto out_locked;
	}
	if ((rc = ext_runs(c->rv[s].ext, keep, c->rv[s].n, &runs, &n)))
		goto out_locked;
	/* 1. runtime mark first: a crash before the persistent one leaves
	 *    refusals of new references, never a free */
	if ((rc = ref_zap(rt, runs, n, true)))
		goto out_locked;
	if ((rc = pool_region_zap(c, name, keep, &slot, &gen))) {
		ref_zap(rt, runs, n, false);
		goto out_locked;
	}
wait:
	count = c->rv[slot].n - c->rv[slot].keep;
	pool_end(pool);
	if (rc)
		goto out;
	/* 2. own mappings; 3. revokers were woken by the mark */
	zap_own(rt, runs, n);
	/* 4. wait */
	rc = ref_wait_idle(rt, runs, n, timeout_ms);
	if (rc == 0) {
		/* 5. reclaim */
		if ((rc = pool_begin(pool, true)))
			goto out;
		rc = finish_locked(pool, rt, slot, gen, NULL);
		goto out_locked;
	}
	if (rc == -EBUSY)
		rc = daxmap_err_prefix(EBUSY,
				       "region '%s': %" PRIu64 " extent(s) stay in ZAP until these are dropped; daxmap_pool_reclaim() (daxmapctl reclaim) frees them then",
				       name, count);
	goto out;
out_locked:
	pool_end(pool);
out:
	if (rt)
		ref_detach(rt);
	free(runs);
	return rc;
}

DAXMAP_EXPORT int daxmap_region_remove(struct daxmap_pool *pool, const char *name,
				       int timeout_ms)
{
	if (!name)
		return daxmap_err(EINVAL, "a region name is required");
	return release(pool, name, 0, timeout_ms);
}

DAXMAP_EXPORT int daxmap_region_resize(struct daxmap_pool *pool, const char *name,
				       uint64_t size, uint64_t *actual, int timeout_ms)
{
	const struct pool_core *c;
	uint64_t es, keep;
	long s;
	int rc;

	if (!name)
		return daxmap_err(EINVAL, "a region name is required");
	if ((rc = pool_begin(pool, true)))
		return rc;
	c = pool_core_of(pool);
	es = c->sb.extent_size;
	keep = size / es + (size % es != 0);
	s = pool_find(c, name);
	/* growing, or a size the pool core refuses: no references involved */
	if (size == 0 || s < 0 || keep >= c->rv[s].keep) {
		struct ref_rt *rt;

		if (s >= 0 && size && rv_releasing(&c->rv[s]) && attach(pool, &rt) == 0) {
			/* a pending shrink blocks growing until finished */
			finish_locked(pool, rt, (uint64_t)s, c->rv[s].gen, NULL);
			ref_detach(rt);
		}
		rc = pool_region_resize(pool_core_of(pool), name, size, actual);
		pool_end(pool);
		return rc;
	}
	pool_end(pool);
	if ((rc = release(pool, name, keep, timeout_ms)) == 0 && actual)
		*actual = keep * es;
	return rc;
}

/*
 * The runtime ZAP marks agree with the pool: marked exactly when being
 * released. A releaser that died leaves marks either way.
 */
static int sync_marks(struct pool_core *c, struct ref_rt *rt)
{
	uint8_t *want = calloc(c->sb.nextents, 1);
	uint64_t x = 0;

	if (!want)
		return daxmap_err(ENOMEM, "out of memory");
	for (uint64_t s = 0; s < c->sb.region_slots; s++)
		for (uint64_t i = c->rv[s].keep; i < c->rv[s].n; i++)
			if (c->rv[s].ext[i] != UINT64_MAX)
				want[c->rv[s].ext[i]] = 1;
	while (x < c->sb.nextents) {
		struct ref_run r = { x, 0 };

		while (x < c->sb.nextents && want[x] == want[r.first])
			x++;
		r.count = x - r.first;
		ref_zap(rt, &r, 1, want[r.first]);
	}
	free(want);
	return 0;
}

static int reclaim_locked(struct daxmap_pool *pool, struct daxmap_reclaim_stat *st)
{
	struct pool_core *c = pool_core_of(pool);
	struct daxmap_reclaim_stat z;
	struct ref_rt *rt;
	int rc, dead;

	memset(&z, 0, sizeof(z));
	if ((rc = attach(pool, &rt)))
		return rc;
	if ((dead = ref_reclaim_dead(rt)) < 0) {
		ref_detach(rt);
		return dead;
	}
	z.holders_dropped = (uint32_t)dead;
	if ((rc = sync_marks(c, rt)) == 0)
		for (uint64_t s = 0; s < c->sb.region_slots && rc == 0; s++) {
			const struct region_view *v = &c->rv[s];
			uint64_t left = v->n - v->keep, freed = 0;

			if (!rv_releasing(v))
				continue;
			rc = finish_locked(pool, rt, s, v->gen, &freed);
			if (rc == -EBUSY) {
				z.extents_waiting += left;
				rc = 0;
			} else if (rc == 0) {
				z.releases_finished++;
				z.extents_freed += freed;
			}
		}
	ref_detach(rt);
	if (rc == 0 && st)
		*st = z;
	return rc;
}

DAXMAP_EXPORT int daxmap_pool_reclaim(struct daxmap_pool *pool,
				      struct daxmap_reclaim_stat *st)
{
	int rc = pool_begin(pool, true);

	if (rc)
		return rc;
	rc = pool_core_of(pool)->rdonly ? daxmap_err(EROFS, "the pool was opened read-only")
					: reclaim_locked(pool, st);
	pool_end(pool);
	return rc;
}

DAXMAP_EXPORT int daxmap_pool_open(struct daxmap_pool **poolp, struct daxmap_dev *dev,
				   unsigned flags)
{
	struct pool_core *c;
	int rc = pool_open(poolp, dev, flags);

	if (rc)
		return rc;
	c = pool_core_of(*poolp);
	/* drop dead holders' references and finish idle releases; after a
	 * reboot the runtime state is void and every release is idle */
	if (!c->rdonly && !(flags & DAXMAP_POOL_NORECLAIM) &&
	    (c->nzap || ref_exists(c->sb.uuid, runtime_dir()))) {
		if ((rc = pool_begin(*poolp, true)) == 0) {
			rc = reclaim_locked(*poolp, NULL);
			pool_end(*poolp);
		}
		if (rc) {
			daxmap_pool_close(*poolp);
			*poolp = NULL;
		}
	}
	return rc;
}

/* Region and index of each extent, for the listings. */
static void owner_of(const struct pool_core *c, uint64_t x, char name[64], uint64_t *idx,
		     int *releasing)
{
	for (uint64_t s = 0; s < c->sb.region_slots; s++) {
		const struct region_view *v = &c->rv[s];

		for (uint64_t i = 0; i < v->n; i++)
			if (v->ext[i] == x) {
				snprintf(name, 64, "%s", v->name);
				*idx = i;
				*releasing = i >= v->keep;
				return;
			}
	}
	name[0] = '\0';
	*idx = 0;
	*releasing = 0;
}

/* Attach only if some process has used the pool since boot: a listing
 * never creates the runtime state. *rt NULL: nothing is referenced. */
static int attach_existing(struct daxmap_pool *pool, struct ref_rt **rt)
{
	const struct pool_core *c = pool_core_of(pool);

	*rt = NULL;
	if (!*pool_upper(pool, detach_on_close) && !ref_exists(c->sb.uuid, runtime_dir()))
		return 0;
	return attach(pool, rt);
}

DAXMAP_EXPORT int daxmap_pool_refs(struct daxmap_pool *pool, const char *region,
				   struct daxmap_extent_refs **refs, size_t *count)
{
	struct daxmap_extent_refs *v = NULL;
	struct pool_core *c;
	struct ref_rt *rt = NULL;
	size_t n = 0;
	int rc;

	if (!refs || !count)
		return daxmap_err(EINVAL, "daxmap_pool_refs: refs and count are required");
	if ((rc = pool_begin(pool, false)))
		return rc;
	c = pool_core_of(pool);
	if (region && pool_find(c, region) < 0 && pool_find_zap(c, region) < 0) {
		rc = daxmap_err(ENOENT, "no region named '%s'", region);
		goto out;
	}
	if ((rc = attach_existing(pool, &rt)))
		goto out;
	v = calloc(c->nused ? c->nused : 1, sizeof(*v));
	if (!v) {
		rc = daxmap_err(ENOMEM, "out of memory");
		goto out;
	}
	for (uint64_t s = 0; s < c->sb.region_slots; s++) {
		const struct region_view *r = &c->rv[s];

		if (r->state == RS_FREE || (region && strcmp(r->name, region) != 0))
			continue;
		for (uint64_t i = 0; i < r->n && n < c->nused; i++) {
			struct daxmap_extent_refs *e = &v[n];
			bool zap = false;

			if (r->ext[i] == UINT64_MAX)
				continue;
			e->extent = r->ext[i];
			e->offset = r->ext[i] * c->sb.extent_size;
			snprintf(e->region, sizeof(e->region), "%s", r->name);
			e->index = i;
			e->releasing = i >= r->keep;
			if (rt)
				ref_count(rt, r->ext[i], &e->refcount, &e->pins, &zap);
			n++;
		}
	}
out:
	if (rt)
		ref_detach(rt);
	pool_end(pool);
	if (rc) {
		free(v);
		return rc;
	}
	*refs = v;
	*count = n;
	return 0;
}

DAXMAP_EXPORT int daxmap_pool_holders(struct daxmap_pool *pool,
				      struct daxmap_holding **holdings, size_t *count)
{
	struct daxmap_holding *v = NULL;
	struct ref_holding *hs = NULL;
	struct pool_core *c;
	struct ref_rt *rt;
	int rc, n = 0;

	if (!holdings || !count)
		return daxmap_err(EINVAL, "daxmap_pool_holders: holdings and count are required");
	if ((rc = pool_begin(pool, false)))
		return rc;
	c = pool_core_of(pool);
	if ((rc = attach_existing(pool, &rt)))
		goto out;
	for (size_t cap = 0;;) {
		struct ref_holding *g;
		int got = rt ? ref_holders(rt, NULL, 0, hs, cap) : 0;

		if (got < 0) {
			rc = got;
			goto out;
		}
		if ((size_t)got <= cap) {
			n = got;
			break;
		}
		cap = (size_t)got + 8; /* more may come meanwhile */
		if (!(g = realloc(hs, cap * sizeof(*hs)))) {
			rc = daxmap_err(ENOMEM, "out of memory");
			goto out;
		}
		hs = g;
	}
	v = calloc(n ? (size_t)n : 1, sizeof(*v));
	if (!v) {
		rc = daxmap_err(ENOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		int rel;

		v[i] = (struct daxmap_holding){
			.pid = hs[i].pid, .start_time = hs[i].start_time, .alive = hs[i].alive,
			.kind = hs[i].kind == REF_PIN ? DAXMAP_REF_PIN : DAXMAP_REF_MAP,
			.backend = (enum daxmap_pin_backend)hs[i].backend,
			.revocable = hs[i].revocable, .extent = hs[i].run.first,
			.extents = hs[i].run.count, .id = hs[i].id };
		owner_of(c, hs[i].run.first, v[i].region, &v[i].index, &rel);
	}
out:
	if (rt)
		ref_detach(rt);
	pool_end(pool);
	free(hs);
	if (rc) {
		free(v);
		return rc;
	}
	*holdings = v;
	*count = (size_t)n;
	return 0;
}
