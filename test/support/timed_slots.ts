/** Counter slots for requests whose durations are known, as the kernel side counts them (for the pure builders' tests). */
import { bucketOfUs, CLIENT_SIDE, LATENCY_SLOT, LATENCY_SUM_SLOT } from "../../src/kernel/kernel_abi";

/** `{ [slot]: count }`: for each run of `count` requests of `us` microseconds, their latency bucket and the nanoseconds they add to the side's sum. */
export function timedSlots(side: "server" | "client", ...runs: Array<[us: number, count: number]>): Record<number, number> {
  const base = side === "server" ? 0 : CLIENT_SIDE;
  const slots: Record<number, number> = {};
  for (const [us, count] of runs) {
    const bucket = base + LATENCY_SLOT + bucketOfUs(us);
    slots[bucket] = (slots[bucket] ?? 0) + count;
    slots[base + LATENCY_SUM_SLOT] = (slots[base + LATENCY_SUM_SLOT] ?? 0) + us * 1000 * count;
  }
  return slots;
}
