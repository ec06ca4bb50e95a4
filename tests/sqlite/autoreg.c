/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * autoreg.c -- linked into SQLite's own test programs (speedtest1, mptest),
 * built at test time from the system SQLite's source: they find a VFS by
 * name only (--vfs daxmap), so the VFS is registered before main().
 */
#include <stdio.h>
#include <stdlib.h>

#include <daxmap_sqlite.h>

__attribute__((constructor)) static void register_daxmap_vfs(void)
{
	if (daxmap_sqlite_register(0) != 0) {
		fprintf(stderr, "cannot register the daxmap VFS\n");
		exit(1);
	}
}
