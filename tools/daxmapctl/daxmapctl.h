/* SPDX-License-Identifier: BSD-3-Clause */
/* daxmapctl.h -- shared pieces of the daxmapctl subcommands */
#ifndef DAXMAPCTL_H
#define DAXMAPCTL_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

/* Documented exit codes (daxmapctl(1)). */
#define EXIT_OK 0
#define EXIT_ERR 1
#define EXIT_USAGE 2

/* Output flags shared by every subcommand. */
struct out_opts {
	bool human; /* -u: sizes as "2.00 GiB (2.15 GB)" */
};

/* A size as a JSON number, or as a human string with -u. */
struct json_object *json_size(uint64_t v, const struct out_opts *o);
/* Print a JSON value to stdout (pretty, like daxctl) and free it. */
int json_print(struct json_object *j);
/* json_print(); EXIT_OK, or EXIT_ERR after saying it could not. */
int print_or_fail(const char *cmd, struct json_object *j);

/* Parse "4096", "2M", "2MiB", "1G", "1GiB", "0x200000". 0 or -EINVAL. */
int parse_size(const char *s, uint64_t *out);

/* Parse a timeout in seconds ("0", "2.5", "30", "forever") into
 * milliseconds (-1: forever). 0 or -EINVAL. */
int parse_timeout(const char *s, int *ms);

/* Print "daxmapctl CMD: MSG" to stderr. */
void cmd_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct daxmap_dev;
struct daxmap_pool;

/* Pool usage as JSON (info, format), or NULL. */
struct json_object *pool_json(struct daxmap_pool *pool, const struct out_opts *o);

/* Options the pool commands share; each command allows a subset. */
enum { OPT_ALIGN = 1, OPT_HUMAN = 2, OPT_FORCE = 4, OPT_REPAIR = 8, OPT_EXTENT = 16,
       OPT_TIMEOUT = 32, OPT_FORCE_IN_USE = 64 };

struct popts {
	uint64_t align, extent_size;
	bool force, force_in_use, repair;
	int timeout_ms;  /* --timeout; 0 by default: never wait */
	uint64_t size;   /* the SIZE argument, if the command has one */
	struct out_opts out;
	char **args; /* positional */
	int nargs;
};

/* What run_command() opens for a command before its body runs: nothing
 * (a command without arguments), the device at its first argument only,
 * or its pool too (with or without the reclaim an open does), read-only or
 * not, or the device for discovery only (always, or when access is
 * denied). */
enum { OPEN_DEV = 0, OPEN_POOL = 1, OPEN_POOL_NORECLAIM = 2, OPEN_RO = 4,
       OPEN_RO_UNLESS_REPAIR = 8, OPEN_QUERY = 16, OPEN_QUERY_IF_DENIED = 32 };

/* A daxmapctl command, declared by the file that implements it. */
struct command {
	const char *name;
	const char *summary;  /* one line for 'daxmapctl --help' */
	const char *usage;    /* 'daxmapctl NAME --help' */
	unsigned allowed;     /* OPT_* it takes */
	int nargs;            /* positional arguments required */
	int optional;         /* and how many more may follow */
	int size_arg;         /* index of a SIZE positional argument, 0: none */
	unsigned open;        /* OPEN_* */
	/* the command's work on what run_command() opened (dev NULL without
	 * arguments, pool NULL without OPEN_POOL*); its exit status */
	int (*run)(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
		   struct daxmap_pool *pool);
};

/* -1: go on; otherwise the exit status to return now (0 after --help). */
int parse_args(int argc, char **argv, const struct command *c, struct popts *o);
/* Parse the arguments, open what c->open says, run c->run, close. */
int run_command(int argc, char **argv, const struct command *c);
/* Say what the library's last call refused (daxmap_errormsg()), as c;
 * returns EXIT_ERR. */
int lib_failed(const struct command *c);

extern const struct command cmd_list, cmd_info, cmd_format, cmd_create, cmd_resize, cmd_remove,
	cmd_regions, cmd_check, cmd_refs, cmd_holders, cmd_reclaim, cmd_pin_check;

#endif
