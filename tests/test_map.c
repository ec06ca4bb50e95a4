/* SPDX-License-Identifier: BSD-3-Clause */
/* test_map.c -- mappings and persistence, on emulated devices */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <daxmap.h>

#include "helpers.h"

static struct daxmap_dev *open_file(uint64_t size, uint64_t align, unsigned flags)
{
	struct daxmap_dev *dev;
	const char *p = make_file(size);

	cr_assert_eq(daxmap_dev_open(&dev, p, align, flags), 0, "%s", daxmap_errormsg());
	return dev;
}

/* Fill each 2 MiB chunk of the file with its index through the fd. */
static void stamp_chunks(const char *path, unsigned n)
{
	int fd = open(path, O_RDWR);

	cr_assert_geq(fd, 0);
	for (unsigned i = 0; i < n; i++) {
		char tag[16];
		snprintf(tag, sizeof(tag), "chunk-%u", i);
		cr_assert_eq(pwrite(fd, tag, sizeof(tag), (off_t)(i * 2 * MiB)), (ssize_t)sizeof(tag));
	}
	close(fd);
}

static void read_back(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

Test(map, whole_device_round_trip)
{
	struct daxmap_dev *dev = open_file(8 * MiB, 0, 0);
	struct daxmap_map *map;
	char *a, buf[64];

	cr_assert_eq(daxmap_map_new(&map, dev, 0, 8 * MiB, 0), 0, "%s", daxmap_errormsg());
	a = daxmap_map_addr(map);
	cr_assert_eq((uintptr_t)a % (2 * MiB), 0, "address %p not 2 MiB aligned", (void *)a);
	cr_assert_eq(daxmap_map_len(map), 8 * MiB);
	/* a page-cache file cannot take MAP_SYNC: msync is the only way */
	cr_assert_eq(daxmap_map_is_sync(map), 0);
	cr_assert_eq(daxmap_map_granularity(map), DAXMAP_GRANULARITY_PAGE);
	cr_assert_eq(daxmap_map_pagesize(map), (uint64_t)sysconf(_SC_PAGESIZE));

	daxmap_map_memcpy(map, a + 100, "hello, pmem", 12, 0);
	daxmap_map_memset(map, a + 6 * MiB, 'x', 64, DAXMAP_F_NONTEMPORAL);
	memcpy(a + 4 * MiB, "flushed", 8);
	daxmap_map_flush(map, a + 4 * MiB, 8);
	daxmap_map_drain(map);
	strcpy(a + 3 * MiB, "persisted");
	daxmap_map_persist(map, a + 3 * MiB, 10);
	cr_assert_eq(daxmap_map_deep_flush(map, a, 8 * MiB), 0, "%s", daxmap_errormsg());
	daxmap_map_memmove(map, a + 102, a + 100, 12, 0); /* overlapping */

	cr_assert_eq(daxmap_map_delete(&map), 0);
	cr_assert_null(map);

	read_back(daxmap_dev_path(dev), 100, buf, 14);
	cr_assert_eq(memcmp(buf, "hehello, pmem", 14), 0);
	read_back(daxmap_dev_path(dev), 6 * MiB, buf, 64);
	for (int i = 0; i < 64; i++)
		cr_assert_eq(buf[i], 'x');
	read_back(daxmap_dev_path(dev), 4 * MiB, buf, 8);
	cr_assert_str_eq(buf, "flushed");
	read_back(daxmap_dev_path(dev), 3 * MiB, buf, 10);
	cr_assert_str_eq(buf, "persisted");
	daxmap_dev_close(dev);
}

Test(map, forced_cache_line_granularity)
{
	struct daxmap_dev *dev = open_file(4 * MiB, 0, 0);
	struct daxmap_map *map;
	int before = count_maps();

	setenv("PMEM2_FORCE_GRANULARITY", "cache_line", 1);
	cr_assert_eq(daxmap_map_new(&map, dev, 0, 4 * MiB, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_map_granularity(map), DAXMAP_GRANULARITY_CACHE_LINE);
	daxmap_map_delete(&map);

	setenv("PMEM2_FORCE_GRANULARITY", "byte", 1);
	cr_assert_eq(daxmap_map_new(&map, dev, 0, 4 * MiB, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_map_granularity(map), DAXMAP_GRANULARITY_BYTE);
	daxmap_map_delete(&map);

	setenv("PMEM2_FORCE_GRANULARITY", "bogus", 1);
	cr_assert_eq(daxmap_map_new(&map, dev, 0, 4 * MiB, 0), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "PMEM2_FORCE_GRANULARITY=bogus"), "%s", daxmap_errormsg());
	cr_assert_null(map);
	cr_assert_eq(count_maps(), before, "a refused map left a mapping behind");
	unsetenv("PMEM2_FORCE_GRANULARITY");
	daxmap_dev_close(dev);
}

struct bad_range {
	uint64_t off, len;
	const char *msg;
};

Test(map, misalignment_refused_and_nothing_changes)
{
	static const struct bad_range bad[] = {
		{ 0x1000, 2 * MiB, "offset 0x1000 is not a multiple of the device alignment 2 MiB" },
		{ 0, 0x1000, "length 0x1000 is not a multiple of the device alignment 2 MiB" },
		{ 0, 0, "length is 0" },
		{ 6 * MiB, 4 * MiB, "[0x600000, +0x400000) runs past the end of" },
		{ UINT64_MAX - 2 * MiB + 1, 2 * MiB, "runs past the end" },
	};
	struct daxmap_dev *dev = open_file(8 * MiB, 0, 0);
	struct daxmap_map *map = (struct daxmap_map *)0x1;
	int before = count_maps();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(daxmap_map_new(&map, dev, bad[i].off, bad[i].len, 0), -EINVAL);
		cr_assert(strstr(daxmap_errormsg(), bad[i].msg), "case %zu: %s", i, daxmap_errormsg());
		cr_assert_null(map);
	}
	cr_assert_eq(count_maps(), before);
	cr_assert_eq(daxmap_map_new(NULL, dev, 0, 2 * MiB, 0), -EINVAL);
	cr_assert_eq(daxmap_map_new(&map, NULL, 0, 2 * MiB, 0), -EINVAL);
	cr_assert_eq(daxmap_map_new(&map, dev, 0, 2 * MiB, 4), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "unknown flags 0x4"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_map_new_ranges(&map, dev, NULL, 1, 0), -EINVAL);
	cr_assert_eq(count_maps(), before);
	daxmap_dev_close(dev);
}

Test(map, misaligned_range_in_a_list_is_named)
{
	struct daxmap_dev *dev = open_file(8 * MiB, 0, 0);
	struct daxmap_range r[] = { { 0, 2 * MiB }, { 3 * MiB, 2 * MiB } };
	struct daxmap_map *map;
	int before = count_maps();

	cr_assert_eq(daxmap_map_new_ranges(&map, dev, r, 2, 0), -EINVAL);
	cr_assert_str_eq(daxmap_errormsg(),
			 "range 1: offset 0x300000 is not a multiple of the device alignment 2 MiB");
	cr_assert_eq(daxmap_map_new_ranges(&map, dev, r, 0, 0), -EINVAL);
	cr_assert_eq(count_maps(), before);
	daxmap_dev_close(dev);
}

Test(map, scattered_ranges_are_contiguous)
{
	struct daxmap_dev *dev = open_file(8 * MiB, 0, 0);
	struct daxmap_range r[] = { { 6 * MiB, 2 * MiB }, { 2 * MiB, 2 * MiB }, { 4 * MiB, 2 * MiB } };
	struct daxmap_map *map;
	char *a, buf[16];

	stamp_chunks(daxmap_dev_path(dev), 4);
	cr_assert_eq(daxmap_map_new_ranges(&map, dev, r, 3, 0), 0, "%s", daxmap_errormsg());
	a = daxmap_map_addr(map);
	cr_assert_eq(daxmap_map_len(map), 6 * MiB);
	cr_assert_str_eq(a, "chunk-3");
	cr_assert_str_eq(a + 2 * MiB, "chunk-1");
	cr_assert_str_eq(a + 4 * MiB, "chunk-2");
	/* a write across the seam lands in the two right device chunks */
	daxmap_map_memcpy(map, a + 2 * MiB - 4, "ABCDEFGH", 8, 0);
	daxmap_map_delete(&map);
	read_back(daxmap_dev_path(dev), 8 * MiB - 4, buf, 4);
	cr_assert_eq(memcmp(buf, "ABCD", 4), 0);
	read_back(daxmap_dev_path(dev), 2 * MiB, buf, 4);
	cr_assert_eq(memcmp(buf, "EFGH", 4), 0);
	daxmap_dev_close(dev);
}

Test(map, gib_alignment)
{
	struct daxmap_dev *dev = open_file(2 * GiB, GiB, 0);
	struct daxmap_dev *dev2 = open_file(4 * GiB, 0, 0);
	struct daxmap_map *map;

	cr_assert_eq(daxmap_map_new(&map, dev, GiB, GiB, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq((uintptr_t)daxmap_map_addr(map) % GiB, 0);
	cr_assert_eq(daxmap_map_new(&map, dev, 0, 2 * MiB, 0), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "alignment 1 GiB"), "%s", daxmap_errormsg());
	daxmap_dev_close(dev);
	/* 2 GiB and more get a 1 GiB-aligned address even at 2 MiB alignment */
	cr_assert_eq(daxmap_map_new(&map, dev2, 2 * MiB, 2 * GiB, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq((uintptr_t)daxmap_map_addr(map) % GiB, 0);
	daxmap_map_delete(&map);
	daxmap_dev_close(dev2);
}

Test(map, deep_flush_out_of_range)
{
	struct daxmap_dev *dev = open_file(4 * MiB, 0, 0);
	struct daxmap_map *map;
	char *a;

	cr_assert_eq(daxmap_map_new(&map, dev, 0, 2 * MiB, 0), 0);
	a = daxmap_map_addr(map);
	cr_assert_eq(daxmap_map_deep_flush(map, a + MiB, 2 * MiB), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "outside the mapping"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_map_deep_flush(map, a - 1, 1), -EINVAL);
	daxmap_map_delete(&map);
	daxmap_dev_close(dev);
}

Test(map, delete_null)
{
	struct daxmap_map *map = NULL;

	cr_assert_eq(daxmap_map_delete(NULL), 0);
	cr_assert_eq(daxmap_map_delete(&map), 0);
}

Test(map, read_only_device_reads)
{
	struct daxmap_dev *dev;
	struct daxmap_map *map;
	const char *p = make_file(2 * MiB);

	stamp_chunks(p, 1);
	cr_assert_eq(daxmap_dev_open(&dev, p, 0, DAXMAP_DEV_RDONLY), 0);
	cr_assert_eq(daxmap_map_new(&map, dev, 0, 2 * MiB, 0), 0, "%s", daxmap_errormsg());
	cr_assert_str_eq(daxmap_map_addr(map), "chunk-0");
	daxmap_map_delete(&map);
	daxmap_dev_close(dev);
}

Test(map, read_only_device_refuses_stores, .signal = SIGSEGV)
{
	struct daxmap_dev *dev;
	struct daxmap_map *map;
	const char *p = make_file(2 * MiB);

	cr_assert_eq(daxmap_dev_open(&dev, p, 0, DAXMAP_DEV_RDONLY), 0);
	cr_assert_eq(daxmap_map_new(&map, dev, 0, 2 * MiB, 0), 0, "%s", daxmap_errormsg());
	*(volatile char *)daxmap_map_addr(map) = 1;
}
