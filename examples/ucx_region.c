/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ucx_region.c -- UCX over a region, with its registration cache told of
 * region ranges that go (daxmap_ucx_hook()).
 *
 *   ucx_region DEVICE [REGION]
 *
 * DEVICE holds a pool (daxmapctl format DEVICE). The program creates
 * REGION (default "ucx-example", 8 MiB), maps it, registers it with UCX
 * (ucp_mem_map(): an RDMA MR on each device UCX uses, UCX_NET_DEVICES
 * chooses), lets go of the registration -- UCX keeps the MR in its cache
 * -- and removes the region. Without the hook, UCX would keep the MR, and
 * with it the region's pages, and the remove would wait for it (or fail
 * with -EBUSY naming the MR). Build: cc ucx_region.c $(pkg-config --cflags
 * --libs daxmap ucx).
 */
#include <stdio.h>
#include <stdlib.h>

#include <daxmap.h>
#include <ucp/api/ucp.h>

static int fail(const char *what)
{
	fprintf(stderr, "ucx_region: %s: %s\n", what, daxmap_errormsg());
	return 1;
}

int main(int argc, char **argv)
{
	const char *name = argc > 2 ? argv[2] : "ucx-example";
	ucp_params_t params = { .field_mask = UCP_PARAM_FIELD_FEATURES,
				.features = UCP_FEATURE_RMA };
	ucp_mem_map_params_t mp = { .field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS |
						 UCP_MEM_MAP_PARAM_FIELD_LENGTH };
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	struct daxmap_map *map;
	ucp_config_t *config;
	ucp_context_h ctx;
	ucp_mem_h memh;
	int rc = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: ucx_region DEVICE [REGION]\n");
		return 2;
	}
	if (ucp_config_read(NULL, NULL, &config) != UCS_OK ||
	    ucp_init(&params, config, &ctx) != UCS_OK) {
		fprintf(stderr, "ucx_region: ucp_init failed\n");
		return 1;
	}
	ucp_config_release(config);
	/* before any region range goes: UCX hears of each, and acts at once */
	if (daxmap_ucx_hook(ctx, 0) != 0) {
		rc = fail("daxmap_ucx_hook");
		goto out_ucx;
	}
	if (daxmap_dev_open(&dev, argv[1], 0, 0) != 0) {
		rc = fail(argv[1]);
		goto out_hook;
	}
	if (daxmap_pool_open(&pool, dev, 0) != 0) {
		rc = fail("daxmap_pool_open");
		goto out_dev;
	}
	if (daxmap_region_create(pool, name, 8 << 20, NULL) != 0 ||
	    daxmap_region_map(&map, pool, name, 0) != 0) {
		rc = fail(name);
		goto out_pool;
	}
	mp.address = daxmap_map_addr(map);
	mp.length = daxmap_map_len(map);
	if (ucp_mem_map(ctx, &mp, &memh) != UCS_OK) {
		fprintf(stderr, "ucx_region: ucp_mem_map failed\n");
		daxmap_map_delete(&map);
		goto out_pool;
	}
	printf("registered %zu bytes of region '%s' at %p with UCX\n", mp.length, name, mp.address);
	/* ... RMA with peers ... then done with it: UCX caches the MR */
	ucp_mem_unmap(ctx, memh);
	/* the remove zaps this process's mapping: UCX drops its MR first */
	if (daxmap_region_remove(pool, name, 5000) != 0) {
		rc = fail("daxmap_region_remove");
	} else {
		printf("removed region '%s': no MR of UCX holds it\n", name);
		rc = 0;
	}
	daxmap_map_delete(&map);
out_pool:
	daxmap_pool_close(pool);
out_dev:
	daxmap_dev_close(dev);
out_hook:
	daxmap_ucx_unhook();
out_ucx:
	ucp_cleanup(ctx);
	return rc;
}
