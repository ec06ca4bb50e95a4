/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_kunits.c -- the kernel's own units (lib/kunits.c): one test per row
 * of the table of what Debian's 6.1, 6.12 and 7.3 showed in a DAX folio's
 * struct page (doc/pins.md, "What the kernel counts").
 */
#include <errno.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include "lib/kunits.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* the three kernels measured */
static const unsigned kernels[3][2] = { { 6, 1 }, { 6, 12 }, { 7, 3 } };

static struct kunits_counts expect(unsigned k, enum daxmap_dev_kind kind, uint64_t folio,
				   struct kunits_tally t)
{
	struct kunits_counts c;

	cr_assert_eq(kunits_expect(kunits_sem_of(kernels[k][0], kernels[k][1]), kind, folio, &t,
				   &c), 0);
	return c;
}

static void assert_counts(struct kunits_counts c, int64_t ref, int64_t pin, const char *what)
{
	cr_assert_eq(c.refcount, ref, "%s: _refcount %lld, want %lld", what, (long long)c.refcount,
		     (long long)ref);
	cr_assert_eq(c.pincount, pin, "%s: _pincount %lld, want %lld", what, (long long)c.pincount,
		     (long long)pin);
	cr_assert_eq(c.exact, 1, "%s", what);
}

Test(kunits, semantics_change_at_6_15)
{
	cr_assert_eq(kunits_sem_of(6, 1), KUNITS_OLD);
	cr_assert_eq(kunits_sem_of(6, 12), KUNITS_OLD);
	cr_assert_eq(kunits_sem_of(6, 14), KUNITS_OLD);
	cr_assert_eq(kunits_sem_of(6, 15), KUNITS_NEW);
	cr_assert_eq(kunits_sem_of(7, 3), KUNITS_NEW);
	cr_assert_eq(kunits_sem_of(5, 19), KUNITS_OLD);
}

/* devdax _refcount idle / mapped once / two mappings: 1/1/1 on 6.1 and
 * 6.12, 1/2/3 on 7.3; the same for 2 MiB, 1 GiB and hmem (all devdax) */
Test(kunits, devdax_idle_and_mappings)
{
	static const int64_t want[3][3] = { { 1, 1, 1 }, { 1, 1, 1 }, { 1, 2, 3 } };

	for (unsigned k = 0; k < 3; k++)
		for (uint32_t m = 0; m < 3; m++) {
			assert_counts(expect(k, DAXMAP_KIND_DEVDAX, 2 * MiB, (struct kunits_tally){ .maps = m }),
				      want[k][m], 0, "devdax 2M");
			assert_counts(expect(k, DAXMAP_KIND_DEVDAX, GiB, (struct kunits_tally){ .maps = m }),
				      want[k][m], 0, "devdax 1G");
		}
}

/* fsdax 2 MiB folio: 1/1/1 on 6.1 and 6.12, 0/1/2 on 7.3 */
Test(kunits, fsdax_idle_and_mappings)
{
	static const int64_t want[3][3] = { { 1, 1, 1 }, { 1, 1, 1 }, { 0, 1, 2 } };

	for (unsigned k = 0; k < 3; k++)
		for (uint32_t m = 0; m < 3; m++)
			assert_counts(expect(k, DAXMAP_KIND_FSDAX, 2 * MiB, (struct kunits_tally){ .maps = m }),
				      want[k][m], 0, "fsdax");
}

/* an emulated device stands for the devdax device it emulates */
Test(kunits, emulated_counts_as_devdax)
{
	for (unsigned k = 0; k < 3; k++)
		for (uint32_t m = 0; m < 3; m++) {
			struct kunits_tally t = { .maps = m, .rdma = 1 };
			struct kunits_counts a = expect(k, DAXMAP_KIND_FILE, 2 * MiB, t),
					     b = expect(k, DAXMAP_KIND_DEVDAX, 2 * MiB, t);

			cr_assert_eq(a.refcount, b.refcount);
			cr_assert_eq(a.pincount, b.pincount);
		}
}

/* RDMA MR over a 2 MiB (1 GiB) devdax folio: +512 (+262144) to both, on
 * every kernel, on top of the mapping's count */
Test(kunits, rdma_mr_one_per_4k_page)
{
	for (unsigned k = 0; k < 3; k++) {
		int64_t map = k == 2 ? 1 : 0;

		assert_counts(expect(k, DAXMAP_KIND_DEVDAX, 2 * MiB, (struct kunits_tally){ .maps = 1, .rdma = 1 }),
			      1 + map + 512, 512, "MR 2M");
		assert_counts(expect(k, DAXMAP_KIND_DEVDAX, GiB, (struct kunits_tally){ .maps = 1, .rdma = 1 }),
			      1 + map + 262144, 262144, "MR 1G");
		assert_counts(expect(k, DAXMAP_KIND_DEVDAX, 2 * MiB, (struct kunits_tally){ .maps = 2, .rdma = 2 }),
			      1 + 2 * map + 1024, 1024, "two MRs");
	}
}

