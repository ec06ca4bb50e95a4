/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pin_vfio.c -- the VFIO pin backend: a range of a region mapping is mapped
 * into a VFIO container at an IOVA (VFIO_IOMMU_MAP_DMA, type1 IOMMU), and
 * unmapped (VFIO_IOMMU_UNMAP_DMA) when the pin goes, before its references.
 *
 * What type1 does with device-dax pages (drivers/vfio/vfio_iommu_type1.c,
 * Linux 6.1 to 7.3; measured in the rig, doc/pins.md "## VFIO"):
 * - vaddr_get_pfns() pins with pin_user_pages_remote(FOLL_LONGTERM), which
 *   GUP allows for devdax (only fsdax is refused, mm/gup.c
 *   check_vma_flags()), so the library's rule check (pin_rules.c) is the
 *   same as the kernel's.
 * - ZONE_DEVICE pages are PageReserved (mm/page_alloc.c
 *   __init_zone_device_page()), so is_invalid_reserved_pfn() is true for
 *   them: vfio_pin_pages_remote() does not charge them to locked_vm
 *   (RLIMIT_MEMLOCK does not limit a devdax MAP_DMA), and put_pfn() skips
 *   them: UNMAP_DMA never unpins what MAP_DMA pinned. The kernel's pin
 *   count of those pages only grows; the IOMMU mapping itself does go.
 *   (Measured: 4,194,304 MAP/UNMAP cycles of one 2 MiB page overflow its
 *   refcount, and GUP refuses it from then on: map ranges once.)
 * The library's own references (DAXMAP_PIN_BIAS per extent) follow the
 * IOMMU mapping: taken before MAP_DMA, dropped after UNMAP_DMA. The
 * kernel's pins that stay are counted apart, per folio, in the VFIO
 * ledger (vfio_ledger.h), and a map that would overflow a folio's
 * _refcount is refused (kstate_vfio_check()). Seen the same on 6.1, 6.12
 * and 7.3.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "daxmap.h"
#include "error.h"
#include "kstate.h"
#include "pin.h"
#include "pin_rules.h"
#include "util.h"

/* What a VFIO pin keeps: its own reference to the container (a dup, so a
 * closed or reused descriptor number cannot redirect the unmap). */
struct vfio_pin {
	int fd;
	uint64_t iova;
	uint64_t size;
	int mapped;              /* MAP_DMA succeeded: unpin unmaps */
	pid_t pid;               /* the process that mapped it */
};

/* A VFIO container with a type1 IOMMU offered. */
static int check_api(int fd)
{
	int api;

	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return daxmap_err(EBADF, "VFIO container fd %d is not an open file descriptor", fd);
	api = ioctl(fd, VFIO_GET_API_VERSION);
	if (api < 0)
		return daxmap_err(errno == ENOTTY ? ENOTTY : errno,
				  "fd %d is not a VFIO container (open /dev/vfio/vfio): VFIO_GET_API_VERSION: %s",
				  fd, strerror(errno));
	if (api != VFIO_API_VERSION)
		return daxmap_err(EPROTO, "VFIO container fd %d speaks API version %d, this library %d",
				  fd, api, VFIO_API_VERSION);
	if (ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) <= 0 &&
	    ioctl(fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0)
		return daxmap_err(ENODEV, "VFIO container fd %d offers no type1 IOMMU (module vfio_iommu_type1)", fd);
	return 0;
}

/* VFIO_IOMMU_GET_INFO with its capability chain, malloc'ed: twice, the
 * first call says how much room the chain needs. */
static int iommu_info(int fd, struct vfio_iommu_type1_info **out)
{
	struct vfio_iommu_type1_info *info = NULL;
	uint32_t argsz = sizeof(*info);
	int rc;

	for (int pass = 0; pass < 2; pass++) {
		if (!(info = calloc(1, argsz)))
			return daxmap_err(ENOMEM, "out of memory");
		info->argsz = argsz;
		if (ioctl(fd, VFIO_IOMMU_GET_INFO, info) < 0) {
			rc = errno;
			free(info);
			return daxmap_err(rc, "VFIO container fd %d has no IOMMU set: attach a group (VFIO_GROUP_SET_CONTAINER), then VFIO_SET_IOMMU with VFIO_TYPE1v2_IOMMU (VFIO_IOMMU_GET_INFO: %s)",
					  fd, strerror(rc));
		}
		if (info->argsz <= argsz || pass == 1)
			break;
		argsz = info->argsz;
		free(info);
	}
	*out = info;
	return 0;
}

/*
 * [iova, end] lies in one usable IOVA range of the container, if its info
 * lists them (VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE: the IOMMU's aperture
 * minus reserved ranges, MSI). The kernel does not align the chain: it is
 * copied out, not cast.
 */
