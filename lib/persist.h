/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * persist.h -- the one place metadata persistence goes through.
 *
 * Every flush and drain of pool metadata is a call through this table, so
 * the crash simulator (tests/test_crash.c) can stand in for the hardware:
 * it keeps a working and a media copy and decides which flushed lines a
 * power loss keeps.
 */
#ifndef DAXMAP_PERSIST_H
#define DAXMAP_PERSIST_H

#include <stddef.h>
#include <stdint.h>

struct persist_ops {
	void (*flush)(void *ctx, const void *addr, size_t len);
	void (*drain)(void *ctx);
	void *ctx;
	uint64_t drains; /* fences issued, for the fence budget and benchmarks */
	uint64_t flushes;
};

static inline void persist_flush(struct persist_ops *ops, const void *addr,
				 size_t len)
{
	ops->flushes++;
	ops->flush(ops->ctx, addr, len);
}

#ifdef DAXMAP_FAULT_INJECTION
void fault_fence(void);
#else
static inline void fault_fence(void)
{
}
#endif

static inline void persist_drain(struct persist_ops *ops)
{
	ops->drains++;
	fault_fence();
	ops->drain(ops->ctx);
}

/* Store v to an 8-byte aligned word with one store (failure-atomic). */
static inline void store_u64(uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline uint64_t load_u64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

#endif
