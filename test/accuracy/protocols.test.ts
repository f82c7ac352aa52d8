/**
 * Accuracy where the socket handling is unusual: a WebSocket upgrade whose
 * frames look like HTTP, a server that peeks before it reads, a socket
 * inherited across exec (inetd style), and the two kinds of I/O whose bytes
 * the kernel side cannot place (recvmmsg/sendmmsg, io_uring), which must
 * count nothing and name each transfer as a loss instead.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { LOSSES_TOTAL_KEY, lossKey } from "../../src/outputs/report";
import { startPlugin, type RunningPlugin } from "../support/plugin";
import { histogram, parseResponses, planPaths, rawExchange, request } from "./clients";
import { ACCURACY_WINDOW, AccuracyTable, expectedTotals, Meter, reportedLoss, type Totals } from "./harness";

// Cases wait for the plugin's ticks.
setDefaultTimeout(60_000);

const table = new AccuracyTable("protocols");
const PORTS = { websocket: 18600, peek: 18601, inetd: 18602, mmsg: 18603, uring: 18604 };
const ODD_SERVERS = join(import.meta.dir, "odd_servers.py");
const KEEPALIVE_CLIENT = join(import.meta.dir, "..", "fixtures", "keepalive_client.py");
const BUILD = mkdtempSync(join(tmpdir(), "hs-acc-protocols-"));
const LOSS_IDS = [LOSSES_TOTAL_KEY, lossKey("mmsg"), lossKey("io_uring")];

let plugin: RunningPlugin;
let meter: Meter;
let lastLosses: Record<string, number>;
let unplaceableServer: string;

function lossesIn(report: Awaited<ReturnType<RunningPlugin["report"]>>): Record<string, number> {
  return Object.fromEntries(LOSS_IDS.map((id) => [id, reportedLoss(report, plugin.hostId, id)]));
}

/** Counts of `pids` and growth of the loss counters since the previous case, both after the next tick. */
async function measure(pids: number[]): Promise<{ each: Map<number, Totals>; losses: Record<string, number> }> {
  const each = await meter.measureEach(pids);
  const now = lossesIn(await plugin.report());
  const losses = Object.fromEntries(LOSS_IDS.map((id) => [id, now[id]! - lastLosses[id]!]));
  lastLosses = now;
  return { each, losses };
}

/** The C server of the last two cases, built for this run (liburing-dev comes from scripts/setup.sh). */
function compileUnplaceableServer(): string {
  const path = join(BUILD, "unplaceable_server");
  const cc = Bun.spawnSync(["cc", "-O2", "-Wall", "-o", path, join(import.meta.dir, "unplaceable_server.c"), "-luring"], { stderr: "pipe" });
  if (cc.exitCode !== 0) throw new Error(`cc unplaceable_server.c failed: ${cc.stderr.toString()}`);
  return path;
}

