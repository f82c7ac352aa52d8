// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The HTTP/2 frame walker and HPACK reader (interface and overview in http2_parser.h). */
#include "http2_parser.h"

/* Steps per call: a frame costs one or two, a header field two to four. */
#define HS_H2_STEPS 4096
#define HS_H2_MAX_FRAME_LIMIT 16777215

/* Frame types and flags (RFC 9113, section 6). */
enum hs_h2_type {
	HS_H2_T_DATA = 0,
	HS_H2_T_HEADERS,
	HS_H2_T_PRIORITY,
	HS_H2_T_RST_STREAM,
	HS_H2_T_SETTINGS,
	HS_H2_T_PUSH_PROMISE,
	HS_H2_T_PING,
	HS_H2_T_GOAWAY,
	HS_H2_T_WINDOW_UPDATE,
	HS_H2_T_CONTINUATION,
};
#define HS_H2_F_ACK 0x01
#define HS_H2_F_END_STREAM 0x01
#define HS_H2_F_END_HEADERS 0x04
#define HS_H2_F_PADDED 0x08
#define HS_H2_F_PRIORITY 0x20
#define HS_H2_SETTINGS_MAX_FRAME_SIZE 5
#define HS_H2_SETTINGS_ENTRY 6

/* Tag kinds, as name_kind keeps them. */
#define HS_H2_KIND_UNKNOWN 0
#define HS_H2_KIND_OTHER 1
#define HS_H2_KIND_STATUS 2
#define HS_H2_KIND_GRPC 3
#define HS_H2_KIND_PSEUDO 4
#define HS_H2_KIND_MASK 0x7f

/* huff: the string is Huffman-coded; its first bytes are collected. */
#define HS_H2_HUFFMAN 0x01
#define HS_H2_COLLECT 0x02
/* A kept string's bytes past its 8th differ from grpc-status's. */
#define HS_H2_TAIL_MISMATCH 0x04

/* ":status" as collected (little-endian), plain and Huffman-coded (RFC 7541, appendix B). */
#define HS_H2_STATUS_NAME 0x7375746174733aULL
#define HS_H2_STATUS_NAME_LEN 7
#define HS_H2_STATUS_HUFFMAN 0xa3368d84b8ULL
#define HS_H2_STATUS_HUFFMAN_LEN 5
/* "grpc-status": its first 8 bytes as collected and the 3 after them, plain; Huffman-coded, 8 bytes. */
#define HS_H2_GRPC_NAME 0x6174732d63707267ULL
#define HS_H2_GRPC_NAME_TAIL 0x737574U
#define HS_H2_GRPC_NAME_LEN 11
#define HS_H2_GRPC_HUFFMAN 0x8fda3412b2c8ca9aULL
#define HS_H2_GRPC_HUFFMAN_LEN 8
/* Names are kept up to the longest of those; values (three digits, or a code's one or two) up to 8 bytes. */
#define HS_H2_NAME_KEPT HS_H2_GRPC_NAME_LEN
#define HS_H2_VALUE_KEPT 8

/* HPACK's static table holds the request pseudo-headers at indexes 1 to 7, :status at 8 to 14. */
#define HS_HPACK_STATIC 61
#define HS_HPACK_LAST_PSEUDO 7
#define HS_HPACK_LAST_STATUS 14
/* ':' Huffman-coded takes 7 bits: 1011100. */
#define HS_H2_COLON_HUFFMAN 0xb8

/* Where one call's walk stands. Scratch holds win_len bytes of the call from offset win. */
struct hs_h2_cursor {
	__u64 buf;
	__u64 len;
	__u64 pos;
	__u64 win;
	__u32 win_len;
	__u32 tgid;
	__u8 inbound;
};

/* This direction lost its place: count it once, and never count on it again. */
static __always_inline int hs_h2_lose(struct hs_conn *c, struct hs_h2_dir *d)
{
	hs_count_loss(HS_LOSS_H2_LOST);
	d->step = HS_H2_LOST;
	c->timing = 0;
	return 1;
}

/* Bytes of the call from pos on that scratch holds, copying the next ones
 * when it holds none; 0 when user memory cannot be read. */
static __always_inline __u32 hs_h2_window(struct hs_scratch *sc, struct hs_h2_cursor *cur)
{
	__u64 off = cur->pos - cur->win, n;

	if (cur->pos >= cur->win && off < cur->win_len)
		return cur->win_len - off;
	n = cur->len - cur->pos;
	if (n > HS_SCRATCH_SIZE)
		n = HS_SCRATCH_SIZE;
	if (!n || bpf_probe_read_user(&sc->data[HS_SCRATCH_FRONT], n, (void *)(cur->buf + cur->pos))) {
		hs_count_loss(HS_LOSS_READ_FAULT);
		return 0;
	}
	cur->win = cur->pos;
	cur->win_len = n;
	return n;
}

/* Byte k after pos (k below what hs_h2_window returned). */
static __always_inline __u8 hs_h2_byte(struct hs_scratch *sc, struct hs_h2_cursor *cur, __u32 k)
{
	return sc->data[(HS_SCRATCH_FRONT + (cur->pos - cur->win) + k) & HS_SCRATCH_MASK];
}

static __always_inline __u64 hs_min(__u64 a, __u64 b)
{
	return a < b ? a : b;
}

/* Slot i (of 2 * HS_H2_TIMED) of the connection's stream start times: the first half in one direction's room, the rest in the other's. */
static __always_inline struct hs_h2_timed *hs_h2_timed_of(struct hs_conn *c, __u32 i)
{
	return i < HS_H2_TIMED ? &c->in.h2_timed : &c->out.h2_timed;
}

/* The slot timing a stream (stream 0: a free slot), or -1. */
static __always_inline int hs_h2_slot(struct hs_conn *c, __u32 stream)
{
	__u32 i;

#pragma unroll
	for (i = 0; i < 2 * HS_H2_TIMED; i++)
		if ((hs_h2_timed_of(c, i)->stream[i % HS_H2_TIMED] & ~HS_H2_ANSWERED) == stream)
			return i;
	return -1;
}

/* A request: its stream is timed from now if a slot is free (else its answer counts as untimed). */
static __always_inline void hs_h2_timing_start(struct hs_conn *c, __u32 stream)
{
	int i = hs_h2_slot(c, 0);
	struct hs_h2_timed *t;

	if (i < 0)
		return;
	t = hs_h2_timed_of(c, i);
	t->stream[i % HS_H2_TIMED] = stream;
	t->started_ns[i % HS_H2_TIMED] = bpf_ktime_get_ns();
}

/* A final status was counted: its answer's end will be timed, or it is untimed now. */
static __always_inline void hs_h2_timing_answered(struct hs_conn *c, __u32 stream)
{
	int i = hs_h2_slot(c, stream);

	if (i < 0) {
		hs_count_loss(HS_LOSS_UNTIMED);
		return;
	}
	hs_h2_timed_of(c, i)->stream[i % HS_H2_TIMED] |= HS_H2_ANSWERED;
}

