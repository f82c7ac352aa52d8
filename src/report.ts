/**
 * The Scope plugin report, built from the collector's window. Pure: same
 * input, same JSON; no clock, no kernel. The rules it follows are the real
 * probe's (shared/PROTOCOL.md); test/unit/protocol.test.ts checks them.
 *
 * The same metrics go on three topologies, each merging with the node Scope
 * already has: a process (`<host>;<pid>`), its container
 * (`<container id>;<container>`, summed over the container's processes) and
 * the host (`<host>;<host>`, summed over all processes, beside what the
 * kernel side could not count).
 */
import type { Tick } from "./collector";
import { REQUEST_SLOT, STATUS_MAX } from "./kernel_abi";

export const PLUGIN_ID = "http-statistics";
/** Short, as Scope's footer tooltip shows it on one line centred on the plugin's name. */
export const PLUGIN_DESCRIPTION = "HTTP request and response rates (eBPF)";

/** Status codes with a metric of their own, as in the original plugin. */
export const TRACKED_CODES = [100, 200, 201, 202, 204, 308, 400, 401, 403, 404, 408, 451, 500, 501, 502, 503] as const;
const TRACKED = new Set<number>(TRACKED_CODES);

export const REQUESTS_METRIC = "http_requests_per_second";
export const OTHERS_METRIC = "http_OTHERS_responses_per_second";

export function responseMetricId(code: number): string {
  return TRACKED.has(code) ? `http_${code}_responses_per_second` : OTHERS_METRIC;
}

/** Metric id of every counter slot, made once: the report asks for one per count. */
const METRIC_ID_BY_SLOT: string[] = Array.from({ length: STATUS_MAX + 1 }, (_, slot) =>
  slot === REQUEST_SLOT ? REQUESTS_METRIC : responseMetricId(slot),
);

export function metricIdForSlot(slot: number): string {
  return METRIC_ID_BY_SLOT[slot] ?? OTHERS_METRIC;
}

export interface MetricTemplate {
  id: string;
  label: string;
  format: string;
  priority: number;
}

/**
 * Scope's detail panel shows the three metrics of lowest priority and hides
 * the rest behind "+N". Its own are CPU (1) and memory (2) on processes,
 * containers and hosts, then open files (3) on processes and load (11) on
 * hosts: requests come third, response codes after Scope's own. Counts per
 * second are whole numbers ("integer" format, not "17.00").
 */
export const REQUESTS_PRIORITY = 2.5;
const FIRST_RESPONSE_PRIORITY = 20;

/** Requests first, then codes in ascending order, OTHERS last (lower priority shows first). */
export const METRIC_TEMPLATES: Record<string, MetricTemplate> = Object.fromEntries(
  [
    { id: REQUESTS_METRIC, label: "HTTP Req/Second", priority: REQUESTS_PRIORITY },
    ...TRACKED_CODES.map((code, index) => ({
      id: responseMetricId(code),
      label: `HTTP Resp ${code}/Second`,
      priority: FIRST_RESPONSE_PRIORITY + index,
    })),
    { id: OTHERS_METRIC, label: "HTTP Resp OTHERS/Second", priority: FIRST_RESPONSE_PRIORITY + TRACKED_CODES.length },
  ].map(({ id, label, priority }) => [id, { id, label, format: "integer", priority }]),
);

export interface Sample {
  date: string;
  value: number;
}

export interface Metric {
  samples: Sample[];
  min: number;
  max: number;
}

/** Counts per metric id, one per tick of the window. */
export type Series = Map<string, number[]>;

export interface ReportInput {
  hostId: string;
  /** The collector's window, oldest first: each report carries these samples. */
  ticks: readonly Tick[];
  /** The container a process runs in; undefined (or absent) for processes outside containers. */
  containerOf?: (pid: number) => string | undefined;
  description?: string;
  /** The kernel side's loss counters (since start) by reason, and when they were read, ms since the epoch. */
  losses?: { counts: Readonly<Record<string, number>>; time: number };
}

/** What each loss reason means, short enough for the label column of Scope's host panel. */
export const LOSS_LABELS: Record<string, string> = {
  conn_table_full: "connection table full",
  counter_table_full: "counter table full",
  read_fault: "unreadable memory",
  parse_budget: "over parse budget",
  iovec_limit: "too many iovecs",
  desync: "lost place in stream",
  head_queue_full: "HEAD queue full",
  unsolicited_response: "unsolicited response",
  io_uring: "I/O via io_uring",
  mmsg: "recvmmsg/sendmmsg",
  unknown_call: "unknown syscall",
  unreadable: "file bytes unseen",
};

export const LOSSES_TOTAL_KEY = "http_statistics_not_counted";
const LOSS_KEY_PREFIX = `${LOSSES_TOTAL_KEY}_`;
export const lossKey = (reason: string) => `${LOSS_KEY_PREFIX}${reason}`;

