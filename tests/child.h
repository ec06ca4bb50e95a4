/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * child.h -- a holder in another process, scripted by the test.
 *
 * A child is fork()ed and opens the device and the pool itself (region
 * mappings are MADV_DONTFORK and a pool handle is its process's own). The
 * test sends it commands over one pipe and reads one reply per command from
 * another; every read has a timeout, so a stuck child fails the test instead
 * of hanging it. A child whose command pipe reaches EOF (the test is gone)
 * exits, and so does one whose parent dies (PR_SET_PDEATHSIG).
 *
 * Host tests (emulated devices) and rig tests (real devices) share it.
 */
#ifndef DAXMAP_TEST_CHILD_H
#define DAXMAP_TEST_CHILD_H

#include <stdint.h>
#include <sys/types.h>

#include <daxmap.h>

/* Long enough for the rig (TCG) to open a pool and map a 1 GiB device. */
#define CHILD_TIMEOUT_MS 60000
/* How long CHILD_WAIT_REVOKE waits for the revoke callback. */
#define CHILD_REVOKE_WAIT_MS 20000

/* What the child has open, for a CHILD_RUN function. */
struct child_env {
	const char *path;
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	uint64_t es;              /* the pool's extent size */
	struct daxmap_map *map;   /* CHILD_MAP's mapping, or NULL */
};

/* Runs in the child (the same program image, after fork()): no cr_assert
 * there. Returns 0 or -errno, which becomes the reply's rc; it may write
 * the reason into text (the reply's). A function that never returns is
 * ended with child_kill(). */
typedef int (*child_run_fn)(struct child_env *env, long arg, char *text, size_t size);

/* How the child pins: daxmap_pin_external() unless the test gives its own
 * (an RDMA pin with the child's own verbs context, say). Runs in the child. */
typedef int (*child_pin_fn)(struct daxmap_pin **pinp, struct daxmap_map *map, uint64_t off,
			    uint64_t len, daxmap_revoke_fn revoke, void *arg);

struct child_spec {
	const char *path;         /* the device (or fsdax file) of the pool */
	child_pin_fn pin;         /* NULL: daxmap_pin_external() */
};

enum child_op {
	CHILD_MAP = 1,    /* map .region, write child_pattern() into each extent */
	CHILD_PIN,        /* pin [.off, .off + .len) of the mapping (.revocable) */
	CHILD_VERIFY,     /* the pattern is still there, seen through the mapping */
	CHILD_UNPIN,
	CHILD_UNMAP,
	CHILD_DROP,       /* unpin (if pinned), then unmap */
	CHILD_WAIT_REVOKE,/* wait for the revoke callback (CHILD_REVOKE_WAIT_MS) */
	CHILD_STATUS,     /* nothing: the reply's revoke fields are what is asked */
	CHILD_RUN,        /* .run(env, .arg) */
	CHILD_QUIT,       /* unpin, unmap, close, exit(0) */
};

struct child_cmd {
	enum child_op op;
	unsigned delay_ms;        /* sleep this long first */
	const char *region;       /* CHILD_MAP */
	uint64_t off, len;        /* CHILD_PIN */
	int revocable;            /* CHILD_PIN: the callback unpins and reports */
	child_run_fn run;         /* CHILD_RUN */
	long arg;
};

/* The reply to every command. Far below PIPE_BUF: written at once. */
struct child_reply {
	int rc;                   /* of the step: 0 or -errno */
	int64_t t_ns;             /* CLOCK_MONOTONIC (system-wide) just before the step */
	pid_t pid;                /* the child */
	pid_t main_tid;           /* its thread that obeys the commands */
	/* the revoke callback so far */
	int cb_calls;
	pid_t cb_pid, cb_tid;     /* where it ran (last time) */
	int cb_unpin_rc;          /* its daxmap_unpin() of the child's pin */
	char text[1024];          /* what went wrong (daxmap_errormsg() or more) */
};

struct child {
	pid_t pid;
	int cmd;                  /* the test writes commands here */
	int rep;                  /* and reads replies here */
};

/* A command for child_send/try/do: child_do(&c, CHILD(.op = CHILD_UNMAP)). */
#define CHILD(...) (&(struct child_cmd){ __VA_ARGS__ })

/* Fork the child; its first reply (read it with child_read()) says whether
 * it opened the pool. child_start() waits for it and asserts it did. */
struct child child_spawn(const struct child_spec *spec);
struct child child_start(const struct child_spec *spec);
/* child_start() on path, then CHILD_MAP of region: the usual holder. */
struct child child_mapping(const char *path, const char *region);

void child_send(struct child *c, const struct child_cmd *cmd);
/* The next reply; fails the test if none comes within CHILD_TIMEOUT_MS or
 * the child died. */
struct child_reply child_read(struct child *c);
/* Send and read, whatever the outcome. */
struct child_reply child_try(struct child *c, const struct child_cmd *cmd);
/* Send, read and assert success. */
struct child_reply child_do(struct child *c, const struct child_cmd *cmd);

/* CHILD_QUIT, then reap: it must exit with 0. */
void child_finish(struct child *c);
/* SIGKILL and reap: it must die of the signal (it was alive). */
void child_kill(struct child *c);

/* A revoke callback that unpins *arg (a struct daxmap_pin **), for a
 * CHILD_RUN loop's revocable pins. */
void child_unpin_arg(struct daxmap_pin *pin, void *arg);

/* What a child writes into extent index of its mapping, at two spots. */
void child_pattern(char out[64], pid_t pid, uint64_t index);
/* The spots: the extent's start (which 0) and its middle (which 1). */
uint64_t child_spot(uint64_t es, uint64_t index, int which);

#endif
