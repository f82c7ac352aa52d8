/**
 * Cost per syscall: what one call costs under each variant, from
 * bench/syscall_loop.c. Two kinds of workload:
 *  - non-socket calls (a regular file read, getppid), where a capture on
 *    socket tracepoints should add nothing at all;
 *  - calls on an accepted TCP connection (non-HTTP bytes, a small HTTP
 *    request and response), where the headline is a variant's added cost
 *    over "none" divided by its floor's: 1.0 would mean the program bodies
 *    are free.
 */
import { $ } from "bun";
import { mkdirSync } from "node:fs";
import { median, OUT_DIR, PORTS, ratio, REPO, round, table } from "./lib/common";
import { interleaved, type VariantName } from "./lib/variants";

const DRIVER = `${OUT_DIR}/syscall_loop`;
export const MODES = ["file", "getppid", "tcp-raw", "tcp-http"] as const;
/** What `bun run bench --only=unix` runs: a unix socket's calls beside the same calls on TCP. */
export const UNIX_MODES = ["tcp-http", "unix-raw", "unix-http"] as const;
/** What `bun run bench --only=iov` runs: the same HTTP exchange in 1, 3 and 32 segments per call (readv/writev). */
export const IOV_MODES = ["iov-1", "iov-3", "iov-32"] as const;
export type Mode = (typeof MODES)[number] | (typeof UNIX_MODES)[number] | (typeof IOV_MODES)[number];
const MODE_LABEL: Record<Mode, string> = {
  file: "regular file, read()",
  getppid: "getppid()",
  "tcp-raw": "TCP, non-HTTP bytes (read/write)",
  "tcp-http": "TCP, HTTP request + response (read/write)",
  "unix-raw": "unix stream socket, non-HTTP bytes (read/write)",
  "unix-http": "unix stream socket, HTTP request + response (read/write)",
  "iov-1": "TCP, HTTP request + response, readv/writev of 1 segment",
  "iov-3": "TCP, HTTP request + response, readv/writev of 3 segments",
  "iov-32": "TCP, HTTP request + response, readv/writev of 32 segments",
};

/** What the driver prints: per kind of call timed, ns per call. */
interface DriverResult {
  calls: Record<string, { median_ns: number; mean_ns: number }>;
}

export async function buildDriver(): Promise<void> {
  mkdirSync(OUT_DIR, { recursive: true });
  await $`clang -O2 -Wall -Werror -o ${DRIVER} ${REPO}/bench/syscall_loop.c`.quiet();
}

async function runDriver(mode: Mode, port: number, iterations: number): Promise<DriverResult> {
  const proc = Bun.spawn([DRIVER, mode, String(port), String(iterations)], { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 60_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`syscall_loop ${mode} failed (${code}): ${err.trim()}`);
  return JSON.parse(out) as DriverResult;
}

/** ns per call: the mean of the medians of the kinds of call timed (on TCP, read and write: both directions pay). */
const perCall = (r: DriverResult) => {
  const medians = Object.values(r.calls).map((c) => c.median_ns);
  return medians.reduce((s, x) => s + x, 0) / medians.length;
};

/** Whose added cost each variant's is divided by, where both ran. */
export const RATIOS: [VariantName, VariantName][] = [
  ["plugin", "floor"],
  ["minimal", "floor"],
  ["plugin", "minimal"],
  ["essentials", "floor"],
  ["plugin", "essentials"],
  ["plugin-syscalls", "floor-syscalls"],
  ["previous", "floor-syscalls"],
  ["bpftrace", "floor-syscalls"],
  ["plugin", "bpftrace"],
  ["plugin-syscalls", "previous"],
];

export interface SyscallSummary {
  modes: readonly Mode[];
  rounds: number;
  iterations: number;
  variants: VariantName[];
  /** mode -> variant -> median over rounds of ns per call */
  nsPerCall: Record<string, Record<string, number>>;
  /** mode -> variant -> median over rounds of the per-call added ns over the same round's none */
  addedNs: Record<string, Record<string, number>>;
  /** mode -> "a/b" -> a's added ns / b's added ns, for each pair of RATIOS that ran */
  addedRatio: Record<string, Record<string, number>>;
  raw: Record<string, unknown>;
}

export async function benchSyscalls(options: { rounds: number; iterations: number; variants: VariantName[]; log: (s: string) => void; modes?: readonly Mode[] }) {
  const modes = options.modes ?? MODES;
  await buildDriver();
  let port: number = PORTS.syscalls;
  const results = await interleaved(
    options.variants,
    options.rounds,
    async () => {
      const perMode: Record<string, DriverResult> = {};
      for (const mode of modes) {
        // A fresh port each run: the previous pair may still be in TIME_WAIT.
        port = port >= PORTS.syscalls + 8 ? PORTS.syscalls : port + 1;
        perMode[mode] = await runDriver(mode, port, options.iterations);
      }
      return perMode;
    },
    options.log,
  );
  const nsPerCall: SyscallSummary["nsPerCall"] = {};
  const addedNs: SyscallSummary["addedNs"] = {};
  const addedRatio: SyscallSummary["addedRatio"] = {};
  const pairs = RATIOS.filter(([a, b]) => options.variants.includes(a) && options.variants.includes(b));
  for (const mode of modes) {
    nsPerCall[mode] = {};
    addedNs[mode] = {};
    addedRatio[mode] = {};
    for (const v of options.variants) nsPerCall[mode]![v] = median(results[v].map((r) => perCall(r[mode]!)));
    // Added cost per round against the same round's "none", then the median: pairs runs that were close in time.
    for (const v of options.variants) {
      if (v === "none") continue;
      addedNs[mode]![v] = median(results[v].map((r, i) => perCall(r[mode]!) - perCall(results.none[i]![mode]!)));
    }
    for (const [a, b] of pairs) addedRatio[mode]![`${a}/${b}`] = addedNs[mode]![a]! / addedNs[mode]![b]!;
  }
  const summary: SyscallSummary = {
    modes,
    rounds: options.rounds,
    iterations: options.iterations,
    variants: options.variants,
    nsPerCall,
    addedNs,
    addedRatio,
    raw: results,
  };
  return summary;
}

const signed = (ns: number) => `${ns >= 0 ? "+" : ""}${round(ns, ns > -10 && ns < 10 ? 1 : 0)}`;

export function syscallTables(s: SyscallSummary): string {
  const variants = s.variants;
  const added = variants.filter((v) => v !== "none");
  const absolute = table(
    ["workload (ns per call, median)", ...variants],
    s.modes.map((mode) => [MODE_LABEL[mode], ...variants.map((v) => round(s.nsPerCall[mode]![v]!, 0))]),
  );
  const addedTable = table(
    ["added ns per call over none (median of per-round differences)", ...added],
    s.modes.map((mode) => [MODE_LABEL[mode], ...added.map((v) => signed(s.addedNs[mode]![v]!))]),
  );
  // A ratio to a floor that adds nothing (a non-socket call under a socket capture) is noise: TCP only.
  const pairs = Object.keys(s.addedRatio["tcp-raw"] ?? {});
  const ratios = pairs.length
    ? table(
        ["added cost / added cost", ...pairs.map((p) => p.replace("/", " / "))],
        (["tcp-raw", "tcp-http"] as const).map((mode) => [MODE_LABEL[mode], ...pairs.map((p) => ratio(s.addedRatio[mode]![p]!))]),
      )
    : "";
  return [absolute, addedTable, ratios].filter(Boolean).join("\n\n");
}
