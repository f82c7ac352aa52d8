#!/usr/bin/env bun
/**
 * Wires the layers together: flags -> host checks -> kernel probe ->
 * collector (once a second) -> report string -> socket server.
 */
import { hostname } from "node:os";
import objectPath from "../build/http_statistics.bpf.o" with { type: "file" };
import { helpText, parseArgs, UsageError, type Options } from "./cli";
import { RateCollector } from "./collector";
import { findExistingConnections } from "./existing_connections";
import { KernelProbe } from "./kernel_probe";
import { BpfError, loadLibbpf, SYSTEM_LIBBPF } from "./libbpf";
import { checkBtf, checkPrivileges, ensureTracefs, pidMax, PreflightError } from "./preflight";
import { renderReport, renderReportSteps } from "./report";
import { prepareSocketPath, serveReports, SocketError } from "./server";
import { existsSync } from "node:fs";
import { VERSION } from "./version";

function fail(message: string): never {
  process.stderr.write(`http-statistics: ${message}\n`);
  process.exit(1);
}

function log(message: string): void {
  process.stderr.write(`http-statistics: ${message}\n`);
}

async function run(options: Options): Promise<void> {
  checkPrivileges();
  checkBtf();
  ensureTracefs();
  const library = loadLibbpf(SYSTEM_LIBBPF, options.verbose);
  const image = new Uint8Array(await Bun.file(objectPath).arrayBuffer());
  await prepareSocketPath(options.socket);

  const probe = KernelProbe.start(library, image, {
    pidMax: pidMax(),
    maxConnections: options.maxConnections,
    maxCounters: options.maxCounters,
  });
  const seeded = probe.seedConnections(findExistingConnections());
  const hostId = options.hostname ?? process.env.SCOPE_HOSTNAME ?? hostname();
  const collector = new RateCollector(() => probe.readCounters(), options.windowSeconds);
  collector.prime();

  const encoder = new TextEncoder();
  let report = encoder.encode(renderReport({ hostId, ticks: [] }));
  const server = serveReports(options.socket, () => report);
  log(`serving ${options.socket} (${probe.programs} programs attached, ${seeded} existing connections, libbpf ${library.version})`);

  // Align ticks to wall-clock seconds so samples from successive reports line up.
  let tickCount = 0;
  const tick = async () => {
    collector.tick(Date.now());
    // Built in steps: after each 5 ms of work, pause so that a /report arriving
    // meanwhile (and the transfer of a large body) goes on with the previous
    // report instead of waiting for the whole build. A timer, unlike
    // setImmediate, lets Bun poll the socket during the pause.
    const steps = renderReportSteps({ hostId, ticks: collector.window() }, 100);
    let since = performance.now();
    let step = steps.next();
    while (!step.done) {
      if (performance.now() - since > 5) {
        await Bun.sleep(10);
        since = performance.now();
      }
      step = steps.next();
    }
    report = encoder.encode(step.value);
    if (++tickCount % 5 === 0) housekeeping();
  };
  const housekeeping = () => {
    probe.reapConnections();
    const gone = collector.idlePids().filter((pid) => !existsSync(`/proc/${pid}`));
    probe.forgetProcesses(gone);
    collector.forget(gone);
  };
  let timer: Timer | undefined;
  const schedule = () => {
    timer = setTimeout(async () => {
      await tick();
      schedule();
    }, 1000 - (Date.now() % 1000));
  };
  schedule();

  const shutdown = () => {
    clearTimeout(timer);
    server.stop();
    probe.close();
    process.exit(0);
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
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
    process.stdout.write(helpText());
    return;
  }
  if (options.version) {
    process.stdout.write(`http-statistics ${VERSION}\n`);
    return;
  }
  try {
    await run(options);
  } catch (error) {
    if (error instanceof BpfError) {
      const detail = error.log.filter((line) => /error|invalid|failed|unknown|not supported/i.test(line)).slice(-2);
      fail(`${error.message}${detail.length ? ` (${detail.join("; ")})` : ""}${options.verbose ? "" : "; --verbose shows libbpf's log"}`);
    }
    if (error instanceof PreflightError || error instanceof SocketError) fail(error.message);
    fail(`unexpected error: ${error instanceof Error ? error.message : String(error)}`);
  }
}

await main();
