/* SPDX-License-Identifier: BSD-3-Clause */
/* list.c -- daxmapctl list: the devdax devices of this system */
#include <getopt.h>
#include <stdio.h>

#include <daxmap.h>

#include "daxmapctl.h"

static const char list_usage[] =
	"usage: daxmapctl list [-u]\n\n"
	"Print a JSON array of the device-DAX devices of this system.\n\n"
	"  -u, --human   sizes in human-readable form\n"
	"  -h, --help    this text\n";

int cmd_list(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "human", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daxmap_devdax_info *devs;
	struct out_opts o = { 0 };
	struct json_object *arr;
	size_t n;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "uh", longopts, NULL)) != -1) {
		switch (c) {
		case 'u':
			o.human = true;
			break;
		case 'h':
			fputs(list_usage, stdout);
			return EXIT_OK;
		default:
			fputs(list_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		cmd_error("list", "unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	rc = daxmap_dev_list(&devs, &n);
	if (rc < 0) {
		cmd_error("list", "%s", daxmap_errormsg());
		return EXIT_ERR;
	}
	arr = json_object_new_array();
	for (size_t i = 0; i < n; i++) {
		struct json_object *j = json_object_new_object();

		/* field names as in 'daxctl list' */
		json_object_object_add(j, "chardev", json_object_new_string(devs[i].name));
		if (devs[i].path[0])
			json_object_object_add(j, "path", json_object_new_string(devs[i].path));
		json_object_object_add(j, "size", json_size(devs[i].size, &o));
		if (devs[i].target_node >= 0)
			json_object_object_add(j, "target_node",
					       json_object_new_int(devs[i].target_node));
		if (devs[i].numa_node >= 0)
			json_object_object_add(j, "numa_node",
					       json_object_new_int(devs[i].numa_node));
		json_object_object_add(j, "align", json_size(devs[i].align, &o));
		json_object_object_add(j, "mode", json_object_new_string(
			devs[i].system_ram ? "system-ram" : "devdax"));
		json_object_object_add(j, "region", json_object_new_int(devs[i].region_id));
		json_object_array_add(arr, j);
	}
	daxmap_dev_list_free(devs);
	if (json_print(arr) < 0) {
		cmd_error("list", "cannot write to standard output");
		return EXIT_ERR;
	}
	return EXIT_OK;
}
