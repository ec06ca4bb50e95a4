/* SPDX-License-Identifier: BSD-3-Clause */
/* pin_table.c -- read the per-kernel pin tables of doc/pins.md */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pin_table.h"

/* Split a table row "| a | b | c |" into trimmed cells; how many. */
static int cells(char *line, char *out[], int max)
{
	int n = 0;
	char *p = strchr(line, '|');

	while (p && n < max) {
		char *q = strchr(p + 1, '|'), *a = p + 1, *e;

		if (!q)
			break;
		*q = '\0';
		while (*a == ' ')
			a++;
		for (e = a + strlen(a); e > a && e[-1] == ' '; e--)
			;
		*e = '\0';
		out[n++] = a;
		p = q;
	}
	return n;
}

static FILE *open_table(void)
{
	FILE *f = fopen(PINS_MD, "re");

	if (!f)
		fprintf(stderr, "pin_table: cannot open %s\n", PINS_MD);
	return f;
}

const char *pin_table_cell(unsigned major, unsigned minor, const char *pin, const char *kind)
{
	static char cell[32];
	char line[512], want[64], *c[8], *hdr[8] = { 0 };
	int in = 0, nh = 0;
	FILE *f = open_table();
	const char *found = NULL;

	if (!f)
		return NULL;
	snprintf(want, sizeof(want), "### Linux %u.%u ", major, minor);
	while (!found && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "### ", 4) || !strncmp(line, "## ", 3)) {
			in = !strncmp(line, want, strlen(want));
			nh = 0;
			continue;
		}
		if (!in || line[0] != '|')
			continue;
		if (!nh) {
			static char hline[512];

			snprintf(hline, sizeof(hline), "%s", line);
			nh = cells(hline, hdr, 8);
			continue;
		}
		int n = cells(line, c, 8);

		if (n < 1 || strcmp(c[0], pin) != 0)
			continue;
		for (int i = 1; i < n && i < nh; i++)
			if (!strcmp(hdr[i], kind)) {
				snprintf(cell, sizeof(cell), "%s", c[i]);
				found = cell;
			}
	}
	fclose(f);
	return found;
}

int pin_table_kernels(char vers[][16], int max)
{
	char line[512];
	unsigned a, b;
	int n = 0;
	FILE *f = open_table();

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "### Linux %u.%u ", &a, &b) == 2 && n < max)
			snprintf(vers[n++], 16, "%u.%u", a, b);
	fclose(f);
	return n;
}
