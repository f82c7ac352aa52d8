/**
 * TLS sessions over their whole life, on OpenSSL: resumed from a ticket,
 * renegotiated in the middle of a kept-alive connection, one SSL object
 * reused (SSL_clear) for connection after connection, freed (SSL_free)
 * mid-request; and Node's https client (the node binary's own OpenSSL).
 * Each counted exactly on both sides, and a long-running server's freed
 * sessions leave nothing behind in the plugin's session table.
 * test/fixtures/tls_session.c is the OpenSSL server that renegotiates and
 * the client that reuses its object, built here.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lossKey } from "../../src/outputs/report";
import { TLS_SESSIONS_MAP } from "../../src/kernel/kernel_abi";
import { entriesOfTgid, mapIdsOf } from "../support/kernel_maps";
import { REPO, startPlugin, type RunningPlugin } from "../support/plugin";
import { processSeries, sideCounts, timedCount } from "../support/metrics_text";
import { runNginx, STATUS_LOCATIONS, waitForPort } from "../support/servers";
import { histogram, planPaths } from "./clients";
import { ACCURACY_WINDOW, AccuracyTable, expectedTotals, reportedLoss } from "./harness";

setDefaultTimeout(60_000);

const table = new AccuracyTable("tls_sessions");
const PLAN = { 200: 6, 201: 2, 204: 1, 404: 3, 500: 1, 503: 2 };
const PLAN_TOTAL = Object.values(PLAN).reduce((a, b) => a + b, 0);
const PYTHON = "/usr/bin/python3"; // Debian's, linked with Debian's libssl
const FIXTURES = join(REPO, "test", "fixtures");
const dir = mkdtempSync(join(tmpdir(), "hs-tls-sessions-"));
const cert = join(dir, "cert.pem");
const key = join(dir, "key.pem");
const tlsSession = join(dir, "tls_session");

let plugin: RunningPlugin;
const stops: Array<() => Promise<unknown>> = [];
let nginx: { port: number; worker: number };
/** The fixture's server asking to renegotiate after every third response, and one that never does. */
let renegotiating: { port: number; pid: number };
let plain: { port: number; pid: number };

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

function run(argv: string[], stdin = ""): Promise<{ pid: number; out: string }> {
  const proc = Bun.spawn(argv, { stdin: new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe" });
  return Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]).then(([out, err, code]) => {
    if (code !== 0) throw new Error(`${argv[0]} exited ${code}: ${err}`);
    return { pid: proc.pid, out };
  });
}

/** The statuses a client printed, one a line, and its closing "word N" lines. */
function answers(out: string): { codes: Record<number, number>; said: Record<string, number> } {
  const lines = out.trim().split("\n");
  const said = Object.fromEntries(lines.filter((l) => /^[a-z]+ \d+$/.test(l)).map((l) => [l.split(" ")[0]!, Number(l.split(" ")[1])]));
  return { codes: histogram(lines.filter((l) => /^\d+$/.test(l)).map(Number)), said };
}

async function startDaemon(argv: string[], port: number): Promise<number> {
  const proc = Bun.spawn(argv, { stdout: "ignore", stderr: "inherit" });
  stops.push(async () => {
    proc.kill("SIGTERM");
    await proc.exited;
  });
  await waitForPort(port);
  return proc.pid;
}

async function startNginxTls(): Promise<{ port: number; worker: number }> {
  const port = await freePort();
  const nginx = await runNginx(dir, port, {
    http: `server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    ${STATUS_LOCATIONS}
  }`,
  });
  stops.push(nginx.stop);
  return { port, worker: nginx.workers[0]! };
}

async function side(pid: number, which: "server" | "client") {
  const series = await processSeries(plugin, pid);
  return { ...sideCounts(series, which), timed: timedCount(series, which) };
}

/** What one side of `pid` counted since `before` (that side's counts then): requests, responses by code, and how many of them were timed. */
async function countedSince(pid: number, which: "server" | "client", before: { requests: number; codes: Record<number, number>; timed: number }) {
  const now = await side(pid, which);
  const codes = Object.fromEntries(Object.entries(now.codes).map(([code, n]) => [code, n - (before.codes[Number(code)] ?? 0)]).filter(([, n]) => n !== 0));
  return { requests: now.requests - before.requests, codes, timed: now.timed - before.timed };
}

