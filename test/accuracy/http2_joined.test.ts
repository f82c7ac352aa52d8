/**
 * HTTP/2 connections opened before the plugin started, used after: no
 * preface is ever seen. Requests after the start count exactly on both
 * sides; a :status or grpc-status that the sender takes from its HPACK
 * dynamic table, filled before the plugin saw the connection, is the named
 * loss h2_dynamic_table, never a guessed code. Connections of other
 * protocols older than the plugin (TLS, binary, random bytes) are never
 * taken for HTTP/2. Runs under both captures (syscall_capture.test.ts).
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { LOSS_REASONS } from "../../src/kernel/kernel_abi";
import { lossKey } from "../../src/outputs/report";
import { startPlugin, type RunningPlugin } from "../support/plugin";
import { spawnPrintingPort } from "../support/servers";
import { grpcCounts, processSeries, sideCounts, timedCount } from "../support/metrics_text";
import { ACCURACY_WINDOW, AccuracyTable, expectedTotals, reportedLoss, type Totals } from "./harness";

setDefaultTimeout(60_000);

const FIXTURES = join(import.meta.dir, "..", "fixtures");
const table = new AccuracyTable("http2_joined");

/** A child that answers each line written to it with one line. */
class LineSession {
  private buffered = "";
  private reader: ReadableStreamDefaultReader<Uint8Array>;
  constructor(readonly proc: Subprocess<"pipe", "pipe", "inherit">) {
    this.reader = proc.stdout.getReader();
  }
  static start(argv: string[]): LineSession {
    return new LineSession(Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "inherit" }));
  }
  async ask(line: string): Promise<string> {
    this.proc.stdin.write(`${line}\n`);
    this.proc.stdin.flush();
    for (;;) {
      const end = this.buffered.indexOf("\n");
      if (end >= 0) {
        const answer = this.buffered.slice(0, end);
        this.buffered = this.buffered.slice(end + 1);
        return answer;
      }
      const { value, done } = await this.reader.read();
      if (done) throw new Error(`${this.proc.pid} ended before answering ${JSON.stringify(line)}`);
      this.buffered += new TextDecoder().decode(value);
    }
  }
  async stop(): Promise<void> {
    this.proc.stdin.end();
    await this.proc.exited;
  }
}

type Side = "server" | "client";
interface Counts {
  requests: number;
  codes: Record<number, number>;
}

let plugin: RunningPlugin;

async function countsOf(pid: number, side: Side): Promise<Counts> {
  return sideCounts(await processSeries(plugin, pid), side);
}

/** Waits until the process's side has counted at least `want` requests and responses together, then one more tick for any excess. */
async function settle(pid: number, side: Side, want: number): Promise<Counts> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const now = await countsOf(pid, side);
    if (now.requests + Object.values(now.codes).reduce((a, b) => a + b, 0) >= want || Date.now() > deadline) break;
    await Bun.sleep(100);
  }
  await plugin.reportAfter(Date.now());
  return countsOf(pid, side);
}

function totalsOf(c: Counts): Totals {
  const t = expectedTotals({ ...c.codes });
  t.http_requests_per_second = c.requests;
  return t;
}

/** Every loss reason's count so far. */
async function lossTotals(): Promise<Record<string, number>> {
  const report = await plugin.report();
  return Object.fromEntries(LOSS_REASONS.map((r) => [r, reportedLoss(report, plugin.hostId, lossKey(r))]));
}

async function lossesSince(before: Record<string, number>, reasons: string[]): Promise<Record<string, number>> {
  const now = await lossTotals();
  return Object.fromEntries(reasons.map((r) => [r, now[r]! - before[r]!]));
}

let node: { proc: Subprocess<"ignore", "pipe", "inherit">; port: number };
let grpcServer: { proc: Subprocess<"ignore", "pipe", "inherit">; port: number };
let h2Client: LineSession;
let grpcClient: LineSession;
let binary: LineSession;

beforeAll(async () => {
  node = await spawnPrintingPort(["node", join(FIXTURES, "http2_server.mjs")], "the Node http2 server");
  grpcServer = await spawnPrintingPort(["/usr/bin/python3", join(FIXTURES, "grpc_peer.py"), "server"], "the gRPC server");
  h2Client = LineSession.start(["/usr/bin/python3", join(FIXTURES, "h2_session_client.py"), String(node.port)]);
  grpcClient = LineSession.start(["/usr/bin/python3", join(FIXTURES, "grpc_peer.py"), "session", String(grpcServer.port)]);
  const certs = mkdtempSync(join(tmpdir(), "hs-h2-joined-"));
  binary = LineSession.start(["/usr/bin/python3", join(import.meta.dir, "old_binary_peers.py"), certs]);
  // Before the plugin: Node inserts each literal :status (418, 201, 302) into its
  // dynamic table, grpcio each grpc-status (OK, NOT_FOUND).
  expect(await h2Client.ask("/status/200 /status/418 /status/201 /status/302 /status/404")).toBe("200 418 201 302 404");
  expect(await grpcClient.ask("OK NOT_FOUND STREAM")).toBe("OK NOT_FOUND OK");
  expect(await binary.ask("round")).toBe("done");
  plugin = await startPlugin({ args: ACCURACY_WINDOW });
}, 60_000);

afterAll(async () => {
  table.flush();
  await h2Client?.stop();
  await grpcClient?.stop();
  await binary?.stop();
  for (const server of [node, grpcServer]) {
    server?.proc.kill("SIGTERM");
    await server?.proc.exited;
  }
  await plugin?.stop();
}, 30_000);

