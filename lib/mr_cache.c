/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mr_cache.c -- the RDMA registration cache (doc/pins.md, "RDMA and the
 * registration cache"): daxmap_mr_cache_*.
 *
 * Entries live in a fixed array; a lookup hashes (mapping serial, 2 MiB
 * chunk of the offset) to a bucket holding an entry index, then takes a use
 * on the entry with one compare-and-swap on its state word (generation,
 * LIVE/DEAD/DOWN, use count), which also validates the key it read before
 * (a seqlock read: the generation changes whenever the entry is reused). No
 * lock on that path; a failed lookup takes the cache mutex, scans every
 * entry, and registers on a miss. Entry memory is never freed while the
 * cache lives, so a racing lookup only ever reads a stale key, which the
 * CAS refuses. Each entry is one revocable "rdma" pin (pin.h): a release of
 * its extents revokes just that entry.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>

#include "daxmap.h"
#include "error.h"
#include "map.h"
#include "pin.h"
#include "pin_rdma.h"
#include "pin_rules.h"
#include "region_map.h"
#include "util.h"

/* An entry's state word: generation << 32 | DOWN | DEAD | LIVE | uses. */
#define USES_MASK 0xffffffULL
#define ST_LIVE (1ULL << 24)  /* registered, key valid */
#define ST_DEAD (1ULL << 25)  /* revoked, flushed or evicted: no new use */
#define ST_DOWN (1ULL << 26)  /* dead and unused: one thread deregisters */
#define GEN_SHIFT 32
#define CHUNK DAXMAP_MR_CACHE_CHUNK
#define DEFAULT_ENTRIES 256U /* a process holds REF_ENTRIES (1024) runs in all */
#define MAX_ENTRIES (1U << 20)

struct daxmap_mr_entry {
	uint64_t state;          /* atomic */
	/* the key: read without the lock by lookups (relaxed atomics),
	 * written only while the entry is not LIVE */
	uint64_t serial, start, end;
	uint32_t zap_seen;       /* pin_zapped()'s, atomic */
	uint32_t next_free;      /* under lock: index + 1 */
	struct ibv_mr *mr;       /* set before LIVE, stable while held */
	struct daxmap_pin *pin;  /* likewise; cleared under lock */
	const struct daxmap_map *map; /* under lock, for flush(map) */
	struct daxmap_mr_cache *cache;
} __attribute__((aligned(64))); /* no false sharing of use counts */

struct daxmap_mr_cache {
	struct ibv_pd *pd;
	int access;
	unsigned gen;               /* fork generation at creation */
	daxmap_mr_revoke_fn revoke;
	void *arg;
	uint32_t nslots, mask;
	uint32_t *buckets;          /* atomic: entry index + 1, 0 none */
	struct daxmap_mr_entry *slots;
	/* misses, teardown, the free list, the counters; never on a hit */
	pthread_mutex_t lock;
	uint32_t free_head;         /* index + 1 */
	uint32_t hand;              /* eviction clock */
	uint64_t misses, slow_hits, revoked, evicted;
	/* the owner's, one per entry pin not freed yet (a revoke callback
	 * may still run on it), one per thread tearing down */
	unsigned refs;
};

static void cache_ref(struct daxmap_mr_cache *c)
{
	__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

static void cache_unref(struct daxmap_mr_cache *c)
{
	if (__atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL))
		return;
	pthread_mutex_destroy(&c->lock);
	free(c->buckets);
	free(c->slots);
	free(c);
}

static uint32_t bucket_of(const struct daxmap_mr_cache *c, uint64_t serial, uint64_t chunk)
{
	uint64_t h = serial * 0x9e3779b97f4a7c15ULL ^ chunk * 0xc2b2ae3d27d4eb4fULL;

	return (uint32_t)((h ^ (h >> 31)) >> 16) & c->mask;
}

/*
 * Take a use of e if it is live and covers [off, end) of the mapping with
 * this serial. The key is read between a load of the state and a CAS that
 * expects the same generation: an entry reused meanwhile fails the CAS.
 */
static bool try_use(struct daxmap_mr_entry *e, uint64_t serial, uint64_t off, uint64_t end)
{
	uint64_t s = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE), id;

	if ((s & (ST_LIVE | ST_DEAD)) != ST_LIVE ||
	    __atomic_load_n(&e->serial, __ATOMIC_RELAXED) != serial ||
	    __atomic_load_n(&e->start, __ATOMIC_RELAXED) > off ||
	    __atomic_load_n(&e->end, __ATOMIC_RELAXED) < end)
		return false;
	/* pairs with the release fence before a reuse writes the key */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	id = s & ~USES_MASK;
	do {
		/* the last count is kept for the revoker's own use
		 * (mark_dead(e, true)): it must not carry into ST_LIVE */
		if ((s & USES_MASK) >= USES_MASK - 1)
			return false;
		if (__atomic_compare_exchange_n(&e->state, &s, s + 1, true, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return true;
	} while ((s & ~USES_MASK) == id);
	return false;
}

enum dead { K_NONE, K_DOWN, K_HELD };

/*
 * Mark e dead. K_DOWN: it was unused and the caller must tear it down;
 * K_HELD: held, the last put tears it down (with extra, the caller gets a
 * use of its own, in the same step); K_NONE: not live, or dead already.
 */
static enum dead mark_dead(struct daxmap_mr_entry *e, bool extra)
{
	uint64_t s = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE), n;

	do {
		if (!(s & ST_LIVE) || (s & ST_DEAD))
			return K_NONE;
		n = s | ST_DEAD;
		if (!(s & USES_MASK))
			n |= ST_DOWN;
		else if (extra)
			n++;
	} while (!__atomic_compare_exchange_n(&e->state, &s, n, false, __ATOMIC_ACQ_REL,
					      __ATOMIC_ACQUIRE));
	return (n & ST_DOWN) ? K_DOWN : K_HELD;
}

/* Mark e dead only if live and unused: K_DOWN or K_NONE. */
static enum dead mark_dead_idle(struct daxmap_mr_entry *e)
{
	uint64_t s = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);

	while ((s & (ST_LIVE | ST_DEAD | USES_MASK)) == ST_LIVE)
		if (__atomic_compare_exchange_n(&e->state, &s, s | ST_DEAD | ST_DOWN, false,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return K_DOWN;
	return K_NONE;
}

/* Under lock, e DOWN: deregister, drop the pin, put e on the free list. */
static void teardown_locked(struct daxmap_mr_cache *c, struct daxmap_mr_entry *e)
{
	struct daxmap_pin *pin = e->pin;
	uint64_t s = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);
	uint32_t idx = (uint32_t)(e - c->slots);

	e->pin = NULL;
	e->map = NULL;
	/* the unpin hook deregisters e->mr before the references go; the
	 * pin's memory (and a cache reference) goes once no revoke callback
	 * runs on it */
	if (pin)
		pin_release(pin);
	e->mr = NULL;
	__atomic_store_n(&e->state, ((s >> GEN_SHIFT) + 1) << GEN_SHIFT, __ATOMIC_RELEASE);
	e->next_free = c->free_head;
	c->free_head = idx + 1;
}

/* Drop a use; the last one of a dead entry tears it down. */
static void unuse(struct daxmap_mr_entry *e, bool locked)
{
	struct daxmap_mr_cache *c = e->cache;
	uint64_t s = __atomic_sub_fetch(&e->state, 1, __ATOMIC_RELEASE);

	if (!(s & ST_DEAD) || (s & (USES_MASK | ST_DOWN)) ||
	    !__atomic_compare_exchange_n(&e->state, &s, s | ST_DOWN, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_RELAXED))
		return;
	if (locked) {
		teardown_locked(c, e);
		return;
	}
	cache_ref(c); /* the owner may delete the cache meanwhile */
	pthread_mutex_lock(&c->lock);
	teardown_locked(c, e);
	pthread_mutex_unlock(&c->lock);
	cache_unref(c);
}

/* The entry pins' revoke callback (the pool's revoker thread). */
static void entry_revoked(struct daxmap_pin *pin, void *arg)
{
	struct daxmap_mr_entry *e = arg;
	struct daxmap_mr_cache *c = e->cache; /* alive: pin holds a reference */
	enum dead k = K_NONE;

	pthread_mutex_lock(&c->lock);
	/* else it was torn down already (flush, eviction, delete) */
	if (e->pin == pin) {
		k = mark_dead(e, true);
		if (k != K_NONE)
			c->revoked++;
		if (k == K_DOWN)
			teardown_locked(c, e);
	}
	pthread_mutex_unlock(&c->lock);
	if (k == K_HELD) {
		/* our own use keeps e for the callback; the application puts
		 * its uses, and the last put deregisters */
		if (c->revoke)
			c->revoke(e, c->arg);
		unuse(e, false);
	}
}

static int entry_unpin(struct daxmap_pin *pin, void *data)
{
	struct daxmap_mr_entry *e = data;
	struct ibv_mr *mr = e->mr;

	(void)pin;
	e->mr = NULL;
	if (!mr || e->cache->gen != rdma_fork_gen())
		return 0;
	return rdma_dereg(mr);
}

static void entry_free(void *data)
{
	cache_unref(((struct daxmap_mr_entry *)data)->cache);
}

static const struct pin_backend_ops entry_ops = { entry_unpin, entry_free };

static int refuse_child(void)
{
	return daxmap_err(ECHILD,
			  "rdma: this MR cache was inherited through fork(): its MRs belong to the "
			  "parent's verbs context; a child opens its own device and protection "
			  "domain and makes its own cache");
}

DAXMAP_EXPORT int daxmap_mr_cache_new(struct daxmap_mr_cache **cachep, struct ibv_pd *pd,
				      int access, unsigned max_entries,
				      daxmap_mr_revoke_fn revoke, void *arg)
{
	struct daxmap_mr_cache *c;
	uint32_t nb = 64;

	if (cachep)
		*cachep = NULL;
	if (!cachep || !pd)
		return daxmap_err(EINVAL, "daxmap_mr_cache_new: cachep and pd are required");
	if (max_entries > MAX_ENTRIES)
		return daxmap_err(EINVAL, "daxmap_mr_cache_new: %u entries asked, %u at most",
				  max_entries, MAX_ENTRIES);
	if (!max_entries)
		max_entries = DEFAULT_ENTRIES;
	while (nb < 4 * max_entries)
		nb *= 2;
	if (!(c = calloc(1, sizeof(*c))))
		return daxmap_err(ENOMEM, "out of memory");
	c->buckets = calloc(nb, sizeof(*c->buckets));
	c->slots = aligned_alloc(64, max_entries * sizeof(*c->slots));
	if (!c->buckets || !c->slots) {
		free(c->buckets);
		free(c->slots);
		free(c);
		return daxmap_err(ENOMEM, "out of memory");
	}
	memset(c->slots, 0, max_entries * sizeof(*c->slots));
	c->pd = pd;
	c->access = access;
	c->gen = rdma_fork_track();
	c->revoke = revoke;
	c->arg = arg;
	c->nslots = max_entries;
	c->mask = nb - 1;
	pthread_mutex_init(&c->lock, NULL);
	for (uint32_t i = max_entries; i > 0; i--) {
		c->slots[i - 1].cache = c;
		c->slots[i - 1].next_free = c->free_head;
		c->free_head = i;
	}
	c->refs = 1;
	*cachep = c;
	return 0;
}

/* Under lock: tear down one idle entry (a clock hand); false if none. */
static bool evict_locked(struct daxmap_mr_cache *c)
{
	for (uint32_t k = 0; k < c->nslots; k++) {
		struct daxmap_mr_entry *e = &c->slots[c->hand++ % c->nslots];

		if (mark_dead_idle(e) == K_DOWN) {
			teardown_locked(c, e);
			c->evicted++;
			return true;
		}
	}
	return false;
}

/* Under lock: a free entry, evicting an idle one if need be. */
static int slot_alloc_locked(struct daxmap_mr_cache *c, struct daxmap_mr_entry **ep)
{
	if (!c->free_head)
		evict_locked(c);
	if (!c->free_head)
		return daxmap_err(ENOSPC, "rdma: all %u MR cache entries are held (max_entries)",
				  c->nslots);
	*ep = &c->slots[c->free_head - 1];
	c->free_head = (*ep)->next_free;
	return 0;
}

static void slot_free_locked(struct daxmap_mr_cache *c, struct daxmap_mr_entry *e)
{
	e->next_free = c->free_head;
	c->free_head = (uint32_t)(e - c->slots) + 1;
}

static void index_locked(struct daxmap_mr_cache *c, struct daxmap_mr_entry *e, uint64_t serial,
			 uint64_t from, uint64_t to)
{
	uint32_t v = (uint32_t)(e - c->slots) + 1;
	uint64_t n = 0;

	for (uint64_t k = from / CHUNK; k * CHUNK < to && n <= c->mask; k++, n++)
		__atomic_store_n(&c->buckets[bucket_of(c, serial, k)], v, __ATOMIC_RELEASE);
}

/* Under lock: any live entry covering [off, end) of the mapping with this
 * serial (its bucket may point elsewhere: a collision), with a use taken. */
static struct daxmap_mr_entry *find_locked(struct daxmap_mr_cache *c, uint64_t serial,
					   uint64_t off, uint64_t end)
{
	for (uint32_t i = 0; i < c->nslots; i++) {
		struct daxmap_mr_entry *e = &c->slots[i];

		if (!try_use(e, serial, off, end))
			continue;
		/* being released: its revoke callback is on its way */
		if (pin_zapped(e->pin, &e->zap_seen)) {
			unuse(e, true);
			continue;
		}
		index_locked(c, e, serial, off, end);
		c->slow_hits++;
		return e;
	}
	return NULL;
}

/* Under lock: the free entry e pins and registers bytes [cs, ce) of map,
 * for a get of [off, +len). On failure e goes back to the free list. */
static int register_locked(struct daxmap_mr_cache *c, struct daxmap_mr_entry *e,
			   struct daxmap_map *map, uint64_t cs, uint64_t ce, uint64_t off,
			   uint64_t len)
{
	struct daxmap_pin *pin;
	struct ibv_mr *mr;
	int rc;

	/* one revocable pin per entry: a release revokes just the entries on
	 * its extents; the process's reference list full (-ENOSPC, REF_ENTRIES
	 * runs), an idle entry makes room */
	while ((rc = pin_take(&pin, map, cs, ce - cs, rdma_backend_of(c->access), entry_revoked,
			      e))) {
		if (rc != -ENOSPC || !evict_locked(c)) {
			slot_free_locked(c, e);
			return rc;
		}
	}
	cache_ref(c);
	pin_set_backend(pin, &entry_ops, e);
	e->pin = pin;
	e->mr = NULL;
	errno = 0;
	mr = rdma_reg(c->pd, (char *)daxmap_map_addr(map) + cs, ce - cs, c->access);
	if (!mr) {
		int err = errno ? errno : EIO;

		e->pin = NULL;
		pin_release(pin);
		slot_free_locked(c, e);
		return rdma_refused(err, map, cs, ce - cs, c->access);
	}
	e->mr = mr;
	e->map = map;
	__atomic_store_n(&e->zap_seen, 0, __ATOMIC_RELAXED);
	/* from here a release calls entry_revoked(); one that came during
	 * the registration fails this miss instead */
	if (pin_ready(pin)) {
		e->pin = NULL;
		pin_release(pin); /* deregisters */
		e->mr = NULL;
		slot_free_locked(c, e);
		return daxmap_err(ESTALE, "rdma: the extents under [0x%" PRIx64 ", +0x%" PRIx64
				  ") are being released (a region remove or shrink)", off, len);
	}
	return 0;
}

/* Under lock: make e, registered for [cs, ce), findable with one use. */
static void publish_locked(struct daxmap_mr_cache *c, struct daxmap_mr_entry *e,
			   uint64_t serial, uint64_t cs, uint64_t ce)
{
	/* a lookup that reads this key must fail its CAS on the old state */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&e->serial, serial, __ATOMIC_RELAXED);
	__atomic_store_n(&e->start, cs, __ATOMIC_RELAXED);
	__atomic_store_n(&e->end, ce, __ATOMIC_RELAXED);
	/* published with one use, the caller's */
	__atomic_store_n(&e->state,
			 (__atomic_load_n(&e->state, __ATOMIC_RELAXED) & ~(uint64_t)0xffffffffULL) |
			 ST_LIVE | 1,
			 __ATOMIC_RELEASE);
	index_locked(c, e, serial, cs, ce);
	c->misses++;
}

