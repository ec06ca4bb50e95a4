/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * map.c -- aligned mappings of device ranges, and their persistence.
 *
 * The library reserves and maps the address range itself and hands it to
 * libpmem2 with pmem2_map_from_existing(): libpmem2's own mapping path needs
 * an NVDIMM namespace to find size and alignment and crashes on hmem/CXL
 * devdax (PMDK issue #6160), while its persistence functions work on any
 * mapping.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include <libpmem2.h>

#include "dev.h"
#include "error.h"
#include "map.h"
#include "util.h"

struct daxmap_map {
	struct map_head head;        /* first: map_head() */
	uint64_t pagesize;
	enum daxmap_granularity gran;
	bool sync;
	bool counted;                /* map_new_reserved() */
	size_t nranges;
	struct daxmap_range *ranges; /* device ranges, in VA order, as made */
	uint64_t reserved;           /* address space from head.addr, >= len:
				      * the rest stays PROT_NONE (map_place()) */
	struct pmem2_map *pmap;      /* persistence functions come from here */
	pmem2_persist_fn persist;
	pmem2_flush_fn flush;
	pmem2_drain_fn drain;
	pmem2_memcpy_fn memcpy;
	pmem2_memmove_fn memmove;
	pmem2_memset_fn memset;
};

_Static_assert(DAXMAP_F_NODRAIN == PMEM2_F_MEM_NODRAIN &&
	       DAXMAP_F_NONTEMPORAL == PMEM2_F_MEM_NONTEMPORAL &&
	       DAXMAP_F_TEMPORAL == PMEM2_F_MEM_TEMPORAL &&
	       DAXMAP_F_WC == PMEM2_F_MEM_WC && DAXMAP_F_WB == PMEM2_F_MEM_WB &&
	       DAXMAP_F_NOFLUSH == PMEM2_F_MEM_NOFLUSH,
	       "DAXMAP_F_* are passed to libpmem2 unchanged");
_Static_assert((int)DAXMAP_GRANULARITY_BYTE == (int)PMEM2_GRANULARITY_BYTE &&
	       (int)DAXMAP_GRANULARITY_CACHE_LINE == (int)PMEM2_GRANULARITY_CACHE_LINE &&
	       (int)DAXMAP_GRANULARITY_PAGE == (int)PMEM2_GRANULARITY_PAGE,
	       "granularities map one to one");

/*
 * libpmem2 honours PMEM2_FORCE_GRANULARITY only in its own mapping path;
 * mappings made here honour it the same way, so emulated devices can be
 * driven down the cache-line path in tests and benchmarks.
 */
static int forced_granularity(enum daxmap_granularity *g)
{
	const char *s = getenv("PMEM2_FORCE_GRANULARITY");

	if (!s || !*s)
		return 0;
	if (strcasecmp(s, "BYTE") == 0)
		*g = DAXMAP_GRANULARITY_BYTE;
	else if (strcasecmp(s, "CACHE_LINE") == 0 || strcasecmp(s, "CACHELINE") == 0)
		*g = DAXMAP_GRANULARITY_CACHE_LINE;
	else if (strcasecmp(s, "PAGE") == 0)
		*g = DAXMAP_GRANULARITY_PAGE;
	else
		return daxmap_err(EINVAL,
				  "PMEM2_FORCE_GRANULARITY=%s: expected BYTE, CACHE_LINE or PAGE",
				  s);
	return 1;
}

/*
 * Page granularity (a page-cache file: an emulated device): persistence is
 * msync. These stand in for libpmem2's, whose page-granularity functions on
 * a pmem2_map_from_existing() mapping loop forever on msync(addr, 0) in
 * libpmem2 1.12.1 (Debian 12); its pmem2_map_new() path is not affected.
 */
static int page_sync(const void *addr, size_t len)
{
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)addr & ~(pg - 1);
	int rc;

	do
		rc = msync((void *)start, len + ((uintptr_t)addr - start), MS_SYNC);
	while (rc != 0 && errno == EINTR);
	return rc == 0 ? 0 : -errno;
}

static void page_persist(const void *addr, size_t len)
{
	(void)page_sync(addr, len);
}

static void page_drain(void)
{
}

