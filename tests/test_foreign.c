/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_foreign.c -- holders the ledgers do not count: the /proc/PID/maps
 * parser and scan, the RDMA netlink parser on recorded kernel answers,
 * and releases that wait for a process mapping the device by itself
 * (emulated devices here; devdax and RDMA in tests/vm/test_foreign_rig.c).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netlink/attr.h>
#include <netlink/msg.h>
#include <rdma/rdma_netlink.h>

#include <daxmap.h>

#include "child.h"
#include "config.h"
#include "helpers.h"
#include "lib/dev.h"
#include "lib/foreign.h"
#include "lib/rdma_nl.h"
#include "lib/region_map.h"

struct daxmap_dev *new_dev(uint64_t size);
struct daxmap_pool *new_pool(struct daxmap_dev *dev);

/* ---- /proc/PID/maps lines, as kernels print them ---------------------------- */

/* As fs/proc/task_mmu.c (show_map_vma()) prints them: a devdax device
 * (devtmpfs 00:05) mapped at two offsets, an ext4 -o dax file, anonymous
 * memory, a deleted file, a path with spaces, [vsyscall]. */
static const char recorded_maps[] =
	"55d0c8a00000-55d0c8a02000 r--p 00000000 fe:00 247134                     /usr/bin/cat\n"
	"7f5a00000000-7f5a00400000 rw-s 00a00000 00:05 142                        /dev/dax0.0\n"
	"7f5a00400000-7f5a00600000 rw-s 01400000 00:05 142                        /dev/dax0.0\n"
	"7f5b00000000-7f5b00200000 rw-s 00200000 103:00 12                        /mnt/fsdax/pool\n"
	"7f5c00000000-7f5c00021000 rw-p 00000000 00:00 0 \n"
	"7f5d00000000-7f5d00001000 rw-s 00000000 00:01 2050                       /dev/zero (deleted)\n"
	"7f5e00000000-7f5e00001000 r--s 00000000 fe:00 99                         /tmp/a b c\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n";

Test(foreign, maps_lines_parse_as_the_kernel_prints_them)
{
	struct maps_line m;

	cr_assert_eq(maps_parse_line("7f5a00000000-7f5a00400000 rw-s 00a00000 00:05 142                        /dev/dax0.0", &m), 0);
	cr_assert_eq(m.start, 0x7f5a00000000ULL);
	cr_assert_eq(m.end, 0x7f5a00400000ULL);
	cr_assert_str_eq(m.perms, "rw-s");
	cr_assert_eq(m.off, 0xa00000);
	cr_assert(m.major == 0 && m.minor == 5 && m.ino == 142);
	cr_assert_str_eq(m.path, "/dev/dax0.0");
	cr_assert_eq(maps_parse_line("7f5b00000000-7f5b00200000 rw-s 00200000 103:00 12 /mnt/fsdax/pool\n", &m), 0);
	cr_assert(m.major == 0x103 && m.minor == 0 && m.ino == 12);
	cr_assert_str_eq(m.path, "/mnt/fsdax/pool\n"); /* up to the caller's newline */
	cr_assert_eq(maps_parse_line("7f5c00000000-7f5c00021000 rw-p 00000000 00:00 0 ", &m), 0);
	cr_assert(m.ino == 0 && m.path[0] == '\0');
	cr_assert_eq(maps_parse_line("7f5e00000000-7f5e00001000 r--s 00000000 fe:00 99    /tmp/a b c", &m), 0);
	cr_assert_str_eq(m.path, "/tmp/a b c");
}

Test(foreign, malformed_maps_lines_are_refused)
{
	static const char *const bad[] = {
		"", "garbage", "7f5a00000000 rw-s 00a00000 00:05 142",
		"7f5a00400000-7f5a00000000 rw-s 00a00000 00:05 142 /dev/dax0.0", /* end < start */
		"7f5a00000000-7f5a00400000 rw 00a00000 00:05 142",
		"7f5a00000000-7f5a00400000 rw-s zz 00:05 142",
		"7f5a00000000-7f5a00400000 rw-s 00a00000 0005 142",
		"7f5a00000000-7f5a00400000 rw-s 00a00000 00:05 x142",
		"7f5a00000000-7f5a00400000 rw-s 00a00000 00:05",
	};
	struct maps_line m;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(maps_parse_line(bad[i], &m), -EINVAL, "accepted '%s'", bad[i]);
}

