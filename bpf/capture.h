/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What both capture front-ends do once they hold a TCP connection's state
 * and know how many bytes one call moved: check that the call starts where
 * the last one ended, skip body bytes without looking at them, and
 * otherwise find the bytes from the syscall's saved registers and parse
 * them. socket_capture.bpf.c and syscall_capture.bpf.c differ only in how
 * they get here.
 */
#ifndef HS_CAPTURE_H
#define HS_CAPTURE_H

#include "http_parser.h"
#include "http2_parser.h"
#include "tls.h"
#include <bpf/bpf_core_read.h>

/* Views a kernel object as another BTF type, read-only. The verifier
 * replaces the call with nothing, where bpf_skc_to_tcp_sock is a helper
 * call on every event. Linux 6.2+, so present wherever the socket
 * tracepoints are; weak, so the object still loads on the fallback's kernels. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* First lines a connection joined mid-stream may show before we stop looking for HTTP on it. */
#define HS_JOIN_TRIES 8

/* A connection seen for the first time: at the start of its byte stream we
 * know where messages start; joined later (it predates the plugin), we look
 * for a message start at each call for a while. */
static __always_inline void hs_init_conn(struct hs_conn *conn, bool at_stream_start)
{
	if (at_stream_start) {
		conn->timing = 1;
		return;
	}
	conn->tries = HS_JOIN_TRIES;
	conn->in.resync = 1;
	conn->out.resync = 1;
}

/* What a socket's TCP counters say about where its streams stand. */
struct hs_tcp_position {
	__u64 bytes_received;
	__u64 bytes_acked;
	__u32 rcv_nxt;
	__u32 copied_seq;
	__u32 snd_una;
	__u32 write_seq;
};

/* Whether this call's bytes are the first the application moved in that
 * direction (up to a FIN or SYN counted along): received bytes minus those
 * still queued are those read, acknowledged bytes plus those not yet
 * acknowledged are those written, and either must be just this call's. A
 * send is at the start only if the application read nothing yet either: a
 * server's first send follows the request it read, and a client that sent
 * a request before we looked and pipelines another would otherwise pair
 * its first answer with the second. What it has not read does not matter:
 * the answer to this very send may already be queued when we look. */
static __always_inline bool hs_at_stream_start(bool inbound, struct hs_tcp_position *at, __s64 ret)
{
	__u64 read = at->bytes_received - (__u32)(at->rcv_nxt - at->copied_seq);

	if (!inbound)
		return read <= 1 && at->bytes_acked + (__u32)(at->write_seq - at->snd_una) - ret <= 1;
	return read - ret <= 1;
}

/*
 * end is where the application's byte stream stands after the call (the
 * socket's copied_seq or write_seq). A call that does not start where the
 * last one ended means bytes moved that we never saw (splice to a pipe,
 * another thread's call racing ours, urgent data): the stream lost its place.
 */
static __always_inline void hs_check_seq(struct hs_conn *conn, struct hs_stream *s, bool inbound,
					 __u32 end, __s64 ret)
{
	__u32 start = end - (__u32)ret;

	if (s->seq_known && start != s->next_seq && !(inbound && start - 1 == s->next_seq)) {
		if ((conn->role == HS_ROLE_SERVER || conn->role == HS_ROLE_CLIENT) && !s->resync)
			hs_count_loss(HS_LOSS_DESYNC);
		hs_lose_place(conn, s);
	}
	s->next_seq = end;
	s->seq_known = 1;
}

/* Bytes we can never see: count why, and look for a message start later. */
static __always_inline void hs_cannot_see(struct hs_conn *conn, struct hs_stream *s, enum hs_loss reason)
{
	hs_count_loss(reason);
	hs_lose_place(conn, s);
}

/* The kernel's limit on a vectored call's segments (UIO_MAXIOV): a call with more fails. */
#define HS_IOV_MAX 1024

