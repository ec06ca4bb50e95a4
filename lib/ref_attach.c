/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ref_attach.c -- the runtime state file of a pool and this process's
 * place in it (ref_layout.h, doc/refcount-design.md): set-up, holder
 * slots, the process-wide registry of attachments, dead holders.
 *
 * A holder is alive while it holds a POSIX lock on its slot's byte of the
 * file: the kernel drops it when the process dies (LMDB's reader-table
 * pattern), so a reused PID cannot look alive. Byte 0 is the set-up lock:
 * creating, voiding, registering, detaching and clearing dead holders'
 * slots take it; references never do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daxmap.h"
#include "error.h"
#include "ref.h"
#include "ref_layout.h"

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

int ref_refuse_stale(void)
{
	return daxmap_err(ECHILD,
			  "this runtime attachment was inherited through fork(): the child must open the pool itself");
}

static void install_atfork(void)
{
	pthread_atfork(NULL, NULL, atfork_child);
}

/* The boot id stamps the state: a holder list from another boot is void.
 * Unreadable (EMFILE, a sandbox): no attach, since an empty id would void
 * a live state. */
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

bool ref_holder_alive(const struct ref_runtime *rt, uint32_t s)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 1 + s, .l_len = 1 };

	if (s == rt->slot)
		return true;
	if (fcntl(rt->fd, F_GETLK, &fl) != 0)
		return true; /* cannot tell: never drop a live holder's refs */
	return fl.l_type != F_UNLCK;
}

void ref_ledger_clear(struct rt_holder *h)
{
	uint32_t hwm = __atomic_load_n(&h->hwm, __ATOMIC_ACQUIRE);

	for (uint32_t i = 0; i < hwm && i < REF_ENTRIES; i++) {
		uint64_t s = __atomic_load_n(&h->e[i].state, __ATOMIC_RELAXED);

		if (es_status(s) != ES_FREE)
			__atomic_store_n(&h->e[i].state, es_make(es_gen(s), es_ver(s), ES_FREE),
					 __ATOMIC_RELEASE);
	}
	__atomic_store_n(&h->hwm, 0, __ATOMIC_RELEASE);
}

/* Under byte 0: free the slots of holders that died. How many. */
static int reclaim_dead_locked(struct ref_runtime *rt)
{
	int dead = 0;

	for (uint32_t s = 0; s < REF_HOLDERS; s++) {
		struct rt_holder *h = &rt->holders[s];

		if (!__atomic_load_n(&h->active, __ATOMIC_ACQUIRE) || ref_holder_alive(rt, s))
			continue;
		/* a dead holder's entries count nowhere already: clearing them
		 * only makes the slot reusable */
		__atomic_store_n(&h->active, 0, __ATOMIC_RELEASE);
		ref_ledger_clear(h);
		dead++;
	}
	return dead;
}

int ref_reclaim_dead(struct ref_runtime *rt)
{
	int rc, dead = 0;
	bool any = false;

	if (rt->stale)
		return ref_refuse_stale();
	/* the usual case, nobody died: no set-up lock */
	for (uint32_t s = 0; s < REF_HOLDERS && !any; s++)
		any = __atomic_load_n(&rt->holders[s].active, __ATOMIC_ACQUIRE) &&
		      !ref_holder_alive(rt, s);
	if (!any)
		return 0;
	if ((rc = lock_byte(rt->fd, 0, F_WRLCK, true)))
		return daxmap_err(-rc, "%s: cannot lock: %s", rt->path, strerror(-rc));
	dead = reclaim_dead_locked(rt);
	lock_byte(rt->fd, 0, F_UNLCK, false);
	return dead;
}

/* Map the file (sized already). */
static int rt_map(struct ref_runtime *rt)
{
	rt->hdr = mmap(NULL, rt->size, PROT_READ | PROT_WRITE, MAP_SHARED, rt->fd, 0);
	if (rt->hdr == MAP_FAILED) {
		rt->hdr = NULL;
		return daxmap_err(errno, "%s: mmap: %s", rt->path, strerror(errno));
	}
	rt->holders = (struct rt_holder *)((char *)rt->hdr + RT_HDR_SIZE);
	rt->zap = (uint64_t *)(rt->holders + REF_HOLDERS);
	return 0;
}

/*
 * Set up a fresh state, byte 0 locked and no slot locked (nobody maps
 * it): truncating zeroes it without touching a page, and tmpfs gives
 * pages only to what is written.
 */
