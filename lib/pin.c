/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pin.c -- pins: a pin is a separate kind of reference (REF_PIN), counted
 * exactly per extent, whose holder may be given a revoke callback. Every
 * backend takes its references through pin_take().
 *
 * Revocation crosses processes: the releaser marks the extents ZAP in the
 * shared runtime state, which bumps a futex word there; every process
 * holding revocable pins on the pool runs one revoker thread waiting on
 * that word, and calls the callbacks of its pins the mark covers. The
 * thread exists only while the process holds revocable pins on the pool.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "daxmap.h"
#include "error.h"
#include "map.h"
#include "pin.h"
#include "pin_rules.h"
#include "ref.h"
#include "region_map.h"
#include "util.h"

#define REVOKER_POLL_MS 250 /* a missed wake-up costs at most this */

struct daxmap_pin {
	struct daxmap_pin *next;  /* the revocable pins of this process */
	struct ref_runtime *rt;
	uint64_t id;
	enum daxmap_pin_backend backend;
	struct ext_run *runs;
	size_t nruns;
	daxmap_revoke_fn revoke;
	void *arg;
	bool revoked;   /* the callback was called (once) */
	bool in_cb;     /* ... is due or running: freeing waits for it */
	pthread_t cb_thread; /* the revoker thread that runs it */
	bool ready;     /* the backend's kernel pin is in place (pin_ready()) */
	bool early;     /* revoked before it was: pin_ready() says -ESTALE */
	bool releasing; /* pin_release() began: no callback from now on */
	bool released;  /* pin_release() is done with it: whoever ends last
			 * (it or the callback) frees it */
	void *backend_data;
	const struct pin_backend_ops *ops; /* the backend's undo (pin_set_backend) */
};

/* One per pool runtime state this process holds revocable pins on. */
struct revoker {
	struct revoker *next;
	struct ref_runtime *rt;  /* a share, dropped when the thread ends */
	unsigned npins;
};

static pthread_mutex_t pins_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cb_done = PTHREAD_COND_INITIALIZER; /* an in_cb cleared */
static struct daxmap_pin *revocable;
static struct revoker *revokers;
static pthread_once_t pins_once = PTHREAD_ONCE_INIT;

/* A fork()ed child has no revoker thread; its parent's pins are not its
 * own (the runtime attachment is stale there). */
static void pins_atfork_child(void)
{
	pthread_mutex_init(&pins_lock, NULL);
	pthread_cond_init(&cb_done, NULL);
	revocable = NULL;
	revokers = NULL;
}

static void pins_init(void)
{
	pthread_atfork(NULL, NULL, pins_atfork_child);
}

static void free_pin(struct daxmap_pin *p)
{
	if (p->ops && p->ops->free)
		p->ops->free(p->backend_data);
	ref_detach(p->rt);
	free(p->runs);
	free(p);
}

static struct revoker *revoker_of(struct ref_runtime *rt)
{
	struct revoker *rk;

	for (rk = revokers; rk && rk->rt != rt; rk = rk->next)
		;
	return rk;
}

#define REVOKE_BATCH 16

/*
 * Under pins_lock: the pins of rk's pool a ZAP mark now covers, each marked
 * revoked and, if its backend's kernel pin is in place, due for its
 * callback (at most REVOKE_BATCH; the next round takes the rest).
 */
static size_t due_locked(struct revoker *rk, struct daxmap_pin **todo)
{
	size_t k = 0;

	for (struct daxmap_pin *p = revocable; p && k < REVOKE_BATCH; p = p->next) {
		if (p->rt != rk->rt || p->revoked || !ref_zapped(p->rt, p->runs, p->nruns, false))
			continue;
		p->revoked = true;
		/* a backend still pinning: its caller has no pin yet to give
		 * up; pin_ready() fails the call instead */
		if (!p->ready) {
			p->early = true;
			continue;
		}
		p->in_cb = true;
		p->cb_thread = pthread_self();
		todo[k++] = p;
	}
	return k;
}

/* Call p's revoke callback, unless its owner unpinned it meanwhile; free
 * p if its release ended while the callback ran. */
