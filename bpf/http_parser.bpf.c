// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The HTTP/1.x message parser (interface and overview in http_parser.h). */
#include "http_parser.h"
#include "http2_parser.h"

/* Passes per call: with HS_SCRATCH_SIZE, bounds the header bytes one call
 * parses to 64 KiB; bodies cost no pass of their own. */
#define HS_PASSES 128
/* A line longer than this is not HTTP we can follow (Node's own limit for a whole header block). */
#define HS_LINE_MAX 16384

/* What classifying a line asks of the loop that found it. */
enum hs_step {
	HS_GO_ON = 0,
	HS_BODY,	/* skip body_left bytes, then go on */
	HS_DROP,	/* the rest of this call cannot be parsed */
	HS_DONE,	/* this direction needs none of its bytes any more */
};

/* Byte i of a little-endian word, and words built from characters. */
#define HS_B(c, i) ((__u64)(__u8)(c) << (8 * (i)))
#define HS_W4(a, b, c, d) (HS_B(a, 0) | HS_B(b, 1) | HS_B(c, 2) | HS_B(d, 3))
#define HS_W8(a, b, c, d, e, f, g, h) (HS_W4(a, b, c, d) | HS_B(e, 4) | HS_B(f, 5) | HS_B(g, 6) | HS_B(h, 7))
/* 0x20 where a lower-case letter stands: (word | HS_LC8(...)) == HS_W8(...) compares letters case-insensitively, everything else exactly. */
#define HS_L(c, i) (((c) >= 'a' && (c) <= 'z') ? HS_B(0x20, i) : 0)
#define HS_LC8(a, b, c, d, e, f, g, h)                                                        \
	(HS_L(a, 0) | HS_L(b, 1) | HS_L(c, 2) | HS_L(d, 3) | HS_L(e, 4) | HS_L(f, 5) | HS_L(g, 6) | \
	 HS_L(h, 7))
#define HS_MASK(bytes) ((bytes) >= 8 ? ~0ULL : (1ULL << (8 * (bytes))) - 1)

#define HS_ONES 0x0101010101010101ULL
#define HS_HIGHS 0x8080808080808080ULL
#define HS_LOW7 0x7f7f7f7f7f7f7f7fULL

/* The high bit of every zero byte of y (exact: no borrow crosses bytes). */
static __always_inline __u64 hs_zero_bytes(__u64 y)
{
	return ~(((y & HS_LOW7) + HS_LOW7) | y) & HS_HIGHS;
}

/* The high bit of every byte that a start line may not hold between its
 * fields: <= 0x20 (controls and the space) or 0x7f. */
static __always_inline __u64 hs_odd_bytes(__u64 w)
{
	return (~(((w & HS_LOW7) + HS_ONES * (0x80 - 0x21)) | w) & HS_HIGHS) |
	       hs_zero_bytes(w ^ (HS_ONES * 0x7f));
}

static __always_inline __u32 hs_count_bytes(__u64 highs)
{
	return ((highs >> 7) * HS_ONES) >> 56;
}

/* Index of the lowest byte whose high bit is set in m (m != 0): the
 * lowest bit alone, times a ladder of byte indexes, leaves its index in
 * the top byte. No branch, so no extra paths for the verifier. */
static __always_inline __u32 hs_lowest_byte(__u64 m)
{
	return (((m & -m) >> 7) * 0x0001020304050607ULL) >> 56;
}

/* One complete line, without its '\n': its first 32 bytes, its last 16,
 * its length, and how many odd bytes it holds (start lines only). Bytes
 * past the line's length are garbage and never looked at. */
struct hs_line {
	__u64 h[4];
	__u64 t[2];
	__u32 len;
	__u32 odd;
};

static __always_inline __u8 hs_byte(struct hs_line *l, __u32 i)
{
	return l->h[(i >> 3) & 3] >> ((i & 7) * 8);
}

/* The last byte of the line is a CR (which HTTP puts before every LF). */
static __always_inline __u32 hs_has_cr(struct hs_line *l)
{
	return l->len && (l->t[1] >> 56) == '\r';
}

static __always_inline bool hs_blank(struct hs_line *l)
{
	return l->len == 0 || (l->len == 1 && (__u8)l->h[0] == '\r');
}

/* The connection and direction a line belongs to, for the classifying helpers. */
struct hs_parse {
	struct hs_conn *conn;
	struct hs_stream *s;
	__u32 tgid;
	__u8 inbound;
};

/* Counts one event on this connection's side of its process. */
static __always_inline void hs_count(struct hs_parse *p, __u32 slot)
{
	hs_add(p->tgid, hs_side(p->conn) + slot, 0);
}

/* The stream the requests of this connection travel on. */
static __always_inline struct hs_stream *hs_request_stream(struct hs_conn *c)
{
	return c->role == HS_ROLE_CLIENT ? &c->out : &c->in;
}

/* The bytes are not the message we expected. On a connection not yet known
 * to be HTTP that settles it (or, joined mid-stream, uses up a try); on an
 * HTTP one it is a lost place, counted once until a message start is found. */
static __always_inline int hs_fail(struct hs_parse *p)
{
	struct hs_conn *c = p->conn;
	struct hs_stream *s = p->s;
	bool was_lost = s->resync;

	hs_lose_place(c, s);
	if (c->role == HS_ROLE_UNKNOWN) {
		if (!c->tries) {
			c->role = HS_ROLE_NOT_HTTP;
			return HS_DONE;
		}
		c->tries--;
	} else if (!was_lost) {
		hs_count_loss(HS_LOSS_DESYNC);
	}
	return HS_DROP;
}

