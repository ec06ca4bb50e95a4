/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pin.c -- pins (SPEC §4): a pin is a separate kind of reference, weighing
 * DAXMAP_PIN_BIAS per extent like a GUP pin (seeds/003), and a pin holder
 * may be given a revoke callback.
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
#include "ref.h"
#include "ref_region.h"
#include "util.h"

#define REVOKER_POLL_MS 250 /* a missed wake-up costs at most this */

struct daxmap_pin {
	struct daxmap_pin *next;  /* the revocable pins of this process */
	struct ref_rt *rt;
	uint64_t id;
	enum daxmap_pin_backend backend;
	struct ref_run *runs;
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
	struct ref_rt *rt;  /* a share, dropped when the thread ends */
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

static struct revoker *revoker_of(struct ref_rt *rt)
{
	struct revoker *rv;

	for (rv = revokers; rv && rv->rt != rt; rv = rv->next)
		;
	return rv;
}

static void *revoker_main(void *arg)
{
	struct revoker *rv = arg;

	for (;;) {
		/* read before the scan: a mark set during it ends the wait */
		uint32_t seq = ref_zap_seq(rv->rt);
		struct daxmap_pin *todo[16];
		size_t k = 0;

		pthread_mutex_lock(&pins_lock);
		if (rv->npins == 0) {
			struct revoker **pp;

			for (pp = &revokers; *pp != rv; pp = &(*pp)->next)
				;
			*pp = rv->next;
			pthread_mutex_unlock(&pins_lock);
			ref_detach(rv->rt);
			free(rv);
			return NULL;
		}
		for (struct daxmap_pin *p = revocable; p && k < 16; p = p->next) {
			if (p->rt != rv->rt || p->revoked ||
			    !ref_zapped(p->rt, p->runs, p->nruns, false))
				continue;
			p->revoked = true;
			/* a backend still pinning: its caller has no pin yet
			 * to give up; pin_ready() fails the call instead */
			if (!p->ready) {
				p->early = true;
				continue;
			}
			p->in_cb = true;
			p->cb_thread = pthread_self();
			todo[k++] = p;
		}
		pthread_mutex_unlock(&pins_lock);
		for (size_t i = 0; i < k; i++) {
			struct daxmap_pin *p = todo[i];
			bool gone, call;

			/* unpinned while an earlier callback ran: its owner
			 * gave it up already, and may have freed arg */
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
		if (k == 0)
			ref_zap_wait(rv->rt, seq, REVOKER_POLL_MS);
	}
}

/* Under pins_lock: count a revocable pin, starting the thread if needed. */
static int add_revocable(struct daxmap_pin *p)
{
	struct revoker *rv = revoker_of(p->rt);
	pthread_attr_t a;
	pthread_t t;
	int rc;

	if (!rv) {
		if (!(rv = calloc(1, sizeof(*rv))))
			return daxmap_err(ENOMEM, "out of memory");
		rv->rt = ref_share(p->rt);
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&t, &a, revoker_main, rv);
		pthread_attr_destroy(&a);
		if (rc) {
			ref_detach(rv->rt);
			free(rv);
			return daxmap_err(rc, "cannot start the revoker thread: %s", strerror(rc));
		}
		rv->next = revokers;
		revokers = rv;
	}
	rv->npins++;
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
	/* the kernel's long-term pin rules, before the kernel is asked */
	if (backend != DAXMAP_PIN_EXTERNAL && map &&
	    (rc = daxmap_pin_check(map->dev, backend)))
		return rc;
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
	/* DAXMAP_PIN_BIAS per extent, and the exact pin count */
	if ((rc = ref_get(p->rt, REF_PIN, backend, revoke ? REF_REVOCABLE : 0, p->runs,
			  p->nruns, &p->id))) {
		free_pin(p);
		return rc;
	}
	/* the caller's pointer first: a revoke callback may run (and unpin
	 * through it) as soon as the revoker can see the pin */
	*pinp = p;
	if (revoke) {
		struct ref_rt *rt = NULL;

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
static int release(struct daxmap_pin *p, bool wait)
{
	bool later = false;
	int rc, urc = 0;

	if (p->revoke) {
		struct daxmap_pin **pp;
		struct revoker *rv;

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
		if ((rv = revoker_of(p->rt)) && --rv->npins == 0)
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
	return release(p, false);
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

void **pin_backend_data(struct daxmap_pin *pin)
{
	return &pin->backend_data;
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
	if (pinp)
		*pinp = NULL;
	if (!pinp || !map)
		return daxmap_err(EINVAL, "daxmap_pin_external: pinp and map are required");
	return pin_take(pinp, map, offset, len, DAXMAP_PIN_EXTERNAL, revoke, arg);
}

DAXMAP_EXPORT int daxmap_unpin(struct daxmap_pin **pinp)
{
	int rc;

	if (!pinp || !*pinp)
		return 0;
	rc = release(*pinp, true);
	*pinp = NULL;
	return rc;
}

DAXMAP_EXPORT enum daxmap_pin_backend daxmap_pin_backend(const struct daxmap_pin *pin)
{
	return pin->backend;
}

DAXMAP_EXPORT const char *daxmap_pin_backend_name(enum daxmap_pin_backend backend)
{
	return ref_backend_name((unsigned)backend);
}
