/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pool_handle.h -- a pool on a device: its metadata area mapped, the pool
 * core run on it under a lock shared by every process, and the device-level
 * format and check.
 *
 * Every operation on the tables runs between pool_begin() and pool_end():
 * an OFD byte-range lock on the device (dropped by the kernel when its
 * holder dies; works on /dev/daxX.Y) keeps other processes out, a mutex
 * the handle's other threads, and the tables are re-read first, so several
 * processes can share a pool.
 */
#ifndef DAXMAP_POOL_HANDLE_H
#define DAXMAP_POOL_HANDLE_H

#include <stdbool.h>
#include <stdint.h>

#include "daxmap.h"
#include "pool_core.h"

struct ref_runtime;

/* Open the handle (read-only: no recovery, no change). No reference
 * state is touched: that is the caller's (pool.c). */
int pool_handle_open(struct daxmap_pool **poolp, struct daxmap_dev *dev, bool rdonly);
void pool_handle_close(struct daxmap_pool *pool);

/* Lock the pool (exclusive or shared) across processes and re-read its
 * tables; pool_end() unlocks. 0 or -errno. */
int pool_begin(struct daxmap_pool *pool, bool excl);
void pool_end(struct daxmap_pool *pool);
/* The start of a public function fn that reads the pool: its pointer
 * arguments present ("<fn>: <required> are required" otherwise), then
 * pool_begin(pool, false). */
int pool_begin_read(struct daxmap_pool *pool, bool present, const char *fn,
		    const char *required);
/*
 * The way in for a reader that takes references (a region mapping) without
 * the lock shared with other processes: only this handle's mutex. 0 when
 * the view is current (a 1.2 pool whose change sequence has not moved
 * since the view was made): look up, take the references, then
 * pool_view_end() says whether the sequence still stands -- if it does,
 * no writer began an operation in between, so the extents were the
 * region's when the references were published, and a release that begins
 * later finds them. 1: the caller must use pool_begin() (nothing held).
 */
int pool_view_begin(struct daxmap_pool *pool);
bool pool_view_end(struct daxmap_pool *pool);
/* Only this handle's other threads kept out (the handle's mutex), for the
 * few things done without the pool lock (a region's logical size). */
void pool_lock_local(struct daxmap_pool *pool);
void pool_unlock_local(struct daxmap_pool *pool);

/*
 * Region locks: OFD byte-range locks in the device's lock space, where byte
 * 0 is the pool lock. pool_region_lock_base() is the first byte of the
 * region in slot at gen (DAXMAP_LOCK_SPAN bytes). pool_lock_owner() opens a
 * new file description of the device: each one owns its locks.
 * pool_lock_range(): type F_RDLCK, F_WRLCK or F_UNLCK, -EAGAIN when
 * another owner's lock conflicts and !wait. pool_lock_probe(): 1 when
 * another owner holds a lock that conflicts with type, else 0.
 */
uint64_t pool_region_lock_base(uint64_t slot, uint64_t gen);
int pool_lock_owner(struct daxmap_pool *pool, int *fd);
int pool_lock_range(struct daxmap_pool *pool, int fd, uint64_t off, uint64_t len,
		    short type, bool wait);
int pool_lock_probe(struct daxmap_pool *pool, int fd, uint64_t off, uint64_t len, short type);

/* The core, for its queries and operations between begin and end. */
struct pool_core *pool_core(struct daxmap_pool *pool);
struct daxmap_dev *pool_dev(struct daxmap_pool *pool);
bool pool_rdonly(const struct daxmap_pool *pool);
/* The pool's uuid and extent count, fixed for the handle's life. */
const uint8_t *pool_uuid(const struct daxmap_pool *pool);
uint64_t pool_nextents(const struct daxmap_pool *pool);
/*
 * The handle's attachment to the runtime reference state: made by the
 * reference layer on first use (runtime.c) and detached by it when the
 * pool is closed; NULL until then.
 */
struct ref_runtime **pool_runtime(struct daxmap_pool *pool);

/* Fences and flushes issued through the handle (benchmarks, tests). */
uint64_t pool_drains(const struct daxmap_pool *pool);
uint64_t pool_flushes(const struct daxmap_pool *pool);

/*
 * daxmap_pool_format() and daxmap_pool_check() on the device, under the
 * pool lock taken for their own time. A format over a pool asks in_use
 * (under the lock) whether live processes use it: 0 no, or -errno with
 * the message (then nothing is written); flags decide whether to ask.
 */
typedef int (*pool_in_use_fn)(const struct pool_sb *old);
int pool_format_device(struct daxmap_dev *dev, uint64_t extent_size, unsigned flags,
		       pool_in_use_fn in_use);
int pool_check_device(struct daxmap_dev *dev, bool repair, pool_report_fn report, void *arg);

#endif
