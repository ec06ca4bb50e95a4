/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * foreign.h -- processes that map a device's byte ranges, found in
 * /proc/PID/maps the way the kernel shows them: the file's device and
 * inode and the page offset of each mapping. It knows nothing of pools or
 * references: the layers above say which byte ranges, and which of the
 * mappings found are their own.
 */
#ifndef DAXMAP_FOREIGN_H
#define DAXMAP_FOREIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daxmap.h"

/* How the kernel names the mapped file: st_dev and st_ino of the inode
 * opened (show_map_vma() prints inode->i_sb->s_dev and i_ino), and for a
 * character device its rdev, so another node of the same device counts. */
struct foreign_target {
	uint64_t dev;   /* makedev() of the file's filesystem */
	uint64_t ino;
	uint64_t rdev;  /* devdax: the character device; 0 otherwise */
};

/* The target of an open device (its path for one opened query-only). */
int foreign_target_of(const struct daxmap_dev *dev, struct foreign_target *t);

/* One line of /proc/PID/maps. path points into the line ("" if none). */
struct maps_line {
	uint64_t start, end;  /* virtual addresses [start, end) */
	uint64_t off;         /* file offset of start, bytes */
	unsigned major, minor;
	uint64_t ino;
	char perms[5];
	const char *path;
};

/* Parse one line (no newline needed). 0, or -EINVAL for a line that is
 * not a mapping line. */
int maps_parse_line(const char *line, struct maps_line *out);

/* A mapping of the target's ranges by some process. */
struct foreign_map {
	pid_t pid;
	char comm[16];
	uint64_t start, end;  /* its virtual addresses */
	uint64_t off;         /* device offset of start */
};

/* A process whose mappings could not be read. */
struct foreign_skip {
	pid_t pid;
	int err;              /* errno: EACCES without ptrace read access */
	char comm[16];
};

struct foreign_scan {
	struct foreign_map *maps;
	size_t nmaps;
	struct foreign_skip *skips;
	size_t nskips;
};

/*
 * Every process's mappings of the target that overlap the device byte
 * ranges (sorted by offset), into s (foreign_scan_free() it). Processes
 * that ended meanwhile are skipped silently; those whose maps cannot be
 * read are listed in s->skips. 0 or -errno (/proc unreadable, no memory).
 */
int foreign_scan(const struct foreign_target *t, const struct daxmap_range *ranges,
		 size_t nranges, struct foreign_scan *s);
/*
 * The same over one process's maps text (as /proc/PID/maps reads), with
 * root the path prefix under which its paths are looked up (for another
 * node of a character device; NULL: as they are). Appends to s.
 */
int foreign_scan_text(const char *text, pid_t pid, const char *comm, const char *root,
		      const struct foreign_target *t, const struct daxmap_range *ranges,
		      size_t nranges, struct foreign_scan *s);
void foreign_scan_free(struct foreign_scan *s);
/* fn for each process in /proc, until it returns non-zero (returned). */
int foreign_each_pid(int (*fn)(pid_t pid, void *arg), void *arg);
/*
 * One process's part of foreign_scan(), appended to s: 0, 1 when the
 * process is gone, -errno. *any (may be NULL): it maps the target at
 * offset from or beyond, in the ranges or not (this process: outside its
 * ledger-counted mappings, dev_va_own()), or its maps could not be read.
 */
int foreign_scan_pid(pid_t pid, const struct foreign_target *t,
		     const struct daxmap_range *ranges, size_t nranges, struct foreign_scan *s,
		     uint64_t from, bool *any);
/*
 * foreign_scan() of dev for a release, reading only the processes that
 * can have come to map dev since the last full scan of this process
 * (foreign_watch.c says which); a full scan when that cannot be known.
 * Mappings below offset from (a pool's metadata, which every process using
 * the pool maps) do not make a process one to read each time.
 */
int foreign_scan_quick(const struct daxmap_dev *dev, uint64_t from,
		       const struct daxmap_range *ranges, size_t nranges, struct foreign_scan *s);

/* How many times a release read this process's own maps (for tests). */
uint64_t foreign_self_looks(void);

/* The command name of pid ("?" when unreadable), from /proc/PID/comm. */
void foreign_comm(pid_t pid, char comm[16]);

#endif
