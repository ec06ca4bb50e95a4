/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * format.h -- the on-media pool format, version 1.2 (doc/format.md).
 *
 * All integers little-endian. The device is cut into extents of
 * sb.extent_size bytes; extents [0, sb.meta_extents) hold the metadata:
 *
 *   0            primary superblock (struct pool_sb), written once by format
 *   2 MiB        backup superblock (same bytes)        1.1: at 64 KiB
 *   2 MiB+4 KiB  change sequence (1.2): bumped by every writer of the
 *                tables before its first store, so a handle re-reads them
 *                only when they changed. It speaks to live processes only
 *                (after a restart every handle reads all): it is flushed
 *                with the operation's stores, and no fence waits for it
 *   2 MiB+64 KiB region table: region_slots records of 128 bytes
 *                                                      1.1: at 128 KiB
 *   after it     extent table: one 8-byte entry per extent of the device
 *
 * Only the primary superblock lives in the first 2 MiB (1.2): a tool that
 * writes the start of the device (fio's dev-dax engine with an offset, for
 * one) destroys nothing the backup cannot restore.
 *
 * Every mutable piece is an 8-byte word updated with one store, so no log
 * is needed: a region's record word commits an operation after the extent
 * entries it refers to are durable.
 *
 * 1.1 adds the zap word of a region record (a shrink being released); a
 * 1.0 pool has zero there, which means no release pending. 1.2 moves the
 * backup superblock and the tables to 2 MiB and adds the written word
 * (indices never mapped since they were handed out read as zeros on their
 * first mapping); a 1.1 reader refuses a 1.2 pool (its offsets differ).
 */
#ifndef DAXMAP_FORMAT_H
#define DAXMAP_FORMAT_H

#include <stdint.h>

#define POOL_MAGIC "DAXMAPPL"
#define POOL_MAJOR 1
#define POOL_MINOR 2 /* 1.1: the zap word; 1.2: the layout at 2 MiB, the written word */

#define SB_PRIMARY_OFF 0ULL
#define META_BASE (2ULL << 20)       /* 1.2: backup superblock and tables */
#define SB_BACKUP_OFF META_BASE
#define CHANGE_SEQ_OFF (META_BASE + (4ULL << 10))
#define REGION_TABLE_OFF (META_BASE + (64ULL << 10))
#define SB_BACKUP_OFF_1_1 (64ULL << 10)
#define REGION_TABLE_OFF_1_1 (128ULL << 10)
#define REGION_SLOTS 1024ULL
#define REGION_REC_SIZE 128ULL

/* Where a superblock of this minor version keeps its backup and tables. */
static inline uint64_t layout_backup_off(uint32_t minor)
{
	return minor >= 2 ? SB_BACKUP_OFF : SB_BACKUP_OFF_1_1;
}

static inline uint64_t layout_region_off(uint32_t minor)
{
	return minor >= 2 ? REGION_TABLE_OFF : REGION_TABLE_OFF_1_1;
}

static inline uint64_t layout_extent_off(uint32_t minor)
{
	return layout_region_off(minor) + REGION_SLOTS * REGION_REC_SIZE;
}
#define NAME_MAX_LEN 63 /* bytes, excluding the terminating NUL */

struct pool_sb {
	char magic[8];          /* "DAXMAPPL" */
	uint32_t major;         /* refuse to open if > POOL_MAJOR */
	uint32_t minor;         /* compatible additions */
	uint8_t uuid[16];
	uint64_t dev_size;      /* bytes of the device the pool covers */
	uint64_t extent_size;   /* a multiple of the device alignment */
	uint64_t nextents;      /* dev_size / extent_size, metadata included */
	uint64_t meta_extents;  /* extents [0, meta_extents) are metadata */
	uint64_t region_slots;
	uint64_t region_off;    /* byte offset of the region table */
	uint64_t extent_off;    /* byte offset of the extent table */
	uint64_t format_time;   /* seconds since the epoch */
	uint64_t reserved[19];
	uint64_t checksum;      /* XXH64 (seed 0) of the 256 bytes, this field 0 */
};
_Static_assert(sizeof(struct pool_sb) == 256, "superblock is 256 bytes");

