// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Which file descriptors are accepted TCP connections, per process.
 * A process's connections belong to its current generation: exec and exit
 * move it to generation 0, which makes all its entries stale at once (the
 * kernel closes them without a close() we could see); user space reaps
 * stale entries later.
 */
#include "conn_track.h"

static __always_inline int hs_track_accepted(struct hs_syscall_exit *ctx)
{
	if (ctx->ret >= 0)
		hs_track_fd(bpf_get_current_pid_tgid() >> 32, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int hs_exit_accept(struct hs_syscall_exit *ctx)
{
	return hs_track_accepted(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int hs_exit_accept4(struct hs_syscall_exit *ctx)
{
	return hs_track_accepted(ctx);
}

static __always_inline void hs_forget_fd(__u32 fd)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct hs_conn_key key = { .tgid = tgid, .fd = fd };

	if (hs_generation_of(tgid))
		bpf_map_delete_elem(&connections, &key);
}

SEC("tracepoint/syscalls/sys_enter_close")
int hs_enter_close(struct hs_syscall_enter *ctx)
{
	hs_forget_fd(ctx->args[0]);
	return 0;
}

/* dup2/dup3 close their target first, without a close() of their own. */
SEC("tracepoint/syscalls/sys_enter_dup2")
int hs_enter_dup2(struct hs_syscall_enter *ctx)
{
	if (ctx->args[0] != ctx->args[1])
		hs_forget_fd(ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_dup3")
int hs_enter_dup3(struct hs_syscall_enter *ctx)
{
	hs_forget_fd(ctx->args[1]);
	return 0;
}

static __always_inline void hs_retire_generation(__u32 tgid)
{
	hs_generation_t *slot = bpf_map_lookup_elem(&generations, &tgid);

	if (slot && *slot)
		*slot = 0;
}

/* exec closes every close-on-exec descriptor, accepted sockets among them. */
SEC("tracepoint/sched/sched_process_exec")
int hs_process_exec(void *ctx)
{
	hs_retire_generation(bpf_get_current_pid_tgid() >> 32);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int hs_process_exit(struct trace_event_raw_sched_process_exit *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	bool group_dead;

	if (bpf_core_field_exists(ctx->group_dead))
		group_dead = BPF_CORE_READ(ctx, group_dead);
	else
		group_dead = (__u32)pid_tgid == pid_tgid >> 32;
	if (group_dead)
		hs_retire_generation(pid_tgid >> 32);
	return 0;
}

/* What a fork copies: the parent's live entries, re-keyed under the child. */
struct hs_fork_copy {
	__u32 parent_tgid;
	hs_generation_t parent_generation;
	__u32 child_tgid;
	hs_generation_t child_generation;
};

static long hs_copy_conn_cb(void *map, struct hs_conn_key *key, struct hs_conn *conn,
			    struct hs_fork_copy *copy)
{
	struct hs_conn_key child_key;
	struct hs_conn child_conn;

	if (key->tgid != copy->parent_tgid || conn->generation != copy->parent_generation)
		return 0;
	child_key.tgid = copy->child_tgid;
	child_key.fd = key->fd;
	child_conn = *conn;
	child_conn.generation = copy->child_generation;
	if (bpf_map_update_elem(&connections, &child_key, &child_conn, BPF_ANY))
		hs_count_loss(HS_LOSS_CONN_TABLE_FULL);
	return 0;
}

/*
 * A forked child inherits its parent's descriptors, accepted sockets among
 * them: pre-fork servers (socketserver.ForkingMixIn, inetd-style daemons)
 * accept in the parent and serve in the child. Copy the parent's entries to
 * the child so the child's reads and writes are seen. A raw tracepoint
 * because it hands us both tasks, so threads (same tgid) are told apart; the
 * walk over the table happens only when the parent tracks connections.
 */
SEC("raw_tp/sched_process_fork")
int hs_process_fork(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	struct hs_fork_copy copy;
	hs_generation_t *slot;
	__u32 child_pid;

	copy.parent_tgid = BPF_CORE_READ(parent, tgid);
	copy.parent_generation = hs_generation_of(copy.parent_tgid);
	if (!copy.parent_generation)
		return 0;
	copy.child_tgid = BPF_CORE_READ(child, tgid);
	child_pid = BPF_CORE_READ(child, pid);
	if (copy.child_tgid == copy.parent_tgid || child_pid != copy.child_tgid)
		return 0;	/* a new thread shares its process's entries */
	/* A child sharing its parent's memory (vfork, posix_spawn) only execs:
	 * copying would leave entries for the reaper and cost a walk for nothing. */
	if (BPF_CORE_READ(child, mm) == BPF_CORE_READ(parent, mm))
		return 0;
	slot = bpf_map_lookup_elem(&generations, &copy.child_tgid);
	if (!slot)
		return 0;
	copy.child_generation = hs_new_generation();
	*slot = copy.child_generation;
	bpf_for_each_map_elem(&connections, hs_copy_conn_cb, &copy, 0);
	return 0;
}
