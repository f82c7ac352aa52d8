/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The shape shared by every data syscall we trace: at entry, keep the
 * buffer of a call on a tracked connection; at exit, parse exactly the
 * bytes the kernel says moved. Parsing at exit (not entry) makes partial
 * and failed writes count once, and reads only what really arrived.
 */
#ifndef HS_SYSCALL_IO_H
#define HS_SYSCALL_IO_H

#include "http_parser.h"
#include "fd_passing.h"
#include <bpf/bpf_core_read.h>

/* Returns whether fd is a tracked connection. */
static __always_inline bool hs_io_enter(__u32 fd, __u64 buf, __u64 vlen, enum hs_shape shape,
					bool is_request)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	hs_generation_t gen = hs_generation_of(tgid);
	struct hs_inflight *call;
	struct hs_conn *conn;

	if (!gen)
		return false;
	conn = hs_lookup_conn(tgid, fd, gen);
	if (!conn)
		return false;
	if (is_request && conn->seeded_unentered)
		conn->seeded_unentered = 0;
	if ((is_request ? conn->request.state : conn->response.state) == HS_ST_NOT_HTTP)
		return true;
	call = hs_remember_call();
	if (!call)
		return true;
	call->buf = buf;
	call->fd = fd;
	call->vlen = vlen > 0xffff ? 0xffff : vlen;
	call->shape = shape;
	call->is_request = is_request;
	return true;
}

/* Walk up to HS_MAX_IOV segments of an iovec array, bytes bytes in all. */
static __always_inline void hs_parse_iov(struct hs_conn *conn, __u32 tgid, bool is_request,
					 __u64 iov, __u64 vlen, __u64 bytes)
{
	struct hs_iovec seg;
	__u64 n;
	int i;

	for (i = 0; i < HS_MAX_IOV; i++) {
		if (!bytes || i >= vlen)
			return;
		if (bpf_probe_read_user(&seg, sizeof(seg), (void *)(iov + i * sizeof(seg)))) {
			hs_count_loss(HS_LOSS_READ_FAULT);
			return;
		}
		n = seg.len < bytes ? seg.len : bytes;
		if (n)
			hs_parse_segment(conn, tgid, is_request, seg.base, n);
		bytes -= n;
	}
	if (bytes)
		hs_count_loss(HS_LOSS_IOVEC_LIMIT);
}

/*
 * A read that returns without an entry of ours may have been entered before
 * we attached: a thread-per-connection server idles blocked in read() on
 * its keep-alive connections, and that first read carries the next
 * request. Only in processes whose connections were seeded (user-space
 * generations), and only on connections no read has entered since, take
 * the arguments from the registers the syscall saved.
 */
static __always_inline void hs_unentered_read(enum hs_shape shape)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	hs_generation_t gen = hs_generation_of(tgid);
	struct hs_inflight *call;
	struct pt_regs___x86 *regs;
	struct hs_conn *conn;
	__u32 zero = 0, *waiting, fd;

	if (gen < HS_USER_GENERATION_BASE || !bpf_core_field_exists(struct pt_regs___x86, si))
		return;
	waiting = bpf_map_lookup_elem(&seeds_waiting, &zero);
	if (!waiting || !*waiting)
		return;
	regs = (struct pt_regs___x86 *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!regs)
		return;
	fd = BPF_CORE_READ(regs, di);
	conn = hs_lookup_conn(tgid, fd, gen);
	if (!conn || !conn->seeded_unentered)
		return;
	conn->seeded_unentered = 0;
	call = hs_remember_call();
	if (!call)
		return;
	call->fd = fd;
	call->buf = BPF_CORE_READ(regs, si);
	call->vlen = BPF_CORE_READ(regs, dx) > 0xffff ? 0xffff : BPF_CORE_READ(regs, dx);
	call->shape = shape;
	call->is_request = 1;
}

/*
 * What every sys_exit_* program runs: the per-syscall part (a read may have
 * been entered before we attached), then, only if this thread may have a
 * call to finish, a tail call into hs_exit_parse (http_parser.bpf.c), the one
 * program that holds the parser. read_shape is the shape of a read's
 * arguments, or -1 for writes.
 */
static __always_inline int hs_io_exit(struct hs_syscall_exit *ctx, int read_shape)
{
	if (read_shape >= 0 && ctx->ret > 0)
		hs_unentered_read(read_shape);
	if (hs_may_have_call())
		bpf_tail_call(ctx, &hs_exits, 0);
	return 0;
}

/* hs_exit_parse's body: finish the call this thread remembered at entry. */
static __always_inline int hs_finish_call(__s64 ret)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	hs_generation_t gen;
	struct hs_user_msghdr msg;
	struct hs_inflight call;
	struct hs_conn *conn;
	struct hs_parser *p;

	if (!hs_take_call(&call))
		return 0;
	if (call.shape == HS_SHAPE_FDS) {
		if (ret >= 0)
			hs_fdpass_exit(call.buf);
		return 0;
	}
	if (ret <= 0)
		return 0;
	gen = hs_generation_of(tgid);
	conn = hs_lookup_conn(tgid, call.fd, gen);
	if (!conn)
		return 0;
	switch (call.shape) {
	case HS_SHAPE_BUF:
		hs_parse_segment(conn, tgid, call.is_request, call.buf, ret);
		break;
	case HS_SHAPE_IOV:
		hs_parse_iov(conn, tgid, call.is_request, call.buf, call.vlen, ret);
		break;
	case HS_SHAPE_MSG:
		if (bpf_probe_read_user(&msg, sizeof(msg), (void *)call.buf)) {
			hs_count_loss(HS_LOSS_READ_FAULT);
			break;
		}
		hs_parse_iov(conn, tgid, call.is_request, msg.iov, msg.iovlen, ret);
		break;
	case HS_SHAPE_SENDFILE:
		/* File bytes are body bytes: skip them, we cannot read them. */
		p = &conn->response;
		if (p->state == HS_ST_BODY || p->state == HS_ST_CHUNK_DATA)
			p->body_left -= (__u64)ret < p->body_left ? (__u64)ret : p->body_left;
		if (!p->body_left && p->state == HS_ST_BODY)
			p->state = HS_ST_START;
		break;
	}
	return 0;
}

#endif /* HS_SYSCALL_IO_H */
