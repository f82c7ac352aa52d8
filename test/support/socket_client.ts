/** Reads a plugin's report through its unix socket from the host side, for plugins the tests did not spawn directly (chroot, container). */
import type { ScopeReport } from "./plugin";

export async function getReport(socket: string): Promise<ScopeReport> {
  const res = await fetch("http://plugin/report?api_version=1&probe_id=7e57", { unix: socket } as RequestInit);
  if (!res.ok) throw new Error(`GET /report on ${socket}: ${res.status}`);
  return (await res.json()) as ScopeReport;
}

/**
 * Whether a report comes from a plugin that counts. The socket answers
 * from the start, while the kernel still verifies the programs, with an
 * empty report; from the first tick after they are attached on, every
 * report has the host node (it carries the loss counters).
 */
export function isCounting(report: ScopeReport): boolean {
  const host = report.Host as { nodes: Record<string, unknown> } | undefined;
  return Object.keys(host?.nodes ?? {}).length > 0;
}

/** Waits until `socket` answers GET /report with a counting plugin's report; `alive` reports why it never will (the process died). */
export async function waitForSocket(socket: string, alive: () => Promise<string | undefined>, timeoutMs = 30_000): Promise<number> {
  const started = performance.now();
  for (;;) {
    try {
      if (isCounting(await getReport(socket))) return performance.now() - started;
    } catch {
      // not listening yet
    }
    const dead = await alive();
    if (dead) throw new Error(dead);
    if (performance.now() - started > timeoutMs) throw new Error(`${socket} did not answer within ${timeoutMs} ms`);
    await Bun.sleep(50);
  }
}
