/* SPDX-License-Identifier: BSD-3-Clause */
/* helpers.h -- shared by the unit tests */
#ifndef DAXMAP_TEST_HELPERS_H
#define DAXMAP_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* A new sparse regular file of the given size in a fresh temp dir;
 * returns its path (static storage, valid until the next call). */
const char *make_file(uint64_t size);
/* Number of lines in /proc/self/maps: shows leaked or extra mappings. */
int count_maps(void);
/* Run a command, capture stdout (malloc'ed) and return its exit status. */
int run_capture(const char *cmd, char **out);
/* Drop root, so permission checks apply (tests run as root in CI). */
void drop_root(void);
/* The value of an environment variable the rig sets (a device path);
 * skips the test when it is unset (not in the rig, tests/vm/run). */
const char *env_or_skip(const char *name);
/* CLOCK_MONOTONIC in ns, and the ms since such a time: system-wide, so
 * another process's time stamps compare with this one's. */
int64_t now_ns(void);
int64_t ms_since(int64_t t0_ns);

/* pool_helpers.c (the testpool library): an emulated device of size bytes
 * on a new sparse file, a fresh pool on it, and a hash of the whole device
 * ("writes nothing" is checked with it). */
struct daxmap_dev;
struct daxmap_pool;
struct daxmap_dev *new_dev(uint64_t size);
struct daxmap_pool *new_pool(struct daxmap_dev *dev);
uint64_t dev_hash(const struct daxmap_dev *dev);

/* The device offset of range i of region name. */
uint64_t region_offset(struct daxmap_pool *pool, const char *name, size_t i);

/* A child ("rawmapper") that maps [off, off + len) of path itself with
 * mmap(2), touches it, and holds it until raw_release(). */
struct raw {
	pid_t pid;
	int go;
};
struct raw raw_map(const char *path, uint64_t off, uint64_t len);
/* Tell it to unmap and exit, and reap it. */
void raw_release(struct raw *r);

#endif
