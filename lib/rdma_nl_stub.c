/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rdma_nl_stub.c -- built without libnl-3 (meson -Drdma-netlink=disabled):
 * the kernel's RDMA resource tracking is not read, and every caller is
 * told so (rdma_nl.h).
 */
#include <errno.h>
#include <stddef.h>

#include "error.h"
#include "rdma_nl.h"

int rdma_nl_mrs(struct rdma_mrs *mrs)
{
	mrs->v = NULL;
	mrs->n = 0;
	return daxmap_err(EOPNOTSUPP,
			  "built without libnl-3: the kernel's RDMA resource tracking is not read, so RDMA registrations made outside the library are not seen");
}

void rdma_mrs_free(struct rdma_mrs *mrs)
{
	mrs->v = NULL;
	mrs->n = 0;
}

int rdma_nl_parse_mr_msg(const struct nlmsghdr *nlh, struct rdma_mrs *mrs)
{
	(void)nlh;
	(void)mrs;
	return -EOPNOTSUPP;
}

int rdma_nl_parse_dev_msg(const struct nlmsghdr *nlh, uint32_t *index, char name[64])
{
	(void)nlh;
	(void)index;
	(void)name;
	return -EOPNOTSUPP;
}
