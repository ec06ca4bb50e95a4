/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_pin_rdma.c -- the RDMA pin backend and its registration cache on an
 * emulated device, with the verbs calls replaced (rdma_set_verbs()): the
 * host has no RDMA device. The real ibv_reg_mr() on devdax, fsdax and
 * soft-RoCE is tested in the rig (tests/vm/test_pin_rdma_rig.c).
 *
 * The long-term pin rules refuse emulated (page-cache) devices, which is
 * tested first; the other tests then make the library see the emulated
 * device as devdax (dev->kind, white-box) so pins reach the fake verbs.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include <daxmap.h>

#include "helpers.h"
#include "lib/dev.h"
#include "lib/pin_rdma.h"

/* ---- fake verbs, counted in memory shared with forked children ---------- */

struct fake {
	int regs, deregs, live;
	int reg_errno;           /* next reg_mr fails with it */
	int dereg_errno;         /* next dereg_mr fails with it */
	int block_reg;           /* reg_mr waits while set */
	int in_reg;
	struct daxmap_pool *check_pool; /* dereg checks the pin is still counted */
	int pinned_at_dereg;     /* pins seen on the MR's extent at dereg */
	struct daxmap_pin **slot; /* reg_mr notes whether it is set yet */
	int slot_set_at_reg;
};

static struct fake *fk;

static struct ibv_mr *fake_reg(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	struct ibv_mr *mr;
	int e = __atomic_exchange_n(&fk->reg_errno, 0, __ATOMIC_SEQ_CST);

	(void)access;
	if (e) {
		errno = e;
		return NULL;
	}
	if (fk->slot)
		fk->slot_set_at_reg = *fk->slot != NULL;
	__atomic_store_n(&fk->in_reg, 1, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&fk->block_reg, __ATOMIC_SEQ_CST))
		usleep(1000);
	__atomic_store_n(&fk->in_reg, 0, __ATOMIC_SEQ_CST);
	mr = calloc(1, sizeof(*mr));
	cr_assert_not_null(mr);
	mr->pd = pd;
	mr->addr = addr;
	mr->length = len;
	mr->lkey = mr->rkey = (uint32_t)__atomic_add_fetch(&fk->regs, 1, __ATOMIC_SEQ_CST);
	__atomic_add_fetch(&fk->live, 1, __ATOMIC_SEQ_CST);
	return mr;
}

static int fake_dereg(struct ibv_mr *mr)
{
	int e = __atomic_exchange_n(&fk->dereg_errno, 0, __ATOMIC_SEQ_CST);

	if (e)
		return e;
	if (fk->check_pool) {
		struct daxmap_extent_refs *r;
		size_t n;

		/* the pin is dropped after the MR, never before */
		cr_assert_eq(daxmap_pool_refs(fk->check_pool, NULL, &r, &n), 0);
		fk->pinned_at_dereg = 0;
		for (size_t i = 0; i < n; i++)
			fk->pinned_at_dereg += (int)r[i].pins;
		free(r);
	}
	__atomic_add_fetch(&fk->deregs, 1, __ATOMIC_SEQ_CST);
	__atomic_sub_fetch(&fk->live, 1, __ATOMIC_SEQ_CST);
	free(mr);
	return 0;
}

static const struct rdma_verbs fake_verbs = { fake_reg, fake_dereg, NULL };

/* Never dereferenced by the fake verbs. */
static struct ibv_pd *const PD = (struct ibv_pd *)0x1000;

#define ACCESS (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)

