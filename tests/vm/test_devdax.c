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
#include <poll.h>
#include <setjmp.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <daxmap.h>

#include "helpers.h"

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
	char want[64];
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
	/* our own mapping is zapped (PROT_NONE) by our remove, the other
	 * process's is not: it alone blocks the removal */
	cr_assert_eq(daxmap_region_remove(pool, "shared", 0), -EBUSY);
	snprintf(want, sizeof(want), "1 reference(s) still held: pid %d mapping", (int)c);
	cr_assert(strstr(daxmap_errormsg(), want), "%s", daxmap_errormsg());
	/* the other process is killed: the wait drops its references */
	kill(c, SIGKILL);
	waitpid(c, NULL, 0);
	cr_assert_eq(daxmap_region_remove(pool, "shared", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_map_delete(&map), 0, "%s", daxmap_errormsg());
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

/* ---- release: zap, wait, reclaim across real processes (SPEC §4) ----
 *
 * Every holder below is a separate process: fork(), then the child opens
 * the device and the pool itself (region mappings are MADV_DONTFORK, and an
 * inherited pool handle is not the child's). Parent and child talk over two
 * pipes: one command byte down, one struct kid_msg back. A child whose
 * command pipe reaches EOF (the parent's test failed) exits.
 */

struct pooled {
	const char *path;
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	uint64_t es;          /* extent size */
	uint64_t free0;       /* free extents of the empty pool */
	uint64_t n;           /* extents of the test region */
};

static void fresh_pool(struct pooled *p, const char *path)
{
	struct daxmap_pool_stat st;

	p->path = path;
	p->dev = open_dev(path);
	cr_assert_eq(daxmap_pool_format(p->dev, 0, DAXMAP_FORMAT_FORCE), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_open(&p->pool, p->dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_stat(p->pool, &st), 0, "%s", daxmap_errormsg());
	p->es = st.extent_size;
	p->free0 = st.extents_free;
	/* the 1 GiB device has room for 2 extents only */
	p->n = st.extents_free >= 8 ? 4 : 1;
	cr_assert_geq(st.extents_free, p->n + 1);
}

static void close_pool(struct pooled *p)
{
	daxmap_pool_close(p->pool);
	daxmap_dev_close(p->dev);
}

static struct daxmap_pool_stat pstat(struct pooled *p)
{
	struct daxmap_pool_stat st;

	cr_assert_eq(daxmap_pool_stat(p->pool, &st), 0, "%s", daxmap_errormsg());
	return st;
}

/* Nothing is used any more and every extent is free again. */
static void assert_all_free(struct pooled *p)
{
	struct daxmap_pool_stat st = pstat(p);

	cr_assert_eq(st.extents_releasing, 0, "%llu extents still releasing",
		     (unsigned long long)st.extents_releasing);
	cr_assert_eq(st.extents_used, 0, "%llu extents still used",
		     (unsigned long long)st.extents_used);
	cr_assert_eq(st.extents_free, p->free0, "%llu extents free, %llu at the start",
		     (unsigned long long)st.extents_free, (unsigned long long)p->free0);
}

/* What a child writes into each extent of its mapping. */
static void pattern(char out[64], pid_t pid, uint64_t index)
{
	memset(out, 0, 64);
	snprintf(out, 64, "written by pid %d into extent %llu", (int)pid,
		 (unsigned long long)index);
}

/* Spots of each extent the pattern goes to: its start and its middle. */
static uint64_t spot(uint64_t es, uint64_t index, int which)
{
	return index * es + (which ? es / 2 : 0);
}

/* The reply to every command. Far below PIPE_BUF: written at once. */
struct kid_msg {
	int rc;             /* of the step: 0 or -errno */
	int64_t t_ns;       /* 'D': just before the mapping was dropped */
	pid_t cb_pid;       /* 'W', 'c': where the revoke callback ran */
	pid_t cb_tid;
	pid_t main_tid;     /* the child's main thread */
	int cb_calls;
	int cb_unpin_rc;    /* daxmap_unpin() inside the callback */
	char text[320];     /* daxmap_errormsg() or what went wrong */
};

struct kid {
	pid_t pid;
	int cmd;  /* the parent writes commands here */
	int rep;  /* and reads replies here */
};

#define KID_PIN 1U        /* pin [pin_off, +pin_len) of the mapping */
#define KID_REVOCABLE 2U  /* ... with a revoke callback that unpins */

/* The child's state (only ever used in the child). */
static struct daxmap_map *kid_map;
static struct daxmap_pin *kid_pin;
static int kid_cb_pipe[2];
static struct {
	pid_t pid, tid;
	int calls, unpin_rc;
} kid_cb;

static pid_t my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* Runs on a library thread of the child: stop using the memory, unpin. */
static void kid_revoke(struct daxmap_pin *pin, void *arg)
{
	(void)arg;
	kid_cb.pid = getpid();
	kid_cb.tid = my_tid();
	__atomic_add_fetch(&kid_cb.calls, 1, __ATOMIC_SEQ_CST);
	kid_cb.unpin_rc = pin == kid_pin ? daxmap_unpin(&kid_pin) : -EINVAL;
	if (write(kid_cb_pipe[1], "r", 1) != 1)
		_exit(9);
}

static void kid_reply(int fd, struct kid_msg *m)
{
	if (write(fd, m, sizeof(*m)) != (ssize_t)sizeof(*m))
		_exit(8);
}

static void kid_fail(struct kid_msg *m, int rc, const char *what)
{
	m->rc = rc ? rc : -EIO;
	snprintf(m->text, sizeof(m->text), "child %d: %s: %s", (int)getpid(), what,
		 daxmap_errormsg());
}

static int kid_verify(struct kid_msg *m, uint64_t es)
{
	const char *a = daxmap_map_addr(kid_map);
	uint64_t n = daxmap_map_len(kid_map) / es;
	char want[64];

	for (uint64_t i = 0; i < n; i++)
		for (int w = 0; w < 2; w++) {
			pattern(want, getpid(), i);
			if (memcmp(a + spot(es, i, w), want, sizeof(want)) != 0) {
				m->rc = -EIO;
				snprintf(m->text, sizeof(m->text),
					 "child %d: extent %llu holds \"%.63s\", not \"%s\"",
					 (int)getpid(), (unsigned long long)i, a + spot(es, i, w), want);
				return m->rc;
			}
		}
	return 0;
}

static void kid_fill_cb(struct kid_msg *m)
{
	m->cb_pid = kid_cb.pid;
	m->cb_tid = kid_cb.tid;
	m->cb_calls = __atomic_load_n(&kid_cb.calls, __ATOMIC_SEQ_CST);
	m->cb_unpin_rc = kid_cb.unpin_rc;
	m->main_tid = my_tid();
}

/* The child: map region (and pin), report, then obey commands. */
static _Noreturn void kid_main(const char *path, const char *region, uint64_t pin_off,
			       uint64_t pin_len, unsigned flags, int cmd, int rep)
{
	struct daxmap_dev *d;
	struct daxmap_pool *q;
	struct kid_msg m;
	uint64_t es;
	char *a, c;
	int rc;

	memset(&m, 0, sizeof(m));
	if (pipe(kid_cb_pipe) != 0)
		_exit(7);
	if ((rc = daxmap_dev_open(&d, path, 0, 0))) {
		kid_fail(&m, rc, "daxmap_dev_open");
		goto fail;
	}
	if ((rc = daxmap_pool_open(&q, d, 0))) {
		kid_fail(&m, rc, "daxmap_pool_open");
		goto fail;
	}
	if ((rc = daxmap_region_map(&kid_map, q, region, 0))) {
		kid_fail(&m, rc, "daxmap_region_map");
		goto fail;
	}
	es = daxmap_dev_align(d);
	a = daxmap_map_addr(kid_map);
	for (uint64_t i = 0; i < daxmap_map_len(kid_map) / es; i++)
		for (int w = 0; w < 2; w++) {
			char p[64];

			pattern(p, getpid(), i);
			daxmap_map_memcpy(kid_map, a + spot(es, i, w), p, sizeof(p), 0);
		}
	if ((flags & KID_PIN) &&
	    (rc = daxmap_pin_external(&kid_pin, kid_map, pin_off, pin_len,
				      (flags & KID_REVOCABLE) ? kid_revoke : NULL, NULL))) {
		kid_fail(&m, rc, "daxmap_pin_external");
		goto fail;
	}
	kid_reply(rep, &m);
	while (read(cmd, &c, 1) == 1) {
		struct pollfd pf = { .fd = kid_cb_pipe[0], .events = POLLIN };
		char r;

		memset(&m, 0, sizeof(m));
		switch (c) {
		case 'v': /* the data is still there, seen through the mapping */
			kid_verify(&m, es);
			break;
		case 'u':
			if ((rc = daxmap_unpin(&kid_pin)))
				kid_fail(&m, rc, "daxmap_unpin");
			break;
		case 'm':
			if ((rc = daxmap_map_delete(&kid_map)))
				kid_fail(&m, rc, "daxmap_map_delete");
			break;
		case 'D': /* drop the mapping 300 ms from now */
			usleep(300 * 1000);
			m.t_ns = now_ns();
			if ((rc = daxmap_map_delete(&kid_map)))
				kid_fail(&m, rc, "daxmap_map_delete");
			break;
		case 'W': /* wait for the revoke callback, then drop the mapping */
			if (poll(&pf, 1, 20000) != 1 || read(kid_cb_pipe[0], &r, 1) != 1) {
				kid_fail(&m, -ETIMEDOUT, "no revoke callback within 20 s");
				break;
			}
			kid_fill_cb(&m);
			if ((rc = daxmap_map_delete(&kid_map)))
				kid_fail(&m, rc, "daxmap_map_delete");
			break;
		case 'c':
			kid_fill_cb(&m);
			break;
		case 'q':
			_exit(0);
		default:
			_exit(6);
		}
		kid_reply(rep, &m);
	}
	_exit(3); /* the parent went away */
fail:
	kid_reply(rep, &m);
	_exit(2);
}

static struct kid_msg kid_read(struct kid *k)
{
	struct pollfd pf = { .fd = k->rep, .events = POLLIN };
	struct kid_msg m;

	cr_assert_eq(poll(&pf, 1, 60000), 1, "child %d did not answer within 60 s", (int)k->pid);
	cr_assert_eq(read(k->rep, &m, sizeof(m)), (ssize_t)sizeof(m), "child %d died",
		     (int)k->pid);
	return m;
}

static void kid_send(struct kid *k, char c)
{
	cr_assert_eq(write(k->cmd, &c, 1), 1);
}

/* Send c, expect success. */
static struct kid_msg kid_do(struct kid *k, char c)
{
	struct kid_msg m;

	kid_send(k, c);
	m = kid_read(k);
	cr_assert_eq(m.rc, 0, "child %d, command '%c': %s", (int)k->pid, c, m.text);
	return m;
}

static struct kid kid_start(struct pooled *p, const char *region, uint64_t pin_off,
			    uint64_t pin_len, unsigned flags)
{
	int down[2], up[2];
	struct kid k;
	struct kid_msg m;

	cr_assert_eq(pipe(down), 0);
	cr_assert_eq(pipe(up), 0);
	fflush(NULL);
	k.pid = fork();
	cr_assert_geq(k.pid, 0);
	if (k.pid == 0) {
		close(down[1]);
		close(up[0]);
		kid_main(p->path, region, pin_off, pin_len, flags, down[0], up[1]);
	}
	close(down[0]);
	close(up[1]);
	k.cmd = down[1];
	k.rep = up[0];
	m = kid_read(&k);
	cr_assert_eq(m.rc, 0, "%s", m.text);
	return k;
}

static void kid_end(struct kid *k)
{
	int st;

	kid_send(k, 'q');
	cr_assert_eq(waitpid(k->pid, &st, 0), k->pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d ended with status %#x",
		  (int)k->pid, st);
	close(k->cmd);
	close(k->rep);
}

/* The reference counts of region: every extent has (refcount, pins). */
static void assert_refs(struct pooled *p, const char *region, uint64_t n,
			uint32_t (*want)(uint64_t index, uint32_t *pins, void *arg), void *arg,
			int releasing)
{
	struct daxmap_extent_refs *r;
	size_t cnt;

	cr_assert_eq(daxmap_pool_refs(p->pool, region, &r, &cnt), 0, "%s", daxmap_errormsg());
	cr_assert_eq(cnt, n, "%zu extents listed for '%s', %llu expected", cnt, region,
		     (unsigned long long)n);
	for (size_t i = 0; i < cnt; i++) {
		uint32_t pins, ref = want(r[i].index, &pins, arg);

		cr_assert_eq(r[i].releasing, releasing, "extent %llu", (unsigned long long)r[i].extent);
		cr_assert_eq(r[i].refcount, ref, "extent %llu (index %llu): refcount %u, %u expected",
			     (unsigned long long)r[i].extent, (unsigned long long)r[i].index,
			     r[i].refcount, ref);
		cr_assert_eq(r[i].pins, pins, "extent %llu (index %llu): %u pins, %u expected",
			     (unsigned long long)r[i].extent, (unsigned long long)r[i].index,
			     r[i].pins, pins);
	}
	free(r);
}

/* The pin of the tests: extents 1 and 2 of 4 (straddling their seam, not
 * starting on an extent), or a piece of the only one. */
static void pin_range(const struct pooled *p, uint64_t *off, uint64_t *len)
{
	*off = p->n >= 4 ? p->es + 4096 : 4096;
	*len = p->n >= 4 ? p->es : 8192;
}

static int pinned(const struct pooled *p, uint64_t index)
{
	uint64_t off, len;

	pin_range(p, &off, &len);
	return index >= off / p->es && index <= (off + len - 1) / p->es;
}

struct want_arg {
	const struct pooled *p;
	uint32_t maps;  /* mappings on every extent */
	uint32_t pins;  /* pins on the pinned ones */
};

static uint32_t want_counts(uint64_t index, uint32_t *pins, void *arg)
{
	const struct want_arg *w = arg;

	*pins = pinned(w->p, index) ? w->pins : 0;
	return w->maps + *pins * DAXMAP_PIN_BIAS;
}

/* Total extents held by pid (kind 0: any kind), from daxmap_pool_holders(). */
static uint64_t held_by(struct pooled *p, pid_t pid, enum daxmap_ref_kind kind, int *revocable)
{
	struct daxmap_holding *h;
	size_t n;
	uint64_t sum = 0;

	cr_assert_eq(daxmap_pool_holders(p->pool, &h, &n), 0, "%s", daxmap_errormsg());
	for (size_t i = 0; i < n; i++) {
		if (h[i].pid != pid || (kind && h[i].kind != kind))
			continue;
		cr_assert_eq(h[i].alive, 1, "holder %d is alive", (int)pid);
		sum += h[i].extents;
		if (revocable)
			*revocable = h[i].revocable;
	}
	free(h);
	return sum;
}

/* What the device holds at each extent of a region being released, read
 * through a raw device mapping (no reference): the child's pattern. */
static void assert_device_holds(struct pooled *p, const char *region, pid_t pid)
{
	struct daxmap_extent_refs *r;
	size_t cnt;

	cr_assert_eq(daxmap_pool_refs(p->pool, region, &r, &cnt), 0, "%s", daxmap_errormsg());
	for (size_t i = 0; i < cnt; i++) {
		struct daxmap_map *raw;
		char want[64];
		const char *a;

		cr_assert_eq(daxmap_map_new(&raw, p->dev, r[i].offset, p->es, 0), 0, "%s",
			     daxmap_errormsg());
		a = daxmap_map_addr(raw);
		pattern(want, pid, r[i].index);
		for (int w = 0; w < 2; w++)
			cr_assert_eq(memcmp(a + spot(p->es, 0, w), want, sizeof(want)), 0,
				     "device offset %#llx holds \"%.63s\", not \"%s\"",
				     (unsigned long long)r[i].offset, a + spot(p->es, 0, w), want);
		daxmap_map_delete(&raw);
	}
	free(r);
}

static void assert_msg_has(const char *msg, const char *fmt, int pid)
{
	char want[128];

	snprintf(want, sizeof(want), fmt, pid);
	cr_assert(strstr(msg, want), "\"%s\" not in: %s", want, msg);
}

/* 1a. A live mapping in another process: the removal waits its timeout
 *     out, names the holder, and the extents stay ZAP until it goes. */
static void mapping_blocks_removal(const char *path)
{
	struct pooled p;
	struct want_arg w = { &p, 1, 0 };
	struct daxmap_map *m;
	struct daxmap_pool_stat st;
	struct kid k;
	char msg[1024];
	int64_t t0, ms;
	int rc;

	fresh_pool(&p, path);
	cr_assert_eq(daxmap_region_create(p.pool, "r", p.n * p.es, NULL), 0, "%s", daxmap_errormsg());
	k = kid_start(&p, "r", 0, 0, 0);
	cr_assert_eq(held_by(&p, k.pid, DAXMAP_REF_MAP, NULL), p.n);

	t0 = now_ns();
	rc = daxmap_region_remove(p.pool, "r", 200);
	ms = ms_since(t0);
	snprintf(msg, sizeof(msg), "%s", daxmap_errormsg());
	cr_assert_eq(rc, -EBUSY, "remove with a live mapping in pid %d: %d (%s)", (int)k.pid, rc, msg);
	cr_assert_geq(ms, 199, "gave up after %lld ms, not 200", (long long)ms);
	assert_msg_has(msg, "pid %d mapping", k.pid);
	assert_msg_has(msg, "%d extent(s) stay in ZAP", (int)p.n);
	cr_assert_null(strstr(msg, "pin ("), "%s", msg);

	/* ZAP: no new mapping, not found by name for anything else */
	cr_assert_eq(daxmap_region_map(&m, p.pool, "r", 0), -ESTALE, "%s", daxmap_errormsg());
	st = pstat(&p);
	cr_assert_eq(st.extents_releasing, p.n);
	cr_assert_eq(st.extents_used, p.n);
	assert_refs(&p, "r", p.n, want_counts, &w, 1);
	/* the holder's data is untouched, seen by it and on the device */
	kid_do(&k, 'v');
	assert_device_holds(&p, "r", k.pid);

	/* the holder lets go: a remove of the same name finishes the job */
	kid_do(&k, 'm');
	cr_assert_eq(daxmap_region_remove(p.pool, "r", 0), 0, "%s", daxmap_errormsg());
	assert_all_free(&p);
	cr_assert_eq(daxmap_region_map(&m, p.pool, "r", 0), -ENOENT);
	kid_end(&k);
	close_pool(&p);
}

/* 1b. The same with a pin: a pin alone (its mapping gone) still blocks;
 *     daxmap_pool_reclaim() finishes the removal once it is dropped. */
static void pin_blocks_removal(const char *path)
{
	struct pooled p;
	struct want_arg w = { &p, 1, 1 };
	struct daxmap_reclaim_stat rs;
	struct daxmap_map *m;
	struct kid k;
	uint64_t off, len;
	char msg[1024], want[64];
	int revocable = -1;
	int rc;

	fresh_pool(&p, path);
	pin_range(&p, &off, &len);
	cr_assert_eq(daxmap_region_create(p.pool, "r", p.n * p.es, NULL), 0, "%s", daxmap_errormsg());
	k = kid_start(&p, "r", off, len, KID_PIN);
	cr_assert_eq(held_by(&p, k.pid, DAXMAP_REF_PIN, &revocable), p.n >= 4 ? 2 : 1);
	cr_assert_eq(revocable, 0);
	assert_refs(&p, "r", p.n, want_counts, &w, 0);

	rc = daxmap_region_remove(p.pool, "r", 200);
	snprintf(msg, sizeof(msg), "%s", daxmap_errormsg());
	cr_assert_eq(rc, -EBUSY, "remove with a mapping and a pin in pid %d: %d (%s)", (int)k.pid,
		     rc, msg);
	assert_msg_has(msg, "pid %d mapping", k.pid);
	assert_msg_has(msg, "pid %d pin (external)", k.pid);
	cr_assert_eq(daxmap_region_map(&m, p.pool, "r", 0), -ESTALE, "%s", daxmap_errormsg());
	assert_refs(&p, "r", p.n, want_counts, &w, 1);
	kid_do(&k, 'v');
	assert_device_holds(&p, "r", k.pid);

	/* the mapping goes, the pin stays (a device still DMAs there) */
	kid_do(&k, 'm');
	w.maps = 0;
	assert_refs(&p, "r", p.n, want_counts, &w, 1);
	rc = daxmap_region_remove(p.pool, "r", 200);
	snprintf(msg, sizeof(msg), "%s", daxmap_errormsg());
	cr_assert_eq(rc, -EBUSY, "remove with a pin in pid %d: %d (%s)", (int)k.pid, rc, msg);
	assert_msg_has(msg, "pid %d pin (external)", k.pid);
	snprintf(want, sizeof(want), "pid %d mapping", (int)k.pid);
	cr_assert_null(strstr(msg, want), "%s", msg);
	cr_assert_eq(daxmap_pool_reclaim(p.pool, &rs), 0, "%s", daxmap_errormsg());
	cr_assert_eq(rs.releases_finished, 0);
	cr_assert_eq(rs.extents_waiting, p.n);
	cr_assert_eq(pstat(&p).extents_releasing, p.n);

	/* unpinned: reclaim frees them */
	kid_do(&k, 'u');
	cr_assert_eq(daxmap_pool_reclaim(p.pool, &rs), 0, "%s", daxmap_errormsg());
	cr_assert_eq(rs.releases_finished, 1);
	cr_assert_eq(rs.extents_freed, p.n);
	cr_assert_eq(rs.extents_waiting, 0);
	cr_assert_eq(rs.holders_dropped, 0, "the holder is alive");
	assert_all_free(&p);
	kid_end(&k);
	close_pool(&p);
}

Test(release, mapping_blocks_removal_2m, .timeout = 120)
{
	mapping_blocks_removal(env_or_skip("DAXMAP_TEST_DEVDAX_2M"));
}

Test(release, mapping_blocks_removal_hmem, .timeout = 120)
{
	mapping_blocks_removal(env_or_skip("DAXMAP_TEST_HMEM"));
}

Test(release, mapping_blocks_removal_1g, .timeout = 120)
{
	mapping_blocks_removal(env_or_skip("DAXMAP_TEST_DEVDAX_1G"));
}

Test(release, pin_blocks_removal_2m, .timeout = 120)
{
	pin_blocks_removal(env_or_skip("DAXMAP_TEST_DEVDAX_2M"));
}

Test(release, pin_blocks_removal_hmem, .timeout = 120)
{
	pin_blocks_removal(env_or_skip("DAXMAP_TEST_HMEM"));
}

Test(release, pin_blocks_removal_1g, .timeout = 120)
{
	pin_blocks_removal(env_or_skip("DAXMAP_TEST_DEVDAX_1G"));
}

/* 2. DAXMAP_WAIT_FOREVER returns once the other process dropped its
 *    mapping, not before: the child stamps the time just before it drops. */
static void wait_forever(const char *path)
{
	struct pooled p;
	struct kid_msg m;
	struct kid k;
	int64_t t0, t1;
	int rc;

	fresh_pool(&p, path);
	cr_assert_eq(daxmap_region_create(p.pool, "r", p.n * p.es, NULL), 0, "%s", daxmap_errormsg());
	k = kid_start(&p, "r", 0, 0, 0);
	t0 = now_ns();
	kid_send(&k, 'D'); /* drops its mapping 300 ms later */
	rc = daxmap_region_remove(p.pool, "r", DAXMAP_WAIT_FOREVER);
	t1 = now_ns();
	cr_assert_eq(rc, 0, "%s", daxmap_errormsg());
	m = kid_read(&k);
	cr_assert_eq(m.rc, 0, "%s", m.text);
	cr_assert_gt(t1, m.t_ns, "remove returned %lld us before the child dropped its mapping",
		     (long long)(m.t_ns - t1) / 1000);
	cr_assert_geq(t1 - t0, 300000000LL, "remove returned after %lld ms",
		      (long long)(t1 - t0) / 1000000);
	assert_all_free(&p);
	kid_end(&k);
	close_pool(&p);
}

Test(release, wait_forever_2m, .timeout = 120)
{
	wait_forever(env_or_skip("DAXMAP_TEST_DEVDAX_2M"));
}

Test(release, wait_forever_hmem, .timeout = 120)
{
	wait_forever(env_or_skip("DAXMAP_TEST_HMEM"));
}

Test(release, wait_forever_1g, .timeout = 120)
{
	wait_forever(env_or_skip("DAXMAP_TEST_DEVDAX_1G"));
}

/* 3. A revocable pin in another process: its callback runs there, on a
 *    library thread, and unpins; the child then drops its mapping. */
static void revocable_pin(const char *path)
{
	struct pooled p;
	struct want_arg w = { &p, 1, 1 };
	struct kid_msg m;
	struct kid k;
	uint64_t off, len;
	int revocable = -1;
	int64_t t0, ms;
	int rc;

	fresh_pool(&p, path);
	pin_range(&p, &off, &len);
	cr_assert_eq(daxmap_region_create(p.pool, "r", p.n * p.es, NULL), 0, "%s", daxmap_errormsg());
	k = kid_start(&p, "r", off, len, KID_PIN | KID_REVOCABLE);
	cr_assert_eq(held_by(&p, k.pid, DAXMAP_REF_PIN, &revocable), p.n >= 4 ? 2 : 1);
	cr_assert_eq(revocable, 1);
	assert_refs(&p, "r", p.n, want_counts, &w, 0);
	m = kid_do(&k, 'c');
	cr_assert_eq(m.cb_calls, 0, "revoked before any release");

	kid_send(&k, 'W');
	t0 = now_ns();
	rc = daxmap_region_remove(p.pool, "r", 5000);
	ms = ms_since(t0);
	cr_assert_eq(rc, 0, "after %lld ms: %s", (long long)ms, daxmap_errormsg());
	m = kid_read(&k);
	cr_assert_eq(m.rc, 0, "%s", m.text);
	cr_assert_eq(m.cb_pid, k.pid, "the callback ran in pid %d, not in the pin holder %d",
		     (int)m.cb_pid, (int)k.pid);
	cr_assert_neq(m.cb_tid, m.main_tid, "the callback ran on the child's main thread");
	cr_assert_eq(m.cb_unpin_rc, 0, "daxmap_unpin() in the callback: %d", m.cb_unpin_rc);
	cr_assert_eq(m.cb_calls, 1);
	assert_all_free(&p);
	/* called once */
	usleep(300 * 1000);
	m = kid_do(&k, 'c');
	cr_assert_eq(m.cb_calls, 1, "the revoke callback ran %d times", m.cb_calls);
	printf("release: revocable pin on %s: removed in %lld ms (callback in pid %d, thread %d)\n",
	       path, (long long)ms, (int)m.cb_pid, (int)m.cb_tid);
	fflush(stdout);
	kid_end(&k);
	close_pool(&p);
}

Test(release, revocable_pin_2m, .timeout = 120)
{
	revocable_pin(env_or_skip("DAXMAP_TEST_DEVDAX_2M"));
}

Test(release, revocable_pin_hmem, .timeout = 120)
{
	revocable_pin(env_or_skip("DAXMAP_TEST_HMEM"));
}

Test(release, revocable_pin_1g, .timeout = 120)
{
	revocable_pin(env_or_skip("DAXMAP_TEST_DEVDAX_1G"));
}

/* 4. Processes killed (SIGKILL) at random moments while they map, pin,
 *    unpin and unmap in a loop: after reclaim every count is exactly 0 and
 *    a removal with timeout 0 goes through. */
static _Noreturn void churn_main(const char *path, int ready, uint64_t es)
{
	struct daxmap_dev *d;
	struct daxmap_pool *q;
	struct daxmap_map *keep;

	/* a long-lived mapping: whenever the ready byte was sent, this
	 * process holds references */
	if (daxmap_dev_open(&d, path, 0, 0) || daxmap_pool_open(&q, d, 0) ||
	    daxmap_region_map(&keep, q, "k", 0))
		_exit(2);
	if (write(ready, "r", 1) != 1)
		_exit(3);
	for (unsigned i = 0;; i++) {
		struct daxmap_map *m;
		struct daxmap_pin *pin;
		volatile char *a;

		if (daxmap_region_map(&m, q, "k", 0))
			_exit(4);
		a = daxmap_map_addr(m);
		a[(i * 4096) % (2 * es)] = (char)i;
		/* across the seam of the two extents; every other one revocable */
		if (daxmap_pin_external(&pin, m, es / 2, es, (i & 1) ? kid_revoke : NULL, NULL))
			_exit(5);
		if (daxmap_unpin(&pin) || daxmap_map_delete(&m))
			_exit(6);
	}
}

static void killed_holders(const char *path, int rounds)
{
	struct pooled p;
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	int kills = 0, holding = 0, dropped = 0, early = 0;
	int64_t t0 = now_ns();

	fresh_pool(&p, path);
	srand(seed);
	cr_assert_eq(daxmap_region_create(p.pool, "k", 2 * p.es, NULL), 0, "%s", daxmap_errormsg());
	/* attach to the runtime state now: a first attach drops dead holders
	 * by itself, and the listing below must see them first */
	cr_assert_eq(daxmap_pool_reclaim(p.pool, NULL), 0, "%s", daxmap_errormsg());
	for (int i = 0; i < rounds; i++) {
		struct daxmap_reclaim_stat rs;
		struct daxmap_extent_refs *r;
		struct daxmap_holding *h;
		size_t n;
		int ready[2], st, dead = 0;
		pid_t c;

		cr_assert_eq(pipe(ready), 0);
		fflush(NULL);
		c = fork();
		cr_assert_geq(c, 0);
		if (c == 0) {
			close(ready[0]);
			churn_main(path, ready[1], p.es);
		}
		close(ready[1]);
		if (i % 4 == 3) {
			/* anywhere, opening the pool included */
			usleep((useconds_t)(rand() % 40000));
		} else {
			struct pollfd pf = { .fd = ready[0], .events = POLLIN };
			char b;

			cr_assert_eq(poll(&pf, 1, 60000), 1, "round %d: child not ready", i);
			cr_assert_eq(read(ready[0], &b, 1), 1, "round %d: the child failed", i);
			usleep((useconds_t)(rand() % 20000));
		}
		cr_assert_eq(kill(c, SIGKILL), 0);
		cr_assert_eq(waitpid(c, &st, 0), c);
		close(ready[0]);
		if (WIFEXITED(st))
			cr_assert_fail("round %d: the child exited with %d before the kill", i,
				       WEXITSTATUS(st));
		cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "round %d: status %#x", i, st);
		kills++;

		/* before reclaim: did it die holding references? */
		cr_assert_eq(daxmap_pool_holders(p.pool, &h, &n), 0, "%s", daxmap_errormsg());
		for (size_t j = 0; j < n; j++) {
			cr_assert_eq(h[j].pid, c, "round %d: a reference of pid %d", i, h[j].pid);
			cr_assert_eq(h[j].alive, 0, "round %d: pid %d is dead", i, (int)c);
			dead++;
		}
		free(h);
		holding += dead > 0;
		early += i % 4 == 3 && dead == 0;
		/* it had mapped "k" before it said ready */
		cr_assert(i % 4 == 3 || dead > 0, "round %d: killed after mapping, no references listed", i);

		cr_assert_eq(daxmap_pool_reclaim(p.pool, &rs), 0, "round %d: %s", i, daxmap_errormsg());
		dropped += (int)rs.holders_dropped;
		if (dead)
			cr_assert_eq(rs.holders_dropped, 1, "round %d: reclaim dropped %u holders",
				     i, rs.holders_dropped);
		cr_assert_eq(daxmap_pool_refs(p.pool, NULL, &r, &n), 0, "%s", daxmap_errormsg());
		cr_assert_eq(n, 2);
		for (size_t j = 0; j < n; j++) {
			cr_assert_eq(r[j].refcount, 0, "round %d (%d references before reclaim): extent %llu refcount %u",
				     i, dead, (unsigned long long)r[j].extent, r[j].refcount);
			cr_assert_eq(r[j].pins, 0, "round %d: extent %llu pins %u", i,
				     (unsigned long long)r[j].extent, r[j].pins);
			cr_assert_eq(r[j].releasing, 0);
		}
		free(r);
		cr_assert_eq(daxmap_pool_holders(p.pool, &h, &n), 0, "%s", daxmap_errormsg());
		free(h);
		cr_assert_eq(n, 0, "round %d: %zu references left after reclaim", i, n);

		/* nothing blocks the removal of what the dead process used */
		cr_assert_eq(daxmap_region_remove(p.pool, "k", 0), 0, "round %d: %s", i,
			     daxmap_errormsg());
		assert_all_free(&p);
		cr_assert_eq(daxmap_region_create(p.pool, "k", 2 * p.es, NULL), 0, "%s",
			     daxmap_errormsg());
	}
	cr_assert_eq(daxmap_region_remove(p.pool, "k", 0), 0, "%s", daxmap_errormsg());
	assert_all_free(&p);
	printf("release: %s: %d processes killed with SIGKILL (%d holding references, %d before "
	       "mapping anything), %d dead holders dropped by reclaim, %lld ms, seed %u\n",
	       path, kills, holding, early, dropped, (long long)ms_since(t0), seed);
	fflush(stdout);
	cr_assert_geq(holding, rounds / 2, "too few kills landed while references were held");
	close_pool(&p);
}

Test(release, killed_holders_2m, .timeout = 300)
{
	killed_holders(env_or_skip("DAXMAP_TEST_DEVDAX_2M"), 50);
}

Test(release, killed_holders_hmem, .timeout = 300)
{
	killed_holders(env_or_skip("DAXMAP_TEST_HMEM"), 50);
}

Test(release, killed_holders_1g, .timeout = 300)
{
	killed_holders(env_or_skip("DAXMAP_TEST_DEVDAX_1G"), 20);
}

/*
 * The permissions of [addr, addr + len) in /proc/self/maps: 1 when the
 * whole range is mapped with perms, 0 when some of it has others, -1 when
 * part of it is not mapped at all.
 */
static int range_perms(const void *addr, uint64_t len, const char *perms)
{
	FILE *f = fopen("/proc/self/maps", "re");
	uintptr_t lo = (uintptr_t)addr, hi = lo + len, at = lo;
	char line[512];
	int ok = 1;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		char pr[8];

		if (sscanf(line, "%lx-%lx %7s", &a, &b, pr) != 3 || b <= lo || a >= hi)
			continue;
		if (strcmp(pr, perms) != 0)
			ok = 0;
		if (a <= at && b > at)
			at = b;
	}
	fclose(f);
	return at < hi ? -1 : ok;
}