/* The stream is over (its answer's END_STREAM, or a reset): record its duration if it was answered and timed, free its slot. */
static __always_inline void hs_h2_timing_end(struct hs_conn *c, __u32 stream, bool reset)
{
	int i = hs_h2_slot(c, stream);
	struct hs_h2_timed *t;
	__u32 answered;

	if (i < 0 || !stream)
		return;
	t = hs_h2_timed_of(c, i);
	answered = t->stream[i % HS_H2_TIMED] & HS_H2_ANSWERED;
	t->stream[i % HS_H2_TIMED] = 0;
	if (!answered)
		return;
	/* Counted with a status, and its end will never come. */
	if (reset)
		hs_count_loss(HS_LOSS_UNTIMED);
	else
		hs_record_duration(hs_side(c), t->started_ns[i % HS_H2_TIMED]);
}

/* A frame's last byte is in: if it ends its stream's answer (END_STREAM, after the block's last fragment), the answer is over. */
static __always_inline void hs_h2_frame_done(struct hs_conn *c, struct hs_h2_dir *d)
{
	if (!d->ends || (d->block & HS_H2_BLOCK_OPEN) || d->step == HS_H2_LOST)
		return;
	d->ends = 0;
	hs_h2_timing_end(c, d->stream, false);
}

/* What a field taken from the table at index i says (i >= 1). */
static __always_inline __u16 hs_hpack_tag(struct hs_h2_dir *d, __u32 i)
{
	__u32 k;

	switch (i) {
	case 8: return HS_H2_TAG_STATUS | 200;
	case 9: return HS_H2_TAG_STATUS | 204;
	case 10: return HS_H2_TAG_STATUS | 206;
	case 11: return HS_H2_TAG_STATUS | 304;
	case 12: return HS_H2_TAG_STATUS | 400;
	case 13: return HS_H2_TAG_STATUS | 404;
	case 14: return HS_H2_TAG_STATUS | 500;
	}
	if (i <= HS_HPACK_LAST_PSEUDO)
		return HS_H2_TAG_PSEUDO;
	if (i <= HS_HPACK_STATIC)
		return HS_H2_TAG_OTHER;
	/* The dynamic table counts from its newest entry. */
	k = i - HS_HPACK_STATIC - 1;
	if (k >= d->valid)
		return HS_H2_TAG_UNKNOWN;
	return d->tags[(d->newest - k) & (HS_H2_TABLE - 1)];
}

static __always_inline __u8 hs_hpack_kind(__u16 tag)
{
	if (tag & HS_H2_TAG_STATUS)
		return HS_H2_KIND_STATUS;
	if (tag & HS_H2_TAG_GRPC)
		return HS_H2_KIND_GRPC;
	if (tag == HS_H2_TAG_PSEUDO)
		return HS_H2_KIND_PSEUDO;
	return tag == HS_H2_TAG_UNKNOWN ? HS_H2_KIND_UNKNOWN : HS_H2_KIND_OTHER;
}

/* A literal with incremental indexing entered the sender's dynamic table. */
static __always_inline void hs_hpack_insert(struct hs_h2_dir *d, __u16 tag)
{
	d->newest = (d->newest + 1) & (HS_H2_TABLE - 1);
	d->tags[d->newest & (HS_H2_TABLE - 1)] = tag;
	if (d->valid < HS_H2_TABLE)
		d->valid++;
}

/* One Huffman-coded digit (RFC 7541, appendix B: '0'-'2' take 5 bits,
 * '3'-'9' take 6) from the top of the `bits` low bits of v; -1 if none. */
static __always_inline int hs_huffman_digit(__u32 v, __u32 *bits)
{
	__u32 c;

	if (*bits < 5)
		return -1;
	c = (v >> (*bits - 5)) & 0x1f;
	if (c <= 2) {
		*bits -= 5;
		return c;
	}
	if (*bits < 6)
		return -1;
	c = (v >> (*bits - 6)) & 0x3f;
	if (c < 0x19 || c > 0x1f)
		return -1;
	*bits -= 6;
	return c - 0x19 + 3;
}

/* What is left of v's `bits` low bits is Huffman padding: fewer than 8 bits, all ones. */
static __always_inline bool hs_huffman_padding(__u32 v, __u32 bits)
{
	return bits < 8 && (v & ((1U << bits) - 1)) == (1U << bits) - 1;
}

/* A status value string as collected: its three digits, or 0. */
static __always_inline __u32 hs_hpack_status(struct hs_h2_dir *d)
{
	__u64 c = d->collected;
	__u32 len = d->collected_len, v, bits, status = 0, i;
	int digit;

	if (!(d->huff & HS_H2_HUFFMAN)) {
		if (len != 3)
			return 0;
#pragma unroll
		for (i = 0; i < 3; i++) {
			digit = (__u8)(c >> (8 * i)) - '0';
			if (digit < 0 || digit > 9)
				return 0;
			status = status * 10 + digit;
		}
		return status;
	}
	/* Three digits take 15 to 18 bits: two or three bytes, the code's first bit the first byte's top one. */
	if (len == 2)
		v = ((c & 0xff) << 8) | ((c >> 8) & 0xff);
	else if (len == 3)
		v = ((c & 0xff) << 16) | (c & 0xff00) | ((c >> 16) & 0xff);
	else
		return 0;
	bits = 8 * len;
#pragma unroll
	for (i = 0; i < 3; i++) {
		digit = hs_huffman_digit(v, &bits);
		if (digit < 0)
			return 0;
		status = status * 10 + digit;
	}
	if (!hs_huffman_padding(v, bits))
		return 0;
	return status;
}

/* A grpc-status value as collected: a canonical code (one or two digits, 0 to
 * HS_GRPC_STATUS_MAX, written as gRPC writes them), or HS_GRPC_OTHER. */
static __always_inline __u32 hs_hpack_grpc_status(struct hs_h2_dir *d)
{
	__u64 c = d->collected;
	__u32 len = d->collected_len, v, bits, code;
	int first, second = -1;

	if (!(d->huff & HS_H2_HUFFMAN)) {
		if (len < 1 || len > 2)
			return HS_GRPC_OTHER;
		first = (__u8)c - '0';
		if (first < 0 || first > 9)
			return HS_GRPC_OTHER;
		if (len == 2) {
			second = (__u8)(c >> 8) - '0';
			if (second < 0 || second > 9)
				return HS_GRPC_OTHER;
		}
	} else {
		/* One or two digits take 5 to 12 bits: one or two bytes. */
		if (len == 1)
			v = c & 0xff;
		else if (len == 2)
			v = ((c & 0xff) << 8) | ((c >> 8) & 0xff);
		else
			return HS_GRPC_OTHER;
		bits = 8 * len;
		first = hs_huffman_digit(v, &bits);
		if (first < 0)
			return HS_GRPC_OTHER;
		/* A second digit, unless what is left is the padding (no digit's code is all ones). */
		if (!hs_huffman_padding(v, bits)) {
			second = hs_huffman_digit(v, &bits);
			if (second < 0 || !hs_huffman_padding(v, bits))
				return HS_GRPC_OTHER;
		}
	}
	if (second < 0)
		return first;
	/* Two digits: 10 and up ("05" is not how a code is written). */
	code = first * 10 + second;
	return first && code <= HS_GRPC_STATUS_MAX ? code : HS_GRPC_OTHER;
}

