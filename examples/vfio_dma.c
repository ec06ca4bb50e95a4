/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * vfio_dma.c -- a device DMAs into a libdaxmap region through VFIO.
 *
 *   vfio_dma [--wait-revoke] PATH REGION GROUP DEVICE
 *
 * Maps region REGION of the pool on PATH, maps it into a VFIO container at
 * an I/O virtual address (daxmap_pin_vfio(): the IOMMU mapping counts as a
 * pin on the region's extents), has the device copy bytes from one place
 * of the region to another by DMA, makes the device's writes durable, and
 * unmaps. GROUP is the device's VFIO group (/dev/vfio/N), DEVICE its PCI
 * address (0000:00:02.0); it must be bound to vfio-pci.
 *
 * The device here is QEMU's "edu" (-device edu), whose DMA engine copies
 * up to 4 KiB between an IOVA and a buffer of its own: edu_dma() is the
 * only device-specific part; a real driver puts its own descriptors there.
 *
 * --wait-revoke: keep the IOVA mapped until the region is removed
 * (daxmapctl remove PATH REGION, in any process); the pin's revoke
 * callback then has the device stopped and the IOVA unmapped, so the
 * remove completes and the device can no longer reach those extents.
 *
 * Linux 6.1's VFIO type1 treats device-dax pages as reserved: it neither
 * charges them to RLIMIT_MEMLOCK nor ever drops the page pins it takes
 * (the IOMMU mapping itself does go at unmap). Map long-lived ranges once,
 * not per I/O.
 *
 * Build: cc vfio_dma.c $(pkg-config --cflags --libs daxmap)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <daxmap.h>

#define IOVA 0x1000000ULL        /* 16 MiB: inside edu's 28-bit DMA mask */
#define IOVA_LIMIT (1ULL << 28)
#define EDU_BUF 0x40000U         /* edu's own 4 KiB buffer, as a DMA address */
#define XFER 2048U               /* QEMU 7.2's edu refuses a copy that ends at
				  * its buffer's end: stay below 4 KiB */
#define SRC_OFF 0x1000ULL        /* where in the region the device reads */
#define DST_OFF 0x100000ULL      /* ... and writes */

struct vfio {
	int container, group, device;
	uint64_t bar0; /* offset of BAR 0 in the device fd */
};

struct state {
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	struct daxmap_map *map;
	struct daxmap_pin *pin;
	int revoke_fd;
	struct vfio v;
};

/* Called from a library thread when a remove or shrink wants the extents:
 * wake the main thread, which owns the device and stops it first. */
static void on_revoke(struct daxmap_pin *pin, void *arg)
{
	struct state *s = arg;
	uint64_t one = 1;

	(void)pin;
	if (write(s->revoke_fd, &one, sizeof(one)) != sizeof(one))
		abort(); /* an eventfd write only fails on overflow */
}

static int sys_fail(const char *what)
{
	fprintf(stderr, "vfio_dma: %s: %s\n", what, strerror(errno));
	return -1;
}

/* Container, group, type1 IOMMU, device; the device may master the bus. */
static int vfio_open(struct vfio *v, const char *group, const char *device)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	struct vfio_region_info ri = { .argsz = sizeof(ri) };
	uint16_t cmd;

	if ((v->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC)) < 0)
		return sys_fail("/dev/vfio/vfio");
	if (ioctl(v->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(v->container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) != 1) {
		fprintf(stderr, "vfio_dma: no VFIO type1v2 IOMMU here\n");
		return -1;
	}
	if ((v->group = open(group, O_RDWR | O_CLOEXEC)) < 0)
		return sys_fail(group);
	if (ioctl(v->group, VFIO_GROUP_GET_STATUS, &gs) || !(gs.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		fprintf(stderr, "vfio_dma: %s is not viable: bind all its devices to vfio-pci\n",
			group);
		return -1;
	}
	if (ioctl(v->group, VFIO_GROUP_SET_CONTAINER, &v->container) ||
	    ioctl(v->container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return sys_fail("attach the group to a type1 container");
	if ((v->device = ioctl(v->group, VFIO_GROUP_GET_DEVICE_FD, device)) < 0)
		return sys_fail(device);
	ri.index = VFIO_PCI_BAR0_REGION_INDEX;
	if (ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, &ri))
		return sys_fail("BAR 0");
	v->bar0 = ri.offset;
	ri.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (ioctl(v->device, VFIO_DEVICE_GET_REGION_INFO, &ri) ||
	    pread(v->device, &cmd, 2, (off_t)(ri.offset + PCI_COMMAND)) != 2)
		return sys_fail("PCI config space");
	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (pwrite(v->device, &cmd, 2, (off_t)(ri.offset + PCI_COMMAND)) != 2)
		return sys_fail("enable bus mastering");
	return 0;
}

static void vfio_close(struct vfio *v)
{
	if (v->device >= 0)
		close(v->device);
	if (v->group >= 0)
		close(v->group);
	if (v->container >= 0)
		close(v->container);
}

static int edu_rw(const struct vfio *v, uint32_t reg, uint32_t *val, int write_it)
{
	ssize_t n = write_it ? pwrite(v->device, val, 4, (off_t)(v->bar0 + reg))
			     : pread(v->device, val, 4, (off_t)(v->bar0 + reg));

	return n == 4 ? 0 : sys_fail("edu register");
}

/*
 * The device-specific part: edu copies cnt bytes from src to dst, one of
 * them its own buffer, and clears bit 0 of its command register when done.
 */
static int edu_dma(const struct vfio *v, uint64_t src, uint64_t dst, uint32_t cnt, int to_ram)
{
	uint32_t id, cmd = 1U | (to_ram ? 2U : 0U), s = (uint32_t)src, d = (uint32_t)dst;

	if (edu_rw(v, 0x00, &id, 0) || (id & 0xff) != 0xed) {
		fprintf(stderr, "vfio_dma: the device is not QEMU's edu\n");
		return -1;
	}
	if (edu_rw(v, 0x80, &s, 1) || edu_rw(v, 0x88, &d, 1) || edu_rw(v, 0x90, &cnt, 1) ||
	    edu_rw(v, 0x98, &cmd, 1))
		return -1;
	for (int i = 0; i < 1000; i++) {
		if (edu_rw(v, 0x98, &cmd, 0))
			return -1;
		if (!(cmd & 1))
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "vfio_dma: the device's DMA did not finish\n");
	return -1;
}

/* The device copies SRC_OFF to DST_OFF of the region, through its buffer. */
static int device_copy(struct state *s)
{
	char *base = daxmap_map_addr(s->map);
	char want[XFER];

	for (unsigned i = 0; i < XFER; i++)
		want[i] = (char)('a' + i % 26);
	/* what the device reads need not be durable; it must be in memory the
	 * device sees, which a cache-coherent DMA read guarantees */
	memcpy(base + SRC_OFF, want, XFER);
	memset(base + DST_OFF, 0, XFER);
	if (edu_dma(&s->v, IOVA + SRC_OFF, EDU_BUF, XFER, 0) ||
	    edu_dma(&s->v, EDU_BUF, IOVA + DST_OFF, XFER, 1))
		return -1;
	/* a device's write reaches memory, or with DDIO the CPU caches: only
	 * a flush makes it durable, as for the CPU's own stores */
	daxmap_map_persist(s->map, base + DST_OFF, XFER);
	if (memcmp(base + DST_OFF, want, XFER)) {
		fprintf(stderr, "vfio_dma: the region does not hold what the device copied\n");
		return -1;
	}
	printf("the device wrote %u bytes at offset 0x%llx of the region, now durable\n", XFER,
	       (unsigned long long)DST_OFF);
	fflush(stdout);
	return 0;
}

/* Block until the revoke callback fires; the device is idle meanwhile. */
static int wait_revoke(struct state *s)
{
	struct pollfd p = { s->revoke_fd, POLLIN, 0 };
	uint64_t n;

	printf("holding the IOVA until the region is revoked\n");
	fflush(stdout);
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return sys_fail("poll");
	if (read(s->revoke_fd, &n, sizeof(n)) != sizeof(n))
		return sys_fail("eventfd");
	/* a real driver would stop the device's queues here: nothing is in
	 * flight in this program */
	printf("revoked: unmapping the IOVA\n");
	return 0;
}

int main(int argc, char **argv)
{
	static struct state s = { .revoke_fd = -1, .v = { -1, -1, -1, 0 } };
	int hold = argc > 1 && strcmp(argv[1], "--wait-revoke") == 0;
	char **a = argv + 1 + hold;
	uint64_t len;
	int rc = 1;

	if (argc - 1 - hold != 4) {
		fprintf(stderr, "usage: vfio_dma [--wait-revoke] PATH REGION GROUP DEVICE\n");
		return 2;
	}
	if (daxmap_dev_open(&s.dev, a[0], 0, 0) < 0 || daxmap_pool_open(&s.pool, s.dev, 0) < 0 ||
	    daxmap_region_map(&s.map, s.pool, a[1], 0) < 0) {
		fprintf(stderr, "vfio_dma: %s\n", daxmap_errormsg());
		goto out;
	}
	len = daxmap_map_len(s.map);
	if (len < DST_OFF + XFER || len > IOVA_LIMIT - IOVA) {
		fprintf(stderr, "vfio_dma: the region must hold 1 MiB + %u bytes, and fit below "
			"the device's 28-bit DMA mask\n", XFER);
		goto out;
	}
	if ((s.revoke_fd = eventfd(0, EFD_CLOEXEC)) < 0 || vfio_open(&s.v, a[2], a[3]) < 0)
		goto out;
	/*
	 * The whole region at IOVA, readable and writable by the device. The
	 * pin rules come first: fsdax and page-cache files are refused before
	 * the kernel is asked (FOLL_LONGTERM). From here on a remove of the
	 * region waits for daxmap_unpin(), which unmaps the IOVA.
	 */
	if (daxmap_pin_vfio(&s.pin, s.map, 0, len, s.v.container, IOVA, on_revoke, &s) < 0) {
		fprintf(stderr, "vfio_dma: %s\n", daxmap_errormsg());
		goto out;
	}
	if (device_copy(&s) == 0 && (!hold || wait_revoke(&s) == 0))
		rc = 0;
out:
	/* the device lets go first (the IOVA is unmapped), then the memory */
	if (daxmap_unpin(&s.pin) < 0)
		fprintf(stderr, "vfio_dma: %s\n", daxmap_errormsg());
	daxmap_map_delete(&s.map);
	vfio_close(&s.v);
	if (s.revoke_fd >= 0)
		close(s.revoke_fd);
	daxmap_pool_close(s.pool);
	daxmap_dev_close(s.dev);
	return rc;
}
