/**
 * What a typical service pays: a Python WSGI application (bench/service_app.py,
 * a few hundred µs of CPU per request rendering JSON) under Debian's gunicorn,
 * one gthread worker, driven by wrk on loopback (keep-alive). The figure is
 * the server's CPU time per request, summed over all its processes and
 * threads from schedstat, at full speed and at a fixed moderate rate, with
 * and without the plugin, interleaved. nginx's static file (e2e.ts) is the
 * hostile case, where the plugin's per-call cost is largest next to the
 * server's own work; this is the common one.
 */
import type { Subprocess } from "bun";
import { cpuNanoseconds, median, pct, PORTS, REPO, round, table } from "./lib/common";
import { interleaved, requestsCounted, type VariantName } from "./lib/variants";
import { pacedConnections, runWrk } from "./wrk";
import { childrenOf, waitForPort } from "../test/support/servers";

/** Debian's gunicorn runs under Debian's python, which need not be the first python3 on PATH. */
const PYTHON = "/usr/bin/python3";
const WORKER_THREADS = 4;

interface RoundResult {
  full: { rps: number; cpuUsPerRequest: number; p50us: number; p99us: number };
  paced: { rps: number; cpuUsPerRequest: number; p50us: number; p99us: number };
  /** product variants only: requests its report counted for the server's processes over the run, and wrk's completed count */
  counted?: number;
  served?: number;
}

export interface ServiceSummary {
  rounds: number;
  seconds: number;
  connections: number;
  pacedTarget: number;
  variants: VariantName[];
  /** variant -> median over rounds */
  fullRps: Record<string, number>;
  fullCpuUsPerRequest: Record<string, number>;
  pacedRps: Record<string, number>;
  pacedCpuUsPerRequest: Record<string, number>;
  latency: Record<string, { full: [number, number]; paced: [number, number] }>;
  /** variant -> median over rounds of its figure against the same round's none, in % */
  fullCpuChange: Record<string, number>;
  pacedCpuChange: Record<string, number>;
  fullRpsRatio: Record<string, number>;
  raw: Record<string, RoundResult[]>;
}

interface Gunicorn {
  /** The master and its worker: every process whose CPU the service spends. */
  pids(): number[];
  stop(): Promise<void>;
}

