/* SPDX-License-Identifier: BSD-3-Clause */
/* rig.c -- shared by the test programs that run inside the QEMU rig */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <daxmap.h>

#include "helpers.h"
#include "rig.h"

struct rig_dev rig_devdax[3] = {
	{ "DAXMAP_TEST_DEVDAX_2M" },
	{ "DAXMAP_TEST_HMEM" },
	{ "DAXMAP_TEST_DEVDAX_1G" },
};

const char *fsdax_file(const char *name, uint64_t size)
{
	static char path[512];
	const char *dir = env_or_skip("DAXMAP_TEST_FSDAX_DIR");
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(posix_fallocate(fd, 0, (off_t)size), 0, "%s", path);
	close(fd);
	return path;
}

const char *rig_path(const struct rig_dev *d, const char *file)
{
	if (strcmp(d->env, "DAXMAP_TEST_FSDAX_DIR") == 0)
		return fsdax_file(file, 64 * MiB);
	return env_or_skip(d->env);
}

struct daxmap_dev *open_dev(const char *path)
{
	struct daxmap_dev *dev;

	cr_assert_eq(daxmap_dev_open(&dev, path, 0, 0), 0, "%s: %s", path, daxmap_errormsg());
	return dev;
}

struct daxmap_pool *rig_fresh_pool(struct daxmap_dev *dev, struct daxmap_pool_stat *st)
{
	struct daxmap_pool *pool;

	cr_assert_eq(daxmap_pool_format(dev, 0, DAXMAP_FORMAT_FORCE), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	if (st)
		cr_assert_eq(daxmap_pool_stat(pool, st), 0, "%s", daxmap_errormsg());
	return pool;
}
