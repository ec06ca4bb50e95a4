/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * make-corpus.c -- writes the seed corpus of fuzz_pool (fuzz_input.h).
 *
 * Each seed is a real pool made with the library's own pool_format_mem and
 * region operations, then damaged by hand the way a crash or bad media
 * would, so the fuzzer starts past the checksums and the geometry checks.
 * Times and uuids are fixed: the output is the same on every run.
 *
 *   make-corpus DIR
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "daxmap.h"
#include "pool_core.h"
#include "../core_ops.h"

#include "fuzz_input.h"

#define TIME0 1700000000ULL

static const char *outdir;
static int nseeds;
static uint8_t tail; /* device bytes past the last extent, / 8 */

#define fail(...)                                        \
	do {                                             \
		fprintf(stderr, "make-corpus: " __VA_ARGS__); \
		fputc('\n', stderr);                     \
		exit(1);                                 \
	} while (0)

static void nop_flush(void *ctx, const void *addr, size_t len)
{
	(void)ctx;
	(void)addr;
	(void)len;
}

static void nop_drain(void *ctx)
{
	(void)ctx;
}

static struct persist_ops ops = { nop_flush, nop_drain, NULL, 0, 0 };

struct img {
	uint64_t n;    /* device extents of 4 KiB */
	char *buf;     /* the metadata area */
	size_t len;
	struct pool_sb sb;
	struct pool_core pc;
	bool open;
};

static struct pool_sb *sbp(struct img *im)
{
	return (struct pool_sb *)(im->buf + SB_PRIMARY_OFF);
}

static struct pool_sb *sbb(struct img *im)
{
	return (struct pool_sb *)(im->buf + SB_BACKUP_OFF);
}

static struct region_rec *rec(struct img *im, uint64_t s)
{
	return (struct region_rec *)(im->buf + REGION_TABLE_OFF) + s;
}

static uint64_t *ent(struct img *im)
{
	return (uint64_t *)(im->buf + REGION_TABLE_OFF + REGION_SLOTS * REGION_REC_SIZE);
}

/* A formatted, empty pool of n extents of es bytes on a 4 KiB device. */
static void format(struct img *im, uint64_t n, uint64_t es, const uint64_t *bad,
		   size_t nbad)
{
	memset(im, 0, sizeof(*im));
	im->n = n;
	if (pool_layout(&im->sb, n * FZ_ALIGN, FZ_ALIGN, es))
		fail("layout of %ju extents: %s", (uintmax_t)n, daxmap_errormsg());
	for (int i = 0; i < 16; i++)
		im->sb.uuid[i] = (uint8_t)(0xa0 + i);
	im->sb.format_time = TIME0;
	pool_sb_seal(&im->sb);
	im->len = im->sb.meta_extents * im->sb.extent_size;
	im->buf = calloc(1, im->len);
	if (!im->buf)
		fail("out of memory");
	if (pool_format_mem(im->buf, &im->sb, bad, nbad, &ops))
		fail("format: %s", daxmap_errormsg());
	if (pool_core_open(&im->pc, im->buf, &im->sb, false, &ops, NULL, NULL))
		fail("open: %s", daxmap_errormsg());
	im->open = true;
}

static void done(struct img *im)
{
	if (im->open)
		pool_core_close(&im->pc);
	free(im->buf);
}

/* Region operations through the library; ctime fixed for stable output. */
static void mk(struct img *im, const char *name, uint64_t extents)
{
	long s;

	if (pool_region_create(&im->pc, name, extents * im->sb.extent_size, NULL))
		fail("create %s: %s", name, daxmap_errormsg());
	s = core_find(&im->pc, name);
	rec(im, (uint64_t)s)->ctime = TIME0 + (uint64_t)s;
}

static void rs(struct img *im, const char *name, uint64_t extents)
{
	if (core_resize(&im->pc, name, extents * im->sb.extent_size, NULL))
		fail("resize %s: %s", name, daxmap_errormsg());
}

static void rm(struct img *im, const char *name)
{
	if (core_remove(&im->pc, name))
		fail("remove %s: %s", name, daxmap_errormsg());
}

/* The first step of a release only (keep 0: remove), as a process that
 * waits for references leaves it. */
