/**
 * Polls the running plugin exactly as the Scope probe does (raw HTTP/1.1 on
 * the unix socket, keep-alive, gzip accepted, 500 ms budget) and checks each
 * report against every rule in shared/PROTOCOL.md.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { basename, extname } from "node:path";
import { connect, type Socket } from "node:net";
import { startPlugin, type RunningPlugin } from "../support/plugin";
import { PLUGIN_ID_PATTERN, protocolViolations } from "../support/protocol";
import { startNginx, type RunningServer } from "../support/servers";
import { curl, statusUrls } from "../support/traffic";

let plugin: RunningPlugin;
let nginx: RunningServer;

beforeAll(async () => {
  plugin = await startPlugin({ hostId: "probe-host.example" });
  nginx = await startNginx({ port: 18190, workers: 1 });
  await curl(statusUrls("http://127.0.0.1:18190", { 200: 3, 202: 2, 418: 1, 503: 1 }));
  await plugin.reportAfter(Date.now()); // the reports checked below carry that traffic
}, 30_000);

afterAll(async () => {
  await nginx?.stop();
  await plugin?.stop();
}, 30_000);

/** Sends the probe's request on an open connection and reads one full response. */
function probePoll(socket: Socket): Promise<{ status: number; headers: Record<string, string>; body: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let data = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = data.subarray(0, end).toString();
      const [statusLine, ...lines] = head.split("\r\n");
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
      const length = Number(headers["content-length"]);
      if (data.length < end + 4 + length) return;
      socket.off("data", onData);
      resolve({ status: Number(statusLine!.split(" ")[1]), headers, body: data.subarray(end + 4, end + 4 + length).toString(), ms: performance.now() - started });
    };
    socket.on("data", onData);
    socket.once("error", reject);
    socket.write(
      "GET /report?api_version=1&probe_id=5f3e2a1b0c9d8e7f HTTP/1.1\r\nHost: plugin\r\nUser-Agent: Scope_Probe/1.13\r\nAccept-Encoding: gzip\r\n\r\n",
    );
  });
}

test("the socket name yields a valid plugin id", () => {
  const id = basename(plugin.socket, extname(plugin.socket));
  expect(id).toBe("http-statistics");
  expect(PLUGIN_ID_PATTERN.test(id)).toBe(true);
});

test("two polls on one keep-alive connection, each within 500 ms, each report valid", async () => {
  const socket = connect(plugin.socket);
  await new Promise((resolve) => socket.once("connect", resolve));
  try {
    for (let poll = 0; poll < 2; poll++) {
      const response = await probePoll(socket);
      expect(response.status).toBe(200);
      expect(response.ms).toBeLessThan(500);
      expect(response.headers["content-type"]).toStartWith("application/json");
      const report = JSON.parse(response.body);
      expect(protocolViolations(report, { pluginId: "http-statistics", hostId: "probe-host.example" })).toEqual([]);
      // The plugin sees the whole host: other servers may appear, ours must.
      expect(Object.keys(report.Process.nodes)).toContain(`probe-host.example;${nginx.servingPids[0]}`);
    }
  } finally {
    socket.destroy();
  }
});

test("the checker itself catches each broken rule", () => {
  const ctx = { pluginId: "http-statistics", hostId: "h" };
  const good = {
    Process: {
      nodes: { "h;1": { id: "h;1", metrics: { m: { samples: [{ date: "2026-01-01T00:00:00Z", value: 1 }], min: 0, max: 1 } } } },
      metric_templates: { m: { id: "m", label: "M", format: "", priority: 1 } },
    },
    Plugins: [{ id: "http-statistics", label: "L", interfaces: ["reporter"], api_version: "1" }],
  };
  expect(protocolViolations(good, ctx)).toEqual([]);
  const broken = structuredClone(good) as any;
  broken.Plugins.push(broken.Plugins[0]);
  broken.Process.nodes["h;1"].metrics.m.samples[0].date = 1767225600;
  broken.Process.nodes["other;2"] = { id: "x" };
  broken.Processes = {};
  expect(protocolViolations(broken, ctx)).toEqual([
    "unknown top-level key Processes",
    "Plugins must hold exactly one spec, has 2",
    "Process h;1: metric m date 1767225600 is not RFC3339",
    'Process: node other;2 must carry "id" equal to its key',
    "Process node other;2 is not <hostID>;<pid> for host h",
  ]);
});
