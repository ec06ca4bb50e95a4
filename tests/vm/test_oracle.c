/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_oracle.c -- the kernel as oracle: in each state of an extent, the
 * folio _refcount and _pincount the kernel itself keeps (read from its
 * struct page, tests/vm/kpage.h) equal what daxmap_pool_kernel_refs()
 * says the running kernel should show, exactly.
 *
 * On the hmem devdax, and on the 2 MiB NVDIMM devdax when its namespace
 * keeps its struct pages in RAM (tests/vm/run --devdax-map mem): idle;
 * mapped once; mapped by two processes; plus an RDMA MR (soft-RoCE); the
 * MR after munmap; an io_uring buffer (6.5 on); with --iommu, after a VFIO
 * map and unmap, and after the device was re-enabled (the counts and the
 * library's record of them start over).
 * Runs inside the QEMU rig; anywhere else it exits 77.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <liburing.h>

#include <daxmap.h>

#include "helpers.h"
#include "kpage.h"
#include "rig.h"

struct oracle {
	const char *path;
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	struct kpage *kp;
	uint64_t pfn;      /* the head page of the extent's (first) folio */
	int checks;
};

static void open_pool(struct oracle *o)
{
	o->dev = open_dev(o->path);
	cr_assert_eq(daxmap_pool_open(&o->pool, o->dev, 0), 0, "%s", daxmap_errormsg());
}

static void close_pool(struct oracle *o)
{
	daxmap_pool_close(o->pool);
	daxmap_dev_close(o->dev);
}

/* The kernel's counts of the extent's folio against the library's. */
static void check(struct oracle *o, const char *state)
{
	struct daxmap_kernel_refs *k;
	struct kpage_counts c;
	size_t n;

	cr_assert_eq(kpage_read_pfn(o->kp, o->pfn, &c), 0, "%s: kpage: %s", state, kpage_error());
	cr_assert_eq(daxmap_pool_kernel_refs(o->pool, "o", &k, &n), 0, "%s", daxmap_errormsg());
	cr_assert_eq(n, 1);
	printf("oracle: %s, %s: kernel _refcount %d _pincount %d; library %lld %lld\n", o->path,
	       state, c.refcount, c.pincount, (long long)k->refcount, (long long)k->pincount);
	fflush(stdout);
	cr_assert_eq(c.order, 9, "%s: a 2 MiB folio", state);
	cr_assert_eq(k->exact, 1);
	cr_assert_eq(c.refcount, k->refcount, "%s, %s: _refcount: kernel %d, library %lld", o->path,
		     state, c.refcount, (long long)k->refcount);
	cr_assert_eq(c.pincount, k->pincount, "%s, %s: _pincount: kernel %d, library %lld", o->path,
		     state, c.pincount, (long long)k->pincount);
	free(k);
	o->checks++;
}

static struct daxmap_map *map_touched(struct oracle *o)
{
	struct daxmap_map *m;

	cr_assert_eq(daxmap_region_map(&m, o->pool, "o", 0), 0, "%s", daxmap_errormsg());
	*(volatile char *)daxmap_map_addr(m) = 1; /* faulted in: the kernel counts it */
	return m;
}

/* A second process maps the region until told to stop. */
static pid_t second_mapper(struct oracle *o, int *go)
{
	int up[2], down[2];
	pid_t pid;
	char b;

	cr_assert_eq(pipe(up), 0);
	cr_assert_eq(pipe(down), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct daxmap_dev *d;
		struct daxmap_pool *p;
		struct daxmap_map *m;

		if (daxmap_dev_open(&d, o->path, 0, 0) || daxmap_pool_open(&p, d, 0) ||
		    daxmap_region_map(&m, p, "o", 0))
			_exit(1);
		*(volatile char *)daxmap_map_addr(m) = 2;
		if (write(up[1], "x", 1) != 1 || read(down[0], &b, 1) != 1)
			_exit(2);
		daxmap_map_delete(&m);
		daxmap_pool_close(p);
		daxmap_dev_close(d);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	cr_assert_eq(read(up[0], &b, 1), 1, "the second mapper failed");
	close(up[0]);
	*go = down[1];
	return pid;
}

static void end_second(pid_t pid, int go)
{
	int st;

	cr_assert_eq(write(go, "x", 1), 1);
	close(go);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static bool kernel_at_least(unsigned m, unsigned n)
{
	struct utsname u;
	unsigned a, b;

	cr_assert_eq(uname(&u), 0);
	cr_assert_eq(sscanf(u.release, "%u.%u", &a, &b), 2);
	return a > m || (a == m && b >= n);
}

static struct ibv_pd *rxe_pd(struct ibv_context **ctx)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_pd *pd;

	cr_assert(list && list[0], "no RDMA device");
	*ctx = ibv_open_device(list[0]);
	cr_assert_not_null(*ctx);
	ibv_free_device_list(list);
	pd = ibv_alloc_pd(*ctx);
	cr_assert_not_null(pd);
	return pd;
}

static void states(struct oracle *o)
{
	struct daxmap_pool_stat st;
	struct daxmap_map *m, *tmp;
	int go;
	pid_t pid;

	o->dev = open_dev(o->path);
	o->pool = rig_fresh_pool(o->dev, &st);
	cr_assert_eq(st.extent_size, 2 * MiB);
	cr_assert_eq(daxmap_region_create(o->pool, "o", 2 * MiB, NULL), 0, "%s", daxmap_errormsg());
	cr_assert_eq(kpage_open(&o->kp), 0, "%s", kpage_error());
	/* the folio's PFN, from a mapping made and dropped first */
	tmp = map_touched(o);
	cr_assert_eq(kpage_pfn(0, (uint64_t)(uintptr_t)daxmap_map_addr(tmp), &o->pfn), 0, "%s",
		     kpage_error());
	daxmap_map_delete(&tmp);

	check(o, "idle");
	m = map_touched(o);
	check(o, "mapped once");
	pid = second_mapper(o, &go);
	check(o, "mapped by two processes");
	end_second(pid, go);
	check(o, "mapped once again");

	if (getenv("DAXMAP_TEST_RXE")) {
		struct ibv_context *ctx;
		struct ibv_pd *pd = rxe_pd(&ctx);
		struct daxmap_pin *pin;

		cr_assert_eq(daxmap_pin_rdma(&pin, m, 0, 2 * MiB, pd,
					     IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE, NULL,
					     NULL), 0, "%s", daxmap_errormsg());
		check(o, "mapped, plus an RDMA MR");
		daxmap_map_delete(&m);
		check(o, "the MR after munmap");
		cr_assert_eq(daxmap_unpin(&pin), 0, "%s", daxmap_errormsg());
		check(o, "the MR deregistered");
		ibv_dealloc_pd(pd);
		ibv_close_device(ctx);
		m = map_touched(o);
	}
	if (kernel_at_least(6, 5)) {
		struct daxmap_pin *pin;
		struct io_uring ring;

		cr_assert_eq(io_uring_queue_init(4, &ring, 0), 0);
		cr_assert_eq(io_uring_register_buffers_sparse(&ring, 2), 0);
		cr_assert_eq(daxmap_pin_io_uring(&pin, m, 0, 2 * MiB, &ring, 0, NULL, NULL), 0, "%s",
			     daxmap_errormsg());
		check(o, "mapped, plus an io_uring buffer");
		cr_assert_eq(daxmap_unpin(&pin), 0);
		io_uring_queue_exit(&ring);
		check(o, "the io_uring buffer unregistered");
	}
	daxmap_map_delete(&m);
	check(o, "idle again");
}

static void run_on(const char *path)
{
	struct oracle o = { .path = path };

	states(&o);
	kpage_close(o.kp);
	close_pool(&o);
}

Test(oracle, hmem)
{
	run_on(env_or_skip("DAXMAP_TEST_HMEM"));
}

/* The NVDIMM namespace's records are readable only with -M mem. */
Test(oracle, nvdimm_mem)
{
	const char *map = getenv("DAXMAP_TEST_DEVDAX_2M_MAP");

	if (!map || strcmp(map, "mem") != 0)
		cr_skip_test("the 2 MiB namespace keeps its struct pages on the device "
			     "(tests/vm/run --devdax-map mem puts them in RAM)");
	run_on(env_or_skip("DAXMAP_TEST_DEVDAX_2M"));
}

/* ---- VFIO (tests/vm/run --iommu) ------------------------------------------ */

static int vfio_container(void)
{
	const char *group_path = getenv("DAXMAP_TEST_VFIO_GROUP");
	int c = open("/dev/vfio/vfio", O_RDWR), g;
	struct vfio_group_status gs = { .argsz = sizeof(gs) };

	cr_assert_geq(c, 0);
	g = open(group_path, O_RDWR);
	cr_assert_geq(g, 0, "%s: %s", group_path, strerror(errno));
	cr_assert_eq(ioctl(g, VFIO_GROUP_GET_STATUS, &gs), 0);
	cr_assert_eq(ioctl(g, VFIO_GROUP_SET_CONTAINER, &c), 0, "%s", strerror(errno));
	cr_assert_eq(ioctl(c, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0, "%s", strerror(errno));
	/* the group fd stays open with the container: closed at exit */
	return c;
}

static void vfio_on(const char *path)
{
	struct oracle o = { .path = path };
	struct daxmap_pool_stat st;
	struct daxmap_kernel_refs *k;
	struct daxmap_map *m;
	struct daxmap_pin *pin;
	char cmd[256], *out;
	size_t n;
	int c = vfio_container();

	o.dev = open_dev(o.path);
	o.pool = rig_fresh_pool(o.dev, &st);
	cr_assert_eq(daxmap_region_create(o.pool, "o", 2 * MiB, NULL), 0, "%s", daxmap_errormsg());
	cr_assert_eq(kpage_open(&o.kp), 0, "%s", kpage_error());
	m = map_touched(&o);
	cr_assert_eq(kpage_pfn(0, (uint64_t)(uintptr_t)daxmap_map_addr(m), &o.pfn), 0);
	check(&o, "before VFIO");
	for (int cycle = 1; cycle <= 2; cycle++) {
		cr_assert_eq(daxmap_pin_vfio(&pin, m, 0, 2 * MiB, c, 16 * MiB, NULL, NULL), 0, "%s",
			     daxmap_errormsg());
		check(&o, "VFIO mapped");
		cr_assert_eq(daxmap_unpin(&pin), 0, "%s", daxmap_errormsg());
		check(&o, "after VFIO_IOMMU_UNMAP_DMA");
		cr_assert_eq(daxmap_pool_kernel_refs(o.pool, "o", &k, &n), 0);
		cr_assert_eq(k->vfio_maps, (uint32_t)cycle);
		cr_assert_eq(k->vfio_leftover, (uint32_t)cycle);
		free(k);
	}
	daxmap_map_delete(&m);
	close(c);
	check(&o, "after munmap and the container's close");
	/* re-enabling the device sets its struct pages up again: the kernel's
	 * counts are back to idle, and the library notices */
	close_pool(&o);
	snprintf(cmd, sizeof(cmd), "daxctl disable-device %s && daxctl enable-device %s",
		 path + 5, path + 5);
	cr_assert_eq(run_capture(cmd, &out), 0, "%s: %s", cmd, out);
	free(out);
	open_pool(&o);
	check(&o, "after daxctl disable-device + enable-device");
	cr_assert_eq(daxmap_pool_kernel_refs(o.pool, "o", &k, &n), 0);
	cr_assert_eq(k->vfio_maps, 0);
	free(k);
	kpage_close(o.kp);
	close_pool(&o);
}

Test(oracle, vfio_hmem)
{
	if (!getenv("DAXMAP_TEST_VFIO_GROUP"))
		cr_skip_test("no VFIO device (tests/vm/run --iommu)");
	vfio_on(env_or_skip("DAXMAP_TEST_HMEM"));
}

RIG_SKIP_UNLESS(getenv("DAXMAP_TEST_DEVDAX_2M"), "device-DAX")
