// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Bytes a process receives on a tracked connection: the requests it serves. */
#include "syscall_io.h"

SEC("tracepoint/syscalls/sys_enter_read")
int hs_enter_read(struct hs_syscall_enter *ctx)
{
	return hs_io_enter(ctx->args[0], ctx->args[1], 0, HS_SHAPE_BUF, true);
}

SEC("tracepoint/syscalls/sys_enter_recvfrom")
int hs_enter_recvfrom(struct hs_syscall_enter *ctx)
{
	return hs_io_enter(ctx->args[0], ctx->args[1], 0, HS_SHAPE_BUF, true);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int hs_enter_readv(struct hs_syscall_enter *ctx)
{
	return hs_io_enter(ctx->args[0], ctx->args[1], ctx->args[2], HS_SHAPE_IOV, true);
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int hs_enter_recvmsg(struct hs_syscall_enter *ctx)
{
	return hs_io_enter(ctx->args[0], ctx->args[1], 0, HS_SHAPE_MSG, true);
}

/* The one program that parses at exit; the other exits tail-call it (syscall_io.h). */
SEC("tracepoint/syscalls/sys_exit_read")
int hs_exit_read(struct hs_syscall_exit *ctx)
{
	return hs_io_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_recvfrom")
int hs_exit_recvfrom(struct hs_syscall_exit *ctx)
{
	return hs_io_exit_shared(ctx);
}

SEC("tracepoint/syscalls/sys_exit_readv")
int hs_exit_readv(struct hs_syscall_exit *ctx)
{
	return hs_io_exit_shared(ctx);
}

SEC("tracepoint/syscalls/sys_exit_recvmsg")
int hs_exit_recvmsg(struct hs_syscall_exit *ctx)
{
	return hs_io_exit_shared(ctx);
}
