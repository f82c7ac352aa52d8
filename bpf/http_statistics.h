/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every structure and constant that crosses the kernel/user boundary.
 * src/kernel_abi.ts mirrors this file; test/unit/kernel_abi.test.ts checks
 * the two agree with the compiled object's BTF.
 */
#ifndef HTTP_STATISTICS_H
#define HTTP_STATISTICS_H

/*
 * The counter slots of one process. Its server side: slot 0 counts the
 * requests it received, 100..599 the responses it sent by status, 2000 + b
 * the requests whose duration fell in latency bucket b, with the
 * nanoseconds they took. Its client side uses the same slots plus
 * HS_CLIENT_SIDE: requests sent, responses received, and their durations.
 * HS_GRPC_SLOT + c counts the gRPC calls that ended with grpc-status c
 * (0..HS_GRPC_STATUS_MAX, the canonical codes; HS_GRPC_OTHER for any other
 * value): sent by a server, received by a client.
 */
#define HS_REQUEST_SLOT 0
#define HS_STATUS_MIN 100
#define HS_STATUS_MAX 599
#define HS_GRPC_SLOT 700
#define HS_GRPC_STATUS_MAX 16
#define HS_GRPC_OTHER (HS_GRPC_STATUS_MAX + 1)
#define HS_LATENCY_SLOT 2000
#define HS_CLIENT_SIDE 10000

/*
 * Latency buckets, in microseconds, with decimal edges so that exporters'
 * 1-2.5-5 boundaries are exact: bucket b < 100 holds [b, b + 1) us; above
 * that, two significant digits, bucket 100 + 90 (d - 1) + (m - 10) holding
 * [m * 10^d, (m + 1) * 10^d) us for m in 10..99 and d in 1..7. A bucket is
 * at most 10% wide from 10 us up; the last, HS_LATENCY_BUCKETS - 1, holds
 * 1,000 s and more.
 */
#define HS_LATENCY_DECADES 7
#define HS_LATENCY_BUCKETS (100 + 90 * HS_LATENCY_DECADES + 1)

/* Key of the per-CPU counters map: one pair of monotonically increasing counts per (process, slot). */
struct hs_count_key {
	__u32 tgid;
	__u32 slot;
};

/* Value of the counters map. A latency bucket keeps its durations' sum
 * beside their count, so that a timed answer costs one lookup, not two. */
struct hs_count {
	__u64 events;
	__u64 ns;	/* latency buckets only: nanoseconds summed over the events */
};

/* One record of the mapped-files walk (mapped_files.bpf.c): a mapping of a
 * process and the identity of the file the kernel maps there. */
struct hs_mapped_file {
	__u64 start;	/* the mapping's first address, as /proc/<pid>/maps gives it */
	__u64 ino;
	__u32 dev;	/* the kernel's dev_t: major << 20 | minor */
	__u32 pad;
};

/* Why the kernel side could not count something; index of the losses array. */
enum hs_loss {
	HS_LOSS_CONN_TABLE_FULL = 0,	/* a connection found no room for its parser state */
	HS_LOSS_COUNTER_TABLE_FULL,	/* a count found no room for its (process, slot) */
	HS_LOSS_READ_FAULT,		/* user memory could not be read */
	HS_LOSS_PARSE_BUDGET,		/* one call had more header bytes than one pass parses */
	HS_LOSS_IOVEC_LIMIT,		/* a vectored call's segments, read after it, did not hold its bytes (the array changed meanwhile) */
	HS_LOSS_DESYNC,			/* an HTTP stream lost its place (bad bytes, or bytes we never saw) */
	HS_LOSS_HEAD_QUEUE_FULL,	/* a HEAD came after 64 unanswered requests: its answer's framing is unknown */
	HS_LOSS_UNSOLICITED_RESPONSE,	/* a status line answered no request: not counted */
	HS_LOSS_IO_URING,		/* I/O by a task that uses io_uring: its registers describe another call */
	HS_LOSS_MMSG,			/* recvmmsg/sendmmsg: the registers do not say which message moved */
	HS_LOSS_UNKNOWN_CALL,		/* socket I/O from a syscall whose buffer we cannot locate */
	HS_LOSS_UNREADABLE,		/* file or pipe bytes (sendfile, splice) where no body was expected */
	HS_LOSS_UNTIMED,		/* a response counted without a duration: too many requests awaited answers, or its body ends with the connection */
	HS_LOSS_H2_LOST,		/* an HTTP/2 connection lost its place (bytes not HTTP/2, a frame that cannot be, bytes unseen): nothing more on it counts */
	HS_LOSS_H2_DYNAMIC_TABLE,	/* an HTTP/2 header block referred to a dynamic-table entry we do not remember: a response's :status or a call's grpc-status, if it was one, not counted */
	HS_LOSS_TLS_UNDECODED,		/* a TCP connection that began with a TLS handshake closed without a hooked TLS library call decoding any of it */
	HS_LOSS_MAX,
};

#endif /* HTTP_STATISTICS_H */
