/* SPDX-License-Identifier: BSD-3-Clause */
/* error.c -- thread-local error messages (the pmem2_errormsg() pattern) */
#include <stdio.h>
#include <string.h>

#include "daxmap.h"
#include "error.h"
#include "util.h"

#define MSG_MAX 512

static _Thread_local char last_msg[MSG_MAX];

DAXMAP_EXPORT const char *daxmap_errormsg(void)
{
	return last_msg;
}

int daxmap_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
	va_end(ap);
	return -err;
}

int daxmap_err_prefix(int err, const char *fmt, ...)
{
	char old[MSG_MAX];
	va_list ap;
	int n;

	memcpy(old, last_msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(last_msg))
		snprintf(last_msg + n, sizeof(last_msg) - (size_t)n, ": %s", old);
	return -err;
}