/* What a name just read is. */
static __always_inline __u8 hs_hpack_name_kind(struct hs_h2_dir *d)
{
	if (d->huff & HS_H2_HUFFMAN) {
		if (d->collected_len == HS_H2_STATUS_HUFFMAN_LEN && d->collected == HS_H2_STATUS_HUFFMAN)
			return HS_H2_KIND_STATUS;
		if (d->collected_len == HS_H2_GRPC_HUFFMAN_LEN && d->collected == HS_H2_GRPC_HUFFMAN)
			return HS_H2_KIND_GRPC;
		return d->collected_len && ((__u8)d->collected & 0xfe) == HS_H2_COLON_HUFFMAN ? HS_H2_KIND_PSEUDO : HS_H2_KIND_OTHER;
	}
	if (d->collected_len == HS_H2_STATUS_NAME_LEN && d->collected == HS_H2_STATUS_NAME)
		return HS_H2_KIND_STATUS;
	if (d->collected_len == HS_H2_GRPC_NAME_LEN && d->collected == HS_H2_GRPC_NAME && !(d->huff & HS_H2_TAIL_MISMATCH))
		return HS_H2_KIND_GRPC;
	return d->collected_len && (__u8)d->collected == ':' ? HS_H2_KIND_PSEUDO : HS_H2_KIND_OTHER;
}

/* A HEADERS opened a client stream: a request, timed from now. */
static __always_inline void hs_h2_request(struct hs_conn *c, struct hs_h2_dir *d, __u32 tgid, __u32 stream)
{
	d->stream = stream;
	c->h2_join &= ~HS_H2_JOINED;
	hs_add(tgid, hs_side(c) + HS_REQUEST_SLOT, 0);
	hs_h2_timing_start(c, stream);
}

/* A field of a block that ends a call's answer: its grpc-status counts, once. */
static __always_inline void hs_h2_grpc_field(struct hs_conn *c, struct hs_h2_dir *d, struct hs_h2_cursor *cur, __u16 tag)
{
	if (tag & HS_H2_TAG_GRPC) {
		d->block &= ~HS_H2_BLOCK_ENDS_CALL;
		hs_add(cur->tgid, hs_side(c) + HS_GRPC_SLOT + (tag & HS_H2_TAG_VALUE), 0);
		return;
	}
	/* It may have been the grpc-status: known at the block's end (a first field's own loss is counted already). */
	if (tag == HS_H2_TAG_UNKNOWN && !(d->block & HS_H2_BLOCK_ANSWER))
		d->block |= HS_H2_BLOCK_UNRESOLVED;
}

/* A field of a block that may be a response: its first field says. */
static __always_inline void hs_h2_field(struct hs_conn *c, struct hs_h2_dir *d, struct hs_h2_cursor *cur, __u16 tag)
{
	__u32 status;

	/* Joined mid-stream: a client's block that ends its stream opens it only if it begins with a request pseudo-header. */
	if (d->block & HS_H2_BLOCK_REQUEST) {
		d->block &= ~HS_H2_BLOCK_REQUEST;
		if (tag == HS_H2_TAG_PSEUDO)
			hs_h2_request(c, d, cur->tgid, d->stream);
		else if (tag == HS_H2_TAG_UNKNOWN)
			hs_count_loss(HS_LOSS_H2_DYNAMIC_TABLE);
		return;
	}
	if (d->block & HS_H2_BLOCK_ENDS_CALL)
		hs_h2_grpc_field(c, d, cur, tag);
	if (!(d->block & HS_H2_BLOCK_ANSWER))
		return;
	d->block &= ~HS_H2_BLOCK_ANSWER;
	if (tag == HS_H2_TAG_UNKNOWN) {
		hs_count_loss(HS_LOSS_H2_DYNAMIC_TABLE);
		return;
	}
	/* Anything but :status first: trailers. */
	if (!(tag & HS_H2_TAG_STATUS))
		return;
	status = tag & HS_H2_TAG_VALUE;
	if (status < HS_STATUS_MIN || status > HS_STATUS_MAX) {
		hs_h2_lose(c, d);
		return;
	}
	/* An interim answer (1xx): the final one is still to come. */
	if (status < 200)
		return;
	hs_add(cur->tgid, hs_side(c) + status, 0);
	hs_h2_timing_answered(c, d->stream);
}

/* The string being read is over. */
static __always_inline void hs_hpack_string_done(struct hs_conn *c, struct hs_h2_dir *d, struct hs_h2_cursor *cur)
{
	__u8 kind = d->name_kind & HS_H2_KIND_MASK;
	__u16 tag;

	if (d->what == HS_HW_NAME) {
		kind = hs_hpack_name_kind(d);
		d->name_kind = (d->name_kind & HS_H2_INSERT) | kind;
		d->what = HS_HW_VALUE_LEN;
		d->hp = HS_HP_STRLEN;
		return;
	}
	if (kind == HS_H2_KIND_STATUS)
		tag = HS_H2_TAG_STATUS | hs_hpack_status(d);
	else if (kind == HS_H2_KIND_GRPC)
		tag = HS_H2_TAG_GRPC | hs_hpack_grpc_status(d);
	else if (kind == HS_H2_KIND_PSEUDO)
		tag = HS_H2_TAG_PSEUDO;
	else
		tag = kind == HS_H2_KIND_OTHER ? HS_H2_TAG_OTHER : HS_H2_TAG_UNKNOWN;
	if (d->name_kind & HS_H2_INSERT)
		hs_hpack_insert(d, tag);
	d->hp = HS_HP_FIELD;
	hs_h2_field(c, d, cur, tag);
}

/* The integer being read is `value`: act on what it was. */
static __always_inline void hs_hpack_int_done(struct hs_conn *c, struct hs_h2_dir *d, struct hs_h2_cursor *cur, __u32 value)
{
	switch (d->what) {
	case HS_HW_INDEX:
		if (!value) {
			hs_h2_lose(c, d);
			return;
		}
		d->hp = HS_HP_FIELD;
		hs_h2_field(c, d, cur, hs_hpack_tag(d, value));
		return;
	case HS_HW_SIZE:
		/* Emptied: everything inserted before is gone. */
		if (!value)
			d->valid = 0;
		d->hp = HS_HP_FIELD;
		return;
	case HS_HW_NAME_INDEX:
		d->hp = HS_HP_STRLEN;
		if (!value) {
			d->what = HS_HW_NAME_LEN;
			return;
		}
		d->name_kind = (d->name_kind & HS_H2_INSERT) | hs_hpack_kind(hs_hpack_tag(d, value));
		d->what = HS_HW_VALUE_LEN;
		return;
	}
	/* A string's length: its bytes follow. Short names, :status and grpc-status values are kept. */
	d->what = d->what == HS_HW_NAME_LEN ? HS_HW_NAME : HS_HW_VALUE;
	d->hp = HS_HP_STR;
	d->int_value = value;
	d->collected = 0;
	d->collected_len = 0;
	if (d->what == HS_HW_NAME ? value <= HS_H2_NAME_KEPT
				  : value <= HS_H2_VALUE_KEPT && ((d->name_kind & HS_H2_KIND_MASK) == HS_H2_KIND_STATUS ||
								  (d->name_kind & HS_H2_KIND_MASK) == HS_H2_KIND_GRPC))
		d->huff |= HS_H2_COLLECT;
	if (!value)
		hs_hpack_string_done(c, d, cur);
}

