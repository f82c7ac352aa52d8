/**
 * Responses whose body ends with the connection (no Content-Length, no
 * chunking): counted, and timed at the connection's end, the server's at
 * its close, the client's at the read that finds the end of the stream.
 * uwsgi's --http-socket answers this way; so does a Python HTTP/1.0 server
 * that sends its head at once and its body after a known delay, so a
 * duration that ended with the head would be short by that delay.
 *
 * Also a connection's abrupt end: a server that answers after its client
 * closed. The send succeeds, and on loopback the client's reset takes the
 * socket to TCP_CLOSE before the send returns: the response still counts.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { startPlugin, type RunningPlugin } from "../support/plugin";
import { waitForPort } from "../support/servers";
import { processSeries, sideCounts, timedCount, timedSum } from "../support/metrics_text";
import { histogram } from "./clients";
import { ACCURACY_WINDOW, AccuracyTable, expectedTotals, Meter } from "./harness";

setDefaultTimeout(60_000);

const PEERS = join(import.meta.dir, "close_peers.py");
const UWSGI_PORT = 18796;
const PYTHON_PORT = 18797;
const LATE_PORT = 18798;
/** Delay and code of each request, one connection each. */
const REQUESTS: [number, number][] = [
  [20, 200],
  [60, 404],
  [20, 200],
  [60, 500],
  [20, 200],
  [60, 404],
];
const PLAN = histogram(REQUESTS.map(([, code]) => code));
/** What loopback, a Python read and the close add to the server's view (see latency.test.ts), per request. */
const SLACK_MS = 1.5;

const table = new AccuracyTable("close_delimited");
let plugin: RunningPlugin;
let meter: Meter;
let uwsgi: ReturnType<typeof Bun.spawn>;
let python: ReturnType<typeof Bun.spawn>;
let late: ReturnType<typeof Bun.spawn>;

beforeAll(async () => {
  plugin = await startPlugin({ args: ACCURACY_WINDOW });
  meter = new Meter(plugin);
  // No master: the process spawned is the one worker that answers.
  uwsgi = Bun.spawn(
    ["uwsgi", "--plugin", "python3", "--http-socket", `127.0.0.1:${UWSGI_PORT}`, "--pythonpath", import.meta.dir, "--module", "close_peers:app", "--processes", "1", "--disable-logging"],
    { stdout: "ignore", stderr: "ignore" },
  );
  python = Bun.spawn(["python3", PEERS, "server", String(PYTHON_PORT)], { stdout: "ignore", stderr: "inherit" });
  late = Bun.spawn(["python3", PEERS, "lateserver", String(LATE_PORT)], { stdout: "ignore", stderr: "inherit" });
  await waitForPort(UWSGI_PORT);
  await waitForPort(PYTHON_PORT);
  await waitForPort(LATE_PORT);
  await meter.start();
}, 30_000);
afterAll(async () => {
  table.flush();
  for (const proc of [uwsgi, python, late]) {
    proc?.kill("SIGTERM");
    await proc?.exited;
  }
  await plugin?.stop();
}, 30_000);

async function runClient(port: number): Promise<{ pid: number; codes: number[]; durations: number[] }> {
  const proc = Bun.spawn(["python3", PEERS, "client", String(port), ...REQUESTS.map(([ms, code]) => `/delay/${ms}/${code}`)], { stdout: "pipe", stderr: "pipe" });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code !== 0) throw new Error(`client exited ${code}: ${await new Response(proc.stderr).text()}`);
  return { pid: proc.pid, ...(JSON.parse(out) as { codes: number[]; durations: number[] }) };
}

for (const [name, port, server] of [
  ["uwsgi --http-socket", UWSGI_PORT, () => uwsgi],
  ["Python HTTP/1.0, body sent after the delay", PYTHON_PORT, () => python],
] as const) {
  test(`${name}: counts exact, both sides timed at the connection's end`, async () => {
    const serverPid = server().pid;
    const before = await processSeries(plugin, serverPid);
    const run = await runClient(port);
    expect(histogram(run.codes)).toEqual(PLAN);
    const counted = await meter.measureEach([serverPid]);
    table.add({ case: `body ends with the connection, ${name}`, server: name.split(",")[0]!, client: "raw python", syscalls: "recv / sendall", sent: expectedTotals(PLAN), counted: counted.get(serverPid)! });
    expect(counted.get(serverPid)).toEqual(expectedTotals(PLAN));
    const after = await processSeries(plugin, serverPid);
    const client = await processSeries(plugin, run.pid);
    expect(sideCounts(client, "client")).toEqual({ requests: REQUESTS.length, codes: PLAN });
    expect(timedCount(after, "server") - timedCount(before, "server")).toBe(REQUESTS.length);
    expect(timedCount(client, "client")).toBe(REQUESTS.length);
    // Every duration holds its delay; none holds more than the client saw.
    const plannedMs = REQUESTS.reduce((sum, [ms]) => sum + ms, 0);
    const measuredMs = run.durations.reduce((a, b) => a + b, 0);
    const serverMs = (timedSum(after, "server") - timedSum(before, "server")) * 1000;
    const clientMs = timedSum(client, "client") * 1000;
    expect(serverMs).toBeGreaterThanOrEqual(plannedMs);
    expect(serverMs).toBeLessThanOrEqual(measuredMs + REQUESTS.length * SLACK_MS);
    expect(clientMs).toBeGreaterThanOrEqual(plannedMs);
    expect(clientMs).toBeLessThanOrEqual(measuredMs);
  });
}

test("a response sent after the client closed, the client's reset arriving inside the send: counted", async () => {
  const codes = REQUESTS.map(([, code]) => code);
  const leaver = Bun.spawn(["python3", PEERS, "leaver", String(LATE_PORT), ...codes.map((code) => `/delay/0/${code}`)], { stdout: "ignore", stderr: "pipe" });
  expect({ code: await leaver.exited, err: await new Response(leaver.stderr).text() }).toEqual({ code: 0, err: "" });
  const counted = await meter.measureEach([late.pid]);
  table.add({ case: "response sent as the client resets", server: "python socket", client: "raw python, closes unread", syscalls: "recv / sendall", sent: expectedTotals(PLAN), counted: counted.get(late.pid)! });
  expect(counted.get(late.pid)).toEqual(expectedTotals(PLAN));
  // The client sent each request and read nothing.
  expect(sideCounts(await processSeries(plugin, leaver.pid), "client")).toEqual({ requests: REQUESTS.length, codes: {} });
});
