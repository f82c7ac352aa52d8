/**
 * A soak: nginx under a steady paced load from wrk while /report is read
 * once a second, as the probe does. Ground truth is nginx's access log;
 * the plugin's counts are the union of the per-second samples of all the
 * reports read. Also samples the agent's RSS and CPU once a second and the
 * kernel counters map's occupancy every 10 s. Shared by
 * test/reliability/soak.test.ts (short, exact) and bench/reliability.ts (10 min, figures).
 */
import { slotMeaning } from "../../src/kernel/kernel_abi";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pacedConnections, runWrk } from "../../bench/wrk";
import { mapIdsOf, mapKeys } from "./kernel_maps";
import type { ScopeReport } from "./plugin";
import { SampleUnion } from "./sample_union";
import { startNginx } from "./servers";

export interface SoakResult {
  seconds: number;
  connections: number;
  /** From nginx's access log. */
  sent: { requests: number; byStatus: Record<string, number> };
  /** Union of the reports' samples over nginx's workers. */
  counted: { requests: number; byStatus: Record<string, number> };
  conflicts: string[];
  reportsRead: number;
  reportFailures: number;
  /** One per second: agent RSS (MiB) and CPU (% of one core) over that second. */
  perSecond: Array<{ rssMiB: number; cpuPercent: number }>;
  /** Every 10 s: entries in the kernel's counters map, in all and of nginx's workers (anything else on the host counts in the first). */
  /** Rows of the counters map every 10 s: all, nginx's, and nginx's that are not latency buckets. */
  counterEntries: Array<{ all: number; nginx: number; nginxCounts: number }>;
}

export interface SoakOptions {
  agentPid: number;
  hostId: string;
  report(): Promise<ScopeReport>;
  port: number;
  seconds: number;
  rate: number;
  delayMs?: number;
  log?: (line: string) => void;
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

const rssMiB = (pid: number) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

export async function soak(options: SoakOptions): Promise<SoakResult> {
  const dir = mkdtempSync(join(tmpdir(), "hs-soak-"));
  const accessLog = join(dir, "access.log");
  const nginx = await startNginx({
    port: options.port,
    workers: 2,
    locations: `location = /calibrate { access_log off; return 200 "c\\n"; }\n    location = /soak { access_log ${accessLog}; return 200 "ok\\n"; }`,
  });
  try {
    const delayMs = options.delayMs ?? 10;
    const connections = await pacedConnections(`http://127.0.0.1:${options.port}/calibrate`, options.rate, delayMs);
    options.log?.(`soak: ${connections} connections paced at ${delayMs} ms for ~${options.rate} req/s`);
    await Bun.sleep(2500); // idle seconds between calibration and soak: no sample mixes them
    const start = Date.now();
    const perSecond: SoakResult["perSecond"] = [];
    const counterEntries: SoakResult["counterEntries"] = [];
    let reportsRead = 0;
    let reportFailures = 0;
    let running = true;
    const workers = new Set(nginx.servingPids);
    const union = new SampleUnion(options.hostId, (pid, time) => workers.has(pid) && time > start);
    const countersId = mapIdsOf(options.agentPid).counters!;
    const sampler = (async () => {
      let ticks = cpuTicks(options.agentPid);
      let at = performance.now();
      for (let second = 0; running; second++) {
        await Bun.sleep(1000 - (Date.now() % 1000) + 200);
        try {
          union.add(await options.report());
          reportsRead++;
        } catch {
          reportFailures++;
        }
        const nowTicks = cpuTicks(options.agentPid);
        const now = performance.now();
        perSecond.push({ rssMiB: rssMiB(options.agentPid), cpuPercent: ((nowTicks - ticks) / 100 / ((now - at) / 1000)) * 100 });
        ticks = nowTicks;
        at = now;
        if (second % 10 === 0) {
          const keys = mapKeys(countersId);
          const nginx = keys.map((key) => Buffer.from(key)).filter((key) => workers.has(key.readUInt32LE(0)));
          const nginxCounts = nginx.filter((key) => slotMeaning(key.readUInt32LE(4))?.kind !== "latency_bucket").length;
          counterEntries.push({ all: keys.length, nginx: nginx.length, nginxCounts });
        }
      }
    })();
    const wrk = await runWrk({ url: `http://127.0.0.1:${options.port}/soak`, seconds: options.seconds, connections, delayMs });
    options.log?.(`soak: wrk ${wrk.requests} requests, ${Math.round(wrk.rps)} req/s`);
    await Bun.sleep(2500); // the last second's tick, read twice
    running = false;
    await sampler;

    const lines = readFileSync(accessLog, "utf8").trim().split("\n").filter(Boolean);
    const byStatus: Record<string, number> = {};
    for (const line of lines) {
      const status = / "[^"]*" (\d{3}) /.exec(line)?.[1] ?? "unparsed";
      byStatus[status] = (byStatus[status] ?? 0) + 1;
    }
    const counted = { requests: 0, byStatus: {} as Record<string, number> };
    // The server side's counts; wrk's own (client) counts and the latency percentiles are other metrics.
    for (const [metric, value] of Object.entries(union.totals())) {
      const code = /^http_(\w+)_responses_per_second$/.exec(metric)?.[1];
      if (metric === "http_requests_per_second") counted.requests = value;
      else if (code) counted.byStatus[code] = value;
      else if (!/^http_client_\w+_per_second$|_ms$/.test(metric)) throw new Error(`unexpected metric ${metric}`);
    }
    return {
      seconds: options.seconds,
      connections,
      sent: { requests: lines.length, byStatus },
      counted,
      conflicts: union.conflicts,
      reportsRead,
      reportFailures,
      perSecond,
      counterEntries,
    };
  } finally {
    await nginx.stop();
  }
}
