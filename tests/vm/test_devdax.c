/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_devdax.c -- the library on real device-DAX and fsdax (SPEC §3).
 * Runs inside the QEMU rig (tests/vm/run sets DAXMAP_TEST_*); anywhere
 * else it exits 77, Meson's "skipped", and says why.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <daxmap.h>

#include "helpers.h"

#ifndef MAP_SHARED_VALIDATE
#define MAP_SHARED_VALIDATE 0x03
#endif
#ifndef MAP_SYNC
#define MAP_SYNC 0x80000
#endif

static const char *env_or_skip(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v)
		cr_skip_test("%s is not set", name);
	return v;
}

static struct daxmap_dev *open_dev(const char *path)
{
	struct daxmap_dev *dev;

	cr_assert_eq(daxmap_dev_open(&dev, path, 0, 0), 0, "%s", daxmap_errormsg());
	return dev;
}

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

Test(devdax, pmd_faults_2m)
{
	check_devdax(env_or_skip("DAXMAP_TEST_DEVDAX_2M"), 2 * MiB, 64 * MiB);
}

Test(devdax, pud_faults_1g)
{
	check_devdax(env_or_skip("DAXMAP_TEST_DEVDAX_1G"), GiB, 2 * GiB);
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
	const char *dir = env_or_skip("DAXMAP_TEST_FSDAX_DIR");
	struct daxmap_dev *dev;
	struct daxmap_map *map;
	char path[512];
	uint64_t pagesize;
	int fd;
	long faults;

	snprintf(path, sizeof(path), "%s/test-kind", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(posix_fallocate(fd, 0, (off_t)(64 * MiB)), 0);
	close(fd);
	dev = open_dev(path);
	cr_assert_eq(daxmap_dev_kind(dev), DAXMAP_KIND_FSDAX);
	cr_assert_eq(daxmap_map_new(&map, dev, 0, 64 * MiB, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_map_is_sync(map), 1);
	cr_assert_eq(daxmap_map_granularity(map), DAXMAP_GRANULARITY_CACHE_LINE);
	/* ext4 -o dax stores fault 4 KiB pages (SPEC §3: 16384 for 64 MiB) */
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

static void pool_round_trip(const char *path)
{
	struct daxmap_dev *dev = open_dev(path);
	struct daxmap_pool *pool;
	struct daxmap_pool_stat st;
	struct daxmap_map *map;
	uint64_t es, actual;
	char *a;

	cr_assert_eq(daxmap_pool_format(dev, 0, DAXMAP_FORMAT_FORCE), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	es = st.extent_size;
	cr_assert_eq(es, daxmap_dev_align(dev));
	cr_assert_eq(daxmap_region_create(pool, "a", es, NULL), 0, "%s", daxmap_errormsg());
	/* with room, b sits between a's extents (the 1 GiB device has 2) */
	if (st.extents_free >= 3)
		cr_assert_eq(daxmap_region_create(pool, "b", es, NULL), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_resize(pool, "a", 2 * es, &actual, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(actual, 2 * es);
	/* a's two extents are apart on the device, contiguous in memory */
	cr_assert_eq(daxmap_region_map(&map, pool, "a", 0), 0, "%s", daxmap_errormsg());
	a = daxmap_map_addr(map);
	cr_assert_eq((uintptr_t)a % daxmap_dev_align(dev), 0);
	daxmap_map_memcpy(map, a + es - 3, "seam", 5, 0);
	daxmap_map_delete(&map);
	daxmap_pool_close(pool);
	cr_assert_eq(daxmap_pool_check(dev, 0, NULL, NULL), 0);
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map(&map, pool, "a", 0), 0);
	cr_assert_str_eq((char *)daxmap_map_addr(map) + es - 3, "seam");
	daxmap_map_delete(&map);
	cr_assert_eq(daxmap_region_remove(pool, "a", 0), 0);
	if (st.extents_free >= 3)
		cr_assert_eq(daxmap_region_remove(pool, "b", 0), 0);
	{
		struct daxmap_pool_stat end;

		cr_assert_eq(daxmap_pool_stat(pool, &end), 0);
		cr_assert_eq(end.extents_used, 0);
	}
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(pool, regions_on_devdax_2m)
{
	pool_round_trip(env_or_skip("DAXMAP_TEST_DEVDAX_2M"));
}

Test(pool, regions_on_devdax_1g)
{
	pool_round_trip(env_or_skip("DAXMAP_TEST_DEVDAX_1G"));
}

Test(pool, regions_on_fsdax)
{
	const char *dir = env_or_skip("DAXMAP_TEST_FSDAX_DIR");
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/pool", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(posix_fallocate(fd, 0, (off_t)(64 * MiB)), 0);
	close(fd);
	pool_round_trip(path);
	unlink(path);
}

Test(pool, references_on_devdax)
{
	const char *path = env_or_skip("DAXMAP_TEST_DEVDAX_2M");
	struct daxmap_dev *dev = open_dev(path);
	struct daxmap_pool *pool;
	struct daxmap_map *map;
	int ready[2];
	pid_t c;
	char b;

	cr_assert_eq(daxmap_pool_format(dev, 0, DAXMAP_FORMAT_FORCE), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_create(pool, "shared", 8 * MiB, NULL), 0);
	cr_assert_eq(pipe(ready), 0);
	c = fork();
	cr_assert_geq(c, 0);
	if (c == 0) {
		struct daxmap_dev *d;
		struct daxmap_pool *q;
		struct daxmap_map *m;

		if (daxmap_dev_open(&d, path, 0, 0) || daxmap_pool_open(&q, d, 0) ||
		    daxmap_region_map(&m, q, "shared", 0) || write(ready[1], "m", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	cr_assert_eq(read(ready[0], &b, 1), 1);
	cr_assert_eq(daxmap_region_map(&map, pool, "shared", 0), 0);
	/* two live holders: no removal */
	cr_assert_eq(daxmap_region_remove(pool, "shared", 0), -EBUSY);
	cr_assert(strstr(daxmap_errormsg(), "2 reference(s) still held"), "%s", daxmap_errormsg());
	/* the other process is killed: only our mapping remains */
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	cr_assert_eq(daxmap_region_remove(pool, "shared", 0), -EBUSY);
	cr_assert(strstr(daxmap_errormsg(), "1 reference(s) still held"), "%s", daxmap_errormsg());
	daxmap_map_delete(&map);
	cr_assert_eq(daxmap_region_remove(pool, "shared", 0), 0, "%s", daxmap_errormsg());
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
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

/* A field of the first object of a JSON text, or of the object itself. */
static struct json_object *field(struct json_object *j, const char *k)
{
	struct json_object *v;

	if (json_object_is_type(j, json_type_array))
		j = json_object_array_get_idx(j, 0);
	cr_assert(json_object_object_get_ex(j, k, &v), "no %s in %s", k,
		  json_object_to_json_string(j));
	return v;
}

Test(daxmapctl, info_matches_daxctl)
{
	static const char *const vars[] = { "DAXMAP_TEST_DEVDAX_2M", "DAXMAP_TEST_DEVDAX_1G" };
	const char *tool = getenv("DAXMAPCTL");

	cr_assert_not_null(tool);
	for (size_t i = 0; i < 2; i++) {
		const char *path = env_or_skip(vars[i]);
		const char *name = strrchr(path, '/') + 1;
		char cmd[512], *a, *b;
		struct json_object *ja, *jb;

		snprintf(cmd, sizeof(cmd), "%s info %s", tool, path);
		cr_assert_eq(run_capture(cmd, &a), 0);
		snprintf(cmd, sizeof(cmd), "daxctl list -d %s", name);
		cr_assert_eq(run_capture(cmd, &b), 0);
		ja = json_tokener_parse(a);
		jb = json_tokener_parse(b);
		cr_assert(ja && jb, "%s / %s", a, b);
		cr_assert_str_eq(json_object_get_string(field(ja, "kind")), "devdax");
		cr_assert_str_eq(json_object_get_string(field(ja, "chardev")), name);
		cr_assert_eq(json_object_get_int64(field(ja, "size")),
			     json_object_get_int64(field(jb, "size")));
		cr_assert_eq(json_object_get_int64(field(ja, "align")),
			     json_object_get_int64(field(jb, "align")));
		cr_assert_eq(json_object_get_int(field(ja, "numa_node")),
			     json_object_get_int(field(jb, "target_node")));
		json_object_put(ja);
		json_object_put(jb);
		free(a);
		free(b);
	}
}

Test(daxmapctl, list_shows_the_devices)
{
	const char *tool = getenv("DAXMAPCTL");
	char cmd[512], *out;
	struct json_object *j;

	env_or_skip("DAXMAP_TEST_DEVDAX_2M");
	snprintf(cmd, sizeof(cmd), "%s list", tool);
	cr_assert_eq(run_capture(cmd, &out), 0);
	j = json_tokener_parse(out);
	cr_assert(j && json_object_is_type(j, json_type_array), "%s", out);
	/* dax0.0, dax1.0 and the hmem device */
	cr_assert_geq(json_object_array_length(j), getenv("DAXMAP_TEST_HMEM") ? 3 : 2, "%s", out);
	json_object_put(j);
	free(out);
}

/* Runs in the runner before any test: no device here means skipped (77). */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	(void)set;
	if (!getenv("DAXMAP_TEST_DEVDAX_2M")) {
		fprintf(stderr, "skipped: no device-DAX here; tests/vm/run boots a VM that has them "
				"and sets DAXMAP_TEST_* (meson test --suite vm)\n");
		exit(77);
	}
}
