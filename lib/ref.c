/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ref.c -- references, ZAP marks and the wait for idle, on the runtime
 * state file (ref_layout.h, doc/refcount-design.md).
 *
 * No lock on the way of a get or a put. Each holder (a process) writes
 * only its own ledger; a thread claims an entry with one compare-and-swap
 * and finds it again at its next get, so gets and puts on different
 * extents share no written cache line. A count is a sum over the live
 * holders' ledgers, made by whoever asks (a releaser, a listing).
 *
 * A get and a release meet as in Dekker's algorithm, every access below
 * sequentially consistent: the getter claims its entry, then reads the
 * ZAP count; the releaser raises the ZAP count, then reads the entries.
 * One of them sees the other: the getter refuses and retracts, or the
 * releaser counts the reference (an entry still being filled counts as
 * covering everything).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "daxmap.h"
#include "error.h"
#include "ref.h"
#include "ref_layout.h"
#include "util.h"

#define SC __ATOMIC_SEQ_CST

/*
 * Where this thread looks first for a free entry: where its last one was,
 * so a get after a put finds the same line; threads start apart.
 */
static __thread uint32_t tl_hint __attribute__((tls_model("initial-exec"))) = UINT32_MAX;

static uint32_t hint(void)
{
	static uint32_t threads;

	if (tl_hint == UINT32_MAX)
		tl_hint = (__atomic_fetch_add(&threads, 1, __ATOMIC_RELAXED) * 61U) % REF_ENTRIES;
	return tl_hint;
}

static struct rt_holder *own(const struct ref_runtime *rt)
{
	return &rt->holders[rt->slot];
}

/* Raise the ledger's high-water mark over idx (before the entry counts:
 * a releaser reads entries below it only). */
static void raise_hwm(struct rt_holder *h, uint32_t idx)
{
	uint32_t w = __atomic_load_n(&h->hwm, __ATOMIC_RELAXED);

	while (w <= idx && !__atomic_compare_exchange_n(&h->hwm, &w, idx + 1, false, SC,
							__ATOMIC_RELAXED))
		;
}

/* Claim a free entry of this process's ledger: BUSY, a new gen. Its
 * index, or -1 when all are taken. */
static long claim_slow(struct rt_holder *h, uint64_t *st)
{
	uint32_t start = hint();

	for (uint32_t k = 0; k < REF_ENTRIES; k++) {
		uint32_t i = (start + k) % REF_ENTRIES;
		uint64_t s = __atomic_load_n(&h->e[i].state, __ATOMIC_RELAXED);

		if (es_status(s) != ES_FREE)
			continue;
		raise_hwm(h, i);
		*st = es_make(es_gen(s) + 1, 0, ES_BUSY);
		if (__atomic_compare_exchange_n(&h->e[i].state, &s, *st, false, SC,
						__ATOMIC_RELAXED)) {
			tl_hint = i;
			return i;
		}
	}
	return -1;
}

/* The usual case first: the thread's last entry, free again. *st: the
 * state word the claim wrote. */
static inline long claim(struct rt_holder *h, uint64_t *st)
{
	uint32_t i = tl_hint;
	uint64_t s;

	if (i >= __atomic_load_n(&h->hwm, __ATOMIC_RELAXED))
		return claim_slow(h, st);
	s = __atomic_load_n(&h->e[i].state, __ATOMIC_RELAXED);
	*st = es_make(es_gen(s) + 1, 0, ES_BUSY);
	if (es_status(s) == ES_FREE &&
	    __atomic_compare_exchange_n(&h->e[i].state, &s, *st, false, SC, __ATOMIC_RELAXED))
		return i;
	return claim_slow(h, st);
}

/* Give an entry back (the gen stays: the next claim moves it on). */
static void unclaim(struct rt_entry *e)
{
	uint64_t s = __atomic_load_n(&e->state, __ATOMIC_RELAXED);

	__atomic_store_n(&e->state, es_make(es_gen(s), es_ver(s), ES_FREE), SC);
}

