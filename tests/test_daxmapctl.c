/* SPDX-License-Identifier: BSD-3-Clause */
/* test_daxmapctl.c -- the command line: output, exit codes, errors */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <daxmap.h>

#include "child.h"
#include "helpers.h"
#include "pin_table.h"

static const char *tool(void)
{
	const char *t = getenv("DAXMAPCTL");

	cr_assert_not_null(t, "DAXMAPCTL must point at the built daxmapctl");
	return t;
}

/* Run "daxmapctl ARGS", return the exit status, stdout in *out. */
static int ctl(char **out, const char *fmt, ...)
{
	char args[1024], cmd[1400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s %s 2>/dev/null", tool(), args);
	return run_capture(cmd, out);
}

static int ctl_err(char **err, const char *args)
{
	char cmd[1400];

	snprintf(cmd, sizeof(cmd), "%s %s 2>&1 >/dev/null", tool(), args);
	return run_capture(cmd, err);
}

/* Parse stdout of a successful command as JSON. */
static struct json_object *ctl_json(const char *fmt, const char *a, const char *b)
{
	char args[512], *out;
	struct json_object *j;

	snprintf(args, sizeof(args), fmt, a, b);
	cr_assert_eq(ctl(&out, "%s", args), 0, "daxmapctl %s failed", args);
	j = json_tokener_parse(out);
	cr_assert_not_null(j, "not JSON: %s", out);
	free(out);
	return j;
}

static int64_t jint(struct json_object *j, const char *path)
{
	char key[64];
	const char *dot = strchr(path, '.');
	struct json_object *v;

	if (dot) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		cr_assert(json_object_object_get_ex(j, key, &v), "no %s", key);
		return jint(v, dot + 1);
	}
	cr_assert(json_object_object_get_ex(j, path, &v), "no %s", path);
	return json_object_get_int64(v);
}

/* Element i of a JSON array (which must have it), or member key of it. */
static struct json_object *jat(struct json_object *arr, size_t i, const char *key)
{
	struct json_object *e, *v;

	cr_assert(json_object_is_type(arr, json_type_array));
	cr_assert_lt(i, json_object_array_length(arr), "no element %zu", i);
	e = json_object_array_get_idx(arr, i);
	if (!key)
		return e;
	cr_assert(json_object_object_get_ex(e, key, &v), "no %s", key);
	return v;
}

static const char *jstr(struct json_object *j, const char *key)
{
	struct json_object *v;

	cr_assert(json_object_object_get_ex(j, key, &v), "no %s", key);
	return json_object_get_string(v);
}

static bool jbool(struct json_object *j, const char *key)
{
	struct json_object *v;

	cr_assert(json_object_object_get_ex(j, key, &v), "no %s", key);
	cr_assert(json_object_is_type(v, json_type_boolean), "%s is not a boolean", key);
	return json_object_get_boolean(v);
}

Test(daxmapctl, info_emulated_file)
{
	const char *p = make_file(64 * MiB);
	struct json_object *j = ctl_json("info --align 4M %s%s", p, "");

	cr_assert_str_eq(jstr(j, "path"), p);
	cr_assert_str_eq(jstr(j, "kind"), "file");
	cr_assert_eq(jint(j, "size"), (int64_t)(64 * MiB));
	cr_assert_eq(jint(j, "align"), (int64_t)(4 * MiB));
	cr_assert_eq(jint(j, "numa_node"), -1);
	json_object_put(j);
}

Test(daxmapctl, info_human_sizes)
{
	struct json_object *j = ctl_json("info -u %s%s", make_file(2 * GiB), "");

	cr_assert_str_eq(jstr(j, "size"), "2.00 GiB (2.15 GB)");
	cr_assert_str_eq(jstr(j, "align"), "2.00 MiB (2.10 MB)");
	json_object_put(j);
}

Test(daxmapctl, info_errors)
{
	const char *p = make_file(3 * MiB);
	char *err, cmd[512];

	snprintf(cmd, sizeof(cmd), "info %s", p);
	cr_assert_eq(ctl_err(&err, cmd), 1);
	cr_assert(strstr(err, "daxmapctl info: ") && strstr(err, "not a multiple of the alignment 2 MiB"),
		  "%s", err);
	free(err);
	cr_assert_eq(ctl_err(&err, "info /nonexistent"), 1);
	cr_assert(strstr(err, "/nonexistent: no such device or file"), "%s", err);
	free(err);
	cr_assert_eq(ctl_err(&err, "info /dev/null"), 1);
	cr_assert(strstr(err, "not a device-DAX device"), "%s", err);
	free(err);
	cr_assert_eq(ctl_err(&err, "info --align 3M /dev/null"), 1);
	cr_assert(strstr(err, "not a power of two"), "%s", err);
	free(err);
}

/* info tells "no pool" (neither key) from a pool ("pool") and from a pool
 * it cannot read ("pool_error"), by the error code, not the text */