static void setup(void)
{
	fk = mmap(NULL, sizeof(*fk), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(fk, MAP_FAILED);
	rdma_set_verbs(&fake_verbs);
}

static void teardown(void)
{
	rdma_set_verbs(NULL);
	munmap(fk, sizeof(*fk));
}

TestSuite(rdma, .init = setup, .fini = teardown, .timeout = 60);

/* ---- a pool with one region, mapped ------------------------------------- */

struct rig {
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	struct daxmap_map *map;
	char *addr;
};

static struct rig rig_new(uint64_t region_size, bool devdax)
{
	struct rig r;

	cr_assert_eq(daxmap_dev_open(&r.dev, make_file(64 * MiB), 0, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_format(r.dev, 0, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_open(&r.pool, r.dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_create(r.pool, "r", region_size, NULL), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map(&r.map, r.pool, "r", 0), 0, "%s", daxmap_errormsg());
	r.addr = daxmap_map_addr(r.map);
	/* white-box: the pin rules now see devdax, and let pins through */
	if (devdax)
		r.dev->kind = DAXMAP_KIND_DEVDAX;
	return r;
}

static void rig_free(struct rig *r)
{
	r->dev->kind = DAXMAP_KIND_FILE;
	daxmap_map_delete(&r->map);
	daxmap_pool_close(r->pool);
	daxmap_dev_close(r->dev);
}

static uint32_t pins_of(struct daxmap_pool *pool, uint64_t index)
{
	struct daxmap_extent_refs *r;
	uint32_t p = UINT32_MAX;
	size_t n;

	cr_assert_eq(daxmap_pool_refs(pool, "r", &r, &n), 0, "%s", daxmap_errormsg());
	for (size_t i = 0; i < n; i++)
		if (r[i].index == index)
			p = r[i].pins;
	free(r);
	return p;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- daxmap_pin_rdma() -------------------------------------------------- */

Test(rdma, the_rules_refuse_before_the_kernel_is_asked)
{
	struct rig r = rig_new(4 * MiB, false);
	struct daxmap_mr_cache *c;
	struct daxmap_mr_entry *e = (struct daxmap_mr_entry *)0x1;
	struct daxmap_pin *pin = (struct daxmap_pin *)0x1;

	/* page-cache file (the emulated device) */
	cr_assert_eq(daxmap_pin_rdma(&pin, r.map, 0, 4096, PD, ACCESS, NULL, NULL), -EOPNOTSUPP);
	cr_assert_null(pin);
	cr_assert(strstr(daxmap_errormsg(), "rdma pin of") && strstr(daxmap_errormsg(), "page-cache"),
		  "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_mr_cache_new(&c, PD, ACCESS, 0, NULL, NULL), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 4096, &e), -EOPNOTSUPP);
	cr_assert_null(e);
	cr_assert(strstr(daxmap_errormsg(), "page-cache"), "%s", daxmap_errormsg());
	/* fsdax: the rule names FOLL_LONGTERM and vma_is_fsdax */
	r.dev->kind = DAXMAP_KIND_FSDAX;
	cr_assert_eq(daxmap_pin_rdma(&pin, r.map, 0, 4096, PD, ACCESS, NULL, NULL), -EOPNOTSUPP);
	cr_assert(strstr(daxmap_errormsg(), "(fsdax, Linux") &&
		  strstr(daxmap_errormsg(), "FOLL_LONGTERM is refused for fsdax"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 4096, &e), -EOPNOTSUPP);
	/* the kernel was never asked, and no reference was taken */
	cr_assert_eq(fk->regs, 0);
	cr_assert_eq(pins_of(r.pool, 0), 0);
	cr_assert_eq(daxmap_mr_cache_delete(&c), 0);
	cr_assert_null(c);
	rig_free(&r);
}

Test(rdma, a_pin_registers_its_range_and_unpin_deregisters_first)
{
	struct rig r = rig_new(4 * MiB, true);
	struct daxmap_holding *h;
	struct daxmap_pin *pin;
	struct ibv_mr *mr;
	size_t n;

	cr_assert_eq(daxmap_pin_rdma(&pin, r.map, 2 * MiB + 5, 100, PD, ACCESS, NULL, NULL), 0,
		     "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pin_backend(pin), DAXMAP_PIN_RDMA);
	mr = daxmap_pin_mr(pin);
	cr_assert_not_null(mr);
	cr_assert_eq(mr->addr, r.addr + 2 * MiB + 5);
	cr_assert_eq(mr->length, 100);
	cr_assert_eq(mr->pd, PD);
	/* a pin on the second extent only, listed with its backend */
	cr_assert_eq(pins_of(r.pool, 0), 0);
	cr_assert_eq(pins_of(r.pool, 1), 1);
	cr_assert_eq(daxmap_pool_holders(r.pool, &h, &n), 0);
	cr_assert_eq(n, 2); /* the mapping and the pin */
	cr_assert(h[0].kind == DAXMAP_REF_PIN || h[1].kind == DAXMAP_REF_PIN);
	cr_assert_eq(h[h[0].kind == DAXMAP_REF_PIN ? 0 : 1].backend, DAXMAP_PIN_RDMA);
	free(h);
	fk->check_pool = r.pool;
	cr_assert_eq(daxmap_unpin(&pin), 0, "%s", daxmap_errormsg());
	fk->check_pool = NULL;
	cr_assert_null(pin);
	cr_assert_eq(fk->deregs, 1);
	cr_assert_eq(fk->pinned_at_dereg, 1, "the pin went before the MR");
	cr_assert_eq(pins_of(r.pool, 1), 0);
	/* an external pin has no MR */
	cr_assert_eq(daxmap_pin_external(&pin, r.map, 0, 1, NULL, NULL), 0);
	cr_assert_null(daxmap_pin_mr(pin));
	daxmap_unpin(&pin);
	cr_assert_null(daxmap_pin_mr(NULL));
	rig_free(&r);
}

static void unpin_slot(struct daxmap_pin *pin, void *arg)
{
	(void)pin;
	daxmap_unpin(arg);
}

/* A revocable pin can be revoked from pin_ready() on, before
 * daxmap_pin_rdma() returns: the callback must find the caller's variable
 * set by then (it is set before the kernel is even asked). */
Test(rdma, the_callers_pin_is_set_before_the_kernel_is_asked)
{
	struct rig r = rig_new(4 * MiB, true);
	struct daxmap_pin *pin = NULL;

	fk->slot = &pin;
	cr_assert_eq(daxmap_pin_rdma(&pin, r.map, 0, 4096, PD, ACCESS, unpin_slot, &pin), 0, "%s",
		     daxmap_errormsg());
	cr_assert(fk->slot_set_at_reg, "*pinp was not set when the MR was registered");
	/* a refusal leaves it NULL */
	fk->reg_errno = EFAULT;
	{
		struct daxmap_pin *other = NULL;

		fk->slot = &other;
		cr_assert_lt(daxmap_pin_rdma(&other, r.map, 0, 4096, PD, ACCESS, unpin_slot, &other), 0);
		cr_assert(fk->slot_set_at_reg);
		cr_assert_null(other, "a failed pin left the caller a pointer");
	}
	fk->slot = NULL;
	/* and revocation unpins through it */
	cr_assert_eq(daxmap_region_remove(r.pool, "r", 5000), 0, "%s", daxmap_errormsg());
	cr_assert_null(pin);
	cr_assert_eq(fk->deregs, 1);
	rig_free(&r);
}

Test(rdma, kernel_refusals_say_the_likely_reason)
{
	static const struct {
		int err;
		const char *says;
	} cases[] = {
		{ ENOMEM, "RLIMIT_MEMLOCK" },
		{ EFAULT, "FOLL_LONGTERM" },
		{ EOPNOTSUPP, "FOLL_LONGTERM refused" },
		{ EINVAL, "IBV_ACCESS_LOCAL_WRITE" },
		{ EACCES, "read-only" },
		{ EIO, "ibv_reg_mr(3)" },
	};
	struct rig r = rig_new(4 * MiB, true);
	struct daxmap_pin *pin;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fk->reg_errno = cases[i].err;
		cr_assert_eq(daxmap_pin_rdma(&pin, r.map, 0, 4096, PD, ACCESS, NULL, NULL),
			     -cases[i].err);
		cr_assert_null(pin);
		cr_assert(strstr(daxmap_errormsg(), "the kernel refused ibv_reg_mr() of 4 KiB at offset 0x0") &&
			  strstr(daxmap_errormsg(), "likely reason") &&
			  strstr(daxmap_errormsg(), cases[i].says), "case %zu: %s", i, daxmap_errormsg());
		/* no reference left behind */
		cr_assert_eq(pins_of(r.pool, 0), 0);
	}
	cr_assert_eq(fk->regs, 0);
	rig_free(&r);
}

/* capset() without libcap: clear CAP_IPC_LOCK from the effective set */
static void drop_cap_ipc_lock(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	cr_assert_eq(syscall(SYS_capget, &hdr, d), 0);
	d[CAP_IPC_LOCK / 32].effective &= ~(1U << (CAP_IPC_LOCK % 32));
	cr_assert_eq(syscall(SYS_capset, &hdr, d), 0);
}

Test(rdma, enomem_names_rlimit_memlock_and_its_value)
{
	char buf[512];
	pid_t pid;
	int st;

	/* as root (CAP_IPC_LOCK) the limit does not apply */
	rdma_refusal_reason(ENOMEM, 2 * MiB, 0, buf, sizeof(buf));
	if (geteuid() == 0)
		cr_assert(strstr(buf, "does not apply"), "%s", buf);
	pid = fork();
	if (pid == 0) {
		struct rlimit rl = { 64 * 1024, 64 * 1024 };

		if (geteuid() == 0)
			drop_cap_ipc_lock();
		if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
			_exit(2);
		rdma_refusal_reason(ENOMEM, 2 * MiB, 0, buf, sizeof(buf));
		_exit(strstr(buf, "RLIMIT_MEMLOCK") && strstr(buf, "now 64 KiB") &&
		      strstr(buf, "2 MiB asked") && strstr(buf, "CAP_IPC_LOCK") ? 0 : 1);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

Test(rdma, a_failed_dereg_is_reported)
{
	struct rig r = rig_new(4 * MiB, true);
	struct daxmap_pin *pin;

	cr_assert_eq(daxmap_pin_rdma(&pin, r.map, 0, 4096, PD, ACCESS, NULL, NULL), 0);
	fk->dereg_errno = EBUSY;
	cr_assert_eq(daxmap_unpin(&pin), -EBUSY);
	cr_assert(strstr(daxmap_errormsg(), "ibv_dereg_mr() failed"), "%s", daxmap_errormsg());
	cr_assert_null(pin);
	rig_free(&r);
}

Test(rdma, bad_arguments)
{
	struct rig r = rig_new(4 * MiB, true);
	struct daxmap_mr_cache *c;
	struct daxmap_mr_entry *e;
	struct daxmap_pin *pin;
	struct daxmap_map *plain;

	cr_assert_eq(daxmap_pin_rdma(NULL, r.map, 0, 1, PD, 0, NULL, NULL), -EINVAL);
	cr_assert_eq(daxmap_pin_rdma(&pin, r.map, 0, 1, NULL, 0, NULL, NULL), -EINVAL);
	cr_assert_eq(daxmap_pin_rdma(&pin, r.map, 4 * MiB, 1, PD, 0, NULL, NULL), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "not inside"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_mr_cache_new(&c, NULL, 0, 0, NULL, NULL), -EINVAL);
	cr_assert_eq(daxmap_mr_cache_new(&c, PD, 0, 1U << 30, NULL, NULL), -EINVAL);
	cr_assert_eq(daxmap_mr_cache_new(&c, PD, ACCESS, 0, NULL, NULL), 0);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 0, &e), -EINVAL);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 3 * MiB, 2 * MiB, &e), -EINVAL);
	cr_assert_eq(daxmap_mr_cache_get(c, NULL, 0, 1, &e), -EINVAL);
	r.dev->kind = DAXMAP_KIND_FILE;
	cr_assert_eq(daxmap_map_new(&plain, r.dev, 60 * MiB, 2 * MiB, 0), 0, "%s", daxmap_errormsg());
	r.dev->kind = DAXMAP_KIND_DEVDAX;
	cr_assert_eq(daxmap_mr_cache_get(c, plain, 0, 1, &e), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "not a region mapping"), "%s", daxmap_errormsg());
	r.dev->kind = DAXMAP_KIND_FILE;
	daxmap_map_delete(&plain);
	r.dev->kind = DAXMAP_KIND_DEVDAX;
	daxmap_mr_cache_put(NULL);
	cr_assert_null(daxmap_mr_entry_mr(NULL));
	cr_assert_eq(daxmap_mr_cache_flush(NULL, NULL), -EINVAL);
	{
		struct daxmap_mr_cache_stat st;

		cr_assert_eq(daxmap_mr_cache_stat(NULL, &st), -EINVAL);
		cr_assert_eq(daxmap_mr_cache_stat(c, NULL), -EINVAL);
		cr_assert_eq(daxmap_mr_cache_stat(c, &st), 0);
		cr_assert_eq(st.entries, 0, "a refused call registered something");
	}
	cr_assert_eq(daxmap_mr_cache_delete(&c), 0);
	cr_assert_eq(daxmap_mr_cache_delete(&c), 0);
	cr_assert_eq(daxmap_mr_cache_delete(NULL), 0);
	cr_assert_eq(fk->regs, 0);
	rig_free(&r);
}

/* ---- the cache ------------------------------------------------------------ */

static struct daxmap_mr_cache_stat stat_of(struct daxmap_mr_cache *c)
{
	struct daxmap_mr_cache_stat st;

	cr_assert_eq(daxmap_mr_cache_stat(c, &st), 0, "%s", daxmap_errormsg());
	return st;
}

Test(rdma, covered_ranges_reuse_one_mr)
{
	struct rig r = rig_new(8 * MiB, true);
	struct daxmap_mr_entry *a, *b, *d, *w;
	struct daxmap_mr_cache_stat st;
	struct daxmap_mr_cache *c;
	struct ibv_mr *mr;

	cr_assert_eq(daxmap_mr_cache_new(&c, PD, ACCESS, 0, NULL, NULL), 0);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 100, 100, &a), 0, "%s", daxmap_errormsg());
	/* the whole 2 MiB chunk was registered, as one pin of that extent */
	mr = daxmap_mr_entry_mr(a);
	cr_assert_eq(mr->addr, r.addr);
	cr_assert_eq(mr->length, DAXMAP_MR_CACHE_CHUNK);
	cr_assert_eq(pins_of(r.pool, 0), 1);
	cr_assert_eq(pins_of(r.pool, 1), 0);
	/* inside it: the same entry, no registration */
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 4096, 2 * MiB - 4096, &b), 0);
	cr_assert_eq(b, a);
	cr_assert_eq(fk->regs, 1);
	/* the next chunk: a second MR */
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 2 * MiB, 1, &d), 0);
	cr_assert_neq(d, a);
	cr_assert_eq(daxmap_mr_entry_mr(d)->addr, r.addr + 2 * MiB);
	/* across two chunks: one MR over both */
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 5 * MiB, 2 * MiB, &w), 0);
	cr_assert_eq(daxmap_mr_entry_mr(w)->addr, r.addr + 4 * MiB);
	cr_assert_eq(daxmap_mr_entry_mr(w)->length, 4 * MiB);
	st = stat_of(c);
	cr_assert_eq(st.misses, 3);
	cr_assert_eq(st.entries, 3);
	cr_assert_eq(st.held, 3);
	daxmap_mr_cache_put(a);
	daxmap_mr_cache_put(b);
	daxmap_mr_cache_put(d);
	daxmap_mr_cache_put(w);
	st = stat_of(c);
	cr_assert_eq(st.held, 0);
	cr_assert_eq(st.entries, 3);
	/* idle entries stay registered and are hit again */
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 6 * MiB, 4096, &w), 0);
	cr_assert_eq(fk->regs, 3);
	daxmap_mr_cache_put(w);
	cr_assert_eq(fk->deregs, 0);
	cr_assert_eq(daxmap_mr_cache_delete(&c), 0);
	cr_assert_eq(fk->deregs, 3);
	cr_assert_eq(fk->live, 0);
	cr_assert_eq(pins_of(r.pool, 0), 0);
	rig_free(&r);
}