/* One vectored call's walk over its segments, HS_MAX_IOV iovecs (one user read) at a time. */
struct hs_iov_walk {
	struct hs_conn *conn;
	__u64 iov;		/* user address of the iovec array */
	__u64 vlen;		/* its segments, at most HS_IOV_MAX */
	__u64 bytes;		/* the call's bytes not parsed yet */
	__u32 tgid;
	__u8 inbound;
	__u8 fault;		/* the array could not be read */
};

/* Parses the segments of one chunk of the array; 1 when the walk is over. */
static __always_inline int hs_iov_chunk(struct hs_iov_walk *w, __u32 chunk)
{
	__u64 first = (__u64)chunk * HS_MAX_IOV, len;
	struct hs_scratch *sc;
	__u32 n, i, zero = 0;

	if (!w->bytes || first >= w->vlen)
		return 1;
	n = w->vlen - first < HS_MAX_IOV ? w->vlen - first : HS_MAX_IOV;
	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!sc)
		return 1;
	if (bpf_probe_read_user(sc->iov, n * sizeof(sc->iov[0]), (void *)(w->iov + first * sizeof(struct hs_iovec)))) {
		w->fault = 1;
		return 1;
	}
	for (i = 0; i < HS_MAX_IOV; i++) {
		if (i >= n || !w->bytes)
			break;
		len = sc->iov[i].len < w->bytes ? sc->iov[i].len : w->bytes;
		/* A segment is parsed like a call of its own: lines, names and tokens may span any number of them. */
		if (len)
			hs_parse(w->conn, w->inbound | HS_PARSE_SEGMENT, w->tgid, sc->iov[i].base, len);
		w->bytes -= len;
	}
	return 0;
}

static int hs_iov_chunk_cb(__u32 index, struct hs_iov_walk *w)
{
	return hs_iov_chunk(w, index + 1);
}

/* Every segment of a vectored call, until its byte count is used up. The
 * first chunk inline, so that calls of a few segments (nearly all) pay no
 * more than they did; the rest through bpf_loop, which the verifier walks
 * once however many segments come. */
static __always_inline void hs_parse_iov(struct hs_conn *conn, struct hs_stream *s, bool inbound,
					 __u32 tgid, __u64 iov, __u64 vlen, __u64 bytes)
{
	struct hs_iov_walk w = {
		.conn = conn,
		.iov = iov,
		.vlen = vlen < HS_IOV_MAX ? vlen : HS_IOV_MAX,
		.bytes = bytes,
		.tgid = tgid,
		.inbound = inbound,
	};

	if (!vlen) {
		hs_cannot_see(conn, s, HS_LOSS_READ_FAULT);
		return;
	}
	/* HTTP/2 on a connection joined mid-stream: told from the whole call, whose segments may cut frames anywhere. */
	if (hs_h2_joining(conn, s, inbound) && hs_h2_join(conn, tgid, iov, bytes, HS_H2_CALL(inbound, w.vlen)) == HS_H2_JOIN_HELD)
		return;
	if (!hs_iov_chunk(&w, 0) && w.bytes && w.vlen > HS_MAX_IOV)
		bpf_loop(HS_IOV_MAX / HS_MAX_IOV - 1, hs_iov_chunk_cb, &w, 0);
	if (w.fault)
		hs_cannot_see(conn, s, HS_LOSS_READ_FAULT);
	else if (w.bytes)
		/* The segments, as read after the call, do not hold what it moved: another thread rewrote the array. */
		hs_cannot_see(conn, s, HS_LOSS_IOVEC_LIMIT);
}

/* Where the call's bytes are, by the syscall the task is in, then parse them. */
static __always_inline void hs_parse_call(struct hs_conn *conn, bool inbound, __u32 tgid,
					  struct pt_regs *regs, __s64 ret)
{
	struct hs_stream *s = inbound ? &conn->in : &conn->out;
	__u64 buf = regs->si, iov[2];