Test(daxmapctl, info_pool_or_pool_error)
{
	const char *p = make_file(64 * MiB);
	static const char junk[8] = "junkjunk";
	struct json_object *j, *v;
	char *out;
	int fd;

	for (int step = 0; step < 3; step++) {
		if (step == 1)
			cr_assert_eq(ctl(&out, "format %s", p), 0);
		if (step == 1)
			free(out);
		if (step == 2) {
			/* both superblocks' checksums broken (a reserved
			 * word changed): a damaged pool */
			fd = open(p, O_WRONLY);
			cr_assert_geq(fd, 0);
			cr_assert_eq(pwrite(fd, junk, 8, 100), 8);
			cr_assert_eq(pwrite(fd, junk, 8, (2 << 20) + 100), 8);
			close(fd);
		}
		cr_assert_eq(ctl(&out, "info %s", p), 0, "step %d", step);
		j = json_tokener_parse(out);
		cr_assert_not_null(j, "not JSON: %s", out);
		cr_assert_eq(json_object_object_get_ex(j, "pool", &v), step == 1, "step %d: %s", step, out);
		cr_assert_eq(json_object_object_get_ex(j, "pool_error", &v), step == 2, "step %d: %s",
			     step, out);
		if (step == 2)
			cr_assert(strstr(json_object_get_string(v), "checksum"), "%s", out);
		json_object_put(j);
		free(out);
	}
}

Test(daxmapctl, usage_errors_exit_2)
{
	char *out;

	cr_assert_eq(ctl(&out, "info"), 2);
	free(out);
	cr_assert_eq(ctl(&out, "info a b"), 2);
	free(out);
	cr_assert_eq(ctl(&out, "info --align banana /dev/null"), 2);
	free(out);
	cr_assert_eq(ctl(&out, "info --bogus x"), 2);
	free(out);
	cr_assert_eq(ctl(&out, "list extra"), 2);
	free(out);
	cr_assert_eq(ctl(&out, "frobnicate"), 2);
	free(out);
	cr_assert_eq(ctl(&out, ""), 2);
	free(out);
}

Test(daxmapctl, help_everywhere)
{
	static const char *const cmds[] = { "--help", "help", "list --help", "info --help", "info -h",
					    "format --help", "create --help", "resize --help", "remove --help",
					    "regions --help", "check --help", "refs --help",
					    "holders --help", "reclaim --help" };
	char *out;

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		cr_assert_eq(ctl(&out, "%s", cmds[i]), 0, "%s", cmds[i]);
		cr_assert(strstr(out, "usage: daxmapctl"), "%s: %s", cmds[i], out);
		free(out);
	}
	cr_assert_eq(ctl(&out, "--version"), 0);
	cr_assert_gt(strlen(out), 1);
	free(out);
}

Test(daxmapctl, list_is_a_json_array)
{
	struct json_object *j;
	char *out;

	cr_assert_eq(ctl(&out, "list"), 0);
	j = json_tokener_parse(out);
	cr_assert_not_null(j, "not JSON: %s", out);
	cr_assert(json_object_is_type(j, json_type_array));
	/* without a devdax device (no /sys/bus/dax devices), exactly [] */
	if (getenv("DAXMAP_VM") == NULL &&
	    system("ls /sys/bus/dax/devices/dax* >/dev/null 2>&1") != 0) {
		cr_assert_eq(json_object_array_length(j), 0);
		cr_assert_str_eq(out, "[\n]\n");
	}
	json_object_put(j);
	free(out);
	cr_assert_eq(ctl(&out, "list -u"), 0);
	free(out);
}

Test(daxmapctl, pool_life_cycle)
{
	const char *p = make_file(64 * MiB);
	struct json_object *j;
	char *err, cmd[512];

	j = ctl_json("format %s%s", p, "");
	cr_assert_eq(jint(j, "extents.total"), 32);
	cr_assert_eq(jint(j, "extents.free"), 30);
	json_object_put(j);
	j = ctl_json("create %s wal%s", p, " 5M");
	cr_assert_eq(jint(j, "size"), (int64_t)(6 * MiB));
	cr_assert_eq(jint(j, "extents"), 3);
	json_object_put(j);
	j = ctl_json("resize %s wal%s", p, " 1");
	cr_assert_eq(jint(j, "extents"), 1);
	json_object_put(j);
	j = ctl_json("regions %s%s", p, "");
	cr_assert_eq(json_object_array_length(j), 1);
	json_object_put(j);
	j = ctl_json("info %s%s", p, "");
	cr_assert_eq(jint(j, "pool.extents.used"), 1);
	cr_assert_eq(jint(j, "pool.regions"), 1);
	json_object_put(j);
	j = ctl_json("check %s%s", p, "");
	cr_assert_eq(jint(j, "problems"), 0);
	json_object_put(j);

	snprintf(cmd, sizeof(cmd), "create %s wal 1M", p);
	cr_assert_eq(ctl_err(&err, cmd), 1);
	cr_assert(strstr(err, "daxmapctl create: a region named 'wal' exists already"), "%s", err);
	free(err);
	snprintf(cmd, sizeof(cmd), "create %s big 1G", p);
	cr_assert_eq(ctl_err(&err, cmd), 1);
	cr_assert(strstr(err, "only 29 (58 MiB) are free"), "%s", err);
	free(err);
	snprintf(cmd, sizeof(cmd), "format %s", p);
	cr_assert_eq(ctl_err(&err, cmd), 1);
	cr_assert(strstr(err, "already holds a pool"), "%s", err);
	free(err);
	snprintf(cmd, sizeof(cmd), "create %s x 0", p);
	cr_assert_eq(ctl_err(&err, cmd), 1);
	free(err);
	snprintf(cmd, sizeof(cmd), "create %s x banana", p);
	cr_assert_eq(ctl_err(&err, cmd), 2);
	free(err);
	snprintf(cmd, sizeof(cmd), "remove --force %s wal", p);
	cr_assert_eq(ctl_err(&err, cmd), 2);
	cr_assert(strstr(err, "does not apply"), "%s", err);
	free(err);

	snprintf(cmd, sizeof(cmd), "remove %s wal", p);
	cr_assert_eq(ctl_err(&err, cmd), 0);
	free(err);
	cr_assert_eq(ctl_err(&err, cmd), 1);
	cr_assert(strstr(err, "no region named 'wal'"), "%s", err);
	free(err);
	j = ctl_json("format --force --extent-size 4M %s%s", p, "");
	cr_assert_eq(jint(j, "extent_size"), (int64_t)(4 * MiB));
	json_object_put(j);
}

