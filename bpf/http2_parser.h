/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Interface of the HTTP/2 frame walker in http2_parser.bpf.c.
 *
 * A connection is HTTP/2 when the first bytes of one direction are the
 * client preface (the sending side is the client), or when a server's first
 * bytes are a SETTINGS frame and its peer then sends the preface. The
 * HTTP/1.x parser looks for that at the first pass of a connection it does
 * not know yet, and hands the connection over: from then on, both
 * directions go to the walker, and HTTP/1.x pays nothing for HTTP/2.
 *
 * The walker reads each 9-byte frame header (keeping its bytes when a call
 * ends inside one), passes every payload it does not need by arithmetic,
 * and walks the header blocks of the answering direction with HPACK, field
 * by field, skipping string bytes unread, decoding only :status. A request
 * is a HEADERS frame opening a new client stream (its id above every
 * earlier one); a response is a header block on a client stream whose
 * first field is a final :status; a block whose first field is another
 * field is a trailer.
 */
#ifndef HS_HTTP2_PARSER_H
#define HS_HTTP2_PARSER_H

#include "latency.h"

/* Global, so the verifier checks it once per program rather than at every call site. */
int hs_h2_parse(struct hs_conn *conn, __u32 inbound, __u32 tgid, __u64 buf, __u64 len);

/*
 * A connection older than the plugin shows no preface. A call on it that
 * starts at a message boundary may be HTTP/2: when its bytes are a chain of
 * frames that can all be HTTP/2, from its first byte to its last, holding
 * a header block whose first field says which side sends it (a request
 * pseudo-header, or :status), the connection is HTTP/2 from that call on,
 * and the call is walked.
 */
int hs_h2_join(struct hs_conn *conn, __u32 tgid, __u64 buf, __u64 len, __u32 call);
/* hs_h2_join's call: its direction, and whether buf is an iovec array of vlen segments (vlen 0: the bytes themselves). */
#define HS_H2_CALL(inbound, vlen) (((vlen) << 1) | !!(inbound))
/* What hs_h2_join made of a call. It also checks the first call of an
 * adopted connection's other direction (step HS_H2_JOIN): that it starts at
 * a frame, or the direction is lost. */
enum hs_h2_join_result {
	HS_H2_JOIN_NOT = 0,	/* no HTTP/2: the HTTP/1.x parser goes on */
	HS_H2_JOIN_HELD,	/* taken, nothing to walk */
	HS_H2_JOIN_WALK,	/* HTTP/2: hs_h2_parse walks the call */
};

/* Whether a call must go through hs_h2_join first: a connection joined
 * mid-stream (or that lost its place) at a call that may start a message,
 * or an adopted one's direction that has not shown a frame's start yet. */
static __always_inline bool hs_h2_joining(struct hs_conn *conn, struct hs_stream *s, bool inbound)
{
	if (conn->role == HS_ROLE_H2_SERVER || conn->role == HS_ROLE_H2_CLIENT)
		return (inbound ? conn->h2.in.step : conn->h2.out.step) == HS_H2_JOIN;
	return conn->role == HS_ROLE_UNKNOWN && conn->tries && !conn->timing && s->resync && s->state == HS_ST_START &&
	       !s->line_len;
}

#define HS_H2_PREFACE_LEN 24
#define HS_H2_DEFAULT_MAX_FRAME 16384
/* "PRI * HT": the client preface's first word, little-endian. */
#define HS_H2_PREFACE_WORD0 0x5448202a20495250ULL

/*
 * The role the first bytes of a direction give a connection not known yet
 * (n of them in scratch), or HS_ROLE_UNKNOWN: the preface's start (the
 * walker checks all of it), or a first frame that can only be a server's
 * SETTINGS (servers send it at once; a client may read it before it
 * writes its preface).
 */
static __always_inline __u8 hs_h2_opening(struct hs_scratch *sc, __u32 n, bool inbound)
{
	__u64 w = *(__u64 *)&sc->data[HS_SCRATCH_FRONT];
	__u8 *b = &sc->data[HS_SCRATCH_FRONT];
	__u32 len;

	if (n >= 4 && !((w ^ HS_H2_PREFACE_WORD0) & (n >= 8 ? ~0ULL : (1ULL << (8 * n)) - 1)))
		return inbound ? HS_ROLE_H2_SERVER : HS_ROLE_H2_CLIENT;
	if (n < 9)
		return HS_ROLE_UNKNOWN;
	len = (b[0] << 16) | (b[1] << 8) | b[2];
	/* type SETTINGS, no flags, stream 0, whole entries */
	if (b[3] == 4 && !b[4] && !b[5] && !b[6] && !b[7] && !b[8] && len % 6 == 0 && len <= HS_H2_DEFAULT_MAX_FRAME)
		return inbound ? HS_ROLE_H2_CLIENT : HS_ROLE_H2_SERVER;
	return HS_ROLE_UNKNOWN;
}

/* "TP/2.0\r": the rest of the preface's first line (without its LF), little-endian. */
#define HS_H2_PREFACE_LINE_REST 0x0d302e322f5054ULL
#define HS_H2_PREFACE_LINE 15

/* The connection is HTTP/2 from here: its requests' direction must go on
 * with the preface, `seen` bytes of which went by already. */
static __always_inline void hs_h2_begin(struct hs_conn *conn, __u8 role, __u32 seen)
{
	struct hs_h2_dir *requests = role == HS_ROLE_H2_SERVER ? &conn->h2.in : &conn->h2.out;

	__builtin_memset(&conn->h2, 0, sizeof(conn->h2));
	__builtin_memset(&conn->in.h2_timed, 0, sizeof(conn->in.h2_timed));
	__builtin_memset(&conn->out.h2_timed, 0, sizeof(conn->out.h2_timed));
	conn->role = role;
	conn->h2_join = 0;
	conn->h2.in.max_frame = HS_H2_DEFAULT_MAX_FRAME;
	conn->h2.out.max_frame = HS_H2_DEFAULT_MAX_FRAME;
	requests->step = HS_H2_PREFACE;
	requests->fixed_left = HS_H2_PREFACE_LEN - seen;
}

/* After `Upgrade: h2c` and its 101: stream 1 is the request sent in HTTP/1.1
 * (counted then), and the client's preface comes next. Its answer is untimed:
 * its start time was HTTP/1.x's. */
static __always_inline void hs_h2_upgraded(struct hs_conn *conn)
{
	struct hs_h2_dir *requests = conn->role == HS_ROLE_H2_SERVER ? &conn->h2.in : &conn->h2.out;

	requests->stream = 1;
	conn->in.state = HS_ST_START;
	conn->out.state = HS_ST_START;
}

#endif /* HS_HTTP2_PARSER_H */
