/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ref.c -- runtime reference state shared by the processes of a pool
 * (doc/refcount-design.md).
 *
 * The truth is each holder's list of references; the per-extent counters
 * are derived from it. Every change runs under a process-shared robust
 * mutex: a process killed inside leaves the mutex EOWNERDEAD to the next
 * locker, which rebuilds the counters from the lists. A holder is alive
 * while it holds a POSIX lock on its slot's byte of the file: the kernel
 * drops it when the process dies (LMDB's reader-table pattern), so a reused
 * PID cannot look alive.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "daxmap.h"
#include "error.h"
#include "ref.h"
#include "util.h"

#define RT_MAGIC "DAXMAPRT"
#define RT_VERSION 2
#define HDR_SIZE 4096

struct rt_entry {
	uint16_t kind;    /* enum ref_kind; REF_NONE: dropped */
	uint16_t flags;   /* REF_REVOCABLE */
	uint32_t backend; /* which pin backend, 0 for a mapping */
	uint64_t first, count, id;
};

struct rt_holder {
	uint32_t active;
	int32_t pid;
	uint64_t start_time;
	uint64_t nentries; /* entries [0, nentries) are committed */
	uint64_t next_id;
	struct rt_entry e[REF_ENTRIES];
};

struct rt_counter {
	uint32_t ref, pins;
	uint32_t zap;  /* being released: no new reference (not derived) */
	uint32_t pad;
};

struct rt_hdr {
	char magic[8];
	uint32_t version;
	uint32_t seq;        /* futex word: bumped on every drop */
	uint32_t zap_seq;    /* futex word: bumped when extents are zapped */
	uint32_t waiters;    /* in ref_wait_idle(): a drop wakes them */
	char boot_id[40];
	uint8_t uuid[16];
	uint64_t nextents;
	uint64_t nholders;
	pthread_mutex_t lock;
};
_Static_assert(sizeof(struct rt_hdr) <= HDR_SIZE, "header fits its page");

struct ref_runtime {
	struct ref_runtime *next;  /* the process's attachments */
	int users;
	char path[PATH_MAX];
	uint8_t uuid[16];
	int fd;
	size_t size;
	struct rt_hdr *hdr;
	struct rt_holder *holders;
	struct rt_counter *cnt;
	uint32_t slot;        /* this process's holder slot */
	bool stale;           /* inherited through fork(): the parent's */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ref_runtime *registry;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/*
 * A fork()ed child is not the holder its parent is (POSIX locks are not
 * inherited): it forgets the parent's attachments and registers anew if it
 * uses the pool. Closing the inherited fds drops no lock of the parent's.
 */
static void atfork_child(void)
{
	pthread_mutex_init(&registry_lock, NULL);
	/* kept, not freed: inherited handles may still point at them, and
	 * every call on a stale attachment is refused */
	for (struct ref_runtime *rt = registry; rt; rt = rt->next)
		rt->stale = true;
	registry = NULL;
}

bool ref_stale(const struct ref_runtime *rt)
{
	return rt->stale;
}

static int refuse_stale(void)
{
	return daxmap_err(ECHILD,
			  "this runtime attachment was inherited through fork(): the child must open the pool itself");
}

static void install_atfork(void)
{
	pthread_atfork(NULL, NULL, atfork_child);
}

static size_t rt_size(uint64_t nextents)
{
	return HDR_SIZE + REF_HOLDERS * sizeof(struct rt_holder) +
	       nextents * sizeof(struct rt_counter);
}

/* The boot id stamps the state: a robust mutex or a holder list from
 * another boot is void. Unreadable (EMFILE, a sandbox): no attach, since
 * an empty id would void a live state. */
static int read_boot_id(char out[40])
{
	static const char path[] = "/proc/sys/kernel/random/boot_id";
	FILE *f = fopen(path, "re");
	int err;

	memset(out, 0, 40);
	if (!f)
		return daxmap_err(errno, "%s: %s (the runtime state is stamped with it)", path,
				  strerror(errno));
	err = fgets(out, 40, f) ? 0 : (ferror(f) ? EIO : ENODATA);
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	if (err || !out[0])
		return daxmap_err(err ? err : ENODATA, "%s: cannot read it", path);
	return 0;
}

/* Does any process hold a holder slot's lock on the file? Its state is
 * then in use, whatever it looks like to this library. */
static bool slots_locked(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 1,
			    .l_len = REF_HOLDERS };

	if (fcntl(fd, F_GETLK, &fl) != 0)
		return true; /* cannot tell: never wipe */
	return fl.l_type != F_UNLCK;
}

/* Process start time (field 22 of /proc/PID/stat): pid + this is unique. */
static uint64_t start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long t = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu", &t);
	fclose(f);
	return t;
}

