/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rdma_nl.h -- the memory registrations the kernel's RDMA resource
 * tracking reports (RDMA netlink, RDMA_NL_NLDEV: what `rdma resource show
 * mr` reads): which process, which virtual range. Whoever made them: the
 * library's own pins, UCX, libfabric, perftest.
 */
#ifndef DAXMAP_RDMA_NL_H
#define DAXMAP_RDMA_NL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct nlmsghdr;

struct rdma_mr {
	char dev[64];      /* "rxe0" */
	uint32_t pid;      /* 0: a kernel MR */
	uint64_t iova;     /* the registered virtual address */
	uint64_t len;
	uint32_t mrn;      /* the kernel's resource id */
	bool has_iova;     /* the kernel reported it (it may not) */
};

struct rdma_mrs {
	struct rdma_mr *v;
	size_t n;
};

/*
 * Every user MR of every RDMA device, into mrs (rdma_mrs_free() it). 0
 * (none when the kernel has no RDMA core loaded), or -errno with a message
 * saying why the registrations cannot be read (-EOPNOTSUPP: built without
 * libnl-3).
 */
int rdma_nl_mrs(struct rdma_mrs *mrs);
void rdma_mrs_free(struct rdma_mrs *mrs);

/*
 * Parse one RDMA_NLDEV_CMD_RES_MR_GET answer message, appending its MRs to
 * mrs. 0, or -EINVAL (not such a message) / -ENOMEM. Kept apart so recorded
 * kernel answers can be parsed without a kernel.
 */
int rdma_nl_parse_mr_msg(const struct nlmsghdr *nlh, struct rdma_mrs *mrs);
/* Parse one RDMA_NLDEV_CMD_GET answer: the device's index. 0 or -EINVAL. */
int rdma_nl_parse_dev_msg(const struct nlmsghdr *nlh, uint32_t *index, char name[64]);

#endif
