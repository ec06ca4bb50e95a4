/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_version.c -- the version macros of <daxmap.h>, daxmap_version() and
 * daxmapctl --version agree with the project's version (meson.build), which
 * the build passes as PROJECT_VERSION.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <daxmap.h>

#include "helpers.h"

#ifndef PROJECT_VERSION
#error "built without -DPROJECT_VERSION"
#endif

/* the check macro works in #if, as a user's feature test would use it */
#if !DAXMAP_CHECK_VERSION(0, 2, 0) || DAXMAP_CHECK_VERSION(255, 0, 0)
#error "DAXMAP_CHECK_VERSION is wrong in #if"
#endif

Test(version, header_macros_are_the_project_version)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%d.%d.%d", DAXMAP_VERSION_MAJOR, DAXMAP_VERSION_MINOR,
		 DAXMAP_VERSION_PATCH);
	cr_assert_str_eq(buf, PROJECT_VERSION, "daxmap.h says %s, meson.build %s", buf,
			 PROJECT_VERSION);
	cr_assert_eq(DAXMAP_VERSION_NUMBER, DAXMAP_VERSION_ENCODE(DAXMAP_VERSION_MAJOR,
		     DAXMAP_VERSION_MINOR, DAXMAP_VERSION_PATCH));
}

Test(version, encode_orders_versions)
{
	cr_assert_lt(DAXMAP_VERSION_ENCODE(0, 1, 255), DAXMAP_VERSION_ENCODE(0, 2, 0));
	cr_assert_lt(DAXMAP_VERSION_ENCODE(0, 255, 255), DAXMAP_VERSION_ENCODE(1, 0, 0));
	cr_assert(DAXMAP_CHECK_VERSION(DAXMAP_VERSION_MAJOR, DAXMAP_VERSION_MINOR,
				       DAXMAP_VERSION_PATCH));
	cr_assert(DAXMAP_CHECK_VERSION(0, 1, 0));
	cr_assert_not(DAXMAP_CHECK_VERSION(DAXMAP_VERSION_MAJOR, DAXMAP_VERSION_MINOR,
					   DAXMAP_VERSION_PATCH + 1));
}

Test(version, library_reports_its_version)
{
	unsigned major = 99, minor = 99, patch = 99;
	const char *s = daxmap_version(&major, &minor, &patch);

	cr_assert_str_eq(s, PROJECT_VERSION);
	cr_assert_eq(major, DAXMAP_VERSION_MAJOR);
	cr_assert_eq(minor, DAXMAP_VERSION_MINOR);
	cr_assert_eq(patch, DAXMAP_VERSION_PATCH);
	/* any of the numbers may be left out */
	cr_assert_str_eq(daxmap_version(NULL, NULL, NULL), PROJECT_VERSION);
	minor = 99;
	cr_assert_str_eq(daxmap_version(NULL, &minor, NULL), PROJECT_VERSION);
	cr_assert_eq(minor, DAXMAP_VERSION_MINOR);
}

Test(version, daxmapctl_prints_the_library_version)
{
	const char *ctl = getenv("DAXMAPCTL");
	char cmd[4096], *out;

	cr_assert_not_null(ctl);
	snprintf(cmd, sizeof(cmd), "%s --version", ctl);
	cr_assert_eq(run_capture(cmd, &out), 0);
	cr_assert_str_eq(out, PROJECT_VERSION "\n");
	free(out);
}
