/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_devices.c -- the library's mapping of real device-DAX (NVDIMM 2 MiB
 * and 1 GiB, hmem) and fsdax: page sizes, MAP_SYNC, alignment rules, root
 * only nodes, and a device in system-ram (kmem) mode. Runs inside the QEMU
 * rig (tests/vm/run sets DAXMAP_TEST_*); anywhere else it exits 77, Meson's
 * "skipped", and says why.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <daxmap.h>

#include "helpers.h"
#include "rig.h"

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Minor faults taken to store one byte in every 4 KiB of the mapping
 * (stores: a read of a hole or unwritten fsdax extent maps the huge zero
 * page, whatever the blocks below). */
static long touch_faults(const struct daxmap_map *map)
{
	volatile char *p = daxmap_map_addr(map);
	uint64_t len = daxmap_map_len(map);
	long f0 = minflt();

	for (uint64_t off = 0; off < len; off += 4096)
		p[off] = 1;
	return minflt() - f0;
}

/* Does /proc/self/smaps show VmFlags "sf" (VM_SYNC) for addr? */
static int smaps_has_sync(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	char line[512];
	int in = 0, found = -1;
	uintptr_t a = (uintptr_t)addr;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = a >= lo && a < hi;
			continue;
		}
		if (in && strncmp(line, "VmFlags:", 8) == 0) {
			found = strstr(line, " sf") != NULL;
			break;
		}
	}
	fclose(f);
	return found;
}

static void check_devdax(const char *path, uint64_t align, uint64_t touch)
{
	struct daxmap_dev *dev = open_dev(path);
	struct daxmap_map *map;
	long faults;

	cr_assert_eq(daxmap_dev_kind(dev), DAXMAP_KIND_DEVDAX);
	cr_assert_eq(daxmap_dev_align(dev), align);
	cr_assert_not_null(daxmap_dev_name(dev));
	cr_assert_geq(daxmap_dev_region_id(dev), 0);
	cr_assert_geq(daxmap_dev_size(dev), touch);
	cr_assert_eq(daxmap_map_new(&map, dev, 0, touch, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq((uintptr_t)daxmap_map_addr(map) % align, 0);
	cr_assert_eq(daxmap_map_pagesize(map), align);
	cr_assert_eq(daxmap_map_is_sync(map), 1);
	cr_assert_eq(smaps_has_sync(daxmap_map_addr(map)), 1, "VmFlags lacks sf (MAP_SYNC)");
	cr_assert_eq(daxmap_map_granularity(map), DAXMAP_GRANULARITY_CACHE_LINE);
	faults = touch_faults(map);
	/* one fault per PMD (2 MiB) or PUD (1 GiB) page, not per 4 KiB */
	cr_assert_eq(faults, (long)(touch / align), "%s: %ld faults for %llu bytes at align %llu",
		     path, faults, (unsigned long long)touch, (unsigned long long)align);
	daxmap_map_delete(&map);
	daxmap_dev_close(dev);
}

/* A device-DAX and its alignment: one fault per PMD (2 MiB) or PUD
 * (1 GiB) page. */
struct huge_dev {
	char env[32];    /* not a pointer: see struct rig_dev */
	uint64_t align, touch;
};

ParameterizedTestParameters(devdax, huge_page_faults)
{
	static struct huge_dev devs[] = {
		{ "DAXMAP_TEST_DEVDAX_2M", 2 * MiB, 64 * MiB },
		{ "DAXMAP_TEST_DEVDAX_1G", GiB, 2 * GiB },
	};

	return cr_make_param_array(struct huge_dev, devs, sizeof(devs) / sizeof(devs[0]));
}

ParameterizedTest(struct huge_dev *d, devdax, huge_page_faults)
{
	check_devdax(env_or_skip(d->env), d->align, d->touch);
}

Test(devdax, persist_round_trip)
{
	const char *path = env_or_skip("DAXMAP_TEST_DEVDAX_2M");
	struct daxmap_dev *dev = open_dev(path);
	struct daxmap_range r[] = { { 4 * MiB, 2 * MiB }, { 0, 2 * MiB } };
	struct daxmap_map *map;
	char *a;

	cr_assert_eq(daxmap_map_new(&map, dev, 0, 6 * MiB, 0), 0, "%s", daxmap_errormsg());
	a = daxmap_map_addr(map);
	daxmap_map_memset(map, a, 0, 6 * MiB, 0);
	daxmap_map_memcpy(map, a + 4 * MiB, "at 4 MiB", 9, DAXMAP_F_NONTEMPORAL);
	daxmap_map_memcpy(map, a, "at 0", 5, 0);
	cr_assert_eq(daxmap_map_deep_flush(map, a, 6 * MiB), 0, "%s", daxmap_errormsg());
	daxmap_map_delete(&map);
	/* scattered ranges come back contiguous, in the order asked */
	cr_assert_eq(daxmap_map_new_ranges(&map, dev, r, 2, 0), 0, "%s", daxmap_errormsg());
	a = daxmap_map_addr(map);
	cr_assert_str_eq(a, "at 4 MiB");
	cr_assert_str_eq(a + 2 * MiB, "at 0");
	daxmap_map_delete(&map);
	daxmap_dev_close(dev);
}

Test(devdax, misaligned_refused_before_the_kernel)
{
	const char *path = env_or_skip("DAXMAP_TEST_DEVDAX_2M");
	struct daxmap_dev *dev = open_dev(path);
	struct daxmap_map *map;
	int before = count_maps();
	int fd;
	void *p;

	cr_assert_eq(daxmap_map_new(&map, dev, 4096, 2 * MiB, 0), -EINVAL);
	cr_assert_str_eq(daxmap_errormsg(), "offset 0x1000 is not a multiple of the device alignment 2 MiB");
	cr_assert_eq(daxmap_map_new(&map, dev, 0, MiB, 0), -EINVAL);
	cr_assert_eq(count_maps(), before);
	/* the kernel facts the check stands in for */
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	p = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	cr_assert_eq(p, MAP_FAILED, "devdax accepted a 1 MiB mapping");
	cr_assert_eq(errno, EINVAL);
	p = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	cr_assert_eq(p, MAP_FAILED, "devdax accepted MAP_PRIVATE");
	close(fd);
	daxmap_dev_close(dev);
}

Test(devdax, wrong_alignment_asked)
{
	const char *path = env_or_skip("DAXMAP_TEST_DEVDAX_1G");
	struct daxmap_dev *dev;

	cr_assert_eq(daxmap_dev_open(&dev, path, 2 * MiB, 0), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "has its own alignment 1 GiB; 2 MiB was asked"),
		  "%s", daxmap_errormsg());
}

Test(devdax, root_only_message)
{
	const char *path = env_or_skip("DAXMAP_TEST_DEVDAX_2M");
	struct daxmap_dev *dev;

	drop_root();
	cr_assert_eq(daxmap_dev_open(&dev, path, 0, 0), -EACCES);
	cr_assert(strstr(daxmap_errormsg(), "device-DAX nodes are root-only by default"),
		  "%s", daxmap_errormsg());
	/* discovery still works without opening the node */
	cr_assert_eq(daxmap_dev_open(&dev, path, 0, DAXMAP_DEV_QUERY), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_dev_align(dev), 2 * MiB);
	daxmap_dev_close(dev);
}

Test(devdax, hmem_not_nvdimm)
{
	const char *path = env_or_skip("DAXMAP_TEST_HMEM");
	struct daxmap_dev *dev = open_dev(path);
	struct daxmap_map *map;
	char *a;

	/* libpmem2's own mapping path crashes here (PMDK #6160); ours must not */
	cr_assert_eq(daxmap_dev_kind(dev), DAXMAP_KIND_DEVDAX);
	cr_assert_eq(daxmap_map_new(&map, dev, 0, 8 * MiB, 0), 0, "%s", daxmap_errormsg());
	a = daxmap_map_addr(map);
	daxmap_map_memcpy(map, a + 2 * MiB, "hmem", 5, 0);
	cr_assert_eq(daxmap_map_deep_flush(map, a, 8 * MiB), 0, "%s", daxmap_errormsg());
	cr_assert_str_eq(a + 2 * MiB, "hmem");
	/* 2 MiB pages: 3 more faults, the one at 2 MiB was taken by memcpy */
	cr_assert_eq(touch_faults(map), 3);
	daxmap_map_delete(&map);
	daxmap_dev_close(dev);
}

Test(fsdax, kind_and_page_size)
{
	const char *path = fsdax_file("test-kind", 64 * MiB);
	struct daxmap_dev *dev = open_dev(path);
	struct daxmap_map *map;
	uint64_t pagesize;
	long faults;

	cr_assert_eq(daxmap_dev_kind(dev), DAXMAP_KIND_FSDAX);
	cr_assert_eq(daxmap_map_new(&map, dev, 0, 64 * MiB, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_map_is_sync(map), 1);
	cr_assert_eq(daxmap_map_granularity(map), DAXMAP_GRANULARITY_CACHE_LINE);
	/* ext4 -o dax stores fault 4 KiB pages: 16384 faults for 64 MiB */
	pagesize = daxmap_map_pagesize(map);
	cr_assert_eq(pagesize, 4096);
	faults = touch_faults(map);
	cr_assert_eq(faults, (long)(64 * MiB / pagesize), "%ld faults at page size %llu",
		     faults, (unsigned long long)pagesize);
	daxmap_map_memcpy(map, daxmap_map_addr(map), "fsdax", 6, 0);
	daxmap_map_delete(&map);
	daxmap_dev_close(dev);
	unlink(path);
}


static int sh(const char *fmt, const char *arg)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), fmt, arg);
	return system(cmd);
}

