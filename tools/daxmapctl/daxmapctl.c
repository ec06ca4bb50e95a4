/* SPDX-License-Identifier: BSD-3-Clause */
/* daxmapctl.c -- command dispatch */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "daxmapctl.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "list", cmd_list, "list the device-DAX devices of this system" },
	{ "info", cmd_info, "show what libdaxmap sees of a device or file, and its pool" },
	{ "format", cmd_format, "make a device an empty pool" },
	{ "create", cmd_create, "create a region" },
	{ "resize", cmd_resize, "grow or shrink a region" },
	{ "remove", cmd_remove, "remove a region" },
	{ "regions", cmd_regions, "list the regions of a pool" },
	{ "check", cmd_check, "check (and repair) a pool's metadata" },
	{ "refs", cmd_refs, "show the references on each extent of a pool" },
	{ "holders", cmd_holders, "show the processes holding references on a pool" },
	{ "reclaim", cmd_reclaim, "drop dead holders' references, finish releases" },
	{ "pin-check", cmd_pin_check, "which long-term pins this kernel allows on a device" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: daxmapctl [--version] [--help] <command> [<args>]\n\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\n'daxmapctl <command> --help' describes a command.\n"
		   "Exit status: 0 success, 1 error, 2 usage error.\n");
}

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : NULL;

	if (!name) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 ||
	    strcmp(name, "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
		printf("%s\n", DAXMAP_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "daxmapctl: unknown command '%s'\n\n", name);
	usage(stderr);
	return EXIT_USAGE;
}
