/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_pool.c -- libFuzzer harness for the pool metadata parser
 * (pool_sb_read, pool_core_open/scan/recover, region operations).
 *
 * The input describes a device's metadata area (fuzz_input.h). The harness
 * reads the superblock from a buffer of exactly pool_probe_len() bytes and
 * then opens a buffer of exactly meta_extents * extent_size bytes, as
 * lib/pool_handle.c maps them, so ASan sees any access past either. Checksums are
 * re-sealed on request: without that, nothing but the superblock check
 * would ever run.
 *
 * Besides the sanitizers, the harness aborts when the library breaks a
 * promise it makes in its comments: writes (flushes) only inside the two
 * tables and never when read-only, a clean pool stays clean through
 * recovery and every successful operation, a failed operation writes
 * nothing, the fence budget in pool_core.c (2 drains per operation), and
 * the in-memory view after an operation is what a fresh scan of the media
 * reads.
 *
 * Build: see run-smoke. Run: ./fuzz_pool corpus/
 */
#define _GNU_SOURCE /* MAP_ANONYMOUS, MAP_NORESERVE under -std=c11 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <sanitizer/asan_interface.h>
#include <xxhash.h>

#include "daxmap.h"
#include "pool_core.h"
#include "../core_ops.h"

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(...)                                                  \
	do {                                                      \
		fprintf(stderr, "fuzz_pool: " __VA_ARGS__);       \
		fputc('\n', stderr);                              \
		abort();                                          \
	} while (0)

/* FUZZ_POOL_TRACE=1 ./fuzz_pool FILE: say what an input does (triage). */
static int tracing = -1;

#define trace(...)                                                        \
	do {                                                              \
		if (tracing < 0)                                          \
			tracing = getenv("FUZZ_POOL_TRACE") != NULL;      \
		if (tracing)                                              \
			fprintf(stderr, "fuzz_pool: " __VA_ARGS__);       \
	} while (0)

/* ---- the device image ---- */

struct image {
	struct pool_sb p, b;
	const uint8_t *recs, *ents; /* region records and extent table bytes */
	size_t recs_len, ents_len;
	bool seal_names;
	uint32_t minor; /* whose layout the image follows */
};

static uint64_t le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Copy in[off, off+n) to dst; what the input lacks stays zero. */
static void take(void *dst, size_t n, const uint8_t *in, size_t len, size_t off)
{
	memset(dst, 0, n);
	if (off < len)
		memcpy(dst, in + off, len - off < n ? len - off : n);
}

static void put(char *buf, size_t len, uint64_t off, const void *src, size_t n)
{
	if (off >= len)
		return;
	memcpy(buf + off, src, len - off < n ? len - off : n);
}

/* Lay the image out in a zeroed buffer of len bytes, cut at
 * its end. */
static void place(const struct image *im, char *buf, size_t len)
{
	const uint64_t rt = layout_region_off(im->minor);

	put(buf, len, SB_PRIMARY_OFF, &im->p, sizeof(im->p));
	put(buf, len, layout_backup_off(im->minor), &im->b, sizeof(im->b));
	if (im->recs_len)
		put(buf, len, rt, im->recs, im->recs_len);
	/* like the superblock checksum: without it a mutated record is only
	 * ever "name is corrupt" */
	for (uint64_t s = 0; im->seal_names && s < im->recs_len / REGION_REC_SIZE; s++) {
		uint64_t off = rt + s * REGION_REC_SIZE;
		struct region_rec *r = (struct region_rec *)(buf + off);

		if (off + REGION_REC_SIZE > len)
			break;
		r->name_sum = XXH64(r->name, sizeof(r->name), rw_gen(r->word));
	}
	if (im->ents_len)
		put(buf, len, layout_extent_off(im->minor), im->ents, im->ents_len);
}

/* ---- the buffers the library reads: one arena for every execution ---- */

