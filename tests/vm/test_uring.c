/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_uring.c -- the io_uring pin backend and 'daxmapctl pin-check' on
 * real device-DAX (NVDIMM 2 MiB and 1 GiB, hmem) and fsdax, on whichever
 * kernel the rig boots. Before 6.5 io_uring refuses fixed buffers on
 * devdax (io_uring/rsrc.c): the library refuses first, and the kernel,
 * asked directly, refuses too. From 6.5 both take them: a pinned buffer
 * receives READ_FIXED data, and a region removal revokes the pin or waits
 * for it. Buffers over 1 GiB: refused where the kernel refuses them (6.1,
 * 6.12), taken on 7.3. pin-check is checked against doc/pins.md's table of
 * the running kernel.
 * Runs inside the QEMU rig (tests/vm/run sets DAXMAP_TEST_*); anywhere else
 * it exits 77, Meson's "skipped", and says why.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <liburing.h>

#include <daxmap.h>

#include "helpers.h"
#include "pin_table.h"
#include "rig.h"

/* The running kernel's major.minor (uname: the rig never overrides it). */
static void kernel_of(unsigned *major, unsigned *minor)
{
	struct utsname u;

	cr_assert_eq(uname(&u), 0);
	cr_assert_eq(sscanf(u.release, "%u.%u", major, minor), 2, "%s", u.release);
}

static bool takes_devdax(void)
{
	unsigned major, minor;

	kernel_of(&major, &minor);
	return major > 6 || (major == 6 && minor >= 5);
}

static void version_string(char *ver, size_t len)
{
	unsigned major, minor;

	kernel_of(&major, &minor);
	snprintf(ver, len, "%u.%u", major, minor);
}

static void assert_msg_has(const char *msg, const char *fmt, ...)
{
	char want[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(want, sizeof(want), fmt, ap);
	va_end(ap);
	cr_assert(strstr(msg, want), "'%s' not in: %s", want, msg);
}

static void ring_init(struct io_uring *ring, unsigned slots)
{
	int rc = io_uring_queue_init(8, ring, 0);

	cr_assert_eq(rc, 0, "io_uring_queue_init: %s", strerror(-rc));
	if (slots)
		cr_assert_eq(io_uring_register_buffers_sparse(ring, slots), 0);
}

struct pooled {
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	struct daxmap_map *map;
	uint64_t es; /* extent size */
};

/* A fresh pool on path with region "u" of n extents, mapped. */
static void pooled_map(struct pooled *p, const char *path, uint64_t n)
{
	struct daxmap_pool_stat st;

	p->dev = open_dev(path);
	p->pool = rig_fresh_pool(p->dev, &st);
	p->es = st.extent_size;
	cr_assert_eq(daxmap_region_create(p->pool, "u", n * p->es, NULL), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map(&p->map, p->pool, "u", 0), 0, "%s", daxmap_errormsg());
}

static void pooled_close(struct pooled *p)
{
	cr_assert_eq(daxmap_map_delete(&p->map), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_remove(p->pool, "u", 0), 0, "%s", daxmap_errormsg());
	daxmap_pool_close(p->pool);
	daxmap_dev_close(p->dev);
}

static unsigned pins(struct pooled *p)
{
	struct daxmap_extent_refs *r;
	unsigned n_pins = 0;
	size_t n;

	cr_assert_eq(daxmap_pool_refs(p->pool, "u", &r, &n), 0, "%s", daxmap_errormsg());
	for (size_t i = 0; i < n; i++)
		n_pins += r[i].pins;
	free(r);
	return n_pins;
}

/* A file of n bytes of pattern seed in the guest's /tmp, open for reading. */
static int pattern_file(uint64_t n, int seed)
{
	char path[] = "/tmp/uring-src.XXXXXX", buf[4096];
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	unlink(path);
	for (uint64_t o = 0; o < n; o += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (char)(seed + (int)((o + i) % 251));
		cr_assert_eq(pwrite(fd, buf, sizeof(buf), (off_t)o), (ssize_t)sizeof(buf));
	}
	return fd;
}

/* READ_FIXED of n bytes of src into buf (inside fixed buffer index): the
 * data must land in the devdax memory. */
static void read_fixed(struct io_uring *ring, int src, char *buf, unsigned n, unsigned index,
		       int seed)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;

	memset(buf, 0, n);
	cr_assert_not_null(sqe);
	io_uring_prep_read_fixed(sqe, src, buf, n, 0, (int)index);
	cr_assert_eq(io_uring_submit(ring), 1);
	cr_assert_eq(io_uring_wait_cqe(ring, &cqe), 0);
	cr_assert_eq(cqe->res, (int)n, "READ_FIXED: %d (%s)", cqe->res,
		     cqe->res < 0 ? strerror(-cqe->res) : "short");
	io_uring_cqe_seen(ring, cqe);
	for (unsigned i = 0; i < n; i++)
		cr_assert_eq(buf[i], (char)(seed + (int)(i % 251)), "byte %u did not land", i);
}