static sigjmp_buf segv_jmp;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(segv_jmp, 1);
}

/* Does reading addr fault? */
static int read_faults(const volatile char *addr)
{
	struct sigaction sa, old;
	int faulted = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old);
	if (sigsetjmp(segv_jmp, 1) == 0)
		(void)*addr;
	else
		faulted = 1;
	sigaction(SIGSEGV, &old, NULL);
	return faulted;
}

/* 5. The caller's own mapping does not hold its own removal up: it becomes
 *    PROT_NONE (a stale access faults) and the extents are freed at once.
 *    A shrink does the same to the tail only. */
static void own_mapping(const char *path)
{
	struct pooled p;
	struct daxmap_map *m;
	uint64_t n, keep, actual;
	char *a;
	int64_t t0, ms;
	int rc;

	fresh_pool(&p, path);
	n = p.n >= 4 ? 4 : 2;
	keep = n / 2;
	cr_assert_eq(daxmap_region_create(p.pool, "own", n * p.es, NULL), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map(&m, p.pool, "own", 0), 0, "%s", daxmap_errormsg());
	a = daxmap_map_addr(m);
	for (uint64_t i = 0; i < n; i++)
		a[i * p.es] = 'x';
	cr_assert_eq(range_perms(a, n * p.es, "rw-s"), 1);

	/* shrink: the tail goes PROT_NONE, the head stays */
	t0 = now_ns();
	rc = daxmap_region_resize(p.pool, "own", keep * p.es, &actual, 10000);
	ms = ms_since(t0);
	cr_assert_eq(rc, 0, "shrink with only our own mapping: %s", daxmap_errormsg());
	cr_assert_eq(actual, keep * p.es);
	cr_assert_lt(ms, 5000, "the shrink took %lld ms", (long long)ms);
	cr_assert_eq(range_perms(a, keep * p.es, "rw-s"), 1, "the head was touched");
	cr_assert_eq(range_perms(a + keep * p.es, (n - keep) * p.es, "---p"), 1,
		     "the released tail is not PROT_NONE");
	cr_assert_eq(pstat(&p).extents_used, keep);
	cr_assert_eq(pstat(&p).extents_releasing, 0);
	cr_assert_eq(a[0], 'x');
	cr_assert(read_faults(a + keep * p.es), "reading the released tail did not fault");

	/* remove: the rest, at once */
	t0 = now_ns();
	rc = daxmap_region_remove(p.pool, "own", 10000);
	ms = ms_since(t0);
	cr_assert_eq(rc, 0, "remove with only our own mapping: %s", daxmap_errormsg());
	cr_assert_lt(ms, 5000, "the remove took %lld ms", (long long)ms);
	cr_assert_eq(range_perms(a, n * p.es, "---p"), 1, "the mapping is not PROT_NONE");
	cr_assert(read_faults(a), "reading a removed region did not fault");
	assert_all_free(&p);
	printf("release: own mapping on %s: shrink and remove did not wait (%lld ms)\n", path,
	       (long long)ms);
	fflush(stdout);
	cr_assert_eq(daxmap_map_delete(&m), 0, "%s", daxmap_errormsg());
	cr_assert_eq(range_perms(a, n * p.es, "---p"), -1, "still mapped after daxmap_map_delete()");
	close_pool(&p);
}

Test(release, own_mapping_prot_none_2m, .timeout = 120)
{
	own_mapping(env_or_skip("DAXMAP_TEST_DEVDAX_2M"));
}

Test(release, own_mapping_prot_none_hmem, .timeout = 120)
{
	own_mapping(env_or_skip("DAXMAP_TEST_HMEM"));
}

Test(release, own_mapping_prot_none_1g, .timeout = 120)
{
	own_mapping(env_or_skip("DAXMAP_TEST_DEVDAX_1G"));
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
