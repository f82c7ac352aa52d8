/**
 * The report socket under abuse: 2,000 idle connections, 50 slow readers
 * with 200 unread reports each, clients cycling through malformed requests
 * and pipelined floods of GET /report, all at once. Meanwhile the probe's
 * GET /report must answer, every time, within its 500 ms, and the plugin's
 * memory must stay bounded; afterwards it still counts exactly.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { requireRoot, startPlugin, totals, type RunningPlugin } from "../support/plugin";
import { probeOnce, startAbuse } from "../support/report_abuse";
import { startBunServer, type RunningServer } from "../support/servers";
import { curl, statusUrls } from "../support/traffic";

const PORT = 18730;
let plugin: RunningPlugin;
let server: RunningServer;

const rssMiB = (pid: number) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

beforeAll(async () => {
  requireRoot();
  plugin = await startPlugin();
  server = await startBunServer(PORT);
}, 30_000);
afterAll(async () => {
  await server?.stop();
  await plugin?.stop();
}, 30_000);

test("2,000 idle, 50 slow readers, malformed requests and pipelined floods: every probe GET answered within 500 ms, memory bounded", async () => {
  await curl(statusUrls(`http://127.0.0.1:${PORT}`, { 200: 10 }));
  await plugin.reportAfter(Date.now()); // the memory baseline is taken with that traffic reported
  const rssBefore = rssMiB(plugin.proc.pid);
  const abuse = await startAbuse(plugin.socket, { idle: 2000, slowReaders: 50, slowRequests: 200, malformed: 4, flooders: 4, floodDepth: 200 });
  const probes: Array<{ ms: number; ok: boolean }> = [];
  let rssPeak = 0;
  try {
    // Every connection opened (EAGAIN from a full listen backlog is tried again, as clients do), none failed otherwise.
    expect(abuse.counts.connectErrorCodes).toEqual([]);
    expect(abuse.counts.idleOpen).toBe(2000);
    expect(abuse.counts.slowReadersOpen).toBe(50);
    for (let i = 0; i < 40; i++) {
      probes.push(await probeOnce(plugin.socket));
      rssPeak = Math.max(rssPeak, rssMiB(plugin.proc.pid));
      await Bun.sleep(250);
    }
  } finally {
    abuse.stop();
  }
  const worst = Math.max(...probes.map((p) => p.ms));
  console.log(`report socket abuse: probe max ${worst.toFixed(1)} ms over ${probes.length}; RSS ${rssBefore.toFixed(0)} -> peak ${rssPeak.toFixed(0)} MiB; ${JSON.stringify(abuse.counts)}`);
  expect(probes.filter((p) => !p.ok)).toEqual([]);
  expect(abuse.counts.malformedSent).toBeGreaterThan(20);
  expect(abuse.counts.floodResponses).toBeGreaterThan(1000);
  expect(abuse.counts.connectErrors).toBe(0);
  expect(rssPeak - rssBefore).toBeLessThan(150);
  // And it still counts exactly.
  const before = totals(await plugin.report(), plugin.hostId, server.servingPids[0]!).http_requests_per_second ?? 0;
  await curl(statusUrls(`http://127.0.0.1:${PORT}`, { 200: 5 }));
  expect(totals(await plugin.reportAfter(Date.now()), plugin.hostId, server.servingPids[0]!).http_requests_per_second).toBe(before + 5);
}, 90_000);
