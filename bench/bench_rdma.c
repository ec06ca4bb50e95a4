/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_rdma.c -- the cost of RDMA pins and of the registration cache.
 * Prints JSON; every figure sits next to its anchor, measured
 * or stated in the same run:
 *
 * - a cache hit (daxmap_mr_cache_get() + daxmap_mr_cache_put() of a range
 *   an MR of the cache covers), with 1 thread and with 2 threads on the
 *   same MR and on two MRs, next to UCX's modelled 50 ns per registration
 *   cache lookup and to an atomic increment+decrement of a shared word
 *   (the floor: a hit is one atomic on the entry plus the lookup);
 * - pin+unpin of 4 KiB and of 2 MiB: daxmap_pin_rdma()+daxmap_unpin()
 *   (no cache), a cache hit, and a cache miss (flush, then get+put: a new
 *   registration through the cache), next to a bare ibv_reg_mr()+
 *   ibv_dereg_mr() of the same bytes (no library) and to
 *   daxmap_pin_external()+daxmap_unpin() (the reference part alone).
 *
 * Each figure is the median over --rounds rounds; the variants of a section
 * run interleaved within each round, so drift hits all alike. The hit and
 * atomic loops count each thread's own CPU time (a shared machine would
 * otherwise add the time a thread spends descheduled); with 2 threads the
 * figure is the mean of the two. Pin+unpin figures are wall time.
 *
 *   bench_rdma [--device NAME] [--fake-verbs] [--hit-ops N] [--pin-ops N]
 *              [--rounds R] PATH
 *
 * PATH: a devdax device (formatted as a pool: its contents are lost).
 * --device: the RDMA device (default $DAXMAP_TEST_RXE, else the first).
 * --fake-verbs: no RDMA device: the verbs calls do nothing (white-box,
 * lib/pin_rdma.h) and PATH may be a regular file, seen as devdax by the
 * pin rules. The hit path makes no verbs call, so its figures hold; the
 * registration figures then show the library's own part only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <json-c/json.h>

#include <daxmap.h>

#include "lib/dev.h"
#include "lib/pin_rdma.h"

#include "bench_util.h"

#define REGION "bench-rdma"
#define ACCESS (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ)
#define UCX_MODELLED_HIT_NS 50.0 /* UCX's own model of a registration-cache hit */
#define MiB (1ULL << 20)
#define USAGE "usage: bench_rdma [--device NAME] [--fake-verbs] [--hit-ops N] " \
	"[--pin-ops N] [--rounds R] PATH\n"

const char bench_name[] = "bench_rdma";

/* ---- fake verbs ----------------------------------------------------------- */

static struct ibv_mr *fake_reg(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	struct ibv_mr *mr = calloc(1, sizeof(*mr));

	(void)access;
	if (!mr) {
		errno = ENOMEM;
		return NULL;
	}
	mr->pd = pd;
	mr->addr = addr;
	mr->length = len;
	return mr;
}

static int fake_dereg(struct ibv_mr *mr)
{
	free(mr);
	return 0;
}

static const struct rdma_verbs fake_verbs = { fake_reg, fake_dereg, NULL };

/* ---- the benchmark context ------------------------------------------------ */

struct ctx {
	struct daxmap_map *map;
	char *addr;
	struct ibv_pd *pd;
	struct daxmap_mr_cache *cache;
	bool fake;
	int hit_ops, pin_ops, rounds;
	/* the atomic anchor's words: one per MR, as the entries' use counts */
	uint64_t shared[2][8] __attribute__((aligned(64)));
};

/* ---- cache hit ------------------------------------------------------------ */

struct hitter {
	struct ctx *c;
	uint64_t base;   /* the chunk it reads in */
	int n;
	double ns;       /* per get+put pair, this thread's CPU time */
	double w0, w1;   /* wall clock at start and end */
	pthread_barrier_t *start;
};

