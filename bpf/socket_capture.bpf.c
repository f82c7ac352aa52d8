// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The default capture (Linux 6.3+): sock_recv_length and sock_send_length
 * fire inside sock_recvmsg/sock_sendmsg, in the calling task, after the
 * bytes moved, and only for socket I/O: no other syscall of any process
 * pays for them. TCP and unix stream sockets carry HTTP. Parser state lives
 * in the socket itself, so connections need no tracking: accept, fork, exec,
 * descriptor passing and connections that predate the plugin all just work.
 */
#include "capture.h"
#include <bpf/bpf_tracing.h>

/* Before 6.5, sendfile and splice into a unix socket went through its
 * sendpage, which fires no socket event: bytes a unix stream, having no
 * sequence numbers, could not know it missed. Unix sockets are counted from 6.5. */
extern int LINUX_KERNEL_VERSION __kconfig;

static __always_inline int hs_socket_event(struct sock *sk, int ret, int flags, bool inbound)
{
	__u16 family = sk->__sk_common.skc_family;
	struct task_struct *task;
	struct pt_regs *regs;
	struct hs_conn *conn;
	bool is_tcp;

	if (ret < 0 || (flags & (HS_MSG_PEEK | HS_MSG_OOB)) || sk->sk_type != HS_SOCK_STREAM)
		return 0;
	/* TCP is what bpf_skc_to_tcp_sock checks (the socket of a sendmsg/recvmsg is a full one). */
	is_tcp = (family == HS_AF_INET || family == HS_AF_INET6) && sk->sk_protocol == HS_IPPROTO_TCP;
	if (!is_tcp && (family != HS_AF_UNIX || LINUX_KERNEL_VERSION < KERNEL_VERSION(6, 5, 0)))
		return 0;
	if (!ret) {
		if (is_tcp && inbound && (conn = hs_conn_lookup(HS_FRONT_SOCKET, sk)))
			hs_tcp_read_end(conn);
		return 0;
	}
	if (is_tcp)
		conn = hs_tcp_call(HS_FRONT_SOCKET, sk, inbound, ret, flags, false);
	else
		conn = hs_unix_call(HS_FRONT_SOCKET, sk, 0, inbound, ret, flags, false);
	if (!conn)
		return 0;
	task = bpf_get_current_task_btf();
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	/* io_uring completes a receive inside whatever syscall the task makes
	 * next, and its workers have no syscall at all: the registers would
	 * describe some other buffer, unless the syscall is this call itself. */
	if ((task->io_uring || (task->flags & HS_PF_IO_WORKER)) && !hs_own_data_call(task, regs, sk, inbound)) {
		hs_cannot_see(conn, inbound ? &conn->in : &conn->out, HS_LOSS_IO_URING);
		return 0;
	}
	hs_parse_call(conn, inbound, task->tgid, regs, ret);
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

/* A few times per TCP connection: its end, for answers whose body runs until it (capture.h),
 * and for a TLS connection no hooked call decoded (tls.h). */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(hs_tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct hs_conn *conn;

	if (sk->sk_protocol != HS_IPPROTO_TCP)
		return 0;
	conn = bpf_sk_storage_get(&conns, (struct sock *)sk, 0, 0);
	if (!conn)
		return 0;
	if (conn->role != HS_ROLE_NOT_HTTP)
		hs_tcp_state_change(conn, oldstate, newstate);
	else if (newstate == HS_TCP_CLOSE)
		hs_tls_closed(conn);
	return 0;
}
