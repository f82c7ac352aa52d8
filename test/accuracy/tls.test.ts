/**
 * HTTPS counted from the TLS library's plaintext: real servers and clients
 * on OpenSSL (nginx, curl, Python's ssl module under Debian's python3),
 * counted exactly on both sides with their durations; and an HTTPS server
 * on GnuTLS, which is not decoded: each of its connections is one
 * tls_undecoded loss, and nothing is counted for it.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { lossKey } from "../../src/outputs/report";
import { OBJECT } from "../../build";
import { slotMeaning } from "../../src/kernel/kernel_abi";
import { KernelProbe } from "../../src/kernel/kernel_probe";
import { loadLibbpf } from "../../src/kernel/libbpf";
import { TlsHooks } from "../../src/tls/tls_hooks";
import { uprobeLinksOf } from "../support/kernel_maps";
import { REPO, startPlugin, type RunningPlugin } from "../support/plugin";
import { childrenOf, runNginx, STATUS_LOCATIONS, waitForPort } from "../support/servers";
import { ensureNginxImage, requirePodman, runNginxContainer } from "../support/podman";
import { processSeries, sideCounts, timedCount, timedSum } from "../support/metrics_text";
import { histogram, planPaths } from "./clients";
import { ACCURACY_WINDOW, AccuracyTable, expectedTotals, reportedLoss } from "./harness";

setDefaultTimeout(60_000);

const table = new AccuracyTable("tls");
const PLAN = { 200: 6, 201: 2, 204: 1, 404: 3, 500: 1, 503: 2 };
const PLAN_TOTAL = Object.values(PLAN).reduce((a, b) => a + b, 0);
const PYTHON = "/usr/bin/python3"; // Debian's, linked with Debian's libssl (the python3 first on PATH may not be)
const FIXTURES = join(REPO, "test", "fixtures");
const dir = mkdtempSync(join(tmpdir(), "hs-tls-"));
const cert = join(dir, "cert.pem");
const key = join(dir, "key.pem");

let plugin: RunningPlugin;
const stops: Array<() => Promise<unknown>> = [];
/** A Python HTTPS client started before the plugin: it maps libssl only once it is given its paths. */
let earlyClient: Subprocess<"pipe", "pipe", "pipe">;
let python: { port: number; pid: number };

async function freePort(): Promise<number> {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

function run(argv: string[], stdin?: string): Promise<{ pid: number; out: string }> {
  const proc = Bun.spawn(argv, { stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin), stdout: "pipe", stderr: "pipe" });
  return Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]).then(([out, err, code]) => {
    if (code !== 0) throw new Error(`${argv[0]} exited ${code}: ${err}`);
    return { pid: proc.pid, out };
  });
}

const codesOf = (out: string) => out.trim().split(/\s+/).filter(Boolean).map(Number);

/** curl: every path over one kept-alive connection, the status of each on its own line. */
const curl = (base: string, paths: string[], extra: string[] = []) =>
  run(["curl", "-sk", ...extra, "-w", "%{http_code}\\n", ...paths.flatMap((p) => ["-o", "/dev/null", base + p])]);

async function startNginxTls(http2 = false): Promise<{ port: number; worker: number }> {
  const port = await freePort();
  const nginx = await runNginx(dir, port, {
    http: `server {
    listen 127.0.0.1:${port} ssl${http2 ? " http2" : ""};
    ssl_certificate ${cert};
    ssl_certificate_key ${key};
    location = /upload { client_max_body_size 10m; client_body_buffer_size 10m; return 201 "stored\\n"; }
    ${STATUS_LOCATIONS}
  }`,
  });
  stops.push(nginx.stop);
  return { port, worker: nginx.workers[0]! };
}

async function startDaemon(argv: string[], port: number): Promise<number> {
  const proc = Bun.spawn(argv, { stdout: "ignore", stderr: "pipe" });
  stops.push(async () => {
    proc.kill("SIGTERM");
    await proc.exited;
  });
  await waitForPort(port);
  return proc.pid;
}

/** One side's counts of a process, as the plugin's metrics give them. */
async function side(pid: number, which: "server" | "client") {
  const series = await processSeries(plugin, pid);
  return { ...sideCounts(series, which), timed: timedCount(series, which), seconds: timedSum(series, which) };
}

