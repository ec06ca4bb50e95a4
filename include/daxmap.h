/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * daxmap.h -- libdaxmap: device-DAX memory for databases and RDMA servers.
 *
 * Every function that can fail returns 0 (or a non-negative result) on
 * success and a negative errno on failure; daxmap_errormsg() then holds a
 * sentence for the calling thread saying what went wrong. The library never
 * prints, aborts or exits on bad input.
 */
#ifndef DAXMAP_H
#define DAXMAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version ---------------------------------------------------------- */

/* The version of this header. */
#define DAXMAP_VERSION_MAJOR 0
#define DAXMAP_VERSION_MINOR 2
#define DAXMAP_VERSION_PATCH 0
/* One number per version, in the order of the versions (minor and patch
 * stay below 256). */
#define DAXMAP_VERSION_ENCODE(major, minor, patch) \
	((major) * 65536 + (minor) * 256 + (patch))
#define DAXMAP_VERSION_NUMBER                                              \
	DAXMAP_VERSION_ENCODE(DAXMAP_VERSION_MAJOR, DAXMAP_VERSION_MINOR, \
			      DAXMAP_VERSION_PATCH)
/* Nonzero when this header is version major.minor.patch or later; usable
 * in #if. */
#define DAXMAP_CHECK_VERSION(major, minor, patch) \
	(DAXMAP_VERSION_NUMBER >= DAXMAP_VERSION_ENCODE(major, minor, patch))

/*
 * The version of the library the program runs with, which can be newer
 * than the header it was built with: "0.2.0". Its numbers go to *major,
 * *minor and *patch, each when not NULL.
 */
const char *daxmap_version(unsigned *major, unsigned *minor, unsigned *patch);

/* ---- errors ---------------------------------------------------------- */

/* The last error of the calling thread, in words; "" if none yet. */
const char *daxmap_errormsg(void);

/* ---- the kernel ----------------------------------------------------------- */

/*
 * The kernel version that the pin rules (daxmap_pin_check()) and the
 * kernel's expected counts (daxmap_pool_kernel_refs()) go by: the running
 * kernel's MAJOR.MINOR, or the environment variable DAXMAP_KERNEL_VERSION
 * ("MAJOR.MINOR") when it is set. Returns 0 (the running kernel's), 1 (the
 * override's), or -errno (the release cannot be read or parsed).
 */
int daxmap_kernel_version(unsigned *major, unsigned *minor);

/* ---- devices ---------------------------------------------------------- */

struct daxmap_dev;

enum daxmap_dev_kind {
	DAXMAP_KIND_DEVDAX = 1, /* /dev/daxX.Y character device */
	DAXMAP_KIND_FSDAX = 2,  /* file on a filesystem mounted -o dax */
	DAXMAP_KIND_FILE = 3,   /* regular file emulating a devdax device */
};

/* daxmap_dev_open() flags */
#define DAXMAP_DEV_RDONLY (1U << 0) /* open read-only; mappings are read-only */
#define DAXMAP_DEV_QUERY (1U << 1)  /* discover only: no fd, cannot map */

/* Default alignment of an emulated (regular file) or fsdax device. */
#define DAXMAP_DEFAULT_FILE_ALIGN (2ULL << 20)

/*
 * Open the device at path. file_align is the alignment given to fsdax files
 * and emulated devices (0: DAXMAP_DEFAULT_FILE_ALIGN); a devdax device has
 * its own alignment and file_align must then be 0 or equal to it.
 */
int daxmap_dev_open(struct daxmap_dev **devp, const char *path,
		    uint64_t file_align, unsigned flags);
void daxmap_dev_close(struct daxmap_dev *dev);

const char *daxmap_dev_path(const struct daxmap_dev *dev);
enum daxmap_dev_kind daxmap_dev_kind(const struct daxmap_dev *dev);
/* "devdax", "fsdax" or "file" */
const char *daxmap_kind_name(enum daxmap_dev_kind kind);
uint64_t daxmap_dev_size(const struct daxmap_dev *dev);
uint64_t daxmap_dev_align(const struct daxmap_dev *dev);
/* NUMA node of the memory, -1 when unknown (files on non-DAX storage). */
int daxmap_dev_numa_node(const struct daxmap_dev *dev);
/* devdax only: kernel device name ("dax0.0") and dax region id; else NULL/-1 */
const char *daxmap_dev_name(const struct daxmap_dev *dev);
int daxmap_dev_region_id(const struct daxmap_dev *dev);

/* One devdax device found on the system (see daxmap_dev_list()). */
struct daxmap_devdax_info {
	char name[32];   /* "dax0.0" */
	char path[64];   /* "/dev/dax0.0"; "" when in system-ram mode */
	uint64_t size;
	uint64_t align;
	int region_id;
	int numa_node;   /* NUMA node of the device, -1 if unknown */
	int target_node; /* memory target node, -1 if unknown */
	int system_ram;  /* 1 when bound to kmem (system-ram mode) */
};

/*
 * Enumerate every devdax device on the system into a malloc'ed array
 * (free it with daxmap_dev_list_free()). No devices: *count = 0, 0 returned.
 */
