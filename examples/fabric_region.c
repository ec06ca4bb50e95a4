/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fabric_region.c -- libfabric over a region, with the library's memory
 * monitor in place of libfabric's own (daxmap_fabric_hook()).
 *
 *   fabric_region DEVICE [REGION [ADDRESS]]
 *
 * DEVICE holds a pool (daxmapctl format DEVICE). The program imports the
 * monitor, opens the first domain of the verbs provider (FI_PROVIDER and
 * the other FI_* variables choose), creates REGION (default
 * "fabric-example", 8 MiB; ADDRESS: a local address of the RDMA device's
 * network interface, through which rdma_cm finds the device), maps it, registers it (fi_mr_reg()), closes
 * the MR -- libfabric's cache keeps it -- and removes the region:
 * libfabric is told of the range and drops its MR, so the remove does not
 * wait for it. libfabric's own userfaultfd monitor cannot watch DAX
 * mappings. Build: cc fabric_region.c $(pkg-config --cflags --libs daxmap
 * libfabric).
 */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <daxmap.h>
#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_errno.h>

static int fail(const char *what)
{
	fprintf(stderr, "fabric_region: %s: %s\n", what, daxmap_errormsg());
	return 1;
}

int main(int argc, char **argv)
{
	const char *name = argc > 2 ? argv[2] : "fabric-example";
	struct fi_info *hints, *info = NULL;
	struct fid_fabric *fabric = NULL;
	struct fid_domain *domain = NULL;
	struct daxmap_dev *dev = NULL;
	struct daxmap_pool *pool = NULL;
	struct daxmap_map *map = NULL;
	struct fid_mr *mr;
	int rc = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: fabric_region DEVICE [REGION [ADDRESS]]\n");
		return 2;
	}
	/* first: domains take the monitor in place when they open */
	if (daxmap_fabric_hook() != 0)
		return fail("daxmap_fabric_hook");
	if (!(hints = fi_allocinfo()))
		return 1;
	hints->fabric_attr->prov_name = strdup(getenv("FI_PROVIDER") ? getenv("FI_PROVIDER") : "verbs");
	hints->ep_attr->type = FI_EP_MSG;
	hints->caps = FI_RMA;
	hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
	rc = fi_getinfo(FI_VERSION(1, 13), argc > 3 ? argv[3] : NULL, NULL, argc > 3 ? FI_SOURCE : 0,
			hints, &info);
	fi_freeinfo(hints);
	if (rc || fi_fabric(info->fabric_attr, &fabric, NULL) ||
	    fi_domain(fabric, info, &domain, NULL)) {
		fprintf(stderr, "fabric_region: no domain: %s\n", fi_strerror(rc ? -rc : FI_ENODEV));
		rc = 1;
		goto out;
	}
	rc = 1;
	/* optional: libfabric drops a notified MR at once, not at its next use */
	if (daxmap_fabric_hook_domain(domain) != 0) {
		rc = fail("daxmap_fabric_hook_domain");
		goto out;
	}
	if (daxmap_dev_open(&dev, argv[1], 0, 0) != 0 || daxmap_pool_open(&pool, dev, 0) != 0 ||
	    daxmap_region_create(pool, name, 8 << 20, NULL) != 0 ||
	    daxmap_region_map(&map, pool, name, 0) != 0) {
		rc = fail(argv[1]);
		goto out;
	}
	if (fi_mr_reg(domain, daxmap_map_addr(map), daxmap_map_len(map),
		      FI_REMOTE_READ | FI_REMOTE_WRITE, 0, 0, 0, &mr, NULL) != 0) {
		fprintf(stderr, "fabric_region: fi_mr_reg failed\n");
		goto out;
	}
	printf("registered %" PRIu64 " bytes of region '%s', key %#llx\n", daxmap_map_len(map), name,
	       (unsigned long long)fi_mr_key(mr));
	/* ... RMA with peers ... then done with it: the cache keeps the MR */
	fi_close(&mr->fid);
	if (daxmap_region_remove(pool, name, 5000) != 0) {
		rc = fail("daxmap_region_remove");
	} else {
		printf("removed region '%s': no MR of libfabric holds it\n", name);
		rc = 0;
	}
out:
	daxmap_map_delete(&map);
	if (domain) {
		daxmap_fabric_hook_domain(NULL);
		fi_close(&domain->fid);
	}
	if (fabric)
		fi_close(&fabric->fid);
	fi_freeinfo(info);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
	return rc;
}
