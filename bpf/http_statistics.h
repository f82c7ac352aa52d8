/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every structure and constant that crosses the kernel/user boundary.
 * src/kernel_abi.ts mirrors this file; test/unit/kernel_abi.test.ts checks
 * the two agree with the compiled object's BTF.
 */
#ifndef HTTP_STATISTICS_H
#define HTTP_STATISTICS_H

/* Counter slot 0 of a process counts requests; 100..599 count responses by status. */
#define HS_REQUEST_SLOT 0
#define HS_STATUS_MIN 100
#define HS_STATUS_MAX 599

/* Key of the counters map: one monotonically increasing u64 per (process, slot). */
struct hs_count_key {
	__u32 tgid;
	__u32 slot;
};

/* Key of the connections map: an accepted TCP socket as its owner sees it. */
struct hs_conn_key {
	__u32 tgid;
	__u32 fd;
};

/* Why the kernel side could not count something; index of the losses array. */
enum hs_loss {
	HS_LOSS_CONN_TABLE_FULL = 0,	/* an accepted connection found no room to be tracked */
	HS_LOSS_COUNTER_TABLE_FULL,	/* a count found no room for its (process, slot) */
	HS_LOSS_INFLIGHT_TABLE_FULL,	/* a syscall could not remember its buffer until exit */
	HS_LOSS_READ_FAULT,		/* user memory could not be read */
	HS_LOSS_PARSE_BUDGET,		/* one syscall had more header bytes than one pass parses */
	HS_LOSS_IOVEC_LIMIT,		/* a vectored call had more segments than we walk */
	HS_LOSS_DESYNC,			/* an HTTP connection sent bytes that start no message */
	HS_LOSS_HEAD_QUEUE_FULL,	/* a HEAD came after 64 unanswered requests: its answer's framing is unknown */
	HS_LOSS_UNSOLICITED_RESPONSE,	/* a status line answered no request: not counted */
	HS_LOSS_PASSED_FD_LIMIT,	/* a recvmsg passed more descriptors than we inspect */
	HS_LOSS_MAX,
};

/* Generation of a process's connection table; 0 means it tracks no connection. */
typedef __u32 hs_generation_t;
/* Generations from here up are handed out by user space to processes whose
 * connections predate the plugin (the kernel's own count never gets there). */
#define HS_USER_GENERATION_BASE 0x80000000u

/* Where a direction of a connection stands between two HTTP messages. */
enum hs_parse_state {
	HS_ST_START = 0,	/* at a message boundary: the next bytes start a message */
	HS_ST_START_LINE,	/* inside the request or status line */
	HS_ST_HEADERS,		/* inside the header block */
	HS_ST_BODY,		/* skipping body_left bytes of a Content-Length body */
	HS_ST_CHUNK_SIZE,	/* reading a chunk-size line */
	HS_ST_CHUNK_DATA,	/* skipping body_left bytes of chunk data and its CRLF */
	HS_ST_TRAILERS,		/* reading trailers after the last chunk */
	HS_ST_UNTIL_CLOSE,	/* a response body that ends when the connection does */
	HS_ST_NOT_HTTP,		/* this direction is not HTTP/1.x: ignore it for good */
};

/* Parser state of one direction of one connection (see bpf/http_parser.h). */
struct hs_parser {
	__u64 body_left;	/* bytes still to skip in HS_ST_BODY / HS_ST_CHUNK_DATA */
	__u64 window;		/* last 8 bytes of the current line, newest in the low byte */
	__u64 name_hash;	/* hash of the lower-cased header name being read */
	__u64 number;		/* Content-Length or chunk size being accumulated */
	__u32 line_len;		/* bytes seen on the current line */
	__u16 status;		/* status code of the response being parsed */
	__u8 state;		/* enum hs_parse_state */
	__u8 flags;		/* HS_F_* below */
	__u8 before_window;	/* the byte that fell out of window */
	__u8 method_is_head;	/* the request being parsed is a HEAD */
	__u8 seen_http;		/* this direction has carried at least one HTTP message */
	__u8 resync;		/* lost its place: try each new buffer as a message start */
	__u8 pad[4];
};

#define HS_F_IN_VALUE		0x01	/* past the colon of a header line */
#define HS_F_CONTENT_LENGTH	0x02	/* the value being read is Content-Length */
#define HS_F_TRANSFER_ENCODING	0x04	/* the value being read is Transfer-Encoding */
#define HS_F_HAS_LENGTH		0x08	/* this message declared a Content-Length */
#define HS_F_CHUNKED		0x10	/* this message is chunked */
#define HS_F_NUMBER_DONE	0x20	/* digits of the number ended (spaces may follow) */
#define HS_F_DIGITS		0x40	/* the number has at least one digit */

/* Value of the connections map. For connections that existed before it
 * started, user space writes one zeroed but for generation, both resync
 * flags and seeded_unentered, since it cannot know where their current
 * messages start nor whether a read was already waiting. */
struct hs_conn {
	hs_generation_t generation;	/* the owner's generation when this was tracked */
	__u32 seeded_unentered;		/* seeded, no read entered since: one may have been blocked at attach */
	__u64 head_queue;		/* one bit per request awaiting its response: 1 = HEAD (first 64) */
	__u32 head_queue_len;		/* requests awaiting their response */
	__u32 pad;
	struct hs_parser request;	/* bytes the process read */
	struct hs_parser response;	/* bytes the process wrote */
};

#endif /* HTTP_STATISTICS_H */
