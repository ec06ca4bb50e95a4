/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_release_rig.c -- zap, wait and reclaim across real processes on the
 * rig's device-DAX (NVDIMM 2 MiB, hmem, NVDIMM 1 GiB): what another
 * process's mapping or pin does to a removal, waiting forever, revocable
 * pins, holders killed at random moments, and the caller's own mapping.
 * Every test runs on each of the three devices. Runs inside the QEMU rig
 * (tests/vm/run sets DAXMAP_TEST_*); anywhere else it exits 77, Meson's
 * "skipped", and says why.
 *
 * Every holder is a separate process (child.h): it opens the device and
 * the pool itself, since region mappings are MADV_DONTFORK and an inherited
 * pool handle is not the child's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <daxmap.h>

#include "child.h"
#include "helpers.h"
#include "rig.h"

struct pooled {
	const char *path;
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	uint64_t es;          /* extent size */
	uint64_t free0;       /* free extents of the empty pool */
	uint64_t n;           /* extents of the test region */
};

static void fresh_pool(struct pooled *p, const char *path)
{
	struct daxmap_pool_stat st;

	p->path = path;
	p->dev = open_dev(path);
	p->pool = rig_fresh_pool(p->dev, &st);
	p->es = st.extent_size;
	p->free0 = st.extents_free;
	/* the 1 GiB device has room for 2 extents only */
	p->n = st.extents_free >= 8 ? 4 : 1;
	cr_assert_geq(st.extents_free, p->n + 1);
}

static void close_pool(struct pooled *p)
{
	daxmap_pool_close(p->pool);
	daxmap_dev_close(p->dev);
}

static struct daxmap_pool_stat pstat(struct pooled *p)
{
	struct daxmap_pool_stat st;

	cr_assert_eq(daxmap_pool_stat(p->pool, &st), 0, "%s", daxmap_errormsg());
	return st;
}

/* Nothing is used any more and every extent is free again. */
static void assert_all_free(struct pooled *p)
{
	struct daxmap_pool_stat st = pstat(p);

	cr_assert_eq(st.extents_releasing, 0, "%llu extents still releasing",
		     (unsigned long long)st.extents_releasing);
	cr_assert_eq(st.extents_used, 0, "%llu extents still used",
		     (unsigned long long)st.extents_used);
	cr_assert_eq(st.extents_free, p->free0, "%llu extents free, %llu at the start",
		     (unsigned long long)st.extents_free, (unsigned long long)p->free0);
}

/* The reference counts of region: every extent has (refcount, pins). */
static void assert_refs(struct pooled *p, const char *region, uint64_t n,
			uint32_t (*want)(uint64_t index, uint32_t *pins, void *arg), void *arg,
			int releasing)
{
	struct daxmap_extent_refs *r;
	size_t cnt;

	cr_assert_eq(daxmap_pool_refs(p->pool, region, &r, &cnt), 0, "%s", daxmap_errormsg());
	cr_assert_eq(cnt, n, "%zu extents listed for '%s', %llu expected", cnt, region,
		     (unsigned long long)n);
	for (size_t i = 0; i < cnt; i++) {
		uint32_t pins, ref = want(r[i].index, &pins, arg);

		cr_assert_eq(r[i].releasing, releasing, "extent %llu", (unsigned long long)r[i].extent);
		cr_assert_eq(r[i].refcount, ref, "extent %llu (index %llu): refcount %u, %u expected",
			     (unsigned long long)r[i].extent, (unsigned long long)r[i].index,
			     r[i].refcount, ref);
		cr_assert_eq(r[i].pins, pins, "extent %llu (index %llu): %u pins, %u expected",
			     (unsigned long long)r[i].extent, (unsigned long long)r[i].index,
			     r[i].pins, pins);
	}
	free(r);
}

/* The pin of the tests: extents 1 and 2 of 4 (straddling their seam, not
 * starting on an extent), or a piece of the only one. */
static void pin_range(const struct pooled *p, uint64_t *off, uint64_t *len)
{
	*off = p->n >= 4 ? p->es + 4096 : 4096;
	*len = p->n >= 4 ? p->es : 8192;
}

