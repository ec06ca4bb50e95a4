/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * foreign.c -- who maps a device's byte ranges, from /proc/PID/maps
 * (foreign.h).
 *
 * The kernel prints each mapping as "start-end perms offset maj:min inode
 * path" (fs/proc/task_mmu.c, show_map_vma()): the device and inode are the
 * opened inode's (its filesystem's s_dev, so devtmpfs's for /dev/daxX.Y),
 * the offset is vm_pgoff in bytes: for devdax and for files alike, the
 * device or file offset of the mapping's first byte. Reading another
 * process's maps needs ptrace read access (proc_maps_open() ->
 * mm_access(PTRACE_MODE_READ)): EACCES otherwise, which is reported, never
 * taken for "maps nothing".
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "dev.h"
#include "error.h"
#include "foreign.h"

int foreign_target_of(const struct daxmap_dev *dev, struct foreign_target *t)
{
	struct stat st;
	int rc;

	if (dev->have_ident) { /* the open file's inode does not change */
		*t = (struct foreign_target){ dev->st_dev, dev->st_ino, dev->st_rdev };
		return 0;
	}
	rc = dev->fd >= 0 ? fstat(dev->fd, &st) : stat(dev->path, &st);

	if (rc != 0)
		return daxmap_err(errno, "%s: %s", dev->path, strerror(errno));
	t->dev = st.st_dev;
	t->ino = st.st_ino;
	t->rdev = S_ISCHR(st.st_mode) ? st.st_rdev : 0;
	return 0;
}

static const char *hex(const char *p, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(p, &end, 16);
	return end == p || errno ? NULL : end;
}

int maps_parse_line(const char *line, struct maps_line *out)
{
	const char *p = line;
	uint64_t major, minor;
	char *end;

	memset(out, 0, sizeof(*out));
	out->path = "";
	if (!(p = hex(p, &out->start)) || *p++ != '-' || !(p = hex(p, &out->end)) ||
	    *p++ != ' ' || out->end < out->start)
		return -EINVAL;
	for (int i = 0; i < 4; i++, p++) {
		if (!*p || *p == ' ')
			return -EINVAL;
		out->perms[i] = *p;
	}
	if (*p++ != ' ' || !(p = hex(p, &out->off)) || *p++ != ' ' ||
	    !(p = hex(p, &major)) || *p++ != ':' || !(p = hex(p, &minor)) || *p++ != ' ' ||
	    !isdigit((unsigned char)*p))
		return -EINVAL;
	errno = 0;
	out->ino = strtoull(p, &end, 10);
	if (errno || (*end && *end != ' ' && *end != '\n'))
		return -EINVAL;
	out->major = (unsigned)major;
	out->minor = (unsigned)minor;
	for (p = end; *p == ' '; p++)
		;
	out->path = p;
	return 0;
}

void foreign_comm(pid_t pid, char comm[16])
{
	char path[64];
	ssize_t n = -1;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, comm, 15);
		close(fd);
	}
	if (n <= 0) {
		snprintf(comm, 16, "?");
		return;
	}
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
}

