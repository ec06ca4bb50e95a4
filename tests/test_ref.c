/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_ref.c -- the runtime reference state across threads and processes:
 * exact counts, pins with their bias, dead holders, kill -9 at any point,
 * waiting for idle. Real processes (fork), real threads.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <daxmap.h>

#include "lib/ref.h"
#include "lib/ref_layout.h"
#include "lib/ref_va.h"

#define NEXT 64

static char dir[64];
static uint8_t uuid[16];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/daxmap-ref-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	for (int i = 0; i < 16; i++)
		uuid[i] = (uint8_t)(rand() ^ getpid() ^ i);
}

static struct ref_runtime *attach(void)
{
	struct ref_runtime *rt;

	cr_assert_eq(ref_attach(&rt, uuid, NEXT, dir), 0, "%s", daxmap_errormsg());
	return rt;
}

static uint32_t refs(struct ref_runtime *rt, uint64_t x)
{
	uint32_t r, p;

	ref_count(rt, x, &r, &p, NULL);
	return r;
}

static uint32_t pins(struct ref_runtime *rt, uint64_t x)
{
	uint32_t r, p;

	ref_count(rt, x, &r, &p, NULL);
	return p;
}

TestSuite(ref, .init = setup);

Test(ref, map_and_pin_counts)
{
	struct ref_runtime *rt = attach();
	struct ext_run a[] = { { 2, 3 }, { 10, 1 } }, b = { 3, 2 };
	uint64_t m, p;

	cr_assert_eq(ref_get(rt, REF_MAP, 0, 0, a, 2, &m), 0);
	cr_assert_eq(ref_get(rt, REF_PIN, 0, 0, &b, 1, &p), 0);
	cr_assert_eq(refs(rt, 2), 1);
	cr_assert_eq(refs(rt, 3), 1 + REF_BIAS);
	cr_assert_eq(pins(rt, 3), 1);
	cr_assert_eq(refs(rt, 4), 1 + REF_BIAS);
	cr_assert_eq(refs(rt, 5), 0);
	cr_assert_eq(refs(rt, 10), 1);
	cr_assert_eq(ref_put(rt, m), 0);
	cr_assert_eq(refs(rt, 3), REF_BIAS);
	cr_assert_eq(refs(rt, 2), 0);
	cr_assert_eq(ref_put(rt, p), 0);
	cr_assert_eq(refs(rt, 3), 0);
	cr_assert_eq(pins(rt, 3), 0);
	cr_assert_eq(ref_put(rt, p), -ENOENT);
	ref_detach(rt);
}

Test(ref, bad_input)
{
	struct ref_runtime *rt = attach();
	struct ext_run out = { NEXT - 1, 2 }, zero = { 0, 0 };
	uint64_t id;

	cr_assert_eq(ref_get(rt, REF_MAP, 0, 0, &out, 1, &id), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "outside the pool"), "%s", daxmap_errormsg());
	cr_assert_eq(ref_get(rt, REF_MAP, 0, 0, &zero, 1, &id), -EINVAL);
	cr_assert_eq(ref_get(rt, REF_NONE, 0, 0, &out, 1, &id), -EINVAL);
	cr_assert_eq(ref_get(rt, REF_MAP, 0, 0, NULL, 0, &id), -EINVAL);
	for (uint64_t x = 0; x < NEXT; x++)
		cr_assert_eq(refs(rt, x), 0, "a refused call changed extent %llu",
			     (unsigned long long)x);
	ref_detach(rt);
}

static bool zap_of(struct ref_runtime *rt, uint64_t x)
{
	uint32_t r, p;
	bool z;

	ref_count(rt, x, &r, &p, &z);
	return z;
}

/* A ZAP mark refuses new references; REF_LIVE (the pool says the extents
 * are live) clears a stale one instead, and is not kept as a flag. */
