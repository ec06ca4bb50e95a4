/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pool_handle.c -- a pool on a device: maps the metadata area and runs the
 * pool core on it under a cross-process lock (pool_handle.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <libpmem2.h>

#include "dev.h"
#include "error.h"
#include "pool_handle.h"
#include "util.h"

struct daxmap_pool {
	struct daxmap_dev *dev;
	struct daxmap_map *meta; /* the metadata area */
	struct persist_ops ops;
	struct pool_core core;
	uint64_t *bad;           /* extents with bad blocks the kernel reports */
	size_t nbad;
	struct ref_runtime *runtime; /* pool_runtime() */
	pthread_mutex_t lock;    /* one thread of this handle at a time */
	int lock_fd;             /* its own open file description (lock_open) */
};

static void map_flush(void *ctx, const void *addr, size_t len)
{
	daxmap_map_flush(ctx, addr, len);
}

static void map_drain(void *ctx)
{
	daxmap_map_drain(ctx);
}

/*
 * The pool lock is an OFD lock on byte 0 of the device, and OFD locks
 * belong to the open file description: two pool handles (or a format or
 * check) on one daxmap_dev would share dev->fd's, so that one's shared
 * lock downgrades the other's exclusive one and either unlock frees both.
 * Each holder locks through its own description, opened anew on the same
 * file with dev->fd's access mode (F_WRLCK needs a writable one).
 */
static int lock_open(const struct daxmap_dev *dev, int *fd)
{
	int mode = fcntl(dev->fd, F_GETFL), err;
	char self[64];

	mode = (mode < 0 ? O_RDONLY : mode & O_ACCMODE) | O_CLOEXEC;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", dev->fd);
	if ((*fd = open(self, mode)) >= 0 || (*fd = open(dev->path, mode)) >= 0) {
		dev_fd_own(*fd);
		return 0;
	}
	err = errno;
	return daxmap_err(err, "%s: cannot open it again for the pool lock: %s", dev->path,
			  strerror(err));
}

static void lock_close(int fd)
{
	dev_fd_disown(fd);
	close(fd);
}

/* Lock byte 0 of the device: exclusive for changes, shared for reads. */
static int pool_lock(const struct daxmap_dev *dev, int fd, bool excl)
{
	struct flock fl = { .l_type = (short)(excl ? F_WRLCK : F_RDLCK),
			    .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };

	while (fcntl(fd, F_OFD_SETLKW, &fl) != 0)
		if (errno != EINTR)
			return daxmap_err(errno, "%s: cannot lock the pool: %s",
					  dev->path, strerror(errno));
	return 0;
}

static void pool_unlock(int fd)
{
	struct flock fl = { .l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0,
			    .l_len = 1 };

	fcntl(fd, F_OFD_SETLK, &fl);
}

/* A transient holder (format, check): lock through a description of its
 * own, -1 on failure. */
static int lock_transient(const struct daxmap_dev *dev, bool excl, int *fd)
{
	int rc = lock_open(dev, fd);

	if (rc == 0 && (rc = pool_lock(dev, *fd, excl))) {
		lock_close(*fd);
		*fd = -1;
	}
	return rc;
}

static void unlock_transient(int fd)
{
	pool_unlock(fd);
	lock_close(fd);
}

static int need_fd(struct daxmap_dev *dev, bool write)
{
	if (!dev)
		return daxmap_err(EINVAL, "a device is required");
	if (dev->fd < 0)
		return daxmap_err(EBADF, "%s was opened with DAXMAP_DEV_QUERY", dev->path);
	if (write && (dev->flags & DAXMAP_DEV_RDONLY))
		return daxmap_err(EROFS, "%s was opened read-only", dev->path);
	return 0;
}

/* Read the superblocks from the first bytes of the device. */
static int read_sb(struct daxmap_dev *dev, struct pool_sb *sb, bool *from_backup)
{
	uint64_t len = pool_probe_len(dev->size, dev->align);
	struct daxmap_map *m;
	int rc;

	if (len < REGION_TABLE_OFF_1_1)
		return daxmap_err(ENODATA, "%s: too small to hold a pool", dev->path);
	rc = daxmap_map_new(&m, dev, 0, len, 0);
	if (rc)
		return rc;
	rc = pool_sb_read(daxmap_map_addr(m), len, dev->size, dev->align, sb, from_backup);
	daxmap_map_delete(&m);
	return rc;
}

/* Extents that hold a bad block the kernel knows of (libpmem2 badblocks:
 * libndctl for devdax/fsdax; nothing for files on other storage). */
static int bad_extents(struct daxmap_dev *dev, uint64_t extent_size,
		       uint64_t **out, size_t *n)
{
	struct pmem2_badblock_context *bbctx;
	struct pmem2_badblock bb;
	uint64_t *v = NULL;
	size_t cnt = 0, cap = 0;

	*out = NULL;
	*n = 0;
	if (dev->kind == DAXMAP_KIND_FILE || !dev->src ||
	    pmem2_badblock_context_new(&bbctx, dev->src) != 0)
		return 0;
	while (pmem2_badblock_next(bbctx, &bb) == 0) {
		for (uint64_t x = bb.offset / extent_size;
		     x <= (bb.offset + bb.length - 1) / extent_size; x++) {
			if (cnt == cap) {
				uint64_t *g = realloc(v, (cap = cap ? 2 * cap : 16) * sizeof(*v));
				if (!g) {
					free(v);
					pmem2_badblock_context_delete(&bbctx);
					return daxmap_err(ENOMEM, "out of memory");
				}
				v = g;
			}
			v[cnt++] = x;
		}
	}
	pmem2_badblock_context_delete(&bbctx);
	*out = v;
	*n = cnt;
	return 0;
}

#define FORMAT_FLAGS (DAXMAP_FORMAT_FORCE | DAXMAP_FORMAT_FORCE_IN_USE)

/* Under the lock: may the pool the device holds (read_sb() gave rc) be
 * formatted over? */
static int may_destroy(const struct daxmap_dev *dev, int rc, const struct pool_sb *old,
		       unsigned flags, pool_in_use_fn in_use)
{
	if (rc == -ENODATA)
		return 0;
	if (rc != 0 && rc != -EUCLEAN && rc != -ENOTSUP && rc != -EINVAL)
		return rc; /* could not even look: say why */
	if (!(flags & (DAXMAP_FORMAT_FORCE | DAXMAP_FORMAT_FORCE_IN_USE)))
		return daxmap_err(EEXIST,
				  "%s already holds a pool%s; formatting destroys it: pass DAXMAP_FORMAT_FORCE (daxmapctl format --force)",
				  dev->path, rc == 0 ? "" : rc == -EINVAL ? " (with other extents)" :
				  " (damaged or newer)");
	/* as mkfs refuses a mounted filesystem: only a stronger flag formats
	 * under live users (their mappings would alias the new pool) */
	if ((rc == 0 || rc == -EINVAL) && !(flags & DAXMAP_FORMAT_FORCE_IN_USE))
		return in_use(old);
	return 0;
}

int pool_format_device(struct daxmap_dev *dev, uint64_t extent_size, unsigned flags,
		       pool_in_use_fn in_use)
{
	struct persist_ops ops = { map_flush, map_drain, NULL, 0, 0 };
	struct daxmap_map *m;
	struct pool_sb sb, old;
	uint64_t *bad;
	size_t nbad;
	bool fb;
	int rc, lfd;

	if ((rc = need_fd(dev, true)))
		return rc;
	if (flags & ~FORMAT_FLAGS)
		return daxmap_err(EINVAL, "daxmap_pool_format: unknown flags 0x%x",
				  flags & ~FORMAT_FLAGS);
	if ((rc = pool_layout(&sb, dev->size, dev->align, extent_size)))
		return rc;
	if ((rc = lock_transient(dev, true, &lfd)))
		return rc;
	rc = read_sb(dev, &old, &fb);
	if ((rc = may_destroy(dev, rc, &old, flags, in_use))) {
		unlock_transient(lfd);
		return rc;
	}
	if ((rc = bad_extents(dev, sb.extent_size, &bad, &nbad)))
		goto out;
	if (getrandom(sb.uuid, sizeof(sb.uuid), 0) != sizeof(sb.uuid))
		memset(sb.uuid, 0, sizeof(sb.uuid)); /* uuid is informational */
	sb.format_time = (uint64_t)time(NULL);
	pool_sb_seal(&sb);
	rc = daxmap_map_new(&m, dev, 0, sb.meta_extents * sb.extent_size, 0);
	if (rc == 0) {
		ops.ctx = m;
		rc = pool_format_mem(daxmap_map_addr(m), &sb, bad, nbad, &ops);
		daxmap_map_delete(&m);
	}
	free(bad);
out:
	unlock_transient(lfd);
	return rc;
}

/* Map the metadata area sb describes and run the core on it, in place of
 * what the handle had (nothing at open). */
static int attach_core(struct daxmap_pool *p, const struct pool_sb *sb, bool rdonly)
{
	struct daxmap_map *m;
	struct pool_core core;
	int rc;

	if ((rc = daxmap_map_new(&m, p->dev, 0, sb->meta_extents * sb->extent_size, 0)))
		return rc;
	p->ops.ctx = m;
	rc = pool_core_open(&core, daxmap_map_addr(m), sb, rdonly, &p->ops, NULL, NULL);
	if (rc) {
		p->ops.ctx = p->meta;
		daxmap_map_delete(&m);
		return rc;
	}
	if (p->meta) {
		core.from_backup = p->core.from_backup;
		pool_core_close(&p->core);
		daxmap_map_delete(&p->meta);
	}
	p->core = core;
	p->meta = m;
	return 0;
}

/*
 * Under the lock: follow a change of the primary superblock since this
 * handle read it. Another process moved the pool to the 1.2 layout: the
 * metadata is mapped anew. A new pool (another uuid) under the handle is
 * refused. A damaged primary changes nothing (the superblock the handle
 * holds is the right one).
 */
static int follow_layout(struct daxmap_pool *p)
{
	const struct pool_sb *now = (const struct pool_sb *)(p->core.base + SB_PRIMARY_OFF);
	struct pool_sb sb = *now;

	if (memcmp(&sb, &p->core.sb, sizeof(sb)) == 0 ||
	    pool_sb_check(&sb, p->dev->size, p->dev->align) != 0)
		return 0;
	if (memcmp(sb.uuid, p->core.sb.uuid, sizeof(sb.uuid)) != 0)
		return daxmap_err(ESTALE,
				  "%s was formatted again after this pool handle was opened: close it and open the new pool",
				  p->dev->path);
	return attach_core(p, &sb, p->core.rdonly);
}

/*
 * Under the lock: re-read the tables if another process changed them
 * since this handle last looked (a 1.1 pool cannot say: always), and
 * finish what a dead process left.
 */
static int refresh(struct daxmap_pool *p)
{
	int rc = follow_layout(p);

	return rc ? rc : pool_refresh(&p->core);
}

int pool_begin(struct daxmap_pool *p, bool excl)
{
	int rc;

	if (!p)
		return daxmap_err(EINVAL, "a pool is required");
	/* the OFD lock is per open file description: it keeps other
	 * processes out, the mutex this handle's other threads */
	pthread_mutex_lock(&p->lock);
	if ((rc = pool_lock(p->dev, p->lock_fd, excl))) {
		pthread_mutex_unlock(&p->lock);
		return rc;
	}
	if ((rc = refresh(p))) {
		pool_end(p);
		return rc;
	}
	/* a block that went bad since format is never handed out */
	if (excl && p->nbad && p->core.problems == 0)
		pool_mark_bad(&p->core, p->bad, p->nbad, NULL, NULL);
	return 0;
}

/*
 * A 1.1 pool moves its backup superblock and tables to 2 MiB (1.2) when
 * that only takes free extents and the new tables do not overlap the old
 * (pool_migrate_mem()), under the exclusive lock. 0 also when the pool
 * stays 1.1 (pool_migration_blocked() says why; check reports it).
 */
static int migrate(struct daxmap_pool *p)
{
	const struct pool_sb old = p->core.sb;
	struct persist_ops ops = { map_flush, map_drain, NULL, 0, 0 };
	struct daxmap_map *m;
	struct pool_sb sb;
	char why[160];
	int rc;


	if (pool_migration_blocked(&p->core, &sb, why, sizeof(why)))
		return 0;
	if ((rc = daxmap_map_new(&m, p->dev, 0, sb.meta_extents * sb.extent_size, 0)))
		return rc;
	ops.ctx = m;
	pool_migrate_mem(daxmap_map_addr(m), &old, &sb, &ops);
	daxmap_map_delete(&m);
	p->ops.drains += ops.drains;
	p->ops.flushes += ops.flushes;
	return attach_core(p, &sb, false);
}

int pool_handle_open(struct daxmap_pool **poolp, struct daxmap_dev *dev, bool rdonly)
{
	struct daxmap_pool *p;
	struct pool_sb sb;
	bool fb;
	int rc;

	*poolp = NULL;
	if ((rc = need_fd(dev, false)))
		return rc;
	rdonly = rdonly || (dev->flags & DAXMAP_DEV_RDONLY);
	p = calloc(1, sizeof(*p));
	if (!p)
		return daxmap_err(ENOMEM, "out of memory");
	pthread_mutex_init(&p->lock, NULL);
	p->dev = dev;
	if ((rc = lock_open(dev, &p->lock_fd)))
		goto err_free;
	if ((rc = pool_lock(dev, p->lock_fd, !rdonly)))
		goto err_close;
	if ((rc = read_sb(dev, &sb, &fb)))
		goto err_unlock;
	p->ops = (struct persist_ops){ map_flush, map_drain, NULL, 0, 0 };
	if ((rc = attach_core(p, &sb, rdonly)))
		goto err_unlock;
	p->core.from_backup = fb;
	if (rc == 0 && (rc = bad_extents(dev, sb.extent_size, &p->bad, &p->nbad))) {
		pool_core_close(&p->core);
		goto err_unmap;
	}
	if (p->core.problems) {
		rc = daxmap_err(EUCLEAN,
				"%s: the pool metadata is inconsistent (%" PRIu64 " problem(s)); run 'daxmapctl check'",
				dev->path, p->core.problems);
		pool_core_close(&p->core);
		goto err_unmap;
	}
	if (!rdonly && p->nbad)
		pool_mark_bad(&p->core, p->bad, p->nbad, NULL, NULL);
	/* the backup was read (a format cut short before its last store, or
	 * a damaged primary): the superblock never changes after format, so
	 * a writer restores the primary from it, as check --repair does */
	if (!rdonly && fb) {
		pool_sb_restore(&p->core);
		p->core.from_backup = false;
	}
	if (!rdonly && p->core.sb.minor < 2 && (rc = migrate(p))) {
		pool_core_close(&p->core);
		goto err_unmap;
	}
	pool_unlock(p->lock_fd);
	*poolp = p;
	return 0;

err_unmap:
	free(p->bad);
	daxmap_map_delete(&p->meta);
err_unlock:
	pool_unlock(p->lock_fd);
err_close:
	lock_close(p->lock_fd);
err_free:
	pthread_mutex_destroy(&p->lock);
	free(p);
	return rc;
}

void pool_handle_close(struct daxmap_pool *pool)
{
	pool_core_close(&pool->core);
	daxmap_map_delete(&pool->meta);
	free(pool->bad);
	lock_close(pool->lock_fd);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

struct check_ctx {
	daxmap_report_fn fn;
	void *arg;
};

static void check_report(void *arg, const char *msg)
{
	struct check_ctx *c = arg;

	if (c->fn)
		c->fn(c->arg, msg);
}

/* The findings that are not problems of the tables: bad blocks inside
 * regions, a damaged primary superblock. How many problems they are. */
static long check_device_findings(struct daxmap_dev *dev, struct pool_core *core,
				  bool fb, bool repair, struct check_ctx *cc)
{
	long problems = 0;
	uint64_t *bad;
	size_t nbad;

	if (bad_extents(dev, core->sb.extent_size, &bad, &nbad) == 0) {
		/* read-only core: reports, marks nothing */
		problems += pool_mark_bad(core, bad, nbad, check_report, cc);
		free(bad);
	}
	if (fb) {
		check_report(cc, repair ? "primary superblock is damaged: restored from the backup" :
					  "primary superblock is damaged; the backup is intact");
		problems++;
	}
	if (core->sb.minor < 2) {
		struct pool_sb sb;
		char why[160], msg[400];

		if (pool_migration_blocked(core, &sb, why, sizeof(why)))
			snprintf(msg, sizeof(msg),
				 "format 1.1: the backup superblock sits at 64 KiB, where a tool writing the start of the device reaches both; the pool cannot move to 1.2: %s",
				 why);
		else
			snprintf(msg, sizeof(msg),
				 "format 1.1: the next open for writing moves the backup superblock and the tables to 2 MiB (format 1.2)");
		check_report(cc, msg);
	}
	if (core->norphan || core->nzap) {
		char msg[160];

		snprintf(msg, sizeof(msg),
			 "%" PRIu64 " extent(s) left by interrupted operations%s; %" PRIu64
			 " region(s) releasing extents (reclaim frees them once no reference covers them)",
			 core->norphan, repair ? ": cleared" : " (open clears them)", core->nzap);
		check_report(cc, msg);
	}
	return problems;
}

int pool_check_device(struct daxmap_dev *dev, bool repair, pool_report_fn report, void *arg)
{
	struct persist_ops ops = { map_flush, map_drain, NULL, 0, 0 };
	struct check_ctx cc = { report, arg };
	struct pool_core core;
	struct daxmap_map *m = NULL;
	struct pool_sb sb;
	long problems;
	bool fb;
	int rc, lfd;

	if ((rc = need_fd(dev, repair)))
		return rc;
	if ((rc = lock_transient(dev, repair, &lfd)))
		return rc;
	if ((rc = read_sb(dev, &sb, &fb)))
		goto out;
	if ((rc = daxmap_map_new(&m, dev, 0, sb.meta_extents * sb.extent_size, 0)))
		goto out;
	ops.ctx = m;
	/* read-only: nothing on the device changes unless asked to repair */
	if ((rc = pool_core_open(&core, daxmap_map_addr(m), &sb, true, &ops,
				 check_report, &cc)))
		goto out;
	problems = (long)core.problems + check_device_findings(dev, &core, fb, repair, &cc);
	if (repair && core.problems == 0) {
		if (fb)
			pool_sb_restore(&core);
		pool_recover(&core);
	}
	pool_core_close(&core);
	rc = (int)(problems > INT32_MAX ? INT32_MAX : problems);
out:
	daxmap_map_delete(&m);
	unlock_transient(lfd);
	return rc;
}

/* Internal (not exported): fences and flushes this pool handle has issued,
 * for benchmarks and tests that hold the fence budget to account. */
uint64_t pool_drains(const struct daxmap_pool *pool)
{
	return pool->ops.drains;
}

uint64_t pool_flushes(const struct daxmap_pool *pool)
{
	return pool->ops.flushes;
}

int pool_view_begin(struct daxmap_pool *p)
{
	if (!p)
		return 1; /* pool_begin() says what is wrong */
	pthread_mutex_lock(&p->lock);
	if (pool_view_current(&p->core))
		return 0;
	pthread_mutex_unlock(&p->lock);
	return 1;
}

bool pool_view_end(struct daxmap_pool *p)
{
	bool same = pool_view_current(&p->core);

	pthread_mutex_unlock(&p->lock);
	return same;
}

int pool_begin_read(struct daxmap_pool *pool, bool present, const char *fn,
		    const char *required)
{
	if (!present)
		return daxmap_err(EINVAL, "%s: %s are required", fn, required);
	return pool_begin(pool, false);
}

void pool_lock_local(struct daxmap_pool *pool)
{
	pthread_mutex_lock(&pool->lock);
}

void pool_unlock_local(struct daxmap_pool *pool)
{
	pthread_mutex_unlock(&pool->lock);
}

/*
 * The device's lock space: byte 0 is the pool lock; the region in slot at
 * gen has DAXMAP_LOCK_SPAN bytes at (slot + 1) << 51 | gen << 27, past any
 * other region's (a slot reused by a new region has a new gen), and all
 * below 2^62, inside off_t. Lock bytes need not lie inside the device:
 * fcntl(2) locks any offset of any file, character devices included.
 */
_Static_assert(REGION_SLOTS + 1 <= (1ULL << 11) && GEN_BITS == 24 &&
	       DAXMAP_LOCK_SPAN == (1ULL << 27), "region lock spaces fit below 2^62");

uint64_t pool_region_lock_base(uint64_t slot, uint64_t gen)
{
	return ((slot + 1) << 51) | ((gen & GEN_MASK) << 27);
}

int pool_lock_owner(struct daxmap_pool *pool, int *fd)
{
	return lock_open(pool->dev, fd);
}

int pool_lock_range(struct daxmap_pool *pool, int fd, uint64_t off, uint64_t len,
		    short type, bool wait)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = (off_t)off,
			    .l_len = (off_t)len };
	int rc;

	while ((rc = fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl)) != 0 && errno == EINTR)
		;
	if (rc == 0)
		return 0;
	if (errno == EAGAIN || errno == EACCES)
		return daxmap_err(EAGAIN, "another lock owner holds a conflicting lock");
	return daxmap_err(errno, "%s: cannot lock: %s", pool->dev->path, strerror(errno));
}

int pool_lock_probe(struct daxmap_pool *pool, int fd, uint64_t off, uint64_t len, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = (off_t)off,
			    .l_len = (off_t)len };

	if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
		return daxmap_err(errno, "%s: cannot test a lock: %s", pool->dev->path,
				  strerror(errno));
	return fl.l_type != F_UNLCK;
}

void pool_end(struct daxmap_pool *pool)
{
	pool_unlock(pool->lock_fd);
	pthread_mutex_unlock(&pool->lock);
}

struct pool_core *pool_core(struct daxmap_pool *pool)
{
	return &pool->core;
}

struct daxmap_dev *pool_dev(struct daxmap_pool *pool)
{
	return pool->dev;
}

bool pool_rdonly(const struct daxmap_pool *pool)
{
	return pool->core.rdonly;
}

const uint8_t *pool_uuid(const struct daxmap_pool *pool)
{
	return pool->core.sb.uuid;
}

uint64_t pool_nextents(const struct daxmap_pool *pool)
{
	return pool->core.sb.nextents;
}

struct ref_runtime **pool_runtime(struct daxmap_pool *pool)
{
	return &pool->runtime;
}