/* MR kept after munmap of its range: the +512 stays, the mapping's count goes */
Test(kunits, rdma_mr_after_munmap)
{
	for (unsigned k = 0; k < 3; k++)
		assert_counts(expect(k, DAXMAP_KIND_DEVDAX, 2 * MiB, (struct kunits_tally){ .rdma = 1 }),
			      513, 512, "MR, unmapped");
}

/* an on-demand-paging MR takes no page reference (7.3's rxe) */
Test(kunits, odp_mr_takes_no_reference)
{
	assert_counts(expect(2, DAXMAP_KIND_DEVDAX, 2 * MiB, (struct kunits_tally){ .maps = 1, .rdma_odp = 1 }),
		      2, 0, "ODP devdax");
	assert_counts(expect(2, DAXMAP_KIND_FSDAX, 2 * MiB, (struct kunits_tally){ .maps = 1, .rdma_odp = 1 }),
		      1, 0, "ODP fsdax");
}

/* io_uring buffer over a 2 MiB or 1 GiB folio: _refcount +1, _pincount 1
 * (6.12 and 7.3; 6.1 refuses it) */
Test(kunits, io_uring_one_per_folio)
{
	for (unsigned k = 1; k < 3; k++) {
		int64_t map = k == 2 ? 1 : 0;

		assert_counts(expect(k, DAXMAP_KIND_DEVDAX, 2 * MiB, (struct kunits_tally){ .maps = 1, .uring = 1 }),
			      1 + map + 1, 1, "io_uring 2M");
		assert_counts(expect(k, DAXMAP_KIND_DEVDAX, GiB, (struct kunits_tally){ .maps = 1, .uring = 1 }),
			      1 + map + 1, 1, "io_uring 1G");
	}
}

/* VFIO type1 MAP_DMA of 2 MiB: +512, never dropped; each cycle adds 512 */
Test(kunits, vfio_maps_stay)
{
	for (unsigned k = 0; k < 3; k++) {
		assert_counts(expect(k, DAXMAP_KIND_DEVDAX, 2 * MiB, (struct kunits_tally){ .vfio = 1 }),
			      513, 512, "after UNMAP_DMA");
		assert_counts(expect(k, DAXMAP_KIND_DEVDAX, 2 * MiB, (struct kunits_tally){ .vfio = 3 }),
			      1 + 3 * 512, 3 * 512, "three cycles");
	}
	/* the overflow: MAP_DMA number 4,194,304 of one 2 MiB page fails */
	{
		struct kunits_counts c = expect(0, DAXMAP_KIND_DEVDAX, 2 * MiB,
						(struct kunits_tally){ .vfio = 4194303 });

		cr_assert_leq(c.refcount, KUNITS_REFCOUNT_MAX);
		cr_assert_gt(c.refcount + (int64_t)kunits_page_pins(2 * MiB), KUNITS_REFCOUNT_MAX);
	}
}

/* everything at once adds up */
Test(kunits, sums)
{
	struct kunits_tally t = { .maps = 2, .rdma = 1, .uring = 2, .vfio = 1, .rdma_odp = 3 };

	assert_counts(expect(2, DAXMAP_KIND_DEVDAX, 2 * MiB, t), 1 + 2 + 512 + 2 + 512, 1026, "7.3");
	assert_counts(expect(1, DAXMAP_KIND_DEVDAX, 2 * MiB, t), 1 + 512 + 2 + 512, 1026, "6.12");
}

Test(kunits, external_pins_are_not_exact)
{
	struct kunits_counts c;
	struct kunits_tally t = { .maps = 1, .external = 1 };

	cr_assert_eq(kunits_expect(KUNITS_NEW, DAXMAP_KIND_DEVDAX, 2 * MiB, &t, &c), 0);
	cr_assert_eq(c.exact, 0);
	cr_assert_eq(c.refcount, 2);
}

Test(kunits, bad_input)
{
	struct kunits_counts c = { 7, 7, 7 };
	struct kunits_tally t = { 0 };

	cr_assert_eq(kunits_expect(KUNITS_NEW, DAXMAP_KIND_DEVDAX, 0, &t, &c), -EINVAL);
	cr_assert_eq(kunits_expect(KUNITS_NEW, DAXMAP_KIND_DEVDAX, 1000, &t, &c), -EINVAL);
	cr_assert_eq(kunits_expect(KUNITS_NEW, (enum daxmap_dev_kind)9, 2 * MiB, &t, &c), -EINVAL);
	cr_assert_eq(kunits_expect(KUNITS_NEW, DAXMAP_KIND_DEVDAX, 2 * MiB, NULL, &c), -EINVAL);
	cr_assert_eq(c.refcount, 7, "nothing written on bad input");
	cr_assert_str_eq(kunits_sem_name(KUNITS_OLD), "old (before 6.15)");
	cr_assert_str_eq(kunits_sem_name(KUNITS_NEW), "new (6.15 on)");
}
