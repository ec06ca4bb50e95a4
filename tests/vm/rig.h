/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rig.h -- shared by the test programs that run inside the QEMU rig
 * (tests/vm/run sets DAXMAP_TEST_*, see tests/vm/README.md).
 */
#ifndef DAXMAP_TEST_RIG_H
#define DAXMAP_TEST_RIG_H

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <criterion/parameterized.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <daxmap.h>

/*
 * A device of the rig, named by the variable that holds its path. Criterion
 * copies a parameter's bytes into the test's worker process, where a
 * pointer of the runner's leads nowhere: the name is in the struct itself.
 * A test whose device is absent is skipped (env_or_skip()).
 */
struct rig_dev {
	char env[32];
};

/* The three device-DAX of the rig: NVDIMM 2 MiB, hmem (2 MiB, not an
 * NVDIMM), NVDIMM 1 GiB. */
extern struct rig_dev rig_devdax[3];
#define RIG_DEVDAX_PARAMS() cr_make_param_array(struct rig_dev, rig_devdax, 3)

/* The path of a parameter's device; an fsdax parameter (the directory) gets
 * a new file of 64 MiB there, named after the test. */
const char *rig_path(const struct rig_dev *d, const char *file);

/* A new, fully allocated file of size bytes in the fsdax directory;
 * returns its path (static storage, valid until the next call). */
const char *fsdax_file(const char *name, uint64_t size);

struct daxmap_dev *open_dev(const char *path);
/* A new pool on dev, formatted over whatever was there, and open; its stat
 * in *st unless st is NULL. */
struct daxmap_pool *rig_fresh_pool(struct daxmap_dev *dev, struct daxmap_pool_stat *st);

/* Outside the rig the program exits 77 (Meson's "skipped") before any test
 * runs, and says why: here is true where the devices every test of the
 * program needs are (getenv("DAXMAP_TEST_DEVDAX_2M"), say). */
#define RIG_SKIP_UNLESS(here, what)                                                       \
	ReportHook(PRE_ALL)(struct criterion_test_set *set)                              \
	{                                                                                 \
		(void)set;                                                                \
		if (!(here)) {                                                            \
			fprintf(stderr, "skipped: no %s here; tests/vm/run boots a VM that " \
					"has them and sets DAXMAP_TEST_* (meson test --suite vm)\n", \
				what);                                                    \
			exit(77);                                                         \
		}                                                                         \
	}

#endif
