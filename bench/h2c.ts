/**
 * HTTP/2 in cleartext end to end: nghttpd (nghttp2's server, one thread)
 * driven by h2load on loopback, 2 connections of 100 concurrent streams
 * each, for a fixed number of requests; requests/s and nghttpd's CPU time
 * per request under each variant, and what a product variant counted.
 * Then, with the plugin alone, where its time goes: the kernel's own timing
 * of its programs (BPF run-time statistics, on for that one run only: they
 * add ~20 ns a run) per call, per frame and per request, and the socket
 * storage a connection holds.
 */
import { $ } from "bun";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cpuNanoseconds, median, pct, PORTS, round, table } from "./lib/common";
import { interleaved, PRODUCT_OBJECT, requestsCounted, startVariant, type VariantName } from "./lib/variants";

interface RoundResult {
  rps: number;
  cpuUsPerRequest: number;
  /** product variants only: requests its report counted for nghttpd over the window. */
  counted?: number;
}

export interface H2cSummary {
  rounds: number;
  requests: number;
  streams: number;
  variants: VariantName[];
  rps: Record<string, number>;
  /** variant -> median over rounds of (variant rps / same round's none rps) */
  rpsRatio: Record<string, number>;
  cpuUsPerRequest: Record<string, number>;
  /** variant -> median over rounds of its CPU per request against the same round's none, in % */
  cpuChange: Record<string, number>;
  counted: Record<string, number[]>;
  raw: Record<string, RoundResult[]>;
  /** With the plugin variant: where its time goes. */
  cost?: H2cCost;
}

export interface H2cCost {
  requests: number;
  /** Runs and ns per run of each of the socket capture's programs over the load. */
  programs: Record<string, { runs: number; nsPerRun: number }>;
  /** Frames per request by the plan, each walked at both ends (h2load's call and nghttpd's). */
  framesPerRequest: number;
  nsPerFrame: number;
  /** The capture's program time over the load, per request (both ends). */
  nsPerRequest: number;
  /** Socket-local storage per connection: the plugin's value (BTF of its object) and the kernel's element around it (vmlinux BTF). */
  connBytes: number;
  elemBytes: number;
}

/* Per request: h2load's HEADERS, nghttpd's HEADERS and DATA (a 256-byte page, END_STREAM on the DATA). The
 * connections' own frames (SETTINGS, WINDOW_UPDATE) are a few per thousand requests and left out. */
const FRAMES_PER_REQUEST = 3;
const BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled";
/* The socket capture's programs: every TCP call, and the closes. (TLS probes run only for other sessions' TLS here.) */
const CAPTURE_PROGRAMS = ["hs_sock_recv", "hs_sock_send", "hs_tcp_state"];

/** A struct's size from a BTF file, as bpftool prints it raw. */
async function btfSize(file: string, struct: string): Promise<number> {
  const dump = await $`bpftool btf dump file ${file}`.quiet().text();
  const size = new RegExp(`STRUCT '${struct}' size=(\\d+)`).exec(dump)?.[1];
  if (!size) throw new Error(`no struct ${struct} in ${file}'s BTF`);
  return Number(size);
}

type Programs = Map<number, { name: string; ns: number; runs: number }>;

/** Run time and count of every program loaded, by program id. */
async function programTimes(): Promise<Programs> {
  const progs = (await $`bpftool prog show -j`.json()) as { id: number; name: string; run_time_ns?: number; run_cnt?: number }[];
  return new Map(progs.map((p) => [p.id, { name: p.name, ns: p.run_time_ns ?? 0, runs: p.run_cnt ?? 0 }]));
}

/** One load under the plugin with BPF run-time statistics on: ns per call, per frame and per request. */
async function measureCost(url: string, requests: number, streams: number): Promise<H2cCost> {
  // The plugin's programs: those of its names not loaded before it started (bpftool here does not name owners).
  const loaded = await programTimes();
  const plugin = await startVariant("plugin");
  const wasOn = readFileSync(BPF_STATS, "utf8").trim() !== "0";
  try {
    writeFileSync(BPF_STATS, "1\n");
    const before = await programTimes();
    await runH2load(url, requests, streams);
    const after = await programTimes();
    const programs: H2cCost["programs"] = {};
    let totalNs = 0;
    for (const [id, now] of after) {
      const then = before.get(id);
      if (loaded.has(id) || !CAPTURE_PROGRAMS.includes(now.name) || !then) continue;
      const runs = now.runs - (then?.runs ?? 0);
      if (runs <= 0) continue;
      const ns = now.ns - (then?.ns ?? 0);
      totalNs += ns;
      const sum = programs[now.name] ?? { runs: 0, nsPerRun: 0 };
      sum.nsPerRun = (sum.nsPerRun * sum.runs + ns) / (sum.runs + runs);
      sum.runs += runs;
      programs[now.name] = sum;
    }
    if (!Object.keys(programs).length) throw new Error("bpftool showed no run of the plugin's programs");
    return {
      requests,
      programs,
      framesPerRequest: FRAMES_PER_REQUEST,
      nsPerFrame: totalNs / (requests * FRAMES_PER_REQUEST * 2),
      nsPerRequest: totalNs / requests,
      connBytes: await btfSize(PRODUCT_OBJECT, "hs_conn"),
      elemBytes: await btfSize("/sys/kernel/btf/vmlinux", "bpf_local_storage_elem"),
    };
  } finally {
    writeFileSync(BPF_STATS, wasOn ? "1\n" : "0\n");
    await plugin.stop();
  }
}

