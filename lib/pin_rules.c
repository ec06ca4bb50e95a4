/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pin_rules.c -- which long-term pins the kernel allows (SPEC §3, §4),
 * decided before it is asked: backend x backing kind x kernel version.
 * Each refusal names its rule, so a user knows what to change.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "daxmap.h"
#include "dev.h"
#include "error.h"
#include "pin_rules.h"
#include "util.h"

static unsigned k_major, k_minor;
static int k_err;             /* uname()'s errno, EINVAL: unparsable */
static char k_release[65];
static pthread_once_t k_once = PTHREAD_ONCE_INIT;

/* The running kernel does not change: read it once (uname() was most of
 * the library's own cost of a pin). */
static void read_kernel(void)
{
	struct utsname u;

	if (uname(&u) != 0) {
		k_err = errno;
		return;
	}
	snprintf(k_release, sizeof(k_release), "%s", u.release);
	if (sscanf(u.release, "%u.%u", &k_major, &k_minor) != 2)
		k_err = EINVAL;
}

int kernel_version(unsigned *major, unsigned *minor)
{
	const char *force = getenv("DAXMAP_KERNEL_VERSION"); /* tests */

	if (force && sscanf(force, "%u.%u", major, minor) == 2)
		return 0;
	pthread_once(&k_once, read_kernel);
	if (k_err == EINVAL)
		return daxmap_err(EINVAL, "kernel release '%s' does not start with MAJOR.MINOR; set DAXMAP_KERNEL_VERSION",
				  k_release);
	if (k_err)
		return daxmap_err(k_err, "uname: %s", strerror(k_err));
	*major = k_major;
	*minor = k_minor;
	return 0;
}

int pin_rule(enum daxmap_dev_kind kind, enum daxmap_pin_backend backend,
	     unsigned major, unsigned minor, const char **rule)
{
	bool ge_6_5 = major > 6 || (major == 6 && minor >= 5);

	if (backend < DAXMAP_PIN_EXTERNAL || backend > DAXMAP_PIN_IO_URING) {
		*rule = "unknown pin backend";
		return -EINVAL;
	}
	if (backend == DAXMAP_PIN_EXTERNAL) {
		*rule = "external pins are made by the application: the library only counts them";
		return 0;
	}
	switch (kind) {
	case DAXMAP_KIND_FSDAX:
		/* mm/gup.c check_vma_flags(): FOLL_LONGTERM && vma_is_fsdax() */
		*rule = "FOLL_LONGTERM is refused for fsdax: the filesystem must stay free to move or free the blocks (mm/gup.c, vma_is_fsdax)";
		return -EOPNOTSUPP;
	case DAXMAP_KIND_FILE:
		*rule = "long-term pins of page-cache file memory are refused: writeback cannot track what a device writes there (mm/gup.c, FOLL_LONGTERM on file-backed shared mappings)";
		return -EOPNOTSUPP;
	case DAXMAP_KIND_DEVDAX:
		break;
	}
	if (backend == DAXMAP_PIN_IO_URING && !ge_6_5) {
		/* io_uring/rsrc.c io_sqe_buffer_register(): any vm_file refused
		 * until 6.5 moved the decision to GUP */
		*rule = "io_uring refuses fixed buffers in file-backed mappings (devdax included) before Linux 6.5 (io_uring/rsrc.c)";
		return -EOPNOTSUPP;
	}
	*rule = backend == DAXMAP_PIN_IO_URING
		? "io_uring fixed buffers on devdax: allowed from Linux 6.5 (GUP decides; device-dax is not dirty-tracked), 1 GiB per buffer at most"
		: backend == DAXMAP_PIN_VFIO
		? "VFIO type1 pins devdax with FOLL_LONGTERM: allowed (doc/pins.md says how type1 accounts these pages)"
		: "FOLL_LONGTERM on device-dax: allowed (its pages are never moved or reclaimed)";
	return 0;
}

DAXMAP_EXPORT int daxmap_pin_check(const struct daxmap_dev *dev,
				   enum daxmap_pin_backend backend)
{
	unsigned major, minor;
	const char *rule;
	int rc;

	if (!dev)
		return daxmap_err(EINVAL, "daxmap_pin_check: dev is required");
	if ((rc = kernel_version(&major, &minor)))
		return rc;
	rc = pin_rule(dev->kind, backend, major, minor, &rule);
	if (rc)
		return daxmap_err(-rc, "%s pin of %s (%s, Linux %u.%u) refused: %s",
				  daxmap_pin_backend_name(backend), dev->path,
				  daxmap_kind_name(dev->kind), major, minor, rule);
	return 0;
}

DAXMAP_EXPORT const char *daxmap_pin_rule(const struct daxmap_dev *dev,
					  enum daxmap_pin_backend backend)
{
	unsigned major, minor;
	const char *rule = dev ? "cannot read the kernel version" : "no device given";

	if (dev && kernel_version(&major, &minor) == 0)
		pin_rule(dev->kind, backend, major, minor, &rule);
	return rule;
}
