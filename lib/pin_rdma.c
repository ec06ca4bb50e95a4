/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pin_rdma.c -- the RDMA pin backend (rdma-core): daxmap_pin_rdma() and
 * what its registration cache (mr_cache.c) shares with it: the verbs calls,
 * the fork generation, the kernel's refusals.
 *
 * daxmap_pin_rdma(): the pin's checks and references first (pin.h), then
 * ibv_reg_mr(); daxmap_unpin() deregisters first (the backend's unpin
 * hook), so the extents can only be freed once the device cannot reach
 * them.
 *
 * Kernel facts this relies on:
 * - drivers/infiniband/core/umem.c ib_umem_get(): pins the pages with
 *   pin_user_pages_fast(FOLL_LONGTERM) and charges them to mm->pinned_vm
 *   (VmPin) against RLIMIT_MEMLOCK unless the process has CAP_IPC_LOCK
 *   (-ENOMEM past it). Device-dax pages are charged like any other.
 * - mm/gup.c check_vma_flags(): FOLL_LONGTERM on fsdax is -EOPNOTSUPP;
 *   devdax is allowed (seen with soft-RoCE on 6.1, 6.12 and 7.3).
 * - IBV_ACCESS_ON_DEMAND (drivers/infiniband/core/umem_odp.c) pins
 *   nothing: the device faults pages in through mmu notifiers. Such a pin
 *   is counted as DAXMAP_PIN_RDMA_ODP, has its own rule (pin_rules.c), and
 *   needs a device that offers ODP (7.3's rxe does; 6.1's and 6.12's do
 *   not).
 * - uverbs objects belong to the open file, not to the process: a fork()ed
 *   child shares its parent's verbs fd, so an ibv_dereg_mr() there would
 *   destroy the parent's MR. A child never deregisters what it inherited
 *   (the fork generation below). Region mappings are MAP_SHARED and
 *   MADV_DONTFORK: fork() never copy-on-write-breaks a registered page, and
 *   the child has no mapping of it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>

#include "daxmap.h"
#include "error.h"
#include "map.h"
#include "pin.h"
#include "pin_rdma.h"
#include "pin_rules.h"
#include "util.h"


/* ---- the verbs calls (a seam for the unit tests) ------------------------ */

static struct ibv_mr *real_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	return ibv_reg_mr(pd, addr, len, access);
}

static int real_dereg_mr(struct ibv_mr *mr)
{
	return ibv_dereg_mr(mr);
}

static int real_query_odp(struct ibv_pd *pd, uint64_t *general_caps, char *name, size_t size)
{
	struct ibv_device_attr_ex attr;
	int rc;

	memset(&attr, 0, sizeof(attr));
	snprintf(name, size, "%s", ibv_get_device_name(pd->context->device));
	if ((rc = ibv_query_device_ex(pd->context, NULL, &attr)))
		return rc;
	*general_caps = attr.odp_caps.general_caps;
	return 0;
}

static const struct rdma_verbs real_verbs = { real_reg_mr, real_dereg_mr, real_query_odp };
static const struct rdma_verbs *verbs = &real_verbs;

void rdma_set_verbs(const struct rdma_verbs *v)
{
	verbs = v ? v : &real_verbs;
}

struct ibv_mr *rdma_reg(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	return verbs->reg_mr(pd, addr, len, access);
}

enum daxmap_pin_backend rdma_backend_of(int access)
{
	return access & IBV_ACCESS_ON_DEMAND ? DAXMAP_PIN_RDMA_ODP : DAXMAP_PIN_RDMA;
}

/*
 * The device decides whether ODP exists at all: ib_uverbs refuses
 * IBV_ACCESS_ON_DEMAND on a device without IB_DEVICE_ON_DEMAND_PAGING, with
 * EINVAL or EOPNOTSUPP depending on the kernel (6.1's and 6.12's rxe), which
 * reads like an access-flag or fsdax refusal; asked first, it says so.
 */
int rdma_odp_check(struct ibv_pd *pd)
{
	uint64_t caps = 0;
	char name[64] = "the device";
	int rc = verbs->query_odp ? verbs->query_odp(pd, &caps, name, sizeof(name)) : 0;

	if (rc)
		return daxmap_err(rc, "rdma: cannot ask %s for its on-demand-paging capabilities "
				  "(ibv_query_device_ex(): %s)", name, strerror(rc));
	if (!(caps & IBV_ODP_SUPPORT))
		return daxmap_err(EOPNOTSUPP,
				  "rdma: %s offers no on-demand paging (ibv_query_device_ex(): "
				  "odp_caps.general_caps lacks IBV_ODP_SUPPORT), so IBV_ACCESS_ON_DEMAND "
				  "cannot be registered; register without it (a long-term pin: devdax only)",
				  name);
	return 0;
}

