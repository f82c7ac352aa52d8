/**
 * nginx end to end: nginx (Debian) with one worker, driven by wrk on
 * loopback (1 thread, keep-alive); requests/s and latency under each
 * variant for a 256-byte file and a `return 204`, and nginx's CPU time per
 * request at a fixed, moderate rate.
 */
import { cpuNanoseconds, median, pct, PORTS, round, startBenchNginx, table } from "./lib/common";
import { interleaved, requestsCounted, type VariantName } from "./lib/variants";
import { pacedConnections, runWrk, type WrkResult } from "./wrk";

export const PATHS = { static: "/static.html", status: "/no-content" } as const;
export type PathName = keyof typeof PATHS;
const PATH_LABEL: Record<PathName, string> = { static: "256-byte file", status: "`return 204`" };

/** Pairs compared head to head in the same round ("a/b"): where the cost lies, and the fallback against the product before it. */
export const E2E_PAIRS: [VariantName, VariantName][] = [
  ["plugin", "floor"],
  ["minimal", "floor"],
  ["plugin", "minimal"],
  ["essentials", "floor"],
  ["plugin", "essentials"],
  ["plugin-syscalls", "previous"],
];

interface RoundResult {
  full: Record<PathName, WrkResult & { cpuUsPerRequest: number }>;
  paced: { rps: number; cpuUsPerRequest: number; p50us: number; p99us: number };
  /** product variants only: requests its report counted for the worker over the window. */
  counted?: number;
}

export interface E2eSummary {
  rounds: number;
  seconds: number;
  connections: number;
  pacedTarget: number;
  variants: VariantName[];
  rps: Record<PathName, Record<string, number>>;
  p50us: Record<PathName, Record<string, number>>;
  p99us: Record<PathName, Record<string, number>>;
  /** variant -> median over rounds of (variant rps / same round's none rps) */
  rpsRatio: Record<PathName, Record<string, number>>;
  /** nginx worker CPU µs per request at full speed, and its change vs none in % (less sensitive to neighbours than req/s) */
  cpuUsPerRequest: Record<PathName, Record<string, number>>;
  cpuChange: Record<PathName, Record<string, number>>;
  /** "a/b" of E2E_PAIRS that ran -> median over rounds of a/b requests/s, and a's paced CPU per request vs b's in % */
  pairs: Record<string, { rpsRatio: Record<PathName, number>; pacedCpuChange: number }>;
  paced: { rps: Record<string, number>; cpuUsPerRequest: Record<string, number>; cpuChange: Record<string, number> };
  /** product variant -> requests its report counted, per round */
  counted: Record<string, number[]>;
  raw: Record<string, RoundResult[]>;
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
        if (variant.fetch) result.counted = await requestsCounted(variant, [worker]);
        return result;
      },
      options.log,
    );
    const variants = options.variants;
    const per = (f: (r: RoundResult) => number) => Object.fromEntries(variants.map((v) => [v, median(raw[v].map(f))])) as Record<string, number>;
    // Each round's figure against the same round's other variant, then the median: pairs runs close in time.
    const against = (a: VariantName, b: VariantName, f: (r: RoundResult) => number) => median(raw[a].map((r, i) => f(r) / f(raw[b][i]!)));
    const vsNone = (f: (r: RoundResult) => number) =>
      Object.fromEntries(variants.filter((v) => v !== "none").map((v) => [v, against(v, "none", f)])) as Record<string, number>;
    const percent = (x: Record<string, number>) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, (v - 1) * 100]));
    const paths = Object.keys(PATHS) as PathName[];
    const byPath = (f: (p: PathName) => Record<string, number>) => Object.fromEntries(paths.map((p) => [p, f(p)])) as Record<PathName, Record<string, number>>;
    const pacedCpu = (r: RoundResult) => r.paced.cpuUsPerRequest;
    const pairs: E2eSummary["pairs"] = {};
    for (const [a, b] of E2E_PAIRS.filter(([a, b]) => variants.includes(a) && variants.includes(b)))
      pairs[`${a}/${b}`] = {
        rpsRatio: Object.fromEntries(paths.map((p) => [p, against(a, b, (r) => r.full[p].rps)])) as Record<PathName, number>,
        pacedCpuChange: (against(a, b, pacedCpu) - 1) * 100,
      };
    return {
      rounds: options.rounds,
      seconds: options.seconds,
      connections: options.connections,
      pacedTarget: options.pacedRate,
      variants,
      rps: byPath((p) => per((r) => r.full[p].rps)),
      p50us: byPath((p) => per((r) => r.full[p].p50us)),
      p99us: byPath((p) => per((r) => r.full[p].p99us)),
      rpsRatio: byPath((p) => vsNone((r) => r.full[p].rps)),
      cpuUsPerRequest: byPath((p) => per((r) => r.full[p].cpuUsPerRequest)),
      cpuChange: byPath((p) => percent(vsNone((r) => r.full[p].cpuUsPerRequest))),
      pairs,
      paced: { rps: per((r) => r.paced.rps), cpuUsPerRequest: per(pacedCpu), cpuChange: percent(vsNone(pacedCpu)) },
      counted: Object.fromEntries(variants.filter((v) => raw[v].some((r) => r.counted !== undefined)).map((v) => [v, raw[v].map((r) => r.counted ?? 0)])),
      raw,
    };
  } finally {
    await nginx.stop();
  }
}

