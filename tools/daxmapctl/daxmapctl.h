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
       OPT_TIMEOUT = 32 };

struct popts {
	uint64_t align, extent_size;
	bool force, repair;
	int timeout_ms;  /* --timeout; 0 by default: never wait */
	struct out_opts out;
	char **args; /* positional */
	int nargs;
};

struct pcmd {
	const char *name;
	unsigned allowed;
	int nargs;    /* positional arguments required */
	int optional; /* and how many more may follow */
	const char *usage;
};

/* -1: go on; otherwise the exit status to return now (0 after --help). */
int parse_args(int argc, char **argv, const struct pcmd *c, struct popts *o);
/* Open device (and pool, if pool is not NULL) at o->args[0]; prints the
 * error and returns EXIT_ERR on failure. */
int open_pool(const struct pcmd *c, const struct popts *o, bool rdonly,
	      struct daxmap_dev **dev, struct daxmap_pool **pool);

int cmd_list(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_format(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_resize(int argc, char **argv);
int cmd_remove(int argc, char **argv);
int cmd_regions(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_refs(int argc, char **argv);
int cmd_holders(int argc, char **argv);
int cmd_reclaim(int argc, char **argv);
int cmd_pin_check(int argc, char **argv);

#endif
