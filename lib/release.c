/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * release.c -- removing or shrinking a region is zap, wait, reclaim, as
 * fs/dax truncates a file: it breaks the layouts (unmaps), waits for the
 * page references to go, and only then frees the blocks.
 *
 *   1. mark the extents ZAP in the runtime state (no new reference), then
 *      in the persistent metadata (one drain);
 *   2. replace this process's own mappings of them with PROT_NONE
 *      (region_map_zap()), so a stale access faults;
 *   3. the ZAP mark wakes the revokers of revocable pins (pin.c);
 *   4. if anything still holds them, wait, up to the caller's timeout,
 *      for every reference to go;
 *   5. free the extents (one drain), then clear the runtime mark.
 * On timeout the extents stay ZAP; daxmap_pool_reclaim() from any process
 * (and pool open) finishes them once idle.
 *
 * The zap and the free hold the pool lock exclusive, in one section when
 * nothing holds the extents; the wait in between holds none, so other pool
 * operations go on.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "foreign_holders.h"
#include "pool_handle.h"
#include "ref.h"
#include "region_map.h"
#include "release.h"
#include "runtime.h"
#include "util.h"

int release_finish(struct daxmap_pool *pool, struct ref_runtime *rt, uint64_t slot,
		   uint64_t gen, uint64_t *freed)
{
	struct pool_core *c = pool_core(pool);
	struct region_desc d;
	struct ext_run *runs;
	size_t n;
	int rc;

	if (pool_region_at(c, slot, gen, &d) != 0 || !region_releasing(&d))
		return 0;
	if ((rc = pool_region_runs(c, slot, d.keep, d.n, &runs, &n)))
		return rc;
	/*
	 * Marked again: after a crash or reboot only the pool remembers, and
	 * the mark keeps new references out between the idle check and the
	 * free. The DAX_ZAP check itself is the pool's (pool_region_finish()
	 * refuses a record with nothing marked ZAP): the runtime marks are
	 * derived from the pool here, so they cannot check it a second time.
	 */
	if ((rc = ref_zap(rt, runs, n, true)) == 0 &&
	    (rc = ref_wait_idle(rt, runs, n, 0)) == 0 &&
	    (rc = foreign_busy(pool, rt, &d, d.keep, d.n)) == 0) {
		if ((rc = pool_region_finish(c, slot, gen)) == 0) {
			ref_zap(rt, runs, n, false);
			if (freed)
				*freed += d.n - d.keep;
		} else if (rc == -ESTALE) {
			rc = 0;
		}
	}
	free(runs);
	return rc;
}

/*
 * Removals this process started that timed out (-EBUSY): a retry of the
 * same name, once another process's open or reclaim has finished that
 * removal, returns 0 like a retry that finishes it itself. A few are kept,
 * the oldest forgotten first (a forgotten one's retry says -ENOENT).
 */
#define STARTED_MAX 32

static struct started {
	uint8_t uuid[16];
	char name[64];
	uint64_t slot, gen;
} started[STARTED_MAX];
static unsigned nstarted;
static pthread_mutex_t started_lock = PTHREAD_MUTEX_INITIALIZER;

static void remember(struct daxmap_pool *pool, const char *name, uint64_t slot, uint64_t gen)
{
	struct started *e;

	pthread_mutex_lock(&started_lock);
	e = &started[nstarted++ % STARTED_MAX];
	memcpy(e->uuid, pool_uuid(pool), sizeof(e->uuid));
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->slot = slot;
	e->gen = gen;
	pthread_mutex_unlock(&started_lock);
}

/* Under the pool lock, name not found: was it a removal this process
 * started, finished since? Forgets it either way. */
