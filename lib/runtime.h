/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * runtime.h -- a pool handle's attachment to the pool's runtime reference
 * state (ref.h): made on first use, kept until the pool is closed (each
 * attachment costs a file open and a holder registration).
 */
#ifndef DAXMAP_RUNTIME_H
#define DAXMAP_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct daxmap_pool;
struct ref_runtime;

/* A share of the pool's attachment, made now if need be; ref_detach() it. */
int runtime_attach(struct daxmap_pool *pool, struct ref_runtime **rt);
/* The same, but only if some process has used the pool since boot: a
 * listing never creates the runtime state. *rt NULL: nothing is
 * referenced. */
int runtime_attach_existing(struct daxmap_pool *pool, struct ref_runtime **rt);
/* Does any process of this boot use the pool? */
bool runtime_exists(struct daxmap_pool *pool);
/* The live users of the pool with that uuid (ref_users()). */
int runtime_users(const uint8_t uuid[16], pid_t *pids, size_t max);
/* Drop the handle's attachment (daxmap_pool_close()). */
void runtime_close(struct daxmap_pool *pool);

#endif
