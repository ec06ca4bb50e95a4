/* SPDX-License-Identifier: BSD-3-Clause */
/* pin_uring.h -- the io_uring pin backend's internals, for white-box tests */
#ifndef DAXMAP_PIN_URING_H
#define DAXMAP_PIN_URING_H

#include <stddef.h>
#include <stdint.h>

/* io_uring/rsrc.c io_buffer_validate(): a fixed buffer is 1 GiB at most */
#define URING_BUF_MAX (1ULL << 30)

/*
 * The likely reason, as a sentence in buf, why the kernel refused to
 * register a fixed buffer of len bytes at index with err (a positive
 * errno): the io_uring rule of kernels before 6.5, RLIMIT_MEMLOCK with its
 * current value, a ring without a buffer table... Returns buf.
 */
const char *uring_refusal_reason(int err, uint64_t len, unsigned index, char *buf,
				 size_t size);

#endif
