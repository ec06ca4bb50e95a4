/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio_ledger.c -- the per-boot record of VFIO type1 maps per device folio
 * (vfio_ledger.h).
 *
 * One file per device, <runtime dir>/daxmap-vfio-<key>.ledger: a header
 * (boot id, the device's binding, geometry) and a 32-bit count per folio.
 * Changes are made under a POSIX lock of the whole file; a process killed
 * meanwhile leaves at most one count short by its own map. The binding is
 * the inode of the device's sysfs "driver" link: kernfs makes a new one at
 * every bind, and a rebind (daxctl disable-device + enable-device) is what
 * sets the struct pages up again (drivers/dax/device.c dev_dax_probe() ->
 * devm_memremap_pages()), so the counts start over with it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dev.h"
#include "error.h"
#include "vfio_ledger.h"

#define LEDGER_MAGIC "DAXMAPVF"
#define LEDGER_VERSION 1

struct ledger_hdr {
	char magic[8];
	uint32_t version;
	uint32_t pad;
	char boot_id[40];
	uint64_t binding;
	uint64_t size, align;
};

/* The folios of [off, off + len) on dev: [*first, *end). */
static void folios(const struct daxmap_dev *dev, uint64_t off, uint64_t len, uint64_t *first,
		   uint64_t *end)
{
	uint64_t a = dev->align ? dev->align : 4096;

	*first = off / a;
	*end = len ? (off + len + a - 1) / a : *first;
	if (*end > dev->size / a)
		*end = dev->size / a;
}

static int boot_id(char out[40])
{
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	bool ok;

	memset(out, 0, 40);
	if (!f)
		return daxmap_err(errno, "/proc/sys/kernel/random/boot_id: %s", strerror(errno));
	ok = fgets(out, 40, f) != NULL;
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return ok ? 0 : daxmap_err(EIO, "/proc/sys/kernel/random/boot_id: cannot read it");
}

/* The file's name and the device's binding. An emulated device (a file)
 * is named after its inode and has no binding. */
static int ledger_key(const struct daxmap_dev *dev, char *path, size_t size, uint64_t *binding)
{
	const char *dir = getenv("DAXMAP_RUNTIME_DIR");
	struct stat st;
	char link[128];

	if (!dir || !*dir)
		dir = "/dev/shm";
	*binding = 0;
	if (dev->name[0]) {
		snprintf(link, sizeof(link), "/sys/bus/dax/devices/%s/driver", dev->name);
		if (lstat(link, &st) == 0)
			*binding = (uint64_t)st.st_ino;
		snprintf(path, size, "%s/daxmap-vfio-%s.ledger", dir, dev->name);
		return 0;
	}
	if (stat(dev->path, &st) != 0)
		return daxmap_err(errno, "%s: %s", dev->path, strerror(errno));
	snprintf(path, size, "%s/daxmap-vfio-f%" PRIx64 "-%" PRIx64 ".ledger", dir,
		 (uint64_t)st.st_dev, (uint64_t)st.st_ino);
	return 0;
}

static int lock_all(int fd, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET };

	while (fcntl(fd, F_SETLKW, &fl) != 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/*
 * Open the ledger locked (write lock when create), made valid for this
 * boot and binding. *fd -1 and 0 returned: no valid record (and !create).
 */
static int ledger_open(const struct daxmap_dev *dev, bool create, int *fd)
{
	struct ledger_hdr h, want = { .version = LEDGER_VERSION };
	char path[PATH_MAX];
	int rc;

	*fd = -1;
	memcpy(want.magic, LEDGER_MAGIC, 8);
	want.size = dev->size;
	want.align = dev->align;
	if ((rc = ledger_key(dev, path, sizeof(path), &want.binding)) ||
	    (rc = boot_id(want.boot_id)))
		return rc;
	*fd = open(path, create ? O_RDWR | O_CREAT | O_CLOEXEC : O_RDWR | O_CLOEXEC, 0600);
	if (*fd < 0)
		return errno == ENOENT && !create ? 0 : daxmap_err(errno, "%s: %s", path, strerror(errno));
	if ((rc = lock_all(*fd, F_WRLCK))) {
		close(*fd);
		*fd = -1;
		return daxmap_err(-rc, "%s: cannot lock: %s", path, strerror(-rc));
	}
	if (pread(*fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) && memcmp(&h, &want, sizeof(h)) == 0)
		return 0;
	/* another boot's, binding's or geometry's: the counts are void */
	if (ftruncate(*fd, 0) != 0 || pwrite(*fd, &want, sizeof(want), 0) != (ssize_t)sizeof(want)) {
		rc = daxmap_err(errno ? errno : EIO, "%s: cannot write it: %s", path, strerror(errno));
		close(*fd);
		*fd = -1;
	}
	return rc;
}

static off_t at(uint64_t folio)
{
	return (off_t)(sizeof(struct ledger_hdr) + folio * sizeof(uint32_t));
}

int vfio_ledger_add(const struct daxmap_dev *dev, uint64_t off, uint64_t len, int32_t n)
{
	uint64_t f, end;
	int fd, rc;

	if ((rc = ledger_open(dev, true, &fd)))
		return rc;
	folios(dev, off, len, &f, &end);
	for (; f < end && rc == 0; f++) {
		uint32_t c = 0;

		if (pread(fd, &c, sizeof(c), at(f)) != (ssize_t)sizeof(c))
			c = 0; /* past the end: never counted */
		if (n < 0)
			c = c < (uint32_t)-n ? 0 : c - (uint32_t)-n;
		else
			c = c > UINT32_MAX - (uint32_t)n ? UINT32_MAX : c + (uint32_t)n;
		if (pwrite(fd, &c, sizeof(c), at(f)) != (ssize_t)sizeof(c))
			rc = daxmap_err(errno ? errno : EIO, "VFIO ledger: cannot write: %s", strerror(errno));
	}
	close(fd); /* drops the lock */
	return rc;
}

int vfio_ledger_max(const struct daxmap_dev *dev, uint64_t off, uint64_t len, uint32_t *maps)
{
	uint64_t f, end;
	int fd, rc;

	*maps = 0;
	if ((rc = ledger_open(dev, false, &fd)) || fd < 0)
		return rc;
	folios(dev, off, len, &f, &end);
	for (; f < end; f++) {
		uint32_t c = 0;

		if (pread(fd, &c, sizeof(c), at(f)) == (ssize_t)sizeof(c) && c > *maps)
			*maps = c;
	}
	close(fd);
	return 0;
}
