/* SPDX-License-Identifier: BSD-3-Clause */
/* util.c -- helpers every layer may use */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include "daxmap.h"
#include "error.h"
#include <time.h>

#include "util.h"

const char *fmt_size(char *buf, size_t len, uint64_t v)
{
	static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
	int u = -1;
	uint64_t x = v;

	while (x >= 1024 && x % 1024 == 0 && u < 3) {
		x /= 1024;
		u++;
	}
	if (u >= 0)
		snprintf(buf, len, "%" PRIu64 " %s", x, unit[u]);
	else if (v < 1024)
		snprintf(buf, len, "%" PRIu64 " bytes", v);
	else
		snprintf(buf, len, "0x%" PRIx64 " (%" PRIu64 " bytes)", v, v);
	return buf;
}

const char *fmt_memlock(char *buf, size_t len)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		snprintf(buf, len, "unlimited");
	else
		fmt_size(buf, len, (uint64_t)rl.rlim_cur);
	return buf;
}

int read_sysfs_int(const char *path, int *out)
{
	char line[64], *end;
	FILE *f = fopen(path, "re");
	int ret = 0;

	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f)) {
		ret = -EIO;
	} else {
		errno = 0;
		long v = strtol(line, &end, 0);
		if (errno || end == line || v < -1 || v > 1 << 20)
			ret = -EINVAL;
		else
			*out = (int)v;
	}
	fclose(f);
	return ret;
}

int proc_status(const char *key, char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/status", "re");
	size_t klen = strlen(key);
	char line[256];
	int rc = -ENOENT;

	if (!f)
		return -errno;
	while (rc && fgets(line, sizeof(line), f))
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			char *v = line + klen + 1;

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(buf, len, "%s", v);
			rc = 0;
		}
	fclose(f);
	return rc;
}

int has_cap_ipc_lock(void)
{
	unsigned long long caps;
	char v[64];

	if (proc_status("CapEff", v, sizeof(v)) || sscanf(v, "%llx", &caps) != 1)
		return -1;
	return (int)((caps >> 14) & 1); /* linux/capability.h CAP_IPC_LOCK */
}

static unsigned k_major, k_minor;
static int k_err;             /* uname()'s errno, EINVAL: unparsable */
static char k_release[65] = "unknown";
static pthread_once_t k_once = PTHREAD_ONCE_INIT;

/* The running kernel does not change: read it once (uname() was most of
 * the library's own cost of a pin). */
static void read_kernel(void)
{
	struct utsname u;

	if (uname(&u) != 0) {
		k_err = errno;
		return;
	}
	snprintf(k_release, sizeof(k_release), "%s", u.release);
	if (sscanf(u.release, "%u.%u", &k_major, &k_minor) != 2)
		k_err = EINVAL;
}

const char *kernel_release(void)
{
	pthread_once(&k_once, read_kernel);
	return k_release;
}

int kernel_version(unsigned *major, unsigned *minor, bool *forced)
{
	const char *force = getenv("DAXMAP_KERNEL_VERSION");

	if (forced)
		*forced = false;
	if (force && *force) {
		unsigned a, b;
		char end;

		if (sscanf(force, "%u.%u%c", &a, &b, &end) != 2)
			return daxmap_err(EINVAL, "DAXMAP_KERNEL_VERSION='%s' is not MAJOR.MINOR (7.3, 6.12)",
					  force);
		*major = a;
		*minor = b;
		if (forced)
			*forced = true;
		return 0;
	}
	pthread_once(&k_once, read_kernel);
	if (k_err == EINVAL)
		return daxmap_err(EINVAL, "kernel release '%s' does not start with MAJOR.MINOR; set DAXMAP_KERNEL_VERSION",
				  k_release);
	if (k_err)
		return daxmap_err(k_err, "uname: %s", strerror(k_err));
	*major = k_major;
	*minor = k_minor;
	return 0;
}

DAXMAP_EXPORT int daxmap_kernel_version(unsigned *major, unsigned *minor)
{
	bool forced;
	int rc;

	if (!major || !minor)
		return daxmap_err(EINVAL, "daxmap_kernel_version: major and minor are required");
	rc = kernel_version(major, minor, &forced);
	return rc ? rc : forced;
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