struct blocker {
	struct daxmap_mr_cache *c;
	struct daxmap_map *map;
	int rc;
};

static void *slow_miss(void *arg)
{
	struct blocker *b = arg;
	struct daxmap_mr_entry *e;

	b->rc = daxmap_mr_cache_get(b->c, b->map, 4 * MiB, 1, &e);
	if (b->rc == 0)
		daxmap_mr_cache_put(e);
	return NULL;
}

Test(rdma, a_hit_takes_no_lock_while_a_miss_registers)
{
	struct rig r = rig_new(8 * MiB, true);
	struct daxmap_mr_cache *c;
	struct daxmap_mr_entry *e;
	struct blocker b;
	pthread_t t;

	cr_assert_eq(daxmap_mr_cache_new(&c, PD, ACCESS, 0, NULL, NULL), 0);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 1, &e), 0);
	daxmap_mr_cache_put(e);
	/* a miss stuck inside ibv_reg_mr(), with the cache's lock held */
	fk->block_reg = 1;
	b = (struct blocker){ c, r.map, -1 };
	cr_assert_eq(pthread_create(&t, NULL, slow_miss, &b), 0);
	while (!__atomic_load_n(&fk->in_reg, __ATOMIC_SEQ_CST))
		usleep(1000);
	for (int i = 0; i < 1000; i++) {
		cr_assert_eq(daxmap_mr_cache_get(c, r.map, (uint64_t)i * 64, 64, &e), 0);
		daxmap_mr_cache_put(e);
	}
	__atomic_store_n(&fk->block_reg, 0, __ATOMIC_SEQ_CST);
	pthread_join(t, NULL);
	cr_assert_eq(b.rc, 0, "%s", daxmap_errormsg());
	cr_assert_eq(stat_of(c).misses, 2);
	cr_assert_eq(stat_of(c).slow_hits, 0);
	cr_assert_eq(daxmap_mr_cache_delete(&c), 0);
	rig_free(&r);
}