Test(ref, a_zap_mark_refuses_unless_the_caller_knows_the_extents_live)
{
	struct ref_runtime *rt = attach();
	struct ext_run z = { 4, 2 }, wider = { 3, 4 };
	struct ref_holding h;
	uint64_t id;

	cr_assert_eq(ref_zap(rt, &z, 1, true), 0);
	cr_assert_eq(ref_get(rt, REF_MAP, 0, 0, &wider, 1, &id), -ESTALE);
	cr_assert(strstr(daxmap_errormsg(), "extent 4 is being released (ZAP)"), "%s",
		  daxmap_errormsg());
	for (uint64_t x = 3; x < 7; x++)
		cr_assert_eq(refs(rt, x), 0, "a refused get counted extent %llu",
			     (unsigned long long)x);
	cr_assert(zap_of(rt, 4) && zap_of(rt, 5));
	cr_assert_eq(ref_get(rt, REF_MAP, 0, REF_LIVE, &wider, 1, &id), 0, "%s",
		     daxmap_errormsg());
	cr_assert(!zap_of(rt, 4) && !zap_of(rt, 5), "REF_LIVE left the stale mark");
	for (uint64_t x = 3; x < 7; x++)
		cr_assert_eq(refs(rt, x), 1);
	cr_assert_eq(ref_holders(rt, &wider, 1, &h, 1), 1);
	cr_assert(!h.revocable, "REF_LIVE was stored as a reference flag");
	cr_assert_eq(ref_put(rt, id), 0);
	ref_detach(rt);
}

/* Only a new mark wakes the revokers: re-marking (a finish) does not. */
Test(ref, only_a_new_zap_mark_bumps_the_revokers_word)
{
	struct ref_runtime *rt = attach();
	struct ext_run a = { 8, 2 }, b = { 9, 2 };
	uint32_t s0 = ref_zap_seq(rt);

	cr_assert_eq(ref_zap(rt, &a, 1, true), 0);
	cr_assert_eq(ref_zap_seq(rt), s0 + 1);
	cr_assert_eq(ref_zap(rt, &a, 1, true), 0);
	cr_assert_eq(ref_zap_seq(rt), s0 + 1, "re-marking woke the revokers");
	cr_assert_eq(ref_zap(rt, &b, 1, true), 0);
	cr_assert_eq(ref_zap_seq(rt), s0 + 2, "extent 10 was new: no wake-up");
	cr_assert_eq(ref_zap(rt, &b, 1, false), 0);
	cr_assert_eq(ref_zap_seq(rt), s0 + 2, "unmarking woke the revokers");
	cr_assert(zap_of(rt, 8) && !zap_of(rt, 9) && !zap_of(rt, 10));
	/* a kick bumps it too: a revoker between its read of the word and
	 * its FUTEX_WAIT would sleep through a bare wake-up */
	ref_zap_kick(rt);
	cr_assert_eq(ref_zap_seq(rt), s0 + 3);
	ref_detach(rt);
}

struct zap_sleeper {
	struct ref_runtime *rt;
	uint32_t seq;
	double took;
};

static void *zap_sleep(void *arg)
{
	struct zap_sleeper *z = arg;
	struct timespec t0, t1;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	ref_zap_wait(z->rt, z->seq, 20000);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	z->took = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	return NULL;
}

/* A new mark wakes a revoker asleep on the word (the wake-up is made only
 * when one is: a count of sleepers), and a mark nobody waits for leaves
 * the count at zero. */
Test(ref, a_new_zap_mark_wakes_a_sleeping_revoker)
{
	struct ref_runtime *rt = attach();
	struct zap_sleeper z = { rt, ref_zap_seq(rt), 0 };
	struct ext_run a = { 3, 1 };
	pthread_t t;

	cr_assert_eq(ref_zap(rt, &(struct ext_run){ 2, 1 }, 1, true), 0);
	cr_assert_eq(__atomic_load_n(&rt->hdr->zap_waiters, __ATOMIC_SEQ_CST), 0);
	z.seq = ref_zap_seq(rt);
	cr_assert_eq(pthread_create(&t, NULL, zap_sleep, &z), 0);
	/* asleep: counted, and given time to reach FUTEX_WAIT */
	while (__atomic_load_n(&rt->hdr->zap_waiters, __ATOMIC_SEQ_CST) == 0)
		usleep(1000);
	usleep(100000);
	cr_assert_eq(ref_zap(rt, &a, 1, true), 0);
	pthread_join(t, NULL);
	cr_assert_lt(z.took, 10.0, "the mark did not wake the sleeper (%.1f s)", z.took);
	cr_assert_eq(__atomic_load_n(&rt->hdr->zap_waiters, __ATOMIC_SEQ_CST), 0);
	ref_detach(rt);
}