beforeAll(async () => {
  const made = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=127.0.0.1"]);
  if (made.exitCode !== 0) throw new Error(`openssl req failed: ${made.stderr}`);
  const pythonPort = await freePort();
  python = { port: pythonPort, pid: await startDaemon([PYTHON, join(FIXTURES, "python_tls_server.py"), String(pythonPort), cert, key], pythonPort) };
  earlyClient = Bun.spawn([PYTHON, join(FIXTURES, "python_tls_client.py"), String(pythonPort)], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  plugin = await startPlugin({ args: ACCURACY_WINDOW });
}, 30_000);

afterAll(async () => {
  table.flush();
  earlyClient?.kill();
  for (const stop of stops.reverse()) await stop();
  await plugin?.stop();
}, 30_000);

describe("HTTPS on OpenSSL, counted exactly on both sides", () => {
  test("nginx (ssl) and curl, one kept-alive connection", async () => {
    const nginx = await startNginxTls();
    const base = `https://127.0.0.1:${nginx.port}`;
    const client = await curl(base, planPaths(PLAN));
    expect(histogram(codesOf(client.out))).toEqual(PLAN);
    await plugin.reportAfter(Date.now());
    const server = await side(nginx.worker, "server");
    const sent = await side(client.pid, "client");
    table.add({ case: "nginx ssl, curl keep-alive", server: "nginx", client: "curl", syscalls: "SSL_read / SSL_write", sent: expectedTotals(PLAN), counted: expectedTotals(server.codes) });
    expect({ requests: server.requests, codes: server.codes }).toEqual({ requests: PLAN_TOTAL, codes: PLAN });
    expect(server.timed).toBe(PLAN_TOTAL);
    expect({ requests: sent.requests, codes: sent.codes }).toEqual({ requests: PLAN_TOTAL, codes: PLAN });
    expect(sent.timed).toBe(PLAN_TOTAL);
    // A server is no client, and the ciphertext under it was never taken for HTTP.
    expect((await side(nginx.worker, "client")).requests).toBe(0);

    // A large request body over TLS (many records, many reads), then more requests on the same connection.
    const body = join(dir, "body.bin");
    writeFileSync(body, Buffer.alloc(3 << 20, "x"));
    const upload = await curl(base, ["/upload", "/upload"], ["-X", "POST", "--data-binary", `@${body}`]);
    expect(codesOf(upload.out)).toEqual([201, 201]);
    await plugin.reportAfter(Date.now());
    // curl asks to continue before a body this large, and nginx says 100 first: an interim response each.
    const after = await side(nginx.worker, "server");
    expect([after.codes[100], after.codes[201]]).toEqual([2, PLAN[201] + 2]);
    expect((await side(upload.pid, "client")).codes).toEqual({ 100: 2, 201: 2 });
  });

  test("HTTP/2 over TLS: nginx (ssl http2) and curl --http2, both sides exact, every stream timed", async () => {
    const nginx = await startNginxTls(true);
    const base = `https://127.0.0.1:${nginx.port}`;
    const paths = planPaths(PLAN);
    const client = await run(["curl", "-sk", "--http2", "-w", "%{http_code} %{http_version}\\n", ...paths.flatMap((p) => ["-o", "/dev/null", base + p])]);
    const answers = client.out.trim().split("\n").map((line) => line.split(" "));
    // ALPN chose HTTP/2: the plaintext the library hands over is HTTP/2 frames, walked like h2c.
    expect(answers.map(([, version]) => version)).toEqual(paths.map(() => "2"));
    expect(histogram(answers.map(([code]) => Number(code)))).toEqual(PLAN);
    await plugin.reportAfter(Date.now());
    const server = await side(nginx.worker, "server");
    const sent = await side(client.pid, "client");
    table.add({ case: "nginx ssl http2, curl --http2", server: "nginx", client: "curl", syscalls: "SSL_read / SSL_write", sent: expectedTotals(PLAN), counted: expectedTotals(server.codes) });
    expect({ requests: server.requests, codes: server.codes, timed: server.timed }).toEqual({ requests: PLAN_TOTAL, codes: PLAN, timed: PLAN_TOTAL });
    expect({ requests: sent.requests, codes: sent.codes, timed: sent.timed }).toEqual({ requests: PLAN_TOTAL, codes: PLAN, timed: PLAN_TOTAL });
  });

  test("TLS inside TLS: curl through an HTTPS proxy to nginx ssl", async () => {
    const nginx = await startNginxTls();
    const proxyPort = await freePort();
    const proxy = await startDaemon([PYTHON, join(FIXTURES, "https_connect_proxy.py"), String(proxyPort), cert, key], proxyPort);
    // curl's session with nginx writes through its session with the proxy: nested SSL_write calls on one thread.
    const client = await curl(`https://127.0.0.1:${nginx.port}`, planPaths(PLAN), ["--proxy-insecure", "-x", `https://127.0.0.1:${proxyPort}`]);
    expect(histogram(codesOf(client.out))).toEqual(PLAN);
    await plugin.reportAfter(Date.now());
    const server = await side(nginx.worker, "server");
    table.add({ case: "curl via an HTTPS proxy (TLS in TLS)", server: "nginx", client: "curl", syscalls: "SSL_write inside SSL_write", sent: expectedTotals(PLAN), counted: expectedTotals(server.codes) });
    expect({ requests: server.requests, codes: server.codes }).toEqual({ requests: PLAN_TOTAL, codes: PLAN });
    // curl also asked the proxy to CONNECT, and was answered 200; the tunnel after it is not parsed.
    const sent = await side(client.pid, "client");
    expect({ requests: sent.requests, codes: sent.codes }).toEqual({ requests: PLAN_TOTAL + 1, codes: { ...PLAN, 200: PLAN[200] + 1 } });
    expect(await side(proxy, "server")).toMatchObject({ requests: 1, codes: { 200: 1 } });
  });

  test("Python's ssl module: http.server and http.client, with a known delay", async () => {
    const paths = [...planPaths(PLAN), "/delay/300", "/delay/300"];
    const client = await run([PYTHON, join(FIXTURES, "python_tls_client.py"), String(python.port)], paths.join("\n"));
    expect(histogram(codesOf(client.out))).toEqual({ ...PLAN, 200: PLAN[200] + 2 });
    await plugin.reportAfter(Date.now());
    const expected = { requests: PLAN_TOTAL + 2, codes: { ...PLAN, 200: PLAN[200] + 2 } };
    const server = await side(python.pid, "server");
    const sent = await side(client.pid, "client");
    table.add({ case: "python ssl server and client", server: "python3 http.server", client: "python3 http.client", syscalls: "SSL_read_ex / SSL_write_ex", sent: expectedTotals(expected.codes), counted: expectedTotals(server.codes) });
    expect({ requests: server.requests, codes: server.codes }).toEqual(expected);
    expect({ requests: sent.requests, codes: sent.codes }).toEqual(expected);
    expect(server.timed).toBe(expected.requests);
    expect(sent.timed).toBe(expected.requests);
    // Exactly the two delayed requests took between 300 ms and 500 ms, on both sides.
    for (const which of ["server", "client"] as const) {
      const series = await processSeries(plugin, which === "server" ? python.pid : client.pid);
      const bucket = (le: string) => series.get(`http_statistics_${which === "client" ? "client_" : ""}request_duration_seconds_bucket{le=${le}}`);
      expect([bucket("0.25"), bucket("0.5")]).toEqual([expected.requests - 2, expected.requests]);
    }
  });

  test("asyncio over TLS (memory BIOs), pipelined requests", async () => {
    const port = await freePort();
    const pid = await startDaemon([PYTHON, join(FIXTURES, "python_asyncio_tls_server.py"), String(port), cert, key], port);
    const lossId = lossKey("tls_undecoded");
    const before = reportedLoss(await plugin.report(), plugin.hostId, lossId);
    const client = await run([PYTHON, join(FIXTURES, "tls_pipelining_client.py"), String(port)], planPaths(PLAN).join("\n"));
    expect(histogram(codesOf(client.out))).toEqual(PLAN);
    // A second connection, once the server is known to encrypt into memory.
    const again = await run([PYTHON, join(FIXTURES, "tls_pipelining_client.py"), String(port)], planPaths(PLAN).join("\n"));
    expect(histogram(codesOf(again.out))).toEqual(PLAN);
    await plugin.reportAfter(Date.now());
    const server = await side(pid, "server");
    const twice = Object.fromEntries(Object.entries(PLAN).map(([code, n]) => [code, 2 * n]));
    table.add({ case: "asyncio ssl server, pipelined client (x2)", server: "python3 asyncio", client: "python3 ssl socket", syscalls: "SSL_read_ex / SSL_write_ex (memory BIO)", sent: expectedTotals(twice), counted: expectedTotals(server.codes) });
    expect({ requests: server.requests, codes: server.codes }).toEqual({ requests: 2 * PLAN_TOTAL, codes: twice });
    for (const c of [client, again]) expect(sideCounts(await processSeries(plugin, c.pid), "client")).toEqual({ requests: PLAN_TOTAL, codes: PLAN });
    // Decoded, so no connection of either side is a loss.
    expect(reportedLoss(await plugin.report(), plugin.hostId, lossId) - before).toBe(0);
  });

  test("a process that maps libssl only after the plugin started", async () => {
    earlyClient.stdin.write(planPaths(PLAN).join("\n"));
    earlyClient.stdin.end();
    const [out, code] = await Promise.all([new Response(earlyClient.stdout).text(), earlyClient.exited]);
    expect(code).toBe(0);
    expect(histogram(codesOf(out))).toEqual(PLAN);
    await plugin.reportAfter(Date.now());
    const sent = await side(earlyClient.pid, "client");
    expect({ requests: sent.requests, codes: sent.codes }).toEqual({ requests: PLAN_TOTAL, codes: PLAN });
  });
});

describe("HTTPS on OpenSSL inside an executable", () => {
  test("Node's https server (the node binary's own OpenSSL, memory BIOs) and curl", async () => {
    const port = await freePort();
    const pid = await startDaemon(["node", join(FIXTURES, "node_tls_server.mjs"), String(port), cert, key], port);
    // Found by the plugin's scan of processes, every few seconds.
    for (let i = 0; i < 100 && !/TLS: decoding OpenSSL \(inside the executable\)/.test(plugin.logSoFar()); i++) await Bun.sleep(100);
    expect(plugin.logSoFar()).toMatch(/TLS: decoding OpenSSL \(inside the executable\) plaintext from \S*node/);
    const client = await curl(`https://127.0.0.1:${port}`, planPaths(PLAN));
    expect(histogram(codesOf(client.out))).toEqual(PLAN);
    await plugin.reportAfter(Date.now());
    const server = await side(pid, "server");
    table.add({ case: "node https, curl keep-alive", server: "node https", client: "curl", syscalls: "SSL_read / SSL_write (memory BIO)", sent: expectedTotals(PLAN), counted: expectedTotals(server.codes) });
    expect({ requests: server.requests, codes: server.codes }).toEqual({ requests: PLAN_TOTAL, codes: PLAN });
    expect(server.timed).toBe(PLAN_TOTAL);
  });
});

describe("HTTPS in containers with their own libssl", () => {
  test("nginx (ssl) in two podman containers of one image: the image's libssl found, probed once, each container counted exactly", async () => {
    requirePodman();
    await ensureNginxImage();
    const mounted = mkdtempSync(join(dir, "container-"));
    copyFileSync(cert, join(mounted, "cert.pem"));
    copyFileSync(key, join(mounted, "key.pem"));
    const containers = [];
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      const container = await runNginxContainer(`hs-tls-${port}`, port, Object.keys(PLAN).map(Number), mounted, { tls: true });
      stops.push(container.stop);
      await waitForPort(port);
      containers.push({ port, ...container });
    }
    // The image carries its own copy of libssl (another file than the host's), which both containers map through overlays of their own:
    // one file to the kernel, probed once, whichever container's nginx the plugin met first (any container of this image counts).
    const attached = () => plugin.logSoFar().match(/TLS: decoding OpenSSL 3 plaintext from \S*libssl\.so\.3 as nginx\[\d+\] maps it/g) ?? [];
    for (let i = 0; i < 100 && attached().length === 0; i++) await Bun.sleep(100);
    // Another scan, so that a second container's overlay would have been probed as another file by now.
    await plugin.reportAfter(Date.now() + 5_000);
    expect(attached()).toHaveLength(1);
    for (const container of containers) {
      const client = await curl(`https://127.0.0.1:${container.port}`, planPaths(PLAN));
      expect(histogram(codesOf(client.out))).toEqual(PLAN);
      await plugin.reportAfter(Date.now());
      const server = await side(container.workerPid, "server");
      table.add({ case: `nginx ssl in podman container ${containers.indexOf(container) + 1} of 2, one image`, server: "nginx (container)", client: "curl", syscalls: "SSL_read / SSL_write", sent: expectedTotals(PLAN), counted: expectedTotals(server.codes) });
      expect({ requests: server.requests, codes: server.codes }).toEqual({ requests: PLAN_TOTAL, codes: PLAN });
      expect(sideCounts(await processSeries(plugin, client.pid), "client")).toEqual({ requests: PLAN_TOTAL, codes: PLAN });
    }
  }, 180_000);
});