static void *page_memmove(void *dst, const void *src, size_t len, unsigned flags)
{
	memmove(dst, src, len);
	if (!(flags & DAXMAP_F_NOFLUSH))
		page_persist(dst, len);
	return dst;
}

static void *page_memset(void *dst, int c, size_t len, unsigned flags)
{
	memset(dst, c, len);
	if (!(flags & DAXMAP_F_NOFLUSH))
		page_persist(dst, len);
	return dst;
}

int map_check_ranges(const struct daxmap_dev *dev,
		     const struct daxmap_range *ranges, size_t n,
		     uint64_t *total)
{
	char a[48];
	uint64_t sum = 0;

	if (!ranges || n == 0)
		return daxmap_err(EINVAL, "no range to map");
	fmt_size(a, sizeof(a), dev->align);
	for (size_t i = 0; i < n; i++) {
		const struct daxmap_range *r = &ranges[i];
		char where[32] = "";

		if (n > 1)
			snprintf(where, sizeof(where), "range %zu: ", i);
		if (r->len == 0)
			return daxmap_err(EINVAL, "%slength is 0", where);
		if (r->offset % dev->align)
			return daxmap_err(EINVAL,
					  "%soffset 0x%" PRIx64 " is not a multiple of the device alignment %s",
					  where, r->offset, a);
		if (r->len % dev->align)
			return daxmap_err(EINVAL,
					  "%slength 0x%" PRIx64 " is not a multiple of the device alignment %s",
					  where, r->len, a);
		if (r->offset > dev->size || r->len > dev->size - r->offset)
			return daxmap_err(EINVAL,
					  "%s[0x%" PRIx64 ", +0x%" PRIx64 ") runs past the end of %s (size 0x%" PRIx64 ")",
					  where, r->offset, r->len, dev->path, dev->size);
		if (sum + r->len < sum)
			return daxmap_err(EOVERFLOW, "total length overflows");
		sum += r->len;
	}
	*total = sum;
	return 0;
}

/*
 * Virtual alignment: at least the device alignment, so every fault can
 * install a whole PMD/PUD page; 1 GiB for 2 GiB and more (libpmem2's rule).
 */
static uint64_t va_align(const struct daxmap_dev *dev, uint64_t len)
{
	uint64_t a = len >= 2 * GiB ? GiB : 2 * MiB;

	return dev->align > a ? dev->align : a;
}