Test(foreign, a_scan_finds_the_mappings_of_the_ranges_by_device_inode_and_offset)
{
	struct foreign_target dax = { makedev(0, 5), 142, 0 };
	/* extents 5 and 6 of 2 MiB, and extent 20 */
	struct daxmap_range r[] = { { 0xa00000, 0x400000 }, { 0x2800000, 0x200000 } };
	struct foreign_scan s = { 0 };

	cr_assert_eq(foreign_scan_text(recorded_maps, 42, "ib_write_bw", NULL, &dax, r, 2, &s), 0);
	cr_assert_eq(s.nmaps, 1);
	cr_assert_eq(s.maps[0].pid, 42);
	cr_assert_str_eq(s.maps[0].comm, "ib_write_bw");
	cr_assert(s.maps[0].start == 0x7f5a00000000ULL && s.maps[0].off == 0xa00000);
	foreign_scan_free(&s);
	/* [0x1400000, +2M) is mapped too */
	r[1] = (struct daxmap_range){ 0x1400000, 0x200000 };
	cr_assert_eq(foreign_scan_text(recorded_maps, 42, "x", NULL, &dax, r, 2, &s), 0);
	cr_assert_eq(s.nmaps, 2);
	foreign_scan_free(&s);
	/* nothing of the device outside its mapped offsets */
	r[0] = (struct daxmap_range){ 0, 0xa00000 };
	r[1] = (struct daxmap_range){ 0x1600000, 0x200000 };
	cr_assert_eq(foreign_scan_text(recorded_maps, 42, "x", NULL, &dax, r, 2, &s), 0);
	cr_assert_eq(s.nmaps, 0);
	foreign_scan_free(&s);
	/* a file on fsdax: its filesystem's device and its inode */
	dax = (struct foreign_target){ makedev(0x103, 0), 12, 0 };
	r[0] = (struct daxmap_range){ 0x200000, 0x200000 };
	cr_assert_eq(foreign_scan_text(recorded_maps, 7, "x", NULL, &dax, r, 1, &s), 0);
	cr_assert_eq(s.nmaps, 1);
	foreign_scan_free(&s);
	/* same inode number on another filesystem: not the file */
	dax.dev = makedev(0xfe, 0);
	cr_assert_eq(foreign_scan_text(recorded_maps, 7, "x", NULL, &dax, r, 1, &s), 0);
	cr_assert_eq(s.nmaps, 0);
	foreign_scan_free(&s);
}

Test(foreign, another_node_of_the_character_device_counts)
{
	struct stat st;
	struct foreign_target t;
	struct daxmap_range r = { 0, 4096 };
	struct foreign_scan s = { 0 };
	/* /dev/null seen through the root "/dev" as "/null": another inode
	 * (1234 on 00:99), the same character device */
	static const char text[] = "7f0000000000-7f0000001000 rw-s 00000000 00:99 1234 /null\n";

	cr_assert_eq(stat("/dev/null", &st), 0);
	t = (struct foreign_target){ makedev(0, 5), 1, st.st_rdev };
	cr_assert_eq(foreign_scan_text(text, 9, "x", "/dev", &t, &r, 1, &s), 0);
	cr_assert_eq(s.nmaps, 1);
	foreign_scan_free(&s);
	t.rdev = makedev(1, 99);
	cr_assert_eq(foreign_scan_text(text, 9, "x", "/dev", &t, &r, 1, &s), 0);
	cr_assert_eq(s.nmaps, 0);
	foreign_scan_free(&s);
}

Test(foreign, a_scan_of_proc_finds_this_process_mapping_a_file)
{
	const char *path = make_file(8 * MiB);
	struct daxmap_dev *dev;
	struct foreign_target t;
	struct daxmap_range r = { 2 * MiB, 2 * MiB };
	struct foreign_scan s;
	int fd = open(path, O_RDWR);
	void *p;
	size_t mine = 0;

	cr_assert(fd >= 0);
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 3 * MiB);
	cr_assert_neq(p, MAP_FAILED);
	cr_assert_eq(daxmap_dev_open(&dev, path, 0, DAXMAP_DEV_QUERY), 0, "%s", daxmap_errormsg());
	cr_assert_eq(foreign_target_of(dev, &t), 0);
	cr_assert_eq(foreign_scan(&t, &r, 1, &s), 0, "%s", daxmap_errormsg());
	for (size_t i = 0; i < s.nmaps; i++)
		if (s.maps[i].pid == getpid() && s.maps[i].start == (uintptr_t)p) {
			cr_assert_eq(s.maps[i].off, 3 * MiB);
			mine++;
		}
	cr_assert_eq(mine, 1);
	foreign_scan_free(&s);
	munmap(p, 4096);
	cr_assert_eq(foreign_scan(&t, &r, 1, &s), 0);
	cr_assert_eq(s.nmaps, 0);
	foreign_scan_free(&s);
	daxmap_dev_close(dev);
	close(fd);
}

Test(foreign, without_root_the_scan_says_which_processes_it_could_not_read)
{
	pid_t pid;
	int st;

	if (geteuid() != 0)
		cr_skip_test("needs root to become another user");
	/* in a child: dropping root is for good */
	if ((pid = fork()) == 0) {
		struct foreign_target t = { makedev(0, 5), 1, 0 };
		struct daxmap_range r = { 0, 4096 };
		struct foreign_scan s;
		int init = 0;

		drop_root();
		if (foreign_scan(&t, &r, 1, &s) != 0)
			_exit(2);
		for (size_t i = 0; i < s.nskips; i++)
			if (s.skips[i].pid == 1 && s.skips[i].err == EACCES)
				init = 1;
		_exit(init ? 0 : 3);
	}
	cr_assert_gt(pid, 0);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %#x", st);
}

/* ---- RDMA netlink answers ----------------------------------------------------- */

/* An answer to RDMA_NLDEV_CMD_RES_MR_GET as fill_res_mr_entry() builds it:
 * one user MR, one kernel MR (no pid), and one with no iova. */
