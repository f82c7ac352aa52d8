/**
 * Turns the kernel's monotonically increasing counters into per-second
 * counts: once a second it takes a snapshot and subtracts the previous one.
 * Each tick holds only what changed.
 */
import type { Counter, CounterSnapshot } from "../kernel/kernel_probe";

/** Counts that happened during one tick, by pid then slot. */
export type Deltas = Map<number, Map<number, number>>;

export interface Tick {
  /** End of the interval, ms since the epoch. */
  time: number;
  deltas: Deltas;
}

/** value - old, or all of value if the counter went down; exact however large, if the difference is below 2^53. */
function delta(value: Counter, old: Counter): number {
  if (typeof value === "number" && typeof old === "number") return value >= old ? value - old : value;
  const now = BigInt(value);
  const before = BigInt(old);
  return Number(now >= before ? now - before : now);
}

/**
 * What happened between two snapshots. A counter that went down was deleted
 * and recreated (its process died and the pid came back), so everything it
 * holds now is new.
 */
export function counterDeltas(previous: CounterSnapshot, current: CounterSnapshot): Deltas {
  const deltas: Deltas = new Map();
  for (const [pid, slots] of current) {
    const before = previous.get(pid);
    let changed: Map<number, number> | undefined;
    for (const [slot, value] of slots) {
      const count = delta(value, before?.get(slot) ?? 0);
      if (count === 0) continue;
      changed ??= new Map();
      changed.set(slot, count);
    }
    if (changed) deltas.set(pid, changed);
  }
  return deltas;
}

export class RateCollector {
  private previous: CounterSnapshot = new Map();
  private ticks = 0;
  /** The tick in which each pid's counters last changed. */
  private readonly lastChange = new Map<number, number>();

  constructor(
    private readonly read: () => CounterSnapshot,
    /** How many ticks without a change make a process idle. */
    readonly windowSeconds: number,
  ) {}

  /** Takes the baseline without producing a tick. */
  prime(): void {
    this.previous = this.read();
  }

  tick(now: number): Tick {
    const current = this.read();
    const tick = { time: now, deltas: counterDeltas(this.previous, current) };
    this.previous = current;
    this.ticks++;
    for (const pid of tick.deltas.keys()) this.lastChange.set(pid, this.ticks);
    return tick;
  }

  /** Pids that hold counters but did nothing for the last `windowSeconds` ticks. */
  idlePids(): number[] {
    return [...this.previous.keys()].filter((pid) => this.ticks - (this.lastChange.get(pid) ?? -Infinity) >= this.windowSeconds);
  }

  /** Forgets pids whose counters the kernel side just deleted. */
  forget(pids: Iterable<number>): void {
    for (const pid of pids) {
      this.previous.delete(pid);
      this.lastChange.delete(pid);
    }
  }
}
