/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_vfs.c -- the daxmap VFS through SQLite's API, on emulated devices:
 * connections and threads of one process lock each other out as those of
 * two processes do, every journal mode works, files exist and go as
 * SQLite expects, a full pool is SQLITE_FULL and leaves the database
 * intact, and bad input is refused.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include <daxmap.h>

#include "daxmap_sqlite.h"
#include "helpers.h"

static char uri[600];

/* A fresh pool on an emulated device of size bytes; uri names db on it. */
static void fresh_pool(uint64_t size, const char *db)
{
	const char *path = make_file(size);
	struct daxmap_dev *dev;

	cr_assert_eq(daxmap_dev_open(&dev, path, 0, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_format(dev, 0, 0), 0, "%s", daxmap_errormsg());
	daxmap_dev_close(dev);
	snprintf(uri, sizeof(uri), "file:%s?device=%s", db, path);
	cr_assert_eq(daxmap_sqlite_register(0), SQLITE_OK);
}

static sqlite3 *open_db(const char *name)
{
	sqlite3 *db;
	int rc = sqlite3_open_v2(name, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				 SQLITE_OPEN_URI, DAXMAP_SQLITE_VFS);

	cr_assert_eq(rc, SQLITE_OK, "%s: %s", name, sqlite3_errmsg(db));
	return db;
}

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static long long one(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long v;

	cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
		     sqlite3_errmsg(db));
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void integrity_ok(sqlite3 *db)
{
	sqlite3_stmt *st;

	cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
	cr_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
}

Test(vfs, two_connections_lock_as_two_processes)
{
	sqlite3 *a, *b;

	fresh_pool(64 * MiB, "locks.db");
	a = open_db(uri);
	b = open_db(uri);
	cr_assert_eq(exec(a, "CREATE TABLE t(x)"), SQLITE_OK);
	/* rollback journal: a writer's RESERVED keeps the other writer out,
	 * readers go on until it wants EXCLUSIVE */
	cr_assert_eq(exec(a, "BEGIN IMMEDIATE; INSERT INTO t VALUES(1)"), SQLITE_OK);
	cr_assert_eq(exec(b, "BEGIN IMMEDIATE"), SQLITE_BUSY);
	cr_assert_eq(one(b, "SELECT count(*) FROM t"), 0);
	cr_assert_eq(exec(b, "BEGIN; SELECT * FROM t"), SQLITE_OK); /* b holds SHARED */
	cr_assert_eq(exec(a, "COMMIT"), SQLITE_BUSY, "a commit waits for the reader");
	cr_assert_eq(exec(b, "COMMIT"), SQLITE_OK);
	cr_assert_eq(exec(a, "COMMIT"), SQLITE_OK);
	cr_assert_eq(one(b, "SELECT count(*) FROM t"), 1);
	/* WAL: one writer at a time, readers beside it on their snapshot */
	cr_assert_eq(exec(a, "PRAGMA journal_mode=WAL"), SQLITE_OK);
	cr_assert_eq(exec(a, "BEGIN IMMEDIATE; INSERT INTO t VALUES(2)"), SQLITE_OK);
	cr_assert_eq(exec(b, "BEGIN IMMEDIATE"), SQLITE_BUSY);
	cr_assert_eq(one(b, "SELECT count(*) FROM t"), 1);
	cr_assert_eq(exec(a, "COMMIT"), SQLITE_OK);
	cr_assert_eq(one(b, "SELECT count(*) FROM t"), 2);
	integrity_ok(b);
	sqlite3_close(a);
	sqlite3_close(b);
}

#define THREADS 4
#define ROWS 100

static void *writer(void *arg)
{
	sqlite3 *db = open_db(uri);
	long id = (long)(intptr_t)arg;
	char sql[96];
	int bad = 0;

	sqlite3_busy_timeout(db, 20000);
	for (int i = 0; i < ROWS && !bad; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO t VALUES(%ld, %d)", id, i);
		bad = exec(db, sql) != SQLITE_OK;
	}
	sqlite3_close(db);
	return (void *)(intptr_t)bad;
}

static void threads_write(const char *mode)
{
	pthread_t t[THREADS];
	char sql[64];
	sqlite3 *db;
	void *bad;

	db = open_db(uri);
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode=%s", mode);
	cr_assert_eq(exec(db, sql), SQLITE_OK);
	cr_assert_eq(exec(db, "CREATE TABLE t(thread, i)"), SQLITE_OK);
	for (long i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, writer, (void *)(intptr_t)i);
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], &bad);
		cr_assert_null(bad, "thread %d failed to insert", i);
	}
	cr_assert_eq(one(db, "SELECT count(*) FROM t"), THREADS * ROWS);
	cr_assert_eq(one(db, "SELECT count(DISTINCT thread) FROM t"), THREADS);
	integrity_ok(db);
	sqlite3_close(db);
}

