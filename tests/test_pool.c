/* SPDX-License-Identifier: BSD-3-Clause */
/* test_pool.c -- pools and regions through the public API, on emulated devices */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xxhash.h>

#include <daxmap.h>

#include "child.h"
#include "core_ops.h"
#include "helpers.h"
#include "lib/format.h"
#include "lib/pool_core.h"
#include "lib/pool_handle.h"

#define ES (2 * MiB)

static void poke(const struct daxmap_dev *dev, uint64_t off, const void *data, size_t len)
{
	int fd = open(daxmap_dev_path(dev), O_RDWR);

	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, data, len, (off_t)off), (ssize_t)len);
	close(fd);
}

Test(pool, format_open_stat)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_pool_stat st;

	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.extent_size, ES);
	cr_assert_eq(st.extents_total, 32);
	/* the primary superblock alone in the first 2 MiB, the rest after */
	cr_assert_eq(st.extents_meta, 2);
	cr_assert_eq(st.extents_free, 30);
	cr_assert_eq(st.extents_used + st.extents_bad, 0);
	cr_assert_eq(st.regions, 0);
	cr_assert_eq(st.version_major, 1);
	cr_assert_eq(st.version_minor, 2);
	cr_assert_eq(st.from_backup, 0);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(pool, create_rounds_up_and_persists)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_region_info *ri;
	struct daxmap_pool_stat st;
	struct daxmap_map *map;
	uint64_t actual = 0;
	size_t n;

	cr_assert_eq(daxmap_region_create(pool, "wal", 3 * MiB, &actual), 0, "%s", daxmap_errormsg());
	cr_assert_eq(actual, 4 * MiB);
	cr_assert_eq(daxmap_region_map(&map, pool, "wal", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_map_len(map), 4 * MiB);
	daxmap_map_memcpy(map, (char *)daxmap_map_addr(map) + 3 * MiB, "log record", 11, 0);
	daxmap_map_delete(&map);
	daxmap_pool_close(pool);

	/* a new open sees the region and its data */
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_list(pool, &ri, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(ri[0].name, "wal");
	cr_assert_eq(ri[0].size, 4 * MiB);
	cr_assert_eq(ri[0].extents, 2);
	cr_assert_gt(ri[0].ctime, 0);
	daxmap_region_list_free(ri);
	cr_assert_eq(daxmap_region_map(&map, pool, "wal", 0), 0);
	cr_assert_str_eq((char *)daxmap_map_addr(map) + 3 * MiB, "log record");
	daxmap_map_delete(&map);
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.extents_used, 2);
	cr_assert_eq(st.extents_free, 28);
	cr_assert_eq(st.regions, 1);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(pool, scattered_extents_map_contiguously)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_range *r;
	struct daxmap_map *map;
	size_t n;
	char *a;

	cr_assert_eq(daxmap_region_create(pool, "a", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_create(pool, "b", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_create(pool, "c", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_map(&map, pool, "a", 0), 0);
	strcpy(daxmap_map_addr(map), "first extent of a");
	daxmap_map_persist(map, daxmap_map_addr(map), 18);
	daxmap_map_delete(&map);
	cr_assert_eq(daxmap_region_remove(pool, "b", 0), 0);
	cr_assert_eq(daxmap_region_resize(pool, "a", 6 * MiB, NULL, 0), 0, "%s", daxmap_errormsg());
	/* a = extent 2, then b's old extent 3, then extent 5 */
	cr_assert_eq(daxmap_region_ranges(pool, "a", &r, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert_eq(r[0].offset, 2 * ES);
	cr_assert_eq(r[0].len, 2 * ES);
	cr_assert_eq(r[1].offset, 5 * ES);
	cr_assert_eq(r[1].len, ES);
	free(r);
	cr_assert_eq(daxmap_region_map(&map, pool, "a", 0), 0);
	a = daxmap_map_addr(map);
	cr_assert_eq(daxmap_map_len(map), 6 * MiB);
	cr_assert_str_eq(a, "first extent of a");
	daxmap_map_memcpy(map, a + 4 * MiB, "third", 6, 0);
	daxmap_map_delete(&map);
	/* "third" landed in device extent 5 */
	{
		char buf[6];
		int fd = open(daxmap_dev_path(dev), O_RDONLY);

		cr_assert_eq(pread(fd, buf, 6, (off_t)(5 * ES)), 6);
		close(fd);
		cr_assert_str_eq(buf, "third");
	}
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(pool, shrink_and_remove_free_extents)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_pool_stat st;
	uint64_t actual;

	cr_assert_eq(daxmap_region_create(pool, "t", 20 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_resize(pool, "t", 5 * MiB, &actual, 0), 0);
	cr_assert_eq(actual, 6 * MiB);
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.extents_used, 3);
	cr_assert_eq(daxmap_region_remove(pool, "t", 0), 0);
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.extents_used, 0);
	cr_assert_eq(st.extents_free, 30);
	cr_assert_eq(st.regions, 0);
	/* the name is free again */
	cr_assert_eq(daxmap_region_create(pool, "t", 60 * MiB, NULL), 0, "%s", daxmap_errormsg());
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(pool, bad_input_changes_nothing)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	char longname[80];
	uint64_t h;

	cr_assert_eq(daxmap_region_create(pool, "keep", 10 * MiB, NULL), 0);
	h = dev_hash(dev);
	memset(longname, 'x', 64);
	longname[64] = '\0';

	cr_assert_eq(daxmap_region_create(pool, "keep", 2 * MiB, NULL), -EEXIST);
	cr_assert(strstr(daxmap_errormsg(), "'keep' exists already"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_create(pool, longname, 2 * MiB, NULL), -ENAMETOOLONG);
	cr_assert(strstr(daxmap_errormsg(), "longer than 63 bytes"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_create(pool, "has space", 2 * MiB, NULL), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "0x20 at 3"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_create(pool, "", 2 * MiB, NULL), -EINVAL);
	cr_assert_eq(daxmap_region_create(pool, NULL, 2 * MiB, NULL), -EINVAL);
	cr_assert_eq(daxmap_region_create(pool, "zero", 0, NULL), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "size 0"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_create(pool, "huge", 60 * MiB, NULL), -ENOSPC);
	cr_assert_str_eq(daxmap_errormsg(),
			 "60 MiB needs 30 extent(s) of 2 MiB but only 25 (50 MiB) are free");
	cr_assert_eq(daxmap_region_resize(pool, "keep", 64 * MiB, NULL, 0), -ENOSPC);
	cr_assert_eq(daxmap_region_resize(pool, "missing", 2 * MiB, NULL, 0), -ENOENT);
	cr_assert(strstr(daxmap_errormsg(), "no region named 'missing'"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_resize(pool, "keep", 0, NULL, 0), -EINVAL);
	cr_assert_eq(daxmap_region_remove(pool, "missing", 0), -ENOENT);
	cr_assert_eq(daxmap_region_remove(pool, NULL, 0), -EINVAL);
	cr_assert_eq(daxmap_pool_format(dev, 0, 0), -EEXIST);
	cr_assert(strstr(daxmap_errormsg(), "already holds a pool"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_format(dev, 3 * MiB, DAXMAP_FORMAT_FORCE), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "not a multiple of the device alignment 2 MiB"),
		  "%s", daxmap_errormsg());
	cr_assert_eq(dev_hash(dev), h, "a refused operation wrote to the device");
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(pool, force_format_replaces)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_pool_stat st;

	cr_assert_eq(daxmap_region_create(pool, "old", 2 * MiB, NULL), 0);
	daxmap_pool_close(pool);
	cr_assert_eq(daxmap_pool_format(dev, 4 * MiB, DAXMAP_FORMAT_FORCE), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0);
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.regions, 0);
	cr_assert_eq(st.extent_size, 4 * MiB);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(pool, too_small_for_a_pool)
{
	struct daxmap_dev *dev = new_dev(4 * MiB);

	cr_assert_eq(daxmap_pool_format(dev, 0, 0), -ENOSPC);
	cr_assert(strstr(daxmap_errormsg(), "holds 2 extent(s) of 2 MiB, but the metadata needs 2"),
		  "%s", daxmap_errormsg());
	daxmap_dev_close(dev);
}

Test(pool, not_a_pool)
{
	struct daxmap_dev *dev = new_dev(8 * MiB);
	struct daxmap_pool *pool;

	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), -ENODATA);
	cr_assert(strstr(daxmap_errormsg(), "not a libdaxmap pool"), "%s", daxmap_errormsg());
	cr_assert_null(pool);
	cr_assert_eq(daxmap_pool_check(dev, 0, NULL, NULL), -ENODATA);
	daxmap_dev_close(dev);
}

static void collect(void *arg, const char *msg)
{
	char *buf = arg;

	strncat(buf, msg, 1023 - strlen(buf));
	strncat(buf, "\n", 1023 - strlen(buf));
}

Test(pool, corrupt_primary_falls_back_to_backup)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_pool_stat st;
	char report[1024] = "";

	cr_assert_eq(daxmap_region_create(pool, "r", 2 * MiB, NULL), 0);
	daxmap_pool_close(pool);
	poke(dev, 40, "garbage", 7); /* inside the primary superblock */

	cr_assert_eq(daxmap_pool_open(&pool, dev, DAXMAP_POOL_RDONLY), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.from_backup, 1);
	cr_assert_eq(st.regions, 1);
	daxmap_pool_close(pool);

	cr_assert_eq(daxmap_pool_check(dev, 0, collect, report), 1);
	cr_assert(strstr(report, "primary superblock is damaged; the backup is intact"), "%s", report);
	report[0] = '\0';
	cr_assert_eq(daxmap_pool_check(dev, DAXMAP_CHECK_REPAIR, collect, report), 1);
	cr_assert(strstr(report, "restored from the backup"), "%s", report);
	cr_assert_eq(daxmap_pool_check(dev, 0, NULL, NULL), 0, "repair did not stick");
	daxmap_dev_close(dev);
}

/* A format killed after its backup superblock, before its primary: the
 * pool works from the backup, and the first writer restores the primary
 * (check was left reporting damage forever). */
Test(pool, a_writer_restores_a_primary_the_format_did_not_finish)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_pool_stat st;

	daxmap_pool_close(pool);
	poke(dev, 0, "DAXMAPFX", 8); /* format's in-progress magic */
	cr_assert_eq(daxmap_pool_check(dev, 0, NULL, NULL), 1);
	cr_assert_eq(daxmap_pool_open(&pool, dev, DAXMAP_POOL_RDONLY), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_check(dev, 0, NULL, NULL), 1, "a read-only open wrote");
	daxmap_pool_close(pool);
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.from_backup, 0);
	cr_assert_eq(daxmap_region_create(pool, "r", 2 * MiB, NULL), 0);
	daxmap_pool_close(pool);
	cr_assert_eq(daxmap_pool_check(dev, 0, NULL, NULL), 0, "the primary was not restored");
	daxmap_dev_close(dev);
}

Test(pool, both_superblocks_corrupt)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	uint64_t h;

	daxmap_pool_close(pool);
	poke(dev, 40, "garbage", 7);
	poke(dev, SB_BACKUP_OFF + 40, "garbage", 7);
	h = dev_hash(dev);
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), -EUCLEAN);
	cr_assert(strstr(daxmap_errormsg(), "primary superblock: superblock checksum mismatch; backup superblock: superblock checksum mismatch"),
		  "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_check(dev, DAXMAP_CHECK_REPAIR, NULL, NULL), -EUCLEAN);
	cr_assert_eq(dev_hash(dev), h);
	daxmap_dev_close(dev);
}

