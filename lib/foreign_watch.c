/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * foreign_watch.c -- a release's scan for foreign mappings without reading
 * every process's maps each time (foreign_scan_quick(), foreign.h).
 *
 * A full scan reads /proc/PID/maps of every process: milliseconds, more
 * than the rest of a create and remove together. Between two scans a
 * process can come to map the device only if it opens the device, holds a
 * descriptor of it already, or is created (fork() hands down mappings and
 * descriptors). So a full scan notes the processes that map the device or
 * hold a descriptor of it (or cannot be read), and until the next full
 * scan a release reads only:
 *   - those processes;
 *   - processes created since: /proc/loadavg's last field, the pid most
 *     recently handed out (fs/proc/loadavg.c, idr_get_cursor()), moved.
 *     Only a child of a process that maps or holds the device can have it
 *     without an open, so this is read only while there are suspects,
 *     while this process holds the device itself, or after a fork() of
 *     this process (whose descriptors the child inherits;
 *     pthread_atfork() counts them);
 *   - this process, when it maps or holds the device itself (its region
 *     mappings aside: the ledgers count them), or the library mapped a
 *     device since outside a region (dev_mappings_made()).
 * An open of the device's node makes the next scan a full one: inotify
 * IN_OPEN on its inode (fsnotify_open() runs for every open(2) of it,
 * whichever path or process). So does one second since the last full scan.
 * Not seen until then: a descriptor passed to a process that held none
 * (SCM_RIGHTS, pidfd_getfd()), an open by a process that existed at the
 * last full scan through another node of a character device (a mknod
 * elsewhere), and a child this process made with a bare clone(2) or
 * _Fork() that runs on without exec (fork() is counted; vfork() and
 * posix_spawn() children exec, which closes the library's O_CLOEXEC
 * descriptors, and this process's own descriptors make it read new
 * processes at every scan). Such a child that uses the library itself
 * takes the parent's pid for its own until its first full scan.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dev.h"
#include "error.h"
#include "foreign.h"
#include "util.h"

#define WATCHES 4
#define FULL_EVERY_MS 1000

/* The coarse clock: read from the vDSO page, never the clock hardware
 * (under emulation a hardware read costs more than the quick scan). */
static int64_t coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct pids {
	pid_t *v;
	size_t n, cap;
};

struct watch {
	pid_t owner;            /* 0: free; a fork()ed child makes its own */
	struct foreign_target t;
	uint64_t from;          /* mappings below it do not count (metadata) */
	int ifd;                /* inotify, IN_OPEN of the node; -1: none */
	int lfd;                /* /proc/loadavg */
	int64_t full_ms;        /* the last full scan */
	long last_pid;          /* /proc/loadavg's, at the last look */
	uint64_t forks;         /* this process's fork()s, at the last look */
	uint64_t made;          /* dev_mappings_made(), at the last look at self */
	bool self;              /* this process maps or holds the device itself */
	struct pids known;      /* every process at the last look, sorted */
	struct pids suspects;   /* read at every scan */
};

static struct watch watches[WATCHES];
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t watch_once = PTHREAD_ONCE_INIT;

static pid_t self_pid;   /* getpid(), kept: a syscall per release saved */
static uint64_t self_looks;
static uint64_t forks;   /* fork()s this process made */

/* A fork() while another thread looks must not hand the child a taken
 * lock: the child's first release would wait for it forever. */
static void watch_lock_take(void) { pthread_mutex_lock(&watch_lock); }
static void watch_forked(void)
{
	forks++;
	pthread_mutex_unlock(&watch_lock);
}
static void watch_child(void)
{
	self_pid = getpid();
	pthread_mutex_unlock(&watch_lock);
}
static void watch_init(void)
{
	self_pid = getpid();
	pthread_atfork(watch_lock_take, watch_forked, watch_child);
}

static int pids_add(struct pids *p, pid_t pid)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		pid_t *v = realloc(p->v, cap * sizeof(*v));

		if (!v)
			return daxmap_err(ENOMEM, "out of memory");
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = pid;
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

static bool pids_has(const struct pids *p, pid_t pid)
{
	return p->n && bsearch(&pid, p->v, p->n, sizeof(pid), cmp_pid);
}

/* The pid the kernel handed out last, or -1; fd: /proc/loadavg, kept open
 * (a read at offset 0 makes it anew). */
