/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pin_rules.h -- what every pin is checked against before anything is
 * taken: the kernel's pin rules, and the byte range.
 */
#ifndef DAXMAP_PIN_RULES_H
#define DAXMAP_PIN_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "daxmap.h"

/* pin_rule()'s verdicts besides 0 (allowed) and -errno (refused) */
#define PIN_KERNEL_DECIDES 1 /* not measured for this kernel: ask it */

/*
 * 0 (allowed: measured on this kernel, or known from its source),
 * PIN_KERNEL_DECIDES (the library cannot know: the kernel is asked and
 * its refusal explained), or -EOPNOTSUPP / -EINVAL (refused); *rule says
 * why, whichever. Decided from the facts alone: testable without a device.
 */
int pin_rule(enum daxmap_dev_kind kind, enum daxmap_pin_backend backend,
	     unsigned major, unsigned minor, const char **rule);

/*
 * io_uring fixed buffers longer than 1 GiB on this kernel: 0 (taken),
 * PIN_KERNEL_DECIDES, or -EINVAL (the kernel refuses them with EFAULT);
 * *rule says why.
 */
int pin_uring_len_rule(unsigned major, unsigned minor, const char **rule);

/*
 * The checks of every pin of bytes [off, off + len) of map, in this order:
 * the pin rules for the device behind map (daxmap_pin_check(); none for
 * external pins, which the library only counts), then the range (inside
 * the mapping, not empty). 0 or -errno with the message.
 */
int pin_check_args(const struct daxmap_map *map, uint64_t off, uint64_t len,
		   enum daxmap_pin_backend backend);

/*
 * The start of every pin function fn: *pinp (if not NULL) becomes NULL;
 * its pointer arguments must be present ("<fn>: <required> are required"
 * otherwise); then pin_check_args(). 0 or -errno with the message.
 */
int pin_begin(struct daxmap_pin **pinp, bool present, const char *fn, const char *required,
	      const struct daxmap_map *map, uint64_t off, uint64_t len,
	      enum daxmap_pin_backend backend);

#endif
