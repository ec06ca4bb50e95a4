/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * daxmap_vfs.c -- the "daxmap" SQLite VFS (daxmap_sqlite.h, doc/sqlite.md).
 *
 * Each database, journal, WAL and -shm file is a region of a libdaxmap
 * pool. The region starts with a header (HDR_SIZE bytes: the file's full
 * name, so names longer than a region name are hashed and collisions
 * found); the file's bytes follow. The file's size is the region's logical
 * size (daxmap_region_map_set_lsize(): persistent, one store, no log), and
 * a file that does not exist is a region whose logical size is unset:
 * deleting a journal is one 8-byte store, not a region removal.
 *
 * Reads and writes copy through the region mapping; a write is flushed
 * (non-temporal copy) and xSync drains: no msync, no system call. Each
 * region is mapped once per process inside an address reservation as large
 * as the device, and grows in place (daxmap_region_grow() +
 * daxmap_region_map_extend()), so xFetch pointers and -shm pages never
 * move.
 *
 * Locks follow the unix VFS (os_unix.c): the PENDING, RESERVED and SHARED
 * bytes of the database and the 8 shm locks plus the dead-man switch of
 * the -shm file, taken without blocking, SQLITE_BUSY when another owner
 * has them. Each connection's file is an owner of its own (region locks are
 * OFD locks), so connections in one process exclude each other as those
 * of two processes do, with no per-inode bookkeeping.
 *
 * Temporary files (no name, temp databases and journals, sub-journals)
 * are the default VFS's, opened on the same sqlite3_file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include <daxmap.h>

#ifdef DAXMAP_SQLITE_EXTENSION
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1
#else
#include <sqlite3.h>
#endif

#include "daxmap_sqlite.h"

#define EXPORT __attribute__((visibility("default")))

#define HDR_SIZE 4096ULL      /* the file header; data starts after it */
#define HDR_MAGIC "DAXSQLF1"
#define MAX_PATHNAME 512

/* The header at the start of every region the VFS makes. */
struct file_hdr {
	char magic[8];
	uint32_t version;     /* 1 */
	uint32_t namelen;
	char name[MAX_PATHNAME + 1];
};
_Static_assert(sizeof(struct file_hdr) <= HDR_SIZE, "the header fits its page");

/* Lock bytes of a database's region: os_unix.c's PENDING, RESERVED and
 * SHARED range, at the start of the region's lock space. */
#define LK_PENDING 0
#define LK_RESERVED 1
#define LK_SHARED 2
#define LK_SHARED_N 510
/* Of a -shm region: SQLite's SQLITE_SHM_NLOCK locks, then the dead-man
 * switch (held shared by every user; the first takes it exclusively and
 * clears the wal-index, as os_unix.c's UNIX_SHM_DMS). */
#define LK_DMS SQLITE_SHM_NLOCK

/* A device and its pool, opened once per process. */
struct dev_ctx {
	struct dev_ctx *next;
	char *path;
	uint64_t reserve;          /* address space per file */
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	struct region *regions;    /* every region mapped, kept mapped */
};

/* A file's region, mapped once per process and shared by its opens. */
struct region {
	struct region *next;
	struct dev_ctx *d;
	char *fname;
	char rname[DAXMAP_NAME_MAX + 1];
	struct daxmap_map *map;
	char *data;                /* the file's byte 0 */
	int opens;                 /* sqlite3_files open on it, -shm users (g_lock) */
	uint64_t used;             /* when last looked up: idle ones go LRU */
	bool transient;            /* a super journal: a new name each time */
};

/* An open main database: its journal, WAL and -shm use its device. */
struct db_entry {
	struct db_entry *next;
	char *fname;
	struct dev_ctx *d;
	int opens;
};

/* Devices, regions and databases; growth of a mapping. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct dev_ctx *g_devs;
static struct db_entry *g_dbs;
/* The default VFS: temporary files, time, randomness, sleep. */
static sqlite3_vfs *g_base;
/*
 * Regions nobody has open stay mapped, so the next journal of a database
 * (a deletion and a creation each transaction in rollback mode) costs no
 * pool operation; past IDLE_MAX per device the least recently used one is
 * unmapped, giving back its address reservation.
 */
#define IDLE_MAX 8
static uint64_t g_clock;

struct dfile {
	sqlite3_file base;
	struct region *r;
	int flags;                 /* SQLITE_OPEN_* */
	int lock;                  /* SQLITE_LOCK_*, main database */
	struct daxmap_lock *lk;    /* main database: its lock owner */
	struct region *shm;        /* -shm, once xShmMap()ed */
	struct daxmap_lock *shmlk;
	sqlite3_int64 mmap_max;    /* PRAGMA mmap_size (SQLITE_FCNTL_MMAP_SIZE) */
};

/* An SQLite error code, with libdaxmap's sentence in SQLite's log. */
static int fail(int code, const char *what)
{
	sqlite3_log(code, "daxmap VFS: %s: %s", what, daxmap_errormsg());
	return code;
}

/* "123", "64K", "2M", "1G": bytes; 0 on a bad value. */
static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;

	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno)
		return 0;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	return *end ? 0 : v;
}

/* ---- devices ---- */

static struct dev_ctx *dev_find(const char *path)
{
	for (struct dev_ctx *d = g_devs; d; d = d->next)
		if (strcmp(d->path, path) == 0)
			return d;
	return NULL;
}

