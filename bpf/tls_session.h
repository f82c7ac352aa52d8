/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every TLS library's return probe does once it knows how many
 * plaintext bytes a call moved, and where: parse them on the session's
 * stream (tls.h). OpenSSL's and Go's probes differ only in how they get here.
 */
#ifndef HS_TLS_SESSION_H
#define HS_TLS_SESSION_H

#include "capture.h"
#include "tls.h"

/* A session that starts now, at the first byte of its stream (a new
 * connection's, or an object reused for another connection). */
static __always_inline int hs_tls_session_start(__u32 tgid, __u64 session)
{
	struct hs_tls_key key = { .tgid = tgid, .ssl = session };
	struct hs_conn *conn;

	if (bpf_map_update_elem(&tls_sessions, &key, &hs_zero_conn, BPF_ANY) ||
	    !(conn = bpf_map_lookup_elem(&tls_sessions, &key))) {
		hs_count_loss(HS_LOSS_CONN_TABLE_FULL);
		return 0;
	}
	hs_init_conn(conn, true);
	return 0;
}

/* The session's object is freed: its state goes with it. */
static __always_inline int hs_tls_session_end(__u32 tgid, __u64 session)
{
	struct hs_tls_key key = { .tgid = tgid, .ssl = session };

	bpf_map_delete_elem(&tls_sessions, &key);
	return 0;
}

/* A session's parser state; a session that predates the plugin is joined mid-stream. */
static __always_inline struct hs_conn *hs_tls_session(__u32 tgid, __u64 session)
{
	struct hs_tls_key key = { .tgid = tgid, .ssl = session };
	struct hs_conn *conn;

	conn = bpf_map_lookup_elem(&tls_sessions, &key);
	if (conn)
		return conn;
	if (bpf_map_update_elem(&tls_sessions, &key, &hs_zero_conn, BPF_NOEXIST) ||
	    !(conn = bpf_map_lookup_elem(&tls_sessions, &key))) {
		hs_count_loss(HS_LOSS_CONN_TABLE_FULL);
		return 0;
	}
	hs_init_conn(conn, false);
	return conn;
}

/* `moved` plaintext bytes at `buf` went in or out of a session. */
static __always_inline int hs_tls_parse(struct hs_conn *conn, __u32 tgid, __u64 buf, __u64 moved, bool inbound)
{
	struct hs_stream *s = inbound ? &conn->in : &conn->out;

	if (conn->role == HS_ROLE_NOT_HTTP || hs_skip_body(conn, s, moved))
		return 0;
	hs_parse(conn, inbound, tgid, buf, moved);
	return 0;
}

/* hs_tls_parse on a session found by its key. */
static __always_inline int hs_tls_session_moved(__u32 tgid, __u64 session, __u64 buf, __u64 moved, bool inbound)
{
	struct hs_conn *conn = hs_tls_session(tgid, session);

	return conn ? hs_tls_parse(conn, tgid, buf, moved, inbound) : 0;
}

#endif /* HS_TLS_SESSION_H */
