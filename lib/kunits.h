/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kunits.h -- the kernel's own units: the _refcount and _pincount a DAX
 * folio shows for a given set of holders, on a given kernel. A pure
 * computation from the kernel facts measured in the rig (doc/pins.md,
 * "What the kernel counts"), testable without a device.
 */
#ifndef DAXMAP_KUNITS_H
#define DAXMAP_KUNITS_H

#include <stdint.h>

#include "daxmap.h"

/* How the running kernel counts DAX folios. */
enum kunits_sem {
	/* before Linux 6.15: a DAX folio idles at 1 and mappings do not
	 * count in it */
	KUNITS_OLD = 0,
	/* from 6.15 ("fs/dax: Fix ZONE_DEVICE page reference counts"):
	 * every mapping counts 1, fsdax folios idle at 0 */
	KUNITS_NEW = 1,
};

enum kunits_sem kunits_sem_of(unsigned major, unsigned minor);
/* "old (before 6.15)" or "new (6.15 on)" */
const char *kunits_sem_name(enum kunits_sem sem);

/*
 * What holds one folio, in the library's records: each count is of
 * holders whose mapping or pin covers the folio.
 */
struct kunits_tally {
	uint32_t maps;     /* mappings, in any process (faulted in) */
	uint32_t rdma;     /* RDMA MRs (long-term pins) */
	uint32_t rdma_odp; /* on-demand-paging MRs: no page reference */
	uint32_t uring;    /* io_uring fixed buffers */
	uint32_t vfio;     /* VFIO type1 maps of this boot, live or unmapped */
	uint32_t external; /* pins the application made itself: unknown */
};

struct kunits_counts {
	int64_t refcount; /* the folio head's _refcount */
	int64_t pincount; /* the folio's _pincount */
	int exact;        /* 0: external pins, whose kernel effect is unknown */
};

/*
 * The counts the kernel shows for a folio of folio_size bytes (the device
 * alignment: 2 MiB or 1 GiB) of memory of kind (an emulated device counts
 * as the devdax device it stands for). 0, or -EINVAL (folio_size not a
 * multiple of 4 KiB, unknown kind).
 */
int kunits_expect(enum kunits_sem sem, enum daxmap_dev_kind kind, uint64_t folio_size,
		  const struct kunits_tally *t, struct kunits_counts *out);

/* The kernel's _refcount is an int: a pin that would take it past this
 * overflows it (GUP then refuses the folio for good). */
#define KUNITS_REFCOUNT_MAX INT32_MAX

/* What one long-term pin of a whole folio adds to each count: one per
 * 4 KiB page (mm/gup.c try_grab_folio(): GUP_PIN_COUNTING_BIAS is for
 * small folios only). */
static inline uint64_t kunits_page_pins(uint64_t folio_size)
{
	return folio_size / 4096;
}

#endif
