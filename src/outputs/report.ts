/**
 * The Scope plugin report: each tick summarized once, when the collector
 * makes it, then the last few laid out as samples. Pure: same input, same
 * JSON; no clock, no kernel. The rules it follows are the real
 * probe's (shared/PROTOCOL.md); test/unit/protocol.test.ts checks them.
 *
 * The same metrics go on three topologies, each merging with the node Scope
 * already has: a process (`<host>;<pid>`), its container
 * (`<container id>;<container>`, summed over the container's processes) and
 * the host (`<host>;<host>`, summed over all processes, beside what the
 * kernel side could not count).
 */
import type { Tick } from "../pipeline/collector";
import { bucketLowerUs, bucketUpperUs, CLIENT_SIDE, LATENCY_BUCKETS, type Side, slotMeaning } from "../kernel/kernel_abi";

/** grpc-status 0: a call that succeeded. */
const GRPC_OK = 0;

export const PLUGIN_ID = "http-statistics";
/** Short, as Scope's footer tooltip shows it on one line centred on the plugin's name. */
export const PLUGIN_DESCRIPTION = "HTTP request and response rates (eBPF)";

/** Status codes with a metric of their own, as in the original plugin. */
export const TRACKED_CODES = [100, 200, 201, 202, 204, 308, 400, 401, 403, 404, 408, 451, 500, 501, 502, 503] as const;
const TRACKED = new Set<number>(TRACKED_CODES);

export const REQUESTS_METRIC = "http_requests_per_second";
export const OTHERS_METRIC = "http_OTHERS_responses_per_second";
export const CLIENT_REQUESTS_METRIC = "http_client_requests_per_second";
/** Responses the process received with a status of 400 or more. */
export const CLIENT_ERRORS_METRIC = "http_client_errors_per_second";
/** gRPC calls the process answered with a grpc-status other than OK. */
export const GRPC_ERRORS_METRIC = "grpc_errors_per_second";
/** gRPC calls the process made that ended with a grpc-status other than OK. */
export const GRPC_CLIENT_ERRORS_METRIC = "grpc_client_errors_per_second";

export function responseMetricId(code: number): string {
  return TRACKED.has(code) ? `http_${code}_responses_per_second` : OTHERS_METRIC;
}

/** The latency percentiles shown per side, in milliseconds: the server's spread, the client's tail only (the panel has little room). */
export const LATENCY_PERCENTILES: Record<Side, ReadonlyArray<{ id: string; percent: number }>> = {
  server: [50, 95, 99].map((percent) => ({ id: `http_latency_p${percent}_ms`, percent })),
  client: [{ id: "http_client_latency_p99_ms", percent: 99 }],
};

/** What the report makes of one counter slot: a count for a metric, a request in a latency bucket, or nothing. */
type SlotUse = { metric: string } | { side: Side; bucket: number } | undefined;

function slotUse(slot: number): SlotUse {
  const meaning = slotMeaning(slot);
  switch (meaning?.kind) {
    case "requests":
      return { metric: meaning.side === "server" ? REQUESTS_METRIC : CLIENT_REQUESTS_METRIC };
    case "response":
      if (meaning.side === "server") return { metric: responseMetricId(meaning.status) };
      return meaning.status >= 400 ? { metric: CLIENT_ERRORS_METRIC } : undefined;
    case "grpc":
      if (meaning.code === GRPC_OK) return undefined;
      return { metric: meaning.side === "server" ? GRPC_ERRORS_METRIC : GRPC_CLIENT_ERRORS_METRIC };
    case "latency_bucket":
      return { side: meaning.side, bucket: meaning.bucket };
    default:
      // The duration sums serve exporters of totals (Prometheus); a per-second mean would hide the tail.
      return undefined;
  }
}

/**
 * Every slot's use, decoded once into two flat tables (the metric it
 * counts towards, or the latency bucket it is): the report looks one up
 * per count, for 10,000 processes a second.
 */
const SLOT_USES = Array.from({ length: 2 * CLIENT_SIDE }, (_, slot) => slotUse(slot));
const METRIC_OF_SLOT: ReadonlyArray<string | undefined> = SLOT_USES.map((use) => (use && "metric" in use ? use.metric : undefined));
const BUCKET_OF_SLOT: ReadonlyArray<number | undefined> = SLOT_USES.map((use) => (use && "bucket" in use ? use.bucket : undefined));

