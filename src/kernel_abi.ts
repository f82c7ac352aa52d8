/**
 * The byte layouts of bpf/http_statistics.h, mirrored for user space.
 * test/unit/kernel_abi.test.ts checks them against the compiled object's BTF.
 */

export const REQUEST_SLOT = 0;
export const STATUS_MAX = 599;

/** struct hs_count_key { u32 tgid; u32 slot; } -> u64 count */
export const COUNT_KEY = { keySize: 8, valueSize: 8 } as const;
/** struct hs_conn_key { u32 tgid; u32 fd; } -> struct hs_conn */
export const CONN = { keySize: 8, valueSize: 120 } as const;
/** u32 tgid -> hs_generation_t */
export const GENERATION = { keySize: 4, valueSize: 4 } as const;
/** u32 slot -> program fd (BPF_MAP_TYPE_PROG_ARRAY) */
export const PROG_SLOT = { keySize: 4, valueSize: 4 } as const;
/** The program every sys_exit_* program tail-calls through hs_exits slot 0; attached nowhere itself. */
export const FINISH_CALL_PROGRAM = "hs_exit_parse";
/** u32 0 -> u32 seeded connections no read has entered yet */
export const SEEDS_WAITING = { keySize: 4, valueSize: 4 } as const;
/** u32 enum hs_loss -> u64 */
export const LOSS = { keySize: 4, valueSize: 8 } as const;

/** Offsets inside struct hs_conn that user space writes when seeding. */
export const CONN_OFFSETS = {
  generation: 0,
  seededUnentered: 4,
  request: 24,
  response: 72,
} as const;
/** Offset of `resync` inside struct hs_parser. */
export const PARSER_RESYNC_OFFSET = 43;

/** enum hs_loss, in order. */
export const LOSS_REASONS = [
  "conn_table_full",
  "counter_table_full",
  "inflight_table_full",
  "read_fault",
  "parse_budget",
  "iovec_limit",
  "desync",
  "head_queue_full",
  "unsolicited_response",
  "passed_fd_limit",
] as const;
export type LossReason = (typeof LOSS_REASONS)[number];

/** Generations user space hands out when seeding, apart from the kernel's counter. */
export const USER_GENERATION_BASE = 0x80000000;
