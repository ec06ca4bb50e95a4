/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_crash.c -- the crash simulator: power lost at every drain of every
 * pool operation.
 *
 * The pool core runs on a working copy; flushes move 64-byte lines to a
 * pending set, drains commit them to a media copy. For every drain k of
 * every operation, power is lost just before drain k: each image made of
 * the media copy plus a subset of the pending lines (all subsets when few,
 * seeded random ones otherwise) is opened through the normal open/recovery
 * path, checked, and compared with the state before and after the
 * operation: it must be one of the two, never a mix.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <daxmap.h>

#include <xxhash.h>

#include "core_ops.h"

#define LINE 64
#define ES 4096ULL            /* extent size: an emulated 4 KiB device */
#define DEV_EXTENTS 1024ULL        /* 4 MiB: the 1.2 metadata starts at 2 MiB */

struct sim {
	char *work, *media, *pend; /* pend: line snapshots taken at flush */
	uint8_t *pending;          /* 1 if line i is flushed, not drained */
	size_t len, lines;
	int drains, crash_at;
	/* captured at the crash */
	char *cmedia, *cpend;
	size_t *clines, ncl;
	bool captured;
};

static void sim_flush(void *ctx, const void *addr, size_t len)
{
	struct sim *s = ctx;
	size_t off = (size_t)((const char *)addr - s->work);

	cr_assert_leq(off + len, s->len, "flush outside the metadata area");
	for (size_t l = off / LINE; l <= (off + len - 1) / LINE; l++) {
		memcpy(s->pend + l * LINE, s->work + l * LINE, LINE);
		s->pending[l] = 1;
	}
}

static void sim_drain(void *ctx)
{
	struct sim *s = ctx;

	if (++s->drains == s->crash_at) {
		memcpy(s->cmedia, s->media, s->len);
		memcpy(s->cpend, s->pend, s->len);
		s->ncl = 0;
		for (size_t l = 0; l < s->lines; l++)
			if (s->pending[l])
				s->clines[s->ncl++] = l;
		s->captured = true;
	}
	for (size_t l = 0; l < s->lines; l++)
		if (s->pending[l]) {
			memcpy(s->media + l * LINE, s->pend + l * LINE, LINE);
			s->pending[l] = 0;
		}
}

static void null_flush(void *ctx, const void *a, size_t l)
{
	(void)ctx;
	(void)a;
	(void)l;
}

static void null_drain(void *ctx)
{
	(void)ctx;
}

static struct pool_sb layout(void)
{
	struct pool_sb sb;

	cr_assert_eq(pool_layout(&sb, DEV_EXTENTS * ES, ES, ES), 0);
	pool_sb_seal(&sb);
	return sb;
}

static size_t meta_len(void)
{
	static size_t len;

	if (!len) {
		struct pool_sb sb = layout();

		len = sb.meta_extents * sb.extent_size;
	}
	return len;
}

static void sim_init(struct sim *s)
{
	memset(s, 0, sizeof(*s));
	s->len = meta_len();
	s->lines = s->len / LINE;
	s->work = calloc(1, s->len);
	s->media = calloc(1, s->len);
	s->pend = calloc(1, s->len);
	s->pending = calloc(1, s->lines);
	s->cmedia = calloc(1, s->len);
	s->cpend = calloc(1, s->len);
	s->clines = calloc(s->lines, sizeof(size_t));
	cr_assert(s->work && s->media && s->pend && s->pending && s->cmedia && s->cpend && s->clines);
}

/* Back to the durable image start, to crash at drain k. */
static void sim_rewind(struct sim *s, const char *start, int k)
{
	memcpy(s->work, start, s->len);
	memcpy(s->media, start, s->len);
	memset(s->pending, 0, s->lines);
	s->drains = 0;
	s->crash_at = k;
	s->captured = false;
}

