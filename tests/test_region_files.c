/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_region_files.c -- what a file kept in a region needs, on emulated
 * devices: growing without shrinking (daxmap_region_grow), mappings that
 * grow in place (daxmap_region_map_reserve/extend), the persistent logical
 * size, and region locks between owners, threads and processes.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <daxmap.h>

#include "child.h"
#include "helpers.h"
#include "lib/format.h"

#define ES (2 * MiB)

/* A pool on a device of its own: a mapping of one pool handed to another
 * pool's functions must be refused. */
struct other {
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
};

static struct other other_pool(void)
{
	struct daxmap_dev *d = new_dev(64 * MiB);

	return (struct other){ d, new_pool(d) };
}

static void other_close(struct other *o)
{
	daxmap_pool_close(o->pool);
	daxmap_dev_close(o->dev);
}

/* Each test (its own process) has a fresh pool on a 64 MiB device. */
static struct daxmap_dev *dev;
static struct daxmap_pool *pool;

static void fresh(void)
{
	dev = new_dev(64 * MiB);
	pool = new_pool(dev);
}

static void done(void)
{
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

TestSuite(grow, .init = fresh, .fini = done);
TestSuite(reserve, .init = fresh, .fini = done);
TestSuite(lsize, .init = fresh, .fini = done);
TestSuite(lock, .init = fresh, .fini = done);
TestSuite(exists, .init = fresh, .fini = done);

/* ---- daxmap_region_grow ---- */

Test(grow, grows_and_never_shrinks)
{
	uint64_t actual = 0;

	cr_assert_eq(daxmap_region_create(pool, "f", ES, NULL), 0);
	cr_assert_eq(daxmap_region_grow(pool, "f", 3 * ES + 1, &actual), 0, "%s", daxmap_errormsg());
	cr_assert_eq(actual, 4 * ES);
	/* smaller than it is: left as it is, and says how large it is */
	cr_assert_eq(daxmap_region_grow(pool, "f", ES, &actual), 0);
	cr_assert_eq(actual, 4 * ES);
	cr_assert_eq(daxmap_region_grow(pool, "f", 4 * ES, NULL), 0);
}

Test(grow, bad_input_changes_nothing)
{
	uint64_t h;

	cr_assert_eq(daxmap_region_create(pool, "f", ES, NULL), 0);
	h = dev_hash(dev);
	cr_assert_eq(daxmap_region_grow(pool, NULL, ES, NULL), -EINVAL);
	cr_assert_str_eq(daxmap_errormsg(), "a region name is required");
	cr_assert_eq(daxmap_region_grow(NULL, "f", ES, NULL), -EINVAL);
	cr_assert_eq(daxmap_region_grow(pool, "f", 0, NULL), -EINVAL);
	cr_assert_eq(daxmap_region_grow(pool, "nope", ES, NULL), -ENOENT);
	cr_assert_eq(daxmap_region_grow(pool, "f", 64 * MiB, NULL), -ENOSPC);
	cr_assert(strstr(daxmap_errormsg(), "are free"), "%s", daxmap_errormsg());
	cr_assert_eq(dev_hash(dev), h);
}

/* ---- mappings that grow in place ---- */

Test(reserve, extend_maps_in_place_and_keeps_data)
{
	struct daxmap_extent_refs *refs;
	struct daxmap_map *map, *other;
	size_t n;
	char *p;

	cr_assert_eq(daxmap_region_create(pool, "f", ES, NULL), 0);
	/* another region between, so the new extents are not adjacent */
	cr_assert_eq(daxmap_region_create(pool, "g", ES, NULL), 0);
	cr_assert_eq(daxmap_region_map_reserve(&map, pool, "f", 7 * ES, 0), 0, "%s",
		     daxmap_errormsg());
	p = daxmap_map_addr(map);
	cr_assert_eq(daxmap_map_len(map), ES);
	strcpy(p, "first");
	cr_assert_eq(daxmap_region_map_extend(pool, map), 0); /* nothing new */
	cr_assert_eq(daxmap_map_len(map), ES);
	cr_assert_eq(daxmap_region_grow(pool, "f", 3 * ES, NULL), 0);
	cr_assert_eq(daxmap_region_map_extend(pool, map), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_map_addr(map), p, "the mapping moved");
	cr_assert_eq(daxmap_map_len(map), 3 * ES);
	cr_assert_str_eq(p, "first");
	strcpy(p + 2 * ES + 5, "third");
	/* a second mapping sees the same bytes at their place */
	cr_assert_eq(daxmap_region_map(&other, pool, "f", 0), 0);
	cr_assert_str_eq((char *)daxmap_map_addr(other) + 2 * ES + 5, "third");
	daxmap_map_delete(&other);
	/* one reference per extent, the new ones included */
	cr_assert_eq(daxmap_pool_refs(pool, "f", &refs, &n), 0);
	cr_assert_eq(n, 3);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(refs[i].refcount, 1, "extent %zu: %u", i, refs[i].refcount);
	free(refs);
	/* pins across the old and the new extents work */
	{
		struct daxmap_pin *pin;

		cr_assert_eq(daxmap_pin_external(&pin, map, ES / 2, 2 * ES, NULL, NULL), 0, "%s",
			     daxmap_errormsg());
		daxmap_unpin(&pin);
	}
	daxmap_map_delete(&map);
	cr_assert_eq(daxmap_pool_refs(pool, "f", &refs, &n), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(refs[i].refcount, 0);
	free(refs);
	cr_assert_eq(daxmap_region_remove(pool, "f", 0), 0, "%s", daxmap_errormsg());
}

/* What a region gains was another region's: an extension shows zeros,
 * never the previous owner's bytes, as a new region does. */
Test(reserve, what_an_extension_maps_reads_as_zeros)
{
	struct daxmap_map *old, *map;
	const char *p;

	cr_assert_eq(daxmap_region_create(pool, "f", ES, NULL), 0);
	cr_assert_eq(daxmap_region_create(pool, "old", ES, NULL), 0);
	cr_assert_eq(daxmap_region_map(&old, pool, "old", 0), 0, "%s", daxmap_errormsg());
	memset(daxmap_map_addr(old), 0xab, ES);
	daxmap_map_persist(old, daxmap_map_addr(old), ES);
	daxmap_map_delete(&old);
	cr_assert_eq(daxmap_region_map_reserve(&map, pool, "f", 4 * ES, 0), 0, "%s",
		     daxmap_errormsg());
	cr_assert_eq(daxmap_region_remove(pool, "old", 0), 0, "%s", daxmap_errormsg());
	/* the lowest free extent: the one "old" had */
	cr_assert_eq(daxmap_region_grow(pool, "f", 2 * ES, NULL), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map_extend(pool, map), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_map_len(map), 2 * ES);
	p = (const char *)daxmap_map_addr(map) + ES;
	for (uint64_t i = 0; i < ES; i += 4096)
		cr_assert_eq(p[i], 0, "byte %llu of the gained extent is a previous owner's",
			     (unsigned long long)i);
	daxmap_map_delete(&map);
}

/* A region nobody mapped yet holds nothing anyone wrote: it says so until
 * its first mapping, and not again after a grow. */
Test(reserve, never_mapped_until_the_first_mapping)
{
	struct daxmap_map *map;

	cr_assert_eq(daxmap_region_create(pool, "f", ES, NULL), 0);
	cr_assert_eq(daxmap_region_never_mapped(pool, "f"), 1);
	cr_assert_eq(daxmap_region_map(&map, pool, "f", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_never_mapped(pool, "f"), 0);
	daxmap_map_delete(&map);
	cr_assert_eq(daxmap_region_grow(pool, "f", 2 * ES, NULL), 0);
	cr_assert_eq(daxmap_region_never_mapped(pool, "f"), 0, "a grown region was mapped before");
	cr_assert_eq(daxmap_region_never_mapped(pool, "nope"), -ENOENT);
	cr_assert_eq(daxmap_region_never_mapped(pool, NULL), -EINVAL);
	cr_assert_eq(daxmap_region_never_mapped(NULL, "f"), -EINVAL);
}

Test(reserve, outgrowing_the_reservation_is_refused)
{
	struct daxmap_map *map;

	cr_assert_eq(daxmap_region_create(pool, "f", 3 * ES, NULL), 0);
	cr_assert_eq(daxmap_region_map_reserve(&map, pool, "f", 2 * ES, 0), -EFBIG);
	cr_assert_null(map);
	cr_assert(strstr(daxmap_errormsg(), "larger than the reservation"), "%s", daxmap_errormsg());
	/* rounded up to whole extents */
	cr_assert_eq(daxmap_region_map_reserve(&map, pool, "f", 3 * ES + 1, 0), 0);
	cr_assert_eq(daxmap_region_grow(pool, "f", 4 * ES, NULL), 0);
	cr_assert_eq(daxmap_region_map_extend(pool, map), 0);
	cr_assert_eq(daxmap_map_len(map), 4 * ES);
	cr_assert_eq(daxmap_region_grow(pool, "f", 5 * ES, NULL), 0);
	cr_assert_eq(daxmap_region_map_extend(pool, map), -EFBIG);
	cr_assert(strstr(daxmap_errormsg(), "outgrew"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_map_len(map), 4 * ES, "nothing was mapped");
	daxmap_map_delete(&map);
}

Test(reserve, bad_input)
{
	struct other o = other_pool();
	struct daxmap_map *map, *plain;
	cr_assert_eq(daxmap_region_create(pool, "f", ES, NULL), 0);
	cr_assert_eq(daxmap_region_map_reserve(NULL, pool, "f", ES, 0), -EINVAL);
	cr_assert_eq(daxmap_region_map_reserve(&map, pool, NULL, ES, 0), -EINVAL);
	cr_assert_eq(daxmap_region_map_reserve(&map, pool, "f", 0, 0), -EINVAL);
	cr_assert_eq(daxmap_region_map_reserve(&map, pool, "nope", ES, 0), -ENOENT);
	cr_assert_eq(daxmap_region_map_reserve(&map, pool, "f", UINT64_MAX, 0), -EINVAL);
	cr_assert_eq(daxmap_region_map_reserve(&map, pool, "f", ES, 8), -EINVAL);
	cr_assert_eq(daxmap_map_new(&plain, dev, 0, ES, 0), 0);
	cr_assert_eq(daxmap_region_map_extend(pool, plain), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "not a region mapping"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map_extend(pool, NULL), -EINVAL);
	cr_assert_eq(daxmap_region_map_reserve(&map, pool, "f", 2 * ES, 0), 0);
	cr_assert_eq(daxmap_region_map_extend(o.pool, map), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "another pool"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map_extend(NULL, map), -EINVAL);
	/* removed: its mapping can no longer grow */
	cr_assert_eq(daxmap_region_remove(pool, "f", 0), 0);
	cr_assert_eq(daxmap_region_map_extend(pool, map), -ESTALE);
	daxmap_map_delete(&map);
	daxmap_map_delete(&plain);
	other_close(&o);
}

/* Grow "f" to 3 extents and write "child" at the start of the third. */
static int grow_and_write(struct child_env *env, long arg, char *text, size_t size)
{
	struct daxmap_map *m;
	int rc;

	(void)arg;
	if ((rc = daxmap_region_grow(env->pool, "f", 3 * env->es, NULL)) ||
	    (rc = daxmap_region_map(&m, env->pool, "f", 0))) {
		snprintf(text, size, "%s", daxmap_errormsg());
		return rc;
	}
	strcpy((char *)daxmap_map_addr(m) + 2 * env->es, "child");
	daxmap_map_delete(&m);
	return 0;
}

Test(reserve, another_process_grows_the_region)
{
	struct daxmap_map *map;
	struct child c;

	cr_assert_eq(daxmap_region_create(pool, "f", ES, NULL), 0);
	cr_assert_eq(daxmap_region_map_reserve(&map, pool, "f", 8 * ES, 0), 0);
	c = child_start(&(struct child_spec){ .path = daxmap_dev_path(dev) });
	child_do(&c, CHILD(.op = CHILD_RUN, .run = grow_and_write));
	child_finish(&c);
	cr_assert_eq(daxmap_region_map_extend(pool, map), 0, "%s", daxmap_errormsg());
	cr_assert_str_eq((char *)daxmap_map_addr(map) + 2 * ES, "child");
	daxmap_map_delete(&map);
}

Test(reserve, a_shrink_then_a_grow_maps_the_tail_again)
{
	struct daxmap_map *map;
	char *p;

	cr_assert_eq(daxmap_region_create(pool, "f", 3 * ES, NULL), 0);
	cr_assert_eq(daxmap_region_map_reserve(&map, pool, "f", 4 * ES, 0), 0);
	p = daxmap_map_addr(map);
	/* this process's shrink turns the tail of its own mapping PROT_NONE */
	cr_assert_eq(daxmap_region_resize(pool, "f", ES, NULL, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_grow(pool, "f", 4 * ES, NULL), 0);
	cr_assert_eq(daxmap_region_map_extend(pool, map), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_map_len(map), 4 * ES);
	p[3 * ES + 1] = 'x'; /* would fault if still PROT_NONE */
	p[ES + 1] = 'y';
	daxmap_map_delete(&map);
	cr_assert_eq(daxmap_region_remove(pool, "f", 0), 0, "%s", daxmap_errormsg());
}

/* ---- logical size ---- */

Test(lsize, set_get_persist_and_reset_by_create)
{
	struct daxmap_map *map;
	uint64_t v = 0;

	cr_assert_eq(daxmap_region_create(pool, "f", 2 * ES, NULL), 0);
	cr_assert_eq(daxmap_region_get_lsize(pool, "f", &v), 0);
	cr_assert_eq(v, DAXMAP_LSIZE_NONE, "a new region has none");
	cr_assert_eq(daxmap_region_set_lsize(pool, "f", 12345), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_get_lsize(pool, "f", &v), 0);
	cr_assert_eq(v, 12345);
	cr_assert_eq(daxmap_region_map(&map, pool, "f", 0), 0);
	cr_assert_eq(daxmap_region_map_get_lsize(pool, map, &v), 0);
	cr_assert_eq(v, 12345);
	cr_assert_eq(daxmap_region_map_set_lsize(pool, map, 0), 0);
	cr_assert_eq(daxmap_region_get_lsize(pool, "f", &v), 0);
	cr_assert_eq(v, 0, "0 is a size, not 'never set'");
	cr_assert_eq(daxmap_region_map_set_lsize(pool, map, 2 * ES), 0);
	daxmap_map_delete(&map);
	/* persistent: a new pool handle reads it from the device */
	daxmap_pool_close(pool);
	cr_assert_eq(daxmap_pool_open(&pool, dev, 0), 0);
	cr_assert_eq(daxmap_region_get_lsize(pool, "f", &v), 0);
	cr_assert_eq(v, 2 * ES);
	cr_assert_eq(daxmap_region_set_lsize(pool, "f", DAXMAP_LSIZE_NONE), 0);
	cr_assert_eq(daxmap_region_get_lsize(pool, "f", &v), 0);
	cr_assert_eq(v, DAXMAP_LSIZE_NONE);
	/* a region created again in the same slot starts with none */
	cr_assert_eq(daxmap_region_set_lsize(pool, "f", 7), 0);
	cr_assert_eq(daxmap_region_remove(pool, "f", 0), 0);
	cr_assert_eq(daxmap_region_create(pool, "f", ES, NULL), 0);
	cr_assert_eq(daxmap_region_get_lsize(pool, "f", &v), 0);
	cr_assert_eq(v, DAXMAP_LSIZE_NONE);
}

Test(lsize, the_word_is_size_plus_one_at_offset_40)
{
	struct daxmap_map *meta;
	struct region_rec *rec;

	cr_assert_eq(daxmap_region_create(pool, "f", ES, NULL), 0);
	cr_assert_eq(daxmap_region_set_lsize(pool, "f", 4096), 0);
	cr_assert_eq(daxmap_map_new(&meta, dev, 0, 2 * ES, 0), 0);
	rec = (struct region_rec *)((char *)daxmap_map_addr(meta) + REGION_TABLE_OFF);
	cr_assert_str_eq(rec[0].name, "f");
	cr_assert_eq(rec[0].lsize, 4097);
	cr_assert_eq(rec[0].reserved[0], 0, "the word beside it is not touched");
	daxmap_map_delete(&meta);
}

Test(lsize, bad_input_changes_nothing)
{
	struct daxmap_pool *ro;
	struct other o = other_pool();
	struct daxmap_map *map, *plain;
	uint64_t v, h;

	cr_assert_eq(daxmap_region_create(pool, "f", ES, NULL), 0);
	cr_assert_eq(daxmap_region_set_lsize(pool, "f", 10), 0);
	cr_assert_eq(daxmap_region_map(&map, pool, "f", 0), 0);
	cr_assert_eq(daxmap_map_new(&plain, dev, 0, ES, 0), 0);
	h = dev_hash(dev);
	cr_assert_eq(daxmap_region_set_lsize(pool, "f", ES + 1), -EFBIG);
	cr_assert(strstr(daxmap_errormsg(), "larger than the region"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map_set_lsize(pool, map, ES + 1), -EFBIG);
	cr_assert_eq(daxmap_region_set_lsize(pool, "nope", 1), -ENOENT);
	cr_assert_eq(daxmap_region_set_lsize(pool, NULL, 1), -EINVAL);
	cr_assert_eq(daxmap_region_set_lsize(NULL, "f", 1), -EINVAL);
	cr_assert_eq(daxmap_region_get_lsize(pool, "f", NULL), -EINVAL);
	cr_assert_eq(daxmap_region_get_lsize(pool, NULL, &v), -EINVAL);
	cr_assert_eq(daxmap_region_get_lsize(pool, "nope", &v), -ENOENT);
	cr_assert_eq(daxmap_region_map_get_lsize(pool, map, NULL), -EINVAL);
	cr_assert_eq(daxmap_region_map_get_lsize(pool, plain, &v), -EINVAL);
	cr_assert_eq(daxmap_region_map_set_lsize(pool, plain, 1), -EINVAL);
	cr_assert_eq(daxmap_region_map_get_lsize(o.pool, map, &v), -EINVAL);
	cr_assert_eq(daxmap_region_map_set_lsize(o.pool, map, 1), -EINVAL);
	cr_assert_eq(daxmap_region_map_set_lsize(NULL, map, 1), -EINVAL);
	cr_assert_eq(daxmap_region_map_get_lsize(pool, NULL, &v), -EINVAL);
	cr_assert_eq(daxmap_pool_open(&ro, dev, DAXMAP_POOL_RDONLY), 0);
	cr_assert_eq(daxmap_region_set_lsize(ro, "f", 1), -EROFS);
	cr_assert_eq(daxmap_region_get_lsize(ro, "f", &v), 0, "reading works read-only");
	cr_assert_eq(v, 10);
	daxmap_pool_close(ro);
	cr_assert_eq(dev_hash(dev), h);
	/* removed (by this process): gone by name, stale through the map */
	cr_assert_eq(daxmap_region_remove(pool, "f", 0), 0);
	cr_assert_eq(daxmap_region_map_get_lsize(pool, map, &v), -ESTALE);
	cr_assert_eq(daxmap_region_map_set_lsize(pool, map, 1), -ESTALE);
	cr_assert(strstr(daxmap_errormsg(), "removed"), "%s", daxmap_errormsg());
	daxmap_map_delete(&map);
	daxmap_map_delete(&plain);
	other_close(&o);
}

/* ---- region locks ---- */

Test(lock, owners_in_one_process_conflict_as_processes_do)
{
	struct daxmap_lock *a, *b, *g;

	cr_assert_eq(daxmap_region_create(pool, "f", ES, NULL), 0);
	cr_assert_eq(daxmap_region_create(pool, "g", ES, NULL), 0);
	cr_assert_eq(daxmap_lock_open(&a, pool, "f"), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_lock_open(&b, pool, "f"), 0);
	cr_assert_eq(daxmap_lock_open(&g, pool, "g"), 0);
	/* shared with shared: fine; exclusive: refused */
	cr_assert_eq(daxmap_lock_set(a, 10, 5, DAXMAP_LOCK_SHARED, 0), 0);
	cr_assert_eq(daxmap_lock_set(b, 12, 1, DAXMAP_LOCK_SHARED, 0), 0);
	cr_assert_eq(daxmap_lock_test(a, 12, 1, DAXMAP_LOCK_EXCL), 1);
	cr_assert_eq(daxmap_lock_test(a, 12, 1, DAXMAP_LOCK_SHARED), 0);
	cr_assert_eq(daxmap_lock_set(a, 12, 1, DAXMAP_LOCK_EXCL, 0), -EAGAIN);
	cr_assert(strstr(daxmap_errormsg(), "conflicting"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_lock_set(b, 12, 1, DAXMAP_LOCK_UNLOCK, 0), 0);
	/* an upgrade in place, as fcntl converts */
	cr_assert_eq(daxmap_lock_set(a, 12, 1, DAXMAP_LOCK_EXCL, 0), 0);
	cr_assert_eq(daxmap_lock_test(b, 10, 5, DAXMAP_LOCK_SHARED), 1);
	cr_assert_eq(daxmap_lock_set(b, 12, 1, DAXMAP_LOCK_SHARED, 0), -EAGAIN);
	/* the same bytes of another region are another lock */
	cr_assert_eq(daxmap_lock_set(g, 12, 1, DAXMAP_LOCK_EXCL, 0), 0);
	/* the byte of the pool lock is not a region's */
	cr_assert_eq(daxmap_region_create(pool, "h", ES, NULL), 0, "%s", daxmap_errormsg());
	/* closing drops every lock of the owner */
	daxmap_lock_close(&a);
	cr_assert_null(a);
	cr_assert_eq(daxmap_lock_set(b, 0, DAXMAP_LOCK_SPAN, DAXMAP_LOCK_EXCL, 0), 0);
	daxmap_lock_close(&b);
	daxmap_lock_close(&g);
	daxmap_lock_close(&g); /* NULL: nothing */
	daxmap_lock_close(NULL);
}

static void *wait_excl(void *arg)
{
	struct daxmap_lock *lk = arg;

	return (void *)(intptr_t)daxmap_lock_set(lk, 0, 1, DAXMAP_LOCK_EXCL, DAXMAP_LOCK_WAIT);
}

Test(lock, a_waiting_owner_gets_the_lock_when_it_goes)
{
	struct daxmap_lock *a, *b;
	pthread_t t;
	void *rc;

	cr_assert_eq(daxmap_region_create(pool, "f", ES, NULL), 0);
	cr_assert_eq(daxmap_lock_open(&a, pool, "f"), 0);
	cr_assert_eq(daxmap_lock_open(&b, pool, "f"), 0);
	cr_assert_eq(daxmap_lock_set(a, 0, 1, DAXMAP_LOCK_SHARED, 0), 0);
	cr_assert_eq(pthread_create(&t, NULL, wait_excl, b), 0);
	usleep(100000);
	cr_assert_eq(daxmap_lock_set(a, 0, 1, DAXMAP_LOCK_UNLOCK, 0), 0);
	pthread_join(t, &rc);
	cr_assert_eq((intptr_t)rc, 0);
	cr_assert_eq(daxmap_lock_test(a, 0, 1, DAXMAP_LOCK_SHARED), 1);
	daxmap_lock_close(&a);
	daxmap_lock_close(&b);
}

static struct daxmap_lock *child_lock;

/* In the child: lock byte arg of "f" exclusively, and keep it. */
static int lock_in_child(struct child_env *env, long arg, char *text, size_t size)
{
	int rc;

	if ((rc = daxmap_lock_open(&child_lock, env->pool, "f")) ||
	    (rc = daxmap_lock_set(child_lock, (uint64_t)arg, 1, DAXMAP_LOCK_EXCL, 0)))
		snprintf(text, size, "%s", daxmap_errormsg());
	return rc;
}

Test(lock, another_process_holds_it_until_it_dies)
{
	struct daxmap_lock *a;
	struct child c;

	cr_assert_eq(daxmap_region_create(pool, "f", ES, NULL), 0);
	cr_assert_eq(daxmap_lock_open(&a, pool, "f"), 0);
	c = child_start(&(struct child_spec){ .path = daxmap_dev_path(dev) });
	child_do(&c, CHILD(.op = CHILD_RUN, .run = lock_in_child, .arg = 7));
	cr_assert_eq(daxmap_lock_test(a, 7, 1, DAXMAP_LOCK_SHARED), 1);
	cr_assert_eq(daxmap_lock_set(a, 0, 100, DAXMAP_LOCK_SHARED, 0), -EAGAIN);
	cr_assert_eq(daxmap_lock_set(a, 8, 1, DAXMAP_LOCK_EXCL, 0), 0);
	child_kill(&c);
	/* the kernel dropped the dead process's lock */
	cr_assert_eq(daxmap_lock_set(a, 0, 100, DAXMAP_LOCK_EXCL, 0), 0);
	daxmap_lock_close(&a);
}

Test(lock, bad_input)
{
	struct daxmap_lock *a;

	cr_assert_eq(daxmap_region_create(pool, "f", ES, NULL), 0);
	cr_assert_eq(daxmap_lock_open(NULL, pool, "f"), -EINVAL);
	cr_assert_eq(daxmap_lock_open(&a, pool, NULL), -EINVAL);
	cr_assert_null(a);
	cr_assert_eq(daxmap_lock_open(&a, NULL, "f"), -EINVAL);
	cr_assert_eq(daxmap_lock_open(&a, pool, "nope"), -ENOENT);
	cr_assert_eq(daxmap_lock_open(&a, pool, "f"), 0);
	cr_assert_eq(daxmap_lock_set(NULL, 0, 1, DAXMAP_LOCK_EXCL, 0), -EINVAL);
	cr_assert_eq(daxmap_lock_set(a, 0, 0, DAXMAP_LOCK_EXCL, 0), -EINVAL);
	cr_assert_eq(daxmap_lock_set(a, DAXMAP_LOCK_SPAN, 1, DAXMAP_LOCK_EXCL, 0), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "lock bytes"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_lock_set(a, 1, DAXMAP_LOCK_SPAN, DAXMAP_LOCK_EXCL, 0), -EINVAL);
	cr_assert_eq(daxmap_lock_set(a, 0, 1, (enum daxmap_lock_type)7, 0), -EINVAL);
	cr_assert_eq(daxmap_lock_set(a, 0, 1, DAXMAP_LOCK_EXCL, 4), -EINVAL);
	cr_assert_eq(daxmap_lock_test(a, 0, 1, DAXMAP_LOCK_UNLOCK), -EINVAL);
	cr_assert_eq(daxmap_lock_test(NULL, 0, 1, DAXMAP_LOCK_EXCL), -EINVAL);
	cr_assert_eq(daxmap_lock_test(a, 0, 0, DAXMAP_LOCK_EXCL), -EINVAL);
	daxmap_lock_close(&a);
}

/* ---- daxmap_region_exists ---- */

Test(exists, follows_create_and_remove_without_a_lock)
{
	struct daxmap_pool *other;
	struct daxmap_map *map;

	cr_assert_eq(daxmap_pool_open(&other, dev, 0), 0);
	cr_assert_eq(daxmap_region_exists(pool, "f"), 0);
	cr_assert_eq(daxmap_region_create(other, "f", ES, NULL), 0);
	cr_assert_eq(daxmap_region_exists(pool, "f"), 1, "another handle's create is seen");
	cr_assert_eq(daxmap_region_exists(pool, "f2"), 0);
	cr_assert_eq(daxmap_region_map(&map, pool, "f", 0), 0);
	cr_assert_eq(daxmap_region_remove(other, "f", 0), 0);
	cr_assert_eq(daxmap_region_exists(pool, "f"), 0);
	daxmap_map_delete(&map);
	cr_assert_eq(daxmap_region_exists(NULL, "f"), -EINVAL);
	cr_assert_eq(daxmap_region_exists(pool, NULL), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "required"), "%s", daxmap_errormsg());
	daxmap_pool_close(other);
}
