/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_uring.c -- the io_uring pin backend and 'daxmapctl pin-check' on
 * real device-DAX (NVDIMM 2 MiB and 1 GiB, hmem) and fsdax, on the rig's
 * Debian 6.1 kernel (io_uring fixed buffers on devdax are refused before
 * 6.5: io_uring/rsrc.c). The library's rule is checked against the kernel
 * itself: the same registration, asked of the kernel directly, must be
 * refused.
 * Runs inside the QEMU rig (tests/vm/run sets DAXMAP_TEST_*); anywhere else
 * it exits 77, Meson's "skipped", and says why.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <liburing.h>

#include <daxmap.h>

#include "helpers.h"
#include "rig.h"

/* The running kernel's major.minor; these tests are about kernels before
 * 6.5 (the rig's 6.1), where io_uring refuses every file-backed buffer. */
static void kernel_before_6_5(char *ver, size_t len)
{
	struct utsname u;
	unsigned major, minor;

	cr_assert_eq(uname(&u), 0);
	cr_assert_eq(sscanf(u.release, "%u.%u", &major, &minor), 2, "%s", u.release);
	if (major > 6 || (major == 6 && minor >= 5))
		cr_skip_test("kernel %s: io_uring allows devdax from 6.5 on", u.release);
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

/* 1. The library refuses before asking the kernel, naming the rule. */
static void library_refuses(const char *path)
{
	struct daxmap_pin *pin = (struct daxmap_pin *)&pin;
	struct io_uring ring;
	struct pooled p;
	char ver[16];

	kernel_before_6_5(ver, sizeof(ver));
	unsetenv("DAXMAP_KERNEL_VERSION");
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

/* The 2 MiB devices: NVDIMM and hmem. */
static struct rig_dev devdax_2m[] = {
	{ "DAXMAP_TEST_DEVDAX_2M" },
	{ "DAXMAP_TEST_HMEM" },
};

ParameterizedTestParameters(uring, library_refuses)
{
	return cr_make_param_array(struct rig_dev, devdax_2m, 2);
}

ParameterizedTest(struct rig_dev *d, uring, library_refuses)
{
	library_refuses(env_or_skip(d->env));
}

/* 2. The rule holds: the kernel itself, asked without the library,
 *    refuses a fixed buffer in a devdax mapping with EOPNOTSUPP, while the
 *    same ring takes anonymous memory. */
static void kernel_refuses(const char *path, int fd, uint64_t maplen, uint64_t buflen)
{
	struct io_uring ring, sparse;
	struct iovec iov;
	char ver[16];
	void *a;
	int rc;

	kernel_before_6_5(ver, sizeof(ver));
	a = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	cr_assert_neq(a, MAP_FAILED, "%s: mmap: %s", path, strerror(errno));
	memset(a, 0, 4096); /* faulted in: the refusal is not about a hole */
	ring_init(&ring, 0);
	ring_init(&sparse, 2);
	iov.iov_base = a;
	iov.iov_len = buflen;
	rc = io_uring_register_buffers(&ring, &iov, 1);
	cr_assert_eq(rc, -EOPNOTSUPP, "%s: io_uring_register_buffers: %d (%s)", path, rc,
		     strerror(-rc));
	rc = io_uring_register_buffers_update_tag(&sparse, 0, &iov, NULL, 1);
	cr_assert_eq(rc, -EOPNOTSUPP, "%s: io_uring_register_buffers_update_tag: %d (%s)", path,
		     rc, strerror(-rc));
	/* control: the ring and the call work, on memory not backed by a file */
	iov.iov_base = mmap(NULL, 2 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	cr_assert_neq(iov.iov_base, MAP_FAILED);
	iov.iov_len = 2 * MiB;
	cr_assert_eq(io_uring_register_buffers_update_tag(&sparse, 1, &iov, NULL, 1), 1);
	printf("uring: Linux %s refuses a fixed buffer in %s: EOPNOTSUPP; anonymous memory: "
	       "registered\n", ver, path);
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

ParameterizedTestParameters(uring, kernel_refuses_devdax)
{
	static struct aligned_dev devs[] = {
		{ "DAXMAP_TEST_DEVDAX_2M", 2 * MiB },
		{ "DAXMAP_TEST_DEVDAX_1G", GiB },
		{ "DAXMAP_TEST_HMEM", 2 * MiB },
	};

	return cr_make_param_array(struct aligned_dev, devs, sizeof(devs) / sizeof(devs[0]));
}

ParameterizedTest(struct aligned_dev *d, uring, kernel_refuses_devdax)
{
	const char *path = env_or_skip(d->env);
	int fd = open(path, O_RDWR);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	kernel_refuses(path, fd, d->align, 2 * MiB);
	close(fd);
}

Test(uring, kernel_refuses_fsdax)
{
	const char *path = fsdax_file("uring", 4 * MiB);
	int fd = open(path, O_RDWR);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	kernel_refuses(path, fd, 4 * MiB, 2 * MiB);
	close(fd);
	unlink(path);
}

/* 3. With the rule overridden (DAXMAP_KERNEL_VERSION=6.5), the library
 *    asks, the kernel refuses, and the error says why in words. */
static void kernel_refusal_reported(const char *path)
{
	struct daxmap_pin *pin = (struct daxmap_pin *)&pin;
	struct io_uring ring;
	struct pooled p;
	struct utsname u;
	char ver[16];

	kernel_before_6_5(ver, sizeof(ver));
	cr_assert_eq(uname(&u), 0);
	pooled_map(&p, path, 2);
	ring_init(&ring, 4);
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

/* 4. 1 GiB per buffer: a 2 GiB range of the 1 GiB-aligned device is
 *    refused whatever the kernel; 1 GiB goes on to the rules. */
Test(uring, one_gib_per_buffer_1g)
{
	const char *path = env_or_skip("DAXMAP_TEST_DEVDAX_1G");
	struct daxmap_pin *pin;
	struct io_uring ring;
	struct pooled p;
	char ver[16];

	kernel_before_6_5(ver, sizeof(ver));
	unsetenv("DAXMAP_KERNEL_VERSION");
	pooled_map(&p, path, 2);
	cr_assert_eq(p.es, GiB);
	ring_init(&ring, 2);
	cr_assert_eq(daxmap_pin_io_uring(&pin, p.map, 0, 2 * GiB, &ring, 0, NULL, NULL), -EINVAL);
	assert_msg_has(daxmap_errormsg(), "io_uring fixed buffers hold 1 GiB at most");
	assert_msg_has(daxmap_errormsg(), "2 GiB was asked");
	cr_assert_eq(daxmap_pin_io_uring(&pin, p.map, GiB, GiB, &ring, 1, NULL, NULL), -EOPNOTSUPP);
	assert_msg_has(daxmap_errormsg(), "before Linux 6.5");
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
	cr_assert_eq(json_object_array_length(arr), 4);
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

static void devdax_matrix(const char *path, const char *ver)
{
	struct json_object *j = pin_check(path, NULL);
	const char *rule;

	cr_assert_str_eq(str_of(j, "path"), path);
	cr_assert_str_eq(str_of(j, "kind"), "devdax");
	cr_assert_str_eq(str_of(j, "kernel"), ver);
	cr_assert_eq(allowed(j, "rdma", &rule), 1, "devdax rdma: %s", rule);
	cr_assert(strstr(rule, "FOLL_LONGTERM on device-dax: allowed"), "%s", rule);
	cr_assert_eq(allowed(j, "vfio", &rule), 1, "devdax vfio: %s", rule);
	cr_assert_eq(allowed(j, "io_uring", &rule), 0, "devdax io_uring: %s", rule);
	cr_assert(strstr(rule, "before Linux 6.5"), "%s", rule);
	cr_assert_eq(allowed(j, "external", &rule), 1);
	json_object_put(j);
	/* the same device on a kernel from 6.5 on */
	j = pin_check(path, "6.5");
	cr_assert_str_eq(str_of(j, "kernel"), "6.5");
	cr_assert_eq(allowed(j, "io_uring", &rule), 1, "io_uring on 6.5: %s", rule);
	cr_assert(strstr(rule, "1 GiB per buffer"), "%s", rule);
	json_object_put(j);
}

ParameterizedTestParameters(pin_check, devdax)
{
	return RIG_DEVDAX_PARAMS();
}

ParameterizedTest(struct rig_dev *d, pin_check, devdax)
{
	const char *path = env_or_skip(d->env);
	char ver[16];

	kernel_before_6_5(ver, sizeof(ver));
	devdax_matrix(path, ver);
}

Test(pin_check, fsdax)
{
	static const char *const longterm[] = { "rdma", "vfio", "io_uring" };
	const char *path = fsdax_file("pin-check", 64 * MiB);
	struct json_object *j;
	const char *rule;
	char ver[16];

	kernel_before_6_5(ver, sizeof(ver));
	j = pin_check(path, NULL);
	cr_assert_str_eq(str_of(j, "kind"), "fsdax");
	cr_assert_str_eq(str_of(j, "kernel"), ver);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(allowed(j, longterm[i], &rule), 0, "fsdax %s: %s", longterm[i], rule);
		cr_assert(strstr(rule, "FOLL_LONGTERM is refused for fsdax"), "%s", rule);
	}
	cr_assert_eq(allowed(j, "external", &rule), 1);
	json_object_put(j);
	unlink(path);
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
