/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ref_layout.h -- the runtime state file of a pool, as ref.c (references,
 * marks, waits) and ref_attach.c (the file, holder slots, the process's
 * attachments) share it (doc/refcount-design.md).
 *
 *   header        4 KiB: identity, then one cache line per word every
 *                 process reads or writes (gets and puts read two of them,
 *                 never write them)
 *   holders       REF_HOLDERS slots: a line of identity, then the ledger,
 *                 REF_ENTRIES entries of one cache line each
 *   ZAP bitmap    one bit per extent
 *   VA records    REF_HOLDERS x REF_VA_RECS lines: where each holder
 *                 mapped a region before it unmapped or zapped it (an
 *                 RDMA registration there may still hold the pages)
 *
 * A holder's ledger is the truth of its references, and only the holder
 * writes it: there is no shared counter to repair when a process dies at
 * any instruction. Counts are sums over ledgers, made when asked.
 */
#ifndef DAXMAP_REF_LAYOUT_H
#define DAXMAP_REF_LAYOUT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "ref.h"

#define RT_MAGIC "DAXMAPRT"
#define RT_VERSION 5
#define RT_HDR_SIZE 4096

/*
 * Entry state word: gen << 32 | ver << 16 | status. gen grows at each
 * claim (an id names an entry and its gen: a stale id finds nothing);
 * ver at each change of a live entry's extents, so a reader that saw the
 * same word before and after its reads read one version.
 */
enum { ES_FREE = 0, ES_BUSY = 1, ES_ACTIVE = 2 };

static inline uint64_t es_make(uint64_t gen, uint64_t ver, unsigned status)
{
	return (gen & 0xffffffffULL) << 32 | (ver & 0xffffULL) << 16 | status;
}
static inline unsigned es_status(uint64_t s) { return (unsigned)(s & 0xffffU); }
static inline uint64_t es_gen(uint64_t s) { return s >> 32; }
static inline uint64_t es_ver(uint64_t s) { return (s >> 16) & 0xffffU; }

struct rt_entry {
	uint64_t state;     /* es_make() */
	uint64_t first;     /* extents [first, first + count) */
	uint64_t count;     /* 0: a placeholder that keeps the id (ref_put_run()) */
	uint32_t kind;      /* enum ref_kind */
	uint32_t flags;     /* REF_REVOCABLE */
	uint32_t backend;   /* which pin backend, 0 for a mapping */
	uint32_t next;      /* the reference's next entry + 1, 0: none (the
			     * holder's own bookkeeping: nobody else reads it) */
	uint64_t id;        /* the reference's id (its head entry's) */
	/* a mapping's head: the virtual range it maps in the holder, once
	 * known (ref_va_set()), else 0; other entries: 0 */
	uint64_t va, va_len;
};
_Static_assert(sizeof(struct rt_entry) == 64, "an entry is one cache line");

struct rt_holder {
	uint32_t active;     /* set and cleared under the set-up lock (byte 0) */
	int32_t pid;
	uint64_t start_time; /* clock ticks after boot, /proc/PID/stat */
	uint32_t hwm;        /* entries [0, hwm) may be in use */
	uint32_t va_next;    /* VA records written so far (the next one mod
			      * REF_VA_RECS) */
	uint32_t pad[10];
	struct rt_entry e[REF_ENTRIES];
};
_Static_assert(sizeof(struct rt_holder) == 64 + REF_ENTRIES * 64, "holder layout");

struct rt_hdr {
	char magic[8];
	uint32_t version;
	uint32_t entries;    /* REF_ENTRIES of the writer */
	char boot_id[40];
	uint8_t uuid[16];
	uint64_t nextents;
	uint64_t nholders;
	/* extents marked ZAP now: every get reads it, releases write it */
	_Alignas(64) uint64_t nzap;
	/* waiters in ref_wait_idle(): every drop reads it */
	_Alignas(64) uint32_t waiters;
	/* futex word: bumped by a drop when someone waits */
	_Alignas(64) uint32_t seq;
	/* futex word: bumped when extents are newly marked ZAP (revokers) */
	_Alignas(64) uint32_t zap_seq;
	/* revokers asleep on zap_seq: a new mark reads it */
	_Alignas(64) uint32_t zap_waiters;
};
_Static_assert(sizeof(struct rt_hdr) <= RT_HDR_SIZE, "header fits its page");

/*
 * Where a holder mapped a region and no longer does (unmapped, or zapped
 * by a release): [va, va + len) mapped the region's extents from index 0
 * on. Only the holder writes its records, seqlock-style (seq odd while
 * written); pid and start time tell a record from a former holder's.
 */
#define REF_VA_RECS 64U

struct rt_va {
	uint64_t seq;
	uint64_t va, len;
	uint64_t slot, gen;  /* the region (pool slot and generation) */
	int32_t pid;
	uint32_t pad;
	uint64_t start_time;
	uint64_t pad2;
};
_Static_assert(sizeof(struct rt_va) == 64, "a VA record is one cache line");

/* An id: holder slot (8 bits) | entry (24 bits) | the entry's gen. */
static inline uint64_t id_make(uint32_t slot, uint32_t idx, uint64_t gen)
{
	return (uint64_t)slot << 56 | (uint64_t)idx << 32 | (gen & 0xffffffffULL);
}
static inline uint32_t id_slot(uint64_t id) { return (uint32_t)(id >> 56); }
static inline uint32_t id_idx(uint64_t id) { return (uint32_t)(id >> 32) & 0xffffffU; }
static inline uint64_t id_gen(uint64_t id) { return id & 0xffffffffULL; }

/* This process's attachment to one pool's state (ref_attach.c). */
struct ref_runtime {
	struct ref_runtime *next;  /* the process's attachments */
	int users;                 /* under the registry lock (ref_share: atomic) */
	char path[PATH_MAX];
	uint8_t uuid[16];
	int fd;
	size_t size;
	struct rt_hdr *hdr;
	struct rt_holder *holders;
	uint64_t *zap;             /* the ZAP bitmap */
	struct rt_va *va;          /* VA records, REF_VA_RECS per holder */
	uint64_t nextents;
	uint32_t slot;             /* this process's holder slot */
	bool stale;                /* inherited through fork(): the parent's */
};

static inline size_t rt_bitmap_words(uint64_t nextents)
{
	return (size_t)((nextents + 63) / 64);
}

/* Where the VA records start: after the bitmap, on a cache line. */
static inline size_t rt_va_offset(uint64_t nextents)
{
	size_t end = RT_HDR_SIZE + REF_HOLDERS * sizeof(struct rt_holder) +
		     rt_bitmap_words(nextents) * sizeof(uint64_t);

	return (end + 63) & ~(size_t)63;
}

static inline size_t rt_size(uint64_t nextents)
{
	return rt_va_offset(nextents) + REF_HOLDERS * REF_VA_RECS * sizeof(struct rt_va);
}

/* ---- between ref.c and ref_attach.c ---- */

int ref_refuse_stale(void);
/* Is holder slot s alive? Its process holds the POSIX lock on byte 1 + s
 * (the caller's own slot is). */
bool ref_holder_alive(const struct ref_runtime *rt, uint32_t s);
/* A drop: wake the waiters of ref_wait_idle(), if there are any. */
void ref_wake_waiters(struct ref_runtime *rt);
/* Free every entry of a holder's ledger (its process is gone, or is this
 * one detaching). */
void ref_ledger_clear(struct rt_holder *h);

#endif