/* Under g_lock: the device at path, opened (with its pool) on first use. */
static int dev_get(const char *path, const char *align, const char *reserve,
		   struct dev_ctx **dp)
{
	struct dev_ctx *d = dev_find(path);
	int rc;

	if ((*dp = d))
		return SQLITE_OK;
	if (!(d = calloc(1, sizeof(*d))) || !(d->path = strdup(path))) {
		free(d);
		return SQLITE_NOMEM;
	}
	if ((rc = daxmap_dev_open(&d->dev, path, parse_size(align), 0)) == 0 &&
	    (rc = daxmap_pool_open(&d->pool, d->dev, 0)) != 0)
		daxmap_dev_close(d->dev);
	if (rc) {
		free(d->path);
		free(d);
		return fail(SQLITE_CANTOPEN, path);
	}
	d->reserve = parse_size(reserve);
	if (!d->reserve)
		d->reserve = daxmap_dev_size(d->dev);
	d->next = g_devs;
	g_devs = d;
	*dp = d;
	return SQLITE_OK;
}

static const char *param(const char *fname, const char *key, const char *env)
{
	const char *v = fname ? sqlite3_uri_parameter(fname, key) : NULL;

	return v ? v : getenv(env);
}

/* Under g_lock: the device of a main database file, from its URI or the
 * environment. */
static int dev_of_db(sqlite3_filename fname, struct dev_ctx **dp)
{
	const char *path = param(fname, "device", "DAXMAP_SQLITE_DEVICE");

	if (!path) {
		sqlite3_log(SQLITE_CANTOPEN,
			    "daxmap VFS: %s: no device: give ?device=/dev/daxX.Y or DAXMAP_SQLITE_DEVICE",
			    fname);
		return SQLITE_CANTOPEN;
	}
	return dev_get(path, param(fname, "align", "DAXMAP_SQLITE_ALIGN"),
		       param(fname, "reserve", "DAXMAP_SQLITE_RESERVE"), dp);
}

/* Is name the database fname itself, or one of its journal, WAL, -shm? */
static bool belongs_to(const char *name, const char *fname)
{
	size_t n = strlen(fname);

	return strncmp(name, fname, n) == 0 &&
	       (!name[n] || strcmp(name + n, "-journal") == 0 || strcmp(name + n, "-wal") == 0 ||
		strcmp(name + n, "-shm") == 0 || strncmp(name + n, "-mj", 3) == 0);
}

/* Under g_lock: the device of a file of an open database, else the one
 * the environment names. */
static int dev_of_name(const char *name, struct dev_ctx **dp)
{
	for (struct db_entry *e = g_dbs; e; e = e->next)
		if (belongs_to(name, e->fname)) {
			*dp = e->d;
			return SQLITE_OK;
		}
	return dev_of_db(NULL, dp);
}

/* ---- regions ---- */

/* The region name of a file: the name itself when it is a valid region
 * name, else a hash of it (the header tells collisions apart). */
static void region_name(const char *fname, char out[DAXMAP_NAME_MAX + 1])
{
	size_t n = strlen(fname);
	bool ok = n >= 1 && n <= DAXMAP_NAME_MAX;

	for (size_t i = 0; ok && i < n; i++)
		ok = fname[i] > 0x20 && fname[i] < 0x7f && fname[i] != '/';
	if (ok)
		memcpy(out, fname, n + 1);
	else
		snprintf(out, DAXMAP_NAME_MAX + 1, "sqlite-%016" PRIx64, (uint64_t)XXH64(fname, n, 0));
}

static int get_size(const struct region *r, uint64_t *size)
{
	if (daxmap_region_map_get_lsize(r->d->pool, r->map, size))
		return fail(SQLITE_IOERR_FSTAT, r->fname);
	return SQLITE_OK;
}

/* The file's size; a file that does not exist (DAXMAP_LSIZE_NONE) has 0. */
static int file_size(const struct region *r, uint64_t *size)
{
	int rc = get_size(r, size);

	if (rc == SQLITE_OK && *size == DAXMAP_LSIZE_NONE)
		*size = 0;
	return rc;
}

/* A new size, once the bytes written before it are durable (the drain):
 * a crash never leaves a size covering bytes that did not land. */
static int set_size(struct region *r, uint64_t size)
{
	daxmap_map_drain(r->map);
	if (daxmap_region_map_set_lsize(r->d->pool, r->map, size))
		return fail(SQLITE_IOERR_WRITE, r->fname);
	return SQLITE_OK;
}

static bool header_names(const struct file_hdr *h, const char *fname, size_t len)
{
	return memcmp(h->magic, HDR_MAGIC, 8) == 0 && h->namelen == len &&
	       memcmp(h->name, fname, len) == 0;
}

static void write_header(struct region *r, size_t len)
{
	struct file_hdr n;

	memset(&n, 0, sizeof(n));
	memcpy(n.magic, HDR_MAGIC, 8);
	n.version = 1;
	n.namelen = (uint32_t)len;
	memcpy(n.name, r->fname, len);
	daxmap_map_memcpy(r->map, daxmap_map_addr(r->map), &n, sizeof(n), 0);
}

/* A region this VFS did not just create, with no header: another process
 * creating the same file writes it right after the region; wait a little. */
static bool header_appears(const struct file_hdr *h)
{
	for (int i = 0; i < 100; i++) {
		if (memcmp((const char *)h->magic, HDR_MAGIC, 8) == 0)
			return true;
		sqlite3_sleep(10);
	}
	return false;
}