/* Reserve len bytes of address space aligned to align (PROT_NONE). */
static void *reserve_va(uint64_t len, uint64_t align)
{
	uint64_t span = len + align;
	char *p = mmap(NULL, span, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t start, end;

	if (p == MAP_FAILED)
		return NULL;
	start = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
	end = start + len;
	if (start > (uintptr_t)p)
		munmap(p, start - (uintptr_t)p);
	if ((uintptr_t)p + span > end)
		munmap((void *)end, (uintptr_t)p + span - end);
	return (void *)start;
}

/* After an mmap of the device: one the ledgers do not count makes a
 * release read this process's maps again. */
static void mapped(const struct daxmap_map *m)
{
	if (!m->counted)
		dev_mapping_made();
}

/*
 * Map one range at a fixed address inside the reservation. MAP_SYNC (with
 * MAP_SHARED_VALIDATE, which makes the kernel refuse instead of ignoring
 * it) is used on devdax and fsdax only; a page-cache file would refuse it
 * with EOPNOTSUPP. Never try it there and fall back: a MAP_FIXED mmap that
 * fails has already unmapped the range, and another thread's mmap can land
 * in the hole before the second attempt maps over it.
 */
static int map_fixed(struct daxmap_map *m, void *at, const struct daxmap_range *r,
		     int prot, bool sync)
{
	void *p = mmap(at, r->len, prot,
		       sync ? MAP_SHARED_VALIDATE | MAP_SYNC | MAP_FIXED : MAP_SHARED | MAP_FIXED,
		       m->head.dev->fd, (off_t)r->offset);

	if (p == MAP_FAILED)
		return daxmap_err(errno,
				  "mmap of %s [0x%" PRIx64 ", +0x%" PRIx64 "): %s",
				  m->head.dev->path, r->offset, r->len, strerror(errno));
	mapped(m);
	return 0;
}

/* The page size the kernel will fault this mapping with. */
static uint64_t fault_pagesize(const struct daxmap_map *m)
{
	uint64_t base = (uint64_t)sysconf(_SC_PAGESIZE);

	switch (m->head.dev->kind) {
	case DAXMAP_KIND_DEVDAX:
		/* device-dax faults in units of its alignment (dev_dax_pagesize) */
		return m->head.dev->align;
	case DAXMAP_KIND_FSDAX:
		/*
		 * fs/dax installs a PMD only where the filesystem's blocks
		 * for that 2 MiB are physically aligned and contiguous
		 * (and maps the huge zero page for reads of holes); the
		 * granule it guarantees is the base page.
		 */
	case DAXMAP_KIND_FILE:
		break;
	}
	return base;
}

/*
 * One range: let the kernel place it. device-dax and DAX filesystems align
 * their mappings themselves (dax_get_unmapped_area(), and
 * thp_get_unmapped_area() for fsdax), as newer kernels do for any file
 * mapping of 2 MiB or more: then a single mmap is the whole job. Where the
 * address comes back unaligned the mapping goes, and the device remembers
 * to reserve first (a larger alignment than the kernel's own, 1 GiB for
 * 2 GiB and more, is not held against it). 0, 1 (not placed), or -errno.
 */
static int map_placed(struct daxmap_map *m, int prot, bool sync, uint64_t align)
{
	struct daxmap_dev *dev = m->head.dev;
	const struct daxmap_range *r = &m->ranges[0];
	void *p;

	if (m->nranges != 1 || __atomic_load_n(&dev->unaligned_placement, __ATOMIC_RELAXED))
		return 1;
	p = mmap(NULL, r->len, prot, sync ? MAP_SHARED_VALIDATE | MAP_SYNC : MAP_SHARED,
		 dev->fd, (off_t)r->offset);
	if (p == MAP_FAILED)
		return daxmap_err(errno, "mmap of %s [0x%" PRIx64 ", +0x%" PRIx64 "): %s",
				  dev->path, r->offset, r->len, strerror(errno));
	mapped(m);
	if ((uintptr_t)p % align == 0) {
		m->head.addr = p;
		return 0;
	}
	munmap(p, r->len);
	if (align <= dev->align || align <= 2 * MiB)
		__atomic_store_n(&dev->unaligned_placement, true, __ATOMIC_RELAXED);
	return 1;
}

/*
 * Map every range at its place in the reservation at m->head.addr. A failed
 * MAP_FIXED may have unmapped its part of the reservation, where another
 * thread may have mapped since: that part is taken back only if it is
 * still empty, and the rest of the reservation is freed.
 */
static int map_all(struct daxmap_map *m, int prot, bool sync)
{
	uint64_t off = 0;

	for (size_t i = 0; i < m->nranges; i++) {
		const struct daxmap_range *r = &m->ranges[i];
		char *hole = (char *)m->head.addr + off;
		int rc = map_fixed(m, hole, r, prot, sync);
		void *p;

		if (rc == 0) {
			off += r->len;
			continue;
		}
		/* (a kernel before 4.17 takes MAP_FIXED_NOREPLACE as a hint) */
		p = mmap(hole, r->len, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != MAP_FAILED)
			munmap(p, r->len);
		if (off)
			munmap(m->head.addr, off);
		if (off + r->len < m->reserved)
			munmap(hole + r->len, m->reserved - off - r->len);
		return rc;
	}
	return 0;
}

/* The persistence functions: libpmem2's, chosen once for the mapping, or
 * msync for page granularity. */
static int set_persistence(struct daxmap_map *m)
{
	enum daxmap_granularity gran = DAXMAP_GRANULARITY_PAGE;
	int rc = forced_granularity(&gran);

	if (rc < 0)
		return rc;
	if (rc == 0)
		gran = m->sync ? DAXMAP_GRANULARITY_CACHE_LINE : DAXMAP_GRANULARITY_PAGE;
	m->gran = gran;
	rc = pmem2_map_from_existing(&m->pmap, m->head.dev->src, m->head.addr, m->head.len,
				     (enum pmem2_granularity)gran);
	if (rc)
		return daxmap_err(pmem2_to_errno(rc),
				  "libpmem2 refused the mapping: %s", pmem2_errormsg());
	if (gran == DAXMAP_GRANULARITY_PAGE) {
		m->persist = m->flush = page_persist;
		m->drain = page_drain;
		m->memcpy = m->memmove = page_memmove;
		m->memset = page_memset;
	} else {
		m->persist = pmem2_get_persist_fn(m->pmap);
		m->flush = pmem2_get_flush_fn(m->pmap);
		m->drain = pmem2_get_drain_fn(m->pmap);
		m->memcpy = pmem2_get_memcpy_fn(m->pmap);
		m->memmove = pmem2_get_memmove_fn(m->pmap);
		m->memset = pmem2_get_memset_fn(m->pmap);
	}
	return 0;
}

static void map_free(struct daxmap_map *m)
{
	free(m->ranges);
	free(m);
}

DAXMAP_EXPORT int daxmap_map_new_ranges(struct daxmap_map **mapp,
					struct daxmap_dev *dev,
					const struct daxmap_range *ranges,
					size_t nranges, unsigned flags)
{
	return map_new_reserved(mapp, dev, ranges, nranges, flags, 0, false);
}

int map_new_reserved(struct daxmap_map **mapp, struct daxmap_dev *dev,
		     const struct daxmap_range *ranges, size_t nranges, unsigned flags,
		     uint64_t reserve, bool counted)
{
	struct daxmap_map *m;
	uint64_t total;
	int rc, prot;

	if (!mapp || !dev)
		return daxmap_err(EINVAL, "daxmap_map_new: mapp and dev are required");
	*mapp = NULL;
	if (flags)
		return daxmap_err(EINVAL, "daxmap_map_new: unknown flags 0x%x", flags);
	if (dev->fd < 0)
		return daxmap_err(EBADF, "%s was opened with DAXMAP_DEV_QUERY: it cannot be mapped",
				  dev->path);
	if ((rc = map_check_ranges(dev, ranges, nranges, &total)))
		return rc;
	if (reserve < total)
		reserve = total;
	if (reserve % dev->align)
		return daxmap_err(EINVAL, "a reservation of %#" PRIx64 " bytes is not a multiple of the device alignment",
				  reserve);
	m = calloc(1, sizeof(*m));
	if (!m || !(m->ranges = malloc(nranges * sizeof(*ranges)))) {
		free(m);
		return daxmap_err(ENOMEM, "out of memory");
	}
	memcpy(m->ranges, ranges, nranges * sizeof(*ranges));
	m->nranges = nranges;
	m->head.dev = dev;
	m->head.len = total;
	/* MAP_SYNC needs a DAX mapping (VM_SYNC): devdax and fsdax */
	m->sync = dev->kind != DAXMAP_KIND_FILE;
	m->pagesize = fault_pagesize(m);
	m->reserved = reserve;
	m->counted = counted;
	prot = PROT_READ | ((dev->flags & DAXMAP_DEV_RDONLY) ? 0 : PROT_WRITE);
	/* address space kept beyond the mapping (to grow in place) is
	 * reserved first; a mapping of its own size the kernel may place */
	rc = reserve == total ? map_placed(m, prot, m->sync, va_align(dev, total)) : 1;
	if (rc < 0) {
		map_free(m);
		return rc;
	}
	if (rc == 1 && !(m->head.addr = reserve_va(reserve, va_align(dev, reserve)))) {
		rc = daxmap_err(errno, "cannot reserve %" PRIu64 " bytes of address space: %s",
				reserve, strerror(errno));
		map_free(m);
		return rc;
	}
	if (rc == 1)
		rc = map_all(m, prot, m->sync);
	if (rc) {
		map_free(m);
		return rc;
	}
	if ((rc = set_persistence(m))) {
		munmap(m->head.addr, m->reserved);
		map_free(m);
		return rc;
	}
	if (counted)
		dev_va_own(m->head.addr, m->reserved);
	*mapp = m;
	return 0;
}

DAXMAP_EXPORT int daxmap_map_new(struct daxmap_map **mapp,
				 struct daxmap_dev *dev, uint64_t offset,
				 uint64_t len, unsigned flags)
{
	struct daxmap_range r = { .offset = offset, .len = len };

	return daxmap_map_new_ranges(mapp, dev, &r, 1, flags);
}

DAXMAP_EXPORT int daxmap_map_delete(struct daxmap_map **mapp)
{
	struct daxmap_map *m;
	int rc = 0;

	if (!mapp || !*mapp)
		return 0;
	m = *mapp;
	if (m->head.owner)
		m->head.owner->unmapping(m->head.owner);
	pmem2_map_delete(&m->pmap); /* from_existing: frees, never unmaps */
	/* before the munmap: once the kernel can hand the range to another
	 * mapping, it must not pass for a counted one */
	if (m->counted)
		dev_va_disown(m->head.addr, m->reserved);
	if (munmap(m->head.addr, m->reserved) != 0)
		rc = daxmap_err(errno, "munmap: %s", strerror(errno));
	if (m->head.owner)
		m->head.owner->unmapped(m->head.owner);
	map_free(m);
	*mapp = NULL;
	return rc;
}

/* devdax: non-temporal stores over a mapping of the ranges, one drain. */
static int zero_by_stores(struct daxmap_dev *dev, const struct daxmap_range *ranges, size_t n)
{
	struct daxmap_map *m;
	/* under the pool lock, which a release's free takes too */
	int rc = map_new_reserved(&m, dev, ranges, n, 0, 0, true);

	if (rc)
		return rc;
	m->memset(m->head.addr, 0, m->head.len, DAXMAP_F_NONTEMPORAL | DAXMAP_F_NODRAIN);
	m->drain();
	return daxmap_map_delete(&m);
}

/*
 * Files (fsdax, emulated devices): punch holes. The filesystem hands out
 * zeroed blocks on the next fault (fs/dax zeroes an unwritten extent before
 * mapping it), so nothing is written; fdatasync makes the punch durable.
 */
static int zero_by_punching(struct daxmap_dev *dev, const struct daxmap_range *ranges, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fallocate(dev->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)ranges[i].offset, (off_t)ranges[i].len) != 0) {
			if (errno == EOPNOTSUPP)
				return zero_by_stores(dev, ranges, n);
			return daxmap_err(errno, "%s: cannot zero [0x%" PRIx64 ", +0x%" PRIx64 "): fallocate: %s",
					  dev->path, ranges[i].offset, ranges[i].len, strerror(errno));
		}
	if (fdatasync(dev->fd) != 0)
		return daxmap_err(errno, "%s: fdatasync: %s", dev->path, strerror(errno));
	return 0;
}

