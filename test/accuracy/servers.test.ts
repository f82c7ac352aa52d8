/**
 * Accuracy with real servers and real clients: nginx (several workers,
 * checked per worker against nginx's own access log), Node http,
 * Bun.serve and Python http.server, driven by curl, wrk, Node's fetch and
 * a raw socket client.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { startPlugin, type RunningPlugin } from "../support/plugin";
import { startBunServer, startNodeServer, startPythonServer, type RunningServer } from "../support/servers";
import { curl, statusUrls } from "../support/traffic";
import { histogram, nodeFetch, parseResponses, planPaths, rawExchange, request, wrk } from "./clients";
import { ACCURACY_WINDOW, AccuracyTable, expectedTotals, Meter, sumTotals, type Totals } from "./harness";
import { startLoggedNginx, type LoggedNginx } from "./servers";

// Cases wait for the plugin's ticks and some drive thousands of requests.
setDefaultTimeout(60_000);

const table = new AccuracyTable("servers");
const PLAN = { 200: 20, 201: 4, 204: 3, 299: 2, 302: 3, 304: 2, 400: 2, 404: 8, 418: 2, 500: 2, 503: 3, 599: 2 };
const WORKERS = 4;
const NGINX_PORT = 18340;

let plugin: RunningPlugin;
let meter: Meter;
let nginx: LoggedNginx;

beforeAll(async () => {
  plugin = await startPlugin({ args: ACCURACY_WINDOW });
  meter = new Meter(plugin);
  nginx = await startLoggedNginx(NGINX_PORT, WORKERS);
  await meter.start();
}, 30_000);
afterAll(async () => {
  table.flush();
  await nginx?.stop();
  await plugin?.stop();
}, 30_000);

/**
 * After traffic to nginx: every worker's counts equal what its access log
 * says it served, and the sum equals what the clients sent.
 */
async function checkNginx(name: string, client: string, syscalls: string, sent: Totals): Promise<void> {
  const perWorker = await meter.measureEach(nginx.workers);
  const counted = sumTotals([...perWorker.values()]);
  const served = nginx.servedByPid();
  table.add({ case: name, server: `nginx, ${WORKERS} workers`, client, syscalls, sent, counted });
  for (const pid of served.keys()) expect(nginx.workers).toContain(pid);
  expect(sumTotals([...served.values()].map((codes) => expectedTotals(codes)))).toEqual(sent);
  expect(counted).toEqual(sent);
  for (const pid of nginx.workers)
    expect({ pid, ...perWorker.get(pid) }).toEqual({ pid, ...expectedTotals(served.get(pid) ?? {}) });
}

