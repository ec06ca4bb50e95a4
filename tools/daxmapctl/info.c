/* SPDX-License-Identifier: BSD-3-Clause */
/* info.c -- daxmapctl info: what libdaxmap sees of one device */
#include <errno.h>
#include <stdio.h>

#include <daxmap.h>

#include "daxmapctl.h"

static int run_info(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
		    struct daxmap_pool *unused);

/* read-only is enough */
const struct command cmd_info = {
	.name = "info", .summary = "show what libdaxmap sees of a device or file, and its pool",
	.allowed = OPT_ALIGN | OPT_HUMAN, .nargs = 1, .optional = 0,
	.usage =
	"usage: daxmapctl info [-u] [--align SIZE] PATH\n\n"
	"Print a JSON object describing the device-DAX device, fsdax file or\n"
	"emulated device (regular file) at PATH, with its pool's usage (extents\n"
	"total, used, free and bad, bad extents) when it holds one.\n\n"
	"  -a, --align SIZE  alignment of an emulated device or fsdax file\n"
	"                    (default 2M; a devdax device has its own)\n"
	"  -u, --human       sizes in human-readable form\n"
	"  -h, --help        this text\n",
	.open = OPEN_RO | OPEN_QUERY_IF_DENIED, .run = run_info,
};

static struct json_object *dev_json(const struct daxmap_dev *dev, const struct out_opts *o)
{
	struct json_object *j = json_object_new_object();

	json_object_object_add(j, "path", json_object_new_string(daxmap_dev_path(dev)));
	json_object_object_add(j, "kind",
			       json_object_new_string(daxmap_kind_name(daxmap_dev_kind(dev))));
	if (daxmap_dev_name(dev))
		json_object_object_add(j, "chardev", json_object_new_string(daxmap_dev_name(dev)));
	json_object_object_add(j, "size", json_size(daxmap_dev_size(dev), o));
	json_object_object_add(j, "align", json_size(daxmap_dev_align(dev), o));
	json_object_object_add(j, "numa_node", json_object_new_int(daxmap_dev_numa_node(dev)));
	if (daxmap_dev_region_id(dev) >= 0)
		json_object_object_add(j, "region", json_object_new_int(daxmap_dev_region_id(dev)));
	return j;
}

/*
 * The pool on dev, if any: its usage as "pool", or why it cannot be read
 * as "pool_error". Nothing when the device holds no pool (-ENODATA) or was
 * opened for discovery only (-EBADF: no access, devdax nodes are
 * root-only), where whether it holds one cannot be told.
 */
static void add_pool(struct json_object *j, struct daxmap_dev *dev, const struct out_opts *o)
{
	struct daxmap_pool *pool;
	int rc = daxmap_pool_open(&pool, dev, DAXMAP_POOL_RDONLY);

	if (rc == 0) {
		struct json_object *pj = pool_json(pool, o);

		if (pj)
			json_object_object_add(j, "pool", pj);
		daxmap_pool_close(pool);
	} else if (rc != -ENODATA && !(rc == -EBADF && daxmap_dev_kind(dev) == DAXMAP_KIND_DEVDAX)) {
		json_object_object_add(j, "pool_error", json_object_new_string(daxmap_errormsg()));
	}
}

static int run_info(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
		    struct daxmap_pool *unused)
{
	struct json_object *j = dev_json(dev, &o->out);

	(void)unused;
	add_pool(j, dev, &o->out);
	return print_or_fail(c->name, j);
}