/* An integer whose prefix holds `value` of at most `max`: the max means more bytes follow. */
static __always_inline void hs_hpack_int_start(struct hs_conn *c, struct hs_h2_dir *d, struct hs_h2_cursor *cur,
					       __u32 value, __u32 max)
{
	if (value < max) {
		hs_hpack_int_done(c, d, cur, value);
		return;
	}
	d->int_value = value;
	d->int_shift = 0;
	d->hp = HS_HP_INT;
}

/* One byte of a header block that is not string data (RFC 7541, sections 5 and 6). */
static __always_inline void hs_hpack_byte(struct hs_conn *c, struct hs_h2_dir *d, struct hs_h2_cursor *cur, __u8 b)
{
	switch (d->hp) {
	case HS_HP_FIELD:
		if (b & 0x80) {
			d->what = HS_HW_INDEX;
			hs_hpack_int_start(c, d, cur, b & 0x7f, 0x7f);
		} else if (b & 0x40) {
			d->what = HS_HW_NAME_INDEX;
			d->name_kind = HS_H2_INSERT;
			hs_hpack_int_start(c, d, cur, b & 0x3f, 0x3f);
		} else if (b & 0x20) {
			d->what = HS_HW_SIZE;
			hs_hpack_int_start(c, d, cur, b & 0x1f, 0x1f);
		} else {
			/* without indexing, or never indexed */
			d->what = HS_HW_NAME_INDEX;
			d->name_kind = 0;
			hs_hpack_int_start(c, d, cur, b & 0x0f, 0x0f);
		}
		return;
	case HS_HP_STRLEN:
		d->huff = b & 0x80 ? HS_H2_HUFFMAN : 0;
		hs_hpack_int_start(c, d, cur, b & 0x7f, 0x7f);
		return;
	case HS_HP_INT:
		d->int_value += (__u32)(b & 0x7f) << (d->int_shift & 31);
		if (!(b & 0x80)) {
			hs_hpack_int_done(c, d, cur, d->int_value);
			return;
		}
		d->int_shift += 7;
		/* Four continuation bytes are 2^28: more than any block can hold. */
		if (d->int_shift > 21)
			hs_h2_lose(c, d);
		return;
	case HS_HP_STR:
		/* A kept string's byte: the first 8 collected, the next compared with grpc-status's. */
		if (d->collected_len < 8)
			d->collected |= (__u64)b << (8 * (d->collected_len & 7));
		else if (b != (__u8)(HS_H2_GRPC_NAME_TAIL >> (8 * ((d->collected_len - 8) & 3))))
			d->huff |= HS_H2_TAIL_MISMATCH;
		d->collected_len++;
		if (!--d->int_value)
			hs_hpack_string_done(c, d, cur);
		return;
	}
}

/* After some of a block fragment was walked: at the fragment's end, go on to its padding or the next frame. */
static __always_inline int hs_h2_fragment_walked(struct hs_conn *c, struct hs_h2_dir *d)
{
	if (d->step == HS_H2_LOST)
		return 1;
	if (d->frame_left > d->pad_len)
		return 0;
	if (!(d->block & HS_H2_BLOCK_OPEN)) {
		/* END_HEADERS: a field may not run past the block. */
		if (d->hp != HS_HP_FIELD)
			return hs_h2_lose(c, d);
		/* A call's end whose grpc-status may have been in an entry we do not remember. */
		if ((d->block & (HS_H2_BLOCK_ENDS_CALL | HS_H2_BLOCK_UNRESOLVED)) == (HS_H2_BLOCK_ENDS_CALL | HS_H2_BLOCK_UNRESOLVED))
			hs_count_loss(HS_LOSS_H2_DYNAMIC_TABLE);
		d->block = 0;
	}
	d->step = d->frame_left ? HS_H2_SKIP : HS_H2_FRAME;
	if (d->step == HS_H2_FRAME)
		hs_h2_frame_done(c, d);
	return 0;
}

/* Header block bytes: string data passed (or kept) in one go, anything else a byte a step. */
static __always_inline int hs_h2_block(struct hs_conn *c, struct hs_h2_dir *d, struct hs_scratch *sc,
				       struct hs_h2_cursor *cur)
{
	__u64 fragment = d->frame_left - d->pad_len, n;

	if (d->hp == HS_HP_STR && !(d->huff & HS_H2_COLLECT)) {
		n = hs_min(hs_min(d->int_value, fragment), cur->len - cur->pos);
		cur->pos += n;
		d->frame_left -= n;
		d->int_value -= n;
		if (!d->int_value)
			hs_hpack_string_done(c, d, cur);
		return hs_h2_fragment_walked(c, d);
	}
	if (!hs_h2_window(sc, cur))
		return hs_h2_lose(c, d);
	hs_hpack_byte(c, d, cur, hs_h2_byte(sc, cur, 0));
	cur->pos++;
	d->frame_left--;
	return hs_h2_fragment_walked(c, d);
}

