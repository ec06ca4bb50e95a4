/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * daxmap_sqlite.h -- the "daxmap" SQLite VFS: every database, journal, WAL
 * and -shm file is a region of a libdaxmap pool (doc/sqlite.md).
 *
 *   cc app.c $(pkg-config --cflags --libs daxmap-sqlite)
 *   daxmap_sqlite_register(0);
 *   sqlite3_open_v2("file:main.db?device=/dev/dax0.0", &db,
 *                   SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI,
 *                   "daxmap");
 *
 * Or, without linking it, load the extension (daxmapvfs.so) once from any
 * connection: SELECT load_extension('daxmapvfs'); the VFS stays registered.
 *
 * The device: the URI parameter "device", else $DAXMAP_SQLITE_DEVICE; it
 * must hold a pool (daxmapctl format). An emulated device (a regular file)
 * takes its alignment from "align" or $DAXMAP_SQLITE_ALIGN (2M, 1G, ...;
 * default 2 MiB). "reserve" (or $DAXMAP_SQLITE_RESERVE) bounds the address
 * space each file may grow into (default: the device's size).
 */
#ifndef DAXMAP_SQLITE_H
#define DAXMAP_SQLITE_H

#ifdef __cplusplus
extern "C" {
#endif

/* The VFS's name, for sqlite3_open_v2() and "?vfs=". */
#define DAXMAP_SQLITE_VFS "daxmap"

/*
 * Register the VFS with the SQLite this program links (make_default:
 * as the default VFS too). Registering again is harmless. SQLITE_OK or an
 * SQLite error code.
 */
int daxmap_sqlite_register(int make_default);

#ifdef __cplusplus
}
#endif

#endif
