/**
 * Connections that already exist when the plugin starts: it finds them in
 * /proc and counts from the first message that starts after it attached.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { connect, type Socket } from "node:net";
import { startPlugin, type RunningPlugin } from "../support/plugin";
import { histogram, parseResponses, planPaths, request } from "./clients";
import { ACCURACY_WINDOW, AccuracyTable, expectedTotals, Meter } from "./harness";
import { startRawServer, type RawServer } from "./servers";

// Cases wait for the plugin's ticks.
setDefaultTimeout(60_000);

const table = new AccuracyTable("existing");
const PORT = 18380;
let server: RawServer;
let socket: Socket;
let plugin: RunningPlugin | undefined;
let received = Buffer.alloc(0);

beforeAll(async () => {
  server = await startRawServer(PORT, "recv", "send");
  socket = connect({ host: "127.0.0.1", port: PORT, noDelay: true });
  socket.on("data", (d) => (received = Buffer.concat([received, Buffer.from(d)])));
  await new Promise<void>((ok, fail) => socket.once("connect", ok).once("error", fail));
}, 30_000);
afterAll(async () => {
  table.flush();
  socket?.destroy();
  await plugin?.stop();
  await server?.stop();
}, 30_000);

async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

test("a keep-alive connection opened before the plugin started", async () => {
  // Traffic before the plugin exists: not its to count.
  socket.write(request("GET", "/status/200") + request("GET", "/status/201"));
  await until(() => (received.toString("latin1").match(/HTTP\/1\.1 /g) ?? []).length === 2, "the first two responses");
  plugin = await startPlugin({ args: ACCURACY_WINDOW });
  const meter = new Meter(plugin);
  await meter.start();

  const plan = { 200: 20, 404: 5, 503: 5 };
  const paths = planPaths(plan);
  received = Buffer.alloc(0);
  socket.write(paths.map((p, i) => request("GET", p, i === paths.length - 1 ? { Connection: "close" } : {})).join(""));
  await new Promise<void>((ok) => socket.once("end", ok));
  expect(histogram(parseResponses(received))).toEqual(plan);

  const sent = expectedTotals(plan);
  const counted = await meter.measure([server.pid]);
  table.add({ case: "connection opened before the plugin started", server: "raw python", client: "raw socket", syscalls: "recvfrom / sendto", sent, counted });
  expect(counted).toEqual(sent);
});
