/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pool.h -- the pool core: on-media format, recovery and region
 * operations over a metadata area in memory. The public functions in
 * pool.c map the device's metadata area and call these; the crash
 * simulator calls them on a buffer it controls.
 */
#ifndef DAXMAP_POOL_H
#define DAXMAP_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "format.h"
#include "persist.h"

struct region_view {
	unsigned state;       /* enum region_state */
	uint64_t gen;
	uint64_t n;           /* extents */
	uint64_t keep;        /* [keep, n) are being released (ZAP); n: none */
	uint64_t ctime;
	char name[64];
	uint64_t *ext;        /* device extent number of each index */
};

/* Is a release (remove or shrink) of this region pending? A ZAP record
 * is, even with no extent left to free. */
static inline bool rv_releasing(const struct region_view *v)
{
	return v->state == RS_ZAP || v->keep < v->n;
}

/* What extent i is, as scanned. */
enum ext_kind { EK_FREE = 0, EK_USED, EK_BAD, EK_META, EK_ORPHAN };

/* Called for each problem a scan finds; msg is a sentence. */
typedef void (*pool_report_fn)(void *arg, const char *msg);

struct pool_core {
	char *base;              /* metadata area [0, meta_extents * extent_size) */
	uint64_t len;
	struct pool_sb sb;
	bool from_backup;        /* the primary superblock was unusable */
	bool rdonly;
	struct region_rec *rt;
	uint64_t *et;
	struct persist_ops *ops;
	struct region_view *rv;  /* one per slot */
	uint8_t *kind;           /* enum ext_kind, one per extent */
	uint64_t nfree, nused, nbad, norphan, nzap;
	uint64_t problems;       /* inconsistencies the last scan found */
};

/* Geometry of a new pool: fills sb (not its uuid/time/checksum). */
int pool_layout(struct pool_sb *sb, uint64_t dev_size, uint64_t dev_align,
		uint64_t extent_size);
/* Bytes needed from the start of the device to read both superblocks. */
uint64_t pool_probe_len(uint64_t dev_align);
/* Validate a superblock against the device; 0 or -errno with a message. */
int pool_sb_check(const struct pool_sb *sb, uint64_t dev_size, uint64_t dev_align);
/* Pick the superblock to trust from the first bytes of the device. */
int pool_sb_read(const char *base, uint64_t dev_size, uint64_t dev_align,
		 struct pool_sb *out, bool *from_backup);
void pool_sb_seal(struct pool_sb *sb);

/* Write a new, empty pool into the metadata area at base (len bytes,
 * sb->meta_extents * sb->extent_size). bad: extents never to hand out. */
int pool_format_mem(char *base, const struct pool_sb *sb,
		    const uint64_t *bad, size_t nbad, struct persist_ops *ops);

/* Attach to a metadata area whose superblock is sb, scan it; unless
 * rdonly, finish interrupted operations (recovery). report may be NULL. */
int pool_core_open(struct pool_core *pc, char *base, const struct pool_sb *sb,
		   bool rdonly, struct persist_ops *ops, pool_report_fn report,
		   void *arg);
void pool_core_close(struct pool_core *pc);
/* Re-read the tables (another process may have changed them). */
int pool_scan(struct pool_core *pc, pool_report_fn report, void *arg);
/* Clear orphans (one drain). Extents being released (ZAP) are left to the
 * ref layer, which frees them once no reference covers them. */
void pool_recover(struct pool_core *pc);

int pool_name_check(const char *name);
/* Slot of a live region by name, or -1. */
long pool_find(const struct pool_core *pc, const char *name);

int pool_region_create(struct pool_core *pc, const char *name, uint64_t size,
		       uint64_t *actual);
int pool_region_resize(struct pool_core *pc, const char *name, uint64_t size,
		       uint64_t *actual);
int pool_region_remove(struct pool_core *pc, const char *name);
/*
 * Release, step one (SPEC §4): mark extents [keep, n) of region name ZAP
 * in the persistent metadata (keep 0: the whole region, which is no longer
 * found by name). One drain. *slot and *gen name the region for
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
/* Slot of a region being released as a whole (ZAP) by name, or -1. */
long pool_find_zap(const struct pool_core *pc, const char *name);
/*
 * Bad blocks found after format: free extents holding one become EXT_BAD
 * (one drain); for each one a region owns, report() is told. Returns how
 * many bad extents regions own.
 */
int pool_mark_bad(struct pool_core *pc, const uint64_t *bad, size_t nbad,
		  pool_report_fn report, void *arg);

struct daxmap_pool;
struct daxmap_dev;
/* daxmap_pool_open() without what the ref layer adds (reclaim). */
int pool_open(struct daxmap_pool **poolp, struct daxmap_dev *dev, unsigned flags);
/* Lock the pool (exclusive or shared) across processes and re-read its
 * tables; pool_end() unlocks. 0 or -errno. */
int pool_begin(struct daxmap_pool *pool, bool excl);
void pool_end(struct daxmap_pool *pool);
struct pool_core *pool_core_of(struct daxmap_pool *pool);
struct daxmap_dev *pool_dev(struct daxmap_pool *pool);
/* A slot for an upper layer's per-pool state; close_fn(state) runs when
 * the pool is closed (the map layer's on_delete, one level up). */
void **pool_upper(struct daxmap_pool *pool, void (*close_fn)(void *upper));
/* A region's device ranges, adjacent extents merged; under pool_begin(). */
struct daxmap_range;
int pool_ranges_locked(struct daxmap_pool *pool, const char *name,
		       struct daxmap_range **ranges, size_t *count);
/* Fences and flushes issued through a pool handle (internal; benchmarks). */
uint64_t pool_drains(const struct daxmap_pool *pool);
uint64_t pool_flushes(const struct daxmap_pool *pool);

#endif
