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

/* A number as `rdma -j` prints it: plain, or a string "0x..." */
static unsigned long long num_at(const char *f)
{
	f = strchr(f, ':') + 1;
	if (*f == '"')
		f++;
	return strtoull(f, NULL, 0);
}

/*
 * This process's MRs as the kernel lists them (`rdma resource show mr`:
 * the kernel gives pid, length, number and, to root, keys; no address):
 * their numbers (mrn) and rkeys, up to max. How many.
 */
struct mrs {
	unsigned mrn[64], rkey[64];
	size_t n;
};

static struct mrs my_mrs(void)
{
	struct mrs m = { .n = 0 };
	char *out, *p, pid[32];

	cr_assert_eq(run_capture("rdma -j resource show mr", &out), 0);
	snprintf(pid, sizeof(pid), "\"pid\":%d,", (int)getpid());
	for (p = out; (p = strchr(p, '{'));) {
		char *end = strchr(p, '}'), *f;

		if (!end)
			break;
		*end = '\0';
		if (strstr(p, pid) && (f = strstr(p, "\"mrn\":")) && m.n < 64) {
			m.mrn[m.n] = (unsigned)num_at(f);
			m.rkey[m.n] = (f = strstr(p, "\"rkey\":")) ? (unsigned)num_at(f) : 0;
			m.n++;
		}
		p = end + 1;
	}
	free(out);
	return m;
}

static bool has_mrn(const struct mrs *m, unsigned mrn)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->mrn[i] == mrn)
			return true;
	return false;
}

/* The MRs of now that were not in before. */
static struct mrs new_mrs(const struct mrs *before)
{
	struct mrs now = my_mrs(), m = { .n = 0 };

	for (size_t i = 0; i < now.n; i++)
		if (!has_mrn(before, now.mrn[i])) {
			m.mrn[m.n] = now.mrn[i];
			m.rkey[m.n++] = now.rkey[i];
		}
	return m;
}

/* None of those MRs is listed any more, nor an MR with one of their rkeys
 * (an rkey the kernel no longer has names no memory). */
static void assert_gone(const struct mrs *those)
{
	struct mrs now = my_mrs();

	for (size_t i = 0; i < those->n; i++) {
		cr_assert(!has_mrn(&now, those->mrn[i]), "MR %u is still registered", those->mrn[i]);
		for (size_t k = 0; k < now.n; k++)
			cr_assert(!those->rkey[i] || now.rkey[k] != those->rkey[i],
				  "rkey %#x still names an MR", those->rkey[i]);
	}
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
 * MR in its registration cache. Its MRs. */
static struct mrs ucx_register_and_let_go(ucp_context_h ctx, struct daxmap_map *m)
{
	ucp_mem_map_params_t p = {
		.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH,
		.address = daxmap_map_addr(m), .length = daxmap_map_len(m),
	};
	struct mrs before = my_mrs(), made;
	ucp_mem_h memh;

	cr_assert_eq(ucp_mem_map(ctx, &p, &memh), UCS_OK);
	made = new_mrs(&before);
	cr_assert_gt(made.n, 0, "ucp_mem_map registered nothing over rxe");
	cr_assert_eq(ucp_mem_unmap(ctx, memh), UCS_OK);
	before = my_mrs();
	cr_assert(has_mrn(&before, made.mrn[0]),
		  "UCX let its MR go at ucp_mem_unmap(): no registration cache here");
	return made;
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

	ucx_register_and_let_go(ctx, m);
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
	struct mrs made;

	cr_assert_eq(daxmap_ucx_hook(ctx, 0), 0, "%s", daxmap_errormsg());
	made = ucx_register_and_let_go(ctx, m);
	cr_assert_eq(daxmap_region_remove(pool, "r", 5000), 0, "%s", daxmap_errormsg());
	assert_gone(&made);
	/* a mapping a process deletes goes from UCX's cache too */
	cr_assert_eq(daxmap_region_create(pool, "s", 8 * MiB, NULL), 0);
	daxmap_map_delete(&m);
	cr_assert_eq(daxmap_region_map(&m, pool, "s", 0), 0, "%s", daxmap_errormsg());
	made = ucx_register_and_let_go(ctx, m);
	daxmap_map_delete(&m);
	assert_gone(&made);
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

	char *why = NULL;

	/* rdma_cm finds rxe by the address of its netdev; the GID table
	 * follows the address a moment later */
	cr_assert_eq(system("ip link set lo up; ip addr add 10.233.0.1/24 dev dummy0 2>/dev/null; true"), 0);
	usleep(1000 * 1000);
	setenv("FI_LOG_LEVEL", "warn", 0);
	hints->fabric_attr->prov_name = strdup("verbs");
	hints->ep_attr->type = FI_EP_MSG;
	hints->caps = FI_RMA;
	hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
	/* rdma_cm resolves the domain from a source address of rxe's netdev */
	rc = fi_getinfo(FI_VERSION(1, 13), "10.233.0.1", NULL, FI_SOURCE, hints, &f->info);
	fi_freeinfo(hints);
	if (rc) {
		/* libfabric's verbs provider sees no domain on this rig: say
		 * why, and skip rather than fail on what is not the library */
		run_capture("fi_info -p verbs 2>&1; ls -l /dev/infiniband 2>&1", &why);
		cr_skip_test("fi_getinfo(verbs): %s; fi_info says: %s", fi_strerror(-rc), why ? why : "");
	}
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
	struct mrs before, made;
	struct fab f;

	/* the monitor first: domains bind their caches to it when opened */
	cr_assert_eq(daxmap_fabric_hook_domain(NULL), -EINVAL);
	cr_assert_eq(daxmap_fabric_hook(), 0, "%s", daxmap_errormsg());
	pool = pool_with_region(&dev, &m);
	fab_open(&f);
	cr_assert_eq(daxmap_fabric_hook_domain(f.domain), 0, "%s", daxmap_errormsg());
	before = my_mrs();
	cr_assert_eq(fi_mr_reg(f.domain, daxmap_map_addr(m), daxmap_map_len(m),
			       FI_REMOTE_WRITE | FI_REMOTE_READ, 0, 0, 0, &mr, NULL), 0);
	made = new_mrs(&before);
	cr_assert_gt(made.n, 0, "fi_mr_reg registered nothing over rxe");
	fi_close(&mr->fid);
	/* kept by the cache after the close */
	before = my_mrs();
	cr_assert(has_mrn(&before, made.mrn[0]), "libfabric cached nothing here");
	cr_assert_eq(daxmap_region_remove(pool, "r", 5000), 0, "%s", daxmap_errormsg());
	assert_gone(&made);
	daxmap_map_delete(&m);
	fab_close(&f);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}