/* A release asks for holders' VA ranges only when a retired record of
 * the region could exist: the quick look must see every record of it. */
Test(ref, a_retired_range_is_seen_by_the_quick_look_and_listed)
{
	struct ref_runtime *rt = attach();
	struct ref_va *v;
	size_t n;
	bool found = false;

	cr_assert_not(ref_va_retired_any(rt, 3, 7));
	ref_va_retire(rt, 0x7f0000000000ULL, 4 << 20, 3, 7);
	cr_assert(ref_va_retired_any(rt, 3, 7));
	cr_assert_not(ref_va_retired_any(rt, 3, 8), "another generation of the slot");
	cr_assert_not(ref_va_retired_any(rt, 4, 7), "another slot");
	cr_assert_eq(ref_va_list(rt, &v, &n), 0, "%s", daxmap_errormsg());
	for (size_t i = 0; i < n; i++)
		found |= !v[i].live && v[i].slot == 3 && v[i].gen == 7 && v[i].pid == getpid() &&
			 v[i].va == 0x7f0000000000ULL && v[i].len == 4 << 20;
	free(v);
	cr_assert(found, "the retired range is not listed");
	/* the ring wraps: older records go, the newest stays */
	for (unsigned i = 0; i < REF_VA_RECS; i++)
		ref_va_retire(rt, 0x100000, 4096, 5, 1);
	cr_assert_not(ref_va_retired_any(rt, 3, 7));
	cr_assert(ref_va_retired_any(rt, 5, 1));
	ref_detach(rt);
}

Test(ref, attachments_are_shared_within_a_process)
{
	struct ref_runtime *a = attach(), *b = attach();
	struct ext_run r = { 1, 1 };
	uint64_t id;

	cr_assert_eq(a, b);
	cr_assert_eq(ref_get(a, REF_MAP, 0, 0, &r, 1, &id), 0);
	ref_detach(b);
	cr_assert_eq(refs(a, 1), 1, "one detach of two dropped the references");
	ref_detach(a);
	a = attach();
	cr_assert_eq(refs(a, 1), 0, "the last detach did not drop them");
	ref_detach(a);
}

Test(ref, list_compaction_keeps_counts)
{
	struct ref_runtime *rt = attach();
	struct ext_run r = { 7, 1 };
	uint64_t keep, id;

	cr_assert_eq(ref_get(rt, REF_MAP, 0, 0, &r, 1, &keep), 0);
	for (int i = 0; i < 3 * (int)REF_ENTRIES; i++) {
		cr_assert_eq(ref_get(rt, REF_MAP, 0, 0, &r, 1, &id), 0, "%s", daxmap_errormsg());
		cr_assert_eq(ref_put(rt, id), 0);
	}
	cr_assert_eq(refs(rt, 7), 1);
	cr_assert_eq(ref_put(rt, keep), 0);
	cr_assert_eq(refs(rt, 7), 0);
	ref_detach(rt);
}

struct thr {
	struct ref_runtime *rt;
	int rounds;
};

static void *churn(void *arg)
{
	struct thr *t = arg;
	struct ext_run r = { 0, NEXT / 2 }, p = { NEXT / 4, 4 };
	uint64_t keep, id;

	for (int i = 0; i < t->rounds; i++) {
		if (ref_get(t->rt, (i & 7) ? REF_MAP : REF_PIN, 0, 0, (i & 7) ? &r : &p, 1, &id) ||
		    ref_put(t->rt, id))
			return (void *)1;
	}
	/* each thread ends holding exactly one map reference */
	return ref_get(t->rt, REF_MAP, 0, 0, &r, 1, &keep) ? (void *)1 : NULL;
}

