/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_pin_uring.c -- the io_uring pin backend on emulated devices.
 *
 * The rules refuse every long-term pin of an emulated device (page-cache
 * memory), so these tests see the refusals through the public API, and the
 * kernel side (registration, I/O on the fixed buffer, unpin, revoke,
 * RLIMIT_MEMLOCK) white-box: the emulated device lives on tmpfs, which
 * io_uring and GUP do pin long-term, and the test relabels it devdax just
 * for the pin call. Real devdax is in tests/vm/test_uring.c.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <daxmap.h>

#include "config.h"
#include "helpers.h"
#include "lib/dev.h"

#if DAXMAP_HAVE_URING
#include <liburing.h>

#include "lib/pin_uring.h"

struct fixture {
	char path[64];
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	struct daxmap_map *map;
};

/* A pool with region "r" of 3 extents (2 MiB), mapped. tmpfs: in
 * /dev/shm, so the kernel can long-term pin it. */
static void setup_pool(struct fixture *f)
{
	int fd;

	snprintf(f->path, sizeof(f->path), "/dev/shm/daxmap-uring-XXXXXX");
	fd = mkstemp(f->path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)(16 * MiB)), 0);
	close(fd);
	cr_assert_eq(daxmap_dev_open(&f->dev, f->path, 0, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_format(f->dev, 0, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_open(&f->pool, f->dev, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_create(f->pool, "r", 6 * MiB, NULL), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map(&f->map, f->pool, "r", 0), 0, "%s", daxmap_errormsg());
}

static void teardown_pool(struct fixture *f)
{
	f->dev->kind = DAXMAP_KIND_FILE;
	daxmap_map_delete(&f->map);
	daxmap_pool_close(f->pool);
	daxmap_dev_close(f->dev);
	unlink(f->path);
}

/* As if the memory were devdax, on a kernel that allows io_uring there. */
static void as_devdax(struct fixture *f)
{
	f->dev->kind = DAXMAP_KIND_DEVDAX;
	setenv("DAXMAP_KERNEL_VERSION", "6.5", 1);
}

static void ring_init(struct io_uring *ring, unsigned slots)
{
	int rc = io_uring_queue_init(8, ring, 0);

	if (rc == -ENOSYS || rc == -EPERM)
		cr_skip_test("io_uring is not available here: %s", strerror(-rc));
	cr_assert_eq(rc, 0, "io_uring_queue_init: %s", strerror(-rc));
	if (slots)
		cr_assert_eq(io_uring_register_buffers_sparse(ring, slots), 0);
}

/* Pins (exact count) on the extents of region "r". */
static unsigned pins_of(struct fixture *f, unsigned *extents)
{
	struct daxmap_extent_refs *r;
	unsigned pins = 0;
	size_t n;

	cr_assert_eq(daxmap_pool_refs(f->pool, "r", &r, &n), 0, "%s", daxmap_errormsg());
	for (size_t i = 0; i < n; i++)
		pins += r[i].pins;
	if (extents) {
		*extents = 0;
		for (size_t i = 0; i < n; i++)
			*extents += r[i].pins > 0;
	}
	free(r);
	return pins;
}

/* A fixed read of len bytes of fd at 0 into dst, through buffer index:
 * the CQE's result. */
static int read_fixed(struct io_uring *ring, int fd, void *dst, unsigned len, int index)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int res;

	cr_assert_not_null(sqe);
	io_uring_prep_read_fixed(sqe, fd, dst, len, 0, index);
	cr_assert_eq(io_uring_submit(ring), 1);
	cr_assert_eq(io_uring_wait_cqe(ring, &cqe), 0);
	res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return res;
}

static int source_file(const char *text)
{
	char path[] = "/dev/shm/daxmap-uring-src-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(write(fd, text, strlen(text) + 1), (ssize_t)strlen(text) + 1);
	return fd;
}

Test(pin_uring, refused_on_emulated_file_naming_the_rule)
{
	struct fixture f;
	struct io_uring ring; /* never reached: the rule comes first */
	struct daxmap_pin *pin = (struct daxmap_pin *)&f;

	memset(&ring, 0, sizeof(ring));
	setup_pool(&f);
	setenv("DAXMAP_KERNEL_VERSION", "6.1", 1);
	cr_assert_eq(daxmap_pin_io_uring(&pin, f.map, 0, 2 * MiB, &ring, 0, NULL, NULL),
		     -EOPNOTSUPP);
	cr_assert_null(pin);
	cr_assert(strstr(daxmap_errormsg(), "io_uring pin of") &&
		  strstr(daxmap_errormsg(), "(file, Linux 6.1)") &&
		  strstr(daxmap_errormsg(), "page-cache"), "%s", daxmap_errormsg());
	/* also from 6.5 on: page-cache memory is never allowed */
	setenv("DAXMAP_KERNEL_VERSION", "6.12", 1);
	cr_assert_eq(daxmap_pin_io_uring(&pin, f.map, 0, 2 * MiB, &ring, 0, NULL, NULL),
		     -EOPNOTSUPP);
	cr_assert_eq(pins_of(&f, NULL), 0);
	unsetenv("DAXMAP_KERNEL_VERSION");
	teardown_pool(&f);
}

Test(pin_uring, devdax_before_6_5_refused_before_the_kernel)
{
	struct fixture f;
	struct io_uring ring;
	struct daxmap_pin *pin;

	memset(&ring, 0, sizeof(ring)); /* a ring the kernel never sees */
	setup_pool(&f);
	f.dev->kind = DAXMAP_KIND_DEVDAX;
	setenv("DAXMAP_KERNEL_VERSION", "6.4", 1);
	cr_assert_eq(daxmap_pin_io_uring(&pin, f.map, 0, 2 * MiB, &ring, 0, NULL, NULL),
		     -EOPNOTSUPP);
	cr_assert(strstr(daxmap_errormsg(), "(devdax, Linux 6.4)") &&
		  strstr(daxmap_errormsg(), "before Linux 6.5"), "%s", daxmap_errormsg());
	cr_assert_eq(pins_of(&f, NULL), 0);
	unsetenv("DAXMAP_KERNEL_VERSION");
	teardown_pool(&f);
}

Test(pin_uring, bad_input)
{
	struct fixture f;
	struct io_uring ring;
	struct daxmap_pin *pin = (struct daxmap_pin *)&f;

	memset(&ring, 0, sizeof(ring));
	setup_pool(&f);
	as_devdax(&f);
	cr_assert_eq(daxmap_pin_io_uring(NULL, f.map, 0, 2 * MiB, &ring, 0, NULL, NULL), -EINVAL);
	cr_assert_eq(daxmap_pin_io_uring(&pin, NULL, 0, 2 * MiB, &ring, 0, NULL, NULL), -EINVAL);
	cr_assert_null(pin);
	cr_assert_eq(daxmap_pin_io_uring(&pin, f.map, 0, 2 * MiB, NULL, 0, NULL, NULL), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "pinp, map and ring are required"), "%s",
		  daxmap_errormsg());
	cr_assert_eq(daxmap_pin_io_uring(&pin, f.map, 0, 0, &ring, 0, NULL, NULL), -EINVAL);
	/* the limit per buffer, named, before the rules and the kernel */
	f.dev->kind = DAXMAP_KIND_FILE;
	cr_assert_eq(daxmap_pin_io_uring(&pin, f.map, 0, GiB + 4096, &ring, 0, NULL, NULL), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "io_uring fixed buffers hold 1 GiB at most"), "%s",
		  daxmap_errormsg());
	f.dev->kind = DAXMAP_KIND_DEVDAX;
	/* outside the mapping (6 MiB) */
	cr_assert_eq(daxmap_pin_io_uring(&pin, f.map, 4 * MiB, 4 * MiB, &ring, 0, NULL, NULL),
		     -EINVAL);
	cr_assert_null(pin);
	cr_assert_eq(pins_of(&f, NULL), 0);
	unsetenv("DAXMAP_KERNEL_VERSION");
	teardown_pool(&f);
}