/* A complete frame header: check it can be one, count a request, and choose how to walk the payload. */
static __always_inline int hs_h2_frame(struct hs_conn *c, struct hs_h2_dir *d, struct hs_h2_cursor *cur, __u8 *b)
{
	__u32 len = (b[0] << 16) | (b[1] << 8) | b[2], stream, fixed;
	__u8 type = b[3], flags = b[4];
	bool requests = cur->inbound == (c->role == HS_ROLE_H2_SERVER);

	stream = ((__u32)(b[5] & 0x7f) << 24) | (b[6] << 16) | (b[7] << 8) | b[8];
	if (len > d->max_frame)
		return hs_h2_lose(c, d);
	/* A header block's fragments follow each other, on its stream, with nothing between. */
	if ((d->block & HS_H2_BLOCK_OPEN) ? type != HS_H2_T_CONTINUATION || stream != d->stream : type == HS_H2_T_CONTINUATION)
		return hs_h2_lose(c, d);
	d->frame_left = len;
	d->flags = flags;
	d->pad_len = 0;
	d->fixed_left = 0;
	d->step = len ? HS_H2_SKIP : HS_H2_FRAME;
	/* An answer's END_STREAM on a HEADERS holds until its last CONTINUATION. */
	if (type != HS_H2_T_CONTINUATION)
		d->ends = 0;
	switch (type) {
	case HS_H2_T_DATA:
		if (!stream)
			return hs_h2_lose(c, d);
		if (!requests) {
			d->stream = stream;
			d->ends = flags & HS_H2_F_END_STREAM;
			break;
		}
		return 0;
	case HS_H2_T_HEADERS:
	case HS_H2_T_PUSH_PROMISE:
		/* Only a server promises. */
		if (!stream || (type == HS_H2_T_PUSH_PROMISE && requests))
			return hs_h2_lose(c, d);
		d->block = flags & HS_H2_F_END_HEADERS ? 0 : HS_H2_BLOCK_OPEN;
		if (requests && !(c->h2_join & HS_H2_JOINED)) {
			/* A client opens a stream with a HEADERS on an odd id above all it used; anything else is trailers. */
			if ((stream & 1) && stream > d->stream)
				hs_h2_request(c, d, cur->tgid, stream);
			return 0;
		}
		d->stream = stream;
		if (requests) {
			/* Joined mid-stream, the streams opened before are unknown. Trailers
			 * end their stream: a HEADERS that does not opens one. One that does
			 * is walked (its first field tells), and so is every block until a
			 * request is found, to keep the order of the table's insertions. */
			if (!(stream & 1))
				return hs_h2_lose(c, d);
			if (!(flags & HS_H2_F_END_STREAM)) {
				hs_h2_request(c, d, cur->tgid, stream);
				return 0;
			}
			d->block |= HS_H2_BLOCK_WALKED | HS_H2_BLOCK_REQUEST;
		} else {
			d->ends = type == HS_H2_T_HEADERS && (flags & HS_H2_F_END_STREAM);
			if (type == HS_H2_T_HEADERS && (stream & 1))
				d->block |= HS_H2_BLOCK_ANSWER | (d->ends ? HS_H2_BLOCK_ENDS_CALL : 0);
		}
		fixed = type == HS_H2_T_PUSH_PROMISE ? 4 : flags & HS_H2_F_PRIORITY ? 5 : 0;
		if (len < fixed + !!(flags & HS_H2_F_PADDED))
			return hs_h2_lose(c, d);
		d->fixed_left = fixed;
		d->hp = HS_HP_FIELD;
		if (flags & HS_H2_F_PADDED)
			d->step = HS_H2_PAD_LENGTH;
		else
			d->step = fixed ? HS_H2_FIXED : HS_H2_BLOCK;
		break;
	case HS_H2_T_CONTINUATION:
		d->block &= ~HS_H2_BLOCK_OPEN;
		if (!(flags & HS_H2_F_END_HEADERS))
			d->block |= HS_H2_BLOCK_OPEN;
		if (requests && !(d->block & HS_H2_BLOCK_WALKED))
			return 0;
		d->step = HS_H2_BLOCK;
		break;
	case HS_H2_T_PRIORITY:
		if (len != 5 || !stream)
			return hs_h2_lose(c, d);
		return 0;
	case HS_H2_T_RST_STREAM:
		if (len != 4 || !stream)
			return hs_h2_lose(c, d);
		hs_h2_timing_end(c, stream, true);
		return 0;
	case HS_H2_T_SETTINGS:
		if (stream || (flags & HS_H2_F_ACK ? len : len % HS_H2_SETTINGS_ENTRY))
			return hs_h2_lose(c, d);
		if (len)
			d->step = HS_H2_SETTINGS;
		return 0;
	case HS_H2_T_PING:
		if (len != 8 || stream)
			return hs_h2_lose(c, d);
		return 0;
	case HS_H2_T_GOAWAY:
		if (len < 8 || stream)
			return hs_h2_lose(c, d);
		return 0;
	case HS_H2_T_WINDOW_UPDATE:
		if (len != 4)
			return hs_h2_lose(c, d);
		return 0;
	default:
		/* Extension frames are ignored, as the protocol asks. */
		return 0;
	}
	/* A block fragment may be empty, a DATA frame too. */
	if (d->step == HS_H2_BLOCK)
		return hs_h2_fragment_walked(c, d);
	if (d->step == HS_H2_FRAME)
		hs_h2_frame_done(c, d);
	return 0;
}

/* The next frame header: whole from scratch, or a byte at a time across calls. */
static __always_inline int hs_h2_frame_header(struct hs_conn *c, struct hs_h2_dir *d, struct hs_scratch *sc,
					      struct hs_h2_cursor *cur)
{
	__u32 avail = hs_h2_window(sc, cur), k, have;
	__u8 b[9];

	if (!avail)
		return hs_h2_lose(c, d);
	if (!d->hdr_have && avail >= sizeof(b)) {
#pragma unroll
		for (k = 0; k < sizeof(b); k++)
			b[k] = hs_h2_byte(sc, cur, k);
		cur->pos += sizeof(b);
		return hs_h2_frame(c, d, cur, b);
	}
	for (k = 0; k < sizeof(b); k++) {
		have = d->hdr_have;
		if (k >= avail || have >= sizeof(b))
			break;
		d->hdr[have] = hs_h2_byte(sc, cur, k);
		d->hdr_have = have + 1;
	}
	cur->pos += k;
	if (d->hdr_have < sizeof(b))
		return 0;
	d->hdr_have = 0;
	__builtin_memcpy(b, d->hdr, sizeof(b));
	return hs_h2_frame(c, d, cur, b);
}

/* SETTINGS entries, 6 bytes each: SETTINGS_MAX_FRAME_SIZE raises what the other direction may carry. */
static __always_inline int hs_h2_settings(struct hs_conn *c, struct hs_h2_dir *d, struct hs_h2_dir *other,
					  struct hs_scratch *sc, struct hs_h2_cursor *cur)
{
	__u32 avail = hs_h2_window(sc, cur), k, have, value;

	if (!avail)
		return hs_h2_lose(c, d);
	for (k = 0; k < HS_H2_SETTINGS_ENTRY; k++) {
		have = d->hdr_have;
		if (k >= avail || have >= HS_H2_SETTINGS_ENTRY)
			break;
		d->hdr[have] = hs_h2_byte(sc, cur, k);
		d->hdr_have = have + 1;
	}
	cur->pos += k;
	d->frame_left -= k;
	if (d->hdr_have < HS_H2_SETTINGS_ENTRY)
		return 0;
	d->hdr_have = 0;
	if (!d->frame_left)
		d->step = HS_H2_FRAME;
	if (((d->hdr[0] << 8) | d->hdr[1]) != HS_H2_SETTINGS_MAX_FRAME_SIZE)
		return 0;
	value = ((__u32)d->hdr[2] << 24) | (d->hdr[3] << 16) | (d->hdr[4] << 8) | d->hdr[5];
	if (value < HS_H2_DEFAULT_MAX_FRAME || value > HS_H2_MAX_FRAME_LIMIT)
		return hs_h2_lose(c, d);
	/* The largest ever announced: frames sent before it arrived were smaller anyway. */
	if (value > other->max_frame)
		other->max_frame = value;
	return 0;
}

/* The client preface, checked byte by byte. A mismatch before "PRI " is
 * whole means the connection is no HTTP/2 at all (a server's SETTINGS
 * came first from something else); after it, the connection lost its place. */
static __always_inline int hs_h2_preface(struct hs_conn *c, struct hs_h2_dir *d, struct hs_scratch *sc,
					 struct hs_h2_cursor *cur)
{
	static const char preface[HS_H2_PREFACE_LEN] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	__u32 avail = hs_h2_window(sc, cur), k, at;

	if (!avail)
		return hs_h2_lose(c, d);
	for (k = 0; k < HS_H2_PREFACE_LEN; k++) {
		if (k >= avail || !d->fixed_left)
			break;
		at = HS_H2_PREFACE_LEN - d->fixed_left;
		if (at >= HS_H2_PREFACE_LEN)
			break;
		if (hs_h2_byte(sc, cur, k) != (__u8)preface[at]) {
			if (at >= 4)
				return hs_h2_lose(c, d);
			c->role = HS_ROLE_NOT_HTTP;
			return 1;
		}
		d->fixed_left--;
	}
	cur->pos += k;
	if (!d->fixed_left)
		d->step = HS_H2_FRAME;
	return 0;
}

