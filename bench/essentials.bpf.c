// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What every exact, timed body pays on this machine before it parses a
 * byte: a prototype, not a product. On the default capture's two attach
 * points, for each TCP call, it makes the kernel calls the plugin cannot do
 * without, once each, and nothing else:
 *   - the connection's socket-local state (where its parser would stand);
 *   - the task's saved registers (where the call's bytes are);
 *   - a copy of those bytes, up to 512 as the plugin's pass copies, through
 *     the first iovec for readv/writev;
 *   - one clock read (a request's start, or an answer's end);
 *   - one update of a per-process counter in a per-CPU hash.
 * The plugin makes 1.5 counter updates per call on average in an
 * exchange, and parses; the gap between it and this body is what parsing
 * and that half update cost, the gap between this body and the floor what
 * the kernel charges for the services themselves.
 */
#include "../bpf/kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define ESSENTIALS_COPY 512

/* Per connection: when its last call returned (the stand-in for a request's start). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} last_call SEC(".maps");

struct essentials_key {
	__u32 tgid;
	__u32 inbound;
};

struct essentials_count {
	__u64 events;
	__u64 ns;
};

/* (process, direction) counts: a benchmark sees a few processes. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1024);
	__type(key, struct essentials_key);
	__type(value, struct essentials_count);
} counts SEC(".maps");

/* The copied bytes: per CPU, as BPF's stack is 512 bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u8[ESSENTIALS_COPY]);
} copy SEC(".maps");

static __always_inline int essentials(struct sock *sk, int ret, int flags, __u32 inbound)
{
	__u16 family = sk->__sk_common.skc_family;
	struct essentials_key key = { .inbound = inbound };
	struct essentials_count first = { .events = 1 }, *count;
	struct task_struct *task;
	struct hs_iovec seg;
	struct pt_regs *regs;
	__u64 *last, buf, nr, now, len = ret;
	__u32 zero = 0, n;
	__u8 *bytes;

	if (ret <= 0 || (flags & (HS_MSG_PEEK | HS_MSG_OOB)))
		return 0;
	if ((family != HS_AF_INET && family != HS_AF_INET6) || sk->sk_protocol != HS_IPPROTO_TCP ||
	    sk->sk_type != HS_SOCK_STREAM)
		return 0;
	last = bpf_sk_storage_get(&last_call, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!last)
		return 0;
	task = bpf_get_current_task_btf();
	regs = (struct pt_regs *)bpf_task_pt_regs(task);
	nr = regs->orig_ax;
	buf = regs->si;
	if (nr == HS_NR_READV || nr == HS_NR_WRITEV) {
		if (bpf_probe_read_user(&seg, sizeof(seg), (void *)buf))
			return 0;
		buf = seg.base;
		len = seg.len < len ? seg.len : len;
	} else if (nr != HS_NR_READ && nr != HS_NR_RECVFROM && nr != HS_NR_WRITE && nr != HS_NR_SENDTO) {
		return 0;
	}
	bytes = bpf_map_lookup_elem(&copy, &zero);
	if (!bytes)
		return 0;
	n = len < ESSENTIALS_COPY ? len : ESSENTIALS_COPY;
	barrier_var(n);
	if (n > ESSENTIALS_COPY || bpf_probe_read_user(bytes, n, (void *)buf))
		return 0;
	now = bpf_ktime_get_ns();
	key.tgid = task->tgid;
	first.ns = *last ? now - *last : 0;
	*last = now;
	count = bpf_map_lookup_elem(&counts, &key);
	if (!count) {
		bpf_map_update_elem(&counts, &key, &first, BPF_NOEXIST);
		return 0;
	}
	__sync_fetch_and_add(&count->events, 1);
	__sync_fetch_and_add(&count->ns, first.ns);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(essentials_recv, struct sock *sk, int ret, int flags)
{
	return essentials(sk, ret, flags, 1);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(essentials_send, struct sock *sk, int ret, int flags)
{
	return essentials(sk, ret, flags, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
