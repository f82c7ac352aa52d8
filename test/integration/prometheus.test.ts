/**
 * The Prometheus endpoint with the real plugin, real nginx and Debian's real
 * Prometheus on loopback: GET /metrics on the socket and on --listen, the
 * formats and gzip, promtool on the live output, a scrape every second and
 * a PromQL query that must show exactly the requests sent per status code,
 * and counters that outlive their process for the retention period only.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { LOSS_REASONS, REQUEST_SLOT } from "../../src/kernel/kernel_abi";
import { parseExposition } from "../../src/outputs/top";
import { entriesOfTgid, mapIdsOf, counterRowsOf } from "../support/kernel_maps";
import { REPO, requireRoot, startPlugin, type RunningPlugin } from "../support/plugin";
import { startPrometheus, type RunningPrometheus } from "../support/prometheus";
import { startNginx, startPythonServer, type RunningServer } from "../support/servers";
import { curl, statusUrls } from "../support/traffic";

const LISTEN_PORT = 18700;
const NGINX_PORT = 18701;
const PROMETHEUS_PORT = 18702;
const PYTHON_PORT = 18703;
const OPENMETRICS = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

let plugin: RunningPlugin;
let nginx: RunningServer;
let worker: number;

const listen = (path: string, init?: RequestInit) => fetch(`http://127.0.0.1:${LISTEN_PORT}${path}`, init);

/** Samples of one metric for one pid, by status code ("" for requests). */
function countsOf(text: string, pid: number): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of parseExposition(text)) {
    if (s.labels.pid !== String(pid)) continue;
    if (s.name === "http_statistics_requests_total") counts.requests = s.value;
    if (s.name === "http_statistics_responses_total") counts[s.labels.code!] = s.value;
  }
  return counts;
}

beforeAll(async () => {
  requireRoot();
  nginx = await startNginx({ port: NGINX_PORT, workers: 1 });
  worker = nginx.servingPids[0]!;
  plugin = await startPlugin({ hostId: "prometheus-test", args: ["--listen", `127.0.0.1:${LISTEN_PORT}`] });
}, 60_000);

afterAll(async () => {
  await plugin?.stop();
  await nginx?.stop();
});

describe("GET /metrics", () => {
  const PLAN = { 200: 7, 404: 3, 503: 2 };

  beforeAll(async () => {
    expect(await curl(statusUrls(`http://127.0.0.1:${NGINX_PORT}`, PLAN))).toHaveLength(12);
    await plugin.reportAfter(Date.now()); // /metrics is made from the same tick as the report
  });

  test("on the socket: text 0.0.4 with exactly the requests nginx answered, by code, under its pid and comm", async () => {
    const res = await plugin.fetch("/metrics");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    expect(countsOf(text, worker)).toEqual({ requests: 12, 200: 7, 404: 3, 503: 2 });
    expect(text).toContain(`http_statistics_requests_total{pid="${worker}",comm="nginx"} 12\n`);
    for (const reason of LOSS_REASONS) expect(text).toMatch(new RegExp(`^http_statistics_events_not_counted_total\\{reason="${reason}"\\} \\d+$`, "m"));
    expect(text).toMatch(/^http_statistics_build_info\{version="[^"]+",capture="(socket|syscalls)"\} 1$/m);
  });

  test("promtool check metrics passes on the live output", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "hs-promtool-")), "metrics.txt");
    writeFileSync(file, await (await plugin.fetch("/metrics")).text());
    const check = Bun.spawnSync(["sh", "-c", `promtool check metrics < ${file}`]);
    expect(check.stdout.toString() + check.stderr.toString()).toBe("");
    expect(check.exitCode).toBe(0);
  });

  test("OpenMetrics 1.0.0 when the scraper asks as Prometheus does; same counts, # EOF last", async () => {
    const res = await listen("/metrics", { headers: { accept: OPENMETRICS } });
    expect(res.headers.get("content-type")).toBe("application/openmetrics-text; version=1.0.0; charset=utf-8");
    const text = await res.text();
    expect(text.endsWith("\n# EOF\n")).toBe(true);
    expect(text).toContain("# TYPE http_statistics_responses counter\n");
    expect(countsOf(text, worker)).toEqual({ requests: 12, 200: 7, 404: 3, 503: 2 });
  });

  test("gzip when Accept-Encoding asks, plain otherwise", async () => {
    const zipped = await listen("/metrics", { headers: { "accept-encoding": "gzip" }, decompress: false } as RequestInit);
    expect(zipped.headers.get("content-encoding")).toBe("gzip");
    const text = gunzipSync(new Uint8Array(await zipped.arrayBuffer())).toString();
    expect(countsOf(text, worker)).toEqual({ requests: 12, 200: 7, 404: 3, 503: 2 });
    const plain = await plugin.fetch("/metrics", { headers: { "accept-encoding": "identity" } });
    expect(plain.headers.get("content-encoding")).toBeNull();
  });

  test("the TCP listener serves /metrics only", async () => {
    expect((await listen("/metrics")).status).toBe(200);
    for (const path of ["/report", "/", "/metrics/x"]) {
      const res = await listen(path);
      expect([path, res.status, await res.text()]).toEqual([path, 404, "not found: this listener serves GET /metrics only\n"]);
    }
    expect((await listen("/metrics", { method: "POST" })).status).toBe(405);
  });

  test("a --listen address in use: one clear line, exit 1, no socket left behind", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hs-listen-busy-"));
    const socket = join(dir, "p.sock");
    const proc = Bun.spawn([process.execPath, "run", "src/main.ts", "--socket", socket, "--listen", `127.0.0.1:${NGINX_PORT}`], { stdout: "pipe", stderr: "pipe" });
    const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
    expect(code).toBe(1);
    expect(stderr).toStartWith(`http-statistics: cannot listen on 127.0.0.1:${NGINX_PORT}: `);
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(existsSync(socket)).toBe(false);
  });
});

