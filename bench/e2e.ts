/**
 * Benchmark 1 (and 6): nginx (Debian) with one worker, driven by wrk on
 * loopback with keep-alive; requests/s and latency under each variant, and
 * nginx's CPU time per request at a fixed, moderate rate.
 */
import { cpuNanoseconds, median, pct, PORTS, round, startBenchNginx, table } from "./lib/common";
import { interleaved, type Running, type VariantName } from "./lib/variants";
import { pacedConnections, runWrk, type WrkResult } from "./wrk";

export const PATHS = { static: "/static.html", status: "/status/200" } as const;
type PathName = keyof typeof PATHS;

interface RoundResult {
  full: Record<PathName, WrkResult & { cpuUsPerRequest: number }>;
  paced: { rps: number; cpuUsPerRequest: number; p50us: number; p99us: number };
  /** plugin only: requests its report counted for the worker over the window. */
  counted?: number;
}

export interface E2eSummary {
  rounds: number;
  seconds: number;
  connections: number;
  pacedTarget: number;
  rps: Record<PathName, Record<string, number>>;
  p50us: Record<PathName, Record<string, number>>;
  p99us: Record<PathName, Record<string, number>>;
  /** variant -> median over rounds of (variant rps / same round's none rps - 1), in % */
  throughputChange: Record<PathName, Record<string, number>>;
  /** nginx worker CPU µs per request at full speed, and its change vs none in % (less sensitive to neighbours than req/s) */
  cpuUsPerRequest: Record<PathName, Record<string, number>>;
  cpuChange: Record<PathName, Record<string, number>>;
  /** plugin vs floor in the same round, %: what the programs' bodies cost beyond attaching */
  pluginVsFloor: { rps: Record<PathName, number>; pacedCpu: number };
  paced: { rps: Record<string, number>; cpuUsPerRequest: Record<string, number>; cpuChange: Record<string, number> };
  pluginCounted: number[];
  raw: Record<string, RoundResult[]>;
}

async function countedBy(plugin: Running, workerPid: number): Promise<number> {
  // One more tick, so the last second of load is in the report.
  await Bun.sleep(1300 - (Date.now() % 1000));
  const report = (await (await plugin.fetch!("/report")).json()) as {
    Process: { nodes: Record<string, { metrics: Record<string, { samples: { value: number }[] }> }> };
  };
  const samples = report.Process.nodes[`bench;${workerPid}`]?.metrics.http_requests_per_second?.samples ?? [];
  return samples.reduce((s, x) => s + x.value, 0);
}