static int revokes;
static struct daxmap_mr_entry *revoked_entry;
static int64_t put_after_ms;

static void on_revoke(struct daxmap_mr_entry *e, void *arg)
{
	(void)arg;
	revoked_entry = e;
	__atomic_add_fetch(&revokes, 1, __ATOMIC_SEQ_CST);
}

Test(rdma, a_remove_revokes_idle_entries_without_waiting)
{
	struct rig r = rig_new(8 * MiB, true);
	struct daxmap_mr_cache_stat st;
	struct daxmap_mr_cache *c;
	struct daxmap_mr_entry *e;
	int64_t t0;

	revokes = 0;
	cr_assert_eq(daxmap_mr_cache_new(&c, PD, ACCESS, 0, on_revoke, NULL), 0);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 6 * MiB, &e), 0);
	daxmap_mr_cache_put(e);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 7 * MiB, 1, &e), 0);
	daxmap_mr_cache_put(e);
	cr_assert_eq(pins_of(r.pool, 0), 1);
	fk->check_pool = r.pool;
	t0 = now_ms();
	cr_assert_eq(daxmap_region_remove(r.pool, "r", 10000), 0, "%s", daxmap_errormsg());
	fk->check_pool = NULL;
	/* the revoker reacts to the ZAP mark at once (a futex wake) */
	cr_assert_lt(now_ms() - t0, 2000);
	cr_assert_eq(fk->deregs, 2);
	cr_assert_eq(fk->live, 0);
	cr_assert_eq(revokes, 0, "idle entries need no callback");
	st = stat_of(c);
	cr_assert_eq(st.entries, 0);
	cr_assert_eq(st.revoked, 2);
	/* the mapping is released: no new registration */
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 1, &e), -ESTALE);
	cr_assert_eq(daxmap_mr_cache_delete(&c), 0);
	rig_free(&r);
}

