/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Connections a process did not accept itself but received over a unix
 * socket (SCM_RIGHTS): Node's cluster module in its default round-robin
 * mode accepts in the primary and hands each connection to a worker, which
 * never calls accept. recvmsg is the only way such a descriptor arrives, so
 * its exit is where we start tracking it. The extra work on an untracked
 * recvmsg is one 8-byte read of msg_controllen; only calls that offer room
 * for control data go further.
 */
#ifndef HS_FD_PASSING_H
#define HS_FD_PASSING_H

#include "conn_track.h"

/* Control messages walked per recvmsg, descriptors tracked per message. */
#define HS_MAX_CMSGS 2
#define HS_MAX_PASSED_FDS 8

static __always_inline void hs_fdpass_enter(__u64 msg)
{
	struct hs_inflight *call;
	__u64 controllen;

	if (bpf_probe_read_user(&controllen, sizeof(controllen),
				(void *)(msg + __builtin_offsetof(struct hs_user_msghdr, controllen))))
		return;
	if (controllen < sizeof(struct hs_user_cmsghdr) + sizeof(__s32))
		return;
	call = hs_remember_call();
	if (!call)
		return;
	call->buf = msg;
	call->shape = HS_SHAPE_FDS;
}

/* After recvmsg: track every TCP connection among the descriptors received. */
static __always_inline void hs_fdpass_exit(__u64 msg_ptr)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__s32 fds[HS_MAX_PASSED_FDS];
	struct hs_user_cmsghdr cmsg;
	struct hs_user_msghdr msg;
	__u64 at, end, n;
	int i, j;

	if (bpf_probe_read_user(&msg, sizeof(msg), (void *)msg_ptr))
		return;
	at = msg.control;
	end = at + msg.controllen;	/* the kernel set controllen to what it filled */
	for (i = 0; i < HS_MAX_CMSGS; i++) {
		if (at + sizeof(cmsg) > end || bpf_probe_read_user(&cmsg, sizeof(cmsg), (void *)at))
			return;
		if (cmsg.len < sizeof(cmsg) || cmsg.len > end - at)
			return;
		if (cmsg.level == HS_SOL_SOCKET && cmsg.type == HS_SCM_RIGHTS) {
			n = (cmsg.len - sizeof(cmsg)) / sizeof(__s32);
			if (n > HS_MAX_PASSED_FDS) {
				hs_count_loss(HS_LOSS_PASSED_FD_LIMIT);
				n = HS_MAX_PASSED_FDS;
			}
			if (n && bpf_probe_read_user(fds, n * sizeof(__s32), (void *)(at + sizeof(cmsg)))) {
				hs_count_loss(HS_LOSS_READ_FAULT);
				return;
			}
			for (j = 0; j < HS_MAX_PASSED_FDS; j++)
				if (j < n && fds[j] >= 0)
					hs_track_fd(tgid, fds[j]);
		}
		at += (cmsg.len + 7) & ~7ULL;
	}
	if (at + sizeof(cmsg) <= end)
		hs_count_loss(HS_LOSS_PASSED_FD_LIMIT);
}

#endif /* HS_FD_PASSING_H */
