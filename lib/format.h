/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * format.h -- the on-media pool format, version 1 (doc/format.md).
 *
 * All integers little-endian. The device is cut into extents of
 * sb.extent_size bytes; extents [0, sb.meta_extents) hold the metadata:
 *
 *   0        primary superblock (struct pool_sb), written once by format
 *   64 KiB   backup superblock (same bytes)
 *   region_off  region table: region_slots records of 128 bytes
 *   extent_off  extent table: one 8-byte entry per extent of the device
 *
 * Every mutable piece is an 8-byte word updated with one store, so no log
 * is needed: a region's record word commits an operation after the extent
 * entries it refers to are durable.
 *
 * 1.1 adds the zap word of a region record (a shrink being released); a
 * 1.0 pool has zero there, which means no release pending.
 */
#ifndef DAXMAP_FORMAT_H
#define DAXMAP_FORMAT_H

#include <stdint.h>

#define POOL_MAGIC "DAXMAPPL"
#define POOL_MAJOR 1
#define POOL_MINOR 1 /* 1.1: the zap word of region records */

#define SB_PRIMARY_OFF 0ULL
#define SB_BACKUP_OFF (64ULL << 10)
#define REGION_TABLE_OFF (128ULL << 10)
#define REGION_SLOTS 1024ULL
#define REGION_REC_SIZE 128ULL
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

struct region_rec {
	uint64_t word;        /* the commit word, see rw_make() */
	uint64_t name_sum;    /* XXH64 of name[] seeded with the record's gen */
	uint64_t ctime;       /* creation, seconds since the epoch */
	uint64_t zap;         /* the zap word, see zw_make() (1.1) */
	uint64_t reserved[4];
	char name[64];        /* NUL-terminated, printable, unique */
};
_Static_assert(sizeof(struct region_rec) == REGION_REC_SIZE, "record is 128 bytes");

/*
 * Logical size word (reserved[1]): 0 never set (what every record held
 * before it existed, and what create writes), else the logical size + 1.
 * Written alone, with one store, flush, drain: failure-atomic, no log.
 */
#define LSIZE_WORD 1
#define LSIZE_UNSET 0ULL

static inline uint64_t *rec_lsize(struct region_rec *r) { return &r->reserved[LSIZE_WORD]; }

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
