/* SPDX-License-Identifier: BSD-3-Clause */
/* ref_region.h -- what the pin layer needs from region mappings */
#ifndef DAXMAP_REF_REGION_H
#define DAXMAP_REF_REGION_H

#include <stddef.h>
#include <stdint.h>

#include "daxmap.h"
#include "ref.h"

/*
 * The pool extents under bytes [off, off + len) of a region mapping, as
 * sorted runs (free() them), and a share of the runtime attachment
 * (ref_detach() it). -EINVAL: not a region mapping or not inside it;
 * -ESTALE: part of the range was released (ZAP).
 */
int region_map_runs(const struct daxmap_map *map, uint64_t off, uint64_t len,
		    struct ref_rt **rt, struct ref_run **runs, size_t *n);
/* A number no other region mapping of this process has (0: not a region
 * mapping): caches key on it, since a mapping's address may be reused. */
uint64_t region_map_serial(const struct daxmap_map *map);
/* The kind of device behind a mapping (the pin rules depend on it). */
enum daxmap_dev_kind region_map_kind(const struct daxmap_map *map);

#endif
