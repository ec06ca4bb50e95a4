/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pool_core.h -- the pool core: the on-media format (format.h), its scan
 * and recovery, and the region operations, over a metadata area in memory.
 * pool_handle.c runs it on a device's mapped metadata under the pool lock;
 * the crash simulator and the fuzzer run it on buffers they control.
 *
 * The layers above use the functions below, never the struct's fields:
 * the view of the tables is the core's business.
 */
#ifndef DAXMAP_POOL_CORE_H
#define DAXMAP_POOL_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daxmap.h"
#include "format.h"
#include "persist.h"
#include "runs.h"

/* One region record as scanned. */
struct region_view {
	unsigned state;       /* enum region_state */
	uint64_t gen;
	uint64_t n;           /* extents */
	uint64_t keep;        /* [keep, n) are being released (ZAP); n: none */
	uint64_t written;     /* [written, n) were never mapped (zeroed first) */
	uint64_t ctime;
	char name[64];
	uint64_t *ext;        /* device extent of each index, EXT_NONE unknown */
};

/* What extent x is, as scanned. */
enum ext_kind { EK_FREE = 0, EK_USED, EK_BAD, EK_META, EK_ORPHAN };

/* Called for each problem a scan finds; msg is a sentence. */
typedef void (*pool_report_fn)(void *arg, const char *msg);

struct pool_core {
	char *base;              /* metadata area [0, meta_extents * extent_size) */
	uint64_t len;
	struct pool_sb sb;
	bool from_backup;        /* the primary superblock was unusable */
	bool rdonly;
	struct region_rec *recs; /* the region table, on the media */
	uint64_t *ents;          /* the extent table, on the media */
	struct persist_ops *ops;
	struct region_view *views; /* one per region slot */
	uint8_t *kind;           /* enum ext_kind, one per extent */
	uint64_t nfree, nused, nbad, norphan, nzap;
	uint64_t problems;       /* inconsistencies the last scan found */
	/*
	 * Kept up to date by every operation, so that none costs the size of
	 * the pool: the free extents (one bit each, and the lowest word that
	 * may have one), and the regions by name (chains of slots + 1 from a
	 * bucket per slot).
	 */
	uint64_t *freebits;
	uint64_t free_hint;
	uint32_t *bucket, *chain;
	uint64_t *seqp;          /* the change sequence (1.2), NULL for 1.1 */
	uint64_t seen;           /* its value when the view was last right */
};

/* ---- superblock and format ---- */

/* Geometry of a new pool: fills sb (not its uuid/time/checksum). */
int pool_layout(struct pool_sb *sb, uint64_t dev_size, uint64_t dev_align,
		uint64_t extent_size);
/* Bytes needed from the start of the device to read both superblocks. */
uint64_t pool_probe_len(uint64_t dev_size, uint64_t dev_align);
/* Validate a superblock against the device; 0 or -errno with a message. */
int pool_sb_check(const struct pool_sb *sb, uint64_t dev_size, uint64_t dev_align);
/* Pick the superblock to trust from the first len bytes of the device
 * (pool_probe_len()). -EINVAL: a valid one, written for another alignment
 * (still in *out). */
int pool_sb_read(const char *base, uint64_t len, uint64_t dev_size, uint64_t dev_align,
		 struct pool_sb *out, bool *from_backup);
void pool_sb_seal(struct pool_sb *sb);
/* Store sb over the primary superblock (one drain): a check's repair. */
void pool_sb_restore(struct pool_core *pc);

/*
 * Can this 1.1 pool move to the 1.2 layout in place (its metadata grows
 * only over free extents, and the new tables do not overlap the old)? 0
 * with the new superblock in *sb (sealed), or 1 with the reason in why.
 */
int pool_migration_blocked(const struct pool_core *pc, struct pool_sb *sb, char *why,
			   size_t len);

/*
 * Move a 1.1 pool's backup superblock and tables to the 1.2 layout sb
 * (pool_migration_blocked()), in the metadata area at base, which covers
 * sb's. Crash-safe, four drains: the new tables, the new backup, the old
 * backup cleared (a stale backup must never be read over newer tables),
 * then the primary; until that last store the pool is the 1.1 one.
 */