/*
 * The header of a file's region: 1 when it names the file (written now if
 * this process just created the region, if nobody had mapped the region
 * before (fresh: a create that died before its first mapping left it, and
 * it holds nothing), or if the region holds a deleted file: logical size
 * unset), 0 when the file does not exist and create is false, -SQLite
 * error. Any other region without a header is never written: it is someone
 * else's.
 */
static int region_header(struct region *r, bool create, bool created, bool fresh)
{
	struct file_hdr *h = daxmap_map_addr(r->map);
	size_t len = strlen(r->fname);
	uint64_t size;

	if (header_names(h, r->fname, len))
		return 1;
	if (created || (fresh && create)) {
		write_header(r, len);
		return 1;
	}
	if (get_size(r, &size))
		return -SQLITE_IOERR;
	if (!create && size == DAXMAP_LSIZE_NONE)
		return 0;
	if (size == DAXMAP_LSIZE_NONE && header_appears(h) && header_names(h, r->fname, len))
		return 1;
	if (memcmp(h->magic, HDR_MAGIC, 8) == 0 && size == DAXMAP_LSIZE_NONE) {
		/* a deleted file hashing to the same region: it is free */
		write_header(r, len);
		return 1;
	}
	if (memcmp(h->magic, HDR_MAGIC, 8) == 0)
		sqlite3_log(SQLITE_CANTOPEN, "daxmap VFS: region '%s' holds the file '%.*s', not '%s'",
			    r->rname, (int)(h->namelen < MAX_PATHNAME ? h->namelen : MAX_PATHNAME),
			    h->name, r->fname);
	else
		sqlite3_log(SQLITE_CANTOPEN,
			    "daxmap VFS: region '%s' holds no file of this VFS; 'daxmapctl remove' it to use the name '%s'",
			    r->rname, r->fname);
	return -SQLITE_CANTOPEN;
}

/* Under g_lock: map the region called rname, creating it if asked
 * (*created: by this call; *fresh: it existed, never mapped by anyone).
 * 0 when it does not exist and create is false. */
static int region_map(struct region *r, bool create, bool *created, bool *fresh)
{
	int rc;

	/* asked before the mapping, which makes it mapped */
	*fresh = daxmap_region_never_mapped(r->d->pool, r->rname) == 1;
	rc = daxmap_region_map_reserve(&r->map, r->d->pool, r->rname, r->d->reserve, 0);
	*created = false;
	if (rc == -ENOENT && create) {
		rc = daxmap_region_create(r->d->pool, r->rname, HDR_SIZE + 1, NULL);
		*created = rc == 0;
		if (rc == 0 || rc == -EEXIST) /* -EEXIST: another process made it */
			rc = daxmap_region_map_reserve(&r->map, r->d->pool, r->rname,
						       r->d->reserve, 0);
	}
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return -fail(SQLITE_CANTOPEN, r->fname);
	r->data = (char *)daxmap_map_addr(r->map) + HDR_SIZE;
	return 1;
}

/* Under g_lock: forget a region nobody has open, and unmap it. */
static void region_drop(struct region *r)
{
	struct region **pp;

	for (pp = &r->d->regions; *pp != r; pp = &(*pp)->next)
		;
	*pp = r->next;
	daxmap_map_delete(&r->map);
	free(r->fname);
	free(r);
}

/* Under g_lock: past IDLE_MAX idle regions on d, unmap the oldest. */
static void region_evict(struct dev_ctx *d)
{
	struct region *old = NULL;
	int idle = 0;

	for (struct region *r = d->regions; r; r = r->next)
		if (!r->opens) {
			idle++;
			if (!old || r->used < old->used)
				old = r;
		}
	if (idle > IDLE_MAX)
		region_drop(old);
}

/* Under g_lock: the region of file fname on d; NULL with *rc SQLITE_OK when
 * the file does not exist and create is false. */
static struct region *region_get(struct dev_ctx *d, const char *fname, bool create, int *rc)
{
	struct region *r;
	bool created, fresh;
	int got;

	*rc = SQLITE_OK;
	for (r = d->regions; r; r = r->next)
		if (strcmp(r->fname, fname) == 0) {
			r->used = ++g_clock;
			return r;
		}
	if (!(r = calloc(1, sizeof(*r))) || !(r->fname = strdup(fname))) {
		free(r);
		*rc = SQLITE_NOMEM;
		return NULL;
	}
	r->d = d;
	region_name(fname, r->rname);
	/* SQLite asks for files that do not exist before every transaction
	 * (a -wal in rollback mode, a -journal in WAL mode): no pool scan */
	if (!create && daxmap_region_exists(d->pool, r->rname) == 0) {
		free(r->fname);
		free(r);
		return NULL;
	}
	if ((got = region_map(r, create, &created, &fresh)) > 0 &&
	    (got = region_header(r, create, created, fresh)) <= 0)
		daxmap_map_delete(&r->map);
	if (got <= 0) {
		*rc = -got;
		free(r->fname);
		free(r);
		return NULL;
	}
	r->used = ++g_clock;
	r->opens++; /* not evicted by the eviction it makes room with */
	r->next = d->regions;
	d->regions = r;
	region_evict(d);
	r->opens--;
	return r;
}

/*
 * Make file bytes [0, end) mapped: map what the region gained in another
 * process, else grow it (doubling, within the reservation) and map that.
 * Addresses already handed out never move.
 */
