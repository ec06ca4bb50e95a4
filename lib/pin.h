/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pin.h -- the pin layer's internal API: every pin backend (external now;
 * rdma, vfio, io_uring) takes its references through pin_take().
 */
#ifndef DAXMAP_PIN_H
#define DAXMAP_PIN_H

#include <stdint.h>

#include "daxmap.h"

/*
 * Pin bytes [off, off + len) of a region mapping for backend: a REF_PIN on
 * every extent under the range. With revoke, the pin is revocable: a
 * release of those extents calls revoke(pin, arg) once, from the pool's
 * revoker thread. *pinp gets the pin; backend_data is the backend's own.
 */
int pin_take(struct daxmap_pin **pinp, struct daxmap_map *map, uint64_t off,
	     uint64_t len, enum daxmap_pin_backend backend,
	     daxmap_revoke_fn revoke, void *arg);
/* Drop the pin's references and free it (maybe later, if its revoke
 * callback is running). */
int pin_release(struct daxmap_pin *pin);
/* A slot for the backend's state (an ibv_mr, an IOVA). */
void **pin_backend_data(struct daxmap_pin *pin);

#endif