/* Rewrite both superblocks through fn, resealed. */
static void edit_sb(struct daxmap_dev *dev, void (*fn)(struct pool_sb *))
{
	struct pool_sb sb;
	int fd = open(daxmap_dev_path(dev), O_RDWR);

	cr_assert_eq(pread(fd, &sb, sizeof(sb), 0), (ssize_t)sizeof(sb));
	fn(&sb);
	sb.checksum = 0;
	sb.checksum = XXH64(&sb, sizeof(sb), 0);
	cr_assert_eq(pwrite(fd, &sb, sizeof(sb), 0), (ssize_t)sizeof(sb));
	cr_assert_eq(pwrite(fd, &sb, sizeof(sb), SB_BACKUP_OFF), (ssize_t)sizeof(sb));
	close(fd);
}

static void newer(struct pool_sb *sb)
{
	sb->major = 2;
}

Test(pool, newer_format_version_refused)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);

	daxmap_pool_close(pool);
	edit_sb(dev, newer);
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), -ENOTSUP);
	cr_assert_str_eq(daxmap_errormsg(),
			 "pool format version 2.2 is newer than this libdaxmap's 1.2; upgrade libdaxmap");
	daxmap_dev_close(dev);
}

Test(pool, truncated_device_refused)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	char path[256];

	daxmap_pool_close(pool);
	snprintf(path, sizeof(path), "%s", daxmap_dev_path(dev));
	daxmap_dev_close(dev);
	cr_assert_eq(truncate(path, 32 * MiB), 0);
	cr_assert_eq(daxmap_dev_open(&dev, path, 0, 0), 0);
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), -EUCLEAN);
	cr_assert(strstr(daxmap_errormsg(), "formatted for 64 MiB but the device has 32 MiB (truncated?)"),
		  "%s", daxmap_errormsg());
	daxmap_dev_close(dev);
}

