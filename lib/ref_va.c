/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ref_va.c -- the virtual ranges of holders' mappings, in the runtime
 * state (ref_va.h, ref_layout.h). A live mapping's range is in its ledger
 * head (va, va_len); a retired one in the holder's ring of VA records.
 * Only the holder writes either; readers check a record's sequence (or the
 * entry's state word) around their reads and skip one being written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>

#include "error.h"
#include "ref.h"
#include "ref_layout.h"
#include "ref_va.h"

void ref_va_set(struct ref_runtime *rt, uint64_t id, uint64_t va, uint64_t len)
{
	struct rt_entry *e;

	if (rt->stale || id_slot(id) != rt->slot || id_idx(id) >= REF_ENTRIES)
		return;
	e = &rt->holders[rt->slot].e[id_idx(id)];
	/* len last: a reader that sees it sees the start too */
	__atomic_store_n(&e->va, va, __ATOMIC_RELAXED);
	__atomic_store_n(&e->va_len, len, __ATOMIC_RELEASE);
}

void ref_va_retire(struct ref_runtime *rt, uint64_t va, uint64_t len, uint64_t slot,
		   uint64_t gen)
{
	struct rt_holder *h;
	struct rt_va *r;
	uint64_t seq;
	uint32_t i;

	if (rt->stale || !len)
		return;
	h = &rt->holders[rt->slot];
	i = __atomic_fetch_add(&h->va_next, 1, __ATOMIC_RELAXED) % REF_VA_RECS;
	r = &rt->va[(size_t)rt->slot * REF_VA_RECS + i];
	seq = __atomic_load_n(&r->seq, __ATOMIC_RELAXED);
	/* two threads retiring into the same record (the ring wrapped under
	 * them): the second waits for the first's odd sequence to end */
	while ((seq & 1) || !__atomic_compare_exchange_n(&r->seq, &seq, seq + 1, false,
							  __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		seq = __atomic_load_n(&r->seq, __ATOMIC_RELAXED) & ~1ULL;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	r->va = va;
	r->len = len;
	r->slot = slot;
	r->gen = gen;
	r->pid = h->pid;
	r->start_time = h->start_time;
	__atomic_store_n(&r->seq, seq + 2, __ATOMIC_RELEASE);
}

static int push(struct ref_va **v, size_t *n, size_t *cap, struct ref_va x)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 32;
		struct ref_va *g = realloc(*v, c * sizeof(*g));

		if (!g)
			return daxmap_err(ENOMEM, "out of memory");
		*v = g;
		*cap = c;
	}
	(*v)[(*n)++] = x;
	return 0;
}

/* A live holder's mappings now: its ledger heads of kind mapping. */
static int live_heads(const struct ref_runtime *rt, uint32_t s, struct ref_va **v, size_t *n,
		      size_t *cap)
{
	const struct rt_holder *h = &rt->holders[s];
	uint32_t hwm = __atomic_load_n(&h->hwm, __ATOMIC_ACQUIRE);
	int rc = 0;

	for (uint32_t i = 0; rc == 0 && i < hwm && i < REF_ENTRIES; i++) {
		const struct rt_entry *e = &h->e[i];
		uint64_t s1 = __atomic_load_n(&e->state, __ATOMIC_ACQUIRE), va, len, id;

		if (es_status(s1) != ES_ACTIVE || __atomic_load_n(&e->kind, __ATOMIC_RELAXED) != REF_MAP)
			continue;
		id = __atomic_load_n(&e->id, __ATOMIC_RELAXED);
		len = __atomic_load_n(&e->va_len, __ATOMIC_ACQUIRE);
		va = __atomic_load_n(&e->va, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		/* the head only (a chained piece carries the head's id), and
		 * the same reference before and after the reads */
		if (id_idx(id) != i || !len || __atomic_load_n(&e->state, __ATOMIC_RELAXED) != s1)
			continue;
		rc = push(v, n, cap, (struct ref_va){ .pid = h->pid, .live = true, .va = va,
						      .len = len });
	}
	return rc;
}

/* A live holder's retired records (its own, not a former holder's). */
static int retired(const struct ref_runtime *rt, uint32_t s, struct ref_va **v, size_t *n,
		   size_t *cap)
{
	const struct rt_holder *h = &rt->holders[s];
	int rc = 0;

	for (uint32_t i = 0; rc == 0 && i < REF_VA_RECS; i++) {
		const struct rt_va *r = &rt->va[(size_t)s * REF_VA_RECS + i];
		uint64_t s1 = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);
		struct ref_va x = { .pid = r->pid, .va = r->va, .len = r->len, .slot = r->slot,
				    .gen = r->gen };
		uint64_t st = r->start_time;

		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (!s1 || (s1 & 1) || __atomic_load_n(&r->seq, __ATOMIC_RELAXED) != s1 ||
		    x.pid != h->pid || st != h->start_time || !x.len)
			continue;
		rc = push(v, n, cap, x);
	}
	return rc;
}

bool ref_va_retired_any(const struct ref_runtime *rt, uint64_t slot, uint64_t gen)
{
	if (rt->stale)
		return true; /* ref_va_list() refuses it */
	for (uint32_t s = 0; s < REF_HOLDERS; s++) {
		if (!__atomic_load_n(&rt->holders[s].active, __ATOMIC_ACQUIRE))
			continue;
		/* a record being written (odd sequence) may be of it */
		for (uint32_t i = 0; i < REF_VA_RECS; i++) {
			const struct rt_va *r = &rt->va[(size_t)s * REF_VA_RECS + i];
			uint64_t s1 = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);

			if ((s1 & 1) || (s1 && __atomic_load_n(&r->slot, __ATOMIC_RELAXED) == slot &&
					 __atomic_load_n(&r->gen, __ATOMIC_RELAXED) == gen))
				return true;
		}
	}
	return false;
}

int ref_va_list(struct ref_runtime *rt, struct ref_va **out, size_t *n)
{
	size_t cap = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (rt->stale)
		return ref_refuse_stale();
	for (uint32_t s = 0; rc == 0 && s < REF_HOLDERS; s++) {
		/* a dead holder maps nothing and registers nothing: the kernel
		 * closed its files, MRs with them */
		if (!__atomic_load_n(&rt->holders[s].active, __ATOMIC_ACQUIRE) ||
		    !ref_holder_alive(rt, s))
			continue;
		if ((rc = live_heads(rt, s, out, n, &cap)) == 0)
			rc = retired(rt, s, out, n, &cap);
	}
	if (rc) {
		free(*out);
		*out = NULL;
		*n = 0;
	}
	return rc;
}
