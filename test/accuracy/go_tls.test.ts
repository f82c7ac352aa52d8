/**
 * HTTPS on Go's crypto/tls, counted from its plaintext: a Go HTTPS server
 * and a Go HTTPS client built here from test/fixtures/go_tls with Debian's
 * Go, one of them stripped (`-ldflags=-s -w`, no .symtab: found through
 * Go's own function table), counted exactly on both sides with their
 * durations; curl against the Go server; and Go programs whose executable
 * first runs after the plugin started.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TLS_SESSIONS_MAP } from "../../src/kernel/kernel_abi";
import { lossKey } from "../../src/outputs/report";
import { entriesOfTgid, mapIdsOf } from "../support/kernel_maps";
import { REPO, startPlugin, type RunningPlugin } from "../support/plugin";
import { waitForPort } from "../support/servers";
import { processSeries, sideCounts, timedCount } from "../support/metrics_text";
import { histogram, planPaths } from "./clients";
import { ACCURACY_WINDOW, AccuracyTable, expectedTotals, reportedLoss } from "./harness";

setDefaultTimeout(60_000);

const table = new AccuracyTable("go_tls");
const PLAN = { 200: 6, 201: 2, 204: 1, 404: 3, 500: 1, 503: 2 };
const PLAN_TOTAL = Object.values(PLAN).reduce((a, b) => a + b, 0);
const dir = mkdtempSync(join(tmpdir(), "hs-go-tls-"));
const cert = join(dir, "cert.pem");
const key = join(dir, "key.pem");
/** The fixture built stripped (what most release builds are) and with its symbols. */
const stripped = join(dir, "go_tls_stripped");
const unstripped = join(dir, "go_tls");

let plugin: RunningPlugin;
const stops: Array<() => Promise<unknown>> = [];
/** The stripped server, started before the plugin. */
let early: { port: number; pid: number };

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

function mustRun(argv: string[], cwd = REPO): void {
  const done = Bun.spawnSync(argv, { cwd, env: { ...process.env, CGO_ENABLED: "0" }, stderr: "pipe" });
  if (done.exitCode !== 0) throw new Error(`${argv.join(" ")} failed (scripts/setup.sh installs golang-go): ${done.stderr}`);
}

async function startServer(binary: string): Promise<{ port: number; pid: number }> {
  const port = await freePort();
  // Its log only names the port checks that connect without a handshake.
  const proc = Bun.spawn([binary, "server", String(port), cert, key], { stdout: "ignore", stderr: "ignore" });
  stops.push(async () => {
    proc.kill("SIGTERM");
    await proc.exited;
  });
  await waitForPort(port);
  return { port, pid: proc.pid };
}

/** Waits for a plugin to say it decodes `binary` (its scan of processes runs every few seconds; a busy machine slows it). */
async function decoding(binary: string, by: RunningPlugin = plugin): Promise<void> {
  const line = new RegExp(`TLS: decoding Go crypto/tls plaintext from ${binary.replace(/[.]/g, "\\.")} `);
  for (let i = 0; i < 300 && !line.test(by.logSoFar()); i++) await Bun.sleep(100);
  expect(by.logSoFar()).toMatch(line);
}

/** The Go client: its paths given on stdin only once `ready` resolves; the statuses and connection count it printed. */
async function goClient(port: number, paths: string[], ready: () => Promise<void> = async () => {}, mode = "client") {
  const proc = Bun.spawn([unstripped, mode, String(port)], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  await ready();
  proc.stdin.write(paths.join("\n") + "\n");
  proc.stdin.end();
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`go client exited ${code}: ${err}`);
  const lines = out.trim().split("\n");
  const connections = Number(/^connections (\d+)$/.exec(lines.pop() ?? "")?.[1]);
  return { pid: proc.pid, codes: histogram(lines.map(Number)), connections };
}

function curl(base: string, paths: string[], extra: string[] = []): Promise<{ pid: number; codes: number[] }> {
  const proc = Bun.spawn(["curl", "-sk", ...extra, "-w", "%{http_code}\\n", ...paths.flatMap((p) => ["-o", "/dev/null", base + p])], { stdout: "pipe", stderr: "pipe" });
  return Promise.all([new Response(proc.stdout).text(), proc.exited]).then(([out, code]) => {
    if (code !== 0) throw new Error(`curl exited ${code}`);
    return { pid: proc.pid, codes: out.trim().split(/\s+/).map(Number) };
  });
}

async function side(pid: number, which: "server" | "client") {
  const series = await processSeries(plugin, pid);
  return { ...sideCounts(series, which), timed: timedCount(series, which), series };
}

