/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_util.c -- helpers shared by the benchmarks (bench_util.h) */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include <daxmap.h>

#include "bench_util.h"

void die(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", bench_name, what, daxmap_errormsg());
	exit(1);
}

void die_errno(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", bench_name, what, strerror(errno));
	exit(1);
}

void usage(const char *text)
{
	fputs(text, stderr);
	exit(2);
}

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

double now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* The hit loops run millions of iterations: on a shared machine wall
 * time would count the time spent descheduled. */
double cpu_ns(void)
{
	return clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

int parse_size(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x = strtoull(s, &end, 0);

	switch (*end) {
	case 'K': x <<= 10; break;
	case 'M': x <<= 20; break;
	case 'G': x <<= 30; break;
	case '\0': break;
	default: return -1;
	}
	*v = x;
	return x ? 0 : -1;
}

double *calloc_doubles(int n)
{
	double *v = calloc((size_t)n, sizeof(double));

	if (!v)
		die("out of memory");
	return v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct json_object *jd(double v, int decimals)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.*f", decimals, v);
	return json_object_new_double_s(v, buf);
}

struct daxmap_dev *bench_dev_open(const char *path, uint64_t align)
{
	struct daxmap_dev *dev;

	if (daxmap_dev_open(&dev, path, align, 0) < 0)
		die(path);
	/* an emulated device would flush with msync: measure the pmem path */
	if (daxmap_dev_kind(dev) == DAXMAP_KIND_FILE)
		setenv("PMEM2_FORCE_GRANULARITY", "CACHE_LINE", 0);
	return dev;
}

struct daxmap_pool *bench_pool_new(struct daxmap_dev *dev, struct daxmap_pool_stat *st)
{
	struct daxmap_pool *pool;

	if (daxmap_pool_format(dev, 0, DAXMAP_FORMAT_FORCE) < 0 ||
	    daxmap_pool_open(&pool, dev, 0) < 0)
		die("pool");
	daxmap_pool_stat(pool, st);
	return pool;
}

struct json_object *bench_out_new(const char *path, const struct daxmap_dev *dev)
{
	struct json_object *out = json_object_new_object();

	json_object_object_add(out, "path", json_object_new_string(path));
	json_object_object_add(out, "kind", json_object_new_string(
		daxmap_kind_name(daxmap_dev_kind(dev))));
	return out;
}

void bench_print(struct json_object *out)
{
	printf("%s\n", json_object_to_json_string_ext(out, JSON_C_TO_STRING_PRETTY));
	json_object_put(out);
}