Test(ref, processes_times_threads_exact, .timeout = 120)
{
	enum { NPROC = 4, NTHR = 4, ROUNDS = 2000 };
	int ready[2], go[2];
	struct ref_runtime *rt;
	pid_t kids[NPROC];

	cr_assert_eq(pipe(ready), 0);
	cr_assert_eq(pipe(go), 0);
	for (int p = 0; p < NPROC; p++) {
		kids[p] = fork();
		cr_assert_geq(kids[p], 0);
		if (kids[p] == 0) {
			struct ref_runtime *c;
			pthread_t th[NTHR];
			struct thr t;
			void *res;
			char b;
			int bad = 0;

			if (ref_attach(&c, uuid, NEXT, dir))
				_exit(10);
			t.rt = c;
			t.rounds = ROUNDS;
			for (int i = 0; i < NTHR; i++)
				pthread_create(&th[i], NULL, churn, &t);
			for (int i = 0; i < NTHR; i++) {
				pthread_join(th[i], &res);
				bad += res != NULL;
			}
			/* report done, then hold the references until told */
			if (write(ready[1], "r", 1) != 1 || read(go[0], &b, 1) != 1)
				_exit(11);
			_exit(bad);
		}
	}
	for (int p = 0; p < NPROC; p++) {
		char b;

		cr_assert_eq(read(ready[0], &b, 1), 1);
	}
	rt = attach();
	for (uint64_t x = 0; x < NEXT / 2; x++) {
		cr_assert_eq(refs(rt, x), NPROC * NTHR, "extent %llu: %u", (unsigned long long)x,
			     refs(rt, x));
		cr_assert_eq(pins(rt, x), 0);
	}
	cr_assert_eq(refs(rt, NEXT / 2), 0);
	for (int p = 0; p < NPROC; p++)
		cr_assert_eq(write(go[1], "g", 1), 1);
	for (int p = 0; p < NPROC; p++) {
		int st;

		cr_assert_eq(waitpid(kids[p], &st, 0), kids[p]);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d: %d", p, st);
	}
	/* the children exited without detaching: they died holding them */
	cr_assert_eq(ref_reclaim_dead(rt), NPROC);
	for (uint64_t x = 0; x < NEXT; x++)
		cr_assert_eq(refs(rt, x), 0);
	ref_detach(rt);
}

Test(ref, kill_9_anywhere_loses_nothing, .timeout = 300)
{
	enum { KILLS = 60 };
	struct ref_runtime *rt = attach();
	struct ext_run mine = { 40, 4 };
	uint64_t held;
	struct timespec d;
	int dead, registered = 0;

	/* this process holds one reference throughout: it must survive */
	cr_assert_eq(ref_get(rt, REF_PIN, 0, 0, &mine, 1, &held), 0);
	srand(7);
	for (int k = 0; k < KILLS; k++) {
		pid_t c = fork();

		cr_assert_geq(c, 0);
		if (c == 0) {
			struct ref_runtime *r;
			struct ext_run a = { 38, 6 }, b = { 0, 50 };
			uint64_t id, ids[16];
			int n = 0;

			if (ref_attach(&r, uuid, NEXT, dir))
				_exit(1);
			for (unsigned i = 0;; i++) {
				if (n < 16 && (i % 3))
					ref_get(r, (i & 1) ? REF_MAP : REF_PIN, 0, 0, (i & 2) ? &a : &b, 1, &ids[n++]);
				else if (n)
					ref_put(r, ids[--n]);
				if (i % 5 == 0 && ref_get(r, REF_MAP, 0, 0, &a, 1, &id) == 0)
					ref_put(r, id);
			}
		}
		d.tv_sec = 0;
		d.tv_nsec = 200000 + (rand() % 5000) * 1000L;
		nanosleep(&d, NULL);
		kill(c, SIGKILL);
		cr_assert_eq(waitpid(c, NULL, 0), c);
		/* 0 when the kill came before the child had registered */
		dead = ref_reclaim_dead(rt);
		cr_assert(dead == 0 || dead == 1, "kill %d: %d dead", k, dead);
		registered += dead;
		for (uint64_t x = 0; x < NEXT; x++) {
			uint32_t want = (x >= 40 && x < 44) ? REF_BIAS : 0;

			cr_assert_eq(refs(rt, x), want, "kill %d: extent %llu has %u", k,
				     (unsigned long long)x, refs(rt, x));
			cr_assert_eq(pins(rt, x), want ? 1 : 0);
		}
	}
	printf("ref: %d processes killed with SIGKILL (%d mid-loop as holders), counts exact after each\n",
	       KILLS, registered);
	cr_assert_gt(registered, KILLS / 2);
	cr_assert_eq(ref_put(rt, held), 0);
	ref_detach(rt);
}