static struct nl_msg *mr_answer(void)
{
	struct nl_msg *msg = nlmsg_alloc_simple(RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_RES_MR_GET),
						NLM_F_MULTI);
	struct nlattr *tab, *e;

	cr_assert_not_null(msg);
	nla_put_u32(msg, RDMA_NLDEV_ATTR_DEV_INDEX, 1);
	nla_put_string(msg, RDMA_NLDEV_ATTR_DEV_NAME, "rxe0");
	tab = nla_nest_start(msg, RDMA_NLDEV_ATTR_RES_MR);
	e = nla_nest_start(msg, RDMA_NLDEV_ATTR_RES_MR_ENTRY);
	nla_put_u32(msg, RDMA_NLDEV_ATTR_RES_RKEY, 0x1234);
	nla_put_u64(msg, RDMA_NLDEV_ATTR_RES_IOVA, 0x7f5a00000000ULL);
	nla_put_u64(msg, RDMA_NLDEV_ATTR_RES_MRLEN, 0x100000);
	nla_put_u32(msg, RDMA_NLDEV_ATTR_RES_MRN, 7);
	nla_put_u32(msg, RDMA_NLDEV_ATTR_RES_PID, 4242);
	nla_put_string(msg, RDMA_NLDEV_ATTR_RES_KERN_NAME, "");
	nla_nest_end(msg, e);
	e = nla_nest_start(msg, RDMA_NLDEV_ATTR_RES_MR_ENTRY);
	nla_put_u64(msg, RDMA_NLDEV_ATTR_RES_MRLEN, 4096);
	nla_put_u32(msg, RDMA_NLDEV_ATTR_RES_MRN, 1);
	nla_put_string(msg, RDMA_NLDEV_ATTR_RES_KERN_NAME, "ib_core");
	nla_nest_end(msg, e);
	e = nla_nest_start(msg, RDMA_NLDEV_ATTR_RES_MR_ENTRY);
	nla_put_u64(msg, RDMA_NLDEV_ATTR_RES_MRLEN, 8192);
	nla_put_u32(msg, RDMA_NLDEV_ATTR_RES_PID, 77);
	nla_nest_end(msg, e);
	nla_nest_end(msg, tab);
	return msg;
}

Test(foreign, rdma_mr_answers_give_pid_iova_and_length_of_user_mrs)
{
	struct nl_msg *msg = mr_answer();
	struct rdma_mrs mrs = { NULL, 0 };

	cr_assert_eq(rdma_nl_parse_mr_msg(nlmsg_hdr(msg), &mrs), 0);
	cr_assert_eq(mrs.n, 2, "the kernel's own MR holds no user memory");
	cr_assert_str_eq(mrs.v[0].dev, "rxe0");
	cr_assert(mrs.v[0].pid == 4242 && mrs.v[0].has_iova && mrs.v[0].iova == 0x7f5a00000000ULL &&
		  mrs.v[0].len == 0x100000 && mrs.v[0].mrn == 7);
	cr_assert(mrs.v[1].pid == 77 && !mrs.v[1].has_iova && mrs.v[1].len == 8192);
	rdma_mrs_free(&mrs);
	nlmsg_free(msg);
}

Test(foreign, rdma_answers_of_another_kind_or_without_length_are_refused)
{
	struct nl_msg *msg = nlmsg_alloc_simple(RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_RES_QP_GET), 0);
	struct rdma_mrs mrs = { NULL, 0 };
	struct nlattr *tab, *e;
	uint32_t idx;
	char name[64];

	cr_assert_eq(rdma_nl_parse_mr_msg(nlmsg_hdr(msg), &mrs), -EINVAL);
	cr_assert_eq(rdma_nl_parse_dev_msg(nlmsg_hdr(msg), &idx, name), -EINVAL);
	nlmsg_free(msg);
	msg = nlmsg_alloc_simple(RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_RES_MR_GET), 0);
	tab = nla_nest_start(msg, RDMA_NLDEV_ATTR_RES_MR);
	e = nla_nest_start(msg, RDMA_NLDEV_ATTR_RES_MR_ENTRY);
	nla_put_u32(msg, RDMA_NLDEV_ATTR_RES_PID, 4242);
	nla_nest_end(msg, e);
	nla_nest_end(msg, tab);
	cr_assert_eq(rdma_nl_parse_mr_msg(nlmsg_hdr(msg), &mrs), -EINVAL);
	cr_assert_eq(mrs.n, 0);
	nlmsg_free(msg);
	/* a device answer */
	msg = nlmsg_alloc_simple(RDMA_NL_GET_TYPE(RDMA_NL_NLDEV, RDMA_NLDEV_CMD_GET), 0);
	nla_put_u32(msg, RDMA_NLDEV_ATTR_DEV_INDEX, 3);
	nla_put_string(msg, RDMA_NLDEV_ATTR_DEV_NAME, "rxe0");
	cr_assert_eq(rdma_nl_parse_dev_msg(nlmsg_hdr(msg), &idx, name), 0);
	cr_assert(idx == 3 && strcmp(name, "rxe0") == 0);
	nlmsg_free(msg);
}

Test(foreign, reading_rdma_registrations_here_succeeds_or_says_why_not)
{
	struct rdma_mrs mrs;
	int rc = rdma_nl_mrs(&mrs);

	/* no RDMA core loaded here: nothing registered, not an error */
	if (rc == 0)
		rdma_mrs_free(&mrs);
	else
		cr_assert(strstr(daxmap_errormsg(), "RDMA"), "%d: %s", rc, daxmap_errormsg());
}

/* ---- releases wait for a process that maps the device by itself ------------ */

