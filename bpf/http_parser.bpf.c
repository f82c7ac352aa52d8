// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The HTTP/1.x message parser (interface and overview in http_parser.h). */
#include "http_parser.h"

/* Parse passes per segment: with HS_SCRATCH_SIZE, bounds the header bytes one call parses. */
#define HS_PASSES_PER_SEGMENT 32

#define HS_FNV_OFFSET 0xcbf29ce484222325ULL
#define HS_FNV_PRIME 0x100000001b3ULL
/* FNV-1a of the lower-cased header names we need (test/unit/parser_constants.test.ts checks them). */
#define HS_HASH_CONTENT_LENGTH 0x2d69a1e6ee916e7dULL
#define HS_HASH_TRANSFER_ENCODING 0x8640bd735e9d802cULL

/* Eight bytes as the parser's shift register holds them: the newest in the low byte. */
#define HS_WORD(a, b, c, d, e, f, g, h)                                                    \
	(((__u64)(a) << 56) | ((__u64)(b) << 48) | ((__u64)(c) << 40) | ((__u64)(d) << 32) | \
	 ((__u64)(e) << 24) | ((__u64)(f) << 16) | ((__u64)(g) << 8) | (__u64)(h))
#define HS_HTTP_1_0 HS_WORD('H', 'T', 'T', 'P', '/', '1', '.', '0')
#define HS_HTTP_1_1 HS_WORD('H', 'T', 'T', 'P', '/', '1', '.', '1')
#define HS_CHUNKED HS_WORD(0, 'c', 'h', 'u', 'n', 'k', 'e', 'd')

/* What a byte did to the pass that read it. */
enum hs_step {
	HS_GO_ON = 0,
	HS_STOP_SKIP,	/* a body starts: the caller skips it without reading it */
	HS_STOP_DROP,	/* the rest of this buffer cannot be parsed */
};

static __always_inline void hs_count(__u32 tgid, __u32 slot)
{
	struct hs_count_key key = { .tgid = tgid, .slot = slot };
	__u64 one = 1, *value;

	value = bpf_map_lookup_elem(&counters, &key);
	if (value) {
		__sync_fetch_and_add(value, 1);
		return;
	}
	if (!bpf_map_update_elem(&counters, &key, &one, BPF_NOEXIST))
		return;
	/* Another CPU created the key first, or the table is full. */
	value = bpf_map_lookup_elem(&counters, &key);
	if (value)
		__sync_fetch_and_add(value, 1);
	else
		hs_count_loss(HS_LOSS_COUNTER_TABLE_FULL);
}

static __always_inline void hs_push(struct hs_parser *p, __u8 ch)
{
	p->before_window = p->window >> 56;
	p->window = (p->window << 8) | ch;
	p->line_len++;
}

static __always_inline __u8 hs_lower(__u8 ch)
{
	return (ch >= 'A' && ch <= 'Z') ? ch + ('a' - 'A') : ch;
}

static __always_inline void hs_new_line(struct hs_parser *p)
{
	p->line_len = 0;
	p->window = 0;
	p->name_hash = HS_FNV_OFFSET;
	p->number = 0;
	p->flags &= ~(HS_F_IN_VALUE | HS_F_CONTENT_LENGTH | HS_F_TRANSFER_ENCODING |
		      HS_F_NUMBER_DONE | HS_F_DIGITS);
}

/* The bytes are not the message we expected. A direction that never carried
 * HTTP is not HTTP; one that did has lost its place, which we count. */
static __always_inline int hs_fail(struct hs_parser *p)
{
	if (!p->seen_http && !p->resync) {
		p->state = HS_ST_NOT_HTTP;
		return HS_STOP_DROP;
	}
	if (!p->resync)
		hs_count_loss(HS_LOSS_DESYNC);
	p->resync = 1;
	p->state = HS_ST_START;
	return HS_STOP_DROP;
}

static __always_inline bool hs_is_method(__u64 word, __u32 len)
{
	switch (len) {
	case 3:
		return word == HS_WORD(0, 0, 0, 0, 0, 'G', 'E', 'T') ||
		       word == HS_WORD(0, 0, 0, 0, 0, 'P', 'U', 'T');
	case 4:
		return word == HS_WORD(0, 0, 0, 0, 'P', 'O', 'S', 'T') ||
		       word == HS_WORD(0, 0, 0, 0, 'H', 'E', 'A', 'D');
	case 5:
		return word == HS_WORD(0, 0, 0, 'P', 'A', 'T', 'C', 'H') ||
		       word == HS_WORD(0, 0, 0, 'T', 'R', 'A', 'C', 'E');
	case 6:
		return word == HS_WORD(0, 0, 'D', 'E', 'L', 'E', 'T', 'E');
	case 7:
		return word == HS_WORD(0, 'O', 'P', 'T', 'I', 'O', 'N', 'S') ||
		       word == HS_WORD(0, 'C', 'O', 'N', 'N', 'E', 'C', 'T');
	}
	return false;
}