static int lock_byte(int fd, off_t at, short type, bool wait)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = at, .l_len = 1 };

	while (fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl) != 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/* Is holder slot s alive? Its process holds the POSIX lock on byte 1 + s. */
static bool holder_alive(const struct ref_runtime *rt, uint32_t s)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 1 + s, .l_len = 1 };

	if (s == rt->slot)
		return true;
	if (fcntl(rt->fd, F_GETLK, &fl) != 0)
		return true; /* cannot tell: never drop a live holder's refs */
	return fl.l_type != F_UNLCK;
}

static void apply(struct ref_runtime *rt, const struct rt_entry *e, int sign)
{
	uint32_t r = e->kind == REF_PIN ? REF_BIAS : 1, p = e->kind == REF_PIN;

	for (uint64_t x = e->first; x < e->first + e->count && x < rt->hdr->nextents; x++) {
		rt->cnt[x].ref += (uint32_t)sign * r;
		rt->cnt[x].pins += (uint32_t)sign * p;
	}
}

/* After a holder died holding the mutex: counters from the lists. The ZAP
 * marks are not derived from them and stay. */
static void rebuild(struct ref_runtime *rt)
{
	for (uint64_t x = 0; x < rt->hdr->nextents; x++)
		rt->cnt[x].ref = rt->cnt[x].pins = 0;
	for (uint32_t s = 0; s < REF_HOLDERS; s++) {
		struct rt_holder *h = &rt->holders[s];
		uint64_t n = h->nentries < REF_ENTRIES ? h->nentries : REF_ENTRIES;

		if (!h->active)
			continue;
		for (uint64_t i = 0; i < n; i++)
			if (h->e[i].kind != REF_NONE)
				apply(rt, &h->e[i], +1);
	}
}

static int rt_lock(struct ref_runtime *rt)
{
	int rc = pthread_mutex_lock(&rt->hdr->lock);

	if (rc == EOWNERDEAD) {
		rebuild(rt);
		pthread_mutex_consistent(&rt->hdr->lock);
		rc = 0;
	}
	return rc ? daxmap_err(rc, "runtime state lock: %s", strerror(rc)) : 0;
}

static void rt_unlock(struct ref_runtime *rt)
{
	pthread_mutex_unlock(&rt->hdr->lock);
}