static int pinned(const struct pooled *p, uint64_t index)
{
	uint64_t off, len;

	pin_range(p, &off, &len);
	return index >= off / p->es && index <= (off + len - 1) / p->es;
}

struct want_arg {
	const struct pooled *p;
	uint32_t maps;  /* mappings on every extent */
	uint32_t pins;  /* pins on the pinned ones */
};

static uint32_t want_counts(uint64_t index, uint32_t *pins, void *arg)
{
	const struct want_arg *w = arg;

	*pins = pinned(w->p, index) ? w->pins : 0;
	return w->maps + *pins * DAXMAP_PIN_BIAS;
}

/* Total extents held by pid (kind 0: any kind), from daxmap_pool_holders(). */
static uint64_t held_by(struct pooled *p, pid_t pid, enum daxmap_ref_kind kind, int *revocable)
{
	struct daxmap_holding *h;
	size_t n;
	uint64_t sum = 0;

	cr_assert_eq(daxmap_pool_holders(p->pool, &h, &n), 0, "%s", daxmap_errormsg());
	for (size_t i = 0; i < n; i++) {
		if (h[i].pid != pid || (kind && h[i].kind != kind))
			continue;
		cr_assert_eq(h[i].alive, 1, "holder %d is alive", (int)pid);
		sum += h[i].extents;
		if (revocable)
			*revocable = h[i].revocable;
	}
	free(h);
	return sum;
}

/* What the device holds at each extent of a region being released, read
 * through a raw device mapping (no reference): the child's pattern. */
static void assert_device_holds(struct pooled *p, const char *region, pid_t pid)
{
	struct daxmap_extent_refs *r;
	size_t cnt;

	cr_assert_eq(daxmap_pool_refs(p->pool, region, &r, &cnt), 0, "%s", daxmap_errormsg());
	for (size_t i = 0; i < cnt; i++) {
		struct daxmap_map *raw;
		char want[64];
		const char *a;

		cr_assert_eq(daxmap_map_new(&raw, p->dev, r[i].offset, p->es, 0), 0, "%s",
			     daxmap_errormsg());
		a = daxmap_map_addr(raw);
		child_pattern(want, pid, r[i].index);
		for (int w = 0; w < 2; w++)
			cr_assert_eq(memcmp(a + child_spot(p->es, 0, w), want, sizeof(want)), 0,
				     "device offset %#llx holds \"%.63s\", not \"%s\"",
				     (unsigned long long)r[i].offset, a + child_spot(p->es, 0, w), want);
		daxmap_map_delete(&raw);
	}
	free(r);
}

static void assert_msg_has(const char *msg, const char *fmt, int pid)
{
	char want[128];

	snprintf(want, sizeof(want), fmt, pid);
	cr_assert(strstr(msg, want), "\"%s\" not in: %s", want, msg);
}

/* 1a. A live mapping in another process: the removal waits its timeout
 *     out, names the holder, and the extents stay ZAP until it goes. */
static void mapping_blocks_removal(const char *path)
{
	struct pooled p;
	struct want_arg w = { &p, 1, 0 };
	struct daxmap_map *m;
	struct daxmap_pool_stat st;
	struct child k;
	char msg[1024];
	int64_t t0, ms;
	int rc;

	fresh_pool(&p, path);
	cr_assert_eq(daxmap_region_create(p.pool, "r", p.n * p.es, NULL), 0, "%s", daxmap_errormsg());
	k = child_mapping(path, "r");
	cr_assert_eq(held_by(&p, k.pid, DAXMAP_REF_MAP, NULL), p.n);

	t0 = now_ns();
	rc = daxmap_region_remove(p.pool, "r", 200);
	ms = ms_since(t0);
	snprintf(msg, sizeof(msg), "%s", daxmap_errormsg());
	cr_assert_eq(rc, -EBUSY, "remove with a live mapping in pid %d: %d (%s)", (int)k.pid, rc, msg);
	cr_assert_geq(ms, 199, "gave up after %lld ms, not 200", (long long)ms);
	assert_msg_has(msg, "pid %d mapping", k.pid);
	assert_msg_has(msg, "%d extent(s) stay in ZAP", (int)p.n);
	cr_assert_null(strstr(msg, "pin ("), "%s", msg);

	/* ZAP: no new mapping, not found by name for anything else */
	cr_assert_eq(daxmap_region_map(&m, p.pool, "r", 0), -ESTALE, "%s", daxmap_errormsg());
	st = pstat(&p);
	cr_assert_eq(st.extents_releasing, p.n);
	cr_assert_eq(st.extents_used, p.n);
	assert_refs(&p, "r", p.n, want_counts, &w, 1);
	/* the holder's data is untouched, seen by it and on the device */
	child_do(&k, CHILD(.op = CHILD_VERIFY));
	assert_device_holds(&p, "r", k.pid);

	/* the holder lets go: a remove of the same name finishes the job */
	child_do(&k, CHILD(.op = CHILD_UNMAP));
	cr_assert_eq(daxmap_region_remove(p.pool, "r", 0), 0, "%s", daxmap_errormsg());
	assert_all_free(&p);
	cr_assert_eq(daxmap_region_map(&m, p.pool, "r", 0), -ENOENT);
	child_finish(&k);
	close_pool(&p);
}

