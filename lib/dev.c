/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dev.c -- open and discover a device: devdax (through libdaxctl), a file on
 * a DAX filesystem (fsdax), or a regular file emulating a devdax device.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <daxctl/libdaxctl.h>
#include <libpmem2.h>

#include "dev.h"
#include "error.h"
#include "util.h"

#ifndef STATX_ATTR_DAX
#define STATX_ATTR_DAX 0x00200000 /* linux/stat.h, v5.8 */
#endif

#define KNOWN_FLAGS (DAXMAP_DEV_RDONLY | DAXMAP_DEV_QUERY)

DAXMAP_EXPORT const char *daxmap_kind_name(enum daxmap_dev_kind kind)
{
	switch (kind) {
	case DAXMAP_KIND_DEVDAX:
		return "devdax";
	case DAXMAP_KIND_FSDAX:
		return "fsdax";
	case DAXMAP_KIND_FILE:
		return "file";
	}
	return "unknown";
}

int dev_check_geometry(const char *path, uint64_t size, uint64_t align)
{
	char a[48], s[48];

	if (size < align)
		return daxmap_err(EINVAL,
				  "%s: size %s is smaller than one alignment unit (%s)",
				  path, fmt_size(s, sizeof(s), size),
				  fmt_size(a, sizeof(a), align));
	if (size % align)
		return daxmap_err(EINVAL,
				  "%s: size %s is not a multiple of the alignment %s",
				  path, fmt_size(s, sizeof(s), size),
				  fmt_size(a, sizeof(a), align));
	return 0;
}

/* What libdaxctl knows of one devdax device. */
struct daxinfo {
	char name[32];
	uint64_t size, align;
	int region_id, target_node, numa_node;
	bool system_ram, enabled;
};

static void fill_daxinfo(struct daxctl_dev *d, struct daxinfo *di)
{
	char path[PATH_MAX];

	memset(di, 0, sizeof(*di));
	snprintf(di->name, sizeof(di->name), "%s", daxctl_dev_get_devname(d));
	di->size = daxctl_dev_get_size(d);
	di->align = daxctl_dev_get_align(d);
	di->region_id = daxctl_region_get_id(daxctl_dev_get_region(d));
	di->target_node = daxctl_dev_get_target_node(d);
	/* daxctl_dev_get_memory() is non-NULL only when bound to kmem */
	di->system_ram = daxctl_dev_get_memory(d) != NULL;
	di->enabled = daxctl_dev_is_enabled(d);
	/* libdaxctl has no getter for the device's own numa_node attribute */
	snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/numa_node",
		 di->name);
	if (read_sysfs_int(path, &di->numa_node) < 0)
		di->numa_node = -1;
	if (di->numa_node < 0)
		di->numa_node = di->target_node;
}

/*
 * Find a devdax device by its character device number, or by name when
 * name is not NULL. Returns 1 found, 0 not found, -errno on failure.
 */
static int daxctl_find(dev_t rdev, const char *name, struct daxinfo *out)
{
	struct daxctl_ctx *ctx;
	struct daxctl_region *r;
	struct daxctl_dev *d;
	int found = 0;
	int rc = daxctl_new(&ctx);

	if (rc < 0)
		return daxmap_err(-rc, "libdaxctl: %s", strerror(-rc));
	daxctl_set_log_priority(ctx, 0); /* the library never prints */
	daxctl_region_foreach(ctx, r) {
		daxctl_dev_foreach(r, d) {
			const char *dn = daxctl_dev_get_devname(d);
			bool match;

			if (name)
				match = dn && strcmp(dn, name) == 0;
			else
				match = (unsigned)daxctl_dev_get_major(d) == major(rdev) &&
					(unsigned)daxctl_dev_get_minor(d) == minor(rdev);
			if (match) {
				fill_daxinfo(d, out);
				found = 1;
				goto out;
			}
		}
	}
out:
	daxctl_unref(ctx);
	return found;
}

/* An NVDIMM-backed devdax sits under an nd bus; hmem/CXL ones do not. */
static bool is_nvdimm_backed(dev_t rdev)
{
	char link[64], real[PATH_MAX];

	snprintf(link, sizeof(link), "/sys/dev/char/%u:%u", major(rdev),
		 minor(rdev));
	if (!realpath(link, real))
		return false;
	return strstr(real, "/ndbus") != NULL;
}

static int err_system_ram(const char *path, const char *name)
{
	return daxmap_err(EBUSY,
			  "%s: %s is in system-ram mode (bound to kmem): its memory belongs to the kernel's page allocator; "
			  "run 'daxctl reconfigure-device --mode=devdax %s' to use it here",
			  path, name, name);
}

