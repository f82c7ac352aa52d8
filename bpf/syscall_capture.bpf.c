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

/* The sock of a socket file, or 0, and its inode number. */
static __always_inline struct sock *hs_sock_of_file(struct file *file, __u64 *ino)
{
	struct socket *sock;
	struct inode *inode;

	if (!file)
		return 0;
	inode = BPF_CORE_READ(file, f_inode);
	if ((BPF_CORE_READ(inode, i_mode) & HS_S_IFMT) != HS_S_IFSOCK)
		return 0;
	*ino = BPF_CORE_READ(inode, i_ino);
	sock = BPF_CORE_READ(file, private_data);
	return BPF_CORE_READ(sock, sk);
}

/* The sock behind fd in the current task, or 0. Every read and write of
 * every process comes here: the task (a BTF pointer) leads to the
 * descriptor array by plain loads, and only the array's slot and what lies
 * behind it cost a helper call each. */
static __always_inline struct sock *hs_sock_of(struct task_struct *task, __u32 fd, __u64 *ino)
{
	struct files_struct *files = task->files;
	struct fdtable *fdt;
	struct file *file;

	if (!files)
		return 0;
	fdt = files->fdt;
	if (!fdt || fd >= fdt->max_fds)
		return 0;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fdt->fd[fd]))
		return 0;
	return hs_sock_of_file(file, ino);
}

static __always_inline int hs_syscall_event_on(struct hs_syscall_exit *ctx, __u32 fd, bool inbound, __u64 flags)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
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

/* The calls whose descriptor is their first argument. */
static __always_inline int hs_syscall_event(struct hs_syscall_exit *ctx, bool inbound, __u64 flags)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	return hs_syscall_event_on(ctx, regs->di, inbound, flags);
}

SEC("tracepoint/syscalls/sys_exit_read")
int hs_exit_read(struct hs_syscall_exit *ctx)
{
	return hs_syscall_event(ctx, true, 0);
}

SEC("tracepoint/syscalls/sys_exit_readv")
int hs_exit_readv(struct hs_syscall_exit *ctx)
{
	return hs_syscall_event(ctx, true, 0);
}

/* recvfrom(fd, buf, len, flags, ...) */
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int hs_exit_recvfrom(struct hs_syscall_exit *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	return hs_syscall_event(ctx, true, regs->r10);
}

/* recvmsg(fd, msg, flags) */
SEC("tracepoint/syscalls/sys_exit_recvmsg")
int hs_exit_recvmsg(struct hs_syscall_exit *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	return hs_syscall_event(ctx, true, regs->dx);
}

SEC("tracepoint/syscalls/sys_exit_write")
int hs_exit_write(struct hs_syscall_exit *ctx)
{
	return hs_syscall_event(ctx, false, 0);
}

SEC("tracepoint/syscalls/sys_exit_writev")
int hs_exit_writev(struct hs_syscall_exit *ctx)
{
	return hs_syscall_event(ctx, false, 0);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int hs_exit_sendto(struct hs_syscall_exit *ctx)
{
	return hs_syscall_event(ctx, false, 0);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int hs_exit_sendmsg(struct hs_syscall_exit *ctx)
{
	return hs_syscall_event(ctx, false, 0);
}

/* sendfile(out_fd, in_fd, offset, count): the socket is out_fd; its bytes are body bytes to skip. */
SEC("tracepoint/syscalls/sys_exit_sendfile64")
int hs_exit_sendfile64(struct hs_syscall_exit *ctx)
{
	return hs_syscall_event(ctx, false, 0);
}

/* splice(fd_in, off_in, fd_out, off_out, len, flags): one end is a pipe. Its
 * socket end's bytes are body bytes to skip, or a named loss; without this a
 * unix socket, which has no sequence numbers, would not know they moved. */
SEC("tracepoint/syscalls/sys_exit_splice")
int hs_exit_splice(struct hs_syscall_exit *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	__u64 ino;

	if (ctx->ret <= 0)
		return 0;
	if (hs_sock_of(task, regs->di, &ino))
		return hs_syscall_event_on(ctx, regs->di, true, 0);
	return hs_syscall_event_on(ctx, regs->dx, false, 0);
}

/* recvmmsg(fd, msgvec, vlen, flags, timeout) */
SEC("tracepoint/syscalls/sys_exit_recvmmsg")
int hs_exit_recvmmsg(struct hs_syscall_exit *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());

	return hs_syscall_event(ctx, true, regs->r10);
}

SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int hs_exit_sendmmsg(struct hs_syscall_exit *ctx)
{
	return hs_syscall_event(ctx, false, 0);
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

	if (!conn)
		return 0;
	if (conn->role != HS_ROLE_NOT_HTTP)
		hs_tcp_state_change(conn, ctx->oldstate, ctx->newstate);
	if (ctx->newstate == HS_TCP_CLOSE) {
		hs_tls_closed(conn);
		bpf_map_delete_elem(&conns_by_sock, &sk);
	}
	return 0;
}
