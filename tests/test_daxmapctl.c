/* SPDX-License-Identifier: BSD-3-Clause */
/* test_daxmapctl.c -- the command line: output, exit codes, errors */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"

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

Test(daxmapctl, info_emulated_file)
{
	const char *p = make_file(64 * MiB);
	struct json_object *j, *v;
	char *out;

	cr_assert_eq(ctl(&out, "info --align 4M %s", p), 0);
	j = json_tokener_parse(out);
	cr_assert_not_null(j, "not JSON: %s", out);
	cr_assert(json_object_object_get_ex(j, "path", &v));
	cr_assert_str_eq(json_object_get_string(v), p);
	cr_assert(json_object_object_get_ex(j, "kind", &v));
	cr_assert_str_eq(json_object_get_string(v), "file");
	cr_assert(json_object_object_get_ex(j, "size", &v));
	cr_assert_eq(json_object_get_int64(v), (int64_t)(64 * MiB));
	cr_assert(json_object_object_get_ex(j, "align", &v));
	cr_assert_eq(json_object_get_int64(v), (int64_t)(4 * MiB));
	cr_assert(json_object_object_get_ex(j, "numa_node", &v));
	cr_assert_eq(json_object_get_int(v), -1);
	json_object_put(j);
	free(out);
}

Test(daxmapctl, info_human_sizes)
{
	const char *p = make_file(2 * GiB);
	struct json_object *j, *v;
	char *out;

	cr_assert_eq(ctl(&out, "info -u %s", p), 0);
	j = json_tokener_parse(out);
	cr_assert_not_null(j, "not JSON: %s", out);
	cr_assert(json_object_object_get_ex(j, "size", &v));
	cr_assert_str_eq(json_object_get_string(v), "2.00 GiB (2.15 GB)");
	cr_assert(json_object_object_get_ex(j, "align", &v));
	cr_assert_str_eq(json_object_get_string(v), "2.00 MiB (2.10 MB)");
	json_object_put(j);
	free(out);
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
					    "regions --help", "check --help" };
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

Test(daxmapctl, pool_life_cycle)
{
	const char *p = make_file(64 * MiB);
	struct json_object *j;
	char *err, cmd[512];

	j = ctl_json("format %s%s", p, "");
	cr_assert_eq(jint(j, "extents.total"), 32);
	cr_assert_eq(jint(j, "extents.free"), 31);
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
	cr_assert(strstr(err, "only 30 (60 MiB) are free"), "%s", err);
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