/* ---- the ZAP bitmap ---- */

/* Bits of word w within extents [first, end). */
static uint64_t word_mask(uint64_t w, uint64_t first, uint64_t end)
{
	uint64_t lo = w * 64 < first ? first - w * 64 : 0;
	uint64_t hi = (w + 1) * 64 > end ? end - w * 64 : 64;
	uint64_t m = hi >= 64 ? ~0ULL : (1ULL << hi) - 1;

	return m & ~((1ULL << lo) - 1);
}

/* Set (on) or clear the marks of a run; how many changed. */
static uint64_t mark_run(struct ref_runtime *rt, struct ext_run r, bool on)
{
	uint64_t end = r.first + r.count, changed = 0;

	if (end > rt->nextents)
		end = rt->nextents;
	for (uint64_t w = r.first / 64; r.first < end && w <= (end - 1) / 64; w++) {
		uint64_t m = word_mask(w, r.first, end), old;

		if (on) {
			old = __atomic_fetch_or(&rt->zap[w], m, SC);
			changed += (uint64_t)__builtin_popcountll(m & ~old);
		} else {
			old = __atomic_fetch_and(&rt->zap[w], ~m, SC);
			changed += (uint64_t)__builtin_popcountll(m & old);
		}
	}
	return changed;
}

/* The first marked extent of the runs, or UINT64_MAX. */
static uint64_t first_marked(const struct ref_runtime *rt, const struct ext_run *runs,
			     size_t nruns)
{
	for (size_t i = 0; i < nruns; i++) {
		uint64_t end = runs[i].first + runs[i].count;

		for (uint64_t w = runs[i].first / 64; w <= (end - 1) / 64; w++) {
			uint64_t hit = __atomic_load_n(&rt->zap[w], SC) &
				       word_mask(w, runs[i].first, end);

			if (hit)
				return w * 64 + (uint64_t)__builtin_ctzll(hit);
		}
	}
	return UINT64_MAX;
}

/* ---- get and put ---- */