/* Length of the method and its space if the line starts with one, else 0. */
static __always_inline __u32 hs_method_len(__u64 w)
{
	__u64 w4 = w & HS_MASK(4), w5 = w & HS_MASK(5), w6 = w & HS_MASK(6), w7 = w & HS_MASK(7);

	if (w4 == HS_W4('G', 'E', 'T', ' ') || w4 == HS_W4('P', 'U', 'T', ' '))
		return 4;
	if (w5 == (HS_W4('P', 'O', 'S', 'T') | HS_B(' ', 4)) ||
	    w5 == (HS_W4('H', 'E', 'A', 'D') | HS_B(' ', 4)))
		return 5;
	if (w6 == (HS_W4('P', 'A', 'T', 'C') | HS_B('H', 4) | HS_B(' ', 5)) ||
	    w6 == (HS_W4('T', 'R', 'A', 'C') | HS_B('E', 4) | HS_B(' ', 5)))
		return 6;
	if (w7 == (HS_W4('D', 'E', 'L', 'E') | HS_B('T', 4) | HS_B('E', 5) | HS_B(' ', 6)))
		return 7;
	if (w == HS_W8('O', 'P', 'T', 'I', 'O', 'N', 'S', ' ') ||
	    w == HS_W8('C', 'O', 'N', 'N', 'E', 'C', 'T', ' '))
		return 8;
	return 0;
}

/* "PRI * HTTP/2.0" CR: the first line of HTTP/2's client preface. */
static __always_inline bool hs_h2_preface_line(struct hs_line *l)
{
	return l->len == HS_H2_PREFACE_LINE && l->h[0] == HS_H2_PREFACE_WORD0 &&
	       (l->h[1] & HS_MASK(7)) == HS_H2_PREFACE_LINE_REST;
}

/* "METHOD SP target SP HTTP/1.x [CR]" with nothing odd in the target: the method's length, else 0. */
static __always_inline __u32 hs_request_line(struct hs_line *l)
{
	__u32 mlen = hs_method_len(l->h[0]), cr = hs_has_cr(l);
	__u64 version;
	__u8 minor;

	if (!mlen || l->len < mlen + 1 + 9 + cr || l->odd != 2 + cr)
		return 0;
	if (cr) {
		version = (l->t[0] >> 48) | (l->t[1] << 16);
		minor = l->t[1] >> 48;
	} else {
		version = (l->t[0] >> 56) | (l->t[1] << 8);
		minor = l->t[1] >> 56;
	}
	if (version != HS_W8(' ', 'H', 'T', 'T', 'P', '/', '1', '.') || (minor != '0' && minor != '1'))
		return 0;
	return mlen;
}

/* "HTTP/1.x SP DDD [SP reason] [CR]": the status code, else 0. */
static __always_inline __u32 hs_status_line(struct hs_line *l)
{
	__u64 w = l->h[1];
	__u8 d1 = (__u8)(w >> 8) - '0', d2 = (__u8)(w >> 16) - '0', d3 = (__u8)(w >> 24) - '0';
	__u8 after = w >> 32;
	__u32 status;

	if (l->len < 12 || (l->h[0] != HS_W8('H', 'T', 'T', 'P', '/', '1', '.', '1') &&
			    l->h[0] != HS_W8('H', 'T', 'T', 'P', '/', '1', '.', '0')))
		return 0;
	if ((__u8)w != ' ' || d1 > 9 || d2 > 9 || d3 > 9)
		return 0;
	if (l->len > 12 && after != ' ' && after != '\r')
		return 0;
	status = d1 * 100 + d2 * 10 + d3;
	return status >= HS_STATUS_MIN && status <= HS_STATUS_MAX ? status : 0;
}

/* Whether a status line now can be an answer: a request awaits one, or is
 * being received (a server may refuse it early), or we lost our place. */
static __always_inline bool hs_expects_response(struct hs_conn *c, struct hs_stream *out)
{
	struct hs_stream *req = hs_request_stream(c);

	return c->queue_len || req->resync || out->resync || req->state != HS_ST_START;
}

static __always_inline void hs_set_role(struct hs_parse *p, __u8 role)
{
	struct hs_conn *c = p->conn;
	struct hs_stream *other = p->inbound ? &c->out : &c->in;

	c->role = role;
	/* Whatever the other direction carried was parsed as the wrong kind of message. */
	if (c->tries)
		hs_lose_place(c, other);
}

static __always_inline int hs_request(struct hs_parse *p, struct hs_line *l, __u32 mlen)
{
	struct hs_conn *c = p->conn;
	struct hs_stream *s = p->s;
	bool head = mlen == 5 && (l->h[0] & HS_MASK(5)) == (HS_W4('H', 'E', 'A', 'D') | HS_B(' ', 4));

	/* The queue counts every request awaiting its answer; only the first 64 can say whether they were HEAD. */
	if (c->queue_len < 64)
		c->head_queue |= (__u64)head << c->queue_len;
	else if (head)
		hs_count_loss(HS_LOSS_HEAD_QUEUE_FULL);
	hs_timing_push(c, s->started_ns);
	if (c->queue_len < 0xffffffff)
		c->queue_len++;
	s->resync = 0;
	s->state = HS_ST_HEADERS;
	s->flags = mlen == 8 && l->h[0] == HS_W8('C', 'O', 'N', 'N', 'E', 'C', 'T', ' ') ? HS_F_CONNECT : 0;
	s->body_left = 0;
	return HS_GO_ON;
}

