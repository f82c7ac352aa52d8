import { describe, expect, test } from "bun:test";
import type { Tick } from "../../src/pipeline/collector";
import { CLIENT_SIDE, GRPC_OTHER, GRPC_SLOT, LATENCY_BUCKETS, LATENCY_SLOT, LATENCY_SUM_SLOT } from "../../src/kernel/kernel_abi";
import {
  buildReport,
  CLIENT_ERRORS_METRIC,
  CLIENT_REQUESTS_METRIC,
  GRPC_CLIENT_ERRORS_METRIC,
  GRPC_ERRORS_METRIC,
  METRIC_TEMPLATES,
  metricIdForSlot,
  OTHERS_METRIC,
  REQUESTS_METRIC,
  summarizeTick,
  TRACKED_CODES,
} from "../../src/outputs/report";
import { protocolViolations } from "../support/protocol";
import { timedSlots } from "../support/timed_slots";

const T0 = Date.UTC(2026, 10, 22, 3, 0, 0);

function tick(second: number, deltas: Record<number, Record<number, number>>): Tick {
  return {
    time: T0 + second * 1000,
    deltas: new Map(Object.entries(deltas).map(([pid, slots]) => [Number(pid), new Map(Object.entries(slots).map(([s, n]) => [Number(s), n]))])),
  };
}

/** The report the plugin serves for these ticks: each summarized when it is made, then the window laid out. */
function reportOf(hostId: string, ticks: Tick[], containerOf?: (pid: number) => string | undefined) {
  return buildReport({ hostId, window: ticks.map((t) => summarizeTick(t, containerOf)) });
}

