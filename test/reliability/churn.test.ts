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
import { SampleUnion } from "../support/sample_union";

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

test(`${CONNECTIONS} short-lived server processes x ${REQUESTS_EACH} requests: every count exact, their state gone afterwards`, async () => {
  const union = new SampleUnion(plugin.hostId);
  const stopFollowing = union.follow(() => plugin.report());
  const answers = await churn(PORT, CONNECTIONS, REQUESTS_EACH, 16);
  const sent = Date.now();
  expect(answers).toBe(CONNECTIONS * REQUESTS_EACH);
  for (let i = 0; i < 50 && server.children.size < CONNECTIONS; i++) await Bun.sleep(100);
  await stopFollowing();
  union.add(await plugin.reportAfter(sent)); // the last seconds of the traffic, from a tick after it
  expect(union.conflicts).toEqual([]);
  expect(server.children.size).toBe(CONNECTIONS);

  const wrong: string[] = [];
  for (const [pid, served] of server.children) {
    const t = union.totals((p) => p === pid);
    const counted = { requests: t.http_requests_per_second ?? 0, ok: t.http_200_responses_per_second ?? 0 };
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