Test(pool, read_only_pool)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);

	daxmap_pool_close(pool);
	cr_assert_eq(daxmap_pool_open(&pool, dev, DAXMAP_POOL_RDONLY), 0);
	cr_assert_eq(daxmap_region_create(pool, "x", 2 * MiB, NULL), -EROFS);
	daxmap_pool_close(pool);
	cr_assert_eq(daxmap_pool_open(&pool, dev, 1U << 9), -EINVAL);
	cr_assert_eq(daxmap_pool_open(NULL, dev, 0), -EINVAL);
	daxmap_dev_close(dev);
}

Test(pool, processes_share_a_pool)
{
	struct daxmap_dev *dev = new_dev(128 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_pool_stat st;
	const int nproc = 4, per = 6;

	daxmap_pool_close(pool);
	for (int p = 0; p < nproc; p++) {
		if (fork() == 0) {
			struct daxmap_dev *d;
			struct daxmap_pool *q;
			char name[32];
			int bad = 0;

			/* each child opens the device itself, as another program would */
			if (daxmap_dev_open(&d, daxmap_dev_path(dev), 0, 0) ||
			    daxmap_pool_open(&q, d, 0))
				_exit(10);
			for (int i = 0; i < per; i++) {
				snprintf(name, sizeof(name), "p%d-r%d", p, i);
				bad += daxmap_region_create(q, name, 2 * MiB, NULL) != 0;
				if (i % 2)
					bad += daxmap_region_resize(q, name, 4 * MiB, NULL, 0) != 0;
			}
			snprintf(name, sizeof(name), "p%d-r0", p);
			bad += daxmap_region_remove(q, name, 0) != 0;
			daxmap_pool_close(q);
			daxmap_dev_close(d);
			_exit(bad);
		}
	}
	for (int p = 0; p < nproc; p++) {
		int status;

		cr_assert_gt(wait(&status), 0);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a child failed (%d)", status);
	}
	cr_assert_eq(daxmap_pool_check(dev, 0, NULL, NULL), 0);
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0);
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.regions, (uint32_t)(nproc * (per - 1)));
	/* per process: 5 regions left, r1, r3, r5 of 2 extents, r2, r4 of 1 */
	cr_assert_eq(st.extents_used, (uint64_t)nproc * 8);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(pool, own_mappings_are_zapped_by_a_release)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_map *map, *map2;
	struct daxmap_pool_stat st;
	uint64_t actual;

	cr_assert_eq(daxmap_region_create(pool, "busy", 6 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_map(&map, pool, "busy", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map(&map2, pool, "busy", 0), 0, "%s", daxmap_errormsg());
	/* this process's own mappings do not hold a release back: they are
	 * zapped, as a truncate of an fsdax file breaks the layouts first
	 * (dax_layout_busy_page(), fs/dax.c) */
	cr_assert_eq(daxmap_region_resize(pool, "busy", 2 * MiB, &actual, 0), 0, "%s",
		     daxmap_errormsg());
	cr_assert_eq(actual, 2 * MiB);
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.extents_used, 1);
	cr_assert_eq(st.extents_releasing, 0);
	cr_assert_eq(daxmap_region_remove(pool, "busy", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.extents_used, 0);
	cr_assert_eq(st.regions, 0);
	cr_assert_eq(daxmap_map_delete(&map), 0);
	cr_assert_eq(daxmap_map_delete(&map2), 0);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(pool, a_killed_holder_does_not_block_removal)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct child c;
	char want[32];

	cr_assert_eq(daxmap_region_create(pool, "r", 4 * MiB, NULL), 0);
	c = child_mapping(daxmap_dev_path(dev), "r");
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), -EBUSY);
	snprintf(want, sizeof(want), "pid %d", (int)c.pid);
	cr_assert(strstr(daxmap_errormsg(), want), "%s", daxmap_errormsg());
	child_kill(&c);
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), 0, "%s", daxmap_errormsg());
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(pool, a_forked_child_does_not_inherit_region_mappings)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_map *map;
	volatile char *a;
	pid_t c;
	int st;

	cr_assert_eq(daxmap_region_create(pool, "r", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_map(&map, pool, "r", 0), 0);
	a = daxmap_map_addr(map);
	a[0] = 1;
	c = fork();
	if (c == 0) {
		(void)a[0]; /* MADV_DONTFORK: not mapped in the child */
		_exit(0);
	}
	cr_assert_eq(waitpid(c, &st, 0), c);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV, "the child could read the region (%d)", st);
	daxmap_map_delete(&map);
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), 0, "%s", daxmap_errormsg());
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(pool, every_entry_point_refuses_bad_arguments)
{
	struct daxmap_dev *dev = new_dev(64 * MiB), *q, *ro;
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_region_info *ri;
	struct daxmap_pool_stat st;
	struct daxmap_range *r;
	struct daxmap_map *map = (struct daxmap_map *)0x1;
	uint64_t *bad;
	size_t n;

	cr_assert_eq(daxmap_region_create(pool, "r", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_pool_stat(pool, NULL), -EINVAL);
	cr_assert_eq(daxmap_pool_stat(NULL, &st), -EINVAL);
	cr_assert_eq(daxmap_pool_bad_extents(pool, NULL, &n), -EINVAL);
	cr_assert_eq(daxmap_pool_bad_extents(pool, &bad, &n), 0);
	cr_assert_eq(n, 0, "an emulated device has no bad blocks");
	free(bad);
	cr_assert_eq(daxmap_region_list(pool, NULL, &n), -EINVAL);
	cr_assert_eq(daxmap_region_list(NULL, &ri, &n), -EINVAL);
	cr_assert_eq(daxmap_region_ranges(pool, "r", NULL, &n), -EINVAL);
	cr_assert_eq(daxmap_region_ranges(pool, "missing", &r, &n), -ENOENT);
	cr_assert_eq(daxmap_region_map(&map, pool, "missing", 0), -ENOENT);
	cr_assert(strstr(daxmap_errormsg(), "no region named 'missing'"), "%s", daxmap_errormsg());
	cr_assert_null(map);
	cr_assert_eq(daxmap_region_map(&map, pool, NULL, 0), -EINVAL);
	cr_assert_eq(daxmap_region_map(NULL, pool, "r", 0), -EINVAL);
	cr_assert_eq(daxmap_region_map(&map, NULL, "r", 0), -EINVAL);
	cr_assert_eq(daxmap_region_map(&map, pool, "r", 8), -EINVAL, "unknown map flags");
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), 0, "a refused map left a reference");
	cr_assert_eq(daxmap_pool_check(dev, 1U << 5, NULL, NULL), -EINVAL);
	cr_assert_eq(daxmap_pool_format(dev, 0, 1U << 5), -EINVAL);
	cr_assert_eq(daxmap_pool_format(NULL, 0, 0), -EINVAL);
	cr_assert_eq(daxmap_dev_open(&q, daxmap_dev_path(dev), 0, DAXMAP_DEV_QUERY), 0);
	cr_assert_eq(daxmap_pool_format(q, 0, DAXMAP_FORMAT_FORCE), -EBADF);
	{
		struct daxmap_pool *other;

		cr_assert_eq(daxmap_pool_open(&other, q, 0), -EBADF);
		cr_assert_null(other);
	}
	daxmap_dev_close(q);
	cr_assert_eq(daxmap_dev_open(&ro, daxmap_dev_path(dev), 0, DAXMAP_DEV_RDONLY), 0);
	cr_assert_eq(daxmap_pool_format(ro, 0, DAXMAP_FORMAT_FORCE), -EROFS);
	cr_assert_eq(daxmap_pool_check(ro, DAXMAP_CHECK_REPAIR, NULL, NULL), -EROFS);
	daxmap_dev_close(ro);
	daxmap_pool_close(NULL);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/* ---- two pool handles on one device ------------------------------------- */

