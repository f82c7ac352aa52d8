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

static __always_inline int hs_io_enter(__u32 fd, __u64 buf, __u64 vlen, enum hs_shape shape,
				       bool is_request)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, bucket = (__u32)pid_tgid % HS_PENDING_BUCKETS;
	hs_generation_t gen = hs_generation_of(tgid);
	struct hs_inflight *call;
	struct hs_conn *conn;
	__u32 *waiting;

	if (!gen)
		return 0;
	conn = hs_lookup_conn(tgid, fd, gen);
	if (!conn)
		return 0;
	if ((is_request ? conn->request.state : conn->response.state) == HS_ST_NOT_HTTP)
		return 0;
	call = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0,
				    BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!call) {
		hs_count_loss(HS_LOSS_INFLIGHT_TABLE_FULL);
		return 0;
	}
	call->buf = buf;
	call->fd = fd;
	call->vlen = vlen > 0xffff ? 0xffff : vlen;
	call->shape = shape;
	call->is_request = is_request;
	/* Counted on 0 -> 1 only: an exit missed at attach time leaves pending set. */
	if (!call->pending) {
		waiting = bpf_map_lookup_elem(&pending, &bucket);
		if (waiting)
			__sync_fetch_and_add(waiting, 1);
		call->pending = 1;
	}
	return 0;
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

static __always_inline int hs_io_exit(__s64 ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, bucket = (__u32)pid_tgid % HS_PENDING_BUCKETS;
	hs_generation_t gen = hs_generation_of(tgid);
	struct hs_inflight *found, call;
	struct hs_user_msghdr msg;
	struct hs_conn *conn;
	struct hs_parser *p;
	__u32 *waiting;

	if (!gen)
		return 0;
	waiting = bpf_map_lookup_elem(&pending, &bucket);
	if (!waiting || !*waiting)
		return 0;
	/* Without F_CREATE: a thread that never made a tracked call has no storage. */
	found = bpf_task_storage_get(&inflight, bpf_get_current_task_btf(), 0, 0);
	if (!found || !found->pending)
		return 0;
	call = *found;
	found->pending = 0;
	__sync_fetch_and_add(waiting, -1);
	if (ret <= 0)
		return 0;
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

/*
 * Every sys_exit_* program does the same thing with the same context
 * layout, so only hs_exit_read contains the parser; the others tail-call
 * it through hs_exits (maps.bpf.h). The verifier then walks the parser
 * once instead of once per exit tracepoint, which was most of the load time.
 */
static __always_inline int hs_io_exit_shared(struct hs_syscall_exit *ctx)
{
	/* Nothing to parse for this process: skip the tail call too. */
	if (!hs_generation_of(bpf_get_current_pid_tgid() >> 32))
		return 0;
	bpf_tail_call(ctx, &hs_exits, 0);
	/* Only reached if the array were empty; libbpf fills it at load. */
	return 0;
}

#endif /* HS_SYSCALL_IO_H */
