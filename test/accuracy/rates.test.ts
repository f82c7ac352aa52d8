/**
 * Rates: a steady known rate for longer than the report window. Reports
 * polled throughout must agree on every second they share (nothing doubled
 * as the window slides), leave no second out, and their union must sum to
 * exactly what was sent.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { REQUESTS_METRIC, responseMetricId } from "../../src/outputs/report";
import { startPlugin, type RunningPlugin } from "../support/plugin";
import { startNodeServer, type RunningServer } from "../support/servers";
import { AccuracyTable, expectedTotals, type Totals } from "./harness";

// Cases wait for the plugin's ticks and some drive thousands of requests.
setDefaultTimeout(60_000);

const table = new AccuracyTable("rates");
const WINDOW = 5;
const RATE = 200;
const SECONDS = 10;
const PORT = 18370;
let plugin: RunningPlugin;
let server: RunningServer;

beforeAll(async () => {
  plugin = await startPlugin({ args: ["--window", String(WINDOW)] });
  server = await startNodeServer(PORT);
}, 30_000);
afterAll(async () => {
  table.flush();
  await server?.stop();
  await plugin?.stop();
}, 30_000);

/** metric id -> sample date -> value, as every report polled so far saw it. */
type Seen = Map<string, Map<string, number>>;

async function poll(seen: Seen, conflicts: string[]): Promise<void> {
  const report = await plugin.report();
  const node = report.Process.nodes[`${plugin.hostId};${server.servingPids[0]}`];
  if (!node) return;
  expect(Object.values(node.metrics).every((m) => m.samples.length <= WINDOW)).toBe(true);
  for (const [id, metric] of Object.entries(node.metrics)) {
    const byDate = seen.get(id) ?? new Map<string, number>();
    seen.set(id, byDate);
    for (const { date, value } of metric.samples) {
      const before = byDate.get(date);
      if (before !== undefined && before !== value) conflicts.push(`${id} at ${date}: ${before} then ${value}`);
      byDate.set(date, value);
    }
  }
}

test(`${RATE} req/s for ${SECONDS} s through a ${WINDOW} s window: per-second samples sum to what was sent`, async () => {
  const seen: Seen = new Map();
  const conflicts: string[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      await poll(seen, conflicts);
      await Bun.sleep(250);
    }
  })();
  const plan = { 200: RATE * SECONDS * 0.9, 404: RATE * SECONDS * 0.1 };
  const start = performance.now();
  let sent = 0;
  for (let i = 0; i < RATE * SECONDS; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await Bun.sleep(wait);
    const code = i % 10 === 9 ? 404 : 200;
    const res = await fetch(`http://127.0.0.1:${PORT}/status/${code}`);
    await res.arrayBuffer();
    expect(res.status).toBe(code);
    sent++;
  }
  await plugin.reportAfter(Date.now());
  polling = false;
  await poller;
  await poll(seen, conflicts); // a report at least as new as that one: every request is in it

  expect(sent).toBe(RATE * SECONDS);
  expect(conflicts).toEqual([]);
  const counted: Totals = {};
  for (const [id, byDate] of seen) {
    if (!id.endsWith("_per_second")) continue; // latency percentiles: checked for consistency above, not summed
    const sum = [...byDate.values()].reduce((a, b) => a + b, 0);
    if (sum) counted[id] = sum;
  }
  // Every tick between the first and the last is there: no second lost.
  const dates = [...(seen.get(REQUESTS_METRIC)?.keys() ?? [])].map((d) => Date.parse(d)).sort((a, b) => a - b);
  const gaps = dates.slice(1).map((d, i) => d - dates[i]!);
  const busy = [...(seen.get(REQUESTS_METRIC)?.values() ?? [])].filter((v) => v > 0).length;
  table.add({
    case: `${RATE} req/s for ${SECONDS} s, window ${WINDOW} s, ${busy} busy seconds`,
    server: "node http",
    client: "bun fetch (keep-alive)",
    syscalls: "read / writev",
    sent: expectedTotals(plan),
    counted,
  });
  expect(dates.length).toBeGreaterThanOrEqual(SECONDS);
  expect(gaps.filter((gap) => Math.round(gap / 1000) !== 1)).toEqual([]);
  expect(counted).toEqual({ [REQUESTS_METRIC]: sent, [responseMetricId(200)]: plan[200], [responseMetricId(404)]: plan[404] });
}, 60_000);
