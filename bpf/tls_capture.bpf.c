// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Probes on a TLS library's plaintext calls (overview in tls.h). User
 * space (src/tls/) attaches them once per library file, for every process
 * that maps it.
 *
 * OpenSSL: SSL_read and SSL_read_ex both call one internal function with
 * (ssl, buf, num, &readbytes), SSL_write and SSL_write_ex another with
 * (ssl, buf, num, &written), and SSL_peek neither. Probing those two
 * (entry and return) covers all four calls at the price of two, and
 * their first instruction is a push, which the kernel emulates, where the
 * exported functions begin with an instruction it must single-step. The
 * plaintext is parsed at the return, once the library says how many bytes
 * moved: a call that moved nothing (WANT_READ, WANT_WRITE, errors) parses
 * nothing, a partial write parses what was written, and the retry of a
 * failed write is parsed once, when it succeeds.
 */
#include "tls_session.h"

static __always_inline int hs_tls_enter(__u64 ssl, __u64 buf, __u64 done, bool inbound)
{
	struct hs_tls_thread *thread = bpf_task_storage_get(&tls_calls, bpf_get_current_task_btf(), 0,
							    BPF_LOCAL_STORAGE_GET_F_CREATE);
	struct hs_tls_call *call;
	__u32 at;

	if (!thread) {
		hs_count_loss(HS_LOSS_CONN_TABLE_FULL);
		return 0;
	}
	at = thread->depth++;
	if (at >= HS_TLS_NESTING)
		return 0;
	call = &thread->calls[at];
	call->ssl = ssl;
	call->buf = buf;
	call->done = done;
	call->inbound = inbound;
	call->socket_moved = 0;
	return 0;
}

static __always_inline int hs_tls_return(int ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct hs_tls_thread *thread;
	struct hs_tls_call *call;
	struct hs_conn *conn;
	__u64 moved = 0;
	__u8 yes = 1;
	__u32 at, tgid;

	thread = bpf_task_storage_get(&tls_calls, task, 0, 0);
	if (!thread || !thread->depth)
		return 0;
	at = --thread->depth;
	if (at >= HS_TLS_NESTING) {
		/* Nested deeper than we record: its plaintext goes unparsed. */
		if (ret > 0)
			hs_count_loss(HS_LOSS_UNKNOWN_CALL);
		return 0;
	}
	/* WANT_READ, WANT_WRITE, errors: nothing moved, nothing to parse. */
	if (ret <= 0)
		return 0;
	call = &thread->calls[at];
	/* The task's own field: one helper call fewer than bpf_get_current_pid_tgid(). */
	tgid = task->tgid;
	/* Plaintext written without a socket write inside: the session writes into memory. */
	if (!call->inbound && !call->socket_moved && !thread->bio_marked) {
		bpf_map_update_elem(&tls_bio_processes, &tgid, &yes, BPF_ANY);
		thread->bio_marked = 1;
	}
	/* The session first: one that is not HTTP needs no byte count. */
	conn = hs_tls_session(tgid, call->ssl);
	if (!conn || conn->role == HS_ROLE_NOT_HTTP)
		return 0;
	if (!call->done)
		moved = ret;
	else if (bpf_probe_read_user(&moved, sizeof(moved), (void *)call->done)) {
		hs_count_loss(HS_LOSS_READ_FAULT);
		return 0;
	}
	if (!moved)
		return 0;
	return hs_tls_parse(conn, tgid, call->buf, moved, call->inbound);
}

/* Every entry probe of an OpenSSL file; the cookie says which call it is. */
SEC("uprobe")
int hs_openssl_enter(struct pt_regs *ctx)
{
	switch (bpf_get_attach_cookie(ctx)) {
	/* (ssl, buf, num, &done) -> 1 or more once *done bytes moved: the
	 * internal read and write functions, or SSL_read_ex / SSL_write_ex. */
	case HS_TLS_OPENSSL_READ_EX:
		return hs_tls_enter(ctx->di, ctx->si, ctx->cx, true);
	case HS_TLS_OPENSSL_WRITE_EX:
		return hs_tls_enter(ctx->di, ctx->si, ctx->cx, false);
	/* (ssl, buf, num) -> the bytes moved: SSL_read / SSL_write, where they are probed themselves. */
	case HS_TLS_OPENSSL_READ:
		return hs_tls_enter(ctx->di, ctx->si, 0, true);
	case HS_TLS_OPENSSL_WRITE:
		return hs_tls_enter(ctx->di, ctx->si, 0, false);
	/* SSL_clear(ssl): SSL_new calls it, and so does an application that
	 * reuses the object for another connection. Either way a new session
	 * starts at the first byte of its stream. */
	case HS_TLS_OPENSSL_CLEAR:
		return hs_tls_session_start(bpf_get_current_pid_tgid() >> 32, ctx->di);
	/* SSL_free(ssl): the session's state goes with the object, so that a
	 * long-running process's freed sessions do not fill the map. */
	case HS_TLS_OPENSSL_FREE:
		return hs_tls_session_end(bpf_get_current_pid_tgid() >> 32, ctx->di);
	}
	return 0;
}

/* The return of any of the read and write calls. */
SEC("uretprobe")
int hs_openssl_return(struct pt_regs *ctx)
{
	return hs_tls_return((int)ctx->ax);
}
