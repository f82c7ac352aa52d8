/**
 * The reliability figures behind README's "Reliability" section:
 * `bun run bench/reliability.ts [--soak-seconds=600] [--rate=5000]` (root,
 * ~15 minutes). Runs the compiled plugin (built first) through:
 *   soak    ~5,000 req/s for 10 min with /report every second: counts against
 *           nginx's access log, agent RSS and CPU first vs last minute,
 *           kernel counters map occupancy
 *   churn   5,000 short-lived server processes, then 200,000 short
 *           connections to nginx: counts, state back to baseline
 *   abuse   the report socket under 5,000 idle connections, slow readers,
 *           malformed requests and pipelined floods: probe latency, RSS
 *   signals stop latency after SIGTERM; valid reports after SIGSTOP 5 s
 * The exact pass/fail versions of each run in `bun test` (test/reliability/).
 * Writes build/bench/reliability.json and prints a Markdown table.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildBinary } from "../build";
import { churn, startForkServer } from "../test/support/churn";
import { mapIdsOf, mapKeys } from "../test/support/kernel_maps";
import { pidsIn, startPlugin, type RunningPlugin } from "../test/support/plugin";
import { probeOnce, startAbuse } from "../test/support/report_abuse";
import { startNginx } from "../test/support/servers";
import { SampleUnion } from "../test/support/sample_union";
import { soak } from "../test/support/soak";
import { median, OUT_DIR, percentile, round } from "./lib/common";

const PORTS = { soak: 18780, fork: 18781, nginx: 18782 };
const log = (line: string) => process.stderr.write(`${line}\n`);

function arg(name: string, fallback: number): number {
  const raw = process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    process.stderr.write(`reliability: --${name} must be a positive whole number\n`);
    process.exit(1);
  }
  return value;
}

const rssMiB = (pid: number) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function soakFigures(seconds: number, rate: number) {
  const plugin = await startPlugin({ binary: true });
  try {
    const r = await soak({ agentPid: plugin.proc.pid, hostId: plugin.hostId, report: () => plugin.report(), port: PORTS.soak, seconds, rate, log });
    const minute = Math.min(60, Math.floor(r.perSecond.length / 3));
    const first = r.perSecond.slice(1, minute + 1);
    const last = r.perSecond.slice(-minute);
    return {
      seconds,
      rate: round(r.sent.requests / seconds, 0),
      sent: r.sent.requests,
      counted: r.counted.requests,
      exact: r.counted.requests === r.sent.requests && r.counted.byStatus["200"] === r.sent.byStatus["200"] && r.conflicts.length === 0,
      reports: r.reportsRead,
      reportFailures: r.reportFailures,
      rssFirstMinuteMiB: round(mean(first.map((s) => s.rssMiB))),
      rssLastMinuteMiB: round(mean(last.map((s) => s.rssMiB))),
      cpuFirstMinutePercent: round(mean(first.map((s) => s.cpuPercent)), 2),
      cpuLastMinutePercent: round(mean(last.map((s) => s.cpuPercent)), 2),
      nginxCounters: r.counterEntries.map((e) => e.nginx),
      // Of those, the rows that are not latency buckets: requests and 200 per worker (each bucket keeps its own duration sum).
      nginxCountRows: r.counterEntries.map((e) => e.nginxCounts),
      allCounters: r.counterEntries.map((e) => e.all),
    };
  } finally {
    await plugin.stop();
  }
}

async function churnFigures() {
  const plugin = await startPlugin({ binary: true, args: ["--window", "5"] });
  try {
    const countersId = mapIdsOf(plugin.proc.pid).counters!;
    const rssBefore = rssMiB(plugin.proc.pid);
    // Processes: one forked per connection, 3 requests each.
    const fork = await startForkServer(PORTS.fork);
    const PROCESSES = 5000;
    const union = new SampleUnion(plugin.hostId);
    const stopFollowing = union.follow(() => plugin.report());
    let t = performance.now();
    const answers = await churn(PORTS.fork, PROCESSES, 3, 16);
    const processSeconds = (performance.now() - t) / 1000;
    for (let i = 0; i < 100 && fork.children.size < PROCESSES; i++) await Bun.sleep(100);
    await Bun.sleep(2500);
    await stopFollowing();
    const children = new Set(fork.children.keys());
    const countedForked = union.totals((pid) => children.has(pid)).http_requests_per_second ?? 0;
    await fork.stop();

    // Connections: short ones (one request, then close) to nginx, checked against its access log.
    const dir = mkdtempSync(join(tmpdir(), "hs-churn-"));
    const nginx = await startNginx({ port: PORTS.nginx, workers: 2, locations: `location = /short { access_log ${dir}/access.log; return 200 "ok\\n"; }` });
    const CONNECTIONS = 200_000;
    t = performance.now();
    const connAnswers = await churn(PORTS.nginx, CONNECTIONS, 1, 32, "/short");
    const connSeconds = (performance.now() - t) / 1000;
    // The run outlasts the 5 s window, so the total is read from the kernel's cumulative
    // counters of nginx's workers (fresh processes: nothing else counted there), the truth from its log.
    await plugin.reportAfter(Date.now());
    const logged = readFileSync(`${dir}/access.log`, "utf8").trim().split("\n").length;
    const dump = JSON.parse(Bun.spawnSync(["bpftool", "map", "dump", "id", String(countersId), "-j"]).stdout.toString()) as Array<{ key: string[]; value?: string[]; values?: Array<{ value: string[] }> }>;
    const u64 = (bytes: string[]) => Buffer.from(bytes.map(Number)).readBigUInt64LE(0);
    let countedConnections = 0n;
    for (const entry of dump) {
      const key = Buffer.from(entry.key.map(Number));
      if (!nginx.servingPids.includes(key.readUInt32LE(0)) || key.readUInt32LE(4) !== 0) continue;
      countedConnections += entry.value ? u64(entry.value) : (entry.values ?? []).reduce((s, v) => s + u64(v.value), 0n);
    }
    await nginx.stop();

    // Back to baseline: no counters and no nodes of any of those processes.
    const gone = new Set([...children, ...nginx.servingPids]);
    let left = { counters: -1, nodes: -1 };
    let backAfterMs = 0;
    t = performance.now();
    for (let i = 0; i < 60; i++) {
      const report = await plugin.report();
      left = {
        counters: mapKeys(countersId).filter((key) => gone.has(Buffer.from(key).readUInt32LE(0))).length,
        nodes: pidsIn(report, plugin.hostId).filter((pid) => gone.has(pid)).length,
      };
      backAfterMs = performance.now() - t;
      if (left.counters === 0 && left.nodes === 0) break;
      await Bun.sleep(500);
    }
    return {
      processes: PROCESSES,
      processRequests: answers,
      processRequestsCounted: countedForked,
      processesPerSecond: round(PROCESSES / processSeconds, 0),
      connections: CONNECTIONS,
      connectionAnswers: connAnswers,
      connectionsLogged: logged,
      connectionsCounted: Number(countedConnections),
      connectionsPerSecond: round(CONNECTIONS / connSeconds, 0),
      leftAfter: left,
      baselineAfterSeconds: round(backAfterMs / 1000),
      rssBeforeMiB: round(rssBefore),
      rssAfterMiB: round(rssMiB(plugin.proc.pid)),
    };
  } finally {
    await plugin.stop();
  }
}

async function abuseFigures() {
  const plugin = await startPlugin({ binary: true });
  try {
    await plugin.reportAfter(Date.now());
    const quiet: number[] = [];
    for (let i = 0; i < 40; i++) {
      quiet.push((await probeOnce(plugin.socket)).ms);
      await Bun.sleep(100);
    }
    const rssBefore = rssMiB(plugin.proc.pid);
    const abuse = await startAbuse(plugin.socket, { idle: 5000, slowReaders: 200, slowRequests: 200, malformed: 8, flooders: 8, floodDepth: 200 });
    const probes: Array<{ ms: number; ok: boolean }> = [];
    let rssPeak = 0;
    for (let i = 0; i < 120; i++) {
      probes.push(await probeOnce(plugin.socket));
      rssPeak = Math.max(rssPeak, rssMiB(plugin.proc.pid));
      await Bun.sleep(250);
    }
    abuse.stop();
    await Bun.sleep(2000);
    const ms = probes.map((p) => p.ms);
    return {
      ...abuse.counts,
      probes: probes.length,
      probeFailures: probes.filter((p) => !p.ok).length,
      quietP50ms: round(median(quiet), 2),
      p50ms: round(median(ms), 2),
      p99ms: round(percentile(ms, 99), 2),
      maxms: round(Math.max(...ms), 2),
      rssBeforeMiB: round(rssBefore),
      rssPeakMiB: round(rssPeak),
      rssAfterMiB: round(rssMiB(plugin.proc.pid)),
    };
  } finally {
    await plugin.stop();
  }
}

async function signalFigures() {
  const stops: number[] = [];
  for (let i = 0; i < 5; i++) {
    const plugin: RunningPlugin = await startPlugin({ binary: true });
    await plugin.reportAfter(Date.now());
    const t = performance.now();
    plugin.proc.kill("SIGTERM");
    await plugin.proc.exited;
    stops.push(performance.now() - t);
  }
  const plugin = await startPlugin({ binary: true });
  try {
    await plugin.reportAfter(Date.now());
    process.kill(plugin.proc.pid, "SIGSTOP");
    await Bun.sleep(5000);
    process.kill(plugin.proc.pid, "SIGCONT");
    const t = performance.now();
    let probe = await probeOnce(plugin.socket);
    while (!probe.ok && performance.now() - t < 5000) probe = await probeOnce(plugin.socket);
    return { stopMedianMs: round(median(stops), 0), stopMaxMs: round(Math.max(...stops), 0), validReportAfterSigcontMs: round(performance.now() - t, 1) };
  } finally {
    await plugin.stop();
  }
}

if (process.getuid?.() !== 0) {
  process.stderr.write("reliability: loads eBPF programs: run as root\n");
  process.exit(1);
}
const soakSeconds = arg("soak-seconds", 600);
const rate = arg("rate", 5000);
log("building the binary");
await buildBinary();
const started = performance.now();
log("signals"); const signals = await signalFigures();
log("report socket abuse"); const abuse = await abuseFigures();
log("churn"); const churned = await churnFigures();
log(`soak: ${soakSeconds} s at ~${rate} req/s`); const soaked = await soakFigures(soakSeconds, rate);
const results = { soak: soaked, churn: churned, abuse, signals, minutes: round((performance.now() - started) / 60000) };
mkdirSync(OUT_DIR, { recursive: true });
writeFileSync(`${OUT_DIR}/reliability.json`, `${JSON.stringify(results, null, 2)}\n`);
console.log(JSON.stringify(results, null, 2));
