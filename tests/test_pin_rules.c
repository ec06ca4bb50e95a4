/* SPDX-License-Identifier: BSD-3-Clause */
/* test_pin_rules.c -- the long-term pin rules (which backend may pin which
 * kind of device on which kernel), decided before the kernel is asked */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <daxmap.h>

#include "helpers.h"
#include "lib/pin_rules.h"
#include "pin_table.h"

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
	{ DAXMAP_KIND_DEVDAX, DAXMAP_PIN_IO_URING, 6, 5, 0, "allowed from Linux 6.5" },
	{ DAXMAP_KIND_DEVDAX, DAXMAP_PIN_IO_URING, 7, 0, 0, "allowed from Linux 6.5" },
	{ DAXMAP_KIND_DEVDAX, DAXMAP_PIN_VFIO, 7, 3, 0, "never gives the pages back" },
	{ DAXMAP_KIND_DEVDAX, DAXMAP_PIN_RDMA_ODP, 6, 1, PIN_KERNEL_DECIDES, "the kernel decides" },
	{ DAXMAP_KIND_DEVDAX, DAXMAP_PIN_RDMA_ODP, 7, 3, 0, "no long-term pin" },
	{ DAXMAP_KIND_FSDAX, DAXMAP_PIN_RDMA_ODP, 7, 3, 0, "fsdax" },
	{ DAXMAP_KIND_FSDAX, DAXMAP_PIN_RDMA_ODP, 6, 12, PIN_KERNEL_DECIDES, "the kernel decides" },
	{ DAXMAP_KIND_FILE, DAXMAP_PIN_RDMA_ODP, 7, 3, PIN_KERNEL_DECIDES, "not measured" },
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

/* The rules are the tables of doc/pins.md, for every kernel there and
 * every kind of memory. */
Test(pin, rules_are_the_documented_tables)
{
	static const struct {
		const char *row;
		enum daxmap_pin_backend backend;
		int over_1g;
	} rows[] = {
		{ "rdma", DAXMAP_PIN_RDMA, 0 },       { "rdma-odp", DAXMAP_PIN_RDMA_ODP, 0 },
		{ "vfio", DAXMAP_PIN_VFIO, 0 },       { "io_uring", DAXMAP_PIN_IO_URING, 0 },
		{ "io_uring over 1 GiB", DAXMAP_PIN_IO_URING, 1 },
		{ "external", DAXMAP_PIN_EXTERNAL, 0 },
	};
	static const struct {
		const char *name;
		enum daxmap_dev_kind kind;
	} kinds[] = { { "devdax", DAXMAP_KIND_DEVDAX }, { "fsdax", DAXMAP_KIND_FSDAX },
		      { "file", DAXMAP_KIND_FILE } };
	char vers[8][16];
	int nk = pin_table_kernels(vers, 8);

	cr_assert_eq(nk, 3, "doc/pins.md has tables for 6.1, 6.12 and 7.3 (found %d)", nk);
	for (int k = 0; k < nk; k++) {
		unsigned major, minor;

		cr_assert_eq(sscanf(vers[k], "%u.%u", &major, &minor), 2);
		for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++)
			for (size_t d = 0; d < 3; d++) {
				const char *cell = pin_table_cell(major, minor, rows[r].row, kinds[d].name);
				const char *rule, *got;
				int rc = pin_rule(kinds[d].kind, rows[r].backend, major, minor, &rule);

				cr_assert_not_null(cell, "%s: no cell %s/%s", vers[k], rows[r].row,
						   kinds[d].name);
				if (rc >= 0 && rows[r].over_1g) {
					int lrc = pin_uring_len_rule(major, minor, &rule);

					rc = lrc ? lrc : rc;
				}
				got = rc < 0 ? "refused" : rc == PIN_KERNEL_DECIDES ? "kernel" : "allowed";
				cr_assert_str_eq(got, cell, "Linux %s, %s on %s: the rules say %s (%s), doc/pins.md %s",
						 vers[k], rows[r].row, kinds[d].name, got, rule, cell);
			}
	}
}