static int check_iova_ranges(const struct vfio_iommu_type1_info *info, uint64_t iova,
			     uint64_t end)
{
	const size_t at = offsetof(struct vfio_iommu_type1_info_cap_iova_range, iova_ranges);
	uint32_t off = info->cap_offset;
	struct vfio_iova_range r0, r, rn;
	char a[48], b[48];

	if (!(info->flags & VFIO_IOMMU_INFO_CAPS))
		return 0;
	while (off && off + sizeof(struct vfio_info_cap_header) <= info->argsz) {
		struct vfio_info_cap_header h;
		uint32_t n, i, first = off + (uint32_t)at;

		memcpy(&h, (const char *)info + off, sizeof(h));
		if (h.id != VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
			off = h.next > off ? h.next : 0; /* forward only */
			continue;
		}
		memcpy(&n, (const char *)info + off +
		       offsetof(struct vfio_iommu_type1_info_cap_iova_range, nr_iovas), sizeof(n));
		if (n == 0 || first + (uint64_t)n * sizeof(r) > info->argsz)
			return 0;
		for (i = 0; i < n; i++) {
			memcpy(&r, (const char *)info + first + i * sizeof(r), sizeof(r));
			if (iova >= r.start && end <= r.end)
				return 0;
		}
		memcpy(&r0, (const char *)info + first, sizeof(r0));
		memcpy(&rn, (const char *)info + first + (n - 1) * sizeof(rn), sizeof(rn));
		snprintf(a, sizeof(a), "%#" PRIx64 "-%#" PRIx64, (uint64_t)r0.start, (uint64_t)r0.end);
		snprintf(b, sizeof(b), "%s%#" PRIx64 "-%#" PRIx64, n > 2 ? "..., " : "",
			 (uint64_t)rn.start, (uint64_t)rn.end);
		return daxmap_err(EINVAL, "IOVA range %#" PRIx64 "-%#" PRIx64 " is not inside one usable IOVA range of the container (%s%s%s)",
				  iova, end, a, n > 1 ? ", " : "", n > 1 ? b : "");
	}
	return 0;
}

/*
 * The container must be a VFIO container with a type1 IOMMU set; the range
 * must suit its smallest IOMMU page size and lie in one usable IOVA range.
 * Checked here so the refusal names the numbers instead of the kernel's
 * bare EINVAL.
 */
static int check_container(int fd, uint64_t vaddr, uint64_t iova, uint64_t len)
{
	struct vfio_iommu_type1_info *info = NULL;
	uint64_t pgsize, end = iova + len - 1;
	char a[48];
	int rc;

	if ((rc = check_api(fd)) || (rc = iommu_info(fd, &info)))
		return rc;
	pgsize = (info->flags & VFIO_IOMMU_INFO_PGSIZES) && info->iova_pgsizes
		? info->iova_pgsizes & -info->iova_pgsizes : 4096;
	if ((iova | len | vaddr) & (pgsize - 1))
		rc = daxmap_err(EINVAL, "IOVA %#" PRIx64 ", length %#" PRIx64 " and address %#" PRIx64 " must be multiples of the IOMMU page size %s",
				iova, len, vaddr, fmt_size(a, sizeof(a), pgsize));
	else if (end < iova)
		rc = daxmap_err(EINVAL, "IOVA %#" PRIx64 " + length %#" PRIx64 " wraps around", iova, len);
	else
		rc = check_iova_ranges(info, iova, end);
	free(info);
	return rc;
}