static __always_inline int hs_response(struct hs_parse *p, __u32 status)
{
	struct hs_stream *s = p->s;

	if (!hs_expects_response(p->conn, s)) {
		/* Not an answer to anything: some other protocol that looks like HTTP. */
		hs_count_loss(HS_LOSS_UNSOLICITED_RESPONSE);
		s->resync = 1;
		return HS_DROP;
	}
	hs_count(p, status);
	s->resync = 0;
	s->state = HS_ST_HEADERS;
	s->status = status;
	s->flags = 0;
	s->body_left = 0;
	return HS_GO_ON;
}

static __always_inline int hs_start_line(struct hs_parse *p, struct hs_line *l)
{
	struct hs_conn *c = p->conn;
	__u32 mlen = hs_request_line(l), status = 0;

	if (c->role == HS_ROLE_UNKNOWN) {
		/* The side that receives a request is the server; one joined
		 * mid-stream may show a response first. */
		if (mlen)
			hs_set_role(p, p->inbound ? HS_ROLE_SERVER : HS_ROLE_CLIENT);
		else if (c->tries && (status = hs_status_line(l)))
			hs_set_role(p, p->inbound ? HS_ROLE_CLIENT : HS_ROLE_SERVER);
		else if (hs_h2_preface_line(l)) {
			/* HTTP/2's preface, in pieces too small to tell at once: the frame walker goes on after its first line. */
			hs_h2_begin(c, p->inbound ? HS_ROLE_H2_SERVER : HS_ROLE_H2_CLIENT, HS_H2_PREFACE_LINE + 1);
			return HS_DONE;
		} else
			return hs_fail(p);
	}
	if (p->inbound == (c->role == HS_ROLE_SERVER)) {
		if (!mlen)
			return hs_fail(p);
		return hs_request(p, l, mlen);
	}
	if (!status)
		status = hs_status_line(l);
	if (!status)
		return hs_fail(p);
	return hs_response(p, status);
}

/* A number in a line being read a character at a time (bpf_loop: the
 * verifier walks one character, not every combination of them). */
struct hs_number {
	struct hs_line *l;
	__s64 value;		/* -1 once the characters are not a number */
	__u32 from;		/* first byte of the number's field */
	__u32 end;		/* end of the field (before any CR) */
	__u32 digits;
	__u8 base;		/* 10, or 16 for chunk sizes */
	__u8 trailing;		/* blanks after the digits: no more digits may come */
};

static int hs_digit_cb(__u32 index, struct hs_number *num)
{
	__u32 i = num->from + index;
	__u8 ch, low, digit;

	if (i >= num->end || i >= HS_CARRY_HEAD || !num->l)
		return 1;
	ch = hs_byte(num->l, i);
	low = ch | 0x20;
	if (ch >= '0' && ch <= '9')
		digit = ch - '0';
	else if (num->base == 16 && low >= 'a' && low <= 'f')
		digit = low - 'a' + 10;
	else if (ch == ' ' || ch == '\t' || (num->base == 16 && ch == ';')) {
		/* blanks around a length; a chunk size ends at its extensions */
		if (num->base == 16 && num->digits)
			return 1;
		num->trailing = num->digits > 0;
		return 0;
	} else {
		num->value = -1;
		return 1;
	}
	if (num->trailing || num->digits >= 12) {
		num->value = -1;
		return 1;
	}
	num->value = num->value * num->base + digit;
	num->digits++;
	return 0;
}

/* The number in line bytes [from, end) (end <= 32), or -1 if they are not one. */
static __always_inline __s64 hs_number(struct hs_line *l, __u32 from, __u32 end, __u8 base)
{
	struct hs_number num = { .l = l, .from = from, .end = end, .base = base };

	if (end > HS_CARRY_HEAD || end <= from)
		return -1;
	bpf_loop(HS_CARRY_HEAD, hs_digit_cb, &num, 0);
	return num.digits ? num.value : -1;
}

/* The high bit of every byte of w that is not an ASCII digit. */
static __always_inline __u64 hs_nondigit_bytes(__u64 w)
{
	__u64 below = ~(((w & HS_LOW7) + HS_ONES * (0x80 - '0')) | w) & HS_HIGHS;
	__u64 above = (((w & HS_LOW7) + HS_ONES * (0x80 - '9' - 1)) | w) & HS_HIGHS;

	return below | above;
}

/*
 * The common shape of a Content-Length value, a word at a time and with no
 * call: at most one blank, 1 to 8 digits, the end of the line. The digits
 * are summed in three multiplications (pairs, quads, the whole). -1 for
 * any other shape, which hs_number then reads a character at a time.
 */
static __always_inline __s64 hs_short_length(struct hs_line *l)
{
	__u32 end = l->len - hs_has_cr(l), from = hs_byte(l, 15) == ' ' ? 16 : 15, digits;
	__u64 w, odd, v;

	if (end > HS_CARRY_HEAD || end <= from)
		return -1;
	w = from == 16 ? l->h[2] : (l->h[1] >> 56) | (l->h[2] << 8);
	odd = hs_nondigit_bytes(w);
	digits = odd ? hs_lowest_byte(odd) : 8;
	if (!digits || from + digits != end)
		return -1;
	v = ((w - HS_ONES * '0') & HS_MASK(digits)) << (8 * (8 - digits));
	v = (v & 0x0F0F0F0F0F0F0F0FULL) * 2561 >> 8;
	v = (v & 0x00FF00FF00FF00FFULL) * 6553601 >> 16;
	v = (v & 0x0000FFFF0000FFFFULL) * 42949672960001ULL >> 32;
	return v & 0xffffffff;
}