static void zap(struct img *im, const char *name, uint64_t keep)
{
	uint64_t slot, gen;

	if (pool_region_zap(&im->pc, name, keep, &slot, &gen))
		fail("zap %s: %s", name, daxmap_errormsg());
}

/* Write a record by hand, with a valid name sum (or not). */
static void put_rec(struct img *im, uint64_t s, unsigned state, uint64_t gen,
		    uint64_t n, const char *name, size_t name_len, bool good_sum)
{
	struct region_rec *r = rec(im, s);

	memset(r, 0, sizeof(*r));
	memcpy(r->name, name, name_len);
	r->name_sum = XXH64(r->name, sizeof(r->name), gen) ^ (good_sum ? 0 : 1);
	r->ctime = TIME0;
	r->word = rw_make(state, gen, n);
}

/* First free data extent at or after x. */
static uint64_t free_ext(struct img *im, uint64_t x)
{
	if (x < im->sb.meta_extents)
		x = im->sb.meta_extents;
	while (x < im->sb.nextents && ent(im)[x] != EXT_FREE)
		x++;
	if (x == im->sb.nextents)
		fail("no free extent");
	return x;
}

/* ---- output ---- */

struct op {
	uint8_t kind, name, mode; /* mode | OTHER: run by the second core */
	uint32_t size;
};

#define OTHER 0x80 /* the op runs through the second core (another process) */

#define OPS(...) (const struct op[]){ __VA_ARGS__, { 0, 0, 0, 0 } }
#define NOOPS OPS({ 0, 0, 0, 0 })
/* name selectors */
#define LIVE(i) (i)
#define SYN(i) (FZ_NAME_SYN | (i))

static void emit(const char *file, struct img *im, uint64_t dev_n, unsigned flags,
		 const struct op *op)
{
	uint8_t hdr[FZ_RECS_OFF];
	uint64_t k = 0, elen = im->sb.nextents * 8;
	const uint8_t *ents = (const uint8_t *)ent(im);
	char path[4096];
	FILE *f;
	int i;

	/* only the slots in use and the extent table up to its last entry */
	for (uint64_t s = 0; s < REGION_SLOTS; s++) {
		const uint8_t *r = (const uint8_t *)rec(im, s);

		for (size_t b = 0; b < REGION_REC_SIZE; b++)
			if (r[b]) {
				k = s + 1;
				break;
			}
	}
	while (elen && !ents[elen - 1])
		elen--;
	if (dev_n < FZ_NMIN || dev_n >= FZ_NMIN + FZ_NSPAN)
		fail("%s: %ju extents out of range", file, (uintmax_t)dev_n);

	memset(hdr, 0, sizeof(hdr));
	hdr[0] = (uint8_t)(dev_n - FZ_NMIN);
	hdr[1] = (uint8_t)((dev_n - FZ_NMIN) >> 8);
	hdr[2] = (uint8_t)flags;
	hdr[3] = tail;
	hdr[4] = (uint8_t)k;
	hdr[5] = (uint8_t)(k >> 8);
	for (i = 0; op[i].kind; i++) {
		uint8_t *o = hdr + FZ_OPS_OFF + 8 * i;

		if (i == FZ_NOPS)
			fail("%s: too many ops", file);
		o[0] = op[i].kind;
		o[1] = op[i].name;
		o[2] = op[i].mode & (uint8_t)~OTHER;
		o[3] = (op[i].mode & OTHER) != 0;
		for (int b = 0; b < 4; b++)
			o[4 + b] = (uint8_t)(op[i].size >> (8 * b));
	}
	memcpy(hdr + FZ_SB_OFF, sbp(im), 256);
	memcpy(hdr + FZ_BSB_OFF, sbb(im), 256);

	snprintf(path, sizeof(path), "%s/%s", outdir, file);
	f = fopen(path, "wb");
	if (!f)
		fail("%s: %s", path, strerror(errno));
	if (fwrite(hdr, sizeof(hdr), 1, f) != 1 ||
	    (k && fwrite(rec(im, 0), REGION_REC_SIZE, k, f) != k) ||
	    (elen && fwrite(ents, elen, 1, f) != 1) || fclose(f))
		fail("%s: write error", path);
	nseeds++;
}