describe("metric ids", () => {
  test("slot 0 is requests, tracked codes have their own id, the rest is OTHERS", () => {
    expect(metricIdForSlot(0)).toBe("http_requests_per_second");
    expect(metricIdForSlot(200)).toBe("http_200_responses_per_second");
    expect(metricIdForSlot(202)).toBe("http_202_responses_per_second");
    expect(metricIdForSlot(503)).toBe("http_503_responses_per_second");
    expect(metricIdForSlot(418)).toBe(OTHERS_METRIC);
    expect(metricIdForSlot(299)).toBe(OTHERS_METRIC);
    expect(metricIdForSlot(599)).toBe(OTHERS_METRIC);
    expect(metricIdForSlot(101)).toBe(OTHERS_METRIC);
  });

  test("client side: requests sent, and responses received with a status of 400 or more as errors; the rest of the client's slots count towards nothing", () => {
    expect(metricIdForSlot(CLIENT_SIDE)).toBe("http_client_requests_per_second");
    expect(metricIdForSlot(CLIENT_SIDE + 400)).toBe("http_client_errors_per_second");
    expect(metricIdForSlot(CLIENT_SIDE + 451)).toBe("http_client_errors_per_second");
    expect(metricIdForSlot(CLIENT_SIDE + 599)).toBe("http_client_errors_per_second");
    for (const status of [100, 200, 204, 304, 399]) expect(metricIdForSlot(CLIENT_SIDE + status)).toBeUndefined();
  });

  test("gRPC: every status but OK is an error, answered (server side) or received (client side); OK counts towards nothing", () => {
    for (const code of [1, 5, 13, 16, GRPC_OTHER]) {
      expect(metricIdForSlot(GRPC_SLOT + code)).toBe(GRPC_ERRORS_METRIC);
      expect(metricIdForSlot(CLIENT_SIDE + GRPC_SLOT + code)).toBe(GRPC_CLIENT_ERRORS_METRIC);
    }
    expect(metricIdForSlot(GRPC_SLOT)).toBeUndefined();
    expect(metricIdForSlot(CLIENT_SIDE + GRPC_SLOT)).toBeUndefined();
    expect(metricIdForSlot(GRPC_SLOT + GRPC_OTHER + 1)).toBeUndefined();
  });

  test("latency buckets and duration sums are no response: they count towards no per-second metric", () => {
    for (const slot of [LATENCY_SUM_SLOT, LATENCY_SLOT, LATENCY_SLOT + 599, LATENCY_SLOT + LATENCY_BUCKETS - 1, CLIENT_SIDE + LATENCY_SUM_SLOT, CLIENT_SIDE + LATENCY_SLOT + 200])
      expect([slot, metricIdForSlot(slot)]).toEqual([slot, undefined]);
    for (const slot of [600, 999, 1001, LATENCY_SLOT + LATENCY_BUCKETS, 2 * CLIENT_SIDE, 2 * CLIENT_SIDE + 200]) expect([slot, metricIdForSlot(slot)]).toEqual([slot, undefined]);
  });

  test("templates: the original plugin's ids and labels, requests first, then latency and the client side, OTHERS last", () => {
    const ids = Object.keys(METRIC_TEMPLATES);
    expect(ids).toEqual([
      "http_requests_per_second",
      "http_latency_p99_ms",
      "http_latency_p50_ms",
      "http_latency_p95_ms",
      "http_client_requests_per_second",
      "http_client_errors_per_second",
      "http_client_latency_p99_ms",
      "grpc_errors_per_second",
      "grpc_client_errors_per_second",
      ...TRACKED_CODES.map((c) => `http_${c}_responses_per_second`),
      "http_OTHERS_responses_per_second",
    ]);
    expect(TRACKED_CODES).toEqual([100, 200, 201, 202, 204, 308, 400, 401, 403, 404, 408, 451, 500, 501, 502, 503]);
    // Whole numbers ("17", not "17.00"); requests third, after Scope's CPU (1) and memory (2),
    // before open files (3); response codes after Scope's own metrics (load is 11 on hosts).
    expect(METRIC_TEMPLATES[REQUESTS_METRIC]).toEqual({ id: REQUESTS_METRIC, label: "HTTP Req/Second", format: "integer", priority: 2.5 });
    expect(METRIC_TEMPLATES["http_100_responses_per_second"]!.priority).toBe(20);
    expect(METRIC_TEMPLATES[OTHERS_METRIC]!.priority).toBe(36);
    // Behind "+N": p99 first, Scope's open files (3) next, then the rest, all before host load (11) and the codes.
    expect(Object.values(METRIC_TEMPLATES).slice(1, 7).map(({ label, format, priority }) => [label, format, priority])).toEqual([
      ["HTTP p99 Latency (ms)", "", 2.6],
      ["HTTP p50 Latency (ms)", "", 4],
      ["HTTP p95 Latency (ms)", "", 5],
      ["HTTP Out Req/Second", "integer", 6],
      ["HTTP Out Errors/Second", "integer", 7],
      ["HTTP Out p99 (ms)", "", 8],
    ]);
    expect(METRIC_TEMPLATES[GRPC_ERRORS_METRIC]).toEqual({ id: GRPC_ERRORS_METRIC, label: "gRPC Errors/Second", format: "integer", priority: 9 });
    expect(METRIC_TEMPLATES[GRPC_CLIENT_ERRORS_METRIC]).toEqual({ id: GRPC_CLIENT_ERRORS_METRIC, label: "gRPC Out Errors/Second", format: "integer", priority: 10 });
    // Counts are whole numbers; milliseconds take Scope's default format (two decimals).
    for (const t of Object.values(METRIC_TEMPLATES)) expect([t.id, t.format]).toEqual([t.id, t.id.endsWith("_ms") ? "" : "integer"]);
    expect(METRIC_TEMPLATES["http_202_responses_per_second"]!.label).toBe("HTTP Resp 202/Second");
    expect(METRIC_TEMPLATES["http_503_responses_per_second"]!.label).toBe("HTTP Resp 503/Second");
    expect(METRIC_TEMPLATES[OTHERS_METRIC]!.label).toBe("HTTP Resp OTHERS/Second");
    const priorities = ids.map((id) => METRIC_TEMPLATES[id]!.priority);
    expect(priorities).toEqual([...priorities].sort((a, b) => a - b));
    expect(new Set(priorities).size).toBe(ids.length);
  });
});

