// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The TLS floor: empty programs, which bench/tls.ts attaches (through
 * bench/lib/attach.ts) on exactly the probes the plugin places in Debian's
 * libssl, entry and return. What being attached there costs, which no body
 * can go below. bpftrace cannot stand in: it refuses a probe past a
 * symbol's start (SSL_free's) in a library it cannot disassemble.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("uprobe")
int floor_entry(void *ctx)
{
	return 0;
}

SEC("uretprobe")
int floor_return(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