/* Under the lock, after a drop. */
static void wake_all(struct ref_runtime *rt)
{
	__atomic_add_fetch(&rt->hdr->seq, 1, __ATOMIC_RELEASE);
	/* the syscall only for a waiter (registered under this lock); not
	 * FUTEX_PRIVATE: waiters are in other processes */
	if (__atomic_load_n(&rt->hdr->waiters, __ATOMIC_ACQUIRE))
		syscall(SYS_futex, &rt->hdr->seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/* Dropped entries at the end of a list go: ref_put() scans less. */
static void trim(struct rt_holder *h)
{
	uint64_t n = h->nentries;

	while (n && h->e[n - 1].kind == REF_NONE)
		n--;
	__atomic_store_n(&h->nentries, n, __ATOMIC_RELEASE);
}

/* Under the lock: drop every reference of a holder and free its slot. */
static void drop_holder(struct ref_runtime *rt, struct rt_holder *h)
{
	for (uint64_t i = 0; i < h->nentries && i < REF_ENTRIES; i++)
		if (h->e[i].kind != REF_NONE) {
			apply(rt, &h->e[i], -1);
			h->e[i].kind = REF_NONE;
		}
	h->nentries = 0;
	h->active = 0;
}

static int reclaim_dead_locked(struct ref_runtime *rt)
{
	int dead = 0;

	for (uint32_t s = 0; s < REF_HOLDERS; s++) {
		struct rt_holder *h = &rt->holders[s];

		if (!h->active || holder_alive(rt, s))
			continue;
		drop_holder(rt, h);
		dead++;
	}
	if (dead)
		wake_all(rt);
	return dead;
}

int ref_reclaim_dead(struct ref_runtime *rt)
{
	int rc = rt->stale ? refuse_stale() : rt_lock(rt);

	if (rc)
		return rc;
	rc = reclaim_dead_locked(rt);
	rt_unlock(rt);
	return rc;
}

/* Set up a fresh state: called with byte 0 locked. */
static int rt_init(struct ref_runtime *rt, const char *boot, uint64_t nextents)
{
	pthread_mutexattr_t a;
	struct rt_hdr *h = rt->hdr;

	memset(h, 0, HDR_SIZE);
	memset(rt->holders, 0, REF_HOLDERS * sizeof(*rt->holders));
	memset(rt->cnt, 0, nextents * sizeof(*rt->cnt));
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&h->lock, &a);
	pthread_mutexattr_destroy(&a);
	h->version = RT_VERSION;
	memcpy(h->boot_id, boot, sizeof(h->boot_id));
	memcpy(h->uuid, rt->uuid, sizeof(h->uuid));
	h->nextents = nextents;
	h->nholders = REF_HOLDERS;
	/* the magic last: a set-up cut short is redone by the next attach */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	memcpy(h->magic, RT_MAGIC, 8);
	return 0;
}

static int in_use(const struct ref_runtime *rt)
{
	return daxmap_err(EPROTO,
			  "%s: the runtime state is in use by processes whose library writes it differently (another libdaxmap version, or another pool geometry); not touched",
			  rt->path);
}

/*
 * Open (or create) the file and map it, with byte 0 locked: it serialises
 * set-up, registration and the removal of the file by the last holder. On
 * success byte 0 stays locked; register_holder() unlocks it.
 */
static int rt_open(struct ref_runtime *rt, uint64_t nextents)
{
	char boot[40];
	struct stat st;
	bool fresh;
	int rc;

	if ((rc = read_boot_id(boot)))
		return rc;
	for (;;) {
		rt->fd = open(rt->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (rt->fd < 0)
			return daxmap_err(errno, "%s: %s", rt->path, strerror(errno));
		if ((rc = lock_byte(rt->fd, 0, F_WRLCK, true)))
			return daxmap_err(-rc, "%s: cannot lock: %s", rt->path, strerror(-rc));
		if (fstat(rt->fd, &st) != 0) {
			rc = daxmap_err(errno, "%s: %s", rt->path, strerror(errno));
			goto out;
		}
		if (st.st_nlink > 0)
			break;
		/* the last holder removed it after our open: open it anew */
		close(rt->fd);
	}
	rt->size = rt_size(nextents);
	fresh = (size_t)st.st_size != rt->size;
	/* a state that is to be voided (below) but has live holders is
	 * another library version's, or another geometry's: refuse, never
	 * wipe (or resize: SIGBUS) what they use */
	if (fresh && st.st_size != 0 && slots_locked(rt->fd)) {
		rc = in_use(rt);
		goto out;
	}
	if (fresh && ftruncate(rt->fd, (off_t)rt->size) != 0) {
		rc = daxmap_err(errno, "%s: cannot size it: %s", rt->path, strerror(errno));
		goto out;
	}
	rt->hdr = mmap(NULL, rt->size, PROT_READ | PROT_WRITE, MAP_SHARED, rt->fd, 0);
	if (rt->hdr == MAP_FAILED) {
		rt->hdr = NULL;
		rc = daxmap_err(errno, "%s: mmap: %s", rt->path, strerror(errno));
		goto out;
	}
	rt->holders = (struct rt_holder *)((char *)rt->hdr + HDR_SIZE);
	rt->cnt = (struct rt_counter *)(rt->holders + REF_HOLDERS);
	/* a state from another boot, pool or version is void; no
	 * slot lock survives a reboot, so one held means it is not */
	if (fresh || memcmp(rt->hdr->magic, RT_MAGIC, 8) != 0 ||
	    rt->hdr->version != RT_VERSION || strcmp(rt->hdr->boot_id, boot) != 0 ||
	    memcmp(rt->hdr->uuid, rt->uuid, 16) != 0 || rt->hdr->nextents != nextents ||
	    rt->hdr->nholders != REF_HOLDERS)
		rc = !fresh && slots_locked(rt->fd) ? in_use(rt) : rt_init(rt, boot, nextents);
	else
		rc = 0;
out:
	if (rc)
		lock_byte(rt->fd, 0, F_UNLCK, false);
	return rc;
}

static int register_holder(struct ref_runtime *rt)
{
	int rc = rt_lock(rt);
	uint32_t s = REF_HOLDERS;

	if (rc) {
		lock_byte(rt->fd, 0, F_UNLCK, false);
		return rc;
	}
	rt->slot = UINT32_MAX;
	/* dead holders stay listed (daxmapctl holders) until a reclaim,
	 * unless their slots are needed */
	for (int pass = 0; pass < 2; pass++) {
		for (s = 0; s < REF_HOLDERS; s++)
			if (!rt->holders[s].active && lock_byte(rt->fd, 1 + s, F_WRLCK, false) == 0)
				break;
		if (s < REF_HOLDERS || !reclaim_dead_locked(rt))
			break;
	}
	if (s == REF_HOLDERS) {
		rt_unlock(rt);
		lock_byte(rt->fd, 0, F_UNLCK, false);
		return daxmap_err(EUSERS, "all %u holder slots of the pool are in use", REF_HOLDERS);
	}
	rt->slot = s;
	rt->holders[s].pid = (int32_t)getpid();
	rt->holders[s].start_time = start_time(getpid());
	rt->holders[s].nentries = 0;
	rt->holders[s].next_id = 1;
	rt->holders[s].active = 1;
	rt_unlock(rt);
	lock_byte(rt->fd, 0, F_UNLCK, false);
	return 0;
}

static void rt_path(char path[PATH_MAX], const uint8_t uuid[16], const char *dir)
{
	char hex[33];

	for (int i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", uuid[i]);
	snprintf(path, PATH_MAX, "%s/daxmap-%s.rt", dir ? dir : "/dev/shm", hex);
}

bool ref_exists(const uint8_t uuid[16], const char *dir)
{
	char path[PATH_MAX];

	rt_path(path, uuid, dir);
	return access(path, F_OK) == 0;
}

/* The pids of the processes holding slot locks on fd's file, but this
 * one (F_GETLK never reports the caller's own locks). */
static size_t others_alive(int fd, pid_t *pids, size_t max)
{
	size_t n = 0;

	for (uint32_t s = 0; s < REF_HOLDERS; s++) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 1 + s,
				    .l_len = 1 };

		if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK) {
			if (n < max)
				pids[n] = fl.l_pid;
			n++;
		}
	}
	return n;
}

