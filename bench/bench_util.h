/* SPDX-License-Identifier: BSD-3-Clause */
/* bench_util.h -- helpers shared by the benchmarks */
#ifndef DAXMAP_BENCH_UTIL_H
#define DAXMAP_BENCH_UTIL_H

#include <stdint.h>

struct daxmap_dev;
struct daxmap_pool;
struct daxmap_pool_stat;
struct json_object;

/* Each benchmark defines it ("bench_map"): the prefix of its messages. */
extern const char bench_name[];

/* "<bench_name>: what: <daxmap_errormsg()>", exit 1 */
void die(const char *what) __attribute__((noreturn));
/* "<bench_name>: what: <strerror(errno)>", exit 1: as perror() */
void die_errno(const char *what) __attribute__((noreturn));
/* text to stderr, exit 2 */
void usage(const char *text) __attribute__((noreturn));

/* CLOCK_MONOTONIC in seconds and in ns; this thread's CPU time in ns */
double now(void);
double now_ns(void);
double cpu_ns(void);

/* "64M": a byte count with an optional K, M or G suffix; 0 is refused */
int parse_size(const char *s, uint64_t *v);

/* n zeroed doubles (one per round); dies when out of memory */
double *calloc_doubles(int n);
/* median of v[0..n), sorting v in place */
double median(double *v, int n);

/* a json-c double printed with the given number of decimals */
struct json_object *jd(double v, int decimals);

/* Opens path (dies on failure); on an emulated device, has libpmem2 take
 * the cache-line path of real pmem, not msync. */
struct daxmap_dev *bench_dev_open(const char *path, uint64_t align);
/* A fresh pool on dev (its contents are lost), and its stat. */
struct daxmap_pool *bench_pool_new(struct daxmap_dev *dev, struct daxmap_pool_stat *st);
/* The output object, starting with "path" and "kind". */
struct json_object *bench_out_new(const char *path, const struct daxmap_dev *dev);
/* Prints out (pretty) and frees it. */
void bench_print(struct json_object *out);

#endif
