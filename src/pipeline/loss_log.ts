/**
 * When to tell the logs about the kernel side's losses: as soon as they
 * first change, then at most once per interval, and only when they changed
 * since the last line. A host losing events steadily gets one line a
 * minute, not one a second.
 */
import { LOSS_REASONS, type LossReason } from "../kernel/kernel_abi";

export class LossLog {
  private logged: Record<LossReason, number> | undefined;
  private loggedAt = -Infinity;

  constructor(private readonly intervalMs = 60_000) {}

  /** The line to log now, or undefined. */
  update(counts: Record<LossReason, number>, now: number): string | undefined {
    const changed = LOSS_REASONS.some((r) => counts[r] !== (this.logged?.[r] ?? 0));
    if (!changed || now - this.loggedAt < this.intervalMs) return undefined;
    const parts = LOSS_REASONS.filter((r) => counts[r] !== (this.logged?.[r] ?? 0)).map(
      (r) => `${r} +${counts[r] - (this.logged?.[r] ?? 0)} (${counts[r]} in all)`,
    );
    this.logged = { ...counts };
    this.loggedAt = now;
    return `kernel side could not count some events: ${parts.join(", ")}`;
  }
}
