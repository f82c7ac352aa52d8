/**
 * Starts the real plugin (from source or the compiled binary) on a private
 * socket and reads its reports. Integration tests need root and a kernel
 * with BTF: without them, requireRoot() fails the test loudly.
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { LOSSES_TOTAL_KEY } from "../../src/outputs/report";
import { isCounting } from "./socket_client";

export const REPO = join(import.meta.dir, "..", "..");
export const BINARY = join(REPO, "dist", "http-statistics");

export function requireRoot(): void {
  if (process.getuid?.() !== 0)
    throw new Error("integration tests load eBPF programs and must run as root (sudo bun test)");
}

export interface ScopeReport {
  Process: { nodes: Record<string, ProcessNode>; metric_templates: Record<string, unknown> };
  Plugins: Array<Record<string, unknown>>;
  [topology: string]: unknown;
}

export interface ProcessNode {
  id: string;
  topology: string;
  metrics: Record<string, { samples: Array<{ date: string; value: number }>; min: number; max: number }>;
}

export interface RunningPlugin {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  socket: string;
  hostId: string;
  /** ms from spawn to the socket answering. */
  startupMs: number;
  report(path?: string): Promise<ScopeReport>;
  /** The first report made by a tick after `since` (see reportAfter). */
  reportAfter(since: number, path?: string): Promise<ScopeReport>;
  fetch(path: string, init?: RequestInit): Promise<Response>;
  stop(signal?: NodeJS.Signals): Promise<number>;
  stderr(): Promise<string>;
  /** What the plugin has written to stderr so far, while it runs. */
  logSoFar(): string;
}

export interface StartOptions {
  binary?: boolean;
  args?: string[];
  hostId?: string;
  /** Default: a fresh private directory, plugins/http-statistics/http-statistics.sock inside. */
  socket?: string;
  env?: Record<string, string>;
  /** Runs the plugin through this command (setpriv, bash -c ...). */
  prefix?: string[];
}

export async function startPlugin(options: StartOptions = {}): Promise<RunningPlugin> {
  requireRoot();
  const dir = mkdtempSync(join(tmpdir(), "hs-test-"));
  const socket = options.socket ?? join(dir, "plugins", "http-statistics", "http-statistics.sock");
  const hostId = options.hostId ?? "test-host";
  const command = options.binary
    ? [BINARY]
    : [process.execPath, "run", join(REPO, "src", "main.ts")];
  if (options.binary && !existsSync(BINARY)) throw new Error(`${BINARY} is missing: run 'bun run build' first`);
  // Tests read counts over the window after several steps of traffic: unless a test sets its own,
  // a window longer than a test file (the shipped 3 s is checked against the real Scope in test/scope).
  const window = options.args?.includes("--window") ? [] : ["--window", "60"];
  const started = performance.now();
  const args = options.args ?? [];
  // HS_TEST_CAPTURE runs a suite against another capture front-end (test/accuracy/syscall_capture.test.ts).
  const capture = process.env.HS_TEST_CAPTURE && !args.some((a) => a.startsWith("--capture")) ? [`--capture=${process.env.HS_TEST_CAPTURE}`] : [];
  const proc = Bun.spawn([...(options.prefix ?? []), ...command, "--socket", socket, "--hostname", hostId, ...window, ...capture, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...options.env },
  });
  const call = (path: string, init?: RequestInit) => fetch(`http://plugin${path}`, { ...init, unix: socket } as RequestInit);
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`plugin exited with ${proc.exitCode}: ${await new Response(proc.stderr).text()}`);
    if (existsSync(socket)) {
      try {
        const res = await call("/report");
        if (res.ok && isCounting((await res.json()) as ScopeReport)) break;
      } catch {
        // not listening yet
      }
    }
    if (performance.now() - started > 20_000) {
      proc.kill();
      throw new Error("plugin did not serve its socket within 20 s");
    }
    await Bun.sleep(10);
  }
  const startupMs = performance.now() - started;
  let logged = "";
  const stderrText = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) logged += decoder.decode(chunk, { stream: true });
    return logged;
  })();
  const report = async (path = "/report?api_version=1&probe_id=7e57") => {
    const res = await call(path);
    if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
    return (await res.json()) as ScopeReport;
  };
  return {
    proc,
    socket,
    hostId,
    startupMs,
    fetch: call,
    report,
    reportAfter: (since: number, path?: string) => reportAfter(() => report(path), since),
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (proc.exitCode === null) proc.kill(signal);
      return await proc.exited;
    },
    stderr() {
      return stderrText;
    },
    logSoFar: () => logged,
  };
}

/** When the tick that made `report` ran (ms): a counting plugin's host node dates its loss counters with it. */
export function reportTime(report: ScopeReport): number {
  const hosts = (report.Host as { nodes: Record<string, { latest?: Record<string, { timestamp: string }> }> } | undefined)?.nodes ?? {};
  const stamp = Object.values(hosts)[0]?.latest?.[LOSSES_TOTAL_KEY]?.timestamp;
  return stamp === undefined ? -Infinity : Date.parse(stamp);
}

/**
 * The first report made by a tick that ran after `since` (Date.now() taken
 * once the traffic is done): that tick read the counters after the kernel
 * counted the traffic. Ticks fall on wall-clock seconds, so `read` is
 * first called at the next one.
 */
export async function reportAfter(read: () => Promise<ScopeReport>, since: number, timeoutMs = 10_000): Promise<ScopeReport> {
  const deadline = since + timeoutMs;
  await Bun.sleep(Math.max(0, 1000 - (since % 1000)));
  for (;;) {
    const report = await read();
    const made = reportTime(report);
    if (made > since) return report;
    if (Date.now() > deadline)
      throw new Error(`no report from a tick after ${new Date(since).toISOString()} within ${timeoutMs} ms (the latest is from ${Number.isFinite(made) ? new Date(made).toISOString() : "no tick"})`);
    await Bun.sleep(20);
  }
}

/** Sum over the window of one metric of one process, 0 when absent. */
export function total(report: ScopeReport, hostId: string, pid: number, metric: string): number {
  const samples = report.Process.nodes[`${hostId};${pid}`]?.metrics[metric]?.samples ?? [];
  return samples.reduce((sum, s) => sum + s.value, 0);
}

/** Sums over the window of every count metric (per second) of one process; latency metrics are no counts to sum. */
export function totals(report: ScopeReport, hostId: string, pid: number): Record<string, number> {
  const node = report.Process.nodes[`${hostId};${pid}`];
  if (!node) return {};
  return Object.fromEntries(
    Object.entries(node.metrics)
      .filter(([id]) => id.endsWith("_per_second"))
      .map(([id, m]) => [id, m.samples.reduce((sum, s) => sum + s.value, 0)]),
  );
}

export function pidsIn(report: ScopeReport, hostId: string): number[] {
  return Object.keys(report.Process.nodes)
    .filter((id) => id.startsWith(`${hostId};`))
    .map((id) => Number(id.slice(hostId.length + 1)))
    .sort((a, b) => a - b);
}