Test(rdma, a_held_entry_holds_the_remove_until_its_put)
{
	struct rig r = rig_new(4 * MiB, true);
	struct daxmap_reclaim_stat rs;
	struct daxmap_mr_cache *c;
	struct daxmap_mr_entry *e, *again;

	revokes = 0;
	revoked_entry = NULL;
	cr_assert_eq(daxmap_mr_cache_new(&c, PD, ACCESS, 0, on_revoke, NULL), 0);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 100, &e), 0);
	cr_assert_eq(daxmap_region_remove(r.pool, "r", 300), -EBUSY);
	cr_assert(strstr(daxmap_errormsg(), "pin (rdma, revocable) of extents"), "%s",
		  daxmap_errormsg());
	cr_assert_eq(revokes, 1);
	cr_assert_eq(revoked_entry, e);
	cr_assert_eq(fk->deregs, 0, "deregistered while held");
	/* never handed out again */
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 100, &again), -ESTALE);
	cr_assert_eq(stat_of(c).held, 1);
	daxmap_mr_cache_put(e);
	cr_assert_eq(fk->deregs, 1);
	cr_assert_eq(stat_of(c).entries, 0);
	cr_assert_eq(daxmap_pool_reclaim(r.pool, &rs), 0);
	cr_assert_eq(rs.releases_finished, 1);
	cr_assert_eq(revokes, 1);
	cr_assert_eq(daxmap_mr_cache_delete(&c), 0);
	rig_free(&r);
}

/* The revoker takes a use of a held entry of its own (mark_dead(e,
 * true)): an entry at the use limit still has room for it, and is neither
 * deregistered nor dropped while held. */
Test(rdma, an_entry_at_its_use_limit_is_revoked_and_kept_until_put, .timeout = 120)
{
	struct rig r = rig_new(4 * MiB, true);
	struct daxmap_mr_cache *c;
	struct daxmap_mr_entry *e, *x;
	const uint32_t limit = (1U << 24) - 2;

	revokes = 0;
	revoked_entry = NULL;
	cr_assert_eq(daxmap_mr_cache_new(&c, PD, ACCESS, 0, on_revoke, NULL), 0);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 100, &e), 0);
	for (uint32_t i = 1; i < limit; i++) {
		cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 100, &x), 0);
		if (x != e)
			cr_assert_fail("use %u got another entry", i);
	}
	/* one more: not a use of e (its count is full) */
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 100, &x), 0, "%s", daxmap_errormsg());
	cr_assert_neq(x, e);
	daxmap_mr_cache_put(x);
	cr_assert_eq(daxmap_region_remove(r.pool, "r", 0), -EBUSY);
	/* the revokes run on the library's thread: the remove that did not
	 * wait may return first */
	for (int t = 0; t < 500 && (__atomic_load_n(&revokes, __ATOMIC_SEQ_CST) < 1 ||
				    __atomic_load_n(&fk->deregs, __ATOMIC_SEQ_CST) < 1); t++)
		usleep(10 * 1000);
	cr_assert_eq(revokes, 1, "the held entry was not revoked");
	cr_assert_eq(revoked_entry, e);
	cr_assert_eq(fk->deregs, 1, "only the idle second entry goes: %d", fk->deregs);
	cr_assert_eq(stat_of(c).held, 1);
	for (uint32_t i = 0; i < limit; i++)
		daxmap_mr_cache_put(e);
	cr_assert_eq(fk->deregs, 2);
	cr_assert_eq(stat_of(c).entries, 0);
	cr_assert_eq(daxmap_pool_reclaim(r.pool, NULL), 0);
	cr_assert_eq(daxmap_mr_cache_delete(&c), 0);
	rig_free(&r);
}

static void *put_later(void *arg)
{
	usleep(300 * 1000);
	put_after_ms = now_ms();
	daxmap_mr_cache_put(arg);
	return NULL;
}

