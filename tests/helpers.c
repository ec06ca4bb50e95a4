/* SPDX-License-Identifier: BSD-3-Clause */
/* helpers.c -- shared by the unit tests */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <daxmap.h>

#include "helpers.h"

const char *make_file(uint64_t size)
{
	static char path[256];
	char dir[] = "/tmp/daxmap-test-XXXXXX";
	int fd;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/dev", dir);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ftruncate(fd, (off_t)size), 0);
	close(fd);
	return path;
}

int count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	unsigned long lo;
	char line[512];
	int n = 0;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		/* ASan's allocator maps its regions in [0x6000..., 0x6400...)
		 * as the heap grows: not the library's */
		if (sscanf(line, "%lx", &lo) != 1 || lo < 0x600000000000UL || lo >= 0x640000000000UL)
			n++;
	fclose(f);
	return n;
}

int run_capture(const char *cmd, char **out)
{
	FILE *p = popen(cmd, "r");
	size_t cap = 4096, len = 0, n;
	char *buf = malloc(cap);
	int st;

	cr_assert_not_null(p);
	cr_assert_not_null(buf);
	while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 512) {
			char *grown = realloc(buf, cap * 2);

			cr_assert_not_null(grown);
			buf = grown;
			cap *= 2;
		}
	}
	buf[len] = '\0';
	st = pclose(p);
	*out = buf;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void drop_root(void)
{
	if (geteuid() == 0)
		cr_assert_eq(setresuid(65534, 65534, 65534), 0);
}

const char *env_or_skip(const char *name)
{
	const char *v = getenv(name);

	if (!v || !*v)
		cr_skip_test("%s is not set (not in the rig: tests/vm/run, --iommu for VFIO)", name);
	return v;
}

int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ms_since(int64_t t0_ns)
{
	return (now_ns() - t0_ns) / 1000000;
}

struct raw raw_map(const char *path, uint64_t off, uint64_t len)
{
	int up[2], down[2];
	struct raw r;
	char c;

	cr_assert_eq(pipe(up), 0);
	cr_assert_eq(pipe(down), 0);
	if ((r.pid = fork()) == 0) {
		int fd = open(path, O_RDWR);
		char *p = fd < 0 ? MAP_FAILED
				 : mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, "rawmapper");
		if (p != MAP_FAILED)
			p[0] = 1; /* faulted in: the kernel holds the page */
		c = p == MAP_FAILED ? 'E' : 'M';
		if (write(up[1], &c, 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(1);
		if (p != MAP_FAILED)
			munmap(p, len);
		_exit(0);
	}
	cr_assert_gt(r.pid, 0);
	close(up[1]);
	close(down[0]);
	cr_assert_eq(read(up[0], &c, 1), 1);
	cr_assert_eq(c, 'M', "mmap of %s at %#llx failed", path, (unsigned long long)off);
	close(up[0]);
	r.go = down[1];
	return r;
}

void raw_release(struct raw *r)
{
	int st;

	cr_assert_eq(write(r->go, "x", 1), 1);
	close(r->go);
	cr_assert_eq(waitpid(r->pid, &st, 0), r->pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

uint64_t region_offset(struct daxmap_pool *pool, const char *name, size_t i)
{
	struct daxmap_range *r;
	size_t n;
	uint64_t off;

	cr_assert_eq(daxmap_region_ranges(pool, name, &r, &n), 0, "%s", daxmap_errormsg());
	cr_assert_gt(n, i);
	off = r[i].offset;
	free(r);
	return off;
}
