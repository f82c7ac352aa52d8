/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * How long requests take, on both sides of a connection. A request's start
 * is the time of the call that moved its first byte (a server's read, a
 * client's send); it waits in its connection's queue of unanswered
 * requests, and the answer that takes it off the queue records the time
 * from that start to the call that moved the answer's last byte. Pairing
 * the n-th answer with the n-th request is only sound on a connection seen
 * from its first byte that never lost its place: every other final answer
 * is counted as untimed, never given a guessed duration.
 */
#ifndef HS_LATENCY_H
#define HS_LATENCY_H

#include "maps.bpf.h"

/* Counter slots of this connection's process side. */
static __always_inline __u32 hs_side(struct hs_conn *c)
{
	return c->role == HS_ROLE_CLIENT || c->role == HS_ROLE_H2_CLIENT ? HS_CLIENT_SIDE : 0;
}

/* A request's start time joins the queue, if the connection is timed and has room. Before queue_len grows. */
static __always_inline void hs_timing_push(struct hs_conn *c, __u64 started)
{
	__u32 at = c->queue_len;

	if (!c->timing || at >= HS_TIMED_REQUESTS)
		return;
	c->request_ns[(c->timed_head + at) & (HS_TIMED_REQUESTS - 1)] = started;
	c->timed |= 1 << at;
}

/* A final answer takes the first request off the queue (the caller
 * shortens queue_len): its start time is what the answer will be timed
 * from. Without one, the answer is untimed. */
static __always_inline void hs_timing_pop(struct hs_conn *c, struct hs_stream *answer)
{
	__u64 started = 0;

	if (c->queue_len) {
		if (c->timed & 1)
			started = c->request_ns[c->timed_head & (HS_TIMED_REQUESTS - 1)];
		c->timed >>= 1;
		c->timed_head++;
	}
	if (!c->timing || !started) {
		hs_count_loss(HS_LOSS_UNTIMED);
		started = 0;
	}
	answer->answers_ns = started;
}

/* Global (latency.bpf.c): verified once, not at each of the places an answer can end.
 * tgid: the process the duration counts for, 0 for the current one. */
int hs_record_answer(struct hs_conn *c, __u32 answer_inbound, __u32 tgid);
/* The same for an answer whose request started at `started` (HTTP/2 keeps its start times per stream). */
int hs_record_duration(__u32 side, __u64 started);

/* The answer's last byte moved in this call: if it was timed, its request took until now. */
static __always_inline void hs_answer_done(struct hs_conn *c, struct hs_stream *answer)
{
	if (answer->answers_ns)
		hs_record_answer(c, answer == &c->in, 0);
}

/* The answer's end will never be seen (its body runs to the close, or the stream lost its place). */
static __always_inline void hs_answer_untimed(struct hs_stream *answer)
{
	if (!answer->answers_ns)
		return;
	answer->answers_ns = 0;
	hs_count_loss(HS_LOSS_UNTIMED);
}

#endif /* HS_LATENCY_H */
