/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pool-body.c -- the frame of a documentation example that is a piece of a
 * function: it runs with `pool` open on a scratch device (argv[1]) that
 * holds a region "wal".
 */
#include <daxmap.h>
#include <err.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;

	if (argc != 2 || daxmap_dev_open(&dev, argv[1], 0, 0) < 0 ||
	    daxmap_pool_format(dev, 0, 0) < 0 || daxmap_pool_open(&pool, dev, 0) < 0 ||
	    daxmap_region_create(pool, "wal", 8 << 20, NULL) < 0)
		errx(2, "frame: %s", daxmap_errormsg());
	{
#include EXAMPLE
	}
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
	return 0;
}
