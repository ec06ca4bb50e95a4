/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * kstate.c -- the kernel's expected folio counts per extent
 * (daxmap_pool_kernel_refs()), from the library's records: live holders'
 * mappings and pins (ref.h), and the VFIO maps of this boot
 * (vfio_ledger.h), in the kernel's units (kunits.h).
 *
 * Only live holders count: when a process dies the kernel drops its
 * mappings, MRs and io_uring buffers with it; the VFIO maps it made stay,
 * and the ledger has them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"
#include "error.h"
#include "kstate.h"
#include "map.h"
#include "pool_handle.h"
#include "region_map.h"
#include "runtime.h"
#include "util.h"
#include "vfio_ledger.h"

void kstate_tally(const struct ref_holding *hs, size_t n, uint64_t x, struct kunits_tally *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < n; i++) {
		const struct ref_holding *h = &hs[i];

		if (!h->alive || x < h->run.first || x - h->run.first >= h->run.count)
			continue;
		if (h->kind == REF_MAP) {
			t->maps++;
			continue;
		}
		switch ((enum daxmap_pin_backend)h->backend) {
		case DAXMAP_PIN_RDMA: t->rdma++; break;
		case DAXMAP_PIN_RDMA_ODP: t->rdma_odp++; break;
		case DAXMAP_PIN_IO_URING: t->uring++; break;
		case DAXMAP_PIN_VFIO: t->vfio++; break;
		default: t->external++; break;
		}
	}
}

static int sem_now(enum kunits_sem *sem)
{
	unsigned major, minor;
	int rc = kernel_version(&major, &minor, NULL);

	if (rc == 0)
		*sem = kunits_sem_of(major, minor);
	return rc;
}

int kstate_expect(const struct daxmap_dev *dev, uint64_t es, uint64_t x, struct kunits_tally *t,
		  uint32_t *vfio_maps, struct kunits_counts *out)
{
	enum kunits_sem sem;
	uint32_t left = 0;
	int rc;

	if ((rc = sem_now(&sem)))
		return rc;
	if (dev->kind != DAXMAP_KIND_FSDAX && (rc = vfio_ledger_max(dev, x * es, es, &left)))
		return rc;
	/* a pin made while the ledger could not be read is still live */
	if (left > t->vfio)
		t->vfio = left;
	*vfio_maps = t->vfio;
	rc = kunits_expect(sem, dev->kind, dev->align, t, out);
	return rc ? daxmap_err(-rc, "no kernel counts for a %s device of alignment %" PRIu64,
			       daxmap_kind_name(dev->kind), dev->align) : 0;
}

int kstate_vfio_room(const struct daxmap_dev *dev, struct ref_runtime *rt, uint64_t es,
		     const struct ext_run *runs, size_t n)
{
	uint64_t pages = kunits_page_pins(dev->align);
	struct ref_holding *hs;
	int nh = ref_holders_all(rt, &hs), rc = 0;

	if (nh < 0)
		return nh;
	for (size_t i = 0; i < n && rc == 0; i++)
		for (uint64_t x = runs[i].first; x < runs[i].first + runs[i].count && rc == 0; x++) {
			struct kunits_tally t;
			struct kunits_counts c;
			uint32_t maps;

			kstate_tally(hs, (size_t)nh, x, &t);
			if ((rc = kstate_expect(dev, es, x, &t, &maps, &c)))
				break;
			if (c.refcount + (int64_t)pages > KUNITS_REFCOUNT_MAX)
				rc = daxmap_err(EOVERFLOW,
						"vfio: one more map of extent %" PRIu64 " would take its folios' _refcount from %" PRId64 " past %d: "
						"type1 never unpins device-dax pages (%" PRIu32 " maps this boot, %" PRIu64 " each), "
						"and the kernel would refuse the folio for good; reset the counts with "
						"'daxctl disable-device %s' and 'daxctl enable-device %s' while nothing uses the device",
						x, c.refcount, KUNITS_REFCOUNT_MAX, maps, pages,
						dev->name[0] ? dev->name : dev->path, dev->name[0] ? dev->name : dev->path);
		}
	free(hs);
	return rc;
}