struct begin_arg {
	struct daxmap_pool *pool;
	int entered;
};

static void *begin_shared(void *arg)
{
	struct begin_arg *b = arg;

	if (pool_begin(b->pool, false) == 0) {
		__atomic_store_n(&b->entered, 1, __ATOMIC_SEQ_CST);
		pool_end(b->pool);
	}
	return NULL;
}

/* OFD locks belong to the open file description: handles sharing the
 * device's fd would share one lock, and a shared begin on one handle would
 * turn the other's exclusive section into a shared one. Each handle locks
 * through its own description. */
Test(pool, two_handles_on_one_device_exclude_each_other)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *p1 = new_pool(dev), *p2;
	struct begin_arg b = { NULL, 0 };
	pthread_t t;

	cr_assert_eq(daxmap_pool_open(&p2, dev, 0), 0, "%s", daxmap_errormsg());
	b.pool = p2;
	cr_assert_eq(pool_begin(p1, true), 0);
	cr_assert_eq(pthread_create(&t, NULL, begin_shared, &b), 0);
	usleep(200 * 1000);
	cr_assert_eq(__atomic_load_n(&b.entered, __ATOMIC_SEQ_CST), 0,
		     "a shared section of the other handle entered an exclusive one");
	pool_end(p1);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(b.entered, 1);
	/* and either handle's close leaves the other working */
	daxmap_pool_close(p1);
	cr_assert_eq(daxmap_region_create(p2, "after", 2 * MiB, NULL), 0, "%s", daxmap_errormsg());
	daxmap_pool_close(p2);
	daxmap_dev_close(dev);
}

/* Handle p's view, refreshed as its next operation would, against a fresh
 * scan of the media. */
static bool view_matches_media(struct daxmap_pool *p)
{
	struct persist_ops ops = { NULL, NULL, NULL, 0, 0 };
	struct pool_core q, *c;
	char why[256];
	const char *diff;

	cr_assert_eq(pool_begin(p, false), 0, "%s", daxmap_errormsg());
	c = pool_core(p);
	cr_assert(pool_view_current(c), "a refreshed view is not current");
	cr_assert_eq(pool_core_open(&q, c->base, &c->sb, true, &ops, NULL, NULL), 0);
	diff = core_view_diff(c, &q, why, sizeof(why));
	pool_core_close(&q);
	pool_end(p);
	if (diff)
		cr_log_error("%s", diff);
	return diff == NULL;
}