describe("buildReport", () => {
  const ticks = [
    tick(0, { 42: { 0: 3, 200: 2, 404: 1 } }),
    tick(1, {}),
    tick(2, { 42: { 0: 5, 200: 5 }, 7: { 0: 1, 418: 1 } }),
    tick(3, { 7: { 299: 2, 599: 1 } }),
  ];
  const report = reportOf("host-a", ticks);

  test("exactly one plugin spec with the probe's required fields", () => {
    expect(report.Plugins).toEqual([
      {
        id: "http-statistics",
        label: "HTTP Statistics",
        description: "HTTP request and response rates (eBPF)",
        interfaces: ["reporter"],
        api_version: "1",
      },
    ]);
  });

  test("one node per active pid, keyed and identified <host>;<pid>", () => {
    expect(Object.keys(report.Process.nodes)).toEqual(["host-a;7", "host-a;42"]);
    const node = report.Process.nodes["host-a;42"] as { id: string; topology: string };
    expect(node.id).toBe("host-a;42");
    expect(node.topology).toBe("process");
  });

  test("a sample per tick with RFC3339 dates, zeros where nothing happened, real min and max", () => {
    const metrics = (report.Process.nodes["host-a;42"] as { metrics: Record<string, unknown> }).metrics;
    expect(Object.keys(metrics).sort()).toEqual([
      "http_200_responses_per_second",
      "http_404_responses_per_second",
      "http_requests_per_second",
    ]);
    expect(metrics["http_requests_per_second"]).toEqual({
      samples: [
        { date: "2026-11-22T03:00:00.000Z", value: 3 },
        { date: "2026-11-22T03:00:01.000Z", value: 0 },
        { date: "2026-11-22T03:00:02.000Z", value: 5 },
        { date: "2026-11-22T03:00:03.000Z", value: 0 },
      ],
      min: 0,
      max: 5,
    });
  });

  test("codes outside the fixed list add up in OTHERS; codes never sent are absent", () => {
    const metrics = (report.Process.nodes["host-a;7"] as { metrics: Record<string, { samples: { value: number }[] }> }).metrics;
    expect(Object.keys(metrics).sort()).toEqual(["http_OTHERS_responses_per_second", "http_requests_per_second"]);
    expect(metrics[OTHERS_METRIC]!.samples.map((s) => s.value)).toEqual([0, 0, 1, 3]);
  });

  test("a code that stopped appearing drops out once its ticks leave the window", () => {
    const later = reportOf("host-a", ticks.slice(3));
    expect(Object.keys(later.Process.nodes)).toEqual(["host-a;7"]);
    const metrics = (later.Process.nodes["host-a;7"] as { metrics: Record<string, unknown> }).metrics;
    expect(Object.keys(metrics)).toEqual([OTHERS_METRIC]);
  });

  test("no ticks: no nodes, but templates and the plugin spec are there", () => {
    const empty = reportOf("h", []);
    for (const topology of [empty.Process, empty.Container, empty.Host]) {
      expect(topology.nodes).toEqual({});
      expect(Object.keys(topology.metric_templates)).toHaveLength(26);
    }
  });
});

