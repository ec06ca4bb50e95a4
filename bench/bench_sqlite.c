/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bench_sqlite.c -- committed transactions per second: one single-row
 * INSERT per transaction at synchronous=FULL, the workload whose latency
 * is the storage's flush (a log write and its sync per commit).
 *
 *   bench_sqlite [--vfs NAME] [--mode wal|delete] [--txns N] DB
 *
 * DB is a file name or URI for the VFS (daxmap: "file:b.db?device=...";
 * unix: a path on the filesystem to measure). The database is made anew.
 * Prints one line: vfs, mode, transactions, seconds, transactions per s.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "bench_util.h"
#include "daxmap_sqlite.h"

const char bench_name[] = "bench_sqlite";

static void check(sqlite3 *db, int rc, const char *what)
{
	if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
		fprintf(stderr, "bench_sqlite: %s: %s\n", what, sqlite3_errmsg(db));
		exit(1);
	}
}

/* A fresh database: its old table dropped, the mode and sync level set. */
static sqlite3 *open_fresh(const char *name, const char *vfs, const char *mode)
{
	char sql[128];
	sqlite3 *db;

	check(NULL, daxmap_sqlite_register(0), "register the daxmap VFS");
	if (sqlite3_open_v2(name, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
			    vfs) != SQLITE_OK)
		check(db, SQLITE_CANTOPEN, name);
	snprintf(sql, sizeof(sql),
		 "PRAGMA journal_mode=%s; PRAGMA synchronous=FULL; DROP TABLE IF EXISTS b;"
		 "CREATE TABLE b(id INTEGER PRIMARY KEY, v TEXT)", mode);
	check(db, sqlite3_exec(db, sql, NULL, NULL, NULL), sql);
	return db;
}

int main(int argc, char **argv)
{
	const char *vfs = DAXMAP_SQLITE_VFS, *mode = "wal", *name = NULL;
	long txns = 3000;
	sqlite3_stmt *ins;
	sqlite3 *db;
	double t0, t;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--vfs") == 0 && i + 1 < argc)
			vfs = argv[++i];
		else if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
			mode = argv[++i];
		else if (strcmp(argv[i], "--txns") == 0 && i + 1 < argc)
			txns = atol(argv[++i]);
		else if (!name && argv[i][0] != '-')
			name = argv[i];
		else
			usage("usage: bench_sqlite [--vfs NAME] [--mode wal|delete] [--txns N] DB\n");
	}
	if (!name || txns <= 0)
		usage("usage: bench_sqlite [--vfs NAME] [--mode wal|delete] [--txns N] DB\n");
	db = open_fresh(name, vfs, mode);
	check(db, sqlite3_prepare_v2(db, "INSERT INTO b(v) VALUES('a row of about forty bytes, as a log')",
				     -1, &ins, NULL), "prepare");
	t0 = now();
	for (long k = 0; k < txns; k++) {
		/* autocommit: each step is BEGIN, INSERT, COMMIT with its syncs */
		check(db, sqlite3_step(ins), "insert");
		sqlite3_reset(ins);
	}
	t = now() - t0;
	sqlite3_finalize(ins);
	sqlite3_close(db);
	printf("%s %s %ld txns %.3f s %.0f txn/s\n", vfs, mode, txns, t, (double)txns / t);
	return 0;
}
