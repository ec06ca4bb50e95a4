/* SPDX-License-Identifier: BSD-3-Clause */
/* runs.c -- runs of consecutive pool extents */
#include <errno.h>
#include <stdlib.h>

#include "error.h"
#include "runs.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int runs_of(const uint64_t *ext, size_t n, struct ext_run **runs, size_t *nruns)
{
	uint64_t *v = malloc((n ? n : 1) * sizeof(*v));
	struct ext_run *r;
	size_t k = 0, m = 0;

	*runs = NULL;
	*nruns = 0;
	if (!v)
		return daxmap_err(ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (ext[i] != EXT_NONE)
			v[k++] = ext[i];
	qsort(v, k, sizeof(*v), cmp_u64);
	if (!(r = malloc((k ? k : 1) * sizeof(*r)))) {
		free(v);
		return daxmap_err(ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < k; i++) {
		if (m && r[m - 1].first + r[m - 1].count == v[i])
			r[m - 1].count++;
		else
			r[m++] = (struct ext_run){ v[i], 1 };
	}
	free(v);
	*runs = r;
	*nruns = m;
	return 0;
}

bool runs_contain(const struct ext_run *runs, size_t n, uint64_t x)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x < runs[mid].first)
			hi = mid;
		else if (x >= runs[mid].first + runs[mid].count)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

bool runs_overlap(const struct ext_run *runs, size_t n, uint64_t first, uint64_t count)
{
	for (size_t i = 0; i < n; i++)
		if (first < runs[i].first + runs[i].count && runs[i].first < first + count)
			return true;
	return false;
}