describe("containers and the host", () => {
  const A = "a".repeat(64);
  const B = "0123456789abcdef".repeat(4);
  const ticks = [
    tick(0, { 42: { 0: 3, 200: 2, 404: 1 }, 43: { 0: 1, 200: 1 }, 50: { 0: 7, 200: 7 } }),
    tick(1, { 43: { 0: 2, 503: 2 }, 60: { 0: 4, 200: 4 }, 70: { 0: 100, 200: 100 } }),
    tick(2, { 42: { 0: 1, 200: 1 }, 60: { 0: 1, 418: 1 } }),
  ];
  const containers: Record<number, string> = { 42: A, 43: A, 60: B };
  const report = reportOf("host-a", ticks, (pid) => containers[pid]);
  const values = (node: unknown, metric: string) =>
    (node as { metrics: Record<string, { samples: { value: number }[] }> }).metrics[metric]?.samples.map((s) => s.value);

  test("one node per container with traffic, id <container id>;<container>, sums over its processes", () => {
    expect(Object.keys(report.Container.nodes)).toEqual([`${B};<container>`, `${A};<container>`]);
    const a = report.Container.nodes[`${A};<container>`] as { id: string; topology: string; metrics: Record<string, unknown> };
    expect(a.id).toBe(`${A};<container>`);
    expect(a.topology).toBe("container");
    expect(Object.keys(a.metrics).sort()).toEqual([
      "http_200_responses_per_second",
      "http_404_responses_per_second",
      "http_503_responses_per_second",
      "http_requests_per_second",
    ]);
    expect(a.metrics["http_requests_per_second"]).toEqual({
      samples: [
        { date: "2026-11-22T03:00:00.000Z", value: 4 },
        { date: "2026-11-22T03:00:01.000Z", value: 2 },
        { date: "2026-11-22T03:00:02.000Z", value: 1 },
      ],
      min: 1,
      max: 4,
    });
    expect(values(a, "http_200_responses_per_second")).toEqual([3, 0, 1]);
    expect(values(a, "http_503_responses_per_second")).toEqual([0, 2, 0]);
    const b = report.Container.nodes[`${B};<container>`];
    expect(values(b, "http_requests_per_second")).toEqual([0, 4, 1]);
    expect(values(b, OTHERS_METRIC)).toEqual([0, 0, 1]);
  });

  test("processes outside containers (50, 70) are in no container node, and every process keeps its own node", () => {
    const inContainers = Object.values(report.Container.nodes).reduce<number>(
      (sum, node) => sum + values(node, "http_requests_per_second")!.reduce((a, b) => a + b, 0),
      0,
    );
    expect(inContainers).toBe(3 + 1 + 2 + 1 + 4 + 1);
    expect(Object.keys(report.Process.nodes)).toEqual(["host-a;42", "host-a;43", "host-a;50", "host-a;60", "host-a;70"]);
  });

  test("the host node <host>;<host> holds the totals over every process", () => {
    const host = report.Host.nodes["host-a;<host>"] as { id: string; topology: string; metrics: Record<string, { min: number; max: number }> };
    expect(host.id).toBe("host-a;<host>");
    expect(host.topology).toBe("host");
    expect(values(host, "http_requests_per_second")).toEqual([11, 106, 2]);
    expect(values(host, "http_200_responses_per_second")).toEqual([10, 104, 1]);
    expect(values(host, "http_404_responses_per_second")).toEqual([1, 0, 0]);
    expect(values(host, "http_503_responses_per_second")).toEqual([0, 2, 0]);
    expect(values(host, OTHERS_METRIC)).toEqual([0, 0, 1]);
    expect(host.metrics["http_requests_per_second"]!.min).toBe(2);
    expect(host.metrics["http_requests_per_second"]!.max).toBe(106);
  });

  test("without a container lookup there are no container nodes; the host totals are the same", () => {
    const plain = reportOf("host-a", ticks);
    expect(plain.Container.nodes).toEqual({});
    expect(plain.Host.nodes).toEqual(report.Host.nodes);
  });

  test("summing for containers and the host leaves each process's own series alone", () => {
    expect(values(report.Process.nodes["host-a;42"], "http_requests_per_second")).toEqual([3, 0, 1]);
    expect(values(report.Process.nodes["host-a;43"], "http_requests_per_second")).toEqual([1, 2, 0]);
  });
});

type Node = { metrics?: Record<string, { samples: { date: string; value: number }[]; min: number; max: number }> };
const DATES = [0, 1, 2, 3].map((s) => new Date(T0 + s * 1000).toISOString());