int daxmap_dev_list(struct daxmap_devdax_info **infos, size_t *count);
void daxmap_dev_list_free(struct daxmap_devdax_info *infos);

/* ---- mappings --------------------------------------------------------- */

struct daxmap_map;

/* A byte range of a device. */
struct daxmap_range {
	uint64_t offset;
	uint64_t len;
};

enum daxmap_granularity {
	DAXMAP_GRANULARITY_BYTE = 0,       /* stores are persistent (eADR) */
	DAXMAP_GRANULARITY_CACHE_LINE = 1, /* flush cache lines, then drain */
	DAXMAP_GRANULARITY_PAGE = 2,       /* msync needed (not DAX) */
};

/*
 * Map [offset, offset + len) of dev. offset and len must be multiples of the
 * device alignment; the virtual address is aligned to at least the device
 * alignment (1 GiB for lengths of 2 GiB or more) so the kernel can fault
 * whole PMD/PUD pages. flags must be 0.
 */
int daxmap_map_new(struct daxmap_map **mapp, struct daxmap_dev *dev,
		   uint64_t offset, uint64_t len, unsigned flags);
/*
 * Map several device ranges, in the order given, back to back in one
 * virtually contiguous reservation.
 */
int daxmap_map_new_ranges(struct daxmap_map **mapp, struct daxmap_dev *dev,
			  const struct daxmap_range *ranges, size_t nranges,
			  unsigned flags);
/* Unmap and free; *mapp becomes NULL. NULL or *mapp == NULL is a no-op. */
int daxmap_map_delete(struct daxmap_map **mapp);

void *daxmap_map_addr(const struct daxmap_map *map);
uint64_t daxmap_map_len(const struct daxmap_map *map);
/* Page size the kernel faults this mapping with (2 MiB, 1 GiB or 4 KiB). */
uint64_t daxmap_map_pagesize(const struct daxmap_map *map);
enum daxmap_granularity daxmap_map_granularity(const struct daxmap_map *map);
/* 1 when the mapping was made with MAP_SYNC, 0 otherwise. */
int daxmap_map_is_sync(const struct daxmap_map *map);

/* Persistence (libpmem2's functions, chosen once per mapping). */
void daxmap_map_persist(const struct daxmap_map *map, const void *addr,
			size_t len);
void daxmap_map_flush(const struct daxmap_map *map, const void *addr,
		      size_t len);
void daxmap_map_drain(const struct daxmap_map *map);

/* flags for the copy functions; same meaning as libpmem2's PMEM2_F_MEM_* */
#define DAXMAP_F_NODRAIN (1U << 0)
#define DAXMAP_F_NONTEMPORAL (1U << 1)
#define DAXMAP_F_TEMPORAL (1U << 2)
#define DAXMAP_F_WC (1U << 3)
#define DAXMAP_F_WB (1U << 4)
#define DAXMAP_F_NOFLUSH (1U << 5)

void *daxmap_map_memcpy(const struct daxmap_map *map, void *dst,
			const void *src, size_t len, unsigned flags);
void *daxmap_map_memmove(const struct daxmap_map *map, void *dst,
			 const void *src, size_t len, unsigned flags);
void *daxmap_map_memset(const struct daxmap_map *map, void *dst, int c,
			size_t len, unsigned flags);
/*
 * Persist, then flush the memory controller's write queues (the NVDIMM
 * region's deep_flush) so data survives even without ADR.
 */
int daxmap_map_deep_flush(const struct daxmap_map *map, const void *addr,
			  size_t len);


/* ---- pools and regions ---------------------------------------------------- */

/*
 * A pool is a device formatted into fixed-size extents, a region table and
 * an extent table (doc/format.md). A region is a named, persistent set of
 * extents, mapped virtually contiguous. Every change is crash-consistent:
 * after a power loss, opening the pool gives the state before or after each
 * operation. Several processes may use a pool at once.
 */
struct daxmap_pool;

/* daxmap_pool_format() flags */
#define DAXMAP_FORMAT_FORCE (1U << 0) /* format over an existing pool */
/* ... even while processes use it (their mappings would alias the new
 * pool's extents); implies DAXMAP_FORMAT_FORCE */
#define DAXMAP_FORMAT_FORCE_IN_USE (1U << 1)

/*
 * Format dev as an empty pool with extents of extent_size bytes (0: the
 * device alignment; else a multiple of it). Refuses (-EEXIST) to overwrite a
 * pool without DAXMAP_FORMAT_FORCE, and (-EBUSY, naming them) a pool that
 * live processes use without DAXMAP_FORMAT_FORCE_IN_USE. Extents with known
 * bad blocks are never handed out.
 */
int daxmap_pool_format(struct daxmap_dev *dev, uint64_t extent_size,
		       unsigned flags);

/* daxmap_pool_open() flags */
#define DAXMAP_POOL_RDONLY (1U << 0) /* no changes; no recovery */
#define DAXMAP_POOL_NORECLAIM (1U << 1) /* leave daxmap_pool_reclaim() to
					 * the caller (it reports what it did) */

