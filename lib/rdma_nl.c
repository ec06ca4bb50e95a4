/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rdma_nl.c -- the kernel's RDMA resource tracking, read over RDMA
 * netlink with libnl-3 (rdma_nl.h), as `rdma resource show mr` reads it:
 * RDMA_NLDEV_CMD_GET lists the devices, RDMA_NLDEV_CMD_RES_MR_GET (one
 * dump per device, which the kernel requires: nldev res_get_common_dumpit()
 * refuses a dump without RDMA_NLDEV_ATTR_DEV_INDEX) their MRs. Each MR
 * entry carries the owner's pid in the reader's pid namespace, the length
 * and the MR's number (drivers/infiniband/core/nldev.c,
 * fill_res_mr_entry()); keys only for CAP_NET_ADMIN. Older kernels also
 * gave the iova, to CAP_NET_ADMIN; 6.1 gives none: has_iova says which.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <rdma/rdma_netlink.h>

#include "error.h"
#include "rdma_nl.h"

static int mr_entry(struct nlattr *entry, const char *dev, struct rdma_mrs *mrs)
{
	struct nlattr *tb[RDMA_NLDEV_ATTR_MAX];
	struct rdma_mr *v, *mr;

	if (nla_parse_nested(tb, RDMA_NLDEV_ATTR_MAX - 1, entry, NULL) < 0 ||
	    !tb[RDMA_NLDEV_ATTR_RES_MRLEN])
		return -EINVAL;
	/* a kernel MR (no pid, a kernel owner's name) holds no user memory */
	if (!tb[RDMA_NLDEV_ATTR_RES_PID])
		return 0;
	if (!(v = realloc(mrs->v, (mrs->n + 1) * sizeof(*v))))
		return -ENOMEM;
	mrs->v = v;
	mr = &v[mrs->n++];
	memset(mr, 0, sizeof(*mr));
	snprintf(mr->dev, sizeof(mr->dev), "%s", dev);
	mr->pid = nla_get_u32(tb[RDMA_NLDEV_ATTR_RES_PID]);
	mr->len = nla_get_u64(tb[RDMA_NLDEV_ATTR_RES_MRLEN]);
	if (tb[RDMA_NLDEV_ATTR_RES_IOVA]) {
		mr->iova = nla_get_u64(tb[RDMA_NLDEV_ATTR_RES_IOVA]);
		mr->has_iova = true;
	}
	if (tb[RDMA_NLDEV_ATTR_RES_MRN])
		mr->mrn = nla_get_u32(tb[RDMA_NLDEV_ATTR_RES_MRN]);
	return 0;
}

int rdma_nl_parse_mr_msg(const struct nlmsghdr *nlh, struct rdma_mrs *mrs)
{
	struct nlattr *tb[RDMA_NLDEV_ATTR_MAX], *e;
	char dev[64] = "";
	int rem, rc;

	if (nlh->nlmsg_type != RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_RES_MR_GET) ||
	    nlmsg_parse((struct nlmsghdr *)nlh, 0, tb, RDMA_NLDEV_ATTR_MAX - 1, NULL) < 0)
		return -EINVAL;
	if (!tb[RDMA_NLDEV_ATTR_RES_MR])
		return 0; /* a device with no MR */
	if (tb[RDMA_NLDEV_ATTR_DEV_NAME])
		nla_strlcpy(dev, tb[RDMA_NLDEV_ATTR_DEV_NAME], sizeof(dev));
	nla_for_each_nested(e, tb[RDMA_NLDEV_ATTR_RES_MR], rem) {
		if (nla_type(e) == RDMA_NLDEV_ATTR_RES_MR_ENTRY && (rc = mr_entry(e, dev, mrs)))
			return rc;
	}
	return 0;
}

int rdma_nl_parse_dev_msg(const struct nlmsghdr *nlh, uint32_t *index, char name[64])
{
	struct nlattr *tb[RDMA_NLDEV_ATTR_MAX];

	if (nlh->nlmsg_type != RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_GET) ||
	    nlmsg_parse((struct nlmsghdr *)nlh, 0, tb, RDMA_NLDEV_ATTR_MAX - 1, NULL) < 0 ||
	    !tb[RDMA_NLDEV_ATTR_DEV_INDEX])
		return -EINVAL;
	*index = nla_get_u32(tb[RDMA_NLDEV_ATTR_DEV_INDEX]);
	name[0] = '\0';
	if (tb[RDMA_NLDEV_ATTR_DEV_NAME])
		nla_strlcpy(name, tb[RDMA_NLDEV_ATTR_DEV_NAME], 64);
	return 0;
}

