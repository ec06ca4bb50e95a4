/* SPDX-License-Identifier: BSD-3-Clause */
/* util.c -- JSON output, option parsing, pool opening and error reporting
 * for daxmapctl */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <daxmap.h>

#include "daxmapctl.h"

struct json_object *json_size(uint64_t v, const struct out_opts *o)
{
	static const char *const bin[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
	static const char *const dec[] = { "KB", "MB", "GB", "TB", "PB" };
	char buf[64];
	double b = (double)v, d = (double)v;
	int ib = -1, id = -1;

	if (!o->human || v < 1024)
		return json_object_new_int64((int64_t)v);
	while (b >= 1024 && ib < 4) {
		b /= 1024;
		ib++;
	}
	while (d >= 1000 && id < 4) {
		d /= 1000;
		id++;
	}
	/* the same shape as ndctl/daxctl -u */
	snprintf(buf, sizeof(buf), "%.2f %s (%.2f %s)", b, bin[ib], d,
		 dec[id < 0 ? 0 : id]);
	return json_object_new_string(buf);
}

int json_print(struct json_object *j)
{
	const char *s = json_object_to_json_string_ext(j,
		JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	int rc = 0;

	if (!s || printf("%s\n", s) < 0 || fflush(stdout) != 0)
		rc = -EIO;
	json_object_put(j);
	return rc;
}

int print_or_fail(const char *cmd, struct json_object *j)
{
	if (json_print(j) == 0)
		return EXIT_OK;
	cmd_error(cmd, "cannot write to standard output");
	return EXIT_ERR;
}

int parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end) {
		end++;
		if (strcmp(end, "iB") != 0 && strcmp(end, "") != 0 &&
		    strcmp(end, "B") != 0)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

int parse_timeout(const char *s, int *ms)
{
	double v;
	char *end;

	if (s && strcmp(s, "forever") == 0) {
		*ms = -1;
		return 0;
	}
	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	/* a day at most: longer is 'forever' in practice */
	if (errno || end == s || *end || !(v >= 0 && v <= 86400))
		return -EINVAL;
	*ms = (int)(v * 1000 + 0.5);
	return 0;
}

void cmd_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "daxmapctl %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int parse_args(int argc, char **argv, const struct command *c, struct popts *o)
{
	static const struct option lo[] = {
		{ "align", required_argument, NULL, 'a' },
		{ "human", no_argument, NULL, 'u' },
		{ "force", no_argument, NULL, 'f' },
		{ "repair", no_argument, NULL, 'r' },
		{ "extent-size", required_argument, NULL, 'e' },
		{ "timeout", required_argument, NULL, 't' },
		{ "force-in-use", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, n, li = -1;

	memset(o, 0, sizeof(*o));
	optind = 1;
	while ((ch = getopt_long(argc, argv, "a:ufre:t:h", lo, &li)) != -1) {
		unsigned need = ch == 'a' ? OPT_ALIGN : ch == 'u' ? OPT_HUMAN :
				ch == 'f' ? OPT_FORCE : ch == 'r' ? OPT_REPAIR :
				ch == 'e' ? OPT_EXTENT : ch == 't' ? OPT_TIMEOUT :
				ch == 'F' ? OPT_FORCE_IN_USE : 0;

		if (ch == 'h') {
			fputs(c->usage, stdout);
			return EXIT_OK;
		}
		if (!need || !(c->allowed & need)) {
			/* by name: argv[optind - 1] may be the option's value */
			if (need && li >= 0)
				cmd_error(c->name, "option '--%s' does not apply", lo[li].name);
			else if (need)
				cmd_error(c->name, "option '-%c' does not apply", ch);
			fputs(c->usage, stderr);
			return EXIT_USAGE;
		}
		if ((ch == 'a' && (parse_size(optarg, &o->align) < 0 || !o->align)) ||
		    (ch == 'e' && (parse_size(optarg, &o->extent_size) < 0 || !o->extent_size))) {
			cmd_error(c->name, "invalid size '%s' (examples: 4096, 2M, 1G)", optarg);
			return EXIT_USAGE;
		}
		if (ch == 't' && parse_timeout(optarg, &o->timeout_ms) < 0) {
			cmd_error(c->name, "invalid timeout '%s' (seconds, like 0, 2.5 or 30; 'forever')",
				  optarg);
			return EXIT_USAGE;
		}
		o->out.human |= ch == 'u';
		o->force |= ch == 'f';
		o->force_in_use |= ch == 'F';
		o->repair |= ch == 'r';
		li = -1;
	}
	n = argc - optind;
	if (n < c->nargs || n > c->nargs + c->optional) {
		if (c->optional)
			cmd_error(c->name, "expected %d to %d arguments, got %d", c->nargs,
				  c->nargs + c->optional, n);
		else
			cmd_error(c->name, "expected %d argument(s), got %d", c->nargs, n);
		fputs(c->usage, stderr);
		return EXIT_USAGE;
	}
	o->args = argv + optind;
	o->nargs = n;
	if (c->size_arg && parse_size(o->args[c->size_arg], &o->size) < 0) {
		cmd_error(c->name, "invalid size '%s' (examples: 4096, 2M, 1G)", o->args[c->size_arg]);
		return EXIT_USAGE;
	}
	return -1;
}

int lib_failed(const struct command *c)
{
	cmd_error(c->name, "%s", daxmap_errormsg());
	return EXIT_ERR;
}

int run_command(int argc, char **argv, const struct command *c)
{
	struct daxmap_pool *pool = NULL;
	struct daxmap_dev *dev;
	struct popts o;
	bool rdonly;
	int rc = parse_args(argc, argv, c, &o);

	if (rc >= 0)
		return rc;
	if (c->nargs == 0)
		return c->run(c, &o, NULL, NULL);
	rdonly = (c->open & OPEN_RO) || ((c->open & OPEN_RO_UNLESS_REPAIR) && !o.repair);
	rc = daxmap_dev_open(&dev, o.args[0], o.align, (c->open & OPEN_QUERY) ? DAXMAP_DEV_QUERY :
						     rdonly ? DAXMAP_DEV_RDONLY : 0);
	/* without access (devdax nodes are root-only) discovery still works */
	if ((rc == -EACCES || rc == -EPERM) && (c->open & OPEN_QUERY_IF_DENIED))
		rc = daxmap_dev_open(&dev, o.args[0], o.align, DAXMAP_DEV_QUERY);
	if (rc < 0)
		return lib_failed(c);
	if ((c->open & (OPEN_POOL | OPEN_POOL_NORECLAIM)) &&
	    daxmap_pool_open(&pool, dev, (rdonly ? DAXMAP_POOL_RDONLY : 0) |
			     ((c->open & OPEN_POOL_NORECLAIM) ? DAXMAP_POOL_NORECLAIM : 0)) < 0) {
		cmd_error(c->name, "%s: %s", o.args[0], daxmap_errormsg());
		daxmap_dev_close(dev);
		return EXIT_ERR;
	}
	rc = c->run(c, &o, dev, pool);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
	return rc;
}
