/**
 * The byte layouts of bpf/http_statistics.h, mirrored for user space, and
 * the names user space finds things by in the compiled object.
 * test/unit/kernel_abi.test.ts checks them against the object's BTF.
 */

/**
 * Counter slots of one process (bpf/http_statistics.h): its server side
 * below CLIENT_SIDE, its client side the same slots plus CLIENT_SIDE.
 */
export const REQUEST_SLOT = 0;
export const STATUS_MIN = 100;
export const STATUS_MAX = 599;
/**
 * GRPC_SLOT + c counts the gRPC calls that ended with grpc-status c: the
 * canonical codes 0..GRPC_STATUS_MAX, and GRPC_OTHER for any other value.
 */
export const GRPC_SLOT = 700;
export const GRPC_STATUS_MAX = 16;
export const GRPC_OTHER = GRPC_STATUS_MAX + 1;
/** The canonical gRPC status codes' names, by code. */
export const GRPC_STATUS_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;
/** A gRPC status slot's name: its code's, or "OTHER" for a value that is not a canonical code. */
export function grpcStatusName(code: number): string {
  return GRPC_STATUS_NAMES[code] ?? "OTHER";
}
/**
 * Nanoseconds summed over the requests whose duration was measured. Not a
 * kernel slot: the kernel keeps each latency bucket's sum beside its count,
 * and KernelProbe.readCounters adds them up here.
 */
export const LATENCY_SUM_SLOT = 1000;
/** LATENCY_SLOT + b counts the requests whose duration fell in bucket b. */
export const LATENCY_SLOT = 2000;
export const CLIENT_SIDE = 10000;

export type Side = "server" | "client";

/** What one counter slot holds. */
export type SlotMeaning =
  | { side: Side; kind: "requests" }
  | { side: Side; kind: "response"; status: number }
  /** code: 0..GRPC_STATUS_MAX, or GRPC_OTHER. */
  | { side: Side; kind: "grpc"; code: number }
  | { side: Side; kind: "latency_sum_ns" }
  | { side: Side; kind: "latency_bucket"; bucket: number };

export function slotMeaning(slot: number): SlotMeaning | undefined {
  const side: Side = slot >= CLIENT_SIDE ? "client" : "server";
  const local = slot % CLIENT_SIDE;
  if (slot >= 2 * CLIENT_SIDE) return undefined;
  if (local === REQUEST_SLOT) return { side, kind: "requests" };
  if (local >= STATUS_MIN && local <= STATUS_MAX) return { side, kind: "response", status: local };
  if (local >= GRPC_SLOT && local <= GRPC_SLOT + GRPC_OTHER) return { side, kind: "grpc", code: local - GRPC_SLOT };
  if (local === LATENCY_SUM_SLOT) return { side, kind: "latency_sum_ns" };
  if (local >= LATENCY_SLOT && local < LATENCY_SLOT + LATENCY_BUCKETS) return { side, kind: "latency_bucket", bucket: local - LATENCY_SLOT };
  return undefined;
}

/**
 * Latency buckets (HS_LATENCY_* in the header): 1 us wide below 100 us,
 * then two significant digits per decade, so every edge is a whole number
 * of microseconds and 1-2.5-5 boundaries are edges. The last bucket is open.
 */
export const LATENCY_DECADES = 7;
export const LATENCY_BUCKETS = 100 + 90 * LATENCY_DECADES + 1;

/** Lower edge of bucket b, in microseconds. */
export function bucketLowerUs(bucket: number): number {
  if (bucket < 100) return bucket;
  const decade = Math.floor((bucket - 100) / 90) + 1;
  const mantissa = ((bucket - 100) % 90) + 10;
  return mantissa * 10 ** decade;
}

/** Upper edge of bucket b, in microseconds; Infinity for the last. */
export function bucketUpperUs(bucket: number): number {
  return bucket >= LATENCY_BUCKETS - 1 ? Infinity : bucketLowerUs(bucket + 1);
}

/** The bucket the kernel puts a duration of `us` microseconds in (for tests and exporters). */
export function bucketOfUs(us: number): number {
  if (us < 100) return Math.max(0, Math.floor(us));
  let decade = 1;
  while (decade <= LATENCY_DECADES && us >= 100 * 10 ** decade) decade++;
  if (decade > LATENCY_DECADES) return LATENCY_BUCKETS - 1;
  return 100 + 90 * (decade - 1) + Math.floor(us / 10 ** decade) - 10;
}

/** struct hs_count_key { u32 tgid; u32 slot; } -> struct hs_count { u64 events; u64 ns; }, per CPU */
export const COUNT_KEY = { keySize: 8, valueSize: 16 } as const;
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
  "untimed",
  "h2_lost",
  "h2_dynamic_table",
  "tls_undecoded",
] as const;
export type LossReason = (typeof LOSS_REASONS)[number];

/**
 * The two capture front-ends, by the section names of their programs: the
 * socket tracepoints (BTF-typed, Linux 6.3+), or the syscall exits plus the
 * socket state changes that retire their connections. Both run the walk of
 * the unix sockets that exist at start (bpf/unix_existing.bpf.c) once attached.
 */
