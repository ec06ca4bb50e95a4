/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * refs.c -- daxmapctl refs, holders, reclaim: the runtime references of a
 * pool: who maps or pins which extents, and dropping those of
 * processes that died.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <daxmap.h>

#include "daxmapctl.h"

/* kind, and for pins backend and revocable: shared by refs and holders */
static void add_kind(struct json_object *j, const struct daxmap_holding *h)
{
	bool pin = h->kind == DAXMAP_REF_PIN;

	json_object_object_add(j, "kind", json_object_new_string(pin ? "pin" : "map"));
	if (!pin)
		return;
	json_object_object_add(j, "backend",
			       json_object_new_string(daxmap_pin_backend_name(h->backend)));
	json_object_object_add(j, "revocable", json_object_new_boolean(h->revocable));
}

static int run_refs(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
		    struct daxmap_pool *pool);

const struct command cmd_refs = {
	.name = "refs", .summary = "show the references on each extent of a pool",
	.allowed = OPT_ALIGN | OPT_HUMAN, .nargs = 1, .optional = 1,
	.size_arg = 0, .open = OPEN_POOL | OPEN_RO, .run = run_refs,
	.usage =
	"usage: daxmapctl refs [-u] [--align SIZE] PATH [REGION]\n\n"
	"Print a JSON array with the reference state of each extent of REGION,\n"
	"or of every region (those being removed included): region, index,\n"
	"extent, offset, state ('live', or 'releasing': ZAP, freed once idle),\n"
	"refcount (the library's own unit: mappings + 1024 per pin), pins, the\n"
	"holders whose mapping or pin covers the extent (pid, kind, alive; for\n"
	"pins backend and revocable), and kernel: what the kernel's struct page\n"
	"of each of the extent's folios should show now (version, folio_size,\n"
	"folios, refcount and pincount in the kernel's units, exact: false with\n"
	"external pins, vfio_maps: VFIO maps of this boot, vfio_leftover: those\n"
	"unmapped that the kernel still pins).\n\n"
	"  -a, --align SIZE  alignment of an emulated device (default 2M)\n"
	"  -u, --human       sizes in human-readable form\n",
};

/* What the kernel's struct page of each folio should say (kernel units). */
static struct json_object *kernel_json(const struct daxmap_kernel_refs *k, const char *ver,
				       const struct out_opts *o)
{
	struct json_object *j = json_object_new_object();

	json_object_object_add(j, "version", json_object_new_string(ver));
	json_object_object_add(j, "folio_size", json_size(k->folio_size, o));
	json_object_object_add(j, "folios", json_object_new_int64((int64_t)k->folios));
	json_object_object_add(j, "refcount", json_object_new_int64(k->refcount));
	json_object_object_add(j, "pincount", json_object_new_int64(k->pincount));
	json_object_object_add(j, "exact", json_object_new_boolean(k->exact));
	json_object_object_add(j, "vfio_maps", json_object_new_int64(k->vfio_maps));
	json_object_object_add(j, "vfio_leftover", json_object_new_int64(k->vfio_leftover));
	return j;
}

static struct json_object *extent_json(const struct daxmap_extent_refs *e,
				       const struct daxmap_holding *hs, size_t nh,
				       const struct daxmap_kernel_refs *k, const char *ver,
				       const struct out_opts *o)
{
	struct json_object *j = json_object_new_object(), *ha = json_object_new_array();

	json_object_object_add(j, "region", json_object_new_string(e->region));
	json_object_object_add(j, "index", json_object_new_int64((int64_t)e->index));
	json_object_object_add(j, "extent", json_object_new_int64((int64_t)e->extent));
	json_object_object_add(j, "offset", json_size(e->offset, o));
	json_object_object_add(j, "state",
			       json_object_new_string(e->releasing ? "releasing" : "live"));
	json_object_object_add(j, "refcount", json_object_new_int64(e->refcount));
	json_object_object_add(j, "pins", json_object_new_int64(e->pins));
	for (size_t i = 0; i < nh; i++) {
		const struct daxmap_holding *h = &hs[i];
		struct json_object *hj;

		/* a holding covers the run [extent, extent + extents) */
		if (e->extent < h->extent || e->extent - h->extent >= h->extents)
			continue;
		hj = json_object_new_object();
		json_object_object_add(hj, "pid", json_object_new_int(h->pid));
		add_kind(hj, h);
		json_object_object_add(hj, "alive", json_object_new_boolean(h->alive));
		json_object_array_add(ha, hj);
	}
	json_object_object_add(j, "holders", ha);
	if (k)
		json_object_object_add(j, "kernel", kernel_json(k, ver, o));
	return j;
}

static int run_refs(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
		    struct daxmap_pool *pool)
{
	const char *region = o->nargs > 1 ? o->args[1] : NULL;
	struct daxmap_extent_refs *refs = NULL;
	struct daxmap_kernel_refs *ks = NULL;
	struct daxmap_holding *hs = NULL;
	struct json_object *arr;
	unsigned major, minor;
	size_t nr, nh, nk = 0;
	char ver[32];
	int rc;

