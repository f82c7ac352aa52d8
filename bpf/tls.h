/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * HTTPS from the TLS library's plaintext. tls_capture.bpf.c probes the
 * library's read and write calls and parses their plaintext per TLS
 * session (one SSL object of one process): one stream for the parser,
 * whatever moves its ciphertext, so memory-BIO runtimes count the same as
 * sockets. The ciphertext's own TCP connection is never parsed (the parser
 * sets it aside at its handshake record); the socket hooks only tell
 * whether a hooked call ever moved its bytes, and a connection closed
 * without one is the named loss tls_undecoded.
 */
#ifndef HS_TLS_H
#define HS_TLS_H

#include "maps.bpf.h"

/* Which call a TLS probe sits on: the cookie user space attaches it with
 * (src/kernel/kernel_abi.ts mirrors the order). One program per kind of
 * probe reads it back and does that call's work, so that a library file
 * needs one link per kind (entries, returns), not one per probed
 * instruction: the kernel waits for a grace period to remove each link. */
enum hs_tls_probe {
	HS_TLS_OPENSSL_READ_EX = 0,	/* (ssl, buf, num, &readbytes): SSL_read_ex, or the internal function SSL_read shares with it */
	HS_TLS_OPENSSL_WRITE_EX,	/* (ssl, buf, num, &written) */
	HS_TLS_OPENSSL_READ,		/* SSL_read (ssl, buf, num) -> bytes, where it is probed itself */
	HS_TLS_OPENSSL_WRITE,		/* SSL_write (ssl, buf, num) -> bytes */
	HS_TLS_OPENSSL_CLEAR,		/* SSL_clear (ssl) */
	HS_TLS_OPENSSL_FREE,		/* SSL_free (ssl) */
	HS_TLS_GO_READ,			/* crypto/tls (*Conn).Read's entry */
	HS_TLS_GO_WRITE,		/* (*Conn).Write's entry */
	HS_TLS_GO_SERVER_HANDSHAKE,	/* (*Conn).serverHandshake's entry */
	HS_TLS_GO_CLIENT_HANDSHAKE,	/* (*Conn).clientHandshake's entry */
	HS_TLS_GO_RETURN,		/* a return instruction of Read or Write */
	HS_TLS_GO_CLOSE,		/* (*Conn).Close's entry */
};

/* One TLS session: an SSL object (OpenSSL) or a *tls.Conn (Go) of a process. */
struct hs_tls_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl;
};

/* A read or write call in progress on a thread, from its entry to its return. */
struct hs_tls_call {
	__u64 ssl;
	__u64 buf;
	__u64 done;		/* where the library stores the bytes it moved (a size_t); 0: the return value says */
	__u8 inbound;
	__u8 socket_moved;	/* a socket hook fired inside the call */
	__u8 pad[6];
};

/* Calls one thread is inside, innermost last: TLS inside TLS (curl through
 * an HTTPS proxy) calls the outer session's SSL_write from inside the inner
 * one's. Returns come in the reverse order of entries, so a stack pairs
 * them; calls deeper than it holds are counted, not recorded. */
#define HS_TLS_NESTING 4
struct hs_tls_thread {
	struct hs_tls_call calls[HS_TLS_NESTING];
	__u32 depth;		/* calls entered and not returned, recorded or not */
	__u8 bio_marked;	/* this thread's process is in tls_bio_processes already */
	__u8 pad[3];
};

/* Parser state per TLS session, created at SSL_clear (SSL_new calls it) or
 * a Go handshake, replaced when the object is cleared for another
 * connection, deleted at SSL_free or a Go Conn's Close; entries of exited
 * processes are swept from user space. 65,536 sessions. */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct hs_tls_key);
	__type(value, struct hs_conn);
} tls_sessions SEC(".maps");

/* The calls each thread is inside: task-local storage, freed with the
 * thread, found without hashing (a hash map here cost more than the rest
 * of the programs together). */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct hs_tls_thread);
} tls_calls SEC(".maps");

/* A goroutine of a process: Go's calls are followed per goroutine, not per
 * thread, since a goroutine that blocks in Read resumes on whichever thread
 * the scheduler gives it. The goroutine is its g pointer, which Go's
 * register ABI keeps in R14. */
