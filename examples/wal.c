/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * wal.c -- a write-ahead log in a libdaxmap region.
 *
 *   wal PATH append TEXT...  append each TEXT as a record; all are durable
 *                            when the command returns (one group commit)
 *   wal PATH stream [N]      append "record 1", "record 2", ... (N of them,
 *                            or until killed), printing "durable K" once
 *                            record K is durable: a crash test
 *   wal PATH replay          print the durable records, in order
 *   wal PATH checkpoint      empty the log (what it held is applied)
 *
 * PATH holds a pool (daxmapctl format PATH); the log is its region "wal",
 * created at the first append. One process writes the log at a time.
 *
 * The layout is the classic one for byte-addressable persistent memory:
 * a header with the length of the durable part, then records. An append
 * writes its records past that length, makes them durable, and only then
 * stores the new length: one aligned 8-byte store, which the CPU writes
 * all or nothing. After a crash, whatever lies past the length is an
 * append that never completed, and is ignored. So each commit costs two
 * fences, however many records it holds, and recovery reads one number.
 *
 * Build: cc wal.c $(pkg-config --cflags --libs daxmap) -o wal
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <daxmap.h>

#define WAL_REGION "wal"
#define WAL_SIZE (8ULL << 20) /* at creation; the log grows when full */
#define WAL_MAGIC 0x314c41574d584144ULL /* "DAXMWAL1" */

/* First cache line of the region. */
struct wal_header {
	uint64_t magic;
	uint64_t used; /* bytes of records that are durable */
};

/* A record: its length, then its bytes, padded to 8. */
struct wal_record {
	uint64_t len;
	char data[];
};

#define DATA_OFF 64 /* records start after the header's cache line */

struct wal {
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	struct daxmap_map *map;
	struct wal_header *hdr;
	uint64_t cap; /* bytes records may use */
};

static uint64_t rec_size(uint64_t len)
{
	return sizeof(struct wal_record) + ((len + 7) & ~7ULL);
}

static char *records(const struct wal *w)
{
	return (char *)w->hdr + DATA_OFF;
}

static int fail(const char *what)
{
	fprintf(stderr, "wal: %s: %s\n", what, daxmap_errormsg());
	return -1;
}

/* Map the region and check, or make, its header. */
static int wal_map(struct wal *w)
{
	struct wal_header *h;

	if (daxmap_region_map(&w->map, w->pool, WAL_REGION, 0) < 0)
		return fail("map the log");
	h = daxmap_map_addr(w->map);
	w->hdr = h;
	w->cap = daxmap_map_len(w->map) - DATA_OFF;
	if (h->magic == 0 && h->used == 0) {
		/* a new region reads as zeros (libdaxmap zeroes it on the
		 * first mapping): make it a log; a crash before the store
		 * leaves zeros, and the next run comes here again */
		h->magic = WAL_MAGIC;
		daxmap_map_persist(w->map, &h->magic, sizeof(h->magic));
	} else if (h->magic != WAL_MAGIC || h->used > w->cap) {
		fprintf(stderr, "wal: region '%s' does not hold a log\n", WAL_REGION);
		return -1;
	}
	return 0;
}

/* Open the pool on path and the log in it (create it when asked). */
static int wal_open(struct wal *w, const char *path, int create)
{
	int rc;

	memset(w, 0, sizeof(*w));
	if (daxmap_dev_open(&w->dev, path, 0, 0) < 0)
		return fail(path);
	/* opening also finishes what a crash interrupted in the pool */
	if (daxmap_pool_open(&w->pool, w->dev, 0) < 0)
		return fail(path);
	rc = create ? daxmap_region_create(w->pool, WAL_REGION, WAL_SIZE, NULL) : 0;
	if (rc < 0 && rc != -EEXIST)
		return fail("create the log");
	return wal_map(w);
}

static void wal_close(struct wal *w)
{
	daxmap_map_delete(&w->map);
	daxmap_pool_close(w->pool);
	daxmap_dev_close(w->dev);
}

/*
 * Make room for need more bytes: grow the region to twice its size and map
 * it again. The records stay where they are (a region keeps its extents
 * when it grows; the mapping shows them at a new address), and a crash
 * during the resize leaves the old size or the new one.
 */