/* The logical state of a pool: every region and its extents, in text. */
static char *state_of(char *base, int *rc_out)
{
	struct persist_ops ops = { null_flush, null_drain, NULL, 0, 0 };
	struct region_desc d;
	struct pool_core pc;
	struct pool_sb sb;
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap);
	bool fb;
	int rc;

	cr_assert_not_null(out);
	rc = pool_sb_read(base, meta_len(), DEV_EXTENTS * ES, ES, &sb, &fb);
	if (rc == 0)
		rc = pool_core_open(&pc, base, &sb, false, &ops, NULL, NULL);
	*rc_out = rc;
	out[0] = '\0';
	if (rc) {
		snprintf(out, cap, "no pool (%d)", rc);
		return out;
	}
	cr_assert_eq(pc.problems, 0, "recovered image has %llu problem(s)",
		     (unsigned long long)pc.problems);
	cr_assert_eq(pc.norphan, 0);
	/* releases left in ZAP are finished by reclaim once idle: after a
	 * crash nothing references them */
	for (long s = -1; (s = pool_region_next(&pc, s, &d)) >= 0;)
		if (region_releasing(&d))
			cr_assert_eq(pool_region_finish(&pc, d.slot, d.gen), 0, "%s",
				     daxmap_errormsg());
	cr_assert_eq(pc.nzap, 0);
	cr_assert_eq(pc.norphan, 0);
	cr_assert_eq(pc.nfree + pc.nused + pc.nbad + pc.sb.meta_extents, pc.sb.nextents,
		     "an extent is leaked");
	for (uint64_t s = 0; s < pc.sb.region_slots; s++) {
		const struct region_view *v = &pc.views[s];

		if (v->state != RS_LIVE)
			continue;
		len += (size_t)snprintf(out + len, cap - len, "%s (written %llu):", v->name,
					(unsigned long long)v->written);
		for (uint64_t i = 0; i < v->n; i++)
			len += (size_t)snprintf(out + len, cap - len, " %llu",
						(unsigned long long)v->ext[i]);
		len += (size_t)snprintf(out + len, cap - len, "\n");
		cr_assert_lt(len, cap - 256);
	}
	pool_core_close(&pc);
	return out;
}


static unsigned long long rec_points, rec_images;

/*
 * Recovery is an operation too: open img with the sim as hardware, crash at
 * each of recovery's drains, and require every image of that crash to open
 * to the same state as a completed recovery (want).
 */
static void crash_recovery(const char *img, size_t len, const char *want)
{
	struct sim r;
	struct pool_sb sb;
	struct pool_core pc;
	bool fb;
	int total, rc;

	sim_init(&r);
	cr_assert_eq(r.len, len);
	memcpy(r.work, img, len);
	memcpy(r.media, img, len);
	r.crash_at = -1;
	{
		struct persist_ops ops = { sim_flush, sim_drain, &r, 0, 0 };

		if (pool_sb_read(r.work, meta_len(), DEV_EXTENTS * ES, ES, &sb, &fb) != 0)
			goto out;
		cr_assert_eq(pool_core_open(&pc, r.work, &sb, false, &ops, NULL, NULL), 0);
		pool_core_close(&pc);
	}
	total = r.drains;
	for (int k = 1; k <= total; k++) {
		struct persist_ops ops = { sim_flush, sim_drain, &r, 0, 0 };
		char *im = malloc(len), *got;

		cr_assert_not_null(im);
		memcpy(r.work, img, len);
		memcpy(r.media, img, len);
		memset(r.pending, 0, r.lines);
		r.drains = 0;
		r.crash_at = k;
		r.captured = false;
		cr_assert_eq(pool_core_open(&pc, r.work, &sb, false, &ops, NULL, NULL), 0);
		pool_core_close(&pc);
		cr_assert(r.captured);
		rec_points++;
		/* nothing pending, everything pending: the two extremes */
		for (int t = 0; t < 2; t++) {
			memcpy(im, r.cmedia, len);
			for (size_t i = 0; t && i < r.ncl; i++)
				memcpy(im + r.clines[i] * LINE, r.cpend + r.clines[i] * LINE, LINE);
			got = state_of(im, &rc);
			rec_images++;
			cr_assert_str_eq(got, want, "crash at recovery drain %d/%d", k, total);
			free(got);
		}
		free(im);
	}
out:
	free(r.work);
	free(r.media);
	free(r.pend);
	free(r.pending);
	free(r.cmedia);
	free(r.cpend);
	free(r.clines);
}