Test(ref, wait_idle_times_out_names_holders_then_succeeds)
{
	struct ref_runtime *rt = attach();
	struct ext_run r = { 5, 2 };
	int tohold[2], release[2];
	pid_t c;
	char b;

	cr_assert_eq(pipe(tohold), 0);
	cr_assert_eq(pipe(release), 0);
	c = fork();
	cr_assert_geq(c, 0);
	if (c == 0) {
		struct ref_runtime *k;
		uint64_t id;

		if (ref_attach(&k, uuid, NEXT, dir) || ref_get(k, REF_MAP, 0, 0, &r, 1, &id) ||
		    write(tohold[1], "h", 1) != 1 || read(release[0], &b, 1) != 1 ||
		    ref_put(k, id))
			_exit(1);
		/* stay alive: only the drop may end the wait */
		pause();
		_exit(0);
	}
	cr_assert_eq(read(tohold[0], &b, 1), 1);
	cr_assert_eq(ref_wait_idle(rt, &r, 1, 100), -EBUSY);
	cr_assert(strstr(daxmap_errormsg(), "1 reference(s) still held:") &&
		  strstr(daxmap_errormsg(), "mapping of extents [5, +2)"), "%s", daxmap_errormsg());
	cr_assert_eq(write(release[1], "r", 1), 1);
	cr_assert_eq(ref_wait_idle(rt, &r, 1, 5000), 0, "%s", daxmap_errormsg());
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	ref_detach(rt);
}