Test(pin_uring, register_read_fixed_unpin)
{
	static const char text[] = "read through a fixed buffer";
	struct fixture f;
	struct io_uring ring;
	struct daxmap_pin *pin, *other;
	unsigned extents;
	char *a;
	int src;

	setup_pool(&f);
	ring_init(&ring, 4);
	as_devdax(&f);
	a = daxmap_map_addr(f.map);
	/* 3 MiB from 1 MiB: across the first two extents */
	cr_assert_eq(daxmap_pin_io_uring(&pin, f.map, MiB, 3 * MiB, &ring, 2, NULL, NULL), 0, "%s",
		     daxmap_errormsg());
	cr_assert_eq(daxmap_pin_backend(pin), DAXMAP_PIN_IO_URING);
	cr_assert_eq(pins_of(&f, &extents), 2);
	cr_assert_eq(extents, 2);
	{
		struct daxmap_holding *h;
		size_t n;

		cr_assert_eq(daxmap_pool_holders(f.pool, &h, &n), 0);
		for (size_t i = 0; i < n; i++)
			if (h[i].kind == DAXMAP_REF_PIN)
				cr_assert_eq(h[i].backend, DAXMAP_PIN_IO_URING);
		free(h);
	}
	/* the slot is ours: a second pin there is refused */
	cr_assert_eq(daxmap_pin_io_uring(&other, f.map, 4 * MiB, 2 * MiB, &ring, 2, NULL, NULL),
		     -EBUSY);
	cr_assert(strstr(daxmap_errormsg(), "fixed buffer 2 of this ring already holds"), "%s",
		  daxmap_errormsg());
	/* the kernel's buffer: a fixed read lands in the region */
	src = source_file(text);
	cr_assert_eq(read_fixed(&ring, src, a + 2 * MiB, sizeof(text), 2), (int)sizeof(text));
	cr_assert_str_eq(a + 2 * MiB, text);
	/* outside the buffer: the kernel says so */
	cr_assert_eq(read_fixed(&ring, src, a + 5 * MiB, sizeof(text), 2), -EFAULT);

	cr_assert_eq(daxmap_unpin(&pin), 0, "%s", daxmap_errormsg());
	cr_assert_null(pin);
	cr_assert_eq(pins_of(&f, NULL), 0);
	/* the slot is empty again */
	cr_assert_lt(read_fixed(&ring, src, a + 2 * MiB, sizeof(text), 2), 0);
	/* and may be used again */
	cr_assert_eq(daxmap_pin_io_uring(&pin, f.map, 4 * MiB, 2 * MiB, &ring, 2, NULL, NULL), 0,
		     "%s", daxmap_errormsg());
	cr_assert_eq(read_fixed(&ring, src, a + 4 * MiB, sizeof(text), 2), (int)sizeof(text));
	cr_assert_eq(daxmap_unpin(&pin), 0, "%s", daxmap_errormsg());
	close(src);
	io_uring_queue_exit(&ring);
	unsetenv("DAXMAP_KERNEL_VERSION");
	teardown_pool(&f);
}

