/**
 * Turns the kernel's monotonically increasing counters into per-second
 * counts: once a second it takes a snapshot, subtracts the previous one and
 * keeps the last `windowSeconds` ticks. Each tick holds only what changed.
 */
import type { CounterSnapshot } from "./kernel_probe";

/** Counts that happened during one tick, by pid then slot. */
export type Deltas = Map<number, Map<number, number>>;

export interface Tick {
  /** End of the interval, ms since the epoch. */
  time: number;
  deltas: Deltas;
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
      const old = before?.get(slot) ?? 0n;
      const delta = value >= old ? value - old : value;
      if (delta === 0n) continue;
      changed ??= new Map();
      changed.set(slot, Number(delta));
    }
    if (changed) deltas.set(pid, changed);
  }
  return deltas;
}

export class RateCollector {
  private previous: CounterSnapshot = new Map();
  private ticks: Tick[] = [];

  constructor(
    private readonly read: () => CounterSnapshot,
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
    this.ticks.push(tick);
    if (this.ticks.length > this.windowSeconds) this.ticks.splice(0, this.ticks.length - this.windowSeconds);
    return tick;
  }

  window(): readonly Tick[] {
    return this.ticks;
  }

  /** Pids that hold counters but did nothing for the whole window. */
  idlePids(): number[] {
    const active = new Set<number>();
    for (const tick of this.ticks) for (const pid of tick.deltas.keys()) active.add(pid);
    return [...this.previous.keys()].filter((pid) => !active.has(pid));
  }

  /** Forgets pids whose counters the kernel side just deleted. */
  forget(pids: Iterable<number>): void {
    for (const pid of pids) this.previous.delete(pid);
  }
}