/* 1. Before 6.5 the library refuses before asking the kernel, naming the
 *    rule; from 6.5 it pins, READ_FIXED lands in the region, and a removal
 *    waits for the pin (no callback) or revokes it (with one). */
static void library_refuses(const char *path, const char *ver)
{
	struct daxmap_pin *pin = (struct daxmap_pin *)&pin;
	struct io_uring ring;
	struct pooled p;

	pooled_map(&p, path, 2);
	ring_init(&ring, 4);
	cr_assert_eq(daxmap_pin_check(p.dev, DAXMAP_PIN_IO_URING), -EOPNOTSUPP);
	cr_assert_eq(daxmap_pin_check(p.dev, DAXMAP_PIN_RDMA), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pin_io_uring(&pin, p.map, 0, p.es, &ring, 0, NULL, NULL), -EOPNOTSUPP);
	cr_assert_null(pin);
	assert_msg_has(daxmap_errormsg(), "io_uring pin of %s (devdax, Linux %s) refused", path, ver);
	assert_msg_has(daxmap_errormsg(), "before Linux 6.5 (io_uring/rsrc.c)");
	cr_assert_eq(pins(&p), 0);
	printf("uring: %s: %s\n", path, daxmap_errormsg());
	fflush(stdout);
	io_uring_queue_exit(&ring);
	pooled_close(&p);
}

static atomic_int revoked, revoke_done;

/* on a library thread: no cr_assert here */
static void on_revoke(struct daxmap_pin *pin, void *arg)
{
	struct daxmap_pin **slot = arg;

	(void)pin;
	atomic_fetch_add(&revoked, 1);
	daxmap_unpin(slot);
	atomic_store(&revoke_done, 1); /* last: the test waits for it */
}

static void library_pins(const char *path)
{
	static struct daxmap_pin *pin;
	struct daxmap_pin *held;
	struct io_uring ring;
	struct pooled p;
	char *base;
	int src = pattern_file(256 * 1024, 7);

	pooled_map(&p, path, 2);
	base = daxmap_map_addr(p.map);
	ring_init(&ring, 4);
	cr_assert_eq(daxmap_pin_check(p.dev, DAXMAP_PIN_IO_URING), 0, "%s", daxmap_errormsg());
	/* pinned, READ_FIXED lands in the region, unpinned */
	cr_assert_eq(daxmap_pin_io_uring(&pin, p.map, 0, p.es, &ring, 1, NULL, NULL), 0, "%s",
		     daxmap_errormsg());
	cr_assert_eq(pins(&p), 1);
	read_fixed(&ring, src, base + 4096, 256 * 1024, 1, 7);
	cr_assert_eq(daxmap_unpin(&pin), 0, "%s", daxmap_errormsg());
	/* the slot is empty again: a READ_FIXED on it fails */
	{
		struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
		struct io_uring_cqe *cqe;

		io_uring_prep_read_fixed(sqe, src, base, 4096, 0, 1);
		cr_assert_eq(io_uring_submit(&ring), 1);
		cr_assert_eq(io_uring_wait_cqe(&ring, &cqe), 0);
		cr_assert_lt(cqe->res, 0, "READ_FIXED on an unpinned slot: %d", cqe->res);
		io_uring_cqe_seen(&ring, cqe);
	}
	/* a removal revokes the pin with a callback, and waits for the one
	 * without */
	cr_assert_eq(daxmap_pin_io_uring(&pin, p.map, p.es, p.es, &ring, 2, on_revoke, &pin), 0,
		     "%s", daxmap_errormsg());
	read_fixed(&ring, src, base + p.es, 64 * 1024, 2, 7);
	cr_assert_eq(daxmap_pin_io_uring(&held, p.map, 0, p.es, &ring, 1, NULL, NULL), 0, "%s",
		     daxmap_errormsg());
	cr_assert_eq(daxmap_region_remove(p.pool, "u", 300), -EBUSY);
	assert_msg_has(daxmap_errormsg(), "pin (io_uring)");
	for (int i = 0; i < 3000 && !atomic_load(&revoke_done); i++)
		usleep(1000);
	cr_assert_eq(atomic_load(&revoked), 1);
	cr_assert_null(pin);
	cr_assert_eq(daxmap_unpin(&held), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_map_delete(&p.map), 0);
	cr_assert_eq(daxmap_region_remove(p.pool, "u", 30000), 0, "%s", daxmap_errormsg());
	printf("uring: %s: pinned, READ_FIXED landed, removal waited and revoked\n", path);
	fflush(stdout);
	io_uring_queue_exit(&ring);
	daxmap_pool_close(p.pool);
	daxmap_dev_close(p.dev);
	close(src);
}

