import { describe, expect, test } from "bun:test";
import type { Tick } from "../../src/collector";
import {
  buildReport,
  METRIC_TEMPLATES,
  metricIdForSlot,
  OTHERS_METRIC,
  REQUESTS_METRIC,
  TRACKED_CODES,
} from "../../src/report";

const T0 = Date.UTC(2026, 10, 22, 3, 0, 0);

function tick(second: number, deltas: Record<number, Record<number, number>>): Tick {
  return {
    time: T0 + second * 1000,
    deltas: new Map(Object.entries(deltas).map(([pid, slots]) => [Number(pid), new Map(Object.entries(slots).map(([s, n]) => [Number(s), n]))])),
  };
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

  test("templates: the original plugin's ids and labels, requests first, OTHERS last", () => {
    const ids = Object.keys(METRIC_TEMPLATES);
    expect(ids).toEqual([
      "http_requests_per_second",
      ...TRACKED_CODES.map((c) => `http_${c}_responses_per_second`),
      "http_OTHERS_responses_per_second",
    ]);
    expect(TRACKED_CODES).toEqual([100, 200, 201, 202, 204, 308, 400, 401, 403, 404, 408, 451, 500, 501, 502, 503]);
    // Whole numbers ("17", not "17.00"); requests third, after Scope's CPU (1) and memory (2),
    // before open files (3); response codes after Scope's own metrics (load is 11 on hosts).
    expect(METRIC_TEMPLATES[REQUESTS_METRIC]).toEqual({ id: REQUESTS_METRIC, label: "HTTP Req/Second", format: "integer", priority: 2.5 });
    expect(METRIC_TEMPLATES["http_100_responses_per_second"]!.priority).toBe(20);
    expect(METRIC_TEMPLATES[OTHERS_METRIC]!.priority).toBe(36);
    for (const t of Object.values(METRIC_TEMPLATES)) expect(t.format).toBe("integer");
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
  const report = buildReport({ hostId: "host-a", ticks });

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
    const later = buildReport({ hostId: "host-a", ticks: ticks.slice(3) });
    expect(Object.keys(later.Process.nodes)).toEqual(["host-a;7"]);
    const metrics = (later.Process.nodes["host-a;7"] as { metrics: Record<string, unknown> }).metrics;
    expect(Object.keys(metrics)).toEqual([OTHERS_METRIC]);
  });

  test("no ticks: no nodes, but templates and the plugin spec are there", () => {
    const empty = buildReport({ hostId: "h", ticks: [] });
    for (const topology of [empty.Process, empty.Container, empty.Host]) {
      expect(topology.nodes).toEqual({});
      expect(Object.keys(topology.metric_templates)).toHaveLength(18);
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
  const report = buildReport({ hostId: "host-a", ticks, containerOf: (pid) => containers[pid] });
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
    const plain = buildReport({ hostId: "host-a", ticks });
    expect(plain.Container.nodes).toEqual({});
    expect(plain.Host.nodes).toEqual(report.Host.nodes);
  });

  test("summing for containers and the host leaves each process's own series alone", () => {
    expect(values(report.Process.nodes["host-a;42"], "http_requests_per_second")).toEqual([3, 0, 1]);
    expect(values(report.Process.nodes["host-a;43"], "http_requests_per_second")).toEqual([1, 2, 0]);
  });
});
