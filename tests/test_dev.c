/* SPDX-License-Identifier: BSD-3-Clause */
/* test_dev.c -- device discovery and its errors, on emulated devices */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <daxmap.h>

#include "helpers.h"
#include "lib/dev.h"

Test(dev, emulated_file_defaults)
{
	const char *p = make_file(8 * MiB);
	struct daxmap_dev *dev;

	cr_assert_eq(daxmap_dev_open(&dev, p, 0, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_dev_kind(dev), DAXMAP_KIND_FILE);
	cr_assert_str_eq(daxmap_kind_name(daxmap_dev_kind(dev)), "file");
	cr_assert_str_eq(daxmap_dev_path(dev), p);
	cr_assert_eq(daxmap_dev_size(dev), 8 * MiB);
	cr_assert_eq(daxmap_dev_align(dev), DAXMAP_DEFAULT_FILE_ALIGN);
	cr_assert_eq(daxmap_dev_numa_node(dev), -1);
	cr_assert_null(daxmap_dev_name(dev));
	cr_assert_eq(daxmap_dev_region_id(dev), -1);
	daxmap_dev_close(dev);
}

Test(dev, emulated_file_chosen_alignment)
{
	const char *p = make_file(2 * GiB);
	struct daxmap_dev *dev;

	cr_assert_eq(daxmap_dev_open(&dev, p, GiB, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_dev_align(dev), GiB);
	daxmap_dev_close(dev);
	cr_assert_eq(daxmap_dev_open(&dev, p, 4096, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_dev_align(dev), 4096);
	daxmap_dev_close(dev);
}

Test(dev, kind_names)
{
	cr_assert_str_eq(daxmap_kind_name(DAXMAP_KIND_DEVDAX), "devdax");
	cr_assert_str_eq(daxmap_kind_name(DAXMAP_KIND_FSDAX), "fsdax");
	cr_assert_str_eq(daxmap_kind_name(DAXMAP_KIND_FILE), "file");
	cr_assert_str_eq(daxmap_kind_name((enum daxmap_dev_kind)42), "unknown");
}

Test(dev, bad_arguments)
{
	const char *p = make_file(4 * MiB);
	struct daxmap_dev *dev = (struct daxmap_dev *)0x1;

	cr_assert_eq(daxmap_dev_open(NULL, p, 0, 0), -EINVAL);
	cr_assert_eq(daxmap_dev_open(&dev, NULL, 0, 0), -EINVAL);
	cr_assert_eq(daxmap_dev_open(&dev, "", 0, 0), -EINVAL);
	cr_assert_eq(daxmap_dev_open(&dev, p, 0, 1U << 7), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "unknown flags 0x80"), "%s", daxmap_errormsg());
	cr_assert_null(dev);
	cr_assert_eq(daxmap_dev_open(&dev, p, 3 * MiB, 0), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "not a power of two"), "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_dev_open(&dev, p, 512, 0), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "page size"), "%s", daxmap_errormsg());
}

Test(dev, no_such_path)
{
	struct daxmap_dev *dev;

	cr_assert_eq(daxmap_dev_open(&dev, "/nonexistent/dax9.9", 0, 0), -ENOENT);
	cr_assert_str_eq(daxmap_errormsg(), "/nonexistent/dax9.9: no such device or file");
	cr_assert_null(dev);
}

Test(dev, permission_denied)
{
	const char *p = make_file(4 * MiB);
	struct daxmap_dev *dev;

	cr_assert_eq(chmod(p, 0), 0);
	drop_root();
	cr_assert_eq(daxmap_dev_open(&dev, p, 0, 0), -EACCES);
	cr_assert(strstr(daxmap_errormsg(), "permission denied"), "%s", daxmap_errormsg());
	cr_assert_null(dev);
}

Test(dev, not_a_dax_device)
{
	struct daxmap_dev *dev;

	cr_assert_eq(daxmap_dev_open(&dev, "/dev/null", 0, 0), -ENODEV);
	cr_assert(strstr(daxmap_errormsg(), "/dev/null: character device 1:3 is not a device-DAX device"),
		  "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_dev_open(&dev, "/tmp", 0, 0), -ENODEV);
	cr_assert(strstr(daxmap_errormsg(), "it is a directory"), "%s", daxmap_errormsg());
	cr_assert_null(dev);
}

Test(dev, size_not_multiple_of_alignment)
{
	const char *p = make_file(3 * MiB);
	struct daxmap_dev *dev;

	cr_assert_eq(daxmap_dev_open(&dev, p, 0, 0), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(),
			 "size 3 MiB is not a multiple of the alignment 2 MiB"),
		  "%s", daxmap_errormsg());
	cr_assert_null(dev);
	/* the same file is fine at 1 MiB */
	cr_assert_eq(daxmap_dev_open(&dev, p, MiB, 0), 0, "%s", daxmap_errormsg());
	daxmap_dev_close(dev);
}

Test(dev, smaller_than_one_unit)
{
	const char *p = make_file(0);
	struct daxmap_dev *dev;

	cr_assert_eq(daxmap_dev_open(&dev, p, 0, 0), -EINVAL);
	cr_assert(strstr(daxmap_errormsg(), "size 0 bytes is smaller than one alignment unit (2 MiB)"),
		  "%s", daxmap_errormsg());
	cr_assert_eq(dev_check_geometry("x", MiB, 2 * MiB), -EINVAL);
	cr_assert_eq(dev_check_geometry("x", 4 * MiB, 2 * MiB), 0);
}

Test(dev, query_only)
{
	const char *p = make_file(4 * MiB);
	struct daxmap_dev *dev;
	struct daxmap_map *map = NULL;

	cr_assert_eq(daxmap_dev_open(&dev, p, 0, DAXMAP_DEV_QUERY), 0);
	cr_assert_eq(daxmap_dev_size(dev), 4 * MiB);
	cr_assert_eq(daxmap_map_new(&map, dev, 0, 2 * MiB, 0), -EBADF);
	cr_assert(strstr(daxmap_errormsg(), "DAXMAP_DEV_QUERY"), "%s", daxmap_errormsg());
	cr_assert_null(map);
	daxmap_dev_close(dev);
}

Test(dev, close_null)
{
	daxmap_dev_close(NULL);
}

/* Count active devdax devices the way 'daxctl list' does, from sysfs. */
static size_t sysfs_devdax_count(void)
{
	DIR *d = opendir("/sys/bus/dax/devices");
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		char path[512];
		unsigned long long size = 0;
		FILE *f;

		if (strncmp(e->d_name, "dax", 3) != 0)
			continue;
		snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/size", e->d_name);
		f = fopen(path, "re");
		if (f && fscanf(f, "%llu", &size) == 1 && size > 0) {
			snprintf(path, sizeof(path), "/sys/bus/dax/devices/%s/driver", e->d_name);
			n += access(path, F_OK) == 0;
		}
		if (f)
			fclose(f);
	}
	closedir(d);
	return n;
}

Test(dev, list_matches_sysfs)
{
	struct daxmap_devdax_info *devs;
	size_t n;

	cr_assert_eq(daxmap_dev_list(&devs, &n), 0, "%s", daxmap_errormsg());
	cr_assert_eq(n, sysfs_devdax_count());
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(strncmp(devs[i].name, "dax", 3), 0);
		cr_assert(devs[i].align && !(devs[i].align & (devs[i].align - 1)));
		cr_assert_eq(devs[i].size % devs[i].align, 0);
	}
	daxmap_dev_list_free(devs);
	cr_assert_eq(daxmap_dev_list(NULL, &n), -EINVAL);
	cr_assert_eq(daxmap_dev_list(&devs, NULL), -EINVAL);
}