/* The 2 MiB devices: NVDIMM and hmem. */
static struct rig_dev devdax_2m[] = {
	{ "DAXMAP_TEST_DEVDAX_2M" },
	{ "DAXMAP_TEST_HMEM" },
};

ParameterizedTestParameters(uring, library_rule)
{
	return RIG_DEVDAX_PARAMS();
}

ParameterizedTest(struct rig_dev *d, uring, library_rule)
{
	const char *path = env_or_skip(d->env);
	char ver[16];

	unsetenv("DAXMAP_KERNEL_VERSION");
	version_string(ver, sizeof(ver));
	if (takes_devdax())
		library_pins(path);
	else
		library_refuses(path, ver);
}

/* 2. The rule is the kernel's: asked without the library, the kernel
 *    refuses a fixed buffer in a devdax mapping with EOPNOTSUPP before 6.5
 *    and takes it from 6.5, while the same ring always takes anonymous
 *    memory; fsdax is refused on every kernel. */
static void kernel_rule(const char *path, int fd, uint64_t maplen, uint64_t buflen, int want)
{
	struct io_uring ring, sparse;
	struct iovec iov;
	void *a;
	int rc;

	a = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	cr_assert_neq(a, MAP_FAILED, "%s: mmap: %s", path, strerror(errno));
	memset(a, 0, 4096); /* faulted in: the refusal is not about a hole */
	ring_init(&ring, 0);
	ring_init(&sparse, 2);
	iov.iov_base = a;
	iov.iov_len = buflen;
	rc = io_uring_register_buffers(&ring, &iov, 1);
	cr_assert_eq(rc, want ? -EOPNOTSUPP : 0, "%s: io_uring_register_buffers: %d (%s)", path, rc,
		     strerror(-rc));
	rc = io_uring_register_buffers_update_tag(&sparse, 0, &iov, NULL, 1);
	cr_assert_eq(rc, want ? -EOPNOTSUPP : 1, "%s: io_uring_register_buffers_update_tag: %d (%s)",
		     path, rc, strerror(-rc));
	/* control: the ring and the call work, on memory not backed by a file */
	iov.iov_base = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	cr_assert_neq(iov.iov_base, MAP_FAILED);
	iov.iov_len = 2 * MiB;
	cr_assert_eq(io_uring_register_buffers_update_tag(&sparse, 1, &iov, NULL, 1), 1);
	printf("uring: the kernel %s a fixed buffer in %s; anonymous memory: registered\n",
	       want ? "refuses (EOPNOTSUPP)" : "takes", path);
	fflush(stdout);
	io_uring_queue_exit(&sparse);
	io_uring_queue_exit(&ring);
	munmap(iov.iov_base, 2 * MiB);
	munmap(a, maplen);
}

/* A device-DAX and its alignment: the smallest mapping it takes. */
struct aligned_dev {
	char env[32];    /* not a pointer: see struct rig_dev */
	uint64_t align;
};

