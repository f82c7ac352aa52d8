/**
 * Accuracy by syscall shape and by wire edge case, against raw_server.py:
 * each server does all its reads with one syscall and all its writes with
 * another, so the table names exactly what the kernel side had to parse.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startPlugin, type RunningPlugin } from "../support/plugin";
import { histogram, parseResponses, planPaths, rawExchange, request } from "./clients";
import { ACCURACY_WINDOW, AccuracyTable, expectedTotals, Meter, type Totals } from "./harness";
import { BIG_BYTES, startRawServer, type RawServer, type ReadShape, type WriteShape } from "./servers";

// Cases wait for the plugin's ticks and some drive thousands of requests.
setDefaultTimeout(60_000);

const table = new AccuracyTable("shapes");
let plugin: RunningPlugin;
let meter: Meter;
let nextPort = 18300;

/** Every status class, codes outside the fixed list (OTHERS) and odd ones. */
const PLAN = { 200: 12, 201: 3, 204: 3, 299: 2, 301: 2, 304: 2, 404: 6, 418: 2, 451: 1, 500: 2, 503: 3, 599: 2 };

beforeAll(async () => {
  plugin = await startPlugin({ args: ACCURACY_WINDOW });
  meter = new Meter(plugin);
  await meter.start();
}, 30_000);
afterAll(async () => {
  table.flush();
  await plugin?.stop();
}, 30_000);

interface RawCase {
  name: string;
  read?: ReadShape;
  write?: WriteShape;
  host?: string;
  mode?: "thread" | "fork";
  client?: string;
  /** Connections, each a list of writes; the last request of each asks to close. */
  connections: Array<{ writes: Array<string | Uint8Array>; pauseMs?: number; heads?: boolean[] }>;
  /** What the client must have received, final codes and 1xx apart. */
  plan: Record<number, number>;
  interim?: Record<number, number>;
}

async function runRawCase(c: RawCase): Promise<void> {
  const read = c.read ?? "recv";
  const write = c.write ?? "send";
  const server: RawServer = await startRawServer(nextPort++, read, write, { host: c.host, mode: c.mode });
  try {
    const received: number[] = [];
    for (const conn of c.connections) {
      const stream = await rawExchange({ host: server.host, port: server.port, writes: conn.writes, pauseMs: conn.pauseMs });
      received.push(...parseResponses(stream, conn.heads));
    }
    const sent: Totals = expectedTotals(c.plan, c.interim);
    // The server really answered what the plan says: the client parsed it.
    expect(histogram(received)).toEqual(histogram([...Object.entries({ ...c.plan, ...c.interim }).flatMap(([code, n]) => Array(n).fill(Number(code)))]));
    const pids = c.mode === "fork" ? server.childPids() : [server.pid];
    const counted = await meter.measure(pids);
    table.add({
      case: c.name,
      server: `raw python${c.mode === "fork" ? " (fork per conn)" : ""}`,
      client: c.client ?? "raw socket",
      syscalls: `${read === "recv" ? "recvfrom" : read} / ${write === "send" ? "sendto" : write === "split" ? "sendto x2 (head, body)" : write === "trickle" ? "sendto, 1 byte per call for 16 bytes" : write}`,
      sent,
      counted,
    });
    expect(counted).toEqual(sent);
  } finally {
    await server.stop();
  }
}

/** One connection carrying the plan, all requests pipelined in a single write. */
function pipelined(plan: Record<number, number>, prefix = "/status") {
  const paths = planPaths(plan, prefix);
  const text = paths.map((p, i) => request("GET", p, i === paths.length - 1 ? { Connection: "close" } : {})).join("");
  return { writes: [text] };
}

describe("syscall shapes (keep-alive, pipelined, every status class)", () => {
  const shapes: Array<[ReadShape, WriteShape]> = [
    ["read", "write"],
    ["recv", "send"],
    ["readv", "writev"],
    ["recvmsg", "sendmsg"],
    ["recv", "sendfile"],
    ["read", "split"],
    ["recv", "trickle"],
  ];
  for (const [read, write] of shapes)
    test(`${read} / ${write}`, () =>
      runRawCase({ name: "pipelined keep-alive, all classes", read, write, connections: [pipelined(PLAN)], plan: PLAN }));
});

