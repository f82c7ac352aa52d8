/** Issue 8's targets, each against what this run measured. */
import type { AgentSummary } from "./agent";
import { PATHS, type E2eSummary, type PathName } from "./e2e";
import { median, pct, ratio, round, table } from "./lib/common";
import type { StartupResult } from "./startup";
import { MODES, type Mode, type SyscallSummary } from "./syscalls";

interface Target {
  name: string;
  /** undefined: a variant it needs did not run */
  measured: number | undefined;
  text: (v: number) => string;
  /** measured must be at most (<=) or at least (>=) limit */
  op: "<=" | ">=";
  limit: number;
  limitText: string;
  stretch?: { limit: number; text: string };
}

const meets = (t: Target, limit: number) => (t.op === "<=" ? t.measured! <= limit : t.measured! >= limit);

function cells(t: Target): string[] {
  if (t.measured === undefined || !Number.isFinite(t.measured)) return [t.name, "not run", t.limitText, t.stretch?.text ?? "", ""];
  const verdict = meets(t, t.limit) ? (t.stretch ? (meets(t, t.stretch.limit) ? "met, stretch met" : "met, stretch not met") : "met") : "NOT met";
  return [t.name, t.text(t.measured), t.limitText, t.stretch?.text ?? "", verdict];
}

const ns = (v: number) => `${v >= 0 ? "+" : ""}${round(v, 1)} ns`;
const three = (v: number) => v.toFixed(3);
const MODE_NAME: Record<Mode, string> = { file: "file read", getppid: "getppid", "tcp-raw": "TCP non-HTTP", "tcp-http": "TCP small HTTP", "unix-raw": "unix non-HTTP", "unix-http": "unix small HTTP", "iov-1": "1 segment", "iov-3": "3 segments", "iov-32": "32 segments" };
const PATH_NAME: Record<PathName, string> = { static: "256-byte file", status: "`return 204`" };

export function targets(results: Record<string, unknown>): Target[] {
  const sys = results.syscalls as SyscallSummary | undefined;
  const e2e = results.e2e as E2eSummary | undefined;
  const agent = results.agent as AgentSummary | undefined;
  const startup = results.startup as StartupResult | undefined;
  const added = (mode: Mode, v: string) => sys?.addedNs[mode]?.[v];
  const addedRatio = (mode: Mode, pair: string) => sys?.addedRatio[mode]?.[pair];
  const list: Target[] = [];

  for (const mode of ["file", "getppid"] as const)
    list.push({ name: `non-socket syscall, ${MODE_NAME[mode]}: plugin's added ns over none`, measured: added(mode, "plugin"), text: ns, op: "<=", limit: 5, limitText: "<= 5 ns" });
  list.push(
    { name: "per TCP call, non-HTTP bytes: plugin's added / floor's added", measured: addedRatio("tcp-raw", "plugin/floor"), text: ratio, op: "<=", limit: 2, limitText: "<= 2.00x" },
    { name: "per TCP call, small HTTP request/response: plugin's added / floor's added", measured: addedRatio("tcp-http", "plugin/floor"), text: ratio, op: "<=", limit: 4, limitText: "<= 4.00x" },
  );
  const minimum: Record<PathName, [number, number]> = { static: [0.97, 0.98], status: [0.95, 0.97] };
  for (const path of Object.keys(PATHS) as PathName[]) {
    const [limit, stretch] = minimum[path];
    list.push({
      name: `nginx wrk -t1 -c32 keep-alive, ${PATH_NAME[path]}: plugin req/s / none's`,
      measured: e2e?.rpsRatio[path].plugin,
      text: three,
      op: ">=",
      limit,
      limitText: `>= ${limit.toFixed(2)}`,
      stretch: { limit: stretch, text: `>= ${stretch.toFixed(2)}` },
    });
  }
  list.push({
    name: `nginx CPU per request at a fixed ~${e2e?.pacedTarget ?? 5000} req/s: plugin vs none`,
    measured: e2e?.paced.cpuChange.plugin,
    text: pct,
    op: "<=",
    limit: 5,
    limitText: "<= +5%",
  });
  // Socket calls, where both do their work; the non-socket rows above already ask for ~0.
  for (const mode of ["tcp-raw", "tcp-http"] as const)
    list.push({
      name: `cheaper than bpftrace per call, ${MODE_NAME[mode]}: plugin's added / bpftrace's added`,
      measured: addedRatio(mode, "plugin/bpftrace"),
      text: (v) => `${ratio(v)} (${round(added(mode, "plugin")!, 0)} vs ${round(added(mode, "bpftrace")!, 0)} ns)`,
      op: "<=",
      limit: 1,
      limitText: "<= 1.00x",
    });
  for (const mode of MODES)
    list.push({
      name: `syscall fallback no slower than before, ${MODE_NAME[mode]}: plugin-syscalls' added / previous's added`,
      measured: addedRatio(mode, "plugin-syscalls/previous"),
      text: (v) => `${ratio(v)} (${round(added(mode, "plugin-syscalls")!, 0)} vs ${round(added(mode, "previous")!, 0)} ns)`,
      op: "<=",
      limit: 1,
      limitText: "<= 1.00x",
    });
  const fallback = e2e?.pairs["plugin-syscalls/previous"];
  for (const path of Object.keys(PATHS) as PathName[])
    list.push({
      name: `syscall fallback no slower than before, nginx ${PATH_NAME[path]}: plugin-syscalls req/s / previous's`,
      measured: fallback?.rpsRatio[path],
      text: three,
      op: ">=",
      limit: 1,
      limitText: ">= 1.000",
    });
  list.push({
    name: "syscall fallback no slower than before, nginx CPU per request at the fixed rate: plugin-syscalls vs previous",
    measured: fallback?.pacedCpuChange,
    text: pct,
    op: "<=",
    limit: 0,
    limitText: "<= +0%",
  });

  // "No worse than before": the product's median against the previous product's in the same run.
  const vsPrevious = (name: string, mine: number | undefined, theirs: number | undefined, unit: string, digits: number): Target => ({
    name,
    measured: mine !== undefined && theirs !== undefined ? mine - theirs : undefined,
    text: (d) => `${round(mine!, digits)} vs ${round(theirs!, digits)} ${unit}`,
    op: "<=",
    limit: 0,
    limitText: "<= previous",
  });
  const ready = (v: string) => (startup?.socketReadyMs[v]?.length ? median(startup.socketReadyMs[v]!) : undefined);
  list.push(
    vsPrevious("start-up to first answered /report: plugin vs previous", ready("plugin"), ready("previous"), "ms", 0),
    vsPrevious("agent CPU at 10k req/s: plugin vs previous", agent?.median.plugin?.cpuPercent, agent?.median.previous?.cpuPercent, "% of a core", 2),
    vsPrevious("agent RSS at 10k req/s: plugin vs previous", agent?.median.plugin?.rssMiB, agent?.median.previous?.rssMiB, "MiB", 1),
  );
  return list;
}

export function targetsTable(results: Record<string, unknown>): string {
  return table(["target", "measured", "target", "stretch", ""], targets(results).map(cells));
}
