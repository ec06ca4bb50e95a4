/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_caches_rig.c -- UCX's and libfabric's registration caches over a
 * region, on real device-DAX and soft-RoCE: an MR they keep after the
 * application let go of it holds a release (the kernel lists it), and
 * with daxmap_ucx_hook() / daxmap_fabric_hook() a release drops it: once
 * the remove returns, the kernel lists no MR over the range and its rkey
 * is gone. Runs inside the QEMU rig (tests/vm/run); elsewhere it exits 77.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_errno.h>
#include <ucp/api/ucp.h>

#include <daxmap.h>

#include "helpers.h"
#include "rig.h"

RIG_SKIP_UNLESS(getenv("DAXMAP_TEST_DEVDAX_2M") && getenv("DAXMAP_TEST_RXE"),
		"device-DAX and soft-RoCE")

/* A key as `rdma -j` prints it: a number, or a string "0x..." */
static unsigned key_at(const char *f)
{
	f = strchr(f, ':') + 1;
	if (*f == '"')
		f++;
	return (unsigned)strtoul(f, NULL, 0);
}

/*
 * The MRs of this process the kernel lists over [addr, addr + len), as
 * `rdma resource show mr` reads them (JSON): how many, and the rkey of the
 * last one (root sees keys).
 */
static int mrs_over(const void *addr, size_t len, unsigned *rkey)
{
	char *out, *p, pid[32];
	int n = 0;

	cr_assert_eq(run_capture("rdma -j resource show mr", &out), 0);
	snprintf(pid, sizeof(pid), "\"pid\":%d", (int)getpid());
	for (p = out; (p = strchr(p, '{'));) {
		char *end = strchr(p, '}'), *f;
		unsigned long long iova = 0, mrlen = 0;

		if (!end)
			break;
		*end = '\0';
		if (strstr(p, pid) && (f = strstr(p, "\"iova\":")) &&
		    sscanf(f, "\"iova\":%llu", &iova) == 1 && (f = strstr(p, "\"mrlen\":")) &&
		    sscanf(f, "\"mrlen\":%llu", &mrlen) == 1 &&
		    iova < (uintptr_t)addr + len && (uintptr_t)addr < iova + mrlen) {
			n++;
			if (rkey && (f = strstr(p, "\"rkey\":")))
				*rkey = key_at(f);
		}
		p = end + 1;
	}
	free(out);
	return n;
}

/* Is an MR with that rkey listed at all? */
static bool rkey_listed(unsigned rkey)
{
	char *out, *f;
	bool there = false;

	cr_assert_eq(run_capture("rdma -j resource show mr", &out), 0);
	for (f = out; !there && (f = strstr(f, "\"rkey\":")); f++)
		there = key_at(f) == rkey;
	free(out);
	return there;
}

/* ---- UCX ----------------------------------------------------------------- */

static ucp_context_h ucx_init(void)
{
	ucp_params_t p = { .field_mask = UCP_PARAM_FIELD_FEATURES, .features = UCP_FEATURE_RMA };
	ucp_config_t *cfg;
	ucp_context_h ctx;
	char dev[64];

	snprintf(dev, sizeof(dev), "%s:1", getenv("DAXMAP_TEST_RXE"));
	setenv("UCX_NET_DEVICES", dev, 1);
	cr_assert_eq(ucp_config_read(NULL, NULL, &cfg), UCS_OK);
	cr_assert_eq(ucp_init(&p, cfg, &ctx), UCS_OK);
	ucp_config_release(cfg);
	return ctx;
}

/* ucp_mem_map() of a region mapping, then ucp_mem_unmap(): UCX keeps the
 * MR in its registration cache. */
static void ucx_register_and_let_go(ucp_context_h ctx, struct daxmap_map *m, unsigned *rkey)
{
	ucp_mem_map_params_t p = {
		.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH,
		.address = daxmap_map_addr(m), .length = daxmap_map_len(m),
	};
	ucp_mem_h memh;

	cr_assert_eq(ucp_mem_map(ctx, &p, &memh), UCS_OK);
	cr_assert_gt(mrs_over(p.address, p.length, rkey), 0, "ucp_mem_map registered nothing over rxe");
	cr_assert_eq(ucp_mem_unmap(ctx, memh), UCS_OK);
	cr_assert_gt(mrs_over(p.address, p.length, NULL), 0,
		     "UCX let its MR go at ucp_mem_unmap(): no registration cache here");
}

static struct daxmap_pool *pool_with_region(struct daxmap_dev **dev, struct daxmap_map **m)
{
	struct daxmap_pool *pool;