static inline void wake_waiters(struct ref_runtime *rt)
{
	/* Dekker with ref_wait_idle(): the drop came first, then this read;
	 * a waiter registers, then reads the entries. The syscall only when
	 * someone waits; not FUTEX_PRIVATE: waiters are in other processes */
	if (__atomic_load_n(&rt->hdr->waiters, SC)) {
		__atomic_add_fetch(&rt->hdr->seq, 1, SC);
		syscall(SYS_futex, &rt->hdr->seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	}
}

void ref_wake_waiters(struct ref_runtime *rt)
{
	wake_waiters(rt);
}

/* Free the entries of a reference from its head (the owner's walk). */
static void drop_chain(struct rt_holder *h, uint32_t idx)
{
	for (uint32_t i = idx + 1; i;) {
		struct rt_entry *e = &h->e[i - 1];

		i = __atomic_load_n(&e->next, __ATOMIC_RELAXED);
		unclaim(e);
	}
}

static inline int check_runs(const struct ref_runtime *rt, enum ref_kind kind,
			     const struct ext_run *runs, size_t nruns)
{
	if (rt->stale)
		return ref_refuse_stale();
	if (kind != REF_MAP && kind != REF_PIN)
		return daxmap_err(EINVAL, "unknown reference kind %d", (int)kind);
	if (!runs || !nruns)
		return daxmap_err(EINVAL, "no extents to reference");
	for (size_t i = 0; i < nruns; i++)
		if (!runs[i].count || runs[i].first >= rt->nextents ||
		    runs[i].count > rt->nextents - runs[i].first)
			return daxmap_err(EINVAL, "extents [%" PRIu64 ", +%" PRIu64 ") are outside the pool",
					  runs[i].first, runs[i].count);
	return 0;
}

/* Fill a claimed entry and make it count (readers take the fields once
 * they see ACTIVE). */
static inline void publish(struct rt_entry *e, struct ext_run r, enum ref_kind kind,
			   unsigned flags, unsigned backend, uint64_t id, uint64_t s)
{
	__atomic_store_n(&e->first, r.first, __ATOMIC_RELAXED);
	__atomic_store_n(&e->count, r.count, __ATOMIC_RELAXED);
	__atomic_store_n(&e->kind, (uint32_t)kind, __ATOMIC_RELAXED);
	__atomic_store_n(&e->flags, flags & REF_REVOCABLE, __ATOMIC_RELAXED);
	__atomic_store_n(&e->backend, backend, __ATOMIC_RELAXED);
	__atomic_store_n(&e->next, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&e->id, id, __ATOMIC_RELAXED);
	__atomic_store_n(&e->va, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&e->va_len, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&e->state, es_make(es_gen(s), 0, ES_ACTIVE), __ATOMIC_RELEASE);
}

static int no_room(void)
{
	return daxmap_err(ENOSPC, "this process holds %u extent runs already", REF_ENTRIES);
}

/* The entries of a reference of several runs, chained from the head. */
static int claim_chain(struct ref_runtime *rt, enum ref_kind kind, unsigned backend,
		       unsigned flags, const struct ext_run *runs, size_t nruns, uint32_t *head,
		       uint64_t *id)
{
	struct rt_holder *h = own(rt);
	uint32_t prev = 0;

	for (size_t i = 0; i < nruns; i++) {
		uint64_t st;
		long c = claim(h, &st);

		if (c < 0) {
			if (i)
				drop_chain(h, *head);
			return no_room();
		}
		if (i) {
			__atomic_store_n(&h->e[prev].next, (uint32_t)c + 1, __ATOMIC_RELAXED);
		} else {
			*head = (uint32_t)c;
			*id = id_make(rt->slot, *head, es_gen(st));
		}
		publish(&h->e[c], runs[i], kind, flags, backend, *id, st);
		prev = (uint32_t)c;
	}
	return 0;
}

/* After the claims (Dekker): a ZAP mark on the runs refuses, unless the
 * caller knows them live. 0, or -ESTALE with the reference dropped. */
static int zap_check(struct ref_runtime *rt, unsigned flags, const struct ext_run *runs,
		     size_t nruns, uint32_t head)
{
	uint64_t x;

	if (flags & REF_LIVE) {
		/* the caller holds the pool lock and the pool says these
		 * extents are live: a mark on them is a dead releaser's */
		uint64_t cleared = 0;

		for (size_t i = 0; i < nruns; i++)
			cleared += mark_run(rt, runs[i], false);
		if (cleared)
			__atomic_sub_fetch(&rt->hdr->nzap, cleared, SC);
		return 0;
	}
	if ((x = first_marked(rt, runs, nruns)) == UINT64_MAX)
		return 0;
	drop_chain(own(rt), head);
	ref_wake_waiters(rt);
	return daxmap_err(ESTALE, "extent %" PRIu64 " is being released (ZAP): no new mapping or pin",
			  x);
}

/* Everything but one run taken at once: bad arguments, several runs, a
 * full ledger. */
static __attribute__((noinline)) int get_slow(struct ref_runtime *rt, enum ref_kind kind,
					       unsigned backend, unsigned flags,
					       const struct ext_run *runs, size_t nruns,
					       uint64_t *id)
{
	uint32_t head = 0;
	uint64_t ref_id = 0;
	int rc;

	if ((rc = check_runs(rt, kind, runs, nruns)) ||
	    (rc = claim_chain(rt, kind, backend, flags, runs, nruns, &head, &ref_id)))
		return rc;
	/* Dekker: the claims came first; now the marks */
	if (__atomic_load_n(&rt->hdr->nzap, SC) &&
	    (rc = zap_check(rt, flags, runs, nruns, head)))
		return rc;
	*id = ref_id;
	return 0;
}

static __attribute__((noinline)) int get_marked(struct ref_runtime *rt, unsigned flags,
						 const struct ext_run *run, uint32_t head,
						 uint64_t ref_id, uint64_t *id)
{
	int rc = zap_check(rt, flags, run, 1, head);

	if (rc == 0)
		*id = ref_id;
	return rc;
}

int ref_get(struct ref_runtime *rt, enum ref_kind kind, unsigned backend,
	    unsigned flags, const struct ext_run *runs, size_t nruns,
	    uint64_t *id)
{
	/* the usual case, one run: a claim, the fields, the ZAP count */
	if (__builtin_expect(nruns == 1 && runs && !rt->stale &&
			     (kind == REF_MAP || kind == REF_PIN) && runs->count &&
			     runs->first < rt->nextents &&
			     runs->count <= rt->nextents - runs->first, 1)) {
		struct rt_holder *h = own(rt);
		uint64_t st;
		long c = claim(h, &st);

		if (__builtin_expect(c >= 0, 1)) {
			uint64_t ref_id = id_make(rt->slot, (uint32_t)c, es_gen(st));

			publish(&h->e[c], *runs, kind, flags, backend, ref_id, st);
			/* Dekker: the claim came first; now the marks */
			if (__builtin_expect(__atomic_load_n(&rt->hdr->nzap, SC) != 0, 0))
				return get_marked(rt, flags, runs, (uint32_t)c, ref_id, id);
			*id = ref_id;
			return 0;
		}
	}
	return get_slow(rt, kind, backend, flags, runs, nruns, id);
}

/* This process's live head entry of reference id, or NULL. */
static struct rt_entry *head_of(const struct ref_runtime *rt, uint64_t id, uint64_t *state)
{
	struct rt_entry *e;

	if (id_slot(id) != rt->slot || id_idx(id) >= REF_ENTRIES)
		return NULL;
	e = &own(rt)->e[id_idx(id)];
	*state = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE);
	return es_status(*state) == ES_ACTIVE && es_gen(*state) == id_gen(id) ? e : NULL;
}

