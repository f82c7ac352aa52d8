// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unix stream sockets carry no byte counters like TCP's, so the first call
 * the plugin sees on one cannot tell whether its streams start there. What
 * can be known is whether the socket existed when the plugin started: user
 * space runs this walk once, right after the capture is attached, and a
 * socket met later that the walk did not list was made after the capture
 * was watching, so every byte it moved was seen. Sockets met before the
 * walk ends are taken as joined mid-stream, like those it lists. The walk
 * sees the plugin's network namespace only: sockets of other namespaces are
 * always taken as joined (counted, not timed). The walk also finds the
 * plugin's own report socket, whose traffic is not counted (capture.h).
 */
#include "maps.bpf.h"

SEC("iter/unix")
int hs_walk_unix(struct bpf_iter__unix *ctx)
{
	struct unix_sock *u = ctx->unix_sk;
	struct hs_unix_walk *walk;
	struct socket *sock;
	__u64 key, ino = 0;
	__u32 zero = 0;

	walk = bpf_map_lookup_elem(&unix_walk, &zero);
	if (!walk)
		return 0;
	if (!u) {
		walk->done = 1;
		return 0;
	}
	if (u->sk.sk_type != HS_SOCK_STREAM)
		return 0;
	walk->net = (__u64)u->sk.__sk_common.skc_net.net;
	/* A connection not yet accepted has no file: nothing was read or written on it yet. */
	sock = u->sk.sk_socket;
	if (sock && sock->file)
		ino = sock->file->f_inode->i_ino;
	if (ino && ino == walk->own_ino)
		walk->own_addr = (__u64)u->addr;
	key = (__u64)u;
	if (bpf_map_update_elem(&unix_before, &key, &ino, BPF_ANY))
		walk->incomplete = 1;
	return 0;
}
