// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The one program that finishes tracked calls: every sys_exit_* program of
 * requests.bpf.c and responses.bpf.c tail-calls it through hs_exits when
 * the thread may have a call pending (syscall_io.h). Not attached anywhere
 * itself, so the verifier walks the parser once instead of once per exit.
 */
#include "syscall_io.h"

SEC("tracepoint")
int hs_exit_parse(struct hs_syscall_exit *ctx)
{
	return hs_finish_call(ctx->ret);
}
