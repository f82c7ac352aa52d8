// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Recording a request's duration (what is timed, and when, in latency.h). */
#include "latency.h"

/* The bucket of a duration (edges in http_statistics.h): two significant
 * digits of its microseconds, found with one comparison per decade. */
static __always_inline __u32 hs_latency_bucket(__u64 ns)
{
	__u64 us = ns / 1000, scale = 10;
	__u32 decade;

	if (us < 100)
		return us;
#pragma unroll
	for (decade = 1; decade <= HS_LATENCY_DECADES; decade++) {
		if (us < scale * 100)
			return 100 + 90 * (decade - 1) + us / scale - 10;
		scale *= 10;
	}
	return HS_LATENCY_BUCKETS - 1;
}

__noinline int hs_record_duration(__u32 side, __u64 started)
{
	__u64 ns = bpf_ktime_get_ns() - started;

	hs_add(bpf_get_current_pid_tgid() >> 32, side + HS_LATENCY_SLOT + hs_latency_bucket(ns), ns);
	return 0;
}

__noinline int hs_record_answer(struct hs_conn *c, __u32 answer_inbound, __u32 tgid)
{
	struct hs_stream *answer;
	__u32 side;
	__u64 ns;

	if (!c)
		return 0;
	/* hs_answer_done only calls with a timed answer. */
	answer = answer_inbound ? &c->in : &c->out;
	ns = bpf_ktime_get_ns() - answer->answers_ns;
	answer->answers_ns = 0;
	if (!tgid)
		tgid = bpf_get_current_pid_tgid() >> 32;
	side = hs_side(c);
	hs_add(tgid, side + HS_LATENCY_SLOT + hs_latency_bucket(ns), ns);
	return 0;
}
