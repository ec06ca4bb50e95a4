/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_release.c -- zap, wait, reclaim through the public API on emulated
 * devices, with real processes holding the references (child.h).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>


#include <daxmap.h>

#include "child.h"
#include "helpers.h"
#include "lib/pool_handle.h"
#include "lib/ref.h"
#include "lib/runtime.h"

/* Permissions of the mapping holding addr in /proc/self/maps ("rw-s"). */
static void perms_of(const void *addr, char out[5])
{
	FILE *f = fopen("/proc/self/maps", "re");
	unsigned long lo, hi;
	char line[512], p[5];

	cr_assert_not_null(f);
	strcpy(out, "none");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %4s", &lo, &hi, p) == 3 &&
		    (unsigned long)addr >= lo && (unsigned long)addr < hi) {
			memcpy(out, p, 5);
			break;
		}
	fclose(f);
}

/* Every extent of the pool unreferenced? */
static void assert_counts_zero(struct daxmap_pool *pool)
{
	struct daxmap_extent_refs *r;
	size_t n;

	cr_assert_eq(daxmap_pool_refs(pool, NULL, &r, &n), 0, "%s", daxmap_errormsg());
	for (size_t i = 0; i < n; i++)
		cr_assert(r[i].refcount == 0 && r[i].pins == 0,
			  "extent %llu of '%s': refcount %u pins %u",
			  (unsigned long long)r[i].extent, r[i].region, r[i].refcount, r[i].pins);
	free(r);
}

/* ---- tests ------------------------------------------------------------------- */

