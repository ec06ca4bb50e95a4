/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * pin_table.h -- the tables of doc/pins.md ("The rules per kernel"), read
 * by the tests that check the library and daxmapctl pin-check against them.
 */
#ifndef DAXMAP_TEST_PIN_TABLE_H
#define DAXMAP_TEST_PIN_TABLE_H

/* doc/pins.md, copied into the build dir (the rig sees only that) */
#ifndef PINS_MD
#define PINS_MD "pins.md"
#endif

/*
 * The cell of row pin ("rdma", "io_uring over 1 GiB", ...) and column kind
 * ("devdax", "fsdax", "file") of the table for Linux major.minor:
 * "allowed", "refused" or "kernel". NULL when there is no such table, row
 * or column. The string is static.
 */
const char *pin_table_cell(unsigned major, unsigned minor, const char *pin, const char *kind);

/* The kernels with a table, as "6.1" ... into vers (up to max); how many. */
int pin_table_kernels(char vers[][16], int max);

#endif