/* Does [off, off + len) overlap one of the sorted ranges? */
static bool overlaps(const struct daxmap_range *r, size_t n, uint64_t off, uint64_t len)
{
	size_t lo = 0, hi = n;

	/* the first range that ends after off */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r[mid].offset + r[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && r[lo].offset < off + len;
}

/*
 * Is a mapping of another inode the target's character device through
 * another node (mknod elsewhere, a container's /dev)? Only nodes on
 * filesystems without a backing device (devtmpfs, tmpfs: major 0) are
 * looked at, in the process's own root.
 */
static bool same_chr(const struct maps_line *m, const char *root, const struct foreign_target *t)
{
	char path[4096];
	struct stat st;

	if (!t->rdev || m->major != 0 || m->path[0] != '/')
		return false;
	snprintf(path, sizeof(path), "%s%.*s", root ? root : "", (int)strcspn(m->path, "\n"),
		 m->path);
	return stat(path, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == t->rdev;
}

static int add_map(struct foreign_scan *s, pid_t pid, const char *comm, const struct maps_line *m)
{
	struct foreign_map *v = realloc(s->maps, (s->nmaps + 1) * sizeof(*v));

	if (!v)
		return daxmap_err(ENOMEM, "out of memory");
	s->maps = v;
	v[s->nmaps] = (struct foreign_map){ .pid = pid, .start = m->start, .end = m->end,
					    .off = m->off };
	snprintf(v[s->nmaps].comm, sizeof(v->comm), "%s", comm);
	s->nmaps++;
	return 0;
}

int foreign_scan_text(const char *text, pid_t pid, const char *comm, const char *root,
		      const struct foreign_target *t, const struct daxmap_range *ranges,
		      size_t nranges, struct foreign_scan *s)
{
	/* other inodes met, and whether they are the device: one stat each */
	struct seen { uint64_t dev, ino; bool same; } seen[8];
	size_t nseen = 0;
	int rc;

	for (const char *line = text; line && *line;) {
		const char *nl = strchr(line, '\n');
		struct maps_line m;
		bool same;

		if (maps_parse_line(line, &m) == 0 && m.ino != 0 &&
		    overlaps(ranges, nranges, m.off, m.end - m.start)) {
			uint64_t dev = makedev(m.major, m.minor);
			size_t k;

			if (dev == t->dev && m.ino == t->ino) {
				same = true;
			} else {
				for (k = 0; k < nseen; k++)
					if (seen[k].dev == dev && seen[k].ino == m.ino)
						break;
				same = k < nseen ? seen[k].same : same_chr(&m, root, t);
				if (k == nseen && nseen < sizeof(seen) / sizeof(seen[0]))
					seen[nseen++] = (struct seen){ dev, m.ino, same };
			}
			if (same && (rc = add_map(s, pid, comm, &m)))
				return rc;
		}
		line = nl ? nl + 1 : NULL;
	}
	return 0;
}

static int add_skip(struct foreign_scan *s, pid_t pid, int err)
{
	struct foreign_skip *v = realloc(s->skips, (s->nskips + 1) * sizeof(*v));

	if (!v)
		return daxmap_err(ENOMEM, "out of memory");
	s->skips = v;
	v[s->nskips] = (struct foreign_skip){ .pid = pid, .err = err };
	foreign_comm(pid, v[s->nskips].comm);
	s->nskips++;
	return 0;
}

/* The whole maps file of pid (malloc'ed, NUL-terminated): 0, or the errno
 * of the open or read. */
static int read_maps(pid_t pid, char **text)
{
	char path[64];
	size_t len = 0, cap = 16384;
	char *buf = malloc(cap), *g;
	int fd, err = 0;

	*text = NULL;
	if (!buf)
		return ENOMEM;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		free(buf);
		return errno;
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			if (!(g = realloc(buf, cap * 2))) {
				err = ENOMEM;
				break;
			}
			buf = g;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (err) {
		free(buf);
		return err;
	}
	buf[len] = '\0';
	*text = buf;
	return 0;
}

int foreign_scan_pid(pid_t pid, const struct foreign_target *t,
		     const struct daxmap_range *ranges, size_t nranges, struct foreign_scan *s,
		     uint64_t from, bool *any)
{
	const struct daxmap_range rest = { from, UINT64_MAX / 2 };
	char root[64], comm[16], *text;
	size_t before = s->nmaps;
	int err = read_maps(pid, &text), rc;

	if (any)
		*any = true; /* unless read and found to map none of it */
	if (err == ENOENT || err == ESRCH)
		return 1; /* it ended meanwhile */
	if (err == ENOMEM)
		return daxmap_err(ENOMEM, "out of memory");
	if (err)
		return add_skip(s, pid, err);
	snprintf(root, sizeof(root), "/proc/%d/root", (int)pid);
	rc = foreign_scan_text(text, pid, "", root, t, ranges, nranges, s);
	if (rc == 0 && any) {
		struct foreign_scan all = { 0 };

		rc = foreign_scan_text(text, pid, "", root, t, &rest, 1, &all);
		/* this process's ledger-counted mappings hold nothing foreign */
		bool self = pid == getpid();

		*any = false;
		for (size_t i = 0; i < all.nmaps && !*any; i++)
			*any = !self || !dev_va_is_own(all.maps[i].start, all.maps[i].end);
		foreign_scan_free(&all);
	}
	free(text);
	if (rc == 0 && s->nmaps > before) {
		foreign_comm(pid, comm);
		for (size_t i = before; i < s->nmaps; i++)
			snprintf(s->maps[i].comm, sizeof(comm), "%s", comm);
	}
	return rc;
}

int foreign_each_pid(int (*fn)(pid_t pid, void *arg), void *arg)
{
	struct dirent *de;
	DIR *d;
	int rc = 0;

	if (!(d = opendir("/proc")))
		return daxmap_err(errno, "/proc: %s (the mappings of other processes are read there)",
				  strerror(errno));
	while (rc == 0 && (de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (!*end && pid > 0)
			rc = fn((pid_t)pid, arg);
	}
	closedir(d);
	return rc;
}

struct scan_args {
	const struct foreign_target *t;
	const struct daxmap_range *ranges;
	size_t nranges;
	struct foreign_scan *s;
};

static int scan_one(pid_t pid, void *arg)
{
	const struct scan_args *a = arg;
	int rc = foreign_scan_pid(pid, a->t, a->ranges, a->nranges, a->s, 0, NULL);

	return rc > 0 ? 0 : rc;
}

int foreign_scan(const struct foreign_target *t, const struct daxmap_range *ranges,
		 size_t nranges, struct foreign_scan *s)
{
	struct scan_args a = { t, ranges, nranges, s };
	int rc;

	memset(s, 0, sizeof(*s));
	if (!nranges)
		return 0;
	if ((rc = foreign_each_pid(scan_one, &a)))
		foreign_scan_free(s);
	return rc;
}

void foreign_scan_free(struct foreign_scan *s)
{
	free(s->maps);
	free(s->skips);
	memset(s, 0, sizeof(*s));
}