struct hs_go_call_key {
	__u32 tgid;
	__u32 pad;
	__u64 goroutine;
};

/* A crypto/tls Read or Write in progress, from its entry to one of its returns. */
struct hs_go_call {
	__u64 conn;		/* the *tls.Conn: the session */
	__u64 buf;
	__u8 inbound;
	__u8 socket_moved;	/* a socket hook fired inside the call */
	__u8 pending;		/* a Write whose bytes wait in go_tls_writes */
	__u8 pad[5];
};

/* Go calls in progress; an entry lives from a call's entry to its return
 * (a goroutine is in one at a time), and those of exited processes are
 * swept from user space. 16,384 goroutines inside crypto/tls at once. */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct hs_go_call_key);
	__type(value, struct hs_go_call);
} go_tls_calls SEC(".maps");

/* A Write in progress on a session: its bytes, parsed at its return or,
 * if a Read of the session returns first, before that Read's bytes. Go
 * reads and writes a connection from different goroutines (net/http's
 * client), and an answer can be read back before the Write that sent the
 * request has returned: a response is only ever parsed after its request.
 * A response proves the server had the request, so parsing the whole
 * Write then counts nothing that was not sent. */
struct hs_go_write {
	__u64 buf;
	__u64 len;
	__u64 goroutine;	/* the writer: only its return parses what is left */
	__u32 state;		/* enum hs_go_write_state, changed by compare-and-swap */
	__u32 pad;
};

/* Who parses a waiting Write: the writer's return or a Read's return may
 * reach it at the same moment on two CPUs; the one that moves it from
 * WAITING to PARSING parses it, and a Read that finds it PARSING waits for
 * PARSED before parsing its response. */
enum hs_go_write_state {
	HS_GO_WRITE_WAITING = 0,
	HS_GO_WRITE_PARSING,
	HS_GO_WRITE_PARSED,
};

/* Writes in progress, one per session (tls.Conn serializes its writers;
 * a second writer waits and is parsed at its own return). 16,384. */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct hs_tls_key);
	__type(value, struct hs_go_write);
} go_tls_writes SEC(".maps");

/* Processes that wrote TLS plaintext through a call that moved no socket
 * bytes (memory BIOs: Python asyncio, Node): their TLS connections are
 * decoded by session, not by socket. 4,096 processes. */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} tls_bio_processes SEC(".maps");

/* A socket event on a connection that began with a TLS handshake (the
 * capture's early exit for connections that are not HTTP). */
static __always_inline void hs_tls_socket_event(struct hs_conn *conn)
{
	struct hs_go_call_key go_key = {};
	struct task_struct *task;
	struct hs_tls_thread *thread;
	struct hs_go_call *go;
	struct pt_regs *regs;
	__u32 top;

	/* Every call on a connection that is not HTTP comes here: no helper before this exit. */
	if (conn->tls == HS_TLS_NONE || conn->tls == HS_TLS_COUNTED)
		return;
	task = bpf_get_current_task_btf();
	go_key.tgid = bpf_get_current_pid_tgid() >> 32;
	thread = bpf_task_storage_get(&tls_calls, task, 0, 0);
	if (thread && thread->depth) {
		top = thread->depth - 1;
		if (top < HS_TLS_NESTING)
			thread->calls[top].socket_moved = 1;
		conn->tls = HS_TLS_DECODED;
		return;
	}
	/* Go makes its socket calls on the thread running the goroutine, with
	 * the goroutine still in R14, which the syscall saved. */
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	go_key.goroutine = regs->r14;
	go = bpf_map_lookup_elem(&go_tls_calls, &go_key);
	if (go) {
		go->socket_moved = 1;
		conn->tls = HS_TLS_DECODED;
		return;
	}
	if (conn->tls == HS_TLS_UNDECODED && bpf_map_lookup_elem(&tls_bio_processes, &go_key.tgid))
		conn->tls = HS_TLS_DECODED;
}

/* The connection closed: one that began with TLS and was never decoded is a loss, once. */
static __always_inline void hs_tls_closed(struct hs_conn *conn)
{
	if (conn->tls != HS_TLS_UNDECODED)
		return;
	conn->tls = HS_TLS_COUNTED;
	hs_count_loss(HS_LOSS_TLS_UNDECODED);
}

#endif /* HS_TLS_H */
