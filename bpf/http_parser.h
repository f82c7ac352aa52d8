/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Interface of the HTTP/1.x parser in http_parser.bpf.c, shared by both
 * capture front-ends.
 *
 * It sees every byte a connection carries, once, in order, and keeps
 * enough state per direction (struct hs_stream) to know where each message
 * starts. It works a line at a time: it finds line ends eight bytes at a
 * time, passes over header lines whose names cannot frame a body without
 * classifying them, classifies the others from their first 32 and last 16
 * bytes (method, version, status, the few header names that matter), and
 * skips bodies (Content-Length, chunked, until close) by arithmetic,
 * without reading them. A request counts when its head (request line and headers)
 * is complete and frames its body one way, a response when its status line
 * is complete.
 */
#ifndef HS_HTTP_PARSER_H
#define HS_HTTP_PARSER_H

#include "latency.h"

/* Global, so the verifier checks it once per program rather than at every call site.
 * inbound, with HS_PARSE_SEGMENT: the bytes are one segment of a vectored call,
 * not a whole call (hs_parse_iov looks at the whole call for what only a
 * call's start tells). */
int hs_parse(struct hs_conn *conn, __u32 inbound, __u32 tgid, __u64 buf, __u64 len);
#define HS_PARSE_SEGMENT 0x2

/* The stream can no longer tell where its messages start: look for one at
 * the start of each later call. Answers can no longer be paired with
 * requests on this connection. */
static __always_inline void hs_lose_place(struct hs_conn *c, struct hs_stream *s)
{
	c->timing = 0;
	hs_answer_untimed(s);
	s->state = HS_ST_START;
	s->resync = 1;
	s->line_len = 0;
	s->odd = 0;
	s->body_left = 0;
}

/* body_left reached 0: the body, or this chunk's data, is over. */
static __always_inline void hs_body_done(struct hs_conn *c, struct hs_stream *s)
{
	if (s->state == HS_ST_BODY) {
		s->state = HS_ST_START;
		hs_answer_done(c, s);
		return;
	}
	s->state = HS_ST_CHUNK_SIZE;
}

/* A call whose bytes all lie inside a known body costs no user-memory read. */
static __always_inline bool hs_skip_body(struct hs_conn *c, struct hs_stream *s, __u64 bytes)
{
	if (s->state == HS_ST_UNTIL_CLOSE)
		return true;
	if ((s->state != HS_ST_BODY && s->state != HS_ST_CHUNK_DATA) || bytes > s->body_left)
		return false;
	s->body_left -= bytes;
	if (!s->body_left)
		hs_body_done(c, s);
	return true;
}

#endif /* HS_HTTP_PARSER_H */
