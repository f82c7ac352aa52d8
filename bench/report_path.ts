/**
 * Benchmark 4: /report latency and body size with 100, 1,000 and 10,000
 * active processes. Spawning 10,000 HTTP servers is impractical, so the
 * suite writes their counters straight into the running plugin's kernel
 * `counters` map (two keys per process: requests and status 200, bumped
 * every second so each process stays active); everything from there on is
 * the product's real path: batch lookup, collector, report, socket.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { cpuSeconds, median, memoryKiB, percentile, round, table } from "./lib/common";
import { startPlugin } from "./lib/variants";

/** Fake tgids start above any real pid_max default (32,768 here; 4,194,304 at most). */
const FIRST_FAKE_TGID = 5_000_000;

function openMapTools() {
  const { ptr: P, i32, u32 } = FFIType;
  return dlopen("libbpf.so.1", {
    bpf_map_get_fd_by_id: { args: [u32], returns: i32 },
    bpf_map_update_batch: { args: [i32, P, P, P, P], returns: i32 },
  }).symbols;
}

/** The id of the counters map held by process pid: an 8-byte-key, 8-byte-value hash. */
function countersMapId(pid: number): number {
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target = "";
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== "anon_inode:bpf-map") continue;
    const info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8");
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\S+)`, "m").exec(info)?.[1]);
    if (field("map_type") === 1 && field("key_size") === 8 && field("value_size") === 8) return field("map_id");
  }
  throw new Error(`process ${pid} holds no counters map`);
}

export interface ReportPoint {
  processes: number;
  requests: number;
  p50ms: number;
  p99ms: number;
  maxms: number;
  bodyBytes: number;
  agentCpuPercent: number;
  rssMiB: number;
}

async function measureAt(processes: number, warmSeconds: number, samples: number, log: (s: string) => void): Promise<ReportPoint> {
  const tools = openMapTools();
  const plugin = await startPlugin();
  try {
    const id = countersMapId(plugin.pid!);
    const fd = tools.bpf_map_get_fd_by_id(id);
    if (fd < 0) throw new Error(`cannot open map id ${id}`);
    const entries = processes * 2;
    const keys = new Uint32Array(entries * 2);
    const values = new BigUint64Array(entries);
    for (let i = 0; i < processes; i++) {
      keys.set([FIRST_FAKE_TGID + i, 0, FIRST_FAKE_TGID + i, 200], i * 4);
    }
    let generation = 0n;
    const bump = () => {
      generation++;
      // Each process serves (1 + i % 50) requests a second, all answered 200.
      for (let i = 0; i < processes; i++) values.fill(generation * BigInt(1 + (i % 50)), i * 2, i * 2 + 2);
      const count = new Uint32Array([entries]);
      const rc = tools.bpf_map_update_batch(fd, ptr(keys), ptr(values), ptr(count), null);
      if (rc < 0 || count[0] !== entries) throw new Error(`bpf_map_update_batch wrote ${count[0]} of ${entries} (rc ${rc})`);
    };
    bump();
    const bumper = setInterval(bump, 1000);
    try {
      // Fill the whole 15-second window so the body is at its steady-state size.
      log(`    ${processes} processes: filling the report window (${warmSeconds} s)`);
      await Bun.sleep(warmSeconds * 1000);
      const latencies: number[] = [];
      let bodyBytes = 0;
      const cpu0 = cpuSeconds(plugin.pid!);
      const t0 = performance.now();
      // Sequential GETs spread over several ticks, so some land while a report is being built.
      for (let i = 0; i < samples; i++) {
        const start = performance.now();
        const res = await plugin.fetch("/report?api_version=1&probe_id=bench");
        const body = await res.arrayBuffer();
        latencies.push(performance.now() - start);
        if (!res.ok) throw new Error(`/report answered ${res.status}`);
        bodyBytes = body.byteLength;
        await Bun.sleep(20);
      }
      const wall = (performance.now() - t0) / 1000;
      const agentCpuPercent = ((cpuSeconds(plugin.pid!) - cpu0) / wall) * 100;
      const text = await (await plugin.fetch("/report")).text();
      const nodes = Object.keys((JSON.parse(text) as { Process: { nodes: object } }).Process.nodes).length;
      if (nodes !== processes) throw new Error(`the report holds ${nodes} processes, expected ${processes}`);
      return {
        processes,
        requests: samples,
        p50ms: median(latencies),
        p99ms: percentile(latencies, 99),
        maxms: Math.max(...latencies),
        bodyBytes,
        agentCpuPercent,
        rssMiB: memoryKiB(plugin.pid!).rss / 1024,
      };
    } finally {
      clearInterval(bumper);
    }
  } finally {
    await plugin.stop();
  }
}

export async function benchReportPath(options: { sizes: number[]; warmSeconds: number; samples: number; log: (s: string) => void }) {
  const points: ReportPoint[] = [];
  for (const n of options.sizes) points.push(await measureAt(n, options.warmSeconds, options.samples, options.log));
  return points;
}

export function reportTable(points: ReportPoint[]): string {
  return table(
    ["active processes", "GET /report p50 ms", "p99 ms", "max ms", "body bytes", "agent CPU % of a core", "agent RSS MiB"],
    points.map((p) => [
      p.processes.toLocaleString("en-US"),
      round(p.p50ms, 2),
      round(p.p99ms, 2),
      round(p.maxms, 2),
      p.bodyBytes.toLocaleString("en-US"),
      round(p.agentCpuPercent, 1),
      round(p.rssMiB, 1),
    ]),
  );
}
