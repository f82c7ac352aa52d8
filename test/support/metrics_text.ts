/**
 * Reads the plugin's Prometheus text (GET /metrics on its socket) back into
 * numbers, for tests that need the full per-code breakdown the Scope report
 * leaves out (the client side's codes, the latency histograms).
 */
import { parseExposition } from "../../src/outputs/top";
import type { RunningPlugin } from "./plugin";

/** Every series of one process, by name then by the labels other than its identity (pid, comm, container_id). */
export type ProcessSeries = Map<string, number>;

/** The process's series, keyed "name" or "name{label=value,...}" without pid/comm/container_id. */
export async function processSeries(plugin: RunningPlugin, pid: number): Promise<ProcessSeries> {
  const text = await (await plugin.fetch("/metrics")).text();
  const series: ProcessSeries = new Map();
  for (const line of parseExposition(text)) {
    if (line.labels.pid !== String(pid)) continue;
    const rest = Object.entries(line.labels)
      .filter(([key]) => key !== "pid" && key !== "comm" && key !== "container_id")
      .map(([key, value]) => `${key}=${value}`);
    series.set(rest.length ? `${line.name}{${rest.join(",")}}` : line.name, line.value);
  }
  return series;
}

/** One side's counts from a process's series: requests, and responses by code. */
export function sideCounts(series: ProcessSeries, side: "server" | "client"): { requests: number; codes: Record<number, number> } {
  const prefix = side === "client" ? "http_statistics_client_" : "http_statistics_";
  const codes: Record<number, number> = {};
  for (const [key, value] of series) {
    const match = new RegExp(`^${prefix}responses_total\\{code=(\\d+)\\}$`).exec(key);
    if (match) codes[Number(match[1])] = value;
  }
  return { requests: series.get(`${prefix}requests_total`) ?? 0, codes };
}

/** One side's gRPC calls by grpc-status name (OTHER for a value that is no canonical code). */
export function grpcCounts(series: ProcessSeries, side: "server" | "client"): Record<string, number> {
  const prefix = side === "client" ? "http_statistics_client_" : "http_statistics_";
  const statuses: Record<string, number> = {};
  for (const [key, value] of series) {
    const match = new RegExp(`^${prefix}grpc_responses_total\\{grpc_status=([A-Z_]+)\\}$`).exec(key);
    if (match) statuses[match[1]!] = value;
  }
  return statuses;
}

/** Requests with a measured duration on one side (the histogram's _count), 0 when none. */
export function timedCount(series: ProcessSeries, side: "server" | "client"): number {
  return series.get(`http_statistics_${side === "client" ? "client_" : ""}request_duration_seconds_count`) ?? 0;
}

/** Seconds summed over one side's timed requests (the histogram's _sum), 0 when none. */
export function timedSum(series: ProcessSeries, side: "server" | "client"): number {
  return series.get(`http_statistics_${side === "client" ? "client_" : ""}request_duration_seconds_sum`) ?? 0;
}
