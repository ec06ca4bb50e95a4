/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pincheck.c -- daxmapctl pin-check: which long-term pins this kernel
 * allows on a device, as daxmap_pin_check() decides them before
 * the kernel is asked, each with the rule that decides it. Nothing is
 * pinned and no pool is needed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <daxmap.h>

#include "daxmapctl.h"

static int run_pin_check(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
			 struct daxmap_pool *unused);

/* discovery is enough: the rules depend on the kind of memory */
const struct command cmd_pin_check = {
	.name = "pin-check", .summary = "which long-term pins this kernel allows on a device",
	.allowed = OPT_ALIGN, .nargs = 1, .optional = 0,
	.usage =
	"usage: daxmapctl pin-check [--align SIZE] PATH\n\n"
	"Print, as a JSON object, which long-term pins this kernel allows on the\n"
	"device-DAX device, fsdax file or emulated device at PATH, as libdaxmap\n"
	"decides them before asking the kernel: path, kind, kernel (major.minor,\n"
	"as the rules see it), kernel_release, and backends: for rdma, vfio,\n"
	"io_uring and external, allowed (true/false) and the rule. Nothing is\n"
	"pinned; no pool is needed.\n\n"
	"  -a, --align SIZE  alignment of an emulated device (default 2M)\n",
	.open = OPEN_QUERY, .run = run_pin_check,
};

/* The kernel version the library's rules use: DAXMAP_KERNEL_VERSION
 * (tests) overrides the running kernel's, as in lib/pin_rules.c. */
static void kernel_version(char *buf, size_t len, const struct utsname *u)
{
	const char *force = getenv("DAXMAP_KERNEL_VERSION");
	unsigned major, minor;

	if (force && sscanf(force, "%u.%u", &major, &minor) == 2)
		snprintf(buf, len, "%u.%u", major, minor);
	else if (sscanf(u->release, "%u.%u", &major, &minor) == 2)
		snprintf(buf, len, "%u.%u", major, minor);
	else
		snprintf(buf, len, "unknown");
}

static int run_pin_check(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
			 struct daxmap_pool *unused)
{
	static const enum daxmap_pin_backend backends[] = {
		DAXMAP_PIN_RDMA, DAXMAP_PIN_VFIO, DAXMAP_PIN_IO_URING, DAXMAP_PIN_EXTERNAL,
	};
	struct json_object *j, *arr;
	struct utsname u;
	char kver[32];

	(void)o;
	(void)unused;
	if (uname(&u) != 0)
		snprintf(u.release, sizeof(u.release), "unknown");
	kernel_version(kver, sizeof(kver), &u);
	j = json_object_new_object();
	json_object_object_add(j, "path", json_object_new_string(daxmap_dev_path(dev)));
	json_object_object_add(j, "kind",
			       json_object_new_string(daxmap_kind_name(daxmap_dev_kind(dev))));
	json_object_object_add(j, "kernel", json_object_new_string(kver));
	json_object_object_add(j, "kernel_release", json_object_new_string(u.release));
	arr = json_object_new_array();
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		struct json_object *b = json_object_new_object();
		int allowed = daxmap_pin_check(dev, backends[i]) == 0;

		json_object_object_add(b, "backend",
				       json_object_new_string(daxmap_pin_backend_name(backends[i])));
		json_object_object_add(b, "allowed", json_object_new_boolean(allowed));
		json_object_object_add(b, "rule",
				       json_object_new_string(daxmap_pin_rule(dev, backends[i])));
		json_object_array_add(arr, b);
	}
	json_object_object_add(j, "backends", arr);
	return print_or_fail(c->name, j);
}

