/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rdma_server.c -- expose a libdaxmap region to an RDMA peer.
 *
 *   rdma_server PATH REGION ADDR [PORT]
 *
 * Maps region REGION of the pool on PATH, registers it with the RDMA device
 * that owns the local address ADDR (daxmap_pin_rdma(): the MR is counted
 * as a pin on the region's extents), and listens on ADDR:PORT (rdma_cm,
 * port 7471 by default). A peer that connects gets the region's address,
 * length and rkey in the connection's private data; it writes with RDMA
 * WRITE and then sends MSG_PERSIST, and the server makes those bytes
 * durable and answers MSG_PERSISTED (rdma_client.c is such a peer).
 *
 * Removing the region (daxmapctl remove PATH REGION, in any process)
 * revokes the pin: the server deregisters the MR, so the peer's rkey stops
 * working at once, drops its mapping, tells the peer (MSG_REVOKED), and
 * exits once the peer has gone. The remove waits for the deregistration
 * and the unmapping, never longer: the extents are then freed, and no NIC
 * can write into their next owner's data. SIGINT or SIGTERM stops it too.
 *
 * Why a message to persist, and not the write alone: an RDMA WRITE's
 * completion at the peer only means the data reached this machine (with
 * DDIO, its CPU caches), not that it is durable. The server flushes the
 * range (daxmap_map_persist()) before it answers. On an RC queue pair a
 * SEND that follows WRITEs arrives after their data is placed, so the
 * flush covers what the peer wrote.
 *
 * One peer at a time, one request in flight: enough to show the pieces.
 *
 * Build: cc rdma_server.c $(pkg-config --cflags --libs daxmap) -lrdmacm -libverbs
 * Needs: RLIMIT_MEMLOCK of at least the region's size, or CAP_IPC_LOCK
 * (LimitMEMLOCK= in a systemd unit): the kernel charges the MR's pages.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include <daxmap.h>

#include "rdma_common.h"

#define RECV_DEPTH 4 /* receive slots; msgs[RECV_DEPTH] is the send slot */

struct server {
	/* the region */
	struct daxmap_dev *dev;
	struct daxmap_pool *pool;
	struct daxmap_map *map;
	struct daxmap_pin *pin; /* NULL once revoked */
	int revoke_fd;          /* the revoke callback wakes the loop here */
	int revoked;
	/* RDMA */
	struct rdma_event_channel *ec;
	struct rdma_cm_id *listen_id, *peer;
	struct ibv_pd *pd;
	struct ibv_comp_channel *cc;
	struct ibv_cq *cq;
	struct msg msgs[RECV_DEPTH + 1];
	struct ibv_mr *msgs_mr;
	int done;
};

/*
 * The revoke callback: a remove or shrink of the region, in any process,
 * wants its extents. It runs on a library thread, while the event loop may
 * be using the MR: it only wakes the loop, which owns the verbs objects and
 * does the unpinning (the remove waits for that, not for this call).
 */
static void on_revoke(struct daxmap_pin *pin, void *arg)
{
	struct server *s = arg;
	uint64_t one = 1;

	(void)pin;
	/* an eventfd write only fails on overflow, which one wake-up cannot cause */
	if (write(s->revoke_fd, &one, sizeof(one)) != sizeof(one))
		abort();
}

static int post_recv(struct server *s, uint32_t slot)
{
	struct ibv_sge sge = { (uintptr_t)&s->msgs[slot], sizeof(struct msg), s->msgs_mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = slot, .sg_list = &sge, .num_sge = 1 }, *bad;

	return ibv_post_recv(s->peer->qp, &wr, &bad);
}

static int send_msg(struct server *s, uint32_t op, uint32_t status, uint64_t off, uint64_t len)
{
	struct msg *m = &s->msgs[RECV_DEPTH];
	struct ibv_sge sge = { (uintptr_t)m, sizeof(*m), s->msgs_mr->lkey };
	struct ibv_send_wr wr = { .wr_id = RECV_DEPTH, .sg_list = &sge, .num_sge = 1,
				  .opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED }, *bad;

	m->op = htonl(op);
	m->status = htonl(status);
	m->offset = htobe64(off);
	m->len = htobe64(len);
	return ibv_post_send(s->peer->qp, &wr, &bad);
}

/* A peer asks for [off, off + len) to be made durable. */
static void handle_persist(struct server *s, uint64_t off, uint64_t len)
{
	uint32_t status = 0;

	if (s->revoked)
		status = ESTALE; /* the region is gone */
	else if (off > daxmap_map_len(s->map) || len > daxmap_map_len(s->map) - off)
		status = ERANGE;
	else
		daxmap_map_persist(s->map, (char *)daxmap_map_addr(s->map) + off, len);
	if (send_msg(s, MSG_PERSISTED, status, off, len))
		fprintf(stderr, "rdma_server: cannot answer the peer: %s\n", strerror(errno));
}