/* One step of the walk. Returns 1 when the call is over. Global: verified once. */
__noinline int hs_h2_step(struct hs_conn *conn, struct hs_scratch *sc, struct hs_h2_cursor *cur)
{
	struct hs_h2_dir *d, *other;
	__u64 n;
	__u8 b;

	if (!conn || !sc || !cur || cur->pos >= cur->len)
		return 1;
	d = cur->inbound ? &conn->h2.in : &conn->h2.out;
	other = cur->inbound ? &conn->h2.out : &conn->h2.in;
	switch (d->step) {
	case HS_H2_SKIP:
		n = hs_min(d->frame_left, cur->len - cur->pos);
		cur->pos += n;
		d->frame_left -= n;
		if (!d->frame_left) {
			d->step = HS_H2_FRAME;
			hs_h2_frame_done(conn, d);
		}
		return 0;
	case HS_H2_FRAME:
		return hs_h2_frame_header(conn, d, sc, cur);
	case HS_H2_BLOCK:
		return hs_h2_block(conn, d, sc, cur);
	case HS_H2_PAD_LENGTH:
		if (!hs_h2_window(sc, cur))
			return hs_h2_lose(conn, d);
		b = hs_h2_byte(sc, cur, 0);
		cur->pos++;
		d->frame_left--;
		if (b > d->frame_left - d->fixed_left)
			return hs_h2_lose(conn, d);
		d->pad_len = b;
		d->step = d->fixed_left ? HS_H2_FIXED : HS_H2_BLOCK;
		return d->step == HS_H2_BLOCK ? hs_h2_fragment_walked(conn, d) : 0;
	case HS_H2_FIXED:
		n = hs_min(d->fixed_left, cur->len - cur->pos);
		cur->pos += n;
		d->frame_left -= n;
		d->fixed_left -= n;
		if (d->fixed_left)
			return 0;
		d->step = HS_H2_BLOCK;
		return hs_h2_fragment_walked(conn, d);
	case HS_H2_SETTINGS:
		return hs_h2_settings(conn, d, other, sc, cur);
	case HS_H2_PREFACE:
		return hs_h2_preface(conn, d, sc, cur);
	}
	return 1;
}

/*
 * Joining a connection older than the plugin (docs/http2.md). Nothing on
 * it is known: not where its frames start, not its dynamic tables, not its
 * streams. A call is taken for HTTP/2 only when every frame it holds can be
 * one, as far as the frame headers tell, and the last ends with the call
 * (when the chain is longer than we follow, what was followed must hold):
 * text (HTTP/1.x), TLS records and other binary protocols fail that at their
 * first bytes (a frame's length starts with a zero byte and stays within
 * 16,384; each type has its flags, stream and length).
 */

/* Frames one call may hold for its chain to be checked. */
#define HS_H2_JOIN_FRAMES 32
/* Bytes read per frame: its header, the padding and priority fields a HEADERS may have, and 8 of its block. */
#define HS_H2_JOIN_PEEK 24
#define HS_H2_FRAME_HEADER 9

/* What the first field of a header block says about it. */
enum hs_h2_first {
	HS_H2_FIRST_UNKNOWN = 0,	/* a dynamic-table entry, or bytes the call does not hold */
	HS_H2_FIRST_OTHER,		/* a regular field: trailers */
	HS_H2_FIRST_REQUEST,		/* a request pseudo-header */
	HS_H2_FIRST_STATUS,		/* :status */
	HS_H2_FIRST_INVALID,		/* no HPACK block can begin so */
};

/* Which side a call's blocks show its sender to be. */
#define HS_H2_SENDS_REQUESTS 0x01
#define HS_H2_SENDS_ANSWERS 0x02

struct hs_h2_chain {
	__u64 buf;		/* the call's bytes, or its iovec array */
	__u64 len;
	__u64 at;		/* where the next frame header is */
	__u32 vlen;		/* segments in that array (0: buf holds the bytes); the first HS_MAX_IOV are in scratch */
	__u32 frames;		/* frames checked */
	__u32 block_stream;	/* the stream of a header block still open */
	__u32 pending;		/* blocks without END_STREAM whose first field is unknown: requests or answers, by the side */
	__u32 unknown_ends;	/* blocks with END_STREAM whose first field is unknown: requests, answers or trailers */
	__u8 open;		/* a header block awaits its CONTINUATION */
	__u8 sends;		/* HS_H2_SENDS_* */
	__u8 broken;		/* a frame that cannot be HTTP/2's */
	__u8 unseen;		/* the chain runs past the segments in scratch */
};

static __always_inline __u8 hs_h2_first_index(__u32 i)
{
	if (!i)
		return HS_H2_FIRST_INVALID;
	if (i <= HS_HPACK_LAST_PSEUDO)
		return HS_H2_FIRST_REQUEST;
	if (i <= HS_HPACK_LAST_STATUS)
		return HS_H2_FIRST_STATUS;
	return i <= HS_HPACK_STATIC ? HS_H2_FIRST_OTHER : HS_H2_FIRST_UNKNOWN;
}

/* Byte i of a block's first n bytes, held little-endian in w. */
#define HS_H2_AT(w, i) ((__u8)((w) >> (8 * ((i) & 7))))

/* The first field of a header block from its first n bytes (at most 8, in w). */
static __always_inline __u8 hs_h2_first_field(__u64 w, __u32 n)
{
	__u32 i = 0, k, index, name_len;
	bool in_size = false;
	__u8 f;

	/* Table size updates may come first, each an integer of one byte or more (RFC 7541, 6.3). */
	for (k = 0; k < 8 && i < n; k++) {
		f = HS_H2_AT(w, i);
		if (in_size) {
			in_size = f & 0x80;
		} else {
			if ((f & 0xe0) != 0x20)
				break;
			in_size = (f & 0x1f) == 0x1f;
		}
		i++;
	}
	if (in_size)
		return HS_H2_FIRST_UNKNOWN;
	if (i >= n)
		return HS_H2_FIRST_UNKNOWN;
	f = HS_H2_AT(w, i);
	if (f & 0x80)
		return (f & 0x7f) == 0x7f ? HS_H2_FIRST_UNKNOWN : hs_h2_first_index(f & 0x7f);
	if (f & 0x40) {
		index = f & 0x3f;
		if (index == 0x3f)
			return HS_H2_FIRST_UNKNOWN;
	} else {
		index = f & 0x0f;
		if (index == 0x0f) {
			if (i + 1 >= n || (HS_H2_AT(w, i + 1) & 0x80))
				return HS_H2_FIRST_UNKNOWN;
			index += HS_H2_AT(w, i + 1);
		}
	}
	if (index)
		return hs_h2_first_index(index);
	/* A literal name: a pseudo-header's starts with ':', and :status is told by its whole name. */
	if (i + 2 >= n)
		return HS_H2_FIRST_UNKNOWN;
	name_len = HS_H2_AT(w, i + 1);
	if (name_len & 0x80) {
		if ((HS_H2_AT(w, i + 2) & 0xfe) != HS_H2_COLON_HUFFMAN)
			return HS_H2_FIRST_OTHER;
		if ((name_len & 0x7f) != HS_H2_STATUS_HUFFMAN_LEN)
			return HS_H2_FIRST_REQUEST;
		if (i + 2 + HS_H2_STATUS_HUFFMAN_LEN > n)
			return HS_H2_FIRST_UNKNOWN;
		return ((w >> (8 * ((i + 2) & 7))) & 0xffffffffffULL) == HS_H2_STATUS_HUFFMAN ? HS_H2_FIRST_STATUS : HS_H2_FIRST_REQUEST;
	}
	if (HS_H2_AT(w, i + 2) != ':')
		return HS_H2_FIRST_OTHER;
	if (name_len != HS_H2_STATUS_NAME_LEN)
		return HS_H2_FIRST_REQUEST;
	/* ":status", ":method" and ":scheme" are all 7 long: 6 of them tell. */
	if (i + 8 > n)
		return HS_H2_FIRST_UNKNOWN;
	return (w >> 16) == (HS_H2_STATUS_NAME & 0xffffffffffffULL) ? HS_H2_FIRST_STATUS : HS_H2_FIRST_REQUEST;
}

