/**
 * The client side: a process that sends requests and reads the answers
 * counts its outgoing requests, the responses it received by status code,
 * and their durations. Real clients (curl, wrk, Node's fetch, Python's
 * http.client, Bun's fetch) against nginx, whose access log is the truth;
 * and nginx as a reverse proxy, which is both sides on one pid.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { lossKey, LOSSES_TOTAL_KEY, REQUESTS_METRIC, responseMetricId } from "../../src/outputs/report";
import { startPlugin, totals, type RunningPlugin } from "../support/plugin";
import { startNginx } from "../support/servers";
import { processSeries, sideCounts, timedCount } from "../support/metrics_text";
import { histogram, planPaths } from "./clients";
import { ACCURACY_WINDOW, AccuracyTable, expectedTotals, reportedLoss } from "./harness";
import { startLoggedNginx, type LoggedNginx } from "./servers";

setDefaultTimeout(60_000);

const table = new AccuracyTable("client_side");
// No redirects: nginx's "return 3xx text" makes the text a Location header, and fetch clients follow or refuse it.
const PLAN = { 200: 9, 201: 2, 202: 1, 204: 2, 304: 1, 404: 3, 418: 1, 500: 1, 503: 2 };
const PLAN_TOTAL = Object.values(PLAN).reduce((a, b) => a + b, 0);
const PLAN_ERRORS = Object.entries(PLAN).reduce((sum, [code, n]) => sum + (Number(code) >= 400 ? n : 0), 0);
const NGINX_PORT = 18780;
const FRONT_PORT = 18781;
const BACKEND_PORT = 18782;

let plugin: RunningPlugin;
let nginx: LoggedNginx;
let lossesBefore: number;

beforeAll(async () => {
  plugin = await startPlugin({ args: ACCURACY_WINDOW });
  nginx = await startLoggedNginx(NGINX_PORT, 1);
  lossesBefore = reportedLoss(await plugin.report(), plugin.hostId, LOSSES_TOTAL_KEY);
}, 30_000);
afterAll(async () => {
  table.flush();
  await nginx?.stop();
  await plugin?.stop();
}, 30_000);

interface ClientRun {
  pid: number;
  codes: number[];
}

/** Runs a client that prints one status code per line; bounded by the paths it is given. */
async function runClient(argv: string[], stdin?: string): Promise<ClientRun> {
  const proc = Bun.spawn(argv, { stdin: stdin === undefined ? "ignore" : "pipe", stdout: "pipe", stderr: "pipe", env: { ...process.env, HS_BASE: base } });
  if (stdin !== undefined && proc.stdin) {
    proc.stdin.write(stdin);
    proc.stdin.end();
  }
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code !== 0) throw new Error(`${argv[0]} exited ${code}: ${await new Response(proc.stderr).text()}`);
  return { pid: proc.pid, codes: out.trim().split("\n").filter(Boolean).map(Number) };
}

const base = `http://127.0.0.1:${NGINX_PORT}`;
const paths = () => planPaths(PLAN);

const PYTHON_CLIENT = `
import http.client, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for path in sys.stdin.read().split():
    conn.request("GET", path)
    res = conn.getresponse()
    res.read()
    print(res.status, flush=True)
`;
const BUN_CLIENT = `
const base = process.env.HS_BASE;
const codes = [];
for (const path of (await Bun.stdin.text()).split("\\n").filter(Boolean)) {
  const res = await fetch(base + path);
  await res.arrayBuffer();
  codes.push(res.status);
}
console.log(codes.join("\\n"));
`;

const CLIENTS: Array<{ name: string; syscalls: string; run: () => Promise<ClientRun> }> = [
  {
    name: "curl (one process, one keep-alive connection)",
    syscalls: "sendto / recvfrom",
    run: () => runClient(["curl", "-s", "-w", "%{http_code}\\n", ...paths().flatMap((p) => ["-o", "/dev/null", base + p])]),
  },
  { name: "Node fetch (undici pool)", syscalls: "writev / read", run: () => runClient(["node", join(import.meta.dir, "node_fetch.mjs"), base], paths().join("\n")) },
  { name: "Python http.client", syscalls: "sendall / recv_into", run: () => runClient(["python3", "-c", PYTHON_CLIENT, String(NGINX_PORT)], paths().join("\n")) },
  { name: "Bun fetch", syscalls: "send / recv", run: () => runClient([process.execPath, "-e", BUN_CLIENT], paths().join("\n")) },
];