static __always_inline int hs_content_length(struct hs_parse *p, struct hs_line *l)
{
	__s64 number = hs_short_length(l);

	if (number < 0)
		number = hs_number(l, 15, l->len - hs_has_cr(l), 10);
	/* A second Content-Length that disagrees leaves the body's end unknown. */
	if (number < 0 || ((p->s->flags & HS_F_HAS_LENGTH) && p->s->body_left != number))
		return hs_fail(p);
	p->s->flags |= HS_F_HAS_LENGTH;
	p->s->body_left = number;
	return HS_GO_ON;
}

/* Whether the last token of a Transfer-Encoding line is "chunked". */
static __always_inline bool hs_ends_chunked(struct hs_line *l)
{
	__u32 cr = hs_has_cr(l);
	__u64 word;
	__u8 before;

	if (l->len < 18 + 7 + cr)
		return false;
	if (cr) {
		word = l->t[1] & HS_MASK(7);
		before = l->t[0] >> 56;
	} else {
		word = l->t[1] >> 8;
		before = l->t[1];
	}
	return (word | HS_LC8('c', 'h', 'u', 'n', 'k', 'e', 'd', 0)) ==
		       HS_W8('c', 'h', 'u', 'n', 'k', 'e', 'd', 0) &&
	       (before == ' ' || before == '\t' || before == ',' || before == ':');
}

/* A header line: only the names that frame a body, or end HTTP, matter. */
static __always_inline int hs_header(struct hs_parse *p, struct hs_line *l)
{
	struct hs_stream *s = p->s;
	__u64 h0 = l->h[0], h1 = l->h[1];

	if (l->len >= 15 &&
	    (h0 | HS_LC8('c', 'o', 'n', 't', 'e', 'n', 't', '-')) == HS_W8('c', 'o', 'n', 't', 'e', 'n', 't', '-') &&
	    ((h1 & HS_MASK(7)) | HS_LC8('l', 'e', 'n', 'g', 't', 'h', ':', 0)) == HS_W8('l', 'e', 'n', 'g', 't', 'h', ':', 0))
		return hs_content_length(p, l);
	if (l->len >= 18 &&
	    (h0 | HS_LC8('t', 'r', 'a', 'n', 's', 'f', 'e', 'r')) == HS_W8('t', 'r', 'a', 'n', 's', 'f', 'e', 'r') &&
	    (h1 | HS_LC8('-', 'e', 'n', 'c', 'o', 'd', 'i', 'n')) == HS_W8('-', 'e', 'n', 'c', 'o', 'd', 'i', 'n') &&
	    ((l->h[2] & HS_MASK(2)) | HS_L('g', 0)) == (HS_B('g', 0) | HS_B(':', 1))) {
		s->flags |= HS_F_TE;
		if (hs_ends_chunked(l))
			s->flags |= HS_F_CHUNKED;
		return HS_GO_ON;
	}
	if (l->len >= 8 &&
	    (h0 | HS_LC8('u', 'p', 'g', 'r', 'a', 'd', 'e', ':')) == HS_W8('u', 'p', 'g', 'r', 'a', 'd', 'e', ':')) {
		s->flags |= HS_F_UPGRADE;
		/* "Upgrade: h2c", alone: the answer's 101 hands the connection to HTTP/2. */
		if (l->len == 12 + hs_has_cr(l) &&
		    ((h1 & HS_MASK(4)) | HS_L('h', 1) | HS_L('c', 3)) == (HS_B(' ', 0) | HS_B('h', 1) | HS_B('2', 2) | HS_B('c', 3)))
			s->flags |= HS_F_H2C;
	}
	return HS_GO_ON;
}

/* The blank line after a request's headers: how is its body framed? */
static __always_inline int hs_request_headers_done(struct hs_parse *p)
{
	struct hs_stream *s = p->s;

	/* A body framed two ways, or by a coding other than chunked, makes no request (RFC 9112 6.1, 6.3). */
	if ((s->flags & HS_F_TE) && (!(s->flags & HS_F_CHUNKED) || (s->flags & HS_F_HAS_LENGTH)))
		return hs_fail(p);
	/* Counted once its head is whole and well framed, as a server's parser accepts it. */
	hs_count(p, HS_REQUEST_SLOT);
	if (s->flags & (HS_F_UPGRADE | HS_F_CONNECT)) {
		/* What follows may be another protocol: wait for the answer. */
		p->conn->tunnel = s->flags & (HS_F_UPGRADE | HS_F_CONNECT | HS_F_H2C);
		s->state = HS_ST_PAUSED;
		return HS_DONE;
	}
	if (s->flags & HS_F_CHUNKED) {
		s->state = HS_ST_CHUNK_SIZE;
		return HS_GO_ON;
	}
	if (s->body_left) {
		s->state = HS_ST_BODY;
		return HS_BODY;
	}
	s->state = HS_ST_START;
	return HS_GO_ON;
}