/* 1b. The same with a pin: a pin alone (its mapping gone) still blocks;
 *     daxmap_pool_reclaim() finishes the removal once it is dropped. */
static void pin_blocks_removal(const char *path)
{
	struct pooled p;
	struct want_arg w = { &p, 1, 1 };
	struct daxmap_reclaim_stat rs;
	struct daxmap_map *m;
	struct child k;
	uint64_t off, len;
	char msg[1024], want[64];
	int revocable = -1;
	int rc;

	fresh_pool(&p, path);
	pin_range(&p, &off, &len);
	cr_assert_eq(daxmap_region_create(p.pool, "r", p.n * p.es, NULL), 0, "%s", daxmap_errormsg());
	k = child_mapping(path, "r");
	child_do(&k, CHILD(.op = CHILD_PIN, .off = off, .len = len));
	cr_assert_eq(held_by(&p, k.pid, DAXMAP_REF_PIN, &revocable), p.n >= 4 ? 2 : 1);
	cr_assert_eq(revocable, 0);
	assert_refs(&p, "r", p.n, want_counts, &w, 0);

	rc = daxmap_region_remove(p.pool, "r", 200);
	snprintf(msg, sizeof(msg), "%s", daxmap_errormsg());
	cr_assert_eq(rc, -EBUSY, "remove with a mapping and a pin in pid %d: %d (%s)", (int)k.pid,
		     rc, msg);
	assert_msg_has(msg, "pid %d mapping", k.pid);
	assert_msg_has(msg, "pid %d pin (external)", k.pid);
	cr_assert_eq(daxmap_region_map(&m, p.pool, "r", 0), -ESTALE, "%s", daxmap_errormsg());
	assert_refs(&p, "r", p.n, want_counts, &w, 1);
	child_do(&k, CHILD(.op = CHILD_VERIFY));
	assert_device_holds(&p, "r", k.pid);

	/* the mapping goes, the pin stays (a device still DMAs there) */
	child_do(&k, CHILD(.op = CHILD_UNMAP));
	w.maps = 0;
	assert_refs(&p, "r", p.n, want_counts, &w, 1);
	rc = daxmap_region_remove(p.pool, "r", 200);
	snprintf(msg, sizeof(msg), "%s", daxmap_errormsg());
	cr_assert_eq(rc, -EBUSY, "remove with a pin in pid %d: %d (%s)", (int)k.pid, rc, msg);
	assert_msg_has(msg, "pid %d pin (external)", k.pid);
	snprintf(want, sizeof(want), "pid %d mapping", (int)k.pid);
	cr_assert_null(strstr(msg, want), "%s", msg);
	cr_assert_eq(daxmap_pool_reclaim(p.pool, &rs), 0, "%s", daxmap_errormsg());
	cr_assert_eq(rs.releases_finished, 0);
	cr_assert_eq(rs.extents_waiting, p.n);
	cr_assert_eq(pstat(&p).extents_releasing, p.n);

	/* unpinned: reclaim frees them */
	child_do(&k, CHILD(.op = CHILD_UNPIN));
	cr_assert_eq(daxmap_pool_reclaim(p.pool, &rs), 0, "%s", daxmap_errormsg());
	cr_assert_eq(rs.releases_finished, 1);
	cr_assert_eq(rs.extents_freed, p.n);
	cr_assert_eq(rs.extents_waiting, 0);
	cr_assert_eq(rs.holders_dropped, 0, "the holder is alive");
	assert_all_free(&p);
	child_finish(&k);
	close_pool(&p);
}

