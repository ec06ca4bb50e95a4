/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sqlite.c -- a database in a libdaxmap pool through the daxmap VFS.
 *
 *   daxmapctl format /dev/dax0.0                    (once)
 *   cc sqlite.c $(pkg-config --cflags --libs daxmap-sqlite)
 *   ./a.out /dev/dax0.0                             (run it twice)
 *
 * On a machine without devdax, an emulated device works the same way:
 *   truncate -s 1G /tmp/emu && daxmapctl format /tmp/emu && ./a.out /tmp/emu
 */
#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

#include <daxmap_sqlite.h>

static int print_row(void *arg, int n, char **v, char **col)
{
	(void)arg;
	for (int i = 0; i < n; i++)
		printf("%s=%s%s", col[i], v[i] ? v[i] : "NULL", i + 1 < n ? " " : "\n");
	return 0;
}

static void run(sqlite3 *db, const char *sql)
{
	char *err = NULL;

	if (sqlite3_exec(db, sql, print_row, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "%s: %s\n", sql, err);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	char uri[512];
	sqlite3 *db;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DEVICE (a devdax device or emulated device holding a pool)\n",
			argv[0]);
		return 2;
	}
	/* the VFS, registered once per process; the device comes with the URI */
	if (daxmap_sqlite_register(0) != SQLITE_OK)
		return 1;
	snprintf(uri, sizeof(uri), "file:example.db?device=%s", argv[1]);
	if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
			    DAXMAP_SQLITE_VFS) != SQLITE_OK) {
		fprintf(stderr, "%s: %s (is the device a pool? daxmapctl format)\n", uri,
			sqlite3_errmsg(db));
		return 1;
	}
	/* a commit is durable when it returns: the WAL append is flushed and
	 * xSync is a store fence, with no system call */
	run(db, "PRAGMA journal_mode=WAL");
	run(db, "PRAGMA synchronous=FULL");
	/* reads of the database file come straight from the mapping */
	run(db, "PRAGMA mmap_size=268435456");
	run(db, "CREATE TABLE IF NOT EXISTS runs(id INTEGER PRIMARY KEY, at TEXT)");
	run(db, "INSERT INTO runs(at) VALUES(datetime('now'))");
	run(db, "SELECT count(*) AS runs, max(at) AS last FROM runs");
	sqlite3_close(db);
	return 0;
}
