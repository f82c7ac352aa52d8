/**
 * HTTP/1.x over unix stream sockets, counted like TCP: gunicorn bound to a
 * unix socket behind nginx's `proxy_pass http://unix:` (gunicorn's server
 * side, nginx's client side), curl --unix-socket, keep-alive and pipelined
 * requests on one unix connection; unix datagrams and non-HTTP unix stream
 * traffic count nothing. The truth is each client's own list of codes.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPlugin, type RunningPlugin } from "../support/plugin";
import { childrenOf, runNginx, type NginxProcess } from "../support/servers";
import { processSeries, sideCounts, timedCount } from "../support/metrics_text";
import { histogram, planPaths } from "./clients";
import { ACCURACY_WINDOW, AccuracyTable, expectedTotals, Meter } from "./harness";

setDefaultTimeout(60_000);

const DEBIAN_PYTHON = "/usr/bin/python3";
const PEERS = join(import.meta.dir, "unix_peers.py");
const PLAN = { 200: 6, 201: 2, 404: 3, 500: 1, 503: 2 };
const NGINX_PORT = 18795;

const table = new AccuracyTable("unix_sockets");
const dir = mkdtempSync(join(tmpdir(), "hs-acc-unix-"));
// nginx's workers run unprivileged and must reach the sockets.
chmodSync(dir, 0o755);
const GUNICORN_SOCKET = join(dir, "gunicorn.sock");
const PEER_SOCKET = join(dir, "peer.sock");

let plugin: RunningPlugin;
let meter: Meter;
let gunicorn: ReturnType<typeof Bun.spawn>;
let gunicornWorker: number;
let nginx: NginxProcess;
let nginxWorker: number;
let peer: ReturnType<typeof Bun.spawn>;

async function waitForFile(path: string): Promise<void> {
  for (let i = 0; i < 500 && !existsSync(path); i++) await Bun.sleep(20);
  if (!existsSync(path)) throw new Error(`${path} never appeared`);
}

async function onlyChild(pid: number): Promise<number> {
  for (let i = 0; i < 250; i++) {
    const children = childrenOf(pid);
    if (children.length === 1) return children[0]!;
    await Bun.sleep(20);
  }
  throw new Error(`process ${pid} did not start exactly one worker`);
}

/** A keep-alive client whose connection is opened before the plugin starts: one request per line written to it. */
let early: ReturnType<typeof Bun.spawn<"pipe", "pipe", "inherit">>;
let earlyOut: ReadableStreamDefaultReader<Uint8Array>;
let earlyPending = "";

async function earlyGet(paths: string[]): Promise<number[]> {
  const codes: number[] = [];
  for (const path of paths) {
    early.stdin.write(`${path}\n`);
    await early.stdin.flush();
    while (!earlyPending.includes("\n")) {
      const chunk = await earlyOut.read();
      if (chunk.done) throw new Error("the early client ended");
      earlyPending += new TextDecoder().decode(chunk.value);
    }
    codes.push(Number(earlyPending.slice(0, earlyPending.indexOf("\n"))));
    earlyPending = earlyPending.slice(earlyPending.indexOf("\n") + 1);
  }
  return codes;
}