static int rt_init(struct ref_runtime *rt, const char *boot, uint64_t nextents)
{
	struct rt_hdr *h;
	int rc;

	if (rt->hdr) {
		munmap(rt->hdr, rt->size);
		rt->hdr = NULL;
	}
	if (ftruncate(rt->fd, 0) != 0 || ftruncate(rt->fd, (off_t)rt->size) != 0)
		return daxmap_err(errno, "%s: cannot size it: %s", rt->path, strerror(errno));
	if ((rc = rt_map(rt)))
		return rc;
	h = rt->hdr;
	h->version = RT_VERSION;
	h->entries = REF_ENTRIES;
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

/* Is the mapped state this boot's, this pool's, in this layout? */
static bool rt_valid(const struct ref_runtime *rt, const char *boot, uint64_t nextents)
{
	const struct rt_hdr *h = rt->hdr;

	return memcmp(h->magic, RT_MAGIC, 8) == 0 && h->version == RT_VERSION &&
	       h->entries == REF_ENTRIES && strcmp(h->boot_id, boot) == 0 &&
	       memcmp(h->uuid, rt->uuid, 16) == 0 && h->nextents == nextents &&
	       h->nholders == REF_HOLDERS;
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
	rt->nextents = nextents;
	/*
	 * A state of another boot, pool, size or version is void; no slot
	 * lock survives a reboot, so one held means it is not: it belongs to
	 * processes whose library writes it differently. Refuse, never wipe
	 * (or resize: SIGBUS) what they use.
	 */
	if ((size_t)st.st_size != rt->size) {
		rc = st.st_size != 0 && slots_locked(rt->fd) ? in_use(rt) : rt_init(rt, boot, nextents);
		goto out;
	}
	if ((rc = rt_map(rt)) == 0 && !rt_valid(rt, boot, nextents))
		rc = slots_locked(rt->fd) ? in_use(rt) : rt_init(rt, boot, nextents);
out:
	if (rc)
		lock_byte(rt->fd, 0, F_UNLCK, false);
	return rc;
}

/* Byte 0 locked (rt_open()): take a free slot, or a dead holder's. */
static int register_holder(struct ref_runtime *rt)
{
	struct rt_holder *h;
	uint32_t s = REF_HOLDERS;

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
		lock_byte(rt->fd, 0, F_UNLCK, false);
		return daxmap_err(EUSERS, "all %u holder slots of the pool are in use", REF_HOLDERS);
	}
	rt->slot = s;
	h = &rt->holders[s];
	ref_ledger_clear(h);
	h->pid = (int32_t)getpid();
	h->start_time = start_time(getpid());
	__atomic_store_n(&h->active, 1, __ATOMIC_RELEASE);
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
		__atomic_add_fetch(&rt->users, 1, __ATOMIC_RELAXED);
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

/* The caller holds a share: the count cannot reach 0 meanwhile. */
struct ref_runtime *ref_share(struct ref_runtime *rt)
{
	__atomic_add_fetch(&rt->users, 1, __ATOMIC_RELAXED);
	return rt;
}

void ref_detach(struct ref_runtime *rt)
{
	struct ref_runtime **pp;
	bool last = true;

	if (!rt || rt->stale)
		return;
	pthread_mutex_lock(&registry_lock);
	if (__atomic_sub_fetch(&rt->users, 1, __ATOMIC_ACQ_REL) > 0) {
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
	__atomic_store_n(&rt->holders[rt->slot].active, 0, __ATOMIC_RELEASE);
	ref_ledger_clear(&rt->holders[rt->slot]);
	ref_wake_waiters(rt);
	for (uint32_t s = 0; s < REF_HOLDERS && last; s++)
		last = s == rt->slot || !rt->holders[s].active || !ref_holder_alive(rt, s);
	/*
	 * The last live holder removes the file (byte 0 keeps attachers out
	 * meanwhile), or it would stay in /dev/shm until reboot; holders
	 * killed before it detached count as gone. Nothing is lost: their
	 * references were void, and ZAP marks come back from the pool.
	 */
	if (last)
		unlink(rt->path);
	/* closing the fd drops the slot's lock and byte 0 */
	munmap(rt->hdr, rt->size);
	close(rt->fd);
	pthread_mutex_unlock(&registry_lock);
	free(rt);
}