static void *hit_loop(void *arg)
{
	struct hitter *h = arg;
	double t0;

	if (h->start)
		pthread_barrier_wait(h->start);
	h->w0 = now_ns();
	t0 = cpu_ns();
	for (int i = 0; i < h->n; i++) {
		struct daxmap_mr_entry *e;
		/* 256 offsets 4 KiB apart inside one 2 MiB chunk: all hits */
		uint64_t off = h->base + ((uint64_t)(i & 255) << 12);

		if (daxmap_mr_cache_get(h->c->cache, h->c->map, off, 64, &e) != 0)
			die("daxmap_mr_cache_get");
		daxmap_mr_cache_put(e);
	}
	h->ns = (cpu_ns() - t0) / h->n;
	h->w1 = now_ns();
	return NULL;
}

static void *atomic_loop(void *arg)
{
	struct hitter *h = arg;
	uint64_t *w = &h->c->shared[h->base ? 1 : 0][0];
	double t0;

	if (h->start)
		pthread_barrier_wait(h->start);
	h->w0 = now_ns();
	t0 = cpu_ns();
	for (int i = 0; i < h->n; i++) {
		__atomic_add_fetch(w, 1, __ATOMIC_ACQUIRE);
		__atomic_sub_fetch(w, 1, __ATOMIC_RELEASE);
	}
	h->ns = (cpu_ns() - t0) / h->n;
	h->w1 = now_ns();
	return NULL;
}

/*
 * threads threads at once (1 or 2); bases: their chunks. Mean ns per pair.
 * *overlap: the share of the longer thread's wall time during which both
 * ran (1 thread: 1); with fewer free cores than threads it drops, and the
 * 2-thread figures then say less about contention.
 */
static double run_threads(struct ctx *c, void *(*fn)(void *), int threads,
			  const uint64_t *bases, int n, double *overlap)
{
	struct hitter h[2];
	pthread_barrier_t b;
	pthread_t t[2];
	double sum = 0;

	*overlap = 1;
	if (threads == 1) {
		h[0] = (struct hitter){ c, bases[0], n, 0, 0, 0, NULL };
		fn(&h[0]);
		return h[0].ns;
	}
	pthread_barrier_init(&b, NULL, (unsigned)threads);
	for (int i = 0; i < threads; i++) {
		h[i] = (struct hitter){ c, bases[i], n, 0, 0, 0, &b };
		if (pthread_create(&t[i], NULL, fn, &h[i]) != 0)
			die("pthread_create");
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		sum += h[i].ns;
	}
	pthread_barrier_destroy(&b);
	{
		double lo = h[0].w0 > h[1].w0 ? h[0].w0 : h[1].w0;
		double hi = h[0].w1 < h[1].w1 ? h[0].w1 : h[1].w1;
		double d0 = h[0].w1 - h[0].w0, d1 = h[1].w1 - h[1].w0;

		*overlap = hi > lo ? (hi - lo) / (d0 > d1 ? d0 : d1) : 0;
	}
	return sum / threads;
}

static struct json_object *bench_hits(struct ctx *c)
{
	static const struct {
		const char *name;
		int threads;
		uint64_t bases[2];
	} cases[] = {
		{ "1 thread", 1, { 0, 0 } },
		{ "2 threads, same MR", 2, { 0, 0 } },
		{ "2 threads, different MRs", 2, { 0, 2 * MiB } },
	};
	struct json_object *arr = json_object_new_array();
	double *a = calloc_doubles(c->rounds), *f = calloc_doubles(c->rounds);
	double *ov = calloc_doubles(c->rounds);
	struct daxmap_mr_entry *e;
	double dummy;

	/* the two MRs, registered once */
	for (uint64_t off = 0; off < 4 * MiB; off += 2 * MiB) {
		if (daxmap_mr_cache_get(c->cache, c->map, off, 1, &e) != 0)
			die("daxmap_mr_cache_get");
		daxmap_mr_cache_put(e);
	}
	run_threads(c, hit_loop, 1, cases[0].bases, c->hit_ops / 10, &dummy); /* warm */
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct json_object *j = json_object_new_object();