describe("Debian's Prometheus scraping --listen every second", () => {
  let prometheus: RunningPrometheus;
  const PLAN = { 200: 40, 201: 3, 301: 5, 404: 11, 500: 2, 503: 7 };
  const SENT = Object.values(PLAN).reduce((a, b) => a + b, 0);

  beforeAll(async () => {
    prometheus = await startPrometheus({ port: PROMETHEUS_PORT, target: `127.0.0.1:${LISTEN_PORT}`, job: "http-statistics" });
    await prometheus.waitFor('up{job="http-statistics"}', (r) => r[0]?.value === 1, "the target up");
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
  });

  test("the counter difference across the run is exactly the plan, per status code", async () => {
    // Every code of the plan once first, so each series exists before the run starts.
    const warmup = Object.fromEntries(Object.keys(PLAN).map((code) => [code, 1]));
    await curl(statusUrls(`http://127.0.0.1:${NGINX_PORT}`, warmup));
    const selector = `{job="http-statistics",pid="${worker}"}`;
    await plugin.reportAfter(Date.now());
    const settled = countsOf(await (await plugin.fetch("/metrics")).text(), worker);
    await prometheus.waitFor(`http_statistics_requests_total${selector}`, (r) => r[0]?.value === settled.requests, "the warm-up scraped");
    const start = Date.now() / 1000;

    expect((await curl(statusUrls(`http://127.0.0.1:${NGINX_PORT}`, PLAN))).length).toBe(SENT);
    await prometheus.waitFor(`http_statistics_requests_total${selector}`, (r) => r[0]?.value === settled.requests! + SENT, "the run scraped");
    const end = Date.now() / 1000;
    const offset = `${Math.ceil((end - start) * 1000)}ms`;

    const sent = await prometheus.query(`http_statistics_requests_total${selector} - http_statistics_requests_total${selector} offset ${offset}`, end);
    expect(sent.map((r) => r.value)).toEqual([SENT]);
    const byCode = await prometheus.query(
      `sum by (code) (http_statistics_responses_total${selector} - http_statistics_responses_total${selector} offset ${offset})`,
      end,
    );
    expect(Object.fromEntries(byCode.map((r) => [r.metric.code, r.value]))).toEqual(Object.fromEntries(Object.entries(PLAN).map(([c, n]) => [c, n])));
    const labels = await prometheus.query(`http_statistics_requests_total${selector}`, end);
    expect(labels[0]!.metric).toEqual({ __name__: "http_statistics_requests_total", job: "http-statistics", instance: `127.0.0.1:${LISTEN_PORT}`, pid: String(worker), comm: "nginx" });
  }, 60_000);

  test("every query of the Grafana dashboard runs; the by-code one shows the codes nginx answered", async () => {
    const dashboard = JSON.parse(readFileSync(join(REPO, "deploy", "grafana", "http-statistics.json"), "utf8")) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
    const results: Record<string, Array<Record<string, string>>> = {};
    for (const panel of dashboard.panels)
      for (const { expr } of panel.targets) {
        const promql = expr.replaceAll("$__rate_interval", "1m").replaceAll("$instance", ".*");
        results[panel.title] = (await prometheus.query(promql)).map((r) => r.metric);
      }
    // Other processes on the host may serve HTTP too (the plugin itself answers each scrape): nginx's series must be among them.
    const codes = results["Requests per second by status code"]!.map((m) => m.code);
    expect(codes).toEqual(expect.arrayContaining(Object.keys(PLAN)));
    expect(results["Error ratio (5xx / all responses)"]).toEqual([{}]);
    expect(results["Requests per second per container"]).toBeArray();
    for (const title of ["Requests per second per process (top 10)", "5xx per second per process (top 10)"])
      expect(results[title]).toContainEqual({ instance: `127.0.0.1:${LISTEN_PORT}`, pid: String(worker), comm: "nginx" });
    expect(results["Events not counted per second, by reason"]!.map((m) => m.reason).sort()).toEqual([...LOSS_REASONS].sort());
  });
});