describe("HTTPS on a TLS library that is not decoded", () => {
  test("gnutls-serv --http: one tls_undecoded loss per connection, nothing counted for it", async () => {
    const port = await freePort();
    const pid = await startDaemon(["gnutls-serv", "--http", "--port", String(port), "--x509certfile", cert, "--x509keyfile", key], port);
    const lossId = lossKey("tls_undecoded");
    const before = reportedLoss(await plugin.reportAfter(Date.now()), plugin.hostId, lossId);
    const connections = 5;
    const clients: number[] = [];
    for (let i = 0; i < connections; i++) {
      const { pid: client, out } = await curl(`https://127.0.0.1:${port}`, ["/"]);
      expect(codesOf(out)).toEqual([200]);
      clients.push(client);
    }
    // Counted when each connection closes: wait for gnutls-serv to close them.
    let lost = 0;
    for (let i = 0; i < 20 && lost < connections; i++) lost = reportedLoss(await plugin.reportAfter(Date.now()), plugin.hostId, lossId) - before;
    // One tick more: a loss beyond the connections made would show there.
    lost = reportedLoss(await plugin.reportAfter(Date.now()), plugin.hostId, lossId) - before;
    table.add({ case: "gnutls-serv, 5 connections (named loss)", server: "gnutls-serv", client: "curl", syscalls: "-", sent: {}, counted: {} });
    expect(lost).toBe(connections);
    expect((await side(pid, "server")).requests).toBe(0);
    // curl's side is OpenSSL: decoded, exact.
    for (const client of clients) expect(sideCounts(await processSeries(plugin, client), "client")).toEqual({ requests: 1, codes: { 200: 1 } });
  });
});

