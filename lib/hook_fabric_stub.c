/* SPDX-License-Identifier: BSD-3-Clause */
/* hook_fabric_stub.c -- built without libfabric (meson -Dlibfabric=disabled):
 * says so. */
#include <errno.h>

#include "daxmap.h"
#include "error.h"
#include "util.h"

DAXMAP_EXPORT int daxmap_fabric_hook(void)
{
	return daxmap_err(EOPNOTSUPP, "built without libfabric (libfabric-dev): daxmap_fabric_hook() is not available");
}

DAXMAP_EXPORT int daxmap_fabric_hook_domain(struct fid_domain *domain)
{
	(void)domain;
	return daxmap_err(EOPNOTSUPP, "built without libfabric (libfabric-dev): daxmap_fabric_hook_domain() is not available");
}
