/**
 * Benchmark 2 (and 6): what one read() or write() costs under each variant,
 * from bench/syscall_loop.c. The headline is the plugin's added cost over
 * "none" divided by the floor's: 1.0 would mean our program bodies are free.
 */
import { $ } from "bun";
import { mkdirSync } from "node:fs";
import { median, OUT_DIR, PORTS, ratio, REPO, round, table } from "./lib/common";
import { interleaved, type VariantName } from "./lib/variants";

const DRIVER = `${OUT_DIR}/syscall_loop`;
export const MODES = ["tcp-raw", "tcp-http", "file"] as const;
type Mode = (typeof MODES)[number];
const MODE_LABEL: Record<Mode, string> = {
  "tcp-raw": "TCP, non-HTTP bytes",
  "tcp-http": "TCP, HTTP request + response",
  file: "regular file",
};

interface DriverResult {
  read: { median_ns: number; mean_ns: number };
  write: { median_ns: number; mean_ns: number };
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

/** ns per call: the mean of read and write medians (both directions pay). */
const perCall = (r: DriverResult) => (r.read.median_ns + r.write.median_ns) / 2;

export interface SyscallSummary {
  rounds: number;
  iterations: number;
  /** mode -> variant -> median over rounds of ns per call */
  nsPerCall: Record<string, Record<string, number>>;
  /** mode -> variant -> per-call added ns over none */
  addedNs: Record<string, Record<string, number>>;
  /** mode -> plugin added / floor added */
  pluginOverFloor: Record<string, number>;
  bpftraceOverFloor: Record<string, number>;
  raw: Record<string, unknown>;
}

export async function benchSyscalls(options: { rounds: number; iterations: number; variants: VariantName[]; log: (s: string) => void }) {
  await buildDriver();
  let port: number = PORTS.syscalls;
  const results = await interleaved(
    options.variants,
    options.rounds,
    async () => {
      const perMode: Record<string, DriverResult> = {};
      for (const mode of MODES) {
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
  const pluginOverFloor: Record<string, number> = {};
  const bpftraceOverFloor: Record<string, number> = {};
  for (const mode of MODES) {
    nsPerCall[mode] = {};
    addedNs[mode] = {};
    for (const v of options.variants) nsPerCall[mode]![v] = median(results[v].map((r) => perCall(r[mode]!)));
    // Added cost per round against the same round's "none", then the median: pairs runs that were close in time.
    for (const v of options.variants) {
      if (v === "none") continue;
      addedNs[mode]![v] = median(results[v].map((r, i) => perCall(r[mode]!) - perCall(results.none[i]![mode]!)));
    }
    pluginOverFloor[mode] = addedNs[mode]!.plugin! / addedNs[mode]!.floor!;
    if (addedNs[mode]!.bpftrace !== undefined) bpftraceOverFloor[mode] = addedNs[mode]!.bpftrace! / addedNs[mode]!.floor!;
  }
  const summary: SyscallSummary = {
    rounds: options.rounds,
    iterations: options.iterations,
    nsPerCall,
    addedNs,
    pluginOverFloor,
    bpftraceOverFloor,
    raw: results,
  };
  return summary;
}

export function syscallTables(s: SyscallSummary, variants: VariantName[]): string {
  const added = variants.filter((v) => v !== "none");
  const rows = MODES.map((mode) => [
    MODE_LABEL[mode],
    ...variants.map((v) => round(s.nsPerCall[mode]![v]!, 0)),
    ...added.map((v) => `+${round(s.addedNs[mode]![v]!, 0)}`),
    ratio(s.pluginOverFloor[mode]!),
    ...(variants.includes("bpftrace") ? [ratio(s.bpftraceOverFloor[mode]!)] : []),
  ]);
  return table(
    [
      "workload (ns per read/write, median)",
      ...variants,
      ...added.map((v) => `${v} added`),
      "plugin added / floor added",
      ...(variants.includes("bpftrace") ? ["bpftrace added / floor added"] : []),
    ],
    rows,
  );
}