/*
 * Open the pool on dev (which must stay open while the pool is). Finishes
 * operations a crash interrupted (and restores a damaged primary
 * superblock from the backup), and (unless read-only or
 * DAXMAP_POOL_NORECLAIM) runs daxmap_pool_reclaim(). -ENODATA: not a pool;
 * -EUCLEAN: damaged (see daxmap_pool_check()); -ENOTSUP: written by a newer
 * format version; -EINVAL: formatted with extents the device alignment
 * does not divide (an emulated device opened with another alignment).
 */
int daxmap_pool_open(struct daxmap_pool **poolp, struct daxmap_dev *dev,
		     unsigned flags);
void daxmap_pool_close(struct daxmap_pool *pool);

struct daxmap_pool_stat {
	uint64_t extent_size;
	uint64_t extents_total; /* metadata, used, free and bad */
	uint64_t extents_meta;
	uint64_t extents_used;       /* releasing ones included */
	uint64_t extents_releasing;  /* ZAP: freed once no reference covers them */
	uint64_t extents_free;       /* stale entries of an interrupted
				      * operation included: cleared by the
				      * next writer */
	uint64_t extents_bad;
	uint32_t regions;
	uint32_t region_slots;
	uint32_t version_major;
	uint32_t version_minor;
	int from_backup;        /* the primary superblock is damaged */
};

int daxmap_pool_stat(struct daxmap_pool *pool, struct daxmap_pool_stat *st);
/* Extent numbers never handed out because of bad blocks (free with free()). */
int daxmap_pool_bad_extents(struct daxmap_pool *pool, uint64_t **extents,
			    size_t *count);

/* daxmap_pool_check() flags */
#define DAXMAP_CHECK_REPAIR (1U << 0)

typedef void (*daxmap_report_fn)(void *arg, const char *msg);

/*
 * Check the pool on dev without changing it (unless DAXMAP_CHECK_REPAIR:
 * restore the primary superblock from the backup, finish interrupted
 * operations). Each finding goes to report. Returns the number of problems
 * (0: clean) or -errno when there is no pool to check.
 */
int daxmap_pool_check(struct daxmap_dev *dev, unsigned flags,
		      daxmap_report_fn report, void *arg);

#define DAXMAP_NAME_MAX 63

struct daxmap_region_info {
	char name[64];
	uint64_t size;    /* extents * extent size */
	uint64_t extents;
	uint64_t ctime;   /* creation, seconds since the epoch */
	uint64_t releasing; /* extents past the end being released (a shrink
			     * waiting for references to go) */
};

/*
 * Create a region of at least size bytes (rounded up to whole extents;
 * *actual, if not NULL, gets the size). Names: 1 to 63 printable ASCII
 * characters, no space or '/', unique. -EEXIST, -ENOSPC (the message says
 * how much is free), -EINVAL (size 0, bad name), -ENAMETOOLONG.
 */
int daxmap_region_create(struct daxmap_pool *pool, const char *name,
			 uint64_t size, uint64_t *actual);
/* timeout_ms of the releasing calls: wait as long as it takes. Any other
 * negative timeout_ms is refused (-EINVAL). */
#define DAXMAP_WAIT_FOREVER (-1)

/*
 * Grow or shrink to size (rounded up to whole extents). Shrinking releases
 * the extents at the end the way daxmap_region_remove() releases a whole
 * region, with the same timeout_ms and the same -EBUSY.
 */
int daxmap_region_resize(struct daxmap_pool *pool, const char *name,
			 uint64_t size, uint64_t *actual, int timeout_ms);
/*
 * Remove a region: zap, wait, reclaim. Its extents are marked
 * ZAP (no new mapping or pin; the region is no longer found by name), this
 * process's own mappings of them become PROT_NONE (a stale access faults),
 * revocable pins are revoked, and the call waits up to timeout_ms (0: not
 * at all, DAXMAP_WAIT_FOREVER) for every reference to be dropped, then
 * frees the extents. On timeout: -EBUSY, the message names the holders
 * (pid, mapping or pin, extents), and the extents stay ZAP until
 * daxmap_pool_reclaim() -- from any process -- or another
 * daxmap_region_remove() of the same name finds them idle.
 */
int daxmap_region_remove(struct daxmap_pool *pool, const char *name,
			 int timeout_ms);
int daxmap_region_list(struct daxmap_pool *pool,
		       struct daxmap_region_info **infos, size_t *count);
void daxmap_region_list_free(struct daxmap_region_info *infos);
/* The device ranges of a region, in order (free with free()). */
int daxmap_region_ranges(struct daxmap_pool *pool, const char *name,
			 struct daxmap_range **ranges, size_t *count);
/* daxmap_region_map() flags */
/* The caller writes every byte of the region before it reads any: extents
 * never mapped since they were handed out are not zeroed first (they show
 * a previous owner's bytes until overwritten), and count as written. */
#define DAXMAP_MAP_OVERWRITE (1U << 0)