describe("a client's requests and the responses it received, by code", () => {
  for (const client of CLIENTS) {
    test(client.name, async () => {
      nginx.servedByPid(); // empties the log
      const { pid, codes } = await client.run();
      expect(histogram(codes)).toEqual(PLAN);
      await plugin.reportAfter(Date.now());
      const served = [...nginx.servedByPid().values()];
      expect(served).toEqual([PLAN]);

      const series = await processSeries(plugin, pid);
      const counted = sideCounts(series, "client");
      table.add({ case: `client: ${client.name}`, server: "nginx", client: client.name.split(" (")[0]!, syscalls: client.syscalls, sent: expectedTotals(PLAN), counted: expectedTotalsOf(counted) });
      expect(counted).toEqual({ requests: PLAN_TOTAL, codes: PLAN });
      // A client is not a server: nothing on that side.
      expect(sideCounts(series, "server")).toEqual({ requests: 0, codes: {} });
      // Every exchange was timed.
      expect(timedCount(series, "client")).toBe(PLAN_TOTAL);
      // Scope's compact view of the same: outgoing requests and errors (4xx and 5xx).
      const inScope = totals(await plugin.report(), plugin.hostId, pid);
      expect(inScope.http_client_requests_per_second).toBe(PLAN_TOTAL);
      expect(inScope.http_client_errors_per_second).toBe(PLAN_ERRORS);
    });
  }

  test("wrk: requests sent equal nginx's log, responses received equal wrk's count", async () => {
    nginx.servedByPid();
    const proc = Bun.spawn(["wrk", "-t", "1", "-c", "4", "-d", "2s", `${base}/status/200`], { stdout: "pipe", stderr: "pipe" });
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    expect(code).toBe(0);
    const completed = Number(/(\d+) requests in/.exec(out)![1]);
    await plugin.reportAfter(Date.now());
    const served = nginx.servedByPid().get(nginx.workers[0]!)?.[200] ?? 0;
    const counted = sideCounts(await processSeries(plugin, proc.pid), "client");
    table.add({
      case: `client: wrk -c4 for 2 s (${served - completed} in flight at its stop)`,
      server: "nginx",
      client: "wrk",
      syscalls: "write / read",
      sent: { [REQUESTS_METRIC]: served, [responseMetricId(200)]: completed },
      counted: { [REQUESTS_METRIC]: counted.requests, [responseMetricId(200)]: counted.codes[200] ?? 0 },
    });
    // wrk stops with up to one request per connection in flight: sent and
    // served, never read. Its count is of the responses it read.
    expect(counted.requests).toBe(served);
    expect(counted.codes).toEqual({ 200: completed });
    expect(served - completed).toBeGreaterThanOrEqual(0);
    expect(served - completed).toBeLessThanOrEqual(4);
  });
});

/** Totals in the accuracy table's shape (Scope metric ids), from one side's counts. */
function expectedTotalsOf(counted: { requests: number; codes: Record<number, number> }) {
  const out = expectedTotals(counted.codes);
  const requests = Object.values(counted.codes).reduce((a, b) => a + b, 0);
  if (counted.requests !== requests) out.http_requests_per_second = counted.requests;
  return out;
}

describe("nginx as a reverse proxy: one pid, both sides", () => {
  test("front worker counts what it served and what it asked its upstream, exactly", async () => {
    const backend = await startLoggedNginx(BACKEND_PORT, 1);
    const front = await startNginx({ port: FRONT_PORT, workers: 1, proxyTo: BACKEND_PORT });
    try {
      const client = await runClient(["curl", "-s", "-w", "%{http_code}\\n", ...paths().flatMap((p) => ["-o", "/dev/null", `http://127.0.0.1:${FRONT_PORT}${p}`])]);
      expect(histogram(client.codes)).toEqual(PLAN);
      await plugin.reportAfter(Date.now());
      expect([...backend.servedByPid().values()]).toEqual([PLAN]);

      const frontSeries = await processSeries(plugin, front.servingPids[0]!);
      const backendSeries = await processSeries(plugin, backend.workers[0]!);
      const clientSeries = await processSeries(plugin, client.pid);
      const both = { requests: PLAN_TOTAL, codes: PLAN };
      const none = { requests: 0, codes: {} };
      table.add({ case: "nginx proxy_pass: front worker, server side", server: "nginx (proxy)", client: "curl", syscalls: "recvfrom / writev", sent: expectedTotals(PLAN), counted: expectedTotalsOf(sideCounts(frontSeries, "server")) });
      table.add({ case: "nginx proxy_pass: front worker, client side", server: "nginx", client: "nginx (proxy)", syscalls: "writev / readv", sent: expectedTotals(PLAN), counted: expectedTotalsOf(sideCounts(frontSeries, "client")) });
      expect(sideCounts(frontSeries, "server")).toEqual(both);
      expect(sideCounts(frontSeries, "client")).toEqual(both);
      expect(sideCounts(backendSeries, "server")).toEqual(both);
      expect(sideCounts(backendSeries, "client")).toEqual(none);
      expect(sideCounts(clientSeries, "client")).toEqual(both);
      expect(timedCount(frontSeries, "server")).toBe(PLAN_TOTAL);
      expect(timedCount(frontSeries, "client")).toBe(PLAN_TOTAL);
      expect(timedCount(backendSeries, "server")).toBe(PLAN_TOTAL);
    } finally {
      await front.stop();
      await backend.stop();
    }
  });
});

test("nothing of the above was lost", async () => {
  const report = await plugin.report();
  expect(reportedLoss(report, plugin.hostId, LOSSES_TOTAL_KEY) - lossesBefore).toBe(0);
  expect(reportedLoss(report, plugin.hostId, lossKey("untimed"))).toBe(0);
});
