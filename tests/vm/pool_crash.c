/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pool_crash.c -- region create, resize and remove survive the machine being
 * killed at any moment (tests/vm/pool-crash-test kills QEMU, boots the same
 * images again and runs "verify").
 *
 *   pool_crash loop PATH SEED [FENCE]
 *                      format PATH, then create, resize and remove regions
 *                      until killed; print one line per completed operation
 *                      (below). With FENCE (a build with -Dfault_injection=
 *                      true), DAXMAP_FAULT_FENCE=FENCE is set once the
 *                      sequence starts: the library ends the process or the
 *                      machine at that metadata fence (lib/fault.c)
 *   pool_crash verify [--in-flight] PATH SEED
 *                      read the loop's output on stdin, open the pool
 *                      (recovery runs) and check it; exit 0 only if
 *                      everything holds. --in-flight: the kill must have
 *                      landed inside an operation (a fault at a fence)
 *
 * The operations are a pure function of SEED: each one is drawn from a
 * splitmix64 stream and a model of the pool (the regions, the free extents)
 * that only the operations themselves change, never the library's answers.
 * So "verify" replays the same sequence and knows the state after every
 * operation, and which operation came next.
 *
 * Regions are "r<N>" (N = 1, 2, ... in creation order) of 1..MAX_EXT extents.
 * Each extent of a region gets a STAMP-byte stamp at its head and another at
 * its tail, derived from (SEED, N, extent index, head/tail); the stamps say
 * whose they are, so a mismatch tells which region's data is there instead.
 * An operation is complete when its library call returned, the stamps of the
 * extents it added are persistent, and the progress counter (below) names
 * it; only then is its line printed:
 *
 *   done create r<N> <size>      r<N> exists, size bytes, every extent stamped
 *   done resize r<N> <newsize>   grow: the new extents are stamped too
 *   done remove r<N>
 *
 * The progress counter: the region "progress" (one extent, created before
 * the first operation, never touched again) holds a header (SEED, the free
 * extents and region slots the sequence started with) and the number of
 * completed operations, an aligned 8-byte word persisted after each one and
 * before its line is printed. Beside it, the in-flight word, persisted
 * before each step of an operation: its number and the step (1: the
 * library call; 2: the first mapping of what a create or grow added, and
 * the stamps). So after a kill, verify knows which operation was under
 * way and where: a kill at a metadata fence in step 2 (the mapping zeroes
 * new extents and records them as written) comes after the operation's own
 * call returned, which must then have taken effect. The log that reaches the host can lose its
 * last lines (they may still be in the guest's tty or the serial pipe when
 * QEMU dies), so the log is a lower bound L and the counter C is exact:
 * verify requires L <= C and that the log is the replay's first L lines.
 *
 * After the kill the pool must be in the state after operation C (operation
 * C + 1 had not happened) or after operation C + 1 (it had: the machine died
 * after its library call returned but before the counter was persisted):
 * exactly those regions with those sizes. Stamps are checked on every extent
 * that was stamped before its operation completed: all of them, except the
 * extents that an in-flight create or grow (operation C + 1, when it did
 * happen) had added. Also checked: the device ranges of the regions do not
 * overlap and lie in the pool's data extents, the extent counts add up, and
 * a probe region made of every free extent, stamped, leaves all other
 * stamps intact (the free list hands out no extent that is in use). When
 * the kill came inside a create or grow that took effect, the extents it
 * added must read as zeros (their previous owners' stamps must not show):
 * never mapped, or zeroed by the first mapping and not yet stamped (with
 * --in-flight the kill is at a metadata fence, and the only one in step 2
 * is the mapping's record of what it zeroed).
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <daxmap.h>

#define MAX_EXT 8            /* a region holds 1..MAX_EXT extents */
#define STAMP 512            /* bytes stamped at an extent's head and tail */
#define STAT_EVERY 16        /* the loop compares the pool's counts to its model */
#define PROGRESS "progress"  /* the region holding the progress counter */
#define PROBE "probe"        /* verify's region of every free extent */
#define PROGRESS_MAGIC "PCPROG01"
#define STAMP_MAGIC "PCSTAMP1"
#define COUNTER_OFF 4096     /* the counter's offset in the progress region */
#define INFLIGHT_OFF 4160    /* the in-flight word's: (operation << 8) | step */
enum { STEP_CALL = 1, STEP_MAP = 2 };
#define MAX_REPORTS 40       /* verify prints at most this many problems */

static const char *prog = "pool_crash";

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A failure of the program or the library: message, library error, exit 1. */
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", daxmap_errormsg());
	exit(1);
}

/* ---- the deterministic operation sequence ------------------------------ */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

enum op_kind { OP_CREATE, OP_RESIZE, OP_REMOVE };

struct op {
	enum op_kind kind;
	uint32_t id;    /* the region: "r<id>" */
	uint64_t n;     /* extents after the operation (0 for remove) */
	uint64_t old_n; /* extents before it (0 for create) */
};

struct reg {
	uint32_t id;
	uint64_t n;
};

struct model {
	uint64_t rng;
	uint64_t free;  /* free extents */
	uint64_t slots; /* free region slots */
	uint32_t next_id;
	struct reg *r;  /* live regions, in creation order */
	size_t nr, cap;
};

static void model_init(struct model *m, uint64_t seed, uint64_t free_ext, uint64_t slots)
{
	memset(m, 0, sizeof(*m));
	m->rng = seed;
	m->free = free_ext;
	m->slots = slots;
	m->next_id = 1;
}

static void model_copy(struct model *dst, const struct model *src)
{
	*dst = *src;
	dst->cap = src->nr ? src->nr : 1;
	dst->r = malloc(dst->cap * sizeof(*dst->r));
	if (!dst->r) {
		fprintf(stderr, "%s: out of memory\n", prog);
		exit(1);
	}
	memcpy(dst->r, src->r, src->nr * sizeof(*src->r));
}

static size_t model_find(const struct model *m, uint32_t id)
{
	for (size_t i = 0; i < m->nr; i++)
		if (m->r[i].id == id)
			return i;
	return SIZE_MAX;
}

/*
 * The next operation, from the model alone. Three draws each time: 45 %
 * create (n = 1..MAX_EXT extents), 30 % remove, 25 % resize to another size
 * in 1..MAX_EXT. A create that does not fit, or a grow that does not fit,
 * removes a region instead. Returns -1 only when nothing is possible (an
 * empty pool with no free extent: too small for this test).
 */
static int next_op(struct model *m, struct op *op)
{
	uint64_t dice = splitmix(&m->rng) % 100;
	uint64_t n = 1 + splitmix(&m->rng) % MAX_EXT;
	uint64_t pick = splitmix(&m->rng);
	struct reg *r;

	if (m->nr == 0 || (dice < 45 && n <= m->free && m->slots > 0)) {
		if (m->free == 0 || m->slots == 0)
			return -1;
		*op = (struct op){ OP_CREATE, m->next_id, n <= m->free ? n : m->free, 0 };
		return 0;
	}
	r = &m->r[pick % m->nr];
	if (dice >= 75) {
		if (n == r->n)
			n = n % MAX_EXT + 1;
		if (n < r->n || n - r->n <= m->free) {
			*op = (struct op){ OP_RESIZE, r->id, n, r->n };
			return 0;
		}
	}
	*op = (struct op){ OP_REMOVE, r->id, 0, r->n };
	return 0;
}

static void model_apply(struct model *m, const struct op *op)
{
	size_t i;

	switch (op->kind) {
	case OP_CREATE:
		if (m->nr == m->cap) {
			struct reg *g;

			m->cap = m->cap ? 2 * m->cap : 64;
			g = realloc(m->r, m->cap * sizeof(*g));
			if (!g) {
				fprintf(stderr, "%s: out of memory\n", prog);
				exit(1);
			}
			m->r = g;
		}
		m->r[m->nr++] = (struct reg){ op->id, op->n };
		m->next_id++;
		m->free -= op->n;
		m->slots--;
		break;
	case OP_RESIZE:
		i = model_find(m, op->id);
		m->free = m->free + op->old_n - op->n;
		m->r[i].n = op->n;
		break;
	case OP_REMOVE:
		i = model_find(m, op->id);
		m->free += m->r[i].n;
		m->slots++;
		memmove(&m->r[i], &m->r[i + 1], (m->nr - i - 1) * sizeof(*m->r));
		m->nr--;
		break;
	}
}

static void op_line(char *buf, size_t len, const struct op *op, uint64_t es)
{
	switch (op->kind) {
	case OP_CREATE:
		snprintf(buf, len, "done create r%" PRIu32 " %" PRIu64, op->id, op->n * es);
		break;
	case OP_RESIZE:
		snprintf(buf, len, "done resize r%" PRIu32 " %" PRIu64, op->id, op->n * es);
		break;
	case OP_REMOVE:
		snprintf(buf, len, "done remove r%" PRIu32, op->id);
		break;
	}
}

/* ---- stamps -------------------------------------------------------------- */

/*
 * The stamp of extent idx of region id, at its head (tail 0) or tail (1):
 * magic, seed, id, idx, tail as 8-byte words, then pseudo-random bytes.
 * Region id 0 is verify's probe.
 */
static void stamp_make(unsigned char *buf, uint64_t seed, uint32_t id, uint64_t idx, int tail)
{
	uint64_t w[4] = { seed, id, idx, (uint64_t)tail };
	uint64_t s = seed ^ ((uint64_t)id << 32) ^ (idx << 1) ^ (uint64_t)tail;

	memcpy(buf, STAMP_MAGIC, 8);
	memcpy(buf + 8, w, sizeof(w));
	for (size_t i = 8 + sizeof(w); i < STAMP; i += 8) {
		uint64_t v = splitmix(&s);

		memcpy(buf + i, &v, 8);
	}
}

/* Describe what a stamp-sized block holds instead of want, for a report. */
static void stamp_describe(char *out, size_t len, const unsigned char *have,
			   const unsigned char *want, uint64_t seed)
{
	size_t first = 0, ndiff = 0;
	uint64_t w[4];

	for (size_t i = 0; i < STAMP; i++)
		if (have[i] != want[i] && !ndiff++)
			first = i;
	memcpy(w, have + 8, sizeof(w));
	if (memcmp(have, want, 8 + sizeof(w)) == 0)
		snprintf(out, len, "its own header, but %zu of its %d bytes differ, from byte %zu on",
			 ndiff, STAMP, first);
	else if (memcmp(have, STAMP_MAGIC, 8) != 0)
		snprintf(out, len, "no stamp (starts %02x %02x %02x %02x %02x %02x %02x %02x)",
			 have[0], have[1], have[2], have[3], have[4], have[5], have[6], have[7]);
	else if (w[1] == 0)
		snprintf(out, len, "the %s stamp of the probe's extent %" PRIu64 "%s",
			 w[3] ? "tail" : "head", w[2], w[0] == seed ? "" : " of another seed");
	else
		snprintf(out, len, "the %s stamp of r%" PRIu64 " extent %" PRIu64 "%s",
			 w[3] ? "tail" : "head", w[1], w[2], w[0] == seed ? "" : " of another seed");
}

static struct daxmap_map *map_region(struct daxmap_pool *pool, const char *name,
				     uint64_t want_len)
{
	struct daxmap_map *map;

	if (daxmap_region_map(&map, pool, name, 0) < 0)
		die("daxmap_region_map %s", name);
	if (daxmap_map_len(map) != want_len) {
		fprintf(stderr, "%s: region %s is mapped with %" PRIu64 " bytes, expected %" PRIu64 "\n",
			prog, name, daxmap_map_len(map), want_len);
		exit(1);
	}
	return map;
}

/* Stamp extents [from, to) of region id (which has n extents), persistently. */
static void stamp_region(struct daxmap_pool *pool, uint64_t seed, uint32_t id,
			 uint64_t from, uint64_t to, uint64_t n, uint64_t es)
{
	unsigned char buf[STAMP];
	struct daxmap_map *map;
	char name[16];
	char *a;

	if (id)
		snprintf(name, sizeof(name), "r%" PRIu32, id);
	else
		snprintf(name, sizeof(name), PROBE);
	map = map_region(pool, name, n * es);
	a = daxmap_map_addr(map);
	for (uint64_t i = from; i < to; i++) {
		stamp_make(buf, seed, id, i, 0);
		daxmap_map_memcpy(map, a + i * es, buf, STAMP, DAXMAP_F_NODRAIN);
		stamp_make(buf, seed, id, i, 1);
		daxmap_map_memcpy(map, a + (i + 1) * es - STAMP, buf, STAMP, DAXMAP_F_NODRAIN);
	}
	daxmap_map_drain(map);
	daxmap_map_delete(&map);
}

/* ---- the progress region ----------------------------------------------- */

struct progress_hdr {
	char magic[8];
	uint64_t seed;
	uint64_t free;        /* free extents when the sequence started */
	uint64_t slots;       /* free region slots then */
	uint64_t extent_size;
};

/* ---- loop ---------------------------------------------------------------- */

static void pool_counts(struct daxmap_pool *pool, struct daxmap_pool_stat *st)
{
	if (daxmap_pool_stat(pool, st) < 0)
		die("daxmap_pool_stat");
}

static int cmd_loop(const char *path, uint64_t seed, const char *fence)
{
	struct daxmap_pool_stat st;
	struct progress_hdr h;
	struct daxmap_pool *pool;
	struct daxmap_map *pm;
	struct daxmap_dev *dev;
	volatile uint64_t *counter, *inflight;
	struct model m;
	uint64_t es, actual;
	char line[128], name[16];
	char *pa;

	if (daxmap_dev_open(&dev, path, 0, 0) < 0)
		die("daxmap_dev_open %s", path);
	if (daxmap_pool_format(dev, 0, DAXMAP_FORMAT_FORCE) < 0)
		die("daxmap_pool_format %s", path);
	if (daxmap_pool_open(&pool, dev, 0) < 0)
		die("daxmap_pool_open %s", path);
	pool_counts(pool, &st);
	es = st.extent_size;

	if (daxmap_region_create(pool, PROGRESS, es, NULL) < 0)
		die("daxmap_region_create %s", PROGRESS);
	pm = map_region(pool, PROGRESS, es);
	pa = daxmap_map_addr(pm);
	pool_counts(pool, &st);
	memset(&h, 0, sizeof(h));
	memcpy(h.magic, PROGRESS_MAGIC, 8);
	h.seed = seed;
	h.free = st.extents_free;
	h.slots = st.region_slots - st.regions;
	h.extent_size = es;
	counter = (volatile uint64_t *)(void *)(pa + COUNTER_OFF);
	inflight = (volatile uint64_t *)(void *)(pa + INFLIGHT_OFF);
	*counter = 0;
	*inflight = 0;
	daxmap_map_persist(pm, pa + COUNTER_OFF, 8);
	daxmap_map_persist(pm, pa + INFLIGHT_OFF, 8);
	daxmap_map_memcpy(pm, pa, &h, sizeof(h), 0);
	printf("# %s: %s, %" PRIu64 " extents of %" PRIu64 " bytes, %" PRIu64
	       " free, seed %" PRIu64 "\n", prog, path, st.extents_total, es, h.free, seed);
	fflush(stdout);
	/* from here on every metadata fence counts towards FENCE */
	if (fence && setenv("DAXMAP_FAULT_FENCE", fence, 1)) {
		perror("setenv");
		return 1;
	}

	model_init(&m, seed, h.free, h.slots);
	for (uint64_t k = 1;; k++) {
		struct op op;

		if (next_op(&m, &op) < 0) {
			fprintf(stderr, "%s: %s is too small for this test\n", prog, path);
			return 1;
		}
		snprintf(name, sizeof(name), "r%" PRIu32, op.id);
		*inflight = k << 8 | STEP_CALL;
		daxmap_map_persist(pm, pa + INFLIGHT_OFF, 8);
		switch (op.kind) {
		case OP_CREATE:
			if (daxmap_region_create(pool, name, op.n * es, &actual) < 0)
				die("operation %" PRIu64 ": daxmap_region_create %s %" PRIu64,
				    k, name, op.n * es);
			if (actual != op.n * es) {
				fprintf(stderr, "%s: create %s: got %" PRIu64 " bytes, asked %" PRIu64 "\n",
					prog, name, actual, op.n * es);
				return 1;
			}
			*inflight = k << 8 | STEP_MAP;
			daxmap_map_persist(pm, pa + INFLIGHT_OFF, 8);
			stamp_region(pool, seed, op.id, 0, op.n, op.n, es);
			break;
		case OP_RESIZE:
			if (daxmap_region_resize(pool, name, op.n * es, &actual, 0) < 0)
				die("operation %" PRIu64 ": daxmap_region_resize %s %" PRIu64,
				    k, name, op.n * es);
			if (actual != op.n * es) {
				fprintf(stderr, "%s: resize %s: got %" PRIu64 " bytes, asked %" PRIu64 "\n",
					prog, name, actual, op.n * es);
				return 1;
			}
			if (op.n > op.old_n) {
				*inflight = k << 8 | STEP_MAP;
				daxmap_map_persist(pm, pa + INFLIGHT_OFF, 8);
				stamp_region(pool, seed, op.id, op.old_n, op.n, op.n, es);
			}
			break;
		case OP_REMOVE:
			if (daxmap_region_remove(pool, name, 0) < 0)
				die("operation %" PRIu64 ": daxmap_region_remove %s", k, name);
			break;
		}
		model_apply(&m, &op);
		/* complete: count it on the device, then say so */
		*counter = k;
		daxmap_map_persist(pm, pa + COUNTER_OFF, 8);
		op_line(line, sizeof(line), &op, es);
		printf("%s\n", line);
		fflush(stdout);

		if (k % STAT_EVERY == 0) {
			pool_counts(pool, &st);
			if (st.extents_free != m.free || st.regions != m.nr + 1) {
				fprintf(stderr, "%s: after operation %" PRIu64 " the pool has %" PRIu64
					" free extents and %" PRIu32 " regions; expected %" PRIu64 " and %zu\n",
					prog, k, st.extents_free, st.regions, m.free, m.nr + 1);
				return 1;
			}
		}
	}
}

/* ---- verify -------------------------------------------------------------- */

static unsigned problems;

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void problem(const char *fmt, ...)
{
	va_list ap;

	if (problems++ >= MAX_REPORTS) {
		if (problems == MAX_REPORTS + 1)
			printf("%s verify: (more problems not shown)\n", prog);
		return;
	}
	printf("%s verify: PROBLEM: ", prog);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* The "done" lines of the log, in order. */
static char **read_log(FILE *f, size_t *count)
{
	char **v = NULL, *line = NULL;
	size_t n = 0, cap = 0, len = 0;
	ssize_t got;

	while ((got = getline(&line, &len, f)) >= 0) {
		while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
			line[--got] = '\0';
		if (strncmp(line, "done ", 5) != 0)
			continue;
		if (n == cap) {
			char **g = realloc(v, (cap = cap ? 2 * cap : 256) * sizeof(*v));

			if (!g)
				goto oom;
			v = g;
		}
		if (!(v[n++] = strdup(line)))
			goto oom;
	}
	free(line);
	*count = n;
	return v;
oom:
	fprintf(stderr, "%s: out of memory\n", prog);
	exit(1);
}

/* "r<digits>" -> id; 0 when the name is not of that form */
static uint32_t region_id(const char *name)
{
	char *end;
	unsigned long v;

	if (name[0] != 'r' || name[1] < '1' || name[1] > '9')
		return 0;
	v = strtoul(name + 1, &end, 10);
	return *end || v > UINT32_MAX ? 0 : (uint32_t)v;
}

/*
 * Does the pool's region list equal the model (plus "progress")? With
 * report set, every difference is a problem.
 */
static int state_matches(const struct model *m, const struct daxmap_region_info *ri,
			 size_t nri, int report)
{
	int diffs = 0;

	for (size_t i = 0; i < m->nr; i++) {
		char name[16];
		size_t j;

		snprintf(name, sizeof(name), "r%" PRIu32, m->r[i].id);
		for (j = 0; j < nri && strcmp(ri[j].name, name) != 0; j++)
			;
		if (j == nri) {
			diffs++;
			if (report)
				problem("region %s (%" PRIu64 " extents) is missing", name, m->r[i].n);
		} else if (ri[j].extents != m->r[i].n) {
			diffs++;
			if (report)
				problem("region %s has %" PRIu64 " extents, expected %" PRIu64,
					name, ri[j].extents, m->r[i].n);
		}
	}
	for (size_t j = 0; j < nri; j++) {
		uint32_t id = region_id(ri[j].name);

		if (strcmp(ri[j].name, PROGRESS) == 0)
			continue;
		if (id == 0 || model_find(m, id) == SIZE_MAX) {
			diffs++;
			if (report)
				problem("region %s (%" PRIu64 " extents) should not exist",
					ri[j].name, ri[j].extents);
		}
	}
	return diffs == 0;
}

/* Check the stamps of extents [0, upto) of region id (n extents). */
static uint64_t check_stamps(struct daxmap_pool *pool, uint64_t seed, uint32_t id,
			     uint64_t upto, uint64_t n, uint64_t es)
{
	unsigned char want[STAMP];
	struct daxmap_map *map;
	uint64_t ok = 0;
	char name[16], what[200];
	const char *a;

	if (upto == 0)
		return 0;
	snprintf(name, sizeof(name), "r%" PRIu32, id);
	if (id == 0)
		snprintf(name, sizeof(name), PROBE);
	map = map_region(pool, name, n * es);
	a = daxmap_map_addr(map);
	for (uint64_t i = 0; i < upto; i++) {
		for (int tail = 0; tail < 2; tail++) {
			const unsigned char *have =
				(const unsigned char *)a + (tail ? (i + 1) * es - STAMP : i * es);

			stamp_make(want, seed, id, i, tail);
			if (memcmp(have, want, STAMP) == 0) {
				ok++;
				continue;
			}
			stamp_describe(what, sizeof(what), have, want, seed);
			problem("region %s extent %" PRIu64 " (of %" PRIu64 "): the %s stamp is damaged: it holds %s",
				name, i, n, tail ? "tail" : "head", what);
		}
	}
	daxmap_map_delete(&map);
	return ok;
}

static int cmp_range(const void *a, const void *b)
{
	const struct daxmap_range *x = a, *y = b;

	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/*
 * The device ranges of every region: inside the data extents, multiples of
 * the extent size, no two overlapping; their extents add up to the pool's
 * used count.
 */
static void check_ranges(struct daxmap_pool *pool, const struct daxmap_region_info *ri,
			 size_t nri, const struct daxmap_pool_stat *st)
{
	struct daxmap_range *all = NULL;
	size_t nall = 0;
	uint64_t es = st->extent_size, ext = 0;

	for (size_t j = 0; j < nri; j++) {
		struct daxmap_range *r;
		struct daxmap_range *g;
		uint64_t sum = 0;
		size_t n;

		if (daxmap_region_ranges(pool, ri[j].name, &r, &n) < 0)
			die("daxmap_region_ranges %s", ri[j].name);
		g = realloc(all, (nall + n) * sizeof(*all));
		if (!g) {
			fprintf(stderr, "%s: out of memory\n", prog);
			exit(1);
		}
		all = g;
		for (size_t i = 0; i < n; i++) {
			sum += r[i].len;
			if (r[i].offset % es || r[i].len % es || r[i].len == 0 ||
			    r[i].offset < st->extents_meta * es ||
			    r[i].offset + r[i].len > st->extents_total * es)
				problem("region %s: device range [%" PRIu64 ", +%" PRIu64
					") is not in the data extents", ri[j].name, r[i].offset, r[i].len);
			all[nall++] = r[i];
		}
		if (sum != ri[j].extents * es)
			problem("region %s: its ranges hold %" PRIu64 " bytes, its size is %" PRIu64,
				ri[j].name, sum, ri[j].extents * es);
		ext += sum / es;
		free(r);
	}
	qsort(all, nall, sizeof(*all), cmp_range);
	for (size_t i = 1; i < nall; i++)
		if (all[i - 1].offset + all[i - 1].len > all[i].offset)
			problem("device ranges [%" PRIu64 ", +%" PRIu64 ") and [%" PRIu64 ", +%" PRIu64
				") belong to two regions", all[i - 1].offset, all[i - 1].len,
				all[i].offset, all[i].len);
	if (ext != st->extents_used)
		problem("the regions hold %" PRIu64 " extents, the pool counts %" PRIu64 " used",
			ext, st->extents_used);
	if (st->extents_meta + st->extents_used + st->extents_free + st->extents_bad !=
	    st->extents_total)
		problem("extents: %" PRIu64 " metadata + %" PRIu64 " used + %" PRIu64 " free + %"
			PRIu64 " bad != %" PRIu64 " in all", st->extents_meta, st->extents_used,
			st->extents_free, st->extents_bad, st->extents_total);
	free(all);
}

/* Extents of region r whose stamps were persistent before the state's last
 * completed operation, given whether the in-flight operation happened. */
static uint64_t stamped_extents(const struct reg *r, const struct op *next, int happened)
{
	if (!happened || next->id != r->id)
		return r->n;
	if (next->kind == OP_CREATE)
		return 0;
	if (next->kind == OP_RESIZE && next->n > next->old_n)
		return next->old_n;
	return r->n;
}

/* Extents [from, n) of region id, never mapped since a create or grow
 * added them, read as zeros. Returns how many do not. */
static uint64_t check_zeroed(struct daxmap_pool *pool, uint32_t id, uint64_t from, uint64_t n,
			     uint64_t es)
{
	struct daxmap_map *map;
	uint64_t bad = 0;
	char name[16];
	const uint64_t *a;

	snprintf(name, sizeof(name), "r%" PRIu32, id);
	map = map_region(pool, name, n * es);
	a = daxmap_map_addr(map);
	for (uint64_t i = from; i < n; i++) {
		uint64_t w = 0, j;

		for (j = i * es / 8; j < (i + 1) * es / 8 && !(w = a[j]); j++)
			;
		if (w) {
			bad++;
			problem("region %s extent %" PRIu64 " was never mapped, yet byte %" PRIu64
				" of it is not zero (a previous owner's data shows)",
				name, i, j * 8 - i * es);
		}
	}
	daxmap_map_delete(&map);
	return bad;
}

/*
 * Where the kill came, from the in-flight word w and the completed count
 * c: inside operation c + 1 (its step), or between two operations. What
 * the pool shows must fit: an operation whose step 2 had begun had taken
 * effect; one not yet begun had not.
 */
static const char *kill_point(uint64_t w, uint64_t c, int happened, int in_flight)
{
	if (w >> 8 == c + 1 && (w & 0xff) == STEP_CALL)
		return "in its library call";
	if (w >> 8 == c + 1 && (w & 0xff) == STEP_MAP) {
		if (!happened)
			problem("operation %" PRIu64 " had returned and was mapping what it added, "
				"yet it did not take effect", c + 1);
		return "in the first mapping of what it added, after its call returned";
	}
	if (w >> 8 != c && !(w == 0 && c == 0))
		problem("the in-flight word names operation %" PRIu64 " step %" PRIu64
			", the counter %" PRIu64 " completed", w >> 8, w & 0xff, c);
	else if (happened)
		problem("operation %" PRIu64 " took effect before it began", c + 1);
	else if (in_flight)
		problem("the kill came between operations %" PRIu64 " and %" PRIu64
			", not inside one", c, c + 1);
	return "before it began";
}

static int cmd_verify(const char *path, uint64_t seed, int in_flight)
{
	struct daxmap_region_info *ri;
	struct daxmap_pool_stat st;
	struct progress_hdr h;
	struct daxmap_pool *pool;
	struct daxmap_map *pm;
	struct daxmap_dev *dev;
	struct model m, after;
	struct op next;
	uint64_t c, w, stamps = 0, want_stamps = 0, exts = 0, probe_n = 0;
	size_t nlog, nri;
	char **log, line[128], nextline[128];
	const char *pa, *where, *zeros = "";
	int happened;

	log = read_log(stdin, &nlog);
	if (daxmap_dev_open(&dev, path, 0, 0) < 0)
		die("daxmap_dev_open %s", path);
	if (daxmap_pool_open(&pool, dev, 0) < 0)
		die("daxmap_pool_open %s (after the crash)", path);
	pool_counts(pool, &st);

	/* the progress region: the sequence's start and its completed count */
	pm = map_region(pool, PROGRESS, st.extent_size);
	pa = daxmap_map_addr(pm);
	memcpy(&h, pa, sizeof(h));
	c = *(const volatile uint64_t *)(const void *)(pa + COUNTER_OFF);
	w = *(const volatile uint64_t *)(const void *)(pa + INFLIGHT_OFF);
	daxmap_map_delete(&pm);
	if (memcmp(h.magic, PROGRESS_MAGIC, 8) != 0 || h.seed != seed ||
	    h.extent_size != st.extent_size) {
		problem("the progress region does not hold this test's header (seed %" PRIu64
			", extent size %" PRIu64 "; expected %" PRIu64 ", %" PRIu64 ")",
			h.seed, h.extent_size, seed, st.extent_size);
		return 1;
	}
	if (nlog > c) {
		problem("the log shows %zu completed operations but the device counts %" PRIu64,
			nlog, c);
		return 1;
	}

	/* replay: the state after operation c, and operation c + 1 */
	model_init(&m, seed, h.free, h.slots);
	for (uint64_t k = 1; k <= c; k++) {
		struct op op;

		if (next_op(&m, &op) < 0) {
			problem("the replay cannot continue at operation %" PRIu64, k);
			return 1;
		}
		op_line(line, sizeof(line), &op, st.extent_size);
		if (k <= nlog && strcmp(line, log[k - 1]) != 0) {
			problem("log line %" PRIu64 " is '%s' but the replay of seed %" PRIu64
				" gives '%s'", k, log[k - 1], seed, line);
			return 1;
		}
		model_apply(&m, &op);
	}
	model_copy(&after, &m);
	if (next_op(&after, &next) < 0) {
		problem("the replay cannot continue at operation %" PRIu64, c + 1);
		return 1;
	}
	model_apply(&after, &next);
	op_line(nextline, sizeof(nextline), &next, st.extent_size);

	/* the pool holds the state before or after operation c + 1 */
	if (daxmap_region_list(pool, &ri, &nri) < 0)
		die("daxmap_region_list");
	if (state_matches(&m, ri, nri, 0)) {
		happened = 0;
	} else if (state_matches(&after, ri, nri, 0)) {
		happened = 1;
		free(m.r);
		m = after;
		after.r = NULL;
	} else {
		printf("%s verify: the regions match neither the state after operation %" PRIu64
		       " nor after the next ('%s'); differences from the first:\n",
		       prog, c, nextline);
		state_matches(&m, ri, nri, 1);
		return 1;
	}
	where = kill_point(w, c, happened, in_flight);
	/*
	 * A create or grow that took effect, killed in its call or in its
	 * first mapping: what it added was never mapped, or the mapping had
	 * zeroed it and not yet stamped it (a kill in step 2 at a metadata
	 * fence is at the fence recording it written; the stamps come after
	 * the call returns, and a kill between would not be at a fence).
	 * Zeros either way; the zeroing is not redone if the written word
	 * made it.
	 */
	if (happened && w >> 8 == c + 1 && ((w & 0xff) == STEP_CALL || in_flight) &&
	    (next.kind == OP_CREATE || (next.kind == OP_RESIZE && next.n > next.old_n)))
		zeros = check_zeroed(pool, next.id, next.kind == OP_CREATE ? 0 : next.old_n,
				     next.n, st.extent_size) ? ", some extents it added show old data"
							     : ", the extents it added read as zeros";

	/* every extent stamped by a completed operation holds its stamps */
	for (size_t i = 0; i < m.nr; i++) {
		uint64_t upto = stamped_extents(&m.r[i], &next, happened);

		want_stamps += 2 * upto;
		exts += m.r[i].n;
		stamps += check_stamps(pool, seed, m.r[i].id, upto, m.r[i].n, st.extent_size);
	}
	pool_counts(pool, &st);
	check_ranges(pool, ri, nri, &st);
	if (st.extents_free != m.free)
		problem("the pool has %" PRIu64 " free extents, expected %" PRIu64,
			st.extents_free, m.free);
	if (st.regions != m.nr + 1)
		problem("the pool has %" PRIu32 " regions, expected %zu", st.regions, m.nr + 1);
	daxmap_region_list_free(ri);

	/* every free extent in one probe region, stamped: no other stamp breaks */
	if (problems == 0 && st.extents_free) {
		uint64_t again = 0;

		probe_n = st.extents_free;
		if (daxmap_region_create(pool, PROBE, probe_n * st.extent_size, NULL) < 0)
			die("daxmap_region_create %s of %" PRIu64 " extents", PROBE, probe_n);
		stamp_region(pool, seed, 0, 0, probe_n, probe_n, st.extent_size);
		for (size_t i = 0; i < m.nr; i++)
			again += check_stamps(pool, seed, m.r[i].id,
					      stamped_extents(&m.r[i], &next, happened),
					      m.r[i].n, st.extent_size);
		if (again != stamps)
			problem("after stamping the %" PRIu64 " free extents, %" PRIu64
				" of %" PRIu64 " stamps remain", probe_n, again, stamps);
		if (check_stamps(pool, seed, 0, probe_n, probe_n, st.extent_size) != 2 * probe_n)
			problem("the probe's own stamps are damaged");
		if (daxmap_region_remove(pool, PROBE, 0) < 0)
			die("daxmap_region_remove %s", PROBE);
		pool_counts(pool, &st);
		if (st.extents_free != probe_n)
			problem("after removing the probe the pool has %" PRIu64
				" free extents, expected %" PRIu64, st.extents_free, probe_n);
	}

	printf("%s verify: seed %" PRIu64 ": %zu operations logged, %" PRIu64
	       " completed on the device (%" PRIu64 " not logged); in-flight operation %"
	       PRIu64 " '%s' %s; %zu regions, %" PRIu64 " extents, %" PRIu64 " of %" PRIu64
	       " stamps intact; %" PRIu64 " free extents probed; %s\n",
	       prog, seed, nlog, c, c - nlog, c + 1, nextline + 5,
	       happened ? "had happened" : "had not happened", m.nr, exts, stamps,
	       want_stamps, probe_n, problems ? "FAILED" : "OK");
	/* one line for campaigns to count: kind, where, outcome */
	printf("%s verify: kill: operation %" PRIu64 " (%s) %s: %s%s\n", prog, c + 1,
	       next.kind == OP_CREATE ? "create" : next.kind == OP_REMOVE ? "remove" :
	       next.n > next.old_n ? "grow" : "shrink", where,
	       happened ? "took effect" : "did not take effect", zeros);
	free(m.r);
	free(after.r);
	for (size_t i = 0; i < nlog; i++)
		free(log[i]);
	free(log);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
	return problems ? 1 : 0;
}

int main(int argc, char **argv)
{
	int loop = argc > 1 && strcmp(argv[1], "loop") == 0;
	int in_flight = !loop && argc > 2 && strcmp(argv[2], "--in-flight") == 0;
	char **a = argv + 2 + in_flight;
	int na = argc - 2 - in_flight;
	uint64_t seed;
	char *end;

	if (argc < 2 || (!loop && strcmp(argv[1], "verify")) || na < 2 || na > 2 + loop) {
		fprintf(stderr, "usage: pool_crash loop PATH SEED [FENCE]\n"
				"       pool_crash verify [--in-flight] PATH SEED\n");
		return 2;
	}
	seed = strtoull(a[1], &end, 10);
	if (!*a[1] || *end) {
		fprintf(stderr, "pool_crash: SEED must be a number\n");
		return 2;
	}
	if (na == 3 && (strtoull(a[2], &end, 10) == 0 || *end)) {
		fprintf(stderr, "pool_crash: FENCE must be a number from 1 up\n");
		return 2;
	}
	return loop ? cmd_loop(a[0], seed, na == 3 ? a[2] : NULL) : cmd_verify(a[0], seed, in_flight);
}
