/**
 * Benchmark 4: /report latency and body size with 100, 1,000 and 10,000
 * active processes. Spawning 10,000 HTTP servers is impractical, so the
 * suite writes their counters straight into the running plugin's kernel
 * `counters` map (two keys per process: requests and status 200, bumped
 * every second so each process stays active); everything from there on is
 * the product's real path: batch lookup, collector, report, socket.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { cpuSeconds, median, memoryKiB, percentile, REPO, round, table } from "./lib/common";
import { startPlugin, type ProductVariant } from "./lib/variants";

/** Fake tgids start above any real pid_max default (32,768 here; 4,194,304 at most). */
export const FIRST_FAKE_TGID = 5_000_000;

/** The counters map held by process pid: an 8-byte-key hash, per CPU since issue 8, with 8-byte values (a count) or, since db290cd, 16 (a count and nanoseconds). */
export function countersMap(pid: number): { id: number; perCpu: boolean; valueSize: number } {
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
    const type = field("map_type"); // BPF_MAP_TYPE_HASH 1, BPF_MAP_TYPE_PERCPU_HASH 5
    // A u64 count per key before this build; { count, nanoseconds } since.
    const valueSize = field("value_size");
    if ((type === 1 || type === 5) && field("key_size") === 8 && (valueSize === 8 || valueSize === 16)) return { id: field("map_id"), perCpu: type === 5, valueSize };
  }
  throw new Error(`process ${pid} holds no counters map`);
}

export interface ReportPoint {
  /** Which binary: "this build", or "previous" (the product before issue 8). */
  build: string;
  processes: number;
  requests: number;
  p50ms: number;
  p99ms: number;
  maxms: number;
  bodyBytes: number;
  agentCpuPercent: number;
  rssMiB: number;
}

export interface Build {
  name: string;
  variant: ProductVariant;
}

async function measureAt(build: Build, processes: number, warmSeconds: number, samples: number, log: (s: string) => void): Promise<ReportPoint> {
  // Each build as shipped: its own default window decides how much every report carries.
  const plugin = await startPlugin(build.variant, null);
  try {
    const map = countersMap(plugin.pid!);
    const bumper = Bun.spawn([process.execPath, `${REPO}/bench/lib/bump_counters.ts`, String(map.id), String(FIRST_FAKE_TGID), String(processes), map.perCpu ? "percpu" : "shared", String(map.valueSize)], {
      stdout: "pipe",
      stderr: "inherit",
    });
    const reader = bumper.stdout.getReader();
    const first = await reader.read();
    if (first.done) throw new Error("bump_counters exited before writing");
    try {
      // Fill the whole window (up to 15 s in older builds) so the body is at its steady-state size.
      log(`    ${build.name}, ${processes} processes: filling the report window (${warmSeconds} s)`);
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
      // Real servers of the host (other tests on a shared machine) may be in it too: count ours.
      const ids = Object.keys((JSON.parse(text) as { Process: { nodes: object } }).Process.nodes);
      const ours = ids.filter((id) => Number(id.split(";")[1]) >= FIRST_FAKE_TGID).length;
      if (ours !== processes) throw new Error(`the report holds ${ours} of the ${processes} processes written`);
      return {
        build: build.name,
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
      bumper.kill("SIGTERM");
      await bumper.exited;
    }
  } finally {
    await plugin.stop();
  }
}

/**
 * Each size measured `rounds` times, the builds interleaved within each
 * round (baseline, this build, baseline, ...); every figure is the median
 * over rounds.
 */
export async function benchReportPath(options: {
  sizes: number[];
  warmSeconds: number;
  samples: number;
  builds: Build[];
  rounds: number;
  log: (s: string) => void;
}) {
  const runs = new Map<string, ReportPoint[]>();
  for (let round = 0; round < options.rounds; round++)
    for (const n of options.sizes)
      for (const build of options.builds) {
        const key = `${build.name}/${n}`;
        runs.set(key, [...(runs.get(key) ?? []), await measureAt(build, n, options.warmSeconds, options.samples, options.log)]);
      }
  return [...runs.values()].map((points): ReportPoint => {
    const of = (field: keyof ReportPoint) => median(points.map((p) => p[field] as number));
    return {
      build: points[0]!.build,
      processes: points[0]!.processes,
      requests: points[0]!.requests,
      p50ms: of("p50ms"),
      p99ms: of("p99ms"),
      maxms: of("maxms"),
      bodyBytes: of("bodyBytes"),
      agentCpuPercent: of("agentCpuPercent"),
      rssMiB: of("rssMiB"),
    };
  });
}

export function reportTable(points: ReportPoint[]): string {
  return table(
    ["build", "active processes", "GET /report p50 ms", "p99 ms", "max ms", "body bytes", "agent CPU % of a core", "agent RSS MiB"],
    points.map((p) => [
      p.build,
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