static void revoke_then_put_later(struct daxmap_mr_entry *e, void *arg)
{
	pthread_t t;

	(void)arg;
	__atomic_add_fetch(&revokes, 1, __ATOMIC_SEQ_CST);
	cr_assert_eq(pthread_create(&t, NULL, put_later, e), 0);
	pthread_detach(t);
}

Test(rdma, a_remove_waiting_forever_returns_after_the_put)
{
	struct rig r = rig_new(4 * MiB, true);
	struct daxmap_mr_cache *c;
	struct daxmap_mr_entry *e;
	struct daxmap_region_info *ri;
	size_t n;

	revokes = 0;
	cr_assert_eq(daxmap_mr_cache_new(&c, PD, ACCESS, 0, revoke_then_put_later, NULL), 0);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 3 * MiB, 100, &e), 0);
	cr_assert_eq(daxmap_region_remove(r.pool, "r", DAXMAP_WAIT_FOREVER), 0, "%s",
		     daxmap_errormsg());
	cr_assert_geq(now_ms(), put_after_ms);
	cr_assert_neq(put_after_ms, 0);
	cr_assert_eq(revokes, 1);
	cr_assert_eq(fk->deregs, 1);
	cr_assert_eq(daxmap_region_list(r.pool, &ri, &n), 0);
	cr_assert_eq(n, 0);
	daxmap_region_list_free(ri);
	cr_assert_eq(daxmap_mr_cache_delete(&c), 0);
	rig_free(&r);
}

Test(rdma, a_forked_child_never_uses_or_deregisters_the_parents_mrs)
{
	struct rig r = rig_new(4 * MiB, true);
	struct daxmap_mr_cache *c;
	struct daxmap_mr_entry *e, *held;
	struct daxmap_pin *pin;
	pid_t pid;
	int st;

	cr_assert_eq(daxmap_mr_cache_new(&c, PD, ACCESS, 0, NULL, NULL), 0);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 1, &e), 0);
	daxmap_mr_cache_put(e);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 2 * MiB, 1, &held), 0);
	cr_assert_eq(daxmap_pin_rdma(&pin, r.map, 0, 4096, PD, ACCESS, NULL, NULL), 0);
	pid = fork();
	if (pid == 0) {
		struct daxmap_mr_entry *x = NULL;
		int bad = 0;

		bad |= daxmap_mr_cache_get(c, r.map, 0, 1, &x) != -ECHILD;
		bad |= x != NULL;
		bad |= !strstr(daxmap_errormsg(), "inherited through fork()") << 1;
		bad |= (daxmap_mr_cache_flush(c, NULL) != -ECHILD) << 2;
		daxmap_mr_cache_put(held); /* the parent's use: no effect here */
		daxmap_unpin(&pin);        /* must not deregister the parent's MR */
		bad |= (daxmap_mr_cache_delete(&c) != 0) << 3;
		bad |= (__atomic_load_n(&fk->deregs, __ATOMIC_SEQ_CST) != 0) << 4;
		_exit(bad);
	}
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %#x", st);
	cr_assert_eq(fk->deregs, 0);
	/* the parent's cache and pin are untouched */
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 1, &e), 0);
	cr_assert_eq(fk->regs, 3);
	cr_assert_eq(stat_of(c).held, 2);
	daxmap_mr_cache_put(e);
	daxmap_mr_cache_put(held);
	cr_assert_eq(daxmap_unpin(&pin), 0);
	cr_assert_eq(daxmap_mr_cache_delete(&c), 0);
	cr_assert_eq(fk->deregs, 3);
	rig_free(&r);
}

Test(rdma, idle_entries_are_evicted_for_room)
{
	struct rig r = rig_new(8 * MiB, true);
	struct daxmap_mr_cache *c;
	struct daxmap_mr_entry *e[3];

	cr_assert_eq(daxmap_mr_cache_new(&c, PD, ACCESS, 2, NULL, NULL), 0);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 1, &e[0]), 0);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 2 * MiB, 1, &e[1]), 0);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 4 * MiB, 1, &e[2]), -ENOSPC);
	cr_assert(strstr(daxmap_errormsg(), "all 2 MR cache entries are held"), "%s", daxmap_errormsg());
	daxmap_mr_cache_put(e[0]);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 4 * MiB, 1, &e[2]), 0);
	cr_assert_eq(stat_of(c).evicted, 1);
	cr_assert_eq(fk->deregs, 1);
	cr_assert_eq(pins_of(r.pool, 0), 0);
	daxmap_mr_cache_put(e[1]);
	daxmap_mr_cache_put(e[2]);
	cr_assert_eq(daxmap_mr_cache_delete(&c), 0);
	rig_free(&r);
}

Test(rdma, a_full_reference_list_evicts_an_idle_entry)
{
	struct rig r = rig_new(8 * MiB, true);
	static struct daxmap_pin *pins[1100];
	struct daxmap_mr_cache *c;
	struct daxmap_mr_entry *e, *f;
	int n = 0;

	/* fill this process's reference list (REF_ENTRIES runs), leave one */
	while (n < 1100 && daxmap_pin_external(&pins[n], r.map, 0, 1, NULL, NULL) == 0)
		n++;
	cr_assert_lt(n, 1100);
	cr_assert(strstr(daxmap_errormsg(), "extent runs already"), "%s", daxmap_errormsg());
	daxmap_unpin(&pins[--n]);
	cr_assert_eq(daxmap_mr_cache_new(&c, PD, ACCESS, 0, NULL, NULL), 0);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 1, &e), 0, "%s", daxmap_errormsg());
	/* held: no room, nothing to evict */
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 2 * MiB, 1, &f), -ENOSPC);
	daxmap_mr_cache_put(e);
	/* idle: evicted for the new one */
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 2 * MiB, 1, &f), 0, "%s", daxmap_errormsg());
	cr_assert_eq(stat_of(c).evicted, 1);
	cr_assert_eq(stat_of(c).entries, 1);
	daxmap_mr_cache_put(f);
	cr_assert_eq(daxmap_mr_cache_delete(&c), 0);
	while (n > 0)
		daxmap_unpin(&pins[--n]);
	cr_assert_eq(fk->live, 0);
	rig_free(&r);
}