ParameterizedTestParameters(release, mapping_blocks_removal)
{
	return RIG_DEVDAX_PARAMS();
}

ParameterizedTest(struct rig_dev *d, release, mapping_blocks_removal, .timeout = 120)
{
	mapping_blocks_removal(env_or_skip(d->env));
}

ParameterizedTestParameters(release, pin_blocks_removal)
{
	return RIG_DEVDAX_PARAMS();
}

ParameterizedTest(struct rig_dev *d, release, pin_blocks_removal, .timeout = 120)
{
	pin_blocks_removal(env_or_skip(d->env));
}

/* 2. DAXMAP_WAIT_FOREVER returns once the other process dropped its
 *    mapping, not before: the child stamps the time just before it drops. */
static void wait_forever(const char *path)
{
	struct pooled p;
	struct child_reply m;
	struct child k;
	int64_t t0, t1;
	int rc;

	fresh_pool(&p, path);
	cr_assert_eq(daxmap_region_create(p.pool, "r", p.n * p.es, NULL), 0, "%s", daxmap_errormsg());
	k = child_mapping(path, "r");
	t0 = now_ns();
	child_send(&k, CHILD(.op = CHILD_UNMAP, .delay_ms = 300));
	rc = daxmap_region_remove(p.pool, "r", DAXMAP_WAIT_FOREVER);
	t1 = now_ns();
	cr_assert_eq(rc, 0, "%s", daxmap_errormsg());
	m = child_read(&k);
	cr_assert_eq(m.rc, 0, "%s", m.text);
	cr_assert_gt(t1, m.t_ns, "remove returned %lld us before the child dropped its mapping",
		     (long long)(m.t_ns - t1) / 1000);
	cr_assert_geq(t1 - t0, 300000000LL, "remove returned after %lld ms",
		      (long long)(t1 - t0) / 1000000);
	assert_all_free(&p);
	child_finish(&k);
	close_pool(&p);
}

ParameterizedTestParameters(release, wait_forever)
{
	return RIG_DEVDAX_PARAMS();
}

ParameterizedTest(struct rig_dev *d, release, wait_forever, .timeout = 120)
{
	wait_forever(env_or_skip(d->env));
}

/* 3. A revocable pin in another process: its callback runs there, on a
 *    library thread, and unpins; the child then drops its mapping. */
static void revocable_pin(const char *path)
{
	struct pooled p;
	struct want_arg w = { &p, 1, 1 };
	struct child_reply m;
	struct child k;
	uint64_t off, len;
	int revocable = -1;
	int64_t t0, ms;
	int rc;

	fresh_pool(&p, path);
	pin_range(&p, &off, &len);
	cr_assert_eq(daxmap_region_create(p.pool, "r", p.n * p.es, NULL), 0, "%s", daxmap_errormsg());
	k = child_mapping(path, "r");
	child_do(&k, CHILD(.op = CHILD_PIN, .off = off, .len = len, .revocable = 1));
	cr_assert_eq(held_by(&p, k.pid, DAXMAP_REF_PIN, &revocable), p.n >= 4 ? 2 : 1);
	cr_assert_eq(revocable, 1);
	assert_refs(&p, "r", p.n, want_counts, &w, 0);
	m = child_do(&k, CHILD(.op = CHILD_STATUS));
	cr_assert_eq(m.cb_calls, 0, "revoked before any release");

	/* the child waits for its callback, then drops its mapping */
	child_send(&k, CHILD(.op = CHILD_WAIT_REVOKE));
	child_send(&k, CHILD(.op = CHILD_UNMAP));
	t0 = now_ns();
	rc = daxmap_region_remove(p.pool, "r", 5000);
	ms = ms_since(t0);
	cr_assert_eq(rc, 0, "after %lld ms: %s", (long long)ms, daxmap_errormsg());
	m = child_read(&k);
	cr_assert_eq(m.rc, 0, "%s", m.text);
	cr_assert_eq(child_read(&k).rc, 0, "the child could not drop its mapping");
	cr_assert_eq(m.cb_pid, k.pid, "the callback ran in pid %d, not in the pin holder %d",
		     (int)m.cb_pid, (int)k.pid);
	cr_assert_neq(m.cb_tid, m.main_tid, "the callback ran on the child's main thread");
	cr_assert_eq(m.cb_unpin_rc, 0, "daxmap_unpin() in the callback: %d", m.cb_unpin_rc);
	cr_assert_eq(m.cb_calls, 1);
	assert_all_free(&p);
	/* called once */
	usleep(300 * 1000);
	m = child_do(&k, CHILD(.op = CHILD_STATUS));
	cr_assert_eq(m.cb_calls, 1, "the revoke callback ran %d times", m.cb_calls);
	printf("release: revocable pin on %s: removed in %lld ms (callback in pid %d, thread %d)\n",
	       path, (long long)ms, (int)m.cb_pid, (int)m.cb_tid);
	fflush(stdout);
	child_finish(&k);
	close_pool(&p);
}