/* Region record word: state (8 bits) | gen (24 bits) | nextents (32 bits). */
enum region_state {
	RS_FREE = 0, /* slot unused */
	RS_LIVE = 1, /* region exists, owns extents 0..nextents-1 */
	RS_ZAP = 2,  /* being released: no new users; finished by reclaim */
};

#define GEN_BITS 24
#define GEN_MASK ((1ULL << GEN_BITS) - 1)
#define IDX_BITS 24
#define IDX_MASK ((1ULL << IDX_BITS) - 1)
#define MAX_REGION_EXTENTS IDX_MASK

static inline uint64_t rw_make(unsigned state, uint64_t gen, uint64_t n)
{
	return ((uint64_t)state << 56) | ((gen & GEN_MASK) << 32) | (n & 0xffffffffULL);
}
static inline unsigned rw_state(uint64_t w) { return (unsigned)(w >> 56); }
static inline uint64_t rw_gen(uint64_t w) { return (w >> 32) & GEN_MASK; }
static inline uint64_t rw_n(uint64_t w) { return w & 0xffffffffULL; }

/*
 * Zap word (1.1): ZW_VALID | gen << 32 | keep: the LIVE region of that gen
 * is releasing its extents [keep, n) (a shrink waiting for references to
 * go). Inert unless valid, of the record's gen, and keep < n.
 */
#define ZW_VALID (1ULL << 63)

static inline uint64_t zw_make(uint64_t gen, uint64_t keep)
{
	return ZW_VALID | ((gen & GEN_MASK) << 32) | (keep & 0xffffffffULL);
}
static inline uint64_t zw_gen(uint64_t z) { return (z >> 32) & GEN_MASK; }
static inline uint64_t zw_keep(uint64_t z) { return z & 0xffffffffULL; }

/*
 * Written word (1.2), the same shape: ZW_VALID | gen << 32 | w: indices
 * [w, n) of the region of that gen were never mapped since they were
 * handed out, and are zeroed before their first mapping. Not valid, or of
 * another gen: every index is written (a region a 1.1 library created).
 */
#define ww_make zw_make
#define ww_gen zw_gen
#define ww_count zw_keep

struct region_rec {
	uint64_t word;        /* the commit word, see rw_make() */
	uint64_t name_sum;    /* XXH64 of name[] seeded with the record's gen */
	uint64_t ctime;       /* creation, seconds since the epoch */
	uint64_t zap;         /* the zap word, see zw_make() (1.1) */
	uint64_t written;     /* the written word, see ww_make() (1.2) */
	uint64_t lsize;       /* the logical size word, see rec_lsize() */
	uint64_t reserved[2];
	char name[64];        /* NUL-terminated, printable, unique */
};
_Static_assert(sizeof(struct region_rec) == REGION_REC_SIZE, "record is 128 bytes");

/*
 * Logical size word (offset 40): 0 never set (what every record held
 * before it existed, and what create writes), else the logical size + 1.
 * Written alone, with one store, flush, drain: failure-atomic, no log.
 */
#define LSIZE_UNSET 0ULL

static inline uint64_t *rec_lsize(struct region_rec *r) { return &r->lsize; }

/*
 * Extent entry: 0 free; EXT_BAD never allocated (bad block);
 * otherwise (slot + 1) << 48 | gen << 24 | index: extent number `index` of
 * the region in `slot` at generation `gen`. An entry counts only if that
 * record is LIVE or ZAP with the same gen and index < nextents; anything
 * else is an orphan of an interrupted operation, cleared by recovery.
 */
#define EXT_FREE 0ULL
#define EXT_BAD (~0ULL)

static inline uint64_t ext_make(uint64_t slot, uint64_t gen, uint64_t idx)
{
	return ((slot + 1) << 48) | ((gen & GEN_MASK) << 24) | (idx & IDX_MASK);
}
static inline uint64_t ext_slot(uint64_t e) { return (e >> 48) - 1; }
static inline uint64_t ext_gen(uint64_t e) { return (e >> 24) & GEN_MASK; }
static inline uint64_t ext_idx(uint64_t e) { return e & IDX_MASK; }

#endif