static int region_fit(struct region *r, uint64_t end)
{
	uint64_t need = HDR_SIZE + end, cap = r->d->reserve, len;
	int rc = 0;

	if (need <= daxmap_map_len(r->map))
		return SQLITE_OK;
	if (need > cap) {
		sqlite3_log(SQLITE_FULL, "daxmap VFS: %s: %" PRIu64 " bytes do not fit the reservation of %" PRIu64,
			    r->fname, end, cap);
		return SQLITE_FULL;
	}
	pthread_mutex_lock(&g_lock);
	if (need > (len = daxmap_map_len(r->map)) &&
	    (rc = daxmap_region_map_extend(r->d->pool, r->map)) == 0 &&
	    need > (len = daxmap_map_len(r->map))) {
		uint64_t want = 2 * len > need ? 2 * len : need;

		rc = daxmap_region_grow(r->d->pool, r->rname, want < cap ? want : cap, NULL);
		if (rc == -ENOSPC)
			rc = daxmap_region_grow(r->d->pool, r->rname, need, NULL);
		if (rc == 0)
			rc = daxmap_region_map_extend(r->d->pool, r->map);
	}
	pthread_mutex_unlock(&g_lock);
	if (rc == -ENOSPC || rc == -EFBIG)
		return fail(SQLITE_FULL, r->fname);
	return rc ? fail(SQLITE_IOERR, r->fname) : SQLITE_OK;
}

/* Zero file bytes [from, to) (flushed, not drained). */
static void zero(struct region *r, uint64_t from, uint64_t to)
{
	if (to > from)
		daxmap_map_memset(r->map, r->data + from, 0, to - from, DAXMAP_F_NODRAIN);
}

/* ---- sqlite3_io_methods ---- */

static int x_read(sqlite3_file *pf, void *buf, int amt, sqlite3_int64 off)
{
	struct dfile *f = (struct dfile *)pf;
	uint64_t size, n = 0;
	int rc;

	if ((rc = file_size(f->r, &size)))
		return SQLITE_IOERR_READ;
	if ((uint64_t)off < size) {
		n = size - (uint64_t)off < (uint64_t)amt ? size - (uint64_t)off : (uint64_t)amt;
		if ((rc = region_fit(f->r, (uint64_t)off + n)))
			return rc;
		memcpy(buf, f->r->data + off, n);
	}
	if (n == (uint64_t)amt)
		return SQLITE_OK;
	/* past the end: zeros, and SQLite is told (it relies on both) */
	memset((char *)buf + n, 0, (size_t)amt - n);
	return SQLITE_IOERR_SHORT_READ;
}

static int x_write(sqlite3_file *pf, const void *buf, int amt, sqlite3_int64 off)
{
	struct dfile *f = (struct dfile *)pf;
	uint64_t size, end = (uint64_t)off + (uint64_t)amt;
	int rc;

	if ((rc = file_size(f->r, &size)) || (rc = region_fit(f->r, end)))
		return rc == SQLITE_FULL ? SQLITE_FULL : SQLITE_IOERR_WRITE;
	zero(f->r, size, (uint64_t)off); /* a hole reads as zeros */
	daxmap_map_memcpy(f->r->map, f->r->data + off, buf, (size_t)amt, DAXMAP_F_NODRAIN);
	return end > size ? set_size(f->r, end) : SQLITE_OK;
}

static int x_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
	struct dfile *f = (struct dfile *)pf;
	uint64_t cur;
	int rc;

	if ((rc = file_size(f->r, &cur)))
		return SQLITE_IOERR_TRUNCATE;
	if ((uint64_t)size > cur) {
		if ((rc = region_fit(f->r, (uint64_t)size)))
			return rc;
		zero(f->r, cur, (uint64_t)size);
	}
	return (uint64_t)size == cur ? SQLITE_OK : set_size(f->r, (uint64_t)size);
}

/* Writes were flushed as they were copied: a sync is the drain. */
static int x_sync(sqlite3_file *pf, int flags)
{
	struct dfile *f = (struct dfile *)pf;

	(void)flags;
	daxmap_map_drain(f->r->map);
	return SQLITE_OK;
}

static int x_file_size(sqlite3_file *pf, sqlite3_int64 *size)
{
	struct dfile *f = (struct dfile *)pf;
	uint64_t v;

	if (file_size(f->r, &v))
		return SQLITE_IOERR_FSTAT;
	*size = (sqlite3_int64)v;
	return SQLITE_OK;
}

/* One lock step: SQLITE_OK, SQLITE_BUSY (another owner), or an error. */
static int lock_step(struct daxmap_lock *lk, uint64_t start, uint64_t len,
		     enum daxmap_lock_type type, int ioerr)
{
	int rc = daxmap_lock_set(lk, start, len, type, 0);

	if (rc == -EAGAIN)
		return SQLITE_BUSY;
	return rc ? fail(ioerr, "lock") : SQLITE_OK;
}

/* os_unix.c's unixLock(): SHARED through a shared PENDING (a writer's
 * PENDING keeps new readers out), RESERVED, PENDING then EXCLUSIVE. */
