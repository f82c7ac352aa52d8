#!/usr/bin/env bun
/**
 * Wires the layers together: flags -> host checks -> kernel probe ->
 * collector (once a second) -> report string and metrics totals -> socket
 * server (and the optional metrics listener). `top` only reads a socket.
 */
import { undoOnStop } from "./stop_signals"; // first: its handlers must be in before anything else loads
import { hostname } from "node:os";
import objectPath from "../build/http_statistics.bpf.o" with { type: "file" };
import { helpText, hostIdFor, parseArgs, UsageError, type Options } from "./cli";
import { RateCollector } from "./pipeline/collector";
import { ContainerResolver } from "./pipeline/containers";
import { KernelProbe } from "./kernel/kernel_probe";
import { EMBEDDED_LIBRARIES, EMBEDDED_PACKAGES } from "./kernel/embedded_libraries";
import { BpfError, loadEmbeddedLibbpf, loadLibbpf, SYSTEM_LIBBPF, type LoadedLibrary } from "./kernel/libbpf";
import { LossLog } from "./pipeline/loss_log";
import { CAPTURES } from "./kernel/kernel_abi";
import { checkBtf, checkPlatform, checkPrivileges, chooseCapture, ensureTracefs, hasSocketTracepoints, permissionDeniedCause, PreflightError } from "./kernel/preflight";
import { ProcessTotals } from "./pipeline/process_totals";
import { buildMetrics, type Exposition } from "./outputs/prometheus";
import { buildReport, buildReportSteps, summarizeTick, type TickSummary } from "./outputs/report";
import { serveMetrics, serveReports, SocketError } from "./outputs/server";
import { runInSteps } from "./pipeline/steps";
import { runTop } from "./outputs/top";
import { TlsHooks } from "./tls/tls_hooks";
import { existsSync, readFileSync } from "node:fs";
import { VERSION } from "./version";

/** Work the tick does before it pauses for the socket, and how long it pauses (steps.ts says why these). */
const TICK_STEP_MS = 5;
const TICK_PAUSE_MS = 2;

function fail(message: string): never {
  process.stderr.write(`http-statistics: ${message}\n`);
  process.exit(1);
}

function log(message: string): void {
  process.stderr.write(`http-statistics: ${message}\n`);
}

/** The kernel's name for a process, for the `comm` label; "" once it has exited. */
function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").replace(/\n$/, "");
  } catch {
    return "";
  }
}

function openLibbpf(options: Options): Promise<LoadedLibrary> | LoadedLibrary {
  return options.systemLibbpf ? loadLibbpf(SYSTEM_LIBBPF, options.verbose) : loadEmbeddedLibbpf(EMBEDDED_LIBRARIES, options.verbose);
}

