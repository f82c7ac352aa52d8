// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Probes on Go's crypto/tls (Go 1.18+, x86-64 register ABI), placed by
 * src/tls/go.ts once per executable file. (*Conn).Read and (*Conn).Write
 * take (c *Conn, b []byte): c in RAX, b's pointer and length in RBX and
 * RCX; they return (n int, err error): n in RAX. The running goroutine is
 * in R14 throughout. Never a return probe (it rewrites the return address
 * on a stack Go may move): each return instruction is probed instead, and
 * the call in progress is found again by its goroutine.
 */
#include "tls_session.h"

static __always_inline int hs_go_enter(struct pt_regs *ctx, bool inbound)
{
	struct hs_go_call_key key = { .tgid = bpf_get_current_pid_tgid() >> 32, .goroutine = ctx->r14 };
	struct hs_go_call call = { .conn = ctx->ax, .buf = ctx->bx, .inbound = inbound };
	struct hs_tls_key session = { .tgid = key.tgid, .ssl = ctx->ax };
	struct hs_go_write write = { .buf = ctx->bx, .len = ctx->cx, .goroutine = ctx->r14 }, *waiting;

	if (!inbound) {
		/* The same goroutine again: its entry after the stack grew, or a Write that never returned (a panic). */
		waiting = bpf_map_lookup_elem(&go_tls_writes, &session);
		if (waiting && waiting->goroutine == write.goroutine) {
			*waiting = write;
			call.pending = 1;
		} else if (!waiting && !bpf_map_update_elem(&go_tls_writes, &session, &write, BPF_NOEXIST)) {
			call.pending = 1;
		}
	}
	if (bpf_map_update_elem(&go_tls_calls, &key, &call, BPF_ANY))
		hs_count_loss(HS_LOSS_CONN_TABLE_FULL);
	return 0;
}

/* Steps a Read waits for a writer parsing the session's Write on another
 * CPU (a lookup each; the writer takes a microsecond or two). */
#define HS_GO_WAIT_STEPS 4096

static long hs_go_wait_step(__u64 i, void *ctx)
{
	struct hs_go_write *write = bpf_map_lookup_elem(&go_tls_writes, ctx);

	return !write || *(volatile __u32 *)&write->state != HS_GO_WRITE_PARSING;
}

/* The Write in progress on a session, parsed whole before a Read's bytes
 * unless its writer is parsing it already. */
static __always_inline void hs_go_flush_write(struct hs_tls_key *session)
{
	struct hs_go_write *found = bpf_map_lookup_elem(&go_tls_writes, session);

	if (!found)
		return;
	if (__sync_val_compare_and_swap(&found->state, HS_GO_WRITE_WAITING, HS_GO_WRITE_PARSING) != HS_GO_WRITE_WAITING) {
		bpf_loop(HS_GO_WAIT_STEPS, hs_go_wait_step, session, 0);
		return;
	}
	if (found->len)
		hs_tls_session_moved(session->tgid, session->ssl, found->buf, found->len, false);
	__sync_lock_test_and_set(&found->state, HS_GO_WRITE_PARSED);
	bpf_map_delete_elem(&go_tls_writes, session);
}

/* A return instruction of Read or Write: n bytes moved (errors return n = 0). */
static __always_inline int hs_go_return(struct pt_regs *ctx)
{
	struct hs_go_call_key key = { .tgid = bpf_get_current_pid_tgid() >> 32, .goroutine = ctx->r14 };
	struct hs_tls_key session = { .tgid = key.tgid };
	struct hs_go_call *found, call;
	struct hs_go_write *write;
	long n = ctx->ax;
	__u8 yes = 1;

	found = bpf_map_lookup_elem(&go_tls_calls, &key);
	if (!found)
		return 0;
	call = *found;
	bpf_map_delete_elem(&go_tls_calls, &key);
	session.ssl = call.conn;
	/* Plaintext written without a socket write inside: the Conn writes into memory (a pipe, a tunnel). */
	if (n > 0 && !call.inbound && !call.socket_moved)
		bpf_map_update_elem(&tls_bio_processes, &key.tgid, &yes, BPF_ANY);
	if (call.inbound) {
		if (n > 0)
			hs_go_flush_write(&session);
	} else if (call.pending) {
		write = bpf_map_lookup_elem(&go_tls_writes, &session);
		/* Taken: a Read of the session returned first and parsed it whole. */
		if (!write || write->goroutine != key.goroutine ||
		    __sync_val_compare_and_swap(&write->state, HS_GO_WRITE_WAITING, HS_GO_WRITE_PARSING) != HS_GO_WRITE_WAITING)
			return 0;
		if (n > 0)
			hs_tls_session_moved(key.tgid, call.conn, call.buf, n, false);
		__sync_lock_test_and_set(&write->state, HS_GO_WRITE_PARSED);
		bpf_map_delete_elem(&go_tls_writes, &session);
		return 0;
	}
	if (n <= 0)
		return 0;
	return hs_tls_session_moved(key.tgid, call.conn, call.buf, n, call.inbound);
}

/* A handshake begins a session, whatever Conn was at this address before.
 * The client's also runs when the server asks to renegotiate (TLS 1.2, if
 * the client allows it): inside a Read on the same Conn, mid-stream, where
 * the session goes on. A Write that began the handshake keeps its bytes;
 * any other write left waiting on the session was a previous Conn's. */
static __always_inline int hs_go_handshake(struct pt_regs *ctx, bool client)
{
	struct hs_go_call_key key = { .tgid = bpf_get_current_pid_tgid() >> 32, .goroutine = ctx->r14 };
	struct hs_tls_key session = { .tgid = key.tgid, .ssl = ctx->ax };
	struct hs_go_call *call = bpf_map_lookup_elem(&go_tls_calls, &key);
	bool inside = call && call->conn == ctx->ax;

	if (client && inside && call->inbound)
		return 0;
	if (!inside || call->inbound)
		bpf_map_delete_elem(&go_tls_writes, &session);
	return hs_tls_session_start(session.tgid, session.ssl);
}

/* Every probe of a Go executable; the cookie says which. */
SEC("uprobe")
int hs_go_tls(struct pt_regs *ctx)
{
	switch (bpf_get_attach_cookie(ctx)) {
	case HS_TLS_GO_READ:
		return hs_go_enter(ctx, true);
	case HS_TLS_GO_WRITE:
		return hs_go_enter(ctx, false);
	case HS_TLS_GO_RETURN:
		return hs_go_return(ctx);
	/* serverHandshake(c) and clientHandshake(c): once per connection, before any of its plaintext. */
	case HS_TLS_GO_SERVER_HANDSHAKE:
		return hs_go_handshake(ctx, false);
	case HS_TLS_GO_CLIENT_HANDSHAKE:
		return hs_go_handshake(ctx, true);
	/* Close(c): the session's state goes with it, so that a long-running
	 * program's closed Conns do not fill the map. */
	case HS_TLS_GO_CLOSE:
		return hs_tls_session_end(bpf_get_current_pid_tgid() >> 32, ctx->ax);
	}
	return 0;
}