/* The blank line after a response's headers: which request it answered, and how its body is framed. */
static __always_inline int hs_response_headers_done(struct hs_parse *p)
{
	struct hs_conn *c = p->conn;
	struct hs_stream *s = p->s, *req;
	__u32 status = s->status;
	bool no_body = false;

	if (status < 200 && status != 101) {
		/* Interim: the answer is still to come. */
		s->state = HS_ST_START;
		return HS_GO_ON;
	}
	hs_timing_pop(c, s);
	if (status == 101) {
		/* The connection now carries another protocol: the exchange ends with this head. */
		hs_answer_done(c, s);
		if (c->tunnel & HS_F_H2C) {
			/* HTTP/2 from the next byte: the upgraded request, already counted, is stream 1 and its answer comes as one. */
			hs_h2_begin(c, c->role == HS_ROLE_SERVER ? HS_ROLE_H2_SERVER : HS_ROLE_H2_CLIENT, 0);
			hs_h2_upgraded(c);
			return HS_DONE;
		}
		c->role = HS_ROLE_NOT_HTTP;
		return HS_DONE;
	}
	if (c->queue_len) {
		no_body = c->head_queue & 1;
		c->head_queue >>= 1;
		c->queue_len--;
	}
	if (!c->queue_len && c->tunnel) {
		if ((c->tunnel & HS_F_CONNECT) && status < 300) {
			hs_answer_done(c, s);
			c->role = HS_ROLE_NOT_HTTP;
			return HS_DONE;
		}
		/* Refused: requests go on, but any bytes that came while we waited were not parsed. */
		req = hs_request_stream(c);
		if (req->state == HS_ST_PAUSED) {
			req->state = HS_ST_START;
			if (req->resync) {
				hs_count_loss(HS_LOSS_DESYNC);
				c->timing = 0;
			}
		}
		c->tunnel = 0;
	}
	if (no_body || status == 204 || status == 304) {
		s->state = HS_ST_START;
		hs_answer_done(c, s);
		return HS_GO_ON;
	}
	if (s->flags & HS_F_CHUNKED) {
		s->state = HS_ST_CHUNK_SIZE;
		return HS_GO_ON;
	}
	if ((s->flags & HS_F_HAS_LENGTH) && !(s->flags & HS_F_TE)) {
		if (s->body_left) {
			s->state = HS_ST_BODY;
			return HS_BODY;
		}
		s->state = HS_ST_START;
		hs_answer_done(c, s);
		return HS_GO_ON;
	}
	/* The body ends with the connection: on TCP its end is timed there
	 * (capture.h, hs_tcp_ending); a unix socket's end fires no event. */
	s->state = HS_ST_UNTIL_CLOSE;
	if (c->is_unix)
		hs_answer_untimed(s);
	else
		c->until_close_tgid = p->tgid;
	return HS_DONE;
}

/* "HEX [; extensions] [CR]": that many bytes and a CRLF follow; 0 ends the body. */
static __always_inline int hs_chunk_size(struct hs_parse *p, struct hs_line *l)
{
	__s64 size = hs_number(l, 0, l->len - hs_has_cr(l), 16);

	if (size < 0)
		return hs_fail(p);
	if (!size) {
		p->s->state = HS_ST_TRAILERS;
		return HS_GO_ON;
	}
	p->s->body_left = size + 2;
	p->s->state = HS_ST_CHUNK_DATA;
	return HS_BODY;
}

static __always_inline int hs_classify(struct hs_parse *p, struct hs_line *l)
{
	struct hs_stream *s = p->s;
	bool is_request = p->inbound == (p->conn->role == HS_ROLE_SERVER);

	switch (s->state) {
	case HS_ST_START:
		/* Blank lines between messages are tolerated, as by most servers. */
		if (hs_blank(l))
			return HS_GO_ON;
		return hs_start_line(p, l);
	case HS_ST_HEADERS:
		if (!hs_blank(l))
			return hs_header(p, l);
		return is_request ? hs_request_headers_done(p) : hs_response_headers_done(p);
	case HS_ST_CHUNK_SIZE:
		return hs_chunk_size(p, l);
	case HS_ST_TRAILERS:
		if (hs_blank(l)) {
			s->state = HS_ST_START;
			hs_answer_done(p->conn, s);
		}
		return HS_GO_ON;
	}
	return HS_DONE;
}

/*
 * A loop's result, passed through memory the verifier does not follow.
 * Each way out of a loop carries different exact values, and the verifier
 * would walk all the code after the loop once for each; through here they
 * become one unknown number, and that code is walked once. A call would do
 * the same, but a call and its return cost ~20 ns on a kernel that returns
 * through a safe-RET thunk (the SRSO mitigation of AMD CPUs), per line.
 */
static __always_inline __u64 hs_launder(struct hs_scratch *sc, __u64 value)
{
	*(volatile __u64 *)&sc->launder = value;
	return *(volatile __u64 *)&sc->launder;
}

/* Eight scratch bytes from any offset, as one load. Written as an aligned
 * access on purpose: otherwise clang assembles the word a byte at a time
 * (22 instructions), while the verifier (without strict alignment) and the
 * x86-64 JIT take a misaligned 8-byte load as it is. */
static __always_inline __u64 hs_word(struct hs_scratch *sc, __u32 off)
{
	return *(__u64 *)__builtin_assume_aligned(&sc->data[off & HS_SCRATCH_MASK], 8);
}

/* Offset of the first '\n' in scratch bytes [at, n) (n <= HS_SCRATCH_SIZE)
 * with HS_LF_FOUND set, or how far it looked (at most HS_SCAN_WORDS words);
 * adds to *odd the odd bytes it passed. */
#define HS_SCAN_WORDS 16
#define HS_LF_FOUND 0x80000000u
static __always_inline __u32 hs_scan_lf(struct hs_scratch *sc, __u32 at, __u32 n, bool want_odd, __u32 *odd)
{
	__u32 off = at, k, byte;
	__u64 w, lf, keep;

	for (k = 0; k < HS_SCAN_WORDS; k++) {
		if (off >= n)
			return n;
		w = hs_word(sc, HS_SCRATCH_FRONT + off);
		keep = HS_MASK(n - off);
		lf = hs_zero_bytes(w ^ (HS_ONES * '\n')) & keep;
		if (lf) {
			byte = hs_lowest_byte(lf);
			if (want_odd)
				*odd += hs_count_bytes(hs_odd_bytes(w) & HS_MASK(byte));
			return (off + byte) | HS_LF_FOUND;
		}
		if (want_odd)
			*odd += hs_count_bytes(hs_odd_bytes(w) & keep);
		off += 8;
	}
	return off < n ? off : n;
}

