/* SPDX-License-Identifier: BSD-3-Clause */
/* runtime.c -- a pool handle's attachment to the runtime reference state */
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "pool_handle.h"
#include "ref.h"
#include "runtime.h"

/* DAXMAP_RUNTIME_DIR moves the state out of /dev/shm (tests). */
static const char *runtime_dir(void)
{
	const char *dir = getenv("DAXMAP_RUNTIME_DIR");

	if (!dir || !*dir)
		return NULL;
	mkdir(dir, 0700);
	return dir;
}

int runtime_attach(struct daxmap_pool *pool, struct ref_runtime **rt)
{
	struct ref_runtime **held = pool_runtime(pool);
	int rc;

	/* a pool handle inherited through fork() gets this process's own */
	if (*held && ref_stale(*held))
		*held = NULL;
	if (!*held && (rc = ref_attach(held, pool_uuid(pool), pool_nextents(pool), runtime_dir())))
		return rc;
	*rt = ref_share(*held);
	return 0;
}

bool runtime_exists(struct daxmap_pool *pool)
{
	return ref_exists(pool_uuid(pool), runtime_dir());
}

int runtime_attach_existing(struct daxmap_pool *pool, struct ref_runtime **rt)
{
	*rt = NULL;
	if (!*pool_runtime(pool) && !runtime_exists(pool))
		return 0;
	return runtime_attach(pool, rt);
}

int runtime_users(const uint8_t uuid[16], pid_t *pids, size_t max)
{
	return ref_users(uuid, runtime_dir(), pids, max);
}

void runtime_close(struct daxmap_pool *pool)
{
	struct ref_runtime **held = pool_runtime(pool);

	ref_detach(*held);
	*held = NULL;
}