beforeAll(async () => {
  peer = Bun.spawn([DEBIAN_PYTHON, PEERS, "server", PEER_SOCKET], { stdout: "ignore", stderr: "inherit" });
  await waitForFile(PEER_SOCKET);
  early = Bun.spawn([DEBIAN_PYTHON, PEERS, "stdin", PEER_SOCKET], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  earlyOut = early.stdout.getReader();
  // Traffic before the plugin exists: not its to count.
  expect(await earlyGet(["/status/200", "/status/201"])).toEqual([200, 201]);
  plugin = await startPlugin({ args: ACCURACY_WINDOW });
  meter = new Meter(plugin);
  gunicorn = Bun.spawn(
    [DEBIAN_PYTHON, "-m", "gunicorn", "--workers", "1", "--bind", `unix:${GUNICORN_SOCKET}`, "--chdir", import.meta.dir, "unix_peers:app"],
    { stdout: "ignore", stderr: "ignore" },
  );
  await waitForFile(GUNICORN_SOCKET);
  gunicornWorker = await onlyChild(gunicorn.pid);
  nginx = await runNginx(dir, NGINX_PORT, {
    http: `server {
    listen 127.0.0.1:${NGINX_PORT};
    location / { proxy_pass http://unix:${GUNICORN_SOCKET}:; }
  }`,
  });
  nginxWorker = nginx.workers[0]!;
  await meter.start();
}, 30_000);
afterAll(async () => {
  table.flush();
  early?.stdin.end();
  for (const proc of [early, peer, gunicorn]) {
    proc?.kill("SIGTERM");
    await proc?.exited;
  }
  await nginx?.stop();
  await plugin?.stop();
}, 30_000);

/** Runs a bounded client that prints one status code per line. */
async function runClient(argv: string[]): Promise<{ pid: number; codes: number[] }> {
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code !== 0) throw new Error(`${argv[0]} exited ${code}: ${await new Response(proc.stderr).text()}`);
  return { pid: proc.pid, codes: out.trim().split("\n").filter(Boolean).map(Number) };
}

const curlArgs = (paths: string[], base: string, unixSocket?: string) => [
  "curl",
  "-s",
  ...(unixSocket ? ["--unix-socket", unixSocket] : []),
  ...paths.flatMap((p) => ["-o", "/dev/null", "-w", "%{http_code}\\n", `${base}${p}`]),
];

/** The side's requests and codes as /metrics gives them, the same shape as expectedTotals' plan. */
function sideOf(series: Awaited<ReturnType<typeof processSeries>>, side: "server" | "client") {
  return sideCounts(series, side);
}

test("gunicorn on a unix socket behind nginx: gunicorn's server side and nginx's client side exact and timed", async () => {
  const paths = planPaths(PLAN);
  const curl = await runClient(curlArgs(paths, `http://127.0.0.1:${NGINX_PORT}`));
  expect(histogram(curl.codes)).toEqual(PLAN);
  const counted = await meter.measureEach([gunicornWorker, nginxWorker]);
  table.add({ case: "gunicorn behind nginx proxy_pass http://unix:", server: "gunicorn (sync)", client: "curl via nginx", syscalls: "recvfrom / sendto", sent: expectedTotals(PLAN), counted: counted.get(gunicornWorker)! });
  expect(counted.get(gunicornWorker)).toEqual(expectedTotals(PLAN));
  const worker = await processSeries(plugin, gunicornWorker);
  expect(sideOf(worker, "server")).toEqual({ requests: paths.length, codes: PLAN });
  expect(timedCount(worker, "server")).toBe(paths.length);
  const proxy = await processSeries(plugin, nginxWorker);
  // nginx: curl's requests on its server side, and the same requests to gunicorn on its client side.
  expect(sideOf(proxy, "server")).toEqual({ requests: paths.length, codes: PLAN });
  expect(sideOf(proxy, "client")).toEqual({ requests: paths.length, codes: PLAN });
  expect(timedCount(proxy, "client")).toBe(paths.length);
  expect(timedCount(proxy, "server")).toBe(paths.length);
});

test("curl --unix-socket: curl's client side exact and timed", async () => {
  const paths = planPaths(PLAN);
  const curl = await runClient(curlArgs(paths, "http://localhost", GUNICORN_SOCKET));
  expect(histogram(curl.codes)).toEqual(PLAN);
  const counted = await meter.measureEach([gunicornWorker]);
  expect(counted.get(gunicornWorker)).toEqual(expectedTotals(PLAN));
  const client = await processSeries(plugin, curl.pid);
  expect(sideOf(client, "client")).toEqual({ requests: paths.length, codes: PLAN });
  expect(timedCount(client, "client")).toBe(paths.length);
  table.add({ case: "curl --unix-socket", server: "gunicorn (sync)", client: "curl", syscalls: "recvfrom / sendto", sent: expectedTotals(PLAN), counted: counted.get(gunicornWorker)! });
});

