/**
 * The benchmark suite:
 *   bun run bench [--quick] [--only=a,b] [--variants=a,b] [--rounds=N] [--baseline=REF] [--no-build]
 * Needs root (it loads eBPF), nginx, wrk, bpftrace, clang and a C compiler
 * (scripts/setup.sh installs them). Writes build/bench/results.json and
 * build/bench/tables.md (BENCHMARKS.md-ready) and prints both.
 *
 * Benchmarks: syscalls (ns per call), unix (the same on a unix stream socket,
 * beside TCP), iov (readv/writev in 1, 3 and 32 segments: the cost per extra
 * segment), e2e (nginx + wrk), agent (CPU and RSS at 10k req/s), report
 * (/report at 100..10,000 processes), startup, service (a Python JSON API
 * under gunicorn: what a typical service pays), h2c (nghttpd + h2load, 100
 * concurrent HTTP/2 streams per connection), tls (per hooked TLS call, and
 * nginx over HTTPS), tlsattach (time to attach and detach the TLS probes of
 * libssl and a Go executable, as uprobe_multi links and as perf-event uprobes).
 * Variants (bench/lib/variants.ts) run interleaved (A B C A B C ...) and
 * figures are medians, since the machines this runs on are shared and
 * noisy. `previous` is the product at --baseline (default: the commit
 * before issue 8), built here and cached, so "no slower than before" is
 * measured in the same run.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { buildBinary, buildBpf } from "../build";
import { agentTable, benchAgent } from "./agent";
import { benchEndToEnd, e2eTables } from "./e2e";
import { benchH2c, h2cTables } from "./h2c";
import { describeMachine, OUT_DIR, PORTS, REPO, round, table } from "./lib/common";
import { buildPrevious, DEFAULT_BASELINE } from "./lib/previous";
import {
  buildFloors,
  buildPrototype,
  checkProducts,
  contamination,
  PRODUCT_VARIANTS,
  setPreviousBinary,
  VARIANTS,
  type FloorName,
  type ProductVariant,
  type VariantName,
} from "./lib/variants";
import { benchService, serviceTables } from "./service";
import { benchReportPath, reportTable, type Build } from "./report_path";
import { benchStartup, startupTable } from "./startup";
import { benchSyscalls, IOV_MODES, syscallTables, UNIX_MODES } from "./syscalls";
import { targetsTable } from "./targets";
import { benchTls, tlsTable } from "./tls";
import { benchTlsAttach, tlsAttachTable } from "./tls_attach";

const ALL = ["syscalls", "unix", "iov", "e2e", "service", "h2c", "agent", "report", "startup", "tls", "tlsattach"] as const;
type Bench = (typeof ALL)[number];

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}

function parse(argv: string[]) {
  const options = {
    quick: false,
    only: [...ALL] as Bench[],
    variants: [...VARIANTS] as VariantName[],
    chosenVariants: false,
    rounds: 0,
    skipBuild: false,
    baseline: DEFAULT_BASELINE,
  };
  const list = <T extends string>(flag: string, value: string, allowed: readonly T[]): T[] => {
    const names = value.split(",");
    for (const n of names) if (!allowed.includes(n as T)) fail(`${flag}: unknown name '${n}' (one of ${allowed.join(", ")})`);
    return names as T[];
  };
  for (const arg of argv) {
    if (arg === "--quick") options.quick = true;
    else if (arg === "--no-build") options.skipBuild = true;
    else if (arg.startsWith("--only=")) options.only = list("--only", arg.slice(7), ALL);
    else if (arg.startsWith("--variants=")) {
      options.variants = list("--variants", arg.slice(11), VARIANTS);
      options.chosenVariants = true;
      if (!options.variants.includes("none")) fail("--variants must include none: every figure is measured against it");
    } else if (arg.startsWith("--baseline=")) {
      options.baseline = arg.slice(11);
      if (!/^[\w./^~-]+$/.test(options.baseline)) fail(`--baseline: '${options.baseline}' is not a git ref`);
    } else if (arg.startsWith("--rounds=")) {
      options.rounds = Number(arg.slice(9));
      if (!Number.isInteger(options.rounds) || options.rounds < 1 || options.rounds > 50) fail("--rounds must be 1..50");
    } else fail(`unknown argument '${arg}' (--quick, --only=${ALL.join(",")}, --variants=${VARIANTS.join(",")}, --rounds=N, --baseline=REF, --no-build)`);
  }
  return options;
}

const options = parse(process.argv.slice(2));
if (process.getuid?.() !== 0) fail("the benchmarks load eBPF programs: run as root");
for (const tool of ["nginx", "wrk", "bpftrace", "clang", "llvm-readelf", "bpftool", "git"])
  if (!Bun.which(tool)) fail(`${tool} not found: run scripts/setup.sh`);

process.chdir(REPO);
mkdirSync(OUT_DIR, { recursive: true });
const log = (line: string) => process.stderr.write(`${line}\n`);

// With BPF run-time statistics on, the kernel times every program run
// (~20 ns each): every variant with a program would pay it, and the ratios
// to the floor would shrink. Profiling leaves it on; the suite turns it off.
const BPF_STATS = "/proc/sys/kernel/bpf_stats_enabled";
if (existsSync(BPF_STATS) && readFileSync(BPF_STATS, "utf8").trim() !== "0") {
  writeFileSync(BPF_STATS, "0\n");
  log("kernel.bpf_stats_enabled was on: turned off for the run");
}
const started = performance.now();
const rounds = options.rounds || (options.quick ? 2 : 5);
// Expected failures (a tool, a build, a plugin that rejects a flag) end the run in one line.
const orFail = <T>(step: Promise<T>): Promise<T> => step.catch((e: unknown) => fail(e instanceof Error ? e.message : String(e)));

if (!options.skipBuild) {
  log("building the eBPF object and the binary");
  await buildBpf();
  await buildBinary();
}
const attachPoints = await orFail(buildFloors());
for (const prototype of ["minimal", "essentials"] as const) if (options.variants.includes(prototype)) await orFail(buildPrototype(prototype));
let variants = options.variants;
for (const floor of ["floor", "floor-syscalls"] as FloorName[]) {
  if (!variants.includes(floor) || attachPoints[floor].length) continue;
  const why = `${floor}: the product object has no ${floor === "floor" ? "tp_btf/*" : "tracepoint/*"} sections to mirror`;
  if (options.chosenVariants) fail(why);
  log(`${why}; left out`);
  variants = variants.filter((v) => v !== floor);
}
let previous: Awaited<ReturnType<typeof buildPrevious>> | undefined;
if (variants.includes("previous")) {
  previous = await orFail(buildPrevious(options.baseline, log));
  setPreviousBinary(previous.binary);
}
const products = PRODUCT_VARIANTS.filter((v) => variants.includes(v)) as ProductVariant[];
const productVersions = await orFail(checkProducts(products));

const machine = await describeMachine();
log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, kernel ${machine.kernel}`);
log(`versions: ${Object.entries(machine.versions).map(([k, v]) => `${k} ${v}`).join("; ")}`);
log(`commit ${machine.commit}, load ${machine.load}`);
for (const [v, said] of Object.entries(productVersions)) log(`${v}: ${said}`);
if (previous) log(`previous: ${previous.ref} = ${previous.commit.slice(0, 12)}${previous.cached ? " (cached build)" : ""}`);
log(`floor attaches ${attachPoints.floor.length} tp_btf programs, floor-syscalls ${attachPoints["floor-syscalls"].length} tracepoint programs`);

const results: Record<string, unknown> = {
  machine,
  variants,
  attachPoints,
  products: productVersions,
  previous: previous && { ref: previous.ref, commit: previous.commit },
  rounds,
  quick: options.quick,
  contamination,
};
const sections: string[] = [];
// floor-syscalls is there for the fallback's per-call breakdown: the nginx and agent runs leave it out.
const withoutFloorSyscalls = variants.filter((v) => v !== "floor-syscalls");

/** Writes results.json and tables.md with what has been measured so far: a later benchmark that fails loses nothing before it. */
function publish(): string {
  const header = [
    `Run ${machine.date} on ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB (a shared VM), ${machine.os}, kernel ${machine.kernel}; load average at start ${machine.load}.`,
    "",
    table(
      ["component", "version"],
      [
        ["commit", machine.commit],
        ...(previous ? [["previous (--baseline)", `${previous.ref} = ${previous.commit.slice(0, 12)}`]] : []),
        ...Object.entries(productVersions).map(([v, said]) => [`${v} --version`, said]),
        ...Object.entries(machine.versions),
      ],
    ),
    "",
    `${rounds} interleaved rounds${options.quick ? " (--quick)" : ""}; every figure is a median over rounds. ` +
      `${contamination.shared} of ${contamination.measured} interleaved measurements ran while another session's tracepoint programs were loaded (the suite waits up to 60 s for a quiet kernel before each, 3 minutes in all).`,
  ].join("\n");
  const summary = targetsTable(results);
  const markdown = `${header}\n\n### Targets\n\n${summary}\n\n${sections.join("\n\n")}\n`;
  writeFileSync(`${OUT_DIR}/results.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeFileSync(`${OUT_DIR}/tables.md`, markdown);
  return markdown;
}

if (options.only.includes("syscalls")) {
  log(`syscalls: ns per call under ${variants.join(" / ")}`);
  const s = await orFail(benchSyscalls({ rounds: rounds * 2, iterations: options.quick ? 20_000 : 50_000, variants, log }));
  results.syscalls = s;
  sections.push(`### Cost per syscall\n\n${syscallTables(s)}`);
  publish();
}
if (options.only.includes("unix")) {
  log(`unix: ns per call on a unix stream socket beside TCP under ${variants.join(" / ")}`);
  const s = await orFail(benchSyscalls({ rounds: rounds * 2, iterations: options.quick ? 20_000 : 50_000, variants, log, modes: UNIX_MODES }));
  results.unix = s;
  sections.push(`### Cost per call on a unix socket\n\n${syscallTables(s)}`);
  publish();
}
if (options.only.includes("iov")) {
  log(`iov: ns per call of readv/writev in 1, 3 and 32 segments under ${variants.join(" / ")}`);
  const s = await orFail(benchSyscalls({ rounds: rounds * 2, iterations: options.quick ? 20_000 : 50_000, variants, log, modes: IOV_MODES }));
  results.iov = s;
  sections.push(`### Cost per segment of a vectored call\n\n${syscallTables(s)}\n\nns per extra segment: (32 segments - 1 segment) / 31, per direction.`);
  publish();
}
if (options.only.includes("e2e")) {
  log(`e2e: nginx + wrk under ${withoutFloorSyscalls.join(" / ")}`);
  const s = await orFail(benchEndToEnd({ rounds, seconds: options.quick ? 2 : 5, connections: 32, pacedRate: 5000, variants: withoutFloorSyscalls, log }));
  results.e2e = s;
  sections.push(`### nginx end to end\n\n${e2eTables(s)}`);
  publish();
}
if (options.only.includes("service")) {
  // What a user pays is the product against nothing; other variants only when asked for by name.
  const serviceVariants = options.chosenVariants ? withoutFloorSyscalls : (["none", "plugin"] as VariantName[]).filter((v) => variants.includes(v));
  log(`service: gunicorn JSON API + wrk under ${serviceVariants.join(" / ")}`);
  const s = await orFail(benchService({ rounds, seconds: options.quick ? 3 : 8, connections: 8, pacedRate: 300, variants: serviceVariants, log }));
  results.service = s;
  sections.push(`### What a typical service pays\n\n${serviceTables(s)}`);
  publish();
}
if (options.only.includes("h2c")) {
  // HTTP/2 against nothing, the floor (empty programs) and the product.
  const h2cVariants = options.chosenVariants ? withoutFloorSyscalls : (["none", "floor", "plugin"] as VariantName[]).filter((v) => variants.includes(v));
  log(`h2c: nghttpd + h2load under ${h2cVariants.join(" / ")}`);
  const s = await orFail(benchH2c({ rounds, requests: options.quick ? 100_000 : 400_000, streams: 100, variants: h2cVariants, log }));
  results.h2c = s;
  sections.push(`### HTTP/2 (h2c) end to end\n\n${h2cTables(s)}`);
  publish();
}
if (options.only.includes("agent")) {
  const agents = variants.filter((v) => (PRODUCT_VARIANTS as readonly string[]).includes(v) || v === "bpftrace");
  log(`agent: CPU and RSS of ${agents.join(" / ")} at 10,000 req/s with a /report every second`);
  const s = await orFail(benchAgent({ seconds: options.quick ? 5 : 12, rate: 10_000, rounds: options.quick ? 1 : options.rounds || 5, variants: agents, log }));
  results.agent = s;
  sections.push(`### The agent's own cost\n\n${agentTable(s)}`);
  publish();
}
if (options.only.includes("report") && variants.includes("plugin")) {
  log("report: /report latency and size by active processes");
  const builds: Build[] = [{ name: "this build", variant: "plugin" }];
  if (variants.includes("previous")) builds.unshift({ name: "previous", variant: "previous" });
  const s = await orFail(
    benchReportPath({ sizes: [100, 1_000, 10_000], warmSeconds: options.quick ? 4 : 16, samples: options.quick ? 50 : 200, builds, rounds: options.quick ? 1 : 3, log }),
  );
  results.report = s;
  sections.push(`### /report\n\n${reportTable(s)}`);
  publish();
}
if (options.only.includes("startup") && products.length) {
  log(`startup: spawn to socket ready and to first counted request, ${products.join(" / ")}`);
  const s = await orFail(benchStartup({ rounds: options.quick ? 3 : 7, variants: products, log }));
  results.startup = s;
  sections.push(`### Startup\n\n${startupTable(s)}`);
  publish();
}

if (options.only.includes("tls")) {
  log("tls: TLS call pairs and nginx https under none / floor / limit / plugin / bpftrace");
  const s = await orFail(benchTls({ rounds, seconds: options.quick ? 2 : 5, pairs: options.quick ? 20_000 : 50_000, port: PORTS.tls, log }));
  results.tls = s;
  sections.push(`### HTTPS (TLS library probes)\n\n${tlsTable(s)}`);
  publish();
}

if (options.only.includes("tlsattach")) {
  log("tlsattach: attach and detach time of the TLS probes, uprobe_multi links / perf-event uprobes");
  const s = await orFail(benchTlsAttach({ rounds: options.quick ? 3 : 7, log }));
  results.tlsattach = s;
  sections.push(`### Attaching and detaching the TLS probes\n\n${tlsAttachTable(s)}`);
  publish();
}

process.stdout.write(publish());
log(`wrote ${OUT_DIR}/results.json and ${OUT_DIR}/tables.md in ${round((performance.now() - started) / 1000, 0)} s`);
process.exit(0);