/* Whether a frame header can be HTTP/2's, by its type's flags, stream and length (RFC 9113, section 6). */
static __always_inline bool hs_h2_plausible(__u8 type, __u8 flags, __u32 len, __u32 stream)
{
	__u32 padded = !!(flags & HS_H2_F_PADDED);

	switch (type) {
	case HS_H2_T_DATA:
		return stream && !(flags & ~(HS_H2_F_END_STREAM | HS_H2_F_PADDED)) && len >= padded;
	case HS_H2_T_HEADERS:
		return stream && !(flags & ~(HS_H2_F_END_STREAM | HS_H2_F_END_HEADERS | HS_H2_F_PADDED | HS_H2_F_PRIORITY)) &&
		       len >= padded + (flags & HS_H2_F_PRIORITY ? 5 : 0);
	case HS_H2_T_PRIORITY:
		return stream && !flags && len == 5;
	case HS_H2_T_RST_STREAM:
		return stream && !flags && len == 4;
	case HS_H2_T_SETTINGS:
		return !stream && !(flags & ~HS_H2_F_ACK) && (flags & HS_H2_F_ACK ? !len : !(len % HS_H2_SETTINGS_ENTRY));
	case HS_H2_T_PUSH_PROMISE:
		return stream && !(flags & ~(HS_H2_F_END_HEADERS | HS_H2_F_PADDED)) && len >= 4 + padded;
	case HS_H2_T_PING:
		return !stream && !(flags & ~HS_H2_F_ACK) && len == 8;
	case HS_H2_T_GOAWAY:
		return !stream && !flags && len >= 8;
	case HS_H2_T_WINDOW_UPDATE:
		return !flags && len == 4;
	case HS_H2_T_CONTINUATION:
		return stream && !(flags & ~HS_H2_F_END_HEADERS);
	}
	return false;
}

/* A HEADERS frame (its first n peeked bytes in p): what its block's first field says of its sender. 0: it cannot be HTTP/2. */
static __always_inline int hs_h2_chain_headers(struct hs_h2_chain *chain, __u8 *p, __u32 n, __u8 flags, __u32 len, __u32 stream)
{
	__u32 start = HS_H2_FRAME_HEADER, end = HS_H2_FRAME_HEADER + len, k;
	__u64 w = 0;
	__u8 first;

	if (flags & HS_H2_F_PADDED) {
		if (n <= HS_H2_FRAME_HEADER || p[HS_H2_FRAME_HEADER] > len - 1 - (flags & HS_H2_F_PRIORITY ? 5 : 0))
			return 0;
		end -= p[HS_H2_FRAME_HEADER];
		start++;
	}
	if (flags & HS_H2_F_PRIORITY)
		start += 5;
	if (end > n)
		end = n;
#pragma unroll
	for (k = 0; k < 8; k++)
		if (start + k < end)
			w |= (__u64)p[(start + k) & (HS_H2_JOIN_PEEK - 1 + 8)] << (8 * k);
	first = hs_h2_first_field(w, end > start ? (end - start > 8 ? 8 : end - start) : 0);
	switch (first) {
	case HS_H2_FIRST_INVALID:
		return 0;
	case HS_H2_FIRST_REQUEST:
		/* Only a client sends one, on a stream it opens: odd. */
		if (!(stream & 1))
			return 0;
		chain->sends |= HS_H2_SENDS_REQUESTS;
		return 1;
	case HS_H2_FIRST_STATUS:
		chain->sends |= HS_H2_SENDS_ANSWERS;
		return 1;
	case HS_H2_FIRST_OTHER:
		/* Only trailers begin so, and they end their stream. */
		return !!(flags & HS_H2_F_END_STREAM);
	}
	/* Pushed answers (even streams) are walked, never counted. */
	if (stream & 1) {
		if (flags & HS_H2_F_END_STREAM)
			chain->unknown_ends++;
		else
			chain->pending++;
	}
	return 1;
}

/* n bytes of a vectored call from the chain's place into scratch, across
 * segments; non-zero when they cannot be read or lie past the segments in scratch. */
static __always_inline int hs_h2_chain_gather(struct hs_scratch *sc, struct hs_h2_chain *chain, __u32 n)
{
	__u64 seg_start = 0, seg_len, off, take;
	__u32 i, got = 0;

	for (i = 0; i < HS_MAX_IOV; i++) {
		if (i >= chain->vlen || got >= n)
			break;
		seg_len = sc->iov[i].len;
		if (chain->at + got < seg_start + seg_len) {
			off = chain->at + got - seg_start;
			take = seg_len - off < n - got ? seg_len - off : n - got;
			if (take > HS_H2_JOIN_PEEK)
				return 1;
			if (bpf_probe_read_user(&sc->data[HS_SCRATCH_FRONT + (got & (HS_H2_JOIN_PEEK + 7))], take,
						(void *)(sc->iov[i].base + off)))
				return 1;
			got += take;
		}
		seg_start += seg_len;
	}
	if (got < n)
		chain->unseen = 1;
	return got < n;
}

/* The next frame of a chain; 1 when the chain is over (or broken). Global:
 * verified once, not once per frame of the chain. */
__noinline int hs_h2_chain_frame(struct hs_scratch *sc, struct hs_h2_chain *chain)
{
	__u32 n, flen, stream;
	__u8 *p, type, flags;

	if (!sc || !chain || chain->at >= chain->len)
		return 1;
	p = &sc->data[HS_SCRATCH_FRONT];
	n = chain->len - chain->at < HS_H2_JOIN_PEEK ? chain->len - chain->at : HS_H2_JOIN_PEEK;
	if (n < HS_H2_FRAME_HEADER) {
		/* The call ends inside a frame header: the chain runs past it. */
		chain->at = chain->len + 1;
		return 1;
	}
	if (!chain->vlen ? bpf_probe_read_user(p, n, (void *)(chain->buf + chain->at)) : hs_h2_chain_gather(sc, chain, n)) {
		if (chain->unseen)
			return 1;
		goto broken;
	}
	flen = (p[0] << 16) | (p[1] << 8) | p[2];
	type = p[3];
	flags = p[4];
	stream = ((__u32)p[5] << 24) | (p[6] << 16) | (p[7] << 8) | p[8];
	/* The reserved bit is clear; a header block's fragments follow each other on its stream. */
	if ((p[5] & 0x80) || flen > HS_H2_DEFAULT_MAX_FRAME || !hs_h2_plausible(type, flags, flen, stream))
		goto broken;
	if (chain->open ? type != HS_H2_T_CONTINUATION || stream != chain->block_stream : type == HS_H2_T_CONTINUATION)
		goto broken;
	if (type == HS_H2_T_HEADERS || type == HS_H2_T_PUSH_PROMISE)
		chain->block_stream = stream;
	if (type == HS_H2_T_HEADERS || type == HS_H2_T_PUSH_PROMISE || type == HS_H2_T_CONTINUATION)
		chain->open = !(flags & HS_H2_F_END_HEADERS);
	/* Only a server promises. */
	if (type == HS_H2_T_PUSH_PROMISE)
		chain->sends |= HS_H2_SENDS_ANSWERS;
	if (type == HS_H2_T_HEADERS && !hs_h2_chain_headers(chain, p, n, flags, flen, stream))
		goto broken;
	chain->at += HS_H2_FRAME_HEADER + flen;
	chain->frames++;
	return 0;
broken:
	chain->broken = 1;
	return 1;
}

