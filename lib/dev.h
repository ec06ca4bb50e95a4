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
};

/*
 * Validate the alignment rules for a new device: size and align as the
 * library will use them. Kept apart so the rules are testable on their own.
 */
int dev_check_geometry(const char *path, uint64_t size, uint64_t align);

#endif