int ref_users(const uint8_t uuid[16], const char *dir, pid_t *pids, size_t max)
{
	char path[PATH_MAX];
	struct ref_runtime *rt;
	int n = 0, fd;

	rt_path(path, uuid, dir);
	pthread_mutex_lock(&registry_lock);
	for (rt = registry; rt && strcmp(rt->path, path) != 0; rt = rt->next)
		;
	if (rt) {
		/* this process is a holder: its fd is the one to ask through
		 * (closing any other fd of the file would drop its lock) */
		if (max)
			pids[0] = getpid();
		n = 1 + (int)others_alive(rt->fd, max ? pids + 1 : pids, max ? max - 1 : 0);
	} else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = (int)others_alive(fd, pids, max);
		close(fd);
	} else if (errno != ENOENT) {
		n = daxmap_err(errno, "%s: %s", path, strerror(errno));
	}
	pthread_mutex_unlock(&registry_lock);
	return n;
}

int ref_attach(struct ref_runtime **rtp, const uint8_t uuid[16], uint64_t nextents,
	       const char *dir)
{
	char path[PATH_MAX];
	struct ref_runtime *rt;
	int rc;

	pthread_once(&atfork_once, install_atfork);
	rt_path(path, uuid, dir);
	pthread_mutex_lock(&registry_lock);
	for (rt = registry; rt; rt = rt->next)
		if (strcmp(rt->path, path) == 0)
			break;
	if (rt) {
		rt->users++;
		pthread_mutex_unlock(&registry_lock);
		*rtp = rt;
		return 0;
	}
	rt = calloc(1, sizeof(*rt));
	if (!rt) {
		pthread_mutex_unlock(&registry_lock);
		return daxmap_err(ENOMEM, "out of memory");
	}
	snprintf(rt->path, sizeof(rt->path), "%s", path);
	memcpy(rt->uuid, uuid, 16);
	rt->fd = -1;
	rt->slot = UINT32_MAX;
	rc = rt_open(rt, nextents);
	if (rc == 0)
		rc = register_holder(rt);
	if (rc) {
		if (rt->hdr)
			munmap(rt->hdr, rt->size);
		if (rt->fd >= 0)
			close(rt->fd);
		free(rt);
		pthread_mutex_unlock(&registry_lock);
		return rc;
	}
	rt->users = 1;
	rt->next = registry;
	registry = rt;
	pthread_mutex_unlock(&registry_lock);
	*rtp = rt;
	return 0;
}

