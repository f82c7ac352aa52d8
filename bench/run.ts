/**
 * The benchmark suite: `bun run bench [--quick] [--only=a,b] [--rounds=N] [--report-baseline=BINARY]`.
 * Needs root (it loads eBPF), nginx, wrk, bpftrace, clang and a C compiler
 * (scripts/setup.sh installs them). Writes build/bench/results.json and
 * build/bench/tables.md (BENCHMARKS.md-ready) and prints both.
 *
 * Benchmarks: e2e (nginx + wrk), syscalls (ns per read/write), agent (CPU
 * and RSS at 10k req/s), report (/report at 100..10,000 processes),
 * startup. Variants run interleaved (A B C A B C ...) and figures are
 * medians, since the machines this runs on are shared and noisy.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { buildBinary, buildBpf } from "../build";
import { agentTable, benchAgent } from "./agent";
import { benchEndToEnd, e2eTables } from "./e2e";
import { describeMachine, OUT_DIR, REPO, round, table } from "./lib/common";
import { buildFloor, contamination, PLUGIN_BINARY, type VariantName } from "./lib/variants";
import { benchReportPath, reportTable } from "./report_path";
import { benchStartup, startupTable } from "./startup";
import { benchSyscalls, syscallTables } from "./syscalls";
import { targetsTable } from "./targets";

const ALL = ["syscalls", "e2e", "agent", "report", "startup"] as const;
type Bench = (typeof ALL)[number];

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}

function parse(argv: string[]) {
  const options = { quick: false, only: [...ALL] as Bench[], rounds: 0, skipBuild: false, reportBaseline: "" };
  for (const arg of argv) {
    if (arg === "--quick") options.quick = true;
    else if (arg.startsWith("--report-baseline=")) {
      options.reportBaseline = arg.slice(18);
      if (!existsSync(options.reportBaseline)) fail(`--report-baseline: no binary at ${options.reportBaseline}`);
    }
    else if (arg === "--no-build") options.skipBuild = true;
    else if (arg.startsWith("--only=")) {
      const names = arg.slice(7).split(",");
      for (const n of names) if (!ALL.includes(n as Bench)) fail(`unknown benchmark '${n}' (one of ${ALL.join(", ")})`);
      options.only = names as Bench[];
    } else if (arg.startsWith("--rounds=")) {
      options.rounds = Number(arg.slice(9));
      if (!Number.isInteger(options.rounds) || options.rounds < 1 || options.rounds > 50) fail("--rounds must be 1..50");
    } else fail(`unknown argument '${arg}' (--quick, --only=${ALL.join(",")}, --rounds=N, --no-build, --report-baseline=BINARY)`);
  }
  return options;
}

const options = parse(process.argv.slice(2));
if (process.getuid?.() !== 0) fail("the benchmarks load eBPF programs: run as root");
for (const tool of ["nginx", "wrk", "bpftrace", "clang", "llvm-readelf", "bpftool"])
  if (!Bun.which(tool)) fail(`${tool} not found: run scripts/setup.sh`);

process.chdir(REPO);
mkdirSync(OUT_DIR, { recursive: true });
const log = (line: string) => process.stderr.write(`${line}\n`);
const started = performance.now();
const rounds = options.rounds || (options.quick ? 2 : 5);
const variants: VariantName[] = ["none", "floor", "plugin", "bpftrace"];

if (!options.skipBuild) {
  log("building the eBPF object, the binary and the floor");
  await buildBpf();
  await buildBinary();
}
const tracepoints = await buildFloor();

const machine = await describeMachine();
log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, kernel ${machine.kernel}`);
log(`versions: ${Object.entries(machine.versions).map(([k, v]) => `${k} ${v}`).join("; ")}`);
log(`commit ${machine.commit}, load ${machine.load}; ${tracepoints.length} tracepoints`);

const results: Record<string, unknown> = { machine, tracepoints, rounds, quick: options.quick, contamination };
const sections: string[] = [];

if (options.only.includes("syscalls")) {
  log("syscalls: ns per read()/write() under none / floor / plugin / bpftrace");
  const s = await benchSyscalls({ rounds: rounds * 2, iterations: options.quick ? 20_000 : 50_000, variants, log });
  results.syscalls = s;
  sections.push(`### Cost per syscall\n\n${syscallTables(s, variants)}`);
}
if (options.only.includes("e2e")) {
  log("e2e: nginx + wrk under none / floor / plugin / bpftrace");
  const s = await benchEndToEnd({ rounds, seconds: options.quick ? 2 : 5, connections: 32, pacedRate: 5000, variants, log });
  results.e2e = s;
  sections.push(`### nginx end to end\n\n${e2eTables(s, variants)}`);
}
if (options.only.includes("agent")) {
  log("agent: plugin CPU and RSS at 10,000 req/s with a /report every second");
  const s = await benchAgent({ seconds: options.quick ? 5 : 12, rate: 10_000, withBpftrace: true, log });
  results.agent = s;
  sections.push(`### The agent's own cost\n\n${agentTable(s)}`);
}
if (options.only.includes("report")) {
  log("report: /report latency and size by active processes");
  // With a baseline (another build's binary), both run interleaved for `rounds` rounds.
  const builds = [
    ...(options.reportBaseline ? [{ name: "baseline", binary: options.reportBaseline }] : []),
    { name: "this build", binary: PLUGIN_BINARY },
  ];
  const s = await benchReportPath({
    sizes: [100, 1_000, 10_000],
    warmSeconds: options.quick ? 4 : 16,
    samples: options.quick ? 50 : 200,
    builds,
    rounds: options.reportBaseline ? rounds : 1,
    log,
  });
  results.report = s;
  sections.push(`### /report\n\n${reportTable(s)}`);
}
if (options.only.includes("startup")) {
  log("startup: spawn to socket ready and to first counted request");
  const s = await benchStartup({ rounds: options.quick ? 3 : 7, log });
  results.startup = s;
  sections.push(`### Startup\n\n${startupTable(s)}`);
}

const header = [
  `Run ${machine.date} on ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB (a shared VM), ${machine.os}, kernel ${machine.kernel}; load average at start ${machine.load}.`,
  "",
  table(["component", "version"], [["commit", machine.commit], ...Object.entries(machine.versions)]),
  "",
  `${rounds} interleaved rounds${options.quick ? " (--quick)" : ""}; every figure is a median over rounds. ` +
    `${contamination.shared} of ${contamination.measured} interleaved measurements ran while another session's tracepoint programs were loaded (the suite waits up to 60 s for a quiet kernel before each, 3 minutes in all).`,
].join("\n");
const summary = targetsTable(results);
const markdown = `${header}\n\n### Targets\n\n${summary}\n\n${sections.join("\n\n")}\n`;
writeFileSync(`${OUT_DIR}/results.json`, `${JSON.stringify(results, null, 2)}\n`);
writeFileSync(`${OUT_DIR}/tables.md`, markdown);
process.stdout.write(markdown);
log(`wrote ${OUT_DIR}/results.json and ${OUT_DIR}/tables.md in ${round((performance.now() - started) / 1000, 0)} s`);
process.exit(0);