static int no_ref(uint64_t id)
{
	return daxmap_err(ENOENT, "no reference %#" PRIx64 " held by this process", id);
}

int ref_put(struct ref_runtime *rt, uint64_t id)
{
	struct rt_holder *h;
	struct rt_entry *e;
	uint64_t s;
	uint32_t next;

	if (rt->stale)
		return ref_refuse_stale();
	if (!(e = head_of(rt, id, &s)))
		return no_ref(id);
	h = own(rt);
	next = __atomic_load_n(&e->next, __ATOMIC_RELAXED);
	/* the head decides: a second put of the same id finds it gone */
	if (!__atomic_compare_exchange_n(&e->state, &s, es_make(es_gen(s), es_ver(s), ES_FREE),
					 false, SC, __ATOMIC_RELAXED))
		return no_ref(id);
	if (next)
		drop_chain(h, next - 1);
	wake_waiters(rt);
	return 0;
}

/*
 * Change the extents of a live entry of this process: a reader that saw
 * the same state word before and after its reads read one version.
 */
static void entry_set(struct rt_entry *e, uint64_t first, uint64_t count)
{
	uint64_t s = __atomic_load_n(&e->state, __ATOMIC_RELAXED);

	__atomic_store_n(&e->state, es_make(es_gen(s), es_ver(s), ES_BUSY), __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&e->first, first, __ATOMIC_RELAXED);
	__atomic_store_n(&e->count, count, __ATOMIC_RELAXED);
	__atomic_store_n(&e->state, es_make(es_gen(s), es_ver(s) + 1, ES_ACTIVE), __ATOMIC_RELEASE);
}

/*
 * Cut [lo, hi) out of entry idx of a reference, whose predecessor in the
 * chain is prev (-1: it is the head). Only a split takes a new entry, for
 * the part after the cut, published before the entry shrinks: a reader
 * may count a piece twice for a moment, never miss one. The entry that
 * now precedes the rest of the chain, or -ENOSPC.
 */