Test(vfs, threads_with_a_connection_each_wal)
{
	fresh_pool(64 * MiB, "threads.db");
	threads_write("WAL");
}

Test(vfs, threads_with_a_connection_each_delete)
{
	fresh_pool(64 * MiB, "threads.db");
	threads_write("DELETE");
}

Test(vfs, every_journal_mode)
{
	static const char *modes[] = { "DELETE", "TRUNCATE", "PERSIST", "MEMORY", "WAL", "OFF" };
	sqlite3 *db;

	fresh_pool(64 * MiB, "modes.db");
	db = open_db(uri);
	cr_assert_eq(exec(db, "CREATE TABLE t(x)"), SQLITE_OK);
	for (size_t i = 0; i < sizeof(modes) / sizeof(*modes); i++) {
		char sql[64];

		snprintf(sql, sizeof(sql), "PRAGMA journal_mode=%s", modes[i]);
		cr_assert_eq(exec(db, sql), SQLITE_OK, "%s: %s", modes[i], sqlite3_errmsg(db));
		cr_assert_eq(exec(db, "BEGIN; INSERT INTO t VALUES(1); INSERT INTO t SELECT x FROM t; COMMIT"),
			     SQLITE_OK, "%s: %s", modes[i], sqlite3_errmsg(db));
		cr_assert_eq(exec(db, "BEGIN; INSERT INTO t VALUES(9); ROLLBACK"), SQLITE_OK);
	}
	cr_assert_eq(one(db, "SELECT count(*) FROM t WHERE x = 9"), 0, "rollbacks undid");
	cr_assert_eq(one(db, "SELECT count(*) FROM t"), 126);
	integrity_ok(db);
	sqlite3_close(db);
}

Test(vfs, files_exist_and_go_as_sqlite_expects)
{
	sqlite3_vfs *vfs;
	int out = -1;
	sqlite3 *db;

	fresh_pool(64 * MiB, "files.db");
	vfs = sqlite3_vfs_find(DAXMAP_SQLITE_VFS);
	cr_assert_not_null(vfs);
	/* no such file: not created by a read-only open */
	cr_assert_eq(sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI,
				     DAXMAP_SQLITE_VFS), SQLITE_CANTOPEN);
	sqlite3_close(db);
	db = open_db(uri);
	cr_assert_eq(exec(db, "CREATE TABLE t(x); PRAGMA journal_mode=WAL; INSERT INTO t VALUES(1)"),
		     SQLITE_OK);
	cr_assert_eq(vfs->xAccess(vfs, "files.db-wal", SQLITE_ACCESS_EXISTS, &out), SQLITE_OK);
	cr_assert_eq(out, 1, "the WAL of an open WAL database exists");
	cr_assert_eq(vfs->xAccess(vfs, "files.db-journal", SQLITE_ACCESS_EXISTS, &out), SQLITE_OK);
	cr_assert_eq(out, 0, "a deleted journal does not");
	/* deleting what is not there, as unlink(2): deleted, never made, no device */
	cr_assert_eq(vfs->xDelete(vfs, "files.db-journal", 0), SQLITE_IOERR_DELETE_NOENT);
	cr_assert_eq(vfs->xDelete(vfs, "files.db-mj0123", 0), SQLITE_IOERR_DELETE_NOENT);
	cr_assert_eq(vfs->xDelete(vfs, "elsewhere.db", 0), SQLITE_IOERR_DELETE_NOENT);
	cr_assert_eq(vfs->xAccess(vfs, "elsewhere.db", SQLITE_ACCESS_EXISTS, &out), SQLITE_OK);
	cr_assert_eq(out, 0);
	sqlite3_close(db);
	/* the last close checkpoints and deletes the WAL */
	cr_assert_eq(vfs->xAccess(vfs, "files.db-wal", SQLITE_ACCESS_EXISTS, &out), SQLITE_OK);
	cr_assert_eq(out, 0);
	db = open_db(uri);
	cr_assert_eq(one(db, "SELECT count(*) FROM t"), 1);
	sqlite3_close(db);
}

/* A region of the database's name that the VFS did not make: one holding
 * data is never written (someone else's), one nobody ever mapped (a create
 * that died before its first mapping) holds nothing and is taken. */
