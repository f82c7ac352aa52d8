// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The cheapest body that still looks at the bytes: a prototype, not a
 * product. On the default capture's two attach points it keeps only TCP
 * calls, takes the buffer of read/recvfrom/write/sendto from the saved
 * registers, reads its first 8 bytes and bumps one per-CPU counter when
 * they start a request or a status line. No connection state, no parser,
 * no per-process counts: it cannot count right, only show what reading
 * the bytes at all costs on this machine, beside the floor (attaching) and
 * the plugin (the whole job) in the same run.
 */
#include "../bpf/kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} starts SEC(".maps");

static __always_inline int minimal(struct sock *sk, int ret, int flags)
{
	struct task_struct *task;
	struct pt_regs *regs;
	__u64 head = 0, nr;
	__u32 zero = 0;
	__u64 *count;

	if (ret <= 0 || (flags & HS_MSG_PEEK) || sk->sk_protocol != HS_IPPROTO_TCP)
		return 0;
	task = bpf_get_current_task_btf();
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	nr = regs->orig_ax;
	if (nr != HS_NR_READ && nr != HS_NR_RECVFROM && nr != HS_NR_WRITE && nr != HS_NR_SENDTO)
		return 0;
	if (bpf_probe_read_user(&head, sizeof(head), (void *)regs->si))
		return 0;
	if ((head & 0xffffffff) != 0x20544547 /* "GET " */ && (head & 0xffffffffffffff) != 0x2e312f50545448 /* "HTTP/1." */)
		return 0;
	count = bpf_map_lookup_elem(&starts, &zero);
	if (count)
		*count += 1;
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(minimal_recv, struct sock *sk, int ret, int flags)
{
	return minimal(sk, ret, flags);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(minimal_send, struct sock *sk, int ret, int flags)
{
	return minimal(sk, ret, flags);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