Test(ref, wait_idle_reclaims_a_dead_holder)
{
	struct ref_runtime *rt = attach();
	struct ext_run r = { 9, 1 };
	int tohold[2];
	pid_t c;
	char b;

	cr_assert_eq(pipe(tohold), 0);
	c = fork();
	cr_assert_geq(c, 0);
	if (c == 0) {
		struct ref_runtime *k;
		uint64_t id;

		if (ref_attach(&k, uuid, NEXT, dir) || ref_get(k, REF_PIN, 0, 0, &r, 1, &id) ||
		    write(tohold[1], "h", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	cr_assert_eq(read(tohold[0], &b, 1), 1);
	cr_assert_eq(pins(rt, 9), 1);
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	cr_assert_eq(ref_wait_idle(rt, &r, 1, 5000), 0, "%s", daxmap_errormsg());
	cr_assert_eq(refs(rt, 9), 0);
	ref_detach(rt);
}

Test(ref, a_forked_child_is_not_its_parent)
{
	struct ref_runtime *rt = attach();
	struct ext_run r = { 3, 1 };
	uint64_t id;
	pid_t c;
	int st;

	cr_assert_eq(ref_get(rt, REF_MAP, 0, 0, &r, 1, &id), 0);
	c = fork();
	if (c == 0) {
		struct ref_runtime *k;
		uint64_t cid;

		/* a child registers as its own holder; the parent's refs stay */
		if (ref_attach(&k, uuid, NEXT, dir) || ref_get(k, REF_MAP, 0, 0, &r, 1, &cid))
			_exit(1);
		_exit(0);
	}
	cr_assert_eq(waitpid(c, &st, 0), c);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_assert_eq(ref_reclaim_dead(rt), 1);
	cr_assert_eq(refs(rt, 3), 1, "the parent's reference was lost or the child's kept");
	ref_detach(rt);
}

/* A state that looks foreign (here: another geometry) but has a live
 * holder is refused, never wiped under that holder. */
Test(ref, a_foreign_looking_state_with_a_live_holder_is_not_wiped)
{
	struct ref_runtime *rt = attach();
	struct ext_run r = { 1, 1 };
	uint64_t id;
	pid_t c;
	int st;

	cr_assert_eq(ref_get(rt, REF_MAP, 0, 0, &r, 1, &id), 0);
	c = fork();
	cr_assert_geq(c, 0);
	if (c == 0) {
		struct ref_runtime *k;
		int rc = ref_attach(&k, uuid, NEXT + 1, dir);

		_exit(rc == -EPROTO && strstr(daxmap_errormsg(), "in use by processes") ? 0 : 1);
	}
	cr_assert_eq(waitpid(c, &st, 0), c);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the foreign attach was not refused");
	cr_assert_eq(refs(rt, 1), 1, "the live holder's reference was wiped");
	cr_assert_eq(ref_put(rt, id), 0);
	ref_detach(rt);
}

struct churn {
	struct ref_runtime *keep; /* NULL: attach and detach every round */
	int rounds, bad;
};

static void *churn_thread(void *arg)
{
	struct churn *ch = arg;
	struct ext_run r = { 2, 1 };

	for (int i = 0; i < ch->rounds; i++) {
		struct ref_runtime *rt;
		uint64_t id;

		if (ref_attach(&rt, uuid, NEXT, dir)) {
			ch->bad++;
			continue;
		}
		if (ref_get(rt, REF_MAP, 0, 0, &r, 1, &id) == 0 && ref_put(rt, id) != 0)
			ch->bad++; /* dropped under us by another process */
		ref_detach(rt);
	}
	return NULL;
}

/* Two threads attaching and detaching the last attachment at once: the
 * teardown of one must not drop the other's slot lock (a close() of the
 * file drops all the process's POSIX locks), or another process reclaims
 * a live holder. A child reclaims dead holders all the while. */
Test(ref, a_last_detach_racing_an_attach_keeps_the_holder_alive, .timeout = 120)
{
	struct churn a = { NULL, 3000, 0 }, b = { NULL, 3000, 0 };
	pthread_t ta, tb;
	int *dropped = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t c;
	int st;

	cr_assert_neq(dropped, MAP_FAILED);
	*dropped = 0;
	c = fork();
	cr_assert_geq(c, 0);
	if (c == 0) {
		struct ref_runtime *k;

		if (ref_attach(&k, uuid, NEXT, dir))
			_exit(2);
		for (;;) { /* until killed */
			int n = ref_reclaim_dead(k);

			if (n > 0)
				__atomic_add_fetch(dropped, n, __ATOMIC_SEQ_CST);
		}
	}
	cr_assert_eq(pthread_create(&ta, NULL, churn_thread, &a), 0);
	cr_assert_eq(pthread_create(&tb, NULL, churn_thread, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	kill(c, SIGKILL);
	cr_assert_eq(waitpid(c, &st, 0), c);
	cr_assert(!WIFEXITED(st), "the reclaiming child could not attach");
	cr_assert_eq(a.bad + b.bad, 0, "%d references were dropped under a live process",
		     a.bad + b.bad);
	cr_assert_eq(*dropped, 0, "live holders were reclaimed as dead %d times", *dropped);
	munmap(dropped, sizeof(int));
}

/* With a full list, dropping part of a reference that removes a whole
 * entry needs no new entry, and so never fails for room (a zap of the
 * caller's own mapping depends on it). */
Test(ref, a_full_list_still_drops_whole_entries)
{
	struct ref_runtime *rt = attach();
	struct ext_run r = { 7, 1 }, two = { 20, 2 };
	static uint64_t ids[REF_ENTRIES];

	for (unsigned i = 0; i < REF_ENTRIES; i++)
		cr_assert_eq(ref_get(rt, REF_MAP, 0, 0, i ? &r : &two, 1, &ids[i]), 0, "get %u", i);
	cr_assert_eq(ref_get(rt, REF_MAP, 0, 0, &r, 1, &(uint64_t){ 0 }), -ENOSPC);
	cr_assert_eq(ref_put_run(rt, ids[5], r), 0, "%s", daxmap_errormsg());
	cr_assert_eq(refs(rt, 7), REF_ENTRIES - 2);
	/* a trim of a full list needs one new entry: the dropped one is room */
	cr_assert_eq(ref_put_run(rt, ids[0], (struct ext_run){ 20, 1 }), 0, "%s",
		     daxmap_errormsg());
	cr_assert_eq(refs(rt, 20), 0);
	cr_assert_eq(refs(rt, 21), 1);
	for (unsigned i = 0; i < REF_ENTRIES; i++)
		if (i != 5)
			cr_assert_eq(ref_put(rt, ids[i]), 0, "put %u", i);
	cr_assert_eq(refs(rt, 7), 0);
	cr_assert_eq(refs(rt, 21), 0);
	ref_detach(rt);
}

Test(ref, state_from_another_boot_is_void)
{
	struct ref_runtime *rt = attach();
	struct ext_run r = { 1, 1 };
	char path[128], hex[33], cmd[300];
	uint64_t id;
	FILE *f;

	cr_assert_eq(ref_get(rt, REF_MAP, 0, 0, &r, 1, &id), 0);
	/* leave the reference behind as if the machine went down, then
	 * stamp the file with another boot id */
	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", uuid[i]);
	snprintf(path, sizeof(path), "%s/daxmap-%s.rt", dir, hex);
	if (fork() == 0) {
		/* a child that attaches and dies with a reference */
		struct ref_runtime *k;
		uint64_t cid;

		_exit(ref_attach(&k, uuid, NEXT, dir) || ref_get(k, REF_MAP, 0, 0, &r, 1, &cid));
	}
	wait(NULL);
	/* as the machine went down: the file as it is, though the last live
	 * holder's detach removes it */
	snprintf(cmd, sizeof(cmd), "cp %s %s.saved", path, path);
	cr_assert_eq(system(cmd), 0);
	ref_detach(rt);
	cr_assert_neq(access(path, F_OK), 0, "the last live holder left the file");
	snprintf(cmd, sizeof(cmd), "%s.saved", path);
	cr_assert_eq(rename(cmd, path), 0);
	f = fopen(path, "r+");
	cr_assert_not_null(f);
	fseek(f, 16, SEEK_SET); /* boot_id */
	fputs("00000000-0000-0000-0000-000000000000", f);
	fclose(f);
	rt = attach();
	cr_assert_eq(refs(rt, 1), 0, "a reference from another boot survived");
	ref_detach(rt);
}

Test(ref, an_inherited_attachment_is_refused)
{
	struct ref_runtime *rt = attach();
	struct ext_run r = { 4, 1 };
	uint64_t id;
	pid_t c;
	int st;

	cr_assert_eq(ref_get(rt, REF_MAP, 0, 0, &r, 1, &id), 0);
	c = fork();
	if (c == 0) {
		uint64_t cid;

		/* the parent's attachment must not act for the child */
		_exit(!(ref_stale(rt) && ref_get(rt, REF_MAP, 0, 0, &r, 1, &cid) == -ECHILD &&
			ref_put(rt, id) == -ECHILD));
	}
	cr_assert_eq(waitpid(c, &st, 0), c);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	cr_assert_eq(refs(rt, 4), 1);
	cr_assert_eq(ref_put(rt, id), 0);
	ref_detach(rt);
}

/*
 * No lock orders a get against a release: they meet as in Dekker's
 * algorithm. A releaser that marked an extent and found it idle must never
 * see a reference on it appear: getters in another process (two threads)
 * count themselves in a shared word between a successful get and its put;
 * while the releaser holds a marked extent it found idle, that word must
 * stay 0. Both sides also win sometimes, or the test proves nothing.
 */
struct race {
	int held;         /* getters between a successful get and its put */
	int stop;
	long gets_ok, gets_refused, idle_found, busy_found, violations;
};

struct racer {
	struct ref_runtime *rt;
	struct race *r;
};

static void *race_getter(void *arg)
{
	struct racer *g = arg;
	struct ext_run run = { 9, 1 };

	while (!__atomic_load_n(&g->r->stop, __ATOMIC_ACQUIRE)) {
		uint64_t id;
		int rc = ref_get(g->rt, REF_PIN, 0, 0, &run, 1, &id);

		if (rc == -ESTALE) {
			__atomic_add_fetch(&g->r->gets_refused, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (rc)
			return (void *)1;
		__atomic_add_fetch(&g->r->held, 1, __ATOMIC_SEQ_CST);
		__atomic_add_fetch(&g->r->gets_ok, 1, __ATOMIC_RELAXED);
		for (volatile int spin = 0; spin < 50; spin++)
			;
		__atomic_sub_fetch(&g->r->held, 1, __ATOMIC_SEQ_CST);
		if (ref_put(g->rt, id))
			return (void *)1;
	}
	return NULL;
}

Test(ref, a_release_never_misses_a_get_racing_it, .timeout = 120)
{
	struct race *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct ext_run run = { 9, 1 };
	struct ref_runtime *rt;
	struct timespec t0, t;
	pid_t kid;
	int st;

	cr_assert_neq(r, MAP_FAILED);
	memset(r, 0, sizeof(*r));
	kid = fork();
	cr_assert_geq(kid, 0);
	if (kid == 0) {
		struct racer g;
		pthread_t th[2];
		void *res;
		int bad = 0;

		if (ref_attach(&g.rt, uuid, NEXT, dir))
			_exit(10);
		g.r = r;
		for (int i = 0; i < 2; i++)
			pthread_create(&th[i], NULL, race_getter, &g);
		for (int i = 0; i < 2; i++) {
			pthread_join(th[i], &res);
			bad += res != NULL;
		}
		ref_detach(g.rt);
		_exit(bad);
	}
	rt = attach();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		cr_assert_eq(ref_zap(rt, &run, 1, true), 0);
		if (ref_wait_idle(rt, &run, 1, 0) == 0) {
			r->idle_found++;
			/* the extent is ours: no get may succeed now */
			for (int i = 0; i < 200; i++)
				if (__atomic_load_n(&r->held, __ATOMIC_SEQ_CST))
					r->violations++;
		} else {
			r->busy_found++;
		}
		cr_assert_eq(ref_zap(rt, &run, 1, false), 0);
		for (volatile int spin = 0; spin < 2000; spin++)
			;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 3 ||
		 ((r->idle_found < 100 || r->busy_found < 100) && t.tv_sec - t0.tv_sec < 60));
	__atomic_store_n(&r->stop, 1, __ATOMIC_RELEASE);
	cr_assert_eq(waitpid(kid, &st, 0), kid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "getter child: %d", st);
	cr_log_info("race: %ld gets, %ld refused, releases: %ld idle, %ld busy\n", r->gets_ok,
		    r->gets_refused, r->idle_found, r->busy_found);
	cr_assert_eq(r->violations, 0, "a get succeeded on an extent a releaser held idle (%ld times)",
		     r->violations);
	cr_assert(r->gets_ok > 0 && r->gets_refused > 0, "the getters never won or never lost");
	cr_assert(r->idle_found > 0 && r->busy_found > 0, "the releaser never won or never lost");
	ref_detach(rt);
	munmap(r, sizeof(*r));
}
