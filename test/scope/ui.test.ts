/**
 * End to end with the real Weave Scope: its probe polls the plugin and
 * lists containers through Podman's Docker API, its app merges 15 s of
 * reports, and its own web UI (in headless Chromium) shows them. Checked
 * through the app's API (values, order, sample counts) and in the rendered
 * page (what is visible, what fits), with screenshots of each panel left in
 * build/screenshots/ (the README's come from there).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { defaultOptions } from "../../src/cli";
import { GRPC_CLIENT_ERRORS_METRIC, GRPC_ERRORS_METRIC, LOSS_LABELS, PLUGIN_DESCRIPTION } from "../../src/outputs/report";
import { startChromium, type Browser, type Page } from "../support/chromium";
import { REPO, requireRoot, startPlugin, type RunningPlugin } from "../support/plugin";
import { ensureNginxImage, requirePodman, runNginxContainer, type NginxContainer } from "../support/podman";
import { scopeBinary, startScope, type RunningScope } from "../support/scope";
import { spawnPrintingPort } from "../support/servers";
import { curl, statusUrls } from "../support/traffic";

const SCOPE_PORT = 14151;
const NGINX_PORT = 18641;
const HOST = "scope-e2e";
/** Sent every second, a little after the plugin's tick, so each second holds exactly this. */
const PER_SECOND = { 200: 5, 404: 2 };
const SCREENSHOTS = join(REPO, "build", "screenshots");

let plugin: RunningPlugin;
let scope: RunningScope;
let container: NginxContainer;
let browser: Browser;
let dir: string;
let pacing = true;
let pacer: Promise<void>;
let sentSeconds = 0;

async function pace(): Promise<void> {
  const urls = statusUrls(`http://127.0.0.1:${NGINX_PORT}`, PER_SECOND);
  // Bounded: at most 120 seconds of traffic.
  for (let second = 0; pacing && second < 120; second++) {
    await Bun.sleep(1000 - (Date.now() % 1000) + 300);
    const codes = await curl(urls);
    if (codes.filter((c) => c === 200).length !== 5 || codes.filter((c) => c === 404).length !== 2) throw new Error(`nginx answered ${codes}`);
    sentSeconds++;
  }
}

type Row = { id: string; label: string; format?: string; value: number; priority: number; min: number; max: number; samples: { date: string; value: number }[] };
type Details = { node: { id: string; label: string; metrics?: Row[]; tables?: { id: string; label: string; rows: { entries: { label: string; value: string } }[] }[] } };

const detailsPath = (topology: string, id: string) => `/api/topology/${topology}/${encodeURIComponent(id)}`;
const metric = (details: Details, id: string) => details.node.metrics?.find((m) => m.id === id);
const spanSeconds = (row: Row) => (Date.parse(row.samples.at(-1)!.date) - Date.parse(row.samples[0]!.date)) / 1000;

function panelUrl(topologyId: string, nodeId: string): string {
  const state = { topologyId, selectedNodeId: nodeId, nodeDetails: [{ id: nodeId, topologyId }] };
  return `${scope.url}/#!/state/${encodeURIComponent(JSON.stringify(state))}`;
}

async function openPanel(topologyId: string, nodeId: string, label: string): Promise<Page> {
  const page = await browser.open(panelUrl(topologyId, nodeId), 1280, 900);
  await page.waitFor(`[...document.querySelectorAll('.node-details-health-item-label')].some(e => e.textContent === ${JSON.stringify(label)})`, `${label} in the ${topologyId} panel`);
  await Bun.sleep(500); // let the sparklines draw
  return page;
}

async function screenshotOf(page: Page, selector: string, file: string): Promise<void> {
  const r = await page.evaluate<{ x: number; y: number; width: number; height: number }>(
    `(() => { const b = document.querySelector(${JSON.stringify(selector)}).getBoundingClientRect(); return { x: b.x, y: b.y, width: b.width, height: Math.min(b.height, 900 - b.y) }; })()`,
  );
  await Bun.write(join(SCREENSHOTS, file), await page.screenshot(r));
}

