/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sqlite.c -- the frame of a documentation example that opens a database
 * through the daxmap VFS: it runs with `device`, the path of a scratch
 * emulated device (argv[1]) made an empty pool, and must leave `db` open.
 */
#include <daxmap.h>
#include <daxmap_sqlite.h>
#include <err.h>
#include <sqlite3.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	struct daxmap_dev *dev;
	const char *device;
	sqlite3 *db = NULL;

	if (argc != 2 || daxmap_dev_open(&dev, argv[1], 0, 0) < 0 ||
	    daxmap_pool_format(dev, 0, 0) < 0)
		errx(2, "frame: %s", daxmap_errormsg());
	daxmap_dev_close(dev);
	device = argv[1];
	{
#include EXAMPLE
	}
	if (!db || sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1)", NULL, NULL,
				NULL) != SQLITE_OK)
		errx(1, "frame: the example left no usable database: %s", db ? sqlite3_errmsg(db) : "none");
	sqlite3_close(db);
	return 0;
}