Test(foreign, a_raw_mmap_by_another_process_holds_the_remove)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_foreign_holder *fh;
	struct daxmap_region_info *ri;
	struct raw raw;
	char want[64];
	size_t n, maps = 0;

	cr_assert_eq(daxmap_region_create(pool, "r", 4 * MiB, NULL), 0);
	raw = raw_map(daxmap_dev_path(dev), region_offset(pool, "r", 0) + 2 * MiB, 4096);
	/* listed as a foreign holder of the region */
	cr_assert_eq(daxmap_pool_foreign_holders(pool, &fh, &n), 0, "%s", daxmap_errormsg());
	for (size_t i = 0; i < n; i++)
		if (fh[i].kind == DAXMAP_FOREIGN_MAPPING) {
			cr_assert_eq(fh[i].pid, raw.pid);
			cr_assert_str_eq(fh[i].comm, "rawmapper");
			cr_assert_str_eq(fh[i].region, "r");
			cr_assert_eq(fh[i].index, 1);
			cr_assert_eq(fh[i].len, 4096);
			maps++;
		}
	cr_assert_eq(maps, 1);
	free(fh);
	/* the remove names it and leaves the region in ZAP */
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), -EBUSY);
	snprintf(want, sizeof(want), "pid %d (rawmapper) foreign mapping", (int)raw.pid);
	cr_assert(strstr(daxmap_errormsg(), want) && strstr(daxmap_errormsg(), "stay in ZAP"), "%s",
		  daxmap_errormsg());
	cr_assert_eq(daxmap_region_remove(pool, "r", 100), -EBUSY);
	/* let go: the retry frees it */
	raw_release(&raw);
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_list(pool, &ri, &n), 0);
	cr_assert_eq(n, 0);
	free(ri);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(foreign, the_wait_covers_a_foreign_mapping_until_it_goes)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_pool_stat st;
	struct raw raw;
	pid_t killer;
	int64_t t0, t1;
	int s;

	cr_assert_eq(daxmap_region_create(pool, "r", 2 * MiB, NULL), 0);
	raw = raw_map(daxmap_dev_path(dev), region_offset(pool, "r", 0), 2 * MiB);
	/* another process tells it to let go 300 ms from now */
	if ((killer = fork()) == 0) {
		usleep(300000);
		_exit(write(raw.go, "x", 1) == 1 ? 0 : 1);
	}
	t0 = now_ns();
	cr_assert_eq(daxmap_region_remove(pool, "r", 10000), 0, "%s", daxmap_errormsg());
	t1 = now_ns();
	cr_assert_geq((t1 - t0) / 1000000, 250, "remove returned after %lld ms, while mapped",
		      (long long)(t1 - t0) / 1000000);
	cr_assert_eq(waitpid(killer, &s, 0), killer);
	close(raw.go);
	cr_assert_eq(waitpid(raw.pid, &s, 0), raw.pid);
	cr_assert_eq(daxmap_pool_stat(pool, &st), 0);
	cr_assert_eq(st.extents_used, 0);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(foreign, a_shrink_waits_only_for_mappings_of_the_released_tail)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct raw raw;

	cr_assert_eq(daxmap_region_create(pool, "r", 8 * MiB, NULL), 0);
	/* maps index 0: a shrink to 2 MiB releases indices 1..3 */
	raw = raw_map(daxmap_dev_path(dev), region_offset(pool, "r", 0), 2 * MiB);
	cr_assert_eq(daxmap_region_resize(pool, "r", 2 * MiB, NULL, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), -EBUSY);
	cr_assert(strstr(daxmap_errormsg(), "rawmapper"), "%s", daxmap_errormsg());
	raw_release(&raw);
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), 0, "%s", daxmap_errormsg());
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(foreign, a_holders_region_mapping_is_not_foreign)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_foreign_holder *fh;
	struct daxmap_map *m;
	struct child h;
	size_t n;

	cr_assert_eq(daxmap_region_create(pool, "r", 4 * MiB, NULL), 0);
	h = child_mapping(daxmap_dev_path(dev), "r");
	cr_assert_eq(daxmap_region_map(&m, pool, "r", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_pool_foreign_holders(pool, &fh, &n), 0, "%s", daxmap_errormsg());
	for (size_t i = 0; i < n; i++)
		cr_assert_neq(fh[i].kind, DAXMAP_FOREIGN_MAPPING, "pid %d: %s", fh[i].pid, fh[i].what);
	free(fh);
	cr_assert_eq(daxmap_map_delete(&m), 0);
	/* once the holders let go, the remove finds nothing else */
	child_do(&h, CHILD(.op = CHILD_UNMAP));
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), 0, "%s", daxmap_errormsg());
	child_finish(&h);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(foreign, a_raw_mapping_in_the_releasing_process_holds_it_too)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_range r;
	struct daxmap_map *m;
	char want[64];

	cr_assert_eq(daxmap_region_create(pool, "r", 2 * MiB, NULL), 0);
	r = (struct daxmap_range){ region_offset(pool, "r", 0), 2 * MiB };
	/* a plain device mapping (daxmap_map_new_ranges()) holds no reference */
	cr_assert_eq(daxmap_map_new_ranges(&m, dev, &r, 1, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), -EBUSY);
	snprintf(want, sizeof(want), "pid %d (", (int)getpid());
	cr_assert(strstr(daxmap_errormsg(), want) && strstr(daxmap_errormsg(), "foreign mapping"),
		  "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_map_delete(&m), 0);
	cr_assert_eq(daxmap_pool_reclaim(pool, NULL), 0);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/* ---- releases after the first: only what can have changed is read --------- */

/*
 * A process driven step by step over a pipe: each byte it reads is a step
 * ('o' open the device, 'm' map [off, off + len) through that descriptor,
 * 'f' fork a child that keeps the mapping and exit, 'x' unmap and exit);
 * it answers each with a byte ('k' done, 'c' after a fork: the child's pid
 * follows).
 */
struct stepper {
	pid_t pid;
	int to, from;
};

static void stepper_run(const char *path, uint64_t off, uint64_t len, int in, int out)
{
	void *p = MAP_FAILED;
	int fd = -1;
	char c;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NAME, "stepper");
	/* only what it opens itself: not the test's descriptors of the device */
	for (int d = 3; d < 1024; d++)
		if (d != in && d != out)
			close(d);
	while (read(in, &c, 1) == 1) {
		if (c == 'o')
			fd = open(path, O_RDWR);
		else if (c == 'm')
			p = fd < 0 ? MAP_FAILED :
				     mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
		if (c == 'f') {
			pid_t child = fork();

			if (child == 0) { /* keeps the mapping, not the descriptor */
				close(fd);
				prctl(PR_SET_NAME, "stepchild");
				alarm(20); /* orphaned: gone even if the test fails */
				pause();
				_exit(0);
			}
			if (write(out, "c", 1) != 1 || write(out, &child, sizeof(child)) != sizeof(child))
				_exit(1);
			_exit(0);
		}
		if (c == 'x')
			_exit(0);
		c = (c == 'o' && fd < 0) || (c == 'm' && p == MAP_FAILED) ? 'E' : 'k';
		if (write(out, &c, 1) != 1)
			_exit(1);
	}
	_exit(1);
}

