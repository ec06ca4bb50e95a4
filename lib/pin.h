/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pin.h -- what the pin backends (external, rdma and its registration
 * cache, vfio, io_uring) share: the references of a pin, its revocation,
 * and the message of a kernel refusal.
 *
 * A backend checks its arguments (pin_check_args(), pin_rules.h), takes
 * the references (pin_take()), attaches its undo (pin_set_backend()), asks
 * the kernel, and then calls pin_ready().
 */
#ifndef DAXMAP_PIN_H
#define DAXMAP_PIN_H

#include <stdbool.h>
#include <stdint.h>

#include "daxmap.h"

/*
 * Pin bytes [off, off + len) of a region mapping for backend: a REF_PIN on
 * every extent under the range (pin_check_args() came first). With revoke,
 * the pin is revocable: a release of those extents calls revoke(pin, arg)
 * once, from the pool's revoker thread. *pinp gets the pin before a revoke
 * callback can run.
 */
int pin_take(struct daxmap_pin **pinp, struct daxmap_map *map, uint64_t off,
	     uint64_t len, enum daxmap_pin_backend backend,
	     daxmap_revoke_fn revoke, void *arg);
/*
 * A backend's kernel pin is in place: from now on a release calls the
 * caller's revoke callback. Until then a release is only noted, and this
 * returns -ESTALE: the backend undoes its pin (pin_release()) and fails,
 * as if it had come after the release. External pins are ready at once.
 */
int pin_ready(struct daxmap_pin *pin);
/* Drop the pin's references and free it (maybe later, if its revoke
 * callback is running). */
int pin_release(struct daxmap_pin *pin);
/* The backend's state given to pin_set_backend() (an MR, an IOVA). */
void *pin_backend_data(const struct daxmap_pin *pin);

/*
 * What a backend does when its pin goes. unpin undoes the kernel's pin
 * (deregisters the buffer): pin_release() calls it once, before the
 * references are dropped, and returns its error (the references go
 * anyway). free, if not NULL, frees data when the pin itself is freed:
 * after a revoke callback still running on the pin has returned, so data
 * may be used by the backend's own revoke callback. Either may be NULL.
 */
struct pin_backend_ops {
	int (*unpin)(struct daxmap_pin *pin, void *data);
	void (*free)(void *data);
};
/* Attach ops and data (the backend data slot) to a pin, before anything
 * else can release it. */
void pin_set_backend(struct daxmap_pin *pin, const struct pin_backend_ops *ops, void *data);

/*
 * Has a release marked any extent of the pin ZAP? Lock-free, for hot paths
 * (the RDMA registration cache): *seen caches the pool's zap sequence of
 * the last clean check, so while no release started it is one load.
 */
bool pin_zapped(struct daxmap_pin *pin, uint32_t *seen);

/*
 * The kernel refused a backend's pin with err: "<backend>: the kernel
 * refused <what>: <ENAME> (<strerror>); likely reason: <why>". Returns
 * -err.
 */
int pin_refused(int err, const char *backend, const char *what, const char *why);

#endif
