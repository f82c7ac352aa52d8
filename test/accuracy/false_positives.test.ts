/**
 * No false positives: bytes that look like HTTP but are not HTTP messages on
 * an accepted TCP connection count nothing, and HTTP text inside a body
 * counts only the message that carries it.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { createSocket } from "node:dgram";
import { mkdtempSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startPlugin, type RunningPlugin } from "../support/plugin";
import { LOSSES_TOTAL_KEY } from "../../src/outputs/report";
import { parseResponses, rawExchange, request } from "./clients";
import { ACCURACY_WINDOW, AccuracyTable, expectedTotals, Meter, reportedLoss } from "./harness";
import { startRawServer } from "./servers";

// Cases wait for the plugin's ticks and some drive thousands of requests.
setDefaultTimeout(60_000);

const table = new AccuracyTable("false_positives");
const TCP_PORT = 18360;
const UDP_PORT = 18361;
const UNIX_PATH = join(mkdtempSync(join(tmpdir(), "hs-acc-unix-")), "http.sock");
let plugin: RunningPlugin;
let meter: Meter;
let notHttp: ReturnType<typeof Bun.spawn>;

beforeAll(async () => {
  plugin = await startPlugin({ args: ACCURACY_WINDOW });
  meter = new Meter(plugin);
  notHttp = Bun.spawn(["python3", join(import.meta.dir, "not_http.py"), String(TCP_PORT), UNIX_PATH, String(UDP_PORT)], {
    stdout: "pipe",
    stderr: "inherit",
  });
  // It prints "ready" once its TCP, unix and UDP sockets are all bound and listening.
  const reader = (notHttp.stdout as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let said = "";
  while (!said.includes("\n")) {
    const chunk = await reader.read();
    if (chunk.done) break;
    said += decoder.decode(chunk.value, { stream: true });
  }
  if (said !== "ready\n") throw new Error(`not_http.py did not start: it said ${JSON.stringify(said)}`);
  await meter.start();
}, 30_000);
afterAll(async () => {
  table.flush();
  notHttp?.kill();
  await notHttp?.exited;
  await plugin?.stop();
}, 30_000);

/** Sends `text` on a stream socket (TCP or unix) and reads until `replies` lines of reply arrived. */
function exchange(target: { port: number; host: string } | { path: string }, writes: string[], until: (got: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(target as never);
    let got = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no full reply after 10 s: ${JSON.stringify(got)}`));
    }, 10_000);
    socket.on("error", reject);
    socket.on("data", (d) => {
      got += d.toString("latin1");
      if (until(got)) {
        clearTimeout(timer);
        socket.end();
        resolve(got);
      }
    });
    socket.on("connect", async () => {
      for (const w of writes) {
        socket.write(w);
        await Bun.sleep(5);
      }
    });
  });
}

function udpExchange(text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createSocket("udp4");
    const timer = setTimeout(() => {
      sock.close();
      reject(new Error("no UDP reply after 5 s"));
    }, 5000);
    sock.on("message", (msg) => {
      clearTimeout(timer);
      sock.close();
      resolve(msg.toString("latin1"));
    });
    sock.send(text, UDP_PORT, "127.0.0.1");
  });
}

async function expectNothing(name: string, client: string, syscalls: string): Promise<void> {
  const counted = await meter.measure([notHttp.pid]);
  table.add({ case: name, server: "python (not HTTP)", client, syscalls, sent: {}, counted });
  expect(counted).toEqual({});
}

test("a TCP line protocol whose commands begin like a method", async () => {
  const lines = Array.from({ length: 50 }, (_, i) => `GET key${i}\r\n`);
  const reply = await exchange({ port: TCP_PORT, host: "127.0.0.1" }, [lines.join(""), "GET key50\r\n"], (got) => got.split("\r\n").length > 51);
  expect(reply.startsWith("VALUE key0\r\n")).toBe(true);
  await expectNothing('line protocol "GET key" x51 over TCP', "raw socket", "recvfrom / sendto");
});

test("a TCP line protocol that answers with a status line nobody asked for", async () => {
  const lossesBefore = reportedLoss(await plugin.report(), plugin.hostId, LOSSES_TOTAL_KEY);
  const reply = await exchange({ port: TCP_PORT, host: "127.0.0.1" }, ["GET banner\r\n", "GET key\r\n"], (got) => got.split("\r\n").length > 2);
  expect(reply).toBe("HTTP/1.1 200 banner\r\nVALUE key\r\n");
  await expectNothing('"GET banner" answered "HTTP/1.1 200 banner"', "raw socket", "recvfrom / sendto");
  // The first line the server received was no request line, at the very start
  // of the connection: it is not HTTP, so its status-like line is not even a
  // loss, just bytes of another protocol.
  const lossesAfter = reportedLoss(await plugin.report(), plugin.hostId, LOSSES_TOTAL_KEY);
  expect(lossesAfter - lossesBefore).toBe(0);
});

test("files read and written that start like HTTP messages", async () => {
  // Every line-protocol connection above read and wrote such files; one more, alone.
  await exchange({ port: TCP_PORT, host: "127.0.0.1" }, ["GET k\r\n"], (got) => got.endsWith("\r\n"));
  await expectNothing('file "GET / HTTP/1.1" read, file "HTTP/1.1 200" written', "raw socket", "read / write on files");
});

test("HTTP in UDP datagrams counts nothing; over a unix stream socket, every request", async () => {
  for (let i = 0; i < 10; i++) expect(await udpExchange(request("GET", "/status/200"))).toStartWith("HTTP/1.1 200 OK");
  await expectNothing("HTTP in UDP datagrams x10", "raw socket", "recvfrom / sendto");
  const http = Array.from({ length: 10 }, () => request("GET", "/status/200")).join("");
  const reply = await exchange({ path: UNIX_PATH }, [http], (got) => got.split("HTTP/1.1 200").length > 10);
  expect(reply.split("HTTP/1.1 200").length).toBe(11);
  const sent = expectedTotals({ 200: 10 });
  const counted = await meter.measure([notHttp.pid]);
  table.add({ case: "HTTP over a unix stream socket x10, pipelined", server: "raw python", client: "raw socket", syscalls: "recv / sendall", sent, counted });
  expect(counted).toEqual(sent);
});

test("HTTP text inside bodies counts only the messages that carry it", async () => {
  const server = await startRawServer(18362, "recv", "send");
  try {
    const inner = `${request("GET", "/status/500")}HTTP/1.1 500 Inner\r\nContent-Length: 0\r\n\r\n`;
    const writes = [request("POST", "/echo/200", {}, inner), request("POST", "/echo/201", {}, inner), request("POST", "/echo/202", { Connection: "close" }, inner)];
    expect(parseResponses(await rawExchange({ port: 18362, writes: [writes.join("")] }))).toEqual([200, 201, 202]);
    const sent = expectedTotals({ 200: 1, 201: 1, 202: 1 });
    const counted = await meter.measure([server.pid]);
    table.add({ case: "HTTP request and response text inside bodies", server: "raw python", client: "raw socket", syscalls: "recvfrom / sendto", sent, counted });
    expect(counted).toEqual(sent);
  } finally {
    await server.stop();
  }
});