static void on_completions(struct server *s)
{
	struct ibv_cq *cq;
	struct ibv_wc wc;
	void *ctx;

	if (ibv_get_cq_event(s->cc, &cq, &ctx))
		return;
	ibv_ack_cq_events(cq, 1);
	ibv_req_notify_cq(cq, 0); /* before polling: nothing slips between */
	while (ibv_poll_cq(cq, 1, &wc) == 1) {
		const struct msg *m = &s->msgs[wc.wr_id];

		if (wc.status != IBV_WC_SUCCESS) {
			/* posted receives are flushed when the peer goes */
			if (wc.status != IBV_WC_WR_FLUSH_ERR)
				fprintf(stderr, "rdma_server: %s\n", ibv_wc_status_str(wc.status));
			continue;
		}
		if (wc.opcode != IBV_WC_RECV)
			continue; /* our answer went out */
		if (ntohl(m->op) == MSG_PERSIST)
			handle_persist(s, be64toh(m->offset), be64toh(m->len));
		if (s->peer && post_recv(s, (uint32_t)wc.wr_id))
			fprintf(stderr, "rdma_server: ibv_post_recv: %s\n", strerror(errno));
	}
}

/* A connection request: one peer at a time, and none once revoked. */
static void accept_peer(struct server *s, struct rdma_cm_id *id)
{
	struct ibv_qp_init_attr qa = {
		.send_cq = s->cq, .recv_cq = s->cq, .qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 4, .max_recv_wr = RECV_DEPTH, .max_send_sge = 1,
			 .max_recv_sge = 1 },
	};
	struct region_info info;
	struct rdma_conn_param cp = { .private_data = &info, .private_data_len = sizeof(info),
				      .responder_resources = 1, .initiator_depth = 1 };
	struct ibv_mr *mr;

	if (s->peer || s->revoked || rdma_create_qp(id, s->pd, &qa)) {
		rdma_reject(id, NULL, 0);
		rdma_destroy_id(id);
		return;
	}
	s->peer = id;
	for (uint32_t i = 0; i < RECV_DEPTH; i++)
		if (post_recv(s, i))
			goto fail;
	mr = daxmap_pin_mr(s->pin);
	info = (struct region_info){ htobe64((uintptr_t)daxmap_map_addr(s->map)),
				     htobe64(daxmap_map_len(s->map)), htonl(mr->rkey), 0 };
	if (rdma_accept(id, &cp) == 0)
		return;
fail:
	fprintf(stderr, "rdma_server: cannot accept a peer: %s\n", strerror(errno));
	rdma_destroy_qp(id);
	s->peer = NULL;
	rdma_reject(id, NULL, 0);
	rdma_destroy_id(id);
}

static void drop_peer(struct server *s)
{
	rdma_destroy_qp(s->peer);
	rdma_destroy_id(s->peer);
	s->peer = NULL;
	printf("peer gone\n");
	fflush(stdout);
	s->done = s->revoked; /* nothing left to serve */
}

static void on_cm_event(struct server *s)
{
	struct rdma_cm_event *ev;
	enum rdma_cm_event_type type;
	struct rdma_cm_id *id;

	if (rdma_get_cm_event(s->ec, &ev))
		return;
	type = ev->event;
	id = ev->id;
	/* ack first: rdma_destroy_id() waits for the events of its id */
	rdma_ack_cm_event(ev);
	switch (type) {
	case RDMA_CM_EVENT_CONNECT_REQUEST:
		accept_peer(s, id);
		break;
	case RDMA_CM_EVENT_ESTABLISHED:
		printf("peer connected\n");
		fflush(stdout);
		break;
	case RDMA_CM_EVENT_DISCONNECTED:
		rdma_disconnect(id);
		/* fall through */
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_REJECTED:
		if (id == s->peer)
			drop_peer(s);
		break;
	default:
		break;
	}
}

/*
 * The region is being removed: the NIC lets go first (daxmap_unpin()
 * deregisters the MR: the peer's rkey is dead from here on), then the
 * mapping goes. The remove, waiting in another process, returns once both
 * references are dropped.
 */
static void on_revoked(struct server *s)
{
	uint64_t n;

	if (read(s->revoke_fd, &n, sizeof(n)) != sizeof(n) || s->revoked)
		return;
	s->revoked = 1;
	if (daxmap_unpin(&s->pin) < 0)
		fprintf(stderr, "rdma_server: %s\n", daxmap_errormsg());
	daxmap_map_delete(&s->map);
	printf("region revoked: MR deregistered, mapping dropped\n");
	fflush(stdout);
	if (s->peer && send_msg(s, MSG_REVOKED, 0, 0, 0) == 0)
		return; /* serve on until the peer leaves */
	s->done = 1;
}