/* ---- fork ----------------------------------------------------------------- */

unsigned rdma_fork_generation; /* rdma_fork_gen() */
static pthread_once_t rdma_once = PTHREAD_ONCE_INIT;

static void rdma_atfork_child(void)
{
	__atomic_add_fetch(&rdma_fork_generation, 1, __ATOMIC_RELAXED);
}

static void rdma_init(void)
{
	pthread_atfork(NULL, NULL, rdma_atfork_child);
}

unsigned rdma_fork_track(void)
{
	pthread_once(&rdma_once, rdma_init);
	return rdma_fork_gen();
}


/* ---- kernel refusals ------------------------------------------------------ */

/* Bytes this process has pinned (VmPin: ib_umem_get() adds to it). */
static uint64_t vm_pinned(void)
{
	unsigned long long kb = 0;
	char v[64];

	if (proc_status("VmPin", v, sizeof(v)) == 0)
		sscanf(v, "%llu", &kb);
	return (uint64_t)kb << 10;
}

const char *rdma_refusal_reason(int err, uint64_t len, int access, char *buf, size_t size)
{
	char lim[48], sz[48], pinned[48];
	bool unlimited;

	switch (err) {
	case ENOMEM:
	case EAGAIN:
		unlimited = strcmp(fmt_memlock(lim, sizeof(lim)), "unlimited") == 0;
		fmt_size(sz, sizeof(sz), len);
		fmt_size(pinned, sizeof(pinned), vm_pinned());
		if (has_cap_ipc_lock() == 1 || unlimited)
			snprintf(buf, size,
				 "the kernel or the device is out of memory for the MR (RLIMIT_MEMLOCK, "
				 "%s, does not apply: %s); check the device's max_mr and max_mr_size "
				 "(ibv_devinfo -v)",
				 lim, unlimited ? "unlimited" : "this process has CAP_IPC_LOCK");
		else
			snprintf(buf, size,
				 "RLIMIT_MEMLOCK: without CAP_IPC_LOCK the kernel charges every "
				 "registered page to the locked-memory limit (ib_umem_get(), "
				 "drivers/infiniband/core/umem.c), now %s, with %s pinned already "
				 "(VmPin) and %s asked; raise it (ulimit -l, setrlimit, systemd "
				 "LimitMEMLOCK=) or grant CAP_IPC_LOCK",
				 lim, pinned, sz);
		break;
	case EOPNOTSUPP:
		if (access & IBV_ACCESS_ON_DEMAND)
			snprintf(buf, size,
				 "the device offers on-demand paging, but its driver on this kernel does "
				 "not take an ODP MR of this memory (ODP takes no long-term pin, so "
				 "FOLL_LONGTERM is not the cause); register without "
				 "IBV_ACCESS_ON_DEMAND on devdax");
		else
			snprintf(buf, size,
				 "FOLL_LONGTERM refused: GUP does not pin fsdax pages long-term "
				 "(mm/gup.c check_vma_flags()), nor, since Linux 6.5, page-cache file "
				 "pages that need dirty tracking; or the device does not support the "
				 "access flags (IBV_ACCESS_RELAXED_ORDERING)");
		break;
	case EFAULT:
		snprintf(buf, size,
			 "the pages could not be pinned: GUP refused FOLL_LONGTERM for this memory "
			 "(mm/gup.c), or part of the range is not mapped with the protection the "
			 "access needs (a released region's mapping is PROT_NONE)");
		break;
	case EINVAL:
		if (access & IBV_ACCESS_ON_DEMAND) {
			snprintf(buf, size,
				 "the driver refused IBV_ACCESS_ON_DEMAND with these access flags (its "
				 "per-transport ODP capabilities, ibv_devinfo -v, may lack them), or an "
				 "invalid protection domain");
			break;
		}
		snprintf(buf, size,
			 "invalid access flags (IBV_ACCESS_REMOTE_WRITE and IBV_ACCESS_REMOTE_ATOMIC "
			 "need IBV_ACCESS_LOCAL_WRITE) or an invalid protection domain");
		break;
	case EACCES:
	case EPERM:
		snprintf(buf, size,
			 "write access asked on a read-only mapping (a device opened "
			 "DAXMAP_DEV_RDONLY), or flags the device does not allow");
		break;
	default:
		snprintf(buf, size, "none known (see ibv_reg_mr(3))");
		break;
	}
	return buf;
}

