/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What an HTTP/2 connection remembers between two calls (the walker is
 * bpf/http2_parser.bpf.c). It shares its room in struct hs_conn with the
 * HTTP/1.x request queue, which an HTTP/2 connection never uses: HTTP/2
 * adds no byte to any connection.
 */
#ifndef HS_HTTP2_STATE_H
#define HS_HTTP2_STATE_H

/* Insertions into HPACK's dynamic table remembered per direction, newest
 * first (a reference to an older one is a named loss); a power of two. */
#define HS_H2_TABLE 8

/* Where one direction's frame walk stands. */
enum hs_h2_step {
	HS_H2_FRAME = 0,	/* at a frame header (hdr_have of its 9 bytes kept) */
	HS_H2_PREFACE,		/* checking the client preface (fixed_left bytes of it to come) */
	HS_H2_SKIP,		/* passing frame_left payload bytes without reading them */
	HS_H2_PAD_LENGTH,	/* the Pad Length byte of a padded HEADERS or PUSH_PROMISE */
	HS_H2_FIXED,		/* passing fixed_left bytes before a header block (priority, promised stream) */
	HS_H2_BLOCK,		/* walking a header block fragment (frame_left - pad_len bytes of it) */
	HS_H2_SETTINGS,		/* reading SETTINGS entries (hdr_have bytes of the next kept) */
	HS_H2_LOST,		/* lost its place: nothing more is counted on this connection */
	HS_H2_JOIN,		/* joined mid-stream: the next call must be seen to start at a frame */
};

/* HPACK: what the next byte of a header block is. */
enum hs_hpack_step {
	HS_HP_FIELD = 0,	/* a field representation's first byte */
	HS_HP_INT,		/* an integer's continuation bytes */
	HS_HP_STRLEN,		/* a string's first byte: Huffman flag and length */
	HS_HP_STR,		/* inside a string: int_value bytes of it to come */
};

/* HPACK: what the integer or string being read is. */
enum hs_hpack_what {
	HS_HW_INDEX = 0,	/* an indexed field's index */
	HS_HW_NAME_INDEX,	/* a literal's name index (0: a new name follows) */
	HS_HW_SIZE,		/* a dynamic table size update */
	HS_HW_NAME_LEN,
	HS_HW_VALUE_LEN,
	HS_HW_NAME,
	HS_HW_VALUE,
};

/* Streams timed per connection: HS_H2_TIMED in each direction's struct hs_stream (see conn_state.h). */
#define HS_H2_TIMED 4
/* stream[i]'s high bit: its final status was counted, its end will be timed. */
#define HS_H2_ANSWERED 0x80000000u

/* Start times of client streams awaiting the end of their answer, in room
 * an HTTP/1.x stream uses to carry a line and HTTP/2 never does. */
struct hs_h2_timed {
	__u32 stream[HS_H2_TIMED];	/* 0: free */
	__u64 started_ns[HS_H2_TIMED];	/* when the call carrying the stream's first HEADERS returned */
};

/* A dynamic table entry's tag, or a field's: what it says about a response. */
#define HS_H2_TAG_UNKNOWN 0		/* its name is unknown (it came from an entry we never saw) */
#define HS_H2_TAG_OTHER 1		/* any field but :status, grpc-status and the request pseudo-headers */
#define HS_H2_TAG_PSEUDO 2		/* a pseudo-header other than :status (:method, :path...): only a request begins with one */
#define HS_H2_TAG_STATUS 0x8000		/* :status, with its value in the low bits (0: not three digits) */
#define HS_H2_TAG_GRPC 0x4000		/* grpc-status, with its code in the low bits (HS_GRPC_OTHER: not a canonical code) */
#define HS_H2_TAG_VALUE 0x03ff

/* name_kind: the tag of the literal's name, plus whether the literal inserts into the table. */
#define HS_H2_INSERT 0x80

/* block: the header block being walked, and whether its first field is still to come. */
#define HS_H2_BLOCK_OPEN 0x01		/* a HEADERS/PUSH_PROMISE without END_HEADERS: CONTINUATION must follow */
#define HS_H2_BLOCK_ANSWER 0x02		/* a block on a client-opened stream whose first field decides whether it is a response */
#define HS_H2_BLOCK_ENDS_CALL 0x04	/* a HEADERS ending a client stream's answer (trailers, or a trailers-only answer): its grpc-status is still to count */
#define HS_H2_BLOCK_UNRESOLVED 0x08	/* a field after the first referred to a dynamic-table entry we do not remember */
#define HS_H2_BLOCK_WALKED 0x10		/* requests, joined mid-stream: this block is walked, to tell a request from trailers and keep the table's order */
#define HS_H2_BLOCK_REQUEST 0x20	/* such a block ends its stream: its first field says whether it opens it */

/* h2_join: a connection joined mid-stream (older than the plugin). */
#define HS_H2_JOINED 0x01		/* the highest stream its client opened is unknown: a HEADERS opens one only when it can be told from trailers */

/* One direction of an HTTP/2 connection: 64 bytes. */
struct hs_h2_dir {
	__u64 collected;	/* HPACK: the first 8 bytes of a string that may be :status, grpc-status or their value */
	__u32 frame_left;	/* payload bytes of the current frame still to come, padding included */
	__u32 int_value;	/* HPACK: the integer being read, then the bytes left of its string */
	__u32 stream;		/* requests: the highest stream a HEADERS opened; answers: the block's stream */
	__u32 max_frame;	/* largest frame this direction may carry: its receiver's SETTINGS_MAX_FRAME_SIZE */
	__u16 tags[HS_H2_TABLE];	/* the last insertions into the sender's dynamic table, ring by `newest` */
	__u8 hdr[9];		/* a frame header or SETTINGS entry split across calls */
	__u8 hdr_have;
	__u8 step;		/* enum hs_h2_step */
	__u8 flags;		/* the current frame's flags */
	__u8 pad_len;		/* trailing padding of the current frame */
	__u8 fixed_left;	/* HS_H2_FIXED / HS_H2_PREFACE: bytes still to pass */
	__u8 hp;		/* enum hs_hpack_step */
	__u8 what;		/* enum hs_hpack_what */
	__u8 int_shift;
	__u8 huff;		/* the string being read is Huffman-coded, is kept, its bytes past 8 match grpc-status's */
	__u8 collected_len;
	__u8 name_kind;		/* tag kind of the literal's name (its low byte), | HS_H2_INSERT */
	__u8 block;		/* HS_H2_BLOCK_* */
	__u8 newest;		/* tags index of the newest insertion, modulo HS_H2_TABLE */
	__u8 valid;		/* insertions remembered (at most HS_H2_TABLE) */
	__u8 ends;		/* answers: the current frame ends its stream (END_STREAM), once its last byte is in */
};

struct hs_h2_conn {
	struct hs_h2_dir in;	/* bytes the process received */
	struct hs_h2_dir out;	/* bytes it sent */
};

#endif /* HS_HTTP2_STATE_H */
