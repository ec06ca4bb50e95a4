/* SPDX-License-Identifier: BSD-3-Clause */
/* list.c -- daxmapctl list: the devdax devices of this system */
#include <stdio.h>

#include <daxmap.h>

#include "daxmapctl.h"

static int run_list(const struct command *c, const struct popts *o, struct daxmap_dev *unused,
		    struct daxmap_pool *none);

const struct command cmd_list = {
	.name = "list", .summary = "list the device-DAX devices of this system",
	.allowed = OPT_HUMAN, .nargs = 0, .optional = 0, .run = run_list,
	.usage =
	"usage: daxmapctl list [-u]\n\n"
	"Print a JSON array of the device-DAX devices of this system.\n\n"
	"  -u, --human   sizes in human-readable form\n"
	"  -h, --help    this text\n",
};

/* One device, with the field names of 'daxctl list'. */
static struct json_object *devdax_json(const struct daxmap_devdax_info *d,
				       const struct out_opts *o)
{
	struct json_object *j = json_object_new_object();

	json_object_object_add(j, "chardev", json_object_new_string(d->name));
	if (d->path[0])
		json_object_object_add(j, "path", json_object_new_string(d->path));
	json_object_object_add(j, "size", json_size(d->size, o));
	if (d->target_node >= 0)
		json_object_object_add(j, "target_node", json_object_new_int(d->target_node));
	if (d->numa_node >= 0)
		json_object_object_add(j, "numa_node", json_object_new_int(d->numa_node));
	json_object_object_add(j, "align", json_size(d->align, o));
	json_object_object_add(j, "mode",
			       json_object_new_string(d->system_ram ? "system-ram" : "devdax"));
	json_object_object_add(j, "region", json_object_new_int(d->region_id));
	return j;
}

static int run_list(const struct command *c, const struct popts *o, struct daxmap_dev *unused,
		    struct daxmap_pool *none)
{
	struct daxmap_devdax_info *devs;
	struct json_object *arr;
	size_t n;

	(void)unused;
	(void)none;
	if (daxmap_dev_list(&devs, &n) < 0)
		return lib_failed(c);
	arr = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, devdax_json(&devs[i], &o->out));
	daxmap_dev_list_free(devs);
	return print_or_fail(c->name, arr);
}