/*
 * Map a region's extents contiguously (daxmap_map_new_ranges()). Extents
 * mapped for the first time since they were handed out to the region read
 * as zeros (they are zeroed first, once), unless DAXMAP_MAP_OVERWRITE. The
 * mapping holds one reference on each extent until daxmap_map_delete().
 * It is not inherited by fork() (MADV_DONTFORK): a child has neither the
 * mapping nor its references, and maps the region itself if it needs it.
 * -ESTALE: the region is being removed.
 */
int daxmap_region_map(struct daxmap_map **mapp, struct daxmap_pool *pool,
		      const char *name, unsigned flags);

/* ---- growing regions, logical sizes, region locks (LIBDAXMAP_2) --------- */

/*
 * Grow region name to at least size bytes (rounded up to whole extents);
 * a region that large already is left as it is, never shrunk, so processes
 * that grow a shared region at once never undo each other. *actual (may
 * be NULL) gets the region's size. Errors as daxmap_region_resize()'s
 * growing: -ENOENT, -ENOSPC, -EINVAL, -EFBIG, -EROFS, -EBUSY.
 */
int daxmap_region_grow(struct daxmap_pool *pool, const char *name, uint64_t size,
		       uint64_t *actual);

/*
 * Is there a region called name (1) or not (0)? Read without the pool lock
 * or a re-read of the tables, so cheap enough to ask before every
 * transaction: a snapshot, which a create or remove in progress in another
 * process may fall on either side of. A region being removed is not one.
 * -EINVAL: no pool or name.
 */
int daxmap_region_exists(struct daxmap_pool *pool, const char *name);
/*
 * Was no byte of region name ever mapped since its extents were handed
 * out (1), or was some (0)? A region that was never mapped holds nothing
 * anyone wrote: an application may take over one that its own create left
 * before its first mapping (a crash in between) without losing data. A
 * format 1.1 pool does not record it: always 0. -ENOENT no such region,
 * -EINVAL no pool or name.
 */
int daxmap_region_never_mapped(struct daxmap_pool *pool, const char *name);

/*
 * daxmap_region_map() inside a reservation of reserve bytes of address
 * space (rounded up to whole extents; at least the region's size): the
 * region is mapped at its start, and daxmap_region_map_extend() maps what
 * it gains later right after it, so addresses handed out never move.
 * daxmap_map_len() is the length mapped; flags as daxmap_region_map().
 * -EFBIG: the region is larger than reserve.
 */
int daxmap_region_map_reserve(struct daxmap_map **mapp, struct daxmap_pool *pool,
			      const char *name, uint64_t reserve, unsigned flags);
/*
 * Map, in place, the extents region gained since map was made or last
 * extended (daxmap_region_grow() or resize, in any process), taking a
 * reference on each; they read as zeros (zeroed first). Nothing gained: 0, nothing done. -EFBIG: the region
 * outgrew the reservation (nothing is mapped); -EINVAL: map is not a
 * region mapping of pool; -ESTALE: the region is being removed.
 */
int daxmap_region_map_extend(struct daxmap_pool *pool, struct daxmap_map *map);

/*
 * The logical size of a region: how many of its bytes hold data, kept in
 * the pool (doc/format.md), failure-atomic. DAXMAP_LSIZE_NONE: never set
 * (a new region), or set to DAXMAP_LSIZE_NONE.
 */
#define DAXMAP_LSIZE_NONE UINT64_MAX

/* By name, under the pool lock. -ENOENT, -ESTALE (being removed). */
int daxmap_region_get_lsize(struct daxmap_pool *pool, const char *name, uint64_t *lsize);
/*
 * Set it: one 8-byte store, flushed and drained before the call returns.
 * -EFBIG: larger than the region (DAXMAP_LSIZE_NONE excepted); -EROFS; and
 * as daxmap_region_get_lsize().
 */
int daxmap_region_set_lsize(struct daxmap_pool *pool, const char *name, uint64_t lsize);
/*
 * The same through a region mapping of pool (daxmap_region_map*()), without
 * the pool lock or a system call: for every read or write of a file kept in
 * a region. -EINVAL: map is not a region mapping of pool; -ESTALE: the
 * region was removed.
 */
int daxmap_region_map_get_lsize(struct daxmap_pool *pool, const struct daxmap_map *map,
				uint64_t *lsize);
int daxmap_region_map_set_lsize(struct daxmap_pool *pool, struct daxmap_map *map,
				uint64_t lsize);

/*
 * Region locks: byte-range locks private to each region, shared and
 * exclusive, between lock owners in any process (OFD locks, fcntl(2), on
 * the device: a process that dies drops its own). Each owner is a
 * daxmap_lock: two owners in one process, or in two threads, conflict as
 * two processes do. A region has DAXMAP_LOCK_SPAN lock bytes; they mean
 * what the application decides. The lock space is that of the region as it
 * was when the owner was made: a region removed and created again under
 * the same name has a new one.
 */
struct daxmap_lock;

#define DAXMAP_LOCK_SPAN (1ULL << 27)

enum daxmap_lock_type {
	DAXMAP_LOCK_UNLOCK = 0,
	DAXMAP_LOCK_SHARED = 1,
	DAXMAP_LOCK_EXCL = 2,
};

/* daxmap_lock_set() flags */
#define DAXMAP_LOCK_WAIT (1U << 0) /* wait for a conflicting lock to go */

