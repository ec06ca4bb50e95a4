/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_foreign_rig.c -- holders the library did not create, on real
 * device-DAX and fsdax with the real programs: a process's own mmap() of
 * the device, perftest's ib_write_bw --mmap on a region's device offset,
 * and RDMA registrations (soft-RoCE) that outlive the mapping they were
 * made over. A release must wait for each, name it in -EBUSY, and finish
 * once it is gone; afterwards the kernel lists no MR over the extents.
 * Runs inside the QEMU rig (tests/vm/run); elsewhere it exits 77.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include <daxmap.h>

#include "helpers.h"
#include "rig.h"

RIG_SKIP_UNLESS(getenv("DAXMAP_TEST_DEVDAX_2M"), "device-DAX")

/* How many holders of kind the listing has for pid (0: any pid). */
static size_t count_foreign(struct daxmap_pool *pool, enum daxmap_foreign_kind kind, int pid)
{
	struct daxmap_foreign_holder *f;
	size_t n, k = 0;

	cr_assert_eq(daxmap_pool_foreign_holders(pool, &f, &n), 0, "%s", daxmap_errormsg());
	for (size_t i = 0; i < n; i++) {
		/* root in the rig reads everything, RDMA tracking included */
		cr_assert(f[i].kind != DAXMAP_FOREIGN_UNINSPECTED && f[i].kind != DAXMAP_FOREIGN_UNTRACKED,
			  "pid %d: %s", f[i].pid, f[i].what);
		k += f[i].kind == kind && (!pid || f[i].pid == pid);
	}
	free(f);
	return k;
}

/* ---- a process's own mmap() of the device -------------------------------- */

static void raw_mmap_holds_the_remove(const char *path)
{
	struct daxmap_dev *dev = open_dev(path);
	struct daxmap_pool *pool = rig_fresh_pool(dev, NULL);
	uint64_t es = daxmap_dev_align(dev);
	struct raw raw;
	char want[64];

	cr_assert_eq(daxmap_region_create(pool, "r", 2 * es, NULL), 0, "%s", daxmap_errormsg());
	raw = raw_map(path, region_offset(pool, "r", 0) + es, es);
	cr_assert_eq(count_foreign(pool, DAXMAP_FOREIGN_MAPPING, raw.pid), 1);
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), -EBUSY);
	snprintf(want, sizeof(want), "pid %d (rawmapper) foreign mapping", (int)raw.pid);
	cr_assert(strstr(daxmap_errormsg(), want), "%s", daxmap_errormsg());
	raw_release(&raw);
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), 0, "%s", daxmap_errormsg());
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

ParameterizedTestParameters(foreign_rig, a_raw_mmap_holds_the_remove)
{
	return RIG_DEVDAX_PARAMS();
}

ParameterizedTest(struct rig_dev *d, foreign_rig, a_raw_mmap_holds_the_remove, .timeout = 300)
{
	raw_mmap_holds_the_remove(rig_path(d, NULL));
}

Test(foreign_rig, a_raw_mmap_of_an_fsdax_file_holds_the_remove, .timeout = 300)
{
	env_or_skip("DAXMAP_TEST_FSDAX_DIR");
	raw_mmap_holds_the_remove(fsdax_file("foreign", 64 * MiB));
}

/* ---- RDMA registrations -------------------------------------------------- */

struct verbs {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
};

/* rxe0's context and a PD; no cr_assert (children use it too). */
static int verbs_open(struct verbs *v)
{
	const char *name = getenv("DAXMAP_TEST_RXE");
	struct ibv_device **list;
	int n;

	memset(v, 0, sizeof(*v));
	if (!name || !(list = ibv_get_device_list(&n)))
		return -1;
	for (int i = 0; i < n && !v->ctx; i++)
		if (strcmp(ibv_get_device_name(list[i]), name) == 0)
			v->ctx = ibv_open_device(list[i]);
	ibv_free_device_list(list);
	return v->ctx && (v->pd = ibv_alloc_pd(v->ctx)) ? 0 : -1;
}

/* The MRs `rdma resource show mr` lists for pid (its JSON output). */
static int rdma_tool_mrs(pid_t pid)
{
	char cmd[128], *out, *p;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "rdma -j resource show mr");
	cr_assert_eq(run_capture(cmd, &out), 0, "rdma resource show mr failed");
	snprintf(cmd, sizeof(cmd), "\"pid\":%d,", (int)pid);
	for (p = out; (p = strstr(p, cmd)); p++)
		n++;
	free(out);
	return n;
}