beforeAll(async () => {
  const made = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"]);
  if (made.exitCode !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
  const fixture = join(REPO, "test", "fixtures", "go_tls");
  mustRun(["go", "build", "-trimpath", "-ldflags=-s -w", "-o", stripped, "."], fixture);
  mustRun(["go", "build", "-trimpath", "-o", unstripped, "."], fixture);
  // Stripped means no .symtab: only Go's own function table is left to find crypto/tls in.
  expect(Bun.spawnSync(["readelf", "-S", stripped]).stdout.toString()).not.toContain(".symtab");
  early = await startServer(stripped);
  plugin = await startPlugin({ args: ACCURACY_WINDOW });
}, 180_000);

afterAll(async () => {
  table.flush();
  for (const stop of stops.reverse()) await stop();
  await plugin?.stop();
}, 30_000);

describe("HTTPS on Go's crypto/tls, counted exactly on both sides", () => {
  test("a stripped Go server running before the plugin, and a Go client started after it: durations", async () => {
    await decoding(stripped);
    const lossId = lossKey("tls_undecoded");
    const before = reportedLoss(await plugin.reportAfter(Date.now()), plugin.hostId, lossId);
    const paths = [...planPaths(PLAN), "/delay/300", "/delay/300"];
    // The client's executable was never run before: the plugin finds it in its scan, then the client sends.
    const client = await goClient(early.port, paths, () => decoding(unstripped));
    const expected = { requests: PLAN_TOTAL + 2, codes: { ...PLAN, 200: PLAN[200] + 2 } };
    expect(client.codes).toEqual(expected.codes);
    await plugin.reportAfter(Date.now());
    const server = await side(early.pid, "server");
    const sent = await side(client.pid, "client");
    table.add({ case: "go https server (stripped), go net/http client", server: "go net/http", client: "go net/http", syscalls: "crypto/tls (*Conn).Read / Write", sent: expectedTotals(expected.codes), counted: expectedTotals(server.codes) });
    expect({ requests: server.requests, codes: server.codes }).toEqual(expected);
    expect({ requests: sent.requests, codes: sent.codes }).toEqual(expected);
    expect(server.timed).toBe(expected.requests);
    expect(sent.timed).toBe(expected.requests);
    // Exactly the two delayed requests took between 300 ms and 500 ms, on both sides.
    for (const [which, s] of [["server", server], ["client", sent]] as const) {
      const bucket = (le: string) => s.series.get(`http_statistics_${which === "client" ? "client_" : ""}request_duration_seconds_bucket{le=${le}}`);
      expect([bucket("0.25"), bucket("0.5")]).toEqual([expected.requests - 2, expected.requests]);
    }
    // A server is no client, and the ciphertext under them was never taken for HTTP.
    expect((await side(early.pid, "client")).requests).toBe(0);
    expect((await side(client.pid, "server")).requests).toBe(0);
    // The connection's socket bytes moved inside decoded calls on both ends: closed, it is no loss.
    const after = reportedLoss(await plugin.reportAfter(Date.now()), plugin.hostId, lossId);
    expect(after - before).toBe(0);
  });

  test("curl (OpenSSL) against the Go server: codes, large request bodies, more requests on the same connection", async () => {
    const before = await side(early.pid, "server");
    const base = `https://127.0.0.1:${early.port}`;
    const client = await curl(base, planPaths(PLAN));
    expect(histogram(client.codes)).toEqual(PLAN);
    const body = join(dir, "body.bin");
    writeFileSync(body, Buffer.alloc(3 << 20, "x"));
    // curl asks to continue before a body this large, and Go answers 100 once the handler reads: an interim response each.
    const upload = await curl(base, ["/upload", "/upload", "/status/200"], ["-X", "POST", "--data-binary", `@${body}`]);
    expect(upload.codes).toEqual([201, 201, 201]);
    await plugin.reportAfter(Date.now());
    const server = await side(early.pid, "server");
    const codes = Object.fromEntries(Object.entries(server.codes).map(([code, n]) => [code, n - (before.codes[Number(code)] ?? 0)]));
    const sent = { ...PLAN, 201: PLAN[201] + 3 };
    table.add({ case: "go https server (stripped), curl keep-alive and 3 MiB bodies", server: "go net/http", client: "curl", syscalls: "crypto/tls (*Conn).Read / Write", sent: expectedTotals(sent, { 100: 3 }), counted: expectedTotals({ ...codes, 100: 0 }, { 100: codes[100] ?? 0 }) });
    expect(server.requests - before.requests).toBe(PLAN_TOTAL + 3);
    expect(codes).toEqual({ ...sent, 100: 3 });
    expect(sideCounts(await processSeries(plugin, client.pid), "client")).toEqual({ requests: PLAN_TOTAL, codes: PLAN });
    expect(sideCounts(await processSeries(plugin, upload.pid), "client")).toEqual({ requests: 3, codes: { 100: 3, 201: 3 } });
  });

  test("a Go server whose executable first runs after the plugin started", async () => {
    const late = join(dir, "go_tls_late");
    copyFileSync(stripped, late); // another file: not probed until a process runs it
    const server = await startServer(late);
    await decoding(late);
    const client = await goClient(server.port, planPaths(PLAN));
    expect(client.codes).toEqual(PLAN);
    await plugin.reportAfter(Date.now());
    const counted = await side(server.pid, "server");
    table.add({ case: "go https server started after the plugin", server: "go net/http", client: "go net/http", syscalls: "crypto/tls (*Conn).Read / Write", sent: expectedTotals(PLAN), counted: expectedTotals(counted.codes) });
    expect({ requests: counted.requests, codes: counted.codes }).toEqual({ requests: PLAN_TOTAL, codes: PLAN });
    expect(counted.timed).toBe(PLAN_TOTAL);
    expect(sideCounts(await processSeries(plugin, client.pid), "client")).toEqual({ requests: PLAN_TOTAL, codes: PLAN });
  });

  test("keep-alive: Writes from goroutines at every stack depth on one connection, some growing the stack on entry, each counted once", async () => {
    const rounds = 20;
    const paths = Array.from({ length: rounds }, () => planPaths(PLAN)).flat();
    const client = await goClient(early.port, paths, () => decoding(unstripped), "deepclient");
    const expected = Object.fromEntries(Object.entries(PLAN).map(([code, n]) => [code, rounds * n]));
    expect({ codes: client.codes, connections: client.connections }).toEqual({ codes: expected, connections: 1 });
    await plugin.reportAfter(Date.now());
    const sent = await side(client.pid, "client");
    table.add({ case: "go tls client, writes at growing stack depths", server: "go net/http", client: "go crypto/tls", syscalls: "crypto/tls (*Conn).Read / Write", sent: expectedTotals(expected), counted: expectedTotals(sent.codes) });
    expect({ requests: sent.requests, codes: sent.codes }).toEqual({ requests: rounds * PLAN_TOTAL, codes: expected });
    expect(sent.timed).toBe(rounds * PLAN_TOTAL);
  });
});

describe("closed Conns", () => {
  test("a long-running Go server's closed connections leave no session state behind", async () => {
    // Connections of its own, made after the plugin started, on top of those of the tests before.
    const client = await goClient(early.port, planPaths(PLAN), () => decoding(unstripped));
    expect(client.codes).toEqual(PLAN);
    expect((await curl(`https://127.0.0.1:${early.port}`, planPaths(PLAN))).codes.length).toBe(PLAN_TOTAL);
    // Every client is gone and the server closed each of their Conns: none of its sessions is left in the table.
    const sessions = mapIdsOf(plugin.proc.pid)[TLS_SESSIONS_MAP]!;
    let left = entriesOfTgid(sessions, early.pid);
    for (let i = 0; i < 50 && left > 0; i++) {
      await Bun.sleep(100);
      left = entriesOfTgid(sessions, early.pid);
    }
    expect(left).toBe(0);
  });
});

describe("Go programs under the probes", () => {
  // Each plugin's stop waits for the kernel to remove its probes' links (one per Go executable on Linux 6.6+).
  test("a Go server and client under load never notice plugins starting and stopping (SIGTERM, SIGKILL)", async () => {
    const proc = Bun.spawn([unstripped, "client", String(early.port)], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    let out = "";
    const output = Promise.all([
      (async () => {
        const decoder = new TextDecoder();
        for await (const chunk of proc.stdout) out += decoder.decode(chunk, { stream: true });
      })(),
      new Response(proc.stderr).text(),
      proc.exited,
    ]);
    const answered = () => out.split("\n").length - 1;
    await decoding(unstripped);
    let sent = 0;
    let churning = true;
    // Requests keep coming, a few dozen ahead of the answers, while plugins attach their probes to both running executables and go away.
    const feeder = (async () => {
      while (churning) {
        if (sent - answered() < 40) {
          proc.stdin.write("/status/200\n".repeat(20));
          proc.stdin.flush();
          sent += 20;
        }
        await Bun.sleep(5);
      }
      proc.stdin.end();
    })();
    for (const signal of ["SIGTERM", "SIGKILL"] as const) {
      const churn = await startPlugin();
      await decoding(stripped, churn);
      await decoding(unstripped, churn);
      await Bun.sleep(300);
      await churn.stop(signal);
    }
    churning = false;
    await feeder;
    const [, err, code] = await output;
    expect({ code, err }).toEqual({ code: 0, err: "" });
    const lines = out.trim().split("\n");
    expect(lines.pop()).toMatch(/^connections \d+$/);
    expect({ answered: lines.length, codes: histogram(lines.map(Number)) }).toEqual({ answered: sent, codes: { 200: sent } });
    // The server still serves, and the plugin that stayed counted every request of the client.
    expect((await curl(`https://127.0.0.1:${early.port}`, ["/status/204"])).codes).toEqual([204]);
    await plugin.reportAfter(Date.now());
    expect(sideCounts(await processSeries(plugin, proc.pid), "client")).toEqual({ requests: sent, codes: { 200: sent } });
  }, 120_000);
});