Test(daxmapctl, check_finds_and_repairs)
{
	const char *p = make_file(64 * MiB);
	struct json_object *j;
	char *out;
	FILE *f;

	j = ctl_json("format %s%s", p, "");
	json_object_put(j);
	f = fopen(p, "r+");
	cr_assert_not_null(f);
	fseek(f, 40, SEEK_SET);
	fputs("damage", f);
	fclose(f);
	cr_assert_eq(ctl(&out, "check %s", p), 1);
	j = json_tokener_parse(out);
	cr_assert_eq(jint(j, "problems"), 1);
	json_object_put(j);
	free(out);
	j = ctl_json("check --repair %s%s", p, "");
	cr_assert_eq(jint(j, "remaining"), 0);
	json_object_put(j);
	j = ctl_json("check %s%s", p, "");
	cr_assert_eq(jint(j, "problems"), 0);
	json_object_put(j);
	cr_assert_eq(ctl(&out, "check /dev/null"), 1);
	free(out);
}

/* ---- refs, holders, reclaim ---------------------------------------- */

/* The whole device file, to prove a failed command changed nothing. */
static char *slurp(const char *p, size_t *len)
{
	FILE *f = fopen(p, "rb");
	char *buf;

	cr_assert_not_null(f);
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	*len = (size_t)ftell(f);
	rewind(f);
	buf = malloc(*len ? *len : 1);
	cr_assert_not_null(buf);
	cr_assert_eq(fread(buf, 1, *len, f), *len);
	fclose(f);
	return buf;
}

/* A pool on a new 64 MiB emulated device with region wal (3 extents,
 * extent numbers 2-4) and, if other, region other (1 extent). */
static const char *make_pool(bool other)
{
	const char *p = make_file(64 * MiB);

	json_object_put(ctl_json("format %s%s", p, ""));
	json_object_put(ctl_json("create %s wal%s", p, " 5M"));
	if (other)
		json_object_put(ctl_json("create %s other%s", p, " 1M"));
	return p;
}

/* Element i of the output of refs must be extent index of region, in
 * state, with refcount, pins and nholders holders. */
static void expect_refs(struct json_object *refs, size_t i, const char *region, int64_t index,
			const char *state, int64_t refcount, int64_t pins, size_t nholders)
{
	struct json_object *e = jat(refs, i, NULL), *h;

	cr_assert_str_eq(jstr(e, "region"), region);
	cr_assert_eq(jint(e, "index"), index);
	cr_assert_str_eq(jstr(e, "state"), state, "extent %zu", i);
	cr_assert_eq(jint(e, "refcount"), refcount, "extent %zu: refcount %lld", i,
		     (long long)jint(e, "refcount"));
	cr_assert_eq(jint(e, "pins"), pins, "extent %zu", i);
	cr_assert(json_object_object_get_ex(e, "holders", &h));
	cr_assert_eq(json_object_array_length(h), nholders, "extent %zu", i);
}

