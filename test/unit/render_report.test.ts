import { describe, expect, test } from "bun:test";
import type { Tick } from "../../src/collector";
import { LOSS_REASONS, type LossReason } from "../../src/kernel_abi";
import { buildReport, renderReport, renderReportSteps } from "../../src/report";

/** A window where processes come and go, codes vary and some ticks are empty. */
function window(processes: number, length: number): Tick[] {
  const start = Date.UTC(2026, 10, 22, 3, 0, 0);
  return Array.from({ length }, (_, t) => ({
    time: start + t * 1000,
    deltas: new Map(
      Array.from({ length: processes }, (_, i) => i)
        .filter((i) => (i + t) % 3 !== 0)
        .map((i) => [
          1000 + i * 7,
          new Map([
            [0, t + i + 1],
            [200 + (i % 4), t + 1],
            ...(i % 5 === 0 ? ([[599, 2]] as [number, number][]) : []),
          ]),
        ]),
    ),
  }));
}

describe("renderReport", () => {
  test("writes exactly what JSON.stringify(buildReport()) writes", () => {
    for (const [processes, length] of [[0, 0], [0, 3], [1, 1], [25, 15]] as const) {
      const input = { hostId: "host-1", ticks: window(processes, length) };
      expect(renderReport(input)).toBe(JSON.stringify(buildReport(input)));
    }
  });

  test("with counted losses: the same Host node as buildReport", () => {
    const counts = Object.fromEntries(LOSS_REASONS.map((reason, i) => [reason, i % 2 ? i * 3 : 0])) as Record<LossReason, number>;
    const input = { hostId: "host-1", ticks: window(3, 4), losses: { counts, time: Date.UTC(2026, 10, 22, 3, 0, 4) } };
    const text = renderReport(input);
    expect(text).toBe(JSON.stringify(buildReport(input)));
    expect(Object.keys(JSON.parse(text).Host.nodes)).toEqual(["host-1;<host>"]);
  });

  test("escapes a host name from the environment like JSON.stringify", () => {
    const input = { hostId: 'odd"host\\name', ticks: window(2, 2), description: "custom \"text\"" };
    expect(renderReport(input)).toBe(JSON.stringify(buildReport(input)));
  });
});

describe("renderReportSteps", () => {
  test("yields between steps and ends with the same text", () => {
    const input = { hostId: "host-1", ticks: window(25, 15) };
    const steps = renderReportSteps(input, 4);
    let yields = 0;
    let step = steps.next();
    while (!step.done) {
      yields++;
      step = steps.next();
    }
    // A pause between the 15 ticks gathered (14), one before writing, then one
    // after each 4 of the 25 processes but the last group (6).
    expect(yields).toBe(14 + 1 + 6);
    expect(step.value).toBe(JSON.stringify(buildReport(input)));
  });
});