/* A lock owner on region name (one file description of the device). */
int daxmap_lock_open(struct daxmap_lock **lkp, struct daxmap_pool *pool, const char *name);
/* Drop every lock of the owner and free it; *lkp becomes NULL. */
void daxmap_lock_close(struct daxmap_lock **lkp);
/*
 * Lock (or unlock) bytes [start, start + len) of the region's lock space
 * as type, replacing what the owner held there (a shared lock becomes
 * exclusive and back, as fcntl(2) converts). -EAGAIN: another owner holds
 * a conflicting lock (without DAXMAP_LOCK_WAIT); -EDEADLK; -EINVAL: a
 * range outside [0, DAXMAP_LOCK_SPAN), len 0, a bad type or flag.
 */
int daxmap_lock_set(struct daxmap_lock *lk, uint64_t start, uint64_t len,
		    enum daxmap_lock_type type, unsigned flags);
/* 1 when another owner holds a lock on the range that conflicts with type
 * (shared or exclusive), 0 when the owner could take it; -EINVAL. */
int daxmap_lock_test(struct daxmap_lock *lk, uint64_t start, uint64_t len,
		     enum daxmap_lock_type type);

/* ---- references, holders, reclaim ---------------------------------------- */

/*
 * What a pin adds to an extent's refcount in daxmap_pool_refs(): the
 * library's own unit, so that one number says "held" and "pinned or only
 * mapped". It is not what the kernel adds to a DAX folio (a long-term pin
 * adds 1 per 4 KiB page pinned, an io_uring buffer 1 per folio): the
 * kernel's own counts are daxmap_pool_kernel_refs()'s.
 */
#define DAXMAP_PIN_BIAS 1024

enum daxmap_ref_kind {
	DAXMAP_REF_MAP = 1, /* a mapping: 1 per extent */
	DAXMAP_REF_PIN = 2, /* a pin: DAXMAP_PIN_BIAS per extent */
};

enum daxmap_pin_backend {
	DAXMAP_PIN_EXTERNAL = 1, /* the application pinned (daxmap_pin_external) */
	DAXMAP_PIN_RDMA = 2,
	DAXMAP_PIN_VFIO = 3,
	DAXMAP_PIN_IO_URING = 4,
	/* an RDMA MR registered with IBV_ACCESS_ON_DEMAND (on-demand paging):
	 * the NIC faults pages in through the kernel's page tables, so the
	 * kernel takes no long-term pin and no page reference; it has its own
	 * rule (daxmap_pin_check()) */
	DAXMAP_PIN_RDMA_ODP = 5,
};

/* "external", "rdma", "vfio", "io_uring", "rdma-odp" */
const char *daxmap_pin_backend_name(enum daxmap_pin_backend backend);

/* The reference state of one extent a region owns. */
struct daxmap_extent_refs {
	uint64_t extent;    /* extent number in the pool */
	uint64_t offset;    /* its device offset */
	char region[64];
	uint64_t index;     /* its index in the region */
	int releasing;      /* ZAP: being released */
	uint32_t refcount;  /* mappings + DAXMAP_PIN_BIAS * pins (the
			     * library's unit, not the kernel's) */
	uint32_t pins;      /* exact */
};

/*
 * The reference state of every extent of region (NULL: of every region,
 * those being removed included), as now, into a malloc'ed array (free()).
 */
int daxmap_pool_refs(struct daxmap_pool *pool, const char *region,
		     struct daxmap_extent_refs **refs, size_t *count);

/*
 * What the kernel itself should show for one extent now, in its own units
 * (its struct page): the _refcount and _pincount of each of the extent's
 * folios (device-alignment pages) on the running kernel
 * (daxmap_kernel_version()), from the library's records. As the kernels
 * were seen to count (doc/pins.md, "What the kernel counts"): a devdax
 * folio idles at 1, an fsdax one at 1 before Linux 6.15 and 0 from 6.15;
 * a mapping adds 1 from 6.15 (once its pages are faulted in); an RDMA MR
 * and a VFIO map add 1 to both per 4 KiB page; an io_uring buffer 1 to
 * both; an ODP MR nothing. A pin counts on every folio of the extents it
 * covers (an upper bound for folios a partial pin does not reach). VFIO
 * type1 never gives device-dax pages back: every map of this boot counts
 * until the device is re-enabled (daxctl disable-device + enable-device),
 * which the library notices. Only live processes' mappings and pins count.
 */
struct daxmap_kernel_refs {
	uint64_t extent;      /* extent number in the pool */
	uint64_t offset;      /* its device offset */
	char region[64];
	uint64_t index;       /* its index in the region */
	uint64_t folio_size;  /* bytes per folio: the device alignment */
	uint64_t folios;      /* folios in the extent */
	int64_t refcount;     /* expected _refcount of each folio */
	int64_t pincount;     /* expected _pincount of each folio */
	int exact;            /* 0: external pins (daxmap_pin_external()) are
			       * held, whose kernel references are unknown */
	/* what the figures come from: live holders covering the extent */
	uint32_t maps, rdma, rdma_odp, io_uring, vfio, external;
	uint32_t vfio_maps;     /* VFIO type1 maps of it this boot */
	uint32_t vfio_leftover; /* of those, unmapped yet still pinned by
				 * the kernel (vfio_maps - vfio) */
};

