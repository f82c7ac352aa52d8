/**
 * Latency against known delays. A server answers each request after a
 * chosen delay; its client measures each request itself. Each plan runs
 * within one wall-clock second, so it lands in one of the plugin's ticks,
 * and that second's percentiles (Scope's samples) are compared with the
 * same percentiles of the client's own measurements and of the plan: each
 * must lie between the planned delay and what the client saw, within the
 * histogram's stated error.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bucketLowerUs, bucketOfUs, bucketUpperUs } from "../../src/kernel/kernel_abi";
import { lossKey } from "../../src/outputs/report";
import { REPO, startPlugin, type RunningPlugin, type ScopeReport } from "../support/plugin";
import { waitForPort } from "../support/servers";
import { processSeries, timedCount, timedSum } from "../support/metrics_text";
import { ACCURACY_WINDOW, reportedLoss } from "./harness";

setDefaultTimeout(60_000);

const PEERS = join(import.meta.dir, "latency_peers.py");
const PORT = 18790;

let plugin: RunningPlugin;
let server: ReturnType<typeof Bun.spawn>;
/** One row per percentile compared, written to build/accuracy/latency.md for the README. */
const rows: string[] = [];

beforeAll(async () => {
  plugin = await startPlugin({ args: ACCURACY_WINDOW });
  server = Bun.spawn(["python3", PEERS, "server", String(PORT)], { stdout: "ignore", stderr: "inherit" });
  await waitForPort(PORT);
}, 30_000);
afterAll(async () => {
  const table = [
    "| case | truth (the client's clock), ms | reported, ms | difference | stated error at that duration |",
    "|---|---:|---:|---:|---:|",
    ...rows,
  ].join("\n");
  mkdirSync(join(REPO, "build", "accuracy"), { recursive: true });
  writeFileSync(join(REPO, "build", "accuracy", "latency.md"), `${table}\n`);
  console.log(`\naccuracy: latency\n${table}`);
  server?.kill();
  await plugin?.stop();
}, 30_000);

interface Run {
  pid: number;
  second: number;
  durations: number[];
}

async function runPlan(mode: "sequential" | "pipelined", paths: string[]): Promise<Run> {
  const proc = Bun.spawn(["python3", PEERS, "client", String(PORT), mode, ...paths], { stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code !== 0) throw new Error(`latency client exited ${code}: ${await new Response(proc.stderr).text()}`);
  return { pid: proc.pid, ...(JSON.parse(out) as { second: number; durations: number[] }) };
}

/** Nearest rank, as the report computes it. */
function percentile(values: number[], percent: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil((percent / 100) * sorted.length) - 1]!;
}

/** The one sample of a process's metric in the tick that ended the given second. */
function sampleOf(report: ScopeReport, pid: number, metric: string, second: number): number | undefined {
  const samples = report.Process.nodes[`${plugin.hostId};${pid}`]?.metrics[metric]?.samples ?? [];
  const inTick = samples.filter((s) => Math.floor(Date.parse(s.date) / 1000) === second + 1);
  expect(inTick.length).toBeLessThanOrEqual(1);
  return inTick[0]?.value;
}

/** Half the width of the bucket a duration falls in, relative to it: the histogram's stated error there. */
function statedError(ms: number): number {
  const bucket = bucketOfUs(ms * 1000);
  return (bucketUpperUs(bucket) - bucketLowerUs(bucket)) / 2 / (ms * 1000);
}

/**
 * What a duration can be: no shorter than the delay the plan asked for (the
 * server sleeps at least that long after reading the request), no longer
 * than the client saw (the server's view starts after the client's and ends
 * before it, a loopback trip and a Python read apart), each within the
 * histogram's stated error. Between the two, the gap is the client's and
 * the machine's, not the plugin's.
 */
function expectBetween(name: string, reported: number | undefined, plannedMs: number, truth: number) {
  const difference = reported === undefined ? "absent" : `${(((reported - truth) / truth) * 100).toFixed(1)}%`;
  rows.push(`| ${name} | ${truth.toFixed(3)} | ${reported?.toFixed(3) ?? "absent"} | ${difference} | ±${(statedError(truth) * 100).toFixed(1)}% |`);
  expect(reported).toBeDefined();
  expect(reported!).toBeGreaterThanOrEqual(plannedMs * (1 - statedError(plannedMs)));
  expect(reported!).toBeLessThanOrEqual(truth * (1 + statedError(truth)) + 0.05);
}

