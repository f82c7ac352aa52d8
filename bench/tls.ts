/**
 * What HTTPS capture costs, per hooked TLS call and per request:
 *   - TLS call pairs with no network (bench/tls_pairs.py: Python's ssl over
 *     memory BIOs, one SSL_write_ex and one SSL_read_ex a pair, each a
 *     hooked call), in ns per pair;
 *   - nginx over HTTPS (one worker, a 256-byte file, wrk -t1 -c32
 *     keep-alive; wrk links libssl too, so both sides are hooked), in req/s.
 * Variants, interleaved: none; floor (bench/tls_floor.bpf.c, empty
 * programs on exactly the probes the plugin attaches to Debian's libssl); limit
 * (bench/tls_limit.bpf.c on those same probes: the cheapest exact body, a
 * prototype); plugin; and bpftrace counting SSL_write calls, a stand-in
 * for a peer doing less. Per hooked call the report splits each variant's
 * added cost into the floor's and its body's; per HTTPS request it gives
 * the nginx worker's added time (from req/s) and how many hooked calls a
 * request makes (counted by the limit prototype, both ends: wrk links libssl).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { TLS_PROBES, type TlsProbe } from "../src/kernel/kernel_abi";
import { ElfFile } from "../src/tls/elf";
import { opensslProbes } from "../src/tls/openssl";
import { median, REPO, round, staticPage, table } from "./lib/common";
import { buildPrototype, prototypeObject, readUntil, startPlugin, stopProcess, type Running } from "./lib/variants";
import { runWrk } from "./wrk";
import { runNginx } from "../test/support/servers";

export const TLS_VARIANTS = ["none", "floor", "limit", "plugin", "bpftrace"] as const;
type TlsVariant = (typeof TLS_VARIANTS)[number];
const LIBSSL = "/usr/lib/x86_64-linux-gnu/libssl.so.3";

export interface TlsSummary {
  /** Median ns per write+read pair, by variant; and added over none, per hooked call (2 per pair). */
  pairNs: Record<string, number>;
  addedPerCallNs: Record<string, number>;
  /** Median nginx https req/s by variant, and relative to none. */
  rps: Record<string, number>;
  rpsRatio: Record<string, number>;
  /** The nginx worker's added time per request (1/req/s over none's), by variant. */
  addedPerRequestNs: Record<string, number>;
  /** Hooked calls per nginx https request, both ends (median over rounds, from the limit prototype's counts). */
  hookedCallsPerRequest: number;
  /**
   * Time inside the variant's programs as the kernel measures it
   * (kernel.bpf_stats_enabled, in a phase of its own): per hooked call over
   * the pairs, and per nginx https request (both ends). Steadier than the
   * differences of wall-clock figures on a shared machine; the floor's
   * empty programs show what the measurement itself adds to each run.
   */
  inProgramPerCallNs: Record<string, number>;
  inProgramPerRequestNs: Record<string, number>;
  rounds: number;
}

/** The limit prototype's stand-in for one of the plugin's probes, by the call the probe sits on (its cookie). */
function limitProgram(probe: TlsProbe): string {
  if (probe.retprobe) return "limit_return";
  const kind = TLS_PROBES[probe.cookie];
  if (kind === "openssl_read_ex") return "limit_read_ex";
  if (kind === "openssl_write_ex") return "limit_write_ex";
  if (kind === "openssl_clear" || kind === "openssl_free") return "limit_clear";
  throw new Error(`limit: no stand-in for the plugin's ${kind} probe`);
}

/** The plugin's own placement in Debian's libssl, from its own code. */
function pluginProbes() {
  const elf = ElfFile.open(LIBSSL);
  try {
    return opensslProbes(elf);
  } finally {
    elf.close();
  }
}

/**
 * The floor (bench/tls_floor.bpf.c, empty) or the limit prototype on the
 * plugin's own placement, from its own code, held by bench/lib/attach.ts.
 */
async function startOnPluginProbes(name: "floor" | "limit"): Promise<Running> {
  const { placement, probes } = pluginProbes();
  if (placement !== "internal") throw new Error(`${name}: ${LIBSSL} is probed on its exported calls, which the ${name} variant does not mirror`);
  const program = (p: TlsProbe) => (name === "limit" ? limitProgram(p) : p.retprobe ? "floor_return" : "floor_entry");
  const points = probes.map((p) => `${program(p)}=${LIBSSL}:0x${p.offset.toString(16)}${p.retprobe ? ":return" : ""}`);
  const started = performance.now();
  const proc = Bun.spawn([process.execPath, join(REPO, "bench", "lib", "attach.ts"), prototypeObject(name === "limit" ? "tls_limit" : "tls_floor"), ...points], { stdout: "pipe", stderr: "pipe" }) as Subprocess<"ignore", "pipe", "pipe">;
  await readUntil(proc, new RegExp(`attached ${points.length}\\b`), 30_000);
  return { name, pid: proc.pid, startMs: performance.now() - started, stop: () => stopProcess(proc) };
}

