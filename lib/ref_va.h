/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ref_va.h -- where holders map, or mapped, their references' extents:
 * the virtual ranges a release compares with other processes' mappings of
 * the device (its holders' own are not foreign) and with RDMA
 * registrations (which outlive a mapping: the kernel keeps the pages
 * pinned until the MR is deregistered).
 */
#ifndef DAXMAP_REF_VA_H
#define DAXMAP_REF_VA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ref_runtime;

/* Mapping reference id (this process's) maps [va, va + len). */
void ref_va_set(struct ref_runtime *rt, uint64_t id, uint64_t va, uint64_t len);
/*
 * This process no longer maps [va, va + len), where it mapped the region
 * in pool slot/gen from index 0 on: an RDMA registration there may still
 * hold the extents. The last REF_VA_RECS are kept.
 */
void ref_va_retire(struct ref_runtime *rt, uint64_t va, uint64_t len, uint64_t slot,
		   uint64_t gen);

struct ref_va {
	pid_t pid;
	bool live;            /* a mapping now (slot and gen unknown) */
	uint64_t va, len;
	uint64_t slot, gen;   /* retired records only */
};

/*
 * Could a holder have retired a range of the region in pool slot/gen? A
 * look without syscalls (a holder's liveness is not checked): false means
 * no record of it exists; true, that ref_va_list() tells.
 */
bool ref_va_retired_any(const struct ref_runtime *rt, uint64_t slot, uint64_t gen);

/* The VA ranges of live holders: their mappings now, and the retired
 * records. *out is malloc'ed. 0 or -errno. */
int ref_va_list(struct ref_runtime *rt, struct ref_va **out, size_t *n);

#endif
