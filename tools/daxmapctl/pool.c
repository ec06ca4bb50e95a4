/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pool.c -- daxmapctl format, create, resize, remove, regions, check: the
 * pool commands. Each opens the device and the pool, does one thing, and
 * prints JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <daxmap.h>

#include "daxmapctl.h"

static struct json_object *region_json(const struct daxmap_region_info *r,
				       const struct out_opts *o)
{
	struct json_object *j = json_object_new_object();

	json_object_object_add(j, "name", json_object_new_string(r->name));
	json_object_object_add(j, "size", json_size(r->size, o));
	json_object_object_add(j, "extents", json_object_new_int64((int64_t)r->extents));
	json_object_object_add(j, "created", json_object_new_int64((int64_t)r->ctime));
	if (r->releasing)
		json_object_object_add(j, "releasing_extents",
				       json_object_new_int64((int64_t)r->releasing));
	return j;
}

/* The region called name as JSON, or NULL. */
static struct json_object *find_region(struct daxmap_pool *pool, const char *name,
				       const struct out_opts *o)
{
	struct daxmap_region_info *ri;
	struct json_object *j = NULL;
	size_t n;

	if (daxmap_region_list(pool, &ri, &n) < 0)
		return NULL;
	for (size_t i = 0; i < n && !j; i++)
		if (strcmp(ri[i].name, name) == 0)
			j = region_json(&ri[i], o);
	daxmap_region_list_free(ri);
	return j;
}

struct json_object *pool_json(struct daxmap_pool *pool, const struct out_opts *o)
{
	struct daxmap_pool_stat st;
	struct json_object *j, *e, *bad;
	uint64_t *bx;
	size_t nb;

	if (daxmap_pool_stat(pool, &st) < 0)
		return NULL;
	j = json_object_new_object();
	{
		char v[32];

		snprintf(v, sizeof(v), "%u.%u", st.version_major, st.version_minor);
		json_object_object_add(j, "version", json_object_new_string(v));
	}
	json_object_object_add(j, "extent_size", json_size(st.extent_size, o));
	e = json_object_new_object();
	json_object_object_add(e, "total", json_object_new_int64((int64_t)st.extents_total));
	json_object_object_add(e, "metadata", json_object_new_int64((int64_t)st.extents_meta));
	json_object_object_add(e, "used", json_object_new_int64((int64_t)st.extents_used));
	json_object_object_add(e, "free", json_object_new_int64((int64_t)st.extents_free));
	json_object_object_add(e, "bad", json_object_new_int64((int64_t)st.extents_bad));
	json_object_object_add(e, "releasing", json_object_new_int64((int64_t)st.extents_releasing));
	json_object_object_add(j, "extents", e);
	json_object_object_add(j, "free_size", json_size(st.extents_free * st.extent_size, o));
	json_object_object_add(j, "regions", json_object_new_int((int)st.regions));
	if (st.from_backup)
		json_object_object_add(j, "superblock", json_object_new_string("backup (primary damaged)"));
	bad = json_object_new_array();
	if (daxmap_pool_bad_extents(pool, &bx, &nb) == 0) {
		for (size_t i = 0; i < nb; i++)
			json_object_array_add(bad, json_object_new_int64((int64_t)bx[i]));
		free(bx);
	}
	json_object_object_add(j, "bad_extents", bad);
	return j;
}

static int run_format(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
		      struct daxmap_pool *unused)
{
	struct daxmap_pool *pool;
	int rc;

	(void)unused;
	if (daxmap_pool_format(dev, o->extent_size, (o->force ? DAXMAP_FORMAT_FORCE : 0) |
			       (o->force_in_use ? DAXMAP_FORMAT_FORCE_IN_USE : 0)) < 0 ||
	    daxmap_pool_open(&pool, dev, 0) < 0)
		return lib_failed(c);
	rc = print_or_fail(c->name, pool_json(pool, &o->out));
	daxmap_pool_close(pool);
	return rc;
}

const struct command cmd_format = {
	.name = "format", .summary = "make a device an empty pool",
	.allowed = OPT_ALIGN | OPT_HUMAN | OPT_FORCE | OPT_FORCE_IN_USE | OPT_EXTENT, .nargs = 1,
	.optional = 0,
	.size_arg = 0, .open = OPEN_DEV, .run = run_format,
	.usage =
	"usage: daxmapctl format [-u] [--extent-size SIZE] [--force | --force-in-use]\n"
	"                        [--align SIZE] PATH\n\n"
	"Make the device an empty pool. The extent size is the device alignment\n"
	"or a multiple of it (default: the alignment). An existing pool is only\n"
	"overwritten with --force, and one that live processes use (they map or\n"
	"pin its regions) only with --force-in-use. Prints the new pool.\n\n"
	"  -e, --extent-size SIZE  size of an extent\n"
	"  -f, --force             format over an existing pool (destroys it)\n"
	"      --force-in-use      ... even while processes use it (their mappings\n"
	"                          would alias the new pool's extents)\n"
	"  -a, --align SIZE        alignment of an emulated device (default 2M)\n"
	"  -u, --human             sizes in human-readable form\n",
};

/* create and resize: the size argument, the change, the region printed */
static int run_sized(const struct command *c, const struct popts *o, struct daxmap_pool *pool,
		     bool create)
{
	struct json_object *j;

	if ((create ? daxmap_region_create(pool, o->args[1], o->size, NULL) :
		      daxmap_region_resize(pool, o->args[1], o->size, NULL, o->timeout_ms)) < 0)
		return lib_failed(c);
	j = find_region(pool, o->args[1], &o->out);
	return j ? print_or_fail(c->name, j) : EXIT_ERR;
}