async function startNghttpd(port: number): Promise<{ pid: number; stop(): Promise<void> }> {
  const docs = mkdtempSync(join(tmpdir(), "hs-bench-h2c-"));
  writeFileSync(join(docs, "index.html"), "x".repeat(256));
  const proc = Bun.spawn(["nghttpd", "--no-tls", "-d", docs, String(port)], { stdout: "ignore", stderr: "inherit" });
  for (let i = 0; ; i++) {
    try {
      (await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } })).end();
      break;
    } catch {
      if (i > 200) throw new Error(`nghttpd did not listen on ${port}`);
      await Bun.sleep(25);
    }
  }
  return {
    pid: proc.pid,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

async function runH2load(url: string, requests: number, streams: number): Promise<number> {
  const proc = Bun.spawn(["h2load", "-n", String(requests), "-c", "2", "-m", String(streams), url], { stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  const rps = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out)?.[1];
  const done = /requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded/.exec(out);
  if (code !== 0 || !rps || !done || Number(done[2]) !== requests) throw new Error(`h2load did not complete its ${requests} requests:\n${out}`);
  return Number(rps);
}

export async function benchH2c(options: { rounds: number; requests: number; streams: number; variants: VariantName[]; log: (s: string) => void }): Promise<H2cSummary> {
  const nghttpd = await startNghttpd(PORTS.h2c);
  const url = `http://127.0.0.1:${PORTS.h2c}/index.html`;
  try {
    const raw = await interleaved(
      options.variants,
      options.rounds,
      async (variant) => {
        const before = cpuNanoseconds(nghttpd.pid);
        const rps = await runH2load(url, options.requests, options.streams);
        const result: RoundResult = { rps, cpuUsPerRequest: (cpuNanoseconds(nghttpd.pid) - before) / 1000 / options.requests };
        if (variant.fetch) result.counted = await requestsCounted(variant, [nghttpd.pid]);
        return result;
      },
      options.log,
    );
    const variants = options.variants;
    let cost: H2cCost | undefined;
    if (variants.includes("plugin")) {
      options.log("  h2c: the plugin alone, with BPF run-time statistics");
      cost = await measureCost(url, options.requests, options.streams);
    }
    const per = (f: (r: RoundResult) => number) => Object.fromEntries(variants.map((v) => [v, median(raw[v].map(f))])) as Record<string, number>;
    const vsNone = (f: (r: RoundResult) => number) =>
      Object.fromEntries(variants.filter((v) => v !== "none" && raw.none).map((v) => [v, median(raw[v].map((r, i) => f(r) / f(raw.none[i]!)))])) as Record<string, number>;
    return {
      rounds: options.rounds,
      requests: options.requests,
      streams: options.streams,
      variants,
      rps: per((r) => r.rps),
      rpsRatio: vsNone((r) => r.rps),
      cpuUsPerRequest: per((r) => r.cpuUsPerRequest),
      cpuChange: Object.fromEntries(Object.entries(vsNone((r) => r.cpuUsPerRequest)).map(([v, x]) => [v, (x - 1) * 100])),
      counted: Object.fromEntries(variants.filter((v) => raw[v].some((r) => r.counted !== undefined)).map((v) => [v, raw[v].map((r) => r.counted ?? 0)])),
      raw,
      ...(cost && { cost }),
    };
  } finally {
    await nghttpd.stop();
  }
}

export function h2cTables(s: H2cSummary): string {
  const others = s.variants.filter((v) => v !== "none");
  const figures = table(
    [`nghttpd, h2load -c2 -m${s.streams}, ${s.requests} requests (median of ${s.rounds})`, ...s.variants, ...others.map((v) => `${v} / none`)],
    [
      ["requests/s", ...s.variants.map((v) => round(s.rps[v]!, 0)), ...others.map((v) => s.rpsRatio[v]?.toFixed(3) ?? "")],
      ["nghttpd CPU µs per request", ...s.variants.map((v) => round(s.cpuUsPerRequest[v]!, 2)), ...others.map((v) => (s.cpuChange[v] === undefined ? "" : pct(s.cpuChange[v]!)))],
    ],
  );
  const counted = Object.keys(s.counted).length
    ? table(
        ["requests counted for nghttpd, per round", "expected", "counted"],
        Object.entries(s.counted).map(([v, c]) => [v, String(s.requests), c.join(", ")]),
      )
    : "";
  const c = s.cost;
  const cost = c
    ? table(
        [`where the plugin's time goes: h2load -c2 -m${s.streams}, ${c.requests} requests, BPF run-time statistics of the socket capture's programs (one run; the machine's other TCP calls included)`, "value"],
        [
          ...Object.entries(c.programs)
            .sort(([, a], [, b]) => b.runs - a.runs)
            .map(([name, p]) => [`ns per call, ${name} (${p.runs} runs)`, round(p.nsPerRun, 0)]),
          [`ns per frame walked (${c.framesPerRequest} frames a request, each at both ends)`, round(c.nsPerFrame, 0)],
          ["ns per request (nghttpd's calls and h2load's)", round(c.nsPerRequest, 0)],
          ["socket storage per connection, bytes: the plugin's state + the kernel's element", `${c.connBytes} + ${c.elemBytes}`],
        ],
      )
    : "";
  return [figures, counted, cost].filter(Boolean).join("\n\n");
}
