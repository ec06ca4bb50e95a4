/* SPDX-License-Identifier: BSD-3-Clause */
/* daxmapctl.c -- command dispatch */
#include <stdio.h>
#include <string.h>

#include <daxmap.h>

#include "daxmapctl.h"

static const struct command *const commands[] = {
	&cmd_list, &cmd_info, &cmd_format, &cmd_create, &cmd_resize, &cmd_remove, &cmd_regions,
	&cmd_check, &cmd_refs, &cmd_holders, &cmd_reclaim, &cmd_pin_check,
};

static void usage(FILE *f)
{
	fprintf(f, "usage: daxmapctl [--version] [--help] <command> [<args>]\n\n"
		   "commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
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
		/* the library it runs with, which a package upgrade may change */
		printf("%s\n", daxmap_version(NULL, NULL, NULL));
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(name, commands[i]->name) == 0)
			return run_command(argc - 1, argv + 1, commands[i]);
	fprintf(stderr, "daxmapctl: unknown command '%s'\n\n", name);
	usage(stderr);
	return EXIT_USAGE;
}