/*
 * A child that maps region "r" with the library, registers the mapping
 * with its own ibv_reg_mr() (as UCX or an application does), then deletes
 * the mapping and keeps the MR until told: the kernel keeps the pages
 * pinned (the MR's umem) though no mapping of them is left.
 */
static struct raw mr_outlives_mapping(const char *path)
{
	int up[2], down[2];
	struct raw r;
	char c;

	cr_assert_eq(pipe(up), 0);
	cr_assert_eq(pipe(down), 0);
	if ((r.pid = fork()) == 0) {
		struct daxmap_dev *dev = NULL;
		struct daxmap_pool *pool = NULL;
		struct daxmap_map *m = NULL;
		struct ibv_mr *mr = NULL;
		struct verbs v;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, "mrholder");
		c = 'E';
		if (verbs_open(&v) == 0 && daxmap_dev_open(&dev, path, 0, 0) == 0 &&
		    daxmap_pool_open(&pool, dev, 0) == 0 && daxmap_region_map(&m, pool, "r", 0) == 0 &&
		    (mr = ibv_reg_mr(v.pd, daxmap_map_addr(m), daxmap_map_len(m),
				     IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE)) &&
		    daxmap_map_delete(&m) == 0)
			c = 'M';
		if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(1);
		if (mr)
			ibv_dereg_mr(mr);
		_exit(0);
	}
	cr_assert_gt(r.pid, 0);
	close(up[1]);
	close(down[0]);
	cr_assert_eq(read(up[0], &c, 1), 1);
	cr_assert_eq(c, 'M', "the child could not map and register the region");
	close(up[0]);
	r.go = down[1];
	return r;
}

Test(foreign_rig, an_mr_that_outlives_a_holders_mapping_holds_the_remove, .timeout = 300)
{
	const char *path = env_or_skip("DAXMAP_TEST_DEVDAX_2M");
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	struct raw h;
	char want[96];

	env_or_skip("DAXMAP_TEST_RXE");
	dev = open_dev(path);
	pool = rig_fresh_pool(dev, NULL);
	cr_assert_eq(daxmap_region_create(pool, "r", 8 * MiB, NULL), 0);
	h = mr_outlives_mapping(path);
	/* no mapping, no reference: only the kernel's MR */
	cr_assert_eq(count_foreign(pool, DAXMAP_FOREIGN_MAPPING, h.pid), 0);
	cr_assert_eq(count_foreign(pool, DAXMAP_FOREIGN_RDMA_MR, h.pid), 1);
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), -EBUSY);
	snprintf(want, sizeof(want), "pid %d (mrholder) RDMA MR on rxe0", (int)h.pid);
	cr_assert(strstr(daxmap_errormsg(), want), "%s", daxmap_errormsg());
	raw_release(&h);
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(rdma_tool_mrs(h.pid), 0);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(foreign_rig, an_mr_over_the_releasing_process_own_mapping_holds_it, .timeout = 300)
{
	const char *path = env_or_skip("DAXMAP_TEST_DEVDAX_2M");
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	struct daxmap_map *m;
	struct ibv_mr *mr;
	struct verbs v;
	char want[64];

	env_or_skip("DAXMAP_TEST_RXE");
	cr_assert_eq(verbs_open(&v), 0);
	dev = open_dev(path);
	pool = rig_fresh_pool(dev, NULL);
	cr_assert_eq(daxmap_region_create(pool, "r", 8 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_map(&m, pool, "r", 0), 0, "%s", daxmap_errormsg());
	mr = ibv_reg_mr(v.pd, daxmap_map_addr(m), daxmap_map_len(m), IBV_ACCESS_LOCAL_WRITE);
	cr_assert_not_null(mr, "ibv_reg_mr: %s", strerror(errno));
	/* the zap replaces the mapping with PROT_NONE; the MR still pins the
	 * pages the mapping had */
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), -EBUSY);
	snprintf(want, sizeof(want), "pid %d (", (int)getpid());
	cr_assert(strstr(daxmap_errormsg(), want) && strstr(daxmap_errormsg(), "RDMA MR"), "%s",
		  daxmap_errormsg());
	cr_assert_eq(ibv_dereg_mr(mr), 0);
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_map_delete(&m), 0);
	ibv_dealloc_pd(v.pd);
	ibv_close_device(v.ctx);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/* ---- perftest ------------------------------------------------------------- */