/*
 * The kernel's expected counts for every extent of region (NULL: of every
 * region), as now, into a malloc'ed array (free()). Errors as for
 * daxmap_pool_refs(), and those of daxmap_kernel_version().
 */
int daxmap_pool_kernel_refs(struct daxmap_pool *pool, const char *region,
			    struct daxmap_kernel_refs **refs, size_t *count);

/* One reference: who holds what. */
struct daxmap_holding {
	int pid;
	uint64_t start_time;  /* of the process, clock ticks after boot */
	int alive;            /* 0: the process died; reclaim drops it */
	enum daxmap_ref_kind kind;
	enum daxmap_pin_backend backend; /* pins only */
	int revocable;        /* a pin with a revoke callback */
	uint64_t extent;      /* first extent */
	uint64_t extents;     /* how many, consecutive */
	char region[64];      /* owner of the first extent ("" if none) */
	uint64_t index;       /* its index in the region */
	uint64_t id;
};

/* Every reference held on the pool, as now (free() the array). */
int daxmap_pool_holders(struct daxmap_pool *pool,
			struct daxmap_holding **holdings, size_t *count);

struct daxmap_reclaim_stat {
	uint32_t holders_dropped;   /* dead processes whose references went */
	uint32_t releases_finished; /* removals and shrinks completed */
	uint64_t extents_freed;
	uint64_t extents_waiting;   /* still ZAP: references hold them */
};

/*
 * Drop the references of processes that died, then free the extents of
 * every release (remove or shrink) that no reference holds any more.
 * Opening a pool does the same. st may be NULL.
 */
int daxmap_pool_reclaim(struct daxmap_pool *pool,
			struct daxmap_reclaim_stat *st);

/* ---- pins ---------------------------------------------------------------- */

struct daxmap_pin;

/*
 * Called, once, from a thread of the library when the pinned extents are
 * being released (daxmap_region_remove()/resize() in any process). It
 * should stop the device's use of the memory and call daxmap_unpin(),
 * from the callback or later; the release waits for that. A
 * daxmap_unpin() on another thread waits for a due or running callback of
 * that pin, so the callback must not wait for such a thread.
 */
typedef void (*daxmap_revoke_fn)(struct daxmap_pin *pin, void *arg);

/*
 * Tell the library that the application pinned bytes [offset, offset +
 * len) of a region mapping by itself (its own ibv_reg_mr(), a DMA engine):
 * the extents get a pin (DAXMAP_PIN_BIAS each) until daxmap_unpin(), and a
 * release waits for it. revoke (may be NULL: not revocable) is called when
 * a release wants the extents. -ESTALE: those extents are being released.
 */
int daxmap_pin_external(struct daxmap_pin **pinp, struct daxmap_map *map,
			uint64_t offset, uint64_t len, daxmap_revoke_fn revoke,
			void *arg);
/* Drop a pin; *pinp becomes NULL. NULL or *pinp == NULL is a no-op. Once
 * it returns, no revoke callback runs on the pin (see daxmap_revoke_fn). */
int daxmap_unpin(struct daxmap_pin **pinp);
/* Which backend made the pin. */
enum daxmap_pin_backend daxmap_pin_backend(const struct daxmap_pin *pin);

/*
 * Long-term pins (FOLL_LONGTERM: RDMA, VFIO, io_uring) follow the kernel's
 * rules for the memory behind dev, decided before the kernel is asked:
 * fsdax and page-cache files are refused, devdax allowed, io_uring before
 * Linux 6.5 refuses devdax too. 0 if backend may pin dev's memory here,
 * else -EOPNOTSUPP with the rule in daxmap_errormsg(). Every pin backend
 * applies the same check first.
 */
int daxmap_pin_check(const struct daxmap_dev *dev, enum daxmap_pin_backend backend);
/* The rule that decides it, allowed or not, as a sentence. */
const char *daxmap_pin_rule(const struct daxmap_dev *dev, enum daxmap_pin_backend backend);

/* daxmap_pin_decision() results */
enum daxmap_pin_verdict {
	DAXMAP_PIN_REFUSED = 0,        /* refused before the kernel is asked */
	DAXMAP_PIN_ALLOWED = 1,        /* seen to work on this kernel */
	DAXMAP_PIN_KERNEL_DECIDES = 2, /* not known for this kernel: the pin
					* asks the kernel and, if it refuses,
					* returns its error with the likely
					* reason */
};

/*
 * The verdict of the pin rules for a pin of len bytes (0: any length) by
 * backend on dev's memory, on the kernel daxmap_kernel_version() gives,
 * and (rule, if not NULL) the sentence that decides it. len matters for
 * io_uring: buffers over 1 GiB are refused on kernels whose io_uring
 * refuses them. -EINVAL: no dev, unknown backend.
 */
int daxmap_pin_decision(const struct daxmap_dev *dev, enum daxmap_pin_backend backend,
			uint64_t len, const char **rule);