interface Spawned {
  proc: Subprocess<"pipe", "pipe", "inherit">;
  /** Next line the process prints. */
  line(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts a process and returns once it printed "listening" (no probe connection: some serve only one). */
async function spawnServer(command: string[]): Promise<Spawned> {
  const proc = Bun.spawn(command, { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  const line = async (): Promise<string> => {
    for (;;) {
      const end = buffered.indexOf("\n");
      if (end >= 0) {
        const text = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        return text;
      }
      const chunk = await Promise.race([reader.read(), Bun.sleep(20_000).then(() => null)]);
      if (!chunk) throw new Error(`${command.join(" ")}: no output line within 20 s`);
      if (chunk.done) throw new Error(`${command.join(" ")} ended (exit ${await proc.exited}) before printing a line`);
      buffered += decoder.decode(chunk.value);
    }
  };
  const first = await line();
  if (first !== "listening") throw new Error(`${command.join(" ")} printed ${JSON.stringify(first)}, not "listening"`);
  return {
    proc,
    line,
    async stop() {
      if (proc.exitCode === null) proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

/** One keep-alive connection, one request at a time (each waits for its answer); the codes that came back. */
async function keepAlive(port: number, paths: string[]): Promise<{ pid: number; codes: number[] }> {
  const client = Bun.spawn(["python3", KEEPALIVE_CLIENT, String(port)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  client.stdin.write(paths.map((p) => `${p}\n`).join(""));
  await client.stdin.end();
  const out = await new Response(client.stdout).text();
  if ((await client.exited) !== 0) throw new Error(`keep-alive client to ${port} failed`);
  return { pid: client.pid, codes: out.trim().split("\n").filter(Boolean).map(Number) };
}

beforeAll(async () => {
  unplaceableServer = compileUnplaceableServer();
  plugin = await startPlugin({ args: ACCURACY_WINDOW });
  meter = new Meter(plugin);
  await meter.start();
  lastLosses = lossesIn(await plugin.report());
}, 30_000);
afterAll(async () => {
  table.flush();
  await plugin?.stop();
}, 30_000);

test("WebSocket: after 101 Switching Protocols, HTTP-looking frames both ways count nothing", async () => {
  const server = await spawnServer(["python3", ODD_SERVERS, "websocket", String(PORTS.websocket)]);
  try {
    const client = Bun.spawn(["python3", ODD_SERVERS, "websocket-client", String(PORTS.websocket)], { stdout: "pipe", stderr: "inherit" });
    const out = await new Response(client.stdout).text();
    expect(await client.exited).toBe(0);
    // The upgrade was answered, then all five exchanges of HTTP-looking bytes went through.
    expect(out).toBe(`HTTP/1.1 101 Switching Protocols\n${"exchanged\n".repeat(5)}`);

    const { each, losses } = await measure([server.proc.pid, client.pid]);
    // One request (GET /ws) and one response (101, outside the fixed code list: OTHERS).
    const sent = expectedTotals({ 101: 1 });
    const counted = each.get(server.proc.pid)!;
    table.add({
      case: "WebSocket upgrade, then 7 HTTP-looking messages each way (framed and raw)",
      server: "raw python",
      client: "raw python",
      syscalls: "recvfrom / sendto",
      sent,
      counted,
    });
    expect(counted).toEqual(sent);
    // The client side of the same: one request sent, its answer no error; then no HTTP at all.
    expect(each.get(client.pid)).toEqual({ http_client_requests_per_second: 1 });
    expect(losses[LOSSES_TOTAL_KEY]).toBe(0);
  } finally {
    await server.stop();
  }
});

test("a server that peeks at each request before reading it", async () => {
  const server = await spawnServer(["python3", ODD_SERVERS, "peek", String(PORTS.peek)]);
  try {
    const oneByOne = { 200: 6, 404: 2, 503: 1 };
    const pipelined = { 200: 10, 201: 3, 500: 2 };
    const { codes } = await keepAlive(PORTS.peek, planPaths(oneByOne));
    expect(histogram(codes)).toEqual(oneByOne);
    const paths = planPaths(pipelined);
    const stream = await rawExchange({ port: PORTS.peek, writes: [paths.map((p, i) => request("GET", p, i === paths.length - 1 ? { Connection: "close" } : {})).join("")] });
    expect(histogram(parseResponses(stream))).toEqual(pipelined);

    const { each, losses } = await measure([server.proc.pid]);
    const sent = expectedTotals({ 200: 16, 201: 3, 404: 2, 500: 2, 503: 1 });
    const counted = each.get(server.proc.pid)!;
    table.add({ case: "recv(MSG_PEEK) before every recv: one-by-one and pipelined", server: "raw python", client: "raw python, raw socket", syscalls: "recvfrom(MSG_PEEK), recvfrom / sendto", sent, counted });
    expect(counted).toEqual(sent);
    expect(losses[LOSSES_TOTAL_KEY]).toBe(0);
  } finally {
    await server.stop();
  }
});

test("inetd style: the accepted socket is fds 0 and 1 of a freshly exec'd program", async () => {
  const pidLog = join(BUILD, "inetd-children");
  const server = await spawnServer(["python3", ODD_SERVERS, "inetd", String(PORTS.inetd), pidLog]);
  try {
    const plans: Array<Record<number, number>> = [
      { 200: 4, 404: 1 },
      { 201: 2, 503: 1, 200: 1 },
    ];
    // One connection after the other, so the pid log lists the children in connection order.
    for (const plan of plans) expect(histogram((await keepAlive(PORTS.inetd, planPaths(plan))).codes)).toEqual(plan);
    const children = existsSync(pidLog) ? readFileSync(pidLog, "utf8").trim().split("\n").map(Number) : [];
    expect(children.length).toBe(plans.length);

    const { each, losses } = await measure([server.proc.pid, ...children]);
    expect(each.get(server.proc.pid)).toEqual({});
    for (const [i, plan] of plans.entries()) {
      const sent = expectedTotals(plan);
      const counted = each.get(children[i]!)!;
      table.add({ case: `inetd style (fork, dup2 to 0/1, exec), connection ${i + 1}`, server: "exec'd python", client: "raw python", syscalls: "read / write on fds 0 and 1", sent, counted });
      expect(counted).toEqual(sent);
    }
    expect(losses[LOSSES_TOTAL_KEY]).toBe(0);
  } finally {
    await server.stop();
  }
});

test("recvmmsg/sendmmsg: nothing counted, every call that moved data a named loss", async () => {
  const server = await spawnServer([unplaceableServer, "mmsg", String(PORTS.mmsg), "1"]);
  try {
    const plan = { 200: 5, 404: 3 };
    const { codes } = await keepAlive(PORTS.mmsg, planPaths(plan));
    expect(histogram(codes)).toEqual(plan);
    const calls = Number(await server.line());
    expect(await server.proc.exited).toBe(0);
    // At least a receive and a send per request: the server really used them.
    expect(calls).toBeGreaterThanOrEqual(16);

    const { each, losses } = await measure([server.proc.pid]);
    const counted = each.get(server.proc.pid)!;
    table.add({ case: `recvmmsg/sendmmsg (vlen 1): ${calls} calls, ${losses[lossKey("mmsg")]} named losses`, server: "C", client: "raw python", syscalls: "recvmmsg / sendmmsg", sent: {}, counted });
    expect(counted).toEqual({});
    expect(losses[lossKey("mmsg")]).toBe(calls);
    expect(losses[LOSSES_TOTAL_KEY]).toBe(calls);
  } finally {
    await server.stop();
  }
});

test("io_uring: nothing counted, every transfer that moved data a named loss", async () => {
  const plans: Array<Record<number, number>> = [
    { 200: 4, 404: 2 },
    { 201: 3, 503: 1 },
  ];
  const server = await spawnServer([unplaceableServer, "uring", String(PORTS.uring), String(plans.length)]);
  try {
    for (const plan of plans) expect(histogram((await keepAlive(PORTS.uring, planPaths(plan))).codes)).toEqual(plan);
    const transfers = Number(await server.line());
    expect(await server.proc.exited).toBe(0);
    expect(transfers).toBeGreaterThanOrEqual(20);

    const { each, losses } = await measure([server.proc.pid]);
    const counted = each.get(server.proc.pid)!;
    table.add({ case: `io_uring accept/recv/send: ${transfers} transfers, ${losses[lossKey("io_uring")]} named losses`, server: "C (liburing)", client: "raw python", syscalls: "io_uring recv / send", sent: {}, counted });
    expect(counted).toEqual({});
    expect(losses[lossKey("io_uring")]).toBe(transfers);
    expect(losses[LOSSES_TOTAL_KEY]).toBe(transfers);
  } finally {
    await server.stop();
  }
});