void pool_migrate_mem(char *base, const struct pool_sb *old, const struct pool_sb *sb,
		      struct persist_ops *ops);

/* Write a new, empty pool into the metadata area at base (len bytes,
 * sb->meta_extents * sb->extent_size). bad: extents never to hand out. */
int pool_format_mem(char *base, const struct pool_sb *sb,
		    const uint64_t *bad, size_t nbad, struct persist_ops *ops);

/* ---- open, scan, recovery ---- */

/* Attach to a metadata area whose superblock is sb, scan it; unless
 * rdonly, finish interrupted operations (recovery). report may be NULL. */
int pool_core_open(struct pool_core *pc, char *base, const struct pool_sb *sb,
		   bool rdonly, struct persist_ops *ops, pool_report_fn report,
		   void *arg);
void pool_core_close(struct pool_core *pc);
/* Re-read the tables (another process may have changed them). */
int pool_scan(struct pool_core *pc, pool_report_fn report, void *arg);
/*
 * Is the view still what the media holds? A 1.2 pool says so by its
 * change sequence (every writer bumps it before its first store, under
 * the exclusive lock); of a 1.1 pool nothing can be known.
 */
bool pool_view_current(const struct pool_core *pc);
/* Before an operation, under the pool lock: re-read the tables unless the
 * view is current, and (unless read-only) clear what a writer that died
 * left (orphans). */
int pool_refresh(struct pool_core *pc);
/* Clear orphans (one drain). Extents being released (ZAP) are left to the
 * reference layer, which frees them once no reference covers them. */
void pool_recover(struct pool_core *pc);
/*
 * Bad blocks found after format: free extents holding one become EXT_BAD
 * (one drain); for each one a region owns, report() is told. Returns how
 * many bad extents regions own.
 */
int pool_mark_bad(struct pool_core *pc, const uint64_t *bad, size_t nbad,
		  pool_report_fn report, void *arg);

/* ---- region operations (each crash-consistent, two drains at most) ---- */

int pool_name_check(const char *name);
int pool_region_create(struct pool_core *pc, const char *name, uint64_t size,
		       uint64_t *actual);
/* Grow region name to size (rounded up to extents); its size already:
 * nothing. Shrinking is a release (pool_region_zap(), then finish). */
int pool_region_grow(struct pool_core *pc, const char *name, uint64_t size,
		     uint64_t *actual);
/*
 * Release, step one: mark extents [keep, n) of region name ZAP in the
 * persistent metadata (keep 0: the whole region, which is no longer found
 * by name). One drain. *slot and *gen name the region for
 * pool_region_finish(). Refused while an earlier release of the region is
 * pending (-EBUSY).
 */
int pool_region_zap(struct pool_core *pc, const char *name, uint64_t keep,
		    uint64_t *slot, uint64_t *gen);
/*
 * Release, last step: free the ZAP extents of the region in slot at gen.
 * The DAX_ZAP check: a region with nothing marked ZAP is refused with
 * -EUCLEAN, never freed. -ESTALE: already finished. One drain.
 */
int pool_region_finish(struct pool_core *pc, uint64_t slot, uint64_t gen);

/*
 * Indices [0, written) of the region in slot at gen have been mapped (or
 * zeroed) since they were handed out: a 1.2 pool stores it (one drain);
 * -ESTALE when the region is gone.
 */
int pool_region_written(struct pool_core *pc, uint64_t slot, uint64_t gen, uint64_t written);

/*
 * The logical size of the region in slot at gen (format.h: the logical
 * size word): DAXMAP_LSIZE_NONE when never set. -ESTALE (no message) when
 * that region is not live. Reads the media, not the scan: callers that hold
 * references on the region's extents may call it without the pool lock.
 */
int pool_region_lsize(const struct pool_core *pc, uint64_t slot, uint64_t gen, uint64_t *lsize);
/* Set it (DAXMAP_LSIZE_NONE: never set): one store, one drain. -EFBIG past
 * the region's size; -ESTALE (no message) when the region is not live. */