static int run_create(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
		      struct daxmap_pool *pool)
{
	(void)dev;
	return run_sized(c, o, pool, true);
}

static int run_resize(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
		      struct daxmap_pool *pool)
{
	(void)dev;
	return run_sized(c, o, pool, false);
}

const struct command cmd_create = {
	.name = "create", .summary = "create a region",
	.allowed = OPT_ALIGN | OPT_HUMAN, .nargs = 3, .optional = 0,
	.size_arg = 2, .open = OPEN_POOL, .run = run_create,
	.usage =
	"usage: daxmapctl create [-u] [--align SIZE] PATH NAME SIZE\n\n"
	"Create region NAME of at least SIZE bytes, rounded up to whole extents,\n"
	"and print it. Names: 1 to 63 printable ASCII characters, no space or '/'.\n",
};

const struct command cmd_resize = {
	.name = "resize", .summary = "grow or shrink a region",
	.allowed = OPT_ALIGN | OPT_HUMAN | OPT_TIMEOUT, .nargs = 3, .optional = 0,
	.size_arg = 2, .open = OPEN_POOL, .run = run_resize,
	.usage =
	"usage: daxmapctl resize [-u] [--timeout SECS] [--align SIZE] PATH NAME SIZE\n\n"
	"Grow or shrink region NAME to SIZE bytes, rounded up to whole extents,\n"
	"and print it. Shrinking releases the extents at the end like remove\n"
	"releases a region: marked ZAP, then freed once no mapping or pin holds\n"
	"them, waiting up to --timeout.\n\n"
	"  -t, --timeout SECS  wait this long for references to go (default 0;\n"
	"                      'forever')\n",
};

static int run_remove(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
		      struct daxmap_pool *pool)
{
	(void)dev;
	return daxmap_region_remove(pool, o->args[1], o->timeout_ms) < 0 ? lib_failed(c) : EXIT_OK;
}

const struct command cmd_remove = {
	.name = "remove", .summary = "remove a region",
	.allowed = OPT_ALIGN | OPT_TIMEOUT, .nargs = 2, .optional = 0,
	.size_arg = 0, .open = OPEN_POOL_NORECLAIM, .run = run_remove,
	.usage =
	"usage: daxmapctl remove [--timeout SECS] [--align SIZE] PATH NAME\n\n"
	"Remove region NAME. Its extents are marked ZAP at once (no new mapping\n"
	"or pin), revocable pins are revoked, and they are freed when no mapping\n"
	"or pin holds them any more. If that takes longer than --timeout, the\n"
	"command fails naming the holders; the extents stay ZAP and\n"
	"'daxmapctl reclaim' (or a later remove of NAME) frees them. The pool is\n"
	"opened without its reclaim, so that a retry finishes the removal itself\n"
	"and exits 0.\n\n"
	"  -t, --timeout SECS  wait this long for references to go (default 0;\n"
	"                      'forever')\n",
};

static int run_regions(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
		       struct daxmap_pool *pool)
{
	struct daxmap_region_info *ri;
	struct json_object *arr;
	size_t n;

	(void)dev;
	if (daxmap_region_list(pool, &ri, &n) < 0)
		return lib_failed(c);
	arr = json_object_new_array();
	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, region_json(&ri[i], &o->out));
	daxmap_region_list_free(ri);
	return print_or_fail(c->name, arr);
}

const struct command cmd_regions = {
	.name = "regions", .summary = "list the regions of a pool",
	.allowed = OPT_ALIGN | OPT_HUMAN, .nargs = 1, .optional = 0,
	.size_arg = 0, .open = OPEN_POOL | OPEN_RO, .run = run_regions,
	.usage =
	"usage: daxmapctl regions [-u] [--align SIZE] PATH\n\n"
	"Print a JSON array of the regions of the pool on PATH.\n",
};

static void add_finding(void *arg, const char *msg)
{
	json_object_array_add(arg, json_object_new_string(msg));
}

static int run_check(const struct command *c, const struct popts *o, struct daxmap_dev *dev,
		     struct daxmap_pool *unused)
{
	struct json_object *j, *findings = json_object_new_array();
	int problems = daxmap_pool_check(dev, o->repair ? DAXMAP_CHECK_REPAIR : 0, add_finding,
					 findings);

	(void)unused;
	if (problems < 0) {
		cmd_error(c->name, "%s: %s", o->args[0], daxmap_errormsg());
		json_object_put(findings);
		return EXIT_ERR;
	}
	j = json_object_new_object();
	json_object_object_add(j, "path", json_object_new_string(o->args[0]));
	json_object_object_add(j, "problems", json_object_new_int(problems));
	json_object_object_add(j, "findings", findings);
	if (o->repair) {
		/* what is left after the repair decides the exit status */
		problems = daxmap_pool_check(dev, 0, NULL, NULL);
		json_object_object_add(j, "remaining", json_object_new_int(problems));
	}
	if (json_print(j) < 0)
		return EXIT_ERR;
	return problems ? EXIT_ERR : EXIT_OK;
}

const struct command cmd_check = {
	.name = "check", .summary = "check (and repair) a pool's metadata",
	.allowed = OPT_ALIGN | OPT_REPAIR, .nargs = 1, .optional = 0,
	.size_arg = 0, .open = OPEN_DEV | OPEN_RO_UNLESS_REPAIR, .run = run_check,
	.usage =
	"usage: daxmapctl check [--repair] [--align SIZE] PATH\n\n"
	"Check the pool metadata on PATH and print the findings as JSON. Nothing\n"
	"is written without --repair, which restores a damaged primary superblock\n"
	"from its backup and finishes interrupted operations. Exit status 1 when\n"
	"problems are found.\n",
};