/* hs_scan_lf with its results laundered (see hs_launder). */
static __always_inline __u32 hs_find_lf(struct hs_scratch *sc, __u32 at, __u32 n, bool want_odd, __u32 *odd)
{
	__u32 count = 0, e = hs_scan_lf(sc, at, n, want_odd, &count);
	__u64 both = hs_launder(sc, ((__u64)count << 32) | e);

	*odd += both >> 32;
	return (__u32)both & (HS_LF_FOUND | HS_SCRATCH_MASK);
}

/* A line split across calls: keep its first and last bytes (scratch [from, to)) for when it ends.
 * Word by word: HS_SCRATCH_FRONT lets the words before `from` be loaded (and masked out). */
__noinline int hs_carry(struct hs_stream *s, struct hs_scratch *sc, __u32 from, __u32 to)
{
	__u8 *data;
	__u32 have, k, j, lo, hi, base;
	__u64 w, t0, t1, n0, n1, keep;

	if (!s || !sc || to > HS_SCRATCH_SIZE || from > to)
		return 0;
	data = sc->data;
	have = s->line_len;
	k = to - from;
	if (have < HS_CARRY_HEAD) {
		/* Line byte i sits at scratch offset from - have + i. */
		base = (HS_SCRATCH_FRONT + from) - have;
		if (base > HS_SCRATCH_FRONT + HS_SCRATCH_SIZE)
			return 0;
#pragma unroll
		for (j = 0; j < HS_CARRY_HEAD / 8; j++) {
			lo = have > 8 * j ? have - 8 * j : 0;
			hi = have + k < 8 * j + 8 ? have + k - 8 * j : 8;
			if (hi <= lo || have + k <= 8 * j)
				continue;
			w = *(__u64 *)&data[(base + 8 * j) & HS_SCRATCH_MASK];
			keep = HS_MASK(hi) & ~HS_MASK(lo);
			s->head[j] = (s->head[j] & ~keep) | (w & keep);
		}
	}
	/* The 16 bytes before `to`, then as many of the old tail's as are still its last 16. */
	n0 = *(__u64 *)&data[(HS_SCRATCH_FRONT - 16 + to) & HS_SCRATCH_MASK];
	n1 = *(__u64 *)&data[(HS_SCRATCH_FRONT - 8 + to) & HS_SCRATCH_MASK];
	if (k < HS_CARRY_TAIL) {
		t0 = s->tail[0];
		t1 = s->tail[1];
		if (k >= 8) {
			t0 = t1 >> (8 * (k - 8));
			t1 = 0;
		} else if (k) {
			t0 = (t0 >> (8 * k)) | (t1 << (64 - 8 * k));
			t1 >>= 8 * k;
		}
		/* keep the old bytes in tail positions [0, 16 - k) */
		keep = HS_CARRY_TAIL - k >= 8 ? ~0ULL : HS_MASK(HS_CARRY_TAIL - k);
		n0 = (t0 & keep) | (n0 & ~keep);
		keep = HS_CARRY_TAIL - k > 8 ? HS_MASK(HS_CARRY_TAIL - k - 8) : 0;
		n1 = (t1 & keep) | (n1 & ~keep);
	}
	s->tail[0] = n0;
	s->tail[1] = n1;
	s->line_len = have + k > HS_LINE_MAX + 1 ? HS_LINE_MAX + 1 : have + k;
	return 0;
}

/* Can a start line still be beginning here? Cheap, so that a long run of
 * bytes without a line end on a new connection is given up on at once. */
static __always_inline bool hs_may_start(struct hs_stream *s)
{
	__u64 h0 = s->head[0];

	if (s->line_len < 8)
		return true;
	return hs_method_len(h0) || (h0 & HS_MASK(7)) == (HS_W4('H', 'T', 'T', 'P') | HS_B('/', 4) |
							  HS_B('1', 5) | HS_B('.', 6)) ||
	       (h0 == HS_H2_PREFACE_WORD0 && s->line_len <= HS_H2_PREFACE_LINE);
}

/* Where one call's parse stands, in scalars only, so that global functions can share it. */
struct hs_cursor {
	__u64 buf;
	__u64 len;
	__u64 pos;		/* bytes of the call already parsed or skipped */
	__u32 tgid;
	__u32 n;		/* bytes of this pass in scratch */
	__u32 at;		/* scratch offset of the line being looked at */
	__u8 inbound;
	__u8 stop;		/* enum hs_step that ended the last line */
};

/* Whether a header line starting with these 16 bytes can change anything:
 * it may be the blank line, or its name Content-Length, Transfer-Encoding
 * or Upgrade. Bytes past a short line's end make it look like it may,
 * never like it may not. Combined with `|` and `&`, not `||` and `&&`:
 * clang then branches only where a comparison needs one. */
static __always_inline bool hs_header_may_matter(__u64 h0, __u64 h1)
{
	bool blank = (hs_zero_bytes(h0 ^ (HS_ONES * '\r')) | hs_zero_bytes(h0 ^ (HS_ONES * '\n'))) & 0x80;
	bool length = ((h0 | HS_LC8('c', 'o', 'n', 't', 'e', 'n', 't', '-')) == HS_W8('c', 'o', 'n', 't', 'e', 'n', 't', '-')) &
		      (((h1 & HS_MASK(7)) | HS_LC8('l', 'e', 'n', 'g', 't', 'h', ':', 0)) == HS_W8('l', 'e', 'n', 'g', 't', 'h', ':', 0));
	bool te = (h0 | HS_LC8('t', 'r', 'a', 'n', 's', 'f', 'e', 'r')) == HS_W8('t', 'r', 'a', 'n', 's', 'f', 'e', 'r');
	bool upgrade = (h0 | HS_LC8('u', 'p', 'g', 'r', 'a', 'd', 'e', ':')) == HS_W8('u', 'p', 'g', 'r', 'a', 'd', 'e', ':');

	return blank | length | te | upgrade;
}

