/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * conn.c -- the frame of libdaxmap(3)'s revocable pin example (struct conn):
 * the example's functions at file scope, with stand-ins for the two verbs
 * calls (no RDMA device is needed to count pins). It registers, then runs
 * a release (the revoke callback) and conn_unregister() against each other,
 * many times: the example must neither deadlock nor leak a registration.
 */
#include <daxmap.h>
#include <err.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <infiniband/verbs.h>

static int live_mrs;

static struct ibv_mr *fake_reg_mr(struct ibv_pd *pd, void *addr, size_t len, int access)
{
	(void)pd, (void)addr, (void)len, (void)access;
	__atomic_add_fetch(&live_mrs, 1, __ATOMIC_SEQ_CST);
	return calloc(1, sizeof(struct ibv_mr));
}

/* a slow deregistration widens the window in which the revoke callback
 * and conn_unregister() meet */
static int fake_dereg_mr(struct ibv_mr *mr)
{
	usleep(2000);
	__atomic_sub_fetch(&live_mrs, 1, __ATOMIC_SEQ_CST);
	free(mr);
	return 0;
}

#undef ibv_reg_mr
#define ibv_reg_mr fake_reg_mr
#define ibv_dereg_mr fake_dereg_mr

#include EXAMPLE

static void *remove_r(void *pool)
{
	return (void *)(intptr_t)daxmap_region_remove(pool, "r", DAXMAP_WAIT_FOREVER);
}

int main(int argc, char **argv)
{
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;

	alarm(120); /* a deadlock fails the run */
	if (argc != 2 || daxmap_dev_open(&dev, argv[1], 0, 0) < 0 ||
	    daxmap_pool_format(dev, 0, 0) < 0 || daxmap_pool_open(&pool, dev, 0) < 0)
		errx(2, "frame: %s", daxmap_errormsg());
	for (int i = 0; i < 100; i++) {
		struct conn c = { PTHREAD_MUTEX_INITIALIZER, NULL, NULL };
		struct daxmap_map *map;
		pthread_t t;
		void *rc;

		if (daxmap_region_create(pool, "r", 4 << 20, NULL) < 0 ||
		    daxmap_region_map(&map, pool, "r", 0) < 0)
			errx(2, "frame: %s", daxmap_errormsg());
		if (conn_register(&c, (struct ibv_pd *)&c, map, 0, 2 << 20) != 0)
			errx(1, "conn_register: %s", daxmap_errormsg());
		if (pthread_create(&t, NULL, remove_r, pool) != 0)
			errx(2, "pthread_create");
		usleep((useconds_t)(i % 7) * 500);
		conn_unregister(&c);
		pthread_join(t, &rc);
		if ((intptr_t)rc != 0)
			errx(1, "remove: %s", daxmap_errormsg());
		if (c.pin || __atomic_load_n(&live_mrs, __ATOMIC_SEQ_CST))
			errx(1, "round %d: a registration was left behind", i);
		daxmap_map_delete(&map);
	}
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
	return 0;
}