int map_zero_ranges(struct daxmap_dev *dev, const struct daxmap_range *ranges, size_t n)
{
	if (dev->kind == DAXMAP_KIND_DEVDAX)
		return zero_by_stores(dev, ranges, n);
	return zero_by_punching(dev, ranges, n);
}

void map_set_owner(struct daxmap_map *map, struct map_owner *owner)
{
	map->head.owner = owner;
}

int map_span_refused(const struct daxmap_map *map, uint64_t off, uint64_t len)
{
	return daxmap_err(EINVAL, "range [%#" PRIx64 ", +%#" PRIx64 ") is not inside the %#" PRIx64 "-byte mapping",
			  off, len, map->head.len);
}

DAXMAP_EXPORT void *daxmap_map_addr(const struct daxmap_map *map)
{
	return map->head.addr;
}

DAXMAP_EXPORT uint64_t daxmap_map_len(const struct daxmap_map *map)
{
	return __atomic_load_n(&map->head.len, __ATOMIC_ACQUIRE);
}

uint64_t map_reserved(const struct daxmap_map *map)
{
	return map->reserved;
}

/* Give [off, off + len) of the reservation back to PROT_NONE: MAP_FIXED
 * replaces in one step, so nothing else lands there meanwhile. */
static void unplace(struct daxmap_map *m, uint64_t off, uint64_t len)
{
	mmap((char *)m->head.addr + off, len, PROT_NONE,
	     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0);
}