static long cut_entry(struct rt_holder *h, long prev, uint32_t idx, uint64_t lo, uint64_t hi)
{
	struct rt_entry *e = &h->e[idx];
	uint64_t first = e->first, end = first + e->count;
	long last = idx;

	if (first < lo && hi < end) {
		/* a split: the part after the cut goes to a new entry */
		uint64_t st;
		long c = claim(h, &st);
		struct rt_entry *t;

		if (c < 0)
			return daxmap_err(ENOSPC, "this process holds %u extent runs already",
					  REF_ENTRIES);
		t = &h->e[c];
		__atomic_store_n(&t->first, hi, __ATOMIC_RELAXED);
		__atomic_store_n(&t->count, end - hi, __ATOMIC_RELAXED);
		__atomic_store_n(&t->kind, e->kind, __ATOMIC_RELAXED);
		__atomic_store_n(&t->flags, e->flags, __ATOMIC_RELAXED);
		__atomic_store_n(&t->backend, e->backend, __ATOMIC_RELAXED);
		__atomic_store_n(&t->id, e->id, __ATOMIC_RELAXED);
		__atomic_store_n(&t->next, e->next, __ATOMIC_RELAXED);
		__atomic_store_n(&t->state, es_make(es_gen(st), 0, ES_ACTIVE), SC);
		__atomic_store_n(&e->next, (uint32_t)c + 1, __ATOMIC_RELAXED);
		entry_set(e, first, lo - first);
		return c;
	}
	if (first < lo || hi < end) {
		/* a trim: one end goes */
		entry_set(e, first < lo ? first : hi, first < lo ? lo - first : end - hi);
	} else if (prev < 0) {
		/* the head names the reference: it stays, covering nothing */
		entry_set(e, first, 0);
	} else {
		__atomic_store_n(&h->e[prev].next, e->next, __ATOMIC_RELAXED);
		unclaim(e);
		last = prev;
	}
	return last;
}

int ref_put_run(struct ref_runtime *rt, uint64_t id, struct ext_run run)
{
	struct rt_holder *h;
	uint64_t s;
	long prev = -1;
	int found = 0;

	if (rt->stale)
		return ref_refuse_stale();
	if (!head_of(rt, id, &s))
		return no_ref(id);
	h = own(rt);
	for (uint32_t i = id_idx(id) + 1; i;) {
		struct rt_entry *e = &h->e[i - 1];
		uint64_t first = e->first, end = first + e->count;
		uint64_t lo = first > run.first ? first : run.first;
		uint64_t hi = end < run.first + run.count ? end : run.first + run.count;
		uint32_t next = e->next; /* a piece cut_entry() adds lies past run */

		if (lo < hi) {
			long last = cut_entry(h, prev, i - 1, lo, hi);

			if (last < 0) {
				if (found)
					ref_wake_waiters(rt);
				return (int)last;
			}
			prev = last;
			found++;
		} else {
			prev = (long)i - 1;
		}
		i = next;
	}
	if (found)
		ref_wake_waiters(rt);
	return found ? 0 : daxmap_err(ENOENT, "no reference %#" PRIx64 " on extents [%" PRIu64 ", +%" PRIu64 ") held by this process",
				      id, run.first, run.count);
}

/* ---- reading the ledgers ---- */

/* One entry as read: 1 live (in *out), 0 free, -1 being filled or
 * changed for longer than a few yields. */
