/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pin_rules.c -- which long-term pins the kernel allows, decided before it
 * is asked: backend x backing kind x kernel version. Each refusal names
 * its rule, so a user knows what to change.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daxmap.h"
#include "map.h"
#include "error.h"
#include "pin_rules.h"
#include "util.h"

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
	if ((rc = kernel_version(&major, &minor, NULL)))
		return rc;
	rc = pin_rule(daxmap_dev_kind(dev), backend, major, minor, &rule);
	if (rc)
		return daxmap_err(-rc, "%s pin of %s (%s, Linux %u.%u) refused: %s",
				  daxmap_pin_backend_name(backend), daxmap_dev_path(dev),
				  daxmap_kind_name(daxmap_dev_kind(dev)), major, minor, rule);
	return 0;
}

DAXMAP_EXPORT const char *daxmap_pin_rule(const struct daxmap_dev *dev,
					  enum daxmap_pin_backend backend)
{
	unsigned major, minor;
	const char *rule = dev ? "cannot read the kernel version" : "no device given";

	if (dev && kernel_version(&major, &minor, NULL) == 0)
		pin_rule(daxmap_dev_kind(dev), backend, major, minor, &rule);
	return rule;
}

int pin_check_args(const struct daxmap_map *map, uint64_t off, uint64_t len,
		   enum daxmap_pin_backend backend)
{
	int rc;

	if (backend != DAXMAP_PIN_EXTERNAL && (rc = daxmap_pin_check(map_dev(map), backend)))
		return rc;
	return map_check_span(map, off, len);
}

int pin_begin(struct daxmap_pin **pinp, bool present, const char *fn, const char *required,
	      const struct daxmap_map *map, uint64_t off, uint64_t len,
	      enum daxmap_pin_backend backend)
{
	if (pinp)
		*pinp = NULL;
	if (!present)
		return daxmap_err(EINVAL, "%s: %s are required", fn, required);
	return pin_check_args(map, off, len, backend);
}
