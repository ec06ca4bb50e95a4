/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pool_core.c -- the pool format, its recovery, and region operations on a
 * metadata area in memory (format.h says what is where).
 *
 * Fence budget: create and grow write the new extent entries and
 * the name, drain, then store the record word, drain: 2. A release (remove
 * or shrink) is two steps, one drain each: zap stores ZAP in the record
 * word (remove) or the zap word (shrink); finish clears the entries and
 * stores FREE (remove) or the shorter count (shrink). No operation's drains
 * depend on its number of extents.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "daxmap.h"
#include "error.h"
#include "pool_core.h"
#include "util.h"

#define FORMAT_IN_PROGRESS "DAXMAPFX" /* primary magic while formatting */

uint64_t pool_probe_len(uint64_t dev_size, uint64_t dev_align)
{
	uint64_t need = (SB_BACKUP_OFF + sizeof(struct pool_sb) + dev_align - 1) / dev_align * dev_align;

	/* a small device holds a 1.1 pool at most: read what there is */
	return need <= dev_size ? need : dev_size / dev_align * dev_align;
}

/* Extents the metadata of a pool of n extents needs in this layout. */
static uint64_t meta_extents_of(uint32_t minor, uint64_t n, uint64_t extent_size)
{
	return (layout_extent_off(minor) + n * 8 + extent_size - 1) / extent_size;
}

int pool_layout(struct pool_sb *sb, uint64_t dev_size, uint64_t dev_align,
		uint64_t extent_size)
{
	char a[48], b[48];
	uint64_t n, meta;

	if (!extent_size)
		extent_size = dev_align;
	if (extent_size < dev_align || extent_size % dev_align)
		return daxmap_err(EINVAL,
				  "extent size %s is not a multiple of the device alignment %s",
				  fmt_size(a, sizeof(a), extent_size),
				  fmt_size(b, sizeof(b), dev_align));
	n = dev_size / extent_size;
	meta = meta_extents_of(POOL_MINOR, n, extent_size);
	if (n <= meta)
		return daxmap_err(ENOSPC,
				  "device of %s holds %" PRIu64 " extent(s) of %s, but the metadata needs %" PRIu64
				  " and a pool needs one more for data",
				  fmt_size(a, sizeof(a), dev_size), n,
				  fmt_size(b, sizeof(b), extent_size), meta);
	memset(sb, 0, sizeof(*sb));
	memcpy(sb->magic, POOL_MAGIC, 8);
	sb->major = POOL_MAJOR;
	sb->minor = POOL_MINOR;
	sb->dev_size = n * extent_size;
	sb->extent_size = extent_size;
	sb->nextents = n;
	sb->meta_extents = meta;
	sb->region_slots = REGION_SLOTS;
	sb->region_off = layout_region_off(POOL_MINOR);
	sb->extent_off = layout_extent_off(POOL_MINOR);
	return 0;
}

static uint64_t sb_sum(const struct pool_sb *sb)
{
	struct pool_sb c = *sb;

	c.checksum = 0;
	return XXH64(&c, sizeof(c), 0);
}

void pool_sb_seal(struct pool_sb *sb)
{
	sb->checksum = sb_sum(sb);
}

/* A size as daxmapctl takes it: "4K", "2M", "1G", or bytes. */
static const char *size_arg(char *buf, size_t len, uint64_t v)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (v >= 1024 && v % 1024 == 0 && u < 3) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%" PRIu64, v);
	else
		snprintf(buf, len, "%" PRIu64 "%c", v, units[u]);
	return buf;
}

int pool_sb_check(const struct pool_sb *sb, uint64_t dev_size, uint64_t dev_align)
{
	char a[48], b[48], c[48], d[48];

	if (memcmp(sb->magic, FORMAT_IN_PROGRESS, 8) == 0)
		return daxmap_err(EUCLEAN, "a format of this device was interrupted; format it again");
	if (memcmp(sb->magic, POOL_MAGIC, 8) != 0)
		return daxmap_err(ENODATA, "not a libdaxmap pool (no pool superblock)");
	if (sb->checksum != sb_sum(sb))
		return daxmap_err(EUCLEAN, "superblock checksum mismatch");
	if (sb->major > POOL_MAJOR)
		return daxmap_err(ENOTSUP,
				  "pool format version %u.%u is newer than this libdaxmap's %u.%u; upgrade libdaxmap",
				  sb->major, sb->minor, POOL_MAJOR, POOL_MINOR);
	if (sb->major == 0)
		return daxmap_err(EUCLEAN, "superblock has format version 0");
	/* a valid superblock: the device was opened with the wrong alignment
	 * (an emulated or fsdax device), or a devdax device changed its own */
	if (sb->extent_size && sb->extent_size % dev_align)
		return daxmap_err(EINVAL,
				  "the pool's extents are %s, which the device alignment %s does not divide: open the device with an alignment of %s (daxmapctl --align %s; daxmap_dev_open() file_align %" PRIu64 "), or of a power of two below it",
				  fmt_size(a, sizeof(a), sb->extent_size),
				  fmt_size(b, sizeof(b), dev_align),
				  fmt_size(c, sizeof(c), sb->extent_size), size_arg(d, sizeof(d), sb->extent_size),
				  sb->extent_size);
	if (sb->dev_size > dev_size)
		return daxmap_err(EUCLEAN,
				  "the pool was formatted for %s but the device has %s (truncated?)",
				  fmt_size(a, sizeof(a), sb->dev_size),
				  fmt_size(b, sizeof(b), dev_size));
	if (!sb->extent_size || sb->extent_size % dev_align ||
	    sb->nextents != sb->dev_size / sb->extent_size ||
	    sb->dev_size % sb->extent_size || sb->region_slots != REGION_SLOTS ||
	    sb->region_off != layout_region_off(sb->minor) ||
	    sb->extent_off != layout_extent_off(sb->minor) ||
	    sb->meta_extents == 0 || sb->meta_extents >= sb->nextents ||
	    sb->nextents > (UINT64_MAX - sb->extent_off) / 8 ||
	    sb->extent_off + sb->nextents * 8 > sb->meta_extents * sb->extent_size)
		return daxmap_err(EUCLEAN, "superblock geometry is inconsistent");
	return 0;
}

/* The backup superblock at off counts only where its own layout keeps it,
 * and only if the bytes read (len) hold it. */
