/**
 * Benchmark 3: the plugin's own cost (user + system CPU from /proc, RSS)
 * while nginx serves a paced ~10,000 req/s and a client asks for /report
 * once a second, as Scope's probe does.
 */
import { cpuSeconds, memoryKiB, PORTS, round, startBenchNginx, table } from "./lib/common";
import { startBpftrace, startPlugin, type Running } from "./lib/variants";
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
  const cpu0 = cpuSeconds(agent.pid!);
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
  const cpu = cpuSeconds(agent.pid!) - cpu0;
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
    await Bun.sleep(1300 - (Date.now() % 1000));
    const report = (await (await agent.fetch("/report")).json()) as {
      Process: { nodes: Record<string, { metrics: Record<string, { samples: { value: number }[] }> }> };
    };
    const samples = report.Process.nodes[`bench;${workerPid}`]?.metrics.http_requests_per_second?.samples ?? [];
    result.counted = samples.reduce((s, x) => s + x.value, 0);
    result.served = load.requests;
  }
  return result;
}

export async function benchAgent(options: { seconds: number; rate: number; withBpftrace: boolean; log: (s: string) => void }) {
  const nginx = await startBenchNginx(PORTS.agent);
  const url = `http://127.0.0.1:${PORTS.agent}/static.html`;
  const results: AgentResult[] = [];
  try {
    // Calibrated before any agent runs, so the agent's report holds only the measured load.
    const delayMs = 2;
    const connections = await pacedConnections(url, options.rate, delayMs);
    // A window longer than the run, so the count read after it covers the whole run.
    const plugin = await startPlugin(["--window", "60"]);
    try {
      results.push(await measure(plugin, url, options.seconds, connections, delayMs, nginx.servingPids[0]!));
    } finally {
      await plugin.stop();
    }
    options.log(`    plugin done`);
    if (options.withBpftrace) {
      const bt = await startBpftrace();
      try {
        results.push(await measure(bt, url, options.seconds, connections, delayMs, nginx.servingPids[0]!));
      } finally {
        await bt.stop();
      }
      options.log(`    bpftrace done`);
    }
  } finally {
    await nginx.stop();
  }
  return results;
}

export function agentTable(results: AgentResult[]): string {
  return table(
    ["agent under load", "achieved req/s", "agent CPU % of one core", "RSS MiB (max sampled)", "peak RSS MiB (VmHWM)", "/report calls", "requests in its report / served by nginx"],
    results.map((r) => [
      r.variant,
      round(r.achievedRps, 0),
      round(r.cpuPercent, 2),
      round(r.rssMiB, 1),
      round(r.peakRssMiB, 1),
      r.reports,
      r.counted !== undefined ? `${r.counted.toLocaleString("en-US")} / ${r.served!.toLocaleString("en-US")}` : "",
    ]),
  );
}
