/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * util.h -- helpers every layer may use: size formatting, sysfs and
 * /proc/self/status reads, the running kernel's version, libpmem2 errors.
 */
#ifndef DAXMAP_UTIL_H
#define DAXMAP_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Everything is hidden (-fvisibility=hidden) except what is marked so and
 * listed in libdaxmap.sym. */
#define DAXMAP_EXPORT __attribute__((visibility("default")))

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static inline bool is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

/* CLOCK_MONOTONIC in milliseconds. */
int64_t now_ms(void);

/* Human-readable size for messages: "2 MiB", "1 GiB", "4096 bytes",
 * "0x3000 (12288 bytes)". buf should hold 48 bytes. */
const char *fmt_size(char *buf, size_t len, uint64_t v);
/* RLIMIT_MEMLOCK's soft limit as fmt_size() gives it, or "unlimited". */
const char *fmt_memlock(char *buf, size_t len);

/* Read one integer from a sysfs-style file. 0 or -errno. */
int read_sysfs_int(const char *path, int *out);

/* The value of "key:" in /proc/self/status, trimmed ("2048 kB"); -ENOENT
 * when absent. The pin backends report VmLck/VmPin with a refusal. */
int proc_status(const char *key, char *buf, size_t len);
/* 1 when this process has CAP_IPC_LOCK (no RLIMIT_MEMLOCK), 0 when not,
 * -1 when it cannot tell. */
int has_cap_ipc_lock(void);

/*
 * The running kernel's MAJOR.MINOR, read once; DAXMAP_KERNEL_VERSION
 * overrides it (tests), and *forced (may be NULL) says so. 0 or -errno
 * with a message.
 */
int kernel_version(unsigned *major, unsigned *minor, bool *forced);
/* uname()'s release string ("6.1.0-57-amd64"), or "unknown". */
const char *kernel_release(void);

/* libpmem2 returns -errno or its own codes below -100000 (PMEM2_E_*). */
static inline int pmem2_to_errno(int rc)
{
	return (rc < 0 && rc > -4096) ? -rc : EINVAL;
}

#endif
