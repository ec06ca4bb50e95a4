/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_pools.c -- pools on real device-DAX (NVDIMM 2 MiB and 1 GiB) and on
 * an fsdax file: regions whose extents are apart on the device, contiguous
 * in memory, across a close and an open; and a mapping in another process
 * holding a removal up. Runs inside the QEMU rig (tests/vm/run sets
 * DAXMAP_TEST_*); anywhere else it exits 77, Meson's "skipped", and says why.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <daxmap.h>

#include "child.h"
#include "helpers.h"
#include "rig.h"

static void pool_round_trip(const char *path)
{
	struct daxmap_dev *dev = open_dev(path);
	struct daxmap_pool *pool;
	struct daxmap_pool_stat st;
	struct daxmap_map *map;
	uint64_t es, actual;
	char *a;

	pool = rig_fresh_pool(dev, &st);
	es = st.extent_size;
	cr_assert_eq(es, daxmap_dev_align(dev));
	cr_assert_eq(daxmap_region_create(pool, "a", es, NULL), 0, "%s", daxmap_errormsg());
	/* with room, b sits between a's extents (the 1 GiB device has 2) */
	if (st.extents_free >= 3)
		cr_assert_eq(daxmap_region_create(pool, "b", es, NULL), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_resize(pool, "a", 2 * es, &actual, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(actual, 2 * es);
	/* a's two extents are apart on the device, contiguous in memory */
	cr_assert_eq(daxmap_region_map(&map, pool, "a", 0), 0, "%s", daxmap_errormsg());
	a = daxmap_map_addr(map);
	cr_assert_eq((uintptr_t)a % daxmap_dev_align(dev), 0);
	daxmap_map_memcpy(map, a + es - 3, "seam", 5, 0);
	daxmap_map_delete(&map);
	daxmap_pool_close(pool);
	cr_assert_eq(daxmap_pool_check(dev, 0, NULL, NULL), 0);
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map(&map, pool, "a", 0), 0);
	cr_assert_str_eq((char *)daxmap_map_addr(map) + es - 3, "seam");
	daxmap_map_delete(&map);
	cr_assert_eq(daxmap_region_remove(pool, "a", 0), 0);
	if (st.extents_free >= 3)
		cr_assert_eq(daxmap_region_remove(pool, "b", 0), 0);
	{
		struct daxmap_pool_stat end;

		cr_assert_eq(daxmap_pool_stat(pool, &end), 0);
		cr_assert_eq(end.extents_used, 0);
	}
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

ParameterizedTestParameters(pool, regions_round_trip)
{
	static struct rig_dev devs[] = {
		{ "DAXMAP_TEST_DEVDAX_2M" },
		{ "DAXMAP_TEST_DEVDAX_1G" },
		{ "DAXMAP_TEST_FSDAX_DIR" },
	};

	return cr_make_param_array(struct rig_dev, devs, sizeof(devs) / sizeof(devs[0]));
}

/* on an fsdax file of 64 MiB: 2 MiB extents */
ParameterizedTest(struct rig_dev *d, pool, regions_round_trip)
{
	const char *path = rig_path(d, "pool");

	pool_round_trip(path);
	if (strcmp(d->env, "DAXMAP_TEST_FSDAX_DIR") == 0)
		unlink(path);
}

Test(pool, references_on_devdax)
{
	const char *path = env_or_skip("DAXMAP_TEST_DEVDAX_2M");
	struct daxmap_dev *dev = open_dev(path);
	struct daxmap_pool *pool;
	struct daxmap_map *map;
	struct child c;
	char want[64];

	pool = rig_fresh_pool(dev, NULL);
	cr_assert_eq(daxmap_region_create(pool, "shared", 8 * MiB, NULL), 0);
	c = child_mapping(path, "shared");
	cr_assert_eq(daxmap_region_map(&map, pool, "shared", 0), 0);
	/* our own mapping is zapped (PROT_NONE) by our remove, the other
	 * process's is not: it alone blocks the removal */
	cr_assert_eq(daxmap_region_remove(pool, "shared", 0), -EBUSY);
	snprintf(want, sizeof(want), "1 reference(s) still held: pid %d mapping", (int)c.pid);
	cr_assert(strstr(daxmap_errormsg(), want), "%s", daxmap_errormsg());
	/* the other process is killed: the wait drops its references */
	child_kill(&c);
	cr_assert_eq(daxmap_region_remove(pool, "shared", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_map_delete(&map), 0, "%s", daxmap_errormsg());
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

RIG_SKIP_UNLESS(getenv("DAXMAP_TEST_DEVDAX_2M"), "device-DAX")