enum op_kind { OP_FORMAT, OP_CREATE, OP_RESIZE, OP_REMOVE, OP_WRITTEN };

struct op {
	enum op_kind kind;
	const char *name;
	uint64_t extents;
};

/* Run op on s->work with the sim as hardware. */
static void run_op(struct sim *s, const struct op *op)
{
	struct persist_ops ops = { sim_flush, sim_drain, s, 0, 0 };
	struct pool_sb sb = layout();
	struct pool_core pc;
	bool fb;
	int rc;

	if (op->kind == OP_FORMAT) {
		uint64_t bad[] = { DEV_EXTENTS - 1 };

		cr_assert_eq(pool_format_mem(s->work, &sb, bad, 1, &ops), 0);
		return;
	}
	cr_assert_eq(pool_sb_read(s->work, meta_len(), DEV_EXTENTS * ES, ES, &sb, &fb), 0);
	cr_assert_eq(pool_core_open(&pc, s->work, &sb, false, &ops, NULL, NULL), 0);
	cr_assert_eq(ops.drains, 0, "opening a clean pool drained");
	switch (op->kind) {
	case OP_CREATE:
		rc = pool_region_create(&pc, op->name, op->extents * ES, NULL);
		break;
	case OP_RESIZE:
		rc = core_resize(&pc, op->name, op->extents * ES, NULL);
		break;
	case OP_WRITTEN: {
		struct region_desc d;

		cr_assert_eq(pool_region_find(&pc, op->name, FIND_LIVE, &d), 0);
		rc = pool_region_written(&pc, d.slot, d.gen, op->extents);
		break;
	}
	default:
		rc = core_remove(&pc, op->name);
		break;
	}
	cr_assert_eq(rc, 0, "%s", daxmap_errormsg());
	/* the fence budget: at most two drains, whatever the extent count */
	cr_assert_leq(ops.drains, 2, "%llu drains", (unsigned long long)ops.drains);
	/* the view the operation kept up to date is what the media says */
	if (s->crash_at < 0) {
		struct persist_ops none = { NULL, NULL, NULL, 0, 0 };
		struct pool_core q;
		char why[256];
		const char *diff;

		cr_assert_eq(pool_core_open(&q, s->work, &sb, true, &none, NULL, NULL), 0);
		diff = core_view_diff(&pc, &q, why, sizeof(why));
		pool_core_close(&q);
		cr_assert_null(diff, "after op %d on '%s': %s", op->kind, op->name, diff);
	}
	pool_core_close(&pc);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned long long points, images;

Test(crash, every_drain_of_every_operation, .timeout = 600)
{
	static const struct op script[] = {
		{ OP_FORMAT, NULL, 0 },
		{ OP_CREATE, "alpha", 3 },
		{ OP_WRITTEN, "alpha", 3 },  /* its first mapping */
		{ OP_CREATE, "beta", 1 },
		{ OP_CREATE, "gamma", 9 },
		{ OP_RESIZE, "alpha", 6 },   /* 3 written, 3 new */
		{ OP_WRITTEN, "alpha", 6 },
		{ OP_REMOVE, "beta", 0 },
		{ OP_RESIZE, "gamma", 2 },
		{ OP_CREATE, "delta", 12 },  /* reuses beta's slot and extents */
		{ OP_REMOVE, "alpha", 0 },
		{ OP_RESIZE, "delta", 40 },
		{ OP_CREATE, "epsilon", 1 },
		{ OP_RESIZE, "epsilon", 1 }, /* no change: no drain */
		{ OP_REMOVE, "gamma", 0 },
	};
	enum { NFIXED = sizeof(script) / sizeof(script[0]), NRANDOM = 60 };
	static const char *const names[] = { "n0", "n1", "n2", "n3", "n4", "n5" };
	struct op all[NFIXED + NRANDOM];
	uint64_t sizes[6] = { 0 }; /* extents of names[i]; 0: absent */
	uint64_t used = 2 + 9 + 40 + 1; /* what the fixed script leaves, roughly */
	uint64_t room = DEV_EXTENTS - layout().meta_extents - 10;
	struct sim s;
	char *start;

	/* the fixed script, then seeded random operations on six names */
	memcpy(all, script, sizeof(script));
	for (size_t i = 0; i < NRANDOM; i++) {
		size_t k = next_rand() % 6;
		uint64_t n = 1 + next_rand() % 8;

		if (!sizes[k] && used + n < room) {
			all[NFIXED + i] = (struct op){ OP_CREATE, names[k], n };
			sizes[k] = n;
			used += n;
		} else if (sizes[k] && (next_rand() & 1) && used + n < room) {
			all[NFIXED + i] = (struct op){ OP_RESIZE, names[k], n };
			used = used - sizes[k] + n;
			sizes[k] = n;
		} else if (sizes[k]) {
			all[NFIXED + i] = (struct op){ OP_REMOVE, names[k], 0 };
			used -= sizes[k];
			sizes[k] = 0;
		} else {
			all[NFIXED + i] = (struct op){ OP_CREATE, names[k], 1 };
			sizes[k] = 1;
			used += 1;
		}
	}
	sim_init(&s);
	start = calloc(1, s.len);
	cr_assert_not_null(start);
	for (size_t o = 0; o < NFIXED + NRANDOM; o++) {
		const struct op *op = &all[o];
		char *before, *after, *final;
		int rcb, rca;
		int total;

		/* the state before: everything durable */
		memcpy(start, s.work, s.len);
		before = state_of(memcpy(s.cmedia, start, s.len), &rcb);
		/* dry run: count the drains, learn the state after */
		memcpy(s.work, start, s.len);
		memcpy(s.media, start, s.len);
		s.drains = 0;
		s.crash_at = -1;
		run_op(&s, op);
		total = s.drains;
		cr_assert_eq(memcmp(s.work, s.media, s.len), 0,
			     "op %zu left metadata written but not persisted", o);
		final = malloc(s.len);
		cr_assert_not_null(final);
		memcpy(final, s.work, s.len);
		after = state_of(memcpy(s.cmedia, final, s.len), &rca);
		cr_assert_eq(rca, 0, "op %zu: the pool does not open after it", o);

		for (int k = 1; k <= total; k++) {
			sim_rewind(&s, start, k);
			run_op(&s, op);
			cr_assert(s.captured);
			points++;

			size_t n = s.ncl, tries = n <= 10 ? (size_t)1 << n : 258;
			char *img = malloc(s.len);

			cr_assert_not_null(img);
			for (size_t t = 0; t < tries; t++) {
				char *got;
				int rc;

				memcpy(img, s.cmedia, s.len);
				for (size_t i = 0; i < n; i++) {
					bool take;

					if (n <= 10)
						take = (t >> i) & 1;
					else
						take = t == 0 ? false : t == 1 ? true : next_rand() & 1;
					if (take)
						memcpy(img + s.clines[i] * LINE,
						       s.cpend + s.clines[i] * LINE, LINE);
				}
				/* some images of each crash point also get a crash
				 * during their own recovery */
				if (t == 0 || t == tries - 1) {
					char *copy = malloc(s.len), *w;
					int rw;

					cr_assert_not_null(copy);
					memcpy(copy, img, s.len);
					w = state_of(copy, &rw);
					if (rw == 0)
						crash_recovery(img, s.len, w);
					free(w);
					free(copy);
				}
				got = state_of(img, &rc);
				images++;
				/* a format may be lost whole: then no pool at all */
				cr_assert(strcmp(got, before) == 0 || strcmp(got, after) == 0 ||
						  (op->kind == OP_FORMAT && rc != 0),
					  "op %zu, crash at drain %d/%d, image %zu: state\n%s\nis neither before\n%s\nnor after\n%s",
					  o, k, total, t, got, before, after);
				free(got);
			}
			free(img);
		}
		memcpy(s.work, final, s.len);
		free(final);
		free(before);
		free(after);
	}
	printf("crash simulator: %llu crash points, %llu images opened; "
	       "recovery crashed at %llu points, %llu images\n", points, images, rec_points, rec_images);
	cr_assert_gt(points, 20);
	cr_assert_gt(rec_points, 10);
}

/* A pool as libdaxmap 1.1 formatted it: backup superblock at 64 KiB,
 * tables at 128 KiB, no written words. */
static struct pool_sb layout_1_1(void)
{
	struct pool_sb sb = layout();

	sb.minor = 1;
	sb.region_off = layout_region_off(1);
	sb.extent_off = layout_extent_off(1);
	sb.meta_extents = (sb.extent_off + sb.nextents * 8 + ES - 1) / ES;
	pool_sb_seal(&sb);
	return sb;
}

/*
 * Moving a 1.1 pool to the 1.2 layout: a crash at any of its drains, with
 * any of the flushed lines lost or kept, opens to the same regions, the
 * same extents, as 1.1 or as 1.2; and the old backup is never read over
 * newer tables.
 */
Test(crash, every_drain_of_a_migration, .timeout = 300)
{
	struct persist_ops ops = { null_flush, null_drain, NULL, 0, 0 };
	struct pool_sb old = layout_1_1(), sb;
	uint64_t big = layout().meta_extents - old.meta_extents;
	struct pool_core pc;
	struct sim s;
	char *want, *img, why[160];
	int rc, total;

	sim_init(&s);
	cr_assert_eq(pool_format_mem(s.work, &old, NULL, 0, &ops), 0);
	cr_assert_eq(pool_core_open(&pc, s.work, &old, false, &ops, NULL, NULL), 0);
	/* the first extents past the 1.1 metadata held data, then were freed:
	 * the move needs them */
	cr_assert_eq(pool_region_create(&pc, "filler", big * ES, NULL), 0, "%s", daxmap_errormsg());
	cr_assert_eq(pool_region_create(&pc, "a", 5 * ES, NULL), 0);
	cr_assert_eq(pool_region_create(&pc, "b", 17 * ES, NULL), 0);
	cr_assert_eq(pool_migration_blocked(&pc, &sb, why, sizeof(why)), 1);
	cr_assert(strstr(why, "must be free"), "%s", why);
	cr_assert_eq(core_remove(&pc, "filler"), 0);
	cr_assert_eq(pool_migration_blocked(&pc, &sb, why, sizeof(why)), 0, "%s", why);
	pool_core_close(&pc);
	memcpy(s.media, s.work, s.len);
	img = malloc(s.len);
	cr_assert_not_null(img);
	want = state_of(memcpy(img, s.work, s.len), &rc);
	cr_assert_eq(rc, 0);
	/* written words are a 1.2 thing: a 1.1 region is all written */
	cr_assert(strstr(want, "a (written 5)") && strstr(want, "b (written 17)"), "%s", want);

	s.crash_at = -1;
	s.drains = 0;
	memcpy(s.cmedia, s.work, s.len); /* the start */
	{
		char *start = malloc(s.len);

		cr_assert_not_null(start);
		memcpy(start, s.work, s.len);
		pool_migrate_mem(s.work, &old, &sb, &(struct persist_ops){ sim_flush, sim_drain, &s, 0, 0 });
		total = s.drains;
		cr_assert_eq(total, 4);
		cr_assert_eq(memcmp(s.work, s.media, s.len), 0, "the move left lines unpersisted");
		{
			struct pool_sb got;
			bool fb;

			cr_assert_eq(pool_sb_read(s.work, s.len, DEV_EXTENTS * ES, ES, &got, &fb), 0);
			cr_assert_eq(got.minor, 2);
			cr_assert(!fb);
		}
		for (int k = 1; k <= total; k++) {
			sim_rewind(&s, start, k);
			pool_migrate_mem(s.work, &old, &sb,
					 &(struct persist_ops){ sim_flush, sim_drain, &s, 0, 0 });
			cr_assert(s.captured);
			for (int t = 0; t < 2; t++) {
				char *got;

				memcpy(img, s.cmedia, s.len);
				for (size_t i = 0; t && i < s.ncl; i++)
					memcpy(img + s.clines[i] * LINE, s.cpend + s.clines[i] * LINE, LINE);
				got = state_of(img, &rc);
				cr_assert_eq(rc, 0, "crash at drain %d/%d: no pool", k, total);
				cr_assert_str_eq(got, want, "crash at drain %d/%d, %s lines", k, total,
						 t ? "all" : "no");
				free(got);
			}
			/* the primary lost too (fio over the first 2 MiB): the
			 * backup left must be the layout the tables are in */
			memcpy(img, s.cmedia, s.len);
			memset(img, 0, 4096);
			{
				char *got = state_of(img, &rc);

				cr_assert(rc != 0 || strcmp(got, want) == 0,
					  "crash at drain %d/%d, primary lost: a stale backup was read:\n%s",
					  k, total, got);
				free(got);
			}
		}
		free(start);
	}
	free(want);
	free(img);
}

Test(pool_core, bad_extents_never_handed_out)
{
	struct persist_ops ops = { null_flush, null_drain, NULL, 0, 0 };
	struct pool_sb sb = layout();
	uint64_t bad[] = { 0, sb.meta_extents, sb.meta_extents + 2, DEV_EXTENTS - 1, DEV_EXTENTS + 5 };
	struct pool_core pc;
	char *buf = calloc(1, meta_len());
	uint64_t got = 0, total;
	char name[16];

	cr_assert_not_null(buf);
	cr_assert_eq(pool_format_mem(buf, &sb, bad, 5, &ops), 0);
	cr_assert_eq(pool_core_open(&pc, buf, &sb, false, &ops, NULL, NULL), 0);
	/* metadata and out-of-range numbers are ignored: three bad data extents */
	cr_assert_eq(pc.nbad, 3);
	total = pc.nfree;
	for (int i = 0; pc.nfree > 0; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		cr_assert_eq(pool_region_create(&pc, name, (i % 3 + 1) * ES > pc.nfree * ES ?
						pc.nfree * ES : (i % 3 + 1) * ES, NULL), 0, "%s",
			     daxmap_errormsg());
	}
	for (uint64_t s = 0; s < pc.sb.region_slots; s++)
		for (uint64_t i = 0; pc.views[s].state == RS_LIVE && i < pc.views[s].n; i++) {
			uint64_t x = pc.views[s].ext[i];

			cr_assert(x != bad[1] && x != bad[2] && x != bad[3],
				  "bad extent %llu handed to '%s'", (unsigned long long)x, pc.views[s].name);
			got++;
		}
	cr_assert_eq(got, total);
	cr_assert_eq(pool_region_create(&pc, "more", ES, NULL), -ENOSPC);
	pool_core_close(&pc);
	free(buf);
}

static void collect_msg(void *arg, const char *msg)
{
	strncat(arg, msg, 1023 - strlen(arg));
	strncat(arg, "\n", 1023 - strlen(arg));
}

/* Damage a healthy two-region pool with fn; open must report want, refuse
 * changes, and write nothing. */
static void expect_damage(void (*fn)(struct pool_core *), const char *want)
{
	struct persist_ops ops = { null_flush, null_drain, NULL, 0, 0 };
	struct pool_sb sb = layout();
	size_t len = meta_len();
	char *buf = calloc(1, len), *copy = malloc(len), msgs[1024] = "";
	struct pool_core pc;

	cr_assert(buf && copy);
	cr_assert_eq(pool_format_mem(buf, &sb, NULL, 0, &ops), 0);
	cr_assert_eq(pool_core_open(&pc, buf, &sb, false, &ops, NULL, NULL), 0);
	cr_assert_eq(pool_region_create(&pc, "x", 3 * ES, NULL), 0);
	cr_assert_eq(pool_region_create(&pc, "y", 2 * ES, NULL), 0);
	fn(&pc);
	pool_core_close(&pc);
	memcpy(copy, buf, len);
	cr_assert_eq(pool_core_open(&pc, buf, &sb, false, &ops, collect_msg, msgs), 0);
	cr_assert_gt(pc.problems, 0, "not detected: %s", want);
	cr_assert(strstr(msgs, want), "reported:\n%s\nwanted: %s", msgs, want);
	cr_assert_eq(pool_region_create(&pc, "z", ES, NULL), -EUCLEAN);
	cr_assert_eq(core_remove(&pc, "x"), -EUCLEAN);
	cr_assert_eq(memcmp(copy, buf, len), 0, "a damaged pool was written to");
	pool_core_close(&pc);
	free(buf);
	free(copy);
}

static void dup_name(struct pool_core *pc)
{
	struct region_rec *r = &pc->recs[1];

	memcpy(r->name, "x", 2);
	r->name_sum = XXH64(r->name, 64, rw_gen(r->word));
}

static void dup_extent(struct pool_core *pc)
{
	/* a free extent claims to be extent 0 of x as well */
	pc->ents[pc->sb.nextents - 1] = pc->ents[pc->views[0].ext[0]];
}

static void lost_extent(struct pool_core *pc)
{
	pc->ents[pc->views[0].ext[1]] = EXT_FREE;
}

static void bad_state(struct pool_core *pc)
{
	pc->recs[1].word = rw_make(7, rw_gen(pc->recs[1].word), 2);
}

static void bad_name(struct pool_core *pc)
{
	pc->recs[0].name[0] = 'q';
}

Test(pool_core, damage_is_reported_and_nothing_written)
{
	expect_damage(dup_name, "region name 'x' is used twice");
	expect_damage(dup_extent, "both claim to be extent 0 of region 'x'");
	expect_damage(lost_extent, "region 'x' is missing 1 of its 3 extents");
	expect_damage(bad_state, "region slot 1: unknown state 7");
	expect_damage(bad_name, "region slot 0: name is corrupt");
}

static void unterminated_name(struct pool_core *pc)
{
	struct region_rec *r = &pc->recs[0];

	memset(r->name, 'n', sizeof(r->name));
	r->name_sum = XXH64(r->name, 64, rw_gen(r->word));
}

static void empty_live(struct pool_core *pc)
{
	/* y's extents become orphans; its record says LIVE with none */
	pc->recs[1].word = rw_make(RS_LIVE, rw_gen(pc->recs[1].word), 0);
}

Test(pool_core, malformed_records_are_reported)
{
	expect_damage(unterminated_name, "region slot 0: name is corrupt");
	expect_damage(empty_live, "region 'y' has no extents");
}

Test(pool_core, blocks_gone_bad_after_format)
{
	struct persist_ops ops = { null_flush, null_drain, NULL, 0, 0 };
	struct pool_sb sb = layout();
	char *buf = calloc(1, meta_len()), msgs[1024] = "";
	struct pool_core pc;
	uint64_t used, freex, bad[2], before;

	cr_assert_not_null(buf);
	cr_assert_eq(pool_format_mem(buf, &sb, NULL, 0, &ops), 0);
	cr_assert_eq(pool_core_open(&pc, buf, &sb, false, &ops, NULL, NULL), 0);
	cr_assert_eq(pool_region_create(&pc, "data", 2 * ES, NULL), 0);
	used = core_ext(&pc, "data", 1);
	freex = used + 5;
	cr_assert_eq(pc.kind[freex], EK_FREE);
	bad[0] = used;
	bad[1] = freex;
	before = ops.drains;
	cr_assert_eq(pool_mark_bad(&pc, bad, 2, collect_msg, msgs), 1);
	cr_assert_eq(ops.drains, before + 1);
	cr_assert(strstr(msgs, "(number 1 of region 'data') has a bad block"), "%s", msgs);
	cr_assert_eq(pc.kind[freex], EK_BAD);
	cr_assert_eq(pc.ents[freex], EXT_BAD);
	cr_assert_eq(pc.kind[used], EK_USED, "a region's extent was taken away");
	/* persistent, and never handed out */
	cr_assert_eq(pool_scan(&pc, NULL, NULL), 0);
	cr_assert_eq(pc.nbad, 1);
	cr_assert_eq(pool_region_create(&pc, "all", pc.nfree * ES, NULL), 0);
	for (uint64_t i = 0; i < pc.views[core_find(&pc, "all")].n; i++)
		cr_assert_neq(core_ext(&pc, "all", i), freex);
	/* again: nothing left to mark, no fence */
	before = ops.drains;
	cr_assert_eq(pool_mark_bad(&pc, bad, 2, NULL, NULL), 1);
	cr_assert_eq(ops.drains, before);
	pool_core_close(&pc);
	free(buf);
}