ParameterizedTestParameters(release, revocable_pin)
{
	return RIG_DEVDAX_PARAMS();
}

ParameterizedTest(struct rig_dev *d, release, revocable_pin, .timeout = 120)
{
	revocable_pin(env_or_skip(d->env));
}

/* 4. Processes killed (SIGKILL) at random moments while they map, pin,
 *    unpin and unmap in a loop: after reclaim every count is exactly 0 and
 *    a removal with timeout 0 goes through. */
/* The child's loop, after it mapped "k" for good: whenever it answered
 * that, it holds references. A failure exits at once, so that the kill
 * finds it gone and the test says so. */
static int churn(struct child_env *e, long arg, char *text, size_t size)
{
	(void)arg;
	(void)text;
	(void)size;
	for (unsigned i = 0;; i++) {
		struct daxmap_map *m;
		struct daxmap_pin *pin;
		volatile char *a;

		if (daxmap_region_map(&m, e->pool, "k", 0))
			_exit(4);
		a = daxmap_map_addr(m);
		a[(i * 4096) % (2 * e->es)] = (char)i;
		/* across the seam of the two extents; every other one revocable */
		if (daxmap_pin_external(&pin, m, e->es / 2, e->es, (i & 1) ? child_unpin_arg : NULL, &pin))
			_exit(5);
		if (daxmap_unpin(&pin) || daxmap_map_delete(&m))
			_exit(6);
	}
}