/* ---- pin backend: RDMA (rdma-core) ---- */

/*
 * Built with rdma-core (meson -Drdma=enabled, libibverbs-dev); without it
 * every function of this section returns -EOPNOTSUPP ("built without
 * rdma-core"). The verbs types are only named here: include
 * <infiniband/verbs.h> to use them.
 */
struct ibv_pd;
struct ibv_mr;

/*
 * Register bytes [offset, offset + len) of a region mapping with pd
 * (ibv_reg_mr(), access: IBV_ACCESS_* flags) and pin the extents under it
 * (DAXMAP_PIN_BIAS each, backend "rdma") until daxmap_unpin(), which
 * deregisters the MR (ibv_dereg_mr()) before it drops the references. The
 * long-term pin rules come first (daxmap_pin_check()): fsdax and page-cache
 * pools are refused with -EOPNOTSUPP naming the rule, before the kernel is
 * asked. When the kernel refuses anyway, its -errno is returned and
 * daxmap_errormsg() gives the likely reason (-ENOMEM: RLIMIT_MEMLOCK and its
 * value; -EFAULT/-EOPNOTSUPP: FOLL_LONGTERM refused; ...). revoke, arg: as
 * for daxmap_pin_external() (revoke may be NULL). -ESTALE: the extents are
 * being released. A fork()ed child's daxmap_unpin() of an inherited pin
 * never deregisters its parent's MR.
 */
int daxmap_pin_rdma(struct daxmap_pin **pinp, struct daxmap_map *map,
		    uint64_t offset, uint64_t len, struct ibv_pd *pd, int access,
		    daxmap_revoke_fn revoke, void *arg);
/* The MR of a daxmap_pin_rdma() pin (lkey, rkey); NULL for other pins. */
struct ibv_mr *daxmap_pin_mr(const struct daxmap_pin *pin);

/*
 * The registration cache: getting an MR for a range that an MR of the
 * cache already covers reuses it. One cache per protection domain and
 * access flags; thread-safe. A hit takes no lock: a hash lookup and one
 * atomic on the entry. A miss registers the range rounded out to
 * DAXMAP_MR_CACHE_CHUNK boundaries (within the mapping) as one revocable
 * "rdma" pin. A release of the extents (daxmap_region_remove() or a shrink,
 * in any process) revokes the entries on them: idle ones are deregistered
 * at once, so the cache never holds up a release; one in use is not handed
 * out again, is deregistered at its last put, and the cache's revoke
 * callback (if not NULL) is called once for it from a library thread, so
 * the application stops using it and puts it (it may come before the get
 * that returned the entry has returned). The release waits for that put.
 */
#define DAXMAP_MR_CACHE_CHUNK (2ULL << 20)

struct daxmap_mr_cache;
/* A cached MR, held from daxmap_mr_cache_get() to daxmap_mr_cache_put(). */
struct daxmap_mr_entry;

typedef void (*daxmap_mr_revoke_fn)(struct daxmap_mr_entry *entry, void *arg);

/*
 * A cache of MRs of pd with access (IBV_ACCESS_* flags). max_entries: MRs
 * kept at once (0: 256); past it, or when the process holds as many
 * references as a pool allows (1024 runs of extents), an idle one is
 * evicted.
 */
int daxmap_mr_cache_new(struct daxmap_mr_cache **cachep, struct ibv_pd *pd,
			int access, unsigned max_entries,
			daxmap_mr_revoke_fn revoke, void *arg);
/*
 * Deregister every MR and free the cache; *cachep becomes NULL. -EBUSY,
 * nothing done, while an entry is held. NULL or *cachep == NULL: no-op. In
 * a fork()ed child it frees the copy and deregisters nothing.
 */
int daxmap_mr_cache_delete(struct daxmap_mr_cache **cachep);
/*
 * An MR covering bytes [offset, offset + len) of a region mapping, held
 * until daxmap_mr_cache_put(). A miss follows daxmap_pin_rdma()'s rules and
 * errors; also -ENOSPC (max_entries all held) and -ECHILD (the cache was
 * inherited through fork(): MRs belong to the parent's verbs context).
 */
int daxmap_mr_cache_get(struct daxmap_mr_cache *cache, struct daxmap_map *map,
			uint64_t offset, uint64_t len,
			struct daxmap_mr_entry **entryp);
/* The entry's MR: lkey, rkey; it covers the range asked for. */
struct ibv_mr *daxmap_mr_entry_mr(const struct daxmap_mr_entry *entry);
/* Give a get back. NULL: no-op. */
void daxmap_mr_cache_put(struct daxmap_mr_entry *entry);
/*
 * Drop the cache's MRs on map (NULL: every MR): idle ones now, held ones at
 * their last put. Call it before daxmap_map_delete(map): an MR pins its
 * pages until deregistered (a new mapping never hits an old mapping's MRs).
 * Returns how many MRs were dropped or marked.
 */
int daxmap_mr_cache_flush(struct daxmap_mr_cache *cache,
			  const struct daxmap_map *map);