describe("a process that exits", () => {
  let counted: RunningPlugin;
  let python: RunningServer;

  beforeAll(async () => {
    counted = await startPlugin({ hostId: "retention-test", args: ["--window", "2", "--metrics-retention", "4s"] });
    python = await startPythonServer(PYTHON_PORT);
  }, 60_000);

  afterAll(async () => {
    await python?.stop();
    await counted?.stop();
  });

  test("keeps its final counts after the kernel drops its counters, for the retention period, then is gone", async () => {
    const pid = python.servingPids[0]!;
    expect(await curl(statusUrls(`http://127.0.0.1:${PYTHON_PORT}`, { 200: 4, 500: 1 }))).toEqual([200, 200, 200, 200, 500]);
    await counted.reportAfter(Date.now());
    const metrics = async () => countsOf(await (await counted.fetch("/metrics")).text(), pid);
    expect(await metrics()).toEqual({ requests: 5, 200: 4, 500: 1 });
    const counters = mapIdsOf(counted.proc.pid).counters!;
    const rows = counterRowsOf(counted.proc.pid, pid);
    expect(rows).toMatchObject({ slots: [REQUEST_SLOT, 200, 500], timed: 5 });
    expect(entriesOfTgid(counters, pid)).toBe(rows.entries);
    await python.stop();
    // Housekeeping (every 5 s) retires it once idle for the 2 s window, deleting its kernel
    // counters; the series stays with the same values until a housekeeping 4 s or more later.
    const seen: string[] = [];
    let kernelDroppedAt: number | undefined;
    const deadline = Date.now() + 25_000;
    for (;;) {
      const now = JSON.stringify(await metrics());
      if (seen.at(-1) !== now) seen.push(now);
      if (now === "{}" || Date.now() > deadline) break;
      if (kernelDroppedAt === undefined && entriesOfTgid(counters, pid) === 0) kernelDroppedAt = Date.now();
      await Bun.sleep(250);
    }
    expect(seen).toEqual([JSON.stringify({ requests: 5, 200: 4, 500: 1 }), "{}"]);
    expect(kernelDroppedAt).toBeDefined();
    expect(Date.now() - kernelDroppedAt!).toBeGreaterThanOrEqual(4000 - 500); // the loop's own period
  }, 40_000);
});
