/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * foreign_holders.h -- holders of a region's extents that the ledgers do
 * not count: processes that map the device without the library, and RDMA
 * registrations that outlive a mapping (over a holder's former region
 * mapping, or over a foreign mapping). Releases wait for them; listings
 * show them, with what could not be inspected.
 */
#ifndef DAXMAP_FOREIGN_HOLDERS_H
#define DAXMAP_FOREIGN_HOLDERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daxmap.h"

struct ref_runtime;
struct region_desc;

/* Region extents [from, to) of pool slot/gen. */
struct fh_span {
	uint64_t slot, gen, from, to;
};

struct fh_list {
	struct daxmap_foreign_holder *v;
	size_t n;
};

/*
 * The foreign holders of the spans' extents (under the pool lock, shared
 * or exclusive), into out (free(out->v)). rt may be NULL (no process uses
 * the pool's runtime state: nothing to exclude, no VA record). quick: a
 * release's scan (foreign_scan_quick()), else every process is read. 0 or
 * -errno.
 */
int foreign_holders(struct daxmap_pool *pool, struct ref_runtime *rt, const struct fh_span *spans,
		    size_t nspans, bool quick, struct fh_list *out);

/*
 * Under the pool lock: 0 when nothing outside the ledgers holds extents
 * [from, to) of region d, else -EBUSY naming them (pid, comm, "foreign
 * mapping" or "RDMA MR") and what could not be inspected.
 */
int foreign_busy(struct daxmap_pool *pool, struct ref_runtime *rt, const struct region_desc *d,
		 uint64_t from, uint64_t to);

#endif