export async function benchEndToEnd(options: {
  rounds: number;
  seconds: number;
  connections: number;
  pacedRate: number;
  variants: VariantName[];
  log: (s: string) => void;
}): Promise<E2eSummary> {
  const nginx = await startBenchNginx(PORTS.nginx);
  const worker = nginx.servingPids[0]!;
  const base = `http://127.0.0.1:${PORTS.nginx}`;
  // Paced: connections each sending one request per ~delayMs, calibrated once with no variant attached.
  const delayMs = 2;
  const connections = await pacedConnections(base + PATHS.static, options.pacedRate, delayMs);
  try {
    const raw = await interleaved(
      options.variants,
      options.rounds,
      async (variant) => {
        const full = {} as Record<PathName, WrkResult & { cpuUsPerRequest: number }>;
        for (const name of Object.keys(PATHS) as PathName[]) {
          const before = cpuNanoseconds(worker);
          const r = await runWrk({ url: base + PATHS[name], seconds: options.seconds, connections: options.connections });
          full[name] = { ...r, cpuUsPerRequest: (cpuNanoseconds(worker) - before) / 1000 / r.requests };
        }
        const cpuBefore = cpuNanoseconds(worker);
        const paced = await runWrk({ url: base + PATHS.static, seconds: options.seconds, connections, delayMs });
        const cpuNs = cpuNanoseconds(worker) - cpuBefore;
        const result: RoundResult = {
          full,
          paced: { rps: paced.rps, cpuUsPerRequest: cpuNs / 1000 / paced.requests, p50us: paced.p50us, p99us: paced.p99us },
        };
        if (variant.name === "plugin") result.counted = await countedBy(variant, worker);
        return result;
      },
      options.log,
    );
    const per = <T>(f: (r: RoundResult) => number) =>
      Object.fromEntries(options.variants.map((v) => [v, median(raw[v].map(f))])) as Record<string, number>;
    const change = (f: (r: RoundResult) => number) =>
      Object.fromEntries(
        options.variants
          .filter((v) => v !== "none")
          .map((v) => [v, median(raw[v].map((r, i) => (f(r) / f(raw.none[i]!) - 1) * 100))]),
      ) as Record<string, number>;
    const paths = Object.keys(PATHS) as PathName[];
    const overFloor = (f: (r: RoundResult) => number) =>
      raw.plugin && raw.floor ? median(raw.plugin.map((r, i) => (f(r) / f(raw.floor[i]!) - 1) * 100)) : NaN;
    return {
      pluginVsFloor: {
        rps: Object.fromEntries(paths.map((p) => [p, overFloor((r) => r.full[p].rps)])) as Record<PathName, number>,
        pacedCpu: overFloor((r) => r.paced.cpuUsPerRequest),
      },
      rounds: options.rounds,
      seconds: options.seconds,
      connections: options.connections,
      pacedTarget: options.pacedRate,
      rps: Object.fromEntries(paths.map((p) => [p, per((r) => r.full[p].rps)])) as E2eSummary["rps"],
      p50us: Object.fromEntries(paths.map((p) => [p, per((r) => r.full[p].p50us)])) as E2eSummary["p50us"],
      p99us: Object.fromEntries(paths.map((p) => [p, per((r) => r.full[p].p99us)])) as E2eSummary["p99us"],
      throughputChange: Object.fromEntries(paths.map((p) => [p, change((r) => r.full[p].rps)])) as E2eSummary["throughputChange"],
      cpuUsPerRequest: Object.fromEntries(paths.map((p) => [p, per((r) => r.full[p].cpuUsPerRequest)])) as E2eSummary["cpuUsPerRequest"],
      cpuChange: Object.fromEntries(paths.map((p) => [p, change((r) => r.full[p].cpuUsPerRequest)])) as E2eSummary["cpuChange"],
      paced: {
        rps: per((r) => r.paced.rps),
        cpuUsPerRequest: per((r) => r.paced.cpuUsPerRequest),
        cpuChange: change((r) => r.paced.cpuUsPerRequest),
      },
      pluginCounted: raw.plugin?.map((r) => r.counted ?? 0) ?? [],
      raw,
    };
  } finally {
    await nginx.stop();
  }
}

export function e2eTables(s: E2eSummary, variants: VariantName[]): string {
  const full = table(
    ["nginx, wrk keep-alive (median)", ...variants.map((v) => `${v} req/s`), ...variants.filter((v) => v !== "none").map((v) => `${v} vs none`), ...variants.map((v) => `${v} p50 / p99 µs`)],
    (Object.keys(PATHS) as PathName[]).map((p) => [
      `GET ${PATHS[p]}`,
      ...variants.map((v) => round(s.rps[p][v]!, 0)),
      ...variants.filter((v) => v !== "none").map((v) => pct(s.throughputChange[p][v]!)),
      ...variants.map((v) => `${round(s.p50us[p][v]!, 0)} / ${round(s.p99us[p][v]!, 0)}`),
    ]),
  );
  const cpu = table(
    ["nginx worker CPU µs per request at full speed (median)", ...variants, ...variants.filter((v) => v !== "none").map((v) => `${v} vs none`)],
    (Object.keys(PATHS) as PathName[]).map((p) => [
      `GET ${PATHS[p]}`,
      ...variants.map((v) => round(s.cpuUsPerRequest[p][v]!, 2)),
      ...variants.filter((v) => v !== "none").map((v) => pct(s.cpuChange[p][v]!)),
    ]),
  );
  const paced = table(
    [`nginx at a fixed ~${s.pacedTarget} req/s (GET ${PATHS.static})`, ...variants],
    [
      ["achieved req/s", ...variants.map((v) => round(s.paced.rps[v]!, 0))],
      ["nginx CPU µs per request", ...variants.map((v) => round(s.paced.cpuUsPerRequest[v]!, 2))],
      ["vs none", ...variants.map((v) => (v === "none" ? "" : pct(s.paced.cpuChange[v]!)))],
    ],
  );
  return `${full}\n\n${cpu}\n\n${paced}`;
}
