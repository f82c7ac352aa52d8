/**
 * The counters table full on purpose (--max-counters 1024, its minimum):
 * three servers answering 400 different status codes each, and the curl
 * processes asking them, need far more (process, slot) counters than that:
 * each exchange adds to a request, a status and a latency bucket (which
 * keeps its durations' sum beside its count) on the server's side and
 * again on the client's. Every add
 * that finds no room is one counter_table_full loss, never guessed: the
 * test reads the table itself and checks that what landed plus what was
 * lost is every add made. A server whose counters existed before keeps
 * counting exactly; and once the processes are gone their counters leave
 * the table and newcomers count exactly again.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { lossKey } from "../../src/outputs/report";
import { slotMeaning, type Side } from "../../src/kernel/kernel_abi";
import { counterValues, mapEntryCount } from "../support/kernel_maps";
import { requireRoot, startPlugin, totals, type RunningPlugin, type ScopeReport } from "../support/plugin";
import { startBunServer, type RunningServer } from "../support/servers";

const MAX_COUNTERS = 1024;
const WINDOW_SECONDS = 8;
const CODES = Array.from({ length: 400 }, (_, i) => 200 + i); // 200..599
const PORTS = { bystander: 18720, fillers: [18721, 18722, 18723], after: 18724 };
let plugin: RunningPlugin;
const servers: RunningServer[] = [];

function lost(report: ScopeReport, reason: string): number {
  const host = (report.Host as { nodes: Record<string, { latest: Record<string, { value: string }> }> }).nodes[`${plugin.hostId};<host>`]!;
  return Number(host.latest[lossKey(reason)]?.value ?? 0);
}

/** Each code once, in one keep-alive curl; Bun.serve answers /status/NNN with NNN. Returns curl's pid. */
async function everyCode(port: number): Promise<number> {
  return await curlPid(CODES.map((code) => `http://127.0.0.1:${port}/status/${code}`), CODES);
}

async function curlPid(urls: string[], expected: number[]): Promise<number> {
  const proc = Bun.spawn(["curl", "-s", "-w", "%{http_code}\\n", ...urls.flatMap((url) => ["-o", "/dev/null", url])], { stdout: "pipe", stderr: "inherit" });
  const out = await new Response(proc.stdout).text();
  expect(await proc.exited).toBe(0);
  expect(out.trim().split("\n").map(Number)).toEqual(expected);
  return proc.pid;
}

/**
 * Adds that landed for one process side since `before`: every slot's
 * growth (while the table only fills, a slot is made at its first add or
 * never, so an add that found no room left no trace).
 */
function landedAdds(before: Map<number, bigint> | undefined, after: Map<number, bigint> | undefined, side: Side): number {
  let landed = 0;
  for (const [slot, value] of after ?? []) {
    const meaning = slotMeaning(slot);
    if (!meaning || meaning.side !== side) continue;
    landed += Number(value - (before?.get(slot) ?? 0n));
  }
  return landed;
}

beforeAll(async () => {
  requireRoot();
  // A window the fill fits in: no counter leaves the table while it fills, so each slot either found room at its first add or never did.
  plugin = await startPlugin({ args: ["--max-counters", String(MAX_COUNTERS), "--window", String(WINDOW_SECONDS)] });
}, 30_000);
afterAll(async () => {
  for (const s of servers) await s.stop();
  await plugin?.stop();
}, 30_000);

test("every add that finds no room is one counter_table_full; the bystander exact; recovery once the processes are gone", async () => {
  const bystander = await startBunServer(PORTS.bystander);
  servers.push(bystander);
  const fillers = await Promise.all(PORTS.fillers.map(startBunServer));
  servers.push(...fillers);
  const pidOf = (s: RunningServer) => s.servingPids[0]!;
  const url = (port: number, code: number) => `http://127.0.0.1:${port}/status/${code}`;

  // The bystander's counters exist before the table fills.
  await curlPid(Array.from({ length: 5 }, () => url(PORTS.bystander, 200)), Array(5).fill(200));
  const lostBefore = lost(await plugin.reportAfter(Date.now()), "counter_table_full");
  const before = counterValues(plugin.proc.pid);

  const fillerCurls: number[] = [];
  for (const port of PORTS.fillers) fillerCurls.push(await everyCode(port));
  const lateCurl = await curlPid(Array.from({ length: 7 }, () => url(PORTS.bystander, 200)), Array(7).fill(200));
  const after = counterValues(plugin.proc.pid);
  const report = await plugin.reportAfter(Date.now());
  expect(mapEntryCount(plugin.proc.pid, "counters")).toBe(MAX_COUNTERS);

  // Each timed exchange makes three adds on each side (request, status, latency bucket with its sum).
  const sides: Array<[pid: number, side: "server" | "client", exchanges: number]> = [
    ...fillers.map((f): [number, "server", number] => [pidOf(f), "server", CODES.length]),
    ...fillerCurls.map((pid): [number, "client", number] => [pid, "client", CODES.length]),
    [pidOf(bystander), "server", 7],
    [lateCurl, "client", 7],
  ];
  let attempted = 0;
  let landed = 0;
  for (const [pid, side, exchanges] of sides) {
    attempted += 3 * exchanges;
    landed += landedAdds(before.get(pid), after.get(pid), side);
  }
  expect(landed).toBeLessThan(attempted); // the table did overflow
  expect(lost(report, "counter_table_full") - lostBefore).toBe(attempted - landed);
  // The bystander's request and status counters already existed: exact, whatever its latency buckets found.
  expect(totals(report, plugin.hostId, pidOf(bystander))).toEqual({ http_requests_per_second: 12, http_200_responses_per_second: 12 });

  // Recovery: the fillers go away; once idle for the window their counters leave the table.
  for (const filler of fillers) await filler.stop();
  let entries = MAX_COUNTERS;
  for (let i = 0; i < 60 && entries > 100; i++) {
    await Bun.sleep(500);
    entries = mapEntryCount(plugin.proc.pid, "counters");
  }
  expect(entries).toBeLessThan(100);
  const lostAtRecovery = lost(await plugin.report(), "counter_table_full");
  const newcomer = await startBunServer(PORTS.after);
  servers.push(newcomer);
  const newcomerCurl = await everyCode(PORTS.after);
  const recovered = await plugin.reportAfter(Date.now());
  const counted = totals(recovered, plugin.hostId, pidOf(newcomer));
  expect(counted.http_requests_per_second).toBe(400);
  expect(Object.values(counted).reduce((a, b) => a + b, 0)).toBe(800);
  expect(totals(recovered, plugin.hostId, newcomerCurl).http_client_requests_per_second).toBe(400);
  expect(lost(recovered, "counter_table_full")).toBe(lostAtRecovery);
}, 120_000);
