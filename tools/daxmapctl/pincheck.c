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

static const struct pcmd c_pincheck = {
	"pin-check", OPT_ALIGN, 1, 0,
	"usage: daxmapctl pin-check [--align SIZE] PATH\n\n"
	"Print, as a JSON object, which long-term pins this kernel allows on the\n"
	"device-DAX device, fsdax file or emulated device at PATH, as libdaxmap\n"
	"decides them before asking the kernel: path, kind, kernel (major.minor,\n"
	"as the rules see it), kernel_release, and backends: for rdma, vfio,\n"
	"io_uring and external, allowed (true/false) and the rule. Nothing is\n"
	"pinned; no pool is needed.\n\n"
	"  -a, --align SIZE  alignment of an emulated device (default 2M)\n",
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

int cmd_pin_check(int argc, char **argv)
{
	static const enum daxmap_pin_backend backends[] = {
		DAXMAP_PIN_RDMA, DAXMAP_PIN_VFIO, DAXMAP_PIN_IO_URING, DAXMAP_PIN_EXTERNAL,
	};
	struct json_object *j, *arr;
	struct daxmap_dev *dev;
	struct utsname u;
	struct popts o;
	char kver[32];
	int rc = parse_args(argc, argv, &c_pincheck, &o);

	if (rc >= 0)
		return rc;
	/* discovery is enough: the rules depend on the kind of memory */
	if (daxmap_dev_open(&dev, o.args[0], o.align, DAXMAP_DEV_QUERY) < 0) {
		cmd_error(c_pincheck.name, "%s", daxmap_errormsg());
		return EXIT_ERR;
	}
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
	daxmap_dev_close(dev);
	return print_or_fail(c_pincheck.name, j);
}
