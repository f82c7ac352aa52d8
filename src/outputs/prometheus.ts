/**
 * The Prometheus exposition of the plugin's counters. Pure: the cumulative
 * totals and the loss counters in, text out; no clock, no kernel.
 *
 * Metrics are built as families of samples first and written out second,
 * so one writer serves both formats (Prometheus text 0.0.4, OpenMetrics
 * 1.0.0) and a new kind of family (latency histograms: `_bucket`, `_sum`,
 * `_count` samples) is one more family, not a new writer.
 */
import { bucketOfUs, bucketUpperUs, grpcStatusName, LATENCY_BUCKETS, LOSS_REASONS, type Side, slotMeaning } from "../kernel/kernel_abi";
import type { ProcessTotal } from "../pipeline/process_totals";

export const METRIC_PREFIX = "http_statistics_";

export type Exposition = "text" | "openmetrics";

export const CONTENT_TYPES: Record<Exposition, string> = {
  text: "text/plain; version=0.0.4; charset=utf-8",
  openmetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8",
};

/** Per process (pid, comm, container_id) or per container only (container_id), for hosts with many processes. */
export type LabelSet = "process" | "container";

export interface Sample {
  /** Appended to the family name: "_total" for counters, "" for gauges, "_bucket" etc. for histograms. */
  suffix: string;
  labels: ReadonlyArray<readonly [string, string]>;
  value: number;
}

export interface MetricFamily {
  /** Without the `_total` of counters: OpenMetrics names the family without it. */
  name: string;
  /** "info" is OpenMetrics' type for build_info-style series; the text format calls it a gauge. */
  type: "counter" | "gauge" | "info" | "histogram";
  help: string;
  samples: Sample[];
}

export interface MetricsInput {
  processes: Iterable<ProcessTotal>;
  labels: LabelSet;
  /** The kernel side's loss counters since start, by reason. */
  losses: Readonly<Record<string, number>>;
  version: string;
  capture: string;
}

/**
 * OpenMetrics when the scraper lists it (Prometheus does, first) at least
 * as preferred as anything else; otherwise the classic text format, which
 * every scraper reads.
 */
export function negotiate(accept: string | null | undefined): Exposition {
  if (!accept) return "text";
  let openmetrics = 0;
  let other = 0;
  for (const entry of accept.split(",")) {
    const [type = "", ...params] = entry.split(";").map((part) => part.trim().toLowerCase());
    const param = (key: string) => params.find((p) => p.startsWith(`${key}=`))?.slice(key.length + 1);
    const q = Number(param("q") ?? 1);
    if (!(q > 0)) continue;
    if (type === "application/openmetrics-text") {
      const version = param("version");
      if (version === undefined || version === "1.0.0") openmetrics = Math.max(openmetrics, q);
    } else other = Math.max(other, q);
  }
  return openmetrics > 0 && openmetrics >= other ? "openmetrics" : "text";
}

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function sampleLine(name: string, sample: Sample): string {
  const labels = sample.labels.map(([key, value]) => `${key}="${escapeLabelValue(value)}"`).join(",");
  return `${name}${sample.suffix}${labels ? `{${labels}}` : ""} ${sample.value}\n`;
}

const TEXT_FAMILY_SUFFIX: Record<MetricFamily["type"], string> = { counter: "_total", gauge: "", info: "_info", histogram: "" };

/** Writes families in either format; the only differences are the family's name in the metadata and the closing line. */
export function render(families: readonly MetricFamily[], format: Exposition): string {
  let out = "";
  for (const family of families) {
    const name = METRIC_PREFIX + family.name;
    // The text format names a family by its sample name, OpenMetrics without the `_total` or `_info`.
    const suffix = format === "text" ? TEXT_FAMILY_SUFFIX[family.type] : "";
    const type = format === "text" && family.type === "info" ? "gauge" : family.type;
    out += `# HELP ${name}${suffix} ${family.help}\n# TYPE ${name}${suffix} ${type}\n`;
    for (const sample of family.samples) out += sampleLine(name, sample);
  }
  return format === "openmetrics" ? `${out}# EOF\n` : out;
}

type Labels = Array<readonly [string, string]>;

