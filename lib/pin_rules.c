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

/*
 * The rules, from what Debian's 6.1, 6.12 and 7.3 did in the rig
 * (doc/pins.md has the table per kernel) and the kernel sources:
 * - mm/gup.c check_vma_flags(): FOLL_LONGTERM is refused for fsdax
 *   (vma_is_fsdax()) and, from 6.5, for page-cache files that need dirty
 *   tracking; allowed for device-dax. RDMA MRs, VFIO type1 and io_uring
 *   fixed buffers all pin with FOLL_LONGTERM.
 * - io_uring/rsrc.c: before 6.5 io_sqe_buffer_register() refuses every
 *   file-backed buffer itself (devdax included).
 * - on-demand paging (IBV_ACCESS_ON_DEMAND) takes no pin at all
 *   (drivers/infiniband/core/umem_odp.c mirrors the page tables through
 *   mmu notifiers): 7.3's rxe registers ODP MRs on devdax and fsdax. Where
 *   it was not measured the kernel decides.
 */
static bool at_least(unsigned major, unsigned minor, unsigned m, unsigned n)
{
	return major > m || (major == m && minor >= n);
}

static int odp_rule(enum daxmap_dev_kind kind, unsigned major, unsigned minor, const char **rule)
{
	if (kind != DAXMAP_KIND_FILE && at_least(major, minor, 7, 3)) {
		*rule = "on-demand paging takes no long-term pin (drivers/infiniband/core/umem_odp.c): "
			"allowed on device-dax and fsdax; the RDMA device must offer ODP "
			"(ibv_query_device_ex(), checked at registration)";
		return 0;
	}
	*rule = "on-demand paging takes no long-term pin, but it was not measured on this kernel "
		"and kind of memory: the kernel decides (the RDMA device must offer ODP, "
		"checked at registration)";
	return PIN_KERNEL_DECIDES;
}

int pin_rule(enum daxmap_dev_kind kind, enum daxmap_pin_backend backend,
	     unsigned major, unsigned minor, const char **rule)
{
	if (backend < DAXMAP_PIN_EXTERNAL || backend > DAXMAP_PIN_RDMA_ODP) {
		*rule = "unknown pin backend";
		return -EINVAL;
	}
	if (backend == DAXMAP_PIN_EXTERNAL) {
		*rule = "external pins are made by the application: the library only counts them";
		return 0;
	}
	if (backend == DAXMAP_PIN_RDMA_ODP)
		return odp_rule(kind, major, minor, rule);
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
	default:
		*rule = "unknown kind of memory";
		return -EINVAL;
	}
	if (backend == DAXMAP_PIN_IO_URING && !at_least(major, minor, 6, 5)) {
		/* io_uring/rsrc.c io_sqe_buffer_register(): any vm_file refused
		 * until 6.5 moved the decision to GUP */
		*rule = "io_uring refuses fixed buffers in file-backed mappings (devdax included) before Linux 6.5 (io_uring/rsrc.c)";
		return -EOPNOTSUPP;
	}
	*rule = backend == DAXMAP_PIN_IO_URING
		? "io_uring fixed buffers on devdax: allowed from Linux 6.5 (GUP decides; device-dax is not dirty-tracked); one pin per folio"
		: backend == DAXMAP_PIN_VFIO
		? "VFIO type1 pins devdax with FOLL_LONGTERM: allowed; type1 never gives the pages back (doc/pins.md), so each map counts in the folio until the device is re-enabled"
		: "FOLL_LONGTERM on device-dax: allowed (its pages are never moved or reclaimed)";
	return 0;
}

int pin_uring_len_rule(unsigned major, unsigned minor, const char **rule)
{
	if (at_least(major, minor, 7, 3)) {
		*rule = "io_uring fixed buffers over 1 GiB: taken (seen on 7.3: a 2 GiB buffer of a 1 GiB-aligned devdax, READ_FIXED works)";
		return 0;
	}
	if (!at_least(major, minor, 6, 13)) {
		/* io_uring/rsrc.c io_buffer_validate(): ulen > SZ_1G is -EFAULT */
		*rule = "io_uring fixed buffers hold 1 GiB at most on this kernel (io_uring/rsrc.c io_buffer_validate(): EFAULT above, seen on 6.1 and 6.12)";
		return -EINVAL;
	}
	*rule = "io_uring fixed buffers over 1 GiB: 6.12 refuses them and 7.3 takes them; on this kernel the kernel decides";
	return PIN_KERNEL_DECIDES;
}

/* The rule for dev on the kernel the rules go by; *major, *minor get it. */
static int dev_rule(const struct daxmap_dev *dev, enum daxmap_pin_backend backend, uint64_t len,
		    unsigned *major, unsigned *minor, const char **rule)
{
	int rc, lrc;

	if ((rc = kernel_version(major, minor, NULL)) < 0)
		return rc;
	rc = pin_rule(daxmap_dev_kind(dev), backend, *major, *minor, rule);
	if (rc < 0 || backend != DAXMAP_PIN_IO_URING || len <= (1ULL << 30))
		return rc;
	lrc = pin_uring_len_rule(*major, *minor, rule);
	return lrc ? lrc : rc;
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
	rc = dev_rule(dev, backend, 0, &major, &minor, &rule);
	if (rc < 0)
		return daxmap_err(-rc, "%s pin of %s (%s, Linux %u.%u) refused: %s",
				  daxmap_pin_backend_name(backend), daxmap_dev_path(dev),
				  daxmap_kind_name(daxmap_dev_kind(dev)), major, minor, rule);
	return 0;
}

DAXMAP_EXPORT int daxmap_pin_decision(const struct daxmap_dev *dev,
				      enum daxmap_pin_backend backend, uint64_t len,
				      const char **rule)
{
	unsigned major, minor;
	const char *r = "no device given";
	int rc;

	if (rule)
		*rule = r;
	if (!dev)
		return daxmap_err(EINVAL, "daxmap_pin_decision: dev is required");
	if (backend < DAXMAP_PIN_EXTERNAL || backend > DAXMAP_PIN_RDMA_ODP) {
		if (rule)
			*rule = "unknown pin backend";
		return daxmap_err(EINVAL, "unknown pin backend %d", (int)backend);
	}
	if ((rc = kernel_version(&major, &minor, NULL))) {
		if (rule)
			*rule = "cannot read the kernel version";
		return rc;
	}
	rc = dev_rule(dev, backend, len, &major, &minor, &r);
	if (rule)
		*rule = r;
	if (rc < 0)
		return DAXMAP_PIN_REFUSED;
	return rc == PIN_KERNEL_DECIDES ? DAXMAP_PIN_KERNEL_DECIDES : DAXMAP_PIN_ALLOWED;
}

DAXMAP_EXPORT const char *daxmap_pin_rule(const struct daxmap_dev *dev,
					  enum daxmap_pin_backend backend)
{
	const char *rule = "no device given";

	if (dev)
		daxmap_pin_decision(dev, backend, 0, &rule);
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
