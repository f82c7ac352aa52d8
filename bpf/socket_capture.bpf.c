// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The default capture (Linux 6.3+): sock_recv_length and sock_send_length
 * fire inside sock_recvmsg/sock_sendmsg, in the calling task, after the
 * bytes moved, and only for socket I/O: no other syscall of any process
 * pays for them. Parser state lives in the socket itself, so connections
 * need no tracking: accept, fork, exec, descriptor passing and connections
 * that predate the plugin all just work.
 */
#include "capture.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

/* Views a kernel object as another BTF type, read-only. The verifier
 * replaces the call with nothing, where bpf_skc_to_tcp_sock is a helper
 * call on every event. Linux 6.2+, so present wherever the socket
 * tracepoints are; weak, so the object still loads on the fallback's kernels. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

static __always_inline int hs_socket_event(struct sock *sk, int ret, int flags, bool inbound)
{
	__u16 family = sk->__sk_common.skc_family;
	struct task_struct *task;
	struct hs_stream *s;
	struct tcp_sock *tp;
	struct hs_conn *conn;
	struct socket *sock;

	if (ret <= 0 || (flags & (HS_MSG_PEEK | HS_MSG_OOB)))
		return 0;
	/* What bpf_skc_to_tcp_sock checks (the socket of a sendmsg/recvmsg is a full one). */
	if ((family != HS_AF_INET && family != HS_AF_INET6) || sk->sk_protocol != HS_IPPROTO_TCP ||
	    sk->sk_type != HS_SOCK_STREAM)
		return 0;
	conn = bpf_sk_storage_get(&conns, sk, 0, 0);
	if (conn && conn->role == HS_ROLE_NOT_HTTP)
		return 0;
	tp = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
	if (!conn) {
		/* The kernel's own sockets (NFS, SMB) carry no file; the task's registers say nothing of them. */
		sock = sk->sk_socket;
		if (!sock || !sock->file)
			return 0;
		conn = bpf_sk_storage_get(&conns, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!conn) {
			hs_count_loss(HS_LOSS_CONN_TABLE_FULL);
			return 0;
		}
		struct hs_tcp_position at = {
			.bytes_received = tp->bytes_received,
			.bytes_acked = tp->bytes_acked,
			.rcv_nxt = tp->rcv_nxt,
			.copied_seq = tp->copied_seq,
			.snd_una = tp->snd_una,
			.write_seq = tp->write_seq,
		};

		hs_init_conn(conn, hs_at_stream_start(inbound, &at, ret));
	}
	s = inbound ? &conn->in : &conn->out;
	hs_check_seq(conn, s, inbound, inbound ? tp->copied_seq : tp->write_seq, ret);
	if (hs_skip_body(conn, s, ret))
		return 0;
	if (flags & HS_MSG_TRUNC) {
		/* TCP discards these bytes instead of copying them out. */
		hs_cannot_see(conn, s, HS_LOSS_UNREADABLE);
		return 0;
	}
	task = bpf_get_current_task_btf();
	/* io_uring completes a receive inside whatever syscall the task makes
	 * next, and its workers have no syscall at all: the registers would
	 * describe some other buffer. */
	if (task->io_uring || (task->flags & HS_PF_IO_WORKER)) {
		hs_cannot_see(conn, s, HS_LOSS_IO_URING);
		return 0;
	}
	hs_parse_call(conn, inbound, task->tgid,
		      (struct pt_regs *)bpf_task_pt_regs(task), ret);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(hs_sock_recv, struct sock *sk, int ret, int flags)
{
	return hs_socket_event(sk, ret, flags, true);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(hs_sock_send, struct sock *sk, int ret, int flags)
{
	return hs_socket_event(sk, ret, flags, false);
}