Test(kmem, system_ram_mode_is_refused)
{
	const char *path = env_or_skip("DAXMAP_TEST_HMEM");
	const char *name = strrchr(path, '/') + 1;
	struct daxmap_devdax_info *devs;
	struct daxmap_dev *dev;
	size_t n, i;
	int rc;

	/* --no-online: the memory stays offline, so devdax mode comes back */
	cr_assert_eq(sh("daxctl reconfigure-device --mode=system-ram --no-online %s >/dev/null 2>&1",
			name), 0, "daxctl could not switch %s to system-ram", name);
	rc = daxmap_dev_open(&dev, path, 0, 0);
	cr_assert_eq(daxmap_dev_list(&devs, &n), 0);
	for (i = 0; i < n && strcmp(devs[i].name, name) != 0; i++)
		;
	cr_assert_lt(i, n, "%s not listed in system-ram mode", name);
	cr_assert_eq(devs[i].system_ram, 1);
	daxmap_dev_list_free(devs);
	/* restore before asserting on the open, so later tests have it */
	cr_assert_eq(sh("daxctl reconfigure-device --mode=devdax -f %s >/dev/null 2>&1", name), 0);
	cr_assert_eq(rc, -EBUSY, "open in system-ram mode returned %d", rc);
	cr_assert(strstr(daxmap_errormsg(), "is in system-ram mode (bound to kmem)"), "%s",
		  daxmap_errormsg());
	cr_assert_eq(daxmap_dev_open(&dev, path, 0, 0), 0, "%s", daxmap_errormsg());
	daxmap_dev_close(dev);
}

RIG_SKIP_UNLESS(getenv("DAXMAP_TEST_DEVDAX_2M"), "device-DAX")
