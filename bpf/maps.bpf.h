/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Maps shared by every program. maps.bpf.c defines them; every other
 * .bpf.c sees them as extern and bpftool's static linker joins them into
 * one object. User space resizes the first three from pid_max and the
 * --max-* flags before loading.
 */
#ifndef HS_MAPS_BPF_H
#define HS_MAPS_BPF_H

#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include "http_statistics.h"

#ifdef HS_DEFINE_MAPS
#define HS_MAP
#else
#define HS_MAP extern
#endif

/* One slot per possible tgid (resized to pid_max): an array lookup is inlined, so
 * the common "this process holds no HTTP connection" exit costs a few instructions. */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32768);
	__type(key, __u32);
	__type(value, hs_generation_t);
} generations SEC(".maps");

/* Accepted TCP connections of every process: 65,536 covers a busy host's established sockets. */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct hs_conn_key);
	__type(value, struct hs_conn);
} connections SEC(".maps");

/* (process, slot) counters: 16,384 processes each using request + 3 status codes, on average. */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct hs_count_key);
	__type(value, __u64);
} counters SEC(".maps");

/* A buffer remembered from syscall entry to exit by the thread inside a tracked call. */
struct hs_inflight {
	__u64 buf;	/* the buffer, the iovec array, or the msghdr */
	__u32 fd;
	__u16 vlen;	/* iovec count for readv/writev */
	__u8 shape;	/* enum hs_shape */
	__u8 is_request;
	__u8 pending;	/* set at entry, cleared at exit */
	__u8 pad[7];
};

enum hs_shape { HS_SHAPE_BUF, HS_SHAPE_IOV, HS_SHAPE_MSG, HS_SHAPE_SENDFILE };

/* Per thread, in the task itself (sized by the threads that make tracked calls):
 * every read/write exit of a tracked process looks here, and a task-storage
 * lookup costs far less than a hash lookup, update and delete. */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct hs_inflight);
} inflight SEC(".maps");

/* Bytes copied from user memory for one parse pass; per CPU because BPF's stack is 512 bytes. */
#define HS_SCRATCH_SIZE 512
struct hs_scratch {
	__u8 data[HS_SCRATCH_SIZE];
};
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct hs_scratch);
} scratch SEC(".maps");

/* Threads with a pending in-flight buffer, counted by bucket (thread id mod
 * 4,096: 16 KiB). A read/write exit whose bucket counts 0 has nothing to
 * parse and returns after one inlined array load, before any helper call;
 * sharing a bucket only costs the task-storage lookup, never a count. */
#define HS_PENDING_BUCKETS 4096
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HS_PENDING_BUCKETS);
	__type(key, __u32);
	__type(value, __u32);
} pending SEC(".maps");

/* Slot 0 holds hs_exit_read, the one exit program with the parser; user space
 * fills it between load and attach (libbpf 1.1's linker cannot link a
 * statically initialised program array). */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} hs_exits SEC(".maps");

/* What the kernel side failed to count, by enum hs_loss. */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HS_LOSS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} losses SEC(".maps");

/* Hands out connection-table generations; never 0, which means "none". */
HS_MAP struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, hs_generation_t);
} next_generation SEC(".maps");

static __always_inline void hs_count_loss(enum hs_loss reason)
{
	__u32 key = reason;
	__u64 *value = bpf_map_lookup_elem(&losses, &key);

	if (value)
		__sync_fetch_and_add(value, 1);
}

/* The current process's generation, 0 when it tracks no connection. */
static __always_inline hs_generation_t hs_generation_of(__u32 tgid)
{
	hs_generation_t *gen = bpf_map_lookup_elem(&generations, &tgid);

	return gen ? *gen : 0;
}

/* The tracked connection behind fd, or NULL. An entry left from before the
 * process exec'd or exited carries an older generation and is dropped here. */
static __always_inline struct hs_conn *hs_lookup_conn(__u32 tgid, __u32 fd, hs_generation_t gen)
{
	struct hs_conn_key key = { .tgid = tgid, .fd = fd };
	struct hs_conn *conn = bpf_map_lookup_elem(&connections, &key);

	if (conn && conn->generation != gen) {
		bpf_map_delete_elem(&connections, &key);
		return NULL;
	}
	return conn;
}

#endif /* HS_MAPS_BPF_H */
