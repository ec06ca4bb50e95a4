/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_kstate.c -- the kernel's expected counts per extent
 * (daxmap_pool_kernel_refs(), lib/kstate.c) and the VFIO ledger
 * (lib/vfio_ledger.c), on an emulated device (it counts as the devdax
 * device it stands for). The real kernel's counts: tests/vm/test_oracle.c.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <daxmap.h>

#include "helpers.h"
#include "lib/kstate.h"
#include "lib/vfio_ledger.h"

struct kp {
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	const char *path;
};

static struct kp kp_new(void)
{
	struct kp p;

	p.path = make_file(64 * MiB);
	cr_assert_eq(daxmap_dev_open(&p.dev, p.path, 0, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_format(p.dev, 0, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_open(&p.pool, p.dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_create(p.pool, "k", 4 * MiB, NULL), 0, "%s", daxmap_errormsg());
	return p;
}

static void kp_free(struct kp *p)
{
	daxmap_pool_close(p->pool);
	daxmap_dev_close(p->dev);
}

/* extent i of region k, as the kernel should count it */
static struct daxmap_kernel_refs kref(struct kp *p, size_t i)
{
	struct daxmap_kernel_refs *v, k;
	size_t n;

	cr_assert_eq(daxmap_pool_kernel_refs(p->pool, "k", &v, &n), 0, "%s", daxmap_errormsg());
	cr_assert_eq(n, 2);
	k = v[i];
	free(v);
	return k;
}

Test(kstate, idle_and_mappings_per_kernel)
{
	struct kp p = kp_new();
	struct daxmap_map *m1, *m2;
	struct daxmap_kernel_refs k;

	setenv("DAXMAP_KERNEL_VERSION", "6.1", 1);
	k = kref(&p, 0);
	cr_assert_eq(k.refcount, 1);
	cr_assert_eq(k.pincount, 0);
	cr_assert_eq(k.exact, 1);
	cr_assert_eq(k.folio_size, 2 * MiB);
	cr_assert_eq(k.folios, 1);
	cr_assert_eq(daxmap_region_map(&m1, p.pool, "k", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map(&m2, p.pool, "k", 0), 0, "%s", daxmap_errormsg());
	k = kref(&p, 1);
	cr_assert_eq(k.maps, 2);
	cr_assert_eq(k.refcount, 1, "6.1 counts no mapping");
	setenv("DAXMAP_KERNEL_VERSION", "7.3", 1);
	cr_assert_eq(kref(&p, 1).refcount, 3, "7.3: one per mapping");
	daxmap_map_delete(&m2);
	cr_assert_eq(kref(&p, 0).refcount, 2);
	daxmap_map_delete(&m1);
	cr_assert_eq(kref(&p, 0).refcount, 1);
	unsetenv("DAXMAP_KERNEL_VERSION");
	kp_free(&p);
}

Test(kstate, external_pins_are_not_exact)
{
	struct kp p = kp_new();
	struct daxmap_map *m;
	struct daxmap_pin *pin;
	struct daxmap_kernel_refs k;

	cr_assert_eq(daxmap_region_map(&m, p.pool, "k", 0), 0);
	cr_assert_eq(daxmap_pin_external(&pin, m, 0, 4096, NULL, NULL), 0);
	k = kref(&p, 0);
	cr_assert_eq(k.external, 1);
	cr_assert_eq(k.exact, 0);
	cr_assert_eq(kref(&p, 1).exact, 1);
	daxmap_unpin(&pin);
	daxmap_map_delete(&m);
	kp_free(&p);
}

/* A process that died: the kernel dropped its mappings, so they count
 * no more, though the library's own count keeps them until a reclaim. */
Test(kstate, dead_holders_do_not_count)
{
	struct kp p = kp_new();
	struct daxmap_extent_refs *r;
	pid_t pid;
	int st;
	size_t n;

	setenv("DAXMAP_KERNEL_VERSION", "7.3", 1);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct daxmap_dev *d;
		struct daxmap_pool *q;
		struct daxmap_map *m;

		if (daxmap_dev_open(&d, p.path, 0, 0) || daxmap_pool_open(&q, d, 0) ||
		    daxmap_region_map(&m, q, "k", 0))
			_exit(1);
		_exit(0); /* dies holding the mapping */
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert_eq(WEXITSTATUS(st), 0);
	cr_assert_eq(daxmap_pool_refs(p.pool, "k", &r, &n), 0);
	cr_assert_eq(r[0].refcount, 1, "the dead holder is still listed");
	free(r);
	cr_assert_eq(kref(&p, 0).maps, 0);
	cr_assert_eq(kref(&p, 0).refcount, 1);
	unsetenv("DAXMAP_KERNEL_VERSION");
	kp_free(&p);
}

/* VFIO maps of this boot stay counted, per folio, after every process let
 * go, and a map that would overflow a folio is refused. */
Test(kstate, vfio_ledger_and_overflow)
{
	struct kp p = kp_new();
	struct daxmap_kernel_refs k;
	struct ext_run run;
	uint64_t off;

	setenv("DAXMAP_KERNEL_VERSION", "6.1", 1);
	off = kref(&p, 1).offset;
	cr_assert_eq(vfio_ledger_add(p.dev, off, 2 * MiB, 2), 0, "%s", daxmap_errormsg());
	k = kref(&p, 1);
	cr_assert_eq(k.vfio_maps, 2);
	cr_assert_eq(k.vfio_leftover, 2);
	cr_assert_eq(k.refcount, 1 + 2 * 512);
	cr_assert_eq(k.pincount, 2 * 512);
	cr_assert_eq(kref(&p, 0).vfio_maps, 0, "only the folios mapped");
	/* the pool closed and opened again: still there */
	kp_free(&p);
	cr_assert_eq(daxmap_dev_open(&p.dev, p.path, 0, 0), 0);
	cr_assert_eq(daxmap_pool_open(&p.pool, p.dev, 0), 0);
	cr_assert_eq(kref(&p, 1).vfio_maps, 2);
	/* one map short of the overflow: room for one more, not two */
	run = (struct ext_run){ kref(&p, 1).extent, 1 };
	cr_assert_eq(vfio_ledger_add(p.dev, off, 2 * MiB, 4194302 - 2), 0);
	cr_assert_eq(kstate_vfio_room(p.dev, NULL, 2 * MiB, &run, 1), 0, "%s", daxmap_errormsg());
	cr_assert_eq(vfio_ledger_add(p.dev, off, 2 * MiB, 1), 0);
	cr_assert_eq(kref(&p, 1).refcount, 1 + 4194303LL * 512);
	cr_assert_eq(kstate_vfio_room(p.dev, NULL, 2 * MiB, &run, 1), -EOVERFLOW);
	cr_assert(strstr(daxmap_errormsg(), "type1 never unpins device-dax pages") &&
		  strstr(daxmap_errormsg(), "daxctl disable-device"), "%s", daxmap_errormsg());
	/* counts never go below zero */
	cr_assert_eq(vfio_ledger_add(p.dev, off, 2 * MiB, -INT32_MAX), 0);
	cr_assert_eq(vfio_ledger_add(p.dev, off, 2 * MiB, -INT32_MAX), 0);
	cr_assert_eq(kref(&p, 1).vfio_maps, 0);
	unsetenv("DAXMAP_KERNEL_VERSION");
	kp_free(&p);
}

Test(kstate, bad_input)
{
	struct kp p = kp_new();
	struct daxmap_kernel_refs *v = (struct daxmap_kernel_refs *)&p;
	size_t n = 7;

	cr_assert_eq(daxmap_pool_kernel_refs(NULL, NULL, &v, &n), -EINVAL);
	cr_assert_eq(daxmap_pool_kernel_refs(p.pool, NULL, NULL, &n), -EINVAL);
	cr_assert_eq(daxmap_pool_kernel_refs(p.pool, "nosuch", &v, &n), -ENOENT);
	setenv("DAXMAP_KERNEL_VERSION", "junk", 1);
	cr_assert_eq(daxmap_pool_kernel_refs(p.pool, NULL, &v, &n), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "DAXMAP_KERNEL_VERSION"), "%s", daxmap_errormsg());
	unsetenv("DAXMAP_KERNEL_VERSION");
	cr_assert_eq(n, 7, "nothing written on error");
	kp_free(&p);
}
