import { describe, expect, test } from "bun:test";
import { CLIENT_SIDE, GRPC_OTHER, GRPC_SLOT, LOSS_REASONS } from "../../src/kernel/kernel_abi";
import { ProcessTotals } from "../../src/pipeline/process_totals";
import { buildMetrics } from "../../src/outputs/prometheus";
import { bucketQuantile, parseExposition, renderTop, topRows, type TopRow } from "../../src/outputs/top";
import { timedSlots } from "../support/timed_slots";

const CONTAINER = "0123456789ab" + "c".repeat(52);
const IDENTITIES: Record<number, { comm: string; container?: string }> = {
  10: { comm: "nginx" },
  20: { comm: "python3", container: CONTAINER },
  30: { comm: "a-very-long-command-name" },
};

function exposition(byPid: Record<number, Record<number, number>>, labels: "process" | "container" = "process"): string {
  const totals = new ProcessTotals((pid) => IDENTITIES[pid]!, 60_000);
  totals.add(new Map(Object.entries(byPid).map(([pid, slots]) => [Number(pid), new Map(Object.entries(slots).map(([s, n]) => [Number(s), n]))])));
  const losses = Object.fromEntries(LOSS_REASONS.map((r) => [r, 0]));
  return buildMetrics({ processes: totals.values(), labels, losses, version: "1", capture: "socket" }, "text");
}

describe("parseExposition", () => {
  test("samples with their labels, escapes undone, comments skipped", () => {
    const samples = parseExposition('# HELP x y\nx_total{comm="a\\"b\\\\c\\nd",pid="7"} 12\nplain 3\n');
    expect(samples).toEqual([
      { name: "x_total", labels: { comm: 'a"b\\c\nd', pid: "7" }, value: 12 },
      { name: "plain", labels: {}, value: 3 },
    ]);
  });
});

describe("topRows", () => {
  const first = exposition({ 10: { 0: 10, 200: 8, 404: 2 }, 20: { 0: 5, 200: 1, 301: 1, 503: 3 } });
  const second = exposition({ 10: { 0: 12, 200: 10, 404: 2 }, 20: { 0: 15, 200: 1, 302: 5, 503: 9, 101: 2 } });
  const untimed = { durations: [], outRequests: 0, grpcCalls: 0, grpcErrors: 0 };

  test("first read: totals by class, no rate yet, most requests first", () => {
    expect(topRows(parseExposition(first))).toEqual([
      { pid: 10, comm: "nginx", container: "", requests: 10, classes: [8, 0, 2, 0], ...untimed },
      { pid: 20, comm: "python3", container: CONTAINER, requests: 5, classes: [1, 1, 0, 3], ...untimed },
    ]);
  });

  test("second read: requests per second over the interval, busiest first; 1xx is in no column; no p99 without timed requests", () => {
    const previous = { rows: topRows(parseExposition(first)), seconds: 2 };
    expect(topRows(parseExposition(second), previous)).toEqual([
      { pid: 20, comm: "python3", container: CONTAINER, requests: 15, rate: 5, classes: [1, 5, 0, 9], ...untimed, outRate: 0 },
      { pid: 10, comm: "nginx", container: "", requests: 12, rate: 1, classes: [10, 0, 2, 0], ...untimed, outRate: 0 },
    ]);
  });

  test("per container only: one row per container, no pid", () => {
    const rows = topRows(parseExposition(exposition({ 10: { 0: 1, 200: 1 }, 20: { 0: 3, 500: 3 } }, "container")));
    expect(rows).toEqual([
      { comm: "", container: CONTAINER, requests: 3, classes: [0, 0, 0, 3], ...untimed },
      { comm: "", container: "", requests: 1, classes: [1, 0, 0, 0], ...untimed },
    ]);
  });

  test("p99 of the requests served between two reads, and requests sent per second", () => {
    // Before: 100 requests of 1.2 ms. Between the reads: 98 more of 1.2 ms and 2 of 30 ms, and 6 sent.
    const before = topRows(parseExposition(exposition({ 10: { 0: 100, ...timedSlots("server", [1200, 100]), [CLIENT_SIDE]: 4 } })));
    expect(before[0]!.durations.map(([le, count]) => `${le}:${count}`).join(" ")).toBe(
      "0.00001:0 0.000025:0 0.00005:0 0.0001:0 0.00025:0 0.0005:0 0.001:0 0.0025:100 0.005:100 0.01:100 0.025:100 0.05:100 0.1:100 0.25:100 0.5:100 1:100 2.5:100 5:100 10:100 25:100 50:100 100:100 Infinity:100",
    );
    expect(before[0]!.outRequests).toBe(4);
    const [row] = topRows(parseExposition(exposition({ 10: { 0: 200, ...timedSlots("server", [1200, 198], [30_000, 2]), [CLIENT_SIDE]: 10 } })), { rows: before, seconds: 2 });
    // Rank 99 of 100 is the first of the 2 in (25 ms, 50 ms]: halfway, as histogram_quantile interpolates.
    expect(row!.p99Ms).toBeCloseTo(37.5, 9);
    expect([row!.rate, row!.outRate]).toEqual([50, 3]);
    expect(renderTop([row!], 100, 4, "t")[2]).toBe("     10 nginx           -                50.0     37.5        0        0        0        0      3.0");
  });

  test("buckets that went down are a reused pid starting over: the p99 is of all its requests", () => {
    const before = topRows(parseExposition(exposition({ 10: { 0: 500, ...timedSlots("server", [1200, 500]) } })));
    const [row] = topRows(parseExposition(exposition({ 10: { 0: 10, ...timedSlots("server", [7, 10]) } })), { rows: before, seconds: 1 });
    // 10 requests in (0, 10 us]: rank 9.9, from 0.
    expect(row!.p99Ms).toBeCloseTo(0.0099, 12);
    expect(renderTop([row!], 100, 4, "t")[2]).toBe("     10 nginx           -                10.0     0.01        0        0        0        0      0.0");
  });
});

