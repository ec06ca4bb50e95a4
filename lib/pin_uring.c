/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pin_uring.c -- the io_uring pin backend (liburing): a range of a region
 * mapping becomes one fixed buffer of the application's ring, registered
 * into a slot of its sparse buffer table with
 * io_uring_register_buffers_update_tag(), and emptied again by
 * daxmap_unpin().
 *
 * Kernel facts this relies on:
 * - io_uring/rsrc.c io_buffer_validate(): a buffer is 1 GiB at most
 *   (-EFAULT above) on 6.1 and 6.12; 7.3 takes a 2 GiB buffer (measured).
 *   Where the kernel refuses, a longer range is refused here with -EINVAL,
 *   naming the limit, rather than spread over several slots behind the
 *   caller's back: the caller chooses the buf_index of every SQE, so it
 *   must know which slot covers which address.
 * - io_uring/rsrc.c io_sqe_buffer_register() before 6.5: any buffer in a
 *   file-backed mapping (vm_file, not shmem or hugetlbfs) is refused with
 *   -EOPNOTSUPP after the pages were pinned; devdax is file-backed. From
 *   6.5 ("io_uring: rsrc: delegate VMA file-backed check to GUP") GUP
 *   decides, and device-dax, which is not dirty-tracked, is allowed. The
 *   rule lives in pin_rules.c and is applied by pin_take() before the
 *   kernel is asked.
 * - __io_sqe_buffers_update(): a slot updated with an empty iovec
 *   {NULL, 0} is emptied (the old buffer is dropped once the I/O in
 *   flight on it completed); a ring without a buffer table gives -ENXIO,
 *   an index outside it -EINVAL.
 * - io_account_mem(): without CAP_IPC_LOCK the buffer is charged to
 *   RLIMIT_MEMLOCK (-ENOMEM past it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <liburing.h>

#include "daxmap.h"
#include "error.h"
#include "map.h"
#include "pin.h"
#include "pin_rules.h"
#include "pin_uring.h"
#include "util.h"


struct uring_pin {
	struct uring_pin *next; /* the slots this process's pins hold */
	struct io_uring *ring;
	unsigned index;
	pid_t owner;            /* the process that registered it */
	bool registered;
};

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static struct uring_pin *slots;
static pthread_once_t slots_once = PTHREAD_ONCE_INIT;

/* A fork()ed child shares its parent's rings: its copies of the parent's
 * pins never touch them (see owner), and it holds no slot of its own. */
static void slots_atfork_child(void)
{
	pthread_mutex_init(&slots_lock, NULL);
	slots = NULL;
}

static void slots_init(void)
{
	pthread_atfork(NULL, NULL, slots_atfork_child);
}

/* Claim (ring, index) for up; -EBUSY if another pin of ours holds it. */
static int slot_claim(struct uring_pin *up)
{
	struct uring_pin *s;
	int rc = 0;

	pthread_mutex_lock(&slots_lock);
	for (s = slots; s; s = s->next)
		if (s->ring == up->ring && s->index == up->index)
			break;
	if (s) {
		rc = daxmap_err(EBUSY,
				"io_uring: fixed buffer %u of this ring already holds a libdaxmap pin; "
				"daxmap_unpin() it first or use another index",
				up->index);
	} else {
		up->next = slots;
		slots = up;
	}
	pthread_mutex_unlock(&slots_lock);
	return rc;
}

static void slot_drop(struct uring_pin *up)
{
	struct uring_pin **pp;

	pthread_mutex_lock(&slots_lock);
	for (pp = &slots; *pp && *pp != up; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = up->next;
	pthread_mutex_unlock(&slots_lock);
}

const char *uring_refusal_reason(int err, uint64_t len, unsigned index, char *buf,
				 size_t size)
{
	char lim[48], sz[48], note[96];
	unsigned major, minor;
	bool forced = false;
	int cap;

	switch (err) {
	case EOPNOTSUPP:
		if (kernel_version(&major, &minor, &forced) != 0)
			forced = false;
		if (forced)
			snprintf(note, sizeof(note),
				 " (DAXMAP_KERNEL_VERSION=%u.%u made the library ask anyway)", major, minor);
		snprintf(buf, size,
			 "io_uring before Linux 6.5 refuses fixed buffers in file-backed mappings, "
			 "device-DAX included (io_uring/rsrc.c); this kernel is %s%s",
			 kernel_release(), forced ? note : "");
		break;
	case ENOMEM:
		fmt_memlock(lim, sizeof(lim));
		fmt_size(sz, sizeof(sz), len);
		cap = has_cap_ipc_lock();
		if (cap == 1)
			snprintf(buf, size,
				 "the kernel is out of memory for the buffer's page array (this process "
				 "has CAP_IPC_LOCK, so RLIMIT_MEMLOCK, now %s, does not apply)",
				 lim);
		else
			snprintf(buf, size,
				 "RLIMIT_MEMLOCK: without CAP_IPC_LOCK io_uring charges fixed buffers to "
				 "the locked-memory limit, now %s, and this one is %s; raise it "
				 "(ulimit -l, setrlimit, systemd LimitMEMLOCK=) or grant CAP_IPC_LOCK",
				 lim, sz);
		break;
	case EFAULT:
		if (len > URING_BUF_MAX) {
			snprintf(buf, size,
				 "this kernel's io_uring holds 1 GiB per fixed buffer at most "
				 "(io_uring/rsrc.c io_buffer_validate(); 6.1 and 6.12 refuse more, 7.3 "
				 "takes it): register the range as several buffers, one index each; "
				 "this kernel is %s", kernel_release());
			break;
		}
		snprintf(buf, size,
			 "the pages could not be pinned long-term: GUP refuses FOLL_LONGTERM on "
			 "file mappings that need dirty tracking, and fsdax (mm/gup.c), or part of "
			 "the range is not mapped (a released region's mapping is PROT_NONE)");
		break;
	case ENXIO:
		snprintf(buf, size,
			 "the ring has no fixed-buffer table: register a sparse one first "
			 "(io_uring_register_buffers_sparse(ring, n))");
		break;
	case EINVAL:
		snprintf(buf, size,
			 "index %u is outside the ring's fixed-buffer table (its size is the n of "
			 "io_uring_register_buffers_sparse())",
			 index);
		break;
	case EBADF:
		snprintf(buf, size,
			 "the ring's file descriptor is not valid (io_uring_queue_exit() already "
			 "called?)");
		break;
	case EBUSY:
		snprintf(buf, size,
			 "the ring's buffer table is busy (being registered or unregistered by "
			 "another thread); try again");
		break;
	case EOVERFLOW:
		snprintf(buf, size, "the buffer's address range overflows");
		break;
	default:
		snprintf(buf, size, "none known (see io_uring_register(2))");
		break;
	}
	return buf;
}

static int uring_unpin(struct daxmap_pin *pin, void *data)
{
	struct uring_pin *up = data;
	struct iovec none = { NULL, 0 };
	int rc;

	(void)pin;
	/* a fork()ed child's copy of the pin: the ring is its parent's */
	if (!up->registered || up->owner != getpid()) {
		slot_drop(up);
		return 0;
	}
	up->registered = false;
	rc = io_uring_register_buffers_update_tag(up->ring, up->index, &none, NULL, 1);
	/* only now may another pin claim the slot: an earlier claim could
	 * have its buffer emptied by the update above */
	slot_drop(up);
	if (rc < 0)
		return daxmap_err(-rc,
				  "io_uring: cannot empty fixed buffer %u: %s (unpin before "
				  "io_uring_queue_exit())",
				  up->index, strerror(-rc));
	return 0;
}

static void uring_free(void *data)
{
	free(data);
}

static const struct pin_backend_ops uring_ops = { uring_unpin, uring_free };

static int kernel_refused(int err, const struct daxmap_map *map, uint64_t offset,
			  uint64_t len, unsigned index)
{
	char why[400], sz[48], what[160];

	uring_refusal_reason(err, len, index, why, sizeof(why));
	snprintf(what, sizeof(what), "fixed buffer %u (%s at offset 0x%" PRIx64 " of a %s mapping)",
		 index, fmt_size(sz, sizeof(sz), len), offset,
		 daxmap_kind_name(daxmap_dev_kind(map_dev(map))));
	return pin_refused(err, "io_uring", what, why);
}

/* A buffer over 1 GiB: refused on kernels whose io_uring refuses it,
 * asked of the kernel where the library cannot know. */
static int len_rule(uint64_t len)
{
	unsigned major, minor;
	const char *rule;
	char sz[48];
	int rc;

	if ((rc = kernel_version(&major, &minor, NULL)))
		return rc;
	if (pin_uring_len_rule(major, minor, &rule) != -EINVAL)
		return 0;
	return daxmap_err(EINVAL, "%s, and %s was asked (Linux %u.%u): register the range as "
			  "several buffers, one index each", rule, fmt_size(sz, sizeof(sz), len),
			  major, minor);
}

DAXMAP_EXPORT int daxmap_pin_io_uring(struct daxmap_pin **pinp, struct daxmap_map *map,
				      uint64_t offset, uint64_t len, struct io_uring *ring,
				      unsigned index, daxmap_revoke_fn revoke, void *arg)
{
	struct daxmap_pin *p = NULL;
	struct uring_pin *up;
	struct iovec iov;
	int rc;

	if (pinp)
		*pinp = NULL;
	if (!pinp || !map || !ring)
		return daxmap_err(EINVAL, "daxmap_pin_io_uring: pinp, map and ring are required");
	if (len == 0)
		return daxmap_err(EINVAL, "daxmap_pin_io_uring: len is 0");
	if (len > URING_BUF_MAX && (rc = len_rule(len)))
		return rc;
	/* before a busy slot is claimed */
	if ((rc = pin_check_args(map, offset, len, DAXMAP_PIN_IO_URING)))
		return rc;

	pthread_once(&slots_once, slots_init);
	if (!(up = calloc(1, sizeof(*up))))
		return daxmap_err(ENOMEM, "out of memory");
	up->ring = ring;
	up->index = index;
	up->owner = getpid();
	if ((rc = slot_claim(up))) {
		uring_free(up);
		return rc;
	}
	/* *pinp first: once pin_ready() has run, the callback may unpin
	 * through the caller's variable before this returns */
	rc = pin_take(pinp, map, offset, len, DAXMAP_PIN_IO_URING, revoke, arg);
	if (rc) {
		slot_drop(up);
		uring_free(up);
		return rc;
	}
	p = *pinp;
	/* nothing else can release p yet: revoke waits for pin_ready() */
	pin_set_backend(p, &uring_ops, up);

	iov.iov_base = (char *)daxmap_map_addr(map) + offset;
	iov.iov_len = len;
	rc = io_uring_register_buffers_update_tag(ring, index, &iov, NULL, 1);
	if (rc != 1) {
		int err = rc < 0 ? -rc : EIO;

		*pinp = NULL;
		pin_release(p);
		return kernel_refused(err, map, offset, len, index);
	}
	up->registered = true;
	if ((rc = pin_ready(p))) {
		/* marked for release meanwhile: as if the call came after */
		*pinp = NULL;
		pin_release(p);
		return daxmap_err_prefix(ESTALE, "io_uring: fixed buffer %u", index);
	}
	return 0;
}