/** The limit prototype's counts so far, summed over CPUs: [calls, moved, requests, responses]. */
async function limitCounts(): Promise<number[]> {
  const dump = JSON.parse(await Bun.$`bpftool map dump name limit_counts -j`.quiet().text()) as Array<{ formatted: { key: number; values: Array<{ value: number }> } }>;
  const counts = [0, 0, 0, 0];
  for (const { formatted } of dump) counts[formatted.key] = formatted.values.reduce((sum, v) => sum + v.value, 0);
  return counts;
}

/** Ids of the uprobe programs (BPF_PROG_TYPE_KPROBE) loaded now, with their run-time totals. */
async function uprobePrograms(): Promise<Map<number, number>> {
  const progs = JSON.parse(await Bun.$`bpftool prog show -j`.quiet().text()) as Array<{ id: number; type: string; run_time_ns?: number }>;
  return new Map(progs.filter((p) => p.type === "kprobe").map((p) => [p.id, p.run_time_ns ?? 0]));
}

const BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled";

/** Nanoseconds the kernel spent in programs `ids` while `work` ran, with run-time statistics on only meanwhile. */
async function inProgramNs(ids: number[], work: () => Promise<void>): Promise<number> {
  const was = readFileSync(BPF_STATS, "utf8").trim();
  writeFileSync(BPF_STATS, "1");
  try {
    const before = await uprobePrograms();
    await work();
    const after = await uprobePrograms();
    return ids.reduce((sum, id) => sum + (after.get(id) ?? 0) - (before.get(id) ?? 0), 0);
  } finally {
    writeFileSync(BPF_STATS, was);
  }
}

async function startTlsVariant(name: TlsVariant, dir: string): Promise<Running> {
  if (name === "none") return { name: "none", startMs: 0, stop: async () => {} };
  if (name === "plugin") return startPlugin("plugin");
  if (name === "floor" || name === "limit") return startOnPluginProbes(name);
  const script = join(dir, `${name}.bt`);
  writeFileSync(script, `uprobe:${LIBSSL}:SSL_write { @writes = count(); }\n`);
  const started = performance.now();
  const proc = Bun.spawn(["bpftrace", script], { stdout: "pipe", stderr: "pipe" }) as Subprocess<"ignore", "pipe", "pipe">;
  await readUntil(proc, /Attaching \d+ probes?/, 60_000);
  await Bun.sleep(300);
  // bpftrace says it attaches before it has: one that refused a probe has exited by now.
  if (proc.exitCode !== null) throw new Error(`bpftrace exited ${proc.exitCode}: ${await new Response(proc.stderr).text()}`);
  return { name, pid: proc.pid, startMs: performance.now() - started, stop: () => stopProcess(proc) };
}