static int wal_grow(struct wal *w, uint64_t need)
{
	uint64_t size = daxmap_map_len(w->map);

	while (size - DATA_OFF < w->hdr->used + need)
		size *= 2;
	if (daxmap_region_resize(w->pool, WAL_REGION, size, NULL, 0) < 0)
		return fail("grow the log");
	daxmap_map_delete(&w->map);
	return wal_map(w);
}

/*
 * Append n records and commit them together: copy them past the durable
 * length without waiting for each (DAXMAP_F_NODRAIN), wait once, then
 * publish the new length with one 8-byte store and persist it.
 */
static int wal_append(struct wal *w, char *const *texts, size_t n)
{
	uint64_t need = 0, at;

	for (size_t i = 0; i < n; i++)
		need += rec_size(strlen(texts[i]));
	if (w->hdr->used + need > w->cap && wal_grow(w, need) < 0)
		return -1;
	at = w->hdr->used;
	for (size_t i = 0; i < n; i++) {
		struct wal_record *r = (struct wal_record *)(records(w) + at);
		uint64_t len = strlen(texts[i]);

		r->len = len;
		daxmap_map_flush(w->map, &r->len, sizeof(r->len));
		daxmap_map_memcpy(w->map, r->data, texts[i], len, DAXMAP_F_NODRAIN);
		at += rec_size(len);
	}
	daxmap_map_drain(w->map); /* fence 1: the records are durable */
	/* an aligned 8-byte store is never torn: a crash shows the old length
	 * or the new one, never a mix */
	__atomic_store_n(&w->hdr->used, at, __ATOMIC_RELEASE);
	daxmap_map_persist(w->map, &w->hdr->used, sizeof(w->hdr->used)); /* fence 2 */
	return 0;
}

/* Print every durable record; returns how many, or -1. */
static long wal_replay(const struct wal *w, int print)
{
	uint64_t used = w->hdr->used, at = 0;
	long n = 0;

	while (at < used) {
		const struct wal_record *r = (const struct wal_record *)(records(w) + at);

		if (used - at < sizeof(*r) || rec_size(r->len) > used - at) {
			fprintf(stderr, "wal: record at %" PRIu64 " runs past the log's end\n", at);
			return -1;
		}
		if (print)
			printf("%.*s\n", (int)r->len, r->data);
		at += rec_size(r->len);
		n++;
	}
	return n;
}

static int wal_checkpoint(struct wal *w)
{
	/* the records stay as they are: past the length, they no longer
	 * count, and the next appends overwrite them */
	__atomic_store_n(&w->hdr->used, 0, __ATOMIC_RELEASE);
	daxmap_map_persist(w->map, &w->hdr->used, sizeof(w->hdr->used));
	return 0;
}

/* Append until killed (or n records), saying which are durable. */
static int wal_stream(struct wal *w, long n)
{
	long first = wal_replay(w, 0);

	if (first < 0)
		return -1;
	for (long k = first + 1; n <= 0 || k <= first + n; k++) {
		char text[32], *t = text;

		snprintf(text, sizeof(text), "record %ld", k);
		if (wal_append(w, &t, 1) < 0)
			return -1;
		/* only now may a client be told "committed" */
		printf("durable %ld\n", k);
		fflush(stdout);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 2 ? argv[2] : "";
	int create = strcmp(cmd, "append") == 0 || strcmp(cmd, "stream") == 0;
	struct wal w;
	int rc;

	if (argc < 3 || (!create && strcmp(cmd, "replay") && strcmp(cmd, "checkpoint")) ||
	    (strcmp(cmd, "append") == 0 && argc < 4)) {
		fprintf(stderr, "usage: wal PATH append TEXT... | stream [N] | replay | checkpoint\n");
		return 2;
	}
	if (wal_open(&w, argv[1], create) < 0) {
		wal_close(&w);
		return 1;
	}
	if (strcmp(cmd, "append") == 0)
		rc = wal_append(&w, argv + 3, (size_t)(argc - 3));
	else if (strcmp(cmd, "stream") == 0)
		rc = wal_stream(&w, argc > 3 ? strtol(argv[3], NULL, 10) : 0);
	else if (strcmp(cmd, "replay") == 0)
		rc = wal_replay(&w, 1) < 0 ? -1 : 0;
	else
		rc = wal_checkpoint(&w);
	wal_close(&w);
	return rc < 0 ? 1 : 0;
}
