/**
 * The plugin end to end, as issue 2 defines it: real kernel, real servers,
 * real clients, exact counts per pid through GET /report.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { ensureBinary } from "../support/binary";
import { pidsIn, startPlugin, totals, type RunningPlugin } from "../support/plugin";
import { startBunServer, startNginx, startNodeServer, type RunningServer } from "../support/servers";
import { curl, statusUrls } from "../support/traffic";

/** Accepts one TCP connection, echoes a line-protocol exchange back to a client it runs itself, exits. */
const ECHO_SERVER = `
import socket, sys, threading
srv = socket.create_server(("127.0.0.1", int(sys.argv[1])))
def client():
    c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    for line in (b"SET key 1\\r\\n", b"GET key\\r\\n", b"QUIT\\r\\n"):
        c.sendall(line); c.recv(100)
    c.close()
threading.Thread(target=client).start()
conn, _ = srv.accept()
while data := conn.recv(100):
    conn.sendall(data)
`;

const PLAN = { 200: 7, 404: 3, 503: 2, 418: 1, 201: 2 };
const SENT = Object.values(PLAN).reduce((a, b) => a + b, 0);

/** The per-metric totals PLAN should produce (418 lands in OTHERS). */
const EXPECTED = {
  http_requests_per_second: SENT,
  http_200_responses_per_second: 7,
  http_404_responses_per_second: 3,
  http_503_responses_per_second: 2,
  http_201_responses_per_second: 2,
  http_OTHERS_responses_per_second: 1,
};

function sumOver(plugin: RunningPlugin, report: Awaited<ReturnType<RunningPlugin["report"]>>, pids: number[]) {
  const sum: Record<string, number> = {};
  for (const pid of pids)
    for (const [metric, value] of Object.entries(totals(report, plugin.hostId, pid))) sum[metric] = (sum[metric] ?? 0) + value;
  return sum;
}

for (const [name, binary, basePort] of [
  ["from source", false, 18180],
  ["compiled binary", true, 18185],
] as const) {
describe(`plugin ${name}`, () => {
  let plugin: RunningPlugin;
  let nginx: RunningServer;
  let node: RunningServer;
  let bun: RunningServer;

  beforeAll(async () => {
    if (binary) await ensureBinary();
    plugin = await startPlugin({ binary });
    [nginx, node, bun] = await Promise.all([
      startNginx({ port: basePort, workers: 2 }),
      startNodeServer(basePort + 1),
      startBunServer(basePort + 2),
    ]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([nginx?.stop(), node?.stop(), bun?.stop()]);
    await plugin?.stop();
  }, 30_000);

  test("nginx workers over new connections: exact counts, summed across workers", async () => {
    const codes = await curl(statusUrls(`http://127.0.0.1:${basePort}`, PLAN), { close: true });
    expect(codes.length).toBe(SENT);
    const report = await plugin.reportAfter(Date.now());
    expect(sumOver(plugin, report, nginx.servingPids)).toEqual(EXPECTED);
  });

  test("node http over one keep-alive connection: exact counts on the server's pid", async () => {
    await curl(statusUrls(`http://127.0.0.1:${basePort + 1}`, PLAN));
    expect(totals(await plugin.reportAfter(Date.now()), plugin.hostId, node.servingPids[0]!)).toEqual(EXPECTED);
  });

  test("Bun.serve over keep-alive: exact counts on the server's pid", async () => {
    await curl(statusUrls(`http://127.0.0.1:${basePort + 2}`, PLAN));
    expect(totals(await plugin.reportAfter(Date.now()), plugin.hostId, bun.servingPids[0]!)).toEqual(EXPECTED);
  });

  test("processes that are not HTTP servers show nothing: clients, the test runner, the plugin, a TCP echo server", async () => {
    // A non-HTTP TCP server and its client exchange line-protocol bytes on loopback.
    const echo = Bun.spawn(["python3", "-c", ECHO_SERVER, String(basePort + 3)], { stdout: "pipe" });
    try {
      await new Response(echo.stdout).text(); // the server prints nothing and exits after one exchange
      const pids = pidsIn(await plugin.reportAfter(Date.now()), plugin.hostId);
      for (const pid of [echo.pid, process.pid, plugin.proc.pid]) expect(pids).not.toContain(pid);
      for (const pid of [node.servingPids[0]!, bun.servingPids[0]!]) expect(pids).toContain(pid);
      // nginx may hand every connection to the same worker: at least one of them served.
      expect(pids.filter((pid) => nginx.servingPids.includes(pid)).length).toBeGreaterThanOrEqual(1);
    } finally {
      echo.kill();
    }
  });
});
}

/** One raw keep-alive request on an open socket; resolves with the status code. */
function requestOn(socket: ReturnType<typeof connect>, path: string): Promise<number> {
  return new Promise((resolve) => {
    let text = "";
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      const end = text.indexOf("\r\n\r\n");
      const length = /content-length: (\d+)/i.exec(text)?.[1];
      if (end >= 0 && length !== undefined && text.length >= end + 4 + Number(length)) {
        socket.off("data", onData);
        resolve(Number(text.split(" ")[1]));
      }
    };
    socket.on("data", onData);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  });
}

test("a keep-alive connection accepted before the plugin started is counted from then on", async () => {
  const server = await startBunServer(18189); // answers with Content-Length, which requestOn relies on
  const socket = connect(18189, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  let plugin: RunningPlugin | undefined;
  try {
    expect(await requestOn(socket, "/status/200")).toBe(200); // before: not ours to count
    plugin = await startPlugin();
    for (const code of [200, 200, 404, 500, 200]) expect(await requestOn(socket, `/status/${code}`)).toBe(code);
    expect(totals(await plugin.reportAfter(Date.now()), plugin.hostId, server.servingPids[0]!)).toEqual({
      http_requests_per_second: 5,
      http_200_responses_per_second: 3,
      http_404_responses_per_second: 1,
      http_500_responses_per_second: 1,
    });
  } finally {
    socket.destroy();
    await server.stop();
    await plugin?.stop();
  }
}, 30_000);
