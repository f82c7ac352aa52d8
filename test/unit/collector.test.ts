import { describe, expect, test } from "bun:test";
import { counterDeltas, RateCollector } from "../../src/pipeline/collector";
import { addCounters, sumPerCpu, type CounterSnapshot } from "../../src/kernel/kernel_probe";

function snapshot(data: Record<number, Record<number, number>>): CounterSnapshot {
  return new Map(
    Object.entries(data).map(([pid, slots]) => [Number(pid), new Map(Object.entries(slots).map(([s, v]) => [Number(s), v]))]),
  );
}

/** A per-CPU lookup result: each CPU's u64 at the start of a `stride`-byte value. */
function perCpu(values: bigint[], stride = 16): DataView {
  const view = new DataView(new ArrayBuffer(values.length * stride));
  values.forEach((value, cpu) => view.setBigUint64(cpu * stride, value, true));
  return view;
}

describe("kernel counters as numbers while exact", () => {
  test("a sum below 2^53 is a number, and exact", () => {
    const sum = sumPerCpu(perCpu([2n ** 52n, 2n ** 52n - 1n]), 0, 2, 16);
    expect(sum).toBe(2 ** 53 - 1);
  });

  test("a sum of 2^53 or more is a bigint, and exact", () => {
    expect(sumPerCpu(perCpu([2n ** 52n, 2n ** 52n]), 0, 2, 16)).toBe(2n ** 53n);
    expect(sumPerCpu(perCpu([2n ** 64n - 1n, 2n ** 64n - 1n, 5n]), 0, 3, 16)).toBe(2n ** 65n + 3n);
  });

  test("high words carry: 2^32 - 1 on each of 2 CPUs", () => {
    expect(sumPerCpu(perCpu([2n ** 32n - 1n, 2n ** 32n - 1n], 8), 0, 2, 8)).toBe(2 ** 33 - 2);
  });

  test("addCounters turns to a bigint exactly where a number would round", () => {
    expect(addCounters(2 ** 53 - 2, 1)).toBe(2 ** 53 - 1);
    expect(addCounters(2 ** 53 - 1, 2)).toBe(2n ** 53n + 1n);
    expect(addCounters(2n ** 60n, 3)).toBe(2n ** 60n + 3n);
  });
});

function plain(deltas: Map<number, Map<number, number>>) {
  return Object.fromEntries([...deltas].map(([pid, slots]) => [pid, Object.fromEntries(slots)]));
}

describe("counterDeltas", () => {
  test("differences of monotonically increasing counters; unchanged ones are left out", () => {
    const before = snapshot({ 1: { 0: 10, 200: 10 }, 2: { 0: 5 } });
    const after = snapshot({ 1: { 0: 15, 200: 12, 404: 1 }, 2: { 0: 5 } });
    expect(plain(counterDeltas(before, after))).toEqual({ 1: { 0: 5, 200: 2, 404: 1 } });
  });

  test("a new process counts from zero", () => {
    expect(plain(counterDeltas(snapshot({}), snapshot({ 9: { 0: 3 } })))).toEqual({ 9: { 0: 3 } });
  });

  test("a counter that went down was recreated (pid reused): its whole value is new, never negative", () => {
    expect(plain(counterDeltas(snapshot({ 9: { 0: 100 } }), snapshot({ 9: { 0: 4 } })))).toEqual({ 9: { 0: 4 } });
  });

  test("a counter crossing 2^53 (number, then bigint) subtracts exactly", () => {
    const before: CounterSnapshot = new Map([[1, new Map([[0, 2 ** 53 - 3]])]]);
    const after: CounterSnapshot = new Map([[1, new Map([[0, 2n ** 53n + 4n]])]]);
    expect(plain(counterDeltas(before, after))).toEqual({ 1: { 0: 7 } });
  });

  test("values beyond 2^53 subtract exactly", () => {
    const big = 2n ** 60n;
    const before: CounterSnapshot = new Map([[1, new Map([[0, big]])]]);
    const after: CounterSnapshot = new Map([[1, new Map([[0, big + 7n]])]]);
    expect(plain(counterDeltas(before, after))).toEqual({ 1: { 0: 7 } });
  });
});

describe("RateCollector", () => {
  test("ticks hold per-interval counts, and their sums equal the counter growth", () => {
    const readings = [
      snapshot({ 1: { 0: 0 } }),
      snapshot({ 1: { 0: 4 } }),
      snapshot({ 1: { 0: 4 } }),
      snapshot({ 1: { 0: 10 } }),
      snapshot({ 1: { 0: 11 } }),
    ];
    let i = 0;
    const collector = new RateCollector(() => readings[i++]!, 3);
    collector.prime();
    const ticks = [1, 2, 3, 4].map((t) => collector.tick(t * 1000));
    expect(ticks.map((tick) => tick.time)).toEqual([1000, 2000, 3000, 4000]);
    expect(ticks.map((tick) => tick.deltas.get(1)?.get(0) ?? 0)).toEqual([4, 0, 6, 1]);
  });

  test("a process is idle once it changed nothing for windowSeconds ticks", () => {
    const readings = [snapshot({ 1: { 0: 1 } }), snapshot({ 1: { 0: 2 } })];
    let i = 0;
    const collector = new RateCollector(() => readings[Math.min(i++, 1)]!, 3);
    collector.prime();
    const idle = [1, 2, 3, 4].map((t) => {
      collector.tick(t * 1000);
      return collector.idlePids();
    });
    // Changed in tick 1; ticks 2 and 3 still hold it in the window; after tick 4 it has been quiet for 3.
    expect(idle).toEqual([[], [], [], [1]]);
  });

  test("idlePids names processes with counters but no change in the window; forget drops them", () => {
    const readings = [snapshot({ 1: { 0: 1 }, 2: { 0: 1 } }), snapshot({ 1: { 0: 2 }, 2: { 0: 1 } })];
    let i = 0;
    const collector = new RateCollector(() => readings[Math.min(i++, 1)]!, 5);
    collector.prime();
    collector.tick(1000);
    expect(collector.idlePids()).toEqual([2]);
    collector.forget([2]);
    expect(collector.idlePids()).toEqual([]);
  });
});
