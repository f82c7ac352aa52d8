/**
 * What every accuracy case shares: the expected metric totals of a plan of
 * status codes, the per-pid comparison with /report, and the table of
 * results (printed after each file, and kept in build/accuracy/ so the
 * README's table comes from a real run).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REQUESTS_METRIC, responseMetricId } from "../../src/outputs/report";
import { REPO, totals, type RunningPlugin, type ScopeReport } from "../support/plugin";

export type Totals = Record<string, number>;

/** Metric totals a plan produces: one request per final response, 1xx codes as extra responses. */
export function expectedTotals(plan: Record<number, number>, interim: Record<number, number> = {}): Totals {
  const expected: Totals = {};
  const add = (id: string, n: number) => {
    if (n) expected[id] = (expected[id] ?? 0) + n;
  };
  for (const [code, n] of Object.entries(plan)) {
    add(REQUESTS_METRIC, n);
    add(responseMetricId(Number(code)), n);
  }
  for (const [code, n] of Object.entries(interim)) add(responseMetricId(Number(code)), n);
  return expected;
}

export function sumTotals(list: Totals[]): Totals {
  const sum: Totals = {};
  for (const t of list) for (const [id, n] of Object.entries(t)) sum[id] = (sum[id] ?? 0) + n;
  return sum;
}

/** Totals over the window, summed over pids. */
export function countedFor(plugin: RunningPlugin, report: ScopeReport, pids: number[]): Totals {
  return sumTotals(pids.map((pid) => totals(report, plugin.hostId, pid)));
}

export interface Row {
  case: string;
  server: string;
  client: string;
  syscalls: string;
  sent: Totals;
  counted: Totals;
}

function requests(t: Totals): number {
  return t[REQUESTS_METRIC] ?? 0;
}
function responses(t: Totals): number {
  return Object.entries(t).reduce((sum, [id, n]) => (id === REQUESTS_METRIC ? sum : sum + n), 0);
}

/** Every metric's miss or excess, relative to everything expected. */
export function errorPercent(row: Pick<Row, "sent" | "counted">): number {
  const ids = new Set([...Object.keys(row.sent), ...Object.keys(row.counted)]);
  let wrong = 0;
  for (const id of ids) wrong += Math.abs((row.counted[id] ?? 0) - (row.sent[id] ?? 0));
  const all = requests(row.sent) + responses(row.sent);
  return all === 0 ? (wrong === 0 ? 0 : 100) : (100 * wrong) / all;
}

export class AccuracyTable {
  readonly rows: Row[] = [];
  constructor(readonly name: string) {}

  add(row: Row): void {
    this.rows.push(row);
  }

  markdown(): string {
    const lines = [
      "| case | server | client | syscalls | requests sent | counted | responses sent | counted | error % |",
      "|---|---|---|---|---:|---:|---:|---:|---:|",
    ];
    for (const r of this.rows)
      lines.push(
        `| ${r.case} | ${r.server} | ${r.client} | ${r.syscalls} | ${requests(r.sent)} | ${requests(r.counted)} | ${responses(r.sent)} | ${responses(r.counted)} | ${errorPercent(r).toFixed(2)} |`,
      );
    return lines.join("\n");
  }

  /** Prints the table and keeps it under build/accuracy/<name>.md. */
  flush(): void {
    if (this.rows.length === 0) return;
    const dir = join(REPO, "build", "accuracy");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${this.name}.md`), `${this.markdown()}\n`);
    process.stdout.write(`\naccuracy: ${this.name}\n${this.markdown()}\n`);
  }
}

/**
 * Per-case counts of some pids from one long-lived plugin: the difference
 * between the report after the case and the report after the previous one.
 * The plugin runs with a window longer than the whole file, so nothing
 * falls out of it between two measurements.
 */
export class Meter {
  private last: ScopeReport | undefined;
  constructor(private readonly plugin: RunningPlugin) {}

  async start(): Promise<void> {
    this.last = await this.plugin.report();
  }

  /** Waits for a report from a tick after this call, then returns what `pids` did together since the last call. */
  async measure(pids: number[]): Promise<Totals> {
    return sumTotals([...(await this.measureEach(pids)).values()]);
  }

  /** Like measure(), one entry per pid. */
  async measureEach(pids: number[]): Promise<Map<number, Totals>> {
    const now = await this.plugin.reportAfter(Date.now());
    const each = new Map<number, Totals>();
    for (const pid of pids) {
      const before = this.last ? countedFor(this.plugin, this.last, [pid]) : {};
      const after = countedFor(this.plugin, now, [pid]);
      const delta: Totals = {};
      for (const id of new Set([...Object.keys(before), ...Object.keys(after)])) {
        const n = (after[id] ?? 0) - (before[id] ?? 0);
        if (n !== 0) delta[id] = n;
      }
      each.set(pid, delta);
    }
    this.last = now;
    return each;
  }
}

/** The window every accuracy file runs its plugin with: longer than any file takes. */
export const ACCURACY_WINDOW = ["--window", "300"];

/** A loss counter as the report's Host node shows it (0 when not listed). */
export function reportedLoss(report: ScopeReport, hostId: string, id: string): number {
  const host = report.Host as { nodes?: Record<string, { latest?: Record<string, { value: string }> }> } | undefined;
  const value = host?.nodes?.[`${hostId};<host>`]?.latest?.[id]?.value;
  return value === undefined ? 0 : Number(value);
}