Test(release, remove_waits_for_another_process_then_reclaim_finishes)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_reclaim_stat rs;
	struct daxmap_extent_refs *er;
	struct daxmap_region_info *ri;
	struct daxmap_pool_stat st;
	struct daxmap_map *m = NULL;
	struct child h;
	char pid[32];
	size_t n;

	cr_assert_eq(daxmap_region_create(pool, "r", 4 * MiB, NULL), 0);
	h = child_mapping(daxmap_dev_path(dev), "r");
	cr_assert_eq(daxmap_region_remove(pool, "r", 100), -EBUSY);
	snprintf(pid, sizeof(pid), "pid %d mapping", (int)h.pid);
	cr_assert(strstr(daxmap_errormsg(), pid) && strstr(daxmap_errormsg(), "stay in ZAP"),
		  "%s", daxmap_errormsg());
	/* ZAP: gone by name, no new mapping, counted as releasing */
	cr_assert_eq(daxmap_region_list(pool, &ri, &n), 0);
	cr_assert_eq(n, 0);
	free(ri);
	cr_assert_eq(daxmap_region_map(&m, pool, "r", 0), -ESTALE);
	cr_assert(strstr(daxmap_errormsg(), "being removed"), "%s", daxmap_errormsg());
	cr_assert_null(m);
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.extents_releasing, 2);
	cr_assert_eq(daxmap_pool_refs(pool, "r", &er, &n), 0, "%s", daxmap_errormsg());
	cr_assert_eq(n, 2);
	cr_assert(er[0].releasing && er[0].refcount == 1 && er[0].pins == 0);
	free(er);
	cr_assert_eq(daxmap_pool_reclaim(pool, &rs), 0);
	cr_assert_eq(rs.extents_waiting, 2);
	cr_assert_eq(rs.releases_finished, 0);
	child_do(&h, CHILD(.op = CHILD_UNMAP));
	cr_assert_eq(daxmap_pool_reclaim(pool, &rs), 0, "%s", daxmap_errormsg());
	cr_assert_eq(rs.releases_finished, 1);
	cr_assert_eq(rs.extents_freed, 2);
	cr_assert_eq(rs.extents_waiting, 0);
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.extents_used, 0);
	cr_assert_eq(st.extents_releasing, 0);
	child_finish(&h);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(release, remove_returns_once_the_last_reference_is_dropped)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct child_reply d;
	struct child h;
	int64_t t0, t1;

	cr_assert_eq(daxmap_region_create(pool, "r", 2 * MiB, NULL), 0);
	h = child_mapping(daxmap_dev_path(dev), "r");
	child_do(&h, CHILD(.op = CHILD_PIN, .off = 0, .len = 4096));
	t0 = now_ns();
	/* unpin and unmap 300 ms from now */
	child_send(&h, CHILD(.op = CHILD_DROP, .delay_ms = 300));
	cr_assert_eq(daxmap_region_remove(pool, "r", DAXMAP_WAIT_FOREVER), 0, "%s",
		     daxmap_errormsg());
	t1 = now_ns();
	/* the holder answers after it dropped both: it must be there */
	d = child_read(&h);
	cr_assert_eq(d.rc, 0, "%s", d.text);
	cr_assert_geq((t1 - t0) / 1000000, 250, "remove returned after %lld ms, before the holder let go",
		      (long long)(t1 - t0) / 1000000);
	cr_assert_gt(t1, d.t_ns, "remove returned before the holder began to let go");
	assert_counts_zero(pool);
	child_finish(&h);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(release, shrink_keeps_the_tail_in_zap_until_it_is_idle)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_region_info *ri;
	struct daxmap_map *m;
	uint64_t actual = 0;
	struct child h;
	size_t n;

	cr_assert_eq(daxmap_region_create(pool, "r", 6 * MiB, NULL), 0);
	h = child_mapping(daxmap_dev_path(dev), "r");
	cr_assert_eq(daxmap_region_resize(pool, "r", 2 * MiB, &actual, 0), -EBUSY);
	cr_assert_eq(actual, 0, "actual is set on success only");
	cr_assert_eq(daxmap_region_list(pool, &ri, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(ri[0].extents, 1);
	cr_assert_eq(ri[0].releasing, 2);
	free(ri);
	/* a new mapping covers what stays, not what is being released */
	cr_assert_eq(daxmap_region_map(&m, pool, "r", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_map_len(m), 2 * MiB);
	/* growing waits for the pending shrink */
	cr_assert_eq(daxmap_region_resize(pool, "r", 8 * MiB, NULL, 0), -EBUSY);
	cr_assert(strstr(daxmap_errormsg(), "still releasing 2 extent(s)"), "%s", daxmap_errormsg());
	child_do(&h, CHILD(.op = CHILD_UNMAP));
	cr_assert_eq(daxmap_region_resize(pool, "r", 8 * MiB, &actual, 0), 0, "%s",
		     daxmap_errormsg());
	cr_assert_eq(actual, 8 * MiB);
	daxmap_map_delete(&m);
	assert_counts_zero(pool);
	child_finish(&h);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(release, own_mappings_become_prot_none)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_map *whole, *part;
	char p[5];
	char *a;

	cr_assert_eq(daxmap_region_create(pool, "a", 6 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_create(pool, "b", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_map(&part, pool, "a", 0), 0);
	cr_assert_eq(daxmap_region_map(&whole, pool, "b", 0), 0);
	a = daxmap_map_addr(part);
	memset(a, 0x11, 6 * MiB);
	/* shrinking a to one extent zaps the tail of the mapping only */
	cr_assert_eq(daxmap_region_resize(pool, "a", 2 * MiB, NULL, 0), 0, "%s",
		     daxmap_errormsg());
	perms_of(a, p);
	cr_assert_str_eq(p, "rw-s");
	cr_assert_eq(a[2 * MiB - 1], 0x11, "the part that stays keeps its data");
	perms_of(a + 2 * MiB, p);
	cr_assert_str_eq(p, "---p", "the released tail is not PROT_NONE");
	perms_of(a + 6 * MiB - 1, p);
	cr_assert_str_eq(p, "---p");
	cr_assert_eq(daxmap_region_remove(pool, "b", 0), 0, "%s", daxmap_errormsg());
	perms_of(daxmap_map_addr(whole), p);
	cr_assert_str_eq(p, "---p");
	/* deleting a zapped mapping is still fine, and frees the range */
	cr_assert_eq(daxmap_map_delete(&whole), 0);
	cr_assert_eq(daxmap_map_delete(&part), 0);
	assert_counts_zero(pool);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

static int revoked;

static void revoke_own(struct daxmap_pin *pin, void *arg)
{
	struct daxmap_pin **slot = arg;

	cr_assert_eq(*slot, pin);
	__atomic_add_fetch(&revoked, 1, __ATOMIC_SEQ_CST);
	daxmap_unpin(slot);
}

Test(release, a_revocable_pin_is_revoked_here_and_in_another_process)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_extent_refs *er;
	struct daxmap_pin *pin = NULL;
	struct daxmap_map *m;
	struct child_reply cb;
	struct child h;
	size_t n;

	cr_assert_eq(daxmap_region_create(pool, "r", 4 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_map(&m, pool, "r", 0), 0);
	/*
	 * The holder first: the pin below starts this process's revoker
	 * thread, and GCC 12's ASan runtime does not lock its allocator
	 * around fork(), so a child forked while that thread allocates its
	 * start-up state inherits a held allocator lock and hangs in malloc.
	 */
	h = child_mapping(daxmap_dev_path(dev), "r");
	child_do(&h, CHILD(.op = CHILD_PIN, .off = 0, .len = 4096, .revocable = 1));
	cr_assert_eq(daxmap_pin_external(&pin, m, 2 * MiB, 100, revoke_own, &pin), 0, "%s",
		     daxmap_errormsg());
	cr_assert_eq(daxmap_pin_backend(pin), DAXMAP_PIN_EXTERNAL);
	cr_assert_eq(daxmap_pool_refs(pool, "r", &er, &n), 0);
	cr_assert_eq(n, 2);
	/* two mappings; the child pinned extent 0, this process extent 1 */
	cr_assert_eq(er[0].refcount, 2 + DAXMAP_PIN_BIAS);
	cr_assert_eq(er[1].refcount, 2 + DAXMAP_PIN_BIAS);
	cr_assert_eq(er[0].pins, 1);
	free(er);
	/* the child's mapping is not revocable: it lets go once revoked */
	child_send(&h, CHILD(.op = CHILD_WAIT_REVOKE));
	child_send(&h, CHILD(.op = CHILD_DROP));
	cr_assert_eq(daxmap_region_remove(pool, "r", 10000), 0, "%s", daxmap_errormsg());
	cr_assert_eq(__atomic_load_n(&revoked, __ATOMIC_SEQ_CST), 1, "revoked %d times", revoked);
	cr_assert_null(pin, "the callback unpinned");
	cb = child_read(&h);
	cr_assert_eq(cb.rc, 0, "%s", cb.text);
	cr_assert_eq(cb.cb_calls, 1);
	cr_assert_eq(cb.cb_unpin_rc, 0, "the child's callback could not unpin: %d", cb.cb_unpin_rc);
	cr_assert_eq(child_read(&h).rc, 0, "the child could not drop its mapping");
	child_finish(&h);
	daxmap_map_delete(&m);
	assert_counts_zero(pool);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/* ---- revoke callbacks against an unpin on another thread ----------------- */

struct slow_cb {
	struct daxmap_pin *pin;  /* the application's variable */
	int started, finished, calls;
};

static void *remove_r(void *pool)
{
	intptr_t rc = daxmap_region_remove(pool, "r", 10000);

	return (void *)rc;
}

static void wait_for(const int *flag)
{
	for (int i = 0; i < 10000 && !__atomic_load_n(flag, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	cr_assert(__atomic_load_n(flag, __ATOMIC_SEQ_CST), "the callback did not start");
}

/* Starts, gives the application 200 ms to unpin, then unpins through its
 * own argument (a no-op if the application's unpin is under way). */
static void slow_revoke(struct daxmap_pin *pin, void *arg)
{
	struct slow_cb *cb = arg;
	struct daxmap_pin *mine = pin;

	__atomic_add_fetch(&cb->calls, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&cb->started, 1, __ATOMIC_SEQ_CST);
	usleep(200 * 1000);
	cr_assert_eq(daxmap_unpin(&mine), 0);
	__atomic_store_n(&cb->finished, 1, __ATOMIC_SEQ_CST);
}

static void counted_revoke(struct daxmap_pin *pin, void *arg)
{
	struct slow_cb *cb = arg;

	(void)pin;
	__atomic_add_fetch(&cb->calls, 1, __ATOMIC_SEQ_CST);
	daxmap_unpin(&cb->pin);
}

/* Once daxmap_unpin() returns, no callback runs on the pin or its arg: an
 * unpin while the callback runs waits for it, and the callback's own unpin
 * of the same pin is then a no-op (no double release). */
Test(release, an_unpin_during_the_callback_waits_for_it)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct slow_cb *cb = calloc(1, sizeof(*cb));
	struct daxmap_map *m;
	pthread_t t;
	void *rc;

	cr_assert_not_null(cb);
	cr_assert_eq(daxmap_region_create(pool, "r", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_map(&m, pool, "r", 0), 0);
	cr_assert_eq(daxmap_pin_external(&cb->pin, m, 0, 100, slow_revoke, cb), 0);
	cr_assert_eq(pthread_create(&t, NULL, remove_r, pool), 0);
	wait_for(&cb->started);
	cr_assert_eq(daxmap_unpin(&cb->pin), 0);
	cr_assert(__atomic_load_n(&cb->finished, __ATOMIC_SEQ_CST),
		  "daxmap_unpin() returned while the callback still ran");
	cr_assert_null(cb->pin);
	cr_assert_eq(cb->calls, 1);
	free(cb); /* nothing of the library's touches it any more */
	cr_assert_eq(pthread_join(t, &rc), 0);
	cr_assert_eq((intptr_t)rc, 0, "remove: %d", (int)(intptr_t)rc);
	daxmap_map_delete(&m);
	assert_counts_zero(pool);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/* Two pins revoked in one batch: the first callback runs long, and the
 * application unpins the second pin meanwhile and frees its arg. The second
 * callback must not run (ASan reports the use after free if it does). */
Test(release, a_pin_unpinned_before_its_callback_ran_is_not_called_back)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct slow_cb *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	struct daxmap_map *m;
	pthread_t t;
	void *rc;

	cr_assert(a && b);
	cr_assert_eq(daxmap_region_create(pool, "r", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_map(&m, pool, "r", 0), 0);
	cr_assert_eq(daxmap_pin_external(&a->pin, m, 0, 100, counted_revoke, a), 0);
	/* the newer pin's callback comes first */
	cr_assert_eq(daxmap_pin_external(&b->pin, m, 0, 100, slow_revoke, b), 0);
	cr_assert_eq(pthread_create(&t, NULL, remove_r, pool), 0);
	wait_for(&b->started);
	cr_assert_eq(daxmap_unpin(&a->pin), 0);
	cr_assert_eq(a->calls, 0, "called back after its unpin began");
	free(a);
	cr_assert_eq(pthread_join(t, &rc), 0);
	cr_assert_eq((intptr_t)rc, 0, "remove: %d", (int)(intptr_t)rc);
	cr_assert_eq(b->calls, 1);
	cr_assert(b->finished);
	free(b);
	daxmap_map_delete(&m);
	assert_counts_zero(pool);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(release, a_pin_that_is_not_revocable_holds_the_release)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_pin *pin, *late = NULL;
	struct daxmap_reclaim_stat rs;
	struct daxmap_map *m;

	cr_assert_eq(daxmap_region_create(pool, "r", 4 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_map(&m, pool, "r", 0), 0);
	cr_assert_eq(daxmap_pin_external(&pin, m, 0, 4 * MiB, NULL, NULL), 0);
	cr_assert_eq(daxmap_region_remove(pool, "r", 50), -EBUSY);
	cr_assert(strstr(daxmap_errormsg(), "pin (external) of extents"), "%s", daxmap_errormsg());
	/* the mapping was zapped; no new pin through it */
	cr_assert_eq(daxmap_pin_external(&late, m, 0, 4096, NULL, NULL), -ESTALE);
	cr_assert_null(late);
	cr_assert_eq(daxmap_unpin(&pin), 0);
	cr_assert_null(pin);
	cr_assert_eq(daxmap_pool_reclaim(pool, &rs), 0);
	cr_assert_eq(rs.releases_finished, 1);
	cr_assert_eq(rs.extents_freed, 2);
	daxmap_map_delete(&m);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(release, pins_refuse_bad_arguments)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_pin *pin = (struct daxmap_pin *)0x1;
	struct daxmap_map *m, *plain;

	cr_assert_eq(daxmap_region_create(pool, "r", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_map(&m, pool, "r", 0), 0);
	cr_assert_eq(daxmap_map_new(&plain, dev, 60 * MiB, 2 * MiB, 0), 0);
	cr_assert_eq(daxmap_pin_external(NULL, m, 0, 1, NULL, NULL), -EINVAL);
	cr_assert_eq(daxmap_pin_external(&pin, NULL, 0, 1, NULL, NULL), -EINVAL);
	cr_assert_null(pin);
	cr_assert_eq(daxmap_pin_external(&pin, plain, 0, 1, NULL, NULL), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "not a region mapping"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pin_external(&pin, m, 0, 0, NULL, NULL), -EINVAL);
	cr_assert_eq(daxmap_pin_external(&pin, m, 2 * MiB, 1, NULL, NULL), -EINVAL);
	cr_assert_eq(daxmap_pin_external(&pin, m, 1, 2 * MiB, NULL, NULL), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "not inside"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_unpin(NULL), 0);
	cr_assert_eq(daxmap_unpin(&(struct daxmap_pin *){ NULL }), 0);
	cr_assert_str_eq(daxmap_pin_backend_name(DAXMAP_PIN_RDMA), "rdma");
	cr_assert_str_eq(daxmap_pin_backend_name((enum daxmap_pin_backend)99), "unknown");
	daxmap_map_delete(&plain);
	daxmap_map_delete(&m);
	assert_counts_zero(pool); /* no refused call left a reference */
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(release, reclaim_refs_holders_refuse_bad_arguments)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev), *ro;
	struct daxmap_extent_refs *er;
	struct daxmap_holding *hs;
	size_t n;
	uint64_t h;

	cr_assert_eq(daxmap_region_create(pool, "r", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_pool_reclaim(NULL, NULL), -EINVAL);
	cr_assert_eq(daxmap_pool_refs(pool, NULL, NULL, &n), -EINVAL);
	cr_assert_eq(daxmap_pool_refs(pool, "missing", &er, &n), -ENOENT);
	cr_assert_eq(daxmap_pool_holders(pool, NULL, &n), -EINVAL);
	cr_assert_eq(daxmap_pool_holders(NULL, &hs, &n), -EINVAL);
	cr_assert_eq(daxmap_pool_holders(pool, &hs, &n), 0);
	cr_assert_eq(n, 0);
	free(hs);
	cr_assert_eq(daxmap_region_remove(pool, "r", DAXMAP_WAIT_FOREVER), 0, "nothing to wait for");
	daxmap_pool_close(pool);
	/* read-only: nothing is released, nothing written */
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0);
	cr_assert_eq(daxmap_region_create(pool, "s", 2 * MiB, NULL), 0);
	daxmap_pool_close(pool);
	h = dev_hash(dev);
	cr_assert_eq(daxmap_pool_open(&ro, dev, DAXMAP_POOL_RDONLY), 0);
	cr_assert_eq(daxmap_region_remove(ro, "s", 0), -EROFS);
	cr_assert_eq(daxmap_region_resize(ro, "s", 0, NULL, 0), -EROFS);
	cr_assert_eq(daxmap_pool_reclaim(ro, NULL), -EROFS);
	cr_assert_eq(daxmap_pool_refs(ro, "s", &er, &n), 0);
	cr_assert_eq(n, 1);
	free(er);
	daxmap_pool_close(ro);
	cr_assert_eq(dev_hash(dev), h, "a read-only pool was written");
	daxmap_dev_close(dev);
}

Test(release, the_dax_zap_check_refuses_to_free_what_was_never_zapped)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_pool_stat st;
	struct region_desc d;
	uint64_t h;

	cr_assert_eq(daxmap_region_create(pool, "r", 4 * MiB, NULL), 0);
	h = dev_hash(dev);
	cr_assert_eq(pool_begin(pool, true), 0);
	cr_assert_eq(pool_region_find(pool_core(pool), "r", FIND_LIVE, &d), 0);
	cr_assert_eq(pool_region_finish(pool_core(pool), d.slot, d.gen), -EUCLEAN);
	cr_assert(strstr(daxmap_errormsg(), "DAX_ZAP"), "%s", daxmap_errormsg());
	cr_assert_eq(pool_region_finish(pool_core(pool), d.slot, d.gen + 1), -ESTALE);
	pool_end(pool);
	cr_assert_eq(dev_hash(dev), h, "the refused free wrote");
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.extents_used, 2);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/*
 * A reboot of this pool only: its runtime state file goes. Never a
 * wildcard: the other test programs run at the same time and share
 * DAXMAP_RUNTIME_DIR, and removing their files drops live references.
 */
static void remove_runtime_state(const uint8_t uuid[16])
{
	char path[PATH_MAX];
	const char *dir = getenv("DAXMAP_RUNTIME_DIR");
	int len;

	cr_assert(dir && *dir, "the tests run with DAXMAP_RUNTIME_DIR");
	len = snprintf(path, sizeof(path), "%s/daxmap-", dir);
	for (int i = 0; i < 16; i++)
		len += snprintf(path + len, sizeof(path) - (size_t)len, "%02x", uuid[i]);
	snprintf(path + len, sizeof(path) - (size_t)len, ".rt");
	cr_assert(ref_exists(uuid, dir), "no runtime state at %s", path);
	cr_assert_eq(unlink(path), 0, "%s: %s", path, strerror(errno));
	cr_assert(!ref_exists(uuid, dir));
}

Test(release, zap_survives_close_and_open_finishes_it_once_idle)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_pool_stat st;
	struct child h;
	uint8_t uuid[16];

	memcpy(uuid, pool_uuid(pool), sizeof(uuid));
	cr_assert_eq(daxmap_region_create(pool, "gone", 4 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_create(pool, "cut", 6 * MiB, NULL), 0);
	h = child_mapping(daxmap_dev_path(dev), "gone");
	cr_assert_eq(daxmap_region_remove(pool, "gone", 0), -EBUSY);
	daxmap_pool_close(pool);
	/* open while the holder lives: the release stays pending */
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.extents_releasing, 2);
	daxmap_pool_close(pool);
	child_kill(&h);
	/* open drops the dead holder's references and finishes */
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.extents_releasing, 0);
	cr_assert_eq(st.extents_used, 3);
	/* a reboot voids the runtime state: pending releases are idle then */
	h = child_mapping(daxmap_dev_path(dev), "cut");
	cr_assert_eq(daxmap_region_resize(pool, "cut", 2 * MiB, NULL, 0), -EBUSY);
	daxmap_pool_close(pool);
	child_kill(&h);
	remove_runtime_state(uuid);
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.extents_releasing, 0);
	cr_assert_eq(st.extents_used, 1);
	cr_assert_eq(daxmap_pool_check(dev, 0, NULL, NULL), 0);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(release, a_stale_zap_mark_refuses_pins_until_mapped_or_reclaimed)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_pin *pin;
	struct daxmap_map *m;
	struct ref_runtime *rt;
	struct region_desc d;
	struct ext_run run;

	cr_assert_eq(daxmap_region_create(pool, "r", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_map(&m, pool, "r", 0), 0);
	/* a releaser that died between its runtime mark and the persistent
	 * one leaves a mark on a live region */
	cr_assert_eq(pool_begin(pool, false), 0);
	cr_assert_eq(pool_region_find(pool_core(pool), "r", FIND_LIVE, &d), 0);
	run.count = 1;
	pool_region_extents(pool_core(pool), d.slot, 0, 1, &run.first);
	cr_assert_eq(runtime_attach(pool, &rt), 0);
	pool_end(pool);
	cr_assert_eq(ref_zap(rt, &run, 1, true), 0);
	cr_assert_eq(daxmap_pin_external(&pin, m, 0, 1, NULL, NULL), -ESTALE);
	cr_assert(strstr(daxmap_errormsg(), "being released (ZAP)"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_reclaim(pool, NULL), 0);
	cr_assert(!ref_zapped(rt, &run, 1, false), "reclaim did not clear the stale mark");
	cr_assert_eq(daxmap_pin_external(&pin, m, 0, 1, NULL, NULL), 0, "%s", daxmap_errormsg());
	daxmap_unpin(&pin);
	/* mapping the region clears it too */
	cr_assert_eq(ref_zap(rt, &run, 1, true), 0);
	daxmap_map_delete(&m);
	cr_assert_eq(daxmap_region_map(&m, pool, "r", 0), 0);
	cr_assert_eq(daxmap_pin_external(&pin, m, 0, 1, NULL, NULL), 0, "%s", daxmap_errormsg());
	daxmap_unpin(&pin);
	daxmap_map_delete(&m);
	ref_detach(rt);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/* ---- many holders at once ------------------------------------------------- */

#define NPROC 4
#define NTHREAD 4
#define ROUNDS 150

struct worker {
	struct daxmap_pool *pool;
	unsigned seed;
	int failed;
};

static void *work(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < ROUNDS; i++) {
		struct daxmap_map *m;
		struct daxmap_pin *pin = NULL;

		if (daxmap_region_map(&m, w->pool, "shared", 0)) {
			w->failed++;
			continue;
		}
		if (rand_r(&w->seed) % 2 &&
		    daxmap_pin_external(&pin, m, (uint64_t)(rand_r(&w->seed) % 3) * 2 * MiB, 4096,
					NULL, NULL))
			w->failed++;
		((volatile char *)daxmap_map_addr(m))[i] = (char)i;
		daxmap_unpin(&pin);
		daxmap_map_delete(&m);
	}
	return NULL;
}

Test(release, n_processes_by_m_threads_leave_exact_counts, .timeout = 120)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	const char *path = daxmap_dev_path(dev);
	pid_t kids[NPROC];

	cr_assert_eq(daxmap_region_create(pool, "shared", 6 * MiB, NULL), 0);
	for (int p = 0; p < NPROC; p++) {
		kids[p] = fork();
		cr_assert_geq(kids[p], 0);
		if (kids[p] == 0) {
			struct worker w[NTHREAD];
			pthread_t t[NTHREAD];
			struct daxmap_dev *d;
			struct daxmap_pool *q;
			int bad = 0;

			if (daxmap_dev_open(&d, path, 0, 0) || daxmap_pool_open(&q, d, 0))
				_exit(1);
			for (int i = 0; i < NTHREAD; i++) {
				/* one pool handle per thread: a handle is not shared */
				struct daxmap_dev *dt;

				if (daxmap_dev_open(&dt, path, 0, 0) || daxmap_pool_open(&w[i].pool, dt, 0))
					_exit(1);
				w[i].seed = (unsigned)(p * 100 + i);
				w[i].failed = 0;
				pthread_create(&t[i], NULL, work, &w[i]);
			}
			for (int i = 0; i < NTHREAD; i++) {
				pthread_join(t[i], NULL);
				bad += w[i].failed;
			}
			_exit(bad ? 2 : 0);
		}
	}
	for (int p = 0; p < NPROC; p++) {
		int st;

		cr_assert_eq(waitpid(kids[p], &st, 0), kids[p]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker process: status %d", st);
	}
	/* every process exited without closing anything: exact zeros once the
	 * dead holders are reclaimed (closing drops them the same way) */
	cr_assert_eq(daxmap_pool_reclaim(pool, NULL), 0);
	assert_counts_zero(pool);
	cr_assert_eq(daxmap_region_remove(pool, "shared", 0), 0, "%s", daxmap_errormsg());
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/* The child's loop; it exits only where it could not map (the kill then
 * finds it gone, and the test says so). */
static int map_pin_unmap(struct child_env *e, long arg, char *text, size_t size)
{
	(void)arg;
	(void)text;
	(void)size;
	for (unsigned i = 0;; i++) {
		struct daxmap_map *m;
		struct daxmap_pin *pin = NULL, *pin2 = NULL;

		if (daxmap_region_map(&m, e->pool, "hot", 0))
			_exit(2);
		daxmap_pin_external(&pin, m, (i % 3) * 2 * MiB, 8192, NULL, NULL);
		daxmap_pin_external(&pin2, m, 0, 6 * MiB, child_unpin_arg, &pin2);
		daxmap_unpin(&pin);
		if (i & 1)
			daxmap_unpin(&pin2);
		daxmap_map_delete(&m);
		daxmap_unpin(&pin2);
	}
}

Test(release, kill_9_in_a_map_pin_unmap_loop_never_loses_or_invents_a_count, .timeout = 120)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	const char *path = daxmap_dev_path(dev);
	unsigned seed = 7;
	int kills = 0;

	cr_assert_eq(daxmap_region_create(pool, "hot", 6 * MiB, NULL), 0);
	for (int k = 0; k < 60; k++) {
		struct daxmap_holding *hs;
		size_t n;
		struct child c = child_spawn(&(struct child_spec){ .path = path });

		/* killed anywhere, opening the pool included */
		child_send(&c, CHILD(.op = CHILD_RUN, .run = map_pin_unmap));
		usleep((useconds_t)(rand_r(&seed) % 20000));
		child_kill(&c);
		kills++;
		cr_assert_eq(daxmap_pool_reclaim(pool, NULL), 0, "%s", daxmap_errormsg());
		assert_counts_zero(pool);
		cr_assert_eq(daxmap_pool_holders(pool, &hs, &n), 0);
		cr_assert_eq(n, 0, "a reference outlived its killed holder");
		free(hs);
	}
	cr_assert_eq(daxmap_region_remove(pool, "hot", 0), 0, "%s", daxmap_errormsg());
	printf("release: %d processes killed with SIGKILL in a map/pin/unpin/unmap loop, counts exact after each\n",
	       kills);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

struct sharer {
	struct daxmap_pool *pool;
	int id, failed;
};

static void *share_work(void *arg)
{
	struct sharer *w = arg;
	char name[16];

	snprintf(name, sizeof(name), "t%d", w->id);
	for (int i = 0; i < 50; i++) {
		struct daxmap_map *m;

		if (daxmap_region_create(w->pool, name, 2 * MiB, NULL) ||
		    daxmap_region_map(&m, w->pool, name, 0)) {
			w->failed++;
			continue;
		}
		((volatile char *)daxmap_map_addr(m))[0] = 1;
		daxmap_map_delete(&m);
		w->failed += daxmap_region_remove(w->pool, name, 0) != 0;
	}
	return NULL;
}

Test(release, threads_may_share_a_pool_handle)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_pool_stat st;
	struct sharer w[4];
	pthread_t t[4];

	for (int i = 0; i < 4; i++) {
		w[i] = (struct sharer){ pool, i, 0 };
		cr_assert_eq(pthread_create(&t[i], NULL, share_work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(w[i].failed, 0, "thread %d: %d failures", i, w[i].failed);
	}
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.extents_used, 0);
	cr_assert_eq(st.regions, 0);
	assert_counts_zero(pool);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/* ---- fork() while another thread maps ------------------------------------ */

/* Lines of /proc/self/maps naming path; no malloc (safe in a child forked
 * from threads). */
static int maps_of(const char *path)
{
	static char buf[1 << 16];
	ssize_t n, len = 0;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC), k = 0;

	if (fd < 0)
		return -1;
	while (len < (ssize_t)sizeof(buf) - 1 &&
	       (n = read(fd, buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
		len += n;
	close(fd);
	buf[len] = '\0';
	for (char *p = buf; (p = strstr(p, path)); p += strlen(path))
		k++;
	return k;
}

struct mapper {
	struct daxmap_pool *pool;
	int stop, rounds, bad;
};

static void *map_loop(void *arg)
{
	struct mapper *mp = arg;

	while (!__atomic_load_n(&mp->stop, __ATOMIC_SEQ_CST)) {
		struct daxmap_map *m;

		if (daxmap_region_map(&m, mp->pool, "r", 0)) {
			mp->bad++;
			break;
		}
		daxmap_map_delete(&m);
		mp->rounds++;
	}
	return NULL;
}

/* A child forked while another thread makes a region mapping never
 * inherits it: the mapping is MADV_DONTFORK before fork() can run. */
Test(release, a_fork_during_a_region_map_never_inherits_it, .timeout = 120)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct mapper mp = { pool, 0, 0, 0 };
	const char *path = daxmap_dev_path(dev);
	int base, forks = 0;
	pthread_t t;

	cr_assert_eq(daxmap_region_create(pool, "r", 6 * MiB, NULL), 0);
	base = maps_of(path); /* the pool's metadata mapping */
	cr_assert_gt(base, 0);
	cr_assert_eq(pthread_create(&t, NULL, map_loop, &mp), 0);
	for (; forks < 300; forks++) {
		int st;
		pid_t c = fork();

		cr_assert_geq(c, 0);
		if (c == 0)
			_exit(maps_of(path) == base ? 0 : 1);
		cr_assert_eq(waitpid(c, &st, 0), c);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "fork %d inherited a region mapping (status %#x)", forks, st);
	}
	__atomic_store_n(&mp.stop, 1, __ATOMIC_SEQ_CST);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(mp.bad, 0, "%s", daxmap_errormsg());
	cr_assert_gt(mp.rounds, 0);
	cr_log_info("%d forks during %d map+unmap rounds\n", forks, mp.rounds);
	assert_counts_zero(pool);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/* Only 0, a positive number and DAXMAP_WAIT_FOREVER are timeouts: any
 * other negative one is refused at once, with or without a holder, and
 * nothing is released (it used to wait forever). */
Test(release, a_negative_timeout_other_than_forever_is_refused, .timeout = 60)
{
	static const int bad[] = { -2, -7, -1000, INT_MIN };
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_region_info *ri;
	struct child h;
	size_t n;

	cr_assert_eq(daxmap_region_create(pool, "r", 6 * MiB, NULL), 0);
	for (int with_holder = 0; with_holder < 2; with_holder++) {
		if (with_holder)
			h = child_mapping(daxmap_dev_path(dev), "r");
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			cr_assert_eq(daxmap_region_remove(pool, "r", bad[i]), -EINVAL, "%d", bad[i]);
			cr_assert(strstr(daxmap_errormsg(), "DAXMAP_WAIT_FOREVER"), "%s",
				  daxmap_errormsg());
			cr_assert_eq(daxmap_region_resize(pool, "r", 2 * MiB, NULL, bad[i]), -EINVAL);
			cr_assert_eq(daxmap_region_resize(pool, "r", 8 * MiB, NULL, bad[i]), -EINVAL);
		}
		cr_assert_eq(daxmap_region_list(pool, &ri, &n), 0);
		cr_assert_eq(n, 1, "a refused remove released the region");
		cr_assert_eq(ri[0].extents, 3, "a refused resize changed the region");
		cr_assert_eq(ri[0].releasing, 0);
		daxmap_region_list_free(ri);
	}
	child_finish(&h);
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), 0, "%s", daxmap_errormsg());
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/* A remove that timed out, retried after another handle's (or process's)
 * reclaim finished the removal: 0, as a retry that finishes it itself. A
 * name that never was, and a second retry, are -ENOENT. */
Test(release, a_retried_remove_returns_0_once_the_removal_is_finished, .timeout = 60)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev), *other;
	struct daxmap_pool_stat st;
	struct child h;

	cr_assert_eq(daxmap_region_create(pool, "q", 4 * MiB, NULL), 0);
	h = child_mapping(daxmap_dev_path(dev), "q");
	cr_assert_eq(daxmap_region_remove(pool, "q", 0), -EBUSY);
	child_do(&h, CHILD(.op = CHILD_UNMAP));
	/* another handle's open reclaims the idle release first */
	cr_assert_eq(daxmap_pool_open(&other, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_stat(other, &st), 0);
	cr_assert_eq(st.extents_releasing, 0, "the open did not finish the release");
	daxmap_pool_close(other);
	cr_assert_eq(daxmap_region_remove(pool, "q", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_remove(pool, "q", 0), -ENOENT);
	cr_assert_eq(daxmap_region_remove(pool, "never", 0), -ENOENT);
	child_finish(&h);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}
