/**
 * Startup: from spawning a product variant to its socket answering
 * GET /report, and to the first report that shows a request served after
 * the spawn (a fresh connection every 10 ms to nginx meanwhile). The second
 * includes waiting for the next whole-second tick, as any user would.
 * Variants alternate start by start, so the product and the one before it
 * are compared in the same run.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, PORTS, round, startBenchNginx, table } from "./lib/common";
import { productCommand, type ProductVariant } from "./lib/variants";

export interface StartupResult {
  rounds: number;
  /** variant -> each start's ms */
  socketReadyMs: Record<string, number[]>;
  firstCountedMs: Record<string, number[]>;
}

async function oneStart(command: string[], workerPid: number, url: string): Promise<{ ready: number; counted: number }> {
  const dir = mkdtempSync(join(tmpdir(), "hs-bench-start-"));
  const socket = join(dir, "http-statistics.sock");
  const call = (path: string) => fetch(`http://plugin${path}`, { unix: socket } as RequestInit);
  let traffic = true;
  const client = (async () => {
    for (let i = 0; traffic && i < 2000; i++) {
      await fetch(url, { headers: { connection: "close" } }).then((r) => r.arrayBuffer()).catch(() => {});
      await Bun.sleep(10);
    }
  })();
  const started = performance.now();
  const proc = Bun.spawn([...command, "--socket", socket, "--hostname", "bench"], { stdout: "ignore", stderr: "pipe" });
  try {
    let ready = NaN;
    let counted = NaN;
    const deadline = started + 20_000;
    while (performance.now() < deadline && Number.isNaN(counted)) {
      if (proc.exitCode !== null) throw new Error(`plugin exited: ${await new Response(proc.stderr).text()}`);
      try {
        const res = await call("/report");
        if (res.ok) {
          if (Number.isNaN(ready)) ready = performance.now() - started;
          const report = (await res.json()) as { Process: { nodes: Record<string, unknown> } };
          if (report.Process.nodes[`bench;${workerPid}`]) counted = performance.now() - started;
        }
      } catch {
        // not listening yet
      }
      await Bun.sleep(Number.isNaN(ready) ? 2 : 20);
    }
    if (Number.isNaN(counted)) throw new Error("no counted request within 20 s of start");
    return { ready, counted };
  } finally {
    traffic = false;
    await client;
    proc.kill("SIGTERM");
    await proc.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchStartup(options: { rounds: number; variants: ProductVariant[]; log: (s: string) => void }): Promise<StartupResult> {
  const nginx = await startBenchNginx(PORTS.startup);
  const result: StartupResult = { rounds: options.rounds, socketReadyMs: {}, firstCountedMs: {} };
  for (const v of options.variants) {
    result.socketReadyMs[v] = [];
    result.firstCountedMs[v] = [];
  }
  let starts = 0;
  try {
    for (let i = 0; i < options.rounds; i++) {
      // Rotate the order each round, as the interleaved benchmarks do.
      for (const v of options.variants.map((_, j, all) => all[(i + j) % all.length]!)) {
        const { ready, counted } = await oneStart(productCommand(v), nginx.servingPids[0]!, `http://127.0.0.1:${PORTS.startup}/static.html`);
        result.socketReadyMs[v]!.push(ready);
        result.firstCountedMs[v]!.push(counted);
        // Start at varying points of the wall-clock second, as real starts do.
        await Bun.sleep(1000 + ((137 * starts++) % 1000));
      }
    }
    options.log(`    ${options.rounds} starts of each of ${options.variants.join(", ")} done`);
  } finally {
    await nginx.stop();
  }
  return result;
}

export function startupTable(s: StartupResult): string {
  const line = (what: string, ms: number[]) => [what, round(median(ms), 0), round(Math.min(...ms), 0), round(Math.max(...ms), 0)];
  return table(
    [`startup (${s.rounds} starts each)`, "median ms", "min ms", "max ms"],
    Object.keys(s.socketReadyMs).flatMap((v) => [
      line(`${v}: spawn -> socket answers /report`, s.socketReadyMs[v]!),
      line(`${v}: spawn -> first report counting a request`, s.firstCountedMs[v]!),
    ]),
  );
}