/* libpmem2 knows a mapping by its address range: register the longer one
 * (the old registration goes first, or the new one would overlap it). */
static int reregister(struct daxmap_map *m, uint64_t len)
{
	struct pmem2_map *p;
	int rc;

	pmem2_map_delete(&m->pmap);
	rc = pmem2_map_from_existing(&p, m->head.dev->src, m->head.addr, len,
				     (enum pmem2_granularity)m->gran);
	if (rc) {
		int err = pmem2_to_errno(rc);
		const char *why = pmem2_errormsg();

		/* the old range was registered before: it is again */
		pmem2_map_from_existing(&m->pmap, m->head.dev->src, m->head.addr,
					m->head.len, (enum pmem2_granularity)m->gran);
		return daxmap_err(err, "libpmem2 refused the longer mapping: %s", why);
	}
	m->pmap = p;
	return 0;
}

int map_place(struct daxmap_map *m, uint64_t off, const struct daxmap_range *ranges, size_t n)
{
	int prot = PROT_READ | ((m->head.dev->flags & DAXMAP_DEV_RDONLY) ? 0 : PROT_WRITE);
	uint64_t total, done = 0, end;
	int rc;

	if ((rc = map_check_ranges(m->head.dev, ranges, n, &total)))
		return rc;
	if (off % m->head.dev->align || off > m->reserved || total > m->reserved - off)
		return daxmap_err(EFBIG, "[%#" PRIx64 ", +%#" PRIx64 ") does not fit the mapping's reservation of %#" PRIx64 " bytes",
				  off, total, m->reserved);
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = map_fixed(m, (char *)m->head.addr + off + done, &ranges[i], prot, m->sync);
		if (rc == 0)
			done += ranges[i].len;
	}
	end = off + total > m->head.len ? off + total : m->head.len;
	if (rc == 0 && end > m->head.len)
		rc = reregister(m, end);
	if (rc) {
		/* a failed MAP_FIXED may have unmapped its part too */
		unplace(m, off, total);
		return rc;
	}
	__atomic_store_n(&m->head.len, end, __ATOMIC_RELEASE);
	return 0;
}