export function e2eTables(s: E2eSummary): string {
  const variants = s.variants;
  const others = variants.filter((v) => v !== "none");
  const paths = Object.keys(PATHS) as PathName[];
  const label = (p: PathName) => `GET ${PATHS[p]} (${PATH_LABEL[p]})`;
  const full = table(
    [`nginx, wrk -t1 -c${s.connections} keep-alive, req/s (median)`, ...variants, ...others.map((v) => `${v} / none`)],
    paths.map((p) => [label(p), ...variants.map((v) => round(s.rps[p][v]!, 0)), ...others.map((v) => s.rpsRatio[p][v]!.toFixed(3))]),
  );
  const latency = table(
    ["latency p50 / p99 µs (median)", ...variants],
    paths.map((p) => [label(p), ...variants.map((v) => `${round(s.p50us[p][v]!, 0)} / ${round(s.p99us[p][v]!, 0)}`)]),
  );
  const cpu = table(
    ["nginx worker CPU µs per request at full speed (median)", ...variants, ...others.map((v) => `${v} vs none`)],
    paths.map((p) => [label(p), ...variants.map((v) => round(s.cpuUsPerRequest[p][v]!, 2)), ...others.map((v) => pct(s.cpuChange[p][v]!))]),
  );
  const paced = table(
    [`nginx at a fixed ~${s.pacedTarget} req/s (GET ${PATHS.static})`, ...variants],
    [
      ["achieved req/s", ...variants.map((v) => round(s.paced.rps[v]!, 0))],
      ["nginx CPU µs per request", ...variants.map((v) => round(s.paced.cpuUsPerRequest[v]!, 2))],
      ["vs none", ...variants.map((v) => (v === "none" ? "" : pct(s.paced.cpuChange[v]!)))],
    ],
  );
  const pairNames = Object.keys(s.pairs);
  const pairs = pairNames.length
    ? table(
        ["head to head, same round (median)", ...pairNames.map((n) => n.replace("/", " / "))],
        [
          ...paths.map((p) => [`req/s, ${PATH_LABEL[p]}`, ...pairNames.map((n) => s.pairs[n]!.rpsRatio[p].toFixed(3))]),
          ["CPU per request at the fixed rate", ...pairNames.map((n) => pct(s.pairs[n]!.pacedCpuChange))],
        ],
      )
    : "";
  return [full, latency, cpu, paced, pairs].filter(Boolean).join("\n\n");
}
