/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ref_region.c -- the region operations that involve references (SPEC §4):
 * mapping a region takes one reference per extent it covers, and deleting
 * the mapping drops it; removing or shrinking a region refuses while any
 * reference covers the extents it would release, after dropping those of
 * dead holders. (Zap-and-wait with a timeout is the next step:
 * doc/refcount-design.md.)
 *
 * Lock order: the pool's OFD lock, then the runtime mutex. Mapping holds
 * the pool lock shared while it takes its references, removal holds it
 * exclusive while it checks them, so neither can slip past the other.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "daxmap.h"
#include "error.h"
#include "map.h"
#include "pool.h"
#include "ref.h"
#include "util.h"

static void detach_on_close(void *rt)
{
	ref_detach(rt);
}

/*
 * The process's attachment to the pool's runtime state: made once per pool
 * handle and kept until the pool is closed (each attachment costs a file
 * open and a registration). DAXMAP_RUNTIME_DIR moves the state out of
 * /dev/shm (tests). The caller detaches what it gets.
 */
static int attach(struct daxmap_pool *pool, struct ref_rt **rt)
{
	const struct pool_core *c = pool_core_of(pool);
	const char *dir = getenv("DAXMAP_RUNTIME_DIR");
	void **held = pool_upper(pool, detach_on_close);
	int rc;

	if (dir && *dir)
		mkdir(dir, 0700);
	else
		dir = NULL;
	/* a pool handle inherited through fork() gets this process's own */
	if (*held && ref_stale(*held))
		*held = NULL;
	if (!*held && (rc = ref_attach((struct ref_rt **)held, c->sb.uuid, c->sb.nextents, dir)))
		return rc;
	*rt = ref_share(*held);
	return 0;
}

struct map_ref {
	struct ref_rt *rt;
	uint64_t id;
};

static void drop_map_ref(void *arg)
{
	struct map_ref *mr = arg;

	ref_put(mr->rt, mr->id);
	ref_detach(mr->rt);
	free(mr);
}

/* Device ranges to extent runs. */
static struct ref_run *to_runs(const struct daxmap_range *r, size_t n, uint64_t es)
{
	struct ref_run *runs = malloc((n ? n : 1) * sizeof(*runs));

	for (size_t i = 0; runs && i < n; i++)
		runs[i] = (struct ref_run){ r[i].offset / es, r[i].len / es };
	return runs;
}

DAXMAP_EXPORT int daxmap_region_map(struct daxmap_map **mapp, struct daxmap_pool *pool,
				    const char *name, unsigned flags)
{
	struct daxmap_range *r = NULL;
	struct ref_run *runs = NULL;
	struct map_ref *mr = NULL;
	size_t n;
	int rc;

	if (!mapp || !name)
		return daxmap_err(EINVAL, "daxmap_region_map: mapp and name are required");
	*mapp = NULL;
	if ((rc = pool_begin(pool, false)))
		return rc;
	if ((rc = pool_ranges_locked(pool, name, &r, &n)))
		goto out;
	runs = to_runs(r, n, pool_core_of(pool)->sb.extent_size);
	mr = calloc(1, sizeof(*mr));
	if (!runs || !mr) {
		rc = daxmap_err(ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = attach(pool, &mr->rt)))
		goto out;
	/* a mapping holds one reference per extent it covers */
	if ((rc = ref_get(mr->rt, REF_MAP, runs, n, &mr->id))) {
		ref_detach(mr->rt);
		goto out;
	}
	if ((rc = daxmap_map_new_ranges(mapp, pool_dev(pool), r, n, flags))) {
		ref_put(mr->rt, mr->id);
		ref_detach(mr->rt);
		goto out;
	}
	/* a fork()ed child inherits neither the mapping nor the reference */
	if (madvise((*mapp)->addr, (*mapp)->len, MADV_DONTFORK) != 0) {
		rc = daxmap_err(errno, "madvise(MADV_DONTFORK): %s", strerror(errno));
		daxmap_map_delete(mapp);
		ref_put(mr->rt, mr->id);
		ref_detach(mr->rt);
		goto out;
	}
	(*mapp)->on_delete = drop_map_ref;
	(*mapp)->on_delete_arg = mr;
	mr = NULL;
out:
	free(mr);
	free(runs);
	free(r);
	pool_end(pool);
	return rc;
}

/* Under the exclusive pool lock: are these extents free of references?
 * Dead holders' references are dropped first. */
static int check_idle(struct daxmap_pool *pool, const char *name,
		      const struct ref_run *runs, size_t n)
{
	struct ref_rt *rt;
	int rc;

	if (n == 0)
		return 0;
	if ((rc = attach(pool, &rt)))
		return rc;
	rc = ref_wait_idle(rt, runs, n, 0);
	ref_detach(rt);
	if (rc == -EBUSY)
		return daxmap_err_prefix(EBUSY, "region '%s' is in use", name);
	return rc;
}

/* The extents of region name from index `from` on, as runs. */
static int tail_runs(struct daxmap_pool *pool, const char *name, uint64_t from,
		     struct ref_run **runs, size_t *n)
{
	const struct pool_core *c = pool_core_of(pool);
	const struct region_view *v;
	long s = pool_find(c, name);

	*runs = NULL;
	*n = 0;
	if (s < 0)
		return daxmap_err(ENOENT, "no region named '%s'", name);
	v = &c->rv[s];
	if (from >= v->n)
		return 0;
	*runs = malloc((v->n - from) * sizeof(**runs));
	if (!*runs)
		return daxmap_err(ENOMEM, "out of memory");
	for (uint64_t i = from; i < v->n; i++)
		(*runs)[(*n)++] = (struct ref_run){ v->ext[i], 1 };
	return 0;
}

DAXMAP_EXPORT int daxmap_region_remove(struct daxmap_pool *pool, const char *name)
{
	struct ref_run *runs;
	size_t n;
	int rc;

	if (!name)
		return daxmap_err(EINVAL, "a region name is required");
	if ((rc = pool_begin(pool, true)))
		return rc;
	if ((rc = tail_runs(pool, name, 0, &runs, &n)) == 0 &&
	    (rc = check_idle(pool, name, runs, n)) == 0)
		rc = pool_region_remove(pool_core_of(pool), name);
	free(runs);
	pool_end(pool);
	return rc;
}

DAXMAP_EXPORT int daxmap_region_resize(struct daxmap_pool *pool, const char *name,
				       uint64_t size, uint64_t *actual)
{
	struct ref_run *runs = NULL;
	uint64_t es, keep;
	size_t n;
	int rc;

	if (!name)
		return daxmap_err(EINVAL, "a region name is required");
	if ((rc = pool_begin(pool, true)))
		return rc;
	es = pool_core_of(pool)->sb.extent_size;
	keep = size / es + (size % es != 0);
	/* shrinking releases the tail: only when nothing references it */
	if (size && (rc = tail_runs(pool, name, keep, &runs, &n)) == 0)
		rc = check_idle(pool, name, runs, n);
	if (rc == 0)
		rc = pool_region_resize(pool_core_of(pool), name, size, actual);
	free(runs);
	pool_end(pool);
	return rc;
}