Test(pin, uring_buffers_over_1g)
{
	const char *rule;

	cr_assert_eq(pin_uring_len_rule(6, 1, &rule), -EINVAL);
	cr_assert(strstr(rule, "1 GiB at most"), "%s", rule);
	cr_assert_eq(pin_uring_len_rule(6, 12, &rule), -EINVAL);
	cr_assert_eq(pin_uring_len_rule(6, 13, &rule), PIN_KERNEL_DECIDES);
	cr_assert_eq(pin_uring_len_rule(7, 2, &rule), PIN_KERNEL_DECIDES);
	cr_assert(strstr(rule, "the kernel decides"), "%s", rule);
	cr_assert_eq(pin_uring_len_rule(7, 3, &rule), 0);
	cr_assert_eq(pin_uring_len_rule(8, 0, &rule), 0);
}

Test(pin, kernel_version_honours_the_override)
{
	unsigned major = 0, minor = 0;
	struct utsname u;
	unsigned um, un;

	setenv("DAXMAP_KERNEL_VERSION", "7.3", 1);
	cr_assert_eq(daxmap_kernel_version(&major, &minor), 1);
	cr_assert_eq(major, 7);
	cr_assert_eq(minor, 3);
	setenv("DAXMAP_KERNEL_VERSION", "seven", 1);
	major = minor = 99;
	cr_assert_eq(daxmap_kernel_version(&major, &minor), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "DAXMAP_KERNEL_VERSION='seven' is not MAJOR.MINOR"),
		  "%s", daxmap_errormsg());
	cr_assert_eq(major, 99, "nothing written on error");
	setenv("DAXMAP_KERNEL_VERSION", "6.12x", 1);
	cr_assert_eq(daxmap_kernel_version(&major, &minor), -EINVAL);
	unsetenv("DAXMAP_KERNEL_VERSION");
	cr_assert_eq(daxmap_kernel_version(&major, &minor), 0);
	cr_assert_eq(uname(&u), 0);
	cr_assert_eq(sscanf(u.release, "%u.%u", &um, &un), 2);
	cr_assert_eq(major, um);
	cr_assert_eq(minor, un);
	cr_assert_eq(daxmap_kernel_version(NULL, &minor), -EINVAL);
	cr_assert_eq(daxmap_kernel_version(&major, NULL), -EINVAL);
}

Test(pin, decision_tells_the_kernel_decides)
{
	struct daxmap_dev *dev;
	const char *rule = NULL;

	cr_assert_eq(daxmap_dev_open(&dev, make_file(64 * MiB), 0, 0), 0);
	setenv("DAXMAP_KERNEL_VERSION", "7.3", 1);
	cr_assert_eq(daxmap_pin_decision(dev, DAXMAP_PIN_RDMA, 0, &rule), DAXMAP_PIN_REFUSED);
	cr_assert(strstr(rule, "page-cache"), "%s", rule);
	cr_assert_eq(daxmap_pin_decision(dev, DAXMAP_PIN_RDMA_ODP, 0, &rule),
		     DAXMAP_PIN_KERNEL_DECIDES);
	cr_assert_eq(daxmap_pin_check(dev, DAXMAP_PIN_RDMA_ODP), 0, "the kernel decides: asked");
	cr_assert_eq(daxmap_pin_decision(dev, DAXMAP_PIN_EXTERNAL, 0, NULL), DAXMAP_PIN_ALLOWED);
	cr_assert_eq(daxmap_pin_decision(dev, DAXMAP_PIN_IO_URING, 2ULL << 30, &rule),
		     DAXMAP_PIN_REFUSED);
	cr_assert_eq(daxmap_pin_decision(NULL, DAXMAP_PIN_RDMA, 0, &rule), -EINVAL);
	cr_assert_str_eq(rule, "no device given");
	cr_assert_eq(daxmap_pin_decision(dev, (enum daxmap_pin_backend)42, 0, &rule), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "unknown pin backend 42"), "%s", daxmap_errormsg());
	setenv("DAXMAP_KERNEL_VERSION", "x", 1);
	cr_assert_eq(daxmap_pin_decision(dev, DAXMAP_PIN_RDMA, 0, &rule), -EINVAL);
	cr_assert_str_eq(rule, "cannot read the kernel version");
	cr_assert_eq(daxmap_pin_check(dev, DAXMAP_PIN_RDMA), -EINVAL);
	unsetenv("DAXMAP_KERNEL_VERSION");
	daxmap_dev_close(dev);
}
