/**
 * Small shared pieces of the benchmark suite: statistics, /proc readings,
 * the machine description, and bounded waiting.
 */
import { $ } from "bun";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startNginx, type RunningServer } from "../../test/support/servers";
import { cpus, totalmem } from "node:os";

export const REPO = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
export const OUT_DIR = `${REPO}/build/bench`;

/** Loopback ports this suite may use (the project's range for benchmarks). */
export const PORTS = { nginx: 18401, syscalls: 18410, startup: 18420, agent: 18430, service: 18440, h2c: 18450, tls: 18460 } as const;

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile, p in 0..100. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** User + system CPU seconds of a whole process (all its threads). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** Nanoseconds on CPU of every thread of a process, from schedstat (finer than /proc/PID/stat). */
export function cpuNanoseconds(pid: number): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
    } catch {
      // thread exited between readdir and read
    }
  }
  return total;
}

/** Resident set size in KiB (VmRSS) and its peak (VmHWM). */
export function memoryKiB(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? NaN);
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

export function sleep(ms: number): Promise<void> {
  return Bun.sleep(ms);
}

async function firstLine(cmd: string[]): Promise<string> {
  try {
    const r = await $`${cmd}`.nothrow().quiet();
    return (r.stdout.toString() + r.stderr.toString()).trim().split("\n")[0] ?? "";
  } catch {
    return "not found";
  }
}

export interface Machine {
  date: string;
  kernel: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  versions: Record<string, string>;
  commit: string;
  load: string;
}

export async function describeMachine(): Promise<Machine> {
  const osRelease = readFileSync("/etc/os-release", "utf8");
  return {
    date: new Date().toISOString(),
    kernel: (await firstLine(["uname", "-r"])),
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    os: /^PRETTY_NAME="?([^"\n]*)/m.exec(osRelease)?.[1] ?? "unknown",
    versions: {
      bun: Bun.version,
      nginx: (await firstLine(["nginx", "-v"])).replace(/^nginx version: /, ""),
      wrk: (await firstLine(["wrk", "--version"])).split(" [")[0] ?? "",
      bpftrace: await firstLine(["bpftrace", "--version"]),
      clang: await firstLine(["clang", "--version"]),
      libbpf: (await firstLine(["sh", "-c", "dpkg-query -W -f='${Version}' libbpf1"])),
      bpftool: await firstLine(["bpftool", "version"]),
    },
    commit: (await firstLine(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"])),
    load: readFileSync("/proc/loadavg", "utf8").trim(),
  };
}

/** A markdown table from a header row and rows of cells. */
export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map((h, i) => (i === 0 ? "---" : "---:"))), ...rows.map(line)].join("\n");
}

/** "1.23x" style ratio text. */
export function ratio(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)}x` : "n/a";
}

export function pct(value: number): string {
  return Number.isFinite(value) ? `${value >= 0 ? "+" : ""}${value.toFixed(1)}%` : "n/a";
}

/** The static page nginx serves: 256 bytes, the size issue 8's targets name. */
export const STATIC_PAGE_BYTES = 256;

export function staticPage(): string {
  const open = "<!doctype html><title>bench</title><p>";
  const close = "</p>\n";
  return open + "a small static page served by nginx. ".repeat(8).slice(0, STATIC_PAGE_BYTES - open.length - close.length) + close;
}

/**
 * nginx (the tests' configuration) with one worker, a 256-byte static file
 * its worker can read (GET /static.html) and a `return 204` location
 * (GET /no-content). The tests' own /index.html lives in a root-only
 * directory, which nginx's unprivileged worker answers with 403 and an
 * error-log write per request: not what a benchmark should time.
 */
export async function startBenchNginx(port: number): Promise<RunningServer> {
  const www = mkdtempSync(join(tmpdir(), "hs-bench-www-"));
  chmodSync(www, 0o755);
  writeFileSync(join(www, "static.html"), staticPage());
  chmodSync(join(www, "static.html"), 0o644);
  return startNginx({ port, workers: 1, locations: `location = /static.html { root ${www}; }\n    location = /no-content { return 204; }` });
}
