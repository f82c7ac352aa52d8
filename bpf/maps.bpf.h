/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maps shared by every program. maps.bpf.c defines them; every other
 * .bpf.c sees them as extern and bpftool's static linker joins them into
 * one object. User space resizes counters and conns_by_sock before loading.
 */
#ifndef HS_MAPS_BPF_H
#define HS_MAPS_BPF_H

#include "conn_state.h"
#include <bpf/bpf_helpers.h>
#include "http_statistics.h"

#ifdef HS_DEFINE_MAPS
#define HS_MAP
#else
#define HS_MAP extern
#endif

/* (process, slot) counters, per CPU so that workers on different CPUs never share a line; 65,536 rows (--max-counters) hold ~90-430 busy processes, each using a row per code and per latency bucket seen (docs/metrics.md). */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, struct hs_count_key);
	__type(value, struct hs_count);
} counters SEC(".maps");

/* What the kernel side failed to count, by enum hs_loss; per CPU for the same reason. */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HS_LOSS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} losses SEC(".maps");

/* Socket capture: parser state in the socket itself, freed with it, no size to choose. */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct hs_conn);
} conns SEC(".maps");

/* Syscall capture: parser state by socket address, deleted when the socket reaches TCP_CLOSE (--max-connections). */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct hs_conn);
} conns_by_sock SEC(".maps");

/* Syscall capture: the state of a connection that reached TCP_CLOSE while a
 * call on it was still inside the kernel (on loopback a peer's reset
 * arrives inside the send that provoked it), for that call's exit to count.
 * LRU, so entries need no retirement: an exit comes microseconds after its
 * close, far fewer than 1,024 closes later. Sized 1 for the socket capture. */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct hs_conn);
} closed_conns SEC(".maps");

/* Unix stream sockets that existed when the plugin started: address -> inode
 * number (0 for one not yet accepted), which tells a later socket at the same
 * address apart. The walk of iter/unix fills it once, a socket's first call
 * takes its entry. 65,536: more than a host's open unix sockets; past it the
 * walk is incomplete. */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} unix_before SEC(".maps");

/* How that walk went (one entry; src/kernel/kernel_abi.ts UNIX_WALK mirrors it). */
struct hs_unix_walk {
	__u32 done;		/* the walk reached its end: a socket not in unix_before is newer than the plugin */
	__u32 incomplete;	/* unix_before was full: no unix socket can be known to be new */
	__u64 net;		/* the network namespace walked (the plugin's): sockets of others cannot be known to be new */
	__u64 own_ino;		/* set by user space before the walk: the inode number of the plugin's report socket */
	__u64 own_addr;		/* that socket's bound address (struct unix_address), which its accepted sockets share */
};
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hs_unix_walk);
} unix_walk SEC(".maps");

/* A connection's state before it saw anything (the syscall capture creates entries from it). */
#ifdef HS_DEFINE_MAPS
const struct hs_conn hs_zero_conn = {};
#else
extern const struct hs_conn hs_zero_conn;
#endif

/* Bytes copied from user memory for one parse pass, and a chunk of a
 * vectored call's iovec array (HS_MAX_IOV at a time, one user read), per
 * CPU because BPF's stack is 512 bytes. HS_SCRATCH_FRONT
 * bytes before the data let a line's first and last bytes be loaded as
 * whole words wherever it starts or ends; the slack after it likewise. */
#define HS_SCRATCH_SIZE 512
#define HS_SCRATCH_FRONT 32
#define HS_MAX_IOV 8
/* A power of two: an index masked with HS_SCRATCH_MASK stays in data, and a word loaded there stays in the value. */
#define HS_SCRATCH_DATA 1024
#define HS_SCRATCH_MASK (HS_SCRATCH_DATA - 1)
struct hs_scratch {
	__u8 data[HS_SCRATCH_DATA];
	struct hs_iovec iov[HS_MAX_IOV];
	__u64 launder;		/* see hs_launder() in http_parser.bpf.c */
};
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hs_scratch);
} scratch SEC(".maps");

static __always_inline void hs_count_losses(enum hs_loss reason, __u64 n)
{
	__u32 key = reason;
	__u64 *value = bpf_map_lookup_elem(&losses, &key);

	if (value)
		__sync_fetch_and_add(value, n);
}

static __always_inline void hs_count_loss(enum hs_loss reason)
{
	hs_count_losses(reason, 1);
}

/* Counts events in a (process, slot) counter, with the nanoseconds they
 * took (0 but for latency buckets), creating the counter on first use. */
static __always_inline void hs_add_events(__u32 tgid, __u32 slot, __u64 events, __u64 ns)
{
	struct hs_count_key key = { .tgid = tgid, .slot = slot };
	struct hs_count first = { .events = events, .ns = ns }, *value;

	value = bpf_map_lookup_elem(&counters, &key);
	if (!value) {
		if (!bpf_map_update_elem(&counters, &key, &first, BPF_NOEXIST))
			return;
		/* Another program created the key first, or the table is full. */
		value = bpf_map_lookup_elem(&counters, &key);
		if (!value) {
			hs_count_loss(HS_LOSS_COUNTER_TABLE_FULL);
			return;
		}
	}
	/* Atomic although per CPU: a preempted program may share the CPU with another. */
	__sync_fetch_and_add(&value->events, events);
	if (ns)
		__sync_fetch_and_add(&value->ns, ns);
}

/* One event. */
static __always_inline void hs_add(__u32 tgid, __u32 slot, __u64 ns)
{
	hs_add_events(tgid, slot, 1, ns);
}

#endif /* HS_MAPS_BPF_H */
