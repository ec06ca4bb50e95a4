/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kstate.h -- what the kernel should show for each extent now: the
 * library's records (live holders of the runtime state, the VFIO ledger)
 * turned into the folio counts of the running kernel (kunits.h).
 */
#ifndef DAXMAP_KSTATE_H
#define DAXMAP_KSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "daxmap.h"
#include "kunits.h"
#include "ref.h"

/* The live holders among hs[0, n) covering extent x, as a tally (vfio: the
 * live VFIO pins; the ledger is added by kstate_expect()). */
void kstate_tally(const struct ref_holding *hs, size_t n, uint64_t x, struct kunits_tally *t);

/*
 * The counts each folio of extent x (device bytes [x * es, (x + 1) * es))
 * of dev should show on the kernel the rules go by, for the live tally t
 * (its vfio becomes the maps of this boot: *vfio_maps, the ledger's, at
 * least the live pins). 0 or -errno.
 */
int kstate_expect(const struct daxmap_dev *dev, uint64_t es, uint64_t x, struct kunits_tally *t,
		  uint32_t *vfio_maps, struct kunits_counts *out);

/*
 * Before a VFIO type1 map of extents runs[0, n) of dev: 0 when one more
 * map leaves every folio's _refcount within the kernel's int, else
 * -EOVERFLOW naming the extent and how to reset. Holders from rt.
 */
int kstate_vfio_room(const struct daxmap_dev *dev, struct ref_runtime *rt, uint64_t es,
		     const struct ext_run *runs, size_t n);

/*
 * The VFIO pin layer's two calls, for bytes [off, off + len) of a region
 * mapping: kstate_vfio_check() before MAP_DMA (kstate_vfio_room() for the
 * extents under it), kstate_vfio_record() to count n maps (n < 0: undo)
 * of the folios under it in the ledger. 0 or -errno.
 */
int kstate_vfio_check(const struct daxmap_map *map, uint64_t off, uint64_t len);
int kstate_vfio_record(const struct daxmap_map *map, uint64_t off, uint64_t len, int32_t n);

#endif
