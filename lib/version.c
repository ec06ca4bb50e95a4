/* SPDX-License-Identifier: BSD-3-Clause */
/* version.c -- the version of the library that runs */
#include "daxmap.h"
#include "util.h"

#define STR_(x) #x
#define STR(x) STR_(x)

DAXMAP_EXPORT const char *daxmap_version(unsigned *major, unsigned *minor, unsigned *patch)
{
	/* the header this file is built with is the library's own */
	if (major)
		*major = DAXMAP_VERSION_MAJOR;
	if (minor)
		*minor = DAXMAP_VERSION_MINOR;
	if (patch)
		*patch = DAXMAP_VERSION_PATCH;
	return STR(DAXMAP_VERSION_MAJOR) "." STR(DAXMAP_VERSION_MINOR) "." STR(DAXMAP_VERSION_PATCH);
}