	(void)dev;
	/* snapshots: a reference taken or dropped in between shows in one
	 * and not the other; good enough for a live view */
	if (daxmap_pool_refs(pool, region, &refs, &nr) < 0 ||
	    daxmap_pool_holders(pool, &hs, &nh) < 0 ||
	    daxmap_kernel_version(&major, &minor) < 0 ||
	    daxmap_pool_kernel_refs(pool, region, &ks, &nk) < 0) {
		free(refs);
		free(hs);
		return lib_failed(c);
	}
	snprintf(ver, sizeof(ver), "%u.%u", major, minor);
	arr = json_object_new_array();
	for (size_t i = 0; i < nr; i++) {
		const struct daxmap_kernel_refs *k = NULL;

		for (size_t x = 0; x < nk && !k; x++)
			if (ks[x].extent == refs[i].extent)
				k = &ks[x];
		json_object_array_add(arr, extent_json(&refs[i], hs, nh, k, ver, &o->out));
	}
	rc = print_or_fail(c->name, arr);
	free(refs);
	free(hs);
	free(ks);
	return rc;
}

static int run_holders(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
		       struct daxmap_pool *pool);

const struct command cmd_holders = {
	.name = "holders", .summary = "show the processes holding references on a pool",
	.allowed = OPT_ALIGN | OPT_HUMAN, .nargs = 1, .optional = 0,
	.size_arg = 0, .open = OPEN_POOL | OPEN_RO, .run = run_holders,
	.usage =
	"usage: daxmapctl holders [-u] [--align SIZE] PATH\n\n"
	"Print a JSON array with one object per process holding references on\n"
	"the pool: pid, start_time (clock ticks after boot), alive (false: it\n"
	"died and 'daxmapctl reclaim' drops its references), and references:\n"
	"kind ('map' or 'pin'; pins also backend and revocable), region and\n"
	"index of the first extent, extent (first extent number), extents (how\n"
	"many), id.\n\n"
	"  -a, --align SIZE  alignment of an emulated device (default 2M)\n"
	"  -u, --human       accepted like elsewhere (no sizes are printed)\n",
};

static struct json_object *holding_json(const struct daxmap_holding *h)
{
	struct json_object *j = json_object_new_object();

	add_kind(j, h);
	/* a run whose first extent no region owns has neither */
	json_object_object_add(j, "region", h->region[0] ? json_object_new_string(h->region) : NULL);
	json_object_object_add(j, "index",
			       h->region[0] ? json_object_new_int64((int64_t)h->index) : NULL);
	json_object_object_add(j, "extent", json_object_new_int64((int64_t)h->extent));
	json_object_object_add(j, "extents", json_object_new_int64((int64_t)h->extents));
	json_object_object_add(j, "id", json_object_new_int64((int64_t)h->id));
	return j;
}

/* One object per process, in order of first appearance, with its
 * references. */
static struct json_object *processes_json(const struct daxmap_holding *hs, size_t nh)
{
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; i < nh; i++) {
		struct json_object *p, *refs;
		size_t k;

		for (k = 0; k < i; k++)
			if (hs[k].pid == hs[i].pid && hs[k].start_time == hs[i].start_time)
				break;
		if (k < i)
			continue;
		p = json_object_new_object();
		refs = json_object_new_array();
		json_object_object_add(p, "pid", json_object_new_int(hs[i].pid));
		json_object_object_add(p, "start_time",
				       json_object_new_int64((int64_t)hs[i].start_time));
		json_object_object_add(p, "alive", json_object_new_boolean(hs[i].alive));
		for (k = i; k < nh; k++)
			if (hs[k].pid == hs[i].pid && hs[k].start_time == hs[i].start_time)
				json_object_array_add(refs, holding_json(&hs[k]));
		json_object_object_add(p, "references", refs);
		json_object_array_add(arr, p);
	}
	return arr;
}

static int run_holders(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
		       struct daxmap_pool *pool)
{
	struct daxmap_holding *hs;
	size_t nh;
	int rc;

	(void)o;
	(void)dev;
	if (daxmap_pool_holders(pool, &hs, &nh) < 0)
		return lib_failed(c);
	rc = print_or_fail(c->name, processes_json(hs, nh));
	free(hs);
	return rc;
}

static int run_reclaim(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
		       struct daxmap_pool *pool);

/* the open must not reclaim first: this reports what reclaim did */
const struct command cmd_reclaim = {
	.name = "reclaim", .summary = "drop dead holders' references, finish releases",
	.allowed = OPT_ALIGN, .nargs = 1, .optional = 0,
	.size_arg = 0, .open = OPEN_POOL_NORECLAIM, .run = run_reclaim,
	.usage =
	"usage: daxmapctl reclaim [--align SIZE] PATH\n\n"
	"Drop the references of processes that died, then free the extents of\n"
	"every removal or shrink that no reference holds any more. Prints\n"
	"holders_dropped, releases_finished, extents_freed and extents_waiting\n"
	"(still releasing: live references hold them).\n\n"
	"  -a, --align SIZE  alignment of an emulated device (default 2M)\n",
};

static int run_reclaim(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
		       struct daxmap_pool *pool)
{
	struct daxmap_reclaim_stat st;
	struct json_object *j;

	(void)o;
	(void)dev;
	if (daxmap_pool_reclaim(pool, &st) < 0)
		return lib_failed(c);
	j = json_object_new_object();
	json_object_object_add(j, "holders_dropped", json_object_new_int64(st.holders_dropped));
	json_object_object_add(j, "releases_finished", json_object_new_int64(st.releases_finished));
	json_object_object_add(j, "extents_freed", json_object_new_int64((int64_t)st.extents_freed));
	json_object_object_add(j, "extents_waiting",
			       json_object_new_int64((int64_t)st.extents_waiting));
	return print_or_fail(c->name, j);
}

