/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * map.h -- what the layers above see of a mapping beyond the public
 * accessors: its device, a range check, and an owner that is told when the
 * mapping goes.
 */
#ifndef DAXMAP_MAP_H
#define DAXMAP_MAP_H

#include <stdbool.h>
#include <stdint.h>

#include "daxmap.h"

/*
 * An upper layer that owns a mapping (a region mapping: region_map.c) and
 * must know when it goes. daxmap_map_delete() calls unmapping() before the
 * unmap (the owner stops handing out the address range) and unmapped()
 * after it (the owner drops what it took for the mapping: references).
 */
struct map_owner {
	void (*unmapping)(struct map_owner *owner);
	void (*unmapped)(struct map_owner *owner);
};

/*
 * The start of every mapping, read inline by the layers above: the pin
 * layer's hot paths (the registration cache's hit) ask for the owner and
 * check a range on every call.
 */
struct map_head {
	void *addr;
	uint64_t len;
	struct daxmap_dev *dev;
	struct map_owner *owner;  /* map_set_owner(); NULL: a plain mapping */
};

static inline const struct map_head *map_head(const struct daxmap_map *map)
{
	return (const struct map_head *)map;
}

/* Give the mapping an owner (once, right after it is made). */
void map_set_owner(struct daxmap_map *map, struct map_owner *owner);

/* Its owner, NULL for a plain mapping. */
static inline struct map_owner *map_owner(const struct daxmap_map *map)
{
	return map_head(map)->owner;
}

/* The device the mapping maps. */
static inline const struct daxmap_dev *map_dev(const struct daxmap_map *map)
{
	return map_head(map)->dev;
}

/*
 * daxmap_map_new_ranges() inside a reservation of reserve bytes of address
 * space (0 or less than the ranges' total: just that total); the part past
 * the ranges stays PROT_NONE for map_place(). counted: the ledgers count
 * every extent it maps, from before the mmap to after the munmap (a region
 * mapping), or a release cannot free them meanwhile: not a foreign holder
 * (dev_va_own()).
 */
int map_new_reserved(struct daxmap_map **mapp, struct daxmap_dev *dev,
		     const struct daxmap_range *ranges, size_t nranges, unsigned flags,
		     uint64_t reserve, bool counted);
/* The mapping's reservation, in bytes (its length or more). */
uint64_t map_reserved(const struct daxmap_map *map);
/*
 * Map ranges, back to back, at byte off of the reservation (a multiple of
 * the device alignment), over the PROT_NONE there (beyond the length, or
 * a part a release turned PROT_NONE); the length grows to cover them.
 * Nothing else of the mapping moves. -EFBIG: past the reservation. On
 * failure the place is PROT_NONE again. Not concurrently with
 * daxmap_map_deep_flush() or another map_place() of the mapping.
 */
int map_place(struct daxmap_map *map, uint64_t off, const struct daxmap_range *ranges,
	      size_t n);

/* Validate ranges against the device's alignment and size; total length
 * out. 0 or -errno with a message naming the offending numbers. */
int map_check_ranges(const struct daxmap_dev *dev,
		     const struct daxmap_range *ranges, size_t n,
		     uint64_t *total);
int map_span_refused(const struct daxmap_map *map, uint64_t off, uint64_t len);

/*
 * Make device ranges read as zeros, durably, before a new owner maps them:
 * it never sees the previous owner's bytes. 0 or -errno.
 */
int map_zero_ranges(struct daxmap_dev *dev, const struct daxmap_range *ranges, size_t n);

/* Are bytes [off, off + len) inside the mapping, len > 0? 0, or -EINVAL
 * with a message naming the numbers. */
static inline int map_check_span(const struct daxmap_map *map, uint64_t off, uint64_t len)
{
	uint64_t n = map_head(map)->len;

	return len == 0 || off >= n || len > n - off ? map_span_refused(map, off, len) : 0;
}

#endif