static struct stepper stepper_new(const char *path, uint64_t off, uint64_t len)
{
	int down[2], up[2];
	struct stepper s;

	cr_assert_eq(pipe(down), 0);
	cr_assert_eq(pipe(up), 0);
	s.pid = fork();
	cr_assert_geq(s.pid, 0);
	if (s.pid == 0) {
		close(down[1]);
		close(up[0]);
		stepper_run(path, off, len, down[0], up[1]);
	}
	close(down[0]);
	close(up[1]);
	s.to = down[1];
	s.from = up[0];
	return s;
}

static void step(struct stepper *s, char c)
{
	char r;

	cr_assert_eq(write(s->to, &c, 1), 1);
	cr_assert_eq(read(s->from, &r, 1), 1);
	cr_assert_eq(r, 'k', "step '%c' failed", c);
}

static void stepper_end(struct stepper *s)
{
	int st;

	cr_assert_eq(write(s->to, "x", 1), 1);
	cr_assert_eq(waitpid(s->pid, &st, 0), s->pid);
	close(s->to);
	close(s->from);
}

/* The remove of name fails, naming pid's foreign mapping. */
static void remove_held_by(struct daxmap_pool *pool, const char *name, pid_t pid)
{
	char want[48];

	cr_assert_eq(daxmap_region_remove(pool, name, 0), -EBUSY, "%s", daxmap_errormsg());
	snprintf(want, sizeof(want), "pid %d (", (int)pid);
	cr_assert(strstr(daxmap_errormsg(), want) && strstr(daxmap_errormsg(), "foreign mapping"),
		  "pid %d not named: %s", (int)pid, daxmap_errormsg());
}

/* A pool with regions "a" and "b" of one extent each, and a stepper
 * that maps b. */
static struct daxmap_pool *two_regions(struct daxmap_dev *dev, struct stepper *s)
{
	struct daxmap_pool *pool = new_pool(dev);

	cr_assert_eq(daxmap_region_create(pool, "a", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_create(pool, "b", 2 * MiB, NULL), 0);
	*s = stepper_new(daxmap_dev_path(dev), region_offset(pool, "b", 0), 2 * MiB);
	return pool;
}

/*
 * A process that maps b after the first release (which reads every
 * process), holding a descriptor of the device since before that release
 * or opening it after: the next release must find it.
 */
static void mapped_after_a_release(bool opened_before)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct stepper s;
	struct daxmap_pool *pool = two_regions(dev, &s);

	if (opened_before)
		step(&s, 'o');
	cr_assert_eq(daxmap_region_remove(pool, "a", 0), 0, "%s", daxmap_errormsg());
	if (!opened_before)
		step(&s, 'o');
	step(&s, 'm');
	remove_held_by(pool, "b", s.pid);
	stepper_end(&s);
	cr_assert_eq(daxmap_region_remove(pool, "b", 0), 0, "%s", daxmap_errormsg());
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(foreign, a_process_that_held_the_device_before_a_release_and_maps_it_after_holds_the_next)
{
	mapped_after_a_release(true);
}

Test(foreign, a_process_that_opens_the_device_after_a_release_is_seen_by_the_next)
{
	mapped_after_a_release(false);
}

Test(foreign, a_child_forked_after_a_release_keeps_its_parents_mapping_and_holds)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct stepper s;
	struct daxmap_pool *pool = two_regions(dev, &s);
	pid_t child;
	char c;
	int st;