	switch (regs->orig_ax) {
	case HS_NR_READ:
	case HS_NR_RECVFROM:
	case HS_NR_WRITE:
	case HS_NR_SENDTO:
		hs_parse(conn, inbound, tgid, buf, ret);
		return;
	case HS_NR_READV:
	case HS_NR_WRITEV:
	case HS_NR_PREADV2:
	case HS_NR_PWRITEV2:
		hs_parse_iov(conn, s, inbound, tgid, buf, regs->dx, ret);
		return;
	case HS_NR_RECVMSG:
	case HS_NR_SENDMSG:
		/* msg_iov and msg_iovlen, adjacent in struct msghdr */
		if (bpf_probe_read_user(iov, sizeof(iov), (void *)(buf + __builtin_offsetof(struct hs_user_msghdr, iov)))) {
			hs_cannot_see(conn, s, HS_LOSS_READ_FAULT);
			return;
		}
		hs_parse_iov(conn, s, inbound, tgid, iov[0], iov[1], ret);
		return;
	case HS_NR_SENDFILE:
	case HS_NR_SPLICE:
		/* File or pipe pages: fine inside a body (hs_skip_body took those), lost anywhere else. */
		hs_cannot_see(conn, s, HS_LOSS_UNREADABLE);
		return;
	case HS_NR_RECVMMSG:
	case HS_NR_SENDMMSG:
		hs_cannot_see(conn, s, HS_LOSS_MMSG);
		return;
	case HS_NR_IO_URING_ENTER:
		hs_cannot_see(conn, s, HS_LOSS_IO_URING);
		return;
	}
	hs_cannot_see(conn, s, HS_LOSS_UNKNOWN_CALL);
}

/* How a front-end reaches the socket: the socket capture holds a BTF
 * pointer (plain loads, no helper call), the syscall capture an address
 * (probe reads, CO-RE relocated). A constant at every call site, so each
 * program keeps one of the two. */
enum hs_front {
	HS_FRONT_SOCKET,
	HS_FRONT_SYSCALL,
};

#define HS_READ(front, ptr, field) ((front) == HS_FRONT_SOCKET ? (ptr)->field : BPF_CORE_READ(ptr, field))

/* A call that moved no bytes of the stream: failed, empty, peeked (the same bytes come again) or urgent data. */
static __always_inline bool hs_moved_nothing(__s64 ret, __u64 flags)
{
	return ret <= 0 || (flags & (HS_MSG_PEEK | HS_MSG_OOB));
}

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

/* Whether a socket event fired inside the task's own data syscall on this
 * very socket, in the same direction: only then do the saved registers
 * describe its bytes in a task that uses io_uring, whose completions run
 * inside whatever syscall the task makes next (its workers make none).
 * An io_uring task's plain write to its stdout socket is then parsed, not
 * lost. */
static __always_inline bool hs_own_data_call(struct task_struct *task, struct pt_regs *regs, struct sock *sk, bool inbound)
{
	__u64 ino;

	if (task->flags & HS_PF_IO_WORKER)
		return false;
	switch (regs->orig_ax) {
	case HS_NR_READ:
	case HS_NR_READV:
	case HS_NR_RECVFROM:
	case HS_NR_RECVMSG:
		if (!inbound)
			return false;
		break;
	case HS_NR_WRITE:
	case HS_NR_WRITEV:
	case HS_NR_SENDTO:
	case HS_NR_SENDMSG:
		if (inbound)
			return false;
		break;
	default:
		return false;
	}
	return hs_sock_of(task, regs->di, &ino) == sk;
}

/* The connection's parser state, or 0 when there is none and no room for one. */
static __always_inline struct hs_conn *hs_conn_lookup(enum hs_front front, struct sock *sk)
{
	__u64 key = (__u64)sk;

	if (front == HS_FRONT_SOCKET)
		return bpf_sk_storage_get(&conns, sk, 0, 0);
	return bpf_map_lookup_elem(&conns_by_sock, &key);
}