static int open_devdax(struct daxmap_dev *dev, const struct stat *st,
		       uint64_t file_align)
{
	char a[48], b[48];
	struct daxinfo di;
	int rc = daxctl_find(st->st_rdev, NULL, &di);

	if (rc < 0)
		return rc;
	if (rc == 0)
		return daxmap_err(ENODEV,
				  "%s: character device %u:%u is not a device-DAX device (no dax device with that number)",
				  dev->path, major(st->st_rdev), minor(st->st_rdev));
	if (di.system_ram)
		return err_system_ram(dev->path, di.name);
	if (file_align && file_align != di.align)
		return daxmap_err(EINVAL,
				  "%s: a devdax device has its own alignment %s; %s was asked",
				  dev->path, fmt_size(a, sizeof(a), di.align),
				  fmt_size(b, sizeof(b), file_align));
	dev->kind = DAXMAP_KIND_DEVDAX;
	dev->size = di.size;
	dev->align = di.align;
	dev->numa_node = di.numa_node;
	dev->region_id = di.region_id;
	dev->nvdimm = is_nvdimm_backed(st->st_rdev);
	snprintf(dev->name, sizeof(dev->name), "%s", di.name);
	return 0;
}

static bool on_dax_fs(const char *path)
{
	struct statx stx;

	if (statx(AT_FDCWD, path, 0, STATX_BASIC_STATS, &stx) != 0)
		return false;
	return (stx.stx_attributes_mask & STATX_ATTR_DAX) &&
	       (stx.stx_attributes & STATX_ATTR_DAX);
}

/* Path does not exist: say so, or that the device went to kmem. */
static int err_missing(const char *path)
{
	char tmp[PATH_MAX];
	struct daxinfo di;
	unsigned x, y;
	char *base;

	snprintf(tmp, sizeof(tmp), "%s", path);
	base = basename(tmp);
	if (sscanf(base, "dax%u.%u", &x, &y) == 2 &&
	    daxctl_find(0, base, &di) == 1 && di.system_ram)
		return err_system_ram(path, di.name);
	return daxmap_err(ENOENT, "%s: no such device or file", path);
}

static int err_open(const char *path, int e, enum daxmap_dev_kind kind)
{
	if ((e == EACCES || e == EPERM) && kind == DAXMAP_KIND_DEVDAX)
		return daxmap_err(e,
				  "%s: permission denied: device-DAX nodes are root-only by default (mode 0600); "
				  "run as root or grant access with a udev rule",
				  path);
	if (e == EACCES || e == EPERM)
		return daxmap_err(e, "%s: permission denied", path);
	return daxmap_err(e, "%s: cannot open: %s", path, strerror(e));
}

static const char *file_type(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISBLK(m))
		return "a block device (use an fsdax filesystem or a devdax namespace)";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	return "of an unsupported type";
}

/* What the path is: a devdax device, a file on a DAX filesystem or a
 * regular file emulating a device; its size and alignment. */
static int discover(struct daxmap_dev *dev, const struct stat *st, uint64_t file_align)
{
	if (S_ISCHR(st->st_mode))
		return open_devdax(dev, st, file_align);
	if (!S_ISREG(st->st_mode))
		return daxmap_err(ENODEV,
				  "%s: not a device-DAX character device or a regular file: it is %s",
				  dev->path, file_type(st->st_mode));
	dev->kind = on_dax_fs(dev->path) ? DAXMAP_KIND_FSDAX : DAXMAP_KIND_FILE;
	dev->size = (uint64_t)st->st_size;
	dev->align = file_align ? file_align : DAXMAP_DEFAULT_FILE_ALIGN;
	return 0;
}

static int own_fds[64];
static unsigned nown;
static pthread_mutex_t own_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t own_once = PTHREAD_ONCE_INIT;
static uint64_t mappings_made;

struct own_va {
	uint64_t start, end;
};
static struct own_va *own_vas;
static size_t nown_vas, cap_own_vas;

/* Not taken across a fork(): the child opens devices of its own. */
static void own_take(void) { pthread_mutex_lock(&own_lock); }
static void own_give(void) { pthread_mutex_unlock(&own_lock); }
static void own_child(void)
{
	nown_vas = 0; /* region mappings are not inherited */
	pthread_mutex_unlock(&own_lock);
}
static void own_init(void) { pthread_atfork(own_take, own_give, own_child); }