	step(&s, 'o');
	step(&s, 'm');
	cr_assert_eq(daxmap_region_remove(pool, "a", 0), 0, "%s", daxmap_errormsg());
	/* the mapper forks and exits: its child, new since, maps b */
	cr_assert_eq(write(s.to, "f", 1), 1);
	cr_assert_eq(read(s.from, &c, 1), 1);
	cr_assert_eq(c, 'c');
	cr_assert_eq(read(s.from, &child, sizeof(child)), (ssize_t)sizeof(child));
	cr_assert_eq(waitpid(s.pid, &st, 0), s.pid);
	remove_held_by(pool, "b", child);
	kill(child, SIGKILL);
	close(s.to);
	close(s.from);
	/* reparented: gone once the kernel reaps it */
	for (int i = 0; i < 200 && kill(child, 0) == 0; i++)
		usleep(10000);
	cr_assert_eq(daxmap_region_remove(pool, "b", 5000), 0, "%s", daxmap_errormsg());
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/*
 * child said over pipe p whether it mapped region b ('k'): the remove of b
 * must name it; once it is killed, b goes. Closes the pool and device.
 */
static void child_holds_b(struct daxmap_pool *pool, struct daxmap_dev *dev, pid_t child, int p[2])
{
	char c;
	int st;

	cr_assert_eq(read(p[0], &c, 1), 1);
	cr_assert_eq(c, 'k', "the child could not map the device");
	remove_held_by(pool, "b", child);
	kill(child, SIGKILL);
	cr_assert_eq(waitpid(child, &st, 0), child);
	close(p[0]);
	close(p[1]);
	cr_assert_eq(daxmap_region_remove(pool, "b", 5000), 0, "%s", daxmap_errormsg());
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/*
 * This process forks after a release; the child maps b through the
 * library's descriptor of the device it inherited (no open, so no inotify
 * event; this process holds no descriptor of its own): the next release
 * must find it, the fork() having made new processes worth looking for.
 */
Test(foreign, a_child_forked_after_a_release_maps_through_an_inherited_descriptor_and_holds)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	uint64_t off;
	struct stat dst;
	int p[2];
	pid_t child;

	cr_assert_eq(daxmap_region_create(pool, "a", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_create(pool, "b", 2 * MiB, NULL), 0);
	off = region_offset(pool, "b", 0);
	cr_assert_eq(stat(daxmap_dev_path(dev), &dst), 0);
	cr_assert_eq(daxmap_region_remove(pool, "a", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(pipe(p), 0);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		void *m = MAP_FAILED;

		alarm(20);
		for (int d = 3; d < 1024 && m == MAP_FAILED; d++) {
			struct stat fst;

			if (fstat(d, &fst) == 0 && fst.st_ino == dst.st_ino && fst.st_dev == dst.st_dev)
				m = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, d, (off_t)off);
		}
		_exit(write(p[1], m == MAP_FAILED ? "E" : "k", 1) == 1 && pause() ? 0 : 1);
	}
	child_holds_b(pool, dev, child, p);
}

/*
 * This process holds a descriptor of the device of its own and makes a
 * child without fork()'s handlers (a bare clone(), as posix_spawn() and
 * vfork() do), which maps b through the descriptor it inherited: its own
 * descriptor makes every release look for new processes.
 */
Test(foreign, a_child_made_without_fork_handlers_maps_through_this_process_descriptor_and_holds)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	int p[2], fd;
	uint64_t off;
	pid_t child;

	cr_assert_eq(daxmap_region_create(pool, "a", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_create(pool, "b", 2 * MiB, NULL), 0);
	off = region_offset(pool, "b", 0);
	fd = open(daxmap_dev_path(dev), O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(daxmap_region_remove(pool, "a", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(pipe(p), 0);
	child = (pid_t)syscall(SYS_clone, SIGCHLD, NULL, NULL, NULL, NULL);
	cr_assert_geq(child, 0);
	if (child == 0) {
		void *m = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, (off_t)off);

		alarm(20);
		_exit(write(p[1], m == MAP_FAILED ? "E" : "k", 1) == 1 && pause() ? 0 : 1);
	}
	close(fd); /* the child's copy holds on */
	child_holds_b(pool, dev, child, p);
}

struct churn {
	struct daxmap_pool *pool;
	int stop;
};

/* Create and remove a region until told to stop: releases, one after the
 * other, each looking for holders outside the library. */
static void *churn(void *arg)
{
	struct churn *c = arg;

	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		cr_assert_eq(daxmap_region_create(c->pool, "churn", 2 * MiB, NULL), 0);
		cr_assert_eq(daxmap_region_remove(c->pool, "churn", 0), 0, "%s", daxmap_errormsg());
	}
	return NULL;
}

Test(foreign, a_child_forked_while_another_thread_releases_can_release_too)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct churn c = { new_pool(dev), 0 };
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, churn, &c), 0);
	for (int i = 0; i < 100; i++) {
		pid_t pid = fork();
		int st;

		cr_assert_geq(pid, 0);
		if (pid == 0) {
			/* a fork inside the other thread's look must not leave
			 * its lock taken here; the child uses the pool through
			 * its own handle, as a child must */
			struct daxmap_dev *d = NULL;
			struct daxmap_pool *p = NULL;

			alarm(10);
			_exit(daxmap_dev_open(&d, daxmap_dev_path(dev), daxmap_dev_align(dev), 0) == 0 &&
			      daxmap_pool_open(&p, d, 0) == 0 &&
			      daxmap_region_create(p, "child", 2 * MiB, NULL) == 0 &&
			      daxmap_region_remove(p, "child", 0) == 0 ? 0 : 1);
		}
		cr_assert_eq(waitpid(pid, &st, 0), pid);
		cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			  "child %d: %s", i, WIFSIGNALED(st) ? "hung (killed by its alarm)" : "failed");
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	daxmap_pool_close(c.pool);
	daxmap_dev_close(dev);
}

