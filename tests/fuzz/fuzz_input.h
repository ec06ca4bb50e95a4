/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fuzz_input.h -- the input format of fuzz_pool, shared with make-corpus.
 *
 * The metadata area is mostly zeros (gaps before the backup superblock and
 * the tables, 1024 region slots of which a pool uses a few), so a raw image
 * would make inputs of megabytes where almost every mutation hits a byte no
 * parser reads. The input is therefore a compact description of the image; the
 * harness expands it into a zeroed buffer of exactly the metadata length:
 *
 *   off  size
 *   0    2     device extents: FZ_NMIN + (le16 % FZ_NSPAN), of 4 KiB
 *   2    1     flags (FZ_F_*)
 *   3    1     device tail: extra bytes past the last extent, * 8
 *   4    2     region records given: le16 % (REGION_SLOTS + 1)
 *   6    2     unused
 *   8    64    FZ_NOPS operations of 8 bytes (struct fz_op), kind 0 ends
 *   72   256   primary superblock   -> offset 0
 *   328  256   backup superblock    -> offset 2 MiB (FZ_F_LEGACY: 64 KiB)
 *   584  k*128 region records       -> the region table, slots 0..k-1
 *   ...        the rest             -> the extent table (cut at the area's end)
 *
 * The tables sit where the 1.2 layout puts them, or, with FZ_F_LEGACY,
 * where 1.1 did.
 *
 * Anything short is zero, as on a freshly zeroed device.
 */
#ifndef FUZZ_INPUT_H
#define FUZZ_INPUT_H

#include <stdint.h>

#include "format.h"

#define FZ_ALIGN 4096ULL
#define FZ_NMIN 563U  /* the smallest device pool_layout accepts at 4 KiB */
#define FZ_NSPAN 2048U
#define FZ_NOPS 8
#define FZ_HDR 8
#define FZ_OPS_OFF FZ_HDR
#define FZ_SB_OFF (FZ_OPS_OFF + FZ_NOPS * 8)
#define FZ_BSB_OFF (FZ_SB_OFF + 256)
#define FZ_RECS_OFF (FZ_BSB_OFF + 256)

enum {
	FZ_F_SEAL_P = 1 << 0,   /* recompute the primary's checksum */
	FZ_F_SEAL_B = 1 << 1,   /* recompute the backup's checksum */
	FZ_F_B_IS_P = 1 << 2,   /* backup := primary (before sealing) */
	FZ_F_LAYOUT = 1 << 3,   /* primary := pool_layout() of the device, sealed */
	FZ_F_RDONLY = 1 << 4,   /* open read-only (must write nothing), no ops */
	FZ_F_SEAL_N = 1 << 5,   /* recompute the name sum of each record given */
	FZ_F_LEGACY = 1 << 6,   /* the 1.1 layout (with FZ_F_LAYOUT: a 1.1 pool) */
};

/* One region operation. */
struct fz_op {
	uint8_t kind;  /* FZ_OP_* (mod FZ_OP_COUNT) */
	uint8_t name;  /* bit 7: synthetic name id; else index of a live region */
	uint8_t mode;  /* bit 0: size is raw bytes; bit 1: size near UINT64_MAX */
	uint8_t core;  /* bit 0: run by a second core on the same media, as
			* another process would */
	uint8_t size[4]; /* le32: extents (mod nextents + 2), or bytes */
};
_Static_assert(sizeof(struct fz_op) == 8, "op is 8 bytes");

enum { FZ_OP_END, FZ_OP_CREATE, FZ_OP_RESIZE, FZ_OP_REMOVE, FZ_OP_SCAN,
       FZ_OP_REOPEN, FZ_OP_COUNT };

#define FZ_NAME_SYN 0x80

#endif