/** The metric a slot counts towards, if any (latency buckets and duration sums count towards none). */
export function metricIdForSlot(slot: number): string | undefined {
  return METRIC_OF_SLOT[slot];
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
 * hosts: requests come third, response codes after Scope's own.
 *
 * Behind "+N", the server's p99 comes first: with the request rate it says
 * whether a process is healthy. Scope's open files keep their place (3);
 * then the rest of the latency spread, then what the process sends as a
 * client, then the gRPC calls that failed (answered, made), all before load
 * (11) and the per-code breakdown (20 on).
 *
 * Counts per second are whole numbers ("integer" format, not "17.00");
 * latencies in ms use Scope's default number format: two decimals below
 * 1,100 (0.25 ms shows as "0.25"), SI prefixes above ("1.5k").
 */
export const REQUESTS_PRIORITY = 2.5;
export const P99_PRIORITY = 2.6;
const FIRST_RESPONSE_PRIORITY = 20;

const COUNT_FORMAT = "integer";
const MILLISECONDS_FORMAT = "";

/** Requests and latency first, then codes in ascending order, OTHERS last (lower priority shows first). */
export const METRIC_TEMPLATES: Record<string, MetricTemplate> = Object.fromEntries(
  [
    { id: REQUESTS_METRIC, label: "HTTP Req/Second", priority: REQUESTS_PRIORITY },
    { id: "http_latency_p99_ms", label: "HTTP p99 Latency (ms)", format: MILLISECONDS_FORMAT, priority: P99_PRIORITY },
    { id: "http_latency_p50_ms", label: "HTTP p50 Latency (ms)", format: MILLISECONDS_FORMAT, priority: 4 },
    { id: "http_latency_p95_ms", label: "HTTP p95 Latency (ms)", format: MILLISECONDS_FORMAT, priority: 5 },
    { id: CLIENT_REQUESTS_METRIC, label: "HTTP Out Req/Second", priority: 6 },
    { id: CLIENT_ERRORS_METRIC, label: "HTTP Out Errors/Second", priority: 7 },
    { id: "http_client_latency_p99_ms", label: "HTTP Out p99 (ms)", format: MILLISECONDS_FORMAT, priority: 8 },
    { id: GRPC_ERRORS_METRIC, label: "gRPC Errors/Second", priority: 9 },
    { id: GRPC_CLIENT_ERRORS_METRIC, label: "gRPC Out Errors/Second", priority: 10 },
    ...TRACKED_CODES.map((code, index) => ({
      id: responseMetricId(code),
      label: `HTTP Resp ${code}/Second`,
      priority: FIRST_RESPONSE_PRIORITY + index,
    })),
    { id: OTHERS_METRIC, label: "HTTP Resp OTHERS/Second", priority: FIRST_RESPONSE_PRIORITY + TRACKED_CODES.length },
  ].map(({ id, label, format = COUNT_FORMAT, priority }) => [id, { id, label, format, priority }]),
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

/** A node's value of each metric in one tick: its counts, and the latency percentiles of the requests that completed in it. */
export type TickValues = Map<string, number>;

/**
 * One tick, reduced to what a report shows of it: the value of each metric
 * of each process, container and the host. Made once per tick, so a
 * report over the window only lays the values out as samples.
 */
export interface TickSummary {
  /** End of the tick, as the samples' date. */
  date: string;
  processes: Map<number, TickValues>;
  /** By container id, summed over the container's processes. */
  containers: Map<string, TickValues>;
  /** Summed over all processes. */
  host: TickValues;
}

export interface ReportInput {
  hostId: string;
  /** The window, oldest first (each tick made by summarizeTick): each report carries these samples. */
  window: readonly TickSummary[];
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
  iovec_limit: "iovec array changed",
  desync: "lost place in stream",
  head_queue_full: "HEAD queue full",
  unsolicited_response: "unsolicited response",
  io_uring: "I/O via io_uring",
  mmsg: "recvmmsg/sendmmsg",
  unknown_call: "unknown syscall",
  unreadable: "file bytes unseen",
  untimed: "response not timed",
  h2_lost: "HTTP/2 place lost",
  h2_dynamic_table: "HTTP/2 unknown entry",
  tls_undecoded: "TLS not decoded",
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

/** What one node did in one tick: a count per metric, and its timed requests per latency bucket. */
interface TickCounts {
  counts: Map<string, number>;
  latency?: Record<Side, Map<number, number>>;
}

function countsOf(slots: ReadonlyMap<number, number>): TickCounts {
  const node: TickCounts = { counts: new Map() };
  for (const [slot, count] of slots) {
    const metric = METRIC_OF_SLOT[slot];
    if (metric !== undefined) {
      node.counts.set(metric, (node.counts.get(metric) ?? 0) + count);
      continue;
    }
    const bucket = BUCKET_OF_SLOT[slot];
    if (bucket === undefined) continue;
    node.latency ??= { server: new Map(), client: new Map() };
    const histogram = slot < CLIENT_SIDE ? node.latency.server : node.latency.client;
    histogram.set(bucket, (histogram.get(bucket) ?? 0) + count);
  }
  return node;
}

function addInto<K>(into: Map<K, number>, from: ReadonlyMap<K, number>): void {
  for (const [key, count] of from) into.set(key, (into.get(key) ?? 0) + count);
}

/** Adds a node's counts into a container's or the host's: histograms add bucket by bucket, so their percentiles are of all the requests. */
function addCounts(into: TickCounts, from: TickCounts): void {
  addInto(into.counts, from.counts);
  if (!from.latency) return;
  into.latency ??= { server: new Map(), client: new Map() };
  addInto(into.latency.server, from.latency.server);
  addInto(into.latency.client, from.latency.client);
}

/**
 * The value a percentile reports for a bucket, in ms: its midpoint, or the
 * lower edge of the last, open bucket (1,000 s and more). The midpoint is
 * within half a bucket of any duration in it: 0.5 us below 100 us (buckets
 * 1 us wide), and at most 5% from 10 us up, where a bucket [m, m + 1) x 10^d
 * with m >= 10 is at most 10% wide.
 */
const BUCKET_MS: readonly number[] = Array.from({ length: LATENCY_BUCKETS }, (_, bucket) =>
  bucket === LATENCY_BUCKETS - 1 ? bucketLowerUs(bucket) / 1000 : (bucketLowerUs(bucket) + bucketUpperUs(bucket)) / 2000,
);

/** Requests per bucket, dense, for one histogram at a time: laid out here, a percentile is a walk up the buckets, with no sort. */
const scratch = new Float64Array(LATENCY_BUCKETS);

/**
 * Sets one side's latency percentiles of a tick: the nearest rank, the
 * bucket holding the ceil(p% x n)-th shortest request, reported as that
 * bucket's midpoint (BUCKET_MS). Never an average of percentiles:
 * containers and the host add histograms first. A side without a timed
 * request has no value, not a zero.
 */
function setPercentiles(values: TickValues, histogram: ReadonlyMap<number, number>, side: Side): void {
  if (histogram.size === 0) return;
  let requests = 0;
  let lowest = LATENCY_BUCKETS;
  let highest = 0;
  for (const [bucket, count] of histogram) {
    scratch[bucket] = count;
    requests += count;
    if (bucket < lowest) lowest = bucket;
    if (bucket > highest) highest = bucket;
  }
  // Ascending percents, so one walk up the buckets finds every rank.
  const percentiles = LATENCY_PERCENTILES[side];
  let p = 0;
  // percent x requests is a whole number, so the division rounds at most once and ceil is exact.
  let rank = Math.ceil((percentiles[0]!.percent * requests) / 100);
  let seen = 0;
  for (let bucket = lowest; bucket <= highest && p < percentiles.length; bucket++) {
    seen += scratch[bucket]!;
    while (p < percentiles.length && seen >= rank) {
      values.set(percentiles[p]!.id, BUCKET_MS[bucket]!);
      if (++p < percentiles.length) rank = Math.ceil((percentiles[p]!.percent * requests) / 100);
    }
  }
  scratch.fill(0, lowest, highest + 1);
}

function valuesOf(node: TickCounts): TickValues {
  const values: TickValues = new Map(node.counts);
  if (node.latency) {
    setPercentiles(values, node.latency.server, "server");
    setPercentiles(values, node.latency.client, "client");
  }
  return values;
}

/**
 * What a report shows of one tick, per process, per container (through
 * `containerOf`, undefined for processes outside containers) and for the host.
 */
export function summarizeTick(tick: Tick, containerOf?: (pid: number) => string | undefined): TickSummary {
  const processes = new Map<number, TickValues>();
  const perContainer = new Map<string, TickCounts>();
  const host: TickCounts = { counts: new Map() };
  for (const [pid, slots] of tick.deltas) {
    const counts = countsOf(slots);
    const values = valuesOf(counts);
    // Counts no metric shows (client responses under 400) make no node.
    if (values.size === 0) continue;
    processes.set(pid, values);
    const container = containerOf?.(pid);
    if (container) {
      let sum = perContainer.get(container);
      if (!sum) perContainer.set(container, (sum = { counts: new Map() }));
      addCounts(sum, counts);
    }
    addCounts(host, counts);
  }
  const containers = new Map<string, TickValues>();
  for (const [container, counts] of perContainer) containers.set(container, valuesOf(counts));
  return { date: new Date(tick.time).toISOString(), processes, containers, host: valuesOf(host) };
}

const PERCENTILE_IDS = new Set(Object.values(LATENCY_PERCENTILES).flatMap((list) => list.map(({ id }) => id)));

/**
 * A node's metrics over the window, from its values in each tick
 * (undefined where it did nothing). A count gets a sample in every tick,
 * 0 where there was none, so the sparkline falls back to zero; a
 * percentile only where a request was timed.
 */
function nodeMetrics(perTick: readonly (TickValues | undefined)[], dates: readonly string[]): Record<string, Metric> {
  const columns = new Map<string, (number | undefined)[]>();
  for (let tick = 0; tick < perTick.length; tick++) {
    const values = perTick[tick];
    if (!values) continue;
    for (const [id, value] of values) {
      let column = columns.get(id);
      if (!column) columns.set(id, (column = new Array<number | undefined>(perTick.length).fill(undefined)));
      column[tick] = value;
    }
  }
  const metrics: Record<string, Metric> = {};
  for (const [id, column] of columns) {
    const missing = PERCENTILE_IDS.has(id) ? undefined : 0;
    const samples: Sample[] = [];
    let min = Infinity;
    let max = -Infinity;
    for (let tick = 0; tick < column.length; tick++) {
      const value = column[tick] ?? missing;
      if (value === undefined) continue;
      samples.push({ date: dates[tick]!, value });
      if (value < min) min = value;
      if (value > max) max = value;
    }
    metrics[id] = { samples, min, max };
  }
  return metrics;
}

/** Each node's values tick by tick across the window, by node key; a step per tick. */
function* byNode<K>(
  window: readonly TickSummary[],
  nodesOf: (summary: TickSummary) => ReadonlyMap<K, TickValues>,
): Generator<void, Map<K, (TickValues | undefined)[]>> {
  const nodes = new Map<K, (TickValues | undefined)[]>();
  for (let tick = 0; tick < window.length; tick++) {
    if (tick > 0) yield;
    for (const [key, values] of nodesOf(window[tick]!)) {
      let perTick = nodes.get(key);
      if (!perTick) nodes.set(key, (perTick = new Array<TickValues | undefined>(window.length).fill(undefined)));
      perTick[tick] = values;
    }
  }
  return nodes;
}

function isEmpty(record: object): boolean {
  for (const _ in record) return false;
  return true;
}

function lossLatest(losses: NonNullable<ReportInput["losses"]>) {
  const timestamp = new Date(losses.time).toISOString();
  const reasons = Object.entries(losses.counts);
  const total = reasons.reduce((sum, [, count]) => sum + count, 0);
  const latest: Record<string, { timestamp: string; value: string }> = { [LOSSES_TOTAL_KEY]: { timestamp, value: String(total) } };
  for (const [reason, count] of reasons) if (count > 0) latest[lossKey(reason)] = { timestamp, value: String(count) };
  return latest;
}

/** Nodes laid out per step of buildReportSteps: ~1 ms of work at the speeds measured here. */
const NODES_PER_STEP = 250;

/**
 * The report, in steps: one per tick of the window while gathering each
 * node's values, then one per NODES_PER_STEP nodes. Whoever runs it may
 * answer requests between two steps (with the last report): at 10,000
 * processes the whole build takes tens of ms.
 */
export function* buildReportSteps(input: ReportInput) {
  const dates = input.window.map((summary) => summary.date);
  const processNodes: Record<string, unknown> = {};
  const processes = [...(yield* byNode(input.window, (summary) => summary.processes))].sort(([a], [b]) => a - b);
  for (let i = 0; i < processes.length; i++) {
    if (i % NODES_PER_STEP === 0) yield;
    const [pid, perTick] = processes[i]!;
    const id = `${input.hostId};${pid}`;
    processNodes[id] = { id, topology: "process", metrics: nodeMetrics(perTick, dates) };
  }
  yield;
  const containerNodes: Record<string, unknown> = {};
  for (const [container, perTick] of [...(yield* byNode(input.window, (summary) => summary.containers))].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const id = `${container};<container>`;
    containerNodes[id] = { id, topology: "container", metrics: nodeMetrics(perTick, dates) };
  }
  const hostNodes: Record<string, unknown> = {};
  const hostMetrics = nodeMetrics(input.window.map((summary) => summary.host), dates);
  const hasMetrics = !isEmpty(hostMetrics);
  if (hasMetrics || input.losses) {
    const id = `${input.hostId};<host>`;
    hostNodes[id] = {
      id,
      topology: "host",
      ...(input.losses && { latest: lossLatest(input.losses) }),
      ...(hasMetrics && { metrics: hostMetrics }),
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

/** The report at once (tests, and the empty report at start-up). */
export function buildReport(input: ReportInput) {
  const steps = buildReportSteps(input);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}
