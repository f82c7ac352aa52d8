/**
 * The plugin end to end, as issue 2 defines it: real kernel, real servers,
 * real clients, exact counts per pid through GET /report.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { afterNextTick, pidsIn, startPlugin, totals, type RunningPlugin } from "../support/plugin";
import { startBunServer, startNginx, startNodeServer, type RunningServer } from "../support/servers";
import { curl, statusUrls } from "../support/traffic";

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

describe("plugin from source", () => {
  let plugin: RunningPlugin;
  let nginx: RunningServer;
  let node: RunningServer;
  let bun: RunningServer;

  beforeAll(async () => {
    plugin = await startPlugin();
    [nginx, node, bun] = await Promise.all([startNginx({ port: 18180, workers: 2 }), startNodeServer(18181), startBunServer(18182)]);
  }, 30_000);
  afterAll(async () => {
    await Promise.all([nginx?.stop(), node?.stop(), bun?.stop()]);
    await plugin?.stop();
  }, 30_000);

  test("nginx workers over new connections: exact counts, summed across workers", async () => {
    const codes = await curl(statusUrls("http://127.0.0.1:18180", PLAN), { close: true });
    expect(codes.length).toBe(SENT);
    await afterNextTick();
    const report = await plugin.report();
    expect(sumOver(plugin, report, nginx.servingPids)).toEqual(EXPECTED);
  });

  test("node http over one keep-alive connection: exact counts on the server's pid", async () => {
    await curl(statusUrls("http://127.0.0.1:18181", PLAN));
    await afterNextTick();
    expect(totals(await plugin.report(), plugin.hostId, node.servingPids[0]!)).toEqual(EXPECTED);
  });

  test("Bun.serve over keep-alive: exact counts on the server's pid", async () => {
    await curl(statusUrls("http://127.0.0.1:18182", PLAN));
    await afterNextTick();
    expect(totals(await plugin.report(), plugin.hostId, bun.servingPids[0]!)).toEqual(EXPECTED);
  });

  test("only the serving processes appear: not curl, not the test runner, not the plugin", async () => {
    const report = await plugin.report();
    const serving = [...nginx.servingPids, ...node.servingPids, ...bun.servingPids];
    for (const pid of pidsIn(report, plugin.hostId)) expect(serving).toContain(pid);
    expect(pidsIn(report, plugin.hostId)).not.toContain(process.pid);
    expect(pidsIn(report, plugin.hostId)).not.toContain(plugin.proc.pid);
  });
});