/** The label set of a process, or of its container when series are per container only. */
function seriesKey(process: ProcessTotal, labelSet: LabelSet): { key: string; labels: Labels } {
  const container: Labels = process.container ? [["container_id", process.container]] : [];
  if (labelSet === "container") return { key: process.container ?? "", labels: container };
  const labels: Labels = [["pid", String(process.pid)]];
  if (process.comm) labels.push(["comm", process.comm]);
  return { key: String(process.pid), labels: [...labels, ...container] };
}

interface Series {
  labels: Labels;
  order: number | string;
  counts: Map<number, number>;
}

interface SeriesSides {
  labels: Labels;
  sides: Record<Side, SideCounts>;
}

/** One series per process, or the processes summed per container (those outside any in one series without the label). */
function groupSeries(processes: Iterable<ProcessTotal>, labelSet: LabelSet): Series[] {
  const byKey = new Map<string, Series>();
  for (const process of processes) {
    const { key, labels } = seriesKey(process, labelSet);
    let series = byKey.get(key);
    if (!series) byKey.set(key, (series = { labels, order: labelSet === "process" ? process.pid : key, counts: new Map() }));
    for (const [slot, count] of process.counts) series.counts.set(slot, (series.counts.get(slot) ?? 0) + count);
  }
  return [...byKey.values()].sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
}

/**
 * A number as OpenMetrics wants it in "le" labels: Go's shortest %g, with
 * ".0" when that has neither a point nor an exponent ("1.0", "2.5",
 * "0.0001", "1e-05"). Prometheus stores the label as written, so both
 * formats use this one: the series are the same whichever one a scrape
 * negotiated.
 */
export function canonicalNumber(value: number): string {
  if (value === Infinity) return "+Inf";
  const [digits, power] = value.toExponential().split("e") as [string, string];
  const exponent = Number(power);
  // %g switches to an exponent below 1e-4 and, for the shortest digits, from 1e+06.
  const text = exponent < -4 || exponent >= 6 ? `${digits}e${exponent < 0 ? "-" : "+"}${String(Math.abs(exponent)).padStart(2, "0")}` : String(value);
  return /[.e]/.test(text) ? text : `${text}.0`;
}

/**
 * The histograms' upper bounds: 1, 2.5 and 5 x 10^k seconds from 10 us to
 * 100 s. Each is the lower edge of a kernel bucket, so each cumulative
 * count is exact, not interpolated: a request counts under "le" when its
 * bucket ends at or below the bound, that is when it took less than the
 * bound (one exactly as long, to the nanosecond, counts in the next).
 */
export const HISTOGRAM_BOUNDS_US: readonly number[] = [
  ...[10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000].flatMap((unit) => [unit, 2.5 * unit, 5 * unit]),
  100_000_000,
];
const LE_LABELS = [...HISTOGRAM_BOUNDS_US.map((us) => canonicalNumber(us / 1e6)), "+Inf"];

/** For each kernel bucket, the first bound its requests count under (HISTOGRAM_BOUNDS_US.length for +Inf only). */
const BOUND_OF_BUCKET = Uint8Array.from({ length: LATENCY_BUCKETS }, (_, bucket) => {
  const index = HISTOGRAM_BOUNDS_US.findIndex((bound) => bucketUpperUs(bucket) <= bound);
  return index === -1 ? HISTOGRAM_BOUNDS_US.length : index;
});

/** Whether every bound is a kernel bucket edge (test/unit/prometheus.test.ts checks it). */
export const boundsAreBucketEdges = () => HISTOGRAM_BOUNDS_US.every((us) => bucketUpperUs(bucketOfUs(us) - 1) === us);

/** One side (server or client) of one series, gathered from its slots. */
interface SideCounts {
  requests?: number;
  responses: Array<[status: number, count: number]>;
  /** gRPC calls by grpc-status (kernel_abi's GRPC_OTHER for a value that is no canonical code). */
  grpc: Array<[code: number, count: number]>;
  /** Requests per bound (cumulative once written out); undefined when none was timed. */
  perBound?: number[];
  durationNs: number;
}