static bool finished_since(struct daxmap_pool *pool, const char *name)
{
	struct region_desc d;
	bool done = false;

	pthread_mutex_lock(&started_lock);
	for (unsigned i = 0; i < STARTED_MAX && !done; i++) {
		struct started *e = &started[i];

		if (e->name[0] && strcmp(e->name, name) == 0 &&
		    memcmp(e->uuid, pool_uuid(pool), sizeof(e->uuid)) == 0) {
			done = pool_region_at(pool_core(pool), e->slot, e->gen, &d) != 0;
			e->name[0] = '\0';
		}
	}
	pthread_mutex_unlock(&started_lock);
	return done;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* One release in progress. */
struct release {
	struct ref_runtime *rt;
	uint64_t keep;         /* 0: a removal */
	uint64_t slot, gen;
	uint64_t count;        /* extents being released */
	struct ext_run *runs;  /* ... as runs */
	size_t nruns;
};

/*
 * Step 1, under the exclusive pool lock: mark the extents past keep ZAP,
 * runtime first (a crash before the persistent mark leaves refusals of new
 * references, never a free); or find the removal of name still waiting,
 * to wait for it again. 1: nothing past keep to release.
 */
static int release_start(struct daxmap_pool *pool, const char *name, uint64_t keep,
			 struct release *r)
{
	struct pool_core *c = pool_core(pool);
	struct region_desc d;
	int rc;

	/* refused before anything is marked */
	if (pool_rdonly(pool))
		return daxmap_err(EROFS, "the pool was opened read-only");
	if ((rc = runtime_attach(pool, &r->rt)))
		return rc;
	if ((rc = pool_region_find(c, name, FIND_LIVE | (keep ? 0 : FIND_ZAP), &d)))
		return rc == -ENOENT && keep == 0 && finished_since(pool, name) ? 1 : rc;
	if (d.zap) {
		r->slot = d.slot;
		r->gen = d.gen;
		r->count = d.n;
		return pool_region_runs(c, d.slot, 0, d.n, &r->runs, &r->nruns);
	}
	/* an earlier release of this region: finish it if it can be */
	if (region_releasing(&d) &&
	    (rc = release_finish(pool, r->rt, d.slot, d.gen, NULL)) != 0 &&
	    !(rc == -EBUSY && keep == 0))
		return rc;
	if ((rc = pool_region_at(c, d.slot, d.gen, &d)) || keep >= d.n)
		return 1;
	if ((rc = pool_region_runs(c, d.slot, keep, d.n, &r->runs, &r->nruns)) ||
	    (rc = ref_zap(r->rt, r->runs, r->nruns, true)))
		return rc;
	if ((rc = pool_region_zap(c, name, keep, &r->slot, &r->gen))) {
		ref_zap(r->rt, r->runs, r->nruns, false);
		return rc;
	}
	r->count = d.n - keep;
	return 0;
}

/* 4. wait up to timeout_ms for the ledgers (revokers were woken by the
 * mark), 5. free, when nothing outside them holds the extents either. */
static int release_try(struct daxmap_pool *pool, struct release *r, int timeout_ms)
{
	int rc = ref_wait_idle(r->rt, r->runs, r->nruns, timeout_ms);

	if (rc)
		return rc;
	if ((rc = pool_begin(pool, true)))
		return rc;
	rc = release_finish(pool, r->rt, r->slot, r->gen, NULL);
	pool_end(pool);
	return rc;
}

/*
 * Steps 4 and 5 when the extents were not idle at once: the wait without
 * the pool lock, then the free. Holders outside the ledgers (foreign
 * mappings, RDMA registrations) wake no one: the free is tried again
 * every 50 ms until they are gone or the time is up.
 */
static int release_wait(struct daxmap_pool *pool, const char *name, struct release *r,
			int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
	int rc;

	for (;;) {
		int64_t left = deadline - now_ms();

		rc = release_try(pool, r, timeout_ms < 0 ? -1 : left < 0 ? 0 : (int)left);
		if (rc != -EBUSY || (left = deadline - now_ms()) <= 0)
			break;
		sleep_ms(left < 50 ? left : 50);
	}
	if (rc == -EBUSY && r->keep == 0)
		remember(pool, name, r->slot, r->gen);
	if (rc == -EBUSY)
		return daxmap_err_prefix(EBUSY,
					 "region '%s': %" PRIu64 " extent(s) stay in ZAP until these are dropped; daxmap_pool_reclaim() (daxmapctl reclaim) frees them then",
					 name, r->count);
	return rc;
}

int release_region(struct daxmap_pool *pool, const char *name, uint64_t keep,
		   int timeout_ms)
{
	struct release r;
	int rc;

	memset(&r, 0, sizeof(r));
	r.keep = keep;
	if ((rc = pool_begin(pool, true)))
		return rc;
	rc = release_start(pool, name, keep, &r);
	if (rc == 0) {
		/* 2. own mappings; then, when nothing else holds the extents
		 * (the usual case), the free in this same section */
		region_map_zap(r.rt, r.runs, r.nruns);
		if ((rc = release_finish(pool, r.rt, r.slot, r.gen, NULL)) == -EBUSY)
			rc = 2;
	}
	pool_end(pool);
	if (rc == 2)
		rc = release_wait(pool, name, &r, timeout_ms);
	else if (rc == 1)
		rc = 0;
	if (r.rt)
		ref_detach(r.rt);
	free(r.runs);
	return rc;
}

/*
 * The runtime ZAP marks agree with the pool: marked exactly when being
 * released. A releaser that died leaves marks either way.
 */
static int sync_marks(struct daxmap_pool *pool, struct ref_runtime *rt)
{
	struct ext_run *on, *off;
	uint64_t x = 0;
	size_t n, k = 0;
	int rc;

	if ((rc = pool_releasing_runs(pool_core(pool), &on, &n)))
		return rc;
	if (!(off = malloc((n + 1) * sizeof(*off)))) {
		free(on);
		return daxmap_err(ENOMEM, "out of memory");
	}
	/* the gaps between the releasing runs, up to the pool's end */
	for (size_t i = 0; i <= n; i++) {
		uint64_t end = i < n ? on[i].first : pool_nextents(pool);

		if (end > x)
			off[k++] = (struct ext_run){ x, end - x };
		if (i < n)
			x = on[i].first + on[i].count;
	}
	rc = ref_zap(rt, off, k, false);
	if (rc == 0 && n)
		rc = ref_zap(rt, on, n, true);
	free(on);
	free(off);
	return rc;
}

int release_reclaim(struct daxmap_pool *pool, struct daxmap_reclaim_stat *st)
{
	const struct pool_core *c = pool_core(pool);
	struct daxmap_reclaim_stat z;
	struct ref_runtime *rt;
	struct region_desc d;
	int rc, dead;

	memset(&z, 0, sizeof(z));
	if ((rc = runtime_attach(pool, &rt)))
		return rc;
	if ((dead = ref_reclaim_dead(rt)) < 0) {
		ref_detach(rt);
		return dead;
	}
	z.holders_dropped = (uint32_t)dead;
	rc = sync_marks(pool, rt);
	for (long s = -1; rc == 0 && (s = pool_region_next(c, s, &d)) >= 0;) {
		uint64_t freed = 0;

		if (!region_releasing(&d))
			continue;
		rc = release_finish(pool, rt, d.slot, d.gen, &freed);
		if (rc == -EBUSY) {
			z.extents_waiting += d.n - d.keep;
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