static __always_inline struct hs_conn *hs_conn_create(enum hs_front front, struct sock *sk)
{
	struct hs_conn *conn;
	__u64 key = (__u64)sk;

	if (front == HS_FRONT_SOCKET) {
		/* The kernel's own sockets (NFS, SMB) carry no file; the task's
		 * registers say nothing of them. Checked here, once per socket,
		 * not on every call. */
		if (!sk->sk_socket || !sk->sk_socket->file)
			return 0;
		conn = bpf_sk_storage_get(&conns, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	} else {
		conn = 0;
		if (!bpf_map_update_elem(&conns_by_sock, &key, &hs_zero_conn, BPF_NOEXIST))
			conn = bpf_map_lookup_elem(&conns_by_sock, &key);
	}
	if (!conn)
		hs_count_loss(HS_LOSS_CONN_TABLE_FULL);
	return conn;
}

static __always_inline struct tcp_sock *hs_tcp_sk(enum hs_front front, struct sock *sk)
{
	if (front == HS_FRONT_SOCKET)
		return bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
	return (struct tcp_sock *)sk;
}

/* A TCP connection seen for the first time: where its streams stand decides whether it is timed. */
static __always_inline void hs_tcp_first_call(enum hs_front front, struct hs_conn *conn, struct tcp_sock *tp,
					      bool inbound, __s64 ret)
{
	struct hs_tcp_position at = {
		.bytes_received = HS_READ(front, tp, bytes_received),
		.bytes_acked = HS_READ(front, tp, bytes_acked),
		.rcv_nxt = HS_READ(front, tp, rcv_nxt),
		.copied_seq = HS_READ(front, tp, copied_seq),
		.snd_una = HS_READ(front, tp, snd_una),
		.write_seq = HS_READ(front, tp, write_seq),
	};

	hs_init_conn(conn, hs_at_stream_start(inbound, &at, ret));
}

/* Whether a sock is TCP over IPv4 or IPv6 (a netlink socket's protocol can be 6 too). */
static __always_inline bool hs_is_inet(enum hs_front front, struct sock *sk)
{
	__u16 family = HS_READ(front, sk, __sk_common.skc_family);

	return family == HS_AF_INET || family == HS_AF_INET6;
}

/*
 * What every call on a TCP socket goes through, in either capture, once the
 * front-end knows it is a process's TCP socket (the syscall capture checks
 * the family only when it first meets a socket): find or make the
 * connection's state, check the call starts where the last one ended, skip
 * body bytes without reading them. Returns the connection when the call's
 * bytes must be parsed, else 0. `messages`: ret counts messages
 * (recvmmsg/sendmmsg at a syscall's exit), not bytes.
 */
static __always_inline struct hs_conn *hs_tcp_call(enum hs_front front, struct sock *sk, bool inbound,
						   __s64 ret, __u64 flags, bool messages)
{
	struct tcp_sock *tp = hs_tcp_sk(front, sk);
	struct hs_conn *conn = hs_conn_lookup(front, sk);
	struct hs_stream *s;

	if (conn && conn->role == HS_ROLE_NOT_HTTP) {
		hs_tls_socket_event(conn);
		return 0;
	}
	if (!conn) {
		if (front == HS_FRONT_SYSCALL && !hs_is_inet(front, sk))
			return 0;
		conn = hs_conn_create(front, sk);
		if (!conn)
			return 0;
		if (front == HS_FRONT_SYSCALL && BPF_CORE_READ(sk, __sk_common.skc_state) == HS_TCP_CLOSE) {
			/* A call may return after its socket reached TCP_CLOSE, which
			 * moved its entry to closed_conns: one made now would outlive
			 * the socket, and the next socket at this address would inherit
			 * its state. Checked after the insert, so that a close racing it
			 * deletes it either way. The call goes on with the state the
			 * close left, if there was one. */
			__u64 key = (__u64)sk;

			bpf_map_delete_elem(&conns_by_sock, &key);
			conn = bpf_map_lookup_elem(&closed_conns, &key);
			if (!conn || conn->role == HS_ROLE_NOT_HTTP)
				return 0;
		} else {
			hs_tcp_first_call(front, conn, tp, inbound, ret);
		}
	}
	s = inbound ? &conn->in : &conn->out;
	if (messages) {
		/* The registers do not say which message moved, nor how many bytes: the stream's position is lost too. */
		hs_cannot_see(conn, s, HS_LOSS_MMSG);
		s->seq_known = 0;
		return 0;
	}
	hs_check_seq(conn, s, inbound, inbound ? HS_READ(front, tp, copied_seq) : HS_READ(front, tp, write_seq), ret);
	if (hs_skip_body(conn, s, ret))
		return 0;
	if (flags & HS_MSG_TRUNC) {
		/* TCP discards these bytes instead of copying them out. */
		hs_cannot_see(conn, s, HS_LOSS_UNREADABLE);
		return 0;
	}
	return conn;
}

/* The walk of the unix sockets that existed at start, once it is over. */
static __always_inline struct hs_unix_walk *hs_unix_walk_done(void)
{
	struct hs_unix_walk *walk;
	__u32 zero = 0;

	walk = bpf_map_lookup_elem(&unix_walk, &zero);
	return walk && walk->done ? walk : 0;
}

/*
 * A connection to the plugin's own report socket, either end: not counted.
 * Scope's probe polls it every second for the plugin's whole life, over a
 * connection usually opened while the plugin was still loading (so never
 * timed): it would be a steady stream of untimed answers about nothing but
 * the plugin itself. An accepted socket shares its listener's address; a
 * client's peer is such an accepted socket.
 */
static __always_inline struct unix_sock *hs_unix_sk(enum hs_front front, struct sock *sk)
{
	if (front == HS_FRONT_SOCKET)
		return bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct unix_sock));
	return (struct unix_sock *)sk;
}

