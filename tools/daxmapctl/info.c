/* SPDX-License-Identifier: BSD-3-Clause */
/* info.c -- daxmapctl info: what libdaxmap sees of one device */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <daxmap.h>

#include "daxmapctl.h"

static const char info_usage[] =
	"usage: daxmapctl info [-u] [--align SIZE] PATH\n\n"
	"Print a JSON object describing the device-DAX device, fsdax file or\n"
	"emulated device (regular file) at PATH, with its pool's usage (extents\n"
	"total, used, free and bad, bad extents) when it holds one.\n\n"
	"  -a, --align SIZE  alignment of an emulated device or fsdax file\n"
	"                    (default 2M; a devdax device has its own)\n"
	"  -u, --human       sizes in human-readable form\n"
	"  -h, --help        this text\n";

int cmd_info(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "align", required_argument, NULL, 'a' },
		{ "human", no_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct out_opts o = { 0 };
	struct daxmap_dev *dev;
	struct json_object *j;
	uint64_t align = 0;
	const char *path;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "a:uh", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (parse_size(optarg, &align) < 0 || align == 0) {
				cmd_error("info", "invalid size '%s' (examples: 4096, 2M, 1G)", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'u':
			o.human = true;
			break;
		case 'h':
			fputs(info_usage, stdout);
			return EXIT_OK;
		default:
			fputs(info_usage, stderr);
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		cmd_error("info", "expected one PATH");
		fputs(info_usage, stderr);
		return EXIT_USAGE;
	}
	path = argv[optind];
	/* read-only is enough; without access (devdax is root-only) the
	 * discovery still works without opening the node */
	rc = daxmap_dev_open(&dev, path, align, DAXMAP_DEV_RDONLY);
	if (rc == -EACCES || rc == -EPERM)
		rc = daxmap_dev_open(&dev, path, align, DAXMAP_DEV_QUERY);
	if (rc < 0) {
		cmd_error("info", "%s", daxmap_errormsg());
		return EXIT_ERR;
	}
	j = json_object_new_object();
	json_object_object_add(j, "path", json_object_new_string(daxmap_dev_path(dev)));
	json_object_object_add(j, "kind", json_object_new_string(
		daxmap_kind_name(daxmap_dev_kind(dev))));
	if (daxmap_dev_name(dev))
		json_object_object_add(j, "chardev",
				       json_object_new_string(daxmap_dev_name(dev)));
	json_object_object_add(j, "size", json_size(daxmap_dev_size(dev), &o));
	json_object_object_add(j, "align", json_size(daxmap_dev_align(dev), &o));
	json_object_object_add(j, "numa_node", json_object_new_int(daxmap_dev_numa_node(dev)));
	if (daxmap_dev_region_id(dev) >= 0)
		json_object_object_add(j, "region",
				       json_object_new_int(daxmap_dev_region_id(dev)));
	/* a pool on it: usage; anything else (no pool) is left out */
	{
		struct daxmap_pool *pool;

		if (daxmap_pool_open(&pool, dev, DAXMAP_POOL_RDONLY) == 0) {
			struct json_object *pj = pool_json(pool, &o);

			if (pj)
				json_object_object_add(j, "pool", pj);
			daxmap_pool_close(pool);
		} else if (daxmap_dev_kind(dev) != DAXMAP_KIND_DEVDAX ||
			   !strstr(daxmap_errormsg(), "DAXMAP_DEV_QUERY")) {
			if (!strstr(daxmap_errormsg(), "not a libdaxmap pool") &&
			    !strstr(daxmap_errormsg(), "too small to hold a pool"))
				json_object_object_add(j, "pool_error",
						       json_object_new_string(daxmap_errormsg()));
		}
	}
	daxmap_dev_close(dev);
	if (json_print(j) < 0) {
		cmd_error("info", "cannot write to standard output");
		return EXIT_ERR;
	}
	return EXIT_OK;
}
