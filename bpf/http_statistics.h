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

/* Key of the per-CPU counters map: one monotonically increasing u64 per (process, slot). */
struct hs_count_key {
	__u32 tgid;
	__u32 slot;
};

/* Why the kernel side could not count something; index of the losses array. */
enum hs_loss {
	HS_LOSS_CONN_TABLE_FULL = 0,	/* a connection found no room for its parser state */
	HS_LOSS_COUNTER_TABLE_FULL,	/* a count found no room for its (process, slot) */
	HS_LOSS_READ_FAULT,		/* user memory could not be read */
	HS_LOSS_PARSE_BUDGET,		/* one call had more header bytes than one pass parses */
	HS_LOSS_IOVEC_LIMIT,		/* a vectored call had more segments than we walk */
	HS_LOSS_DESYNC,			/* an HTTP stream lost its place (bad bytes, or bytes we never saw) */
	HS_LOSS_HEAD_QUEUE_FULL,	/* a HEAD came after 64 unanswered requests: its answer's framing is unknown */
	HS_LOSS_UNSOLICITED_RESPONSE,	/* a status line answered no request: not counted */
	HS_LOSS_IO_URING,		/* I/O by a task that uses io_uring: its registers describe another call */
	HS_LOSS_MMSG,			/* recvmmsg/sendmmsg: the registers do not say which message moved */
	HS_LOSS_UNKNOWN_CALL,		/* socket I/O from a syscall whose buffer we cannot locate */
	HS_LOSS_UNREADABLE,		/* file or pipe bytes (sendfile, splice) where no body was expected */
	HS_LOSS_MAX,
};

#endif /* HTTP_STATISTICS_H */
