/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_daxmapctl_rig.c -- daxmapctl on the rig's real device-DAX: what
 * 'info' says agrees with daxctl, 'list' finds them all. Runs inside the
 * QEMU rig (tests/vm/run sets DAXMAP_TEST_* and DAXMAPCTL); anywhere else
 * it exits 77, Meson's "skipped", and says why.
 */
#define _GNU_SOURCE
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "rig.h"

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

RIG_SKIP_UNLESS(getenv("DAXMAP_TEST_DEVDAX_2M"), "device-DAX")