static int x_lock(sqlite3_file *pf, int level)
{
	struct dfile *f = (struct dfile *)pf;
	int rc = SQLITE_OK;

	if (f->lock >= level)
		return SQLITE_OK;
	if (level == SQLITE_LOCK_SHARED) {
		if ((rc = lock_step(f->lk, LK_PENDING, 1, DAXMAP_LOCK_SHARED, SQLITE_IOERR_LOCK)))
			return rc;
		rc = lock_step(f->lk, LK_SHARED, LK_SHARED_N, DAXMAP_LOCK_SHARED, SQLITE_IOERR_LOCK);
		lock_step(f->lk, LK_PENDING, 1, DAXMAP_LOCK_UNLOCK, SQLITE_IOERR_UNLOCK);
	} else if (level == SQLITE_LOCK_RESERVED) {
		rc = lock_step(f->lk, LK_RESERVED, 1, DAXMAP_LOCK_EXCL, SQLITE_IOERR_LOCK);
	} else {
		if (f->lock < SQLITE_LOCK_PENDING) {
			if ((rc = lock_step(f->lk, LK_PENDING, 1, DAXMAP_LOCK_EXCL, SQLITE_IOERR_LOCK)))
				return rc;
			f->lock = SQLITE_LOCK_PENDING;
		}
		if (level == SQLITE_LOCK_EXCLUSIVE)
			rc = lock_step(f->lk, LK_SHARED, LK_SHARED_N, DAXMAP_LOCK_EXCL,
				       SQLITE_IOERR_LOCK);
	}
	if (rc == SQLITE_OK)
		f->lock = level;
	return rc;
}

static int x_unlock(sqlite3_file *pf, int level)
{
	struct dfile *f = (struct dfile *)pf;
	int rc = SQLITE_OK;

	if (f->lock <= level)
		return SQLITE_OK;
	if (level == SQLITE_LOCK_SHARED) {
		/* a converted lock: shared again, with no moment unlocked */
		if (f->lock == SQLITE_LOCK_EXCLUSIVE)
			rc = lock_step(f->lk, LK_SHARED, LK_SHARED_N, DAXMAP_LOCK_SHARED,
				       SQLITE_IOERR_RDLOCK);
		if (rc == SQLITE_OK)
			rc = lock_step(f->lk, LK_PENDING, 2, DAXMAP_LOCK_UNLOCK, SQLITE_IOERR_UNLOCK);
	} else {
		rc = lock_step(f->lk, 0, LK_SHARED + LK_SHARED_N, DAXMAP_LOCK_UNLOCK,
			       SQLITE_IOERR_UNLOCK);
	}
	if (rc == SQLITE_OK)
		f->lock = level;
	return rc;
}

static int x_check_reserved(sqlite3_file *pf, int *out)
{
	struct dfile *f = (struct dfile *)pf;
	int rc;

	if (f->lock >= SQLITE_LOCK_RESERVED) {
		*out = 1;
		return SQLITE_OK;
	}
	if ((rc = daxmap_lock_test(f->lk, LK_RESERVED, 1, DAXMAP_LOCK_EXCL)) < 0)
		return fail(SQLITE_IOERR_CHECKRESERVEDLOCK, f->r->fname);
	*out = rc;
	return SQLITE_OK;
}

static int x_file_control(sqlite3_file *pf, int op, void *arg)
{
	struct dfile *f = (struct dfile *)pf;

	switch (op) {
	case SQLITE_FCNTL_LOCKSTATE:
		*(int *)arg = f->lock;
		return SQLITE_OK;
	case SQLITE_FCNTL_VFSNAME:
		*(char **)arg = sqlite3_mprintf("%s", DAXMAP_SQLITE_VFS);
		return SQLITE_OK;
	case SQLITE_FCNTL_SIZE_HINT:
		return region_fit(f->r, (uint64_t)*(sqlite3_int64 *)arg);
	case SQLITE_FCNTL_MMAP_SIZE: {
		/* as os_unix.c: the old limit out, a new one (>= 0) in */
		sqlite3_int64 want = *(sqlite3_int64 *)arg;

		*(sqlite3_int64 *)arg = f->mmap_max;
		if (want >= 0)
			f->mmap_max = want;
		return SQLITE_OK;
	}
	case SQLITE_FCNTL_HAS_MOVED:
		*(int *)arg = 0;
		return SQLITE_OK;
	default:
		return SQLITE_NOTFOUND;
	}
}

static int x_sector_size(sqlite3_file *pf)
{
	(void)pf;
	return 4096;
}

/*
 * Persistent memory writes no byte outside a write (POWERSAFE_OVERWRITE);
 * a file's size moves only after the bytes it covers are durable
 * (SAFE_APPEND: set_size() drains first). Writes to different cache lines
 * may land in any order, so not SEQUENTIAL.
 */
static int x_device_characteristics(sqlite3_file *pf)
{
	(void)pf;
	return SQLITE_IOCAP_POWERSAFE_OVERWRITE | SQLITE_IOCAP_SAFE_APPEND;
}

/* ---- shared memory (the wal-index) in the -shm region ---- */

/* Under the dead-man switch held exclusively: clear the wal-index a
 * crashed or closed set of users left (SQLite rebuilds it from the WAL). */
static int shm_clear(struct region *shm)
{
	uint64_t size;
	int rc;

	if ((rc = file_size(shm, &size)) || (rc = region_fit(shm, size)))
		return rc;
	zero(shm, 0, size);
	return set_size(shm, 0);
}

