/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio_ledger.h -- the VFIO type1 maps of this boot, per folio of a device.
 *
 * Type1 never unpins device-dax pages (drivers/vfio/vfio_iommu_type1.c
 * put_pfn() skips reserved pages): every MAP_DMA adds one pin per 4 KiB
 * page to each folio it covers, for good, until the device's struct pages
 * are set up again (daxctl disable-device + enable-device rebinds the
 * driver). The ledger is the library's record of those maps: a small file
 * per device in the runtime directory, void after a reboot or a rebind,
 * kept when the last process lets go of a pool (the kernel keeps the pins
 * too).
 */
#ifndef DAXMAP_VFIO_LEDGER_H
#define DAXMAP_VFIO_LEDGER_H

#include <stdint.h>

#include "daxmap.h"

/* n more (n < 0: fewer) type1 maps of device bytes [off, off + len)
 * (whole folios are counted). 0 or -errno with a message. */
int vfio_ledger_add(const struct daxmap_dev *dev, uint64_t off, uint64_t len, int32_t n);

/* The most maps any folio under device bytes [off, off + len) has had
 * this boot, into *maps (0 when there is no record). 0 or -errno. */
int vfio_ledger_max(const struct daxmap_dev *dev, uint64_t off, uint64_t len, uint32_t *maps);

#endif
