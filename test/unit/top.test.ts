import { describe, expect, test } from "bun:test";
import { LOSS_REASONS } from "../../src/kernel_abi";
import { ProcessTotals } from "../../src/process_totals";
import { buildMetrics } from "../../src/prometheus";
import { parseExposition, renderTop, topRows, type TopRow } from "../../src/top";

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

  test("first read: totals by class, no rate yet, most requests first", () => {
    expect(topRows(parseExposition(first))).toEqual([
      { pid: 10, comm: "nginx", container: "", requests: 10, classes: [8, 0, 2, 0] },
      { pid: 20, comm: "python3", container: CONTAINER, requests: 5, classes: [1, 1, 0, 3] },
    ]);
  });

  test("second read: requests per second over the interval, busiest first; 1xx is in no column", () => {
    const previous = { rows: topRows(parseExposition(first)), seconds: 2 };
    expect(topRows(parseExposition(second), previous)).toEqual([
      { pid: 20, comm: "python3", container: CONTAINER, requests: 15, rate: 5, classes: [1, 5, 0, 9] },
      { pid: 10, comm: "nginx", container: "", requests: 12, rate: 1, classes: [10, 0, 2, 0] },
    ]);
  });

  test("per container only: one row per container, no pid", () => {
    const rows = topRows(parseExposition(exposition({ 10: { 0: 1, 200: 1 }, 20: { 0: 3, 500: 3 } }, "container")));
    expect(rows).toEqual([
      { comm: "", container: CONTAINER, requests: 3, classes: [0, 0, 0, 3] },
      { comm: "", container: "", requests: 1, classes: [1, 0, 0, 0] },
    ]);
  });
});

describe("renderTop", () => {
  const rows: TopRow[] = topRows(parseExposition(exposition({ 10: { 0: 12, 200: 10, 404: 2 }, 20: { 0: 15, 503: 15 }, 30: { 0: 1, 200: 1 } })), {
    rows: [],
    seconds: 1,
  });

  test("80 columns or more: every column", () => {
    expect(renderTop(rows, 100, 10, "title")).toEqual([
      "title",
      "    PID COMMAND         CONTAINER       REQ/S      2XX      3XX      4XX      5XX",
      "     20 python3         0123456789ab     15.0        0        0        0       15",
      "     10 nginx           -                12.0       10        0        2        0",
      "     30 a-very-long-com -                 1.0        1        0        0        0",
      "2XX-5XX: responses since the plugin started. q quits.",
    ]);
  });

  test("narrow: the container column goes, then the command narrows, then the counts; lines never exceed the width", () => {
    const narrow = renderTop(rows, 70, 10, "title");
    expect(narrow[1]).toBe("    PID COMMAND            REQ/S      2XX      3XX      4XX      5XX");
    const narrower = renderTop(rows, 60, 10, "title");
    expect(narrower[1]).toBe("    PID COMMAND    REQ/S      2XX      3XX      4XX      5XX");
    expect(narrower[4]).toBe("     30 a-very-      1.0        1        0        0        0");
    expect(renderTop(rows, 55, 10, "title")[1]).toBe("    PID COMMAND   REQ/S     2XX     3XX     4XX     5XX");
    expect(renderTop(rows, 50, 10, "title")[3]).toBe("     10 nginx     12.0     10      0      2      0");
    for (const line of renderTop(rows, 40, 10, "a title longer than forty columns, cut to the width")) expect(line.length).toBeLessThanOrEqual(40);
  });

  test("short terminal: rows that do not fit are counted in the title", () => {
    expect(renderTop(rows, 100, 5, "title")).toEqual([
      "title (1 more not shown)",
      "    PID COMMAND         CONTAINER       REQ/S      2XX      3XX      4XX      5XX",
      "     20 python3         0123456789ab     15.0        0        0        0       15",
      "     10 nginx           -                12.0       10        0        2        0",
      "2XX-5XX: responses since the plugin started. q quits.",
    ]);
  });
});