export const UNIX_WALK_SECTION = "iter/unix";
export const UNIX_WALK_PROGRAM = "hs_walk_unix";
/** u32 0 -> struct hs_unix_walk; user space sets own_ino (the report socket's inode number) before the walk. */
export const UNIX_WALK = { map: "unix_walk", keySize: 4, valueSize: 32, ownInoOffset: 16 } as const;
/**
 * The walk of one process's mappings (bpf/mapped_files.bpf.c), run on
 * demand: struct hs_mapped_file { u64 start; u64 ino; u32 dev; u32 pad; }
 * per file mapping, dev as the kernel's dev_t (major << 20 | minor).
 */
export const MAPPED_FILES_SECTION = "iter/task_vma";
export const MAPPED_FILES_PROGRAM = "hs_walk_mapped_files";
export const MAPPED_FILE = { recordSize: 24, inoOffset: 8, devOffset: 16 } as const;
/**
 * The syscall capture's program for the exits of the data syscalls: one
 * program, so the kernel verifies its parser once, whose section names no
 * attach point; user space attaches it to each syscalls:sys_exit_<call> of
 * SYSCALL_EXITS, and it tells them apart by the syscall number.
 */
export const SYSCALL_EXIT_SECTION = "tracepoint";
export const SYSCALL_EXIT_PROGRAM = "hs_syscall_exit";
export const SYSCALL_EXITS = ["read", "readv", "recvfrom", "recvmsg", "recvmmsg", "write", "writev", "sendto", "sendmsg", "sendmmsg", "sendfile64", "splice"] as const;
/** Its attach points, as "category/event" like the section names of the other tracepoint programs. */
export const SYSCALL_EXIT_TRACEPOINTS = SYSCALL_EXITS.map((call) => `syscalls/sys_exit_${call}`);
export const CAPTURES = {
  socket: { sections: (section: string) => section.startsWith("tp_btf/") || section === UNIX_WALK_SECTION || section === MAPPED_FILES_SECTION || isTlsSection(section), describe: "socket layer (sock_recv_length, sock_send_length)" },
  syscalls: {
    sections: (section: string) => section.startsWith("tracepoint/") || section === SYSCALL_EXIT_SECTION || section === UNIX_WALK_SECTION || section === MAPPED_FILES_SECTION || isTlsSection(section),
    describe: "syscall exits (fallback for kernels without the socket tracepoints)",
  },
} as const;

/** The TLS library probes (bpf/tls_capture.bpf.c): loaded with either capture, attached per library file by src/tls/. */
export function isTlsSection(section: string): boolean {
  return section === "uprobe" || section === "uretprobe";
}

/**
 * enum hs_tls_probe (bpf/tls.h) in order: the cookie a TLS probe is
 * attached with, which tells its program what call it sits on.
 */
export const TLS_PROBES = [
  "openssl_read_ex",
  "openssl_write_ex",
  "openssl_read",
  "openssl_write",
  "openssl_clear",
  "openssl_free",
  "go_read",
  "go_write",
  "go_server_handshake",
  "go_client_handshake",
  "go_return",
  "go_close",
] as const;
export type TlsProbeKind = (typeof TLS_PROBES)[number];
export const tlsCookie = (kind: TlsProbeKind): number => TLS_PROBES.indexOf(kind);
/** The TLS programs: every entry probe of an OpenSSL file, every return, and every probe of a Go executable. */
export const OPENSSL_ENTRY_PROGRAM = "hs_openssl_enter";
export const OPENSSL_RETURN_PROGRAM = "hs_openssl_return";
export const GO_TLS_PROGRAM = "hs_go_tls";

/** One TLS probe: its program, the file offset of the probed instruction, its cookie, and whether it is a return probe. */
export interface TlsProbe {
  program: string;
  offset: number;
  cookie: number;
  retprobe: boolean;
}

/** The TLS map user space sweeps of exited processes: struct hs_tls_key { u32 tgid; u32 pad; u64 ssl; } -> struct hs_conn. */
export const TLS_SESSIONS_MAP = "tls_sessions";
export const TLS_SESSION_KEY_SIZE = 16;
/** u32 tgid -> u8: processes whose TLS sessions write into memory (bpf/tls.h). */
export const TLS_BIO_PROCESSES_MAP = "tls_bio_processes";
/** struct hs_go_call_key { u32 tgid; u32 pad; u64 goroutine; } -> the Go crypto/tls call in progress (bpf/tls.h). */
export const GO_TLS_CALLS_MAP = "go_tls_calls";
/** struct hs_tls_key -> the Go crypto/tls Write in progress on that session (bpf/tls.h). */
export const GO_TLS_WRITES_MAP = "go_tls_writes";
export type Capture = keyof typeof CAPTURES;
/** The map the syscall capture keeps connections in; the socket capture keeps them in the sockets. */
export const SYSCALL_CONNECTIONS_MAP = "conns_by_sock";
/** Where the syscall capture keeps a connection closed while a call on it was still in the kernel (bpf/maps.bpf.h). */
export const SYSCALL_CLOSED_CONNECTIONS_MAP = "closed_conns";