/* "METHOD SP request-target SP HTTP/1.x CRLF" */
static __always_inline int hs_request_line_byte(struct hs_conn *conn, struct hs_parser *p,
						__u32 tgid, __u8 ch)
{
	if (!(p->flags & HS_F_IN_VALUE)) {
		if (ch == ' ') {
			if (!hs_is_method(p->window, p->line_len))
				return hs_fail(p);
			p->method_is_head = p->window == HS_WORD(0, 0, 0, 0, 'H', 'E', 'A', 'D');
			p->flags |= HS_F_IN_VALUE;
		} else if (ch < 'A' || ch > 'Z' || p->line_len >= 7) {
			return hs_fail(p);
		}
		hs_push(p, ch);
		return HS_GO_ON;
	}
	if (ch == '\r')
		return HS_GO_ON;
	if (ch == '\n') {
		if ((p->window != HS_HTTP_1_1 && p->window != HS_HTTP_1_0) || p->before_window != ' ')
			return hs_fail(p);
		hs_count(tgid, HS_REQUEST_SLOT);
		if (conn->head_queue_len < 64) {
			conn->head_queue |= (__u64)p->method_is_head << conn->head_queue_len;
			conn->head_queue_len++;
		}
		p->seen_http = 1;
		p->resync = 0;
		p->state = HS_ST_HEADERS;
		hs_new_line(p);
		return HS_GO_ON;
	}
	if (ch < ' ' || ch == 0x7f)
		return hs_fail(p);
	hs_push(p, ch);
	return HS_GO_ON;
}

/* "HTTP/1.x SP DDD SP reason CRLF": counts as soon as the code is read. */
static __always_inline int hs_status_line_byte(struct hs_parser *p, __u32 tgid, __u8 ch)
{
	__u32 at = p->line_len;

	if (p->flags & HS_F_IN_VALUE) {
		/* the reason phrase */
		if (ch == '\n') {
			p->state = HS_ST_HEADERS;
			hs_new_line(p);
		}
		return HS_GO_ON;
	}
	if (at < 7) {
		if (ch != (__u8)(HS_HTTP_1_0 >> (56 - 8 * at)))
			return hs_fail(p);
	} else if (at == 7) {
		if (ch != '0' && ch != '1')
			return hs_fail(p);
	} else if (at == 8) {
		if (ch != ' ')
			return hs_fail(p);
	} else if (at < 12) {
		if (ch < '0' || ch > '9')
			return hs_fail(p);
		p->status = p->status * 10 + (ch - '0');
	} else {
		if ((ch != ' ' && ch != '\r' && ch != '\n') || p->status < HS_STATUS_MIN ||
		    p->status > HS_STATUS_MAX)
			return hs_fail(p);
		hs_count(tgid, p->status);
		p->seen_http = 1;
		p->resync = 0;
		p->flags |= HS_F_IN_VALUE;
		if (ch == '\n') {
			p->state = HS_ST_HEADERS;
			hs_new_line(p);
		}
		return HS_GO_ON;
	}
	hs_push(p, ch);
	return HS_GO_ON;
}

/* The blank line after the headers: how is the body framed? */
static __always_inline int hs_end_of_headers(struct hs_conn *conn, struct hs_parser *p,
					     bool is_request)
{
	bool no_body = false;

	if (p->state == HS_ST_TRAILERS) {
		p->state = HS_ST_START;
		return HS_GO_ON;
	}
	if (!is_request) {
		if (p->status < 200) {
			/* 101 hands the connection to another protocol; other 1xx precede the answer. */
			if (p->status == 101) {
				p->state = HS_ST_NOT_HTTP;
				return HS_STOP_DROP;
			}
			p->state = HS_ST_START;
			return HS_GO_ON;
		}
		if (conn->head_queue_len) {
			no_body = conn->head_queue & 1;
			conn->head_queue >>= 1;
			conn->head_queue_len--;
		}
		no_body |= p->status == 204 || p->status == 304;
	}
	if (no_body) {
		p->state = HS_ST_START;
	} else if (p->flags & HS_F_CHUNKED) {
		p->state = HS_ST_CHUNK_SIZE;
		hs_new_line(p);
	} else if (p->flags & HS_F_HAS_LENGTH) {
		p->state = p->body_left ? HS_ST_BODY : HS_ST_START;
	} else {
		/* Without a length a request has no body, and a response runs until close. */
		p->state = is_request ? HS_ST_START : HS_ST_UNTIL_CLOSE;
	}
	return p->state == HS_ST_START ? HS_GO_ON : HS_STOP_SKIP;
}

