/**
 * Counts per process since the plugin started, for exporters of counters
 * (Prometheus). The kernel side deletes a process's counters once it has
 * exited, and the collector only keeps a short window: this adds every
 * tick's deltas into totals that outlive both, so a counter never goes
 * down while its process's series is exported.
 *
 * Exited processes are kept for `retentionMs` after the plugin notices
 * they are gone (a scraper then sees their final value), then dropped, so
 * the number of series stays bounded by the processes of the last few
 * minutes, not of the whole uptime.
 */
import type { Deltas } from "./collector";

/** What labels a process's series: read once, when its first count arrives. */
export interface ProcessIdentity {
  /** The kernel's command name (/proc/<pid>/comm); "" when the process was already gone. */
  comm: string;
  /** 64-hex container id; undefined outside containers. */
  container?: string;
}

export interface ProcessTotal extends ProcessIdentity {
  pid: number;
  /** Cumulative count by counter slot (kernel_abi's slotMeaning says what each holds). */
  counts: Map<number, number>;
  /** When the plugin found the process gone, ms since the epoch. */
  goneSince?: number;
}

export class ProcessTotals {
  private readonly byPid = new Map<number, ProcessTotal>();

  constructor(
    private readonly identify: (pid: number) => ProcessIdentity,
    private readonly retentionMs: number,
  ) {}

  add(deltas: Deltas): void {
    for (const [pid, slots] of deltas) {
      let total = this.byPid.get(pid);
      // A retired pid that counts again is a new process that reused the pid:
      // it starts from zero under its own labels.
      if (!total || total.goneSince !== undefined) this.byPid.set(pid, (total = { pid, ...this.identify(pid), counts: new Map() }));
      for (const [slot, count] of slots) total.counts.set(slot, (total.counts.get(slot) ?? 0) + count);
    }
  }

  /** Marks processes that exited; their totals stay exported for the retention period. */
  retire(pids: Iterable<number>, now: number): void {
    for (const pid of pids) {
      const total = this.byPid.get(pid);
      if (total) total.goneSince ??= now;
    }
  }

  /** Drops processes gone for longer than the retention period. */
  prune(now: number): void {
    for (const [pid, total] of this.byPid) if (total.goneSince !== undefined && now - total.goneSince >= this.retentionMs) this.byPid.delete(pid);
  }

  values(): IterableIterator<ProcessTotal> {
    return this.byPid.values();
  }

  get size(): number {
    return this.byPid.size;
  }
}