static int vfio_unpin(struct daxmap_pin *pin, void *data)
{
	struct vfio_pin *v = data;
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap),
		.iova = v->iova,
		.size = v->size,
	};
	int rc = 0;

	(void)pin;
	if (v->fd < 0 || !v->mapped)
		return 0;
	/* a fork()ed child's copy of the pin: the mapping is the parent's
	 * (type1 would refuse the child anyway: only the mapping mm unmaps) */
	if (v->pid != getpid())
		return 0;
	/*
	 * unmap.size comes back as what was unmapped: 0 when the mapping was
	 * already gone (the application unmapped it itself).
	 */
	if (ioctl(v->fd, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
		rc = daxmap_err(errno, "VFIO_IOMMU_UNMAP_DMA of IOVA %#" PRIx64 " (+%#" PRIx64 "): %s",
				v->iova, v->size, strerror(errno));
	close(v->fd);
	v->fd = -1;
	v->mapped = 0;
	return rc;
}

static void vfio_free(void *data)
{
	struct vfio_pin *v = data;

	if (v && v->fd >= 0)
		close(v->fd);
	free(v);
}

static const struct pin_backend_ops vfio_ops = {
	.unpin = vfio_unpin,
	.free = vfio_free,
};

/* The kernel's refusal of MAP_DMA, with what probably caused it. */
static int map_dma_error(int err, int fd, uint64_t iova, uint64_t len)
{
	char lim[48], lck[48];

	switch (err) {
	case ENOMEM:
	case EPERM:
		if (proc_status("VmLck", lck, sizeof(lck)))
			snprintf(lck, sizeof(lck), "?");
		return daxmap_err(err, "VFIO_IOMMU_MAP_DMA of %#" PRIx64 " bytes at IOVA %#" PRIx64 ": %s: type1 charges pinned RAM to RLIMIT_MEMLOCK (now %s, VmLck %s, CAP_IPC_LOCK %s; device-dax pages are not charged)",
				  len, iova, strerror(err), fmt_memlock(lim, sizeof(lim)),
				  lck, has_cap_ipc_lock() == 1 ? "yes" : "no");
	case EEXIST:
		return daxmap_err(err, "VFIO_IOMMU_MAP_DMA: IOVA range %#" PRIx64 "-%#" PRIx64 " overlaps a mapping already in container fd %d",
				  iova, iova + len - 1, fd);
	case EINVAL:
		return daxmap_err(err, "VFIO_IOMMU_MAP_DMA of %#" PRIx64 " bytes at IOVA %#" PRIx64 ": invalid (IOVA or size not aligned to the IOMMU page size, or outside the usable IOVA ranges)",
				  len, iova);
	case ENOSPC:
		return daxmap_err(err, "VFIO_IOMMU_MAP_DMA: container fd %d holds the most DMA mappings allowed (vfio_iommu_type1 dma_entry_limit)",
				  fd);
	case EBUSY:
		return daxmap_err(err, "VFIO_IOMMU_MAP_DMA: IOVA range %#" PRIx64 "-%#" PRIx64 " is already mapped in the IOMMU",
				  iova, iova + len - 1);
	default:
		return daxmap_err(err, "VFIO_IOMMU_MAP_DMA of %#" PRIx64 " bytes at IOVA %#" PRIx64 ": %s",
				  len, iova, strerror(err));
	}
}

DAXMAP_EXPORT int daxmap_pin_vfio(struct daxmap_pin **pinp, struct daxmap_map *map,
				  uint64_t offset, uint64_t len, int container_fd,
				  uint64_t iova, daxmap_revoke_fn revoke, void *arg)
{
	struct vfio_iommu_type1_dma_map dm = { .argsz = sizeof(dm) };
	struct daxmap_pin *pin;
	struct vfio_pin *v;
	uint64_t vaddr;
	int rc;

	if ((rc = pin_begin(pinp, pinp && map, "daxmap_pin_vfio", "pinp and map", map, offset, len,
			    DAXMAP_PIN_VFIO)))
		return rc;
	vaddr = (uint64_t)(uintptr_t)daxmap_map_addr(map) + offset;
	if ((rc = check_container(container_fd, vaddr, iova, len)))
		return rc;
	/* type1 never unpins devdax pages: one map too many overflows them */
	if ((rc = kstate_vfio_check(map, offset, len)))
		return rc;
	if (!(v = calloc(1, sizeof(*v))))
		return daxmap_err(ENOMEM, "out of memory");
	v->iova = iova;
	v->size = len;
	if ((v->fd = fcntl(container_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		rc = daxmap_err(errno, "cannot duplicate VFIO container fd %d: %s",
				container_fd, strerror(errno));
		free(v);
		return rc;
	}
	/* references first: a release that marks the extents now either
	 * sees this pin or makes pin_take() fail with ESTALE */
	if ((rc = pin_take(pinp, map, offset, len, DAXMAP_PIN_VFIO,
			   revoke, arg))) {
		vfio_free(v);
		return rc;
	}
	pin = *pinp;
	/* from now on v lives as long as the pin (a revoke may be running) */
	pin_set_backend(pin, &vfio_ops, v);
	dm.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	dm.vaddr = vaddr;
	dm.iova = iova;
	dm.size = len;
	/* counted before the kernel pins: a process killed in MAP_DMA leaves
	 * an upper bound, never a pin the ledger misses */
	if ((rc = kstate_vfio_record(map, offset, len, 1))) {
		*pinp = NULL;
		pin_release(pin);
		return rc;
	}
	if (ioctl(v->fd, VFIO_IOMMU_MAP_DMA, &dm) < 0) {
		int err = errno;

		rc = map_dma_error(err, container_fd, iova, len);
		/* vfio_dma_do_map() refuses these before it pins anything;
		 * other failures may leave pins behind, and stay counted */
		if (err == EEXIST || err == EINVAL || err == ENOSPC || err == EBUSY)
			kstate_vfio_record(map, offset, len, -1);
		*pinp = NULL;
		pin_release(pin);
		return rc;
	}
	v->mapped = 1;
	v->pid = getpid();
	/* revoke waits for this; a release that came meanwhile fails it */
	if ((rc = pin_ready(pin))) {
		*pinp = NULL;
		pin_release(pin);
		return daxmap_err_prefix(ESTALE, "VFIO: bytes %#" PRIx64 "-%#" PRIx64 " (unmapped again)",
					 offset, offset + len - 1);
	}
	return 0;
}