/** The labels and values the Status section shows without "+N more", in order. */
const VISIBLE_HEALTH = `[...document.querySelectorAll('.node-details-health-wrapper')[0].querySelectorAll('.node-details-health-item')]
  .map(e => [e.querySelector('.node-details-health-item-label').textContent, e.querySelector('.node-details-health-item-value')?.textContent])`;

beforeAll(async () => {
  scopeBinary(); // first: without it, say so before minutes of set-up
  requireRoot();
  requirePodman();
  mkdirSync(SCREENSHOTS, { recursive: true });
  await ensureNginxImage();
  dir = mkdtempSync(join(tmpdir(), "hs-scope-ui-"));
  container = await runNginxContainer("hs-test-scope-nginx", NGINX_PORT, [200, 404], dir);
  // The window the plugin ships with: what Scope's merge of it looks like is part of the test.
  plugin = await startPlugin({ hostId: HOST, args: ["--window", String(defaultOptions().windowSeconds)] });
  scope = await startScope({ port: SCOPE_PORT, pluginsRoot: dirname(dirname(plugin.socket)), hostname: HOST, docker: true });
  browser = await startChromium();
  for (let i = 0; i < 100 && (await curl([`http://127.0.0.1:${NGINX_PORT}/status/200`]).catch(() => [0]))[0] !== 200; i++) await Bun.sleep(50);
  pacer = pace();
  // Scope keeps 15 s of reports: wait until every report in it saw steady traffic.
  while (sentSeconds < 22) {
    await Promise.race([pacer, Bun.sleep(1000)]);
    if (!pacing) break;
  }
}, 600_000);