for (const mode of ["keepalive", "pipelined"] as const) {
  test(`${mode} requests on one unix connection: both sides exact and timed`, async () => {
    const paths = planPaths(PLAN);
    const serverTimedBefore = timedCount(await processSeries(plugin, peer.pid), "server");
    const client = await runClient([DEBIAN_PYTHON, PEERS, mode, PEER_SOCKET, ...paths]);
    expect(histogram(client.codes)).toEqual(PLAN);
    const counted = await meter.measureEach([peer.pid]);
    table.add({ case: `${mode} on one unix connection`, server: "raw python", client: mode === "keepalive" ? "http.client" : "raw socket", syscalls: "recv / sendall", sent: expectedTotals(PLAN), counted: counted.get(peer.pid)! });
    expect(counted.get(peer.pid)).toEqual(expectedTotals(PLAN));
    const clientSeries = await processSeries(plugin, client.pid);
    expect(sideOf(clientSeries, "client")).toEqual({ requests: paths.length, codes: PLAN });
    expect(timedCount(clientSeries, "client")).toBe(paths.length);
    expect(timedCount(await processSeries(plugin, peer.pid), "server") - serverTimedBefore).toBe(paths.length);
  });
}

test("bodies sent by sendfile into a unix socket are skipped, on one keep-alive connection", async () => {
  const paths = planPaths(PLAN, "/sendfile");
  const serverTimedBefore = timedCount(await processSeries(plugin, peer.pid), "server");
  const client = await runClient([DEBIAN_PYTHON, PEERS, "keepalive", PEER_SOCKET, ...paths]);
  expect(histogram(client.codes)).toEqual(PLAN);
  const counted = await meter.measureEach([peer.pid]);
  table.add({ case: "sendfile bodies (110 KB) on one unix connection", server: "raw python", client: "http.client", syscalls: "recv / sendall + sendfile", sent: expectedTotals(PLAN), counted: counted.get(peer.pid)! });
  expect(counted.get(peer.pid)).toEqual(expectedTotals(PLAN));
  const clientSeries = await processSeries(plugin, client.pid);
  expect(sideOf(clientSeries, "client")).toEqual({ requests: paths.length, codes: PLAN });
  expect(timedCount(clientSeries, "client")).toBe(paths.length);
  expect(timedCount(await processSeries(plugin, peer.pid), "server") - serverTimedBefore).toBe(paths.length);
});

test("a unix connection opened before the plugin started: counted exactly from then on, not timed", async () => {
  const paths = planPaths(PLAN);
  const serverTimedBefore = timedCount(await processSeries(plugin, peer.pid), "server");
  expect(histogram(await earlyGet(paths))).toEqual(PLAN);
  const counted = await meter.measureEach([peer.pid]);
  table.add({ case: "unix connection opened before the plugin started", server: "raw python", client: "http.client", syscalls: "recv / sendall", sent: expectedTotals(PLAN), counted: counted.get(peer.pid)! });
  expect(counted.get(peer.pid)).toEqual(expectedTotals(PLAN));
  // Listed by the walk at start: its streams may hold requests the plugin never saw, so no answer is paired.
  const clientSeries = await processSeries(plugin, early.pid);
  expect(sideOf(clientSeries, "client")).toEqual({ requests: paths.length, codes: PLAN });
  expect(timedCount(clientSeries, "client")).toBe(0);
  expect(timedCount(await processSeries(plugin, peer.pid), "server") - serverTimedBefore).toBe(0);
});

test("HTTP text in unix datagrams and a binary protocol on a unix stream count nothing", async () => {
  const proc = Bun.spawn([DEBIAN_PYTHON, PEERS, "not-http"], { stdout: "pipe", stderr: "inherit" });
  expect((await new Response(proc.stdout).text()).trim()).toBe("done");
  expect(await proc.exited).toBe(0);
  const counted = await meter.measureEach([proc.pid]);
  table.add({ case: "HTTP in unix datagrams x10, binary on a unix stream x10", server: "python (not HTTP)", client: "socketpair", syscalls: "send / recv", sent: {}, counted: counted.get(proc.pid)! });
  expect(counted.get(proc.pid)).toEqual({});
  expect((await processSeries(plugin, proc.pid)).size).toBe(0);
});
