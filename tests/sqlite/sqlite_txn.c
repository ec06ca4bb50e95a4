/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * sqlite_txn.c -- transactions that a crash must not lose, through the
 * daxmap VFS.
 *
 *   sqlite_txn write URI MODE [N [TAG]]
 *                                   one row per transaction (synchronous=
 *                                   FULL, journal_mode MODE), printing each
 *                                   row's id (after TAG and a space, if
 *                                   given) once its COMMIT returned; N rows
 *                                   (0: until killed)
 *   sqlite_txn check URI LAST       PRAGMA integrity_check is ok, and rows
 *                                   1..max are all there and right, with
 *                                   max >= LAST (the last id printed)
 *
 * Exit status 0 when all is well, 1 otherwise (with the reason).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "daxmap_sqlite.h"

static sqlite3 *db;

static void die(const char *what)
{
	fprintf(stderr, "sqlite_txn: %s: %s\n", what, db ? sqlite3_errmsg(db) : "no database");
	exit(1);
}

static void exec(const char *sql)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		die(sql);
}

/* The row of id i: its payload says i, so a torn or misplaced row shows. */
static void payload(char *buf, size_t len, long i)
{
	snprintf(buf, len, "row %ld of the crash test, padded to a few dozen bytes", i);
}

static int do_write(const char *mode, long n, const char *tag)
{
	char sql[96], v[128];
	sqlite3_stmt *ins, *max;
	long id;

	snprintf(sql, sizeof(sql), "PRAGMA journal_mode=%s", mode);
	exec(sql);
	exec("PRAGMA synchronous=FULL");
	exec("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
	if (sqlite3_prepare_v2(db, "INSERT INTO t VALUES(?, ?)", -1, &ins, NULL) != SQLITE_OK)
		die("prepare");
	/* go on after the rows a previous run left */
	if (sqlite3_prepare_v2(db, "SELECT coalesce(max(id), 0) FROM t", -1, &max, NULL) ||
	    sqlite3_step(max) != SQLITE_ROW)
		die("max");
	id = sqlite3_column_int64(max, 0) + 1;
	sqlite3_finalize(max);
	for (long k = 0; n == 0 || k < n; k++, id++) {
		payload(v, sizeof(v), id);
		exec("BEGIN");
		sqlite3_bind_int64(ins, 1, id);
		sqlite3_bind_text(ins, 2, v, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(ins) != SQLITE_DONE)
			die("insert");
		sqlite3_reset(ins);
		exec("COMMIT");
		/* one write(2) per line: writers sharing an output keep whole lines */
		printf("%s%s%ld\n", tag, *tag ? " " : "", id);
		fflush(stdout);
	}
	sqlite3_finalize(ins);
	return 0;
}

static int do_check(long last)
{
	sqlite3_stmt *st;
	long want = 1;
	char v[128];

	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) ||
	    sqlite3_step(st) != SQLITE_ROW)
		die("integrity_check");
	if (strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		fprintf(stderr, "sqlite_txn: integrity_check: %s\n", sqlite3_column_text(st, 0));
		return 1;
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db, "SELECT id, v FROM t ORDER BY id", -1, &st, NULL))
		die("select");
	while (sqlite3_step(st) == SQLITE_ROW) {
		long id = sqlite3_column_int64(st, 0);

		payload(v, sizeof(v), id);
		if (id != want || strcmp((const char *)sqlite3_column_text(st, 1), v) != 0) {
			fprintf(stderr, "sqlite_txn: row %ld is wrong or missing (found %ld)\n", want, id);
			return 1;
		}
		want++;
	}
	sqlite3_finalize(st);
	if (want - 1 < last) {
		fprintf(stderr, "sqlite_txn: %ld rows, but %ld were committed\n", want - 1, last);
		return 1;
	}
	printf("integrity_check ok; rows 1..%ld present (%ld committed before the crash)\n",
	       want - 1, last);
	return 0;
}

int main(int argc, char **argv)
{
	int rc;

	if (argc < 4 || (strcmp(argv[1], "write") && strcmp(argv[1], "check"))) {
		fprintf(stderr, "usage: sqlite_txn write URI MODE [N [TAG]] | check URI LAST\n");
		return 2;
	}
	if (daxmap_sqlite_register(0) != SQLITE_OK ||
	    sqlite3_open_v2(argv[2], &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
			    DAXMAP_SQLITE_VFS) != SQLITE_OK)
		die(argv[2]);
	sqlite3_busy_timeout(db, 10000);
	if (strcmp(argv[1], "write") == 0)
		rc = do_write(argv[3], argc > 4 ? atol(argv[4]) : 0, argc > 5 ? argv[5] : "");
	else
		rc = do_check(atol(argv[3]));
	sqlite3_close(db);
	return rc;
}