int pool_region_set_lsize(struct pool_core *pc, uint64_t slot, uint64_t gen, uint64_t lsize);

/*
 * Is there a live region called name? Read from the media without the pool
 * lock or a scan (a seqlock on each record's word): 1 or 0, a snapshot that
 * a create or remove in progress may fall on either side of.
 */
int pool_region_peek(const struct pool_core *pc, const char *name);

/* ---- what the layers above may ask ---- */

/* A region, as a copy of its scanned record. */
struct region_desc {
	uint64_t slot, gen;
	uint64_t n;     /* extents it owns */
	uint64_t keep;  /* [keep, n) are being released */
	uint64_t written; /* [written, n) were never mapped: zero them first */
	bool zap;       /* the whole region is being removed */
	uint64_t ctime;
	char name[64];
};

/* Is a release (remove or shrink) of the region pending? A removed
 * region is, even with no extent left to free. */
static inline bool region_releasing(const struct region_desc *r)
{
	return r->zap || r->keep < r->n;
}

/* find flags: which region of that name */
#define FIND_LIVE 1U /* the region of that name */
#define FIND_ZAP 2U  /* a removed one still releasing its extents */

/*
 * The region called name, by flags: 0, or -ENOENT ("no region named"), or
 * -ESTALE when only a removed one (ZAP) exists and FIND_ZAP is not in
 * flags ("being removed: no new mappings or pins").
 */
int pool_region_find(const struct pool_core *pc, const char *name, unsigned flags,
		     struct region_desc *r);
/* The region in slot at gen; -ESTALE when it is gone (released). */
int pool_region_at(const struct pool_core *pc, uint64_t slot, uint64_t gen,
		   struct region_desc *r);
/* The next region (live or removed) after slot `after` (-1: the first);
 * its slot, or -1 when there is none. */
long pool_region_next(const struct pool_core *pc, long after, struct region_desc *r);
/* Device extents of indices [from, to) of the region in slot, EXT_NONE
 * for one an interrupted release cleared. */
void pool_region_extents(const struct pool_core *pc, uint64_t slot, uint64_t from,
			 uint64_t to, uint64_t *out);
/* The same as sorted runs (free()). */
int pool_region_runs(const struct pool_core *pc, uint64_t slot, uint64_t from,
		     uint64_t to, struct ext_run **runs, size_t *nruns);
/* The device ranges of the extents the region keeps ([0, keep)), in order,
 * adjacent ones merged (free()). */
int pool_region_ranges(const struct pool_core *pc, uint64_t slot,
		       struct daxmap_range **ranges, size_t *count);
/* Every extent being released, as runs (free()): the runtime ZAP marks
 * must agree with them. */
int pool_releasing_runs(const struct pool_core *pc, struct ext_run **runs, size_t *nruns);
/* Who owns extent x: 1 with its region's name, index and whether it is
 * being released; 0 when no region owns it. */
int pool_extent_owner(const struct pool_core *pc, uint64_t x, char name[64], uint64_t *idx,
		      bool *releasing);
/* Does the pool record which extents were mapped since they were handed
 * out (format 1.2), so that a first mapping zeroes them? A 1.1 pool does
 * not: its new extents are zeroed when they are handed out. */
bool pool_core_zeroes_on_map(const struct pool_core *pc);
/* The pool's extent size. */
uint64_t pool_core_extent_size(const struct pool_core *pc);
/* How many regions have a release pending (removals and shrinks). */
uint64_t pool_releases_pending(const struct pool_core *pc);
/* Extent counts and geometry, as daxmap_pool_stat() gives them. */
void pool_core_stat(const struct pool_core *pc, struct daxmap_pool_stat *st);
/* The live regions, as daxmap_region_list() gives them (free()). */
int pool_region_infos(const struct pool_core *pc, struct daxmap_region_info **infos,
		      size_t *count);
/* Extents marked bad, ascending (free()). */
int pool_bad_list(const struct pool_core *pc, uint64_t **extents, size_t *count);

#endif
