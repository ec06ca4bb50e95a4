/* SPDX-License-Identifier: BSD-3-Clause */
/* util.c -- small helpers shared by the library's modules */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int read_sysfs_u64(const char *path, uint64_t *out)
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
		unsigned long long v = strtoull(line, &end, 0);
		if (errno || end == line)
			ret = -EINVAL;
		else
			*out = v;
	}
	fclose(f);
	return ret;
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