static int backup_at(const char *base, uint64_t len, uint64_t off, uint64_t dev_size,
		     uint64_t dev_align, struct pool_sb *b)
{
	int rc;

	if (off + sizeof(*b) > len)
		return daxmap_err(ENODATA, "not a libdaxmap pool (no pool superblock)");
	memcpy(b, base + off, sizeof(*b));
	rc = pool_sb_check(b, dev_size, dev_align);
	if ((rc == 0 || rc == -EINVAL) && layout_backup_off(b->minor) != off)
		return daxmap_err(ENODATA, "not a libdaxmap pool (a superblock where its layout has none)");
	return rc;
}

int pool_sb_read(const char *base, uint64_t len, uint64_t dev_size, uint64_t dev_align,
		 struct pool_sb *out, bool *from_backup)
{
	struct pool_sb p, b;
	char why[240];
	int rc, rb;

	memcpy(&p, base + SB_PRIMARY_OFF, sizeof(p));
	rc = pool_sb_check(&p, dev_size, dev_align);
	if (rc == 0) {
		*out = p;
		*from_backup = false;
		return 0;
	}
	/* a newer version, or the wrong alignment: the backup is no better
	 * (a damaged or truncated primary falls through to the backup) */
	if (rc == -EINVAL)
		*out = p; /* a valid superblock: the caller may want its uuid */
	if (rc == -ENOTSUP || rc == -EINVAL)
		return rc;
	snprintf(why, sizeof(why), "%s", daxmap_errormsg());
	/* 1.2 keeps the backup at 2 MiB, 1.1 at 64 KiB */
	rb = backup_at(base, len, SB_BACKUP_OFF, dev_size, dev_align, &b);
	if (rb == -ENODATA)
		rb = backup_at(base, len, SB_BACKUP_OFF_1_1, dev_size, dev_align, &b);
	if (rb == 0) {
		*out = b;
		*from_backup = true;
		return 0;
	}
	if (rc == -ENODATA && rb == -ENODATA)
		return rc;
	if (rb == -EINVAL)
		*out = b;
	if (rb == -ENOTSUP || rb == -EINVAL)
		return rb;
	{
		char bwhy[256];

		snprintf(bwhy, sizeof(bwhy), "%s", daxmap_errormsg());
		return daxmap_err(-rc == ENODATA ? -rb : -rc,
				  "primary superblock: %s; backup superblock: %s",
				  why, bwhy);
	}
}

int pool_migration_blocked(const struct pool_core *pc, struct pool_sb *sb, char *why,
			   size_t len)
{
	const struct pool_sb *old = &pc->sb;

	*sb = *old;
	sb->minor = POOL_MINOR;
	sb->region_off = layout_region_off(POOL_MINOR);
	sb->extent_off = layout_extent_off(POOL_MINOR);
	sb->meta_extents = meta_extents_of(POOL_MINOR, old->nextents, old->extent_size);
	if (old->extent_off + old->nextents * 8 > SB_BACKUP_OFF) {
		snprintf(why, len, "its extent table reaches past 2 MiB, where the 1.2 metadata starts");
		return 1;
	}
	if (sb->meta_extents >= sb->nextents) {
		snprintf(why, len, "the device has no room for the 1.2 metadata");
		return 1;
	}
	for (uint64_t x = old->meta_extents; x < sb->meta_extents; x++)
		if (pc->kind[x] != EK_FREE) {
			snprintf(why, len,
				 "extents %" PRIu64 " to %" PRIu64 " must be free for the 1.2 metadata; extent %" PRIu64 " is not",
				 old->meta_extents, sb->meta_extents - 1, x);
			return 1;
		}
	pool_sb_seal(sb);
	return 0;
}

void pool_migrate_mem(char *base, const struct pool_sb *old, const struct pool_sb *sb,
		      struct persist_ops *ops)
{
	size_t rlen = old->region_slots * REGION_REC_SIZE, elen = old->nextents * 8;

	memcpy(base + sb->region_off, base + old->region_off, rlen);
	memcpy(base + sb->extent_off, base + old->extent_off, elen);
	persist_flush(ops, base + sb->region_off, rlen);
	persist_flush(ops, base + sb->extent_off, elen);
	persist_drain(ops);
	memcpy(base + SB_BACKUP_OFF, sb, sizeof(*sb));
	persist_flush(ops, base + SB_BACKUP_OFF, sizeof(*sb));
	persist_drain(ops);
	memset(base + SB_BACKUP_OFF_1_1, 0, sizeof(*sb));
	persist_flush(ops, base + SB_BACKUP_OFF_1_1, sizeof(*sb));
	persist_drain(ops);
	memcpy(base + SB_PRIMARY_OFF, sb, sizeof(*sb));
	persist_flush(ops, base + SB_PRIMARY_OFF, sizeof(*sb));
	persist_drain(ops);
}

int pool_format_mem(char *base, const struct pool_sb *sb, const uint64_t *bad,
		    size_t nbad, struct persist_ops *ops)
{
	char *rt = base + sb->region_off, *et = base + sb->extent_off;
	size_t rlen = sb->region_slots * REGION_REC_SIZE, elen = sb->nextents * 8;
	struct pool_sb mark;

	/* 1. mark the format in progress, so a crash is never read as the
	 *    old pool over half-cleared tables */
	memset(&mark, 0, sizeof(mark));
	memcpy(mark.magic, FORMAT_IN_PROGRESS, 8);
	memcpy(base + SB_PRIMARY_OFF, &mark, sizeof(mark));
	/* nor as a pool by an old backup of either layout (a 1.1 layout's
	 * metadata may end before 2 MiB: only what it covers) */
	if (SB_BACKUP_OFF + sizeof(mark) <= sb->meta_extents * sb->extent_size) {
		memset(base + SB_BACKUP_OFF, 0, sizeof(mark));
		persist_flush(ops, base + SB_BACKUP_OFF, sizeof(mark));
	}
	memset(base + SB_BACKUP_OFF_1_1, 0, sizeof(mark));
	persist_flush(ops, base + SB_PRIMARY_OFF, sizeof(mark));
	persist_flush(ops, base + SB_BACKUP_OFF_1_1, sizeof(mark));
	persist_drain(ops);
	/* 2. empty tables; bad extents are never handed out */
	memset(rt, 0, rlen);
	memset(et, 0, elen);
	for (size_t i = 0; i < nbad; i++)
		if (bad[i] >= sb->meta_extents && bad[i] < sb->nextents)
			((uint64_t *)et)[bad[i]] = EXT_BAD;
	persist_flush(ops, rt, rlen);
	persist_flush(ops, et, elen);
	persist_drain(ops);
	/* handles of a pool formatted over (DAXMAP_FORMAT_FORCE_IN_USE) must
	 * not trust their views: they re-read and find another pool */
	if (sb->minor >= 2) {
		uint64_t *seq = (uint64_t *)(base + CHANGE_SEQ_OFF);

		__atomic_store_n(seq, load_u64(seq) + 1, __ATOMIC_SEQ_CST);
		persist_flush(ops, seq, 8);
	}
	/* 3. backup, 4. primary: a crash between them opens from the backup */
	memcpy(base + layout_backup_off(sb->minor), sb, sizeof(*sb));
	persist_flush(ops, base + layout_backup_off(sb->minor), sizeof(*sb));
	persist_drain(ops);
	memcpy(base + SB_PRIMARY_OFF, sb, sizeof(*sb));
	persist_flush(ops, base + SB_PRIMARY_OFF, sizeof(*sb));
	persist_drain(ops);
	return 0;
}