describe("bucketQuantile", () => {
  const buckets: Array<[number, number]> = [[0.001, 10], [0.01, 60], [0.1, 100], [Infinity, 100]];

  test("linear within the bucket holding the rank, from 0 in the first", () => {
    expect(bucketQuantile(0.05, buckets)).toBe(0.0005);
    expect(bucketQuantile(0.1, buckets)).toBe(0.001);
    expect(bucketQuantile(0.35, buckets)).toBeCloseTo(0.0055, 15);
    expect(bucketQuantile(0.99, buckets)).toBeCloseTo(0.09775, 15);
  });

  test("a rank in +Inf is the highest finite bound; no request, no quantile", () => {
    expect(bucketQuantile(0.99, [[0.001, 10], [0.01, 50], [Infinity, 100]])).toBe(0.01);
    expect(bucketQuantile(0.99, [[0.001, 0], [Infinity, 0]])).toBeUndefined();
    expect(bucketQuantile(0.99, [])).toBeUndefined();
  });
});

describe("renderTop", () => {
  const rows: TopRow[] = topRows(parseExposition(exposition({ 10: { 0: 12, 200: 10, 404: 2 }, 20: { 0: 15, 503: 15 }, 30: { 0: 1, 200: 1 } })), {
    rows: [],
    seconds: 1,
  });

  test("100 columns: every column", () => {
    expect(renderTop(rows, 100, 10, "title")).toEqual([
      "title",
      "    PID COMMAND         CONTAINER       REQ/S   P99 MS      2XX      3XX      4XX      5XX    OUT/S",
      "     20 python3         0123456789ab     15.0        -        0        0        0       15      0.0",
      "     10 nginx           -                12.0        -       10        0        2        0      0.0",
      "     30 a-very-long-com -                 1.0        -        1        0        0        0      0.0",
      "P99: served since the last read. 2XX-5XX: since start. OUT/S: sent. q quits.",
    ]);
  });

  test("narrower: the container goes, then OUT/S, then the command narrows, then the counts, then P99; lines never exceed the width", () => {
    expect(renderTop(rows, 98, 10, "title")[1]).toBe("    PID COMMAND            REQ/S   P99 MS      2XX      3XX      4XX      5XX    OUT/S");
    expect(renderTop(rows, 80, 10, "title").slice(1, 3)).toEqual([
      "    PID COMMAND            REQ/S   P99 MS      2XX      3XX      4XX      5XX",
      "     20 python3             15.0        -        0        0        0       15",
    ]);
    const narrow = renderTop(rows, 70, 10, "title");
    expect(narrow[1]).toBe("    PID COMMAND     REQ/S   P99 MS      2XX      3XX      4XX      5XX");
    expect(narrow[4]).toBe("     30 a-very-l      1.0        -        1        0        0        0");
    expect(renderTop(rows, 60, 10, "title")[1]).toBe("    PID COMMAND  REQ/S P99 MS    2XX    3XX    4XX    5XX");
    expect(renderTop(rows, 57, 10, "title")[1]).toBe("    PID COMMAND  REQ/S P99 MS    2XX    3XX    4XX    5XX");
    expect(renderTop(rows, 56, 10, "title")[1]).toBe("    PID COMMAND  REQ/S    2XX    3XX    4XX    5XX");
    // As before P99 and OUT/S: the narrowest table that fits whole.
    expect(renderTop(rows, 50, 10, "title")[1]).toBe("    PID COMMAND  REQ/S    2XX    3XX    4XX    5XX");
    expect(renderTop(rows, 50, 10, "title")[3]).toBe("     10 nginx     12.0     10      0      2      0");
    for (const width of [40, 50, 55, 60, 70, 79, 80, 98, 99])
      for (const line of renderTop(rows, width, 10, "a title longer than forty columns, cut to the width")) expect([width, line.length <= width]).toEqual([width, true]);
  });

  test("gRPC: a column of the calls answered with a status other than OK, while some process answered gRPC; it goes after OUT/S when narrow", () => {
    // 40 calls OK, 3 NOT_FOUND (5), 2 INTERNAL (13), 1 not a canonical code; the client's calls (CLIENT_SIDE) are not its column.
    const grpc = topRows(
      parseExposition(exposition({ 10: { 0: 46, 200: 46, [GRPC_SLOT]: 40, [GRPC_SLOT + 5]: 3, [GRPC_SLOT + 13]: 2, [GRPC_SLOT + GRPC_OTHER]: 1 }, 30: { [CLIENT_SIDE]: 46, [CLIENT_SIDE + 200]: 46, [CLIENT_SIDE + GRPC_SLOT + 5]: 3 } })),
      { rows: [], seconds: 1 },
    );
    expect(grpc.map((r) => [r.pid, r.grpcCalls, r.grpcErrors])).toEqual([[10, 46, 6], [30, 0, 0]]);
    expect(renderTop(grpc, 100, 10, "title")).toEqual([
      "title",
      "    PID COMMAND            REQ/S   P99 MS      2XX      3XX      4XX      5XX GRPC ERR    OUT/S",
      "     10 nginx               46.0        -       46        0        0        0        6      0.0",
      "     30 a-very-long-com      0.0        -        0        0        0        0        -     46.0",
      "P99: served since the last read. 2XX-5XX, GRPC ERR (not OK): since start. OUT/S: sent. q quits.",
    ]);
    expect(renderTop(grpc, 90, 10, "title")[1]).toBe("    PID COMMAND            REQ/S   P99 MS      2XX      3XX      4XX      5XX GRPC ERR");
    expect(renderTop(grpc, 80, 10, "title")[1]).toBe("    PID COMMAND            REQ/S   P99 MS      2XX      3XX      4XX      5XX");
    for (const width of [50, 60, 79, 80, 89, 90, 99, 100])
      for (const line of renderTop(grpc, width, 10, "title")) expect([width, line.length <= width]).toEqual([width, true]);
  });

  test("short terminal: rows that do not fit are counted in the title", () => {
    expect(renderTop(rows, 100, 5, "title")).toEqual([
      "title (1 more not shown)",
      "    PID COMMAND         CONTAINER       REQ/S   P99 MS      2XX      3XX      4XX      5XX    OUT/S",
      "     20 python3         0123456789ab     15.0        -        0        0        0       15      0.0",
      "     10 nginx           -                12.0        -       10        0        2        0      0.0",
      "P99: served since the last read. 2XX-5XX: since start. OUT/S: sent. q quits.",
    ]);
  });
});