static long last_pid(int fd)
{
	char buf[128], *sp;
	ssize_t n = fd >= 0 ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	sp = strrchr(buf, ' ');
	return sp ? strtol(sp + 1, NULL, 10) : -1;
}

/* Was the node opened since the last look (or the events lost)? */
static bool node_opened(int ifd)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool any = false;
	ssize_t n;

	while ((n = read(ifd, buf, sizeof(buf))) > 0)
		any = true;
	return any || (n < 0 && errno != EAGAIN);
}

/* Does pid hold a descriptor of the target (for this process: one that is
 * not the library's)? Unreadable counts as yes. */
static bool holds_fd(pid_t pid, const struct foreign_target *t, bool self)
{
	char path[64];
	struct dirent *de;
	bool holds = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if (!(d = opendir(path)))
		return errno != ENOENT && errno != ESRCH;
	while (!holds && (de = readdir(d))) {
		struct stat st;

		if (de->d_name[0] == '.' || fstatat(dirfd(d), de->d_name, &st, 0) != 0)
			continue;
		holds = (st.st_dev == t->dev && st.st_ino == t->ino) ||
			(t->rdev && S_ISCHR(st.st_mode) && st.st_rdev == t->rdev);
		if (holds && self)
			holds = !dev_fd_is_own(atoi(de->d_name));
	}
	closedir(d);
	return holds;
}

/* Scan pid into s; *suspect: read it at every scan from now on. 1: gone. */
static int look(pid_t pid, const struct foreign_target *t, uint64_t from,
		const struct daxmap_range *ranges, size_t nranges, struct foreign_scan *s,
		bool *suspect)
{
	bool any;
	int rc = foreign_scan_pid(pid, t, ranges, nranges, s, from, &any);

	if (rc == 0)
		*suspect = any || holds_fd(pid, t, pid == self_pid);
	return rc;
}

/* This process, after the library's mappings counted up to made. */
static int look_self(struct watch *w, const struct daxmap_range *ranges, size_t nranges,
		     struct foreign_scan *s, uint64_t made)
{
	int rc = look(self_pid, &w->t, w->from, ranges, nranges, s, &w->self);

	__atomic_add_fetch(&self_looks, 1, __ATOMIC_RELAXED);
	w->made = made;
	return rc < 0 ? rc : 0;
}

struct look_args {
	struct watch *w;
	const struct pids *known;
	const struct daxmap_range *ranges;
	size_t nranges;
	struct foreign_scan *s;
	struct pids *all;
};

static int look_one(pid_t pid, void *arg)
{
	const struct look_args *a = arg;
	bool suspect;
	int rc;

	if ((rc = pids_add(a->all, pid)) || pid == self_pid ||
	    (a->known && pids_has(a->known, pid)))
		return rc;
	if ((rc = look(pid, &a->w->t, a->w->from, a->ranges, a->nranges, a->s, &suspect)) == 0 &&
	    suspect)
		rc = pids_add(&a->w->suspects, pid);
	return rc > 0 ? 0 : rc;
}

/*
 * Every process, or (known not NULL) those not in it: scanned into s, the
 * suspects among them added to w->suspects; all of them into *all.
 */
static int look_all(struct watch *w, const struct pids *known, const struct daxmap_range *ranges,
		    size_t nranges, struct foreign_scan *s, struct pids *all)
{
	struct look_args a = { w, known, ranges, nranges, s, all };
	int rc = foreign_each_pid(look_one, &a);

	qsort(all->v, all->n, sizeof(pid_t), cmp_pid);
	return rc;
}

static int full_scan(struct watch *w, const struct daxmap_range *ranges, size_t nranges,
		     struct foreign_scan *s)
{
	struct pids all = { NULL, 0, 0 };
	uint64_t made = dev_mappings_made();
	int rc;

	/* a child made without fork()'s handlers (_Fork(), a bare clone())
	 * that goes on using the library: its own pid from here on */
	self_pid = getpid();
	/* the marks first: what happens during the scan shows next time */
	if (w->ifd >= 0)
		node_opened(w->ifd);
	w->last_pid = last_pid(w->lfd);
	w->forks = forks;
	w->full_ms = coarse_ms();
	w->suspects.n = 0;
	if ((rc = look_all(w, NULL, ranges, nranges, s, &all)) == 0)
		rc = look_self(w, ranges, nranges, s, made);
	free(w->known.v);
	w->known = all;
	if (rc)
		w->full_ms = 0; /* a full scan again next time */
	return rc;
}