static __always_inline bool hs_unix_is_own(enum hs_front front, struct hs_unix_walk *walk, struct sock *sk)
{
	struct unix_sock *u = hs_unix_sk(front, sk);
	struct sock *peer;

	if (!walk->own_addr)
		return false;
	if ((__u64)HS_READ(front, u, addr) == walk->own_addr)
		return true;
	peer = HS_READ(front, u, peer);
	return peer && (__u64)HS_READ(front, hs_unix_sk(front, peer), addr) == walk->own_addr;
}

/* Whether a unix stream socket met for the first time is newer than the
 * plugin (unix_existing.bpf.c): then its streams start with this call. */
static __always_inline bool hs_unix_is_new(enum hs_front front, struct hs_unix_walk *walk, struct sock *sk, __u64 ino)
{
	__u64 key = (__u64)sk, *listed;
	bool existed;

	if (walk->incomplete || walk->net != (__u64)HS_READ(front, sk, __sk_common.skc_net.net))
		return false;
	listed = bpf_map_lookup_elem(&unix_before, &key);
	if (!listed)
		return true;
	/* Another inode number: the listed socket died and this one took its address. */
	existed = *listed == ino;
	bpf_map_delete_elem(&unix_before, &key);
	return !existed;
}

/*
 * The same for a unix stream socket. It has no sequence numbers, so its
 * place is only as good as the calls seen: sendfile and splice into it
 * arrive as calls of their own (body bytes, or a named loss), and so does
 * splice out of it at a syscall's exit; the socket capture sees no event for
 * that one (docs/plaintext-notes.md). The syscall capture keeps state by
 * address, and no event retires a unix socket there: an entry whose inode
 * number is not the socket's belonged to a dead socket and starts over.
 * ino: the syscall capture's; the socket capture reads it when it needs it.
 */
