/**
 * The Scope plugin report, built from the collector's window. Pure: same
 * input, same JSON; no clock, no kernel. The rules it follows are the real
 * probe's (shared/PROTOCOL.md); test/unit/protocol.test.ts checks them.
 */
import type { Tick } from "./collector";
import { LOSS_REASONS, REQUEST_SLOT, STATUS_MAX, type LossReason } from "./kernel_abi";

export const PLUGIN_ID = "http-statistics";

/** Status codes with a metric of their own, as in the original plugin. */
export const TRACKED_CODES = [100, 200, 201, 202, 204, 308, 400, 401, 403, 404, 408, 451, 500, 501, 502, 503] as const;
const TRACKED = new Set<number>(TRACKED_CODES);

export const REQUESTS_METRIC = "http_requests_per_second";
export const OTHERS_METRIC = "http_OTHERS_responses_per_second";

export function responseMetricId(code: number): string {
  return TRACKED.has(code) ? `http_${code}_responses_per_second` : OTHERS_METRIC;
}

/** Metric id of every counter slot, made once: the report asks for one per sample. */
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

/** Requests first, then codes in ascending order, OTHERS last (lower priority shows first). */
export const METRIC_TEMPLATES: Record<string, MetricTemplate> = Object.fromEntries(
  [
    { id: REQUESTS_METRIC, label: "HTTP Req/Second" },
    ...TRACKED_CODES.map((code) => ({ id: responseMetricId(code), label: `HTTP Resp ${code}/Second` })),
    { id: OTHERS_METRIC, label: "HTTP Resp OTHERS/Second" },
  ].map((template, index) => [
    template.id,
    { ...template, format: "", priority: Math.round((0.1 + index * 0.01) * 100) / 100 },
  ]),
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

export interface ReportInput {
  hostId: string;
  /** The collector's window, oldest first. */
  ticks: readonly Tick[];
  description?: string;
  /** The kernel side's loss counters (since start) and when they were read, ms since the epoch. */
  losses?: { counts: Record<LossReason, number>; time: number };
}

/** What each loss reason means, for the Host panel. */
export const LOSS_LABELS: Record<LossReason, string> = {
  conn_table_full: "connection table full",
  counter_table_full: "counter table full",
  read_fault: "unreadable user memory",
  parse_budget: "header bytes over parse budget",
  iovec_limit: "iovec segments over limit",
  desync: "lost place in a connection",
  head_queue_full: "HEAD beyond 64 pipelined",
  unsolicited_response: "status line answering nothing",
  io_uring: "I/O through io_uring",
  mmsg: "recvmmsg/sendmmsg on TCP",
  unknown_call: "socket I/O from another syscall",
  unreadable: "file bytes outside a body",
};

export const LOSSES_TOTAL_ID = "http_statistics_losses";
export const lossMetadataId = (reason: LossReason) => `http_statistics_losses_${reason}`;

/**
 * Plugin-level metadata, on the Host node `<hostID>;<host>` (the id the
 * probe gives its own host node, so the two merge): the total of the
 * kernel side's counted losses always, and each reason once it is non-zero.
 */
export const LOSS_METADATA_TEMPLATES: Record<string, { id: string; label: string; dataType: string; priority: number; from: string }> =
  Object.fromEntries(
    [
      { id: LOSSES_TOTAL_ID, label: "HTTP stats: events not counted" },
      ...LOSS_REASONS.map((reason) => ({ id: lossMetadataId(reason), label: `HTTP stats lost: ${LOSS_LABELS[reason]}` })),
    ].map((t, index) => [t.id, { ...t, dataType: "number", priority: 20 + index, from: "latest" }]),
  );

function lossNode(hostId: string, losses: NonNullable<ReportInput["losses"]>) {
  const timestamp = new Date(losses.time).toISOString();
  const total = LOSS_REASONS.reduce((sum, reason) => sum + losses.counts[reason], 0);
  const latest: Record<string, { timestamp: string; value: string }> = { [LOSSES_TOTAL_ID]: { timestamp, value: String(total) } };
  for (const reason of LOSS_REASONS)
    if (losses.counts[reason] > 0) latest[lossMetadataId(reason)] = { timestamp, value: String(losses.counts[reason]) };
  const id = `${hostId};<host>`;
  return { [id]: { id, topology: "host", latest } };
}

/**
 * One metric per (process, metric id) that was non-zero somewhere in the
 * window, with a sample for every tick so the sparkline falls back to zero.
 */
export function processMetrics(ticks: readonly Tick[]): Map<number, Map<string, number[]>> {
  return drain(processMetricsSteps(ticks));
}

/** processMetrics, pausing after each tick of the window. */
function* processMetricsSteps(ticks: readonly Tick[]): Generator<void, Map<number, Map<string, number[]>>> {
  const perPid = new Map<number, Map<string, number[]>>();
  for (let index = 0; index < ticks.length; index++) {
    if (index > 0) yield;
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

function drain<T>(steps: Generator<void, T>): T {
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}

function toMetric(series: number[], ticks: readonly Tick[]): Metric {
  return {
    samples: series.map((value, index) => ({ date: new Date(ticks[index]!.time).toISOString(), value })),
    min: Math.min(...series),
    max: Math.max(...series),
  };
}

function pluginDescriptor(description?: string) {
  return {
    id: PLUGIN_ID,
    label: "HTTP Statistics",
    description: description ?? "Adds HTTP request and response-code rates to processes, measured in the kernel with eBPF",
    interfaces: ["reporter"],
    api_version: "1",
  };
}

const TEMPLATES_JSON = JSON.stringify(METRIC_TEMPLATES);

/**
 * JSON.stringify(buildReport(input)), character for character, written
 * straight into a string: at 10,000 processes the object graph (and one
 * Date per sample) made building the report the plugin's main cost and held
 * /report requests up while it ran. Each tick's date is formatted once.
 */
export function renderReport(input: ReportInput): string {
  return drain(renderReportSteps(input, Infinity));
}

/**
 * renderReport in steps (one per tick of the window while gathering, then
 * one per `processesPerStep` nodes): the caller can let the event loop
 * answer /report (with the previous body) between two steps.
 */
export function* renderReportSteps(input: ReportInput, processesPerStep: number): Generator<void, string> {
  const samplePrefix = input.ticks.map((tick, i) => `${i ? "," : ""}{"date":${JSON.stringify(new Date(tick.time).toISOString())},"value":`);
  const perPid = [...(yield* processMetricsSteps(input.ticks))].sort(([a], [b]) => a - b);
  if (Number.isFinite(processesPerStep)) yield;
  const nodes: string[] = new Array(perPid.length);
  for (let n = 0; n < perPid.length; n++) {
    if (n > 0 && n % processesPerStep === 0) yield;
    const [pid, metrics] = perPid[n]!;
    const id = JSON.stringify(`${input.hostId};${pid}`);
    const parts: string[] = [];
    for (const [metricId, series] of metrics) {
      let samples = "";
      let min = Infinity;
      let max = -Infinity;
      for (let i = 0; i < series.length; i++) {
        const value = series[i]!;
        samples += `${samplePrefix[i]}${value}}`;
        if (value < min) min = value;
        if (value > max) max = value;
      }
      parts.push(`${JSON.stringify(metricId)}:{"samples":[${samples}],"min":${min},"max":${max}}`);
    }
    nodes[n] = `${id}:{"id":${id},"topology":"process","metrics":{${parts.join(",")}}}`;
  }
  const host = input.losses
    ? `"Host":${JSON.stringify({ nodes: lossNode(input.hostId, input.losses), metadata_templates: LOSS_METADATA_TEMPLATES })},`
    : "";
  return `{"Process":{"nodes":{${nodes.join(",")}},"metric_templates":${TEMPLATES_JSON}},${host}"Plugins":${JSON.stringify([pluginDescriptor(input.description)])}}`;
}

export function buildReport(input: ReportInput) {
  const nodes: Record<string, unknown> = {};
  const perPid = [...processMetrics(input.ticks)].sort(([a], [b]) => a - b);
  for (const [pid, metrics] of perPid) {
    const id = `${input.hostId};${pid}`;
    nodes[id] = {
      id,
      topology: "process",
      metrics: Object.fromEntries([...metrics].map(([metricId, series]) => [metricId, toMetric(series, input.ticks)])),
    };
  }
  return {
    Process: { nodes, metric_templates: METRIC_TEMPLATES },
    ...(input.losses && {
      Host: { nodes: lossNode(input.hostId, input.losses), metadata_templates: LOSS_METADATA_TEMPLATES },
    }),
    Plugins: [pluginDescriptor(input.description)],
  };
}