static int shm_lock_init(struct dfile *f)
{
	int rc;

	if (daxmap_lock_open(&f->shmlk, f->r->d->pool, f->shm->rname))
		return fail(SQLITE_IOERR_SHMOPEN, f->shm->fname);
	/* the first user finds no one holding the switch */
	rc = daxmap_lock_set(f->shmlk, LK_DMS, 1, DAXMAP_LOCK_EXCL, 0);
	if (rc == 0 && (rc = shm_clear(f->shm)))
		return rc;
	if (rc && rc != -EAGAIN)
		return fail(SQLITE_IOERR_SHMOPEN, f->shm->fname);
	/* then every user holds it shared (waiting for a first user's clear) */
	if (daxmap_lock_set(f->shmlk, LK_DMS, 1, DAXMAP_LOCK_SHARED, DAXMAP_LOCK_WAIT))
		return fail(SQLITE_IOERR_SHMOPEN, f->shm->fname);
	return SQLITE_OK;
}

/* This connection's locks and use of the -shm region end. */
static void shm_close(struct dfile *f)
{
	daxmap_lock_close(&f->shmlk);
	pthread_mutex_lock(&g_lock);
	f->shm->opens--;
	pthread_mutex_unlock(&g_lock);
	f->shm = NULL;
}

static int shm_open(struct dfile *f)
{
	char *name = sqlite3_mprintf("%s-shm", f->r->fname);
	int rc;

	if (!name)
		return SQLITE_NOMEM;
	pthread_mutex_lock(&g_lock);
	if ((f->shm = region_get(f->r->d, name, true, &rc)))
		f->shm->opens++;
	pthread_mutex_unlock(&g_lock);
	sqlite3_free(name);
	if (!f->shm)
		return rc ? rc : SQLITE_CANTOPEN;
	if ((rc = shm_lock_init(f)))
		shm_close(f);
	return rc;
}

static int x_shm_map(sqlite3_file *pf, int page, int pgsz, int extend, void volatile **pp)
{
	struct dfile *f = (struct dfile *)pf;
	uint64_t end = ((uint64_t)page + 1) * (uint64_t)pgsz, size;
	int rc;

	*pp = NULL;
	if (!f->shm && (rc = shm_open(f)))
		return rc;
	/* the -shm region's logical size: how much of it was handed out */
	if ((rc = file_size(f->shm, &size)))
		return SQLITE_IOERR_SHMSIZE;
	if (end > size && !extend)
		return SQLITE_OK; /* as os_unix.c past the end of a short file */
	if ((rc = region_fit(f->shm, end)))
		return rc;
	if (end > size) { /* new pages start zeroed, as ftruncate's do */
		zero(f->shm, size, end);
		if ((rc = set_size(f->shm, end)))
			return SQLITE_IOERR_SHMSIZE;
	}
	*pp = f->shm->data + (uint64_t)page * (uint64_t)pgsz;
	return SQLITE_OK;
}

static int x_shm_lock(sqlite3_file *pf, int ofst, int n, int flags)
{
	struct dfile *f = (struct dfile *)pf;
	enum daxmap_lock_type type = (flags & SQLITE_SHM_UNLOCK) ? DAXMAP_LOCK_UNLOCK :
				     (flags & SQLITE_SHM_SHARED) ? DAXMAP_LOCK_SHARED :
								   DAXMAP_LOCK_EXCL;

	if (!f->shmlk)
		return SQLITE_IOERR_SHMLOCK;
	return lock_step(f->shmlk, (uint64_t)ofst, (uint64_t)n, type, SQLITE_IOERR_SHMLOCK);
}

static void x_shm_barrier(sqlite3_file *pf)
{
	(void)pf;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Closing the owner drops its shm locks and its share of the switch; the
 * region stays mapped (and its wal-index with it) for the next user. */
static int x_shm_unmap(sqlite3_file *pf, int delete_flag)
{
	struct dfile *f = (struct dfile *)pf;

	(void)delete_flag;
	if (f->shm)
		shm_close(f);
	return SQLITE_OK;
}

/* ---- xFetch: pages of the mapping itself (PRAGMA mmap_size) ---- */

static int x_fetch(sqlite3_file *pf, sqlite3_int64 off, int amt, void **pp)
{
	struct dfile *f = (struct dfile *)pf;
	uint64_t size, end = (uint64_t)off + (uint64_t)amt;

	*pp = NULL;
	if (f->mmap_max <= 0 || end > (uint64_t)f->mmap_max || file_size(f->r, &size) ||
	    end > size || region_fit(f->r, end))
		return SQLITE_OK; /* SQLite reads it with xRead instead */
	*pp = f->r->data + off;
	return SQLITE_OK;
}

/* The mapping never moves or shrinks: nothing to give back. */
static int x_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
	(void)pf;
	(void)off;
	(void)p;
	return SQLITE_OK;
}

static int x_close(sqlite3_file *pf);

static const sqlite3_io_methods io_methods = {
	.iVersion = 3,
	.xClose = x_close,
	.xRead = x_read,
	.xWrite = x_write,
	.xTruncate = x_truncate,
	.xSync = x_sync,
	.xFileSize = x_file_size,
	.xLock = x_lock,
	.xUnlock = x_unlock,
	.xCheckReservedLock = x_check_reserved,
	.xFileControl = x_file_control,
	.xSectorSize = x_sector_size,
	.xDeviceCharacteristics = x_device_characteristics,
	.xShmMap = x_shm_map,
	.xShmLock = x_shm_lock,
	.xShmBarrier = x_shm_barrier,
	.xShmUnmap = x_shm_unmap,
	.xFetch = x_fetch,
	.xUnfetch = x_unfetch,
};