/** A tls_session.c server and client after the plan: both sides exact, every answer timed, the server's row in the table. */
async function expectBothSidesExact(name: string, serverPid: number, before: { requests: number; codes: Record<number, number>; timed: number }, clientPid: number) {
  await plugin.reportAfter(Date.now());
  const server = await countedSince(serverPid, "server", before);
  table.add({ case: name, server: "openssl (tls_session.c)", client: "openssl (tls_session.c)", syscalls: "SSL_read / SSL_write", sent: expectedTotals(PLAN), counted: expectedTotals(server.codes) });
  expect(server).toEqual({ requests: PLAN_TOTAL, codes: PLAN, timed: PLAN_TOTAL });
  const sent = await side(clientPid, "client");
  expect({ requests: sent.requests, codes: sent.codes, timed: sent.timed }).toEqual({ requests: PLAN_TOTAL, codes: PLAN, timed: PLAN_TOTAL });
}

beforeAll(async () => {
  const made = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"]);
  if (made.exitCode !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
  const built = Bun.spawnSync(["cc", "-O2", "-Wall", "-Werror", "-o", tlsSession, join(FIXTURES, "tls_session.c"), "-lssl", "-lcrypto"], { stderr: "pipe" });
  if (built.exitCode !== 0) throw new Error(`building tls_session.c failed (scripts/setup.sh installs libssl-dev): ${built.stderr}`);
  nginx = await startNginxTls();
  for (const [every, set] of [
    [3, (s: { port: number; pid: number }) => (renegotiating = s)],
    [1_000_000, (s: { port: number; pid: number }) => (plain = s)],
  ] as const) {
    const port = await freePort();
    set({ port, pid: await startDaemon([tlsSession, "server", String(port), cert, key, String(every)], port) });
  }
  plugin = await startPlugin({ args: ACCURACY_WINDOW });
}, 60_000);

afterAll(async () => {
  table.flush();
  for (const stop of stops.reverse()) await stop();
  await plugin?.stop();
}, 30_000);

describe("TLS sessions over their life, counted exactly on both sides", () => {
  test("resumption: every connection resumes the last one's session from its ticket (Python against nginx)", async () => {
    const before = await side(nginx.worker, "server");
    const paths = planPaths(PLAN);
    const client = await run([PYTHON, join(FIXTURES, "python_tls_resume_client.py"), String(nginx.port)], paths.join("\n"));
    const { codes, said } = answers(client.out);
    expect(codes).toEqual(PLAN);
    // An abbreviated handshake on every connection but the first: no certificate, the same session.
    expect(said.resumed).toBe(paths.length - 1);
    await plugin.reportAfter(Date.now());
    const server = await countedSince(nginx.worker, "server", before);
    table.add({ case: "resumed sessions, a connection each", server: "nginx", client: "python3 ssl", syscalls: "SSL_read_ex / SSL_write_ex", sent: expectedTotals(PLAN), counted: expectedTotals(server.codes) });
    expect(server).toEqual({ requests: PLAN_TOTAL, codes: PLAN, timed: PLAN_TOTAL });
    expect(sideCounts(await processSeries(plugin, client.pid), "client")).toEqual({ requests: PLAN_TOTAL, codes: PLAN });
  });

  test("renegotiation: the server asks for it after every third response, and the connection goes on (TLS 1.2)", async () => {
    const before = await side(renegotiating.pid, "server");
    const client = await run([tlsSession, "client", String(renegotiating.port), "1"], planPaths(PLAN).join("\n"));
    const { codes, said } = answers(client.out);
    expect(codes).toEqual(PLAN);
    // The first handshake, and one after every third response that another request followed.
    expect(said.handshakes).toBe(1 + Math.floor((PLAN_TOTAL - 1) / 3));
    await expectBothSidesExact("renegotiated every 3 responses", renegotiating.pid, before, client.pid);
  });

  test("curl kept alive through the server's renegotiations", async () => {
    const before = await side(renegotiating.pid, "server");
    const base = `https://127.0.0.1:${renegotiating.port}`;
    const client = await run(["curl", "-sk", "--tlsv1.2", "--tls-max", "1.2", "-w", "%{http_code}\\n", ...planPaths(PLAN).flatMap((p) => ["-o", "/dev/null", base + p])]);
    expect(answers(client.out).codes).toEqual(PLAN);
    await plugin.reportAfter(Date.now());
    expect(await countedSince(renegotiating.pid, "server", before)).toEqual({ requests: PLAN_TOTAL, codes: PLAN, timed: PLAN_TOTAL });
    expect(sideCounts(await processSeries(plugin, client.pid), "client")).toEqual({ requests: PLAN_TOTAL, codes: PLAN });
  });

  test("one SSL object reused (SSL_clear) for three connections, one after another", async () => {
    const before = await side(plain.pid, "server");
    const client = await run([tlsSession, "client", String(plain.port), "3"], planPaths(PLAN).join("\n"));
    const { codes, said } = answers(client.out);
    expect(codes).toEqual(PLAN);
    expect(said.reused).toBe(2);
    await expectBothSidesExact("one SSL object, 3 connections", plain.pid, before, client.pid);
  });

  test("Node's https client (the node binary's own OpenSSL) against nginx", async () => {
    const before = await side(nginx.worker, "server");
    // Found by the plugin's scan of processes: the client waits for its paths until the plugin decodes node.
    const proc = Bun.spawn(["node", join(FIXTURES, "node_tls_client.mjs"), String(nginx.port)], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    for (let i = 0; i < 100 && !/TLS: decoding OpenSSL \(inside the executable\)/.test(plugin.logSoFar()); i++) await Bun.sleep(100);
    expect(plugin.logSoFar()).toMatch(/TLS: decoding OpenSSL \(inside the executable\) plaintext from \S*node/);
    proc.stdin.write(planPaths(PLAN).join("\n"));
    proc.stdin.end();
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    expect({ code, err }).toEqual({ code: 0, err: "" });
    const { codes, said } = answers(out);
    expect({ codes, connections: said.connections }).toEqual({ codes: PLAN, connections: 1 });
    await plugin.reportAfter(Date.now());
    const sent = await side(proc.pid, "client");
    table.add({ case: "node https client, keep-alive", server: "nginx", client: "node https", syscalls: "SSL_read / SSL_write (memory BIO)", sent: expectedTotals(PLAN), counted: expectedTotals(sent.codes) });
    expect({ requests: sent.requests, codes: sent.codes, timed: sent.timed }).toEqual({ requests: PLAN_TOTAL, codes: PLAN, timed: PLAN_TOTAL });
    expect(await countedSince(nginx.worker, "server", before)).toEqual({ requests: PLAN_TOTAL, codes: PLAN, timed: PLAN_TOTAL });
  });
});

describe("freed sessions (SSL_free)", () => {
  test("connections freed mid-request leave nothing to the next ones, and a long-running server's freed sessions leave no state behind", async () => {
    const before = await side(nginx.worker, "server");
    const lossId = lossKey("desync");
    const lostBefore = reportedLoss(await plugin.reportAfter(Date.now()), plugin.hostId, lossId);
    // Twenty connections open at once (twenty SSL objects alive in nginx, at twenty addresses), each
    // stopping in the middle of a request line; nginx frees each when its client goes.
    const partial = [
      "import socket, ssl, sys",
      "ctx = ssl._create_unverified_context()",
      "conns = [ctx.wrap_socket(socket.create_connection(('127.0.0.1', int(sys.argv[1])))) for _ in range(20)]",
      "for c in conns: c.sendall(b'GET /status/2')",
      "for c in conns: c.close()",
    ].join("\n");
    await run([PYTHON, "-c", partial, String(nginx.port)]);
    // Then whole requests on new connections, on objects that may sit where the freed ones were.
    const client = await run(["curl", "-sk", "-w", "%{http_code}\\n", ...planPaths(PLAN).flatMap((p) => ["-o", "/dev/null", `https://127.0.0.1:${nginx.port}${p}`])]);
    expect(answers(client.out).codes).toEqual(PLAN);
    await plugin.reportAfter(Date.now());
    expect(await countedSince(nginx.worker, "server", before)).toEqual({ requests: PLAN_TOTAL, codes: PLAN, timed: PLAN_TOTAL });
    expect(reportedLoss(await plugin.reportAfter(Date.now()), plugin.hostId, lossId) - lostBefore).toBe(0);
    // Every connection of nginx is closed and freed: none of its sessions is left in the table.
    const sessions = mapIdsOf(plugin.proc.pid)[TLS_SESSIONS_MAP]!;
    let left = entriesOfTgid(sessions, nginx.worker);
    for (let i = 0; i < 50 && left > 0; i++) {
      await Bun.sleep(100);
      left = entriesOfTgid(sessions, nginx.worker);
    }
    expect(left).toBe(0);
  });
});