describe("nginx, several workers: counts land on the worker that served", () => {
  test("curl, a new connection per request, every status class", async () => {
    const codes = await curl(statusUrls(`http://127.0.0.1:${NGINX_PORT}`, PLAN), { close: true });
    expect(histogram(codes)).toEqual(PLAN);
    await checkNginx("new connection per request, all classes", "curl", "recvfrom / writev", expectedTotals(PLAN));
  });

  test("curl over IPv6, keep-alive", async () => {
    const codes = await curl(statusUrls(`http://[::1]:${NGINX_PORT}`, PLAN));
    expect(histogram(codes)).toEqual(PLAN);
    await checkNginx("IPv6 keep-alive, all classes", "curl", "recvfrom / writev", expectedTotals(PLAN));
  });

  test("curl, HTTP/1.0", async () => {
    const codes = await curl(statusUrls(`http://127.0.0.1:${NGINX_PORT}`, PLAN), { http10: true });
    expect(histogram(codes)).toEqual(PLAN);
    await checkNginx("HTTP/1.0, all classes", "curl --http1.0", "recvfrom / writev", expectedTotals(PLAN));
  });

  test("wrk, keep-alive, hundreds of requests per connection", async () => {
    const result = await wrk(`http://127.0.0.1:${NGINX_PORT}/status/200`, 8, 2);
    await nginx.idle();
    const served = [...nginx.servedByPid(false).values()].reduce((sum, codes) => sum + (codes[200] ?? 0), 0);
    // wrk counts only the responses it finished reading before it stopped.
    expect(served).toBeGreaterThanOrEqual(result.requests);
    expect(served).toBeLessThanOrEqual(result.requests + 8);
    expect(served / 8).toBeGreaterThan(200);
    await checkNginx(`keep-alive, ~${Math.round(served / 8)} requests per connection`, "wrk -c 8", "recvfrom / writev", expectedTotals({ 200: served }));
  });

  test("wrk, 1,200 concurrent connections", async () => {
    const result = await wrk(`http://127.0.0.1:${NGINX_PORT}/status/404`, 1200, 3);
    // nginx logs an answer when it finishes the request: some of the 1,200 are still finishing when wrk exits.
    await nginx.idle();
    const served = [...nginx.servedByPid(false).values()].reduce((sum, codes) => sum + (codes[404] ?? 0), 0);
    expect(served).toBeGreaterThanOrEqual(result.requests);
    expect(served).toBeLessThanOrEqual(result.requests + 1200);
    await checkNginx("1,200 concurrent connections", "wrk -c 1200", "recvfrom / writev", expectedTotals({ 404: served }));
  });

  test("1 MiB static file by sendfile", async () => {
    const codes = await curl(Array.from({ length: 6 }, () => `http://127.0.0.1:${NGINX_PORT}/big.bin`));
    expect(codes).toEqual([200, 200, 200, 200, 200, 200]);
    await checkNginx("1 MiB file, keep-alive", "curl", "recvfrom / writev + sendfile", expectedTotals({ 200: 6 }));
  });

  test("raw client, 300 requests pipelined in one write", async () => {
    const plan = { 200: 200, 404: 60, 503: 40 };
    const paths = planPaths(plan);
    const text = paths.map((p, i) => request("GET", p, i === paths.length - 1 ? { Connection: "close" } : {})).join("");
    const stream = await rawExchange({ port: NGINX_PORT, writes: [text] });
    expect(histogram(parseResponses(stream))).toEqual(plan);
    await checkNginx("pipelining: 300 requests in one send", "raw socket", "recvfrom / writev", expectedTotals(plan));
  });
});

async function singleProcessCase(server: RunningServer, name: string, label: string, client: string, syscalls: string, drive: () => Promise<number[]>, plan: Record<number, number>) {
  const codes = await drive();
  expect(histogram(codes)).toEqual(plan);
  const sent = expectedTotals(plan);
  const counted = await meter.measure(server.servingPids);
  table.add({ case: name, server: label, client, syscalls, sent, counted });
  expect(counted).toEqual(sent);
}

function pipelinedDrive(port: number, plan: Record<number, number>) {
  return async () => {
    const paths = planPaths(plan);
    const text = paths.map((p, i) => request("GET", p, i === paths.length - 1 ? { Connection: "close" } : {})).join("");
    return parseResponses(await rawExchange({ port, writes: [text] }));
  };
}

const KEEPALIVE_PLAN = { 200: 150, 201: 10, 404: 30, 418: 5, 500: 5 };

describe("Node http", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startNodeServer(18341);
  }, 30_000);
  afterAll(() => server?.stop());
  const syscalls = "read / writev (chunked body)";
  test("curl keep-alive", () =>
    singleProcessCase(server, "keep-alive, all classes", "node http", "curl", syscalls, () => curl(statusUrls("http://127.0.0.1:18341", PLAN)), PLAN));
  test("curl, a new connection per request", () =>
    singleProcessCase(server, "new connection per request", "node http", "curl", syscalls, () => curl(statusUrls("http://127.0.0.1:18341", PLAN), { close: true }), PLAN));
  test("node fetch", () =>
    singleProcessCase(server, "keep-alive pool", "node http", "node fetch", syscalls, () => nodeFetch("http://127.0.0.1:18341", planPaths(KEEPALIVE_PLAN)), KEEPALIVE_PLAN));
  test("pipelined", () =>
    singleProcessCase(server, "pipelining: 200 requests in one send", "node http", "raw socket", syscalls, pipelinedDrive(18341, KEEPALIVE_PLAN), KEEPALIVE_PLAN));
});