Test(rdma, flush_and_delete)
{
	struct rig r = rig_new(8 * MiB, true);
	struct daxmap_mr_cache *c;
	struct daxmap_mr_entry *idle, *held;

	cr_assert_eq(daxmap_mr_cache_new(&c, PD, ACCESS, 0, NULL, NULL), 0);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 1, &idle), 0);
	daxmap_mr_cache_put(idle);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 2 * MiB, 1, &held), 0);
	cr_assert_eq(daxmap_mr_cache_delete(&c), -EBUSY);
	cr_assert(strstr(daxmap_errormsg(), "1 MR cache entry is still held"), "%s", daxmap_errormsg());
	cr_assert_not_null(c);
	cr_assert_eq(daxmap_mr_cache_flush(c, r.map), 2);
	cr_assert_eq(fk->deregs, 1, "the idle one at once");
	cr_assert_eq(daxmap_mr_entry_mr(held)->lkey, 2, "the held one stays usable");
	daxmap_mr_cache_put(held);
	cr_assert_eq(fk->deregs, 2);
	cr_assert_eq(daxmap_mr_cache_flush(c, NULL), 0);
	cr_assert_eq(daxmap_mr_cache_delete(&c), 0);
	cr_assert_null(c);
	rig_free(&r);
}

Test(rdma, a_new_mapping_never_hits_an_old_mappings_mr)
{
	struct rig r = rig_new(4 * MiB, true);
	struct daxmap_mr_cache *c;
	struct daxmap_mr_entry *e;

	cr_assert_eq(daxmap_mr_cache_new(&c, PD, ACCESS, 0, NULL, NULL), 0);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 1, &e), 0);
	daxmap_mr_cache_put(e);
	/* deleted without a flush, mapped again (often at the same address) */
	r.dev->kind = DAXMAP_KIND_FILE;
	daxmap_map_delete(&r.map);
	cr_assert_eq(daxmap_region_map(&r.map, r.pool, "r", 0), 0);
	r.dev->kind = DAXMAP_KIND_DEVDAX;
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 1, &e), 0);
	cr_assert_eq(daxmap_mr_entry_mr(e)->addr, daxmap_map_addr(r.map));
	cr_assert_eq(stat_of(c).misses, 2);
	daxmap_mr_cache_put(e);
	cr_assert_eq(daxmap_mr_cache_delete(&c), 0);
	cr_assert_eq(fk->live, 0);
	rig_free(&r);
}

/* ---- threads -------------------------------------------------------------- */

struct worker {
	struct daxmap_mr_cache *c;
	struct daxmap_map *map;
	unsigned seed;
	int ops, errors;
	int *stop;
};

static void *work(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < w->ops; i++) {
		uint64_t off = (uint64_t)(rand_r(&w->seed) % (8 * 1024)) * 1024;
		uint64_t len = 1 + (uint64_t)(rand_r(&w->seed) % 4096);
		struct daxmap_mr_entry *e;
		struct ibv_mr *mr;

		if (off + len > 8 * MiB)
			len = 8 * MiB - off;
		if (daxmap_mr_cache_get(w->c, w->map, off, len, &e) != 0) {
			w->errors++;
			continue;
		}
		mr = daxmap_mr_entry_mr(e);
		/* the MR covers what was asked */
		if ((char *)mr->addr > (char *)daxmap_map_addr(w->map) + off ||
		    (char *)mr->addr + mr->length < (char *)daxmap_map_addr(w->map) + off + len)
			w->errors++;
		daxmap_mr_cache_put(e);
	}
	return NULL;
}

static void *flusher(void *arg)
{
	struct worker *w = arg;

	while (!__atomic_load_n(w->stop, __ATOMIC_SEQ_CST)) {
		daxmap_mr_cache_flush(w->c, NULL);
		usleep(200);
	}
	return NULL;
}