/* A pool with a few regions, some resized, one removed (holes). */
static void some_regions(struct img *im, uint64_t n)
{
	char longname[NAME_MAX_LEN + 1];

	memset(longname, 'L', NAME_MAX_LEN);
	longname[NAME_MAX_LEN] = '\0';
	format(im, n, FZ_ALIGN, NULL, 0);
	mk(im, "a", 1);
	mk(im, "db-wal", 7);
	mk(im, "db-data", 16);
	mk(im, "tmp", 3);
	mk(im, longname, 2);
	mk(im, "x.y_z-0", 5);
	rs(im, "a", 4);      /* grows into the gap after tmp's removal */
	rm(im, "tmp");
	rs(im, "db-wal", 9); /* fragmented: extents not contiguous */
	rs(im, "db-data", 12);
}

enum { C = FZ_OP_CREATE, R = FZ_OP_RESIZE, D = FZ_OP_REMOVE, S = FZ_OP_SCAN,
       O = FZ_OP_REOPEN };

int main(int argc, char **argv)
{
	struct img im;
	uint64_t bad[] = { 70, 71, 90, 127, 5 /* metadata: ignored */ };

	if (argc != 2) {
		fprintf(stderr, "usage: make-corpus DIR\n");
		return 2;
	}
	outdir = argv[1];

	/* empty pools */
	format(&im, FZ_NMIN + 128, FZ_ALIGN, NULL, 0);
	emit("empty", &im, FZ_NMIN + 128, 0,
	     OPS({ C, SYN(1), 0, 3 }, { C, SYN(2), 0, 1 }, { R, LIVE(0), 0, 5 },
		 { D, LIVE(1), 0, 0 }, { S, 0, 0, 0 }, { O, 0, 0, 0 }));
	/* two processes taking turns: each must see the other's changes */
	emit("two-cores", &im, FZ_NMIN + 128, 0,
	     OPS({ C, SYN(1), OTHER, 3 }, { C, SYN(2), 0, 1 }, { R, LIVE(0), OTHER, 5 },
		 { D, LIVE(1), 0, 0 }, { R, LIVE(0), OTHER, 2 }, { C, SYN(3), 0, 4 },
		 { D, LIVE(0), OTHER, 0 }, { R, LIVE(0), 0, 1 }));
	emit("empty-rdonly", &im, FZ_NMIN + 128, FZ_F_RDONLY,
	     OPS({ C, SYN(1), 0, 1 }, { S, 0, 0, 0 }, { O, 0, 0, 0 }));
	emit("empty-bytes", &im, FZ_NMIN + 128, 0,
	     OPS({ C, SYN(1), 1, 4097 }, { C, SYN(2), 1, 0 }, { C, SYN(3), 2, 0 },
		 { R, LIVE(0), 1, 1 }, { C, SYN(0x7b), 0, 1 }, { C, SYN(0x7c), 0, 1 },
		 { C, SYN(0x7e), 0, 1 }, { C, SYN(0x7f), 0, 1 }));
	done(&im);
	format(&im, FZ_NMIN, FZ_ALIGN, NULL, 0);
	emit("empty-min", &im, FZ_NMIN, 0,
	     OPS({ C, SYN(1), 0, 1 }, { C, SYN(2), 0, 1 }, { R, LIVE(0), 0, 2 },
		 { D, LIVE(0), 0, 0 }, { C, SYN(2), 0, 1 }));
	done(&im);
	format(&im, FZ_NMIN + FZ_NSPAN - 1, FZ_ALIGN, NULL, 0);
	mk(&im, "big", 1000);
	emit("big-device", &im, FZ_NMIN + FZ_NSPAN - 1, 0,
	     OPS({ R, LIVE(0), 0, 1900 }, { C, SYN(5), 0, 100 }, { R, LIVE(0), 0, 2 }));
	done(&im);

	/* pools in use */
	some_regions(&im, FZ_NMIN + 256);
	emit("regions", &im, FZ_NMIN + 256, 0,
	     OPS({ C, SYN(9), 0, 20 }, { R, LIVE(1), 0, 30 }, { R, LIVE(2), 0, 1 },
		 { D, LIVE(0), 0, 0 }, { C, LIVE(3), 0, 1 }, { O, 0, 0, 0 },
		 { R, LIVE(1), 0, 10 }, { D, LIVE(2), 0, 0 }));
	emit("regions-rdonly", &im, FZ_NMIN + 256, FZ_F_RDONLY,
	     OPS({ R, LIVE(1), 0, 30 }, { D, LIVE(2), 0, 0 }, { O, 0, 0, 0 }));
	emit("regions-two-cores", &im, FZ_NMIN + 256, 0,
	     OPS({ C, SYN(9), OTHER, 20 }, { R, LIVE(1), 0, 30 }, { R, LIVE(2), OTHER, 1 },
		 { D, LIVE(0), 0, 0 }, { C, LIVE(3), OTHER, 1 }, { O, 0, 0, 0 },
		 { R, LIVE(1), OTHER, 10 }, { D, LIVE(2), 0, 0 }));
	emit("regions-bigdev", &im, FZ_NMIN + 300, 0, OPS({ C, SYN(9), 0, 40 }));
	/* releases waiting for references: a shrink (zap word) and a remove */
	done(&im);
	some_regions(&im, FZ_NMIN + 256);
	zap(&im, "db-wal", 3);
	zap(&im, "x.y_z-0", 0);
	emit("releases-pending", &im, FZ_NMIN + 256, 0,
	     OPS({ R, LIVE(0), 0, 30 }, { C, SYN(9), 0, 2 }, { O, 0, 0, 0 }, { D, LIVE(1), 0, 0 }));
	emit("releases-pending-rdonly", &im, FZ_NMIN + 256, FZ_F_RDONLY, OPS({ S, 0, 0, 0 }));
	done(&im);
	some_regions(&im, FZ_NMIN + 256);
	/* 5: damaged primary superblock, the backup is good */
	sbp(&im)->minor ^= 1;
	emit("sb-primary-corrupt", &im, FZ_NMIN + 256, 0, OPS({ C, SYN(9), 0, 2 }));
	/* the same bytes, re-sealed by the harness */
	emit("sb-primary-resealed", &im, FZ_NMIN + 256, FZ_F_SEAL_P, OPS({ C, SYN(9), 0, 2 }));
	sbb(&im)->dev_size ^= 1ULL << 20;
	emit("sb-both-corrupt", &im, FZ_NMIN + 256, 0, NOOPS);
	emit("sb-both-resealed", &im, FZ_NMIN + 256, FZ_F_SEAL_P | FZ_F_SEAL_B, NOOPS);
	memset(sbp(&im), 0, 256);
	emit("sb-primary-zero-backup-corrupt", &im, FZ_NMIN + 256, 0, NOOPS);
	*sbb(&im) = im.sb;
	emit("sb-primary-zero", &im, FZ_NMIN + 256, 0, NOOPS);
	done(&im);

	/* superblock states */
	format(&im, FZ_NMIN + 128, FZ_ALIGN, NULL, 0);
	mk(&im, "r", 2);
	memcpy(sbp(&im)->magic, "DAXMAPFX", 8);
	emit("format-done-but-primary", &im, FZ_NMIN + 128, 0, NOOPS); /* backup valid */
	memset(sbb(&im), 0, 256);
	memset(sbp(&im), 0, 256);
	memcpy(sbp(&im)->magic, "DAXMAPFX", 8);
	emit("format-in-progress", &im, FZ_NMIN + 128, 0, NOOPS);
	memset(sbp(&im), 0, 256);
	emit("not-a-pool", &im, FZ_NMIN + 128, 0, NOOPS);
	*sbp(&im) = im.sb;
	sbp(&im)->major = 2;
	pool_sb_seal(sbp(&im));
	*sbb(&im) = *sbp(&im);
	emit("newer-major", &im, FZ_NMIN + 128, 0, NOOPS);
	sbp(&im)->checksum ^= 1;
	emit("newer-major-backup", &im, FZ_NMIN + 128, 0, NOOPS);
	*sbp(&im) = im.sb;
	sbp(&im)->major = 0;
	emit("major-zero", &im, FZ_NMIN + 128, FZ_F_SEAL_P | FZ_F_SEAL_B | FZ_F_B_IS_P, NOOPS);
	*sbp(&im) = im.sb;
	*sbb(&im) = im.sb;
	emit("truncated", &im, FZ_NMIN + 100, 0, NOOPS); /* formatted for 128 more */
	tail = 255;
	emit("dev-tail", &im, FZ_NMIN + 128, 0, NOOPS);
	tail = 0;
	/* geometry: the region's extents become metadata, then inconsistent */
	sbp(&im)->meta_extents = 100;
	*sbb(&im) = *sbp(&im);
	emit("geom-meta-over-data", &im, FZ_NMIN + 128, FZ_F_SEAL_P | FZ_F_SEAL_B, NOOPS);
	*sbp(&im) = im.sb;
	sbp(&im)->meta_extents = 64; /* one short of the extent table */
	emit("geom-meta-small", &im, FZ_NMIN + 128, FZ_F_SEAL_P | FZ_F_SEAL_B | FZ_F_B_IS_P, NOOPS);
	*sbp(&im) = im.sb;
	sbp(&im)->extent_size = 8192;
	emit("geom-extent-size", &im, FZ_NMIN + 128, FZ_F_SEAL_P | FZ_F_SEAL_B | FZ_F_B_IS_P, NOOPS);
	*sbp(&im) = im.sb;
	sbp(&im)->region_slots = REGION_SLOTS + 1;
	emit("geom-slots", &im, FZ_NMIN + 128, FZ_F_SEAL_P | FZ_F_SEAL_B | FZ_F_B_IS_P, NOOPS);
	*sbp(&im) = im.sb;
	sbp(&im)->nextents = UINT64_MAX / 4;
	emit("geom-nextents", &im, FZ_NMIN + 128, FZ_F_SEAL_P | FZ_F_SEAL_B | FZ_F_B_IS_P, NOOPS);
	done(&im);

	/* a valid, larger metadata area than pool_layout makes */
	format(&im, FZ_NMIN + 128, FZ_ALIGN, NULL, 0);
	sbp(&im)->meta_extents = 100;
	*sbb(&im) = *sbp(&im);
	emit("geom-meta-large", &im, FZ_NMIN + 128, FZ_F_SEAL_P | FZ_F_SEAL_B,
	     OPS({ C, SYN(3), 0, 10 }, { C, SYN(4), 0, 100 }, { C, SYN(5), 0, 18 }));
	done(&im);

	/* geometry from the harness: only the tables come from the input */
	format(&im, FZ_NMIN + 96, FZ_ALIGN, NULL, 0);
	memset(sbp(&im), 0, 256);
	memset(sbb(&im), 0, 256);
	emit("layout-flag", &im, FZ_NMIN + 96, FZ_F_LAYOUT | FZ_F_B_IS_P,
	     OPS({ C, SYN(1), 0, 3 }, { C, SYN(2), 0, 3 }, { D, LIVE(0), 0, 0 },
		 { R, LIVE(0), 0, 20 }, { O, 0, 0, 0 }));
	done(&im);

	/* a pool as libdaxmap 1.1 laid it out: tables at 128 KiB */
	format(&im, FZ_NMIN + 96, FZ_ALIGN, NULL, 0);
	memset(sbp(&im), 0, 256);
	memset(sbb(&im), 0, 256);
	emit("legacy-layout", &im, FZ_NMIN + 96, FZ_F_LAYOUT | FZ_F_LEGACY | FZ_F_B_IS_P,
	     OPS({ C, SYN(1), 0, 3 }, { C, SYN(2), 0, 3 }, { D, LIVE(0), 0, 0 },
		 { R, LIVE(0), 0, 20 }, { O, 0, 0, 0 }));
	done(&im);

	/* 8 KiB extents on a 4 KiB device */
	format(&im, FZ_NMIN + 160, 2 * FZ_ALIGN, NULL, 0);
	mk(&im, "p", 3);
	mk(&im, "q", 1);
	emit("extent-8k", &im, FZ_NMIN + 160, 0,
	     OPS({ C, SYN(1), 1, 3 * 4096 }, { R, LIVE(0), 1, 5 * 4096 }, { D, LIVE(1), 0, 0 }));
	done(&im);

	/* bad extents are never handed out */
	format(&im, FZ_NMIN + 128, FZ_ALIGN, bad, sizeof(bad) / sizeof(bad[0]));
	mk(&im, "around-bad", 10);
	emit("bad-extents", &im, FZ_NMIN + 128, 0,
	     OPS({ C, SYN(1), 0, 40 }, { R, LIVE(0), 0, 3 }, { O, 0, 0, 0 }));
	done(&im);

	/* removes: free slots keep their generation */
	format(&im, FZ_NMIN + 128, FZ_ALIGN, NULL, 0);
	mk(&im, "r0", 2);
	mk(&im, "r1", 2);
	mk(&im, "r2", 2);
	mk(&im, "r3", 2);
	rm(&im, "r1");
	rm(&im, "r3");
	mk(&im, "again", 1); /* slot 1, gen 2 */
	emit("removed", &im, FZ_NMIN + 128, 0,
	     OPS({ C, SYN(7), 0, 2 }, { D, LIVE(0), 0, 0 }, { C, SYN(8), 0, 4 },
		 { D, SYN(50), 0, 0 }, { R, SYN(50), 0, 3 }));
	/* a free slot at the last generation: the next create wraps to 0 */
	put_rec(&im, 3, RS_FREE, GEN_MASK, 0, "", 0, true);
	emit("gen-wrap", &im, FZ_NMIN + 128, 0, OPS({ C, SYN(1), 0, 1 }, { C, SYN(2), 0, 1 }));
	done(&im);

	/* interrupted remove: ZAP records, entries whole or half cleared */
	format(&im, FZ_NMIN + 128, FZ_ALIGN, NULL, 0);
	mk(&im, "keep", 3);
	mk(&im, "zap-whole", 4);
	mk(&im, "zap-half", 4);
	{
		struct region_view *v = &im.pc.views[core_find(&im.pc, "zap-half")];

		rec(&im, 1)->word = rw_make(RS_ZAP, 1, 4);
		rec(&im, 2)->word = rw_make(RS_ZAP, 1, 4);
		ent(&im)[v->ext[1]] = EXT_FREE;
		ent(&im)[v->ext[3]] = EXT_FREE;
	}
	emit("zap", &im, FZ_NMIN + 128, 0, OPS({ C, SYN(1), 0, 6 }, { C, SYN(2), 0, 1 }, { O, 0, 0, 0 }));
	emit("zap-rdonly", &im, FZ_NMIN + 128, FZ_F_RDONLY, NOOPS);
	rec(&im, 0)->name[0] = 'K'; /* valid only once re-summed */
	emit("zap-seal-names", &im, FZ_NMIN + 128, FZ_F_SEAL_N,
	     OPS({ R, LIVE(0), 0, 1 }, { C, SYN(1), 0, 2 }));
	done(&im);

	/* interrupted create, grow and shrink: orphan entries */
	format(&im, FZ_NMIN + 128, FZ_ALIGN, NULL, 0);
	mk(&im, "grown", 2);
	mk(&im, "shrunk", 5);
	{
		uint64_t x = 0;

		/* create into slot 2 at gen 1: entries, but the word is FREE */
		put_rec(&im, 2, RS_FREE, 0, 0, "newborn", 7, false);
		for (uint64_t i = 0; i < 3; i++) {
			x = free_ext(&im, x);
			ent(&im)[x] = ext_make(2, 1, i);
		}
		/* grow of slot 0 from 2 to 4: the word still says 2 */
		for (uint64_t i = 2; i < 4; i++) {
			x = free_ext(&im, x);
			ent(&im)[x] = ext_make(0, 1, i);
		}
		/* shrink of slot 1 from 5 to 2: the word already says 2 */
		rec(&im, 1)->word = rw_make(RS_LIVE, 1, 2);
		/* a stale entry of an old generation, one of no slot */
		x = free_ext(&im, x);
		ent(&im)[x] = ext_make(0, 0, 0);
		x = free_ext(&im, x);
		ent(&im)[x] = ext_make(4000, 1, 0);
	}
	/* the same tables, with the harness computing name sums: a fuzzer
	 * can then change records freely */
	emit("orphans-seal-names", &im, FZ_NMIN + 128, FZ_F_SEAL_N,
	     OPS({ C, SYN(1), 0, 1 }, { D, LIVE(1), 0, 0 }, { O, 0, 0, 0 }));
	emit("orphans", &im, FZ_NMIN + 128, 0,
	     OPS({ C, SYN(1), 0, 20 }, { R, LIVE(0), 0, 6 }, { R, LIVE(1), 0, 1 }));
	done(&im);

	/* every slot in use */
	format(&im, FZ_NMIN + 1100, FZ_ALIGN, NULL, 0);
	for (int s = 0; s < (int)REGION_SLOTS; s++) {
		char name[16];

		snprintf(name, sizeof(name), "s%d", s);
		mk(&im, name, 1);
	}
	emit("slots-full", &im, FZ_NMIN + 1100, 0,
	     OPS({ C, SYN(1), 0, 1 }, { D, LIVE(100), 0, 0 }, { C, SYN(1), 0, 1 },
		 { R, LIVE(3), 0, 2 }));
	done(&im);

	/* records the library never writes but a reader must survive */
	format(&im, FZ_NMIN + 128, FZ_ALIGN, NULL, 0);
	mk(&im, "base", 2);
	put_rec(&im, 5, RS_LIVE, 3, 0, "empty-live", 10, true);
	emit("live-zero-extents", &im, FZ_NMIN + 128, 0,
	     OPS({ R, LIVE(1), 0, 3 }, { D, LIVE(1), 0, 0 }, { R, LIVE(0), 0, 0 }));
	{
		char name[64];

		memset(name, 'N', sizeof(name)); /* no NUL in 64 bytes */
		put_rec(&im, 6, RS_LIVE, 1, 0, name, sizeof(name), true);
	}
	emit("name-unterminated", &im, FZ_NMIN + 128, 0, OPS({ D, LIVE(1), 0, 0 }));
	done(&im);

	/* inconsistent pools: scans report, nothing is written */
	format(&im, FZ_NMIN + 128, FZ_ALIGN, NULL, 0);
	mk(&im, "one", 2);
	mk(&im, "two", 2);
	{
		uint64_t sum = rec(&im, 1)->name_sum;

		rec(&im, 1)->name_sum ^= 4;
		emit("bad-name-sum", &im, FZ_NMIN + 128, 0, OPS({ C, SYN(1), 0, 1 }, { S, 0, 0, 0 }));
		rec(&im, 1)->name_sum = sum;
		put_rec(&im, 1, RS_LIVE, 1, 2, "bad name", 8, true);
		emit("bad-name-chars", &im, FZ_NMIN + 128, 0, OPS({ S, 0, 0, 0 }));
		put_rec(&im, 1, RS_LIVE, 1, 2, "one", 3, true);
		emit("bad-name-twice", &im, FZ_NMIN + 128, 0, OPS({ D, LIVE(0), 0, 0 }, { O, 0, 0, 0 }));
		put_rec(&im, 1, 7, 1, 2, "two", 3, true);
		emit("bad-state", &im, FZ_NMIN + 128, 0, OPS({ S, 0, 0, 0 }));
		put_rec(&im, 1, RS_LIVE, 1, 3, "two", 3, true);
		emit("bad-missing", &im, FZ_NMIN + 128, 0, OPS({ R, LIVE(1), 0, 1 }));
		put_rec(&im, 1, RS_LIVE, 1, 1ULL << 24, "two", 3, true);
		emit("bad-too-big", &im, FZ_NMIN + 128, 0, NOOPS);
		put_rec(&im, 1, RS_LIVE, 1, 2, "two", 3, true);
	}
	{
		uint64_t x = free_ext(&im, 0);

		ent(&im)[x] = ext_make(0, im.pc.views[0].gen, 1); /* index 1 twice */
		emit("bad-double-claim", &im, FZ_NMIN + 128, 0, OPS({ D, LIVE(0), 0, 0 }));
		ent(&im)[x] = EXT_FREE;
	}
	ent(&im)[3] = ext_make(0, 1, 0); /* a metadata extent with an owner */
	emit("bad-meta-owner", &im, FZ_NMIN + 128, 0, OPS({ C, SYN(3), 0, 1 }));
	done(&im);

	printf("make-corpus: %d seeds in %s\n", nseeds, outdir);
	return 0;
}
