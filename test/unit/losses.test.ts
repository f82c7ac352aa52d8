/** Counted losses: how the report shows them (Host node metadata) and how often the logs do. */
import { describe, expect, test } from "bun:test";
import { LOSS_REASONS, type LossReason } from "../../src/kernel_abi";
import { LossLog } from "../../src/loss_log";
import { buildReport, LOSS_METADATA_TEMPLATES } from "../../src/report";

function counts(some: Partial<Record<LossReason, number>> = {}): Record<LossReason, number> {
  return Object.fromEntries(LOSS_REASONS.map((r) => [r, some[r] ?? 0])) as Record<LossReason, number>;
}

const TIME = Date.parse("2026-11-22T03:00:00.000Z");

describe("losses in the report", () => {
  test("a Host node with the probe's id for its host, the total always, each reason once non-zero", () => {
    const report = buildReport({ hostId: "h1", ticks: [], losses: { counts: counts({ desync: 3, read_fault: 2 }), time: TIME } });
    expect(report.Host).toEqual({
      nodes: {
        "h1;<host>": {
          id: "h1;<host>",
          topology: "host",
          latest: {
            http_statistics_losses: { timestamp: "2026-11-22T03:00:00.000Z", value: "5" },
            http_statistics_losses_read_fault: { timestamp: "2026-11-22T03:00:00.000Z", value: "2" },
            http_statistics_losses_desync: { timestamp: "2026-11-22T03:00:00.000Z", value: "3" },
          },
        },
      },
      metadata_templates: LOSS_METADATA_TEMPLATES,
    });
  });

  test("no loss: the total says 0 and no reason is listed", () => {
    const report = buildReport({ hostId: "h1", ticks: [], losses: { counts: counts(), time: TIME } });
    expect(report.Host?.nodes["h1;<host>"]?.latest).toEqual({ http_statistics_losses: { timestamp: "2026-11-22T03:00:00.000Z", value: "0" } });
  });

  test("every template reads a number from latest, one per reason plus the total, ids unique", () => {
    const templates = Object.values(LOSS_METADATA_TEMPLATES);
    expect(templates.length).toBe(LOSS_REASONS.length + 1);
    for (const [key, t] of Object.entries(LOSS_METADATA_TEMPLATES)) {
      expect(t.id).toBe(key);
      expect(t.dataType).toBe("number");
      expect(t.from).toBe("latest");
      expect(t.label.length).toBeGreaterThan(0);
    }
    expect(new Set(templates.map((t) => t.priority)).size).toBe(templates.length);
  });

  test("without losses there is no Host topology", () => {
    expect("Host" in buildReport({ hostId: "h1", ticks: [] })).toBe(false);
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
