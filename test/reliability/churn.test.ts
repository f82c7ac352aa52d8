/**
 * Churn: 1,500 short-lived server processes (one forked per connection,
 * exiting when it closes), each serving 3 pipelined requests. Every
 * process's count is exact, and afterwards none of them holds a counter in
 * the kernel or a node in the report: per-process state returns to its
 * baseline. (bench/reliability.ts runs the same at a larger scale.)
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mapIdsOf, mapKeys } from "../support/kernel_maps";
import { churn, startForkServer, type ForkServer } from "../support/churn";
import { requireRoot, startPlugin, type RunningPlugin } from "../support/plugin";

const PORT = 18760;
const CONNECTIONS = 1500;
const REQUESTS_EACH = 3;
const WINDOW = 5;
let plugin: RunningPlugin;
let server: ForkServer;

beforeAll(async () => {
  requireRoot();
  plugin = await startPlugin({ args: ["--window", String(WINDOW)] });
  server = await startForkServer(PORT);
}, 30_000);
afterAll(async () => {
  await server?.stop();
  await plugin?.stop();
}, 30_000);

/** pid -> metric -> sample date -> value, over every report polled. */
type Seen = Map<number, Map<string, Map<string, number>>>;

async function poll(seen: Seen, conflicts: string[]): Promise<void> {
  const report = await plugin.report();
  for (const [id, node] of Object.entries(report.Process.nodes)) {
    const pid = Number(id.slice(plugin.hostId.length + 1));
    const byMetric = seen.get(pid) ?? new Map();
    seen.set(pid, byMetric);
    for (const [metric, { samples }] of Object.entries(node.metrics)) {
      const byDate: Map<string, number> = byMetric.get(metric) ?? new Map();
      byMetric.set(metric, byDate);
      for (const { date, value } of samples) {
        if (byDate.has(date) && byDate.get(date) !== value) conflicts.push(`${pid} ${metric} ${date}: ${byDate.get(date)} then ${value}`);
        byDate.set(date, value);
      }
    }
  }
}

const sum = (byDate: Map<string, number> | undefined) => [...(byDate?.values() ?? [])].reduce((a, b) => a + b, 0);

test(`${CONNECTIONS} short-lived server processes x ${REQUESTS_EACH} requests: every count exact, their state gone afterwards`, async () => {
  const seen: Seen = new Map();
  const conflicts: string[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      await poll(seen, conflicts);
      await Bun.sleep(1000);
    }
  })();
  const answers = await churn(PORT, CONNECTIONS, REQUESTS_EACH, 16);
  expect(answers).toBe(CONNECTIONS * REQUESTS_EACH);
  for (let i = 0; i < 50 && server.children.size < CONNECTIONS; i++) await Bun.sleep(100);
  await Bun.sleep(2500); // two more ticks, polled
  polling = false;
  await poller;
  expect(conflicts).toEqual([]);
  expect(server.children.size).toBe(CONNECTIONS);

  const wrong: string[] = [];
  for (const [pid, served] of server.children) {
    const counted = { requests: sum(seen.get(pid)?.get("http_requests_per_second")), ok: sum(seen.get(pid)?.get("http_200_responses_per_second")) };
    if (served !== REQUESTS_EACH || counted.requests !== served || counted.ok !== served) wrong.push(`${pid}: served ${served}, counted ${JSON.stringify(counted)}`);
  }
  expect(wrong).toEqual([]);

  // Back to baseline: no counter and no node left for any of those processes.
  const counters = mapIdsOf(plugin.proc.pid).counters!;
  const children = new Set(server.children.keys());
  let left = { counters: -1, nodes: -1 };
  for (let i = 0; i < 40; i++) {
    const report = await plugin.report();
    left = {
      counters: mapKeys(counters).filter((key) => children.has(Buffer.from(key).readUInt32LE(0))).length,
      nodes: Object.keys(report.Process.nodes).filter((id) => children.has(Number(id.slice(plugin.hostId.length + 1)))).length,
    };
    if (left.counters === 0 && left.nodes === 0) break;
    await Bun.sleep(500);
  }
  expect(left).toEqual({ counters: 0, nodes: 0 });
}, 120_000);
