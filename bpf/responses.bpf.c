// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Bytes a process sends on a tracked connection: the responses it serves. */
#include "syscall_io.h"

SEC("tracepoint/syscalls/sys_enter_write")
int hs_enter_write(struct hs_syscall_enter *ctx)
{
	return hs_io_enter(ctx->args[0], ctx->args[1], 0, HS_SHAPE_BUF, false);
}

SEC("tracepoint/syscalls/sys_enter_sendto")
int hs_enter_sendto(struct hs_syscall_enter *ctx)
{
	return hs_io_enter(ctx->args[0], ctx->args[1], 0, HS_SHAPE_BUF, false);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int hs_enter_writev(struct hs_syscall_enter *ctx)
{
	return hs_io_enter(ctx->args[0], ctx->args[1], ctx->args[2], HS_SHAPE_IOV, false);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int hs_enter_sendmsg(struct hs_syscall_enter *ctx)
{
	return hs_io_enter(ctx->args[0], ctx->args[1], 0, HS_SHAPE_MSG, false);
}

/* sendfile(out_fd, in_fd, offset, count): the socket is out_fd. */
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int hs_enter_sendfile64(struct hs_syscall_enter *ctx)
{
	return hs_io_enter(ctx->args[0], 0, 0, HS_SHAPE_SENDFILE, false);
}

SEC("tracepoint/syscalls/sys_exit_write")
int hs_exit_write(struct hs_syscall_exit *ctx)
{
	return hs_io_exit_shared(ctx);
}

SEC("tracepoint/syscalls/sys_exit_sendto")
int hs_exit_sendto(struct hs_syscall_exit *ctx)
{
	return hs_io_exit_shared(ctx);
}

SEC("tracepoint/syscalls/sys_exit_writev")
int hs_exit_writev(struct hs_syscall_exit *ctx)
{
	return hs_io_exit_shared(ctx);
}

SEC("tracepoint/syscalls/sys_exit_sendmsg")
int hs_exit_sendmsg(struct hs_syscall_exit *ctx)
{
	return hs_io_exit_shared(ctx);
}

SEC("tracepoint/syscalls/sys_exit_sendfile64")
int hs_exit_sendfile64(struct hs_syscall_exit *ctx)
{
	return hs_io_exit_shared(ctx);
}
