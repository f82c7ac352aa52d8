/**
 * Benchmark 5: from spawning dist/http-statistics to its socket answering
 * GET /report, and to the first report that shows a request served after
 * the spawn (a fresh connection every 10 ms to nginx meanwhile). The second
 * includes waiting for the next whole-second tick, as any user would.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { median, PORTS, round, startBenchNginx, table } from "./lib/common";
import { PLUGIN_BINARY } from "./lib/variants";

export interface StartupResult {
  rounds: number;
  socketReadyMs: number[];
  firstCountedMs: number[];
}

async function oneStart(workerPid: number, url: string): Promise<{ ready: number; counted: number }> {
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
  const proc = Bun.spawn([PLUGIN_BINARY, "--socket", socket, "--hostname", "bench"], { stdout: "ignore", stderr: "pipe" });
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

export async function benchStartup(options: { rounds: number; log: (s: string) => void }): Promise<StartupResult> {
  const nginx = await startBenchNginx(PORTS.startup);
  const result: StartupResult = { rounds: options.rounds, socketReadyMs: [], firstCountedMs: [] };
  try {
    for (let i = 0; i < options.rounds; i++) {
      const { ready, counted } = await oneStart(nginx.servingPids[0]!, `http://127.0.0.1:${PORTS.startup}/static.html`);
      result.socketReadyMs.push(ready);
      result.firstCountedMs.push(counted);
      // Start at varying points of the wall-clock second, as real starts do.
      await Bun.sleep(1000 + 137 * i);
    }
    options.log(`    ${options.rounds} starts done`);
  } finally {
    await nginx.stop();
  }
  return result;
}

export function startupTable(s: StartupResult): string {
  return table(
    [`startup (${s.rounds} starts)`, "median ms", "min ms", "max ms"],
    [
      ["spawn -> socket answers /report", round(median(s.socketReadyMs), 0), round(Math.min(...s.socketReadyMs), 0), round(Math.max(...s.socketReadyMs), 0)],
      ["spawn -> first report counting a request", round(median(s.firstCountedMs), 0), round(Math.min(...s.firstCountedMs), 0), round(Math.max(...s.firstCountedMs), 0)],
    ],
  );
}
