/* SPDX-License-Identifier: BSD-3-Clause */
/* child.c -- a holder in another process, scripted by the test (child.h) */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "helpers.h"

/* A command as it travels: child_cmd without the pointer to the name. */
struct wire {
	enum child_op op;
	unsigned delay_ms;
	uint64_t off, len;
	int revocable;
	child_run_fn run;  /* valid in the child: the same program image */
	long arg;
	char region[64];
};

static const char *const op_names[] = {
	[CHILD_MAP] = "map", [CHILD_PIN] = "pin", [CHILD_VERIFY] = "verify",
	[CHILD_UNPIN] = "unpin", [CHILD_UNMAP] = "unmap", [CHILD_DROP] = "drop",
	[CHILD_WAIT_REVOKE] = "wait-revoke", [CHILD_STATUS] = "status", [CHILD_RUN] = "run",
	[CHILD_QUIT] = "quit",
};

static const char *op_name(enum child_op op)
{
	return op > 0 && op <= CHILD_QUIT ? op_names[op] : "?";
}

void child_pattern(char out[64], pid_t pid, uint64_t index)
{
	memset(out, 0, 64);
	snprintf(out, 64, "written by pid %d into extent %llu", (int)pid,
		 (unsigned long long)index);
}

uint64_t child_spot(uint64_t es, uint64_t index, int which)
{
	return index * es + (which ? es / 2 : 0);
}

void child_unpin_arg(struct daxmap_pin *pin, void *arg)
{
	(void)pin;
	daxmap_unpin(arg);
}

/* ---- the child's side ------------------------------------------------------ */

/* Only ever used in the child. */
static struct {
	struct child_env env;
	child_pin_fn pin_with;
	struct daxmap_pin *pin;
	int cb_pipe[2];
	pid_t cb_pid, cb_tid;
	int cb_calls, cb_unpin_rc;
} kid;

static pid_t my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* Runs on a library thread of the child: stop using the memory, unpin,
 * say so. */
static void kid_revoke(struct daxmap_pin *pin, void *arg)
{
	(void)arg;
	kid.cb_pid = getpid();
	kid.cb_tid = my_tid();
	__atomic_add_fetch(&kid.cb_calls, 1, __ATOMIC_SEQ_CST);
	kid.cb_unpin_rc = pin == kid.pin ? daxmap_unpin(&kid.pin) : -EINVAL;
	if (write(kid.cb_pipe[1], "r", 1) != 1)
		_exit(9);
}

static int kid_fail(struct child_reply *m, int rc, const char *what)
{
	m->rc = rc ? rc : -EIO;
	snprintf(m->text, sizeof(m->text), "child %d: %s: %s", (int)getpid(), what,
		 daxmap_errormsg());
	return m->rc;
}

static void kid_reply(int fd, struct child_reply *m)
{
	m->pid = getpid();
	m->main_tid = my_tid();
	m->cb_pid = kid.cb_pid;
	m->cb_tid = kid.cb_tid;
	m->cb_calls = __atomic_load_n(&kid.cb_calls, __ATOMIC_SEQ_CST);
	m->cb_unpin_rc = kid.cb_unpin_rc;
	if (write(fd, m, sizeof(*m)) != (ssize_t)sizeof(*m))
		_exit(8);
}

static void kid_map(struct child_reply *m, const char *region)
{
	struct child_env *e = &kid.env;
	char *a;
	int rc;

	if (e->map) {
		m->rc = -EBUSY;
		snprintf(m->text, sizeof(m->text), "child %d: already mapped", (int)getpid());
		return;
	}
	if ((rc = daxmap_region_map(&e->map, e->pool, region, 0))) {
		kid_fail(m, rc, "daxmap_region_map");
		return;
	}
	a = daxmap_map_addr(e->map);
	for (uint64_t i = 0; i < daxmap_map_len(e->map) / e->es; i++)
		for (int w = 0; w < 2; w++) {
			char p[64];

			child_pattern(p, getpid(), i);
			daxmap_map_memcpy(e->map, a + child_spot(e->es, i, w), p, sizeof(p), 0);
		}
}

static void kid_verify(struct child_reply *m)
{
	const char *a = daxmap_map_addr(kid.env.map);
	uint64_t es = kid.env.es;
	char want[64];

	for (uint64_t i = 0; i < daxmap_map_len(kid.env.map) / es; i++)
		for (int w = 0; w < 2; w++) {
			child_pattern(want, getpid(), i);
			if (memcmp(a + child_spot(es, i, w), want, sizeof(want)) != 0) {
				m->rc = -EIO;
				snprintf(m->text, sizeof(m->text),
					 "child %d: extent %llu holds \"%.63s\", not \"%s\"",
					 (int)getpid(), (unsigned long long)i,
					 a + child_spot(es, i, w), want);
				return;
			}
		}
}

