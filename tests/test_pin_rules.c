/* SPDX-License-Identifier: BSD-3-Clause */
/* test_pin_rules.c -- the long-term pin rules (which backend may pin which
 * kind of device on which kernel), decided before the kernel is asked */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <daxmap.h>

#include "helpers.h"
#include "lib/pin_rules.h"

struct want {
	enum daxmap_dev_kind kind;
	enum daxmap_pin_backend backend;
	unsigned major, minor;
	int rc;
	const char *says;
};

static const struct want matrix[] = {
	{ DAXMAP_KIND_DEVDAX, DAXMAP_PIN_RDMA, 6, 1, 0, "allowed" },
	{ DAXMAP_KIND_DEVDAX, DAXMAP_PIN_VFIO, 6, 1, 0, "allowed" },
	{ DAXMAP_KIND_DEVDAX, DAXMAP_PIN_IO_URING, 6, 1, -EOPNOTSUPP, "before Linux 6.5" },
	{ DAXMAP_KIND_DEVDAX, DAXMAP_PIN_IO_URING, 6, 4, -EOPNOTSUPP, "before Linux 6.5" },
	{ DAXMAP_KIND_DEVDAX, DAXMAP_PIN_IO_URING, 6, 5, 0, "1 GiB per buffer" },
	{ DAXMAP_KIND_DEVDAX, DAXMAP_PIN_IO_URING, 7, 0, 0, "1 GiB per buffer" },
	{ DAXMAP_KIND_DEVDAX, DAXMAP_PIN_EXTERNAL, 6, 1, 0, "only counts" },
	{ DAXMAP_KIND_FSDAX, DAXMAP_PIN_RDMA, 6, 1, -EOPNOTSUPP, "fsdax" },
	{ DAXMAP_KIND_FSDAX, DAXMAP_PIN_VFIO, 6, 12, -EOPNOTSUPP, "fsdax" },
	{ DAXMAP_KIND_FSDAX, DAXMAP_PIN_IO_URING, 6, 12, -EOPNOTSUPP, "fsdax" },
	{ DAXMAP_KIND_FSDAX, DAXMAP_PIN_EXTERNAL, 6, 1, 0, "only counts" },
	{ DAXMAP_KIND_FILE, DAXMAP_PIN_RDMA, 6, 1, -EOPNOTSUPP, "page-cache" },
	{ DAXMAP_KIND_FILE, DAXMAP_PIN_IO_URING, 6, 12, -EOPNOTSUPP, "page-cache" },
	{ DAXMAP_KIND_DEVDAX, (enum daxmap_pin_backend)0, 6, 1, -EINVAL, "unknown" },
	{ DAXMAP_KIND_DEVDAX, (enum daxmap_pin_backend)9, 6, 1, -EINVAL, "unknown" },
};

Test(pin, rules_matrix)
{
	for (size_t i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
		const struct want *w = &matrix[i];
		const char *rule = NULL;
		int rc = pin_rule(w->kind, w->backend, w->major, w->minor, &rule);

		cr_assert_eq(rc, w->rc, "case %zu: %d", i, rc);
		cr_assert(rule && strstr(rule, w->says), "case %zu: rule '%s'", i, rule);
	}
}

Test(pin, check_names_the_rule_and_the_kernel)
{
	struct daxmap_dev *dev;

	cr_assert_eq(daxmap_dev_open(&dev, make_file(64 * MiB), 0, 0), 0);
	setenv("DAXMAP_KERNEL_VERSION", "6.1", 1);
	cr_assert_eq(daxmap_pin_check(dev, DAXMAP_PIN_RDMA), -EOPNOTSUPP);
	cr_assert(strstr(daxmap_errormsg(), "rdma pin of") && strstr(daxmap_errormsg(), "(file, Linux 6.1)") &&
		  strstr(daxmap_errormsg(), "page-cache"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pin_check(dev, DAXMAP_PIN_EXTERNAL), 0);
	cr_assert(strstr(daxmap_pin_rule(dev, DAXMAP_PIN_IO_URING), "page-cache"));
	cr_assert_eq(daxmap_pin_check(NULL, DAXMAP_PIN_RDMA), -EINVAL);
	cr_assert_eq(daxmap_pin_check(dev, (enum daxmap_pin_backend)42), -EINVAL);
	cr_assert_str_eq(daxmap_pin_rule(NULL, DAXMAP_PIN_RDMA), "no device given");
	cr_assert_str_eq(daxmap_pin_rule(dev, (enum daxmap_pin_backend)42), "unknown pin backend");
	unsetenv("DAXMAP_KERNEL_VERSION");
	/* the running kernel is read when not overridden */
	cr_assert_eq(daxmap_pin_check(dev, DAXMAP_PIN_EXTERNAL), 0);
	daxmap_dev_close(dev);
}
