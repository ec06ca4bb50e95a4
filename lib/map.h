/* SPDX-License-Identifier: BSD-3-Clause */
/* map.h -- a mapping, as the pool and ref layers see it */
#ifndef DAXMAP_MAP_H
#define DAXMAP_MAP_H

#include <stdbool.h>
#include <stdint.h>

#include <libpmem2.h>

#include "daxmap.h"

struct daxmap_map {
	struct daxmap_dev *dev;
	void *addr;
	uint64_t len;
	uint64_t pagesize;
	enum daxmap_granularity gran;
	bool sync;
	size_t nranges;
	struct daxmap_range *ranges; /* device ranges, in VA order */
	struct pmem2_map *pmap;      /* persistence functions come from here */
	pmem2_persist_fn persist;
	pmem2_flush_fn flush;
	pmem2_drain_fn drain;
	pmem2_memcpy_fn memcpy;
	pmem2_memmove_fn memmove;
	pmem2_memset_fn memset;
	/* called by daxmap_map_delete() before the unmap (an upper layer
	 * stops using the address range) and after it (it releases what it
	 * took for this mapping: references) */
	void (*on_unmap)(void *arg);
	void (*on_delete)(void *arg);
	void *on_delete_arg;
};

/* Validate ranges against the device's alignment and size; total length
 * out. 0 or -errno with a message naming the offending numbers. */
int map_check_ranges(const struct daxmap_dev *dev,
		     const struct daxmap_range *ranges, size_t n,
		     uint64_t *total);

#endif