static int read_entry(const struct rt_entry *e, struct rt_entry *out)
{
	for (int tries = 0; tries < 64; tries++) {
		uint64_t s1 = __atomic_load_n(&e->state, SC), s2;

		if (es_status(s1) == ES_FREE)
			return 0;
		if (es_status(s1) == ES_BUSY) {
			sched_yield();
			continue;
		}
		out->first = __atomic_load_n(&e->first, __ATOMIC_RELAXED);
		out->count = __atomic_load_n(&e->count, __ATOMIC_RELAXED);
		out->kind = __atomic_load_n(&e->kind, __ATOMIC_RELAXED);
		out->flags = __atomic_load_n(&e->flags, __ATOMIC_RELAXED);
		out->backend = __atomic_load_n(&e->backend, __ATOMIC_RELAXED);
		out->id = __atomic_load_n(&e->id, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(&e->state, __ATOMIC_RELAXED);
		if (s1 == s2) {
			out->state = s1;
			return 1;
		}
	}
	return -1;
}

/* Called for each live entry of a holder that may touch the runs walked
 * (alive, or dead and not reclaimed); nonzero stops the walk. An entry
 * being filled comes with busy set (its extents unknown). */
typedef int (*entry_fn)(void *arg, uint32_t slot, bool alive, const struct rt_entry *e,
			bool busy);

/*
 * Every entry of every holder touching runs (NULL: all). A holder's
 * liveness is asked of the kernel (a syscall) only when one of its entries
 * touches them: a release over idle extents makes none.
 */
static int walk(const struct ref_runtime *rt, const struct ext_run *runs, size_t nruns,
		bool dead_too, entry_fn fn, void *arg)
{
	for (uint32_t s = 0; s < REF_HOLDERS; s++) {
		const struct rt_holder *h = &rt->holders[s];
		uint32_t hwm;
		int alive = -1;

		if (!__atomic_load_n(&h->active, SC))
			continue;
		hwm = __atomic_load_n(&h->hwm, SC);
		for (uint32_t i = 0; i < hwm && i < REF_ENTRIES; i++) {
			struct rt_entry e;
			int r = read_entry(&h->e[i], &e), stop;

			if (r == 0 || (r > 0 && (e.count == 0 ||
						 (runs && !runs_overlap(runs, nruns, e.first, e.count)))))
				continue;
			/* a dead holder's references are void: its process, and
			 * the kernel's pins it held, are gone */
			if (alive < 0)
				alive = ref_holder_alive(rt, s);
			if (!alive && !dead_too)
				break;
			if ((stop = fn(arg, s, alive, &e, r < 0)))
				return stop;
		}
	}
	return 0;
}

struct overlap_arg {
	bool dead; /* a dead holder's entry touched the runs */
};

static int any_overlap(void *arg, uint32_t slot, bool alive, const struct rt_entry *e, bool busy)
{
	struct overlap_arg *a = arg;

	(void)slot;
	(void)e;
	(void)busy;
	if (!alive)
		a->dead = true;
	return alive;
}

struct tally_arg {
	uint64_t first, count;
	uint32_t *ref, *pins;
};

static int tally(void *arg, uint32_t slot, bool alive, const struct rt_entry *e, bool busy)
{
	const struct tally_arg *a = arg;
	uint64_t lo = e->first > a->first ? e->first : a->first;
	uint64_t hi = e->first + e->count < a->first + a->count ? e->first + e->count
								 : a->first + a->count;

	(void)slot;
	(void)alive;
	if (busy)
		return 0; /* a listing is a snapshot: one being filled is not there yet */
	for (uint64_t x = lo; x < hi; x++) {
		a->ref[x - a->first] += e->kind == REF_PIN ? REF_BIAS : 1;
		a->pins[x - a->first] += e->kind == REF_PIN;
	}
	return 0;
}

int ref_counts(struct ref_runtime *rt, uint64_t first, uint64_t count, uint32_t *ref,
	       uint32_t *pins, bool *zap)
{
	struct tally_arg a = { first, count, ref, pins };
	struct ext_run all = { first, count };

	if (rt->stale)
		return ref_refuse_stale();
	if (first > rt->nextents || count > rt->nextents - first)
		return daxmap_err(EINVAL, "extents [%" PRIu64 ", +%" PRIu64 ") are outside the pool",
				  first, count);
	memset(ref, 0, count * sizeof(*ref));
	memset(pins, 0, count * sizeof(*pins));
	/* a dead holder's references stay in the counts, as it stays listed,
	 * until a reclaim drops them */
	if (count)
		walk(rt, &all, 1, true, tally, &a);
	for (uint64_t x = first; zap && x < first + count; x++)
		zap[x - first] = (__atomic_load_n(&rt->zap[x / 64], SC) >> (x % 64)) & 1;
	return 0;
}

void ref_count(struct ref_runtime *rt, uint64_t extent, uint32_t *ref, uint32_t *pins,
	       bool *zap)
{
	bool z = false;

	*ref = *pins = 0;
	ref_counts(rt, extent, 1, ref, pins, &z);
	if (zap)
		*zap = z;
}

/* ---- ZAP marks ---- */

int ref_zap(struct ref_runtime *rt, const struct ext_run *runs, size_t nruns, bool on)
{
	uint64_t changed = 0;

	if (rt->stale)
		return ref_refuse_stale();
	for (size_t i = 0; i < nruns; i++)
		changed += mark_run(rt, runs[i], on);
	if (!changed)
		return 0;
	/* Dekker: the count moves before this releaser reads any entry */
	if (on)
		__atomic_add_fetch(&rt->hdr->nzap, changed, SC);
	else
		__atomic_sub_fetch(&rt->hdr->nzap, changed, SC);
	/* only a new mark wakes the revokers: marks already set (a finish
	 * re-marking) woke them when they were set. Dekker with
	 * ref_zap_wait(): bumped, then read; the syscall only when one sleeps */
	if (on) {
		__atomic_add_fetch(&rt->hdr->zap_seq, 1, SC);
		if (__atomic_load_n(&rt->hdr->zap_waiters, SC))
			syscall(SYS_futex, &rt->hdr->zap_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	}
	return 0;
}

bool ref_zapped(struct ref_runtime *rt, const struct ext_run *runs, size_t nruns, bool all)
{
	for (size_t i = 0; i < nruns; i++) {
		uint64_t end = runs[i].first + runs[i].count;

		if (end > rt->nextents)
			end = rt->nextents;
		for (uint64_t w = runs[i].first / 64; runs[i].first < end && w <= (end - 1) / 64; w++) {
			uint64_t m = word_mask(w, runs[i].first, end);
			uint64_t z = __atomic_load_n(&rt->zap[w], SC) & m;

			if (all ? z != m : z != 0)
				return !all;
		}
	}
	return all;
}

uint32_t ref_zap_seq(const struct ref_runtime *rt)
{
	return __atomic_load_n(&rt->hdr->zap_seq, __ATOMIC_ACQUIRE);
}

void ref_zap_wait(struct ref_runtime *rt, uint32_t seq, int timeout_ms)
{
	struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };

	/* registered, then the kernel compares the word: a mark bumped before
	 * the registration fails the compare, one after sees the waiter. A
	 * waiter killed asleep leaves the count up: wake-ups for nobody. */
	__atomic_add_fetch(&rt->hdr->zap_waiters, 1, SC);
	syscall(SYS_futex, &rt->hdr->zap_seq, FUTEX_WAIT, seq, timeout_ms < 0 ? NULL : &ts,
		NULL, 0);
	__atomic_sub_fetch(&rt->hdr->zap_waiters, 1, SC);
}

void ref_zap_kick(struct ref_runtime *rt)
{
	/* a spurious wake-up for every waiter: each one re-checks. The bump
	 * too: a waiter between its read of the word and its FUTEX_WAIT
	 * would sleep through a bare wake-up */
	__atomic_add_fetch(&rt->hdr->zap_seq, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &rt->hdr->zap_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* ---- holders and the wait ---- */

struct holders_arg {
	const struct ref_runtime *rt;
	const struct ext_run *runs;
	size_t nruns;
	struct ref_holding *out;
	size_t max, n;
};

static int list_one(void *arg, uint32_t slot, bool alive, const struct rt_entry *e, bool busy)
{
	struct holders_arg *a = arg;
	const struct rt_holder *h = &a->rt->holders[slot];

	if (busy)
		return 0;
	if (a->n < a->max)
		a->out[a->n] = (struct ref_holding){
			.pid = h->pid, .start_time = h->start_time, .alive = alive,
			.kind = (enum ref_kind)e->kind, .backend = e->backend,
			.revocable = e->flags & REF_REVOCABLE,
			.run = { e->first, e->count }, .id = e->id };
	a->n++;
	return 0;
}

int ref_holders(struct ref_runtime *rt, const struct ext_run *runs, size_t nruns,
		struct ref_holding *out, size_t max)
{
	struct holders_arg a = { rt, runs, nruns, out, max, 0 };

	if (rt->stale)
		return ref_refuse_stale();
	walk(rt, runs, nruns, true, list_one, &a);
	return a.n > INT_MAX ? INT_MAX : (int)a.n;
}

int ref_holders_all(struct ref_runtime *rt, struct ref_holding **out)
{
	struct ref_holding *hs = NULL;

	for (size_t cap = 0;;) {
		struct ref_holding *g;
		int got = rt ? ref_holders(rt, NULL, 0, hs, cap) : 0;

		if (got < 0 || (size_t)got <= cap) {
			*out = hs;
			return got;
		}
		cap = (size_t)got + 8; /* more may come meanwhile */
		if (!(g = realloc(hs, cap * sizeof(*hs)))) {
			free(hs);
			return daxmap_err(ENOMEM, "out of memory");
		}
		hs = g;
	}
}

/* Pins are recorded by backend: the names belong with the records. */
DAXMAP_EXPORT const char *daxmap_pin_backend_name(enum daxmap_pin_backend backend)
{
	static const char *const names[] = { "none", "external", "rdma", "vfio", "io_uring",
					      "rdma-odp" };

	return (unsigned)backend < sizeof(names) / sizeof(names[0]) ? names[backend] : "unknown";
}

/* -EBUSY naming the holders of runs. */
static int busy(struct ref_runtime *rt, const struct ext_run *runs, size_t nruns)
{
	struct ref_holding hs[8];
	char msg[600];
	size_t len;
	int n = ref_holders(rt, runs, nruns, hs, 8);

	len = (size_t)snprintf(msg, sizeof(msg), "%d reference(s) still held:", n < 0 ? 0 : n);
	for (int i = 0; i < n && i < 8 && len < sizeof(msg); i++)
		len += (size_t)snprintf(msg + len, sizeof(msg) - len,
					" pid %d %s%s%s%s of extents [%" PRIu64 ", +%" PRIu64 ")%s",
					(int)hs[i].pid, hs[i].kind == REF_PIN ? "pin (" : "mapping",
					hs[i].kind == REF_PIN ? daxmap_pin_backend_name((enum daxmap_pin_backend)hs[i].backend) : "",
					hs[i].kind == REF_PIN ? (hs[i].revocable ? ", revocable)" : ")") : "",
					hs[i].alive ? "" : " (dead)",
					hs[i].run.first, hs[i].run.count, i + 1 < n ? ";" : "");
	return daxmap_err(EBUSY, "%s", msg);
}

int ref_wait_idle(struct ref_runtime *rt, const struct ext_run *runs, size_t nruns,
		  int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;

	if (rt->stale)
		return ref_refuse_stale();
	for (;;) {
		struct overlap_arg a = { false };
		uint32_t seq;
		int64_t left;
		int busy_now;

		/* Dekker with ref_wake_waiters(): registered, then read */
		__atomic_add_fetch(&rt->hdr->waiters, 1, SC);
		seq = __atomic_load_n(&rt->hdr->seq, SC);
		busy_now = walk(rt, runs, nruns, true, any_overlap, &a);
		/* holders that died holding some: their slots are cleared
		 * (their references count nowhere either way) */
		if (a.dead)
			ref_reclaim_dead(rt);
		if (!busy_now) {
			__atomic_sub_fetch(&rt->hdr->waiters, 1, SC);
			return 0;
		}
		left = deadline - now_ms();
		if (left > 0) {
			/* wake-ups come from drops; deaths are polled for */
			struct timespec ts = { 0, (left < 50 ? left : 50) * 1000000L };

			syscall(SYS_futex, &rt->hdr->seq, FUTEX_WAIT, seq, &ts, NULL, 0);
		}
		__atomic_sub_fetch(&rt->hdr->waiters, 1, SC);
		if (left <= 0)
			return busy(rt, runs, nruns);
	}
}
