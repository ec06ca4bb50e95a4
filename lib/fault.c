/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * fault.c -- fault injection at pool metadata fences, for crash campaigns.
 * Built only with meson -Dfault_injection=true; other builds have neither
 * this file nor its call (persist.h).
 *
 * Every drain of pool metadata (persist_drain()) calls fault_fence() first.
 * It counts them, and at the one DAXMAP_FAULT_FENCE names it ends the
 * process or the machine there, with the metadata stores before that fence
 * made and the fence not yet issued:
 *
 *   DAXMAP_FAULT_FENCE=N     fire at the Nth metadata fence (N >= 1),
 *                            counted from the first one after the variable
 *                            is seen (it is read at every fence until it
 *                            is set, so a program may set it after its own
 *                            setup)
 *   DAXMAP_FAULT_ACTION=kill   (default) SIGKILL the process
 *                       stop   stop the process (SIGSTOP, again on every
 *                              SIGCONT), for a harness that then kills the
 *                              machine: tests/vm/run --kill-on-output
 *                       reset  reset the machine at once, without syncing
 *                              or unmounting: sysrq 'b' through
 *                              /proc/sysrq-trigger (root; it works whatever
 *                              kernel.sysrq says). If that write fails, the
 *                              process is killed instead.
 *
 * Each first writes one line to stderr (and, for reset, to the kernel log):
 *   daxmap: fault injection: metadata fence N, pid P: ACTION
 * An unknown action or a bad N is reported the same way and aborts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "persist.h"

enum { ARM_UNSEEN, ARM_SET };

static int armed = ARM_UNSEEN;
static unsigned long target;
static unsigned long fences;

static void say(int fd, const char *what, unsigned long n)
{
	char line[160];
	int len = snprintf(line, sizeof(line),
			   "daxmap: fault injection: metadata fence %lu, pid %d: %s\n", n,
			   (int)getpid(), what);

	if (len > 0)
		(void)!write(fd, line, (size_t)len < sizeof(line) ? (size_t)len : sizeof(line) - 1);
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static void fire(unsigned long n)
{
	const char *action = getenv("DAXMAP_FAULT_ACTION");

	if (!action || !*action || strcmp(action, "kill") == 0) {
		say(2, "kill", n);
		kill(getpid(), SIGKILL);
	} else if (strcmp(action, "stop") == 0) {
		say(2, "stop", n);
		for (;;)
			kill(getpid(), SIGSTOP);
	} else if (strcmp(action, "reset") == 0) {
		char kmsg[160];

		say(2, "reset", n);
		/* <2>: critical, so the console shows it whatever its loglevel */
		snprintf(kmsg, sizeof(kmsg),
			 "<2>daxmap: fault injection: metadata fence %lu, pid %d: reset\n", n,
			 (int)getpid());
		write_file("/dev/kmsg", kmsg);
		write_file("/proc/sysrq-trigger", "b");
		say(2, "the reset failed (not root?): kill", n);
		kill(getpid(), SIGKILL);
	} else {
		say(2, "DAXMAP_FAULT_ACTION is none of kill, stop, reset", n);
		abort();
	}
	/* SIGKILL is not delivered later than this */
	_exit(137);
}

void fault_fence(void)
{
	unsigned long n;

	if (__atomic_load_n(&armed, __ATOMIC_ACQUIRE) == ARM_UNSEEN) {
		const char *v = getenv("DAXMAP_FAULT_FENCE");
		char *end;

		if (!v || !*v)
			return;
		errno = 0;
		target = strtoul(v, &end, 10);
		if (*end || errno || target == 0 || v[0] == '-') {
			say(2, "DAXMAP_FAULT_FENCE is not a number from 1 up", 0);
			abort();
		}
		__atomic_store_n(&armed, ARM_SET, __ATOMIC_RELEASE);
	}
	n = __atomic_add_fetch(&fences, 1, __ATOMIC_ACQ_REL);
	if (n == target)
		fire(n);
}
