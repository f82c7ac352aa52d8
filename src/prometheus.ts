/**
 * The Prometheus exposition of the plugin's counters. Pure: the cumulative
 * totals and the loss counters in, text out; no clock, no kernel.
 *
 * Metrics are built as families of samples first and written out second,
 * so one writer serves both formats (Prometheus text 0.0.4, OpenMetrics
 * 1.0.0) and a new kind of family (latency histograms: `_bucket`, `_sum`,
 * `_count` samples) is one more family, not a new writer.
 */
import { LOSS_REASONS, REQUEST_SLOT } from "./kernel_abi";
import type { ProcessTotal } from "./process_totals";

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
  type: "counter" | "gauge" | "info";
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

const TEXT_FAMILY_SUFFIX: Record<MetricFamily["type"], string> = { counter: "_total", gauge: "", info: "_info" };

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

export function metricFamilies(input: MetricsInput): MetricFamily[] {
  const series = groupSeries(input.processes, input.labels);
  const requests: Sample[] = [];
  const responses: Sample[] = [];
  for (const { labels, counts } of series) {
    const requestCount = counts.get(REQUEST_SLOT);
    if (requestCount !== undefined) requests.push({ suffix: "_total", labels, value: requestCount });
    const codes = [...counts.keys()].filter((slot) => slot !== REQUEST_SLOT).sort((a, b) => a - b);
    for (const code of codes) responses.push({ suffix: "_total", labels: [...labels, ["code", String(code)]], value: counts.get(code)! });
  }
  const reasons = [...LOSS_REASONS, ...Object.keys(input.losses).filter((r) => !(LOSS_REASONS as readonly string[]).includes(r))];
  return [
    {
      name: "requests",
      type: "counter",
      help: "HTTP requests seen by the kernel side since the plugin started.",
      samples: requests,
    },
    {
      name: "responses",
      type: "counter",
      help: "HTTP responses seen since the plugin started, by status code.",
      samples: responses,
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