/* A handle re-reads the tables only when another changed them, and then
 * sees every change: create, grow, first mapping (the written word),
 * shrink, a remove that waits for a holder, and the reclaim that finishes
 * it later. Two handles on one device are two processes to the pool. */
Test(pool, every_handle_sees_another_handles_change)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *a = new_pool(dev), *b;
	struct daxmap_reclaim_stat rs;
	struct daxmap_pool_stat st;
	struct daxmap_region_info *ri;
	struct daxmap_map *m;
	struct child holder;
	size_t n;

	cr_assert_eq(daxmap_pool_open(&b, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert(view_matches_media(b));
	cr_assert(pool_view_current(pool_core(b)));

	cr_assert_eq(daxmap_region_create(a, "r", 4 * MiB, NULL), 0, "%s", daxmap_errormsg());
	cr_assert(!pool_view_current(pool_core(b)), "a create went unseen");
	cr_assert(view_matches_media(b));
	cr_assert_eq(daxmap_region_list(b, &ri, &n), 0);
	cr_assert(n == 1 && ri[0].size == 4 * MiB);
	daxmap_region_list_free(ri);

	/* reading changes nothing: the other handle keeps its view */
	cr_assert_eq(daxmap_region_list(a, &ri, &n), 0);
	daxmap_region_list_free(ri);
	cr_assert(pool_view_current(pool_core(b)), "a listing made another handle re-read");

	cr_assert_eq(daxmap_region_resize(a, "r", 10 * MiB, NULL, 0), 0, "%s", daxmap_errormsg());
	cr_assert(!pool_view_current(pool_core(b)), "a grow went unseen");
	cr_assert(view_matches_media(b));

	/* the first mapping zeroes and stores the written word */
	cr_assert_eq(daxmap_region_map(&m, a, "r", 0), 0, "%s", daxmap_errormsg());
	cr_assert(!pool_view_current(pool_core(b)), "the written word went unseen");
	cr_assert(view_matches_media(b));
	daxmap_map_delete(&m);

	cr_assert_eq(daxmap_region_resize(a, "r", 6 * MiB, NULL, 0), 0, "%s", daxmap_errormsg());
	cr_assert(view_matches_media(b));
	cr_assert_eq(daxmap_pool_stat(b, &st), 0);
	cr_assert_eq(st.extents_used, 3);

	/* a remove that a holder (another process) keeps waiting: the zap,
	 * then later the finish from a reclaim, each seen */
	holder = child_mapping(daxmap_dev_path(dev), "r");
	cr_assert_eq(daxmap_region_remove(a, "r", 0), -EBUSY);
	cr_assert(!pool_view_current(pool_core(b)), "a zap went unseen");
	cr_assert(view_matches_media(b));
	cr_assert_eq(daxmap_pool_stat(b, &st), 0);
	cr_assert_eq(st.extents_releasing, 3);
	child_do(&holder, CHILD(.op = CHILD_UNMAP));
	child_finish(&holder);
	cr_assert_eq(daxmap_pool_reclaim(a, &rs), 0, "%s", daxmap_errormsg());
	cr_assert_eq(rs.releases_finished, 1);
	cr_assert(!pool_view_current(pool_core(b)), "a finish went unseen");
	cr_assert(view_matches_media(b));
	cr_assert_eq(daxmap_pool_stat(b, &st), 0);
	cr_assert_eq(st.extents_used + st.extents_releasing, 0);
	cr_assert_eq(st.extents_free, st.extents_total - st.extents_meta);

	/* and the other way round */
	cr_assert_eq(daxmap_region_create(b, "s", 2 * MiB, NULL), 0, "%s", daxmap_errormsg());
	cr_assert(view_matches_media(a));
	cr_assert(view_matches_media(b));
	daxmap_pool_close(a);
	daxmap_pool_close(b);
	daxmap_dev_close(dev);
}

struct map_arg {
	struct daxmap_pool *pool;
	int rc, done;
};

static void *map_region_r(void *arg)
{
	struct map_arg *a = arg;
	struct daxmap_map *m;

	a->rc = daxmap_region_map(&m, a->pool, "r", 0);
	if (a->rc == 0)
		daxmap_map_delete(&m);
	__atomic_store_n(&a->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Mapping a region whose view is current takes no lock shared with other
 * processes: it goes on while another handle holds the pool exclusively
 * and has changed nothing, and waits (takes the locked way) once that
 * handle changed something. */
Test(pool, a_mapping_does_not_wait_for_the_pool_lock_when_nothing_changed)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *a = new_pool(dev), *b;
	struct map_arg m = { NULL, -1, 0 };
	struct daxmap_map *map;
	pthread_t t;

	cr_assert_eq(daxmap_region_create(a, "r", 4 * MiB, NULL), 0, "%s", daxmap_errormsg());
	/* the first mapping zeroes (locked); later ones need nothing */
	cr_assert_eq(daxmap_region_map(&map, a, "r", 0), 0, "%s", daxmap_errormsg());
	daxmap_map_delete(&map);
	cr_assert_eq(daxmap_pool_open(&b, dev, 0), 0, "%s", daxmap_errormsg());
	m.pool = b;
	cr_assert_eq(pool_begin(a, true), 0);
	cr_assert_eq(pthread_create(&t, NULL, map_region_r, &m), 0);
	for (int i = 0; i < 500 && !__atomic_load_n(&m.done, __ATOMIC_SEQ_CST); i++)
		usleep(10 * 1000);
	cr_assert(m.done, "a mapping waited for another handle's exclusive lock");
	cr_assert_eq(m.rc, 0, "%s", daxmap_errormsg());
	cr_assert_eq(pthread_join(t, NULL), 0);
	/* a change under the lock: the next mapping must wait for it */
	cr_assert_eq(pool_region_create(pool_core(a), "s", 2 * MiB, NULL), 0);
	m.done = 0;
	cr_assert_eq(pthread_create(&t, NULL, map_region_r, &m), 0);
	usleep(200 * 1000);
	cr_assert_eq(__atomic_load_n(&m.done, __ATOMIC_SEQ_CST), 0,
		     "a mapping went ahead of a change in progress");
	pool_end(a);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(m.rc, 0, "%s", daxmap_errormsg());
	daxmap_pool_close(a);
	daxmap_pool_close(b);
	daxmap_dev_close(dev);
}

/* ---- defects an acceptance run found ------------------------------------ */

/* A pool formatted with 4 KiB extents, opened with the default 2 MiB
 * alignment: not "damaged", but what was expected, what was found, and how
 * to open it; nothing written, and format asks for --force as for any pool. */
Test(pool, the_wrong_alignment_is_named_not_called_corruption)
{
	const char *path = make_file(16 * MiB);
	struct daxmap_dev *d4k, *d2m;
	struct daxmap_pool *pool;
	uint64_t actual, h;

	cr_assert_eq(daxmap_dev_open(&d4k, path, 4096, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_format(d4k, 0, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_open(&pool, d4k, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_create(pool, "data", 8192, &actual), 0, "%s", daxmap_errormsg());
	cr_assert_eq(actual, 8192);
	daxmap_pool_close(pool);
	h = dev_hash(d4k);

	cr_assert_eq(daxmap_dev_open(&d2m, path, 0, 0), 0, "%s", daxmap_errormsg());
	for (int i = 0; i < 3; i++) {
		int rc = i == 0 ? daxmap_pool_open(&pool, d2m, DAXMAP_POOL_RDONLY) :
			 i == 1 ? daxmap_pool_check(d2m, 0, NULL, NULL) :
				  daxmap_pool_check(d2m, DAXMAP_CHECK_REPAIR, NULL, NULL);

		cr_assert_eq(rc, -EINVAL, "call %d: %d %s", i, rc, daxmap_errormsg());
		cr_assert(strstr(daxmap_errormsg(), "extents are 4 KiB") &&
			  strstr(daxmap_errormsg(), "alignment 2 MiB") &&
			  strstr(daxmap_errormsg(), "--align 4K") &&
			  !strstr(daxmap_errormsg(), "inconsistent"), "call %d: %s", i, daxmap_errormsg());
	}
	cr_assert_eq(daxmap_pool_format(d2m, 0, 0), -EEXIST);
	cr_assert(strstr(daxmap_errormsg(), "already holds a pool (with other extents)"), "%s",
		  daxmap_errormsg());
	cr_assert_eq(dev_hash(d4k), h, "a refused call wrote");
	daxmap_dev_close(d2m);
	/* opened as it was formatted, it is intact */
	cr_assert_eq(daxmap_pool_open(&pool, d4k, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_check(d4k, 0, NULL, NULL), 0);
	daxmap_pool_close(pool);
	daxmap_dev_close(d4k);
}

/* An orphan entry (a create killed after its entries, before its record)
 * seen by a read-only handle, which does not clear it: the counts still
 * add up, the orphan counted free. */
Test(pool, counts_add_up_with_an_orphan_on_a_read_only_handle)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	uint64_t orphan = ext_make(9, 5, 0);
	struct daxmap_pool_stat st, st2;

	cr_assert_eq(daxmap_region_create(pool, "r", 4 * MiB, NULL), 0);
	daxmap_pool_close(pool);
	poke(dev, REGION_TABLE_OFF + REGION_SLOTS * REGION_REC_SIZE + 8 * 20, &orphan, 8);
	cr_assert_eq(daxmap_pool_open(&pool, dev, DAXMAP_POOL_RDONLY), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.extents_meta + st.extents_used + st.extents_free + st.extents_bad,
		     st.extents_total, "%llu + %llu + %llu + %llu != %llu",
		     (unsigned long long)st.extents_meta, (unsigned long long)st.extents_used,
		     (unsigned long long)st.extents_free, (unsigned long long)st.extents_bad,
		     (unsigned long long)st.extents_total);
	cr_assert_eq(st.extents_used, 2);
	daxmap_pool_close(pool);
	/* a writer clears it: the same counts */
	pool = NULL;
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_stat(pool, &st2), 0);
	cr_assert_eq(st2.extents_free, st.extents_free);
	cr_assert_eq(st2.extents_used, st.extents_used);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/* As mkfs refuses a mounted filesystem: format --force refuses while a
 * process maps the pool (its mapping would alias the new pool's extents),
 * this one included; only DAXMAP_FORMAT_FORCE_IN_USE goes on. */
Test(pool, format_force_refuses_while_processes_use_the_pool)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_extent_refs *refs;
	struct daxmap_map *map;
	struct child c;
	char pid[32];
	size_t n;
	uint64_t h;

	cr_assert_eq(daxmap_region_create(pool, "r", 2 * MiB, NULL), 0);
	c = child_mapping(daxmap_dev_path(dev), "r");
	h = dev_hash(dev);
	cr_assert_eq(daxmap_pool_format(dev, 0, DAXMAP_FORMAT_FORCE), -EBUSY);
	snprintf(pid, sizeof(pid), "pid %d", (int)c.pid);
	cr_assert(strstr(daxmap_errormsg(), pid) && strstr(daxmap_errormsg(), "--force-in-use"),
		  "%s", daxmap_errormsg());
	cr_assert_eq(dev_hash(dev), h, "the refused format wrote");
	child_finish(&c);

	/* this process as the user: the probe must not drop its own lock */
	cr_assert_eq(daxmap_region_map(&map, pool, "r", 0), 0, "%s", daxmap_errormsg());
	snprintf(pid, sizeof(pid), "pid %d", (int)getpid());
	cr_assert_eq(daxmap_pool_format(dev, 0, DAXMAP_FORMAT_FORCE), -EBUSY);
	cr_assert(strstr(daxmap_errormsg(), pid), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_refs(pool, "r", &refs, &n), 0);
	cr_assert_eq(refs[0].refcount, 1, "the in-use probe dropped this holder's reference");
	free(refs);
	cr_assert_eq(daxmap_pool_reclaim(pool, NULL), 0);
	cr_assert_eq(daxmap_pool_refs(pool, "r", &refs, &n), 0);
	cr_assert_eq(refs[0].refcount, 1, "the probe closed an fd of the runtime state: its lock went");
	free(refs);
	cr_assert_eq(daxmap_pool_format(dev, 0, DAXMAP_FORMAT_FORCE_IN_USE), 0, "%s",
		     daxmap_errormsg());
	daxmap_map_delete(&map);
	daxmap_pool_close(pool);
	/* with nobody using it, --force is enough */
	cr_assert_eq(daxmap_pool_format(dev, 0, DAXMAP_FORMAT_FORCE), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_format(dev, 0, 1U << 7), -EINVAL);
	daxmap_dev_close(dev);
}

/* ---- zeroed regions, the backup out of harm's way, 1.1 pools ------------ */

/* Every byte of [p, p + len) is c. */
static bool all(const char *p, size_t len, char c)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != c)
			return false;
	return true;
}

static void fill_region(struct daxmap_pool *pool, const char *name, char c)
{
	struct daxmap_map *m;

	cr_assert_eq(daxmap_region_map(&m, pool, name, 0), 0, "%s", daxmap_errormsg());
	daxmap_map_memset(m, daxmap_map_addr(m), c, daxmap_map_len(m), 0);
	daxmap_map_delete(&m);
}

/* A region never shows a previous owner's bytes: its first mapping zeroes
 * the extents handed to it (and only those), once. */
Test(pool, a_new_region_reads_zeros_and_keeps_what_is_written)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_map *m;
	char *a;

	cr_assert_eq(daxmap_region_create(pool, "old", 8 * MiB, NULL), 0);
	fill_region(pool, "old", (char)0xab);
	cr_assert_eq(daxmap_region_remove(pool, "old", 0), 0);
	cr_assert_eq(daxmap_region_create(pool, "new", 4 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_map(&m, pool, "new", 0), 0, "%s", daxmap_errormsg());
	a = daxmap_map_addr(m);
	cr_assert(all(a, 4 * MiB, 0), "a new region shows a previous owner's bytes");
	daxmap_map_memset(m, a, 'w', 4 * MiB, 0);
	daxmap_map_delete(&m);
	/* written stays written, in this and in other handles */
	cr_assert_eq(daxmap_region_map(&m, pool, "new", 0), 0);
	cr_assert(all(daxmap_map_addr(m), 4 * MiB, 'w'), "a second mapping zeroed written data");
	daxmap_map_delete(&m);
	/* a grow: the new extents read as zeros, the old keep their data */
	cr_assert_eq(daxmap_region_resize(pool, "new", 8 * MiB, NULL, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map(&m, pool, "new", 0), 0);
	a = daxmap_map_addr(m);
	cr_assert(all(a, 4 * MiB, 'w') && all(a + 4 * MiB, 4 * MiB, 0));
	daxmap_map_delete(&m);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/* DAXMAP_MAP_OVERWRITE: no zeroing (the caller writes everything first),
 * and what it writes counts as written. A read-only handle cannot zero. */
Test(pool, overwrite_skips_the_zeroing_and_a_read_only_handle_refuses)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev), *ro;
	struct daxmap_map *m;

	cr_assert_eq(daxmap_region_create(pool, "old", 4 * MiB, NULL), 0);
	fill_region(pool, "old", 'o');
	cr_assert_eq(daxmap_region_remove(pool, "old", 0), 0);
	cr_assert_eq(daxmap_region_create(pool, "r", 4 * MiB, NULL), 0);
	cr_assert_eq(daxmap_pool_open(&ro, dev, DAXMAP_POOL_RDONLY), 0);
	cr_assert_eq(daxmap_region_map(&m, ro, "r", 0), -EROFS);
	cr_assert(strstr(daxmap_errormsg(), "never mapped"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map(&m, pool, "r", DAXMAP_MAP_OVERWRITE), 0, "%s",
		     daxmap_errormsg());
	cr_assert(all(daxmap_map_addr(m), 4 * MiB, 'o'), "OVERWRITE zeroed anyway");
	daxmap_map_memset(m, daxmap_map_addr(m), 'n', 4 * MiB, 0);
	daxmap_map_delete(&m);
	cr_assert_eq(daxmap_region_map(&m, ro, "r", 0), 0, "%s", daxmap_errormsg());
	cr_assert(all(daxmap_map_addr(m), 4 * MiB, 'n'), "what OVERWRITE wrote was zeroed");
	daxmap_map_delete(&m);
	cr_assert_eq(daxmap_map_new(&m, dev, 0, 2 * MiB, DAXMAP_MAP_OVERWRITE), -EINVAL);
	daxmap_pool_close(ro);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/* What fio's dev-dax engine did with offset=2M: zeros over the first 2 MiB.
 * Only the primary superblock lives there: every region and its data are
 * intact, from the backup, and check --repair (or a writer) restores it. */
Test(pool, zeroing_the_first_2_mib_loses_nothing)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	static char zeros[2 * MiB];
	struct daxmap_region_info *ri;
	struct daxmap_map *m;
	size_t n;

	cr_assert_eq(daxmap_region_create(pool, "wal", 6 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_create(pool, "data", 2 * MiB, NULL), 0);
	fill_region(pool, "wal", 'W');
	fill_region(pool, "data", 'D');
	daxmap_pool_close(pool);
	for (int repair = 0; repair < 2; repair++) {
		poke(dev, 0, zeros, sizeof(zeros));
		if (repair) {
			cr_assert_eq(daxmap_pool_check(dev, DAXMAP_CHECK_REPAIR, NULL, NULL), 1);
			cr_assert_eq(daxmap_pool_check(dev, 0, NULL, NULL), 0, "not repaired");
		}
		cr_assert_eq(daxmap_pool_open(&pool, dev, repair ? 0 : DAXMAP_POOL_RDONLY), 0, "%s",
			     daxmap_errormsg());
		cr_assert_eq(daxmap_region_list(pool, &ri, &n), 0);
		cr_assert_eq(n, 2);
		daxmap_region_list_free(ri);
		cr_assert_eq(daxmap_region_map(&m, pool, "wal", 0), 0, "%s", daxmap_errormsg());
		cr_assert(all(daxmap_map_addr(m), 6 * MiB, 'W'));
		daxmap_map_delete(&m);
		cr_assert_eq(daxmap_region_map(&m, pool, "data", 0), 0, "%s", daxmap_errormsg());
		cr_assert(all(daxmap_map_addr(m), 2 * MiB, 'D'));
		daxmap_map_delete(&m);
		daxmap_pool_close(pool);
	}
	daxmap_dev_close(dev);
}

static void null_flush(void *ctx, const void *a, size_t l)
{
	(void)ctx, (void)a, (void)l;
}

static void null_drain(void *ctx)
{
	(void)ctx;
}

/*
 * A pool as libdaxmap 1.1 wrote it (backup at 64 KiB, tables at 128 KiB),
 * on a device of n extents of 2 MiB, with a region of `used` extents
 * first and then a region "keep" of 3 extents; the first is removed
 * unless `block`, which leaves the extents the 1.2 metadata needs in use.
 */
static struct daxmap_dev *legacy_pool(uint64_t n, bool block)
{
	struct persist_ops ops = { null_flush, null_drain, NULL, 0, 0 };
	struct daxmap_dev *dev = new_dev(n * ES);
	struct pool_sb sb;
	struct pool_core pc;
	char *buf;
	int fd;

	cr_assert_eq(pool_layout(&sb, n * ES, ES, ES), 0);
	sb.minor = 1;
	sb.region_off = layout_region_off(1);
	sb.extent_off = layout_extent_off(1);
	sb.meta_extents = 1;
	pool_sb_seal(&sb);
	cr_assert_not_null(buf = calloc(1, ES));
	cr_assert_eq(pool_format_mem(buf, &sb, NULL, 0, &ops), 0);
	cr_assert_eq(pool_core_open(&pc, buf, &sb, false, &ops, NULL, NULL), 0);
	cr_assert_eq(pool_region_create(&pc, "first", ES, NULL), 0);
	cr_assert_eq(pool_region_create(&pc, "keep", 3 * ES, NULL), 0);
	if (!block) {
		uint64_t slot, gen;

		cr_assert_eq(pool_region_zap(&pc, "first", 0, &slot, &gen), 0);
		cr_assert_eq(pool_region_finish(&pc, slot, gen), 0);
	}
	pool_core_close(&pc);
	fd = open(daxmap_dev_path(dev), O_RDWR);
	cr_assert_eq(pwrite(fd, buf, ES, 0), (ssize_t)ES);
	close(fd);
	free(buf);
	return dev;
}

/* A 1.1 pool moves to 1.2 at its first open for writing, when the
 * extents the new metadata needs are free; regions and data unchanged. */
Test(pool, a_1_1_pool_moves_to_1_2_when_it_can)
{
	struct daxmap_dev *dev = legacy_pool(32, false);
	struct daxmap_pool *pool;
	struct daxmap_pool_stat st;
	struct daxmap_range *r;
	char report[1024] = "";
	struct daxmap_map *m;
	size_t n;

	cr_assert_eq(daxmap_pool_check(dev, 0, collect, report), 0, "%s", report);
	cr_assert(strstr(report, "next open for writing moves"), "%s", report);
	/* data written through the 1.1 pool (its regions are all written) */
	cr_assert_eq(daxmap_pool_open(&pool, dev, DAXMAP_POOL_RDONLY), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.version_minor, 1);
	cr_assert_eq(daxmap_region_ranges(pool, "keep", &r, &n), 0);
	poke(dev, r[0].offset, "kept data", 10);
	daxmap_pool_close(pool);
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.version_minor, 2, "not moved");
	cr_assert_eq(st.extents_meta, 2);
	cr_assert_eq(st.regions, 1);
	cr_assert_eq(daxmap_region_map(&m, pool, "keep", 0), 0, "%s", daxmap_errormsg());
	cr_assert_str_eq(daxmap_map_addr(m), "kept data", "a 1.1 region was zeroed");
	daxmap_map_delete(&m);
	free(r);
	daxmap_pool_close(pool);
	report[0] = '\0';
	cr_assert_eq(daxmap_pool_check(dev, 0, collect, report), 0, "%s", report);
	cr_assert(!strstr(report, "format 1.1"), "%s", report);
	daxmap_dev_close(dev);
}

/* When it cannot move (a region owns an extent the 1.2 metadata needs),
 * it works as 1.1, check says why, and new regions are zeroed when they
 * are handed out. */
Test(pool, a_1_1_pool_that_cannot_move_still_hands_out_zeros)
{
	struct daxmap_dev *dev = legacy_pool(32, true);
	struct daxmap_pool *pool;
	struct daxmap_pool_stat st;
	char report[1024] = "";
	struct daxmap_map *m;

	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.version_minor, 1);
	fill_region(pool, "first", 'f');
	cr_assert_eq(daxmap_region_remove(pool, "keep", 0), 0);
	cr_assert_eq(daxmap_region_create(pool, "x", 2 * MiB, NULL), 0);
	fill_region(pool, "x", 'x');
	cr_assert_eq(daxmap_region_remove(pool, "x", 0), 0);
	cr_assert_eq(daxmap_region_create(pool, "y", 8 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_map(&m, pool, "y", 0), 0);
	cr_assert(all(daxmap_map_addr(m), 8 * MiB, 0), "a 1.1 pool handed out old bytes");
	daxmap_map_delete(&m);
	daxmap_pool_close(pool);
	cr_assert_eq(daxmap_pool_check(dev, 0, collect, report), 0, "%s", report);
	cr_assert(strstr(report, "cannot move to 1.2") && strstr(report, "extent 1 is not"), "%s",
		  report);
	daxmap_dev_close(dev);
}