function sideCounts(counts: Map<number, number>): Record<Side, SideCounts> {
  const sides: Record<Side, SideCounts> = { server: { responses: [], grpc: [], durationNs: 0 }, client: { responses: [], grpc: [], durationNs: 0 } };
  for (const [slot, count] of counts) {
    const meaning = slotMeaning(slot);
    if (!meaning) continue;
    const side = sides[meaning.side];
    if (meaning.kind === "requests") side.requests = count;
    else if (meaning.kind === "response") side.responses.push([meaning.status, count]);
    else if (meaning.kind === "grpc") side.grpc.push([meaning.code, count]);
    else if (meaning.kind === "latency_sum_ns") side.durationNs = count;
    else if (count > 0) (side.perBound ??= new Array<number>(LE_LABELS.length).fill(0))[BOUND_OF_BUCKET[meaning.bucket]!]! += count;
  }
  for (const side of Object.values(sides)) {
    side.responses.sort(([a], [b]) => a - b);
    side.grpc.sort(([a], [b]) => a - b);
  }
  return sides;
}

/** The samples of one side's four families (requests, responses, durations, gRPC calls) over every series. */
function sideSamples(series: readonly SeriesSides[], side: Side): { requests: Sample[]; responses: Sample[]; durations: Sample[]; grpc: Sample[] } {
  const requests: Sample[] = [];
  const responses: Sample[] = [];
  const durations: Sample[] = [];
  const grpc: Sample[] = [];
  for (const { labels, sides } of series) {
    const { requests: requestCount, responses: byStatus, grpc: byGrpcStatus, perBound, durationNs } = sides[side];
    if (requestCount !== undefined) requests.push({ suffix: "_total", labels, value: requestCount });
    for (const [status, count] of byStatus) responses.push({ suffix: "_total", labels: [...labels, ["code", String(status)]], value: count });
    for (const [code, count] of byGrpcStatus) grpc.push({ suffix: "_total", labels: [...labels, ["grpc_status", grpcStatusName(code)]], value: count });
    if (!perBound) continue;
    let cumulative = 0;
    perBound.forEach((count, bound) => {
      cumulative += count;
      durations.push({ suffix: "_bucket", labels: [...labels, ["le", LE_LABELS[bound]!]], value: cumulative });
    });
    durations.push({ suffix: "_sum", labels, value: durationNs / 1e9 }, { suffix: "_count", labels, value: cumulative });
  }
  return { requests, responses, durations, grpc };
}

export function metricFamilies(input: MetricsInput): MetricFamily[] {
  const series = groupSeries(input.processes, input.labels).map(({ labels, counts }) => ({ labels, sides: sideCounts(counts) }));
  const server = sideSamples(series, "server");
  const client = sideSamples(series, "client");
  const reasons = [...LOSS_REASONS, ...Object.keys(input.losses).filter((r) => !(LOSS_REASONS as readonly string[]).includes(r))];
  return [
    {
      name: "requests",
      type: "counter",
      help: "HTTP requests seen by the kernel side since the plugin started.",
      samples: server.requests,
    },
    {
      name: "responses",
      type: "counter",
      help: "HTTP responses seen since the plugin started, by status code.",
      samples: server.responses,
    },
    {
      name: "request_duration_seconds",
      type: "histogram",
      help: "Requests served, by time from the read of their first byte to the send of their response's last byte.",
      samples: server.durations,
    },
    {
      name: "client_requests",
      type: "counter",
      help: "HTTP requests the process sent since the plugin started.",
      samples: client.requests,
    },
    {
      name: "client_responses",
      type: "counter",
      help: "HTTP responses the process received since the plugin started, by status code.",
      samples: client.responses,
    },
    {
      name: "client_request_duration_seconds",
      type: "histogram",
      help: "Requests sent, by time from the send of their first byte to the read of their response's last byte.",
      samples: client.durations,
    },
    {
      name: "grpc_responses",
      type: "counter",
      help: "gRPC calls answered since the plugin started, by the grpc-status sent (OTHER: not a canonical code).",
      samples: server.grpc,
    },
    {
      name: "client_grpc_responses",
      type: "counter",
      help: "gRPC calls the process made since the plugin started, by the grpc-status received (OTHER: not a canonical code).",
      samples: client.grpc,
    },
    {
      name: "events_not_counted",
      type: "counter",
      help: "Requests or responses the kernel side saw but could not count, by reason.",
      samples: reasons.map((reason) => ({ suffix: "_total", labels: [["reason", reason]], value: input.losses[reason] ?? 0 })),
    },
    {
      name: "build",
      type: "info",
      help: "Always 1: the plugin's version and the capture it loaded.",
      samples: [{ suffix: "_info", labels: [["version", input.version], ["capture", input.capture]], value: 1 }],
    },
  ];
}

export function buildMetrics(input: MetricsInput, format: Exposition): string {
  return render(metricFamilies(input), format);
}
