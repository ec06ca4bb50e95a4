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
	"io_uring, external and rdma-odp (IBV_ACCESS_ON_DEMAND), allowed\n"
	"(true/false), decision ('allowed'; 'refused'; 'kernel': not known for\n"
	"this kernel, so the kernel is asked) and the rule; io_uring also has\n"
	"over_1g and over_1g_rule, for one buffer longer than 1 GiB. Nothing is\n"
	"pinned; no pool is needed.\n\n"
	"  -a, --align SIZE  alignment of an emulated device (default 2M)\n",
	.open = OPEN_QUERY, .run = run_pin_check,
};

/* A buffer length past io_uring's 1 GiB limit of older kernels. */
#define BUF_OVER_1G ((1ULL << 30) + 4096)

static const char *verdict_name(int d)
{
	return d == DAXMAP_PIN_ALLOWED ? "allowed" : d == DAXMAP_PIN_KERNEL_DECIDES ? "kernel" : "refused";
}

static int run_pin_check(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
			 struct daxmap_pool *unused)
{
	static const enum daxmap_pin_backend backends[] = {
		DAXMAP_PIN_RDMA, DAXMAP_PIN_VFIO, DAXMAP_PIN_IO_URING, DAXMAP_PIN_EXTERNAL,
		DAXMAP_PIN_RDMA_ODP,
	};
	struct json_object *j, *arr;
	struct utsname u;
	unsigned major, minor;
	char kver[32];

	(void)o;
	(void)unused;
	if (uname(&u) != 0)
		snprintf(u.release, sizeof(u.release), "unknown");
	/* the version the library's rules go by (DAXMAP_KERNEL_VERSION too) */
	if (daxmap_kernel_version(&major, &minor) < 0)
		return lib_failed(c);
	snprintf(kver, sizeof(kver), "%u.%u", major, minor);
	j = json_object_new_object();
	json_object_object_add(j, "path", json_object_new_string(daxmap_dev_path(dev)));
	json_object_object_add(j, "kind",
			       json_object_new_string(daxmap_kind_name(daxmap_dev_kind(dev))));
	json_object_object_add(j, "kernel", json_object_new_string(kver));
	json_object_object_add(j, "kernel_release", json_object_new_string(u.release));
	arr = json_object_new_array();
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		struct json_object *b = json_object_new_object();
		const char *rule;
		int d = daxmap_pin_decision(dev, backends[i], 0, &rule);

		if (d < 0) {
			json_object_put(b);
			json_object_put(arr);
			json_object_put(j);
			return lib_failed(c);
		}
		json_object_object_add(b, "backend",
				       json_object_new_string(daxmap_pin_backend_name(backends[i])));
		json_object_object_add(b, "allowed", json_object_new_boolean(d != DAXMAP_PIN_REFUSED));
		json_object_object_add(b, "decision", json_object_new_string(verdict_name(d)));
		json_object_object_add(b, "rule", json_object_new_string(rule));
		if (backends[i] == DAXMAP_PIN_IO_URING) {
			d = daxmap_pin_decision(dev, backends[i], BUF_OVER_1G, &rule);
			json_object_object_add(b, "over_1g", json_object_new_string(verdict_name(d)));
			json_object_object_add(b, "over_1g_rule", json_object_new_string(rule));
		}
		json_object_array_add(arr, b);
	}
	json_object_object_add(j, "backends", arr);
	return print_or_fail(c->name, j);
}