static int64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * ib_write_bw -D 60 (a 60 s run): the server (mmap_path set) on a region's
 * device offset, which it maps itself and registers once a client has
 * connected (perftest exchanges its parameters over TCP first); the client
 * on its own memory, over 127.0.0.1.
 */
static pid_t perftest(const char *mmap_path, uint64_t off, const char *log)
{
	char mmap_arg[256], off_arg[64];
	pid_t pid;

	snprintf(mmap_arg, sizeof(mmap_arg), "--mmap=%s", mmap_path ? mmap_path : "");
	snprintf(off_arg, sizeof(off_arg), "--mmap-offset=%llu", (unsigned long long)off);
	if ((pid = fork()) == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (mmap_path)
			execlp("ib_write_bw", "ib_write_bw", "-d", getenv("DAXMAP_TEST_RXE"), "-x", "0",
			       "-s", "1048576", "-D", "60", mmap_arg, off_arg, (char *)NULL);
		else
			execlp("ib_write_bw", "ib_write_bw", "-d", getenv("DAXMAP_TEST_RXE"), "-x", "0",
			       "-s", "1048576", "-D", "60", "127.0.0.1", (char *)NULL);
		_exit(127);
	}
	cr_assert_gt(pid, 0);
	return pid;
}

Test(foreign_rig, perftest_mmap_on_a_region_holds_the_remove_until_it_exits, .timeout = 300)
{
	const char *path = env_or_skip("DAXMAP_TEST_DEVDAX_2M");
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	pid_t perf, client, killer;
	char want[96], *log = NULL;
	int64_t t0, t1;
	int st;

	env_or_skip("DAXMAP_TEST_RXE");
	dev = open_dev(path);
	pool = rig_fresh_pool(dev, NULL);
	cr_assert_eq(daxmap_region_create(pool, "r", 8 * MiB, NULL), 0);
	cr_assert_eq(system("ip link set lo up"), 0);
	perf = perftest(path, region_offset(pool, "r", 0), "/tmp/ib_write_bw.server");
	usleep(500 * 1000);
	client = perftest(NULL, 0, "/tmp/ib_write_bw.client");
	for (t0 = ms_now(); count_foreign(pool, DAXMAP_FOREIGN_RDMA_MR, perf) == 0;) {
		if (waitpid(perf, &st, WNOHANG) == perf || ms_now() - t0 > 60000) {
			run_capture("cat /tmp/ib_write_bw.server /tmp/ib_write_bw.client", &log);
			cr_assert_fail("ib_write_bw registered nothing: %s", log ? log : "");
		}
		usleep(100 * 1000);
	}
	cr_assert_eq(count_foreign(pool, DAXMAP_FOREIGN_MAPPING, perf), 1);
	cr_assert_gt(rdma_tool_mrs(perf), 0);
	/* the measured defect: remove --timeout 0 returned 0 here */
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), -EBUSY);
	snprintf(want, sizeof(want), "pid %d (ib_write_bw) foreign mapping", (int)perf);
	cr_assert(strstr(daxmap_errormsg(), want) && strstr(daxmap_errormsg(), "RDMA MR on"), "%s",
		  daxmap_errormsg());
	/* the remove waits, and finishes once perftest exits */
	if ((killer = fork()) == 0) {
		usleep(500 * 1000);
		kill(perf, SIGTERM);
		kill(client, SIGTERM);
		_exit(0);
	}
	t0 = ms_now();
	cr_assert_eq(daxmap_region_remove(pool, "r", 60000), 0, "%s", daxmap_errormsg());
	t1 = ms_now();
	cr_assert_geq(t1 - t0, 400, "returned after %lld ms, while perftest held the region",
		      (long long)(t1 - t0));
	cr_assert_eq(waitpid(killer, &st, 0), killer);
	cr_assert_eq(waitpid(perf, &st, 0), perf);
	cr_assert_eq(waitpid(client, &st, 0), client);
	cr_assert_eq(rdma_tool_mrs(perf), 0);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}