describe("latency percentiles", () => {
  // Bucket midpoints, ms: [150, 160) us -> 0.155; [2000, 2100) us -> 2.05; [30, 31) ms -> 30.5; [5, 6) us -> 0.0055.
  const ticks = [
    tick(0, { 42: { 0: 100, 200: 100, ...timedSlots("server", [152, 50], [2090, 45], [30_999, 4], [5, 1]) } }),
    tick(1, { 42: { 0: 3, 200: 3 } }),
    tick(2, { 42: { 0: 1, 200: 1, ...timedSlots("server", [4_000_000_000, 1]) } }),
    tick(3, { 42: { 0: 3, 200: 3, ...timedSlots("server", [159, 1], [2000, 2]) } }),
  ];
  const node = reportOf("h", ticks).Process.nodes["h;42"] as Node;

  test("100 requests in one second: p50, p95 and p99 are the midpoints of the buckets holding the 50th, 95th and 99th (nearest rank)", () => {
    // Ranks: 1 request at 5 us, 50 at 152 us (ranks 2..51), 45 at 2090 us (52..96), 4 at 30,999 us (97..100).
    expect(node.metrics!["http_latency_p50_ms"]!.samples[0]).toEqual({ date: DATES[0]!, value: 0.155 });
    expect(node.metrics!["http_latency_p95_ms"]!.samples[0]).toEqual({ date: DATES[0]!, value: 2.05 });
    expect(node.metrics!["http_latency_p99_ms"]!.samples[0]).toEqual({ date: DATES[0]!, value: 30.5 });
  });

  test("a second without a timed request has no sample, not a zero; min and max are over the samples there are", () => {
    // Tick 2: one request of 4,000 s, in the open last bucket: its lower edge, 1,000 s. Tick 3: 3 requests, ranks ceil(1.5) = 2, ceil(2.85) = 3, ceil(2.97) = 3.
    expect(node.metrics!["http_latency_p50_ms"]).toEqual({
      samples: [
        { date: DATES[0]!, value: 0.155 },
        { date: DATES[2]!, value: 1_000_000 },
        { date: DATES[3]!, value: 2.05 },
      ],
      min: 0.155,
      max: 1_000_000,
    });
    expect(node.metrics!["http_latency_p95_ms"]!.samples.map((s) => s.value)).toEqual([2.05, 1_000_000, 2.05]);
    expect(node.metrics!["http_latency_p99_ms"]).toEqual({
      samples: [
        { date: DATES[0]!, value: 30.5 },
        { date: DATES[2]!, value: 1_000_000 },
        { date: DATES[3]!, value: 2.05 },
      ],
      min: 2.05,
      max: 1_000_000,
    });
  });

  test("latency slots never become responses: exactly the request, 200 and latency metrics, the request counts unchanged", () => {
    expect(Object.keys(node.metrics!).sort()).toEqual(["http_200_responses_per_second", "http_latency_p50_ms", "http_latency_p95_ms", "http_latency_p99_ms", "http_requests_per_second"]);
    expect(node.metrics![REQUESTS_METRIC]!.samples.map((s) => s.value)).toEqual([100, 3, 1, 3]);
  });

  test("no duration anywhere in the window: no latency metric at all", () => {
    const report = reportOf("h", [tick(0, { 7: { 0: 2, 200: 2 } }), tick(1, { 7: { 0: 1, 404: 1 } })]);
    expect(Object.keys((report.Process.nodes["h;7"] as Node).metrics!).sort()).toEqual(["http_200_responses_per_second", "http_404_responses_per_second", "http_requests_per_second"]);
  });

  test("a process with durations but whose requests and responses were counted in earlier windows still shows its latency, and nothing else", () => {
    const report = reportOf("h", [tick(0, { 7: timedSlots("server", [2000, 1]) })]);
    expect((report.Process.nodes["h;7"] as Node).metrics).toEqual({
      http_latency_p50_ms: { samples: [{ date: DATES[0]!, value: 2.05 }], min: 2.05, max: 2.05 },
      http_latency_p95_ms: { samples: [{ date: DATES[0]!, value: 2.05 }], min: 2.05, max: 2.05 },
      http_latency_p99_ms: { samples: [{ date: DATES[0]!, value: 2.05 }], min: 2.05, max: 2.05 },
    });
  });

  test("the report with latency metrics passes the probe's checks", () => {
    expect(protocolViolations(reportOf("h", ticks), { pluginId: "http-statistics", hostId: "h" })).toEqual([]);
  });
});

describe("gRPC errors", () => {
  const ticks = [
    tick(0, { 42: { 0: 4, 200: 4, [GRPC_SLOT]: 1, [GRPC_SLOT + 5]: 2, [GRPC_SLOT + 13]: 1 }, 43: { [CLIENT_SIDE]: 4, [CLIENT_SIDE + 200]: 4, [CLIENT_SIDE + GRPC_SLOT]: 3, [CLIENT_SIDE + GRPC_SLOT + GRPC_OTHER]: 1 } }),
    tick(1, { 42: { 0: 1, 200: 1, [GRPC_SLOT]: 1 } }),
  ];
  const report = reportOf("h", ticks);

  test("calls answered with a status but OK per second on the server; received on the client; the host sums both", () => {
    const server = report.Process.nodes["h;42"] as Node;
    const client = report.Process.nodes["h;43"] as Node;
    expect(server.metrics![GRPC_ERRORS_METRIC]!.samples.map((s) => s.value)).toEqual([3, 0]);
    expect(server.metrics![GRPC_CLIENT_ERRORS_METRIC]).toBeUndefined();
    expect(client.metrics![GRPC_CLIENT_ERRORS_METRIC]!.samples.map((s) => s.value)).toEqual([1, 0]);
    expect(client.metrics![GRPC_ERRORS_METRIC]).toBeUndefined();
    const host = report.Host.nodes["h;<host>"] as Node;
    expect(host.metrics![GRPC_ERRORS_METRIC]!.samples.map((s) => s.value)).toEqual([3, 0]);
    expect(host.metrics![GRPC_CLIENT_ERRORS_METRIC]!.samples.map((s) => s.value)).toEqual([1, 0]);
  });

  test("the report with gRPC metrics passes the probe's checks", () => {
    expect(protocolViolations(report, { pluginId: "http-statistics", hostId: "h" })).toEqual([]);
  });
});