DAXMAP_EXPORT uint64_t daxmap_map_pagesize(const struct daxmap_map *map)
{
	return map->pagesize;
}

DAXMAP_EXPORT enum daxmap_granularity
daxmap_map_granularity(const struct daxmap_map *map)
{
	return map->gran;
}

DAXMAP_EXPORT int daxmap_map_is_sync(const struct daxmap_map *map)
{
	return map->sync;
}

DAXMAP_EXPORT void daxmap_map_persist(const struct daxmap_map *map,
				      const void *addr, size_t len)
{
	map->persist(addr, len);
}

DAXMAP_EXPORT void daxmap_map_flush(const struct daxmap_map *map,
				    const void *addr, size_t len)
{
	map->flush(addr, len);
}

DAXMAP_EXPORT void daxmap_map_drain(const struct daxmap_map *map)
{
	map->drain();
}

DAXMAP_EXPORT void *daxmap_map_memcpy(const struct daxmap_map *map, void *dst,
				      const void *src, size_t len,
				      unsigned flags)
{
	return map->memcpy(dst, src, len, flags);
}

DAXMAP_EXPORT void *daxmap_map_memmove(const struct daxmap_map *map, void *dst,
				       const void *src, size_t len,
				       unsigned flags)
{
	return map->memmove(dst, src, len, flags);
}

DAXMAP_EXPORT void *daxmap_map_memset(const struct daxmap_map *map, void *dst,
				      int c, size_t len, unsigned flags)
{
	return map->memset(dst, c, len, flags);
}

DAXMAP_EXPORT int daxmap_map_deep_flush(const struct daxmap_map *map,
					const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr, base = (uintptr_t)map->head.addr;
	int rc;

	if (a < base || a - base > map->head.len || len > map->head.len - (a - base))
		return daxmap_err(EINVAL,
				  "deep flush range [%p, +%zu) is outside the mapping [%p, +%" PRIu64 ")",
				  addr, len, map->head.addr, map->head.len);
	/*
	 * A devdax not carved from an NVDIMM (hmem, CXL) has no region
	 * deep_flush attribute and libpmem2 cannot find a region for it:
	 * flushing the CPU caches is all there is to do.
	 */
	if (map->head.dev->kind == DAXMAP_KIND_DEVDAX && !map->head.dev->nvdimm) {
		map->persist(addr, len);
		return 0;
	}
	if (map->gran == DAXMAP_GRANULARITY_PAGE) {
		rc = page_sync(addr, len);
		return rc ? daxmap_err(-rc, "msync: %s", strerror(-rc)) : 0;
	}
	rc = pmem2_deep_flush(map->pmap, (void *)addr, len);
	if (rc)
		return daxmap_err(pmem2_to_errno(rc),
				  "deep flush: %s", pmem2_errormsg());
	return 0;
}
