/* SPDX-License-Identifier: BSD-3-Clause */
/* test_rdma_stub.c -- a library built without rdma-core still has the RDMA
 * functions, and they say why they cannot pin (lib/pin_rdma_stub.c, linked
 * here whatever this build found). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include <daxmap.h>

Test(rdma_stub, every_function_says_built_without_rdma_core)
{
	struct daxmap_pin *pin = (struct daxmap_pin *)0x1;
	struct daxmap_mr_cache *c = (struct daxmap_mr_cache *)0x1;
	struct daxmap_mr_entry *e = (struct daxmap_mr_entry *)0x1;
	struct daxmap_mr_cache_stat st;

	cr_assert_eq(daxmap_pin_rdma(&pin, NULL, 0, 1, NULL, 0, NULL, NULL), -EOPNOTSUPP);
	cr_assert_null(pin);
	cr_assert(strstr(daxmap_errormsg(), "built without rdma-core"), "%s", daxmap_errormsg());
	cr_assert_null(daxmap_pin_mr(NULL));
	cr_assert_eq(daxmap_mr_cache_new(&c, NULL, 0, 0, NULL, NULL), -EOPNOTSUPP);
	cr_assert_null(c);
	cr_assert_eq(daxmap_mr_cache_get(NULL, NULL, 0, 1, &e), -EOPNOTSUPP);
	cr_assert_null(e);
	cr_assert_eq(daxmap_mr_cache_flush(NULL, NULL), -EOPNOTSUPP);
	cr_assert_eq(daxmap_mr_cache_stat(NULL, &st), -EOPNOTSUPP);
	cr_assert_null(daxmap_mr_entry_mr(NULL));
	daxmap_mr_cache_put(NULL);
	cr_assert_eq(daxmap_mr_cache_delete(&c), 0);
}
