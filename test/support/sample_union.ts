/**
 * The union of the per-second samples of many reports read over a run
 * longer than the window: each (process, metric, second) once, its total
 * exact if no second was missed. Two reports that disagree on a second they
 * share are noted as conflicts.
 */
import type { ScopeReport } from "./plugin";

export class SampleUnion {
  readonly conflicts: string[] = [];
  /** "pid metric date" -> value */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly hostId: string,
    /** Which samples to keep: by default all. */
    private readonly keep: (pid: number, time: number) => boolean = () => true,
  ) {}

  add(report: ScopeReport): void {
    for (const [id, node] of Object.entries(report.Process.nodes)) {
      const pid = Number(id.slice(this.hostId.length + 1));
      for (const [metric, { samples }] of Object.entries(node.metrics))
        for (const { date, value } of samples) {
          if (!this.keep(pid, Date.parse(date))) continue;
          const key = `${pid} ${metric} ${date}`;
          const before = this.seen.get(key);
          if (before !== undefined && before !== value) this.conflicts.push(`${key}: ${before} then ${value}`);
          this.seen.set(key, value);
        }
    }
  }

  /** Adds a report read every second, as the probe reads them, until the returned stop() resolves. */
  follow(report: () => Promise<ScopeReport>): () => Promise<void> {
    let following = true;
    const loop = (async () => {
      while (following) {
        this.add(await report());
        await Bun.sleep(1000);
      }
    })();
    return async () => {
      following = false;
      await loop;
    };
  }

  /** Sum per metric over the processes `pids` accepts. */
  totals(pids: (pid: number) => boolean = () => true): Record<string, number> {
    const sums: Record<string, number> = {};
    for (const [key, value] of this.seen) {
      const [pid, metric] = key.split(" ");
      if (pids(Number(pid))) sums[metric!] = (sums[metric!] ?? 0) + value;
    }
    return sums;
  }
}
