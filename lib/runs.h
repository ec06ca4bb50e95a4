/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * runs.h -- runs of consecutive pool extents: how the pool hands a
 * region's extents to the reference layer, which counts per run.
 */
#ifndef DAXMAP_RUNS_H
#define DAXMAP_RUNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Extents [first, first + count). */
struct ext_run {
	uint64_t first;
	uint64_t count;
};

/* Mark of an index whose extent is not known (cleared by an interrupted
 * release): skipped by runs_of(). */
#define EXT_NONE UINT64_MAX

/* The extents ext[0, n), EXT_NONE skipped, as sorted runs of consecutive
 * numbers in a malloc'ed array (free()). 0 or -ENOMEM. */
int runs_of(const uint64_t *ext, size_t n, struct ext_run **runs, size_t *nruns);
/* Is x in one of the sorted runs? */
bool runs_contain(const struct ext_run *runs, size_t n, uint64_t x);
/* Does [first, first + count) overlap any of the runs (any order)? */
bool runs_overlap(const struct ext_run *runs, size_t n, uint64_t first, uint64_t count);

#endif
