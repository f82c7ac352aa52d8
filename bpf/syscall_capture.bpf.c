// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The fallback capture, for kernels without the socket tracepoints
 * (5.17-6.2): the exits of the data syscalls. Only exits: the arguments are
 * still in the registers the syscall saved, so nothing is remembered from
 * entry to exit. The descriptor leads to the socket through the task's file
 * table; parser state is kept by socket address and deleted when the socket
 * reaches TCP_CLOSE, before the address can be reused.
 * Attaching any syscall tracepoint puts every syscall of the machine on the
 * slow path: this is the costlier capture, chosen only when it must be.
 */
#include "capture.h"
#include <bpf/bpf_core_read.h>

/* The sock of a socket file, or 0. */
static __always_inline struct sock *hs_sock_of_file(struct file *file)
{
	struct socket *sock;

	if (!file || (BPF_CORE_READ(file, f_inode, i_mode) & HS_S_IFMT) != HS_S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	return BPF_CORE_READ(sock, sk);
}

/* Whether a sock is TCP over IPv4 or IPv6 (a netlink socket's protocol can be 6 too). */
static __always_inline bool hs_is_inet(struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	return family == HS_AF_INET || family == HS_AF_INET6;
}

/* The sock behind fd in the current task, or 0. Every read and write of
 * every process comes here: the task (a BTF pointer) leads to the
 * descriptor array by plain loads, and only the array's slot and what lies
 * behind it cost a helper call each. */
static __always_inline struct sock *hs_sock_of(struct task_struct *task, __u32 fd)
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
	return hs_sock_of_file(file);
}

static __always_inline int hs_syscall_event(struct hs_syscall_exit *ctx, bool inbound, __u64 flags)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	struct tcp_sock *tp;
	struct hs_stream *s;
	struct hs_conn *conn;
	__s64 ret = ctx->ret;
	struct sock *sk;
	__u64 key;

	if (ret <= 0 || (flags & (HS_MSG_PEEK | HS_MSG_OOB)))
		return 0;
	if (ctx->syscall_nr == HS_NR_RECVMMSG || ctx->syscall_nr == HS_NR_SENDMMSG) {
		/* ret counts messages; a first message of no bytes (end of stream) moved nothing. */
		__u32 moved = 0;

		bpf_probe_read_user(&moved, sizeof(moved), (void *)(regs->si + __builtin_offsetof(struct hs_user_mmsghdr, len)));
		if (!moved)
			return 0;
	}
	sk = hs_sock_of(task, regs->di);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != HS_IPPROTO_TCP)
		return 0;
	key = (__u64)sk;
	conn = bpf_map_lookup_elem(&conns_by_sock, &key);
	if (conn && conn->role == HS_ROLE_NOT_HTTP)
		return 0;
	tp = (struct tcp_sock *)sk;
	if (!conn) {
		/* A connection in the table passed this check when it was added. */
		if (!hs_is_inet(sk))
			return 0;
		if (bpf_map_update_elem(&conns_by_sock, &key, &hs_zero_conn, BPF_NOEXIST) ||
		    !(conn = bpf_map_lookup_elem(&conns_by_sock, &key))) {
			hs_count_loss(HS_LOSS_CONN_TABLE_FULL);
			return 0;
		}
		/* A call may return after its socket reached TCP_CLOSE, which
		 * deleted its entry: one made now would outlive the socket, and
		 * the next socket at this address would inherit its state. Checked
		 * after the insert, so that a close racing it deletes it either way. */
		if (BPF_CORE_READ(sk, __sk_common.skc_state) == HS_TCP_CLOSE) {
			bpf_map_delete_elem(&conns_by_sock, &key);
			return 0;
		}
		struct hs_tcp_position at = {
			.bytes_received = BPF_CORE_READ(tp, bytes_received),
			.bytes_acked = BPF_CORE_READ(tp, bytes_acked),
			.rcv_nxt = BPF_CORE_READ(tp, rcv_nxt),
			.copied_seq = BPF_CORE_READ(tp, copied_seq),
			.snd_una = BPF_CORE_READ(tp, snd_una),
			.write_seq = BPF_CORE_READ(tp, write_seq),
		};

		hs_init_conn(conn, hs_at_stream_start(inbound, &at, ret));
	}
	s = inbound ? &conn->in : &conn->out;
	if (ctx->syscall_nr == HS_NR_RECVMMSG || ctx->syscall_nr == HS_NR_SENDMMSG) {
		/* ret counts messages, not bytes: the stream's position is lost too. */
		hs_cannot_see(conn, s, HS_LOSS_MMSG);
		s->seq_known = 0;
		return 0;
	}
	hs_check_seq(conn, s, inbound,
		     inbound ? BPF_CORE_READ(tp, copied_seq) : BPF_CORE_READ(tp, write_seq), ret);
	if (hs_skip_body(conn, s, ret))
		return 0;
	if (flags & HS_MSG_TRUNC) {
		hs_cannot_see(conn, s, HS_LOSS_UNREADABLE);
		return 0;
	}
	hs_parse_call(conn, inbound, task->tgid, regs, ret);
	return 0;
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
 * its data requests on a TCP socket that moved bytes is a named loss. */
SEC("tracepoint/io_uring/io_uring_complete")
int hs_io_uring_complete(struct hs_io_uring_complete *ctx)
{
	struct io_kiocb *req = (struct io_kiocb *)ctx->req;
	struct sock *sk;
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
		sk = hs_sock_of_file(BPF_CORE_READ(req, file));
		if (sk && BPF_CORE_READ(sk, sk_protocol) == HS_IPPROTO_TCP && hs_is_inet(sk))
			hs_count_loss(HS_LOSS_IO_URING);
	}
	return 0;
}

SEC("tracepoint/sock/inet_sock_set_state")
int hs_sock_state(struct hs_inet_sock_set_state *ctx)
{
	__u64 sk = ctx->skaddr;

	if (ctx->newstate == HS_TCP_CLOSE)
		bpf_map_delete_elem(&conns_by_sock, &sk);
	return 0;
}