test("5, 50 and 500 ms mixed on one keep-alive connection: p50, p95 and p99 of that second", async () => {
  // 17 x 5 ms, 2 x 50 ms, 1 x 500 ms, interleaved: the nearest-rank p50 is a 5 ms request, p95 a 50 ms one, p99 the 500 ms one.
  const delays = [5, 5, 50, 5, 5, 5, 5, 500, 5, 5, 5, 5, 50, 5, 5, 5, 5, 5, 5, 5];
  const run = await runPlan("sequential", delays.map((ms) => `/delay/${ms}`));
  const report = await plugin.reportAfter(Date.now());
  for (const percent of [50, 95, 99]) {
    expectBetween(`server p${percent}, mixed plan`, sampleOf(report, server.pid, `http_latency_p${percent}_ms`, run.second), percentile(delays, percent), percentile(run.durations, percent));
  }
  // The client side of the same requests, from the client's own process.
  expectBetween("client p99, mixed plan", sampleOf(report, run.pid, "http_client_latency_p99_ms", run.second), percentile(delays, 99), percentile(run.durations, 99));
  const series = await processSeries(plugin, run.pid);
  expect(timedCount(series, "client")).toBe(delays.length);
  // The durations' sum, kept beside each bucket's count: at least the delays the server slept, at most what the client measured.
  const plannedMs = delays.reduce((a, b) => a + b, 0);
  const measuredMs = run.durations.reduce((a, b) => a + b, 0);
  const sumMs = timedSum(series, "client") * 1000;
  rows.push(`| client duration sum, mixed plan | ${measuredMs.toFixed(3)} | ${sumMs.toFixed(3)} | ${(((sumMs - measuredMs) / measuredMs) * 100).toFixed(1)}% | planned ${plannedMs} ms is the floor |`);
  expect(sumMs).toBeGreaterThanOrEqual(plannedMs);
  expect(sumMs).toBeLessThanOrEqual(measuredMs);
});

test("pipelined requests each get their own duration, from the read that brought them", async () => {
  // One write carries all three; the server answers in order: 50, then 5 more, then 5 more.
  const run = await runPlan("pipelined", ["/delay/50", "/delay/5", "/delay/5"]);
  const report = await plugin.reportAfter(Date.now());
  // The three answers leave at ~50, ~55 and ~60 ms after the one read.
  expectBetween("server p50, pipelined 50+5+5", sampleOf(report, server.pid, "http_latency_p50_ms", run.second), 55, percentile(run.durations, 50));
  expectBetween("server p99, pipelined 50+5+5", sampleOf(report, server.pid, "http_latency_p99_ms", run.second), 60, percentile(run.durations, 99));
  // Cumulative answers: ~50, ~55, ~60 ms, not three times 50 or 5.
  expect(percentile(run.durations, 50)).toBeGreaterThan(54);
});

test("a body sent with sendfile ends the request when its last byte is sent, not with the head", async () => {
  const run = await runPlan("sequential", ["/sendfile/80", "/sendfile/80", "/sendfile/80"]);
  const report = await plugin.reportAfter(Date.now());
  const reported = sampleOf(report, server.pid, "http_latency_p50_ms", run.second);
  expectBetween("server p50, head then 80 ms then sendfile body", reported, 80, percentile(run.durations, 50));
});

test("a second without requests has no percentile: absent, not 0", async () => {
  const report = await plugin.report();
  const samples = report.Process.nodes[`${plugin.hostId};${server.pid}`]!.metrics.http_latency_p50_ms!.samples;
  // Three plans, three seconds with requests: one sample each.
  expect(samples.length).toBe(3);
  expect(samples.every((s) => s.value > 0)).toBe(true);
  const series = await processSeries(plugin, server.pid);
  expect(timedCount(series, "server")).toBe(20 + 3 + 3);
  expect(reportedLoss(report, plugin.hostId, lossKey("untimed"))).toBe(0);
});