Test(rdma, four_threads_and_a_flusher)
{
	struct rig r = rig_new(8 * MiB, true);
	struct daxmap_mr_cache *c;
	struct worker w[5];
	pthread_t t[5];
	int stop = 0;

	/* 5 entries: 4 chunks and the ranges across two of them evict; at most 4 are held, so a get always finds room */
	cr_assert_eq(daxmap_mr_cache_new(&c, PD, ACCESS, 5, NULL, NULL), 0);
	for (int i = 0; i < 5; i++) {
		w[i] = (struct worker){ c, r.map, (unsigned)i + 1, 20000, 0, &stop };
		cr_assert_eq(pthread_create(&t[i], NULL, i < 4 ? work : flusher, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(w[i].errors, 0, "thread %d: %d errors (%s)", i, w[i].errors,
			     daxmap_errormsg());
	}
	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(t[4], NULL);
	cr_assert_eq(stat_of(c).held, 0);
	cr_assert_leq(stat_of(c).entries, 5);
	cr_assert_eq(daxmap_mr_cache_delete(&c), 0);
	cr_assert_eq(fk->live, 0);
	cr_assert_eq(fk->regs, fk->deregs);
	for (uint64_t i = 0; i < 4; i++)
		cr_assert_eq(pins_of(r.pool, i), 0);
	rig_free(&r);
}

/* ---- on-demand paging (IBV_ACCESS_ON_DEMAND) ------------------------------ */

static uint64_t odp_caps;
static int odp_query_errno;

static int fake_query_odp(struct ibv_pd *pd, uint64_t *general_caps, char *name, size_t size)
{
	(void)pd;
	snprintf(name, size, "fake0");
	if (odp_query_errno)
		return odp_query_errno;
	*general_caps = odp_caps;
	return 0;
}

static const struct rdma_verbs odp_verbs = { fake_reg, fake_dereg, fake_query_odp };

#define ODP_ACCESS (ACCESS | IBV_ACCESS_ON_DEMAND)

/* A device without ODP: refused before the kernel is asked, naming the
 * device's capability rather than FOLL_LONGTERM or access flags. */
Test(rdma, odp_needs_a_device_that_offers_it)
{
	struct rig r = rig_new(4 * MiB, true);
	struct daxmap_mr_cache *c;
	struct daxmap_mr_entry *e;
	struct daxmap_pin *pin;

	rdma_set_verbs(&odp_verbs);
	odp_caps = 0;
	cr_assert_eq(daxmap_pin_rdma(&pin, r.map, 0, 4096, PD, ODP_ACCESS, NULL, NULL), -EOPNOTSUPP);
	cr_assert_null(pin);
	cr_assert(strstr(daxmap_errormsg(), "fake0 offers no on-demand paging") &&
		  strstr(daxmap_errormsg(), "IBV_ODP_SUPPORT") &&
		  !strstr(daxmap_errormsg(), "FOLL_LONGTERM refused"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_mr_cache_new(&c, PD, ODP_ACCESS, 0, NULL, NULL), 0);
	cr_assert_eq(daxmap_mr_cache_get(c, r.map, 0, 4096, &e), -EOPNOTSUPP);
	cr_assert(strstr(daxmap_errormsg(), "offers no on-demand paging"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_mr_cache_delete(&c), 0);
	/* a device that cannot be asked */
	odp_query_errno = EIO;
	cr_assert_eq(daxmap_pin_rdma(&pin, r.map, 0, 4096, PD, ODP_ACCESS, NULL, NULL), -EIO);
	cr_assert(strstr(daxmap_errormsg(), "cannot ask fake0"), "%s", daxmap_errormsg());
	odp_query_errno = 0;
	/* the default seam replacement has no query: no ODP */
	rdma_set_verbs(&fake_verbs);
	cr_assert_eq(daxmap_pin_rdma(&pin, r.map, 0, 4096, PD, ODP_ACCESS, NULL, NULL), -EOPNOTSUPP);
	cr_assert_eq(fk->regs, 0);
	cr_assert_eq(pins_of(r.pool, 0), 0);
	rig_free(&r);
}

/* With ODP: counted as its own backend, on devdax and (no long-term pin)
 * on memory where long-term pins are refused. */
Test(rdma, odp_is_its_own_backend)
{
	static const bool devdax[] = { true, false };

	rdma_set_verbs(&odp_verbs);
	odp_caps = IBV_ODP_SUPPORT;
	for (size_t k = 0; k < 2; k++) {
		struct rig r = rig_new(4 * MiB, devdax[k]);
		struct daxmap_holding *h;
		struct daxmap_pin *pin;
		size_t n, pins = 0;

		cr_assert_eq(daxmap_pin_rdma(&pin, r.map, 0, 4096, PD, ODP_ACCESS, NULL, NULL), 0,
			     "%s", daxmap_errormsg());
		cr_assert_eq(daxmap_pin_backend(pin), DAXMAP_PIN_RDMA_ODP);
		cr_assert_not_null(daxmap_pin_mr(pin));
		cr_assert_str_eq(daxmap_pin_backend_name(DAXMAP_PIN_RDMA_ODP), "rdma-odp");
		cr_assert_eq(daxmap_pool_holders(r.pool, &h, &n), 0);
		for (size_t i = 0; i < n; i++)
			if (h[i].kind == DAXMAP_REF_PIN) {
				cr_assert_eq(h[i].backend, DAXMAP_PIN_RDMA_ODP);
				pins++;
			}
		cr_assert_eq(pins, 1);
		free(h);
		cr_assert_eq(daxmap_unpin(&pin), 0);
		rig_free(&r);
	}
}

/* The kernel's refusal of an ODP MR does not blame FOLL_LONGTERM. */
Test(rdma, odp_refusals_name_odp)
{
	struct rig r = rig_new(4 * MiB, true);
	struct daxmap_pin *pin;

	rdma_set_verbs(&odp_verbs);
	odp_caps = IBV_ODP_SUPPORT;
	fk->reg_errno = EOPNOTSUPP;
	cr_assert_eq(daxmap_pin_rdma(&pin, r.map, 0, 4096, PD, ODP_ACCESS, NULL, NULL), -EOPNOTSUPP);
	cr_assert(strstr(daxmap_errormsg(), "FOLL_LONGTERM is not the cause") &&
		  strstr(daxmap_errormsg(), "on-demand paging"), "%s", daxmap_errormsg());
	fk->reg_errno = EINVAL;
	cr_assert_eq(daxmap_pin_rdma(&pin, r.map, 0, 4096, PD, ODP_ACCESS, NULL, NULL), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "refused IBV_ACCESS_ON_DEMAND"), "%s", daxmap_errormsg());
	cr_assert_eq(pins_of(r.pool, 0), 0);
	rig_free(&r);
}