static void kid_wait_revoke(struct child_reply *m)
{
	struct pollfd pf = { .fd = kid.cb_pipe[0], .events = POLLIN };
	char r;

	if (poll(&pf, 1, CHILD_REVOKE_WAIT_MS) != 1 || read(kid.cb_pipe[0], &r, 1) != 1) {
		m->rc = -ETIMEDOUT;
		snprintf(m->text, sizeof(m->text), "child %d: no revoke callback within %d s",
			 (int)getpid(), CHILD_REVOKE_WAIT_MS / 1000);
	}
}

/* One command; CHILD_QUIT does not come back. */
static void kid_step(const struct wire *w, struct child_reply *m)
{
	struct child_env *e = &kid.env;
	int rc;

	if (!e->map && (w->op == CHILD_PIN || w->op == CHILD_VERIFY)) {
		m->rc = -EINVAL;
		snprintf(m->text, sizeof(m->text), "child %d: %s: nothing mapped", (int)getpid(),
			 op_name(w->op));
		return;
	}
	switch (w->op) {
	case CHILD_MAP:
		kid_map(m, w->region);
		break;
	case CHILD_PIN:
		if ((rc = kid.pin_with(&kid.pin, e->map, w->off, w->len,
				       w->revocable ? kid_revoke : NULL, NULL)))
			kid_fail(m, rc, "pin");
		break;
	case CHILD_VERIFY:
		kid_verify(m);
		break;
	case CHILD_UNPIN:
		if ((rc = daxmap_unpin(&kid.pin)))
			kid_fail(m, rc, "daxmap_unpin");
		break;
	case CHILD_DROP:
		if ((rc = daxmap_unpin(&kid.pin))) {
			kid_fail(m, rc, "daxmap_unpin");
			break;
		}
		/* fall through */
	case CHILD_UNMAP:
		if ((rc = daxmap_map_delete(&e->map)))
			kid_fail(m, rc, "daxmap_map_delete");
		break;
	case CHILD_WAIT_REVOKE:
		kid_wait_revoke(m);
		break;
	case CHILD_STATUS:
		break;
	case CHILD_RUN:
		if ((m->rc = w->run(e, w->arg, m->text, sizeof(m->text))) && !m->text[0])
			snprintf(m->text, sizeof(m->text), "child %d: run: %d", (int)getpid(), m->rc);
		break;
	case CHILD_QUIT:
		/* an orderly end: what is still held is given back */
		if (daxmap_unpin(&kid.pin) || daxmap_map_delete(&e->map)) {
			fprintf(stderr, "child %d: quit: %s\n", (int)getpid(), daxmap_errormsg());
			_exit(4);
		}
		daxmap_pool_close(e->pool);
		daxmap_dev_close(e->dev);
		_exit(0);
	default:
		m->rc = -EINVAL;
		snprintf(m->text, sizeof(m->text), "child %d: unknown command %d", (int)getpid(),
			 (int)w->op);
	}
}

static _Noreturn void kid_main(const struct child_spec *spec, pid_t parent, int cmd, int rep)
{
	struct child_env *e = &kid.env;
	struct daxmap_pool_stat st;
	struct child_reply m;
	struct wire w;
	int rc;

	/* the test's worker gone (a failed assertion, a timeout): go too */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
		_exit(5);
	if (pipe(kid.cb_pipe) != 0)
		_exit(7);
	kid.pin_with = spec->pin ? spec->pin : daxmap_pin_external;
	e->path = spec->path;
	memset(&m, 0, sizeof(m));
	if ((rc = daxmap_dev_open(&e->dev, e->path, 0, 0)))
		kid_fail(&m, rc, "daxmap_dev_open");
	else if ((rc = daxmap_pool_open(&e->pool, e->dev, 0)))
		kid_fail(&m, rc, "daxmap_pool_open");
	else if ((rc = daxmap_pool_stat(e->pool, &st)))
		kid_fail(&m, rc, "daxmap_pool_stat");
	else
		e->es = st.extent_size;
	m.t_ns = now_ns();
	kid_reply(rep, &m);
	if (m.rc)
		_exit(2);
	while (read(cmd, &w, sizeof(w)) == (ssize_t)sizeof(w)) {
		memset(&m, 0, sizeof(m));
		if (w.delay_ms)
			usleep(w.delay_ms * 1000);
		m.t_ns = now_ns();
		kid_step(&w, &m);
		kid_reply(rep, &m);
	}
	_exit(3); /* the test went away */
}

