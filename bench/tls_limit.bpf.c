// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The cheapest body that still counts HTTPS exactly from OpenSSL's
 * plaintext: a prototype, not a product. On exactly the probes the plugin
 * attaches (bench/tls.ts places them with the plugin's own code), it does
 * only what any exact body must:
 *   - at a call's entry, keep where its bytes and its byte count will be
 *     (task-local storage: the return fires on the same thread);
 *   - at the return, skip calls that moved nothing, read the byte count
 *     the library stored, read the first 8 plaintext bytes, and bump a
 *     per-CPU counter when they start a request or a status line.
 * No session state, no parser, no per-process counts, no latency: it
 * cannot count right beyond single-call messages, only show how low a
 * body can go on these probes, beside the floor (attaching) and the
 * plugin (the whole job) in the same run.
 */
#include "../bpf/kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct limit_call {
	__u64 buf;
	__u64 done;		/* where the library stores the bytes it moved */
	__u32 open;		/* entered and not returned */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct limit_call);
} limit_calls SEC(".maps");

/* What the prototype saw, per CPU; bench/tls.ts reads it to give hooked calls per request. */
enum limit_slot {
	LIMIT_CALLS,		/* entries */
	LIMIT_MOVED,		/* returns that moved bytes */
	LIMIT_REQUESTS,		/* plaintext starting with a request line ("GET ") */
	LIMIT_RESPONSES,	/* plaintext starting with a status line ("HTTP/1.") */
	LIMIT_SLOTS,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LIMIT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} limit_counts SEC(".maps");

static __always_inline void limit_bump(__u32 slot)
{
	__u64 *count = bpf_map_lookup_elem(&limit_counts, &slot);

	if (count)
		*count += 1;
}

static __always_inline int limit_enter(__u64 buf, __u64 done)
{
	struct limit_call *call = bpf_task_storage_get(&limit_calls, bpf_get_current_task_btf(), 0,
						       BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!call)
		return 0;
	call->buf = buf;
	call->done = done;
	call->open = 1;
	limit_bump(LIMIT_CALLS);
	return 0;
}

/* (ssl, buf, num, &done): the internal read and write functions the plugin probes in Debian's libssl. */
SEC("uprobe")
int limit_read_ex(struct pt_regs *ctx)
{
	return limit_enter(ctx->si, ctx->cx);
}

SEC("uprobe")
int limit_write_ex(struct pt_regs *ctx)
{
	return limit_enter(ctx->si, ctx->cx);
}

SEC("uretprobe")
int limit_return(struct pt_regs *ctx)
{
	struct limit_call *call = bpf_task_storage_get(&limit_calls, bpf_get_current_task_btf(), 0, 0);
	__u64 moved = 0, head = 0;

	if (!call || !call->open)
		return 0;
	call->open = 0;
	if ((int)ctx->ax <= 0)
		return 0;
	if (bpf_probe_read_user(&moved, sizeof(moved), (void *)call->done) || !moved)
		return 0;
	limit_bump(LIMIT_MOVED);
	if (moved < sizeof(head) || bpf_probe_read_user(&head, sizeof(head), (void *)call->buf))
		return 0;
	if ((head & 0xffffffff) == 0x20544547 /* "GET " */)
		limit_bump(LIMIT_REQUESTS);
	else if ((head & 0xffffffffffffff) == 0x2e312f50545448 /* "HTTP/1." */)
		limit_bump(LIMIT_RESPONSES);
	return 0;
}

/* SSL_clear and SSL_free: probed because the plugin probes them; a session starts and ends there, which this body does not follow. */
SEC("uprobe")
int limit_clear(struct pt_regs *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
