/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * foreign_holders.c -- what holds a region's extents outside the ledgers
 * (foreign_holders.h).
 *
 * The kernel keeps a page while any mapping or pin refers to it, whoever
 * made them; the ledgers count only the library's own. So a release also
 * looks at:
 *   - every process's mappings of the device (foreign.c): one that no
 *     live holder recorded as its region mapping (ref_va.h) is foreign;
 *   - the kernel's RDMA resource tracking (rdma_nl.c): an MR keeps its
 *     pages pinned after munmap() (ib_umem holds them until
 *     ib_dereg_mr()), so an MR of a holder over a range where it mapped
 *     the region (a retired VA record), or of a process over its foreign
 *     mapping, holds the extents until it is deregistered. Kernels that
 *     report no MR address (6.1: nldev fill_res_mr_entry() gives pid,
 *     length and keys only) tie an MR to a range only by its process:
 *     then every MR of such a process counts, and says so.
 * What could not be read (another user's /proc/PID/maps without ptrace
 * access; RDMA netlink) is reported, never taken for "nothing there".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "foreign.h"
#include "foreign_holders.h"
#include "pool_handle.h"
#include "rdma_nl.h"
#include "ref.h"
#include "ref_va.h"
#include "runs.h"
#include "runtime.h"
#include "util.h"

/* Everything read once for all spans. */
struct gather {
	uint64_t es;
	struct daxmap_range *ranges;   /* device bytes of every span, sorted */
	size_t nranges;
	struct foreign_scan scan;
	struct ref_va *vas;
	size_t nvas;
	struct rdma_mrs mrs;
	int mrs_err;                   /* RDMA tracking unreadable: errno */
	char mrs_msg[256];
};

static int add(struct fh_list *out, const struct daxmap_foreign_holder *h)
{
	struct daxmap_foreign_holder *v = realloc(out->v, (out->n + 1) * sizeof(*v));

	if (!v)
		return daxmap_err(ENOMEM, "out of memory");
	out->v = v;
	v[out->n++] = *h;
	return 0;
}

/* The device byte ranges of the spans' extents, sorted and merged. */
static int span_ranges(struct pool_core *c, const struct fh_span *spans, size_t nspans,
		       struct gather *g)
{
	uint64_t total = 0, k = 0, *ext;
	struct ext_run *runs;
	size_t nruns;
	int rc;