/* ---- open databases ---- */

/* Under g_lock. */
static int db_add(const char *fname, struct dev_ctx *d)
{
	struct db_entry *e;

	for (e = g_dbs; e; e = e->next)
		if (strcmp(e->fname, fname) == 0 && e->d == d) {
			e->opens++;
			return SQLITE_OK;
		}
	if (!(e = calloc(1, sizeof(*e))) || !(e->fname = strdup(fname))) {
		free(e);
		return SQLITE_NOMEM;
	}
	e->d = d;
	e->opens = 1;
	e->next = g_dbs;
	g_dbs = e;
	return SQLITE_OK;
}

static void db_drop(const char *fname, struct dev_ctx *d)
{
	for (struct db_entry **pp = &g_dbs; *pp; pp = &(*pp)->next) {
		struct db_entry *e = *pp;

		if (strcmp(e->fname, fname) != 0 || e->d != d || --e->opens)
			continue;
		*pp = e->next;
		free(e->fname);
		free(e);
		return;
	}
}

static int x_close(sqlite3_file *pf)
{
	struct dfile *f = (struct dfile *)pf;

	x_shm_unmap(pf, 0);
	daxmap_lock_close(&f->lk);
	if (f->flags & SQLITE_OPEN_DELETEONCLOSE)
		daxmap_region_map_set_lsize(f->r->d->pool, f->r->map, DAXMAP_LSIZE_NONE);
	pthread_mutex_lock(&g_lock);
	f->r->opens--;
	if (f->flags & SQLITE_OPEN_MAIN_DB)
		db_drop(f->r->fname, f->r->d);
	pthread_mutex_unlock(&g_lock);
	return SQLITE_OK;
}

/* ---- sqlite3_vfs ---- */

#define TEMP_FILES (SQLITE_OPEN_TEMP_DB | SQLITE_OPEN_TEMP_JOURNAL | SQLITE_OPEN_SUBJOURNAL | \
		    SQLITE_OPEN_TRANSIENT_DB)

/* Under g_lock: the region of a file to open, created if asked. */
static int open_region(struct dfile *f, sqlite3_filename name, int flags)
{
	bool create = flags & SQLITE_OPEN_CREATE;
	struct dev_ctx *d;
	uint64_t size;
	int rc = (flags & SQLITE_OPEN_MAIN_DB) ? dev_of_db(name, &d) : dev_of_name(name, &d);

	if (rc)
		return rc;
	if (!(f->r = region_get(d, name, create, &rc)))
		return rc ? rc : SQLITE_CANTOPEN;
	if (flags & SQLITE_OPEN_SUPER_JOURNAL)
		f->r->transient = true;
	if ((rc = get_size(f->r, &size)))
		return SQLITE_CANTOPEN;
	if (size != DAXMAP_LSIZE_NONE && create && (flags & SQLITE_OPEN_EXCLUSIVE))
		return SQLITE_CANTOPEN; /* must not exist */
	if (size == DAXMAP_LSIZE_NONE && !create)
		return SQLITE_CANTOPEN; /* deleted */
	if (size == DAXMAP_LSIZE_NONE && (rc = set_size(f->r, 0)))
		return SQLITE_CANTOPEN;
	if (!(flags & SQLITE_OPEN_MAIN_DB))
		return SQLITE_OK;
	if (daxmap_lock_open(&f->lk, d->pool, f->r->rname))
		return fail(SQLITE_CANTOPEN, name);
	return db_add(name, d);
}

static int x_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *pf, int flags,
		  int *out)
{
	struct dfile *f = (struct dfile *)pf;
	int rc;

	(void)vfs;
	/* temporary files are the default VFS's, on this very sqlite3_file
	 * (szOsFile has room for its) */
	if (!name || (flags & TEMP_FILES))
		return g_base->xOpen(g_base, name, pf, flags, out);
	memset(f, 0, sizeof(*f));
	if (strlen(name) > MAX_PATHNAME)
		return SQLITE_CANTOPEN;
	pthread_mutex_lock(&g_lock);
	rc = open_region(f, name, flags);
	if (rc == SQLITE_OK)
		f->r->opens++;
	pthread_mutex_unlock(&g_lock);
	if (rc) {
		daxmap_lock_close(&f->lk);
		return rc;
	}
	f->flags = flags;
	f->base.pMethods = &io_methods;
	if (out)
		*out = flags;
	return SQLITE_OK;
}

/* Under g_lock: the region of an existing file, or NULL. */
static struct region *existing(const char *name, int *rc)
{
	struct dev_ctx *d;

	if ((*rc = dev_of_name(name, &d)))
		return NULL;
	return region_get(d, name, false, rc);
}

/*
 * Under g_lock: a super journal nobody has open is removed with its
 * region: each multi-database commit names a new one, which would
 * otherwise keep its extents for good. Another process that still maps it
 * (-EBUSY) only delays the free: the removal stands.
 */
static int region_remove(struct region *r)
{
	struct daxmap_pool *pool = r->d->pool;
	char rname[DAXMAP_NAME_MAX + 1];
	int rc;

	memcpy(rname, r->rname, sizeof(rname));
	region_drop(r);
	rc = daxmap_region_remove(pool, rname, 0);
	return rc == 0 || rc == -EBUSY ? SQLITE_OK : fail(SQLITE_IOERR_DELETE, "remove");
}