ParameterizedTestParameters(uring, kernel_rule_devdax)
{
	static struct aligned_dev devs[] = {
		{ "DAXMAP_TEST_DEVDAX_2M", 2 * MiB },
		{ "DAXMAP_TEST_DEVDAX_1G", GiB },
		{ "DAXMAP_TEST_HMEM", 2 * MiB },
	};

	return cr_make_param_array(struct aligned_dev, devs, sizeof(devs) / sizeof(devs[0]));
}

ParameterizedTest(struct aligned_dev *d, uring, kernel_rule_devdax)
{
	/* the kernel's version first: nothing is opened for a test that
	 * cannot run (an hmem device in system-ram mode has no node) */
	int refuses = !takes_devdax();
	const char *path = env_or_skip(d->env);
	int fd = open(path, O_RDWR);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	kernel_rule(path, fd, d->align, 2 * MiB, refuses);
	close(fd);
}

Test(uring, kernel_refuses_fsdax)
{
	const char *path = fsdax_file("uring", 4 * MiB);
	int fd = open(path, O_RDWR);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	kernel_rule(path, fd, 4 * MiB, 2 * MiB, 1);
	close(fd);
	unlink(path);
}

/* 3. The override decides the library's rule: before 6.5, with
 *    DAXMAP_KERNEL_VERSION=6.5 the library asks, the kernel refuses, and
 *    the error says why in words; from 6.5, DAXMAP_KERNEL_VERSION=6.4 makes
 *    the library refuse what the kernel would take. */
static void kernel_refusal_reported(const char *path)
{
	struct daxmap_pin *pin = (struct daxmap_pin *)&pin;
	struct io_uring ring;
	struct pooled p;
	struct utsname u;

	cr_assert_eq(uname(&u), 0);
	pooled_map(&p, path, 2);
	ring_init(&ring, 4);
	if (takes_devdax()) {
		setenv("DAXMAP_KERNEL_VERSION", "6.4", 1);
		cr_assert_eq(daxmap_pin_io_uring(&pin, p.map, 0, p.es, &ring, 3, NULL, NULL),
			     -EOPNOTSUPP);
		assert_msg_has(daxmap_errormsg(), "(devdax, Linux 6.4) refused");
		unsetenv("DAXMAP_KERNEL_VERSION");
		cr_assert_eq(pins(&p), 0);
		io_uring_queue_exit(&ring);
		pooled_close(&p);
		return;
	}
	setenv("DAXMAP_KERNEL_VERSION", "6.5", 1);
	cr_assert_eq(daxmap_pin_check(p.dev, DAXMAP_PIN_IO_URING), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pin_io_uring(&pin, p.map, p.es / 2, p.es, &ring, 3, NULL, NULL),
		     -EOPNOTSUPP);
	cr_assert_null(pin);
	assert_msg_has(daxmap_errormsg(), "io_uring: the kernel refused fixed buffer 3");
	assert_msg_has(daxmap_errormsg(), "of a devdax mapping): EOPNOTSUPP");
	assert_msg_has(daxmap_errormsg(),
		       "likely reason: io_uring before Linux 6.5 refuses fixed buffers in "
		       "file-backed mappings, device-DAX included");
	assert_msg_has(daxmap_errormsg(), "this kernel is %s", u.release);
	assert_msg_has(daxmap_errormsg(), "DAXMAP_KERNEL_VERSION=6.5 made the library ask anyway");
	printf("uring: %s with DAXMAP_KERNEL_VERSION=6.5: %s\n", path, daxmap_errormsg());
	fflush(stdout);
	/* nothing stays pinned, the slot is free again */
	cr_assert_eq(pins(&p), 0);
	cr_assert_eq(daxmap_pin_io_uring(&pin, p.map, 0, p.es, &ring, 3, NULL, NULL), -EOPNOTSUPP);
	assert_msg_has(daxmap_errormsg(), "the kernel refused fixed buffer 3");
	unsetenv("DAXMAP_KERNEL_VERSION");
	io_uring_queue_exit(&ring);
	pooled_close(&p);
}

ParameterizedTestParameters(uring, kernel_refusal_reported)
{
	return cr_make_param_array(struct rig_dev, devdax_2m, 2);
}

ParameterizedTest(struct rig_dev *d, uring, kernel_refusal_reported)
{
	kernel_refusal_reported(env_or_skip(d->env));
}