Test(daxmapctl, refs_show_own_mapping_and_pin)
{
	const char *p = make_pool(true);
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	struct daxmap_map *map;
	struct daxmap_pin *pin;
	struct json_object *j, *h, *r;

	j = ctl_json("refs %s%s", p, "");
	cr_assert_eq(json_object_array_length(j), 4);
	for (size_t i = 0; i < 3; i++)
		expect_refs(j, i, "wal", (int64_t)i, "live", 0, 0, 0);
	expect_refs(j, 3, "other", 0, "live", 0, 0, 0);
	cr_assert_eq(jint(jat(j, 0, NULL), "extent"), 2);
	cr_assert_eq(jint(jat(j, 0, NULL), "offset"), (int64_t)(4 * MiB));
	json_object_put(j);

	cr_assert_eq(daxmap_dev_open(&dev, p, 0, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map(&map, pool, "wal", 0), 0, "%s", daxmap_errormsg());
	j = ctl_json("refs %s %s", p, "wal");
	cr_assert_eq(json_object_array_length(j), 3, "only wal's extents");
	for (size_t i = 0; i < 3; i++) {
		expect_refs(j, i, "wal", (int64_t)i, "live", 1, 0, 1);
		h = jat(jat(j, i, "holders"), 0, NULL);
		cr_assert_eq(jint(h, "pid"), getpid());
		cr_assert_str_eq(jstr(h, "kind"), "map");
		cr_assert(jbool(h, "alive"));
		cr_assert(!json_object_object_get_ex(h, "backend", NULL), "backend is for pins");
	}
	json_object_put(j);

	/* a pin of the second extent: DAXMAP_PIN_BIAS on top of the mapping */
	cr_assert_eq(daxmap_pin_external(&pin, map, 2 * MiB, 2 * MiB, NULL, NULL), 0, "%s",
		     daxmap_errormsg());
	j = ctl_json("refs -u %s%s", p, "");
	expect_refs(j, 0, "wal", 0, "live", 1, 0, 1);
	expect_refs(j, 1, "wal", 1, "live", DAXMAP_PIN_BIAS + 1, 1, 2);
	expect_refs(j, 2, "wal", 2, "live", 1, 0, 1);
	expect_refs(j, 3, "other", 0, "live", 0, 0, 0);
	cr_assert_str_eq(json_object_get_string(jat(j, 1, "offset")), "6.00 MiB (6.29 MB)");
	for (size_t k = 0; k < 2; k++) {
		h = jat(jat(j, 1, "holders"), k, NULL);
		cr_assert_eq(jint(h, "pid"), getpid());
		if (strcmp(jstr(h, "kind"), "pin") == 0) {
			cr_assert_str_eq(jstr(h, "backend"), "external");
			cr_assert(!jbool(h, "revocable"));
		} else {
			cr_assert_str_eq(jstr(h, "kind"), "map");
		}
	}
	json_object_put(j);

	/* one process, two references: the mapping and the pin */
	j = ctl_json("holders %s%s", p, "");
	cr_assert_eq(json_object_array_length(j), 1);
	h = jat(j, 0, NULL);
	cr_assert_eq(jint(h, "pid"), getpid());
	cr_assert_gt(jint(h, "start_time"), 0);
	cr_assert(jbool(h, "alive"));
	cr_assert(json_object_object_get_ex(h, "references", &r));
	cr_assert_eq(json_object_array_length(r), 2);
	for (size_t k = 0; k < 2; k++) {
		struct json_object *e = jat(r, k, NULL);
		bool is_pin = strcmp(jstr(e, "kind"), "pin") == 0;

		cr_assert_str_eq(jstr(e, "region"), "wal");
		cr_assert_eq(jint(e, "index"), is_pin ? 1 : 0);
		cr_assert_eq(jint(e, "extent"), is_pin ? 3 : 2);
		cr_assert_eq(jint(e, "extents"), is_pin ? 1 : 3);
		cr_assert(json_object_object_get_ex(e, "id", NULL));
		if (is_pin)
			cr_assert_str_eq(jstr(e, "backend"), "external");
	}
	json_object_put(j);

	cr_assert_eq(daxmap_unpin(&pin), 0);
	cr_assert_eq(daxmap_map_delete(&map), 0);
	j = ctl_json("refs %s%s", p, "");
	for (size_t i = 0; i < 3; i++)
		expect_refs(j, i, "wal", (int64_t)i, "live", 0, 0, 0);
	json_object_put(j);
	j = ctl_json("holders %s%s", p, "");
	cr_assert_eq(json_object_array_length(j), 0);
	json_object_put(j);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/* The JSON of reclaim: four counts. */
static struct json_object *reclaim_json(const char *p)
{
	static const char *const keys[] = { "holders_dropped", "releases_finished",
					    "extents_freed", "extents_waiting" };
	struct json_object *j = ctl_json("reclaim %s%s", p, ""), *v;

	cr_assert_eq(json_object_object_length(j), 4);
	for (size_t i = 0; i < 4; i++) {
		cr_assert(json_object_object_get_ex(j, keys[i], &v), "no %s", keys[i]);
		cr_assert(json_object_is_type(v, json_type_int), "%s", keys[i]);
	}
	return j;
}

Test(daxmapctl, reclaim_drops_a_killed_holder)
{
	const char *p = make_pool(false);
	struct json_object *j;
	struct child c = child_mapping(p, "wal");

	j = ctl_json("holders %s%s", p, "");
	cr_assert_eq(json_object_array_length(j), 1);
	cr_assert_eq(jint(jat(j, 0, NULL), "pid"), c.pid);
	cr_assert(jbool(jat(j, 0, NULL), "alive"));
	json_object_put(j);
	child_kill(&c);

	json_object_put(reclaim_json(p));
	j = ctl_json("refs %s%s", p, "");
	for (size_t i = 0; i < 3; i++)
		expect_refs(j, i, "wal", (int64_t)i, "live", 0, 0, 0);
	json_object_put(j);
	j = ctl_json("holders %s%s", p, "");
	cr_assert_eq(json_object_array_length(j), 0);
	json_object_put(j);
	/* nothing left to do */
	j = reclaim_json(p);
	cr_assert_eq(jint(j, "holders_dropped"), 0);
	cr_assert_eq(jint(j, "extents_waiting"), 0);
	json_object_put(j);
}

/* A listing keeps dead holders' references visible; reclaim drops them. */
/* How many runtime state files there are (one per pool in use). */
static int runtime_files(void)
{
	char cmd[600], *out;
	int n = 0;

	snprintf(cmd, sizeof(cmd), "ls %s/ 2>/dev/null | grep -c '^daxmap-.*\\.rt$'",
		 getenv("DAXMAP_RUNTIME_DIR"));
	run_capture(cmd, &out);
	n = atoi(out);
	free(out);
	return n;
}

Test(daxmapctl, a_dead_holder_is_shown_then_its_runtime_state_goes)
{
	const char *p = make_pool(false);
	struct json_object *j, *h;
	int before = runtime_files();
	struct child c = child_mapping(p, "wal");
	pid_t pid = c.pid;

	child_kill(&c);
	cr_assert_eq(runtime_files(), before + 1, "a killed holder leaves its pool's runtime state");
	j = ctl_json("refs %s%s", p, "");
	expect_refs(j, 0, "wal", 0, "live", 1, 0, 1);
	h = jat(jat(j, 0, "holders"), 0, NULL);
	cr_assert_eq(jint(h, "pid"), pid);
	cr_assert(!jbool(h, "alive"), "a killed holder is dead");
	json_object_put(j);
	/* the listing was the last live user: the state of dead holders
	 * goes with it, rather than stay in /dev/shm until a reboot */
	cr_assert_eq(runtime_files(), before, "the runtime state outlived every holder");
	j = ctl_json("holders %s%s", p, "");
	cr_assert_eq(json_object_array_length(j), 0);
	json_object_put(j);
	j = ctl_json("refs %s%s", p, "");
	expect_refs(j, 0, "wal", 0, "live", 0, 0, 0);
	json_object_put(j);
}

Test(daxmapctl, reclaim_drops_a_dead_holder_while_another_lives)
{
	const char *p = make_pool(false);
	struct child keep = child_mapping(p, "wal");
	struct child c = child_mapping(p, "wal");
	struct json_object *j;

	child_kill(&c);
	j = ctl_json("holders %s%s", p, "");
	cr_assert_eq(json_object_array_length(j), 2, "a dead holder stays listed while another lives");
	json_object_put(j);
	j = reclaim_json(p);
	cr_assert_eq(jint(j, "holders_dropped"), 1);
	cr_assert_eq(jint(j, "releases_finished"), 0);
	json_object_put(j);
	j = ctl_json("refs %s%s", p, "");
	expect_refs(j, 0, "wal", 0, "live", 1, 0, 1);
	json_object_put(j);
	child_finish(&keep);
}

/* A child maps wal; remove --timeout 0 fails naming it and leaves wal's
 * extents releasing. Returns the child. */
static struct child remove_while_mapped(const char *p)
{
	struct json_object *j, *h;
	char *err, cmd[512], pid[32];
	struct child c = child_mapping(p, "wal");

	snprintf(cmd, sizeof(cmd), "remove --timeout 0 %s wal", p);
	cr_assert_eq(ctl_err(&err, cmd), 1);
	snprintf(pid, sizeof(pid), "%d", (int)c.pid);
	cr_assert(strstr(err, "daxmapctl remove: ") && strstr(err, pid), "%s", err);
	free(err);
	/* gone by name, its extents ZAP while mapped */
	j = ctl_json("regions %s%s", p, "");
	cr_assert_eq(json_object_array_length(j), 1);
	json_object_put(j);
	j = ctl_json("refs %s%s", p, "");
	cr_assert_eq(json_object_array_length(j), 4);
	for (size_t i = 0; i < 3; i++) {
		expect_refs(j, i, "wal", (int64_t)i, "releasing", 1, 0, 1);
		h = jat(jat(j, i, "holders"), 0, NULL);
		cr_assert_eq(jint(h, "pid"), c.pid);
		cr_assert(jbool(h, "alive"));
	}
	expect_refs(j, 3, "other", 0, "live", 0, 0, 0);
	json_object_put(j);
	return c;
}

Test(daxmapctl, remove_waits_for_a_holder_then_reclaim_frees)
{
	const char *p = make_pool(true);
	struct json_object *j;
	struct child c = remove_while_mapped(p);

	/* a region being removed is still found by refs */
	j = ctl_json("refs %s %s", p, "wal");
	cr_assert_eq(json_object_array_length(j), 3);
	json_object_put(j);
	j = reclaim_json(p);
	cr_assert_eq(jint(j, "releases_finished"), 0);
	cr_assert_eq(jint(j, "extents_freed"), 0);
	cr_assert_eq(jint(j, "extents_waiting"), 3);
	json_object_put(j);

	child_finish(&c);
	j = reclaim_json(p);
	cr_assert_eq(jint(j, "extents_waiting"), 0);
	json_object_put(j);
	j = ctl_json("refs %s%s", p, "");
	cr_assert_eq(json_object_array_length(j), 1);
	expect_refs(j, 0, "other", 0, "live", 0, 0, 0);
	json_object_put(j);
	j = ctl_json("info %s%s", p, "");
	cr_assert_eq(jint(j, "pool.extents.free"), 29);
	cr_assert_eq(jint(j, "pool.extents.releasing"), 0);
	json_object_put(j);
}

/* daxmapctl reclaim opens without reclaiming, so it reports what it did. */
Test(daxmapctl, reclaim_reports_a_finished_removal)
{
	const char *p = make_pool(true);
	struct json_object *j;
	struct child c = remove_while_mapped(p);

	child_finish(&c);
	j = reclaim_json(p);
	cr_assert_eq(jint(j, "holders_dropped"), 0);
	cr_assert_eq(jint(j, "releases_finished"), 1);
	cr_assert_eq(jint(j, "extents_freed"), 3);
	cr_assert_eq(jint(j, "extents_waiting"), 0);
	json_object_put(j);
}

Test(daxmapctl, resize_shrink_waits_for_a_mapping)
{
	const char *p = make_pool(false);
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	struct daxmap_map *map;
	struct json_object *j;
	char *err, cmd[512];

	cr_assert_eq(daxmap_dev_open(&dev, p, 0, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map(&map, pool, "wal", 0), 0, "%s", daxmap_errormsg());
	snprintf(cmd, sizeof(cmd), "resize --timeout 0.1 %s wal 2M", p);
	cr_assert_eq(ctl_err(&err, cmd), 1);
	cr_assert(strstr(err, "daxmapctl resize: "), "%s", err);
	free(err);
	j = ctl_json("refs %s%s", p, "");
	cr_assert_eq(json_object_array_length(j), 3);
	expect_refs(j, 0, "wal", 0, "live", 1, 0, 1);
	expect_refs(j, 1, "wal", 1, "releasing", 1, 0, 1);
	expect_refs(j, 2, "wal", 2, "releasing", 1, 0, 1);
	json_object_put(j);
	j = reclaim_json(p);
	cr_assert_eq(jint(j, "extents_waiting"), 2);
	json_object_put(j);

	cr_assert_eq(daxmap_map_delete(&map), 0);
	j = reclaim_json(p);
	cr_assert_eq(jint(j, "extents_waiting"), 0);
	json_object_put(j);
	j = ctl_json("refs %s%s", p, "");
	cr_assert_eq(json_object_array_length(j), 1);
	expect_refs(j, 0, "wal", 0, "live", 0, 0, 0);
	json_object_put(j);
	j = ctl_json("regions %s%s", p, "");
	cr_assert_eq(jint(jat(j, 0, NULL), "extents"), 1);
	json_object_put(j);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(daxmapctl, refs_holders_reclaim_bad_input)
{
	static const struct {
		const char *args; /* %s: the pool */
		int status;
		const char *msg;
	} cases[] = {
		{ "refs", 2, "expected 1 to 2 arguments, got 0" },
		{ "refs %s wal extra", 2, "expected 1 to 2 arguments, got 3" },
		{ "refs --bogus %s", 2, "usage: daxmapctl refs" },
		{ "refs --timeout 1 %s", 2, "option '--timeout' does not apply" },
		{ "refs --align banana %s", 2, "invalid size 'banana'" },
		{ "refs %s nosuch", 1, "daxmapctl refs: no region named 'nosuch'" },
		{ "holders", 2, "expected 1 argument(s), got 0" },
		{ "holders %s wal", 2, "expected 1 argument(s), got 2" },
		{ "holders --force %s", 2, "option '--force' does not apply" },
		{ "holders -x %s", 2, "usage: daxmapctl holders" },
		{ "reclaim", 2, "expected 1 argument(s), got 0" },
		{ "reclaim %s wal", 2, "expected 1 argument(s), got 2" },
		{ "reclaim -u %s", 2, "option '-u' does not apply" },
		{ "reclaim --repair %s", 2, "option '--repair' does not apply" },
		{ "refs /nonexistent", 1, "/nonexistent: no such device or file" },
		{ "holders /nonexistent", 1, "/nonexistent: no such device or file" },
		{ "reclaim /nonexistent", 1, "/nonexistent: no such device or file" },
		{ "refs --align 4M %s", 1, "daxmapctl refs: " },
	};
	const char *p = make_pool(false);
	char *before, *after, *err, args[512], pool[256], raw[256];
	size_t n0, n1;

	snprintf(pool, sizeof(pool), "%s", p);
	before = slurp(pool, &n0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(args, sizeof(args), cases[i].args, pool);
		cr_assert_eq(ctl_err(&err, args), cases[i].status, "daxmapctl %s: %s", args, err);
		cr_assert(strstr(err, cases[i].msg), "daxmapctl %s: %s", args, err);
		free(err);
	}
	after = slurp(pool, &n1);
	cr_assert(n0 == n1 && memcmp(before, after, n0) == 0, "a failed command changed the pool");
	free(before);
	free(after);

	/* not a pool: an error, and the file stays untouched (all zeros) */
	snprintf(raw, sizeof(raw), "%s", make_file(64 * MiB));
	for (size_t i = 0; i < 3; i++) {
		static const char *const cmds[] = { "refs", "holders", "reclaim" };

		snprintf(args, sizeof(args), "%s %s", cmds[i], raw);
		cr_assert_eq(ctl_err(&err, args), 1, "%s", args);
		cr_assert(strstr(err, "not a libdaxmap pool"), "%s: %s", args, err);
		free(err);
	}
	before = slurp(raw, &n0);
	for (size_t i = 0; i < n0; i++)
		cr_assert_eq(before[i], 0, "byte %zu of a non-pool was written", i);
	free(before);
}

/* ---- pin-check ---------------------------------------------------------- */

/* The backends array of a pin-check output: backend, allowed, rule. */
static void assert_backend(struct json_object *j, size_t i, const char *backend, int allowed,
			   const char *rule_has)
{
	struct json_object *arr, *b, *v;

	cr_assert(json_object_object_get_ex(j, "backends", &arr));
	cr_assert(json_object_is_type(arr, json_type_array));
	cr_assert_eq(json_object_array_length(arr), 5);
	b = json_object_array_get_idx(arr, i);
	cr_assert(json_object_object_get_ex(b, "backend", &v));
	cr_assert_str_eq(json_object_get_string(v), backend);
	cr_assert(json_object_object_get_ex(b, "allowed", &v));
	cr_assert(json_object_is_type(v, json_type_boolean));
	cr_assert_eq(json_object_get_boolean(v), allowed, "%s", backend);
	cr_assert(json_object_object_get_ex(b, "rule", &v));
	cr_assert(strstr(json_object_get_string(v), rule_has), "%s: %s", backend,
		  json_object_get_string(v));
}

Test(daxmapctl, pin_check_emulated_file)
{
	const char *p = make_file(64 * MiB);
	struct json_object *j, *v;
	char *out;

	/* emulated: page-cache memory, whatever the kernel */
	setenv("DAXMAP_KERNEL_VERSION", "6.1", 1);
	cr_assert_eq(ctl(&out, "pin-check %s", p), 0);
	j = json_tokener_parse(out);
	cr_assert_not_null(j, "not JSON: %s", out);
	cr_assert(json_object_object_get_ex(j, "path", &v));
	cr_assert_str_eq(json_object_get_string(v), p);
	cr_assert(json_object_object_get_ex(j, "kind", &v));
	cr_assert_str_eq(json_object_get_string(v), "file");
	cr_assert(json_object_object_get_ex(j, "kernel", &v));
	cr_assert_str_eq(json_object_get_string(v), "6.1");
	cr_assert(json_object_object_get_ex(j, "kernel_release", &v));
	cr_assert_gt(strlen(json_object_get_string(v)), 0);
	assert_backend(j, 0, "rdma", 0, "page-cache");
	assert_backend(j, 1, "vfio", 0, "page-cache");
	assert_backend(j, 2, "io_uring", 0, "page-cache");
	assert_backend(j, 3, "external", 1, "the library only counts them");
	assert_backend(j, 4, "rdma-odp", 1, "the kernel decides");
	json_object_put(j);
	free(out);

	/* the version the rules see follows DAXMAP_KERNEL_VERSION; --align */
	setenv("DAXMAP_KERNEL_VERSION", "6.12", 1);
	cr_assert_eq(ctl(&out, "pin-check --align 4M %s", p), 0);
	j = json_tokener_parse(out);
	cr_assert_not_null(j, "not JSON: %s", out);
	cr_assert(json_object_object_get_ex(j, "kernel", &v));
	cr_assert_str_eq(json_object_get_string(v), "6.12");
	assert_backend(j, 2, "io_uring", 0, "page-cache");
	json_object_put(j);
	free(out);
	unsetenv("DAXMAP_KERNEL_VERSION");

	/* no pool needed, nothing written */
	{
		size_t n;
		char *data = slurp(p, &n);

		for (size_t i = 0; i < n; i++)
			cr_assert_eq(data[i], 0, "byte %zu written", i);
		free(data);
	}
}

Test(daxmapctl, pin_check_bad_input)
{
	static const struct {
		const char *args; /* %s: a valid emulated device */
		int status;
		const char *msg;
	} cases[] = {
		{ "pin-check", 2, "expected 1 argument(s), got 0" },
		{ "pin-check %s %s", 2, "expected 1 argument(s), got 2" },
		{ "pin-check --bogus %s", 2, "usage: daxmapctl pin-check" },
		{ "pin-check -u %s", 2, "option '-u' does not apply" },
		{ "pin-check --timeout 1 %s", 2, "option '--timeout' does not apply" },
		{ "pin-check --align banana %s", 2, "invalid size 'banana'" },
		{ "pin-check --align 0 %s", 2, "invalid size '0'" },
		{ "pin-check /nonexistent", 1, "daxmapctl pin-check: /nonexistent: no such device or file" },
		{ "pin-check /dev/null", 1, "not a device-DAX device" },
		{ "pin-check /tmp", 1, "it is a directory" },
		{ "pin-check --align 3M %s", 1, "not a power of two" },
		{ "pin-check --align 64M %s", 1, "daxmapctl pin-check: " },
	};
	char path[256], args[1024], *err, *out;

	snprintf(path, sizeof(path), "%s", make_file(6 * MiB));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(args, sizeof(args), cases[i].args, path, path);
		cr_assert_eq(ctl_err(&err, args), cases[i].status, "daxmapctl %s: %s", args, err);
		cr_assert(strstr(err, cases[i].msg), "daxmapctl %s: %s", args, err);
		free(err);
	}
	/* a file whose size is not a multiple of the alignment */
	snprintf(args, sizeof(args), "pin-check %s", make_file(3 * MiB));
	cr_assert_eq(ctl_err(&err, args), 1);
	cr_assert(strstr(err, "not a multiple of the alignment 2 MiB"), "%s", err);
	free(err);
	cr_assert_eq(ctl(&out, "pin-check --help"), 0);
	cr_assert(strstr(out, "usage: daxmapctl pin-check [--align SIZE] PATH"), "%s", out);
	free(out);
	cr_assert_eq(ctl(&out, "--help"), 0);
	cr_assert(strstr(out, "pin-check"), "%s", out);
	free(out);
}

/* The retry both man pages describe: remove fails naming the holder, the
 * holder lets go, remove again exits 0 (its own open does not reclaim the
 * release first and then find no region of that name). */
Test(daxmapctl, a_retried_remove_finishes_the_removal_and_exits_0)
{
	const char *p = make_pool(true);
	struct json_object *j;
	char *out;
	struct child c = remove_while_mapped(p);

	child_finish(&c);
	cr_assert_eq(ctl(&out, "remove %s wal", p), 0, "the retry failed");
	free(out);
	j = ctl_json("info %s%s", p, "");
	cr_assert_eq(jint(j, "pool.extents.free"), 29);
	cr_assert_eq(jint(j, "pool.extents.releasing"), 0);
	json_object_put(j);
	/* and a name that never was is still refused */
	cr_assert_eq(ctl(&out, "remove %s never", p), 1);
	free(out);
}

/* A pool formatted --align 4K read with the default alignment: exit 1,
 * saying how to open it, not that it is damaged. */
Test(daxmapctl, the_wrong_alignment_says_which_to_use)
{
	const char *p = make_file(16 * MiB);
	char *err, cmd[512];

	snprintf(cmd, sizeof(cmd), "format --align 4K %s", p);
	cr_assert_eq(ctl_err(&err, cmd), 0, "%s", err);
	free(err);
	snprintf(cmd, sizeof(cmd), "create --align 4K %s data 8K", p);
	cr_assert_eq(ctl_err(&err, cmd), 0, "%s", err);
	free(err);
	snprintf(cmd, sizeof(cmd), "regions %s", p);
	cr_assert_eq(ctl_err(&err, cmd), 1);
	cr_assert(strstr(err, "--align 4K") && !strstr(err, "inconsistent"), "%s", err);
	free(err);
	snprintf(cmd, sizeof(cmd), "check --repair %s", p);
	cr_assert_eq(ctl_err(&err, cmd), 1);
	cr_assert(strstr(err, "--align 4K"), "%s", err);
	free(err);
	snprintf(cmd, sizeof(cmd), "regions --align 4K %s", p);
	cr_assert_eq(ctl_err(&err, cmd), 0, "%s", err);
	free(err);
}

/* The decision string of backend (or its over_1g) in pin-check's JSON. */
static const char *decision_of(struct json_object *j, const char *backend, const char *key)
{
	struct json_object *arr, *v;

	cr_assert(json_object_object_get_ex(j, "backends", &arr));
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *b = json_object_array_get_idx(arr, i);

		cr_assert(json_object_object_get_ex(b, "backend", &v));
		if (strcmp(json_object_get_string(v), backend) != 0)
			continue;
		cr_assert(json_object_object_get_ex(b, key, &v), "%s has no %s", backend, key);
		return json_object_get_string(v);
	}
	cr_assert_fail("no backend %s", backend);
	return NULL;
}

/* pin-check agrees with doc/pins.md's table of each kernel (the file
 * column here; devdax and fsdax in the rig, tests/vm/test_uring.c). */
Test(daxmapctl, pin_check_is_the_documented_table)
{
	static const char *const rows[][3] = {
		{ "rdma", "rdma", "decision" },     { "rdma-odp", "rdma-odp", "decision" },
		{ "vfio", "vfio", "decision" },     { "io_uring", "io_uring", "decision" },
		{ "io_uring over 1 GiB", "io_uring", "over_1g" },
		{ "external", "external", "decision" },
	};
	const char *p = make_file(64 * MiB);
	char vers[8][16], *out;
	int nk = pin_table_kernels(vers, 8);

	cr_assert_eq(nk, 3);
	for (int k = 0; k < nk; k++) {
		struct json_object *j;
		unsigned major, minor;

		cr_assert_eq(sscanf(vers[k], "%u.%u", &major, &minor), 2);
		setenv("DAXMAP_KERNEL_VERSION", vers[k], 1);
		cr_assert_eq(ctl(&out, "pin-check %s", p), 0);
		j = json_tokener_parse(out);
		cr_assert_not_null(j, "not JSON: %s", out);
		for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
			const char *cell = pin_table_cell(major, minor, rows[r][0], "file");

			cr_assert_not_null(cell);
			cr_assert_str_eq(decision_of(j, rows[r][1], rows[r][2]), cell,
					 "Linux %s, %s on file", vers[k], rows[r][0]);
		}
		json_object_put(j);
		free(out);
	}
	/* an override that is not a version is an error, not a guess */
	setenv("DAXMAP_KERNEL_VERSION", "new", 1);
	cr_assert_neq(ctl(&out, "pin-check %s", p), 0);
	free(out);
	unsetenv("DAXMAP_KERNEL_VERSION");
}