/*
 * A fresh calloc() of the 2+ MiB the library maps would cost most of an
 * execution in page faults (the kernel zeroes every new page). So one
 * arena serves every execution: a buffer of len bytes ends at the arena's
 * end, against a PROT_NONE guard page (a read or write past it faults),
 * and all of the arena outside the buffer is poisoned for ASan (an access
 * before it is reported, at any distance). Giving a buffer back zeroes it,
 * so every buffer starts as a zeroed device does.
 */
#define ARENA_CAP (16ULL << 20) /* > the largest device an input describes */

static char *arena;

static char *arena_get(uint64_t len)
{
	char *buf;

	if (!arena) {
		char *a = mmap(NULL, ARENA_CAP + FZ_ALIGN, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (a == MAP_FAILED || mprotect(a + ARENA_CAP, FZ_ALIGN, PROT_NONE))
			die("cannot map the arena");
		arena = a;
		ASAN_POISON_MEMORY_REGION(arena, ARENA_CAP);
	}
	/* pool_sb_check: extents are whole 4 KiB pages; the tables' 8-byte
	 * words stay aligned as in a mapping */
	if (len > ARENA_CAP || len % FZ_ALIGN)
		die("a buffer of %ju bytes does not fit the arena", (uintmax_t)len);
	buf = arena + ARENA_CAP - len;
	ASAN_UNPOISON_MEMORY_REGION(buf, len);
	return buf;
}

static void arena_put(char *buf, uint64_t len)
{
	memset(buf, 0, len);
	ASAN_POISON_MEMORY_REGION(buf, len);
}

/* ---- persistence: checks where the library writes ---- */

struct area {
	uintptr_t base;
	uint64_t lo, hi; /* writes may only go to [lo, hi): the two tables */
	uint64_t seq;    /* and to the change sequence word there (1.2) */
	bool rdonly;
};

static void check_flush(void *ctx, const void *addr, size_t len)
{
	const struct area *a = ctx;
	uintptr_t p = (uintptr_t)addr;

	if (a->rdonly)
		die("flush of %zu bytes during a read-only open", len);
	/* 1.2: the change sequence word too */
	if (a->seq && p - a->base == a->seq && len == 8)
		return;
	if (len == 0 || p < a->base + a->lo || p - a->base >= a->hi ||
	    len > a->hi - (p - a->base))
		die("flush [%#jx, +%zu) outside the tables [%#jx, %#jx)",
		    (uintmax_t)(p - a->base), len, (uintmax_t)a->lo,
		    (uintmax_t)a->hi);
}

static void check_drain(void *ctx)
{
	const struct area *a = ctx;

	if (a->rdonly)
		die("drain during a read-only open");
}

static void on_report(void *arg, const char *msg)
{
	size_t n = strlen(msg); /* ASan: the message is terminated */

	trace("report: %s\n", msg);
	if (n == 0 || n >= 256)
		die("report of %zu bytes", n);
	++*(uint64_t *)arg;
}

/* ---- invariants of a scanned pool ---- */

static void check_counts(const struct pool_core *pc)
{
	const struct pool_sb *sb = &pc->sb;

	if (pc->nfree + pc->nused + pc->nbad + pc->norphan !=
	    sb->nextents - sb->meta_extents)
		die("counts %ju+%ju+%ju+%ju do not add up to %ju data extents",
		    (uintmax_t)pc->nfree, (uintmax_t)pc->nused,
		    (uintmax_t)pc->nbad, (uintmax_t)pc->norphan,
		    (uintmax_t)(sb->nextents - sb->meta_extents));
	if (pc->problems)
		return;
	/* clean: every live region's extents are data extents it owns (those
	 * being released, [keep, n), may be cleared already) */
	for (uint64_t s = 0; s < sb->region_slots; s++) {
		const struct region_view *v = &pc->views[s];

		if (v->state != RS_LIVE)
			continue;
		for (uint64_t i = 0; i < v->keep; i++)
			if (v->ext[i] < sb->meta_extents || v->ext[i] >= sb->nextents ||
			    pc->kind[v->ext[i]] != EK_USED)
				die("slot %ju index %ju maps to extent %ju", (uintmax_t)s,
				    (uintmax_t)i, (uintmax_t)v->ext[i]);
	}
}

/* After recovery or a successful operation a pool has nothing pending. */
static void check_clean(const struct pool_core *pc, const char *after)
{
	if (pc->problems || pc->norphan || pc->nzap)
		die("after %s: %ju problem(s), %ju orphan(s), %ju zap", after,
		    (uintmax_t)pc->problems, (uintmax_t)pc->norphan,
		    (uintmax_t)pc->nzap);
}

/* The in-memory view must be what a fresh read-only scan of the media
 * finds: nothing the operations did is only in memory. */
static void check_media(struct pool_core *pc, const struct pool_sb *sb,
			struct area *a)
{
	struct persist_ops ops = { check_flush, check_drain, a, 0, 0 };
	struct pool_core q;
	uint64_t nrep = 0;
	bool was = a->rdonly;

	a->rdonly = true;
	if (pool_core_open(&q, pc->base, sb, true, &ops, on_report, &nrep))
		die("reopen failed: %s", daxmap_errormsg());
	a->rdonly = was;
	{
		char why[256];

		if (core_view_diff(pc, &q, why, sizeof(why)))
			die("a fresh scan disagrees with the view: %s", why);
	}
	pool_core_close(&q);
}

/* ---- region operations ---- */

static const char *pick_name(const struct pool_core *pc, uint8_t sel, char *buf,
			     size_t len)
{
	uint64_t nlive = 0, k;

	if (sel & FZ_NAME_SYN) {
		switch (sel & 0x7f) {
		case 0x7f: return "";
		case 0x7e: return "has space";
		case 0x7d: return "a/b";
		case 0x7c: /* one byte too long */
			memset(buf, 'x', NAME_MAX_LEN + 1);
			buf[NAME_MAX_LEN + 1] = '\0';
			return buf;
		case 0x7b: /* the longest valid name */
			memset(buf, 'y', NAME_MAX_LEN);
			buf[NAME_MAX_LEN] = '\0';
			return buf;
		default:
			snprintf(buf, len, "r%u", sel & 0x7f);
			return buf;
		}
	}
	/* an existing region's name, so resize/remove hit something */
	for (uint64_t s = 0; s < pc->sb.region_slots; s++)
		nlive += pc->views[s].state == RS_LIVE;
	if (!nlive) {
		snprintf(buf, len, "r0");
		return buf;
	}
	k = sel % nlive;
	for (uint64_t s = 0; s < pc->sb.region_slots; s++)
		if (pc->views[s].state == RS_LIVE && k-- == 0) {
			snprintf(buf, len, "%s", pc->views[s].name);
			break;
		}
	return buf;
}

static uint64_t live_n(const struct pool_core *pc, const char *name)
{
	long s = core_find(pc, name);

	return s < 0 ? 0 : pc->views[s].n;
}

/* Run one operation and check what it did. */
static void run_op(struct pool_core *pc, struct persist_ops *ops,
		   const struct pool_sb *sb, bool rdonly, const uint8_t *o)
{
	const uint64_t es = pc->sb.extent_size;
	uint64_t v = le(o + 4, 4), sz, want, actual = 0, nrep = 0;
	uint64_t fl0 = ops->flushes, dr0 = ops->drains, used0 = pc->nused;
	uint64_t problems0 = pc->problems, n0;
	bool exists;
	char buf[80];
	const char *name;
	int rc = 0;

	name = pick_name(pc, o[1], buf, sizeof(buf));
	if (o[2] & 2)
		sz = UINT64_MAX - v;
	else if (o[2] & 1)
		sz = v;
	else
		sz = v % (pc->sb.nextents + 2) * es;
	want = sz / es + (sz % es != 0);
	exists = core_find(pc, name) >= 0;
	n0 = live_n(pc, name);

	switch (o[0] % FZ_OP_COUNT) {
	case FZ_OP_CREATE:
		rc = pool_region_create(pc, name, sz, &actual);
		if (rc)
			break;
		check_clean(pc, "create");
		if (exists || live_n(pc, name) != want || actual != want * es ||
		    pc->nused != used0 + want || ops->drains - dr0 != 2)
			die("create '%s' of %ju extents: got %ju, %ju drains", name,
			    (uintmax_t)want, (uintmax_t)live_n(pc, name),
			    (uintmax_t)(ops->drains - dr0));
		break;
	case FZ_OP_RESIZE:
		rc = core_resize(pc, name, sz, &actual);
		if (rc)
			break;
		check_clean(pc, "resize");
		if (!exists || live_n(pc, name) != want || actual != want * es ||
		    pc->nused != used0 - n0 + want ||
		    ops->drains - dr0 != (want != n0 ? 2u : 0u))
			die("resize '%s' %ju -> %ju extents: got %ju, %ju drains", name,
			    (uintmax_t)n0, (uintmax_t)want,
			    (uintmax_t)live_n(pc, name),
			    (uintmax_t)(ops->drains - dr0));
		break;
	case FZ_OP_REMOVE:
		rc = core_remove(pc, name);
		if (rc)
			break;
		check_clean(pc, "remove");
		if (!exists || core_find(pc, name) >= 0 ||
		    pc->nused != used0 - n0 || ops->drains - dr0 != 2)
			die("remove '%s' of %ju extents: %ju drains", name,
			    (uintmax_t)n0, (uintmax_t)(ops->drains - dr0));
		break;
	case FZ_OP_SCAN: {
		/* a rescan of unchanged media finds the same */
		uint64_t f = pc->nfree, o2 = pc->norphan;

		if (pool_scan(pc, on_report, &nrep))
			die("rescan failed: %s", daxmap_errormsg());
		if (pc->problems != problems0 || nrep != problems0 ||
		    pc->nused != used0 || pc->nfree != f || pc->norphan != o2)
			die("a rescan changed the counts");
		return;
	}
	case FZ_OP_REOPEN: {
		char *base = pc->base;

		pool_core_close(pc);
		if (pool_core_open(pc, base, sb, rdonly, ops, on_report, &nrep))
			die("reopen failed: %s", daxmap_errormsg());
		check_counts(pc);
		/* nothing is pending, so recovery has nothing to change */
		if (pc->problems != problems0 || pc->nused != used0 ||
		    ops->drains != dr0)
			die("a reopen changed the pool");
		return;
	}
	}
	trace("op %u '%s' size %ju: %d %s\n", o[0] % FZ_OP_COUNT, name,
	      (uintmax_t)sz, rc, rc ? daxmap_errormsg() : "");
	if (rc) {
		if (ops->flushes != fl0 || ops->drains != dr0)
			die("a failed operation (%d) wrote", rc);
		if (!*daxmap_errormsg())
			die("a failed operation (%d) left no message", rc);
		return;
	}
	check_counts(pc);
}

/* ---- the entry point ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t hdr[FZ_HDR], op[8];
	struct image im;
	struct pool_sb sb;
	struct pool_core pc, other;
	struct area a = { 0 };
	struct persist_ops ops = { check_flush, check_drain, &a, 0, 0 };
	uint64_t n, dev_size, k, len, probe_len, nrep = 0, h, tables;
	char *buf, sbp[256], sbb[256];
	bool from_backup, rdonly, two;
	unsigned flags;
	int rc;

	take(hdr, sizeof(hdr), data, size, 0);
	n = FZ_NMIN + le(hdr, 2) % FZ_NSPAN;
	flags = hdr[2];
	dev_size = n * FZ_ALIGN + hdr[3] * 8ULL;
	k = le(hdr + 4, 2) % (REGION_SLOTS + 1);

	take(&im.p, sizeof(im.p), data, size, FZ_SB_OFF);
	take(&im.b, sizeof(im.b), data, size, FZ_BSB_OFF);
	if (flags & FZ_F_LAYOUT) {
		/* keep the input's uuid and time: only the geometry is fixed */
		struct pool_sb raw = im.p;

		if (pool_layout(&im.p, n * FZ_ALIGN, FZ_ALIGN, FZ_ALIGN))
			die("pool_layout refused %ju extents: %s", (uintmax_t)n,
			    daxmap_errormsg());
		if (flags & FZ_F_LEGACY) {
			/* as libdaxmap 1.1 formatted it */
			im.p.minor = 1;
			im.p.region_off = layout_region_off(1);
			im.p.extent_off = layout_extent_off(1);
			im.p.meta_extents = (im.p.extent_off + n * 8 + FZ_ALIGN - 1) / FZ_ALIGN;
		}
		memcpy(im.p.uuid, raw.uuid, sizeof(raw.uuid));
		im.p.format_time = raw.format_time;
		pool_sb_seal(&im.p);
	}
	if (flags & FZ_F_B_IS_P)
		im.b = im.p;
	if (flags & FZ_F_SEAL_P)
		pool_sb_seal(&im.p);
	if (flags & FZ_F_SEAL_B)
		pool_sb_seal(&im.b);
	im.seal_names = flags & FZ_F_SEAL_N;
	im.minor = (flags & FZ_F_LEGACY) ? 1 : POOL_MINOR;
	im.recs = im.ents = data;
	im.recs_len = im.ents_len = 0;
	if (size > FZ_RECS_OFF) {
		im.recs = data + FZ_RECS_OFF;
		im.recs_len = size - FZ_RECS_OFF;
		if (im.recs_len > k * REGION_REC_SIZE)
			im.recs_len = k * REGION_REC_SIZE;
		im.ents = im.recs + im.recs_len;
		im.ents_len = size - FZ_RECS_OFF - im.recs_len;
	}

	/* 1. the superblock, from the probe-sized mapping */
	probe_len = pool_probe_len(dev_size, FZ_ALIGN);
	buf = arena_get(probe_len);
	place(&im, buf, probe_len);
	rc = pool_sb_read(buf, probe_len, dev_size, FZ_ALIGN, &sb, &from_backup);
	arena_put(buf, probe_len);
	trace("%ju extents, flags %#x, %ju records, %zu table bytes: sb %d%s %s\n",
	      (uintmax_t)n, flags, (uintmax_t)k, im.ents_len, rc,
	      rc ? "" : from_backup ? " (backup)" : " (primary)",
	      rc ? daxmap_errormsg() : "");
	if (rc)
		return 0;
	if (pool_sb_check(&sb, dev_size, FZ_ALIGN))
		die("pool_sb_read returned a superblock pool_sb_check refuses");
	len = sb.meta_extents * sb.extent_size;
	if (len > dev_size || len < sb.extent_off + sb.nextents * 8)
		die("accepted a metadata area of %ju bytes on a %ju-byte device",
		    (uintmax_t)len, (uintmax_t)dev_size);

	/* 2. the metadata area, exactly as long as the superblock says */
	buf = arena_get(len);
	place(&im, buf, len);
	a.base = (uintptr_t)buf;
	a.lo = sb.region_off;
	a.hi = sb.extent_off + sb.nextents * 8;
	a.seq = sb.minor >= 2 ? CHANGE_SEQ_OFF : 0;

	/* 3. open: read-only must write nothing, read-write recovers */
	rdonly = flags & FZ_F_RDONLY;
	a.rdonly = rdonly;
	if (rdonly)
		h = XXH64(buf, len, 0);
	memcpy(sbp, buf + SB_PRIMARY_OFF, sizeof(sbp));
	memcpy(sbb, buf + layout_backup_off(sb.minor), sizeof(sbb));
	if (pool_core_open(&pc, buf, &sb, rdonly, &ops, on_report, &nrep))
		die("open failed: %s", daxmap_errormsg());
	check_counts(&pc);
	if (nrep != pc.problems)
		die("%ju problem(s) but %ju report(s)", (uintmax_t)pc.problems,
		    (uintmax_t)nrep);
	trace("open%s: %ju problem(s), used %ju free %ju bad %ju orphan %ju zap %ju, %ju flushes\n",
	      rdonly ? " read-only" : "", (uintmax_t)pc.problems,
	      (uintmax_t)pc.nused, (uintmax_t)pc.nfree, (uintmax_t)pc.nbad,
	      (uintmax_t)pc.norphan, (uintmax_t)pc.nzap, (uintmax_t)ops.flushes);
	/* recovery runs only on a pool whose scan found no problem, and must
	 * leave it clean; a pool with problems is left alone */
	if (pc.problems && ops.flushes)
		die("recovery ran and left %ju problem(s)", (uintmax_t)pc.problems);
	if (!rdonly && !pc.problems) {
		/* recovery clears orphans; releases (ZAP) are the ref layer's
		 * to finish once idle: finish them here as its reclaim would,
		 * one drain each */
		for (uint64_t sl = 0; sl < sb.region_slots; sl++) {
			uint64_t d = ops.drains;

			if (pc.views[sl].state != RS_ZAP && pc.views[sl].keep == pc.views[sl].n)
				continue;
			if (pool_region_finish(&pc, sl, pc.views[sl].gen))
				die("finishing the release of slot %ju failed: %s", (uintmax_t)sl,
				    daxmap_errormsg());
			if (ops.drains - d != 1)
				die("finishing a release took %ju drains", (uintmax_t)(ops.drains - d));
		}
		check_clean(&pc, "recovery and finishing releases");
	}

	/* 4. the operations (read-only: all refused). Bit 0 of an op's pad
	 * byte runs it through a second core on the same media, as another
	 * process: each core refreshes first as a pool handle does, must see
	 * every change the other made, and equals a fresh scan after it acts */
	tables = sb.region_slots * REGION_REC_SIZE + sb.nextents * 8;
	two = !rdonly && !pc.problems;
	if (two && pool_core_open(&other, buf, &sb, false, &ops, NULL, NULL))
		die("a second open failed: %s", daxmap_errormsg());
	for (int i = 0; i < FZ_NOPS; i++) {
		struct pool_core *who, *peer;
		uint64_t before;

		take(op, sizeof(op), data, size, FZ_OPS_OFF + 8 * (size_t)i);
		if (op[0] % FZ_OP_COUNT == FZ_OP_END)
			break;
		who = two && (op[3] & 1) ? &other : &pc;
		peer = who == &pc ? &other : &pc;
		if (two && pool_refresh(who))
			die("refresh failed: %s", daxmap_errormsg());
		before = XXH64(buf + sb.region_off, tables, 0);
		run_op(who, &ops, &sb, rdonly, op);
		if (rdonly)
			continue;
		check_media(who, &sb, &a);
		if (two && XXH64(buf + sb.region_off, tables, 0) != before &&
		    pool_view_current(peer))
			die("another core's change went unseen");
	}
	if (two)
		pool_core_close(&other);
	pool_core_close(&pc);
	if (memcmp(sbp, buf + SB_PRIMARY_OFF, sizeof(sbp)) ||
	    memcmp(sbb, buf + layout_backup_off(sb.minor), sizeof(sbb)))
		die("a superblock changed");
	if (rdonly && XXH64(buf, len, 0) != h)
		die("a read-only open changed the metadata");
	arena_put(buf, len);
	return 0;
}