void dev_fd_own(int fd)
{
	pthread_once(&own_once, own_init);
	pthread_mutex_lock(&own_lock);
	if (nown < sizeof(own_fds) / sizeof(own_fds[0]))
		own_fds[nown++] = fd;
	pthread_mutex_unlock(&own_lock);
}

void dev_fd_disown(int fd)
{
	pthread_mutex_lock(&own_lock);
	for (unsigned i = 0; i < nown; i++)
		if (own_fds[i] == fd) {
			own_fds[i] = own_fds[--nown];
			break;
		}
	pthread_mutex_unlock(&own_lock);
}

bool dev_fd_is_own(int fd)
{
	bool own = false;

	pthread_mutex_lock(&own_lock);
	for (unsigned i = 0; i < nown && !own; i++)
		own = own_fds[i] == fd;
	pthread_mutex_unlock(&own_lock);
	return own;
}

void dev_va_own(const void *addr, uint64_t len)
{
	pthread_once(&own_once, own_init);
	pthread_mutex_lock(&own_lock);
	if (nown_vas == cap_own_vas) {
		size_t cap = cap_own_vas ? cap_own_vas * 2 : 16;
		struct own_va *v = realloc(own_vas, cap * sizeof(*v));

		if (!v) { /* not listed: its mappings count as the application's
			   * (more scanning, nothing missed) */
			pthread_mutex_unlock(&own_lock);
			return;
		}
		own_vas = v;
		cap_own_vas = cap;
	}
	own_vas[nown_vas++] = (struct own_va){ (uintptr_t)addr, (uintptr_t)addr + len };
	pthread_mutex_unlock(&own_lock);
}

void dev_va_disown(const void *addr, uint64_t len)
{
	pthread_mutex_lock(&own_lock);
	for (size_t i = 0; i < nown_vas; i++)
		if (own_vas[i].start == (uintptr_t)addr && own_vas[i].end == (uintptr_t)addr + len) {
			own_vas[i] = own_vas[--nown_vas];
			break;
		}
	pthread_mutex_unlock(&own_lock);
}

bool dev_va_is_own(uint64_t start, uint64_t end)
{
	bool own = false;

	pthread_mutex_lock(&own_lock);
	for (size_t i = 0; i < nown_vas && !own; i++)
		own = start >= own_vas[i].start && end <= own_vas[i].end;
	pthread_mutex_unlock(&own_lock);
	return own;
}

void dev_mapping_made(void)
{
	__atomic_add_fetch(&mappings_made, 1, __ATOMIC_RELEASE);
}

uint64_t dev_mappings_made(void)
{
	return __atomic_load_n(&mappings_made, __ATOMIC_ACQUIRE);
}

/* Open the device for use and hand it to libpmem2 (persistence, bad
 * blocks, NUMA node). */
static int open_fd(struct daxmap_dev *dev)
{
	int oflags = (dev->flags & DAXMAP_DEV_RDONLY) ? O_RDONLY : O_RDWR, rc, node;
	struct stat st;

	dev->fd = open(dev->path, oflags | O_CLOEXEC);
	if (dev->fd < 0)
		return err_open(dev->path, errno, dev->kind);
	dev_fd_own(dev->fd);
	if (fstat(dev->fd, &st) == 0) {
		dev->have_ident = true;
		dev->st_dev = st.st_dev;
		dev->st_ino = st.st_ino;
		dev->st_rdev = S_ISCHR(st.st_mode) ? st.st_rdev : 0;
	}
	if ((rc = pmem2_source_from_fd(&dev->src, dev->fd)))
		return daxmap_err(pmem2_to_errno(rc), "%s: libpmem2 cannot use it: %s", dev->path,
				  pmem2_errormsg());
	/* best effort: libpmem2 finds the namespace under the fs */
	if (dev->kind == DAXMAP_KIND_FSDAX && pmem2_source_numa_node(dev->src, &node) == 0)
		dev->numa_node = node;
	return 0;
}