	for (size_t i = 0; i < nspans; i++)
		total += spans[i].to - spans[i].from;
	if (!(ext = malloc((total ? total : 1) * sizeof(*ext))))
		return daxmap_err(ENOMEM, "out of memory");
	for (size_t i = 0; i < nspans; i++) {
		pool_region_extents(c, spans[i].slot, spans[i].from, spans[i].to, ext + k);
		k += spans[i].to - spans[i].from;
	}
	rc = runs_of(ext, k, &runs, &nruns);
	free(ext);
	if (rc)
		return daxmap_err(ENOMEM, "out of memory");
	if (!(g->ranges = malloc((nruns ? nruns : 1) * sizeof(*g->ranges)))) {
		free(runs);
		return daxmap_err(ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < nruns; i++)
		g->ranges[i] = (struct daxmap_range){ runs[i].first * g->es, runs[i].count * g->es };
	g->nranges = nruns;
	free(runs);
	return 0;
}

/* A retired VA record of one of the spans' regions? */
static bool retired_in(const struct gather *g, const struct fh_span *spans, size_t nspans)
{
	for (size_t i = 0; i < g->nvas; i++)
		for (size_t s = 0; !g->vas[i].live && s < nspans; s++)
			if (spans[s].slot == g->vas[i].slot && spans[s].gen == g->vas[i].gen)
				return true;
	return false;
}

/* Could a holder have retired a range of one of the spans' regions? */
static bool retired_any(const struct ref_runtime *rt, const struct fh_span *spans, size_t nspans)
{
	for (size_t s = 0; rt && s < nspans; s++)
		if (ref_va_retired_any(rt, spans[s].slot, spans[s].gen))
			return true;
	return false;
}

static int gather(struct daxmap_pool *pool, struct ref_runtime *rt, const struct fh_span *spans,
		  size_t nspans, bool quick, struct gather *g)
{
	struct foreign_target t;
	int rc;

	memset(g, 0, sizeof(*g));
	g->es = pool_core_extent_size(pool_core(pool));
	if ((rc = span_ranges(pool_core(pool), spans, nspans, g)) || !g->nranges)
		return rc;
	if (quick)
		rc = foreign_scan_quick(pool_dev(pool), pool_core(pool)->sb.meta_extents * g->es,
					g->ranges, g->nranges, &g->scan);
	else if ((rc = foreign_target_of(pool_dev(pool), &t)) == 0)
		rc = foreign_scan(&t, g->ranges, g->nranges, &g->scan);
	/* a release: holders' ranges matter only to tell a mapping found from
	 * theirs, and MRs only over such a mapping or a range a holder retired
	 * (a listing also says when they cannot be read) */
	if (rc || (quick && !g->scan.nmaps && !retired_any(rt, spans, nspans)))
		return rc;
	if (rt && (rc = ref_va_list(rt, &g->vas, &g->nvas)))
		return rc;
	if (quick && !g->scan.nmaps && !retired_in(g, spans, nspans))
		return 0;
	if ((rc = rdma_nl_mrs(&g->mrs)) == -ENOMEM)
		return rc;
	if (rc) {
		g->mrs_err = -rc;
		snprintf(g->mrs_msg, sizeof(g->mrs_msg), "%s", daxmap_errormsg());
	}
	return 0;
}

static void gather_free(struct gather *g)
{
	free(g->ranges);
	foreign_scan_free(&g->scan);
	free(g->vas);
	rdma_mrs_free(&g->mrs);
}

/* Is the mapping one a live holder recorded as its region mapping? */
static bool holders_own(const struct gather *g, const struct foreign_map *m)
{
	for (size_t i = 0; i < g->nvas; i++) {
		const struct ref_va *v = &g->vas[i];

		if (v->live && v->pid == m->pid && m->start >= v->va && m->end <= v->va + v->len)
			return true;
	}
	return false;
}

/* The first device byte of [off, off + len) inside the ranges, or
 * UINT64_MAX. */
static uint64_t first_in(const struct gather *g, uint64_t off, uint64_t len)
{
	for (size_t i = 0; i < g->nranges; i++) {
		const struct daxmap_range *r = &g->ranges[i];

		if (r->offset < off + len && off < r->offset + r->len)
			return r->offset > off ? r->offset : off;
	}
	return UINT64_MAX;
}

static bool mr_overlaps(const struct rdma_mr *mr, uint64_t lo, uint64_t hi)
{
	/* a kernel that does not report the iova: any MR of the process
	 * may be the one */
	return !mr->has_iova || (mr->iova < hi && lo < mr->iova + mr->len);
}

static void set_owner(struct daxmap_pool *pool, struct daxmap_foreign_holder *h)
{
	bool releasing;

	h->extent = h->offset / pool_core_extent_size(pool_core(pool));
	if (!pool_extent_owner(pool_core(pool), h->extent, h->region, &h->index, &releasing))
		h->region[0] = '\0';
}

/* An MR, once however many ways it reaches the extents. */
static int add_mr(struct daxmap_pool *pool, struct fh_list *out, const struct rdma_mr *mr,
		  const char *comm, uint64_t offset, const char *how)
{
	struct daxmap_foreign_holder h;

	for (size_t i = 0; i < out->n; i++)
		if (out->v[i].kind == DAXMAP_FOREIGN_RDMA_MR && out->v[i].pid == (int)mr->pid &&
		    out->v[i].addr == mr->iova && out->v[i].len == mr->len &&
		    strcmp(out->v[i].rdma_dev, mr->dev) == 0)
			return 0;
	memset(&h, 0, sizeof(h));
	h.kind = DAXMAP_FOREIGN_RDMA_MR;
	h.pid = (int)mr->pid;
	snprintf(h.comm, sizeof(h.comm), "%s", comm);
	h.addr = mr->iova;
	h.len = mr->len;
	h.offset = offset;
	snprintf(h.rdma_dev, sizeof(h.rdma_dev), "%s", mr->dev);
	snprintf(h.what, sizeof(h.what), "RDMA MR on %s %s%s", mr->dev, how,
		 mr->has_iova ? "" : " (the kernel reports no MR address: any MR of the process may pin it)");
	set_owner(pool, &h);
	return add(out, &h);
}

/* Foreign mappings, and MRs over them. */
static int maps_and_their_mrs(struct daxmap_pool *pool, const struct gather *g,
			      struct fh_list *out)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < g->scan.nmaps; i++) {
		const struct foreign_map *m = &g->scan.maps[i];
		struct daxmap_foreign_holder h;

		if (holders_own(g, m))
			continue;
		memset(&h, 0, sizeof(h));
		h.kind = DAXMAP_FOREIGN_MAPPING;
		h.pid = m->pid;
		snprintf(h.comm, sizeof(h.comm), "%s", m->comm);
		h.addr = m->start;
		h.len = m->end - m->start;
		h.offset = first_in(g, m->off, h.len);
		snprintf(h.what, sizeof(h.what), "foreign mapping");
		set_owner(pool, &h);
		rc = add(out, &h);
		for (size_t k = 0; rc == 0 && k < g->mrs.n; k++) {
			const struct rdma_mr *mr = &g->mrs.v[k];
			uint64_t lo;

			if (mr->pid != (uint32_t)m->pid || !mr_overlaps(mr, m->start, m->end))
				continue;
			lo = mr->has_iova && mr->iova > m->start ? mr->iova : m->start;
			if (first_in(g, m->off + (lo - m->start), m->end - lo) != UINT64_MAX)
				rc = add_mr(pool, out, mr, m->comm, first_in(g, m->off + (lo - m->start), m->end - lo),
					    "over a foreign mapping");
		}
	}
	return rc;
}