afterAll(async () => {
  pacing = false;
  await pacer?.catch(() => {});
  await browser?.close();
  await scope?.stop();
  await plugin?.stop();
  await container?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("the real Scope, with the plugin and a Podman container running nginx", () => {
  test("the probe loads the plugin: status ok, its description whole", async () => {
    const api = await scope.api<{ plugins: { id: string; status: string; description: string }[] }>("/api");
    expect(api.plugins).toEqual([expect.objectContaining({ id: "http-statistics", status: "ok", description: PLUGIN_DESCRIPTION })]);
  });

  test("process panel: CPU and memory first, then HTTP Req/Second as a whole number; 15 s of samples like Scope's own", async () => {
    const details = await scope.api<Details>(detailsPath("processes", `${HOST};${container.workerPid}`));
    const ids = details.node.metrics!.map((m) => m.id);
    expect(ids.slice(0, 3)).toEqual(["process_cpu_usage_percent", "process_memory_usage_bytes", "http_requests_per_second"]);
    // Behind "+N": the server's p99 before Scope's open files, the rest of the latency spread, then the codes.
    expect(ids.slice(3)).toEqual([
      "http_latency_p99_ms",
      "open_files_count",
      "http_latency_p50_ms",
      "http_latency_p95_ms",
      "http_200_responses_per_second",
      "http_404_responses_per_second",
    ]);
    // No format: Scope passes none on, and its UI shows the number with two decimals.
    const p99 = metric(details, "http_latency_p99_ms")!;
    expect(p99).toMatchObject({ label: "HTTP p99 Latency (ms)", priority: 2.6 });
    expect(p99.format).toBeUndefined();
    expect(p99.value).toBeGreaterThan(0);
    const requests = metric(details, "http_requests_per_second")!;
    expect(requests).toMatchObject({ label: "HTTP Req/Second", format: "integer", value: 7, min: 7, max: 7 });
    expect(metric(details, "http_404_responses_per_second")).toMatchObject({ format: "integer", value: 2, min: 2, max: 2 });
    const cpu = metric(details, "process_cpu_usage_percent")!;
    console.log(`samples in Scope: HTTP Req/Second ${requests.samples.length} over ${spanSeconds(requests)} s, Scope's CPU ${cpu.samples.length} over ${spanSeconds(cpu)} s`);
    // Each report carries 3 s, so the oldest report Scope keeps adds 2 s before Scope's own 15 samples.
    expect(requests.samples.length).toBeLessThanOrEqual(cpu.samples.length + 2);
    expect(spanSeconds(requests)).toBeLessThanOrEqual(spanSeconds(cpu) + 2.5);
    expect(requests.samples.every((s) => s.value === 7)).toBe(true);
  });

  test("container panel: the container Scope lists through Podman carries the same metrics, summed over its processes", async () => {
    const details = await scope.api<Details>(detailsPath("containers", `${container.id};<container>`));
    expect(details.node.label).toBe("hs-test-scope-nginx");
    expect(metric(details, "http_requests_per_second")).toMatchObject({ format: "integer", value: 7, min: 7, max: 7 });
    expect(metric(details, "http_200_responses_per_second")).toMatchObject({ value: 5 });
    expect(metric(details, "http_404_responses_per_second")).toMatchObject({ value: 2 });
  });

  test("host panel: the host's totals (this machine is shared: at least ours) and the table of what was not counted", async () => {
    const details = await scope.api<Details>(detailsPath("hosts", `${HOST};<host>`));
    const ids = details.node.metrics!.map((m) => m.id);
    expect(ids.slice(0, 3)).toEqual(["host_cpu_usage_percent", "host_mem_usage_bytes", "http_requests_per_second"]);
    expect(metric(details, "http_requests_per_second")!.min).toBeGreaterThanOrEqual(7);
    const table = details.node.tables!.find((t) => t.id === "http_statistics_not_counted")!;
    expect(table.label).toBe("HTTP statistics: events not counted");
    expect(table.rows.map((r) => r.entries.label)).toContain("total");
  });

  test("gRPC: Scope shows each side's calls that did not end OK, per process", async () => {
    const { proc: grpc, port } = await spawnPrintingPort(["/usr/bin/python3", join(REPO, "test", "fixtures", "grpc_peer.py"), "server"], "the gRPC server");
    try {
      // 7 calls on one connection, 5 of which end with an error status.
      const calls = ["OK", "NOT_FOUND", "INTERNAL", "NOT_FOUND", "STREAM", "INTERNAL", "NOT_FOUND"];
      const client = Bun.spawn(["/usr/bin/python3", join(REPO, "test", "fixtures", "grpc_peer.py"), "client", String(port), ...calls], { stdout: "pipe", stderr: "inherit" });
      expect(await client.exited).toBe(0);
      const errorsIn = async (pid: number, id: string) => {
        const details = await scope.api<Details>(detailsPath("processes", `${HOST};${pid}`)).catch(() => undefined);
        const row = details && metric(details, id);
        return row ? { label: row.label, sum: row.samples.reduce((a, s) => a + s.value, 0) } : undefined;
      };
      // Scope merges the plugin's reports every few seconds: wait until both sides have all 5.
      let server, sent;
      for (let i = 0; i < 150; i++) {
        [server, sent] = await Promise.all([errorsIn(grpc.pid, GRPC_ERRORS_METRIC), errorsIn(client.pid, GRPC_CLIENT_ERRORS_METRIC)]);
        if (server?.sum === 5 && sent?.sum === 5) break;
        await Bun.sleep(200);
      }
      expect(server).toEqual({ label: "gRPC Errors/Second", sum: 5 });
      expect(sent).toEqual({ label: "gRPC Out Errors/Second", sum: 5 });
    } finally {
      grpc.kill("SIGTERM");
      await grpc.exited;
    }
  }, 60_000);

  test("in the UI: the process panel shows CPU, Memory and HTTP Req/Second, the count as 7 (not 7.00)", async () => {
    const page = await openPanel("processes", `${HOST};${container.workerPid}`, "HTTP Req/Second");
    const visible = await page.evaluate<string[][]>(VISIBLE_HEALTH);
    expect(visible.map(([label]) => label)).toEqual(["CPU", "Memory", "HTTP Req/Second"]);
    expect(visible[2]![1]).toBe("7");
    await screenshotOf(page, ".node-details", "process-panel.png");
  }, 60_000);

  test("in the UI: the container panel shows HTTP Req/Second after Scope's CPU and Memory", async () => {
    const page = await openPanel("containers", `${container.id};<container>`, "HTTP Req/Second");
    const visible = await page.evaluate<string[][]>(VISIBLE_HEALTH);
    expect(visible.map(([label]) => label)).toContain("HTTP Req/Second");
    expect(visible.find(([label]) => label === "HTTP Req/Second")![1]).toBe("7");
    await screenshotOf(page, ".node-details", "container-panel.png");
  }, 60_000);

  test("in the UI: every loss label fits the host panel's label column whole", async () => {
    const page = await openPanel("hosts", `${HOST};<host>`, "HTTP Req/Second");
    const visible = await page.evaluate<string[][]>(VISIBLE_HEALTH);
    expect(visible.map(([label]) => label)).toEqual(["CPU", "Memory", "HTTP Req/Second"]);
    const section = `[...document.querySelectorAll('.node-details-content-section')].find(s => s.querySelector('.node-details-content-section-header')?.textContent === 'HTTP statistics: events not counted')`;
    await page.waitFor(`!!${section}`, "the losses table").catch(async (error) => {
      const headers = await page.evaluate<string[]>(`[...document.querySelectorAll('.node-details-content-section-header')].map(h => h.textContent)`);
      throw new Error(`${error.message}; the panel's sections: ${JSON.stringify(headers)}`);
    });
    // Every label the table can show, written into the real label cell: none may overflow (be cut to "...").
    const overflowing = await page.evaluate<string[]>(`(() => {
      const cell = ${section}.querySelector('.node-details-property-list-field-label');
      const original = cell.textContent;
      const cut = ${JSON.stringify(["total", ...Object.values(LOSS_LABELS)])}.filter(label => { cell.textContent = label; return cell.scrollWidth > cell.clientWidth; });
      cell.textContent = original;
      return cut;
    })()`);
    expect(overflowing).toEqual([]);
    await page.evaluate(`${section}.scrollIntoView()`);
    await Bun.sleep(200);
    await screenshotOf(page, ".node-details", "host-panel.png");
  }, 60_000);

  test("in the UI: the footer tooltip shows the plugin's whole description inside the window", async () => {
    const page = await browser.open(scope.url, 1280, 900);
    const at = await page.waitFor<{ x: number; y: number }>(
      `(() => { const e = [...document.querySelectorAll('.plugins-plugin span')].find(s => s.textContent.trim() === 'HTTP Statistics'); if (!e) return null; const b = e.getBoundingClientRect(); return { x: b.x + b.width / 2, y: b.y + b.height / 2 }; })()`,
      "the plugin in the footer",
    );
    await page.hover(at.x, at.y);
    const tip = await page.waitFor<{ left: number; right: number; top: number; text: string; width: number }>(
      `(() => { const t = [...document.querySelectorAll('.plugins-plugin .tooltip')].find(t => getComputedStyle(t).display !== 'none'); if (!t) return null; const b = t.getBoundingClientRect(); return { left: b.left, right: b.right, top: b.top, text: t.textContent, width: window.innerWidth }; })()`,
      "the plugin's tooltip",
    );
    expect(tip.text).toContain(PLUGIN_DESCRIPTION);
    expect(tip.left).toBeGreaterThanOrEqual(0);
    expect(tip.right).toBeLessThanOrEqual(tip.width);
    await Bun.sleep(300); // painted, not only laid out
    const shot = { x: Math.max(0, tip.left - 20), y: Math.max(0, tip.top - 10), width: Math.min(tip.width, tip.right + 20) - Math.max(0, tip.left - 20), height: 900 - Math.max(0, tip.top - 10) };
    await Bun.write(join(SCREENSHOTS, "footer-tooltip.png"), await page.screenshot(shot));
  }, 60_000);
});
