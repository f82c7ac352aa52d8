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
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	hs_generation_t gen = hs_generation_of(tgid);
	struct hs_inflight call;
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
	call.buf = buf;
	call.fd = fd;
	call.vlen = vlen > 0xffff ? 0xffff : vlen;
	call.shape = shape;
	call.is_request = is_request;
	if (bpf_map_update_elem(&inflight, &pid_tgid, &call, BPF_ANY))
		hs_count_loss(HS_LOSS_INFLIGHT_TABLE_FULL);
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
static __always_inline bool hs_unentered_read(__u32 tgid, hs_generation_t gen, enum hs_shape shape,
					      struct hs_inflight *call)
{
	struct pt_regs___x86 *regs;
	struct hs_conn *conn;
	__u32 zero = 0, *waiting;

	if (gen < HS_USER_GENERATION_BASE || !bpf_core_field_exists(struct pt_regs___x86, si))
		return false;
	waiting = bpf_map_lookup_elem(&seeds_waiting, &zero);
	if (!waiting || !*waiting)
		return false;
	regs = (struct pt_regs___x86 *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (!regs)
		return false;
	call->fd = BPF_CORE_READ(regs, di);
	call->buf = BPF_CORE_READ(regs, si);
	call->vlen = BPF_CORE_READ(regs, dx) > 0xffff ? 0xffff : BPF_CORE_READ(regs, dx);
	call->shape = shape;
	call->is_request = 1;
	conn = hs_lookup_conn(tgid, call->fd, gen);
	if (!conn || !conn->seeded_unentered)
		return false;
	conn->seeded_unentered = 0;
	return true;
}

/* may_pass_fds: this syscall (recvmsg) may have received descriptors, so a
 * process that tracks nothing yet can have a call in flight.
 * read_shape: for reads, the shape of their arguments (see hs_unentered_read). */
static __always_inline int hs_io_exit(__s64 ret, bool may_pass_fds, int read_shape)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	hs_generation_t gen = hs_generation_of(tgid);
	struct hs_inflight *found, call;
	struct hs_user_msghdr msg;
	struct hs_conn *conn;
	struct hs_parser *p;

	if (!gen && !may_pass_fds)
		return 0;
	found = bpf_map_lookup_elem(&inflight, &pid_tgid);
	if (found) {
		call = *found;
		bpf_map_delete_elem(&inflight, &pid_tgid);
	} else if (read_shape < 0 || ret <= 0 || !hs_unentered_read(tgid, gen, read_shape, &call)) {
		return 0;
	}
	if (call.shape == HS_SHAPE_FDS) {
		if (ret >= 0)
			hs_fdpass_exit(call.buf);
		return 0;
	}
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

#endif /* HS_SYSCALL_IO_H */
