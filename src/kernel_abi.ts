/**
 * The byte layouts of bpf/http_statistics.h, mirrored for user space, and
 * the names user space finds things by in the compiled object.
 * test/unit/kernel_abi.test.ts checks them against the object's BTF.
 */

export const REQUEST_SLOT = 0;
export const STATUS_MAX = 599;

/** struct hs_count_key { u32 tgid; u32 slot; } -> u64 count, per CPU */
export const COUNT_KEY = { keySize: 8, valueSize: 8 } as const;
/** u32 enum hs_loss -> u64, per CPU */
export const LOSS = { keySize: 4, valueSize: 8 } as const;

/** enum hs_loss, in order. */
export const LOSS_REASONS = [
  "conn_table_full",
  "counter_table_full",
  "read_fault",
  "parse_budget",
  "iovec_limit",
  "desync",
  "head_queue_full",
  "unsolicited_response",
  "io_uring",
  "mmsg",
  "unknown_call",
  "unreadable",
] as const;
export type LossReason = (typeof LOSS_REASONS)[number];

/**
 * The two capture front-ends, by the section names of their programs: the
 * socket tracepoints (BTF-typed, Linux 6.3+), or the syscall exits plus the
 * socket state changes that retire their connections.
 */
export const CAPTURES = {
  socket: { sections: (section: string) => section.startsWith("tp_btf/"), describe: "socket layer (sock_recv_length, sock_send_length)" },
  syscalls: { sections: (section: string) => section.startsWith("tracepoint/"), describe: "syscall exits (fallback for kernels without the socket tracepoints)" },
} as const;
export type Capture = keyof typeof CAPTURES;
/** The map the syscall capture keeps connections in; the socket capture keeps them in the sockets. */
export const SYSCALL_CONNECTIONS_MAP = "conns_by_sock";
