/**
 * HTTP/2 with prior knowledge (h2c): requests and responses by :status,
 * counted in the kernel on both sides, exactly, under 100 concurrent
 * streams per connection. Real servers (nghttpd, nginx `http2`) and real
 * clients (h2load, nghttp, curl --http2-prior-knowledge); the clients' own
 * reports are the truth. Runs under both captures (syscall_capture.test.ts).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { LOSS_REASONS } from "../../src/kernel/kernel_abi";
import { lossKey } from "../../src/outputs/report";
import { startPlugin, type RunningPlugin } from "../support/plugin";
import { spawnPrintingPort, startNginx, waitForPort, type RunningServer } from "../support/servers";
import { grpcCounts, processSeries, sideCounts, timedCount, timedSum } from "../support/metrics_text";
import { ACCURACY_WINDOW, AccuracyTable, expectedTotals, reportedLoss, type Totals } from "./harness";

setDefaultTimeout(90_000);

const FIXTURES = join(import.meta.dir, "..", "fixtures");

const table = new AccuracyTable("http2");
let plugin: RunningPlugin;
let docs: string;

/** A port nothing listens on now (the kernel's pick for port 0). */
async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

interface Nghttpd {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

async function startNghttpd(): Promise<Nghttpd> {
  const port = await freePort();
  const proc: Subprocess = Bun.spawn(["nghttpd", "--no-tls", "-d", docs, String(port)], { stdout: "ignore", stderr: "inherit" });
  await waitForPort(port);
  return {
    port,
    pid: proc.pid,
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

async function run(argv: string[]): Promise<{ pid: number; out: string }> {
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${err}`);
  return { pid: proc.pid, out };
}

type Side = "server" | "client";
interface Counts {
  requests: number;
  codes: Record<number, number>;
}

async function countsOf(pid: number, side: Side): Promise<Counts> {
  return sideCounts(await processSeries(plugin, pid), side);
}

function minus(after: Counts, before: Counts): Counts {
  const codes: Record<number, number> = {};
  for (const [code, n] of Object.entries(after.codes)) {
    const d = n - (before.codes[Number(code)] ?? 0);
    if (d) codes[Number(code)] = d;
  }
  return { requests: after.requests - before.requests, codes };
}

/** Waits until the process's side has counted `requests` requests and every response, then one more tick for any excess. */
async function settle(pid: number, side: Side, before: Counts, expected: Counts): Promise<Counts> {
  const want = expected.requests + Object.values(expected.codes).reduce((a, b) => a + b, 0);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const now = minus(await countsOf(pid, side), before);
    const have = now.requests + Object.values(now.codes).reduce((a, b) => a + b, 0);
    if (have >= want || Date.now() > deadline) break;
    await Bun.sleep(100);
  }
  // A tick after the traffic: anything counted in excess is in by then.
  await plugin.reportAfter(Date.now());
  return minus(await countsOf(pid, side), before);
}

function totalsOf(c: Counts): Totals {
  const plan: Record<number, number> = { ...c.codes };
  const t = expectedTotals(plan);
  // expectedTotals assumes one request per response; keep the measured requests.
  t.http_requests_per_second = c.requests;
  return t;
}

const ZERO: Counts = { requests: 0, codes: {} };

/** h2load's own tally: "requests: N total, ... S succeeded" and "status codes: a 2xx, b 3xx, c 4xx, d 5xx". */
function h2loadTally(out: string): { done: number; classes: number[] } {
  const done = Number(/requests: \d+ total, \d+ started, (\d+) done/.exec(out)?.[1]);
  const m = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
  if (!m || Number.isNaN(done)) throw new Error(`unexpected h2load output:\n${out}`);
  return { done, classes: m.slice(1).map(Number) };
}

beforeAll(async () => {
  docs = mkdtempSync(join(tmpdir(), "hs-h2-"));
  writeFileSync(join(docs, "index.html"), "<h1>hello over h2c</h1>\n");
  // Larger than any read: its DATA frames split across calls, and frame headers with them.
  writeFileSync(join(docs, "big.bin"), Buffer.alloc(200_000, 0x5a));
  plugin = await startPlugin({ args: ACCURACY_WINDOW });
}, 30_000);

afterAll(async () => {
  table.flush();
  await plugin?.stop();
}, 30_000);

describe("h2c with prior knowledge", () => {
  let nghttpd: Nghttpd;
  beforeAll(async () => {
    nghttpd = await startNghttpd();
  });
  afterAll(async () => {
    await nghttpd?.stop();
  });

  test("nghttpd and h2load, 100 concurrent streams per connection: every request and status, both sides", async () => {
    const lossesBefore = await lossTotals();
    const serverBefore = await countsOf(nghttpd.pid, "server");
    const base = `http://127.0.0.1:${nghttpd.port}`;
    const ok = await run(["h2load", "-n", "1000", "-c", "2", "-m", "100", `${base}/index.html`]);
    const missing = await run(["h2load", "-n", "400", "-c", "1", "-m", "100", `${base}/missing`]);
    const big = await run(["h2load", "-n", "40", "-c", "1", "-m", "20", `${base}/big.bin`]);
    expect(h2loadTally(ok.out)).toEqual({ done: 1000, classes: [1000, 0, 0, 0] });
    expect(h2loadTally(missing.out)).toEqual({ done: 400, classes: [0, 0, 400, 0] });
    expect(h2loadTally(big.out)).toEqual({ done: 40, classes: [40, 0, 0, 0] });
    const server = await settle(nghttpd.pid, "server", serverBefore, { requests: 1440, codes: { 200: 1040, 404: 400 } });
    const clients = [
      [ok.pid, { requests: 1000, codes: { 200: 1000 } }],
      [missing.pid, { requests: 400, codes: { 404: 400 } }],
      [big.pid, { requests: 40, codes: { 200: 40 } }],
    ] as const;
    table.add({ case: "h2load -m 100, server side", server: "nghttpd", client: "h2load", syscalls: "read / write", sent: totalsOf({ requests: 1440, codes: { 200: 1040, 404: 400 } }), counted: totalsOf(server) });
    expect(server).toEqual({ requests: 1440, codes: { 200: 1040, 404: 400 } });
    for (const [pid, expected] of clients) {
      const client = await settle(pid, "client", ZERO, expected);
      table.add({ case: "h2load -m 100, client side", server: "nghttpd", client: "h2load", syscalls: "writev / read", sent: totalsOf(expected), counted: totalsOf(client) });
      expect(client).toEqual(expected);
      expect(await countsOf(pid, "server")).toEqual(ZERO);
    }
    await expectNoHttp2Loss(lossesBefore);
  });

  test("durations per stream: one stream at a time all timed; 100 at once, the first 8 of each connection timed", async () => {
    const serverBefore = await processSeries(plugin, nghttpd.pid);
    const base = `http://127.0.0.1:${nghttpd.port}`;
    const serial = await run(["h2load", "-n", "300", "-c", "1", "-m", "1", `${base}/index.html`]);
    const burst = await run(["h2load", "-n", "1000", "-c", "1", "-m", "100", `${base}/big.bin`]);
    expect(h2loadTally(serial.out).done).toBe(300);
    expect(h2loadTally(burst.out).done).toBe(1000);
    await settle(burst.pid, "client", ZERO, { requests: 1000, codes: { 200: 1000 } });
    const serialSeries = await processSeries(plugin, serial.pid);
    const burstSeries = await processSeries(plugin, burst.pid);
    const server = await processSeries(plugin, nghttpd.pid);
    // Each answer is timed from its request's HEADERS to its END_STREAM: well under a second here.
    expect(timedCount(serialSeries, "client")).toBe(300);
    expect(timedSum(serialSeries, "client") / 300).toBeLessThan(1);
    expect(timedCount(server, "server") - timedCount(serverBefore, "server")).toBeGreaterThanOrEqual(300);
    // 100 streams at once on a connection that keeps 8 start times: at least 8 are timed, the rest untimed.
    const burstTimed = timedCount(burstSeries, "client");
    expect(burstTimed).toBeGreaterThanOrEqual(8);
    expect(burstTimed).toBeLessThan(1000);
    expect(sideCounts(burstSeries, "client")).toEqual({ requests: 1000, codes: { 200: 1000 } });
  });

  test("nghttp: many requests on one connection; curl --http2-prior-knowledge: one each", async () => {
    const lossesBefore = await lossTotals();
    const serverBefore = await countsOf(nghttpd.pid, "server");
    const base = `http://127.0.0.1:${nghttpd.port}`;
    // Distinct URIs: nghttp fetches a repeated one once.
    const urls = [...Array.from({ length: 12 }, (_, i) => `${base}/index.html?${i}`), ...Array.from({ length: 5 }, (_, i) => `${base}/nope?${i}`), `${base}/big.bin`];
    const nghttp = await run(["nghttp", "-n", ...urls]);
    const curlCodes: number[] = [];
    const curlPids: number[] = [];
    for (const path of ["/index.html", "/nope", "/index.html"]) {
      const curl = await run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--http2-prior-knowledge", `${base}${path}`]);
      curlCodes.push(Number(curl.out));
      curlPids.push(curl.pid);
    }
    expect(curlCodes).toEqual([200, 404, 200]);
    const expectedServer = { requests: 21, codes: { 200: 15, 404: 6 } };
    const server = await settle(nghttpd.pid, "server", serverBefore, expectedServer);
    table.add({ case: "nghttp + curl, server side", server: "nghttpd", client: "nghttp, curl", syscalls: "read / write", sent: totalsOf(expectedServer), counted: totalsOf(server) });
    expect(server).toEqual(expectedServer);
    const nghttpExpected = { requests: 18, codes: { 200: 13, 404: 5 } };
    const nghttpCounted = await settle(nghttp.pid, "client", ZERO, nghttpExpected);
    table.add({ case: "nghttp, 18 streams on one connection", server: "nghttpd", client: "nghttp", syscalls: "writev / read", sent: totalsOf(nghttpExpected), counted: totalsOf(nghttpCounted) });
    expect(nghttpCounted).toEqual(nghttpExpected);
    for (const [i, pid] of curlPids.entries()) {
      const expected = { requests: 1, codes: { [curlCodes[i]!]: 1 } };
      expect(await settle(pid, "client", ZERO, expected)).toEqual(expected);
    }
    await expectNoHttp2Loss(lossesBefore);
  });
});

