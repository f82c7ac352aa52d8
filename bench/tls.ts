/**
 * What HTTPS capture costs, per hooked TLS call and per request:
 *   - TLS call pairs with no network (bench/tls_pairs.py: Python's ssl over
 *     memory BIOs, one SSL_write_ex and one SSL_read_ex a pair, each a
 *     hooked call), in ns per pair;
 *   - nginx over HTTPS (one worker, a 256-byte file, wrk -t1 -c32
 *     keep-alive; wrk links libssl too, so both sides are hooked), in req/s.
 * Variants, interleaved: none; floor (bpftrace with empty programs on
 * exactly the probes the plugin attaches to Debian's libssl); plugin; and
 * bpftrace counting SSL_write calls, a stand-in for a peer doing less.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { ElfFile } from "../src/tls/elf";
import { opensslProbes } from "../src/tls/openssl";
import { median, REPO, round, staticPage, table } from "./lib/common";
import { readUntil, startPlugin, stopProcess, type Running } from "./lib/variants";
import { runWrk } from "./wrk";
import { runNginx } from "../test/support/servers";

export const TLS_VARIANTS = ["none", "floor", "plugin", "bpftrace"] as const;
type TlsVariant = (typeof TLS_VARIANTS)[number];
const LIBSSL = "/usr/lib/x86_64-linux-gnu/libssl.so.3";

export interface TlsSummary {
  /** Median ns per write+read pair, by variant; and added over none, per hooked call (2 per pair). */
  pairNs: Record<string, number>;
  addedPerCallNs: Record<string, number>;
  /** Median nginx https req/s by variant, and relative to none. */
  rps: Record<string, number>;
  rpsRatio: Record<string, number>;
  rounds: number;
}

function bpftraceScript(variant: "floor" | "bpftrace"): string {
  if (variant === "bpftrace") return `uprobe:${LIBSSL}:SSL_write { @writes = count(); }`;
  // The plugin's own placement, from its own code: the same probes, empty.
  const elf = ElfFile.open(LIBSSL);
  const { probes } = opensslProbes(elf);
  elf.close();
  return probes.map((p) => `${p.retprobe ? "uretprobe" : "uprobe"}:${LIBSSL}:0x${p.offset.toString(16)} {}`).join("\n");
}

async function startTlsVariant(name: TlsVariant, dir: string): Promise<Running> {
  if (name === "none") return { name: "none", startMs: 0, stop: async () => {} };
  if (name === "plugin") return startPlugin("plugin");
  const script = join(dir, `${name}.bt`);
  writeFileSync(script, `${bpftraceScript(name)}\n`);
  const started = performance.now();
  // --unsafe: bpftrace cannot check instruction boundaries in a stripped library (the plugin decodes them).
  const proc = Bun.spawn(["bpftrace", "--unsafe", script], { stdout: "pipe", stderr: "pipe" }) as Subprocess<"ignore", "pipe", "pipe">;
  await readUntil(proc, /Attaching \d+ probes?/, 60_000);
  await Bun.sleep(300);
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
  const dir = mkdtempSync(join(tmpdir(), "hs-bench-tls-"));
  const made = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"), "-days", "1", "-subj", "/CN=127.0.0.1"]);
  if (made.exitCode !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
  const stopNginx = await startHttpsNginx(dir, options.port);
  const pairs: Record<string, number[]> = {};
  const rps: Record<string, number[]> = {};
  try {
    for (let r = 0; r < options.rounds; r++) {
      const order = TLS_VARIANTS.map((_, i) => TLS_VARIANTS[(i + r) % TLS_VARIANTS.length]!);
      for (const name of order) {
        const running = await startTlsVariant(name, dir);
        try {
          // Three runs of pairs, the median kept: a single run on a shared machine is too noisy.
          const runs = [await pairsNs(dir, options.pairs), await pairsNs(dir, options.pairs), await pairsNs(dir, options.pairs)];
          (pairs[name] ??= []).push(median(runs));
          const w = await runWrk({ url: `https://127.0.0.1:${options.port}/static.html`, seconds: options.seconds, connections: 32 });
          (rps[name] ??= []).push(w.rps);
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
    rounds: options.rounds,
  };
}

export function tlsTable(s: TlsSummary): string {
  return table(
    ["variant", "ns per SSL_write_ex + SSL_read_ex pair", "added per hooked call", "nginx https req/s", "relative to none"],
    TLS_VARIANTS.map((v) => [
      v,
      round(s.pairNs[v]!, 0),
      v === "none" ? "-" : `${round(s.addedPerCallNs[v]!, 0)} ns`,
      round(s.rps[v]!, 0),
      round(s.rpsRatio[v]!, 3),
    ]),
  );
}
