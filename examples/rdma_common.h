/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rdma_common.h -- what rdma_server.c and rdma_client.c agree on: the
 * region the server hands out when it accepts a connection, and the
 * messages they exchange. Fields travel in network byte order.
 */
#ifndef RDMA_COMMON_H
#define RDMA_COMMON_H

#include <stdint.h>

#define RDMA_DEFAULT_PORT "7471"

/* The connection's private data when the server accepts (rdma_accept()). */
struct region_info {
	uint64_t addr; /* where the region is mapped in the server */
	uint64_t len;
	uint32_t rkey; /* of the server's MR over it */
	uint32_t pad;
};

enum msg_op {
	MSG_PERSIST = 1,   /* client: make [offset, offset + len) durable */
	MSG_PERSISTED = 2, /* server: done (status 0) or refused (an errno) */
	MSG_REVOKED = 3,   /* server: the region is being removed; the rkey is gone */
};

struct msg {
	uint32_t op;
	uint32_t status;
	uint64_t offset; /* from the start of the region */
	uint64_t len;
};

#endif
