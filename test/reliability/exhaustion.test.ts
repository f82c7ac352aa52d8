/**
 * The counters table full on purpose (--max-counters 1024, its minimum):
 * three servers answering 400 different status codes each need 1,203
 * (process, code) counters. What finds no room is counted as the named loss
 * counter_table_full, one per event, never guessed; a server whose counters
 * existed before keeps counting exactly; and once the filling processes are
 * gone their counters leave the table and new processes count exactly again.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { lossKey } from "../../src/report";
import { mapEntryCount } from "../support/kernel_maps";
import { afterNextTick, requireRoot, startPlugin, totals, type RunningPlugin, type ScopeReport } from "../support/plugin";
import { startBunServer, type RunningServer } from "../support/servers";
import { curl, statusUrls } from "../support/traffic";

const MAX_COUNTERS = 1024;
const CODES = Array.from({ length: 400 }, (_, i) => 200 + i); // 200..599
const PORTS = { bystander: 18720, fillers: [18721, 18722, 18723], after: 18724 };
let plugin: RunningPlugin;
const servers: RunningServer[] = [];

function lost(report: ScopeReport, reason: string): number {
  const host = (report.Host as { nodes: Record<string, { latest: Record<string, { value: string }> }> }).nodes[`${plugin.hostId};<host>`]!;
  return Number(host.latest[lossKey(reason)]?.value ?? 0);
}

/** Each code once, in one keep-alive curl; Bun.serve answers /status/NNN with NNN. */
async function everyCode(port: number): Promise<void> {
  const codes = await curl(CODES.map((code) => `http://127.0.0.1:${port}/status/${code}`));
  expect(codes).toEqual(CODES);
}

beforeAll(async () => {
  requireRoot();
  plugin = await startPlugin({ args: ["--max-counters", String(MAX_COUNTERS), "--window", "2"] });
}, 30_000);
afterAll(async () => {
  for (const s of servers) await s.stop();
  await plugin?.stop();
}, 30_000);

test("overflow is counter_table_full, one per event; the bystander exact; recovery once the processes are gone", async () => {
  const bystander = await startBunServer(PORTS.bystander);
  servers.push(bystander);
  const fillers = await Promise.all(PORTS.fillers.map(startBunServer));
  servers.push(...fillers);
  const pidOf = (s: RunningServer) => s.servingPids[0]!;

  // The bystander's counters exist before the table fills.
  await curl(statusUrls(`http://127.0.0.1:${PORTS.bystander}`, { 200: 5 }));
  await afterNextTick();
  const lostBefore = lost(await plugin.report(), "counter_table_full");

  await everyCode(PORTS.fillers[0]!);
  await everyCode(PORTS.fillers[1]!);
  const free = MAX_COUNTERS - mapEntryCount(plugin.proc.pid, "counters");
  expect(free).toBeGreaterThan(1); // room for the last filler's request counter and some codes
  await everyCode(PORTS.fillers[2]!);
  await curl(statusUrls(`http://127.0.0.1:${PORTS.bystander}`, { 200: 7 }));
  await afterNextTick();

  const report = await plugin.report();
  expect(mapEntryCount(plugin.proc.pid, "counters")).toBe(MAX_COUNTERS);
  // The first two fillers fit whole: 400 requests and one count per code.
  for (const filler of fillers.slice(0, 2)) {
    const counted = totals(report, plugin.hostId, pidOf(filler));
    expect(counted.http_requests_per_second).toBe(400);
    expect(Object.values(counted).reduce((a, b) => a + b, 0)).toBe(800);
  }
  // The third: its request counter and free - 1 codes found room, the rest are the named loss.
  const third = totals(report, plugin.hostId, pidOf(fillers[2]!));
  const responsesCounted = Object.entries(third).filter(([id]) => id !== "http_requests_per_second").reduce((a, [, v]) => a + v, 0);
  expect(third.http_requests_per_second).toBe(400);
  const overflowed = 400 - (free - 1);
  expect(responsesCounted).toBeLessThanOrEqual(free - 1);
  expect(lost(report, "counter_table_full") - lostBefore).toBe(400 - responsesCounted);
  expect(overflowed).toBe(400 - responsesCounted);
  // Nothing else disturbed: the bystander's counters already existed, so its count is exact.
  expect(totals(report, plugin.hostId, pidOf(bystander))).toEqual({ http_requests_per_second: 12, http_200_responses_per_second: 12 });

  // Recovery: the fillers go away; once idle for the window their counters leave the table.
  for (const filler of fillers) await filler.stop();
  let entries = MAX_COUNTERS;
  for (let i = 0; i < 40 && entries > 100; i++) {
    await Bun.sleep(500);
    entries = mapEntryCount(plugin.proc.pid, "counters");
  }
  expect(entries).toBeLessThan(100);
  const lostAtRecovery = lost(await plugin.report(), "counter_table_full");
  const newcomer = await startBunServer(PORTS.after);
  servers.push(newcomer);
  await everyCode(PORTS.after);
  await afterNextTick();
  const recovered = await plugin.report();
  const counted = totals(recovered, plugin.hostId, pidOf(newcomer));
  expect(counted.http_requests_per_second).toBe(400);
  expect(Object.values(counted).reduce((a, b) => a + b, 0)).toBe(800);
  expect(lost(recovered, "counter_table_full")).toBe(lostAtRecovery);
}, 90_000);