describe("nginx http2 (h2c prior knowledge)", () => {
  let nginx: RunningServer;
  // Codes outside HPACK's static table come as literals; 204 and 304 are static.
  const PLAN: Record<number, number> = { 200: 3, 201: 2, 204: 1, 302: 1, 304: 1, 404: 2, 418: 2, 503: 2 };
  beforeAll(async () => {
    const port = await freePort();
    nginx = await startNginx({ port, workers: 1, http2: true });
  });
  afterAll(async () => {
    await nginx?.stop();
  });

  test("literal and static :status codes, server side (nginx) and client side (nghttp, curl)", async () => {
    const lossesBefore = await lossTotals();
    const worker = nginx.servingPids[0]!;
    const before = await countsOf(worker, "server");
    const base = `http://127.0.0.1:${nginx.port}`;
    const urls = Object.entries(PLAN).flatMap(([code, n]) => Array.from({ length: n }, (_, i) => `${base}/status/${code}?${i}`));
    const nghttp = await run(["nghttp", "-n", ...urls]);
    const curl = await run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--http2-prior-knowledge", `${base}/status/418`]);
    expect(curl.out).toBe("418");
    const total = urls.length + 1;
    const expectedServer: Counts = { requests: total, codes: { ...PLAN, 418: PLAN[418]! + 1 } };
    const server = await settle(worker, "server", before, expectedServer);
    table.add({ case: "nginx http2, literal statuses, server side", server: "nginx", client: "nghttp, curl", syscalls: "recvfrom / writev", sent: totalsOf(expectedServer), counted: totalsOf(server) });
    expect(server).toEqual(expectedServer);
    const expectedClient: Counts = { requests: urls.length, codes: PLAN };
    const client = await settle(nghttp.pid, "client", ZERO, expectedClient);
    table.add({ case: "nginx http2, literal statuses, client side", server: "nginx", client: "nghttp", syscalls: "writev / read", sent: totalsOf(expectedClient), counted: totalsOf(client) });
    expect(client).toEqual(expectedClient);
    expect(await settle(curl.pid, "client", ZERO, { requests: 1, codes: { 418: 1 } })).toEqual({ requests: 1, codes: { 418: 1 } });
    await expectNoHttp2Loss(lossesBefore);
  });
});

