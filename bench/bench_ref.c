/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_ref.c -- the cost of references. Prints JSON; every
 * figure sits next to its anchor, measured in the same run:
 *
 * - map+unmap of a region (daxmap_region_map(): one reference per extent
 *   taken and dropped) next to a plain mmap+munmap of the same device
 *   range, and next to daxmap_map_new()+daxmap_map_delete() of the same
 *   range (the library's mapping path without references);
 * - reference get+put through the internal ref layer (ref_get(),
 *   ref_put(): the public API has no bare get/put) and through the public
 *   daxmap_pin_external()+daxmap_unpin() on a region mapping, with one
 *   thread, 2 and 4 threads, and 2 and 4 processes, all on the same extent
 *   or each on its own; anchor: an atomic increment+decrement of a word
 *   (the kernel's folio_get()/folio_put()), shared or one per worker; and a
 *   FUTEX_WAKE syscall with no waiter (what a drop makes when a release
 *   waits).
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
#include <sys/wait.h>
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
	OP_ATOMIC,  /* anchor: atomic inc + dec of a word (folio_get/put) */
};

#define MAXW 4 /* workers at most */

/* Shared with the worker processes: the barrier, each worker's times,
 * and the anchor words (one cache line each). */
struct shared {
	pthread_barrier_t bar;
	double t0[MAXW], t1[MAXW];
	_Alignas(64) uint32_t word[MAXW][16];
	uint32_t futex;
};

struct worker {
	enum op op;
	int n, idx;
	struct ref_runtime *rt;
	uint64_t extent;         /* OP_REF */
	struct daxmap_map *map;  /* OP_PIN */
	uint64_t offset, len;    /* OP_PIN */
	uint32_t *word;          /* OP_ATOMIC */
	struct shared *sh;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	struct ext_run run = { w->extent, 1 };

	pthread_barrier_wait(&w->sh->bar);
	w->sh->t0[w->idx] = now_ns();
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
	}
	w->sh->t1[w->idx] = now_ns();
	return NULL;
}

struct ref_ctx {
	struct ref_runtime *rt;
	struct daxmap_map *map;   /* a mapping of the region, for pins */
	uint64_t ext[MAXW];       /* pool extent numbers of region indexes 0.. */
	uint64_t es;
	uint8_t uuid[16];         /* for the worker processes' own attachments */
	uint64_t nextents;
	const char *dir;
	struct shared *sh;
	int n, rounds;
	int pin_ok;               /* 0: pins refused on this device */
};

/*
 * Run nw workers at once, as threads of this process or as processes
 * (each attached to the pool's runtime state on its own, as any process
 * using the pool is). Per-worker ns per pair (their mean) and the total
 * pairs per second over the wall time from the first start to the last
 * end.
 */
static void run_workers(const struct ref_ctx *c, struct worker *w, int nw, bool procs,
			double *ns, double *rate)
{
	pthread_barrierattr_t ba;
	pthread_t t[MAXW];
	pid_t pid[MAXW];
	double first, last, sum = 0;

	pthread_barrierattr_init(&ba);
	pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&c->sh->bar, &ba, (unsigned)nw);
	pthread_barrierattr_destroy(&ba);
	for (int i = 0; i < nw; i++) {
		w[i].idx = i;
		w[i].sh = c->sh;
		if (!procs) {
			if ((errno = pthread_create(&t[i], NULL, work, &w[i])) != 0)
				die_errno("pthread_create"); /* it returns the error */
			continue;
		}
		if ((pid[i] = fork()) < 0)
			die_errno("fork");
		if (pid[i] == 0) {
			if (ref_attach(&w[i].rt, c->uuid, c->nextents, c->dir) < 0)
				die("ref_attach");
			work(&w[i]);
			ref_detach(w[i].rt);
			_exit(0);
		}
	}
	for (int i = 0; i < nw; i++) {
		int st;

		if (!procs)
			pthread_join(t[i], NULL);
		else if (waitpid(pid[i], &st, 0) != pid[i] || !WIFEXITED(st) || WEXITSTATUS(st))
			die("a worker process failed");
	}
	pthread_barrier_destroy(&c->sh->bar);
	first = c->sh->t0[0];
	last = c->sh->t1[0];
	for (int i = 0; i < nw; i++) {
		sum += (c->sh->t1[i] - c->sh->t0[i]) / w[i].n;
		first = c->sh->t0[i] < first ? c->sh->t0[i] : first;
		last = c->sh->t1[i] > last ? c->sh->t1[i] : last;
	}
	*ns = sum / nw;
	*rate = (double)w[0].n * nw / ((last - first) * 1e-9);
}

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

	/* not FUTEX_PRIVATE, as a drop's wake-up of a waiter */
	for (int i = 0; i < c->n; i++)
		syscall(SYS_futex, &c->sh->futex, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	return (now_ns() - t0) / c->n;
}

/* The scenarios, each run in every round, interleaved. */
struct scenario {
	const char *name;
	int workers;
	bool procs, different;
};

static const struct scenario scenarios[] = {
	{ "one_thread", 1, false, false },
	{ "two_threads_same_extent", 2, false, false },
	{ "two_threads_different_extents", 2, false, true },
	{ "four_threads_same_extent", 4, false, false },
	{ "four_threads_different_extents", 4, false, true },
	{ "two_processes_same_extent", 2, true, false },
	{ "two_processes_different_extents", 2, true, true },
	{ "four_processes_same_extent", 4, true, false },
	{ "four_processes_different_extents", 4, true, true },
};
enum { NSCEN = sizeof(scenarios) / sizeof(scenarios[0]) };

