/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pin_rdma_stub.c -- the RDMA pin backend in a library built without
 * rdma-core (meson -Drdma=disabled, or libibverbs-dev missing): the
 * symbols exist, so programs link the same way, and say why they cannot pin.
 */
#include <errno.h>
#include <stddef.h>

#include "daxmap.h"
#include "error.h"
#include "util.h"

static int no_rdma(void)
{
	return daxmap_err(EOPNOTSUPP,
			  "RDMA pins are not available: libdaxmap was built without rdma-core "
			  "(install libibverbs-dev and build with -Drdma=enabled)");
}

DAXMAP_EXPORT int daxmap_pin_rdma(struct daxmap_pin **pinp, struct daxmap_map *map,
				  uint64_t offset, uint64_t len, struct ibv_pd *pd, int access,
				  daxmap_revoke_fn revoke, void *arg)
{
	(void)map, (void)offset, (void)len, (void)pd, (void)access, (void)revoke, (void)arg;
	if (pinp)
		*pinp = NULL;
	return no_rdma();
}

DAXMAP_EXPORT struct ibv_mr *daxmap_pin_mr(const struct daxmap_pin *pin)
{
	(void)pin;
	return NULL;
}

DAXMAP_EXPORT int daxmap_mr_cache_new(struct daxmap_mr_cache **cachep, struct ibv_pd *pd,
				      int access, unsigned max_entries,
				      daxmap_mr_revoke_fn revoke, void *arg)
{
	(void)pd, (void)access, (void)max_entries, (void)revoke, (void)arg;
	if (cachep)
		*cachep = NULL;
	return no_rdma();
}

DAXMAP_EXPORT int daxmap_mr_cache_delete(struct daxmap_mr_cache **cachep)
{
	(void)cachep;
	return 0;
}

DAXMAP_EXPORT int daxmap_mr_cache_get(struct daxmap_mr_cache *cache, struct daxmap_map *map,
				      uint64_t offset, uint64_t len,
				      struct daxmap_mr_entry **entryp)
{
	(void)cache, (void)map, (void)offset, (void)len;
	if (entryp)
		*entryp = NULL;
	return no_rdma();
}

DAXMAP_EXPORT struct ibv_mr *daxmap_mr_entry_mr(const struct daxmap_mr_entry *entry)
{
	(void)entry;
	return NULL;
}

DAXMAP_EXPORT void daxmap_mr_cache_put(struct daxmap_mr_entry *entry)
{
	(void)entry;
}

DAXMAP_EXPORT int daxmap_mr_cache_flush(struct daxmap_mr_cache *cache,
					const struct daxmap_map *map)
{
	(void)cache, (void)map;
	return no_rdma();
}

DAXMAP_EXPORT int daxmap_mr_cache_stat(struct daxmap_mr_cache *cache,
				       struct daxmap_mr_cache_stat *st)
{
	(void)cache, (void)st;
	return no_rdma();
}