describe("Node cluster: the primary accepts, workers get each connection over IPC", () => {
  let proc: ReturnType<typeof Bun.spawn>;
  const workers: number[] = [];
  beforeAll(async () => {
    proc = Bun.spawn(["node", join(import.meta.dir, "node_cluster.mjs"), "18345", "2"], { stdout: "pipe", stderr: "inherit" });
    const reader = (proc.stdout as ReadableStream<Uint8Array>).getReader();
    let text = "";
    const deadline = Date.now() + 15_000;
    while (!text.includes("ready\n")) {
      if (Date.now() > deadline) throw new Error(`node cluster not ready: ${text}`);
      const { value, done } = await reader.read();
      if (done) throw new Error(`node cluster exited: ${text}`);
      text += new TextDecoder().decode(value);
    }
    for (const m of text.matchAll(/worker (\d+)/g)) workers.push(Number(m[1]));
  }, 30_000);
  afterAll(async () => {
    proc?.kill();
    await proc?.exited;
  });
  test("curl, a new connection per request", async () => {
    const codes = await curl(statusUrls("http://127.0.0.1:18345", PLAN), { close: true });
    expect(histogram(codes)).toEqual(PLAN);
    const each = await meter.measureEach([proc.pid, ...workers]);
    const counted = sumTotals(workers.map((pid) => each.get(pid)!));
    const sent = expectedTotals(PLAN);
    expect(each.get(proc.pid)).toEqual({}); // the primary only accepted
    table.add({ case: "connections passed to workers (SCM_RIGHTS)", server: "node cluster, 2 workers", client: "curl", syscalls: "recvmsg (fd) + read / writev", sent, counted });
    expect(counted).toEqual(sent);
  });
});

describe("Bun.serve", () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startBunServer(18342);
  }, 30_000);
  afterAll(() => server?.stop());
  const syscalls = "recvfrom / sendto";
  test("curl keep-alive", () =>
    singleProcessCase(server, "keep-alive, all classes", "Bun.serve", "curl", syscalls, () => curl(statusUrls("http://127.0.0.1:18342", PLAN)), PLAN));
  test("node fetch", () =>
    singleProcessCase(server, "keep-alive pool", "Bun.serve", "node fetch", syscalls, () => nodeFetch("http://127.0.0.1:18342", planPaths(KEEPALIVE_PLAN)), KEEPALIVE_PLAN));
  test("pipelined", () =>
    singleProcessCase(server, "pipelining: 200 requests in one send", "Bun.serve", "raw socket", syscalls, pipelinedDrive(18342, KEEPALIVE_PLAN), KEEPALIVE_PLAN));
});

describe("Python http.server (headers and body in separate writes)", () => {
  let http10: RunningServer;
  let http11: RunningServer;
  beforeAll(async () => {
    [http10, http11] = await Promise.all([startPythonServer(18343, "HTTP/1.0"), startPythonServer(18344, "HTTP/1.1")]);
  }, 30_000);
  afterAll(() => Promise.all([http10?.stop(), http11?.stop()]));
  const syscalls = "recvfrom / sendto x2 (head, body)";
  test("HTTP/1.0 server: a connection per request", () =>
    singleProcessCase(http10, "HTTP/1.0 responses, all classes", "python http.server 1.0", "curl", syscalls, () => curl(statusUrls("http://127.0.0.1:18343", PLAN)), PLAN));
  test("HTTP/1.1 server: keep-alive", () =>
    singleProcessCase(http11, "HTTP/1.1 keep-alive, all classes", "python http.server 1.1", "curl", syscalls, () => curl(statusUrls("http://127.0.0.1:18344", PLAN)), PLAN));
  test("HTTP/1.1 server: node fetch", () =>
    singleProcessCase(http11, "keep-alive pool", "python http.server 1.1", "node fetch", syscalls, () => nodeFetch("http://127.0.0.1:18344", planPaths(KEEPALIVE_PLAN)), KEEPALIVE_PLAN));
});