/* Could a process created since the last look hold the device? */
static bool children_may_hold(const struct watch *w)
{
	/* self: a descriptor of its own may go to a child that no fork()
	 * handler counts (posix_spawn(), vfork()) */
	return w->suspects.n || w->self || w->forks != forks;
}

static int quick_scan(struct watch *w, const struct daxmap_range *ranges, size_t nranges,
		      struct foreign_scan *s)
{
	uint64_t made = dev_mappings_made();
	/* new processes matter as children of suspects or of this one:
	 * decided before the suspects gone are dropped */
	bool kids = children_may_hold(w);
	size_t old = w->suspects.n, k = 0;
	int rc = 0;
	long lp;

	/* the suspects of before: dropped once gone */
	for (size_t i = 0; rc == 0 && i < old; i++) {
		int r = foreign_scan_pid(w->suspects.v[i], &w->t, ranges, nranges, s, 0, NULL);

		if (r == 0)
			w->suspects.v[k++] = w->suspects.v[i];
		rc = r < 0 ? r : 0;
	}
	if (rc)
		return rc;
	w->suspects.n = k;
	w->forks = forks;
	/* after the suspects: a child of one found gone was made before */
	lp = kids ? last_pid(w->lfd) : w->last_pid;
	if (lp < 0 || lp != w->last_pid) {
		struct pids all = { NULL, 0, 0 };

		w->last_pid = lp;
		rc = look_all(w, &w->known, ranges, nranges, s, &all);
		free(w->known.v);
		w->known = all;
		if (rc) {
			w->full_ms = 0; /* some unread: a full scan next time */
			return rc;
		}
	}
	return w->self || made != w->made ? look_self(w, ranges, nranges, s, made) : 0;
}

/* This process's watch of t: found, or made (the inotify watch of path). */
static struct watch *watch_of(const struct foreign_target *t, const char *path, bool *fresh)
{
	pid_t self = self_pid;
	struct watch *w = NULL;

	for (unsigned i = 0; i < WATCHES; i++)
		if (watches[i].owner == self && watches[i].t.dev == t->dev &&
		    watches[i].t.ino == t->ino && watches[i].t.rdev == t->rdev)
			return &watches[i];
	/* a free one, or one a fork()ed parent made, or the least recently full */
	for (unsigned i = 0; i < WATCHES; i++)
		if (!w || watches[i].owner != self ||
		    (w->owner == self && watches[i].full_ms < w->full_ms))
			w = &watches[i];
	if (w->owner == self) {
		if (w->ifd >= 0)
			close(w->ifd);
		if (w->lfd >= 0)
			close(w->lfd);
	}
	free(w->known.v);
	free(w->suspects.v);
	memset(w, 0, sizeof(*w));
	w->owner = self;
	w->t = *t;
	w->lfd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ifd >= 0 && inotify_add_watch(w->ifd, path, IN_OPEN) < 0) {
		close(w->ifd);
		w->ifd = -1; /* every scan full */
	}
	*fresh = true;
	return w;
}

int foreign_scan_quick(const struct daxmap_dev *dev, uint64_t from,
		       const struct daxmap_range *ranges, size_t nranges, struct foreign_scan *s)
{
	struct foreign_target t;
	struct watch *w;
	bool fresh = false;
	int rc;

	memset(s, 0, sizeof(*s));
	if (!nranges)
		return 0;
	if ((rc = foreign_target_of(dev, &t)))
		return rc;
	pthread_once(&watch_once, watch_init);
	pthread_mutex_lock(&watch_lock);
	w = watch_of(&t, dev->path, &fresh);
	if (from < w->from || fresh) {
		w->from = from;
		fresh = true;
	}
	if (fresh || w->ifd < 0 || coarse_ms() - w->full_ms >= FULL_EVERY_MS || node_opened(w->ifd))
		rc = full_scan(w, ranges, nranges, s);
	else
		rc = quick_scan(w, ranges, nranges, s);
	pthread_mutex_unlock(&watch_lock);
	if (rc)
		foreign_scan_free(s);
	return rc;
}

uint64_t foreign_self_looks(void)
{
	return __atomic_load_n(&self_looks, __ATOMIC_RELAXED);
}
