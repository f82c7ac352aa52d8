/**
 * A keep-alive connection opened before the plugin started, with the plugin
 * holding only what the DaemonSet grants (deploy/kubernetes: drop ALL, add
 * BPF, PERFMON, SYS_ADMIN; no privilege escalation): no CAP_SYS_PTRACE, so
 * nothing can be learned from other processes' /proc entries, and the
 * connection must still count exactly from its first request after start.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOSSES_TOTAL_ID } from "../../src/report";
import { REPO, requireRoot, type RunningPlugin } from "../support/plugin";
import { histogram, parseResponses, planPaths, request } from "./clients";
import { ACCURACY_WINDOW, AccuracyTable, expectedTotals, Meter, reportedLoss } from "./harness";
import { startRawServer, type RawServer } from "./servers";

// Cases wait for the plugin's ticks.
setDefaultTimeout(60_000);

const table = new AccuracyTable("existing_capabilities");
const PORT = 18610;
const DAEMONSET_CAPS = ["bpf", "perfmon", "sys_admin"];
// CAP_SYS_ADMIN 21, CAP_PERFMON 38, CAP_BPF 39
const DAEMONSET_MASK = (1n << 21n) | (1n << 38n) | (1n << 39n);
let server: RawServer;
let socket: Socket;
let plugin: RunningPlugin | undefined;
let received = Buffer.alloc(0);

/** startPlugin's contract, the plugin started through setpriv with the DaemonSet's capabilities only. */
async function startPluginWithDaemonSetCaps(): Promise<RunningPlugin> {
  requireRoot();
  const socketPath = join(mkdtempSync(join(tmpdir(), "hs-test-")), "plugins", "http-statistics", "http-statistics.sock");
  const hostId = "test-host";
  const capture = process.env.HS_TEST_CAPTURE ? [`--capture=${process.env.HS_TEST_CAPTURE}`] : [];
  const caps = DAEMONSET_CAPS.map((c) => `+${c}`).join(",");
  const proc = Bun.spawn(
    [
      "setpriv", "--reuid=0", "--regid=0", "--clear-groups", "--inh-caps=-all", `--bounding-set=-all,${caps}`, "--no-new-privs", "--",
      process.execPath, "run", join(REPO, "src", "main.ts"), "--socket", socketPath, "--hostname", hostId, ...capture, ...ACCURACY_WINDOW,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  const call = (path: string, init?: RequestInit) => fetch(`http://plugin${path}`, { ...init, unix: socketPath } as RequestInit);
  const started = performance.now();
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`plugin exited with ${proc.exitCode}: ${await new Response(proc.stderr).text()}`);
    if (existsSync(socketPath) && (await call("/report").then((r) => r.ok, () => false))) break;
    if (performance.now() - started > 20_000) {
      proc.kill();
      throw new Error("plugin did not serve its socket within 20 s");
    }
    await Bun.sleep(10);
  }
  let stderrText: Promise<string> | undefined;
  return {
    proc,
    socket: socketPath,
    hostId,
    startupMs: performance.now() - started,
    fetch: call,
    async report(path = "/report?api_version=1&probe_id=7e57") {
      const res = await call(path);
      if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
      return await res.json();
    },
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (proc.exitCode === null) proc.kill(signal);
      return await proc.exited;
    },
    stderr() {
      stderrText ??= new Response(proc.stderr).text();
      return stderrText;
    },
  };
}

/** A capability set of a process, from /proc/<pid>/status. */
function capabilities(pid: number, set: "CapEff" | "CapPrm" | "CapBnd"): bigint {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith(`${set}:`));
  return BigInt(`0x${line!.split(/\s+/)[1]}`);
}

beforeAll(async () => {
  server = await startRawServer(PORT, "recv", "send");
  socket = connect({ host: "127.0.0.1", port: PORT, noDelay: true });
  socket.on("data", (d) => (received = Buffer.concat([received, Buffer.from(d)])));
  await new Promise<void>((ok, fail) => socket.once("connect", ok).once("error", fail));
}, 30_000);
afterAll(async () => {
  table.flush();
  socket?.destroy();
  await plugin?.stop();
  await server?.stop();
}, 30_000);

async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

test("a keep-alive connection opened before the plugin started, plugin with the DaemonSet's capabilities only", async () => {
  // Traffic before the plugin exists: not its to count.
  socket.write(request("GET", "/status/200") + request("GET", "/status/201"));
  await until(() => (received.toString("latin1").match(/HTTP\/1\.1 /g) ?? []).length === 2, "the first two responses");
  plugin = await startPluginWithDaemonSetCaps();
  // The plugin really runs with exactly those capabilities.
  for (const set of ["CapEff", "CapPrm", "CapBnd"] as const) expect(capabilities(plugin.proc.pid, set)).toBe(DAEMONSET_MASK);
  const meter = new Meter(plugin);
  await meter.start();
  const lossesBefore = reportedLoss(await plugin.report(), plugin.hostId, LOSSES_TOTAL_ID);

  // One request at a time first, then the rest pipelined in one write.
  const plan = { 200: 20, 404: 5, 503: 5 };
  const paths = planPaths(plan);
  received = Buffer.alloc(0);
  for (const [i, path] of paths.slice(0, 5).entries()) {
    socket.write(request("GET", path));
    await until(() => (received.toString("latin1").match(/HTTP\/1\.1 /g) ?? []).length === i + 1, `response ${i + 1}`);
  }
  const rest = paths.slice(5);
  socket.write(rest.map((p, i) => request("GET", p, i === rest.length - 1 ? { Connection: "close" } : {})).join(""));
  await new Promise<void>((ok) => socket.once("end", ok));
  expect(histogram(parseResponses(received))).toEqual(plan);

  const sent = expectedTotals(plan);
  const counted = await meter.measure([server.pid]);
  table.add({ case: "connection opened before the plugin started; plugin with CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN only", server: "raw python", client: "raw socket", syscalls: "recvfrom / sendto", sent, counted });
  expect(counted).toEqual(sent);
  expect(reportedLoss(await plugin.report(), plugin.hostId, LOSSES_TOTAL_ID) - lossesBefore).toBe(0);
});