/* Words and line starts one skip looks at; the next line step goes on from there. */
#define HS_QUIET_STEPS 32

static __always_inline bool hs_quiet_line_at(struct hs_scratch *sc, __u32 at)
{
	return !hs_header_may_matter(hs_word(sc, HS_SCRATCH_FRONT + at), hs_word(sc, HS_SCRATCH_FRONT + at + 8));
}

/* Passes over whole header lines that cannot matter (Host, Date, Server,
 * Accept...) a word at a time, with no call per line. Returns the scratch
 * offset of the first line that may matter or that does not end inside
 * this pass (at most n). Each step either passes a word without a line end
 * or reaches the next line start; where the two part they are laundered
 * back together, so the verifier walks each step once. */
static __always_inline __u32 hs_skip_quiet_headers(struct hs_scratch *sc, __u32 at, __u32 n)
{
	__u32 i, off = at;
	__u64 w, lf, both;

	if (at >= n || !hs_quiet_line_at(sc, at))
		return at;
	for (i = 0; i < HS_QUIET_STEPS; i++) {
		if (off >= n)
			break;
		w = hs_word(sc, HS_SCRATCH_FRONT + off);
		lf = hs_zero_bytes(w ^ (HS_ONES * '\n')) & HS_MASK(n - off);
		if (!lf) {
			off += 8;
		} else {
			off += hs_lowest_byte(lf) + 1;
			at = off;
			if (off >= n || !hs_quiet_line_at(sc, off))
				break;
		}
		both = hs_launder(sc, ((__u64)at << 32) | off);
		at = (both >> 32) & HS_SCRATCH_MASK;
		off = both & HS_SCRATCH_MASK;
	}
	return at < n ? at : n;
}

/* The next line of this pass: find its end, classify it, pass over a body
 * that follows it inside the pass. Returns 1 when the pass is over. Global:
 * verified once, whatever state the line loop is in (the cursor is memory
 * the verifier does not follow). */
__noinline int hs_next_line(struct hs_conn *conn, struct hs_scratch *sc, struct hs_cursor *cur)
{
	struct hs_parse p = {};
	struct hs_stream *s;
	__u32 at, n, e, odd = 0;
	struct hs_line l;
	bool start;
	int step;

	if (!conn || !sc || !cur)
		return 1;
	s = cur->inbound ? &conn->in : &conn->out;
	p.conn = conn;
	p.s = s;
	p.inbound = cur->inbound;
	at = cur->at;
	n = cur->n;
	if (at >= n || n > HS_SCRATCH_SIZE)
		return 1;
	if (s->state == HS_ST_HEADERS && !s->line_len) {
		at = hs_skip_quiet_headers(sc, at, n);
		cur->at = at;
		if (at >= n)
			return 1;
	}
	start = s->state == HS_ST_START;
	/* A message may begin here: a request's duration starts with this call. */
	if (start && !s->line_len && conn->timing && conn->role != HS_ROLE_NOT_HTTP &&
	    (conn->role == HS_ROLE_UNKNOWN || cur->inbound == (conn->role == HS_ROLE_SERVER)))
		s->started_ns = bpf_ktime_get_ns();
	e = hs_find_lf(sc, at, n, start, &odd);
	if (!(e & HS_LF_FOUND)) {
		/* The line goes on past what this step looked at, or past this pass. */
		e &= HS_SCRATCH_MASK;
		hs_carry(s, sc, at, e);
		s->odd += odd;
		cur->at = e;
		if (s->line_len > HS_LINE_MAX || (start && !hs_may_start(s))) {
			cur->stop = hs_fail(&p);
			return 1;
		}
		return e >= n;
	}
	e &= HS_SCRATCH_MASK;
	if (s->line_len) {
		hs_carry(s, sc, at, e);
		__builtin_memcpy(l.h, s->head, sizeof(l.h));
		__builtin_memcpy(l.t, s->tail, sizeof(l.t));
		l.len = s->line_len;
		l.odd = s->odd + odd;
		s->line_len = 0;
		s->odd = 0;
	} else {
		l.h[0] = hs_word(sc, HS_SCRATCH_FRONT + at);
		l.h[1] = hs_word(sc, HS_SCRATCH_FRONT + at + 8);
		l.h[2] = hs_word(sc, HS_SCRATCH_FRONT + at + 16);
		l.h[3] = hs_word(sc, HS_SCRATCH_FRONT + at + 24);
		/* The 16 bytes before the LF (HS_SCRATCH_FRONT keeps them inside the map value). */
		l.t[0] = hs_word(sc, HS_SCRATCH_FRONT - HS_CARRY_TAIL + e);
		l.t[1] = hs_word(sc, HS_SCRATCH_FRONT - HS_CARRY_TAIL + e + 8);
		l.len = e - at;
		l.odd = odd;
	}
	cur->at = e + 1;
	if (l.len > HS_LINE_MAX) {
		cur->stop = hs_fail(&p);
		return 1;
	}
	/* Most header lines (Host, Accept, Date...) cost no classification at all. */
	if (s->state == HS_ST_HEADERS && l.len && !hs_header_may_matter(l.h[0], l.h[1]))
		return cur->at >= n;
	p.tgid = cur->tgid;
	step = hs_classify(&p, &l);
	if (step == HS_BODY) {
		/* A body that ends inside this pass (pipelined small POSTs, short chunks) is passed over here. */
		if (s->body_left > n - cur->at) {
			cur->stop = HS_GO_ON;
			return 1;
		}
		cur->at += s->body_left;
		s->body_left = 0;
		hs_body_done(conn, s);
		step = HS_GO_ON;
	}
	cur->stop = step;
	/* A pass that ends with a line costs no further call to find that out. */
	return step != HS_GO_ON || cur->at >= n;
}