/* 4. One buffer over 1 GiB on the 1 GiB-aligned device: refused by the
 *    library where the kernel refuses it (EFAULT on 6.1 and 6.12), pinned
 *    on 7.3, where READ_FIXED lands past the first GiB. */
Test(uring, buffers_over_1g)
{
	const char *path = env_or_skip("DAXMAP_TEST_DEVDAX_1G");
	struct daxmap_pin *pin;
	struct io_uring ring;
	struct pooled p;
	unsigned major, minor;
	const char *cell;
	char *base;

	unsetenv("DAXMAP_KERNEL_VERSION");
	kernel_of(&major, &minor);
	cell = pin_table_cell(major, minor, "io_uring over 1 GiB", "devdax");
	cr_assert_not_null(cell, "doc/pins.md has no table for Linux %u.%u", major, minor);
	pooled_map(&p, path, 2);
	cr_assert_eq(p.es, GiB);
	base = daxmap_map_addr(p.map);
	ring_init(&ring, 2);
	if (!strcmp(cell, "allowed")) {
		int src = pattern_file(64 * 1024, 3);

		cr_assert_eq(daxmap_pin_io_uring(&pin, p.map, 0, 2 * GiB, &ring, 0, NULL, NULL), 0,
			     "%s", daxmap_errormsg());
		read_fixed(&ring, src, base + GiB + GiB / 2, 64 * 1024, 0, 3);
		cr_assert_eq(pins(&p), 2);
		cr_assert_eq(daxmap_unpin(&pin), 0);
		close(src);
		printf("uring: Linux %u.%u: one 2 GiB buffer pinned, READ_FIXED at 1.5 GiB landed\n",
		       major, minor);
	} else {
		cr_assert_eq(daxmap_pin_io_uring(&pin, p.map, 0, 2 * GiB, &ring, 0, NULL, NULL),
			     -EINVAL);
		assert_msg_has(daxmap_errormsg(), "io_uring fixed buffers hold 1 GiB at most");
		assert_msg_has(daxmap_errormsg(), "2 GiB was asked");
		/* and the kernel, asked directly, refuses it with EFAULT (the
		 * size is checked before the kind of memory) */
		{
			struct iovec iov = { base, 2 * GiB };
			struct io_uring raw;

			ring_init(&raw, 0);
			cr_assert_eq(io_uring_register_buffers(&raw, &iov, 1), -EFAULT);
			io_uring_queue_exit(&raw);
		}
		/* 1 GiB goes on to the rules */
		cr_assert_eq(daxmap_pin_io_uring(&pin, p.map, GiB, GiB, &ring, 1, NULL, NULL),
			     takes_devdax() ? 0 : -EOPNOTSUPP, "%s", daxmap_errormsg());
		if (pin)
			cr_assert_eq(daxmap_unpin(&pin), 0);
	}
	fflush(stdout);
	cr_assert_eq(pins(&p), 0);
	io_uring_queue_exit(&ring);
	pooled_close(&p);
}

/* 5. daxmapctl pin-check: the capability matrix of this kernel. */
static struct json_object *pin_check(const char *path, const char *kernel_override)
{
	const char *tool = getenv("DAXMAPCTL");
	struct json_object *j;
	char cmd[1024], *out;

	cr_assert_not_null(tool, "DAXMAPCTL is not set");
	if (kernel_override)
		snprintf(cmd, sizeof(cmd), "DAXMAP_KERNEL_VERSION=%s %s pin-check %s",
			 kernel_override, tool, path);
	else
		snprintf(cmd, sizeof(cmd), "%s pin-check %s", tool, path);
	cr_assert_eq(run_capture(cmd, &out), 0, "%s", cmd);
	printf("uring: %s\n%s", cmd, out);
	fflush(stdout);
	j = json_tokener_parse(out);
	cr_assert_not_null(j, "not JSON: %s", out);
	free(out);
	return j;
}

static const char *str_of(struct json_object *j, const char *key)
{
	struct json_object *v;

	cr_assert(json_object_object_get_ex(j, key, &v), "no %s in %s", key,
		  json_object_to_json_string(j));
	return json_object_get_string(v);
}

