/**
 * A keep-alive connection opened before the plugin started, with the plugin
 * holding only what the DaemonSet grants (deploy/kubernetes: drop ALL, add
 * BPF, PERFMON, SYS_ADMIN; no privilege escalation): no CAP_SYS_PTRACE, so
 * nothing can be learned from other processes' /proc entries, and the
 * connection must still count exactly from its first request after start.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { lossKey, LOSSES_TOTAL_KEY } from "../../src/outputs/report";
import { startPlugin, type RunningPlugin } from "../support/plugin";
import type { Subprocess } from "bun";
import { histogram, planPaths } from "./clients";
import { ACCURACY_WINDOW, AccuracyTable, expectedTotals, Meter, reportedLoss } from "./harness";
import { startRawServer, type RawServer } from "./servers";

// Cases wait for the plugin's ticks.
setDefaultTimeout(60_000);

const table = new AccuracyTable("existing_capabilities");
const PORT = 18610;
const DAEMONSET_CAPS = ["bpf", "perfmon", "sys_admin"];
// CAP_SYS_ADMIN 21, CAP_PERFMON 38, CAP_BPF 39
const DAEMONSET_MASK = (1n << 21n) | (1n << 38n) | (1n << 39n);
const KEEPALIVE_CLIENT = join(import.meta.dir, "..", "fixtures", "keepalive_client.py");
let server: RawServer;
let client: Subprocess<"pipe", "pipe", "inherit">;
let statuses: ReadableStreamDefaultReader<Uint8Array>;
let pending = "";
let plugin: RunningPlugin | undefined;

/** The plugin started through setpriv with the DaemonSet's capabilities only. */
function startPluginWithDaemonSetCaps(): Promise<RunningPlugin> {
  const caps = DAEMONSET_CAPS.map((c) => `+${c}`).join(",");
  return startPlugin({
    args: ACCURACY_WINDOW,
    prefix: ["setpriv", "--reuid=0", "--regid=0", "--clear-groups", "--inh-caps=-all", `--bounding-set=-all,${caps}`, "--no-new-privs", "--"],
  });
}

/** A capability set of a process, from /proc/<pid>/status. */
function capabilities(pid: number, set: "CapEff" | "CapPrm" | "CapBnd"): bigint {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith(`${set}:`));
  return BigInt(`0x${line!.split(/\s+/)[1]}`);
}

beforeAll(async () => {
  server = await startRawServer(PORT, "recv", "send");
  client = Bun.spawn(["python3", KEEPALIVE_CLIENT, String(PORT)], { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
  statuses = client.stdout.getReader();
}, 30_000);
afterAll(async () => {
  table.flush();
  client?.kill();
  await plugin?.stop();
  await server?.stop();
}, 30_000);

/** GETs `paths` one at a time on the client's one connection; the status codes that came back. */
async function getAll(paths: string[]): Promise<number[]> {
  const codes: number[] = [];
  for (const path of paths) {
    client.stdin.write(`${path}\n`);
    await client.stdin.flush();
    while (!pending.includes("\n")) {
      const chunk = await statuses.read();
      if (chunk.done) throw new Error("the keep-alive client ended early");
      pending += new TextDecoder().decode(chunk.value);
    }
    codes.push(Number(pending.slice(0, pending.indexOf("\n"))));
    pending = pending.slice(pending.indexOf("\n") + 1);
  }
  return codes;
}

test("a keep-alive connection opened before the plugin started, plugin with the DaemonSet's capabilities only", async () => {
  // Traffic before the plugin exists: not its to count.
  expect(await getAll(["/status/200", "/status/201"])).toEqual([200, 201]);
  plugin = await startPluginWithDaemonSetCaps();
  // The plugin really runs with exactly those capabilities.
  for (const set of ["CapEff", "CapPrm", "CapBnd"] as const) expect(capabilities(plugin.proc.pid, set)).toBe(DAEMONSET_MASK);
  const meter = new Meter(plugin);
  await meter.start();
  const reportBefore = await plugin.report();

  const plan = { 200: 20, 404: 5, 503: 5 };
  expect(histogram(await getAll(planPaths(plan)))).toEqual(plan);

  const sent = expectedTotals(plan);
  const counted = await meter.measure([server.pid]);
  table.add({ case: "connection opened before the plugin started; plugin with CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN only", server: "raw python", client: "raw python", syscalls: "recvfrom / sendto", sent, counted });
  expect(counted).toEqual(sent);
  // Counted exactly, but not timed: on a connection joined mid-stream an answer
  // could be to a request never seen. Each of the 30 answers is one named loss
  // on the server's side and one on the client's, and nothing else is lost.
  const report = await plugin.report();
  const hostId = plugin.hostId;
  const lossesSince = (id: string) => reportedLoss(report, hostId, id) - reportedLoss(reportBefore, hostId, id);
  expect(lossesSince(lossKey("untimed"))).toBe(60);
  expect(lossesSince(LOSSES_TOTAL_KEY)).toBe(60);
});