static const struct {
	enum op op;
	const char *name;
} ops[] = {
	{ OP_REF, "ref_get_put" },
	{ OP_PIN, "pin_external_unpin" },
	{ OP_ATOMIC, "anchor_atomic_inc_dec" },
};
enum { NOPS = sizeof(ops) / sizeof(ops[0]) };

static struct json_object *bench_refs(struct ref_ctx *c)
{
	struct json_object *j = json_object_new_object();
	double *ns[NSCEN][NOPS], *rate[NSCEN][NOPS], base[NOPS] = { 0 };
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
		"pin_external_unpin: public API, one extent of a region mapping, not revocable, "
		"threads only (a mapping is its process's own); anchor_atomic_inc_dec: "
		"one word for all workers (same extent) or one each (different), 10 times "
		"the ops; ns_per_pair: each worker's own time per pair, their mean; "
		"pairs_per_sec_total: all workers' pairs over the wall time; scaling: that "
		"rate over one thread's, in the same run; threads of a process share its "
		"holder slot, each process has its own"));
	for (int s = 0; s < NSCEN; s++)
		for (int o = 0; o < NOPS; o++) {
			ns[s][o] = calloc_doubles(c->rounds);
			rate[s][o] = calloc_doubles(c->rounds);
		}
	for (int r = 0; r < c->rounds; r++)
		for (int s = 0; s < NSCEN; s++)
			for (int o = 0; o < NOPS; o++) {
				const struct scenario *sc = &scenarios[s];
				struct worker w[MAXW];
				int scale = ops[o].op == OP_ATOMIC ? 10 : 1;

				if (ops[o].op == OP_PIN && (!c->pin_ok || sc->procs))
					continue;
				for (int t = 0; t < sc->workers; t++) {
					int k = sc->different ? t : 0;

					w[t] = (struct worker){
						.op = ops[o].op, .n = c->n * scale, .rt = c->rt,
						.extent = c->ext[k], .map = c->map,
						.offset = (uint64_t)k * c->es, .len = c->es,
						.word = c->sh->word[k],
					};
				}
				run_workers(c, w, sc->workers, sc->procs, &ns[s][o][r], &rate[s][o][r]);
			}
	for (int s = 0; s < NSCEN; s++) {
		struct json_object *js = json_object_new_object();

		json_object_object_add(js, "workers", json_object_new_int(scenarios[s].workers));
		json_object_object_add(js, "as", json_object_new_string(
			scenarios[s].procs ? "processes" : "threads"));
		for (int o = 0; o < NOPS; o++) {
			char key[96];
			double rt;

			if (ops[o].op == OP_PIN && (!c->pin_ok || scenarios[s].procs))
				continue;
			rt = median(rate[s][o], c->rounds);
			if (s == 0)
				base[o] = rt;
			snprintf(key, sizeof(key), "%s_ns_per_pair", ops[o].name);
			json_object_object_add(js, key, jd(median(ns[s][o], c->rounds), 1));
			snprintf(key, sizeof(key), "%s_pairs_per_sec_total", ops[o].name);
			json_object_object_add(js, key, jd(rt, 1));
			if (s > 0 && base[o] > 0) {
				snprintf(key, sizeof(key), "%s_scaling", ops[o].name);
				json_object_object_add(js, key, jd(rt / base[o], 2));
			}
		}
		if (s == 0) {
			double *g = calloc_doubles(c->rounds), *p = calloc_doubles(c->rounds);
			double *f = calloc_doubles(c->rounds);

			for (int r = 0; r < c->rounds; r++) {
				ref_per_op(c, &g[r], &p[r]);
				f[r] = futex_wake_ns(c);
			}
			json_object_object_add(js, "ref_get_ns", jd(median(g, c->rounds), 1));
			json_object_object_add(js, "ref_put_ns", jd(median(p, c->rounds), 1));
			json_object_object_add(js, "ref_vs_atomic", jd(median(ns[0][0], c->rounds) /
								      median(ns[0][2], c->rounds), 2));
			json_object_object_add(js, "anchor_futex_wake_syscall_ns",
					       jd(median(f, c->rounds), 1));
			free(g);
			free(p);
			free(f);
		}
		json_object_object_add(j, scenarios[s].name, js);
		for (int o = 0; o < NOPS; o++) {
			free(ns[s][o]);
			free(rate[s][o]);
		}
	}
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
	if (optind != argc - 1 || k < MAXW || map_ops <= 0 || ref_ops <= 0 || rounds <= 0)
		usage(USAGE);
	dev = bench_dev_open(argv[optind], align);
	pool = bench_pool_new(dev, &st);
	if (daxmap_region_create(pool, REGION, k * st.extent_size, NULL) < 0)
		die("create");
	if (daxmap_region_ranges(pool, REGION, &ranges, &nranges) < 0 ||
	    daxmap_pool_refs(pool, REGION, &refs, &nrefs) < 0 || nrefs < MAXW)
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
			       .nextents = st.extents_total };
	for (int i = 0; i < MAXW; i++)
		rc.ext[i] = refs[i].extent;
	dir = getenv("DAXMAP_RUNTIME_DIR");
	if (dir && !*dir)
		dir = NULL;
	rc.dir = dir;
	memcpy(uuid, pool_uuid(pool), sizeof(uuid));
	memcpy(rc.uuid, uuid, sizeof(uuid));
	if (daxmap_region_map(&rc.map, pool, REGION, 0) < 0 ||
	    runtime_attach(pool, &rc.rt) < 0)
		die("attach");
	rc.sh = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rc.sh == MAP_FAILED)
		die_errno("mmap");
	json_object_object_add(out, "get_put", bench_refs(&rc));
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