static void killed_holders(const char *path, int rounds)
{
	struct pooled p;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	int kills = 0, holding = 0, dropped = 0, early = 0;
	int64_t t0 = now_ns();

	fresh_pool(&p, path);
	srand(seed);
	cr_assert_eq(daxmap_region_create(p.pool, "k", 2 * p.es, NULL), 0, "%s", daxmap_errormsg());
	/* attach to the runtime state now: a first attach drops dead holders
	 * by itself, and the listing below must see them first */
	cr_assert_eq(daxmap_pool_reclaim(p.pool, NULL), 0, "%s", daxmap_errormsg());
	for (int i = 0; i < rounds; i++) {
		struct daxmap_reclaim_stat rs;
		struct daxmap_extent_refs *r;
		struct daxmap_holding *h;
		size_t n;
		int dead = 0;
		struct child k = child_spawn(&(struct child_spec){ .path = path });
		pid_t c = k.pid;

		child_send(&k, CHILD(.op = CHILD_MAP, .region = "k"));
		child_send(&k, CHILD(.op = CHILD_RUN, .run = churn));
		if (i % 4 == 3) {
			/* anywhere, opening the pool included */
			usleep((useconds_t)(rand() % 40000));
		} else {
			/* opened, mapped: ready */
			for (int step = 0; step < 2; step++) {
				struct child_reply m = child_read(&k);

				cr_assert_eq(m.rc, 0, "round %d: the child failed: %s", i, m.text);
			}
			usleep((useconds_t)(rand() % 20000));
		}
		child_kill(&k);
		kills++;

		/* before reclaim: did it die holding references? */
		cr_assert_eq(daxmap_pool_holders(p.pool, &h, &n), 0, "%s", daxmap_errormsg());
		for (size_t j = 0; j < n; j++) {
			cr_assert_eq(h[j].pid, c, "round %d: a reference of pid %d", i, h[j].pid);
			cr_assert_eq(h[j].alive, 0, "round %d: pid %d is dead", i, (int)c);
			dead++;
		}
		free(h);
		holding += dead > 0;
		early += i % 4 == 3 && dead == 0;
		/* it had mapped "k" before it said ready */
		cr_assert(i % 4 == 3 || dead > 0, "round %d: killed after mapping, no references listed", i);

		cr_assert_eq(daxmap_pool_reclaim(p.pool, &rs), 0, "round %d: %s", i, daxmap_errormsg());
		dropped += (int)rs.holders_dropped;
		if (dead)
			cr_assert_eq(rs.holders_dropped, 1, "round %d: reclaim dropped %u holders",
				     i, rs.holders_dropped);
		cr_assert_eq(daxmap_pool_refs(p.pool, NULL, &r, &n), 0, "%s", daxmap_errormsg());
		cr_assert_eq(n, 2);
		for (size_t j = 0; j < n; j++) {
			cr_assert_eq(r[j].refcount, 0, "round %d (%d references before reclaim): extent %llu refcount %u",
				     i, dead, (unsigned long long)r[j].extent, r[j].refcount);
			cr_assert_eq(r[j].pins, 0, "round %d: extent %llu pins %u", i,
				     (unsigned long long)r[j].extent, r[j].pins);
			cr_assert_eq(r[j].releasing, 0);
		}
		free(r);
		cr_assert_eq(daxmap_pool_holders(p.pool, &h, &n), 0, "%s", daxmap_errormsg());
		free(h);
		cr_assert_eq(n, 0, "round %d: %zu references left after reclaim", i, n);

		/* nothing blocks the removal of what the dead process used */
		cr_assert_eq(daxmap_region_remove(p.pool, "k", 0), 0, "round %d: %s", i,
			     daxmap_errormsg());
		assert_all_free(&p);
		cr_assert_eq(daxmap_region_create(p.pool, "k", 2 * p.es, NULL), 0, "%s",
			     daxmap_errormsg());
	}
	cr_assert_eq(daxmap_region_remove(p.pool, "k", 0), 0, "%s", daxmap_errormsg());
	assert_all_free(&p);
	printf("release: %s: %d processes killed with SIGKILL (%d holding references, %d before "
	       "mapping anything), %d dead holders dropped by reclaim, %lld ms, seed %u\n",
	       path, kills, holding, early, dropped, (long long)ms_since(t0), seed);
	fflush(stdout);
	cr_assert_geq(holding, rounds / 2, "too few kills landed while references were held");
	close_pool(&p);
}

/* The 1 GiB device takes longer to map: fewer rounds. */
struct churn_dev {
	char env[32];    /* not a pointer: see struct rig_dev */
	int rounds;
};

ParameterizedTestParameters(release, killed_holders)
{
	static struct churn_dev devs[] = {
		{ "DAXMAP_TEST_DEVDAX_2M", 50 },
		{ "DAXMAP_TEST_HMEM", 50 },
		{ "DAXMAP_TEST_DEVDAX_1G", 20 },
	};

	return cr_make_param_array(struct churn_dev, devs, sizeof(devs) / sizeof(devs[0]));
}

ParameterizedTest(struct churn_dev *d, release, killed_holders, .timeout = 300)
{
	killed_holders(env_or_skip(d->env), d->rounds);
}

/*
 * The permissions of [addr, addr + len) in /proc/self/maps: 1 when the
 * whole range is mapped with perms, 0 when some of it has others, -1 when
 * part of it is not mapped at all.
 */