static __always_inline struct hs_conn *hs_unix_call(enum hs_front front, struct sock *sk, __u64 ino, bool inbound,
						    __s64 ret, __u64 flags, bool messages)
{
	struct hs_conn *conn = hs_conn_lookup(front, sk);
	struct hs_unix_walk *walk;
	struct hs_stream *s;
	__u64 key = (__u64)sk;

	if (front == HS_FRONT_SYSCALL && conn && conn->ino != (__u32)ino) {
		bpf_map_delete_elem(&conns_by_sock, &key);
		conn = 0;
	}
	if (conn && conn->role == HS_ROLE_NOT_HTTP)
		return 0;
	if (conn && conn->is_unix == HS_UNIX_BEFORE_WALK && (walk = hs_unix_walk_done())) {
		/* Met while the walk ran: whose it is can be told now. */
		conn->is_unix = HS_UNIX;
		if (hs_unix_is_own(front, walk, sk)) {
			conn->role = HS_ROLE_NOT_HTTP;
			return 0;
		}
	}
	if (!conn) {
		/* The socket capture needs it only here: a socket's storage dies with it. */
		if (front == HS_FRONT_SOCKET)
			ino = sk->sk_socket->file->f_inode->i_ino;
		conn = hs_conn_create(front, sk);
		if (!conn)
			return 0;
		conn->ino = ino;
		walk = hs_unix_walk_done();
		if (!walk) {
			/* Before the walk ends nothing tells a new socket from an old one: joined. */
			conn->is_unix = HS_UNIX_BEFORE_WALK;
			hs_init_conn(conn, false);
		} else if (hs_unix_is_own(front, walk, sk)) {
			conn->role = HS_ROLE_NOT_HTTP;
			return 0;
		} else {
			conn->is_unix = HS_UNIX;
			hs_init_conn(conn, hs_unix_is_new(front, walk, sk, ino));
		}
	}
	s = inbound ? &conn->in : &conn->out;
	if (messages) {
		hs_cannot_see(conn, s, HS_LOSS_MMSG);
		return 0;
	}
	if (hs_skip_body(conn, s, ret))
		return 0;
	if (flags & HS_MSG_TRUNC) {
		hs_cannot_see(conn, s, HS_LOSS_UNREADABLE);
		return 0;
	}
	return conn;
}

/*
 * A TCP connection's end, for an answer whose body runs until it: the read
 * that finds the end of the stream (the client's side), or the process
 * closing or shutting down its sending side (the server's side, seen as
 * ESTABLISHED or CLOSE_WAIT giving way to FIN_WAIT1 or LAST_ACK, which only
 * the owner's close or shutdown does). Whatever is still waiting when the
 * socket reaches TCP_CLOSE (a reset, a client that closed before reading to
 * the end) was counted without a duration.
 */
static __always_inline void hs_until_close_done(struct hs_conn *conn, struct hs_stream *s, bool inbound)
{
	if (s->state == HS_ST_UNTIL_CLOSE && s->answers_ns)
		hs_record_answer(conn, inbound, conn->until_close_tgid);
}

/* A read that returned 0: the peer's sending side ended. */
static __always_inline void hs_tcp_read_end(struct hs_conn *conn)
{
	hs_until_close_done(conn, &conn->in, true);
}

static __always_inline void hs_tcp_state_change(struct hs_conn *conn, int oldstate, int newstate)
{
	if ((oldstate == HS_TCP_ESTABLISHED || oldstate == HS_TCP_CLOSE_WAIT) &&
	    (newstate == HS_TCP_FIN_WAIT1 || newstate == HS_TCP_LAST_ACK)) {
		hs_until_close_done(conn, &conn->out, false);
		return;
	}
	if (newstate == HS_TCP_CLOSE) {
		if (conn->in.state == HS_ST_UNTIL_CLOSE)
			hs_answer_untimed(&conn->in);
		if (conn->out.state == HS_ST_UNTIL_CLOSE)
			hs_answer_untimed(&conn->out);
	}
}

#endif /* HS_CAPTURE_H */
