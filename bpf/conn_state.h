/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the kernel side remembers about one TCP or unix stream connection between two
 * calls: its role, and where each direction's HTTP parser stands. It lives
 * in socket-local storage (socket capture) or in a table keyed by the
 * socket (syscall capture), and never crosses to user space.
 */
#ifndef HS_CONN_STATE_H
#define HS_CONN_STATE_H

#include "kernel_types.h"
#include "http2_state.h"

/* Who this connection's process is, learnt from the first request line it
 * receives (a server) or sends (a client). */
enum hs_role {
	HS_ROLE_UNKNOWN = 0,
	HS_ROLE_SERVER,
	HS_ROLE_CLIENT,
	HS_ROLE_NOT_HTTP,	/* not HTTP/1.x, or no longer (101 Switching Protocols, a CONNECT tunnel) */
	HS_ROLE_H2_SERVER,	/* HTTP/2 (bpf/http2_parser.bpf.c), receiving the client preface */
	HS_ROLE_H2_CLIENT,	/* HTTP/2, sending it */
};

/* What kind of socket a connection is on, beside TCP. */
enum hs_unix {
	HS_UNIX_NOT = 0,	/* TCP */
	HS_UNIX,		/* a unix stream socket */
	HS_UNIX_BEFORE_WALK,	/* one met before the walk of existing unix sockets ended: whose it is is still to check */
};

/* A TCP connection whose first bytes were a TLS handshake is not parsed
 * itself: its plaintext comes from the TLS library's calls (tls.h). */
enum hs_tls {
	HS_TLS_NONE = 0,
	HS_TLS_UNDECODED,	/* no hooked library call has moved its bytes yet */
	HS_TLS_DECODED,		/* its bytes moved inside a hooked call, or its process decodes memory-BIO sessions */
	HS_TLS_COUNTED,		/* closed undecoded: its loss is counted */
};

/* A TLS record header's first two bytes: content type handshake, major version 3 (SSL 3.0 to TLS 1.3). */
#define HS_TLS_RECORD_HANDSHAKE 0x16
#define HS_TLS_MAJOR 0x03

/* Where one direction stands between two HTTP messages. */
enum hs_state {
	HS_ST_START = 0,	/* at a message boundary: the next line starts a message */
	HS_ST_HEADERS,		/* inside the header block */
	HS_ST_BODY,		/* skipping body_left bytes of a Content-Length body */
	HS_ST_CHUNK_SIZE,	/* expecting a chunk-size line */
	HS_ST_CHUNK_DATA,	/* skipping body_left bytes of chunk data and its CRLF */
	HS_ST_TRAILERS,		/* reading trailers after the last chunk */
	HS_ST_UNTIL_CLOSE,	/* a response body that ends when the connection does */
	HS_ST_PAUSED,		/* requests after an Upgrade or CONNECT wait for its answer */
};

#define HS_F_HAS_LENGTH	0x01	/* this message declared a Content-Length */
#define HS_F_CHUNKED	0x02	/* its Transfer-Encoding ends in chunked */
#define HS_F_TE		0x04	/* it has a Transfer-Encoding */
#define HS_F_UPGRADE	0x08	/* a request asking for another protocol */
#define HS_F_CONNECT	0x10	/* a CONNECT request */
#define HS_F_H2C	0x20	/* its Upgrade asks for HTTP/2 in cleartext (h2c) */

/* Bytes of a line split across calls that classifying it needs: its start
 * (method, header name, short values) and its end (the HTTP version). */
#define HS_CARRY_HEAD 32
#define HS_CARRY_TAIL 16

/* One direction of a connection. */
struct hs_stream {
	__u64 body_left;	/* bytes still to skip in HS_ST_BODY / HS_ST_CHUNK_DATA */
	union {
		struct {
			__u64 head[HS_CARRY_HEAD / 8];	/* first bytes of the line carried from earlier calls */
			__u64 tail[HS_CARRY_TAIL / 8];	/* its last bytes, the newest in the high byte of tail[1] */
		};
		struct hs_h2_timed h2_timed;	/* HS_ROLE_H2_*: carries no line */
	};
	__u32 line_len;		/* bytes of that line so far (0: no line is carried) */
	__u32 next_seq;		/* TCP sequence number the next call must start at */
	__u16 status;		/* status code of the response whose headers are being read */
	__u16 odd;		/* bytes <= 0x20 or 0x7f in the carried start line */
	__u8 state;		/* enum hs_state */
	__u8 flags;		/* HS_F_* of the message being parsed */
	__u8 resync;		/* at no known message boundary: try each call's first bytes */
	__u8 seq_known;		/* next_seq holds a value */
	__u64 started_ns;	/* request stream: when the call carrying the message's first byte returned */
	__u64 answers_ns;	/* response stream: when the request this response answers started (0: untimed) */
};

/* Start times kept for requests awaiting their answers (pipelining deeper than this goes untimed); a power of two. */
#define HS_TIMED_REQUESTS 16

struct hs_conn {
	__u64 head_queue;	/* one bit per request awaiting its response, 1 = HEAD (first 64) */
	__u32 queue_len;	/* requests awaiting their response */
	__u8 role;		/* enum hs_role */
	__u8 tries;		/* first lines left to find HTTP on a connection joined mid-stream */
	__u8 tunnel;		/* HS_F_UPGRADE or HS_F_CONNECT: the paused request awaiting its answer */
	/* Seen from the start of its byte stream, and never lost its place
	 * since: only then is the n-th answer known to answer the n-th request. */
	__u8 timing;
	__u16 timed;		/* bit i: request i of the queue has its start time in request_ns */
	__u8 timed_head;	/* request_ns index of the queue's first request */
	__u8 is_unix;		/* enum hs_unix: a unix stream socket, on which no event marks the end */
	__u32 ino;		/* syscall capture, unix sockets (low 32 bits): the socket's inode number, told apart from a dead socket at the same address */
	__u32 until_close_tgid;	/* the process whose answer's body ends with the connection */
	__u8 tls;		/* enum hs_tls: what became of a connection that began with a TLS handshake */
	__u8 h2_join;		/* HS_H2_JOINED: an HTTP/2 connection joined mid-stream (http2_parser.h) */
	__u8 h2_pending[2];	/* joined, side not yet told: header blocks without END_STREAM whose first field we could not read, received [0] and sent [1] */
	union {
		__u64 request_ns[HS_TIMED_REQUESTS];
		struct hs_h2_conn h2;	/* HS_ROLE_H2_*: HTTP/1.x's queue is never used */
	};
	struct hs_stream in;	/* bytes the process received */
	struct hs_stream out;	/* bytes it sent */
};

_Static_assert(sizeof(struct hs_h2_conn) <= HS_TIMED_REQUESTS * sizeof(__u64), "HTTP/2 state must fit in the room it shares");
_Static_assert(sizeof(struct hs_h2_timed) <= HS_CARRY_HEAD + HS_CARRY_TAIL, "HTTP/2 start times must fit in the room they share");

#endif /* HS_CONN_STATE_H */