/* ---- the test's side ------------------------------------------------------- */

struct child child_spawn(const struct child_spec *spec)
{
	int down[2], up[2];
	pid_t parent = getpid();
	struct child c;

	/* a write to a dead child's pipe fails the test, not kills it */
	signal(SIGPIPE, SIG_IGN);
	cr_assert_eq(pipe2(down, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(up, O_CLOEXEC), 0);
	fflush(NULL);
	c.pid = fork();
	cr_assert_geq(c.pid, 0);
	if (c.pid == 0) {
		close(down[1]);
		close(up[0]);
		kid_main(spec, parent, down[0], up[1]);
	}
	close(down[0]);
	close(up[1]);
	c.cmd = down[1];
	c.rep = up[0];
	return c;
}

struct child child_start(const struct child_spec *spec)
{
	struct child c = child_spawn(spec);
	struct child_reply m = child_read(&c);

	cr_assert_eq(m.rc, 0, "%s", m.text);
	return c;
}

struct child child_mapping(const char *path, const char *region)
{
	struct child c = child_start(&(struct child_spec){ .path = path });

	child_do(&c, CHILD(.op = CHILD_MAP, .region = region));
	return c;
}

void child_send(struct child *c, const struct child_cmd *cmd)
{
	struct wire w;

	memset(&w, 0, sizeof(w));
	w.op = cmd->op;
	w.delay_ms = cmd->delay_ms;
	w.off = cmd->off;
	w.len = cmd->len;
	w.revocable = cmd->revocable;
	w.run = cmd->run;
	w.arg = cmd->arg;
	if (cmd->region) {
		cr_assert_lt(strlen(cmd->region), sizeof(w.region), "region name too long");
		strcpy(w.region, cmd->region);
	}
	cr_assert_eq(write(c->cmd, &w, sizeof(w)), (ssize_t)sizeof(w), "child %d, %s: %s",
		     (int)c->pid, op_name(cmd->op), strerror(errno));
}

/* Wait for the child's end, at most CHILD_TIMEOUT_MS; its status. */
static int reap(struct child *c)
{
	int st = 0;

	for (int ms = 0;; ms++) {
		pid_t r = waitpid(c->pid, &st, WNOHANG);

		cr_assert_geq(r, 0, "waitpid(%d): %s", (int)c->pid, strerror(errno));
		if (r == c->pid)
			break;
		if (ms >= CHILD_TIMEOUT_MS) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, NULL, 0);
			cr_assert_fail("child %d did not end within %d s", (int)c->pid,
				       CHILD_TIMEOUT_MS / 1000);
		}
		usleep(1000);
	}
	close(c->cmd);
	close(c->rep);
	return st;
}

struct child_reply child_read(struct child *c)
{
	struct pollfd pf = { .fd = c->rep, .events = POLLIN };
	struct child_reply m;
	ssize_t n;

	cr_assert_eq(poll(&pf, 1, CHILD_TIMEOUT_MS), 1, "child %d did not answer within %d s",
		     (int)c->pid, CHILD_TIMEOUT_MS / 1000);
	n = read(c->rep, &m, sizeof(m));
	if (n != (ssize_t)sizeof(m)) {
		int st = reap(c);

		cr_assert_fail("child %d ended without an answer (status %#x)", (int)c->pid, st);
	}
	return m;
}

struct child_reply child_try(struct child *c, const struct child_cmd *cmd)
{
	child_send(c, cmd);
	return child_read(c);
}

struct child_reply child_do(struct child *c, const struct child_cmd *cmd)
{
	struct child_reply m = child_try(c, cmd);

	cr_assert_eq(m.rc, 0, "child %d, %s: %s", (int)c->pid, op_name(cmd->op), m.text);
	return m;
}

void child_finish(struct child *c)
{
	pid_t pid = c->pid;
	int st;

	child_send(c, CHILD(.op = CHILD_QUIT));
	st = reap(c);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d ended with status %#x",
		  (int)pid, st);
}

void child_kill(struct child *c)
{
	pid_t pid = c->pid;
	int st;

	cr_assert_eq(kill(pid, SIGKILL), 0, "kill(%d): %s", (int)pid, strerror(errno));
	st = reap(c);
	if (WIFEXITED(st))
		cr_assert_fail("child %d exited with %d before the kill", (int)pid, WEXITSTATUS(st));
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child %d: status %#x", (int)pid, st);
}