async function pairsNs(dir: string, pairs: number): Promise<number> {
  const proc = Bun.spawn(["/usr/bin/python3", join(REPO, "bench", "tls_pairs.py"), String(pairs), join(dir, "cert.pem"), join(dir, "key.pem")], { stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code !== 0) throw new Error(`tls_pairs.py failed: ${await new Response(proc.stderr).text()}`);
  return Number(out.trim());
}

async function startHttpsNginx(dir: string, port: number): Promise<() => Promise<void>> {
  writeFileSync(join(dir, "static.html"), staticPage());
  const nginx = await runNginx(dir, port, {
    http: `keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${dir}/cert.pem;
    ssl_certificate_key ${dir}/key.pem;
    location = /static.html { root ${dir}; }
  }`,
  });
  return nginx.stop;
}

export async function benchTls(options: { rounds: number; seconds: number; pairs: number; port: number; log: (line: string) => void }): Promise<TlsSummary> {
  await buildPrototype("tls_floor");
  await buildPrototype("tls_limit");
  const dir = mkdtempSync(join(tmpdir(), "hs-bench-tls-"));
  const made = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1"]);
  if (made.exitCode !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
  const stopNginx = await startHttpsNginx(dir, options.port);
  const pairs: Record<string, number[]> = {};
  const rps: Record<string, number[]> = {};
  const callsPerRequest: number[] = [];
  const perCall: Record<string, number[]> = {};
  const perRequest: Record<string, number[]> = {};
  try {
    for (let r = 0; r < options.rounds; r++) {
      const order = TLS_VARIANTS.map((_, i) => TLS_VARIANTS[(i + r) % TLS_VARIANTS.length]!);
      for (const name of order) {
        const loaded = await uprobePrograms();
        const running = await startTlsVariant(name, dir);
        // The variant's own programs: those loaded since (another session starting probes meanwhile would blur this).
        const ids = [...(await uprobePrograms()).keys()].filter((id) => !loaded.has(id));
        try {
          // Three runs of pairs, the median kept: a single run on a shared machine is too noisy.
          const runs = [await pairsNs(dir, options.pairs), await pairsNs(dir, options.pairs), await pairsNs(dir, options.pairs)];
          (pairs[name] ??= []).push(median(runs));
          const before = name === "limit" ? await limitCounts() : undefined;
          const w = await runWrk({ url: `https://127.0.0.1:${options.port}/static.html`, seconds: options.seconds, connections: 32 });
          (rps[name] ??= []).push(w.rps);
          if (before) callsPerRequest.push(((await limitCounts())[0]! - before[0]!) / w.requests);
          if (name !== "none") {
            (perCall[name] ??= []).push((await inProgramNs(ids, async () => void (await pairsNs(dir, options.pairs)))) / (2 * options.pairs));
            let requests = 0;
            const ns = await inProgramNs(ids, async () => {
              requests = (await runWrk({ url: `https://127.0.0.1:${options.port}/static.html`, seconds: 2, connections: 32 })).requests;
            });
            (perRequest[name] ??= []).push(ns / requests);
          }
        } finally {
          await running.stop();
        }
        options.log(`    round ${r + 1}/${options.rounds} ${name} done`);
      }
    }
  } finally {
    await stopNginx();
  }
  const pairNs = Object.fromEntries(Object.entries(pairs).map(([v, list]) => [v, median(list)]));
  const rpsMedian = Object.fromEntries(Object.entries(rps).map(([v, list]) => [v, median(list)]));
  return {
    pairNs,
    addedPerCallNs: Object.fromEntries(TLS_VARIANTS.filter((v) => v !== "none").map((v) => [v, (pairNs[v]! - pairNs.none!) / 2])),
    rps: rpsMedian,
    rpsRatio: Object.fromEntries(TLS_VARIANTS.map((v) => [v, rpsMedian[v]! / rpsMedian.none!])),
    addedPerRequestNs: Object.fromEntries(TLS_VARIANTS.filter((v) => v !== "none").map((v) => [v, 1e9 / rpsMedian[v]! - 1e9 / rpsMedian.none!])),
    hookedCallsPerRequest: median(callsPerRequest),
    inProgramPerCallNs: Object.fromEntries(Object.entries(perCall).map(([v, list]) => [v, median(list)])),
    inProgramPerRequestNs: Object.fromEntries(Object.entries(perRequest).map(([v, list]) => [v, median(list)])),
    rounds: options.rounds,
  };
}

/** Per hooked call: the floor (attaching), the body (above the floor), the total and its ratio to the floor; then per request. */
export function tlsTable(s: TlsSummary): string {
  const floor = s.addedPerCallNs.floor!;
  const ns = (v: number) => `${round(v, 0)} ns`;
  return [
    table(
      ["variant", "ns per SSL_write_ex + SSL_read_ex pair", "floor per hooked call", "body per hooked call", "added per hooked call", "relative to the floor's"],
      TLS_VARIANTS.map((v) =>
        v === "none"
          ? [v, round(s.pairNs[v]!, 0), "-", "-", "-", "-"]
          : [v, round(s.pairNs[v]!, 0), v === "bpftrace" ? "-" : ns(floor), v === "bpftrace" ? "-" : ns(s.addedPerCallNs[v]! - floor), ns(s.addedPerCallNs[v]!), `${round(s.addedPerCallNs[v]! / floor, 2)}x`],
      ),
    ),
    "",
    `nginx over HTTPS (one worker, wrk -t1 -c32 keep-alive, a 256-byte file): ${round(s.hookedCallsPerRequest, 2)} hooked calls per request, both ends (wrk links libssl too).`,
    "",
    table(
      ["variant", "nginx https req/s", "relative to none", "nginx worker's added time per request"],
      TLS_VARIANTS.map((v) => [v, round(s.rps[v]!, 0), round(s.rpsRatio[v]!, 3), v === "none" ? "-" : ns(s.addedPerRequestNs[v]!)]),
    ),
    "",
    "Time inside the programs as the kernel counts it (kernel.bpf_stats_enabled, a phase of its own; the floor's empty programs show what counting adds to each run):",
    "",
    table(
      ["variant", "in programs per hooked call (pairs)", "above the floor's", "in programs per nginx https request (both ends)", "above the floor's"],
      TLS_VARIANTS.filter((v) => v !== "none").map((v) => {
        const call = s.inProgramPerCallNs[v]!;
        const request = s.inProgramPerRequestNs[v]!;
        const other = v === "bpftrace";
        return [v, ns(call), other ? "-" : ns(call - s.inProgramPerCallNs.floor!), ns(request), other ? "-" : ns(request - s.inProgramPerRequestNs.floor!)];
      }),
    ),
  ].join("\n");
}