describe("Node http2: statuses outside HPACK's static table, repeated on one connection", () => {
  // A repeated literal :status is sent as a reference into the connection's dynamic table.
  const PLAN: Record<number, number> = { 201: 12, 302: 9, 418: 15, 200: 4, 503: 6 };
  let server: { proc: Subprocess<"ignore", "pipe", "inherit">; port: number };
  beforeAll(async () => {
    server = await spawnPrintingPort(["node", join(FIXTURES, "http2_server.mjs")], "the Node http2 server");
  });
  afterAll(async () => {
    server?.proc.kill("SIGTERM");
    await server?.proc.exited;
  });

  test("client side (nghttp), Node's server and Node's client: exact, no status left to unknown table entries", async () => {
    const lossesBefore = await lossTotals();
    const before = await countsOf(server.proc.pid, "server");
    const base = `http://127.0.0.1:${server.port}`;
    // Interleaved, so that each code is inserted, referenced, pushed out of our record and inserted again.
    const paths: string[] = [];
    const left = { ...PLAN };
    for (let i = 0; paths.length < Object.values(PLAN).reduce((a, b) => a + b, 0); i++)
      for (const code of Object.keys(left).map(Number)) if (left[code]! > 0 && (i + code) % 3 !== 0) left[code]!--, paths.push(`/status/${code}?${i}`);
    const nghttp = await run(["nghttp", "-n", ...paths.map((p) => `${base}${p}`)]);
    const client = Bun.spawn(["node", join(FIXTURES, "http2_client.mjs"), base], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    client.stdin.write(paths.join("\n"));
    client.stdin.end();
    const [out, code] = await Promise.all([new Response(client.stdout).text(), client.exited]);
    expect(code).toBe(0);
    expect(out.trim().split("\n").map(Number)).toEqual(paths.map((p) => Number(p.slice(8, 11))));
    const each: Counts = { requests: paths.length, codes: PLAN };
    const counted = await settle(nghttp.pid, "client", ZERO, each);
    table.add({ case: "Node http2, repeated literal statuses, client side", server: "node http2", client: "nghttp", syscalls: "writev / read", sent: totalsOf(each), counted: totalsOf(counted) });
    expect(counted).toEqual(each);
    const both: Counts = { requests: 2 * paths.length, codes: Object.fromEntries(Object.entries(PLAN).map(([c, n]) => [Number(c), 2 * n])) };
    // Node writes a burst of frames as one writev of dozens of segments: every segment is walked.
    const nodeServer = await settle(server.proc.pid, "server", before, both);
    const nodeClient = await settle(client.pid, "client", ZERO, each);
    table.add({ case: "Node http2, repeated literal statuses, server side", server: "node http2", client: "nghttp, node", syscalls: "read / writev (28 segments)", sent: totalsOf(both), counted: totalsOf(nodeServer) });
    table.add({ case: "Node http2 client", server: "node http2", client: "node", syscalls: "writev (many segments) / read", sent: totalsOf(each), counted: totalsOf(nodeClient) });
    expect(nodeServer).toEqual(both);
    expect(nodeClient).toEqual(each);
    await expectNoHttp2Loss(lossesBefore);
  });
});

describe("Upgrade: h2c: the request sent in HTTP/1.1 is stream 1, answered in HTTP/2", () => {
  let server: { proc: Subprocess<"ignore", "pipe", "inherit">; port: number };
  beforeAll(async () => {
    server = await spawnPrintingPort(["/usr/bin/python3", join(FIXTURES, "h2c_upgrade_server.py")], "the h2c upgrade server");
  });
  afterAll(async () => {
    server?.proc.kill("SIGTERM");
    await server?.proc.exited;
  });

  test("curl --http2 and nghttp -u: the 101 and the HTTP/2 answers, both sides", async () => {
    const lossesBefore = await lossTotals();
    const before = await countsOf(server.proc.pid, "server");
    const base = `http://127.0.0.1:${server.port}`;
    const curls: { pid: number; code: number }[] = [];
    for (const code of [418, 201, 200]) {
      const curl = await run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", "--http2", `${base}/status/${code}`]);
      expect(curl.out).toBe(`${code} 2`);
      curls.push({ pid: curl.pid, code });
    }
    // nghttp upgrades with its first request, then opens the others as HTTP/2 streams.
    const nghttp = await run(["nghttp", "-nu", `${base}/status/302?0`, `${base}/status/503?1`, `${base}/status/302?2`]);
    // Each upgrade is one request with two answers: the 101, then the final status on stream 1.
    const expectedServer: Counts = { requests: 6, codes: { 101: 4, 418: 1, 201: 1, 200: 1, 302: 2, 503: 1 } };
    const counted = await settle(server.proc.pid, "server", before, expectedServer);
    table.add({ case: "Upgrade: h2c, server side", server: "python h2", client: "curl --http2, nghttp -u", syscalls: "recv / sendall", sent: totalsOf(expectedServer), counted: totalsOf(counted) });
    expect(counted).toEqual(expectedServer);
    for (const { pid, code } of curls) {
      const expected: Counts = { requests: 1, codes: { 101: 1, [code]: 1 } };
      expect(await settle(pid, "client", ZERO, expected)).toEqual(expected);
    }
    const nghttpExpected: Counts = { requests: 3, codes: { 101: 1, 302: 2, 503: 1 } };
    const nghttpCounted = await settle(nghttp.pid, "client", ZERO, nghttpExpected);
    table.add({ case: "Upgrade: h2c, client side", server: "python h2", client: "nghttp -u", syscalls: "writev / read", sent: totalsOf(nghttpExpected), counted: totalsOf(nghttpCounted) });
    expect(nghttpCounted).toEqual(nghttpExpected);
    await expectNoHttp2Loss(lossesBefore);
  });
});

describe("Hypercorn (ASGI over h2c with prior knowledge)", () => {
  // Python's h2 indexes every field: each literal status is inserted once per connection and referred to after.
  const PLAN: Record<number, number> = { 200: 4, 418: 5, 201: 3, 503: 4 };
  let server: { proc: Subprocess<"ignore", "pipe", "inherit">; port: number };
  beforeAll(async () => {
    server = await spawnPrintingPort(["/usr/bin/python3", join(FIXTURES, "hypercorn_app.py")], "the Hypercorn server");
    await waitForPort(server.port);
  });
  afterAll(async () => {
    server?.proc.kill("SIGTERM");
    await server?.proc.exited;
  });

  test("server side (Hypercorn) and client side (nghttp, h2load, curl): exact", async () => {
    const lossesBefore = await lossTotals();
    const before = await countsOf(server.proc.pid, "server");
    const base = `http://127.0.0.1:${server.port}`;
    const urls: string[] = [];
    for (let i = 0; urls.length < Object.values(PLAN).reduce((a, b) => a + b, 0); i++)
      for (const [code, n] of Object.entries(PLAN)) if (i < n) urls.push(`${base}/status/${code}?${i}`);
    const nghttp = await run(["nghttp", "-n", ...urls]);
    const h2load = await run(["h2load", "-n", "200", "-c", "1", "-m", "10", `${base}/status/404`]);
    expect(h2loadTally(h2load.out)).toEqual({ done: 200, classes: [0, 0, 200, 0] });
    const curl = await run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", "--http2-prior-knowledge", `${base}/status/418`]);
    expect(curl.out).toBe("418 2");
    const expectedServer: Counts = { requests: urls.length + 201, codes: { ...PLAN, 418: PLAN[418]! + 1, 404: 200 } };
    const counted = await settle(server.proc.pid, "server", before, expectedServer);
    table.add({ case: "Hypercorn, server side", server: "hypercorn", client: "nghttp, h2load, curl", syscalls: "recvfrom / sendto", sent: totalsOf(expectedServer), counted: totalsOf(counted) });
    expect(counted).toEqual(expectedServer);
    const nghttpExpected: Counts = { requests: urls.length, codes: PLAN };
    const nghttpCounted = await settle(nghttp.pid, "client", ZERO, nghttpExpected);
    table.add({ case: "Hypercorn, client side", server: "hypercorn", client: "nghttp", syscalls: "writev / read", sent: totalsOf(nghttpExpected), counted: totalsOf(nghttpCounted) });
    expect(nghttpCounted).toEqual(nghttpExpected);
    expect(await settle(h2load.pid, "client", ZERO, { requests: 200, codes: { 404: 200 } })).toEqual({ requests: 200, codes: { 404: 200 } });
    expect(await settle(curl.pid, "client", ZERO, { requests: 1, codes: { 418: 1 } })).toEqual({ requests: 1, codes: { 418: 1 } });
    await expectNoHttp2Loss(lossesBefore);
  });
});

describe("gRPC (Python grpcio, cleartext)", () => {
  let server: { proc: Subprocess<"ignore", "pipe", "inherit">; port: number };
  beforeAll(async () => {
    server = await spawnPrintingPort(["/usr/bin/python3", join(FIXTURES, "grpc_peer.py"), "server"], "the gRPC server");
  });
  afterAll(async () => {
    server?.proc.kill("SIGTERM");
    await server?.proc.exited;
  });

  test("unary OK / NOT_FOUND / INTERNAL and server-streaming calls: each a request and a 200, and its grpc-status, exact on both sides", async () => {
    const lossesBefore = await lossTotals();
    const before = await processSeries(plugin, server.proc.pid);
    // Repeated on one connection: grpcio inserts each grpc-status into its HPACK dynamic table the
    // first time (OK in trailers after the DATA; NOT_FOUND and INTERNAL in trailers-only answers,
    // beside :status 200) and refers to that entry every time after.
    const calls = ["OK", "NOT_FOUND", "INTERNAL", "STREAM", "OK", "NOT_FOUND", "INTERNAL", "STREAM", "NOT_FOUND", "OK", "INTERNAL", "NOT_FOUND"];
    const client = await run(["/usr/bin/python3", join(FIXTURES, "grpc_peer.py"), "client", String(server.port), ...calls]);
    const ended = calls.map((c) => (c === "STREAM" ? "OK" : c));
    expect(client.out.trim().split("\n")).toEqual(ended);
    // gRPC answers every call with HTTP status 200; its own status travels in trailers.
    const expected: Counts = { requests: calls.length, codes: { 200: calls.length } };
    const expectedGrpc: Record<string, number> = {};
    for (const status of ended) expectedGrpc[status] = (expectedGrpc[status] ?? 0) + 1;
    // grpcio writes a burst of frames as one sendmsg of many segments: every segment is walked.
    const serverSide = await settle(server.proc.pid, "server", sideCounts(before, "server"), expected);
    const clientSide = await settle(client.pid, "client", ZERO, expected);
    table.add({ case: "gRPC unary and streaming, server side", server: "grpcio", client: "grpcio", syscalls: "recvmsg / sendmsg (many segments)", sent: totalsOf(expected), counted: totalsOf(serverSide) });
    table.add({ case: "gRPC unary and streaming, client side", server: "grpcio", client: "grpcio", syscalls: "sendmsg (many segments) / recvmsg", sent: totalsOf(expected), counted: totalsOf(clientSide) });
    expect(serverSide).toEqual(expected);
    expect(clientSide).toEqual(expected);
    // The trailers come with the answer's END_STREAM: counted with the responses, in by now.
    const serverGrpc = grpcCounts(await processSeries(plugin, server.proc.pid), "server");
    const grpcBefore = grpcCounts(before, "server");
    expect(Object.fromEntries(Object.entries(serverGrpc).map(([status, n]) => [status, n - (grpcBefore[status] ?? 0)]).filter(([, n]) => n))).toEqual(expectedGrpc);
    const clientSeries = await processSeries(plugin, client.pid);
    expect(grpcCounts(clientSeries, "client")).toEqual(expectedGrpc);
    expect(grpcCounts(clientSeries, "server")).toEqual({});
    await expectNoHttp2Loss(lossesBefore);
  });
});

/** No HTTP/2 loss since `before` (the counters are the machine's: only this file runs HTTP/2 here). */
async function expectNoHttp2Loss(before: Record<string, number>): Promise<void> {
  const now = await lossTotals();
  expect({ h2_lost: now.h2_lost! - before.h2_lost!, h2_dynamic_table: now.h2_dynamic_table! - before.h2_dynamic_table! }).toEqual({ h2_lost: 0, h2_dynamic_table: 0 });
}

/** Every loss reason's count so far, from the report. */
async function lossTotals(): Promise<Record<string, number>> {
  const report = await plugin.report();
  return Object.fromEntries(LOSS_REASONS.map((r) => [r, reportedLoss(report, plugin.hostId, lossKey(r))]));
}

