/* SPDX-License-Identifier: BSD-3-Clause */
/* pool_helpers.c -- emulated devices and pools for the unit tests */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <xxhash.h>

#include <daxmap.h>

#include "helpers.h"

struct daxmap_dev *new_dev(uint64_t size)
{
	struct daxmap_dev *dev;

	cr_assert_eq(daxmap_dev_open(&dev, make_file(size), 0, 0), 0, "%s", daxmap_errormsg());
	return dev;
}

struct daxmap_pool *new_pool(struct daxmap_dev *dev)
{
	struct daxmap_pool *pool;

	cr_assert_eq(daxmap_pool_format(dev, 0, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	return pool;
}

uint64_t dev_hash(const struct daxmap_dev *dev)
{
	size_t len = daxmap_dev_size(dev);
	char *buf = malloc(len);
	int fd = open(daxmap_dev_path(dev), O_RDONLY);
	uint64_t h;

	cr_assert(buf && fd >= 0);
	cr_assert_eq(pread(fd, buf, len, 0), (ssize_t)len);
	close(fd);
	h = XXH64(buf, len, 0);
	free(buf);
	return h;
}