static void call_back(struct daxmap_pin *p)
{
	bool gone, call;

	/* unpinned while an earlier callback ran: its owner gave it up
	 * already, and may have freed arg */
	pthread_mutex_lock(&pins_lock);
	call = !p->releasing;
	pthread_mutex_unlock(&pins_lock);
	/* without the lock: the callback may call daxmap_unpin() */
	if (call)
		p->revoke(p, p->arg);
	pthread_mutex_lock(&pins_lock);
	p->in_cb = false;
	pthread_cond_broadcast(&cb_done);
	gone = p->released;
	pthread_mutex_unlock(&pins_lock);
	if (gone)
		free_pin(p);
}

static void *revoker_main(void *arg)
{
	struct revoker *rk = arg;

	for (;;) {
		/* read before the scan: a mark set during it ends the wait */
		uint32_t seq = ref_zap_seq(rk->rt);
		struct daxmap_pin *todo[REVOKE_BATCH];
		struct revoker **pp;
		size_t k;

		pthread_mutex_lock(&pins_lock);
		if (rk->npins > 0) {
			k = due_locked(rk, todo);
			pthread_mutex_unlock(&pins_lock);
			for (size_t i = 0; i < k; i++)
				call_back(todo[i]);
			if (k == 0)
				ref_zap_wait(rk->rt, seq, REVOKER_POLL_MS);
			continue;
		}
		/* no revocable pin left on the pool: the thread ends */
		for (pp = &revokers; *pp != rk; pp = &(*pp)->next)
			;
		*pp = rk->next;
		pthread_mutex_unlock(&pins_lock);
		ref_detach(rk->rt);
		free(rk);
		return NULL;
	}
}

/* Under pins_lock: count a revocable pin, starting the thread if needed. */
static int add_revocable(struct daxmap_pin *p)
{
	struct revoker *rk = revoker_of(p->rt);
	pthread_attr_t a;
	pthread_t t;
	int rc;

	if (!rk) {
		if (!(rk = calloc(1, sizeof(*rk))))
			return daxmap_err(ENOMEM, "out of memory");
		rk->rt = ref_share(p->rt);
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&t, &a, revoker_main, rk);
		pthread_attr_destroy(&a);
		if (rc) {
			ref_detach(rk->rt);
			free(rk);
			return daxmap_err(rc, "cannot start the revoker thread: %s", strerror(rc));
		}
		rk->next = revokers;
		revokers = rk;
	}
	rk->npins++;
	p->next = revocable;
	revocable = p;
	return 0;
}

int pin_take(struct daxmap_pin **pinp, struct daxmap_map *map, uint64_t off,
	     uint64_t len, enum daxmap_pin_backend backend,
	     daxmap_revoke_fn revoke, void *arg)
{
	struct daxmap_pin *p;
	int rc;

	pthread_once(&pins_once, pins_init);
	if (!(p = calloc(1, sizeof(*p))))
		return daxmap_err(ENOMEM, "out of memory");
	if ((rc = region_map_runs(map, off, len, &p->rt, &p->runs, &p->nruns))) {
		free(p);
		return rc;
	}
	p->backend = backend;
	p->revoke = revoke;
	p->arg = arg;
	/* an external pin is in place already; a backend's after pin_ready() */
	p->ready = backend == DAXMAP_PIN_EXTERNAL;
	/* a REF_PIN on each extent: the exact pin count */
	if ((rc = ref_get(p->rt, REF_PIN, backend, revoke ? REF_REVOCABLE : 0, p->runs,
			  p->nruns, &p->id))) {
		free_pin(p);
		return rc;
	}
	/* the caller's pointer first: a revoke callback may run (and unpin
	 * through it) as soon as the revoker can see the pin */
	*pinp = p;
	if (revoke) {
		struct ref_runtime *rt = NULL;

		pthread_mutex_lock(&pins_lock);
		rc = add_revocable(p);
		/* marked between ref_get() and now: the revoker's scan may
		 * have missed it (p is only safe to touch under the lock) */
		if (rc == 0 && ref_zapped(p->rt, p->runs, p->nruns, false))
			rt = ref_share(p->rt);
		pthread_mutex_unlock(&pins_lock);
		if (rc) {
			*pinp = NULL;
			ref_put(p->rt, p->id);
			free_pin(p);
			return rc;
		}
		if (rt) {
			ref_zap_kick(rt);
			ref_detach(rt);
		}
	}
	return 0;
}