static uint64_t name_sum(const char *name, uint64_t gen)
{
	return XXH64(name, 64, gen);
}

int pool_name_check(const char *name)
{
	size_t len;

	if (!name || !*name)
		return daxmap_err(EINVAL, "a region name is required");
	len = strnlen(name, NAME_MAX_LEN + 1);
	if (len > NAME_MAX_LEN)
		return daxmap_err(ENAMETOOLONG, "region name is longer than %d bytes",
				  NAME_MAX_LEN);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] <= 0x20 || (unsigned char)name[i] >= 0x7f ||
		    name[i] == '/')
			return daxmap_err(EINVAL,
					  "region name has a character 0x%02x at %zu: names are printable ASCII without spaces or '/'",
					  (unsigned char)name[i], i);
	return 0;
}

static void report(pool_report_fn fn, void *arg, struct pool_core *pc,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void report(pool_report_fn fn, void *arg, struct pool_core *pc,
		   const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	pc->problems++;
	if (!fn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fn(arg, msg);
}

static void free_views(struct pool_core *pc)
{
	if (pc->views)
		for (uint64_t s = 0; s < pc->sb.region_slots; s++)
			free(pc->views[s].ext);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool view_releasing(const struct region_view *v)
{
	return v->state == RS_ZAP || v->keep < v->n;
}

/* ---- what the operations keep up to date ---- */

/* The change sequence moves before the first store of an operation: a
 * handle that saw the old value re-reads the tables. */
static void change_begin(struct pool_core *pc)
{
	if (pc->seqp) {
		pc->seen = load_u64(pc->seqp) + 1;
		/* after what the writer did before (a release marks the
		 * runtime state first): a reader without the pool lock that
		 * saw the old value twice saw none of this operation */
		__atomic_store_n(pc->seqp, pc->seen, __ATOMIC_SEQ_CST);
		/* drained with the operation's stores (no fence of its own):
		 * nothing on the media is left unpersisted */
		persist_flush(pc->ops, pc->seqp, 8);
	}
}

bool pool_view_current(const struct pool_core *pc)
{
	return pc->seqp && __atomic_load_n(pc->seqp, __ATOMIC_SEQ_CST) == pc->seen;
}

static void free_set(struct pool_core *pc, uint64_t x)
{
	pc->freebits[x / 64] |= 1ULL << (x % 64);
	if (x / 64 < pc->free_hint)
		pc->free_hint = x / 64;
}

/* The lowest free extent, taken out of the set (the caller knows that
 * there is one). */
static uint64_t free_take(struct pool_core *pc)
{
	uint64_t w = pc->free_hint, x;

	while (!pc->freebits[w])
		w++;
	x = w * 64 + (uint64_t)__builtin_ctzll(pc->freebits[w]);
	pc->freebits[w] &= pc->freebits[w] - 1;
	pc->free_hint = w;
	return x;
}

static uint32_t name_bucket(const struct pool_core *pc, const char *name)
{
	return (uint32_t)(XXH64(name, strnlen(name, 64), 0) % pc->sb.region_slots);
}

static void index_add(struct pool_core *pc, uint64_t s)
{
	uint32_t b = name_bucket(pc, pc->views[s].name);

	pc->chain[s] = pc->bucket[b];
	pc->bucket[b] = (uint32_t)s + 1;
}

static void index_del(struct pool_core *pc, uint64_t s)
{
	uint32_t *p = &pc->bucket[name_bucket(pc, pc->views[s].name)];

	while (*p && *p != s + 1)
		p = &pc->chain[*p - 1];
	if (*p)
		*p = pc->chain[s];
}

/* Scan pass 1: the region records, into views with no extent known. */
static int scan_regions(struct pool_core *pc, pool_report_fn fn, void *arg)
{
	const struct pool_sb *sb = &pc->sb;

	for (uint64_t s = 0; s < sb->region_slots; s++) {
		const struct region_rec *r = &pc->recs[s];
		struct region_view *v = &pc->views[s];
		uint64_t w = load_u64(&r->word);

		v->state = rw_state(w);
		if (v->state == RS_FREE)
			continue;
		v->gen = rw_gen(w);
		v->n = rw_n(w);
		v->keep = v->state == RS_ZAP ? 0 : v->n;
		if (v->state == RS_LIVE) {
			uint64_t z = load_u64(&r->zap);

			if ((z & ZW_VALID) && zw_gen(z) == v->gen && zw_keep(z) < v->n)
				v->keep = zw_keep(z);
		}
		v->ctime = r->ctime;
		memcpy(v->name, r->name, sizeof(v->name));
		v->name[63] = '\0';
		if (v->state != RS_LIVE && v->state != RS_ZAP) {
			report(fn, arg, pc, "region slot %" PRIu64 ": unknown state %u", s, v->state);
			v->state = RS_FREE;
			continue;
		}
		if (name_sum(r->name, v->gen) != r->name_sum ||
		    !memchr(r->name, '\0', sizeof(r->name)) || pool_name_check(v->name))
			report(fn, arg, pc, "region slot %" PRIu64 ": name is corrupt", s);
		if (v->state == RS_LIVE && v->n == 0)
			report(fn, arg, pc, "region '%s' has no extents", v->name);
		if (v->n > MAX_REGION_EXTENTS || v->n > sb->nextents) {
			report(fn, arg, pc, "region '%s': %" PRIu64 " extents is more than the pool has",
			       v->name, v->n);
			v->n = 0;
		}
		if (v->keep > v->n)
			v->keep = v->n;
		v->written = v->n;
		if (sb->minor >= 2) {
			uint64_t w = load_u64(&r->written);

			if ((w & ZW_VALID) && ww_gen(w) == v->gen && ww_count(w) < v->n)
				v->written = ww_count(w);
		}
		v->ext = malloc((v->n ? v->n : 1) * sizeof(uint64_t));
		if (!v->ext)
			return daxmap_err(ENOMEM, "out of memory");
		for (uint64_t i = 0; i < v->n; i++)
			v->ext[i] = EXT_NONE;
		pc->nzap += view_releasing(v);
	}
	return 0;
}

/* Scan pass 2: names are unique among live regions (sorted, neighbours
 * compared). */
static int check_names(struct pool_core *pc, pool_report_fn fn, void *arg)
{
	const char **names = malloc(pc->sb.region_slots * sizeof(*names));
	size_t k = 0;

	if (!names)
		return daxmap_err(ENOMEM, "out of memory");
	for (uint64_t s = 0; s < pc->sb.region_slots; s++)
		if (pc->views[s].state == RS_LIVE)
			names[k++] = pc->views[s].name;
	qsort(names, k, sizeof(*names), cmp_name);
	for (size_t i = 1; i < k; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			report(fn, arg, pc, "region name '%s' is used twice", names[i]);
	free(names);
	return 0;
}

/* Scan pass 3: each extent entry, counted and given to its region. An
 * entry that no record vouches for is an orphan of an interrupted
 * operation. */
static void scan_extents(struct pool_core *pc, pool_report_fn fn, void *arg)
{
	const struct pool_sb *sb = &pc->sb;

	for (uint64_t x = 0; x < sb->nextents; x++) {
		uint64_t e = load_u64(&pc->ents[x]);
		struct region_view *v;
		uint64_t slot, idx;

		if (x < sb->meta_extents) {
			pc->kind[x] = EK_META;
			if (e != EXT_FREE)
				report(fn, arg, pc, "metadata extent %" PRIu64 " has an owner entry", x);
			continue;
		}
		if (e == EXT_FREE) {
			pc->kind[x] = EK_FREE;
			pc->nfree++;
			continue;
		}
		if (e == EXT_BAD) {
			pc->kind[x] = EK_BAD;
			pc->nbad++;
			continue;
		}
		slot = ext_slot(e);
		idx = ext_idx(e);
		v = slot < sb->region_slots ? &pc->views[slot] : NULL;
		if (!v || v->state == RS_FREE || v->gen != ext_gen(e) || idx >= v->n) {
			pc->kind[x] = EK_ORPHAN;
			pc->norphan++;
			continue;
		}
		if (v->ext[idx] != EXT_NONE) {
			report(fn, arg, pc,
			       "extents %" PRIu64 " and %" PRIu64 " both claim to be extent %" PRIu64 " of region '%s'",
			       v->ext[idx], x, idx, v->name);
			pc->kind[x] = EK_ORPHAN;
			pc->norphan++;
			continue;
		}
		v->ext[idx] = x;
		pc->kind[x] = EK_USED;
		pc->nused++;
	}
}

/* Scan pass 4: every live region has each extent it keeps (ZAP extents
 * may have been half cleared: they are going away). */
static void check_complete(struct pool_core *pc, pool_report_fn fn, void *arg)
{
	for (uint64_t s = 0; s < pc->sb.region_slots; s++) {
		const struct region_view *v = &pc->views[s];
		uint64_t missing = 0;

		if (v->state != RS_LIVE)
			continue;
		for (uint64_t i = 0; i < v->keep; i++)
			missing += v->ext[i] == EXT_NONE;
		if (missing)
			report(fn, arg, pc, "region '%s' is missing %" PRIu64 " of its %" PRIu64 " extents",
			       v->name, missing, v->n);
	}
}

int pool_scan(struct pool_core *pc, pool_report_fn fn, void *arg)
{
	int rc;

	/* read before the tables: a change after this read is seen next time */
	if (pc->seqp)
		pc->seen = load_u64(pc->seqp);
	free_views(pc);
	memset(pc->views, 0, pc->sb.region_slots * sizeof(*pc->views));
	pc->nfree = pc->nused = pc->nbad = pc->norphan = pc->nzap = 0;
	pc->problems = 0;
	if ((rc = scan_regions(pc, fn, arg)) || (rc = check_names(pc, fn, arg)))
		return rc;
	scan_extents(pc, fn, arg);
	check_complete(pc, fn, arg);
	memset(pc->freebits, 0, (pc->sb.nextents + 63) / 64 * sizeof(uint64_t));
	pc->free_hint = (pc->sb.nextents + 63) / 64;
	for (uint64_t x = 0; x < pc->sb.nextents; x++)
		if (pc->kind[x] == EK_FREE)
			free_set(pc, x);
	memset(pc->bucket, 0, pc->sb.region_slots * sizeof(*pc->bucket));
	for (uint64_t s = 0; s < pc->sb.region_slots; s++)
		if (pc->views[s].state != RS_FREE)
			index_add(pc, s);
	return 0;
}

int pool_refresh(struct pool_core *pc)
{
	int rc;

	if (pool_view_current(pc))
		return 0;
	rc = pool_scan(pc, NULL, NULL);
	if (rc == 0 && !pc->rdonly && pc->problems == 0)
		pool_recover(pc);
	return rc;
}

void pool_recover(struct pool_core *pc)
{
	bool dirty = false;

	if (pc->norphan == 0)
		return;
	change_begin(pc);
	for (uint64_t x = pc->sb.meta_extents; x < pc->sb.nextents; x++) {
		if (pc->kind[x] != EK_ORPHAN)
			continue;
		store_u64(&pc->ents[x], EXT_FREE);
		persist_flush(pc->ops, &pc->ents[x], 8);
		pc->kind[x] = EK_FREE;
		free_set(pc, x);
		dirty = true;
	}
	pc->nfree += pc->norphan;
	pc->norphan = 0;
	if (dirty)
		persist_drain(pc->ops);
}

int pool_core_open(struct pool_core *pc, char *base, const struct pool_sb *sb,
		   bool rdonly, struct persist_ops *ops, pool_report_fn fn, void *arg)
{
	int rc;

	memset(pc, 0, sizeof(*pc));
	pc->base = base;
	pc->sb = *sb;
	pc->len = sb->meta_extents * sb->extent_size;
	pc->rdonly = rdonly;
	pc->ops = ops;
	pc->recs = (struct region_rec *)(base + sb->region_off);
	pc->ents = (uint64_t *)(base + sb->extent_off);
	pc->seqp = sb->minor >= 2 ? (uint64_t *)(base + CHANGE_SEQ_OFF) : NULL;
	pc->views = calloc(sb->region_slots, sizeof(*pc->views));
	pc->kind = malloc(sb->nextents);
	pc->freebits = malloc((sb->nextents + 63) / 64 * sizeof(uint64_t));
	pc->bucket = malloc(sb->region_slots * sizeof(*pc->bucket));
	pc->chain = malloc(sb->region_slots * sizeof(*pc->chain));
	if (!pc->views || !pc->kind || !pc->freebits || !pc->bucket || !pc->chain) {
		pool_core_close(pc);
		return daxmap_err(ENOMEM, "out of memory");
	}
	rc = pool_scan(pc, fn, arg);
	if (rc == 0 && !rdonly && pc->problems == 0)
		pool_recover(pc);
	if (rc)
		pool_core_close(pc);
	return rc;
}

void pool_core_close(struct pool_core *pc)
{
	free_views(pc);
	free(pc->views);
	free(pc->kind);
	free(pc->freebits);
	free(pc->bucket);
	free(pc->chain);
	pc->views = NULL;
	pc->kind = NULL;
	pc->freebits = NULL;
	pc->bucket = pc->chain = NULL;
}

static long find_in(const struct pool_core *pc, const char *name, unsigned state)
{
	for (uint32_t i = pc->bucket[name_bucket(pc, name)]; i; i = pc->chain[i - 1])
		if (pc->views[i - 1].state == state && strcmp(pc->views[i - 1].name, name) == 0)
			return (long)i - 1;
	return -1;
}

static int writable(const struct pool_core *pc)
{
	if (pc->rdonly)
		return daxmap_err(EROFS, "the pool was opened read-only");
	if (pc->problems)
		return daxmap_err(EUCLEAN,
				  "the pool metadata is inconsistent (%" PRIu64 " problem(s)); run 'daxmapctl check'",
				  pc->problems);
	return 0;
}

/* Extents for `size` bytes; 0 or -errno. */
static int size_to_extents(const struct pool_core *pc, uint64_t size, uint64_t *n)
{
	char a[48];

	if (size == 0)
		return daxmap_err(EINVAL, "region size 0: a region holds at least one extent (%s)",
				  fmt_size(a, sizeof(a), pc->sb.extent_size));
	*n = size / pc->sb.extent_size + (size % pc->sb.extent_size != 0);
	if (*n > MAX_REGION_EXTENTS)
		return daxmap_err(EFBIG, "a region holds at most %llu extents",
				  (unsigned long long)MAX_REGION_EXTENTS);
	return 0;
}

static int no_space(const struct pool_core *pc, uint64_t want, uint64_t size)
{
	char a[48], b[48], c[48];

	return daxmap_err(ENOSPC,
			  "%s needs %" PRIu64 " extent(s) of %s but only %" PRIu64 " (%s) are free",
			  fmt_size(a, sizeof(a), size), want,
			  fmt_size(b, sizeof(b), pc->sb.extent_size), pc->nfree,
			  fmt_size(c, sizeof(c), pc->nfree * pc->sb.extent_size));
}

/* Claim extents for indices [from, to) of slot/gen into ext[from, to):
 * entries are written and flushed, not drained. Lowest free extents first. */
static void claim(struct pool_core *pc, uint64_t slot, uint64_t gen,
		  uint64_t from, uint64_t to, uint64_t *ext)
{
	for (uint64_t i = from; i < to; i++) {
		uint64_t x = free_take(pc);

		store_u64(&pc->ents[x], ext_make(slot, gen, i));
		persist_flush(pc->ops, &pc->ents[x], 8);
		pc->kind[x] = EK_USED;
		ext[i] = x;
	}
	pc->nfree -= to - from;
	pc->nused += to - from;
}

int pool_region_create(struct pool_core *pc, const char *name, uint64_t size,
		       uint64_t *actual)
{
	struct region_view *v;
	struct region_rec *r;
	uint64_t n, gen, s, *ext;
	int rc;

	if ((rc = writable(pc)) || (rc = pool_name_check(name)) ||
	    (rc = size_to_extents(pc, size, &n)))
		return rc;
	if (find_in(pc, name, RS_LIVE) >= 0)
		return daxmap_err(EEXIST, "a region named '%s' exists already", name);
	if (n > pc->nfree)
		return no_space(pc, n, size);
	for (s = 0; s < pc->sb.region_slots && pc->views[s].state != RS_FREE; s++)
		;
	if (s == pc->sb.region_slots)
		return daxmap_err(ENOSPC, "all %" PRIu64 " region slots are in use", s);
	if (!(ext = malloc(n * sizeof(*ext))))
		return daxmap_err(ENOMEM, "out of memory");

	change_begin(pc);
	r = &pc->recs[s];
	/* a new generation makes any stale entry of this slot meaningless */
	gen = (rw_gen(load_u64(&r->word)) + 1) & GEN_MASK;
	memset(r->name, 0, sizeof(r->name));
	memcpy(r->name, name, strlen(name));
	r->name_sum = name_sum(r->name, gen);
	r->ctime = (uint64_t)time(NULL);
	r->zap = 0;
	/* 1.2: nothing of it was mapped yet: its first mapping zeroes it */
	r->written = pc->sb.minor >= 2 ? ww_make(gen, 0) : 0;
	*rec_lsize(r) = LSIZE_UNSET;
	persist_flush(pc->ops, &r->name_sum, sizeof(*r) - 8);
	claim(pc, s, gen, 0, n, ext);
	persist_drain(pc->ops);
	/* commit: the record word names the extents' generation and count */
	store_u64(&r->word, rw_make(RS_LIVE, gen, n));
	persist_flush(pc->ops, &r->word, 8);
	persist_drain(pc->ops);

	v = &pc->views[s];
	*v = (struct region_view){ .state = RS_LIVE, .gen = gen, .n = n, .keep = n,
				   .written = pc->sb.minor >= 2 ? 0 : n, .ctime = r->ctime,
				   .ext = ext };
	memcpy(v->name, r->name, sizeof(v->name));
	index_add(pc, s);
	if (actual)
		*actual = n * pc->sb.extent_size;
	return 0;
}

static int release_pending(const struct region_view *v)
{
	return daxmap_err(EBUSY,
			  "region '%s' is still releasing %" PRIu64 " extent(s) that references held; 'daxmapctl reclaim' frees them once those are dropped",
			  v->name, v->n - v->keep);
}

int pool_region_grow(struct pool_core *pc, const char *name, uint64_t size,
		     uint64_t *actual)
{
	struct region_view *v;
	struct region_rec *r;
	uint64_t n, *ext;
	long s;
	int rc;

	if ((rc = writable(pc)) || (rc = size_to_extents(pc, size, &n)))
		return rc;
	if ((s = find_in(pc, name, RS_LIVE)) < 0)
		return daxmap_err(ENOENT, "no region named '%s'", name);
	v = &pc->views[s];
	r = &pc->recs[s];
	if (v->keep < v->n)
		return release_pending(v);
	if (n < v->n)
		return daxmap_err(EINVAL, "region '%s' has %" PRIu64 " extents: shrinking to %" PRIu64
				  " is a release", name, v->n, n);
	if (n > v->n) {
		if (n - v->n > pc->nfree)
			return no_space(pc, n - v->n, (n - v->n) * pc->sb.extent_size);
		if (!(ext = realloc(v->ext, n * sizeof(*ext))))
			return daxmap_err(ENOMEM, "out of memory");
		v->ext = ext;
		change_begin(pc);
		claim(pc, (uint64_t)s, v->gen, v->n, n, v->ext);
		/* an inert zap word of this gen must not cover the new extents */
		store_u64(&r->zap, 0);
		persist_flush(pc->ops, &r->zap, 8);
		/* the new extents were never mapped; the old stay as they were */
		if (pc->sb.minor >= 2) {
			store_u64(&r->written, ww_make(v->gen, v->written));
			persist_flush(pc->ops, &r->written, 8);
		}
		persist_drain(pc->ops);
		store_u64(&r->word, rw_make(RS_LIVE, v->gen, n));
		persist_flush(pc->ops, &r->word, 8);
		persist_drain(pc->ops);
		v->n = v->keep = n;
		if (pc->sb.minor < 2)
			v->written = n;
	}
	if (actual)
		*actual = n * pc->sb.extent_size;
	return 0;
}

int pool_region_zap(struct pool_core *pc, const char *name, uint64_t keep,
		    uint64_t *slot, uint64_t *gen)
{
	struct region_view *v;
	struct region_rec *r;
	bool was;
	long s;
	int rc;

	if ((rc = writable(pc)))
		return rc;
	if ((s = find_in(pc, name, RS_LIVE)) < 0)
		return daxmap_err(ENOENT, "no region named '%s'", name);
	v = &pc->views[s];
	r = &pc->recs[s];
	if (keep >= v->n)
		return daxmap_err(EINVAL, "region '%s' has %" PRIu64 " extents: nothing past %" PRIu64 " to release",
				  name, v->n, keep);
	if (keep && v->keep < v->n)
		return release_pending(v);
	was = view_releasing(v);
	change_begin(pc);
	/* from here on these extents are going away, whatever happens */
	if (keep == 0) {
		store_u64(&r->word, rw_make(RS_ZAP, v->gen, v->n));
		persist_flush(pc->ops, &r->word, 8);
		v->state = RS_ZAP;
	} else {
		store_u64(&r->zap, zw_make(v->gen, keep));
		persist_flush(pc->ops, &r->zap, 8);
	}
	persist_drain(pc->ops);
	v->keep = keep;
	pc->nzap += !was;
	*slot = (uint64_t)s;
	*gen = v->gen;
	return 0;
}

int pool_region_finish(struct pool_core *pc, uint64_t slot, uint64_t gen)
{
	struct region_view *v;
	struct region_rec *r;
	int rc;

	if ((rc = writable(pc)))
		return rc;
	if (slot >= pc->sb.region_slots)
		return daxmap_err(EINVAL, "region slot %" PRIu64 " is outside the table", slot);
	v = &pc->views[slot];
	r = &pc->recs[slot];
	if (v->state == RS_FREE || v->gen != gen)
		return daxmap_err(ESTALE, "region slot %" PRIu64 " generation %" PRIu64 " was released already",
				  slot, gen);
	/*
	 * The DAX_ZAP check: only extents marked ZAP may be freed, as fs/dax
	 * frees a block only after breaking its layouts. Anything else
	 * reaching here is a library bug: refuse it loudly, free nothing.
	 */
	if (!view_releasing(v))
		return daxmap_err(EUCLEAN,
				  "region '%s': asked to free extents that were never marked ZAP (DAX_ZAP check); nothing freed",
				  v->name);
	change_begin(pc);
	/* entries past the committed count are orphans if this is cut short */
	for (uint64_t i = v->keep; i < v->n; i++) {
		uint64_t x = v->ext[i];

		if (x == EXT_NONE)
			continue; /* cleared by an earlier, interrupted finish */
		store_u64(&pc->ents[x], EXT_FREE);
		persist_flush(pc->ops, &pc->ents[x], 8);
		pc->kind[x] = EK_FREE;
		free_set(pc, x);
		pc->nfree++;
		pc->nused--;
	}
	store_u64(&r->word, v->keep ? rw_make(RS_LIVE, v->gen, v->keep) : rw_make(RS_FREE, v->gen, 0));
	persist_flush(pc->ops, &r->word, 8);
	persist_drain(pc->ops);
	pc->nzap--;
	if (v->keep) {
		v->n = v->keep;
		if (v->written > v->keep)
			v->written = v->keep;
	} else {
		index_del(pc, slot);
		free(v->ext);
		memset(v, 0, sizeof(*v));
	}
	return 0;
}

int pool_region_written(struct pool_core *pc, uint64_t slot, uint64_t gen, uint64_t written)
{
	struct region_view *v;
	int rc;

	if ((rc = writable(pc)))
		return rc;
	if (slot >= pc->sb.region_slots || pc->views[slot].state == RS_FREE ||
	    pc->views[slot].gen != gen)
		return daxmap_err(ESTALE, "region slot %" PRIu64 " generation %" PRIu64 " is gone",
				  slot, gen);
	v = &pc->views[slot];
	if (pc->sb.minor < 2 || written <= v->written)
		return 0;
	if (written > v->n)
		written = v->n;
	change_begin(pc);
	store_u64(&pc->recs[slot].written, ww_make(gen, written));
	persist_flush(pc->ops, &pc->recs[slot].written, 8);
	persist_drain(pc->ops);
	v->written = written;
	return 0;
}

/*
 * The record of the region in slot at gen, read from the media rather than
 * the scanned views: the logical size is read and written without the pool
 * lock by holders of a mapping, whose references keep the slot from being
 * reused (a release finishes only once they are dropped).
 */
static struct region_rec *lsize_rec(const struct pool_core *pc, uint64_t slot, uint64_t gen,
				    uint64_t *n)
{
	struct region_rec *r;
	uint64_t w;

	if (slot >= pc->sb.region_slots)
		return NULL;
	r = &pc->recs[slot];
	w = load_u64(&r->word);
	if (rw_state(w) != RS_LIVE || rw_gen(w) != gen)
		return NULL;
	*n = rw_n(w);
	return r;
}

int pool_region_lsize(const struct pool_core *pc, uint64_t slot, uint64_t gen, uint64_t *lsize)
{
	struct region_rec *r;
	uint64_t n, w;

	if (!(r = lsize_rec(pc, slot, gen, &n)))
		return -ESTALE;
	w = load_u64(rec_lsize(r));
	*lsize = w == LSIZE_UNSET ? DAXMAP_LSIZE_NONE : w - 1;
	return 0;
}

int pool_region_set_lsize(struct pool_core *pc, uint64_t slot, uint64_t gen, uint64_t lsize)
{
	struct region_rec *r;
	char a[48], b[48];
	uint64_t n;
	int rc;

	if ((rc = writable(pc)))
		return rc;
	if (!(r = lsize_rec(pc, slot, gen, &n)))
		return -ESTALE;
	if (lsize != DAXMAP_LSIZE_NONE && lsize > n * pc->sb.extent_size)
		return daxmap_err(EFBIG, "logical size %s is larger than the region (%s)",
				  fmt_size(a, sizeof(a), lsize),
				  fmt_size(b, sizeof(b), n * pc->sb.extent_size));
	/* DAXMAP_LSIZE_NONE + 1 wraps to LSIZE_UNSET: "never set" again */
	store_u64(rec_lsize(r), lsize + 1);
	persist_flush(pc->ops, rec_lsize(r), 8);
	persist_drain(pc->ops);
	return 0;
}

int pool_region_peek(const struct pool_core *pc, const char *name)
{
	char seen[sizeof(pc->recs[0].name)];

	for (uint64_t s = 0; s < pc->sb.region_slots; s++) {
		const struct region_rec *r = &pc->recs[s];
		uint64_t w = load_u64(&r->word);

		if (rw_state(w) != RS_LIVE)
			continue;
		/* the name only changes while the record is FREE, and every
		 * create moves the gen: the same word before and after the copy
		 * means the copy is the live region's name */
		memcpy(seen, r->name, sizeof(seen));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (load_u64(&r->word) == w && strncmp(seen, name, sizeof(seen)) == 0)
			return 1;
	}
	return 0;
}

int pool_mark_bad(struct pool_core *pc, const uint64_t *bad, size_t nbad,
		  pool_report_fn fn, void *arg)
{
	bool dirty = false;
	int in_use = 0;

	for (size_t i = 0; i < nbad; i++) {
		uint64_t x = bad[i];

		if (x < pc->sb.meta_extents || x >= pc->sb.nextents)
			continue;
		if (pc->kind[x] == EK_USED) {
			/* data there may be lost: say so, never move it silently */
			if (fn) {
				char msg[160];
				uint64_t e = load_u64(&pc->ents[x]);

				snprintf(msg, sizeof(msg),
					 "extent %" PRIu64 " (number %" PRIu64 " of region '%s') has a bad block",
					 x, ext_idx(e), pc->views[ext_slot(e)].name);
				fn(arg, msg);
			}
			in_use++;
		} else if (pc->kind[x] == EK_FREE && !pc->rdonly) {
			if (!dirty)
				change_begin(pc);
			store_u64(&pc->ents[x], EXT_BAD);
			persist_flush(pc->ops, &pc->ents[x], 8);
			pc->kind[x] = EK_BAD;
			pc->freebits[x / 64] &= ~(1ULL << (x % 64));
			pc->nfree--;
			pc->nbad++;
			dirty = true;
		}
	}
	if (dirty)
		persist_drain(pc->ops);
	return in_use;
}

void pool_sb_restore(struct pool_core *pc)
{
	memcpy(pc->base + SB_PRIMARY_OFF, &pc->sb, sizeof(pc->sb));
	persist_flush(pc->ops, pc->base + SB_PRIMARY_OFF, sizeof(pc->sb));
	persist_drain(pc->ops);
}

/* ---- what the layers above may ask ---- */

static void describe(const struct pool_core *pc, uint64_t s, struct region_desc *r)
{
	const struct region_view *v = &pc->views[s];

	r->slot = s;
	r->gen = v->gen;
	r->n = v->n;
	r->keep = v->keep;
	r->written = v->written;
	r->zap = v->state == RS_ZAP;
	r->ctime = v->ctime;
	memcpy(r->name, v->name, sizeof(r->name));
}

int pool_region_find(const struct pool_core *pc, const char *name, unsigned flags,
		     struct region_desc *r)
{
	long s = (flags & FIND_LIVE) ? find_in(pc, name, RS_LIVE) : -1;

	if (s < 0 && (s = find_in(pc, name, RS_ZAP)) >= 0 && !(flags & FIND_ZAP))
		return daxmap_err(ESTALE,
				  "region '%s' is being removed (ZAP): no new mappings or pins; its extents are freed once every reference is dropped",
				  name);
	if (s < 0)
		return daxmap_err(ENOENT, "no region named '%s'", name);
	describe(pc, (uint64_t)s, r);
	return 0;
}

int pool_region_at(const struct pool_core *pc, uint64_t slot, uint64_t gen,
		   struct region_desc *r)
{
	if (slot >= pc->sb.region_slots || pc->views[slot].state == RS_FREE ||
	    pc->views[slot].gen != gen)
		return -ESTALE;
	describe(pc, slot, r);
	return 0;
}

long pool_region_next(const struct pool_core *pc, long after, struct region_desc *r)
{
	for (uint64_t s = (uint64_t)(after + 1); s < pc->sb.region_slots; s++)
		if (pc->views[s].state != RS_FREE) {
			describe(pc, s, r);
			return (long)s;
		}
	return -1;
}

void pool_region_extents(const struct pool_core *pc, uint64_t slot, uint64_t from,
			 uint64_t to, uint64_t *out)
{
	memcpy(out, pc->views[slot].ext + from, (to - from) * sizeof(*out));
}

int pool_region_runs(const struct pool_core *pc, uint64_t slot, uint64_t from,
		     uint64_t to, struct ext_run **runs, size_t *nruns)
{
	return runs_of(pc->views[slot].ext + from, to - from, runs, nruns);
}

int pool_region_ranges(const struct pool_core *pc, uint64_t slot,
		       struct daxmap_range **ranges, size_t *count)
{
	const struct region_view *v = &pc->views[slot];
	uint64_t es = pc->sb.extent_size;
	struct daxmap_range *r = malloc((v->keep ? v->keep : 1) * sizeof(*r));
	size_t n = 0;

	if (!r)
		return daxmap_err(ENOMEM, "out of memory");
	/* adjacent extents become one range: fewer mmaps */
	for (uint64_t i = 0; i < v->keep; i++) {
		if (n && r[n - 1].offset + r[n - 1].len == v->ext[i] * es)
			r[n - 1].len += es;
		else
			r[n++] = (struct daxmap_range){ v->ext[i] * es, es };
	}
	*ranges = r;
	*count = n;
	return 0;
}

int pool_releasing_runs(const struct pool_core *pc, struct ext_run **runs, size_t *nruns)
{
	uint64_t *x, total = 0;
	size_t k = 0;
	int rc;

	for (uint64_t s = 0; s < pc->sb.region_slots; s++)
		total += pc->views[s].n - pc->views[s].keep;
	if (!(x = malloc((total ? total : 1) * sizeof(*x))))
		return daxmap_err(ENOMEM, "out of memory");
	for (uint64_t s = 0; s < pc->sb.region_slots; s++) {
		const struct region_view *v = &pc->views[s];

		for (uint64_t i = v->keep; i < v->n; i++)
			x[k++] = v->ext[i];
	}
	rc = runs_of(x, k, runs, nruns);
	free(x);
	return rc;
}

int pool_extent_owner(const struct pool_core *pc, uint64_t x, char name[64], uint64_t *idx,
		      bool *releasing)
{
	const struct region_view *v;
	uint64_t e;

	if (x >= pc->sb.nextents || pc->kind[x] != EK_USED)
		return 0;
	/* the scan gave the entry to that region: slot and index are valid */
	e = load_u64(&pc->ents[x]);
	v = &pc->views[ext_slot(e)];
	memcpy(name, v->name, 64);
	*idx = ext_idx(e);
	*releasing = *idx >= v->keep;
	return 1;
}

bool pool_core_zeroes_on_map(const struct pool_core *pc)
{
	return pc->sb.minor >= 2;
}

uint64_t pool_core_extent_size(const struct pool_core *pc)
{
	return pc->sb.extent_size;
}

uint64_t pool_releases_pending(const struct pool_core *pc)
{
	return pc->nzap;
}

void pool_core_stat(const struct pool_core *pc, struct daxmap_pool_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->extent_size = pc->sb.extent_size;
	st->extents_total = pc->sb.nextents;
	st->extents_meta = pc->sb.meta_extents;
	st->extents_used = pc->nused;
	/* orphans of an interrupted operation are free: the next writer
	 * clears their entries (a read-only handle sees them) */
	st->extents_free = pc->nfree + pc->norphan;
	st->extents_bad = pc->nbad;
	st->region_slots = (uint32_t)pc->sb.region_slots;
	for (uint64_t s = 0; s < pc->sb.region_slots; s++) {
		st->extents_releasing += pc->views[s].n - pc->views[s].keep;
		st->regions += pc->views[s].state == RS_LIVE;
	}
	st->version_major = pc->sb.major;
	st->version_minor = pc->sb.minor;
	st->from_backup = pc->from_backup;
}

int pool_region_infos(const struct pool_core *pc, struct daxmap_region_info **infos,
		      size_t *count)
{
	struct daxmap_region_info *v = calloc(pc->sb.region_slots, sizeof(*v));
	size_t n = 0;

	if (!v)
		return daxmap_err(ENOMEM, "out of memory");
	for (uint64_t s = 0; s < pc->sb.region_slots; s++) {
		const struct region_view *r = &pc->views[s];

		if (r->state != RS_LIVE)
			continue;
		memcpy(v[n].name, r->name, sizeof(v[n].name));
		v[n].extents = r->keep;
		v[n].size = r->keep * pc->sb.extent_size;
		v[n].releasing = r->n - r->keep;
		v[n].ctime = r->ctime;
		n++;
	}
	*infos = v;
	*count = n;
	return 0;
}

int pool_bad_list(const struct pool_core *pc, uint64_t **extents, size_t *count)
{
	uint64_t *v = malloc((pc->nbad ? pc->nbad : 1) * sizeof(*v));
	size_t n = 0;

	if (!v)
		return daxmap_err(ENOMEM, "out of memory");
	for (uint64_t x = 0; x < pc->sb.nextents && n < pc->nbad; x++)
		if (pc->kind[x] == EK_BAD)
			v[n++] = x;
	*extents = v;
	*count = n;
	return 0;
}
