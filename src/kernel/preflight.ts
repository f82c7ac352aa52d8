/**
 * What the host must offer before we touch the kernel, each failure turned
 * into one line that names the cause and the fix.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync } from "node:fs";
import { machine, release } from "node:os";
import type { Capture } from "./kernel_abi";
import { getLibc, strerror, errno } from "./libbpf";

export class PreflightError extends Error {}

const TRACEFS_MOUNTS = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/** The HTTP parser walks a payload with bpf_loop, which Linux 5.17 added. */
const OLDEST_KERNEL: readonly [number, number] = [5, 17];

/**
 * Refuses, in one line each, what no later check would name clearly: a CPU
 * whose registers the syscall capture cannot read (it reads x86_64's), and a
 * kernel too old to load the object (libbpf would only say a helper is
 * unknown). First of all checks: nothing is created before it.
 */
export function checkPlatform(uname: { machine: string; release: string } = { machine: machine(), release: release() }): void {
  if (uname.machine !== "x86_64") throw new PreflightError(`runs on x86_64 only, and this machine is ${uname.machine}`);
  const [major, minor] = (/^(\d+)\.(\d+)/.exec(uname.release)?.slice(1) ?? []).map(Number);
  const [oldestMajor, oldestMinor] = OLDEST_KERNEL;
  if (major === undefined || minor === undefined || major < oldestMajor || (major === oldestMajor && minor < oldestMinor))
    throw new PreflightError(`needs Linux ${oldestMajor}.${oldestMinor} or later (its HTTP parser uses bpf_loop), and this kernel is ${uname.release}`);
}

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

function effectiveCapabilities(): bigint {
  const status = readFileSync("/proc/self/status", "utf8");
  const hex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return hex ? BigInt(`0x${hex}`) : 0n;
}

function has(caps: bigint, cap: bigint): boolean {
  return ((caps >> cap) & 1n) === 1n;
}

export function checkPrivileges(): void {
  const caps = effectiveCapabilities();
  if (has(caps, CAP_SYS_ADMIN) || (has(caps, CAP_BPF) && has(caps, CAP_PERFMON))) return;
  throw new PreflightError(
    "needs root to load eBPF programs (or CAP_BPF and CAP_PERFMON; the syscall capture also CAP_SYS_ADMIN to mount tracefs): run it with sudo",
  );
}

const SOCKET_TRACEPOINT_TYPES = ["btf_trace_sock_recv_length", "btf_trace_sock_send_length"];

/**
 * Whether the kernel has the socket tracepoints (Linux 6.3+): their BTF
 * types name them. The BTF is megabytes (5.5 here): it is searched a
 * piece at a time, each piece keeping the last one's tail so that a name
 * across the boundary is found, rather than read whole into the heap
 * for two names.
 */
export function hasSocketTracepoints(btf = "/sys/kernel/btf/vmlinux", pieceBytes = 1 << 16): boolean {
  // NUL on both sides: a whole entry of the string table, not the start of a longer name.
  const missing = new Set(SOCKET_TRACEPOINT_TYPES.map((name) => Buffer.from(`\0${name}\0`)));
  const tail = Math.max(...[...missing].map((name) => name.length)) - 1;
  const piece = Buffer.alloc(pieceBytes + tail);
  const fd = openSync(btf, "r");
  try {
    let kept = 0;
    for (;;) {
      const read = readSync(fd, piece, kept, pieceBytes, null);
      if (read === 0) return false;
      const filled = piece.subarray(0, kept + read);
      for (const name of missing) if (filled.includes(name)) missing.delete(name);
      if (missing.size === 0) return true;
      kept = Math.min(tail, filled.length);
      piece.copyWithin(0, filled.length - kept, filled.length);
    }
  } finally {
    closeSync(fd);
  }
}

/** The capture front-end to load for what was asked on this kernel. */
export function chooseCapture(requested: "auto" | Capture, socketTracepoints: boolean): Capture {
  if (requested === "auto") return socketTracepoints ? "socket" : "syscalls";
  if (requested === "socket" && !socketTracepoints)
    throw new PreflightError("--capture=socket needs the sock_recv_length/sock_send_length tracepoints (Linux 6.3+): this kernel lacks them, use --capture=syscalls");
  return requested;
}

/**
 * Why the kernel said EPERM to a process that passed checkPrivileges(): in a
 * container, the runtime's default seccomp profile may let bpf() through
 * only for holders of CAP_SYS_ADMIN (Debian 12's Podman's does).
 */
export function permissionDeniedCause(): string | undefined {
  const status = readFileSync("/proc/self/status", "utf8");
  if (/^Seccomp:\s*2$/m.test(status) && !has(effectiveCapabilities(), CAP_SYS_ADMIN))
    return "a seccomp filter forbids bpf() without CAP_SYS_ADMIN (container runtimes' default profiles do): add CAP_SYS_ADMIN, or run with an unconfined seccomp profile";
  return undefined;
}

export function checkBtf(): void {
  if (!existsSync("/sys/kernel/btf/vmlinux"))
    throw new PreflightError(
      "this kernel exposes no BTF (/sys/kernel/btf/vmlinux is missing): use a kernel built with CONFIG_DEBUG_INFO_BTF=y, as every major distribution's 5.8+ kernel is",
    );
}

/** Finds, or mounts, the tracefs that libbpf needs to attach tracepoints. */
export function ensureTracefs(): string {
  for (const dir of TRACEFS_MOUNTS) if (existsSync(`${dir}/events/syscalls`)) return dir;
  const target = TRACEFS_MOUNTS[0]!;
  if (!existsSync(target))
    throw new PreflightError(`${target} does not exist: this kernel has no tracefs (CONFIG_FTRACE)`);
  if (getLibc().mount(Buffer.from("tracefs\0"), Buffer.from(`${target}\0`), Buffer.from("tracefs\0"), 0, null) !== 0)
    throw new PreflightError(
      `tracefs is not mounted and mounting it failed (${strerror(errno())}): run 'mount -t tracefs tracefs ${target}' as root`,
    );
  if (!existsSync(`${target}/events/syscalls`))
    throw new PreflightError("this kernel has no syscall tracepoints (CONFIG_FTRACE_SYSCALLS=y is needed)");
  return target;
}
