/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rdma_client.c -- the peer of rdma_server.c: write into a remote
 * libdaxmap region, and have it made durable.
 *
 *   rdma_client [--wait-revoke] ADDR PORT OFFSET TEXT
 *
 * Connects to the server at ADDR:PORT (rdma_cm), which hands out its
 * region's address, length and rkey. Writes TEXT at OFFSET of the region
 * with an RDMA WRITE, asks the server to make it durable (MSG_PERSIST; the
 * write's own completion only says the bytes reached the server), reads
 * them back with an RDMA READ, and prints "persisted N bytes at OFFSET".
 *
 * --wait-revoke: then wait until the server says the region was revoked
 * (MSG_REVOKED: it is being removed), and write once more with the old
 * rkey: that must fail (the MR is gone), which is printed; exit 0 if it
 * did fail.
 *
 * No verbs call here waits forever: each completion is polled for with a
 * deadline, so a dead server shows up as an error.
 *
 * Build: cc rdma_client.c -lrdmacm -libverbs (libdaxmap is the server's)
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "rdma_common.h"

#define TIMEOUT_MS 30000
#define MAX_TEXT 4096

struct client {
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *send_cq, *recv_cq;
	struct ibv_mr *mr;
	struct region_info remote; /* host byte order */
	struct {
		char text[MAX_TEXT];
		char back[MAX_TEXT];
		struct msg req, resp[2];
	} buf;
};

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The next completion of cq, within timeout_ms: 0 with *wc, or -1. */
static int wait_wc(struct ibv_cq *cq, struct ibv_wc *wc, const char *what, int64_t timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	int n;

	while ((n = ibv_poll_cq(cq, 1, wc)) == 0 && now_ms() < end)
		usleep(100);
	if (n == 1)
		return 0;
	fprintf(stderr, "rdma_client: no completion for %s\n", what);
	return -1;
}

/* The next rdma_cm event, which must be want; copies the private data of
 * an ESTABLISHED event into c->remote. */
static int wait_event(struct client *c, enum rdma_cm_event_type want)
{
	struct rdma_cm_event *ev;
	int ok;

	if (rdma_get_cm_event(c->ec, &ev)) {
		perror("rdma_client: rdma_get_cm_event");
		return -1;
	}
	ok = ev->event == want && ev->status == 0;
	if (ok && want == RDMA_CM_EVENT_ESTABLISHED) {
		struct region_info r;

		ok = ev->param.conn.private_data_len >= sizeof(r);
		if (ok) {
			memcpy(&r, ev->param.conn.private_data, sizeof(r));
			c->remote = (struct region_info){ be64toh(r.addr), be64toh(r.len),
							  ntohl(r.rkey), 0 };
		}
	}
	if (!ok)
		fprintf(stderr, "rdma_client: %s (status %d) where %s was expected\n",
			rdma_event_str(ev->event), ev->status, rdma_event_str(want));
	rdma_ack_cm_event(ev);
	return ok ? 0 : -1;
}

static int post_recv(struct client *c, int slot)
{
	struct ibv_sge sge = { (uintptr_t)&c->buf.resp[slot], sizeof(struct msg), c->mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = (uint64_t)slot, .sg_list = &sge, .num_sge = 1 }, *bad;

	return ibv_post_recv(c->id->qp, &wr, &bad);
}

/* One signaled work request on the send queue; its completion status. */
static enum ibv_wc_status post_wait(struct client *c, struct ibv_send_wr *wr, const char *what)
{
	struct ibv_send_wr *bad;
	struct ibv_wc wc;

	wr->send_flags = IBV_SEND_SIGNALED;
	if (ibv_post_send(c->id->qp, wr, &bad)) {
		fprintf(stderr, "rdma_client: %s: %s\n", what, strerror(errno));
		return IBV_WC_GENERAL_ERR;
	}
	return wait_wc(c->send_cq, &wc, what, TIMEOUT_MS) ? IBV_WC_GENERAL_ERR : wc.status;
}

/* RDMA WRITE (or READ) of len bytes between local and the region at off. */
static enum ibv_wc_status rdma_op(struct client *c, enum ibv_wr_opcode op, void *local,
				  uint64_t off, uint32_t len)
{
	struct ibv_sge sge = { (uintptr_t)local, len, c->mr->lkey };
	struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1, .opcode = op };

	wr.wr.rdma.remote_addr = c->remote.addr + off;
	wr.wr.rdma.rkey = c->remote.rkey;
	return post_wait(c, &wr, op == IBV_WR_RDMA_WRITE ? "RDMA WRITE" : "RDMA READ");
}

/* The server's next message, within timeout_ms; it must be op. */
static int recv_msg(struct client *c, uint32_t op, struct msg *out, int64_t timeout_ms)
{
	struct ibv_wc wc;

	if (wait_wc(c->recv_cq, &wc, "a message of the server", timeout_ms))
		return -1;
	if (wc.status != IBV_WC_SUCCESS) {
		fprintf(stderr, "rdma_client: receive: %s\n", ibv_wc_status_str(wc.status));
		return -1;
	}
	*out = c->buf.resp[wc.wr_id];
	if (post_recv(c, (int)wc.wr_id))
		return -1;
	if (ntohl(out->op) != op) {
		fprintf(stderr, "rdma_client: message %u where %u was expected\n", ntohl(out->op), op);
		return -1;
	}
	return 0;
}

/* Ask the server to make [off, off + len) durable; 0 once it has. */
static int persist(struct client *c, uint64_t off, uint64_t len)
{
	struct ibv_sge sge = { (uintptr_t)&c->buf.req, sizeof(c->buf.req), c->mr->lkey };
	struct ibv_send_wr wr = { .sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND };
	struct msg m;

	/* on this RC queue pair the SEND is placed after the WRITEs before it */
	c->buf.req = (struct msg){ htonl(MSG_PERSIST), 0, htobe64(off), htobe64(len) };
	if (post_wait(c, &wr, "SEND") != IBV_WC_SUCCESS || recv_msg(c, MSG_PERSISTED, &m, TIMEOUT_MS))
		return -1;
	if (ntohl(m.status)) {
		fprintf(stderr, "rdma_client: the server refused: %s\n", strerror((int)ntohl(m.status)));
		return -1;
	}
	return 0;
}

static int connect_to(struct client *c, const char *addr, const char *port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	struct ibv_qp_init_attr qa = { .qp_type = IBV_QPT_RC,
				       .cap = { .max_send_wr = 4, .max_recv_wr = 2,
						.max_send_sge = 1, .max_recv_sge = 1 } };
	struct rdma_conn_param cp = { .initiator_depth = 1, .responder_resources = 1,
				      .retry_count = 7, .rnr_retry_count = 7 };
	int rc;

	if ((rc = getaddrinfo(addr, port, &hints, &ai))) {
		fprintf(stderr, "rdma_client: %s: %s\n", addr, gai_strerror(rc));
		return -1;
	}
	rc = !(c->ec = rdma_create_event_channel()) ||
	     rdma_create_id(c->ec, &c->id, NULL, RDMA_PS_TCP) ||
	     rdma_resolve_addr(c->id, NULL, ai->ai_addr, 2000);
	freeaddrinfo(ai);
	if (rc || wait_event(c, RDMA_CM_EVENT_ADDR_RESOLVED) ||
	    rdma_resolve_route(c->id, 2000) || wait_event(c, RDMA_CM_EVENT_ROUTE_RESOLVED)) {
		fprintf(stderr, "rdma_client: no route to %s:%s\n", addr, port);
		return -1;
	}
	if (!(c->pd = ibv_alloc_pd(c->id->verbs)) ||
	    !(c->send_cq = ibv_create_cq(c->id->verbs, 4, NULL, NULL, 0)) ||
	    !(c->recv_cq = ibv_create_cq(c->id->verbs, 2, NULL, NULL, 0)) ||
	    !(c->mr = ibv_reg_mr(c->pd, &c->buf, sizeof(c->buf), IBV_ACCESS_LOCAL_WRITE))) {
		perror("rdma_client: verbs");
		return -1;
	}
	qa.send_cq = c->send_cq;
	qa.recv_cq = c->recv_cq;
	if (rdma_create_qp(c->id, c->pd, &qa) || post_recv(c, 0) || post_recv(c, 1) ||
	    rdma_connect(c->id, &cp) || wait_event(c, RDMA_CM_EVENT_ESTABLISHED)) {
		fprintf(stderr, "rdma_client: cannot connect to %s:%s\n", addr, port);
		return -1;
	}
	return 0;
}

static void disconnect(struct client *c)
{
	if (c->id && c->id->qp) {
		rdma_disconnect(c->id);
		rdma_destroy_qp(c->id);
	}
	if (c->mr)
		ibv_dereg_mr(c->mr);
	if (c->send_cq)
		ibv_destroy_cq(c->send_cq);
	if (c->recv_cq)
		ibv_destroy_cq(c->recv_cq);
	if (c->pd)
		ibv_dealloc_pd(c->pd);
	if (c->id)
		rdma_destroy_id(c->id);
	if (c->ec)
		rdma_destroy_event_channel(c->ec);
}

/* Write, persist, read back. */
static int write_durably(struct client *c, uint64_t off, const char *text, uint32_t len)
{
	memcpy(c->buf.text, text, len);
	if (rdma_op(c, IBV_WR_RDMA_WRITE, c->buf.text, off, len) != IBV_WC_SUCCESS ||
	    persist(c, off, len) ||
	    rdma_op(c, IBV_WR_RDMA_READ, c->buf.back, off, len) != IBV_WC_SUCCESS)
		return -1;
	if (memcmp(c->buf.back, text, len)) {
		fprintf(stderr, "rdma_client: the region does not hold what was written\n");
		return -1;
	}
	printf("persisted %u bytes at %" PRIu64 "\n", len, off);
	fflush(stdout);
	return 0;
}

/* Wait for the revoke, then show that the old rkey no longer works. */
static int write_after_revoke(struct client *c, uint64_t off, uint32_t len)
{
	enum ibv_wc_status st;
	struct msg m;

	printf("waiting for the region to be revoked\n");
	fflush(stdout);
	if (recv_msg(c, MSG_REVOKED, &m, 10 * TIMEOUT_MS))
		return -1;
	st = rdma_op(c, IBV_WR_RDMA_WRITE, c->buf.text, off, len);
	printf("RDMA WRITE after the revoke: %s\n", ibv_wc_status_str(st));
	return st == IBV_WC_SUCCESS ? -1 : 0;
}

int main(int argc, char **argv)
{
	static struct client c;
	int wait_revoke = argc > 1 && strcmp(argv[1], "--wait-revoke") == 0;
	char **a = argv + 1 + wait_revoke, *end;
	uint64_t off;
	size_t len;
	int rc = 1;

	if (argc - 1 - wait_revoke != 4) {
		fprintf(stderr, "usage: rdma_client [--wait-revoke] ADDR PORT OFFSET TEXT\n");
		return 2;
	}
	off = strtoull(a[2], &end, 0);
	len = strlen(a[3]);
	if (*end || len == 0 || len > MAX_TEXT) {
		fprintf(stderr, "rdma_client: OFFSET must be a number, TEXT 1 to %d bytes\n", MAX_TEXT);
		return 2;
	}
	if (connect_to(&c, a[0], a[1]) == 0) {
		if (off > c.remote.len || len > c.remote.len - off)
			fprintf(stderr, "rdma_client: [%" PRIu64 ", +%zu) is outside the region (%" PRIu64
				" bytes)\n", off, len, c.remote.len);
		else if (write_durably(&c, off, a[3], (uint32_t)len) == 0 &&
			 (!wait_revoke || write_after_revoke(&c, off, (uint32_t)len) == 0))
			rc = 0;
	}
	disconnect(&c);
	return rc;
}