describe("HTTP/2 connections opened before the plugin started", () => {
  test("Python h2 client and Node http2 server: requests exact, static statuses exact, new literals exact, old table entries named", async () => {
    const before = await lossTotals();
    // Static :status (200, 204, 206, 304, 400, 404, 500): exact. 418 and 201: references to entries Node
    // inserted before the plugin started: named. 503: a literal first seen now, then referred to: exact.
    const batches = [
      ["/status/200", "/status/404", "/status/204", "/status/500"],
      ["/status/206", "/status/304", "/status/400"],
      ["/status/418", "/status/201"],
      ["/status/503", "/status/200"],
      ["/status/503", "/status/418", "/status/404"],
    ];
    for (const paths of batches) expect(await h2Client.ask(paths.join(" "))).toBe(paths.map((p) => p.slice(8, 11)).join(" "));
    const expected: Counts = { requests: 14, codes: { 200: 2, 204: 1, 206: 1, 304: 1, 400: 1, 404: 2, 500: 1, 503: 2 } };
    const named = 3;
    const counted = Object.values(expected.codes).reduce((a, b) => a + b, 0);
    const client = await settle(h2Client.proc.pid, "client", expected.requests + counted);
    const server = await settle(node.proc.pid, "server", expected.requests + counted);
    table.add({ case: "h2c opened before the plugin, client side (3 statuses named h2_dynamic_table)", server: "node http2", client: "python h2", syscalls: "sendto / recvfrom", sent: totalsOf({ requests: 14, codes: { ...expected.codes, 418: 2, 201: 1 } }), counted: totalsOf(client) });
    table.add({ case: "h2c opened before the plugin, server side (3 statuses named h2_dynamic_table)", server: "node http2", client: "python h2", syscalls: "read / writev", sent: totalsOf({ requests: 14, codes: { ...expected.codes, 418: 2, 201: 1 } }), counted: totalsOf(server) });
    expect(client).toEqual(expected);
    expect(server).toEqual(expected);
    // Each side names each of the three it could not read, and the 204's and the 304's blocks, which end their
    // stream and refer to an old entry (content-type) after their :status: it might have been a grpc-status.
    expect(await lossesSince(before, ["h2_dynamic_table", "h2_lost"])).toEqual({ h2_dynamic_table: 2 * (named + 2), h2_lost: 0 });
    // Every answer counted is timed, from its own stream's HEADERS.
    expect(timedCount(await processSeries(plugin, h2Client.proc.pid), "client")).toBe(counted);
    expect(timedCount(await processSeries(plugin, node.proc.pid), "server")).toBe(counted);
  });

  test("grpcio channel: each call a request and a 200; grpc-status exact when first sent after the start, named when an old entry", async () => {
    const before = await lossTotals();
    const serverBefore = await processSeries(plugin, grpcServer.proc.pid);
    // INTERNAL was never sent before: inserted now, referred to after. OK and NOT_FOUND refer to old entries.
    const calls = ["INTERNAL", "OK", "INTERNAL", "NOT_FOUND", "STREAM", "INTERNAL"];
    expect(await grpcClient.ask(calls.join(" "))).toBe("INTERNAL OK INTERNAL NOT_FOUND OK INTERNAL");
    const expected: Counts = { requests: calls.length, codes: { 200: calls.length } };
    const client = await settle(grpcClient.proc.pid, "client", 2 * calls.length);
    const server = await settle(grpcServer.proc.pid, "server", 2 * calls.length);
    table.add({ case: "gRPC channel opened before the plugin, client side", server: "grpcio", client: "grpcio", syscalls: "sendmsg / recvmsg", sent: totalsOf(expected), counted: totalsOf(client) });
    table.add({ case: "gRPC channel opened before the plugin, server side", server: "grpcio", client: "grpcio", syscalls: "recvmsg / sendmsg", sent: totalsOf(expected), counted: totalsOf(server) });
    expect(client).toEqual(expected);
    expect(server).toEqual(expected);
    expect(grpcCounts(await processSeries(plugin, grpcClient.proc.pid), "client")).toEqual({ INTERNAL: 3 });
    const serverGrpc = grpcCounts(await processSeries(plugin, grpcServer.proc.pid), "server");
    expect(serverGrpc).toEqual({ INTERNAL: 3 });
    expect(grpcCounts(serverBefore, "server")).toEqual({});
    // OK, NOT_FOUND and the stream's OK: named on each side.
    expect(await lossesSince(before, ["h2_dynamic_table", "h2_lost"])).toEqual({ h2_dynamic_table: 2 * 3, h2_lost: 0 });
  });

  test("TLS, binary protocols and random bytes on connections older than the plugin: nothing counted, nothing taken for HTTP/2", async () => {
    const before = await lossTotals();
    for (let i = 0; i < 5; i++) expect(await binary.ask("round")).toBe("done");
    await plugin.reportAfter(Date.now());
    const series = await processSeries(plugin, binary.proc.pid);
    expect(sideCounts(series, "server")).toEqual({ requests: 0, codes: {} });
    expect(sideCounts(series, "client")).toEqual({ requests: 0, codes: {} });
    expect(await lossesSince(before, ["h2_dynamic_table", "h2_lost", "desync"])).toEqual({ h2_dynamic_table: 0, h2_lost: 0, desync: 0 });
  });
});
