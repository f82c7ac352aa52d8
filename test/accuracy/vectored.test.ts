/**
 * HTTP moved in many segments per call. varnish as a reverse proxy writes
 * each request to its backend with writev in ~19 segments ("GET", " ", the
 * path, " ", "HTTP/1.1", "\r\n", two per header line) and each response to
 * its clients in ~24: both of its sides must count exactly and be timed.
 * Then the extremes: requests sent with sendmsg as 1,024 segments (one byte
 * each, with empty ones between) read with readv into 1,024 one-byte
 * buffers, answered with writev of 1,024 one-byte segments, or of one
 * segment per token of the status line and headers.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPlugin, type RunningPlugin } from "../support/plugin";
import { childrenOf, waitForPort } from "../support/servers";
import { processSeries, sideCounts, timedCount } from "../support/metrics_text";
import { histogram, planPaths } from "./clients";
import { ACCURACY_WINDOW, AccuracyTable, expectedTotals, Meter } from "./harness";
import { startLoggedNginx, type LoggedNginx } from "./servers";

setDefaultTimeout(60_000);

const PEERS = join(import.meta.dir, "iov_peers.py");
const BACKEND_PORT = 18798;
const VARNISH_PORT = 18799;
const PEER_PORT = 18800;
const PLAN = { 200: 8, 201: 2, 404: 3, 500: 1, 503: 2 };
const TOTAL = Object.values(PLAN).reduce((a, b) => a + b, 0);

const table = new AccuracyTable("vectored");
let plugin: RunningPlugin;
let meter: Meter;
let backend: LoggedNginx;
let varnish: ReturnType<typeof Bun.spawn>;
let varnishChild: number;
let peer: ReturnType<typeof Bun.spawn>;

beforeAll(async () => {
  plugin = await startPlugin({ args: ACCURACY_WINDOW });
  meter = new Meter(plugin);
  backend = await startLoggedNginx(BACKEND_PORT, 1);
  const dir = mkdtempSync(join(tmpdir(), "hs-acc-varnish-"));
  chmodSync(dir, 0o755); // varnish's child runs as its own user
  // Every request passes to the backend: nothing answered from the cache, so both sides see each one.
  writeFileSync(join(dir, "default.vcl"), `vcl 4.1;\nbackend default { .host = "127.0.0.1"; .port = "${BACKEND_PORT}"; }\nsub vcl_recv { return (pass); }\n`);
  varnish = Bun.spawn(["varnishd", "-F", "-f", join(dir, "default.vcl"), "-a", `127.0.0.1:${VARNISH_PORT}`, "-n", join(dir, "n"), "-s", "malloc,32m"], {
    stdout: "ignore",
    stderr: "ignore",
  });
  await waitForPort(VARNISH_PORT, "127.0.0.1", 30_000);
  // The manager forks one child that serves every connection, on threads of its own.
  for (let i = 0; i < 250 && childrenOf(varnish.pid).length !== 1; i++) await Bun.sleep(20);
  varnishChild = childrenOf(varnish.pid)[0]!;
  peer = Bun.spawn(["python3", PEERS, "server", String(PEER_PORT)], { stdout: "ignore", stderr: "inherit" });
  await waitForPort(PEER_PORT);
  await meter.start();
}, 60_000);
afterAll(async () => {
  table.flush();
  for (const proc of [peer, varnish]) {
    proc?.kill("SIGTERM");
    await proc?.exited;
  }
  await backend?.stop();
  await plugin?.stop();
}, 30_000);

async function run(argv: string[]): Promise<{ pid: number; out: string }> {
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code !== 0) throw new Error(`${argv[0]} exited ${code}: ${await new Response(proc.stderr).text()}`);
  return { pid: proc.pid, out };
}

test("varnish in front of nginx: both of varnish's sides exact and timed", async () => {
  const paths = planPaths(PLAN);
  const curl = await run(["curl", "-s", ...paths.flatMap((p) => ["-o", "/dev/null", "-w", "%{http_code}\\n", `http://127.0.0.1:${VARNISH_PORT}${p}`])]);
  expect(histogram(curl.out.trim().split("\n").map(Number))).toEqual(PLAN);
  expect(Object.fromEntries(backend.servedByPid())[backend.workers[0]!]).toEqual(PLAN);
  const counted = await meter.measureEach([backend.workers[0]!]);
  table.add({ case: "varnish (pass) in front of nginx, nginx behind it", server: "nginx", client: "varnish 7.1", syscalls: "writev / recv", sent: expectedTotals(PLAN), counted: counted.get(backend.workers[0]!)! });
  expect(counted.get(backend.workers[0]!)).toEqual(expectedTotals(PLAN));
  // varnish's two sides, from /metrics (the report's totals hold both sides of a pid at once).
  const series = await processSeries(plugin, varnishChild);
  expect(sideCounts(series, "server")).toEqual({ requests: TOTAL, codes: PLAN });
  expect(sideCounts(series, "client")).toEqual({ requests: TOTAL, codes: PLAN });
  expect(timedCount(series, "server")).toBe(TOTAL);
  expect(timedCount(series, "client")).toBe(TOTAL);
  expect(timedCount(await processSeries(plugin, curl.pid), "client")).toBe(TOTAL);
});

for (const kind of ["onebyte", "tokens"] as const) {
  test(`requests as sendmsg of 1,024 segments read by readv into 1,024 buffers, answered ${kind === "onebyte" ? "as 1,024 one-byte segments" : "token by token"}`, async () => {
    const paths = planPaths(PLAN, `/${kind}`);
    const serverTimedBefore = timedCount(await processSeries(plugin, peer.pid), "server");
    const client = await run(["python3", PEERS, "client", String(PEER_PORT), ...paths]);
    const { codes } = JSON.parse(client.out) as { codes: number[] };
    expect(histogram(codes)).toEqual(PLAN);
    const counted = await meter.measureEach([peer.pid]);
    table.add({ case: `1,024-segment requests, ${kind === "onebyte" ? "1,024 one-byte segment" : "token by token"} responses`, server: "raw python", client: "raw python", syscalls: "readv / writev, sendmsg", sent: expectedTotals(PLAN), counted: counted.get(peer.pid)! });
    expect(counted.get(peer.pid)).toEqual(expectedTotals(PLAN));
    const clientSeries = await processSeries(plugin, client.pid);
    expect(sideCounts(clientSeries, "client")).toEqual({ requests: TOTAL, codes: PLAN });
    expect(timedCount(clientSeries, "client")).toBe(TOTAL);
    expect(timedCount(await processSeries(plugin, peer.pid), "server") - serverTimedBefore).toBe(TOTAL);
  });
}