	*dev = open_dev(getenv("DAXMAP_TEST_DEVDAX_2M"));
	pool = rig_fresh_pool(*dev, NULL);
	cr_assert_eq(daxmap_region_create(pool, "r", 8 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_map(m, pool, "r", 0), 0, "%s", daxmap_errormsg());
	return pool;
}

Test(caches_rig, a_ucx_cached_mr_holds_the_remove_without_the_hook, .timeout = 300)
{
	struct daxmap_dev *dev;
	struct daxmap_map *m;
	struct daxmap_pool *pool = pool_with_region(&dev, &m);
	ucp_context_h ctx = ucx_init();
	char want[64];

	ucx_register_and_let_go(ctx, m, NULL);
	/* the measured defect: the remove returned 0 with this MR live */
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), -EBUSY);
	snprintf(want, sizeof(want), "pid %d (", (int)getpid());
	cr_assert(strstr(daxmap_errormsg(), want) && strstr(daxmap_errormsg(), "RDMA MR on"), "%s",
		  daxmap_errormsg());
	/* UCX deregisters everything at cleanup: then the release finishes */
	ucp_cleanup(ctx);
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), 0, "%s", daxmap_errormsg());
	daxmap_map_delete(&m);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(caches_rig, with_the_ucx_hook_a_remove_drops_ucx_cached_mrs, .timeout = 300)
{
	struct daxmap_dev *dev;
	struct daxmap_map *m;
	struct daxmap_pool *pool = pool_with_region(&dev, &m);
	ucp_context_h ctx = ucx_init();
	void *addr = daxmap_map_addr(m);
	size_t len = daxmap_map_len(m);
	unsigned rkey = 0;

	cr_assert_eq(daxmap_ucx_hook(ctx, 0), 0, "%s", daxmap_errormsg());
	ucx_register_and_let_go(ctx, m, &rkey);
	cr_assert_eq(daxmap_region_remove(pool, "r", 5000), 0, "%s", daxmap_errormsg());
	cr_assert_eq(mrs_over(addr, len, NULL), 0, "an MR over the released range is still listed");
	cr_assert(!rkey_listed(rkey), "rkey %#x still names an MR", rkey);
	/* a mapping a process deletes goes from UCX's cache too */
	cr_assert_eq(daxmap_region_create(pool, "s", 8 * MiB, NULL), 0);
	daxmap_map_delete(&m);
	cr_assert_eq(daxmap_region_map(&m, pool, "s", 0), 0, "%s", daxmap_errormsg());
	addr = daxmap_map_addr(m);
	ucx_register_and_let_go(ctx, m, NULL);
	daxmap_map_delete(&m);
	cr_assert_eq(mrs_over(addr, len, NULL), 0, "UCX kept its MR after the region was unmapped");
	cr_assert_eq(daxmap_region_remove(pool, "s", 0), 0, "%s", daxmap_errormsg());
	daxmap_ucx_unhook();
	ucp_cleanup(ctx);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(caches_rig, the_ucx_hook_refuses_unknown_flags)
{
	cr_assert_eq(daxmap_ucx_hook(NULL, 0x80), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "unknown flags"), "%s", daxmap_errormsg());
}

/* ---- libfabric ----------------------------------------------------------- */

struct fab {
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
};

/* The verbs provider on the rig's rxe (it needs an IP address there). */
static void fab_open(struct fab *f)
{
	struct fi_info *hints = fi_allocinfo();
	int rc;

	cr_assert_eq(system("ip addr add 10.233.0.1/24 dev dummy0 2>/dev/null; true"), 0);
	hints->fabric_attr->prov_name = strdup("verbs");
	hints->ep_attr->type = FI_EP_MSG;
	hints->caps = FI_RMA;
	hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
	rc = fi_getinfo(FI_VERSION(1, 13), NULL, NULL, 0, hints, &f->info);
	fi_freeinfo(hints);
	cr_assert_eq(rc, 0, "fi_getinfo(verbs): %s", fi_strerror(-rc));
	cr_assert_eq(fi_fabric(f->info->fabric_attr, &f->fabric, NULL), 0);
	cr_assert_eq(fi_domain(f->fabric, f->info, &f->domain, NULL), 0);
}

static void fab_close(struct fab *f)
{
	fi_close(&f->domain->fid);
	fi_close(&f->fabric->fid);
	fi_freeinfo(f->info);
}

Test(caches_rig, with_the_libfabric_monitor_a_remove_drops_its_cached_mrs, .timeout = 300)
{
	struct daxmap_dev *dev;
	struct daxmap_map *m;
	struct daxmap_pool *pool;
	struct fid_mr *mr;
	struct fab f;
	void *addr;
	size_t len;
	unsigned rkey = 0;

	/* the monitor first: domains bind their caches to it when opened */
	cr_assert_eq(daxmap_fabric_hook_domain(NULL), -EINVAL);
	cr_assert_eq(daxmap_fabric_hook(), 0, "%s", daxmap_errormsg());
	pool = pool_with_region(&dev, &m);
	addr = daxmap_map_addr(m);
	len = daxmap_map_len(m);
	fab_open(&f);
	cr_assert_eq(daxmap_fabric_hook_domain(f.domain), 0, "%s", daxmap_errormsg());
	cr_assert_eq(fi_mr_reg(f.domain, addr, len, FI_REMOTE_WRITE | FI_REMOTE_READ, 0, 0, 0, &mr,
			       NULL), 0);
	cr_assert_gt(mrs_over(addr, len, &rkey), 0);
	fi_close(&mr->fid);
	/* kept by the cache (FI_MR_CACHE_MAX_COUNT) after the close */
	cr_assert_gt(mrs_over(addr, len, NULL), 0, "libfabric cached nothing here");
	cr_assert_eq(daxmap_region_remove(pool, "r", 5000), 0, "%s", daxmap_errormsg());
	cr_assert_eq(mrs_over(addr, len, NULL), 0, "an MR over the released range is still listed");
	cr_assert(!rkey_listed(rkey), "rkey %#x still names an MR", rkey);
	daxmap_map_delete(&m);
	fab_close(&f);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}
