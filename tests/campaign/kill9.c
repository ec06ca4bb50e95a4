/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kill9.c -- the kill -9 campaign: holder processes killed with SIGKILL at
 * random points of their map/pin/unmap loops, several at once, and the
 * reference counts checked exact after every reclaim.
 *
 *   kill9 [--holders N] [--procs P] [--max-delay-ms D] [--seed S]
 *         [--detach-every R] [--remove-every R] [PATH]
 *
 * PATH (default: an emulated 64 MiB device in $TMPDIR) is formatted anew
 * (DAXMAP_FORMAT_FORCE): whatever pool it held is lost. The runtime state
 * goes to a fresh folder of its own (DAXMAP_RUNTIME_DIR) so that a
 * leftover file is seen.
 *
 * The pool holds regions a (3 extents), b (2), c (4) and d (2). Two
 * processes are never killed and hold a fixed set of references: a
 * witness maps a and b and pins a's second extent; this process maps c and
 * pins its first two extents. Each round starts P holders (processes that
 * open the device and the pool themselves, then map a random region, touch
 * it, pin random parts of it, revocable or not, sometimes with a second
 * mapping held across, unpin and unmap, in a loop), kills each one at its
 * own random moment within D ms of its start, reaps them, and then:
 *
 *   - before reclaim: every dead reference listed belongs to a killed
 *     holder, and a holder killed while it held a mapping between two
 *     library calls is listed (its references were not lost);
 *   - daxmap_pool_reclaim(); then the refcount and pin count of every
 *     extent of the pool are exactly what the witness and this process
 *     hold, no extent is being released, and every holder listed is one of
 *     the two, alive;
 *   - every R rounds (--remove-every), the round also removes d with
 *     timeout 0 while the holders run (the release waits for them, and
 *     is finished by a reclaim or a holder's own pool open); after the
 *     round d is gone and its extents are free, and d is created again;
 *   - every R rounds (--detach-every), the witness exits and this process
 *     closes the pool: with every live holder gone, the runtime file must
 *     be gone too (dead holders do not keep it); then both start again.
 *
 * Every step of this process runs under a watchdog (60 s): a hang is a
 * failure. Each holder writes, into a page shared with this process, the
 * library call it is in, so that the summary says where the kills landed.
 * Exit 0 when everything held, 1 on the first failure, 2 on usage errors.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <daxmap.h>

#define MiB (1ULL << 20)
#define MAX_PROCS 64
#define WATCHDOG_S 60

static const char *prog = "kill9";

/* ---- where a holder is: one slot per holder, in a shared page ---------- */

enum call {
	C_NONE, C_OPEN, C_MAP, C_PIN, C_UNPIN, C_DELETE, C_NCALLS
};

static const char *const call_names[C_NCALLS] = {
	[C_NONE] = "none", [C_OPEN] = "pool open", [C_MAP] = "daxmap_region_map",
	[C_PIN] = "daxmap_pin_external", [C_UNPIN] = "daxmap_unpin",
	[C_DELETE] = "daxmap_map_delete",
};

struct slot {
	volatile int call;     /* enum call: inside that library call */
	volatile int mappings; /* mappings held between calls */
	volatile int maps_d;   /* ... of them of region d */
	volatile uint64_t iters;
	volatile int bad;      /* an unexpected error: rc, and what */
	char what[120];
};

static struct slot *slots;

/* ---- failures and the watchdog ----------------------------------------- */

static const char *volatile step = "starting";
static volatile long round_no = -1;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: FAILED in round %ld: ", prog, round_no);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

static void on_alarm(int sig)
{
	static const char msg[] = "kill9: FAILED: a step took longer than 60 s (a hang): ";

	(void)sig;
	(void)!write(2, msg, sizeof(msg) - 1);
	(void)!write(2, step, strlen(step));
	(void)!write(2, "\n", 1);
	_exit(1);
}

static void watch(const char *what)
{
	step = what;
	alarm(WATCHDOG_S);
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- the regions and what the two survivors hold ----------------------- */

struct region {
	const char *name;
	uint64_t n;
};

static const struct region regions[] = { { "a", 3 }, { "b", 2 }, { "c", 4 }, { "d", 2 } };
#define NREGIONS (sizeof(regions) / sizeof(regions[0]))

/* refcount and pins of extent index of region, as the witness and this
 * process hold them (a mapping 1, a pin DAXMAP_PIN_BIAS) */
static void expected(const char *region, uint64_t index, uint32_t *refs, uint32_t *pins)
{
	*refs = 0;
	*pins = 0;
	if (strcmp(region, "a") == 0) {            /* witness: map, pin index 1 */
		*refs = 1;
		if (index == 1) {
			*refs += DAXMAP_PIN_BIAS;
			*pins = 1;
		}
	} else if (strcmp(region, "b") == 0) {     /* witness: map */
		*refs = 1;
	} else if (strcmp(region, "c") == 0) {     /* this process: map, pin 0-1 */
		*refs = 1;
		if (index < 2) {
			*refs += DAXMAP_PIN_BIAS;
			*pins = 1;
		}
	}
}

struct opened {
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	uint64_t es;
};

static int open_pool(const char *path, struct opened *o)
{
	struct daxmap_pool_stat st;

	if (daxmap_dev_open(&o->dev, path, 0, 0))
		return -1;
	if (daxmap_pool_open(&o->pool, o->dev, 0)) {
		daxmap_dev_close(o->dev);
		return -1;
	}
	daxmap_pool_stat(o->pool, &st);
	o->es = st.extent_size;
	return 0;
}

static void close_pool(struct opened *o)
{
	daxmap_pool_close(o->pool);
	daxmap_dev_close(o->dev);
}

/* ---- a holder (killed at a random moment) ------------------------------- */

static void unpin_arg(struct daxmap_pin *pin, void *arg)
{
	(void)pin;
	daxmap_unpin(arg);
}

static void holder_bad(struct slot *s, int rc, const char *what)
{
	if (!s->bad) {
		snprintf(s->what, sizeof(s->what), "%s: %d: %s", what, rc, daxmap_errormsg());
		s->bad = rc ? rc : -1;
	}
}

/* A mapping of a region that may be gone (d, removed), or being released. */
static int holder_map(struct slot *s, struct daxmap_pool *pool, const char *name,
		      struct daxmap_map **m, int *is_d)
{
	int rc;

	s->call = C_MAP;
	rc = daxmap_region_map(m, pool, name, 0);
	*is_d = rc == 0 && strcmp(name, "d") == 0;
	if (rc == 0)
		s->mappings++;
	s->maps_d += *is_d;
	s->call = C_NONE;
	if (rc && rc != -ENOENT && rc != -ESTALE)
		holder_bad(s, rc, "daxmap_region_map");
	return rc;
}

static void holder_delete(struct slot *s, struct daxmap_map **m, int is_d)
{
	int rc;

	if (!*m)
		return;
	s->call = C_DELETE;
	rc = daxmap_map_delete(m);
	s->mappings--;
	s->maps_d -= is_d;
	s->call = C_NONE;
	if (rc)
		holder_bad(s, rc, "daxmap_map_delete");
}

static void holder_loop(const char *path, struct slot *s, uint64_t rng)
{
	struct opened o;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	s->call = C_OPEN;
	if (open_pool(path, &o)) {
		s->call = C_NONE;
		holder_bad(s, 0, "open");
		pause();
	}
	s->call = C_NONE;
	for (;;) {
		const struct region *r = &regions[splitmix(&rng) % NREGIONS];
		struct daxmap_map *m = NULL, *m2 = NULL;
		struct daxmap_pin *pins[3] = { NULL, NULL, NULL };
		uint64_t len, npins = splitmix(&rng) % 4;
		int d1, d2 = 0;

		if (holder_map(s, o.pool, r->name, &m, &d1))
			continue;
		len = daxmap_map_len(m);
		((volatile char *)daxmap_map_addr(m))[splitmix(&rng) % len] = (char)s->iters;
		/* sometimes a second mapping, held across the pins */
		if (splitmix(&rng) % 4 == 0)
			holder_map(s, o.pool, regions[splitmix(&rng) % NREGIONS].name, &m2, &d2);
		for (uint64_t i = 0; i < npins && i < 3; i++) {
			uint64_t off = splitmix(&rng) % (len / 4096) * 4096;
			uint64_t plen = 4096 * (1 + splitmix(&rng) % ((len - off) / 4096));
			int rc;

			s->call = C_PIN;
			rc = daxmap_pin_external(&pins[i], m, off, plen,
						 (splitmix(&rng) & 1) ? unpin_arg : NULL, &pins[i]);
			s->call = C_NONE;
			if (rc && rc != -ESTALE)
				holder_bad(s, rc, "daxmap_pin_external");
		}
		/* unpin in a random order, with the mappings dropped between */
		for (uint64_t i = 0; i < 3; i++) {
			uint64_t k = (i + splitmix(&rng)) % 3;

			if (splitmix(&rng) % 3 == 0)
				holder_delete(s, &m2, d2);
			s->call = C_UNPIN;
			daxmap_unpin(&pins[k]);
			s->call = C_NONE;
		}
		for (uint64_t i = 0; i < 3; i++) {
			s->call = C_UNPIN;
			daxmap_unpin(&pins[i]);
			s->call = C_NONE;
		}
		holder_delete(s, &m2, d2);
		holder_delete(s, &m, d1);
		s->iters++;
	}
}

/* ---- the witness: fixed references, never killed ----------------------- */

struct witness {
	pid_t pid;
	int cmd, rep;
};

static struct witness witness_start(const char *path)
{
	int to[2], from[2];
	struct witness w;
	char c = 0;

	if (pipe(to) || pipe(from))
		fail("pipe: %s", strerror(errno));
	w.pid = fork();
	if (w.pid < 0)
		fail("fork: %s", strerror(errno));
	if (w.pid == 0) {
		struct daxmap_map *ma, *mb;
		struct daxmap_pin *pin;
		struct opened o;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(to[1]);
		close(from[0]);
		if (open_pool(path, &o) || daxmap_region_map(&ma, o.pool, "a", 0) ||
		    daxmap_pin_external(&pin, ma, o.es, o.es, NULL, NULL) ||
		    daxmap_region_map(&mb, o.pool, "b", 0)) {
			fprintf(stderr, "%s: witness: %s\n", prog, daxmap_errormsg());
			_exit(1);
		}
		(void)!write(from[1], "r", 1);
		/* until this process says so, or dies */
		while (read(to[0], &c, 1) < 0 && errno == EINTR)
			;
		daxmap_unpin(&pin);
		daxmap_map_delete(&ma);
		daxmap_map_delete(&mb);
		close_pool(&o);
		_exit(0);
	}
	close(to[0]);
	close(from[1]);
	w.cmd = to[1];
	w.rep = from[0];
	if (read(w.rep, &c, 1) != 1 || c != 'r')
		fail("the witness did not start");
	return w;
}

static void witness_stop(struct witness *w)
{
	int st;

	(void)!write(w->cmd, "q", 1);
	if (waitpid(w->pid, &st, 0) != w->pid || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("the witness exited with status %d", st);
	close(w->cmd);
	close(w->rep);
}

/* ---- the checks ---------------------------------------------------------- */

/* Every extent of the pool (d's only while it exists) has exactly the
 * counts the witness and this process give it. */
static void check_counts(struct daxmap_pool *pool, int with_d)
{
	struct daxmap_extent_refs *r;
	size_t n, want = 0;

	for (size_t i = 0; i < NREGIONS; i++)
		if (with_d || strcmp(regions[i].name, "d") != 0)
			want += regions[i].n;
	if (daxmap_pool_refs(pool, NULL, &r, &n))
		fail("daxmap_pool_refs: %s", daxmap_errormsg());
	if (n != want)
		fail("daxmap_pool_refs lists %zu extents, the regions have %zu", n, want);
	for (size_t i = 0; i < n; i++) {
		uint32_t refs, pins;

		expected(r[i].region, r[i].index, &refs, &pins);
		if (r[i].refcount != refs || r[i].pins != pins || r[i].releasing)
			fail("extent %" PRIu64 " (region %s, index %" PRIu64 "): refcount %" PRIu32
			     ", pins %" PRIu32 ", releasing %d; expected %" PRIu32 ", %" PRIu32 ", 0",
			     r[i].extent, r[i].region, r[i].index, r[i].refcount, r[i].pins,
			     r[i].releasing, refs, pins);
	}
	free(r);
}

static int runtime_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* ---- the campaign -------------------------------------------------------- */

struct stats {
	long kills, rounds, in_call[C_NCALLS], holding, before_holding;
	long dead_listed, dropped, releases, removes_busy, detaches, iters;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: %s [--holders N] [--procs P] [--max-delay-ms D] [--seed S]\n"
		"             [--detach-every R] [--remove-every R] [PATH]\n"
		"PATH (formatted anew!) defaults to an emulated 64 MiB device in $TMPDIR\n",
		prog);
	exit(2);
}

static long arg_num(const char *opt, const char *v, long lo, long hi)
{
	char *end;
	long x;

	errno = 0;
	x = strtol(v, &end, 10);
	if (!*v || *end || errno || x < lo || x > hi) {
		fprintf(stderr, "%s: %s wants a number from %ld to %ld, not '%s'\n", prog, opt,
			lo, hi, v);
		exit(2);
	}
	return x;
}

static void setup_regions(struct daxmap_pool *pool, uint64_t es)
{
	for (size_t i = 0; i < NREGIONS; i++)
		if (daxmap_region_create(pool, regions[i].name, regions[i].n * es, NULL))
			fail("daxmap_region_create %s: %s", regions[i].name, daxmap_errormsg());
}

/* This process's own references: c mapped, its first two extents pinned. */
static void hold_c(struct opened *o, struct daxmap_map **mc, struct daxmap_pin **pc)
{
	if (daxmap_region_map(mc, o->pool, "c", 0) ||
	    daxmap_pin_external(pc, *mc, 0, 2 * o->es, NULL, NULL))
		fail("mapping and pinning c: %s", daxmap_errormsg());
}

/* Kill the holders, each at its own moment, and reap them. Returns the
 * index of the last one killed. */
static int kill_round(pid_t *kids, int procs, uint64_t *rng, long max_delay_ms,
		      int64_t t0)
{
	int64_t at[MAX_PROCS];
	int order[MAX_PROCS] = { 0 };

	for (int p = 0; p < procs; p++) {
		at[p] = t0 + (int64_t)(splitmix(rng) % (uint64_t)(max_delay_ms + 1));
		order[p] = p;
	}
	/* in the order of their moments */
	for (int i = 1; i < procs; i++)
		for (int j = i; j > 0 && at[order[j]] < at[order[j - 1]]; j--) {
			int t = order[j];

			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	for (int i = 0; i < procs; i++) {
		int p = order[i], st;
		int64_t wait = at[p] - now_ms();

		if (wait > 0)
			usleep((useconds_t)wait * 1000);
		kill(kids[p], SIGKILL);
		if (waitpid(kids[p], &st, 0) != kids[p])
			fail("waitpid: %s", strerror(errno));
		if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
			fail("holder %d ended with status %#x before its kill (%s)", kids[p], st,
			     slots[p].bad ? slots[p].what : "no error recorded");
	}
	return order[procs - 1];
}

/*
 * Before reclaim: dead references belong to killed holders, and the last
 * one killed, if it held a mapping between calls, is listed. (A holder
 * killed earlier may be dropped already: a live one's pool open or first
 * attach reclaims dead holders.)
 */
static void check_dead_listed(struct daxmap_pool *pool, const pid_t *kids, int procs,
			      int last, pid_t wpid, struct stats *s)
{
	struct daxmap_holding *h;
	int listed[MAX_PROCS] = { 0 };
	size_t n;

	if (daxmap_pool_holders(pool, &h, &n))
		fail("daxmap_pool_holders: %s", daxmap_errormsg());
	for (size_t i = 0; i < n; i++) {
		int p;

		if (h[i].pid == getpid() || h[i].pid == wpid) {
			if (!h[i].alive)
				fail("a reference of live process %d is listed as dead", h[i].pid);
			continue;
		}
		for (p = 0; p < procs && kids[p] != h[i].pid; p++)
			;
		if (p == procs)
			fail("a reference of pid %d, which is not in this round", h[i].pid);
		if (h[i].alive)
			fail("killed holder %d is listed alive", h[i].pid);
		listed[p] = 1;
		s->dead_listed++;
	}
	free(h);
	if (slots[last].call == C_NONE && slots[last].mappings > 0 && !listed[last])
		fail("holder %d was killed holding %d mapping(s) between calls, but no "
		     "reference of it is listed", kids[last], slots[last].mappings);
}

static void check_after_reclaim(struct daxmap_pool *pool, int with_d, pid_t wpid,
				struct stats *s)
{
	struct daxmap_reclaim_stat rs;
	struct daxmap_holding *h;
	size_t n;

	if (daxmap_pool_reclaim(pool, &rs))
		fail("daxmap_pool_reclaim: %s", daxmap_errormsg());
	s->dropped += rs.holders_dropped;
	s->releases += rs.releases_finished;
	if (rs.extents_waiting)
		fail("after reclaim %" PRIu64 " extents still wait for references",
		     rs.extents_waiting);
	check_counts(pool, with_d);
	if (daxmap_pool_holders(pool, &h, &n))
		fail("daxmap_pool_holders: %s", daxmap_errormsg());
	for (size_t i = 0; i < n; i++)
		if (!h[i].alive || (h[i].pid != getpid() && h[i].pid != wpid))
			fail("after reclaim a reference of pid %d (alive %d) remains", h[i].pid,
			     h[i].alive);
	free(h);
}

/* d was removed during the round: gone now, its extents free; again. */
static void recreate_d(struct opened *o)
{
	struct daxmap_region_info *ri;
	struct daxmap_pool_stat st;
	uint64_t used = 0;
	size_t n;

	if (daxmap_region_list(o->pool, &ri, &n))
		fail("daxmap_region_list: %s", daxmap_errormsg());
	for (size_t i = 0; i < n; i++)
		if (strcmp(ri[i].name, "d") == 0)
			fail("d is still there after its removal and a reclaim");
	daxmap_region_list_free(ri);
	daxmap_pool_stat(o->pool, &st);
	for (size_t i = 0; i < NREGIONS - 1; i++)
		used += regions[i].n;
	if (st.extents_used != used || st.extents_releasing)
		fail("after d's removal the pool has %" PRIu64 " extents used (%" PRIu64
		     " releasing), expected %" PRIu64, st.extents_used, st.extents_releasing, used);
	if (daxmap_region_create(o->pool, "d", 2 * o->es, NULL))
		fail("daxmap_region_create d: %s", daxmap_errormsg());
}

int main(int argc, char **argv)
{
	long holders = 10000, procs = 4, max_delay = 30, detach_every = 100, remove_every = 8;
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32), rng;
	char rtdir[] = "/dev/shm/daxmap-kill9.XXXXXX", tmpdev[4096] = "";
	const char *path = NULL;
	struct stats s = { 0 };
	struct witness w;
	struct opened o;
	struct daxmap_map *mc;
	struct daxmap_pin *pc;
	int64_t t_start = now_ms(), t_report = t_start;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (i + 1 < argc && strcmp(a, "--holders") == 0)
			holders = arg_num(a, argv[++i], 1, 100000000);
		else if (i + 1 < argc && strcmp(a, "--procs") == 0)
			procs = arg_num(a, argv[++i], 1, MAX_PROCS);
		else if (i + 1 < argc && strcmp(a, "--max-delay-ms") == 0)
			max_delay = arg_num(a, argv[++i], 0, 10000);
		else if (i + 1 < argc && strcmp(a, "--seed") == 0)
			seed = (uint64_t)arg_num(a, argv[++i], 0, INT64_MAX);
		else if (i + 1 < argc && strcmp(a, "--detach-every") == 0)
			detach_every = arg_num(a, argv[++i], 1, 100000000);
		else if (i + 1 < argc && strcmp(a, "--remove-every") == 0)
			remove_every = arg_num(a, argv[++i], 1, 100000000);
		else if (a[0] == '-' || path)
			usage();
		else
			path = a;
	}
	rng = seed;
	signal(SIGALRM, on_alarm);
	slots = mmap(NULL, MAX_PROCS * sizeof(*slots), PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (slots == MAP_FAILED)
		fail("mmap: %s", strerror(errno));
	if (!mkdtemp(rtdir))
		fail("mkdtemp %s: %s", rtdir, strerror(errno));
	setenv("DAXMAP_RUNTIME_DIR", rtdir, 1);
	if (!path) {
		const char *t = getenv("TMPDIR");
		int fd;

		snprintf(tmpdev, sizeof(tmpdev), "%s/daxmap-kill9-dev.XXXXXX", t && *t ? t : "/tmp");
		if ((fd = mkstemp(tmpdev)) < 0 || ftruncate(fd, (off_t)(64 * MiB)))
			fail("%s: %s", tmpdev, strerror(errno));
		close(fd);
		path = tmpdev;
	}

	watch("format and open");
	if (daxmap_dev_open(&o.dev, path, 0, 0) ||
	    daxmap_pool_format(o.dev, 0, DAXMAP_FORMAT_FORCE) ||
	    daxmap_pool_open(&o.pool, o.dev, 0))
		fail("%s: %s", path, daxmap_errormsg());
	{
		struct daxmap_pool_stat st;

		daxmap_pool_stat(o.pool, &st);
		o.es = st.extent_size;
	}
	setup_regions(o.pool, o.es);
	hold_c(&o, &mc, &pc);
	w = witness_start(path);
	check_counts(o.pool, 1);
	printf("%s: %ld holders, %ld at once, each killed within %ld ms of its start; %s, "
	       "extents of %" PRIu64 " KiB; seed %" PRIu64 "\n",
	       prog, holders, procs, max_delay, path, o.es >> 10, seed);
	fflush(stdout);

	while (s.kills < holders) {
		int n = (int)(holders - s.kills < procs ? holders - s.kills : procs);
		int removing = (s.rounds + 1) % remove_every == 0;
		pid_t kids[MAX_PROCS];
		int64_t t0;
		int last;

		round_no = s.rounds;
		memset(slots, 0, (size_t)n * sizeof(*slots));
		watch("starting the holders");
		t0 = now_ms();
		for (int p = 0; p < n; p++) {
			uint64_t r = splitmix(&rng);

			fflush(NULL);
			kids[p] = fork();
			if (kids[p] < 0)
				fail("fork: %s", strerror(errno));
			if (kids[p] == 0) {
				signal(SIGALRM, SIG_DFL);
				alarm(0);
				holder_loop(path, &slots[p], r);
			}
		}
		if (removing) {
			int rc, held = 0;

			/* once a holder maps d (or after 1 s): timeout 0, so
			 * -EBUSY while one holds it, the release standing */
			watch("removing d under live holders");
			for (int64_t until = now_ms() + 1000; !held && now_ms() < until;) {
				for (int p = 0; p < n; p++)
					held |= slots[p].maps_d > 0;
				if (!held)
					usleep(200);
			}
			rc = daxmap_region_remove(o.pool, "d", 0);
			if (rc && rc != -EBUSY)
				fail("daxmap_region_remove d: %d: %s", rc, daxmap_errormsg());
			s.removes_busy += rc == -EBUSY;
		}
		watch("killing the holders");
		last = kill_round(kids, n, &rng, max_delay, t0);
		for (int p = 0; p < n; p++) {
			if (slots[p].bad)
				fail("holder %d: %s", kids[p], slots[p].what);
			s.in_call[slots[p].call]++;
			s.holding += slots[p].call == C_NONE && slots[p].mappings > 0;
			s.before_holding += slots[p].call == C_NONE && slots[p].mappings == 0 &&
					    slots[p].iters == 0;
			s.iters += (long)slots[p].iters;
		}
		s.kills += n;
		s.rounds++;

		watch("listing dead holders");
		check_dead_listed(o.pool, kids, n, last, w.pid, &s);
		watch("reclaim and counts");
		check_after_reclaim(o.pool, !removing, w.pid, &s);
		if (removing) {
			watch("recreating d");
			recreate_d(&o);
		}
		if (s.rounds % detach_every == 0 || s.kills >= holders) {
			int left;

			/* every live holder leaves: the runtime file must go */
			watch("full detach");
			witness_stop(&w);
			daxmap_unpin(&pc);
			daxmap_map_delete(&mc);
			close_pool(&o);
			if ((left = runtime_files(rtdir)) != 0)
				fail("every live holder is gone, but %s holds %d file(s)", rtdir, left);
			s.detaches++;
			if (s.kills < holders) {
				if (open_pool(path, &o))
					fail("reopen: %s", daxmap_errormsg());
				hold_c(&o, &mc, &pc);
				w = witness_start(path);
				check_counts(o.pool, 1);
			}
		}
		alarm(0);
		if (now_ms() - t_report >= 10000) {
			t_report = now_ms();
			printf("%s: %ld of %ld holders killed, %.0f s\n", prog, s.kills, holders,
			       (double)(t_report - t_start) / 1000);
			fflush(stdout);
		}
	}
	rmdir(rtdir);
	if (*tmpdev)
		unlink(tmpdev);

	{
		long in_calls = 0;

		for (int c = C_OPEN; c < C_NCALLS; c++)
			in_calls += s.in_call[c];
		printf("%s: %ld holders killed with SIGKILL in %ld rounds (%ld loop iterations "
		       "done in all)\n", prog, s.kills, s.rounds, s.iters);
		printf("%s: killed inside a library call: %ld (", prog, in_calls);
		for (int c = C_OPEN; c < C_NCALLS; c++)
			printf("%s%s %ld", c > C_OPEN ? ", " : "", call_names[c], s.in_call[c]);
		printf("); between calls holding a mapping: %ld; before their first loop: %ld\n",
		       s.holding, s.before_holding);
		printf("%s: after each of %ld reclaims the counts of all extents were exact; "
		       "%ld dead references listed before reclaim, %ld dead holders dropped; "
		       "%ld removes under live holders (%ld -EBUSY), %ld releases finished\n",
		       prog, s.rounds, s.dead_listed, s.dropped, s.rounds / remove_every,
		       s.removes_busy, s.releases);
		printf("%s: no runtime file left after each of %ld full detaches; no hang "
		       "(watchdog %d s per step); %.1f s\n", prog, s.detaches, WATCHDOG_S,
		       (double)(now_ms() - t_start) / 1000);
		printf("%s: OK\n", prog);
	}
	return 0;
}