describe("wire edge cases", () => {
  test("request split 1 byte per read, next request starting inside a read", () => {
    const first = request("GET", "/status/200");
    const second = request("GET", "/status/404");
    const third = request("GET", "/status/418", { Connection: "close" });
    const bytes = [...first.slice(0, 24)].concat([first.slice(24) + second.slice(0, 7), second.slice(7, 30), second.slice(30) + third]);
    return runRawCase({
      name: "split reads: 1 byte at a time, boundaries inside reads",
      connections: [{ writes: bytes, pauseMs: 5 }],
      plan: { 200: 1, 404: 1, 418: 1 },
    });
  });

  test("pipelining: 200 POSTs with small bodies in one send", () => {
    const writes = [Array.from({ length: 200 }, (_, i) => request("POST", i % 4 === 3 ? "/status/404" : "/status/200", i === 199 ? { Connection: "close" } : {}, `body ${i}`)).join("")];
    return runRawCase({ name: "pipelining: 200 POSTs with bodies in one send", connections: [{ writes }], plan: { 200: 150, 404: 50 } });
  });

  test("pipelining: 1,000 GETs in one send", () => {
    const plan = { 200: 800, 404: 100, 503: 100 };
    return runRawCase({ name: "pipelining: 1,000 GETs (~44 KiB) in one send", connections: [pipelined(plan)], plan });
  });

  test("1 MiB bodies both ways", () => {
    const body = "u".repeat(BIG_BYTES);
    const writes = [0, 1, 2].map((i) => request("POST", "/big/200", i === 2 ? { Connection: "close" } : {}, body));
    return runRawCase({ name: "1 MiB upload and download x3", connections: [{ writes }], plan: { 200: 3 } });
  });

  test("chunked request and chunked response", () => {
    const chunkedBody = "5\r\nhello\r\n18;ext=1\r\nGET / HTTP/1.1\r\n\r\nHTTP/1\r\n0\r\n\r\n";
    const writes = [
      request("POST", "/chunked/200", { "Transfer-Encoding": "chunked" }, chunkedBody),
      request("GET", "/chunked/404"),
      request("POST", "/chunked/201", { "Transfer-Encoding": "chunked", Connection: "close" }, chunkedBody),
    ];
    return runRawCase({ name: "chunked both ways", connections: [{ writes }], plan: { 200: 1, 404: 1, 201: 1 } });
  });

  test("Expect: 100-continue: the 100 counts as a response of its own", () => {
    const body = "b".repeat(5000);
    const head = (close: boolean) =>
      request("POST", "/status/201", { Expect: "100-continue", "Content-Length": String(body.length), ...(close ? { Connection: "close" } : {}) });
    // The body goes only after a pause, as a client waiting for the 100 would.
    const writes = [head(false), body, head(true), body];
    return runRawCase({
      name: "Expect: 100-continue",
      connections: [{ writes, pauseMs: 30 }],
      plan: { 201: 2 },
      interim: { 100: 2 },
    });
  });

  test("103 Early Hints before the final answer", () =>
    runRawCase({ name: "103 Early Hints + final", connections: [pipelined({ 200: 3, 404: 2 }, "/hints")], plan: { 200: 3, 404: 2 }, interim: { 103: 5 } }));

  test("HEAD answers carry Content-Length but no body", () => {
    const writes = [
      request("HEAD", "/status/200") + request("GET", "/status/200") + request("HEAD", "/chunked/404") + request("GET", "/status/404", { Connection: "close" }),
    ];
    return runRawCase({ name: "HEAD and GET interleaved, pipelined", connections: [{ writes, heads: [true, false, true, false] }], plan: { 200: 2, 404: 2 } });
  });

  test("HTTP/1.0: a new connection per request", () => {
    const connections = planPaths({ 200: 4, 404: 2, 503: 1 }).map((path) => ({ writes: [`GET ${path} HTTP/1.0\r\nHost: x\r\n\r\n`] }));
    return runRawCase({ name: "HTTP/1.0 requests, a connection each", connections, plan: { 200: 4, 404: 2, 503: 1 } });
  });

  test("IPv6", () =>
    runRawCase({ name: "IPv6 pipelined", host: "::1", connections: [pipelined({ 200: 5, 500: 2 })], plan: { 200: 5, 500: 2 } }));

  test("forked children serve sockets their parent accepted", () => {
    const connections = [0, 1, 2].map(() => pipelined({ 200: 3, 404: 1 }));
    return runRawCase({ name: "fork per connection (parent accepts, child serves)", mode: "fork", connections, plan: { 200: 9, 404: 3 } });
  });
});