/* Listen on addr:port of the RDMA device that owns addr. */
static int listen_on(struct server *s, const char *addr, const char *port)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE, .ai_socktype = SOCK_STREAM }, *ai;
	int rc;

	if ((rc = getaddrinfo(addr, port, &hints, &ai))) {
		fprintf(stderr, "rdma_server: %s: %s\n", addr, gai_strerror(rc));
		return -1;
	}
	rc = rdma_bind_addr(s->listen_id, ai->ai_addr);
	freeaddrinfo(ai);
	if (rc || rdma_listen(s->listen_id, 1)) {
		fprintf(stderr, "rdma_server: listen on %s:%s: %s\n", addr, port, strerror(errno));
		return -1;
	}
	/* bound to a device's address, the id knows the device */
	if (!s->listen_id->verbs) {
		fprintf(stderr, "rdma_server: %s is not the address of an RDMA device\n", addr);
		return -1;
	}
	return 0;
}

static int setup(struct server *s, char **argv)
{
	const char *path = argv[1], *region = argv[2], *addr = argv[3];
	const char *port = argv[4] ? argv[4] : RDMA_DEFAULT_PORT;
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;

	if (daxmap_dev_open(&s->dev, path, 0, 0) < 0 || daxmap_pool_open(&s->pool, s->dev, 0) < 0 ||
	    daxmap_region_map(&s->map, s->pool, region, 0) < 0) {
		fprintf(stderr, "rdma_server: %s\n", daxmap_errormsg());
		return -1;
	}
	if ((s->revoke_fd = eventfd(0, EFD_CLOEXEC)) < 0 ||
	    !(s->ec = rdma_create_event_channel()) ||
	    rdma_create_id(s->ec, &s->listen_id, NULL, RDMA_PS_TCP)) {
		perror("rdma_server");
		return -1;
	}
	if (listen_on(s, addr, port) < 0)
		return -1;
	if (!(s->pd = ibv_alloc_pd(s->listen_id->verbs)) ||
	    !(s->cc = ibv_create_comp_channel(s->listen_id->verbs)) ||
	    !(s->cq = ibv_create_cq(s->listen_id->verbs, 2 * RECV_DEPTH + 4, NULL, s->cc, 0)) ||
	    ibv_req_notify_cq(s->cq, 0) ||
	    !(s->msgs_mr = ibv_reg_mr(s->pd, s->msgs, sizeof(s->msgs), IBV_ACCESS_LOCAL_WRITE))) {
		perror("rdma_server: verbs");
		return -1;
	}
	/*
	 * The whole region, as one MR the NIC may write and read. It counts as
	 * a pin: a remove of the region waits for it, and asks for it back
	 * through on_revoke(). fsdax or an emulated device is refused here,
	 * naming the kernel's rule, before ibv_reg_mr() is tried.
	 */
	if (daxmap_pin_rdma(&s->pin, s->map, 0, daxmap_map_len(s->map), s->pd, access, on_revoke,
			    s) < 0) {
		fprintf(stderr, "rdma_server: %s\n", daxmap_errormsg());
		return -1;
	}
	printf("serving region '%s' (%" PRIu64 " bytes, rkey 0x%x) on %s:%s\n", region,
	       daxmap_map_len(s->map), daxmap_pin_mr(s->pin)->rkey, addr, port);
	fflush(stdout);
	return 0;
}

static void teardown(struct server *s)
{
	if (s->peer)
		drop_peer(s);
	/* the MR goes before the mapping under it */
	daxmap_unpin(&s->pin);
	daxmap_map_delete(&s->map);
	if (s->msgs_mr)
		ibv_dereg_mr(s->msgs_mr);
	if (s->cq)
		ibv_destroy_cq(s->cq);
	if (s->cc)
		ibv_destroy_comp_channel(s->cc);
	if (s->pd)
		ibv_dealloc_pd(s->pd);
	if (s->listen_id)
		rdma_destroy_id(s->listen_id);
	if (s->ec)
		rdma_destroy_event_channel(s->ec);
	if (s->revoke_fd >= 0)
		close(s->revoke_fd);
	daxmap_pool_close(s->pool);
	daxmap_dev_close(s->dev);
}

int main(int argc, char **argv)
{
	static struct server s = { .revoke_fd = -1 };
	sigset_t stop;
	int sfd, rc = 1;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: rdma_server PATH REGION ADDR [PORT]\n");
		return 2;
	}
	/* SIGINT/SIGTERM come through the loop too, so that it cleans up */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &stop, NULL) || (sfd = signalfd(-1, &stop, SFD_CLOEXEC)) < 0) {
		perror("rdma_server: signalfd");
		return 1;
	}
	if (setup(&s, argv) == 0) {
		while (!s.done) {
			struct pollfd p[] = { { s.ec->fd, POLLIN, 0 }, { s.cc->fd, POLLIN, 0 },
					      { s.revoke_fd, POLLIN, 0 }, { sfd, POLLIN, 0 } };

			if (poll(p, 4, -1) < 0 && errno != EINTR)
				break;
			if (p[0].revents)
				on_cm_event(&s);
			if (p[1].revents)
				on_completions(&s);
			if (p[2].revents)
				on_revoked(&s);
			if (p[3].revents)
				s.done = 1; /* asked to stop */
		}
		rc = s.done ? 0 : 1;
	}
	teardown(&s);
	close(sfd);
	return rc;
}
