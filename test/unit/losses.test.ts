/** Counted losses: how the report shows them (a table on the Host node) and how often the logs do. */
import { describe, expect, test } from "bun:test";
import { LOSS_REASONS, type LossReason } from "../../src/kernel/kernel_abi";
import { LossLog } from "../../src/pipeline/loss_log";
import { buildReport, LOSS_LABELS, LOSS_TABLE_TEMPLATES } from "../../src/outputs/report";

function counts(some: Partial<Record<LossReason, number>> = {}): Record<LossReason, number> {
  return Object.fromEntries(LOSS_REASONS.map((r) => [r, some[r] ?? 0])) as Record<LossReason, number>;
}

const TIME = Date.parse("2026-11-22T03:00:00.000Z");
const TS = "2026-11-22T03:00:00.000Z";

describe("losses in the report", () => {
  test("on the Host node with the probe's id for its host: the total always, each reason once non-zero", () => {
    const report = buildReport({ hostId: "h1", window: [], losses: { counts: counts({ desync: 3, read_fault: 2 }), time: TIME } });
    expect(report.Host.nodes).toEqual({
      "h1;<host>": {
        id: "h1;<host>",
        topology: "host",
        latest: {
          http_statistics_not_counted: { timestamp: TS, value: "5" },
          http_statistics_not_counted_read_fault: { timestamp: TS, value: "2" },
          http_statistics_not_counted_desync: { timestamp: TS, value: "3" },
        },
      },
    });
    expect(report.Host.table_templates).toBe(LOSS_TABLE_TEMPLATES);
  });

  test("no loss: the total says 0 and no reason is listed", () => {
    const report = buildReport({ hostId: "h1", window: [], losses: { counts: counts(), time: TIME } });
    expect((report.Host.nodes["h1;<host>"] as { latest: unknown }).latest).toEqual({ http_statistics_not_counted: { timestamp: TS, value: "0" } });
  });

  test("one property-list table: the total and every known reason as fixed rows, unknown reasons by their own name", () => {
    const table = LOSS_TABLE_TEMPLATES.http_statistics_not_counted;
    expect(table.type).toBe("property-list");
    expect(table.label).toBe("HTTP statistics: events not counted");
    expect(table.prefix).toBe("http_statistics_not_counted_");
    expect(Object.keys(table.fixedRows)).toEqual(["http_statistics_not_counted", ...LOSS_REASONS.map((r) => `http_statistics_not_counted_${r}`)]);
    expect(Object.values(table.fixedRows)).toEqual(["total", ...LOSS_REASONS.map((r) => LOSS_LABELS[r]!)]);
    const labels = Object.values(table.fixedRows);
    expect(new Set(labels).size).toBe(labels.length);
    // What fits the label half of Scope's host panel without "..." (checked in the real UI by test/scope).
    for (const label of labels) expect(label.length).toBeLessThanOrEqual(21);
  });

  test("a reason the table does not know still reaches the report under the table's prefix", () => {
    const report = buildReport({ hostId: "h1", window: [], losses: { counts: { new_reason: 4 }, time: TIME } });
    expect((report.Host.nodes["h1;<host>"] as { latest: unknown }).latest).toEqual({
      http_statistics_not_counted: { timestamp: TS, value: "4" },
      http_statistics_not_counted_new_reason: { timestamp: TS, value: "4" },
    });
  });

  test("without losses or traffic the Host topology has no node", () => {
    expect(buildReport({ hostId: "h1", window: [] }).Host.nodes).toEqual({});
  });
});

describe("losses in the logs", () => {
  test("silent while nothing is lost", () => {
    const log = new LossLog(60_000);
    expect(log.update(counts(), TIME)).toBeUndefined();
    expect(log.update(counts(), TIME + 1000)).toBeUndefined();
  });

  test("the first change logs at once, later changes at most once a minute, each line says what changed", () => {
    const log = new LossLog(60_000);
    expect(log.update(counts({ desync: 1 }), TIME)).toBe("kernel side could not count some events: desync +1 (1 in all)");
    expect(log.update(counts({ desync: 4 }), TIME + 1000)).toBeUndefined();
    expect(log.update(counts({ desync: 9, parse_budget: 2 }), TIME + 59_999)).toBeUndefined();
    expect(log.update(counts({ desync: 9, parse_budget: 2 }), TIME + 60_000)).toBe(
      "kernel side could not count some events: parse_budget +2 (2 in all), desync +8 (9 in all)",
    );
    expect(log.update(counts({ desync: 9, parse_budget: 2 }), TIME + 200_000)).toBeUndefined();
  });
});
