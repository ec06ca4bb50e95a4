/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_ref.c -- the cost of references. Prints JSON; every
 * figure sits next to its anchor, measured in the same run:
 *
 * - map+unmap of a region (daxmap_region_map(): one reference per extent
 *   taken and dropped) next to a plain mmap+munmap of the same device
 *   range, and next to daxmap_map_new()+daxmap_map_delete() of the same
 *   range (the library's mapping path without references);
 * - reference get+put latency through the internal ref layer (ref_get(),
 *   ref_put(): the public API has no bare get/put) and through the public
 *   daxmap_pin_external()+daxmap_unpin() on a region mapping, with one
 *   thread, and two threads at once on the same extent and on different
 *   extents; anchors: an atomic increment+decrement of a shared word (the
 *   kernel's folio_get()/folio_put()), a process-shared robust mutex
 *   lock+unlock (what every ref layer call takes), and a FUTEX_WAKE
 *   syscall with no waiter (what every ref_put() makes).
 *
 * Each figure is the median over --rounds rounds of --map-ops or --ref-ops
 * operations; the variants of a section run interleaved within each round,
 * so drift hits all alike.
 *
 *   bench_ref [--align SIZE] [--extents K] [--map-ops N] [--ref-ops N]
 *             [--rounds R] PATH
 *
 * PATH: a devdax device, a file on a DAX filesystem, or a regular file
 * (an emulated device). It is formatted as a pool (its contents are lost).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <json-c/json.h>

#include <daxmap.h>

#include "lib/pool_handle.h"
#include "lib/ref.h"
#include "lib/runtime.h"

#include "bench_util.h"

#define REGION "bench-ref"
#define BATCH 64 /* gets, then as many puts, for the per-op figures */
#define USAGE "usage: bench_ref [--align SIZE] [--extents K] [--map-ops N] [--ref-ops N] [--rounds R] PATH\n"

const char bench_name[] = "bench_ref";

/* ------------------------------------------------ map + unmap of a region */

struct map_ctx {
	struct daxmap_pool *pool;
	struct daxmap_dev *dev;
	const struct daxmap_range *ranges;
	size_t nranges;
	int fd;          /* the device, for the plain mmap anchor */
	int mmap_flags;
	uint64_t len;
	int n;
};

static double region_map_unmap(const struct map_ctx *c)
{
	double t0 = now_ns();

	for (int i = 0; i < c->n; i++) {
		struct daxmap_map *m;

		if (daxmap_region_map(&m, c->pool, REGION, 0) < 0)
			die("daxmap_region_map");
		if (daxmap_map_delete(&m) < 0)
			die("daxmap_map_delete");
	}
	return (now_ns() - t0) / c->n;
}

/* The same device ranges through the mapping layer, no references. */
static double map_new_delete(const struct map_ctx *c)
{
	double t0 = now_ns();

	for (int i = 0; i < c->n; i++) {
		struct daxmap_map *m;
		int rc = c->nranges == 1 ?
			daxmap_map_new(&m, c->dev, c->ranges[0].offset, c->ranges[0].len, 0) :
			daxmap_map_new_ranges(&m, c->dev, c->ranges, c->nranges, 0);

		if (rc < 0)
			die("daxmap_map_new");
		if (daxmap_map_delete(&m) < 0)
			die("daxmap_map_delete");
	}
	return (now_ns() - t0) / c->n;
}

static double plain_mmap_munmap(const struct map_ctx *c)
{
	double t0 = now_ns();

	for (int i = 0; i < c->n; i++) {
		void *p = mmap(NULL, c->len, PROT_READ | PROT_WRITE, c->mmap_flags, c->fd,
			       (off_t)c->ranges[0].offset);

		if (p == MAP_FAILED)
			die_errno("mmap");
		munmap(p, c->len);
	}
	return (now_ns() - t0) / c->n;
}

/* MAP_SHARED_VALIDATE|MAP_SYNC where the device takes it, as the library
 * maps; else MAP_SHARED (a page-cache file). */
static int probe_mmap_flags(int fd, uint64_t off, uint64_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED_VALIDATE | MAP_SYNC,
		       fd, (off_t)off);

	if (p != MAP_FAILED) {
		munmap(p, len);
		return MAP_SHARED_VALIDATE | MAP_SYNC;
	}
	return MAP_SHARED;
}

static struct json_object *bench_map_unmap(struct map_ctx *c, int rounds)
{
	struct json_object *j = json_object_new_object();
	double *a = calloc_doubles(rounds), *b = calloc_doubles(rounds);
	double *p = calloc_doubles(rounds);

	/* warm: the runtime state attached, page tables and caches hot */
	region_map_unmap(&(struct map_ctx){ .pool = c->pool, .n = 8 });
	for (int r = 0; r < rounds; r++) {
		a[r] = region_map_unmap(c);
		b[r] = map_new_delete(c);
		p[r] = plain_mmap_munmap(c);
	}
	double ra = median(a, rounds), rb = median(b, rounds), rp = median(p, rounds);

	json_object_object_add(j, "bytes", json_object_new_int64((int64_t)c->len));
	json_object_object_add(j, "device_ranges", json_object_new_int64((int64_t)c->nranges));
	json_object_object_add(j, "ops_per_round", json_object_new_int(c->n));
	json_object_object_add(j, "rounds", json_object_new_int(rounds));
	json_object_object_add(j, "region_map_unmap_ns", jd(ra, 1));
	json_object_object_add(j, "anchor_daxmap_map_new_delete_ns", jd(rb, 1));
	json_object_object_add(j, "anchor_plain_mmap_munmap_ns", jd(rp, 1));
	json_object_object_add(j, "anchor_mmap_flags", json_object_new_string(
		c->mmap_flags == MAP_SHARED ? "MAP_SHARED" : "MAP_SHARED_VALIDATE|MAP_SYNC"));
	json_object_object_add(j, "region_vs_plain_mmap", jd(ra / rp, 1));
	/* pool lock and table re-read, reference get+put, MADV_DONTFORK */
	json_object_object_add(j, "region_layer_ns", jd(ra - rb, 1));
	free(a);
	free(b);
	free(p);
	return j;
}

/* ------------------------------------------- reference get + put latency */

enum op {
	OP_REF,     /* ref_get(REF_MAP) + ref_put() on one extent */
	OP_PIN,     /* daxmap_pin_external() + daxmap_unpin() of one extent */
	OP_ATOMIC,  /* anchor: atomic inc + dec of a shared word */
	OP_MUTEX,   /* anchor: robust process-shared mutex lock + unlock */
};

/* Anchor state, in shared memory like the ref layer's. */
struct shared {
	pthread_mutex_t lock;
	char pad0[64];
	uint32_t word[2][16]; /* two words on separate cache lines */
	uint32_t futex;
};

struct worker {
	enum op op;
	int n;
	struct ref_runtime *rt;
	uint64_t extent;         /* OP_REF */
	struct daxmap_map *map;  /* OP_PIN */
	uint64_t offset, len;    /* OP_PIN */
	uint32_t *word;          /* OP_ATOMIC */
	struct shared *sh;
	pthread_barrier_t *bar;
	double t0, t1;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct ext_run run = { w->extent, 1 };

	if (w->bar)
		pthread_barrier_wait(w->bar);
	w->t0 = now_ns();
	switch (w->op) {
	case OP_REF:
		for (int i = 0; i < w->n; i++) {
			uint64_t id;

			if (ref_get(w->rt, REF_MAP, 0, 0, &run, 1, &id) < 0)
				die("ref_get");
			if (ref_put(w->rt, id) < 0)
				die("ref_put");
		}
		break;
	case OP_PIN:
		for (int i = 0; i < w->n; i++) {
			struct daxmap_pin *p;

			if (daxmap_pin_external(&p, w->map, w->offset, w->len, NULL, NULL) < 0)
				die("daxmap_pin_external");
			if (daxmap_unpin(&p) < 0)
				die("daxmap_unpin");
		}
		break;
	case OP_ATOMIC:
		for (int i = 0; i < w->n; i++) {
			__atomic_fetch_add(w->word, 1, __ATOMIC_ACQ_REL);
			__atomic_fetch_sub(w->word, 1, __ATOMIC_ACQ_REL);
		}
		break;
	case OP_MUTEX:
		for (int i = 0; i < w->n; i++) {
			pthread_mutex_lock(&w->sh->lock);
			__atomic_signal_fence(__ATOMIC_SEQ_CST);
			pthread_mutex_unlock(&w->sh->lock);
		}
		break;
	}
	w->t1 = now_ns();
	return NULL;
}

/* Run w[0..nthreads) at once; per-thread ns per pair (their mean) and the
 * total pairs per second over the wall time of the slowest. */
static void run_threads(struct worker *w, int nthreads, double *ns, double *rate)
{
	pthread_barrier_t bar;
	pthread_t t[2];
	double first, last, sum = 0;

	if (nthreads == 1) {
		w[0].bar = NULL;
		work(&w[0]);
	} else {
		pthread_barrier_init(&bar, NULL, (unsigned)nthreads);
		for (int i = 0; i < nthreads; i++) {
			w[i].bar = &bar;
			if ((errno = pthread_create(&t[i], NULL, work, &w[i])) != 0)
				die_errno("pthread_create"); /* it returns the error */
		}
		for (int i = 0; i < nthreads; i++)
			pthread_join(t[i], NULL);
		pthread_barrier_destroy(&bar);
	}
	first = w[0].t0;
	last = w[0].t1;
	for (int i = 0; i < nthreads; i++) {
		sum += (w[i].t1 - w[i].t0) / w[i].n;
		first = w[i].t0 < first ? w[i].t0 : first;
		last = w[i].t1 > last ? w[i].t1 : last;
	}
	*ns = sum / nthreads;
	*rate = (double)w[0].n * nthreads / ((last - first) * 1e-9);
}

struct ref_ctx {
	struct ref_runtime *rt;
	struct daxmap_map *map;   /* a mapping of the region, for pins */
	uint64_t ext[2];          /* pool extent numbers of region indexes 0, 1 */
	uint64_t es;
	struct shared *sh;
	int n, rounds;
	int pin_ok;               /* 0: pins refused on this device */
};

/* ns per get and per put of one extent, BATCH gets then BATCH puts. */
static void ref_per_op(const struct ref_ctx *c, double *get, double *put)
{
	struct ext_run run = { c->ext[0], 1 };
	uint64_t id[BATCH];
	double tg = 0, tp = 0, t0;
	int loops = c->n / BATCH > 0 ? c->n / BATCH : 1;

	for (int l = 0; l < loops; l++) {
		t0 = now_ns();
		for (int i = 0; i < BATCH; i++)
			if (ref_get(c->rt, REF_MAP, 0, 0, &run, 1, &id[i]) < 0)
				die("ref_get");
		tg += now_ns() - t0;
		t0 = now_ns();
		for (int i = 0; i < BATCH; i++)
			if (ref_put(c->rt, id[i]) < 0)
				die("ref_put");
		tp += now_ns() - t0;
	}
	*get = tg / ((double)loops * BATCH);
	*put = tp / ((double)loops * BATCH);
}

static double futex_wake_ns(const struct ref_ctx *c)
{
	double t0 = now_ns();

	/* not FUTEX_PRIVATE, as the ref layer's wake_all() */
	for (int i = 0; i < c->n; i++)
		syscall(SYS_futex, &c->sh->futex, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	return (now_ns() - t0) / c->n;
}

/*
 * One scenario: nthreads threads (1 or 2); different: on extents 0 and 1
 * (and separate anchor words) instead of both on extent 0. The ops run
 * interleaved, each round; medians of the rounds.
 */
static struct json_object *ref_scenario(const struct ref_ctx *c, int nthreads, int different)
{
	static const struct {
		enum op op;
		const char *name;
	} ops[] = {
		{ OP_REF, "ref_get_put" },
		{ OP_PIN, "pin_external_unpin" },
		{ OP_ATOMIC, "anchor_atomic_inc_dec" },
		{ OP_MUTEX, "anchor_robust_mutex_lock_unlock" },
	};
	enum { NOPS = sizeof(ops) / sizeof(ops[0]) };
	struct json_object *j = json_object_new_object();
	double *ns[NOPS], *rate[NOPS];

	for (int o = 0; o < NOPS; o++) {
		ns[o] = calloc_doubles(c->rounds);
		rate[o] = calloc_doubles(c->rounds);
	}
	for (int r = 0; r < c->rounds; r++)
		for (int o = 0; o < NOPS; o++) {
			struct worker w[2];

			/* the anchors are 100 times cheaper: 10 times the ops, so
			 * two threads overlap for long enough (under TCG too) */
			int anchor_scale = ops[o].op == OP_ATOMIC || ops[o].op == OP_MUTEX ? 10 : 1;

			if (ops[o].op == OP_PIN && !c->pin_ok)
				continue;
			for (int t = 0; t < nthreads; t++) {
				int k = different ? t : 0;

				w[t] = (struct worker){
					.op = ops[o].op, .n = c->n * anchor_scale, .rt = c->rt,
					.extent = c->ext[k], .map = c->map,
					.offset = (uint64_t)k * c->es, .len = c->es,
					.word = c->sh->word[k], .sh = c->sh,
				};
			}
			run_threads(w, nthreads, &ns[o][r], &rate[o][r]);
		}
	json_object_object_add(j, "threads", json_object_new_int(nthreads));
	if (nthreads > 1)
		json_object_object_add(j, "extents", json_object_new_string(
			different ? "different (index 0 and 1 of the region)" : "same (index 0)"));
	for (int o = 0; o < NOPS; o++) {
		char key[96];

		if (ops[o].op == OP_PIN && !c->pin_ok)
			continue;
		snprintf(key, sizeof(key), "%s_ns_per_pair", ops[o].name);
		json_object_object_add(j, key, jd(median(ns[o], c->rounds), 1));
		if (nthreads > 1) {
			snprintf(key, sizeof(key), "%s_pairs_per_sec_total", ops[o].name);
			json_object_object_add(j, key, jd(median(rate[o], c->rounds), 1));
		}
		free(ns[o]);
		free(rate[o]);
	}
	if (nthreads == 1) {
		double *g = calloc_doubles(c->rounds), *p = calloc_doubles(c->rounds);
		double *f = calloc_doubles(c->rounds);

		for (int r = 0; r < c->rounds; r++) {
			ref_per_op(c, &g[r], &p[r]);
			f[r] = futex_wake_ns(c);
		}
		json_object_object_add(j, "ref_get_ns", jd(median(g, c->rounds), 1));
		json_object_object_add(j, "ref_put_ns", jd(median(p, c->rounds), 1));
		json_object_object_add(j, "anchor_futex_wake_syscall_ns", jd(median(f, c->rounds), 1));
		free(g);
		free(p);
		free(f);
	}
	return j;
}

static struct json_object *bench_refs(struct ref_ctx *c)
{
	struct json_object *j = json_object_new_object();
	struct daxmap_pin *pin;

	/* pins may be refused on this kind of device (the pin rules): say so */
	if (daxmap_pin_external(&pin, c->map, 0, c->es, NULL, NULL) < 0) {
		json_object_object_add(j, "pin_external_refused",
				       json_object_new_string(daxmap_errormsg()));
		c->pin_ok = 0;
	} else {
		daxmap_unpin(&pin);
		c->pin_ok = 1;
	}
	json_object_object_add(j, "ops_per_round", json_object_new_int(c->n));
	json_object_object_add(j, "rounds", json_object_new_int(c->rounds));
	json_object_object_add(j, "notes", json_object_new_string(
		"ref_get_put: internal ref_get(REF_MAP)+ref_put() of one extent; "
		"the atomic and mutex anchors run 10 times ops_per_round; "
		"pin_external_unpin: public API, one extent of a region mapping, not revocable; "
		"ns_per_pair with 2 threads: each thread's own time per pair, mean of the two; "
		"the robust mutex anchor is one lock for both threads in every scenario, "
		"as the ref layer has one lock per pool; threads of a process share its holder slot"));
	json_object_object_add(j, "uncontended", ref_scenario(c, 1, 0));
	json_object_object_add(j, "two_threads_same_extent", ref_scenario(c, 2, 0));
	json_object_object_add(j, "two_threads_different_extents", ref_scenario(c, 2, 1));
	return j;
}

/* ------------------------------------------------------------------ main */

/*
 * Every run formats a new pool (a new uuid), so its runtime state file
 * would be left behind in /dev/shm (4 MiB each) once nothing uses it: the
 * bench removes it, named as the ref layer names it (lib/ref.c rt_path()).
 */
static void unlink_runtime_state(const uint8_t uuid[16], const char *dir)
{
	char path[PATH_MAX], hex[33];

	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", uuid[i]);
	snprintf(path, sizeof(path), "%s/daxmap-%s.rt", dir ? dir : "/dev/shm", hex);
	unlink(path);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "align", required_argument, NULL, 'a' },
		{ "extents", required_argument, NULL, 'k' },
		{ "map-ops", required_argument, NULL, 'm' },
		{ "ref-ops", required_argument, NULL, 'n' },
		{ "rounds", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t align = 0, k = 4;
	int map_ops = 2000, ref_ops = 100000, rounds = 5, c;
	struct daxmap_pool_stat st;
	struct daxmap_extent_refs *refs;
	struct daxmap_range *ranges;
	struct daxmap_pool *pool;
	struct daxmap_dev *dev;
	struct json_object *out;
	struct map_ctx mc;
	struct ref_ctx rc;
	size_t nranges, nrefs;
	uint8_t uuid[16];
	const char *dir;

	while ((c = getopt_long(argc, argv, "a:k:m:n:r:", lo, NULL)) != -1) {
		switch (c) {
		case 'a': if (parse_size(optarg, &align)) usage(USAGE); break;
		case 'k': k = strtoull(optarg, NULL, 0); break;
		case 'm': map_ops = atoi(optarg); break;
		case 'n': ref_ops = atoi(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		default: usage(USAGE);
		}
	}
	if (optind != argc - 1 || k < 2 || map_ops <= 0 || ref_ops <= 0 || rounds <= 0)
		usage(USAGE);
	dev = bench_dev_open(argv[optind], align);
	pool = bench_pool_new(dev, &st);
	if (daxmap_region_create(pool, REGION, k * st.extent_size, NULL) < 0)
		die("create");
	if (daxmap_region_ranges(pool, REGION, &ranges, &nranges) < 0 ||
	    daxmap_pool_refs(pool, REGION, &refs, &nrefs) < 0 || nrefs < 2)
		die("region");

	out = bench_out_new(argv[optind], dev);
	json_object_object_add(out, "extent_size", json_object_new_int64((int64_t)st.extent_size));
	json_object_object_add(out, "region_extents", json_object_new_int64((int64_t)k));
	json_object_object_add(out, "cpus_online", json_object_new_int64(sysconf(_SC_NPROCESSORS_ONLN)));

	/* 1. map + unmap */
	mc = (struct map_ctx){ .pool = pool, .dev = dev, .ranges = ranges, .nranges = nranges,
			       .len = k * st.extent_size, .n = map_ops };
	mc.fd = open(argv[optind], O_RDWR | O_CLOEXEC);
	if (mc.fd < 0) {
		perror(argv[optind]);
		return 1;
	}
	mc.mmap_flags = probe_mmap_flags(mc.fd, ranges[0].offset, mc.len);
	json_object_object_add(out, "map_unmap", bench_map_unmap(&mc, rounds));
	close(mc.fd);

	/* 2. get + put: the ref layer's attachment is the pool's own (one per
	 * pool per process), found the way the library finds it */
	rc = (struct ref_ctx){ .es = st.extent_size, .n = ref_ops, .rounds = rounds,
			       .ext = { refs[0].extent, refs[1].extent } };
	dir = getenv("DAXMAP_RUNTIME_DIR");
	if (dir && !*dir)
		dir = NULL;
	memcpy(uuid, pool_uuid(pool), sizeof(uuid));
	if (daxmap_region_map(&rc.map, pool, REGION, 0) < 0 ||
	    runtime_attach(pool, &rc.rt) < 0)
		die("attach");
	rc.sh = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rc.sh == MAP_FAILED)
		die_errno("mmap");
	{
		pthread_mutexattr_t a;

		pthread_mutexattr_init(&a);
		pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
		pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
		pthread_mutex_init(&rc.sh->lock, &a);
		pthread_mutexattr_destroy(&a);
	}
	json_object_object_add(out, "get_put", bench_refs(&rc));
	pthread_mutex_destroy(&rc.sh->lock);
	munmap(rc.sh, sizeof(struct shared));
	ref_detach(rc.rt);
	daxmap_map_delete(&rc.map);

	free(refs);
	free(ranges);
	if (daxmap_region_remove(pool, REGION, 0) < 0)
		die("remove");
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
	unlink_runtime_state(uuid, dir);
	bench_print(out);
	return 0;
}