int kstate_vfio_check(const struct daxmap_map *map, uint64_t off, uint64_t len)
{
	uint64_t es = region_map_extent_size(map);
	struct ref_runtime *rt;
	struct ext_run *runs;
	size_t n;
	int rc;

	if ((rc = region_map_runs(map, off, len, &rt, &runs, &n)))
		return rc;
	rc = kstate_vfio_room(map_dev(map), rt, es, runs, n);
	free(runs);
	ref_detach(rt);
	return rc;
}

int kstate_vfio_record(const struct daxmap_map *map, uint64_t off, uint64_t len, int32_t n)
{
	uint64_t es = region_map_extent_size(map), end = off + len;
	int rc = 0;

	/* extent by extent: the device bytes of each part, so exactly the
	 * folios the map covers are counted */
	for (uint64_t i = off / es; i * es < end && rc == 0; i++) {
		uint64_t s = i * es > off ? i * es : off, e = (i + 1) * es < end ? (i + 1) * es : end;
		struct ref_runtime *rt;
		struct ext_run *runs;
		size_t nr;

		if ((rc = region_map_runs(map, s, e - s, &rt, &runs, &nr)))
			break;
		rc = vfio_ledger_add(map_dev(map), runs[0].first * es + (s - i * es), e - s, n);
		free(runs);
		ref_detach(rt);
	}
	return rc;
}

static int fill(struct daxmap_pool *pool, struct ref_runtime *rt, const struct daxmap_extent_refs *r,
		size_t nr, struct daxmap_kernel_refs *out)
{
	const struct daxmap_dev *dev = pool_dev(pool);
	struct daxmap_pool_stat st;
	struct ref_holding *hs;
	int nh, rc = 0;

	if ((rc = daxmap_pool_stat(pool, &st)))
		return rc;
	if ((nh = ref_holders_all(rt, &hs)) < 0)
		return nh;
	for (size_t i = 0; i < nr && rc == 0; i++) {
		struct daxmap_kernel_refs *k = &out[i];
		struct kunits_tally t;
		struct kunits_counts c;

		kstate_tally(hs, (size_t)nh, r[i].extent, &t);
		k->extent = r[i].extent;
		k->offset = r[i].offset;
		memcpy(k->region, r[i].region, sizeof(k->region));
		k->index = r[i].index;
		k->folio_size = dev->align;
		k->folios = st.extent_size / dev->align;
		k->maps = t.maps;
		k->rdma = t.rdma;
		k->rdma_odp = t.rdma_odp;
		k->io_uring = t.uring;
		k->external = t.external;
		k->vfio = t.vfio;
		if ((rc = kstate_expect(dev, st.extent_size, r[i].extent, &t, &k->vfio_maps, &c)))
			break;
		k->vfio_leftover = k->vfio_maps - k->vfio;
		k->refcount = c.refcount;
		k->pincount = c.pincount;
		k->exact = c.exact;
	}
	free(hs);
	return rc;
}

DAXMAP_EXPORT int daxmap_pool_kernel_refs(struct daxmap_pool *pool, const char *region,
					  struct daxmap_kernel_refs **refs, size_t *count)
{
	struct daxmap_extent_refs *r = NULL;
	struct daxmap_kernel_refs *v;
	struct ref_runtime *rt = NULL;
	size_t nr;
	int rc;

	if (!pool || !refs || !count)
		return daxmap_err(EINVAL, "daxmap_pool_kernel_refs: pool, refs and count are required");
	if ((rc = daxmap_pool_refs(pool, region, &r, &nr)))
		return rc;
	if (!(v = calloc(nr ? nr : 1, sizeof(*v)))) {
		free(r);
		return daxmap_err(ENOMEM, "out of memory");
	}
	/* a listing never creates the runtime state: no state, no holders */
	if ((rc = runtime_attach_existing(pool, &rt)) == 0) {
		rc = fill(pool, rt, r, nr, v);
		if (rt)
			ref_detach(rt);
	}
	free(r);
	if (rc) {
		free(v);
		return rc;
	}
	*refs = v;
	*count = nr;
	return 0;
}