static __always_inline int hs_header_byte(struct hs_conn *conn, struct hs_parser *p,
					  bool is_request, __u8 ch)
{
	if (ch == '\r')
		return HS_GO_ON;
	if (ch == '\n') {
		if (p->line_len == 0)
			return hs_end_of_headers(conn, p, is_request);
		if (p->flags & HS_F_CONTENT_LENGTH) {
			p->flags |= HS_F_HAS_LENGTH;
			p->body_left = p->number;
		}
		if ((p->flags & HS_F_TRANSFER_ENCODING) &&
		    (p->window & 0x00ffffffffffffffULL) == HS_CHUNKED)
			p->flags |= HS_F_CHUNKED;
		hs_new_line(p);
		return HS_GO_ON;
	}
	if (!(p->flags & HS_F_IN_VALUE)) {
		p->line_len++;
		if (ch != ':') {
			p->name_hash = (p->name_hash ^ hs_lower(ch)) * HS_FNV_PRIME;
			return HS_GO_ON;
		}
		p->flags |= HS_F_IN_VALUE;
		if (p->state != HS_ST_HEADERS)
			return HS_GO_ON;
		/* line_len now counts the colon too. */
		if (p->name_hash == HS_HASH_CONTENT_LENGTH && p->line_len == 15)
			p->flags |= HS_F_CONTENT_LENGTH;
		else if (p->name_hash == HS_HASH_TRANSFER_ENCODING && p->line_len == 18)
			p->flags |= HS_F_TRANSFER_ENCODING;
		return HS_GO_ON;
	}
	if (p->flags & HS_F_CONTENT_LENGTH) {
		if (ch >= '0' && ch <= '9' && !(p->flags & HS_F_NUMBER_DONE)) {
			if (p->number < (1ULL << 48))
				p->number = p->number * 10 + (ch - '0');
			p->flags |= HS_F_DIGITS;
		} else if (ch == ' ' || ch == '\t') {
			if (p->flags & HS_F_DIGITS)
				p->flags |= HS_F_NUMBER_DONE;
		} else {
			return hs_fail(p);
		}
		return HS_GO_ON;
	}
	if ((p->flags & HS_F_TRANSFER_ENCODING) && ch != ' ' && ch != '\t')
		p->window = (p->window << 8) | hs_lower(ch);
	return HS_GO_ON;
}

/* "HEX [; extensions] CRLF", that many bytes, CRLF; size 0 ends the body. */
static __always_inline int hs_chunk_size_byte(struct hs_parser *p, __u8 ch)
{
	__u8 low = hs_lower(ch), digit;

	if (ch == '\r')
		return HS_GO_ON;
	if (ch == '\n') {
		if (!p->line_len)
			return hs_fail(p);
		if (!p->number) {
			p->state = HS_ST_TRAILERS;
			hs_new_line(p);
			return HS_GO_ON;
		}
		p->body_left = p->number + 2;
		p->state = HS_ST_CHUNK_DATA;
		return HS_STOP_SKIP;
	}
	p->line_len++;
	if (p->flags & HS_F_IN_VALUE)
		return HS_GO_ON;
	if (ch >= '0' && ch <= '9') {
		digit = ch - '0';
	} else if (low >= 'a' && low <= 'f') {
		digit = low - 'a' + 10;
	} else if (ch == ';' || ch == ' ' || ch == '\t') {
		p->flags |= HS_F_IN_VALUE;
		return HS_GO_ON;
	} else {
		return hs_fail(p);
	}
	if (p->number < (1ULL << 48))
		p->number = p->number * 16 + digit;
	return HS_GO_ON;
}

/* One byte through one direction's state machine; returns enum hs_step.
 * Inlined into the bpf_loop callback, which the verifier checks once per
 * program anyway: a call per byte cost ~25% of parsing time, and since only
 * one program parses (syscall_io.h), inlining adds ~80 ms to load, not ~700. */