Test(vfs, a_region_never_mapped_is_taken_one_with_data_is_not)
{
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	struct daxmap_map *map;
	const char *path;
	sqlite3 *db;

	fresh_pool(64 * MiB, "left.db");
	path = strstr(uri, "device=") + strlen("device=");
	cr_assert_eq(daxmap_dev_open(&dev, path, 0, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_create(pool, "left.db", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_create(pool, "data.db", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_map(&map, pool, "data.db", 0), 0, "%s", daxmap_errormsg());
	memcpy(daxmap_map_addr(map), "someone's data", 15);
	daxmap_map_persist(map, daxmap_map_addr(map), 15);
	daxmap_map_delete(&map);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);

	db = open_db(uri);
	cr_assert_eq(exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1)"), SQLITE_OK,
		     "%s", sqlite3_errmsg(db));
	cr_assert_eq(one(db, "SELECT count(*) FROM t"), 1);
	sqlite3_close(db);

	snprintf(strstr(uri, "file:") + strlen("file:"), sizeof(uri) - strlen("file:"),
		 "data.db?device=%s", path);
	cr_assert_eq(sqlite3_open_v2(uri, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				     SQLITE_OPEN_URI, DAXMAP_SQLITE_VFS), SQLITE_CANTOPEN,
		     "a region holding data was taken");
	sqlite3_close(db);
	cr_assert_eq(daxmap_dev_open(&dev, path, 0, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map(&map, pool, "data.db", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(memcmp(daxmap_map_addr(map), "someone's data", 15), 0, "it was written");
	daxmap_map_delete(&map);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(vfs, a_full_pool_is_sqlite_full_and_harms_nothing)
{
	sqlite3 *db;
	int rc;

	/* 16 MiB: 7 extents of 2 MiB for data */
	fresh_pool(16 * MiB, "full.db");
	db = open_db(uri);
	cr_assert_eq(exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1)"), SQLITE_OK);
	rc = exec(db, "INSERT INTO t SELECT randomblob(1 << 20) FROM generate_series(1, 20)");
	if (rc != SQLITE_OK) /* generate_series is an extension: a recursive CTE */
		rc = exec(db, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20) "
			      "INSERT INTO t SELECT randomblob(1 << 20) FROM n");
	cr_assert_eq(rc, SQLITE_FULL, "%d: %s", rc, sqlite3_errmsg(db));
	cr_assert_eq(one(db, "SELECT count(*) FROM t"), 1, "the failed statement left nothing");
	integrity_ok(db);
	cr_assert_eq(exec(db, "INSERT INTO t VALUES(2)"), SQLITE_OK, "small writes still fit");
	sqlite3_close(db);
}

Test(vfs, bad_names_and_devices_are_refused)
{
	char name[700];
	sqlite3 *db;

	fresh_pool(64 * MiB, "x.db");
	/* longer than the VFS's mxPathname */
	memset(name, 'n', sizeof(name));
	memcpy(name, "file:", 5);
	snprintf(name + 600, 100, "?device=%s", strchr(uri, '=') + 1);
	cr_assert_neq(sqlite3_open_v2(name, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				      SQLITE_OPEN_URI, DAXMAP_SQLITE_VFS), SQLITE_OK);
	sqlite3_close(db);
	cr_assert_eq(sqlite3_open_v2("file:x.db?device=/nonexistent", &db,
				     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
				     DAXMAP_SQLITE_VFS), SQLITE_CANTOPEN);
	sqlite3_close(db);
	cr_assert_eq(sqlite3_open_v2("file:x.db?device=/dev/null", &db,
				     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
				     DAXMAP_SQLITE_VFS), SQLITE_CANTOPEN);
	sqlite3_close(db);
	/* registering again is harmless */
	cr_assert_eq(daxmap_sqlite_register(0), SQLITE_OK);
	cr_assert_eq(daxmap_sqlite_register(0), SQLITE_OK);
}

Test(vfs, fetch_gives_the_mapping_itself_and_it_never_moves)
{
	sqlite3_file *f = NULL;
	char page[4096];
	void *p = NULL, *q = NULL;
	sqlite3 *db;

	fresh_pool(64 * MiB, "fetch.db");
	db = open_db(uri);
	cr_assert_eq(exec(db, "PRAGMA mmap_size=268435456; CREATE TABLE t(x); INSERT INTO t VALUES(1)"),
		     SQLITE_OK);
	cr_assert_eq(sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f), SQLITE_OK);
	cr_assert_eq(f->pMethods->iVersion, 3);
	cr_assert_eq(f->pMethods->xFetch(f, 0, 4096, &p), SQLITE_OK);
	cr_assert_not_null(p, "mmap_size is set: page 1 comes from the mapping");
	cr_assert_eq(f->pMethods->xRead(f, page, sizeof(page), 0), SQLITE_OK);
	cr_assert_eq(memcmp(p, page, sizeof(page)), 0);
	cr_assert_eq(f->pMethods->xUnfetch(f, 0, p), SQLITE_OK);
	/* the file grows past its first extents (2 MiB each): page 1 stays put */
	cr_assert_eq(exec(db, "INSERT INTO t SELECT randomblob(4000) FROM t; INSERT INTO t SELECT randomblob(4000) FROM t;"
			      "INSERT INTO t SELECT randomblob(4000) FROM t; INSERT INTO t SELECT randomblob(4000) FROM t;"
			      "INSERT INTO t SELECT randomblob(4000) FROM t; INSERT INTO t SELECT randomblob(4000) FROM t;"
			      "INSERT INTO t SELECT randomblob(4000) FROM t; INSERT INTO t SELECT randomblob(4000) FROM t;"
			      "INSERT INTO t SELECT randomblob(4000) FROM t; INSERT INTO t SELECT randomblob(4000) FROM t"),
		     SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert_gt(one(db, "PRAGMA page_count"), 2 * 1024 * 1024 / 4096 * 2);
	cr_assert_eq(f->pMethods->xFetch(f, 0, 4096, &q), SQLITE_OK);
	cr_assert_eq(q, p, "the mapping moved as the file grew");
	cr_assert_eq(f->pMethods->xUnfetch(f, 0, q), SQLITE_OK);
	/* past the end, or without mmap_size: no pointer, SQLite reads instead */
	cr_assert_eq(f->pMethods->xFetch(f, 1LL << 40, 4096, &q), SQLITE_OK);
	cr_assert_null(q);
	cr_assert_eq(exec(db, "PRAGMA mmap_size=0"), SQLITE_OK);
	cr_assert_eq(f->pMethods->xFetch(f, 0, 4096, &q), SQLITE_OK);
	cr_assert_null(q);
	integrity_ok(db);
	sqlite3_close(db);
}

/* The regions of the pool whose names start with prefix. */
static int regions_named(const char *path, const char *prefix)
{
	struct daxmap_region_info *ri;
	struct daxmap_pool *pool;
	struct daxmap_dev *dev;
	size_t n;
	int k = 0;

	cr_assert_eq(daxmap_dev_open(&dev, path, 0, 0), 0);
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0);
	cr_assert_eq(daxmap_region_list(pool, &ri, &n), 0);
	for (size_t i = 0; i < n; i++)
		k += strncmp(ri[i].name, prefix, strlen(prefix)) == 0;
	daxmap_region_list_free(ri);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
	return k;
}

Test(vfs, a_transaction_over_two_databases_leaves_no_super_journal)
{
	char attach[700];
	const char *path;
	sqlite3 *db;

	fresh_pool(64 * MiB, "a.db");
	path = strchr(uri, '=') + 1;
	db = open_db(uri);
	snprintf(attach, sizeof(attach), "ATTACH 'file:b.db?vfs=daxmap&device=%s' AS b", path);
	cr_assert_eq(exec(db, attach), SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert_eq(exec(db, "CREATE TABLE main.t(x); CREATE TABLE b.t(x)"), SQLITE_OK);
	/* a commit over two rollback-journal databases goes through a super
	 * journal, a file of a new name each time */
	for (int i = 0; i < 5; i++)
		cr_assert_eq(exec(db, "BEGIN; INSERT INTO main.t VALUES(1); INSERT INTO b.t VALUES(2); COMMIT"),
			     SQLITE_OK, "%s", sqlite3_errmsg(db));
	cr_assert_eq(one(db, "SELECT (SELECT count(*) FROM main.t) + (SELECT count(*) FROM b.t)"), 10);
	sqlite3_close(db);
	cr_assert_eq(regions_named(path, "a.db-mj"), 0, "super journals are removed, not kept");
}

/* Lines of /proc/self/maps that map path. */
static int mappings_of(const char *path)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[1024];
	int n = 0;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		n += strstr(line, path) != NULL;
	fclose(f);
	return n;
}

Test(vfs, closed_files_do_not_keep_the_process_mapped_without_bound)
{
	const char *path;
	char name[640];

	fresh_pool(128 * MiB, "d0.db");
	path = strchr(uri, '=') + 1;
	/* 20 databases, each with its journal: 40 regions, opened and closed */
	for (int i = 0; i < 20; i++) {
		sqlite3 *db;

		snprintf(name, sizeof(name), "file:d%d.db?device=%s", i, path);
		db = open_db(name);
		cr_assert_eq(exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1)"), SQLITE_OK);
		sqlite3_close(db);
	}
	/* the idle ones kept mapped are a few (the pool's metadata is one) */
	cr_assert_leq(mappings_of(path), 12, "%d mappings of the device", mappings_of(path));
	for (int i = 0; i < 20; i += 7) {
		sqlite3 *db;

		snprintf(name, sizeof(name), "file:d%d.db?device=%s", i, path);
		db = open_db(name);
		cr_assert_eq(one(db, "SELECT count(*) FROM t"), 1, "d%d.db", i);
		sqlite3_close(db);
	}
}