Test(pin_uring, kernel_refusals_report_the_likely_reason)
{
	struct fixture f;
	struct io_uring ring, bare;
	struct daxmap_pin *pin;

	setup_pool(&f);
	ring_init(&ring, 2);
	ring_init(&bare, 0);
	as_devdax(&f);
	/* no buffer table */
	cr_assert_eq(daxmap_pin_io_uring(&pin, f.map, 0, 2 * MiB, &bare, 0, NULL, NULL), -ENXIO);
	cr_assert(strstr(daxmap_errormsg(), "the kernel refused fixed buffer 0") &&
		  strstr(daxmap_errormsg(), "ENXIO") &&
		  strstr(daxmap_errormsg(), "likely reason: the ring has no fixed-buffer table") &&
		  strstr(daxmap_errormsg(), "io_uring_register_buffers_sparse"),
		  "%s", daxmap_errormsg());
	cr_assert_null(pin);
	/* index outside the table */
	cr_assert_eq(daxmap_pin_io_uring(&pin, f.map, 0, 2 * MiB, &ring, 7, NULL, NULL), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "likely reason: index 7 is outside the ring's"), "%s",
		  daxmap_errormsg());
	/* nothing stays pinned, and the slot claims were given back */
	cr_assert_eq(pins_of(&f, NULL), 0);
	cr_assert_eq(daxmap_pin_io_uring(&pin, f.map, 0, 2 * MiB, &ring, 1, NULL, NULL), 0, "%s",
		     daxmap_errormsg());
	cr_assert_eq(daxmap_unpin(&pin), 0);
	io_uring_queue_exit(&bare);
	io_uring_queue_exit(&ring);
	unsetenv("DAXMAP_KERNEL_VERSION");
	teardown_pool(&f);
}

Test(pin_uring, memlock_limit_named_with_its_value)
{
	struct rlimit rl = { 64 << 10, 64 << 10 };
	struct fixture f;
	struct io_uring ring;
	struct daxmap_pin *pin;

	setup_pool(&f);
	/* without CAP_IPC_LOCK the ring charges RLIMIT_MEMLOCK (the ring
	 * takes its user when it is created) */
	drop_root();
	cr_assert_eq(setrlimit(RLIMIT_MEMLOCK, &rl), 0);
	ring_init(&ring, 2);
	as_devdax(&f);
	cr_assert_eq(daxmap_pin_io_uring(&pin, f.map, 0, 2 * MiB, &ring, 0, NULL, NULL), -ENOMEM);
	cr_assert(strstr(daxmap_errormsg(), "ENOMEM") &&
		  strstr(daxmap_errormsg(), "likely reason: RLIMIT_MEMLOCK") &&
		  strstr(daxmap_errormsg(), "now 64 KiB") &&
		  strstr(daxmap_errormsg(), "this one is 2 MiB"),
		  "%s", daxmap_errormsg());
	cr_assert_eq(pins_of(&f, NULL), 0);
	io_uring_queue_exit(&ring);
	unsetenv("DAXMAP_KERNEL_VERSION");
	teardown_pool(&f);
}

