/**
 * HTTP/2 in cleartext end to end: nghttpd (nghttp2's server, one thread)
 * driven by h2load on loopback, 2 connections of 100 concurrent streams
 * each, for a fixed number of requests; requests/s and nghttpd's CPU time
 * per request under each variant, and what a product variant counted.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cpuNanoseconds, median, pct, PORTS, round, table } from "./lib/common";
import { interleaved, requestsCounted, type VariantName } from "./lib/variants";

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
  return [figures, counted].filter(Boolean).join("\n\n");
}