struct ref_runtime *ref_share(struct ref_runtime *rt)
{
	pthread_mutex_lock(&registry_lock);
	rt->users++;
	pthread_mutex_unlock(&registry_lock);
	return rt;
}

void ref_detach(struct ref_runtime *rt)
{
	struct ref_runtime **pp;

	if (!rt || rt->stale)
		return;
	pthread_mutex_lock(&registry_lock);
	if (--rt->users > 0) {
		pthread_mutex_unlock(&registry_lock);
		return;
	}
	for (pp = &registry; *pp && *pp != rt; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = rt->next;
	/*
	 * The registry stays locked to the end: POSIX locks belong to the
	 * process, so a thread attaching anew meanwhile would not be kept out
	 * by byte 0, could register in a file this unlinks, and the close()
	 * below would drop its slot lock (any close of the file drops all of
	 * the process's locks on it): a live holder would look dead.
	 */
	lock_byte(rt->fd, 0, F_WRLCK, true);
	if (rt_lock(rt) == 0) {
		bool last = true;

		drop_holder(rt, &rt->holders[rt->slot]);
		wake_all(rt);
		for (uint32_t s = 0; s < REF_HOLDERS && last; s++)
			last = !rt->holders[s].active || !holder_alive(rt, s);
		/*
		 * The last live holder removes the file (byte 0 keeps
		 * attachers out meanwhile), or it would stay in /dev/shm until
		 * reboot; holders killed before it detached count as gone.
		 * Nothing is lost: their references were void, and ZAP marks
		 * come back from the pool.
		 */
		if (last)
			unlink(rt->path);
		rt_unlock(rt);
	}
	/* closing the fd drops the slot's lock */
	munmap(rt->hdr, rt->size);
	close(rt->fd);
	pthread_mutex_unlock(&registry_lock);
	free(rt);
}

/* Make room for k entries in our list, compacting dropped ones out. */
static bool room(struct rt_holder *h, size_t k)
{
	uint64_t w = 0;

	if (h->nentries + k <= REF_ENTRIES)
		return true;
	/*
	 * Compaction rewrites only this process's own list: if it dies half
	 * way, the list is dropped whole as a dead holder's.
	 */
	for (uint64_t r = 0; r < h->nentries; r++)
		if (h->e[r].kind != REF_NONE)
			h->e[w++] = h->e[r];
	h->nentries = w;
	return w + k <= REF_ENTRIES;
}

int ref_get(struct ref_runtime *rt, enum ref_kind kind, unsigned backend,
	    unsigned flags, const struct ext_run *runs, size_t nruns,
	    uint64_t *id)
{
	struct rt_holder *h;
	uint64_t n0;
	int rc;

	if (rt->stale)
		return refuse_stale();
	if (kind != REF_MAP && kind != REF_PIN)
		return daxmap_err(EINVAL, "unknown reference kind %d", (int)kind);
	if (!runs || !nruns)
		return daxmap_err(EINVAL, "no extents to reference");
	for (size_t i = 0; i < nruns; i++)
		if (!runs[i].count || runs[i].first >= rt->hdr->nextents ||
		    runs[i].count > rt->hdr->nextents - runs[i].first)
			return daxmap_err(EINVAL, "extents [%" PRIu64 ", +%" PRIu64 ") are outside the pool",
					  runs[i].first, runs[i].count);
	if ((rc = rt_lock(rt)))
		return rc;
	/* the releaser marks ZAP under this lock before it checks for idle:
	 * either it sees this reference or this sees its mark */
	for (size_t i = 0; i < nruns; i++)
		for (uint64_t x = runs[i].first; x < runs[i].first + runs[i].count; x++)
			if (rt->cnt[x].zap && (flags & REF_LIVE)) {
				__atomic_store_n(&rt->cnt[x].zap, 0, __ATOMIC_RELEASE);
			} else if (rt->cnt[x].zap) {
				rt_unlock(rt);
				return daxmap_err(ESTALE,
						  "extent %" PRIu64 " is being released (ZAP): no new mapping or pin",
						  x);
			}
	h = &rt->holders[rt->slot];
	if (!room(h, nruns)) {
		rt_unlock(rt);
		return daxmap_err(ENOSPC, "this process holds %u extent runs already", REF_ENTRIES);
	}
	*id = ((uint64_t)rt->slot << 48) | h->next_id++;
	n0 = h->nentries;
	for (size_t i = 0; i < nruns; i++)
		h->e[n0 + i] = (struct rt_entry){ (uint16_t)kind, (uint16_t)(flags & REF_REVOCABLE),
						  backend, runs[i].first, runs[i].count, *id };
	/* commit, then count: a death in between is repaired by rebuild() */
	__atomic_store_n(&h->nentries, n0 + nruns, __ATOMIC_RELEASE);
	for (size_t i = 0; i < nruns; i++)
		apply(rt, &h->e[n0 + i], +1);
	rt_unlock(rt);
	return 0;
}

/* Lock the state for a change of this process's own list, *h. */
static int lock_own(struct ref_runtime *rt, struct rt_holder **h)
{
	int rc = rt->stale ? refuse_stale() : rt_lock(rt);

	*h = rc ? NULL : &rt->holders[rt->slot];
	return rc;
}

int ref_put(struct ref_runtime *rt, uint64_t id)
{
	struct rt_holder *h;
	int rc, found = 0;

	if ((rc = lock_own(rt, &h)))
		return rc;
	for (uint64_t i = 0; i < h->nentries; i++)
		if (h->e[i].kind != REF_NONE && h->e[i].id == id) {
			struct rt_entry e = h->e[i];

			/* drop from the list first: the list is the truth */
			__atomic_store_n(&h->e[i].kind, REF_NONE, __ATOMIC_RELEASE);
			apply(rt, &e, -1);
			found++;
		}
	if (found) {
		trim(h);
		wake_all(rt);
	}
	rt_unlock(rt);
	return found ? 0 : daxmap_err(ENOENT, "no reference %#" PRIx64 " held by this process", id);
}

void ref_count(const struct ref_runtime *rt, uint64_t extent, uint32_t *ref,
	       uint32_t *pins, bool *zap)
{
	const struct rt_counter *c = &rt->cnt[extent];

	*ref = __atomic_load_n(&c->ref, __ATOMIC_ACQUIRE);
	*pins = __atomic_load_n(&c->pins, __ATOMIC_ACQUIRE);
	if (zap)
		*zap = __atomic_load_n(&c->zap, __ATOMIC_ACQUIRE) != 0;
}

int ref_put_run(struct ref_runtime *rt, uint64_t id, struct ext_run run)
{
	struct rt_holder *h;
	int rc, found = 0;

	if ((rc = lock_own(rt, &h)))
		return rc;
	for (uint64_t i = 0; i < h->nentries; i++) {
		struct rt_entry e = h->e[i], cut;
		uint64_t lo, hi, k;

		if (e.kind == REF_NONE || e.id != id)
			continue;
		lo = e.first > run.first ? e.first : run.first;
		hi = e.first + e.count < run.first + run.count ? e.first + e.count
							     : run.first + run.count;
		if (lo >= hi)
			continue;
		/* room for the pieces that stay: none when the cut takes the
		 * whole entry, one for a trim, two for a split */
		if (!room(h, (size_t)(e.first < lo) + (size_t)(hi < e.first + e.count))) {
			rc = daxmap_err(ENOSPC, "this process holds %u extent runs already", REF_ENTRIES);
			break;
		}
		/* compaction may have moved the entry: find it again */
		for (i = 0; memcmp(&h->e[i], &e, sizeof(e)) != 0; i++)
			;
		/* the pieces that stay are committed before the entry goes; a
		 * death in between drops the whole list as a dead holder's */
		k = h->nentries;
		if (e.first < lo) {
			h->e[k] = e;
			h->e[k++].count = lo - e.first;
		}
		if (hi < e.first + e.count) {
			h->e[k] = e;
			h->e[k].first = hi;
			h->e[k++].count = e.first + e.count - hi;
		}
		__atomic_store_n(&h->nentries, k, __ATOMIC_RELEASE);
		__atomic_store_n(&h->e[i].kind, REF_NONE, __ATOMIC_RELEASE);
		cut = e;
		cut.first = lo;
		cut.count = hi - lo;
		apply(rt, &cut, -1);
		found++;
		/* the pieces lie outside run: scanning again ends */
		i = (uint64_t)-1;
	}
	if (found)
		wake_all(rt);
	rt_unlock(rt);
	if (rc)
		return rc;
	return found ? 0 : daxmap_err(ENOENT, "no reference %#" PRIx64 " on extents [%" PRIu64 ", +%" PRIu64 ") held by this process",
				      id, run.first, run.count);
}

int ref_zap(struct ref_runtime *rt, const struct ext_run *runs, size_t nruns, bool on)
{
	int rc = rt->stale ? refuse_stale() : rt_lock(rt);
	bool set = false;

	if (rc)
		return rc;
	for (size_t i = 0; i < nruns; i++)
		for (uint64_t x = runs[i].first; x < runs[i].first + runs[i].count &&
						 x < rt->hdr->nextents; x++) {
			set |= on && !rt->cnt[x].zap;
			__atomic_store_n(&rt->cnt[x].zap, on, __ATOMIC_RELEASE);
		}
	rt_unlock(rt);
	/* only a new mark wakes the revokers: marks already set (a finish
	 * re-marking) woke them when they were set */
	if (set) {
		__atomic_add_fetch(&rt->hdr->zap_seq, 1, __ATOMIC_RELEASE);
		syscall(SYS_futex, &rt->hdr->zap_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	}
	return 0;
}

bool ref_zapped(struct ref_runtime *rt, const struct ext_run *runs, size_t nruns, bool all)
{
	for (size_t i = 0; i < nruns; i++)
		for (uint64_t x = runs[i].first; x < runs[i].first + runs[i].count &&
						 x < rt->hdr->nextents; x++) {
			bool z = __atomic_load_n(&rt->cnt[x].zap, __ATOMIC_ACQUIRE) != 0;

			if (z != all)
				return !all;
		}
	return all;
}

uint32_t ref_zap_seq(const struct ref_runtime *rt)
{
	return __atomic_load_n(&rt->hdr->zap_seq, __ATOMIC_ACQUIRE);
}

void ref_zap_wait(struct ref_runtime *rt, uint32_t seq, int timeout_ms)
{
	struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };

	syscall(SYS_futex, &rt->hdr->zap_seq, FUTEX_WAIT, seq, timeout_ms < 0 ? NULL : &ts,
		NULL, 0);
}

void ref_zap_kick(struct ref_runtime *rt)
{
	/* a spurious wake-up for every waiter: each one re-checks. The bump
	 * too: a waiter between its read of the word and its FUTEX_WAIT
	 * would sleep through a bare wake-up */
	__atomic_add_fetch(&rt->hdr->zap_seq, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &rt->hdr->zap_seq, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

int ref_holders(struct ref_runtime *rt, const struct ext_run *runs, size_t nruns,
		struct ref_holding *out, size_t max)
{
	int rc = rt->stale ? refuse_stale() : rt_lock(rt), n = 0;

	if (rc)
		return rc;
	for (uint32_t s = 0; s < REF_HOLDERS; s++) {
		const struct rt_holder *h = &rt->holders[s];
		bool alive;

		if (!h->active)
			continue;
		alive = holder_alive(rt, s);
		for (uint64_t i = 0; i < h->nentries && i < REF_ENTRIES; i++) {
			const struct rt_entry *e = &h->e[i];

			if (e->kind == REF_NONE || (runs && !runs_overlap(runs, nruns, e->first, e->count)))
				continue;
			if ((size_t)n < max)
				out[n] = (struct ref_holding){
					.pid = h->pid, .start_time = h->start_time, .alive = alive,
					.kind = (enum ref_kind)e->kind, .backend = e->backend,
					.revocable = e->flags & REF_REVOCABLE,
					.run = { e->first, e->count }, .id = e->id };
			n++;
		}
	}
	rt_unlock(rt);
	return n;
}

static bool idle_locked(const struct ref_runtime *rt, const struct ext_run *runs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (uint64_t x = runs[i].first; x < runs[i].first + runs[i].count; x++)
			if (rt->cnt[x].ref)
				return false;
	return true;
}

/* Pins are recorded by backend: the names belong with the records. */
DAXMAP_EXPORT const char *daxmap_pin_backend_name(enum daxmap_pin_backend backend)
{
	static const char *const names[] = { "none", "external", "rdma", "vfio", "io_uring" };

	return (unsigned)backend < sizeof(names) / sizeof(names[0]) ? names[backend] : "unknown";
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ref_wait_idle(struct ref_runtime *rt, const struct ext_run *runs, size_t nruns,
		  int timeout_ms)
{
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;

	if (rt->stale)
		return refuse_stale();
	for (;;) {
		struct ref_holding hs[8];
		char msg[600];
		size_t len;
		uint32_t seq;
		bool idle, wait;
		int rc, n;

		if ((rc = rt_lock(rt)))
			return rc;
		reclaim_dead_locked(rt);
		idle = idle_locked(rt, runs, nruns);
		seq = __atomic_load_n(&rt->hdr->seq, __ATOMIC_ACQUIRE);
		wait = !idle && now_ms() < deadline;
		if (wait)
			__atomic_add_fetch(&rt->hdr->waiters, 1, __ATOMIC_ACQ_REL);
		rt_unlock(rt);
		if (idle)
			return 0;
		if (wait) {
			int64_t left = deadline - now_ms();
			/* wake-ups come from drops; deaths are polled for */
			struct timespec ts = { 0, (left < 50 ? (left > 0 ? left : 0) : 50) * 1000000L };

			syscall(SYS_futex, &rt->hdr->seq, FUTEX_WAIT, seq, &ts, NULL, 0);
			__atomic_sub_fetch(&rt->hdr->waiters, 1, __ATOMIC_ACQ_REL);
			continue;
		}
		n = ref_holders(rt, runs, nruns, hs, 8);
		len = (size_t)snprintf(msg, sizeof(msg), "%d reference(s) still held:", n < 0 ? 0 : n);
		for (int i = 0; i < n && i < 8 && len < sizeof(msg); i++)
			len += (size_t)snprintf(msg + len, sizeof(msg) - len,
						" pid %d %s%s%s%s of extents [%" PRIu64 ", +%" PRIu64 ")%s",
						(int)hs[i].pid, hs[i].kind == REF_PIN ? "pin (" : "mapping",
						hs[i].kind == REF_PIN ? daxmap_pin_backend_name((enum daxmap_pin_backend)hs[i].backend) : "",
						hs[i].kind == REF_PIN ? (hs[i].revocable ? ", revocable)" : ")") : "",
						hs[i].alive ? "" : " (dead)",
						hs[i].run.first, hs[i].run.count, i + 1 < n ? ";" : "");
		return daxmap_err(EBUSY, "%s", msg);
	}
}
