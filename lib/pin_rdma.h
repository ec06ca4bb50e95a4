/* SPDX-License-Identifier: BSD-3-Clause */
/* pin_rdma.h -- the RDMA backend's seams, for white-box tests and bench */
#ifndef DAXMAP_PIN_RDMA_H
#define DAXMAP_PIN_RDMA_H

#include <stddef.h>
#include <stdint.h>

struct ibv_pd;
struct ibv_mr;

/* The two verbs calls the backend makes, as ibv_reg_mr()/ibv_dereg_mr():
 * reg_mr returns NULL with errno set, dereg_mr 0 or an errno value. */
struct rdma_verbs {
	struct ibv_mr *(*reg_mr)(struct ibv_pd *pd, void *addr, size_t len, int access);
	int (*dereg_mr)(struct ibv_mr *mr);
};

/* Replace the verbs calls (NULL: the real ones). Tests only, with no pin
 * or cache operation running. */
void rdma_set_verbs(const struct rdma_verbs *verbs);

/* The likely reason the kernel refused to register len bytes with errno
 * err, in words, into buf. */
const char *rdma_refusal_reason(int err, uint64_t len, char *buf, size_t size);

#endif