/* A deletion is one store: the logical size becomes "none" (a super
 * journal goes with its region). As for unlink(2), a file that is not
 * there is SQLITE_IOERR_DELETE_NOENT. */
static int x_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	struct region *r;
	uint64_t size;
	int rc;

	(void)vfs;
	(void)sync_dir;
	pthread_mutex_lock(&g_lock);
	if (!(r = existing(name, &rc)))
		rc = rc && rc != SQLITE_CANTOPEN ? rc : SQLITE_IOERR_DELETE_NOENT;
	else if (get_size(r, &size))
		rc = SQLITE_IOERR_DELETE;
	else if (size == DAXMAP_LSIZE_NONE)
		rc = SQLITE_IOERR_DELETE_NOENT;
	else if (daxmap_region_map_set_lsize(r->d->pool, r->map, DAXMAP_LSIZE_NONE))
		rc = fail(SQLITE_IOERR_DELETE, name);
	else
		rc = r->transient && !r->opens ? region_remove(r) : SQLITE_OK;
	pthread_mutex_unlock(&g_lock);
	return rc;
}

/* As os_unix.c: a file exists when it has a byte (an empty journal or WAL
 * is no file to SQLite). */
static int x_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	struct region *r;
	uint64_t size;
	int rc;

	(void)vfs;
	(void)flags;
	*out = 0;
	pthread_mutex_lock(&g_lock); /* r may be evicted once it is dropped */
	if (!(r = existing(name, &rc)))
		rc = rc == SQLITE_CANTOPEN ? SQLITE_OK : rc;
	else if (get_size(r, &size))
		rc = SQLITE_IOERR_ACCESS;
	else
		*out = size != DAXMAP_LSIZE_NONE && size > 0;
	pthread_mutex_unlock(&g_lock);
	return rc;
}

/* Names are the pool's, not the filesystem's: kept as given. */
static int x_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	if ((int)strlen(name) >= n)
		return SQLITE_CANTOPEN;
	memcpy(out, name, strlen(name) + 1);
	return SQLITE_OK;
}

static void *x_dlopen(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return g_base->xDlOpen(g_base, name);
}

static void x_dlerror(sqlite3_vfs *vfs, int n, char *msg)
{
	(void)vfs;
	g_base->xDlError(g_base, n, msg);
}

static void (*x_dlsym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	(void)vfs;
	return g_base->xDlSym(g_base, h, sym);
}

static void x_dlclose(sqlite3_vfs *vfs, void *h)
{
	(void)vfs;
	g_base->xDlClose(g_base, h);
}

static int x_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return g_base->xRandomness(g_base, n, out);
}

static int x_sleep(sqlite3_vfs *vfs, int us)
{
	(void)vfs;
	return g_base->xSleep(g_base, us);
}

static int x_current_time(sqlite3_vfs *vfs, double *t)
{
	(void)vfs;
	return g_base->xCurrentTime(g_base, t);
}

static int x_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *t)
{
	(void)vfs;
	return g_base->xCurrentTimeInt64(g_base, t);
}

/* libdaxmap's last sentence of this thread. */
static int x_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	if (n > 0)
		snprintf(out, (size_t)n, "%s", daxmap_errormsg());
	return 0;
}

static sqlite3_vfs daxmap_vfs = {
	.iVersion = 2,
	.mxPathname = MAX_PATHNAME,
	.zName = DAXMAP_SQLITE_VFS,
	.xOpen = x_open,
	.xDelete = x_delete,
	.xAccess = x_access,
	.xFullPathname = x_full_pathname,
	.xDlOpen = x_dlopen,
	.xDlError = x_dlerror,
	.xDlSym = x_dlsym,
	.xDlClose = x_dlclose,
	.xRandomness = x_randomness,
	.xSleep = x_sleep,
	.xCurrentTime = x_current_time,
	.xGetLastError = x_last_error,
	.xCurrentTimeInt64 = x_current_time64,
};

static int vfs_register(int make_default)
{
	int rc = SQLITE_OK;

	pthread_mutex_lock(&g_lock);
	if (!g_base && !(g_base = sqlite3_vfs_find(NULL)))
		rc = SQLITE_ERROR;
	if (rc == SQLITE_OK) {
		int base = g_base->szOsFile;

		daxmap_vfs.szOsFile = base > (int)sizeof(struct dfile) ? base : (int)sizeof(struct dfile);
	}
	pthread_mutex_unlock(&g_lock);
	return rc ? rc : sqlite3_vfs_register(&daxmap_vfs, make_default);
}

#ifdef DAXMAP_SQLITE_EXTENSION
/* The loadable extension (daxmapvfs.so): registered for good, whatever
 * connection loaded it. */
EXPORT int sqlite3_daxmapvfs_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api)
{
	int rc;

	(void)db;
	(void)errmsg;
	SQLITE_EXTENSION_INIT2(api);
	rc = vfs_register(0);
	return rc == SQLITE_OK ? SQLITE_OK_LOAD_PERMANENTLY : rc;
}

EXPORT int sqlite3_extension_init(sqlite3 *db, char **errmsg, const sqlite3_api_routines *api)
{
	return sqlite3_daxmapvfs_init(db, errmsg, api);
}
#else
EXPORT int daxmap_sqlite_register(int make_default)
{
	return vfs_register(make_default);
}
#endif
