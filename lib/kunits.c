/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kunits.c -- the _refcount and _pincount a DAX folio shows, computed from
 * what holds it (kunits.h). Each rule is a fact measured in the rig on
 * Debian's 6.1, 6.12 and 7.3 by reading the folio's struct page:
 *
 * - idle: a devdax folio is 1 on every kernel (drivers/dax/device.c keeps
 *   the reference it took at init); an fsdax folio is 1 before 6.15 and 0
 *   from 6.15, where fsdax pages are free at zero (fs/dax.c).
 * - a mapping adds 1 per folio from 6.15 (fs/dax.c dax_insert_pfn_pmd()
 *   takes a folio reference per mapping); before, none.
 * - a long-term GUP pin of a large folio adds 1 to _refcount and 1 to
 *   _pincount per 4 KiB page pinned (mm/gup.c try_grab_folio()): an RDMA MR
 *   (ib_umem_get()) and a VFIO type1 MAP_DMA (vaddr_get_pfns()).
 * - io_uring keeps one pin per folio of a buffer (io_uring/rsrc.c
 *   io_coalesce_buffer() gives back all but one).
 * - type1 never unpins devdax pages (drivers/vfio/vfio_iommu_type1.c
 *   put_pfn() skips reserved pages): a map counts for good, until the
 *   device is re-enabled.
 * - an on-demand-paging MR mirrors the page tables (mmu notifiers) and
 *   takes no page reference.
 */
#include <errno.h>

#include "kunits.h"

enum kunits_sem kunits_sem_of(unsigned major, unsigned minor)
{
	return major > 6 || (major == 6 && minor >= 15) ? KUNITS_NEW : KUNITS_OLD;
}

const char *kunits_sem_name(enum kunits_sem sem)
{
	return sem == KUNITS_NEW ? "new (6.15 on)" : "old (before 6.15)";
}

int kunits_expect(enum kunits_sem sem, enum daxmap_dev_kind kind, uint64_t folio_size,
		  const struct kunits_tally *t, struct kunits_counts *out)
{
	int64_t pages = (int64_t)kunits_page_pins(folio_size);
	int64_t long_term;

	if (!folio_size || folio_size % 4096 || !t || !out)
		return -EINVAL;
	switch (kind) {
	case DAXMAP_KIND_DEVDAX:
	case DAXMAP_KIND_FILE:
		out->refcount = 1;
		break;
	case DAXMAP_KIND_FSDAX:
		out->refcount = sem == KUNITS_NEW ? 0 : 1;
		break;
	default:
		return -EINVAL;
	}
	if (sem == KUNITS_NEW)
		out->refcount += t->maps;
	long_term = pages * ((int64_t)t->rdma + t->vfio) + t->uring;
	out->refcount += long_term;
	out->pincount = long_term;
	out->exact = t->external == 0;
	return 0;
}
