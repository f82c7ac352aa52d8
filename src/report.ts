/**
 * The Scope plugin report, built from the collector's window. Pure: same
 * input, same JSON; no clock, no kernel. The rules it follows are the real
 * probe's (shared/PROTOCOL.md); test/unit/protocol.test.ts checks them.
 */
import type { Tick } from "./collector";
import { LOSS_REASONS, REQUEST_SLOT, type LossReason } from "./kernel_abi";

export const PLUGIN_ID = "http-statistics";

/** Status codes with a metric of their own, as in the original plugin. */
export const TRACKED_CODES = [100, 200, 201, 202, 204, 308, 400, 401, 403, 404, 408, 451, 500, 501, 502, 503] as const;
const TRACKED = new Set<number>(TRACKED_CODES);

export const REQUESTS_METRIC = "http_requests_per_second";
export const OTHERS_METRIC = "http_OTHERS_responses_per_second";

export function responseMetricId(code: number): string {
  return TRACKED.has(code) ? `http_${code}_responses_per_second` : OTHERS_METRIC;
}

export function metricIdForSlot(slot: number): string {
  return slot === REQUEST_SLOT ? REQUESTS_METRIC : responseMetricId(slot);
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
  inflight_table_full: "in-flight syscall table full",
  read_fault: "unreadable user memory",
  parse_budget: "header bytes over parse budget",
  iovec_limit: "iovec segments over limit",
  desync: "lost place in a connection",
  head_queue_full: "HEAD beyond 64 pipelined",
  unsolicited_response: "status line answering nothing",
  passed_fd_limit: "descriptors passed over limit",
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
  const perPid = new Map<number, Map<string, number[]>>();
  ticks.forEach((tick, index) => {
    for (const [pid, slots] of tick.deltas) {
      let metrics = perPid.get(pid);
      if (!metrics) perPid.set(pid, (metrics = new Map()));
      for (const [slot, count] of slots) {
        const id = metricIdForSlot(slot);
        let series = metrics.get(id);
        if (!series) metrics.set(id, (series = new Array(ticks.length).fill(0)));
        series[index]! += count;
      }
    }
  });
  return perPid;
}

function toMetric(series: number[], ticks: readonly Tick[]): Metric {
  return {
    samples: series.map((value, index) => ({ date: new Date(ticks[index]!.time).toISOString(), value })),
    min: Math.min(...series),
    max: Math.max(...series),
  };
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
    Plugins: [
      {
        id: PLUGIN_ID,
        label: "HTTP Statistics",
        description: input.description ?? "Adds HTTP request and response-code rates to processes, measured in the kernel with eBPF",
        interfaces: ["reporter"],
        api_version: "1",
      },
    ],
  };
}
