/** The targets, each against what this run measured. */
import type { AgentResult } from "./agent";
import type { E2eSummary } from "./e2e";
import { median, ratio, round, table } from "./lib/common";
import type { ReportPoint } from "./report_path";
import type { StartupResult } from "./startup";
import type { SyscallSummary } from "./syscalls";

type Row = [string, string, string, string];

function row(name: string, measured: number | undefined, limit: number, text: (v: number) => string, limitText: string): Row {
  if (measured === undefined || !Number.isFinite(measured)) return [name, "not run", limitText, ""];
  if (!Number.isFinite(limit)) return [name, text(measured), limitText, ""];
  return [name, text(measured), limitText, measured <= limit ? "met" : "NOT met"];
}

export function targetsTable(results: Record<string, unknown>): string {
  const sys = results.syscalls as SyscallSummary | undefined;
  const e2e = results.e2e as E2eSummary | undefined;
  const agent = (results.agent as AgentResult[] | undefined)?.find((r) => r.variant === "plugin");
  const report = results.report as ReportPoint[] | undefined;
  const startup = results.startup as StartupResult | undefined;
  const at = (n: number) => report?.find((p) => p.processes === n && p.build === "this build")?.p99ms;
  const loss = (path: "static" | "status") => (e2e ? -e2e.throughputChange[path].plugin! : undefined);
  const rows: Row[] = [
    row("added cost per syscall / floor's, non-HTTP TCP", sys?.pluginOverFloor["tcp-raw"], 1.5, ratio, "<= 1.50x"),
    row("added cost per syscall / floor's, regular file", sys?.pluginOverFloor.file, 1.5, ratio, "<= 1.50x"),
    row("added cost per syscall / floor's, HTTP", sys?.pluginOverFloor["tcp-http"], 3, ratio, "<= 3.00x"),
    row("nginx throughput loss, static file", loss("static"), 3, (v) => `${round(v, 1)}%`, "<= 3%"),
    row("nginx throughput loss, status-only", loss("status"), 3, (v) => `${round(v, 1)}%`, "<= 3%"),
    row("nginx CPU per request at a fixed rate", e2e?.paced.cpuChange.plugin, 3, (v) => `${v >= 0 ? "+" : ""}${round(v, 1)}%`, "<= +3%"),
    row("  same, plugin vs floor (static / status)", e2e ? 0 : undefined, NaN, () => `${round(-e2e!.pluginVsFloor.rps.static, 1)}% / ${round(-e2e!.pluginVsFloor.rps.status, 1)}%`, "(where the cost lies)"),
    row("  CPU per request, plugin vs floor", e2e?.pluginVsFloor.pacedCpu, NaN, (v) => `${v >= 0 ? "+" : ""}${round(v, 1)}%`, "(where the cost lies)"),
    row("agent CPU at 10k req/s", agent?.cpuPercent, 1, (v) => `${round(v, 2)}% of a core`, "< 1%"),
    row("agent RSS at 10k req/s", agent?.rssMiB, 64, (v) => `${round(v, 1)} MiB`, "< 64 MiB"),
    row("/report p99 at 1,000 processes", at(1000), 10, (v) => `${round(v, 2)} ms`, "< 10 ms"),
    row("/report p99 at 10,000 processes", at(10000), 100, (v) => `${round(v, 1)} ms`, "< 100 ms"),
    row("socket ready after start", startup ? median(startup.socketReadyMs) : undefined, 300, (v) => `${round(v, 0)} ms`, "< 300 ms"),
  ];
  if (sys) {
    for (const mode of ["tcp-raw", "tcp-http", "file"] as const) {
      const plugin = sys.addedNs[mode]!.plugin!;
      const bt = sys.addedNs[mode]!.bpftrace;
      rows.push(row(`plugin vs bpftrace added ns per call, ${mode}`, bt === undefined ? undefined : plugin / bt, 1, (v) => `${round(plugin, 0)} vs ${round(bt!, 0)} ns (${ratio(v)})`, "< 1.00x"));
    }
  }
  return table(["target", "measured", "target", ""], rows);
}
