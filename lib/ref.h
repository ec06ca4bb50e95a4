/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ref.h -- the runtime reference state of a pool (doc/refcount-design.md):
 * each holder's ledger of references, the ZAP marks, and the holders, in
 * a file shared by every process using the pool (ref.c, ref_attach.c).
 * Gets and puts take no lock. It knows extents by number only, nothing of
 * regions: the region mappings, releases and pins above it say which
 * extents.
 */
#ifndef DAXMAP_REF_H
#define DAXMAP_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "runs.h"

#define REF_BIAS 1024U     /* a pin's weight: the library's unit (kunits.h has the kernel's) */
#define REF_HOLDERS 128U   /* processes at once */
#define REF_ENTRIES 1024U  /* extent runs one process may reference */

enum ref_kind { REF_NONE = 0, REF_MAP = 1, REF_PIN = 2 };

/* ref_get() flags */
#define REF_REVOCABLE 1U /* a pin whose holder gives it up when asked */
/* The caller holds the pool lock and the pool says the extents are live: a
 * ZAP mark on them was left by a releaser that died after freeing them and
 * is cleared (in the same locked section) instead of refusing. */
#define REF_LIVE 2U

struct ref_runtime;

/*
 * Attach this process to the runtime state of the pool with this uuid
 * (created, or re-created after a reboot, as needed) in dir (NULL:
 * /dev/shm). One attachment per pool per process: later calls share it.
 */
int ref_attach(struct ref_runtime **rtp, const uint8_t uuid[16], uint64_t nextents,
	       const char *dir);
void ref_detach(struct ref_runtime *rt);
/* Does the runtime state of that pool exist (has any process used it
 * since boot)? */
bool ref_exists(const uint8_t uuid[16], const char *dir);
/*
 * How many processes hold a slot of that pool's runtime state now (this
 * one included), their pids in pids (up to max): the live users of the
 * pool. 0 when the state does not exist; -errno when it cannot be read.
 */
int ref_users(const uint8_t uuid[16], const char *dir, pid_t *pids, size_t max);
/* One more user of an attachment; each user calls ref_detach() once. */
struct ref_runtime *ref_share(struct ref_runtime *rt);
/* Inherited through fork(): every call on it is refused with -ECHILD. */
bool ref_stale(const struct ref_runtime *rt);

/*
 * Take a reference of kind on runs; *id names it for ref_put(). backend
 * says which pin backend holds a pin (0 for a mapping). Extents marked ZAP
 * (ref_zap()) are refused with -ESTALE, unless flags has REF_LIVE.
 */
int ref_get(struct ref_runtime *rt, enum ref_kind kind, unsigned backend,
	    unsigned flags, const struct ext_run *runs, size_t nruns,
	    uint64_t *id);
int ref_put(struct ref_runtime *rt, uint64_t id);
/* Drop the part of reference id that covers run; the rest stays. */
int ref_put_run(struct ref_runtime *rt, uint64_t id, struct ext_run run);

/*
 * Counts of extents [first, first + count) into ref[] and pins[] (and
 * their ZAP marks into zap[], which may be NULL): the sums of the
 * holders' references (dead ones' too, until reclaimed), read without
 * stopping anyone (a snapshot). 0 or -errno.
 */
int ref_counts(struct ref_runtime *rt, uint64_t first, uint64_t count, uint32_t *ref,
	       uint32_t *pins, bool *zap);
/* The same for one extent. */
void ref_count(struct ref_runtime *rt, uint64_t extent, uint32_t *ref, uint32_t *pins,
	       bool *zap);

/*
 * Mark (on) or unmark extents ZAP in the runtime state: no new reference
 * is given on a ZAP extent. Marking wakes the revokers (ref_zap_wait()).
 */
int ref_zap(struct ref_runtime *rt, const struct ext_run *runs, size_t nruns, bool on);
/* Is every extent of runs marked ZAP (all) or any of them (!all)? */
bool ref_zapped(struct ref_runtime *rt, const struct ext_run *runs, size_t nruns,
		bool all);
/* The ZAP event counter, and a wait for it to move past seq (or timeout,
 * or ref_zap_kick()). */
uint32_t ref_zap_seq(const struct ref_runtime *rt);
void ref_zap_wait(struct ref_runtime *rt, uint32_t seq, int timeout_ms);
void ref_zap_kick(struct ref_runtime *rt);

/* Drop the references of holders that died. Returns how many died. */
int ref_reclaim_dead(struct ref_runtime *rt);

struct ref_holding {
	pid_t pid;
	uint64_t start_time; /* clock ticks after boot, /proc/PID/stat */
	bool alive;          /* false: died, not reclaimed yet */
	enum ref_kind kind;
	unsigned backend;
	bool revocable;
	struct ext_run run;
	uint64_t id;
};

/* Every reference that touches runs (all when runs == NULL), of live
 * holders and of dead ones not reclaimed yet: up to max are stored;
 * returns how many there are. */
int ref_holders(struct ref_runtime *rt, const struct ext_run *runs, size_t nruns,
		struct ref_holding *out, size_t max);

/* Every reference (ref_holders() of all extents) into *out (malloc'ed,
 * NULL when none); how many, or -errno. rt NULL: none. */
int ref_holders_all(struct ref_runtime *rt, struct ref_holding **out);

/*
 * Wait until no reference touches runs, reclaiming dead holders as it goes,
 * for at most timeout_ms (< 0: forever). 0, or -EBUSY on timeout.
 */
int ref_wait_idle(struct ref_runtime *rt, const struct ext_run *runs, size_t nruns,
		  int timeout_ms);


#endif
