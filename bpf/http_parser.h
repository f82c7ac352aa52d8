/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Interface of the HTTP/1.x parser in http_parser.bpf.c.
 *
 * It sees every byte a process reads from (requests) or writes to
 * (responses) a tracked connection, once, in syscall order, and keeps
 * enough state per direction (struct hs_parser) to know where each message
 * starts: start lines and headers are read byte by byte, bodies
 * (Content-Length, chunked, until close) are skipped by arithmetic without
 * being copied. A request counts when its request line ends in
 * " HTTP/1.x", a response when its status code has been read.
 */
#ifndef HS_HTTP_PARSER_H
#define HS_HTTP_PARSER_H

#include "maps.bpf.h"

/* iovec entries walked per readv/writev/recvmsg/sendmsg. */
#define HS_MAX_IOV 8

/* Global, so the verifier checks it once rather than at every call site. */
int hs_parse_segment(struct hs_conn *conn, __u32 tgid, __u32 is_request, __u64 buf, __u64 len);

#endif /* HS_HTTP_PARSER_H */
