/**
 * The plugin killed or paused by the operator or the OOM killer.
 * SIGKILL at each phase of its life (the socket just made, programs being
 * verified, being attached, serving under traffic) leaves no program, map
 * or link of its own in the kernel, and a new plugin on the same socket
 * serves exact counts. SIGSTOP for 5 s then SIGCONT loses no request, and
 * the probe gets a valid report again within a second.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { bpfObjectsHeldBy, stillInKernel, type BpfObjectIds } from "../support/kernel_maps";
import { REPO, reportAfter, requireRoot, startPlugin, totals, type ScopeReport } from "../support/plugin";
import { getReport } from "../support/socket_client";
import { startBunServer, type RunningServer } from "../support/servers";
import { curl, statusUrls } from "../support/traffic";

const PORT = 18710;
let server: RunningServer;

beforeAll(async () => {
  requireRoot();
  server = await startBunServer(PORT);
}, 30_000);
afterAll(async () => {
  await server?.stop();
}, 30_000);

const empty = (): BpfObjectIds => ({ prog: new Set(), map: new Set(), link: new Set() });
const sizes = (ids: BpfObjectIds) => ({ prog: ids.prog.size, map: ids.map.size, link: ids.link.size });

/** The kernel frees a dead process's objects after an RCU grace period: wait for it, boundedly. */
async function leftInKernel(ids: BpfObjectIds): Promise<BpfObjectIds> {
  let left = stillInKernel(ids);
  for (let i = 0; i < 100 && left.prog.size + left.map.size + left.link.size > 0; i++) {
    await Bun.sleep(100);
    left = stillInKernel(ids);
  }
  return left;
}

type Phase = "socket made" | "first map" | "first program" | "first link" | "serving under traffic";

/** Starts the plugin from source and SIGKILLs it at the first moment `phase` is seen, watching its fds every ms. */
async function killAt(phase: Phase, socket: string): Promise<{ held: BpfObjectIds; socketLeft: boolean }> {
  const proc = Bun.spawn([process.execPath, "run", join(REPO, "src", "main.ts"), "--socket", socket, "--hostname", "h"], { stdout: "ignore", stderr: "ignore" });
  const held = empty();
  const started = performance.now();
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`plugin exited with ${proc.exitCode} before '${phase}'`);
    if (performance.now() - started > 20_000) {
      proc.kill("SIGKILL");
      throw new Error(`'${phase}' not seen within 20 s`);
    }
    bpfObjectsHeldBy(proc.pid, held);
    const reached =
      phase === "socket made" ? existsSync(socket)
      : phase === "first map" ? held.map.size > 0
      : phase === "first program" ? held.prog.size > 0
      : phase === "first link" ? held.link.size > 0
      : false;
    if (reached) break;
    if (phase === "serving under traffic" && held.link.size > 0) {
      // Attached: let it serve real traffic and a report, then kill mid-flight.
      await curl(statusUrls(`http://127.0.0.1:${PORT}`, { 200: 20 }));
      await reportAfter(() => getReport(socket), Date.now());
      bpfObjectsHeldBy(proc.pid, held);
      void curl(statusUrls(`http://127.0.0.1:${PORT}`, { 200: 200 })).catch(() => {});
      await Bun.sleep(20);
      break;
    }
    await Bun.sleep(1);
  }
  proc.kill("SIGKILL");
  bpfObjectsHeldBy(proc.pid, held); // anything made since the last look (gone if already reaped)
  expect(await proc.exited).toBe(137);
  return { held, socketLeft: existsSync(socket) };
}

for (const phase of ["socket made", "first map", "first program", "first link", "serving under traffic"] as const) {
  test(`SIGKILL at '${phase}': nothing of the plugin's stays in the kernel; a restart on the same socket counts exactly`, async () => {
    const dir = `/tmp/hs-kill-${process.pid}-${phase.replace(/ /g, "-")}`;
    const socket = join(dir, "plugin.sock");
    const { held, socketLeft } = await killAt(phase, socket);
    const seen = sizes(held);
    if (phase !== "socket made" && phase !== "first map") expect(seen.prog).toBeGreaterThan(0);
    if (phase === "first link" || phase === "serving under traffic") expect(seen.link).toBeGreaterThan(0);
    expect(sizes(await leftInKernel(held))).toEqual({ prog: 0, map: 0, link: 0 });
    // The socket is made first and a SIGKILL cannot remove it: the restart below replaces a stale one.
    expect(socketLeft).toBe(true);
    const plugin = await startPlugin({ socket });
    try {
      expect(await curl(statusUrls(`http://127.0.0.1:${PORT}`, { 200: 3, 404: 1 }))).toEqual([200, 200, 200, 404]);
      expect(totals(await plugin.reportAfter(Date.now()), plugin.hostId, server.servingPids[0]!)).toEqual({
        http_requests_per_second: 4,
        http_200_responses_per_second: 3,
        http_404_responses_per_second: 1,
      });
    } finally {
      expect(await plugin.stop()).toBe(0);
    }
  }, 60_000);
}

test("SIGSTOP for 5 s under 100 req/s, then SIGCONT: a valid report within 1 s, every request counted, the pause in one sample", async () => {
  const plugin = await startPlugin({ args: ["--window", "30"] });
  const pid = server.servingPids[0]!;
  try {
    const before = totals(await plugin.reportAfter(Date.now()), plugin.hostId, pid).http_requests_per_second ?? 0;
    const RATE = 100;
    const SECONDS = 12;
    let sent = 0;
    const traffic = (async () => {
      const start = performance.now();
      for (let i = 0; i < RATE * SECONDS; i++) {
        const wait = start + (i * 1000) / RATE - performance.now();
        if (wait > 0) await Bun.sleep(wait);
        const res = await fetch(`http://127.0.0.1:${PORT}/status/200`);
        await res.arrayBuffer();
        if (res.status === 200) sent++;
      }
    })();
    await Bun.sleep(3000);
    process.kill(plugin.proc.pid, "SIGSTOP");
    const stoppedAt = Date.now();
    await Bun.sleep(5000);
    process.kill(plugin.proc.pid, "SIGCONT");
    const resumed = performance.now();
    // The probe's view: GET /report with its 500 ms timeout, until one answers.
    let answered: ScopeReport | undefined;
    while (!answered && performance.now() - resumed < 3000) {
      try {
        const res = await plugin.fetch("/report?api_version=1&probe_id=7e57", { signal: AbortSignal.timeout(500) });
        if (res.ok) answered = (await res.json()) as ScopeReport;
      } catch {
        // timed out: ask again
      }
    }
    const validAfterMs = performance.now() - resumed;
    expect(answered?.Plugins[0]?.id).toBe("http-statistics");
    expect(validAfterMs).toBeLessThan(1000);
    await traffic;
    const report = await plugin.reportAfter(Date.now());
    expect(totals(report, plugin.hostId, pid).http_requests_per_second! - before).toBe(sent);
    expect(sent).toBe(RATE * SECONDS);
    // No sample is dated inside the pause; the first one after it holds the whole pause.
    const samples = report.Process.nodes[`${plugin.hostId};${pid}`]!.metrics.http_requests_per_second!.samples;
    const times = samples.map((s) => Date.parse(s.date));
    const inside = times.filter((t) => t > stoppedAt + 1000 && t < stoppedAt + 5000);
    expect(inside).toEqual([]);
    const firstAfter = samples.find((s) => Date.parse(s.date) >= stoppedAt + 5000)!;
    expect(firstAfter.value).toBeGreaterThanOrEqual(RATE * 4);
  } finally {
    await plugin.stop();
  }
}, 60_000);
