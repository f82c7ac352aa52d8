/**
 * The agent's own cost (user + system CPU from /proc, RSS) while nginx
 * serves a paced ~10,000 req/s and a client asks for /report once a
 * second, as Scope's probe does: each product variant (and bpftrace, which
 * has no /report) in interleaved rounds, so the product can be compared
 * with the one before it in the same run.
 */
import { cpuNanoseconds, median, memoryKiB, PORTS, round, startBenchNginx, table } from "./lib/common";
import { interleaved, requestsCounted, type Running, type VariantName } from "./lib/variants";
import { pacedConnections, runWrk } from "./wrk";

export interface AgentResult {
  variant: string;
  achievedRps: number;
  seconds: number;
  cpuPercent: number;
  rssMiB: number;
  peakRssMiB: number;
  reports: number;
  counted?: number;
  served?: number;
}

async function measure(agent: Running, url: string, seconds: number, connections: number, delayMs: number, workerPid: number): Promise<AgentResult> {
  // Let the agent settle (first ticks, JIT) before the clock starts.
  await Bun.sleep(2000);
  let reports = 0;
  let peakRss = 0;
  // schedstat's nanoseconds: /proc/PID/stat counts in 10 ms ticks, and the agent uses a few ms a second.
  const cpu0 = cpuNanoseconds(agent.pid!);
  const t0 = performance.now();
  let running = true;
  const poller = (async () => {
    while (running) {
      if (agent.fetch) {
        const res = await agent.fetch("/report?api_version=1&probe_id=bench");
        await res.arrayBuffer();
        reports++;
      }
      peakRss = Math.max(peakRss, memoryKiB(agent.pid!).rss);
      await Bun.sleep(1000);
    }
  })();
  const load = await runWrk({ url, seconds, connections, delayMs });
  running = false;
  await poller;
  const wall = (performance.now() - t0) / 1000;
  const cpu = (cpuNanoseconds(agent.pid!) - cpu0) / 1e9;
  const mem = memoryKiB(agent.pid!);
  const result: AgentResult = {
    variant: agent.name,
    achievedRps: load.rps,
    seconds: wall,
    cpuPercent: (cpu / wall) * 100,
    rssMiB: Math.max(peakRss, mem.rss) / 1024,
    peakRssMiB: mem.peak / 1024,
    reports,
  };
  if (agent.fetch) {
    result.counted = await requestsCounted(agent, [workerPid]);
    // wrk's count of completed requests: those in flight when it stops were served and counted, but are not in it.
    result.served = load.requests;
  }
  return result;
}

export interface AgentSummary {
  rounds: number;
  /** variant -> median over rounds */
  median: Record<string, { achievedRps: number; cpuPercent: number; rssMiB: number; peakRssMiB: number }>;
  raw: Record<string, AgentResult[]>;
}

export async function benchAgent(options: { seconds: number; rate: number; rounds: number; variants: VariantName[]; log: (s: string) => void }): Promise<AgentSummary> {
  const nginx = await startBenchNginx(PORTS.agent);
  const url = `http://127.0.0.1:${PORTS.agent}/static.html`;
  try {
    // Calibrated before any agent runs, so the agent's report holds only the measured load.
    const delayMs = 2;
    const connections = await pacedConnections(url, options.rate, delayMs);
    const raw = await interleaved(
      options.variants,
      options.rounds,
      (agent) => measure(agent, url, options.seconds, connections, delayMs, nginx.servingPids[0]!),
      options.log,
    );
    const of = (v: string, f: (r: AgentResult) => number) => median(raw[v as VariantName].map(f));
    return {
      rounds: options.rounds,
      median: Object.fromEntries(
        options.variants.map((v) => [
          v,
          { achievedRps: of(v, (r) => r.achievedRps), cpuPercent: of(v, (r) => r.cpuPercent), rssMiB: of(v, (r) => r.rssMiB), peakRssMiB: of(v, (r) => r.peakRssMiB) },
        ]),
      ),
      raw,
    };
  } finally {
    await nginx.stop();
  }
}

export function agentTable(s: AgentSummary): string {
  return table(
    [`agent under load (median of ${s.rounds})`, "achieved req/s", "agent CPU % of one core", "RSS MiB (max sampled)", "peak RSS MiB (VmHWM)", "requests in its report / completed by wrk, each round"],
    Object.entries(s.median).map(([v, m]) => [
      v,
      round(m.achievedRps, 0),
      round(m.cpuPercent, 2),
      round(m.rssMiB, 1),
      round(m.peakRssMiB, 1),
      s.raw[v]!.filter((r) => r.counted !== undefined).map((r) => `${r.counted!.toLocaleString("en-US")} / ${r.served!.toLocaleString("en-US")}`).join(", "),
    ]),
  );
}