/*
 * wait: a revoke callback of p due or running on another thread is waited
 * for, so that once daxmap_unpin() returns no callback runs on p or its
 * arg. A call from the callback itself does not wait.
 */
static int pin_drop(struct daxmap_pin *p, bool wait)
{
	bool later = false;
	int rc, urc = 0;

	if (p->revoke) {
		struct daxmap_pin **pp;
		struct revoker *rk;

		pthread_mutex_lock(&pins_lock);
		/* a second call (the callback unpinning while its owner does
		 * the same) has nothing left to do */
		if (p->releasing) {
			pthread_mutex_unlock(&pins_lock);
			return 0;
		}
		p->releasing = true;
		for (pp = &revocable; *pp && *pp != p; pp = &(*pp)->next)
			;
		if (*pp)
			*pp = p->next;
		if ((rk = revoker_of(p->rt)) && --rk->npins == 0)
			ref_zap_kick(p->rt); /* the thread ends */
		while (wait && p->in_cb && !pthread_equal(p->cb_thread, pthread_self()))
			pthread_cond_wait(&cb_done, &pins_lock);
		pthread_mutex_unlock(&pins_lock);
	}
	/* the device lets go first (its kernel pin), then the extents may be
	 * freed: the references go even if the undo failed (its error is
	 * returned), since a pin cannot be dropped twice */
	if (p->ops && p->ops->unpin)
		urc = p->ops->unpin(p, p->backend_data);
	rc = ref_put(p->rt, p->id);
	if (p->revoke) {
		/* after the last use of p here: the revoker may free it now */
		pthread_mutex_lock(&pins_lock);
		p->released = true;
		later = p->in_cb;
		pthread_mutex_unlock(&pins_lock);
	}
	if (!later)
		free_pin(p);
	return urc ? urc : rc;
}

int pin_release(struct daxmap_pin *p)
{
	return pin_drop(p, false);
}

int pin_ready(struct daxmap_pin *pin)
{
	bool early;

	pthread_mutex_lock(&pins_lock);
	early = pin->early;
	pin->ready = !early;
	pthread_mutex_unlock(&pins_lock);
	return early ? daxmap_err(ESTALE,
				  "the extents began to be released (a region remove or shrink) while being pinned")
		     : 0;
}

void *pin_backend_data(const struct daxmap_pin *pin)
{
	return pin->backend_data;
}

void pin_set_backend(struct daxmap_pin *pin, const struct pin_backend_ops *ops, void *data)
{
	pin->ops = ops;
	pin->backend_data = data;
}

bool pin_zapped(struct daxmap_pin *pin, uint32_t *seen)
{
	/* ref_zap() stores the marks, then bumps the sequence: a sequence
	 * read before a clean scan can only make the next call scan again */
	uint32_t seq = ref_zap_seq(pin->rt);

	if (seq == __atomic_load_n(seen, __ATOMIC_RELAXED))
		return false;
	if (ref_zapped(pin->rt, pin->runs, pin->nruns, false))
		return true;
	__atomic_store_n(seen, seq, __ATOMIC_RELAXED);
	return false;
}

DAXMAP_EXPORT int daxmap_pin_external(struct daxmap_pin **pinp, struct daxmap_map *map,
				      uint64_t offset, uint64_t len,
				      daxmap_revoke_fn revoke, void *arg)
{
	int rc = pin_begin(pinp, pinp && map, "daxmap_pin_external", "pinp and map", map, offset,
			   len, DAXMAP_PIN_EXTERNAL);

	if (rc)
		return rc;
	return pin_take(pinp, map, offset, len, DAXMAP_PIN_EXTERNAL, revoke, arg);
}

DAXMAP_EXPORT int daxmap_unpin(struct daxmap_pin **pinp)
{
	int rc;

	if (!pinp || !*pinp)
		return 0;
	rc = pin_drop(*pinp, true);
	*pinp = NULL;
	return rc;
}

DAXMAP_EXPORT enum daxmap_pin_backend daxmap_pin_backend(const struct daxmap_pin *pin)
{
	return pin->backend;
}

int pin_refused(int err, const char *backend, const char *what, const char *why)
{
	const char *name = strerrorname_np(err);

	return daxmap_err(err, "%s: the kernel refused %s: %s (%s); likely reason: %s", backend,
			  what, name ? name : "?", strerror(err), why);
}
