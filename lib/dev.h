/* SPDX-License-Identifier: BSD-3-Clause */
/* dev.h -- an opened device, as the map layer sees it */
#ifndef DAXMAP_DEV_H
#define DAXMAP_DEV_H

#include <stdbool.h>
#include <stdint.h>

#include "daxmap.h"

struct pmem2_source;

struct daxmap_dev {
	char *path;
	int fd;                   /* -1 when opened with DAXMAP_DEV_QUERY */
	unsigned flags;
	enum daxmap_dev_kind kind;
	uint64_t size;
	uint64_t align;
	int numa_node;
	int region_id;            /* dax region (devdax), -1 otherwise */
	bool nvdimm;              /* devdax carved from an NVDIMM namespace */
	char name[32];            /* "dax0.0" for devdax, "" otherwise */
	struct pmem2_source *src; /* for libpmem2 (persist fns, deep flush) */
	bool unaligned_placement; /* the kernel placed a mapping off alignment
				   * (map.c reserves first from then on) */
	bool have_ident;          /* fd's inode, read once at the open: */
	uint64_t st_dev, st_ino, st_rdev; /* foreign.c looks for it in maps */
};

/*
 * Validate the alignment rules for a new device: size and align as the
 * library will use them. Kept apart so the rules are testable on their own.
 */
int dev_check_geometry(const char *path, uint64_t size, uint64_t align);

/*
 * The library's own descriptors of devices (dev->fd, the pool lock's): a
 * release's scan of this process (foreign_watch.c) does not take them for
 * the application's. Past 64 at once the rest count as the application's
 * (more scanning, nothing missed).
 */
void dev_fd_own(int fd);
void dev_fd_disown(int fd);
bool dev_fd_is_own(int fd);
/* Counts the library's mappings of devices that the ledgers do not count
 * (map.c: daxmap_map_new()): after one, a release reads this process's own
 * maps again. */
void dev_mapping_made(void);
uint64_t dev_mappings_made(void);
/*
 * The address ranges of this process's mappings whose extents the ledgers
 * count (region mappings, held by a reference taken before the mmap; the
 * zeroing of new extents, under the pool lock a release's free takes):
 * never a foreign holder, so a release does not read this process's maps
 * for them. A fork()ed child starts with none (region mappings are
 * MADV_DONTFORK).
 */
void dev_va_own(const void *addr, uint64_t len);
void dev_va_disown(const void *addr, uint64_t len);
/* Is [start, end) inside one of them? */
bool dev_va_is_own(uint64_t start, uint64_t end);

#endif