Test(foreign, this_process_mapping_the_device_after_a_release_holds_the_next)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_range r;
	struct daxmap_map *m;
	void *p;
	int fd;

	cr_assert_eq(daxmap_region_create(pool, "a", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_create(pool, "b", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_create(pool, "c", 2 * MiB, NULL), 0);
	/* a descriptor of its own, from before the first release */
	fd = open(daxmap_dev_path(dev), O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(daxmap_region_remove(pool, "a", 0), 0, "%s", daxmap_errormsg());
	p = mmap(NULL, 2 * MiB, PROT_READ, MAP_SHARED, fd, (off_t)region_offset(pool, "b", 0));
	cr_assert_neq(p, MAP_FAILED);
	remove_held_by(pool, "b", getpid());
	munmap(p, 2 * MiB);
	close(fd);
	cr_assert_eq(daxmap_pool_reclaim(pool, NULL), 0, "%s", daxmap_errormsg());
	/* the library's own raw mapping, made after a release */
	r = (struct daxmap_range){ region_offset(pool, "c", 0), 2 * MiB };
	cr_assert_eq(daxmap_map_new_ranges(&m, dev, &r, 1, 0), 0, "%s", daxmap_errormsg());
	remove_held_by(pool, "c", getpid());
	cr_assert_eq(daxmap_map_delete(&m), 0);
	cr_assert_eq(daxmap_pool_reclaim(pool, NULL), 0, "%s", daxmap_errormsg());
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/*
 * A process that holds region mappings (the ledgers count them) is not
 * read again at each release, nor after it maps a region; a deleted one is
 * no longer listed, and a raw mapping (the application's) holds every
 * release of what it maps.
 */
Test(foreign, region_mappings_do_not_make_this_process_read_at_each_release)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_map *a, *b, *raw;
	struct daxmap_range r;
	uint64_t looks;
	uint64_t old_a;

	cr_assert_eq(daxmap_region_create(pool, "a", 4 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_map(&a, pool, "a", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_create(pool, "x", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_remove(pool, "x", 0), 0, "%s", daxmap_errormsg());
	looks = foreign_self_looks();
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(daxmap_region_create(pool, "b", 2 * MiB, NULL), 0);
		cr_assert_eq(daxmap_region_map(&b, pool, "b", 0), 0, "%s", daxmap_errormsg());
		cr_assert_eq(daxmap_map_delete(&b), 0);
		cr_assert_eq(daxmap_region_create(pool, "x", 2 * MiB, NULL), 0);
		cr_assert_eq(daxmap_region_remove(pool, "x", 0), 0, "%s", daxmap_errormsg());
		cr_assert_eq(daxmap_region_remove(pool, "b", 0), 0, "%s", daxmap_errormsg());
	}
	cr_assert_eq(foreign_self_looks(), looks, "this process's maps were read %" PRIu64 " times",
		     foreign_self_looks() - looks);
	/* c and d side by side, mapped raw where the region mapping of a was */
	cr_assert_eq(daxmap_region_create(pool, "c", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_create(pool, "d", 2 * MiB, NULL), 0);
	cr_assert_eq(region_offset(pool, "d", 0), region_offset(pool, "c", 0) + 2 * MiB);
	old_a = (uintptr_t)daxmap_map_addr(a);
	cr_assert(dev_va_is_own(old_a, old_a + 4 * MiB));
	cr_assert_eq(daxmap_map_delete(&a), 0);
	cr_assert_not(dev_va_is_own(old_a, old_a + 4 * MiB), "a deleted mapping is still listed");
	r = (struct daxmap_range){ region_offset(pool, "c", 0), 4 * MiB };
	cr_assert_eq(daxmap_map_new_ranges(&raw, dev, &r, 1, 0), 0, "%s", daxmap_errormsg());
	remove_held_by(pool, "c", getpid());
	/* nothing mapped since: only this process's suspect status sees it */
	remove_held_by(pool, "d", getpid());
	cr_assert_eq(daxmap_map_delete(&raw), 0);
	cr_assert_eq(daxmap_pool_reclaim(pool, NULL), 0, "%s", daxmap_errormsg());
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(foreign, the_listing_refuses_bad_arguments)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_foreign_holder *fh;
	size_t n;

	cr_assert_eq(daxmap_pool_foreign_holders(pool, NULL, &n), -EINVAL);
	cr_assert_eq(daxmap_pool_foreign_holders(pool, &fh, NULL), -EINVAL);
	cr_assert_eq(daxmap_pool_foreign_holders(NULL, &fh, &n), -EINVAL);
	/* an empty pool: nothing to look at */
	cr_assert_eq(daxmap_pool_foreign_holders(pool, &fh, &n), 0, "%s", daxmap_errormsg());
	cr_assert_eq(n, 0);
	free(fh);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

Test(foreign, daxmapctl_holders_lists_it_and_remove_names_it)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	const char *ctl = getenv("DAXMAPCTL");
	char cmd[1024], want[96], *out;
	struct raw raw;

	cr_assert_not_null(ctl);
	cr_assert_eq(daxmap_region_create(pool, "r", 2 * MiB, NULL), 0);
	raw = raw_map(daxmap_dev_path(dev), region_offset(pool, "r", 0), 2 * MiB);
	snprintf(cmd, sizeof(cmd), "%s holders %s", ctl, daxmap_dev_path(dev));
	cr_assert_eq(run_capture(cmd, &out), 0);
	snprintf(want, sizeof(want), "\"pid\":%d,\n    \"comm\":\"rawmapper\",\n    \"foreign\":true",
		 (int)raw.pid);
	cr_assert(strstr(out, want) && strstr(out, "\"kind\":\"foreign mapping\"") &&
		  strstr(out, "\"region\":\"r\""), "%s", out);
	free(out);
	snprintf(cmd, sizeof(cmd), "%s remove %s r 2>&1", ctl, daxmap_dev_path(dev));
	cr_assert_eq(run_capture(cmd, &out), 1);
	snprintf(want, sizeof(want), "pid %d (rawmapper) foreign mapping", (int)raw.pid);
	cr_assert(strstr(out, want), "%s", out);
	free(out);
	raw_release(&raw);
	cr_assert_eq(run_capture(cmd, &out), 0, "%s", out);
	free(out);
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/* ---- registration caches: the ranges they are told of ---------------------- */

static struct told { void *addr; size_t len; } told[16];
static int ntold;

static void record(void *addr, size_t len)
{
	if (ntold < 16)
		told[ntold] = (struct told){ addr, len };
	ntold++;
}

Test(foreign, caches_hear_of_ranges_a_release_zaps_and_an_unmap_drops)
{
	struct daxmap_dev *dev = new_dev(64 * MiB);
	struct daxmap_pool *pool = new_pool(dev);
	struct daxmap_map *m, *k;
	char *a;

	cr_assert_eq(daxmap_region_create(pool, "r", 4 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_create(pool, "keep", 2 * MiB, NULL), 0);
	cr_assert_eq(daxmap_region_map(&m, pool, "r", 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(daxmap_region_map(&k, pool, "keep", 0), 0, "%s", daxmap_errormsg());
	a = daxmap_map_addr(m);
	region_map_zap_hook(1, record);
	cr_assert(region_map_covers(a, 4 * MiB));
	cr_assert(region_map_covers(a + 4096, 8192));
	cr_assert(!region_map_covers(a + 2 * MiB, 4 * MiB), "past the mapping's end");
	cr_assert(!region_map_covers(&ntold, sizeof(ntold)), "not a region mapping");
	/* a shrink zaps the tail of this process's mapping: told first */
	cr_assert_eq(daxmap_region_resize(pool, "r", 2 * MiB, NULL, 0), 0, "%s", daxmap_errormsg());
	cr_assert_eq(ntold, 1);
	cr_assert(told[0].addr == a + 2 * MiB && told[0].len == 2 * MiB);
	cr_assert(region_map_covers(a, 2 * MiB));
	cr_assert(!region_map_covers(a, 4 * MiB), "the zapped tail is not mapped any more");
	/* an unmap: the whole mapping */
	cr_assert_eq(daxmap_map_delete(&m), 0);
	cr_assert_eq(ntold, 2);
	cr_assert(told[1].addr == a && told[1].len == 4 * MiB);
	cr_assert(!region_map_covers(a, 4096));
	region_map_zap_hook(1, NULL);
	cr_assert_eq(daxmap_map_delete(&k), 0);
	cr_assert_eq(ntold, 2, "no hook, nothing told");
	cr_assert_eq(daxmap_region_remove(pool, "r", 0), 0, "%s", daxmap_errormsg());
	daxmap_pool_close(pool);
	daxmap_dev_close(dev);
}

/* Bad calls are refused; a build without UCX or libfabric says so (the
 * sanitizer build of tests/run-all is one). */
Test(foreign, the_cache_hooks_refuse_bad_calls)
{
	int rc = daxmap_ucx_hook(NULL, 0x80);

	if (DAXMAP_HAVE_UCX) {
		cr_assert_eq(rc, -EINVAL, "%d", rc);
	} else {
		cr_assert_eq(rc, -EOPNOTSUPP, "%d", rc);
		cr_assert(strstr(daxmap_errormsg(), "built without UCX"), "%s", daxmap_errormsg());
		daxmap_ucx_unhook(); /* nothing to undo: no effect, no crash */
	}
	rc = daxmap_fabric_hook_domain(NULL);
	if (DAXMAP_HAVE_LIBFABRIC) {
		cr_assert_eq(rc, -EINVAL, "%d", rc);
		cr_assert(strstr(daxmap_errormsg(), "daxmap_fabric_hook() first"), "%s", daxmap_errormsg());
	} else {
		cr_assert_eq(rc, -EOPNOTSUPP, "%d", rc);
		cr_assert(strstr(daxmap_errormsg(), "built without libfabric"), "%s", daxmap_errormsg());
		rc = daxmap_fabric_hook();
		cr_assert_eq(rc, -EOPNOTSUPP, "%d", rc);
		cr_assert(strstr(daxmap_errormsg(), "built without libfabric"), "%s", daxmap_errormsg());
	}
}
