/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pin_rdma.h -- what the RDMA backend (pin_rdma.c) shares with its
 * registration cache (mr_cache.c), and its seams for white-box tests and
 * benchmarks.
 */
#ifndef DAXMAP_PIN_RDMA_H
#define DAXMAP_PIN_RDMA_H

#include <stddef.h>
#include <stdint.h>

#include "daxmap.h"

struct ibv_pd;
struct ibv_mr;

/* The verbs calls the backend makes, as ibv_reg_mr()/ibv_dereg_mr():
 * reg_mr returns NULL with errno set, dereg_mr 0 or an errno value.
 * query_odp gives the device's on-demand-paging capabilities
 * (ibv_query_device_ex(): odp_caps.general_caps) and its name, 0 or an
 * errno value; NULL in a replacement: no ODP. */
struct rdma_verbs {
	struct ibv_mr *(*reg_mr)(struct ibv_pd *pd, void *addr, size_t len, int access);
	int (*dereg_mr)(struct ibv_mr *mr);
	int (*query_odp)(struct ibv_pd *pd, uint64_t *general_caps, char *name, size_t size);
};

/* The backend a registration with these access flags is counted under:
 * DAXMAP_PIN_RDMA_ODP with IBV_ACCESS_ON_DEMAND, else DAXMAP_PIN_RDMA. */
enum daxmap_pin_backend rdma_backend_of(int access);
/* An ODP registration on pd: 0 when its device offers on-demand paging,
 * else -EOPNOTSUPP saying so (before the kernel is asked). */
int rdma_odp_check(struct ibv_pd *pd);

/* Replace the verbs calls (NULL: the real ones). Tests only, with no pin
 * or cache operation running. */
void rdma_set_verbs(const struct rdma_verbs *verbs);

/* ibv_reg_mr() through the seam. */
struct ibv_mr *rdma_reg(struct ibv_pd *pd, void *addr, size_t len, int access);
/* ibv_dereg_mr() through the seam; 0 or -errno with a message. */
int rdma_dereg(struct ibv_mr *mr);
/*
 * Bumped in every fork()ed child: an MR registered under another value
 * belongs to an ancestor's verbs context and is never deregistered here.
 * A load, not getpid() (a syscall since glibc 2.25): the cache's hit path
 * checks it.
 */
extern unsigned rdma_fork_generation;
static inline unsigned rdma_fork_gen(void)
{
	return __atomic_load_n(&rdma_fork_generation, __ATOMIC_RELAXED);
}
/* rdma_fork_gen(), having made sure forks are counted from now on. */
unsigned rdma_fork_track(void);

/* The likely reason the kernel refused to register len bytes with access
 * flags and errno err, in words, into buf. */
const char *rdma_refusal_reason(int err, uint64_t len, int access, char *buf, size_t size);
/* The kernel refused ibv_reg_mr() of [offset, +len) of map: -err, with
 * the numbers and the likely reason. */
int rdma_refused(int err, const struct daxmap_map *map, uint64_t offset, uint64_t len,
		 int access);

#endif