/* MRs of holders over ranges where they mapped a span's region. */
static int retired_mrs(struct daxmap_pool *pool, const struct gather *g,
		       const struct fh_span *spans, size_t nspans, struct fh_list *out)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < g->nvas; i++) {
		const struct ref_va *v = &g->vas[i];

		for (size_t s = 0; rc == 0 && !v->live && s < nspans; s++) {
			const struct fh_span *sp = &spans[s];
			uint64_t lo = v->va + sp->from * g->es;
			uint64_t hi = v->va + (v->len < sp->to * g->es ? v->len : sp->to * g->es);

			if (sp->slot != v->slot || sp->gen != v->gen || lo >= hi)
				continue;
			for (size_t k = 0; rc == 0 && k < g->mrs.n; k++) {
				const struct rdma_mr *mr = &g->mrs.v[k];
				uint64_t at, x;
				char comm[16];

				if (mr->pid != (uint32_t)v->pid || !mr_overlaps(mr, lo, hi))
					continue;
				at = mr->has_iova && mr->iova > lo ? mr->iova : lo;
				pool_region_extents(pool_core(pool), sp->slot, (at - v->va) / g->es,
						    (at - v->va) / g->es + 1, &x);
				foreign_comm(v->pid, comm);
				rc = add_mr(pool, out, mr, comm, x * g->es + (at - v->va) % g->es,
					    "over a range where it mapped the region");
			}
		}
	}
	return rc;
}

/* What could not be inspected. */
static int blind_spots(const struct gather *g, struct fh_list *out)
{
	int rc = 0;

	for (size_t i = 0; rc == 0 && i < g->scan.nskips; i++) {
		const struct foreign_skip *k = &g->scan.skips[i];
		struct daxmap_foreign_holder h;

		memset(&h, 0, sizeof(h));
		h.kind = DAXMAP_FOREIGN_UNINSPECTED;
		h.pid = k->pid;
		snprintf(h.comm, sizeof(h.comm), "%s", k->comm);
		h.error = k->err;
		snprintf(h.what, sizeof(h.what), "/proc/%d/maps: %s", (int)k->pid, strerror(k->err));
		rc = add(out, &h);
	}
	if (rc == 0 && g->mrs_err) {
		struct daxmap_foreign_holder h;

		memset(&h, 0, sizeof(h));
		h.kind = DAXMAP_FOREIGN_UNTRACKED;
		h.error = g->mrs_err;
		snprintf(h.what, sizeof(h.what), "%s", g->mrs_msg);
		rc = add(out, &h);
	}
	return rc;
}

int foreign_holders(struct daxmap_pool *pool, struct ref_runtime *rt, const struct fh_span *spans,
		    size_t nspans, bool quick, struct fh_list *out)
{
	struct gather g;
	int rc;

	out->v = NULL;
	out->n = 0;
	if ((rc = gather(pool, rt, spans, nspans, quick, &g)) == 0 && g.nranges &&
	    (rc = maps_and_their_mrs(pool, &g, out)) == 0 &&
	    (rc = retired_mrs(pool, &g, spans, nspans, out)) == 0)
		rc = blind_spots(&g, out);
	gather_free(&g);
	if (rc) {
		free(out->v);
		out->v = NULL;
		out->n = 0;
	}
	return rc;
}