describe("the client side", () => {
  const ticks = [
    tick(0, { 42: { [CLIENT_SIDE]: 6, [CLIENT_SIDE + 200]: 2, [CLIENT_SIDE + 301]: 1, [CLIENT_SIDE + 404]: 1, [CLIENT_SIDE + 503]: 2, ...timedSlots("client", [800, 5], [40_000, 1]) } }),
    tick(1, { 42: { [CLIENT_SIDE]: 1, [CLIENT_SIDE + 204]: 1 } }),
    tick(2, { 42: { [CLIENT_SIDE + 500]: 1, ...timedSlots("client", [12, 1]) } }),
  ];
  const node = reportOf("h", ticks).Process.nodes["h;42"] as Node;

  test("requests sent per second, errors (4xx and 5xx received) per second and the p99 on the process node; none of it in the server's metrics", () => {
    expect(Object.keys(node.metrics!).sort()).toEqual([CLIENT_ERRORS_METRIC, "http_client_latency_p99_ms", CLIENT_REQUESTS_METRIC]);
    expect(node.metrics![CLIENT_REQUESTS_METRIC]).toEqual({
      samples: [
        { date: DATES[0]!, value: 6 },
        { date: DATES[1]!, value: 1 },
        { date: DATES[2]!, value: 0 },
      ],
      min: 0,
      max: 6,
    });
    expect(node.metrics![CLIENT_ERRORS_METRIC]!.samples.map((s) => s.value)).toEqual([3, 0, 1]);
    // 6 requests: rank ceil(5.94) = 6 is the one of 40 ms, in [40, 41) ms; [12, 13) us alone in tick 2.
    expect(node.metrics!["http_client_latency_p99_ms"]).toEqual({
      samples: [
        { date: DATES[0]!, value: 40.5 },
        { date: DATES[2]!, value: 0.0125 },
      ],
      min: 0.0125,
      max: 40.5,
    });
  });

  test("a process that only received responses under 400 in the window has nothing to show: no node, and no host metrics", () => {
    const report = reportOf("h", [tick(0, { 9: { [CLIENT_SIDE + 200]: 4, [CLIENT_SIDE + 101]: 1 } })]);
    expect(report.Process.nodes).toEqual({});
    expect(report.Host.nodes).toEqual({});
  });
});

describe("latency of containers and the host: histograms added, then percentiles", () => {
  const A = "a".repeat(64);
  const ticks = [
    tick(0, {
      42: { 0: 2, ...timedSlots("server", [150, 2]) },
      43: { 0: 2, ...timedSlots("server", [2050, 2]), ...timedSlots("client", [300, 1]) },
      50: { 0: 1, ...timedSlots("server", [30_000, 1]), ...timedSlots("client", [3000, 99]) },
    }),
    tick(1, { 50: { 0: 1 } }),
  ];
  const report = reportOf("h", ticks, (pid) => (pid === 42 || pid === 43 ? A : undefined));
  const values = (node: unknown, id: string) => (node as Node).metrics![id]?.samples.map((s) => s.value);

  test("each process keeps its own percentiles", () => {
    expect(values(report.Process.nodes["h;42"], "http_latency_p50_ms")).toEqual([0.155]);
    expect(values(report.Process.nodes["h;43"], "http_latency_p50_ms")).toEqual([2.05]);
    expect(values(report.Process.nodes["h;50"], "http_latency_p99_ms")).toEqual([30.5]);
  });

  test("the container's 4 requests: p50 is the 2nd (0.155 ms), p95 and p99 the 4th (2.05 ms), not an average of its processes' percentiles", () => {
    const container = report.Container.nodes[`${A};<container>`];
    expect(values(container, "http_latency_p50_ms")).toEqual([0.155]);
    expect(values(container, "http_latency_p95_ms")).toEqual([2.05]);
    expect(values(container, "http_latency_p99_ms")).toEqual([2.05]);
    expect(values(container, "http_client_latency_p99_ms")).toEqual([0.305]);
  });

  test("the host's 5 requests: ranks 3, 5 and 5; its client p99 over 100 requests is the 99th", () => {
    const host = report.Host.nodes["h;<host>"];
    expect(values(host, "http_latency_p50_ms")).toEqual([2.05]);
    expect(values(host, "http_latency_p95_ms")).toEqual([30.5]);
    expect(values(host, "http_latency_p99_ms")).toEqual([30.5]);
    expect(values(host, "http_client_latency_p99_ms")).toEqual([3.05]);
    expect(values(host, REQUESTS_METRIC)).toEqual([5, 1]);
  });
});
