// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The fallback capture, for kernels without the socket tracepoints
 * (5.17-6.2): the exits of the data syscalls. Only exits: the arguments are
 * still in the registers the syscall saved, so nothing is remembered from
 * entry to exit. The descriptor leads to the socket through the task's file
 * table; parser state is kept by socket address and deleted when a TCP
 * socket reaches TCP_CLOSE, before the address can be reused (a unix
 * socket's is told from a dead one's by its inode number).
 * Attaching any syscall tracepoint puts every syscall of the machine on the
 * slow path: this is the costlier capture, chosen only when it must be.
 */
#include "capture.h"

/* One data call that returned on a socket descriptor: the end of a stream, or bytes to parse. */
static __always_inline int hs_syscall_event(struct hs_syscall_exit *ctx, struct task_struct *task, struct pt_regs *regs,
					    __u32 fd, bool inbound, __u64 flags)
{
	bool messages = ctx->syscall_nr == HS_NR_RECVMMSG || ctx->syscall_nr == HS_NR_SENDMMSG;
	struct hs_conn *conn;
	__s64 ret = ctx->ret;
	struct sock *sk;
	__u64 ino = 0;

	if (!ret && inbound && !messages && !(flags & HS_MSG_PEEK)) {
		/* The end of the stream, for an answer whose body runs until it. */
		sk = hs_sock_of(task, fd, &ino);
		if (sk && BPF_CORE_READ(sk, sk_protocol) == HS_IPPROTO_TCP && (conn = hs_conn_lookup(HS_FRONT_SYSCALL, sk)))
			hs_tcp_read_end(conn);
		return 0;
	}
	if (hs_moved_nothing(ret, flags))
		return 0;
	if (messages) {
		/* ret counts messages; a first message of no bytes (end of stream) moved nothing. */
		__u32 moved = 0;

		bpf_probe_read_user(&moved, sizeof(moved), (void *)(regs->si + __builtin_offsetof(struct hs_user_mmsghdr, len)));
		if (!moved)
			return 0;
	}
	sk = hs_sock_of(task, fd, &ino);
	if (!sk)
		return 0;
	if (BPF_CORE_READ(sk, sk_protocol) == HS_IPPROTO_TCP)
		conn = hs_tcp_call(HS_FRONT_SYSCALL, sk, inbound, ret, flags, messages);
	else if (BPF_CORE_READ(sk, __sk_common.skc_family) == HS_AF_UNIX && BPF_CORE_READ(sk, sk_type) == HS_SOCK_STREAM)
		conn = hs_unix_call(HS_FRONT_SYSCALL, sk, ino, inbound, ret, flags, messages);
	else
		return 0;
	if (conn)
		hs_parse_call(conn, inbound, task->tgid, regs, ret);
	return 0;
}

/*
 * The exits of the twelve data syscalls, in one program that user space
 * attaches to each one's tracepoint (SYSCALL_EXITS in
 * src/kernel/kernel_abi.ts), so the kernel verifies the parser behind it
 * once at start, not once per syscall. The calls differ only in the
 * direction, the descriptor and the flags, taken here from the registers the
 * syscall saved, so the parser is inlined at one call site only.
 */
SEC("tracepoint")
int hs_syscall_exit(struct hs_syscall_exit *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	__u32 fd = regs->di;
	bool inbound = false;
	__u64 flags = 0;
	__u64 ino;

	switch (ctx->syscall_nr) {
	case HS_NR_READ:
	case HS_NR_READV:
		inbound = true;
		break;
	/* recvfrom(fd, buf, len, flags, ...), recvmmsg(fd, msgvec, vlen, flags, timeout) */
	case HS_NR_RECVFROM:
	case HS_NR_RECVMMSG:
		inbound = true;
		flags = regs->r10;
		break;
	/* recvmsg(fd, msg, flags) */
	case HS_NR_RECVMSG:
		inbound = true;
		flags = regs->dx;
		break;
	case HS_NR_WRITE:
	case HS_NR_WRITEV:
	case HS_NR_SENDTO:
	case HS_NR_SENDMSG:
	case HS_NR_SENDMMSG:
	/* sendfile(out_fd, in_fd, offset, count): the socket is out_fd; its bytes are body bytes to skip. */
	case HS_NR_SENDFILE:
		break;
	/* splice(fd_in, off_in, fd_out, off_out, len, flags): one end is a pipe. Its
	 * socket end's bytes are body bytes to skip, or a named loss; without this a
	 * unix socket, which has no sequence numbers, would not know they moved. */
	case HS_NR_SPLICE:
		if (ctx->ret <= 0)
			return 0;
		inbound = hs_sock_of(task, fd, &ino) != 0;
		if (!inbound)
			fd = regs->dx;
		break;
	default:
		return 0;
	}
	return hs_syscall_event(ctx, task, regs, fd, inbound, flags);
}

/* io_uring moves socket bytes without any of the syscalls above: each of
 * its data requests on a TCP or unix stream socket that moved bytes is a named loss. */
SEC("tracepoint/io_uring/io_uring_complete")
int hs_io_uring_complete(struct hs_io_uring_complete *ctx)
{
	struct io_kiocb *req = (struct io_kiocb *)ctx->req;
	struct sock *sk;
	__u64 ino;
	__u8 op;

	if (ctx->res <= 0)
		return 0;
	op = BPF_CORE_READ(req, opcode);
	switch (op) {
	case HS_IORING_OP_READV:
	case HS_IORING_OP_WRITEV:
	case HS_IORING_OP_READ_FIXED:
	case HS_IORING_OP_WRITE_FIXED:
	case HS_IORING_OP_SENDMSG:
	case HS_IORING_OP_RECVMSG:
	case HS_IORING_OP_READ:
	case HS_IORING_OP_WRITE:
	case HS_IORING_OP_SEND:
	case HS_IORING_OP_RECV:
	case HS_IORING_OP_SEND_ZC:
	case HS_IORING_OP_SENDMSG_ZC:
		sk = hs_sock_of_file(BPF_CORE_READ(req, file), &ino);
		if (sk && ((BPF_CORE_READ(sk, sk_protocol) == HS_IPPROTO_TCP && hs_is_inet(HS_FRONT_SYSCALL, sk)) ||
			   (BPF_CORE_READ(sk, __sk_common.skc_family) == HS_AF_UNIX && BPF_CORE_READ(sk, sk_type) == HS_SOCK_STREAM)))
			hs_count_loss(HS_LOSS_IO_URING);
	}
	return 0;
}

/* A TCP connection's end: answers whose body runs until it (capture.h), a TLS connection
 * no hooked call decoded (tls.h), and its state's retirement. */
SEC("tracepoint/sock/inet_sock_set_state")
int hs_sock_state(struct hs_inet_sock_set_state *ctx)
{
	__u64 sk = ctx->skaddr;
	struct hs_conn *conn = bpf_map_lookup_elem(&conns_by_sock, &sk);

	if (!conn) {
		/* Whatever an earlier socket at this address left is not this one's. */
		if (ctx->newstate == HS_TCP_CLOSE)
			bpf_map_delete_elem(&closed_conns, &sk);
		return 0;
	}
	if (conn->role != HS_ROLE_NOT_HTTP)
		hs_tcp_state_change(conn, ctx->oldstate, ctx->newstate);
	if (ctx->newstate == HS_TCP_CLOSE) {
		hs_tls_closed(conn);
		/* A call still inside the kernel finds the state there at its exit (capture.h). */
		bpf_map_update_elem(&closed_conns, &sk, conn, BPF_ANY);
		bpf_map_delete_elem(&conns_by_sock, &sk);
	}
	return 0;
}