static int get_slow(struct daxmap_mr_cache *c, struct daxmap_map *map, uint64_t serial,
		    uint64_t off, uint64_t len, struct daxmap_mr_entry **entryp)
{
	/* the chunks around the range, within the mapping */
	uint64_t end = off + len, cs = off & ~(CHUNK - 1);
	uint64_t ce = (end + CHUNK - 1) & ~(CHUNK - 1);
	struct daxmap_mr_entry *e;
	int rc;

	if (ce > daxmap_map_len(map))
		ce = daxmap_map_len(map);
	/* a miss pins: the long-term pin rules first */
	if ((rc = pin_check_args(map, cs, ce - cs, rdma_backend_of(c->access))))
		return rc;
	if ((c->access & IBV_ACCESS_ON_DEMAND) && (rc = rdma_odp_check(c->pd)))
		return rc;
	pthread_mutex_lock(&c->lock);
	if ((e = find_locked(c, serial, off, end))) {
		*entryp = e;
	} else if ((rc = slot_alloc_locked(c, &e)) == 0 &&
		   (rc = register_locked(c, e, map, cs, ce, off, len)) == 0) {
		publish_locked(c, e, serial, cs, ce);
		*entryp = e;
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

DAXMAP_EXPORT int daxmap_mr_cache_get(struct daxmap_mr_cache *c, struct daxmap_map *map,
				      uint64_t offset, uint64_t len,
				      struct daxmap_mr_entry **entryp)
{
	struct daxmap_mr_entry *e;
	uint64_t serial;
	uint32_t b;
	int rc;

	if (!c || !map || !entryp)
		return daxmap_err(EINVAL, "daxmap_mr_cache_get: cache, map and entryp are required");
	*entryp = NULL;
	if (c->gen != rdma_fork_gen())
		return refuse_child();
	if (!(serial = region_map_serial(map)))
		return daxmap_err(EINVAL,
				  "not a region mapping (daxmap_region_map()): pins are counted per pool extent");
	if ((rc = map_check_span(map, offset, len)))
		return rc;
	/* the hit path: no lock */
	b = __atomic_load_n(&c->buckets[bucket_of(c, serial, offset / CHUNK)], __ATOMIC_ACQUIRE);
	if (b) {
		e = &c->slots[b - 1];
		if (try_use(e, serial, offset, offset + len)) {
			if (!pin_zapped(e->pin, &e->zap_seen)) {
				*entryp = e;
				return 0;
			}
			unuse(e, false);
		}
	}
	return get_slow(c, map, serial, offset, len, entryp);
}

DAXMAP_EXPORT struct ibv_mr *daxmap_mr_entry_mr(const struct daxmap_mr_entry *entry)
{
	return entry ? entry->mr : NULL;
}

DAXMAP_EXPORT void daxmap_mr_cache_put(struct daxmap_mr_entry *entry)
{
	/* a fork()ed child's copy of a use is its parent's to put */
	if (entry && entry->cache->gen == rdma_fork_gen())
		unuse(entry, false);
}

DAXMAP_EXPORT int daxmap_mr_cache_flush(struct daxmap_mr_cache *c, const struct daxmap_map *map)
{
	int n = 0;

	if (!c)
		return daxmap_err(EINVAL, "daxmap_mr_cache_flush: cache is required");
	if (c->gen != rdma_fork_gen())
		return refuse_child();
	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < c->nslots; i++) {
		struct daxmap_mr_entry *e = &c->slots[i];
		enum dead k;

		if (!e->pin || (map && e->map != map))
			continue;
		if ((k = mark_dead(e, false)) == K_DOWN)
			teardown_locked(c, e);
		n += k != K_NONE;
	}
	pthread_mutex_unlock(&c->lock);
	return n;
}

DAXMAP_EXPORT int daxmap_mr_cache_delete(struct daxmap_mr_cache **cachep)
{
	struct daxmap_mr_cache *c;
	uint32_t held = 0;

	if (!cachep || !(c = *cachep))
		return 0;
	if (c->gen != rdma_fork_gen()) {
		/* a child's copy: its pins are stale copies of the parent's
		 * (their unpin deregisters nothing); the lock may have been
		 * held by a parent's thread at fork() */
		for (uint32_t i = 0; i < c->nslots; i++)
			if (c->slots[i].pin) {
				pin_release(c->slots[i].pin);
				c->slots[i].pin = NULL;
			}
		*cachep = NULL;
		cache_unref(c);
		return 0;
	}
	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < c->nslots; i++)
		held += (__atomic_load_n(&c->slots[i].state, __ATOMIC_ACQUIRE) & USES_MASK) != 0;
	if (held) {
		pthread_mutex_unlock(&c->lock);
		return daxmap_err(EBUSY, "rdma: %u MR cache entr%s still held: daxmap_mr_cache_put() them first",
				  held, held == 1 ? "y is" : "ies are");
	}
	/* an entry a put marked DOWN is torn down by that put (it holds a
	 * cache reference) */
	for (uint32_t i = 0; i < c->nslots; i++)
		if (mark_dead_idle(&c->slots[i]) == K_DOWN)
			teardown_locked(c, &c->slots[i]);
	pthread_mutex_unlock(&c->lock);
	*cachep = NULL;
	cache_unref(c);
	return 0;
}

DAXMAP_EXPORT int daxmap_mr_cache_stat(struct daxmap_mr_cache *c, struct daxmap_mr_cache_stat *st)
{
	if (!c || !st)
		return daxmap_err(EINVAL, "daxmap_mr_cache_stat: cache and st are required");
	if (c->gen != rdma_fork_gen())
		return refuse_child();
	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&c->lock);
	for (uint32_t i = 0; i < c->nslots; i++) {
		uint64_t s = __atomic_load_n(&c->slots[i].state, __ATOMIC_ACQUIRE);

		if (!(s & ST_LIVE))
			continue;
		st->entries++;
		st->held += (s & USES_MASK) != 0;
	}
	st->misses = c->misses;
	st->slow_hits = c->slow_hits;
	st->revoked = c->revoked;
	st->evicted = c->evicted;
	pthread_mutex_unlock(&c->lock);
	return 0;
}