Test(pin_uring, refusal_reasons)
{
	char buf[400];
	struct utsname u;

	cr_assert_eq(uname(&u), 0);
	unsetenv("DAXMAP_KERNEL_VERSION");
	uring_refusal_reason(EOPNOTSUPP, 2 * MiB, 0, buf, sizeof(buf));
	cr_assert(strstr(buf, "before Linux 6.5 refuses fixed buffers in file-backed mappings") &&
		  strstr(buf, u.release) && !strstr(buf, "DAXMAP_KERNEL_VERSION"), "%s", buf);
	setenv("DAXMAP_KERNEL_VERSION", "6.5", 1);
	uring_refusal_reason(EOPNOTSUPP, 2 * MiB, 0, buf, sizeof(buf));
	cr_assert(strstr(buf, "DAXMAP_KERNEL_VERSION=6.5 made the library ask anyway"), "%s", buf);
	unsetenv("DAXMAP_KERNEL_VERSION");
	uring_refusal_reason(EFAULT, 2 * MiB, 0, buf, sizeof(buf));
	cr_assert(strstr(buf, "FOLL_LONGTERM"), "%s", buf);
	uring_refusal_reason(EBADF, 2 * MiB, 0, buf, sizeof(buf));
	cr_assert(strstr(buf, "io_uring_queue_exit"), "%s", buf);
	uring_refusal_reason(E2BIG, 2 * MiB, 0, buf, sizeof(buf));
	cr_assert(strstr(buf, "io_uring_register(2)"), "%s", buf);
}

/* The revoke callback: stop using the buffer, unpin. */
struct revoked {
	struct daxmap_pin *pin;
	int calls, unpin_rc, same_pin;
};

static void on_revoke(struct daxmap_pin *pin, void *arg)
{
	struct revoked *r = arg;

	/* no cr_assert here: this is the library's thread */
	r->same_pin = pin == r->pin;
	r->calls++;
	r->unpin_rc = daxmap_unpin(&r->pin);
}

Test(pin_uring, revoked_by_a_region_remove)
{
	struct fixture f;
	struct io_uring ring;
	struct revoked r = { NULL, 0, -1, 0 };
	int src;

	setup_pool(&f);
	ring_init(&ring, 1);
	as_devdax(&f);
	cr_assert_eq(daxmap_pin_io_uring(&r.pin, f.map, 0, 2 * MiB, &ring, 0, on_revoke, &r), 0,
		     "%s", daxmap_errormsg());
	/* the callback unpins: the removal goes through */
	cr_assert_eq(daxmap_region_remove(f.pool, "r", 10000), 0, "%s", daxmap_errormsg());
	cr_assert_eq(r.calls, 1);
	cr_assert(r.same_pin);
	cr_assert_eq(r.unpin_rc, 0);
	cr_assert_null(r.pin);
	/* the slot was emptied */
	src = source_file("x");
	cr_assert_lt(read_fixed(&ring, src, daxmap_map_addr(f.map), 2, 0), 0);
	close(src);
	io_uring_queue_exit(&ring);
	unsetenv("DAXMAP_KERNEL_VERSION");
	teardown_pool(&f);
}

Test(pin_uring, forked_child_leaves_the_parents_slot)
{
	static const char text[] = "still registered";
	struct fixture f;
	struct io_uring ring;
	struct daxmap_pin *pin;
	int src, st;
	pid_t c;

	setup_pool(&f);
	ring_init(&ring, 1);
	as_devdax(&f);
	cr_assert_eq(daxmap_pin_io_uring(&pin, f.map, 0, 2 * MiB, &ring, 0, NULL, NULL), 0, "%s",
		     daxmap_errormsg());
	c = fork();
	cr_assert_geq(c, 0);
	if (c == 0)
		/* the child's copy of the pin is not its own: -ECHILD, and the
		 * ring (shared with the parent) is left alone */
		_exit(daxmap_unpin(&pin) == -ECHILD ? 0 : 1);
	cr_assert_eq(waitpid(c, &st, 0), c);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
	src = source_file(text);
	cr_assert_eq(read_fixed(&ring, src, daxmap_map_addr(f.map), sizeof(text), 0),
		     (int)sizeof(text));
	cr_assert_eq(daxmap_unpin(&pin), 0, "%s", daxmap_errormsg());
	close(src);
	io_uring_queue_exit(&ring);
	unsetenv("DAXMAP_KERNEL_VERSION");
	teardown_pool(&f);
}

#else /* !DAXMAP_HAVE_URING */

Test(pin_uring, built_without_liburing)
{
	struct daxmap_pin *pin = (struct daxmap_pin *)&pin;

	cr_assert_eq(daxmap_pin_io_uring(&pin, NULL, 0, 2 * MiB, NULL, 0, NULL, NULL), -EOPNOTSUPP);
	cr_assert_null(pin);
	cr_assert(strstr(daxmap_errormsg(), "built without liburing"), "%s", daxmap_errormsg());
}

#endif