/*
 * Whether a call's bytes are a chain of frames that can be HTTP/2, as far as
 * it can be followed (HS_H2_JOIN_FRAMES frames, the first HS_MAX_IOV segments
 * of a vectored call), ending with the call if it ends there; `open_end`: or
 * running past it (the call ends inside a frame). Fills in what its header
 * blocks say. vlen: buf is an iovec array of vlen segments.
 */
static __always_inline bool hs_h2_chain(struct hs_scratch *sc, __u64 buf, __u64 len, __u32 vlen, bool open_end,
					struct hs_h2_chain *chain)
{
	__u32 i;

	chain->buf = buf;
	chain->len = len;
	chain->vlen = vlen;
	if (vlen && bpf_probe_read_user(sc->iov, (vlen < HS_MAX_IOV ? vlen : HS_MAX_IOV) * sizeof(sc->iov[0]), (void *)buf))
		return false;
	for (i = 0; i < HS_H2_JOIN_FRAMES; i++)
		if (hs_h2_chain_frame(sc, chain))
			break;
	if (chain->broken || !chain->frames || chain->sends == (HS_H2_SENDS_REQUESTS | HS_H2_SENDS_ANSWERS))
		return false;
	/* Followed to its last frame: it ends with the call (or, open_end, past it). Not followed so far: what was followed holds. */
	return chain->at <= len || open_end;
}

/* The connection is HTTP/2 from this call on, `inbound` its first direction walked; the other's next call must start at a frame. */
static __always_inline void hs_h2_adopt(struct hs_conn *conn, __u8 role, __u32 inbound, __u32 tgid)
{
	__u32 requests_in = role == HS_ROLE_H2_SERVER, pending_requests, pending_answers;

	pending_requests = conn->h2_pending[requests_in ? 0 : 1];
	pending_answers = conn->h2_pending[requests_in ? 1 : 0];
	hs_h2_begin(conn, role, HS_H2_PREFACE_LEN);
	conn->h2.in.step = inbound ? HS_H2_FRAME : HS_H2_JOIN;
	conn->h2.out.step = inbound ? HS_H2_JOIN : HS_H2_FRAME;
	/* Frames were sized by SETTINGS we never saw. */
	conn->h2.in.max_frame = HS_H2_MAX_FRAME_LIMIT;
	conn->h2.out.max_frame = HS_H2_MAX_FRAME_LIMIT;
	conn->h2_join = HS_H2_JOINED;
	conn->in.resync = 0;
	conn->out.resync = 0;
	conn->in.state = HS_ST_START;
	conn->out.state = HS_ST_START;
	conn->in.line_len = 0;
	conn->out.line_len = 0;
	/* Blocks seen before the side was known: a client's opened streams, a server's were answers whose status we could not read. */
	if (pending_requests)
		hs_add_events(tgid, hs_side(conn) + HS_REQUEST_SLOT, pending_requests, 0);
	if (pending_answers)
		hs_count_losses(HS_LOSS_H2_DYNAMIC_TABLE, pending_answers);
}

__noinline int hs_h2_join(struct hs_conn *conn, __u32 tgid, __u64 buf, __u64 len, __u32 call)
{
	__u32 inbound = call & 1, vlen = call >> 1;
	struct hs_h2_chain chain = {};
	struct hs_scratch *sc;
	struct hs_h2_dir *d;
	__u32 zero = 0, pending;
	__u8 *kept;

	if (!conn)
		return HS_H2_JOIN_NOT;
	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!sc)
		return HS_H2_JOIN_NOT;
	if (conn->role == HS_ROLE_H2_SERVER || conn->role == HS_ROLE_H2_CLIENT) {
		/* The other direction's first call since the connection was adopted: it must start at a frame, and its blocks be its side's. */
		d = inbound ? &conn->h2.in : &conn->h2.out;
		if (!hs_h2_chain(sc, buf, len, vlen, true, &chain) ||
		    (chain.sends & (inbound == (conn->role == HS_ROLE_H2_SERVER) ? HS_H2_SENDS_ANSWERS : HS_H2_SENDS_REQUESTS))) {
			hs_h2_lose(conn, d);
			return HS_H2_JOIN_HELD;
		}
		d->step = HS_H2_FRAME;
		return HS_H2_JOIN_WALK;
	}
	if (!hs_h2_chain(sc, buf, len, vlen, false, &chain))
		return HS_H2_JOIN_NOT;
	if (!chain.sends) {
		/* HTTP/2, it seems, but whose side is not told yet: what a block may have been waits for it. */
		kept = &conn->h2_pending[inbound ? 0 : 1];
		pending = *kept + chain.pending;
		if (pending > 0xff) {
			hs_count_losses(HS_LOSS_H2_DYNAMIC_TABLE, pending - 0xff);
			pending = 0xff;
		}
		*kept = pending;
		if (chain.unknown_ends)
			hs_count_losses(HS_LOSS_H2_DYNAMIC_TABLE, chain.unknown_ends);
		return HS_H2_JOIN_HELD;
	}
	/* The side that sends requests is the client. */
	hs_h2_adopt(conn, (chain.sends == HS_H2_SENDS_REQUESTS) == !inbound ? HS_ROLE_H2_CLIENT : HS_ROLE_H2_SERVER, inbound, tgid);
	return HS_H2_JOIN_WALK;
}

__noinline int hs_h2_parse(struct hs_conn *conn, __u32 inbound, __u32 tgid, __u64 buf, __u64 len)
{
	struct hs_h2_cursor cur = { .buf = buf, .len = len, .tgid = tgid, .inbound = inbound };
	struct hs_scratch *sc;
	struct hs_h2_dir *d;
	struct hs_stream *s;
	__u32 zero = 0, i;

	if (!conn || (conn->role != HS_ROLE_H2_SERVER && conn->role != HS_ROLE_H2_CLIENT))
		return 0;
	d = inbound ? &conn->h2.in : &conn->h2.out;
	s = inbound ? &conn->in : &conn->out;
	if (d->step == HS_H2_LOST)
		return 0;
	/* Bytes went by that we did not see (capture.h counted why): frames can no longer be found. */
	if (s->resync) {
		hs_h2_lose(conn, d);
		return 0;
	}
	sc = bpf_map_lookup_elem(&scratch, &zero);
	if (!sc)
		return 0;
	for (i = 0; i < HS_H2_STEPS; i++)
		if (hs_h2_step(conn, sc, &cur))
			break;
	if (cur.pos < len && d->step != HS_H2_LOST && conn->role != HS_ROLE_NOT_HTTP) {
		hs_count_loss(HS_LOSS_PARSE_BUDGET);
		hs_h2_lose(conn, d);
	}
	return 0;
}