static __always_inline int hs_parse_byte(struct hs_conn *conn, __u32 tgid, __u32 is_request, __u32 ch)
{
	struct hs_parser *p;

	if (!conn)
		return HS_STOP_DROP;
	p = is_request ? &conn->request : &conn->response;
	switch (p->state) {
	case HS_ST_START:
		p->state = HS_ST_START_LINE;
		p->flags = 0;
		p->status = 0;
		p->method_is_head = 0;
		hs_new_line(p);
		/* fall through */
	case HS_ST_START_LINE:
		return is_request ? hs_request_line_byte(conn, p, tgid, ch) :
				    hs_status_line_byte(p, tgid, ch);
	case HS_ST_HEADERS:
	case HS_ST_TRAILERS:
		return hs_header_byte(conn, p, is_request, ch);
	case HS_ST_CHUNK_SIZE:
		return hs_chunk_size_byte(p, ch);
	}
	return HS_STOP_SKIP;
}

struct hs_segment {
	struct hs_conn *conn;
	struct hs_scratch *scratch;
	__u64 buf;
	__u64 len;
	__u64 pos;		/* bytes of the segment already parsed or skipped */
	__u32 tgid;
	__u32 is_request;
	__u32 chunk;		/* valid bytes in scratch */
	__u32 consumed;		/* bytes of scratch the byte loop used */
	__u32 stop;		/* enum hs_step of the last pass */
};

static int hs_byte_cb(__u32 index, struct hs_segment *s)
{
	int step;

	if (index >= s->chunk)
		return 1;
	step = hs_parse_byte(s->conn, s->tgid, s->is_request,
			     s->scratch->data[index & (HS_SCRATCH_SIZE - 1)]);
	/* Derived from index, not incremented: a counter the verifier can follow
	 * exactly would make it walk every iteration instead of converging. */
	s->consumed = index + 1;
	s->stop = step;
	return step != HS_GO_ON;
}

/* One pass: skip body bytes, or copy up to HS_SCRATCH_SIZE bytes and parse them. */
static int hs_pass_cb(__u32 index, struct hs_segment *s)
{
	struct hs_conn *conn = s->conn;
	struct hs_parser *p;
	__u64 left = s->len - s->pos, skip;

	if (!conn || s->pos >= s->len)
		return 1;
	p = s->is_request ? &conn->request : &conn->response;
	if (p->state == HS_ST_BODY || p->state == HS_ST_CHUNK_DATA) {
		skip = left < p->body_left ? left : p->body_left;
		s->pos += skip;
		p->body_left -= skip;
		if (!p->body_left) {
			if (p->state == HS_ST_BODY) {
				p->state = HS_ST_START;
			} else {
				p->state = HS_ST_CHUNK_SIZE;
				hs_new_line(p);
			}
		}
		return 0;
	}
	if (p->state == HS_ST_UNTIL_CLOSE || p->state == HS_ST_NOT_HTTP)
		return 1;
	s->chunk = left > HS_SCRATCH_SIZE ? HS_SCRATCH_SIZE : left;
	if (bpf_probe_read_user(s->scratch->data, s->chunk & (HS_SCRATCH_SIZE - 1) ?: HS_SCRATCH_SIZE,
				(void *)(s->buf + s->pos))) {
		hs_count_loss(HS_LOSS_READ_FAULT);
		return 1;
	}
	s->stop = HS_GO_ON;
	s->consumed = 0;
	bpf_loop(s->chunk, hs_byte_cb, s, 0);
	s->pos += s->consumed;
	return s->stop == HS_STOP_DROP;
}

__noinline int hs_parse_segment(struct hs_conn *conn, __u32 tgid, __u32 is_request, __u64 buf,
				__u64 len)
{
	struct hs_segment s = { .conn = conn, .buf = buf, .len = len, .tgid = tgid,
				.is_request = is_request };
	struct hs_parser *p;
	__u32 zero = 0;

	if (!conn)
		return 0;
	s.scratch = bpf_map_lookup_elem(&scratch, &zero);
	if (!s.scratch)
		return 0;
	bpf_loop(HS_PASSES_PER_SEGMENT, hs_pass_cb, &s, 0);
	p = is_request ? &conn->request : &conn->response;
	if (s.pos < len && s.stop != HS_STOP_DROP && p->seen_http &&
	    p->state != HS_ST_UNTIL_CLOSE && p->state != HS_ST_NOT_HTTP) {
		/* More header bytes than the pass budget: give up on this buffer's rest. */
		hs_count_loss(HS_LOSS_PARSE_BUDGET);
		p->resync = 1;
		p->state = HS_ST_START;
	}
	return 0;
}