/* allowed for backend, its rule in *rule */
static int allowed(struct json_object *j, const char *backend, const char **rule)
{
	struct json_object *arr, *v;

	cr_assert(json_object_object_get_ex(j, "backends", &arr));
	cr_assert_eq(json_object_array_length(arr), 5);
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *b = json_object_array_get_idx(arr, i);

		if (strcmp(str_of(b, "backend"), backend) != 0)
			continue;
		*rule = str_of(b, "rule");
		cr_assert(json_object_object_get_ex(b, "allowed", &v));
		cr_assert(json_object_is_type(v, json_type_boolean));
		return json_object_get_boolean(v);
	}
	cr_assert_fail("no backend %s", backend);
	return -1;
}

/* The decision string of backend (or its over_1g) in pin-check's JSON. */
static const char *decision_of(struct json_object *j, const char *backend, const char *key)
{
	struct json_object *arr, *v;

	cr_assert(json_object_object_get_ex(j, "backends", &arr));
	cr_assert_eq(json_object_array_length(arr), 5);
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *b = json_object_array_get_idx(arr, i);

		if (strcmp(str_of(b, "backend"), backend) != 0)
			continue;
		cr_assert(json_object_object_get_ex(b, key, &v), "%s has no %s", backend, key);
		return json_object_get_string(v);
	}
	cr_assert_fail("no backend %s", backend);
	return NULL;
}

/* pin-check on this kernel agrees with doc/pins.md's table of it. */
static void matches_table(const char *path, const char *kind)
{
	static const char *const rows[][3] = {
		{ "rdma", "rdma", "decision" },     { "rdma-odp", "rdma-odp", "decision" },
		{ "vfio", "vfio", "decision" },     { "io_uring", "io_uring", "decision" },
		{ "io_uring over 1 GiB", "io_uring", "over_1g" },
		{ "external", "external", "decision" },
	};
	struct json_object *j = pin_check(path, NULL);
	unsigned major, minor;
	char ver[16];

	kernel_of(&major, &minor);
	version_string(ver, sizeof(ver));
	cr_assert_str_eq(str_of(j, "path"), path);
	cr_assert_str_eq(str_of(j, "kind"), kind);
	cr_assert_str_eq(str_of(j, "kernel"), ver);
	for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
		const char *cell = pin_table_cell(major, minor, rows[r][0], kind);

		cr_assert_not_null(cell, "doc/pins.md has no table for Linux %s", ver);
		cr_assert_str_eq(decision_of(j, rows[r][1], rows[r][2]), cell,
				 "Linux %s, %s on %s (%s): pin-check and doc/pins.md disagree", ver,
				 rows[r][0], kind, path);
	}
	json_object_put(j);
}

ParameterizedTestParameters(pin_check, devdax)
{
	return RIG_DEVDAX_PARAMS();
}

ParameterizedTest(struct rig_dev *d, pin_check, devdax)
{
	unsetenv("DAXMAP_KERNEL_VERSION");
	matches_table(env_or_skip(d->env), "devdax");
}

Test(pin_check, fsdax)
{
	const char *path = fsdax_file("pin-check", 64 * MiB);

	unsetenv("DAXMAP_KERNEL_VERSION");
	matches_table(path, "fsdax");
	unlink(path);
}

/* the override moves the version the rules see */
Test(pin_check, override)
{
	const char *path = env_or_skip("DAXMAP_TEST_DEVDAX_2M");
	struct json_object *j = pin_check(path, "6.5");
	const char *rule;

	cr_assert_str_eq(str_of(j, "kernel"), "6.5");
	cr_assert_eq(allowed(j, "io_uring", &rule), 1, "io_uring on 6.5: %s", rule);
	json_object_put(j);
}

/* Discovery only: a devdax node is root-only, pin-check is not. */
Test(pin_check, needs_no_root)
{
	const char *path = env_or_skip("DAXMAP_TEST_DEVDAX_2M");
	struct json_object *j;
	const char *rule;

	drop_root();
	j = pin_check(path, NULL);
	cr_assert_eq(allowed(j, "rdma", &rule), 1, "%s", rule);
	json_object_put(j);
}

RIG_SKIP_UNLESS(getenv("DAXMAP_TEST_DEVDAX_2M"), "device-DAX")
