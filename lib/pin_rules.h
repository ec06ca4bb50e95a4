/* SPDX-License-Identifier: BSD-3-Clause */
/* pin_rules.h -- the long-term pin rules, testable without a device */
#ifndef DAXMAP_PIN_RULES_H
#define DAXMAP_PIN_RULES_H

#include "daxmap.h"

/* The running kernel's version ($DAXMAP_KERNEL_VERSION overrides: tests). */
int kernel_version(unsigned *major, unsigned *minor);
/* 0 (allowed) or -EOPNOTSUPP / -EINVAL; *rule says why, either way. */
int pin_rule(enum daxmap_dev_kind kind, enum daxmap_pin_backend backend,
	     unsigned major, unsigned minor, const char **rule);

#endif
