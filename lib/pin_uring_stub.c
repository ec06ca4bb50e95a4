/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pin_uring_stub.c -- daxmap_pin_io_uring() in a library built without
 * liburing (meson -During=disabled, or liburing-dev missing): the symbol
 * exists, so programs link the same way, and says why it cannot pin.
 */
#include <errno.h>

#include "daxmap.h"
#include "error.h"
#include "util.h"

DAXMAP_EXPORT int daxmap_pin_io_uring(struct daxmap_pin **pinp, struct daxmap_map *map,
				      uint64_t offset, uint64_t len, struct io_uring *ring,
				      unsigned index, daxmap_revoke_fn revoke, void *arg)
{
	(void)map;
	(void)offset;
	(void)len;
	(void)ring;
	(void)index;
	(void)revoke;
	(void)arg;
	if (pinp)
		*pinp = NULL;
	return daxmap_err(EOPNOTSUPP,
			  "io_uring pins are not available: libdaxmap was built without liburing "
			  "(install liburing-dev and build with -During=enabled)");
}
