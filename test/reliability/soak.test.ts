/**
 * A short soak (the 10-minute one at ~5,000 req/s is bench/reliability.ts):
 * 45 s of nginx at ~1,000 req/s with /report read every second. Every
 * request in nginx's access log is counted once, no second is reported
 * twice with different values, and the kernel counters map does not grow.
 */
import { LATENCY_BUCKETS } from "../../src/kernel/kernel_abi";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { requireRoot, startPlugin, type RunningPlugin } from "../support/plugin";
import { soak } from "../support/soak";

let plugin: RunningPlugin;

beforeAll(async () => {
  requireRoot();
  plugin = await startPlugin();
}, 30_000);
afterAll(async () => {
  await plugin?.stop();
}, 30_000);

test("45 s at ~1,000 req/s, /report every second: counts exact, map occupancy flat", async () => {
  const r = await soak({ agentPid: plugin.proc.pid, hostId: plugin.hostId, report: () => plugin.report(), port: 18770, seconds: 45, rate: 1000 });
  console.log(`soak: ${r.sent.requests} requests in ${r.seconds} s over ${r.connections} connections; ${r.reportsRead} reports; counters map ${JSON.stringify(r.counterEntries)}`);
  expect(r.sent.requests).toBeGreaterThan(45 * 1000 * 0.5);
  expect(r.counted).toEqual({ requests: r.sent.requests, byStatus: { "200": r.sent.requests } });
  expect(r.sent.byStatus).toEqual({ "200": r.sent.requests });
  expect(r.conflicts).toEqual([]);
  expect(r.reportFailures).toBe(0);
  // Occupancy: nginx's two workers hold two counters each (requests, 200) from start to end, and
  // latency buckets (each with its durations' sum), as many as the durations spread over: never more than there are buckets.
  expect(r.counterEntries.map((e) => e.nginxCounts)).toEqual(r.counterEntries.map(() => 4));
  expect(Math.max(...r.counterEntries.map((e) => e.nginx - e.nginxCounts))).toBeLessThanOrEqual(2 * LATENCY_BUCKETS);
}, 120_000);