/**
 * The losses as a table of their own on the host panel: its rows get half
 * the panel for their labels (metadata rows get 30%, which cut every loss
 * label to "HTTP stats los..."). Known reasons get a readable label; a
 * reason this table does not know still shows, under its own name.
 */
export const LOSS_TABLE_TEMPLATES = {
  [LOSSES_TOTAL_KEY]: {
    id: LOSSES_TOTAL_KEY,
    label: "HTTP statistics: events not counted",
    type: "property-list",
    prefix: LOSS_KEY_PREFIX,
    fixedRows: {
      [LOSSES_TOTAL_KEY]: "total",
      ...Object.fromEntries(Object.entries(LOSS_LABELS).map(([reason, label]) => [lossKey(reason), label])),
    },
  },
};

/**
 * Per process, one series per metric id that was non-zero somewhere in the
 * window, with a count for every tick so the sparkline falls back to zero.
 */
export function processMetrics(ticks: readonly Tick[]): Map<number, Series> {
  const perPid = new Map<number, Series>();
  for (let index = 0; index < ticks.length; index++) {
    for (const [pid, slots] of ticks[index]!.deltas) {
      let metrics = perPid.get(pid);
      if (!metrics) perPid.set(pid, (metrics = new Map()));
      for (const [slot, count] of slots) {
        const id = metricIdForSlot(slot);
        let series = metrics.get(id);
        if (!series) metrics.set(id, (series = new Array<number>(ticks.length).fill(0)));
        series[index] = series[index]! + count;
      }
    }
  }
  return perPid;
}

/** Adds every series of `from` into `into`, tick by tick. */
function addSeries(into: Series, from: Series): void {
  for (const [id, counts] of from) {
    const sum = into.get(id);
    if (!sum) into.set(id, counts.slice());
    else for (let i = 0; i < counts.length; i++) sum[i]! += counts[i]!;
  }
}

function toMetrics(series: Series, dates: readonly string[]): Record<string, Metric> {
  const metrics: Record<string, Metric> = {};
  for (const [id, counts] of series) {
    let min = Infinity;
    let max = -Infinity;
    const samples = new Array<Sample>(counts.length);
    for (let i = 0; i < counts.length; i++) {
      const value = counts[i]!;
      samples[i] = { date: dates[i]!, value };
      if (value < min) min = value;
      if (value > max) max = value;
    }
    metrics[id] = { samples, min, max };
  }
  return metrics;
}

function lossLatest(losses: NonNullable<ReportInput["losses"]>) {
  const timestamp = new Date(losses.time).toISOString();
  const reasons = Object.entries(losses.counts);
  const total = reasons.reduce((sum, [, count]) => sum + count, 0);
  const latest: Record<string, { timestamp: string; value: string }> = { [LOSSES_TOTAL_KEY]: { timestamp, value: String(total) } };
  for (const [reason, count] of reasons) if (count > 0) latest[lossKey(reason)] = { timestamp, value: String(count) };
  return latest;
}

export function buildReport(input: ReportInput) {
  const dates = input.ticks.map((tick) => new Date(tick.time).toISOString());
  const perPid = [...processMetrics(input.ticks)].sort(([a], [b]) => a - b);
  const processNodes: Record<string, unknown> = {};
  const perContainer = new Map<string, Series>();
  const hostSeries: Series = new Map();
  for (const [pid, series] of perPid) {
    const id = `${input.hostId};${pid}`;
    processNodes[id] = { id, topology: "process", metrics: toMetrics(series, dates) };
    const container = input.containerOf?.(pid);
    if (container) {
      let sum = perContainer.get(container);
      if (!sum) perContainer.set(container, (sum = new Map()));
      addSeries(sum, series);
    }
    addSeries(hostSeries, series);
  }
  const containerNodes: Record<string, unknown> = {};
  for (const [container, series] of [...perContainer].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const id = `${container};<container>`;
    containerNodes[id] = { id, topology: "container", metrics: toMetrics(series, dates) };
  }
  const hostNodes: Record<string, unknown> = {};
  if (hostSeries.size > 0 || input.losses) {
    const id = `${input.hostId};<host>`;
    hostNodes[id] = {
      id,
      topology: "host",
      ...(input.losses && { latest: lossLatest(input.losses) }),
      ...(hostSeries.size > 0 && { metrics: toMetrics(hostSeries, dates) }),
    };
  }
  return {
    Process: { nodes: processNodes, metric_templates: METRIC_TEMPLATES },
    Container: { nodes: containerNodes, metric_templates: METRIC_TEMPLATES },
    Host: { nodes: hostNodes, metric_templates: METRIC_TEMPLATES, table_templates: LOSS_TABLE_TEMPLATES },
    Plugins: [
      {
        id: PLUGIN_ID,
        label: "HTTP Statistics",
        description: input.description ?? PLUGIN_DESCRIPTION,
        interfaces: ["reporter"],
        api_version: "1",
      },
    ],
  };
}
