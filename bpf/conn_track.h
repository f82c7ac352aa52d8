/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Deciding that a descriptor is a served TCP connection and starting to
 * track it: shared by accept (connections.bpf.c) and by descriptors
 * received from another process (fd_passing.h).
 */
#ifndef HS_CONN_TRACK_H
#define HS_CONN_TRACK_H

#include "maps.bpf.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

/* The socket behind fd in the current task if it is a connection (not a listener) of TCP over IPv4 or IPv6. */
static __always_inline bool hs_fd_is_tcp(__u32 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *file;
	struct socket *sock;
	struct sock *sk;
	unsigned short mode, family;

	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return false;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return false;
	mode = BPF_CORE_READ(file, f_inode, i_mode);
	if ((mode & HS_S_IFMT) != HS_S_IFSOCK)
		return false;
	sock = BPF_CORE_READ(file, private_data);
	if (!sock || BPF_CORE_READ(sock, type) != HS_SOCK_STREAM)
		return false;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return false;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != HS_AF_INET && family != HS_AF_INET6)
		return false;
	/* A passed listening socket is accepted from later, and tracked then. */
	if (BPF_CORE_READ(sk, __sk_common.skc_state) == HS_TCP_LISTEN)
		return false;
	return BPF_CORE_READ(sk, sk_protocol) == HS_IPPROTO_TCP;
}

static __always_inline hs_generation_t hs_new_generation(void)
{
	__u32 zero = 0;
	hs_generation_t *next = bpf_map_lookup_elem(&next_generation, &zero);
	hs_generation_t gen;

	if (!next)
		return 0;
	gen = __sync_fetch_and_add(next, 1) + 1;
	return gen ? gen : __sync_fetch_and_add(next, 1) + 1;
}

/* Start tracking fd of process tgid if it is a connected TCP socket. */
static __always_inline void hs_track_fd(__u32 tgid, __u32 fd)
{
	struct hs_conn_key key = { .tgid = tgid, .fd = fd };
	struct hs_conn conn = {};
	hs_generation_t *slot;

	if (!hs_fd_is_tcp(fd))
		return;
	slot = bpf_map_lookup_elem(&generations, &tgid);
	if (!slot)
		return;
	if (!*slot)
		*slot = hs_new_generation();
	conn.generation = *slot;
	if (bpf_map_update_elem(&connections, &key, &conn, BPF_ANY))
		hs_count_loss(HS_LOSS_CONN_TABLE_FULL);
}

#endif /* HS_CONN_TRACK_H */