DAXMAP_EXPORT int daxmap_dev_open(struct daxmap_dev **devp, const char *path,
				  uint64_t file_align, unsigned flags)
{
	struct daxmap_dev *dev;
	struct stat st;
	int rc;

	if (!devp || !path || !*path)
		return daxmap_err(EINVAL, "daxmap_dev_open: devp and path are required");
	*devp = NULL;
	if (flags & ~KNOWN_FLAGS)
		return daxmap_err(EINVAL, "daxmap_dev_open: unknown flags 0x%x",
				  flags & ~KNOWN_FLAGS);
	if (file_align && (!is_pow2(file_align) ||
			   file_align < (uint64_t)sysconf(_SC_PAGESIZE)))
		return daxmap_err(EINVAL,
				  "alignment %llu is not a power of two of at least the page size %ld",
				  (unsigned long long)file_align,
				  sysconf(_SC_PAGESIZE));

	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			return err_missing(path);
		return err_open(path, errno, DAXMAP_KIND_FILE);
	}

	dev = calloc(1, sizeof(*dev));
	if (!dev || !(dev->path = strdup(path))) {
		free(dev);
		return daxmap_err(ENOMEM, "out of memory");
	}
	dev->fd = -1;
	dev->flags = flags;
	dev->region_id = -1;
	dev->numa_node = -1;

	if ((rc = discover(dev, &st, file_align)) == 0 &&
	    (rc = dev_check_geometry(path, dev->size, dev->align)) == 0 &&
	    !(flags & DAXMAP_DEV_QUERY))
		rc = open_fd(dev);
	if (rc) {
		daxmap_dev_close(dev);
		return rc;
	}
	*devp = dev;
	return 0;
}

DAXMAP_EXPORT void daxmap_dev_close(struct daxmap_dev *dev)
{
	if (!dev)
		return;
	if (dev->src)
		pmem2_source_delete(&dev->src);
	if (dev->fd >= 0) {
		dev_fd_disown(dev->fd);
		close(dev->fd);
	}
	free(dev->path);
	free(dev);
}

DAXMAP_EXPORT const char *daxmap_dev_path(const struct daxmap_dev *dev)
{
	return dev->path;
}

DAXMAP_EXPORT enum daxmap_dev_kind daxmap_dev_kind(const struct daxmap_dev *dev)
{
	return dev->kind;
}

DAXMAP_EXPORT uint64_t daxmap_dev_size(const struct daxmap_dev *dev)
{
	return dev->size;
}

DAXMAP_EXPORT uint64_t daxmap_dev_align(const struct daxmap_dev *dev)
{
	return dev->align;
}

DAXMAP_EXPORT int daxmap_dev_numa_node(const struct daxmap_dev *dev)
{
	return dev->numa_node;
}

DAXMAP_EXPORT const char *daxmap_dev_name(const struct daxmap_dev *dev)
{
	return dev->kind == DAXMAP_KIND_DEVDAX ? dev->name : NULL;
}

DAXMAP_EXPORT int daxmap_dev_region_id(const struct daxmap_dev *dev)
{
	return dev->region_id;
}

DAXMAP_EXPORT int daxmap_dev_list(struct daxmap_devdax_info **infos,
				  size_t *count)
{
	struct daxmap_devdax_info *arr = NULL, *grown;
	struct daxctl_ctx *ctx;
	struct daxctl_region *r;
	struct daxctl_dev *d;
	size_t n = 0, cap = 0;
	int rc;

	if (!infos || !count)
		return daxmap_err(EINVAL, "daxmap_dev_list: infos and count are required");
	*infos = NULL;
	*count = 0;
	rc = daxctl_new(&ctx);
	if (rc < 0)
		return daxmap_err(-rc, "libdaxctl: %s", strerror(-rc));
	daxctl_set_log_priority(ctx, 0);
	daxctl_region_foreach(ctx, r) {
		daxctl_dev_foreach(r, d) {
			struct daxmap_devdax_info *o;
			struct daxinfo di;
			struct stat st;

			fill_daxinfo(d, &di);
			/* like 'daxctl list': only active devices, not seeds */
			if (!di.enabled || di.size == 0)
				continue;
			if (n == cap) {
				cap = cap ? 2 * cap : 8;
				grown = realloc(arr, cap * sizeof(*arr));
				if (!grown) {
					free(arr);
					daxctl_unref(ctx);
					return daxmap_err(ENOMEM, "out of memory");
				}
				arr = grown;
			}
			o = &arr[n++];
			memset(o, 0, sizeof(*o));
			snprintf(o->name, sizeof(o->name), "%s", di.name);
			snprintf(o->path, sizeof(o->path), "/dev/%s", di.name);
			if (stat(o->path, &st) != 0 || !S_ISCHR(st.st_mode))
				o->path[0] = '\0';
			o->size = di.size;
			o->align = di.align;
			o->region_id = di.region_id;
			o->numa_node = di.numa_node;
			o->target_node = di.target_node;
			o->system_ram = di.system_ram;
		}
	}
	daxctl_unref(ctx);
	*infos = arr;
	*count = n;
	return 0;
}

DAXMAP_EXPORT void daxmap_dev_list_free(struct daxmap_devdax_info *infos)
{
	free(infos);
}