		for (int r = 0; r < c->rounds; r++) {
			a[r] = run_threads(c, hit_loop, cases[k].threads, cases[k].bases, c->hit_ops,
					   &ov[r]);
			f[r] = run_threads(c, atomic_loop, cases[k].threads, cases[k].bases,
					   c->hit_ops, &dummy);
		}
		json_object_object_add(j, "threads", json_object_new_string(cases[k].name));
		json_object_object_add(j, "cache_hit_get_put_ns", jd(median(a, c->rounds), 1));
		json_object_object_add(j, "anchor_ucx_modelled_lookup_ns", jd(UCX_MODELLED_HIT_NS, 1));
		json_object_object_add(j, "anchor_atomic_inc_dec_ns", jd(median(f, c->rounds), 1));
		json_object_object_add(j, "threads_overlap", jd(median(ov, c->rounds), 1));
		json_object_array_add(arr, j);
	}
	free(a);
	free(f);
	free(ov);
	return arr;
}

/* ---- pin + unpin ---------------------------------------------------------- */

enum variant { V_PIN_RDMA, V_CACHE_HIT, V_CACHE_MISS, V_RAW_VERBS, V_PIN_EXTERNAL, NV };

static const char *const vname[NV] = {
	"daxmap_pin_rdma+unpin_ns", "cache_hit_get+put_ns", "cache_miss_flush+get+put_ns",
	"anchor_ibv_reg_mr+dereg_mr_ns", "anchor_pin_external+unpin_ns",
};

static double pin_loop(struct ctx *c, enum variant v, uint64_t len, int n)
{
	uint64_t off = 4 * MiB; /* its own chunk: the hit figures' MRs are elsewhere */
	double t0 = now_ns();

	for (int i = 0; i < n; i++) {
		struct daxmap_mr_entry *e;
		struct daxmap_pin *pin;
		struct ibv_mr *mr;

		switch (v) {
		case V_PIN_RDMA:
			if (daxmap_pin_rdma(&pin, c->map, off, len, c->pd, ACCESS, NULL, NULL) != 0)
				die("daxmap_pin_rdma");
			daxmap_unpin(&pin);
			break;
		case V_CACHE_MISS:
			daxmap_mr_cache_flush(c->cache, NULL);
			/* fall through */
		case V_CACHE_HIT:
			if (daxmap_mr_cache_get(c->cache, c->map, off, len, &e) != 0)
				die("daxmap_mr_cache_get");
			daxmap_mr_cache_put(e);
			break;
		case V_RAW_VERBS:
			if (!(mr = ibv_reg_mr(c->pd, c->addr + off, len, ACCESS)))
				die_errno("ibv_reg_mr");
			ibv_dereg_mr(mr);
			break;
		case V_PIN_EXTERNAL:
			if (daxmap_pin_external(&pin, c->map, off, len, NULL, NULL) != 0)
				die("daxmap_pin_external");
			daxmap_unpin(&pin);
			break;
		case NV:
			break;
		}
	}
	return (now_ns() - t0) / n;
}

static struct json_object *bench_pins(struct ctx *c)
{
	static const uint64_t sizes[] = { 4096, 2 * MiB };
	struct json_object *arr = json_object_new_array();
	double *m[NV];

	for (int v = 0; v < NV; v++)
		m[v] = calloc_doubles(c->rounds);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct json_object *j = json_object_new_object();

		for (int v = 0; v < NV; v++)
			if (!(v == V_RAW_VERBS && c->fake))
				pin_loop(c, (enum variant)v, sizes[s], 4); /* warm */
		for (int r = 0; r < c->rounds; r++)
			for (int v = 0; v < NV; v++)
				if (!(v == V_RAW_VERBS && c->fake))
					m[v][r] = pin_loop(c, (enum variant)v, sizes[s],
							   v == V_CACHE_HIT ? c->pin_ops * 10 : c->pin_ops);
		json_object_object_add(j, "bytes", json_object_new_int64((int64_t)sizes[s]));
		for (int v = 0; v < NV; v++)
			if (!(v == V_RAW_VERBS && c->fake))
				json_object_object_add(j, vname[v], jd(median(m[v], c->rounds), 1));
		json_object_array_add(arr, j);
	}
	for (int v = 0; v < NV; v++)
		free(m[v]);
	return arr;
}

/* ---- main ----------------------------------------------------------------- */