describe("the plugin's TLS probes", () => {
  /** The TLS programs a plugin process holds attached: their ids, from its uprobe_multi links. */
  const tlsProgramsOf = (pid: number) => new Set(uprobeLinksOf(pid).map((link) => link.progId));

  /** How many of these programs are still loaded, once the kernel had up to 5 s to let them go. */
  async function stillLoaded(ids: Set<number>): Promise<number> {
    const loaded = () => (JSON.parse(Bun.spawnSync(["bpftool", "prog", "list", "-j"]).stdout.toString()) as Array<{ id: number }>).filter((p) => ids.has(p.id)).length;
    let left = loaded();
    for (let i = 0; i < 50 && left > 0; i++) {
      await Bun.sleep(100);
      left = loaded();
    }
    return left;
  }

  const onlyCaps = (caps: string[]) => {
    const set = ["-all", ...caps.map((c) => `+${c}`)].join(",");
    return ["setpriv", `--bounding-set=${set}`, `--inh-caps=${set}`, "--"];
  };

  // uprobe_multi links (Linux 6.6+) need no CAP_SYS_ADMIN, where perf-event uprobes did.
  test("with CAP_BPF and CAP_PERFMON only: the host's libssl decoded, exact", async () => {
    const least = await startPlugin({ args: ACCURACY_WINDOW, prefix: onlyCaps(["bpf", "perfmon"]) });
    try {
      const client = await run([PYTHON, join(FIXTURES, "python_tls_client.py"), String(python.port)], planPaths(PLAN).join("\n"));
      await least.reportAfter(Date.now());
      const series = await processSeries(least, client.pid);
      expect(sideCounts(series, "client")).toEqual({ requests: PLAN_TOTAL, codes: PLAN });
    } finally {
      expect(await least.stop()).toBe(0);
    }
    expect(await least.stderr()).toMatch(/TLS: decoding OpenSSL 3 plaintext from \S*libssl\.so\.3 /);
  });

  test("on kernels without uprobe_multi links (before 6.6): a perf-event uprobe per probed instruction, the same exact counts", async () => {
    const library = loadLibbpf(["libbpf.so.1"]);
    const image = new Uint8Array(await Bun.file(join(REPO, OBJECT)).arrayBuffer());
    const probe = await KernelProbe.start(library, image, { capture: "socket", maxConnections: 1, maxCounters: 4096, uprobeMulti: false });
    const hooks = new TlsHooks(probe, () => {});
    try {
      hooks.attachHostLibraries();
      const libssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
      const perf = JSON.parse(Bun.spawnSync(["bpftool", "perf", "show", "-j"]).stdout.toString() || "[]") as Array<{ pid: number; fd_type: string; filename?: string }>;
      // The entries of the internal read and write functions, SSL_clear and SSL_free; the two returns.
      expect(perf.filter((p) => p.pid === process.pid && p.filename === libssl).map((p) => p.fd_type).sort()).toEqual(["uprobe", "uprobe", "uprobe", "uprobe", "uretprobe", "uretprobe"]);
      expect(uprobeLinksOf(process.pid)).toEqual([]);
      const client = await run([PYTHON, join(FIXTURES, "python_tls_client.py"), String(python.port)], planPaths(PLAN).join("\n"));
      expect(histogram(codesOf(client.out))).toEqual(PLAN);
      const counted: Record<string, number> = {};
      for (const [slot, count] of probe.readCounters().get(client.pid) ?? []) {
        const meaning = slotMeaning(slot);
        if (meaning?.side === "client" && meaning.kind === "requests") counted.requests = Number(count);
        if (meaning?.side === "client" && meaning.kind === "response") counted[meaning.status] = Number(count);
      }
      expect(counted).toEqual({ requests: PLAN_TOTAL, ...PLAN });
    } finally {
      hooks.close();
      probe.close();
    }
  });

  test("hooked processes under load never notice plugins starting and stopping (SIGTERM, SIGKILL)", async () => {
    const nginx = await startNginxTls();
    // 300,000 hooked calls over memory BIOs, and wrk over HTTPS, while plugins come and go.
    const pairs = Bun.spawn([PYTHON, join(REPO, "bench", "tls_pairs.py"), "150000", cert, key], { stdout: "pipe", stderr: "pipe" });
    const wrk = Bun.spawn(["wrk", "-t1", "-c8", "-d8s", `https://127.0.0.1:${nginx.port}/status/200`], { stdout: "pipe", stderr: "pipe" });
    for (const signal of ["SIGTERM", "SIGKILL", "SIGTERM", "SIGKILL"] as const) {
      const churn = await startPlugin();
      await Bun.sleep(500);
      await churn.stop(signal);
    }
    const [pairsOut, pairsErr, pairsCode] = await Promise.all([new Response(pairs.stdout).text(), new Response(pairs.stderr).text(), pairs.exited]);
    expect({ code: pairsCode, err: pairsErr }).toEqual({ code: 0, err: "" });
    expect(Number(pairsOut)).toBeGreaterThan(0);
    const [wrkOut, wrkCode] = await Promise.all([new Response(wrk.stdout).text(), wrk.exited]);
    expect(wrkCode).toBe(0);
    expect(wrkOut).not.toMatch(/Socket errors|Non-2xx/);
    expect(Number(/(\d+) requests in/.exec(wrkOut)?.[1])).toBeGreaterThan(100);
    expect(childrenOf(Number(readFileSync(join(dir, "nginx.pid"), "utf8")))).toEqual([nginx.worker]);
  }, 60_000);

  test("it says which library it decodes; nothing of them stays after SIGTERM or SIGKILL", async () => {
    const held = tlsProgramsOf(plugin.proc.pid);
    expect(held.size).toBeGreaterThanOrEqual(2); // every entry, every return
    expect(await plugin.stop("SIGTERM")).toBe(0);
    expect(await plugin.stderr()).toMatch(/TLS: decoding OpenSSL 3 plaintext from \S*libssl\.so\.3 /);
    expect(await stillLoaded(held)).toBe(0);
    const killed = await startPlugin();
    const heldByKilled = tlsProgramsOf(killed.proc.pid);
    expect(heldByKilled.size).toBeGreaterThanOrEqual(2);
    await killed.stop("SIGKILL");
    expect(await stillLoaded(heldByKilled)).toBe(0);
  });
});