async function startGunicorn(port: number): Promise<Gunicorn> {
  const proc: Subprocess = Bun.spawn(
    [PYTHON, "-m", "gunicorn", "--chdir", `${REPO}/bench`, "--workers", "1", "--worker-class", "gthread", "--threads", String(WORKER_THREADS), "--bind", `127.0.0.1:${port}`, "--log-level", "warning", "service_app:app"],
    // No __pycache__ left in the repository.
    { stdout: "ignore", stderr: "pipe", env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1" } },
  );
  try {
    await waitForPort(port, "127.0.0.1", 15_000);
  } catch (error) {
    proc.kill("SIGKILL");
    const said = (await new Response(proc.stderr as ReadableStream).text()).trim().split("\n").slice(-1)[0];
    throw new Error(`gunicorn did not start (${PYTHON} -m gunicorn; is python3-gunicorn installed?): ${said || (error as Error).message}`);
  }
  void (proc.stderr as ReadableStream).pipeTo(new WritableStream());
  return {
    pids: () => [proc.pid, ...childrenOf(proc.pid)],
    async stop() {
      proc.kill("SIGTERM");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await proc.exited;
      clearTimeout(timer);
    },
  };
}

const serverCpuNs = (pids: number[]) => pids.reduce((sum, pid) => sum + cpuNanoseconds(pid), 0);

export async function benchService(options: {
  rounds: number;
  seconds: number;
  connections: number;
  pacedRate: number;
  variants: VariantName[];
  log: (s: string) => void;
}): Promise<ServiceSummary> {
  const server = await startGunicorn(PORTS.service);
  const url = `http://127.0.0.1:${PORTS.service}/orders`;
  try {
    // Connections each sending one request every delayMs, calibrated once with no variant attached.
    const delayMs = 10;
    const connections = await pacedConnections(url, options.pacedRate, delayMs);
    const raw = await interleaved(
      options.variants,
      options.rounds,
      async (variant) => {
        const pids = server.pids();
        let before = serverCpuNs(pids);
        const full = await runWrk({ url, seconds: options.seconds, connections: options.connections });
        const fullCpu = serverCpuNs(pids) - before;
        before = serverCpuNs(pids);
        const paced = await runWrk({ url, seconds: options.seconds, connections, delayMs });
        const pacedCpu = serverCpuNs(pids) - before;
        const result: RoundResult = {
          full: { rps: full.rps, cpuUsPerRequest: fullCpu / 1000 / full.requests, p50us: full.p50us, p99us: full.p99us },
          paced: { rps: paced.rps, cpuUsPerRequest: pacedCpu / 1000 / paced.requests, p50us: paced.p50us, p99us: paced.p99us },
        };
        if (variant.fetch) {
          result.counted = await requestsCounted(variant, pids);
          result.served = full.requests + paced.requests;
        }
        return result;
      },
      options.log,
    );
    const variants = options.variants;
    const per = (f: (r: RoundResult) => number) => Object.fromEntries(variants.map((v) => [v, median(raw[v].map(f))])) as Record<string, number>;
    // Each round's figure against the same round's none, then the median: pairs runs close in time.
    const vsNone = (f: (r: RoundResult) => number) =>
      Object.fromEntries(variants.filter((v) => v !== "none").map((v) => [v, median(raw[v].map((r, i) => f(r) / f(raw.none[i]!)))])) as Record<string, number>;
    const percent = (x: Record<string, number>) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, (v - 1) * 100]));
    return {
      rounds: options.rounds,
      seconds: options.seconds,
      connections: options.connections,
      pacedTarget: options.pacedRate,
      variants,
      fullRps: per((r) => r.full.rps),
      fullCpuUsPerRequest: per((r) => r.full.cpuUsPerRequest),
      pacedRps: per((r) => r.paced.rps),
      pacedCpuUsPerRequest: per((r) => r.paced.cpuUsPerRequest),
      latency: Object.fromEntries(
        variants.map((v) => [
          v,
          {
            full: [median(raw[v].map((r) => r.full.p50us)), median(raw[v].map((r) => r.full.p99us))],
            paced: [median(raw[v].map((r) => r.paced.p50us)), median(raw[v].map((r) => r.paced.p99us))],
          },
        ]),
      ),
      fullCpuChange: percent(vsNone((r) => r.full.cpuUsPerRequest)),
      pacedCpuChange: percent(vsNone((r) => r.paced.cpuUsPerRequest)),
      fullRpsRatio: vsNone((r) => r.full.rps),
      raw,
    };
  } finally {
    await server.stop();
  }
}

export function serviceTables(s: ServiceSummary): string {
  const variants = s.variants;
  const others = variants.filter((v) => v !== "none");
  const service = `gunicorn (1 gthread worker, ${WORKER_THREADS} threads), a JSON document per request (median of ${s.rounds})`;
  const cpu = table(
    [service, ...variants, ...others.map((v) => `${v} vs none`)],
    [
      [`at a fixed ~${s.pacedTarget} req/s: achieved req/s`, ...variants.map((v) => round(s.pacedRps[v]!, 0)), ...others.map(() => "")],
      ["at the fixed rate: server CPU µs per request", ...variants.map((v) => round(s.pacedCpuUsPerRequest[v]!, 1)), ...others.map((v) => pct(s.pacedCpuChange[v]!))],
      [`full speed (wrk -t1 -c${s.connections}): req/s`, ...variants.map((v) => round(s.fullRps[v]!, 0)), ...others.map((v) => s.fullRpsRatio[v]!.toFixed(3))],
      ["full speed: server CPU µs per request", ...variants.map((v) => round(s.fullCpuUsPerRequest[v]!, 1)), ...others.map((v) => pct(s.fullCpuChange[v]!))],
    ],
  );
  const latency = table(
    ["latency p50 / p99 µs (median)", ...variants],
    [
      [`at ~${s.pacedTarget} req/s`, ...variants.map((v) => `${round(s.latency[v]!.paced[0], 0)} / ${round(s.latency[v]!.paced[1], 0)}`)],
      ["full speed", ...variants.map((v) => `${round(s.latency[v]!.full[0], 0)} / ${round(s.latency[v]!.full[1], 0)}`)],
    ],
  );
  const counts = others
    .filter((v) => s.raw[v]!.some((r) => r.counted !== undefined))
    .map((v) => `${v}: requests in its report / completed by wrk, each round: ${s.raw[v]!.map((r) => `${r.counted!.toLocaleString("en-US")} / ${r.served!.toLocaleString("en-US")}`).join(", ")}`);
  return [cpu, latency, counts.join("\n\n")].filter(Boolean).join("\n\n");
}
