/* SPDX-License-Identifier: BSD-3-Clause */
/* error.h -- the thread-local error message behind daxmap_errormsg() */
#ifndef DAXMAP_ERROR_H
#define DAXMAP_ERROR_H

#include <stdarg.h>

/* Record a message and return -err, so callers write
 * "return daxmap_err(EINVAL, "...", ...);". err must be a positive errno. */
int daxmap_err(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Prefix the current message ("opening X: <old message>"). Returns -err. */
int daxmap_err_prefix(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
