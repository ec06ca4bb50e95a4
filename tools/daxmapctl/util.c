/* SPDX-License-Identifier: BSD-3-Clause */
/* util.c -- JSON output, size parsing and error reporting for daxmapctl */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