static int range_perms(const void *addr, uint64_t len, const char *perms)
{
	FILE *f = fopen("/proc/self/maps", "re");
	uintptr_t lo = (uintptr_t)addr, hi = lo + len, at = lo;
	char line[512];
	int ok = 1;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		char pr[8];

		if (sscanf(line, "%lx-%lx %7s", &a, &b, pr) != 3 || b <= lo || a >= hi)
			continue;
		if (strcmp(pr, perms) != 0)
			ok = 0;
		if (a <= at && b > at)
			at = b;
	}
	fclose(f);
	return at < hi ? -1 : ok;
}

static sigjmp_buf segv_jmp;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(segv_jmp, 1);
}

/* Does reading addr fault? */
static int read_faults(const volatile char *addr)
{
	struct sigaction sa, old;
	int faulted = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old);
	if (sigsetjmp(segv_jmp, 1) == 0)
		(void)*addr;
	else
		faulted = 1;
	sigaction(SIGSEGV, &old, NULL);
	return faulted;
}

/* 5. The caller's own mapping does not hold its own removal up: it becomes
 *    PROT_NONE (a stale access faults) and the extents are freed at once.
 *    A shrink does the same to the tail only. */
static void own_mapping(const char *path)
{
	struct pooled p;
	struct daxmap_map *m;
	uint64_t n, keep, actual;
	char *a;
	int64_t t0, ms;
	int rc;

	fresh_pool(&p, path);
	n = p.n >= 4 ? 4 : 2;
	keep = n / 2;
	cr_assert_eq(daxmap_region_create(p.pool, "own", n * p.es, NULL), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map(&m, p.pool, "own", 0), 0, "%s", daxmap_errormsg());
	a = daxmap_map_addr(m);
	for (uint64_t i = 0; i < n; i++)
		a[i * p.es] = 'x';
	cr_assert_eq(range_perms(a, n * p.es, "rw-s"), 1);

	/* shrink: the tail goes PROT_NONE, the head stays */
	t0 = now_ns();
	rc = daxmap_region_resize(p.pool, "own", keep * p.es, &actual, 10000);
	ms = ms_since(t0);
	cr_assert_eq(rc, 0, "shrink with only our own mapping: %s", daxmap_errormsg());
	cr_assert_eq(actual, keep * p.es);
	cr_assert_lt(ms, 5000, "the shrink took %lld ms", (long long)ms);
	cr_assert_eq(range_perms(a, keep * p.es, "rw-s"), 1, "the head was touched");
	cr_assert_eq(range_perms(a + keep * p.es, (n - keep) * p.es, "---p"), 1,
		     "the released tail is not PROT_NONE");
	cr_assert_eq(pstat(&p).extents_used, keep);
	cr_assert_eq(pstat(&p).extents_releasing, 0);
	cr_assert_eq(a[0], 'x');
	cr_assert(read_faults(a + keep * p.es), "reading the released tail did not fault");

	/* remove: the rest, at once */
	t0 = now_ns();
	rc = daxmap_region_remove(p.pool, "own", 10000);
	ms = ms_since(t0);
	cr_assert_eq(rc, 0, "remove with only our own mapping: %s", daxmap_errormsg());
	cr_assert_lt(ms, 5000, "the remove took %lld ms", (long long)ms);
	cr_assert_eq(range_perms(a, n * p.es, "---p"), 1, "the mapping is not PROT_NONE");
	cr_assert(read_faults(a), "reading a removed region did not fault");
	assert_all_free(&p);
	printf("release: own mapping on %s: shrink and remove did not wait (%lld ms)\n", path,
	       (long long)ms);
	fflush(stdout);
	cr_assert_eq(daxmap_map_delete(&m), 0, "%s", daxmap_errormsg());
	cr_assert_eq(range_perms(a, n * p.es, "---p"), -1, "still mapped after daxmap_map_delete()");
	close_pool(&p);
}

ParameterizedTestParameters(release, own_mapping_prot_none)
{
	return RIG_DEVDAX_PARAMS();
}

ParameterizedTest(struct rig_dev *d, release, own_mapping_prot_none, .timeout = 120)
{
	own_mapping(env_or_skip(d->env));
}

RIG_SKIP_UNLESS(getenv("DAXMAP_TEST_DEVDAX_2M"), "device-DAX")
