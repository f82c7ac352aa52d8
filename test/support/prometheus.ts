/**
 * Debian's Prometheus on loopback: a temporary config and data directory,
 * one scrape job, a 1 s scrape interval, queried through its HTTP API.
 */
import type { Subprocess } from "bun";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RunningPrometheus {
  /** An instant query; `time` in seconds since the epoch (default: now). Returns [labels, value] per series. */
  query(expr: string, time?: number): Promise<Array<{ metric: Record<string, string>; value: number }>>;
  /** Polls `expr` until `done` accepts the result. */
  waitFor(expr: string, done: (result: Array<{ metric: Record<string, string>; value: number }>) => boolean, what: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startPrometheus(options: { port: number; target: string; job: string }): Promise<RunningPrometheus> {
  const binary = Bun.which("prometheus");
  if (!binary) throw new Error("prometheus is missing: run scripts/setup.sh (Debian package prometheus)");
  const dir = mkdtempSync(join(tmpdir(), "hs-prometheus-"));
  writeFileSync(
    join(dir, "prometheus.yml"),
    `global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: ${options.job}
    static_configs:
      - targets: ["${options.target}"]
`,
  );
  const proc: Subprocess<"ignore", "ignore", "pipe"> = Bun.spawn(
    [binary, `--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${options.port}`, "--log.level=warn"],
    { stdin: "ignore", stdout: "ignore", stderr: "pipe" },
  );
  const base = `http://127.0.0.1:${options.port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`prometheus exited with ${proc.exitCode}: ${await new Response(proc.stderr).text()}`);
    const ready = await fetch(`${base}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error("prometheus was not ready within 30 s");
    await Bun.sleep(100);
  }
  const query: RunningPrometheus["query"] = async (expr, time) => {
    const params = new URLSearchParams({ query: expr, ...(time !== undefined && { time: String(time) }) });
    const body = (await (await fetch(`${base}/api/v1/query?${params}`)).json()) as {
      status: string;
      error?: string;
      data: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
    };
    if (body.status !== "success") throw new Error(`PromQL ${expr}: ${body.error}`);
    if (body.data.resultType !== "vector") throw new Error(`PromQL ${expr}: a ${body.data.resultType}, not a vector`);
    return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };
  return {
    query,
    async waitFor(expr, done, what, timeoutMs = 20_000) {
      const end = Date.now() + timeoutMs;
      let last: unknown;
      for (;;) {
        const result = await query(expr);
        if (done(result)) return;
        last = result;
        if (Date.now() > end) throw new Error(`Prometheus never showed ${what} within ${timeoutMs} ms; last ${expr}: ${JSON.stringify(last)}`);
        await Bun.sleep(250);
      }
    },
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
