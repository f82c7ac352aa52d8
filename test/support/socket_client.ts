/** Reads a plugin's report through its unix socket from the host side, for plugins the tests did not spawn directly (chroot, container). */
import type { ScopeReport } from "./plugin";

export async function getReport(socket: string): Promise<ScopeReport> {
  const res = await fetch("http://plugin/report?api_version=1&probe_id=7e57", { unix: socket } as RequestInit);
  if (!res.ok) throw new Error(`GET /report on ${socket}: ${res.status}`);
  return (await res.json()) as ScopeReport;
}

/** Waits until `socket` answers GET /report; `alive` reports why it never will (the process died). */
export async function waitForSocket(socket: string, alive: () => Promise<string | undefined>, timeoutMs = 30_000): Promise<number> {
  const started = performance.now();
  for (;;) {
    try {
      await getReport(socket);
      return performance.now() - started;
    } catch {
      // not listening yet
    }
    const dead = await alive();
    if (dead) throw new Error(dead);
    if (performance.now() - started > timeoutMs) throw new Error(`${socket} did not answer within ${timeoutMs} ms`);
    await Bun.sleep(50);
  }
}