/* One pass: skip body bytes without reading them, or copy up to
 * HS_SCRATCH_SIZE bytes and parse their lines. Returns 1 when the call is over. */
__noinline int hs_next_pass(struct hs_conn *conn, struct hs_scratch *sc, struct hs_cursor *cur)
{
	struct hs_stream *s;
	__u64 left, skip;
	__u32 n, i;

	if (!conn || !sc || !cur || cur->pos >= cur->len || cur->stop >= HS_DROP)
		return 1;
	s = cur->inbound ? &conn->in : &conn->out;
	left = cur->len - cur->pos;
	if (s->state == HS_ST_BODY || s->state == HS_ST_CHUNK_DATA) {
		skip = left < s->body_left ? left : s->body_left;
		cur->pos += skip;
		s->body_left -= skip;
		if (!s->body_left)
			hs_body_done(conn, s);
		return 0;
	}
	if (s->state == HS_ST_PAUSED)
		s->resync = 1; /* bytes we skip while waiting for the answer */
	if (s->state >= HS_ST_UNTIL_CLOSE || conn->role == HS_ROLE_NOT_HTTP)
		return 1;
	n = left > HS_SCRATCH_SIZE ? HS_SCRATCH_SIZE : left;
	if (bpf_probe_read_user(&sc->data[HS_SCRATCH_FRONT], n, (void *)(cur->buf + cur->pos))) {
		hs_count_loss(HS_LOSS_READ_FAULT);
		hs_lose_place(conn, s);
		cur->stop = HS_DROP;
		return 1;
	}
	/* A connection seen from its first byte that opens with a TLS handshake
	 * record carries ciphertext: its plaintext comes from the TLS hooks. */
	if (conn->role == HS_ROLE_UNKNOWN && conn->timing && !cur->pos && !s->line_len && n >= 2 &&
	    sc->data[HS_SCRATCH_FRONT] == HS_TLS_RECORD_HANDSHAKE && sc->data[HS_SCRATCH_FRONT + 1] == HS_TLS_MAJOR) {
		conn->tls = HS_TLS_UNDECODED;
		conn->role = HS_ROLE_NOT_HTTP;
		return 1;
	}
	/* A connection's first bytes may open HTTP/2: from then on the frame walker has it. */
	if (conn->role == HS_ROLE_UNKNOWN && conn->timing && !s->resync && s->state == HS_ST_START && !s->line_len) {
		__u8 h2 = hs_h2_opening(sc, n, cur->inbound);

		if (h2 != HS_ROLE_UNKNOWN) {
			hs_h2_begin(conn, h2, 0);
			cur->stop = HS_DONE;
			return 1;
		}
	}
	cur->n = n;
	cur->at = 0;
	cur->stop = HS_GO_ON;
	/* A plain bounded loop around a global function: one call a step, where bpf_loop makes two. */
	for (i = 0; i < HS_SCRATCH_SIZE + 1; i++)
		if (hs_next_line(conn, sc, cur))
			break;
	cur->pos += cur->at;
	return cur->stop >= HS_DROP;
}

__noinline int hs_parse(struct hs_conn *conn, __u32 inbound, __u32 tgid, __u64 buf, __u64 len)
{
	struct hs_cursor cur = { .buf = buf, .len = len, .tgid = tgid, .inbound = inbound & 1 };
	bool segment = inbound & HS_PARSE_SEGMENT;
	struct hs_scratch *sc;
	struct hs_stream *s;
	__u32 zero = 0, i;

	inbound &= 1;
	if (!conn || conn->role == HS_ROLE_NOT_HTTP)
		return 0;
	s = inbound ? &conn->in : &conn->out;
	if (!segment && hs_h2_joining(conn, s, inbound) && hs_h2_join(conn, tgid, buf, len, HS_H2_CALL(inbound, 0)) == HS_H2_JOIN_HELD)
		return 0;
	if (conn->role == HS_ROLE_H2_SERVER || conn->role == HS_ROLE_H2_CLIENT)
		return hs_h2_parse(conn, inbound, tgid, buf, len);
	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!sc)
		return 0;
	/* Checked here too: a call's last pass then costs no call of its own. */
	for (i = 0; i < HS_PASSES && cur.pos < len && cur.stop < HS_DROP; i++)
		if (hs_next_pass(conn, sc, &cur))
			break;
	if (cur.pos < len && cur.stop < HS_DROP && conn->role != HS_ROLE_NOT_HTTP && s->state < HS_ST_UNTIL_CLOSE) {
		/* More header bytes than the pass budget: give up on this call's rest. */
		hs_count_loss(HS_LOSS_PARSE_BUDGET);
		hs_lose_place(conn, s);
	}
	/* Handed over to HTTP/2 in this call: the walker takes the rest. */
	if (conn->role == HS_ROLE_H2_SERVER || conn->role == HS_ROLE_H2_CLIENT)
		return hs_h2_parse(conn, inbound, tgid, buf + cur.pos, len - cur.pos);
	return 0;
}
