/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ref.h -- the runtime reference state of a pool (doc/refcount-design.md):
 * per-extent counts and pins, and the holders that own them, in a file
 * shared by every process using the pool. Internal; the pool, map and pin
 * layers call it.
 */
#ifndef DAXMAP_REF_H
#define DAXMAP_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define REF_BIAS 1024U     /* a pin's weight, like GUP_PIN_COUNTING_BIAS */
#define REF_HOLDERS 128U   /* processes at once */
#define REF_ENTRIES 1024U  /* extent runs one process may reference */

enum ref_kind { REF_NONE = 0, REF_MAP = 1, REF_PIN = 2 };

/* A run of extents [first, first + count). */
struct ref_run {
	uint64_t first;
	uint64_t count;
};

struct ref_rt;

/*
 * Attach this process to the runtime state of the pool with this uuid
 * (created, or re-created after a reboot, as needed) in dir (NULL:
 * /dev/shm). One attachment per pool per process: later calls share it.
 */
int ref_attach(struct ref_rt **rtp, const uint8_t uuid[16], uint64_t nextents,
	       const char *dir);
void ref_detach(struct ref_rt *rt);
/* One more user of an attachment; each user calls ref_detach() once. */
struct ref_rt *ref_share(struct ref_rt *rt);
/* Inherited through fork(): every call on it is refused with -ECHILD. */
bool ref_stale(const struct ref_rt *rt);

/* Take a reference of kind on runs; *id names it for ref_put(). */
int ref_get(struct ref_rt *rt, enum ref_kind kind, const struct ref_run *runs,
	    size_t nruns, uint64_t *id);
int ref_put(struct ref_rt *rt, uint64_t id);

/* Counts of one extent, as now (no lock: a snapshot). */
void ref_count(const struct ref_rt *rt, uint64_t extent, uint32_t *ref,
	       uint32_t *pins);

/* Drop the references of holders that died. Returns how many died. */
int ref_reclaim_dead(struct ref_rt *rt);

struct ref_holding {
	pid_t pid;
	uint64_t start_time; /* clock ticks after boot, /proc/PID/stat */
	enum ref_kind kind;
	struct ref_run run;
	uint64_t id;
};

/* Every live reference that touches runs (all when runs == NULL): up to
 * max are stored; returns how many there are. */
int ref_holders(struct ref_rt *rt, const struct ref_run *runs, size_t nruns,
		struct ref_holding *out, size_t max);

/*
 * Wait until no reference touches runs, reclaiming dead holders as it goes,
 * for at most timeout_ms (< 0: forever). 0, or -EBUSY on timeout.
 */
int ref_wait_idle(struct ref_rt *rt, const struct ref_run *runs, size_t nruns,
		  int timeout_ms);

#endif