int rdma_refused(int err, const struct daxmap_map *map, uint64_t offset, uint64_t len,
		 int access)
{
	char why[512], sz[48], what[160];

	rdma_refusal_reason(err, len, access, why, sizeof(why));
	snprintf(what, sizeof(what), "ibv_reg_mr() of %s at offset 0x%" PRIx64 " of a %s mapping (access 0x%x)",
		 fmt_size(sz, sizeof(sz), len), offset,
		 daxmap_kind_name(daxmap_dev_kind(map_dev(map))), access);
	return pin_refused(err, "rdma", what, why);
}

int rdma_dereg(struct ibv_mr *mr)
{
	int rc = verbs->dereg_mr(mr);

	if (rc)
		return daxmap_err(rc,
				  "rdma: ibv_dereg_mr() failed: %s; the MR may stay registered "
				  "(memory windows still bound to it?)",
				  strerror(rc));
	return 0;
}

/* ---- daxmap_pin_rdma() ---------------------------------------------------- */

struct rdma_pin {
	struct ibv_mr *mr;
	unsigned gen;   /* fork generation of the registering process */
};

static int rdma_unpin(struct daxmap_pin *pin, void *data)
{
	struct rdma_pin *rp = data;
	struct ibv_mr *mr = rp->mr;

	(void)pin;
	rp->mr = NULL;
	/* a fork()ed child's copy: the MR is its parent's */
	if (!mr || rp->gen != rdma_fork_gen())
		return 0;
	return rdma_dereg(mr);
}

static void rdma_free(void *data)
{
	free(data);
}

static const struct pin_backend_ops rdma_ops = { rdma_unpin, rdma_free };

DAXMAP_EXPORT int daxmap_pin_rdma(struct daxmap_pin **pinp, struct daxmap_map *map,
				  uint64_t offset, uint64_t len, struct ibv_pd *pd, int access,
				  daxmap_revoke_fn revoke, void *arg)
{
	struct daxmap_pin *p = NULL;
	struct rdma_pin *rp;
	struct ibv_mr *mr;
	int rc;

	if ((rc = pin_begin(pinp, pinp && map && pd, "daxmap_pin_rdma", "pinp, map and pd", map,
			    offset, len, rdma_backend_of(access))))
		return rc;
	if ((access & IBV_ACCESS_ON_DEMAND) && (rc = rdma_odp_check(pd)))
		return rc;
	if (!(rp = calloc(1, sizeof(*rp))))
		return daxmap_err(ENOMEM, "out of memory");
	rp->gen = rdma_fork_track();
	/* the references first, as the kernel takes a page reference before
	 * a device may use the page; *pinp is set before a callback can run */
	if ((rc = pin_take(pinp, map, offset, len, rdma_backend_of(access), revoke, arg))) {
		rdma_free(rp);
		return rc;
	}
	p = *pinp;
	/* nothing else can release p yet: revoke waits for pin_ready() */
	pin_set_backend(p, &rdma_ops, rp);
	errno = 0;
	mr = rdma_reg(pd, (char *)daxmap_map_addr(map) + offset, len, access);
	if (!mr) {
		int err = errno ? errno : EIO;

		*pinp = NULL;
		pin_release(p);
		return rdma_refused(err, map, offset, len, access);
	}
	rp->mr = mr;
	if ((rc = pin_ready(p))) {
		/* marked for release meanwhile: as if the call came after */
		*pinp = NULL;
		pin_release(p);
		return daxmap_err_prefix(ESTALE, "rdma: [0x%" PRIx64 ", +0x%" PRIx64 ")",
					 offset, len);
	}
	return 0;
}

DAXMAP_EXPORT struct ibv_mr *daxmap_pin_mr(const struct daxmap_pin *pin)
{
	const struct rdma_pin *rp;

	if (!pin || (daxmap_pin_backend(pin) != DAXMAP_PIN_RDMA &&
		     daxmap_pin_backend(pin) != DAXMAP_PIN_RDMA_ODP))
		return NULL;
	rp = pin_backend_data(pin);
	return rp ? rp->mr : NULL;
}
