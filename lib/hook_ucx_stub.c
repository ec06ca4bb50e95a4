/* SPDX-License-Identifier: BSD-3-Clause */
/* hook_ucx_stub.c -- built without UCX (meson -Ducx=disabled): says so. */
#include <errno.h>

#include "daxmap.h"
#include "error.h"
#include "util.h"

DAXMAP_EXPORT int daxmap_ucx_hook(struct ucp_context *context, unsigned flags)
{
	(void)context;
	(void)flags;
	return daxmap_err(EOPNOTSUPP, "built without UCX (libucx-dev): daxmap_ucx_hook() is not available");
}

DAXMAP_EXPORT void daxmap_ucx_unhook(void)
{
}