static struct ibv_context *open_device(const char *want, const char **name)
{
	struct ibv_context *ctx = NULL;
	struct ibv_device **list;
	int n;

	if (!(list = ibv_get_device_list(&n)) || n == 0) {
		fprintf(stderr, "bench_rdma: no RDMA device (use --fake-verbs)\n");
		exit(1);
	}
	for (int i = 0; i < n && !ctx; i++)
		if (!want || strcmp(ibv_get_device_name(list[i]), want) == 0) {
			*name = strdup(ibv_get_device_name(list[i]));
			ctx = ibv_open_device(list[i]);
		}
	ibv_free_device_list(list);
	if (!ctx) {
		fprintf(stderr, "bench_rdma: cannot open RDMA device %s\n", want ? want : "");
		exit(1);
	}
	return ctx;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "fake-verbs", no_argument, NULL, 'f' },
		{ "hit-ops", required_argument, NULL, 'h' },
		{ "pin-ops", required_argument, NULL, 'p' },
		{ "rounds", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctx c = { .hit_ops = 2000000, .pin_ops = 500, .rounds = 5 };
	const char *want = getenv("DAXMAP_TEST_RXE"), *devname = "fake";
	struct ibv_context *ctx = NULL;
	struct daxmap_pool_stat st;
	struct daxmap_pool *pool;
	enum daxmap_dev_kind kind0;
	struct daxmap_dev *dev;
	struct json_object *out;
	int o;

	while ((o = getopt_long(argc, argv, "d:fh:p:r:", lo, NULL)) != -1) {
		switch (o) {
		case 'd': want = optarg; break;
		case 'f': c.fake = true; break;
		case 'h': c.hit_ops = atoi(optarg); break;
		case 'p': c.pin_ops = atoi(optarg); break;
		case 'r': c.rounds = atoi(optarg); break;
		default: usage(USAGE);
		}
	}
	if (optind != argc - 1 || c.hit_ops <= 0 || c.pin_ops <= 0 || c.rounds <= 0)
		usage(USAGE);
	if (want && !*want)
		want = NULL;
	if (c.fake) {
		rdma_set_verbs(&fake_verbs);
		c.pd = (struct ibv_pd *)0x1000; /* never dereferenced */
	} else {
		ctx = open_device(want, &devname);
		if (!(c.pd = ibv_alloc_pd(ctx)))
			die_errno("ibv_alloc_pd");
	}
	dev = bench_dev_open(argv[optind], 0);
	pool = bench_pool_new(dev, &st);
	if (daxmap_region_create(pool, REGION, 8 * MiB, NULL) < 0 ||
	    daxmap_region_map(&c.map, pool, REGION, 0) < 0)
		die("region");
	c.addr = daxmap_map_addr(c.map);
	kind0 = dev->kind;
	if (c.fake)
		dev->kind = DAXMAP_KIND_DEVDAX; /* white-box: past the pin rules */
	if (daxmap_mr_cache_new(&c.cache, c.pd, ACCESS, 0, NULL, NULL) < 0)
		die("daxmap_mr_cache_new");

	out = json_object_new_object();
	json_object_object_add(out, "path", json_object_new_string(argv[optind]));
	json_object_object_add(out, "verbs", json_object_new_string(c.fake ? "fake (no device)" : devname));
	json_object_object_add(out, "extent_size", json_object_new_int64((int64_t)st.extent_size));
	json_object_object_add(out, "cpus_online", json_object_new_int64(sysconf(_SC_NPROCESSORS_ONLN)));
	json_object_object_add(out, "cache_hit", bench_hits(&c));
	json_object_object_add(out, "pin_unpin", bench_pins(&c));

	if (daxmap_mr_cache_delete(&c.cache) < 0)
		die("daxmap_mr_cache_delete");
	dev->kind = kind0;
	daxmap_map_delete(&c.map);
	if (daxmap_region_remove(pool, REGION, 0) < 0)
		die("remove");
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
	if (ctx) {
		ibv_dealloc_pd(c.pd);
		ibv_close_device(ctx);
	}
	bench_print(out);
	return 0;
}