struct devs {
	uint32_t idx[64];
	size_t n;
	int rc;
};

static int on_dev(struct nl_msg *msg, void *arg)
{
	struct devs *d = arg;
	char name[64];
	uint32_t i;

	if (rdma_nl_parse_dev_msg(nlmsg_hdr(msg), &i, name) == 0 &&
	    d->n < sizeof(d->idx) / sizeof(d->idx[0]))
		d->idx[d->n++] = i;
	return NL_OK;
}

struct mrs_arg {
	struct rdma_mrs *mrs;
	int rc;
};

static int on_mr(struct nl_msg *msg, void *arg)
{
	struct mrs_arg *a = arg;
	int rc = rdma_nl_parse_mr_msg(nlmsg_hdr(msg), a->mrs);

	if (rc && !a->rc)
		a->rc = rc;
	return NL_OK;
}

/* libnl's error codes, as the errno they stand for where one does */
static int nl_errno(int nlerr)
{
	switch (-nlerr > 0 ? -nlerr : nlerr) {
	case NLE_PERM: return EPERM;
	case NLE_NOACCESS: return EACCES;
	case NLE_OPNOTSUPP: return EOPNOTSUPP;
	case NLE_NOMEM: return ENOMEM;
	case NLE_NODEV: return ENODEV;
	case NLE_INVAL: return EINVAL;
	default: return EIO;
	}
}

static int unreadable(const char *what, int nlerr)
{
	return daxmap_err(nl_errno(nlerr),
			  "RDMA resource tracking (netlink, as `rdma resource show mr`): %s: %s; RDMA registrations made outside the library are not seen",
			  what, nl_geterror(nlerr));
}

/* One dump request of cmd (on device index when idx_attr), its answers
 * to fn. */
static int dump(struct nl_sock *sk, int cmd, const uint32_t *idx, nl_recvmsg_msg_cb_t fn,
		void *arg)
{
	struct nl_msg *msg = nlmsg_alloc_simple(RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, cmd), NLM_F_DUMP);
	int rc;

	if (!msg)
		return -NLE_NOMEM;
	if (idx && (rc = nla_put_u32(msg, RDMA_NLDEV_ATTR_DEV_INDEX, *idx)) < 0) {
		nlmsg_free(msg);
		return rc;
	}
	rc = nl_send_auto(sk, msg);
	nlmsg_free(msg);
	if (rc < 0)
		return rc;
	if ((rc = nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, fn, arg)) < 0)
		return rc;
	return nl_recvmsgs_default(sk);
}

int rdma_nl_mrs(struct rdma_mrs *mrs)
{
	struct devs d = { .n = 0 };
	struct nl_sock *sk;
	int rc;

	mrs->v = NULL;
	mrs->n = 0;
	if (!(sk = nl_socket_alloc()))
		return daxmap_err(ENOMEM, "out of memory");
	/* no NETLINK_RDMA family: the RDMA core (ib_core) is not loaded, so
	 * there is no registration to see */
	if ((rc = nl_connect(sk, NETLINK_RDMA)) < 0) {
		nl_socket_free(sk);
		if (rc == -NLE_PROTO_MISMATCH || rc == -NLE_AF_NOSUPPORT || rc == -NLE_NOADDR)
			return 0;
		return unreadable("socket", rc);
	}
	rc = dump(sk, RDMA_NLDEV_CMD_GET, NULL, on_dev, &d);
	if (rc < 0) {
		nl_socket_free(sk);
		return unreadable("listing the devices", rc);
	}
	for (size_t i = 0; i < d.n; i++) {
		struct mrs_arg a = { mrs, 0 };

		rc = dump(sk, RDMA_NLDEV_CMD_RES_MR_GET, &d.idx[i], on_mr, &a);
		if (rc < 0 || a.rc) {
			nl_socket_free(sk);
			rdma_mrs_free(mrs);
			if (a.rc == -ENOMEM)
				return daxmap_err(ENOMEM, "out of memory");
			return unreadable("listing the MRs", rc < 0 ? rc : -NLE_MSG_TRUNC);
		}
	}
	nl_socket_free(sk);
	return 0;
}

void rdma_mrs_free(struct rdma_mrs *mrs)
{
	free(mrs->v);
	mrs->v = NULL;
	mrs->n = 0;
}