struct daxmap_mr_cache_stat {
	uint64_t entries;    /* MRs registered now */
	uint64_t held;       /* of which held by a get */
	uint64_t misses;     /* gets that registered an MR */
	uint64_t slow_hits;  /* gets that found an MR past the lock-free path */
	uint64_t revoked;    /* MRs revoked by releases */
	uint64_t evicted;    /* idle MRs dropped for room */
};
int daxmap_mr_cache_stat(struct daxmap_mr_cache *cache,
			 struct daxmap_mr_cache_stat *st);

/* ---- pin backend: VFIO ---- */

/*
 * Map bytes [offset, offset + len) of a region mapping into a VFIO
 * container at I/O virtual address iova, readable and writable by the
 * devices of the container (VFIO_IOMMU_MAP_DMA), and pin the extents under
 * it (DAXMAP_PIN_BIAS each, backend DAXMAP_PIN_VFIO). container_fd is an
 * open /dev/vfio/vfio with a group attached and a type1 IOMMU set
 * (VFIO_SET_IOMMU); the pin keeps its own duplicate of it. iova, len and
 * the address must be multiples of the IOMMU page size, and the range must
 * lie in a usable IOVA range of the container. daxmap_unpin() unmaps the
 * IOVA (VFIO_IOMMU_UNMAP_DMA), then drops the references. revoke, arg: as
 * for daxmap_pin_external() (revoke may be NULL). Errors: -EOPNOTSUPP (the
 * pin rules), -EBADF/-ENOTTY (not a VFIO container), -EINVAL (no IOMMU
 * set, alignment, IOVA range), -EEXIST (the IOVA overlaps a mapping),
 * -ENOMEM (RLIMIT_MEMLOCK), -ESTALE; daxmap_errormsg() gives the numbers.
 * Device-dax pages are not charged to RLIMIT_MEMLOCK by type1, and type1
 * never drops its page pins of them (seen on Linux 6.1, 6.12 and 7.3):
 * every map adds 1 per 4 KiB page to each folio's _refcount and _pincount
 * for good, until the device is re-enabled (daxctl disable-device +
 * enable-device). The library counts those maps per folio for the boot
 * (daxmap_pool_kernel_refs(): vfio_maps, vfio_leftover) and refuses a map
 * that would take a folio's _refcount past 2^31 - 1 (-EOVERFLOW, saying how
 * to reset), where the kernel would refuse the folio for good.
 */
int daxmap_pin_vfio(struct daxmap_pin **pinp, struct daxmap_map *map,
		    uint64_t offset, uint64_t len, int container_fd,
		    uint64_t iova, daxmap_revoke_fn revoke, void *arg);

/* ---- pin backend: io_uring (liburing) ---- */

struct io_uring; /* liburing's ring: include <liburing.h> to use it */

/*
 * Register bytes [offset, offset + len) of a region mapping as fixed buffer
 * index of ring, and pin the extents under it for io_uring (DAXMAP_PIN_BIAS
 * each, backend "io_uring") until daxmap_unpin(), which empties the slot
 * again. I/O then uses io_uring_prep_read_fixed()/write_fixed() with
 * buf_index = index and addresses inside daxmap_map_addr(map) + offset.
 *
 * The ring must have a sparse fixed-buffer table with room for index:
 * io_uring_register_buffers_sparse(ring, n) (liburing 2.2, Linux 5.19)
 * before the first pin; the slot is filled with
 * io_uring_register_buffers_update_tag(). A slot another libdaxmap pin of
 * this process holds is refused (-EBUSY); one the application filled
 * itself is replaced, as the kernel does.
 *
 * Before Linux 7.3 io_uring may allow 1 GiB per buffer: on kernels seen
 * to refuse more (6.1, 6.12 and older) a longer len is refused (-EINVAL);
 * register a longer range as several buffers, one index each. 7.3 takes
 * longer buffers; on the kernels in between the kernel is asked, and its
 * -EFAULT says so (daxmap_pin_decision() with len tells which). The pin
 * rules (daxmap_pin_check()) come before the kernel is asked: io_uring
 * refuses devdax before Linux 6.5, fsdax and page-cache files always
 * (-EOPNOTSUPP, naming the rule). When the kernel refuses anyway, its
 * -errno is returned and daxmap_errormsg() gives the likely reason
 * (RLIMIT_MEMLOCK and its value for -ENOMEM, no buffer table for -ENXIO,
 * an index outside it for -EINVAL...). -ESTALE: the extents are being
 * released. A library built without liburing returns -EOPNOTSUPP.
 *
 * revoke (may be NULL) is called when a release wants the extents: stop
 * the I/O on the buffer and daxmap_unpin(). I/O already submitted keeps the
 * kernel's own pin until it completes: reap it before unpinning, and unpin
 * before io_uring_queue_exit(). A fork()ed child sharing the ring never
 * empties its parent's slots.
 */
int daxmap_pin_io_uring(struct daxmap_pin **pinp, struct daxmap_map *map,
			uint64_t offset, uint64_t len, struct io_uring *ring,
			unsigned index, daxmap_revoke_fn revoke, void *arg);


#ifdef __cplusplus
}
#endif

#endif /* DAXMAP_H */