/* "pid 812 (ib_write_bw) foreign mapping of device offset 0xa00000
 * (region 'r' index 0) at 0x7f...+0x100000" */
static size_t describe(char *msg, size_t room, const struct daxmap_foreign_holder *h)
{
	int n = snprintf(msg, room, " pid %d (%s) %s of device offset %#" PRIx64 " (region '%s' index %" PRIu64 ") at %#" PRIx64 "+%#" PRIx64 ";",
			 h->pid, h->comm, h->what, h->offset, h->region, h->index, h->addr, h->len);

	return n < 0 ? 0 : (size_t)n;
}

int foreign_busy(struct daxmap_pool *pool, struct ref_runtime *rt, const struct region_desc *d,
		 uint64_t from, uint64_t to)
{
	struct fh_span sp = { d->slot, d->gen, from, to };
	struct fh_list l;
	char msg[1024];
	size_t len, held = 0, blind = 0;
	int rc;

	if (from >= to)
		return 0;
	if ((rc = foreign_holders(pool, rt, &sp, 1, true, &l)))
		return rc;
	for (size_t i = 0; i < l.n; i++)
		held += l.v[i].kind == DAXMAP_FOREIGN_MAPPING || l.v[i].kind == DAXMAP_FOREIGN_RDMA_MR;
	if (!held) {
		free(l.v);
		return 0;
	}
	len = (size_t)snprintf(msg, sizeof(msg), "%zu holder(s) outside the library:", held);
	for (size_t i = 0; i < l.n && len < sizeof(msg); i++) {
		if (l.v[i].kind == DAXMAP_FOREIGN_MAPPING || l.v[i].kind == DAXMAP_FOREIGN_RDMA_MR)
			len += describe(msg + len, sizeof(msg) - len, &l.v[i]);
		else
			blind++;
	}
	/* what was not seen: a holder may hide there too */
	for (size_t i = 0, k = 0; i < l.n && len < sizeof(msg); i++) {
		const struct daxmap_foreign_holder *h = &l.v[i];

		if (h->kind == DAXMAP_FOREIGN_MAPPING || h->kind == DAXMAP_FOREIGN_RDMA_MR)
			continue;
		if (k++ == 0)
			len += (size_t)snprintf(msg + len, sizeof(msg) - len, " not inspected (%zu):", blind);
		if (h->kind == DAXMAP_FOREIGN_UNINSPECTED)
			len += (size_t)snprintf(msg + len, sizeof(msg) - len, " pid %d (%s) %s;", h->pid,
						h->comm, h->what);
		else
			len += (size_t)snprintf(msg + len, sizeof(msg) - len, " %s;", h->what);
	}
	if (len >= sizeof(msg))
		memcpy(msg + sizeof(msg) - 4, "...", 4);
	else if (msg[len - 1] == ';')
		msg[len - 1] = '\0';
	free(l.v);
	return daxmap_err(EBUSY, "%s", msg);
}

DAXMAP_EXPORT int daxmap_pool_foreign_holders(struct daxmap_pool *pool,
					      struct daxmap_foreign_holder **holders,
					      size_t *count)
{
	struct fh_span *sp = NULL;
	struct ref_runtime *rt = NULL;
	struct region_desc d;
	struct fh_list l = { NULL, 0 };
	size_t n = 0, cap = 0;
	int rc = pool_begin_read(pool, holders && count, "daxmap_pool_foreign_holders",
				 "holders and count");

	if (rc)
		return rc;
	if ((rc = runtime_attach_existing(pool, &rt))) {
		pool_end(pool);
		return rc;
	}
	/* every region, those being released included: all their extents */
	for (long s = -1; rc == 0 && (s = pool_region_next(pool_core(pool), s, &d)) >= 0;) {
		if (n == cap) {
			struct fh_span *g = realloc(sp, (cap = cap ? cap * 2 : 16) * sizeof(*g));

			if (!g) {
				rc = daxmap_err(ENOMEM, "out of memory");
				break;
			}
			sp = g;
		}
		if (d.n)
			sp[n++] = (struct fh_span){ d.slot, d.gen, 0, d.n };
	}
	if (rc == 0)
		rc = foreign_holders(pool, rt, sp, n, false, &l);
	if (rt)
		ref_detach(rt);
	pool_end(pool);
	free(sp);
	if (rc == 0) {
		*holders = l.v;
		*count = l.n;
	}
	return rc;
}