async function run(options: Options): Promise<void> {
  checkPlatform();
  checkPrivileges();
  checkBtf();
  const capture = chooseCapture(options.capture, hasSocketTracepoints());
  // Only plain tracepoints are found through tracefs; the socket capture's BTF ones are not.
  if (capture === "syscalls") ensureTracefs();
  const hostId = hostIdFor(options, process.env, hostname());
  const library = await openLibbpf(options);
  const image = new Uint8Array(await Bun.file(objectPath).arrayBuffer());
  const encoder = new TextEncoder();
  // Serve at once: the probe polls every second, and an empty report is a
  // valid one while the kernel verifies our programs (a few hundred ms).
  let report = encoder.encode(JSON.stringify(buildReport({ hostId, window: [] })));
  const containers = new ContainerResolver();
  const totals = new ProcessTotals((pid) => ({ comm: commOf(pid), container: containers.containerOf(pid) }), options.metricsRetentionSeconds * 1000);
  let losses: Record<string, number> = {};
  // Built when first scraped after a tick, in the format asked for, and kept until the next tick.
  let metricsCache: Partial<Record<Exposition, string>> = {};
  const metrics = (format: Exposition) =>
    (metricsCache[format] ??= buildMetrics({ processes: totals.values(), labels: options.metricsLabels, losses, version: VERSION, capture }, format));
  const server = await serveReports(options.socket, { report: () => report, metrics });
  undoOnStop(() => server.stop());
  let probe: KernelProbe;
  try {
    if (options.listen) {
      const listener = serveMetrics(options.listen, metrics);
      undoOnStop(() => listener.stop());
    }
    probe = await KernelProbe.start(library, image, {
      capture,
      reportSocket: options.socket,
      maxConnections: options.maxConnections,
      maxCounters: options.maxCounters,
    });
  } catch (error) {
    server.stop(); // removes the socket: nothing left behind
    throw error;
  }
  undoOnStop(() => probe.close());
  const tls = new TlsHooks(probe, log);
  tls.attachHostLibraries();
  // Reading the executables of every process takes a while the first time: once the socket serves.
  setTimeout(() => tls.scanProcesses(), 0);
  const collector = new RateCollector(() => probe.readCounters(), options.windowSeconds);
  collector.prime();
  const listening = options.listen ? `; GET /metrics also on ${options.listen.hostname.includes(":") ? `[${options.listen.hostname}]` : options.listen.hostname}:${options.listen.port}` : "";
  // One program may sit on several hooks (the syscall capture's on twelve syscall exits).
  const hooks = probe.hooks === probe.programs ? "" : ` to ${probe.hooks} hooks`;
  log(`serving ${options.socket}${listening} (capture: ${CAPTURES[capture].describe}, ${probe.programs} programs attached${hooks}, libbpf ${library.version} ${library.path})`);

  // Align ticks to wall-clock seconds so samples from successive reports line up.
  let tickCount = 0;
  const lossLog = new LossLog();
  const containerOf = (pid: number) => containers.containerOf(pid);
  // Each tick is summarized once, when it is made; a report lays out the last few.
  const window: TickSummary[] = [];
  // In steps, so the socket answers (with the last report) while a large host's report is made.
  function* tick(now: number) {
    const interval = collector.tick(now);
    yield;
    totals.add(interval.deltas);
    window.push(summarizeTick(interval, containerOf));
    if (window.length > options.windowSeconds) window.shift();
    const counts = probe.readLosses();
    losses = counts;
    const line = lossLog.update(counts, now);
    if (line) log(line);
    const built = yield* buildReportSteps({ hostId, window, losses: { counts, time: now } });
    yield;
    report = encoder.encode(JSON.stringify(built));
    if (++tickCount % 5 === 0) housekeeping(now);
    metricsCache = {};
  }
  const housekeeping = (now: number) => {
    const gone = collector.idlePids().filter((pid) => !existsSync(`/proc/${pid}`));
    probe.forgetProcesses(gone);
    probe.forgetTlsProcesses((tgid) => existsSync(`/proc/${tgid}`));
    tls.scanProcesses();
    collector.forget(gone);
    containers.forget(gone);
    totals.retire(gone, now);
    totals.prune(now);
  };
  let timer: Timer | undefined;
  undoOnStop(() => clearTimeout(timer));
  const schedule = () => {
    timer = setTimeout(async () => {
      try {
        await runInSteps(tick(Date.now()), TICK_STEP_MS, TICK_PAUSE_MS);
      } catch (error) {
        // One bad tick (a map read failing under memory pressure) must not stop the next ones.
        log(`tick failed: ${error instanceof Error ? error.message : String(error)}`);
      }
      schedule();
    }, 1000 - (Date.now() % 1000));
  };
  schedule();
}

/** One GET /report on the socket; the exit code is the answer. */
async function healthCheck(socket: string): Promise<never> {
  if (!existsSync(socket)) fail(`no plugin socket at ${socket}`);
  try {
    const res = await fetch("http://localhost/report", { unix: socket, signal: AbortSignal.timeout(2000) } as RequestInit);
    await res.arrayBuffer();
    if (!res.ok) fail(`${socket} answered GET /report with ${res.status}`);
  } catch (error) {
    fail(`no plugin answers on ${socket}: ${error instanceof Error ? error.message : String(error)}`);
  }
  process.exit(0);
}

async function main(): Promise<void> {
  let options: Options;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    if (error instanceof UsageError) fail(error.message);
    throw error;
  }
  if (options.help) {
    process.stdout.write(helpText(options.command));
    return;
  }
  if (options.command === "top") await runTop(options.socket);
  if (options.healthCheck) await healthCheck(options.socket);
  try {
    if (options.version) {
      const library = await openLibbpf(options);
      const origin = options.systemLibbpf ? `system ${library.path}` : `embedded: ${EMBEDDED_PACKAGES}`;
      const capture = chooseCapture(options.capture, existsSync("/sys/kernel/btf/vmlinux") && hasSocketTracepoints());
      process.stdout.write(`http-statistics ${VERSION}\nlibbpf ${library.version} (${origin})\ncapture on this kernel: ${CAPTURES[capture].describe}\n`);
      return;
    }
    await run(options);
  } catch (error) {
    if (error instanceof BpfError) {
      const cause = Math.abs(error.code) === 1 ? permissionDeniedCause() : undefined; // EPERM
      if (cause) fail(`the kernel refused the eBPF programs: ${cause}`);
      const detail = error.log.filter((line) => /error|invalid|failed|unknown|not supported/i.test(line)).slice(-2);
      fail(`${error.message}${detail.length ? ` (${detail.join("; ")})` : ""}${options.verbose || error.log.length === 0 ? "" : "; --verbose shows libbpf's log"}`);
    }
    if (error instanceof PreflightError || error instanceof SocketError || error instanceof UsageError) fail(error.message);
    fail(`unexpected error: ${error instanceof Error ? error.message : String(error)}`);
  }
}

await main();
