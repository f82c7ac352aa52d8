import { describe, expect, test } from "bun:test";
import { runInSteps } from "../../src/pipeline/steps";

/** Steps that each keep the thread busy for `ms`, logged as they end. */
function* busySteps(count: number, ms: number, log: string[]): Generator<void, string> {
  for (let i = 0; i < count; i++) {
    const until = performance.now() + ms;
    while (performance.now() < until);
    log.push(`step ${i}`);
    yield;
  }
  return "done";
}

/** Runs the steps while a request to a server of this thread is in flight; the log says when it was served. */
async function servedDuring(budgetMs: number): Promise<{ log: string[]; result: string }> {
  const log: string[] = [];
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => (log.push("served"), new Response("ok")) });
  try {
    const request = fetch(`http://127.0.0.1:${server.port}/`).then((res) => res.text());
    const result = await runInSteps(busySteps(20, 5, log), budgetMs, 2);
    await request;
    return { log, result };
  } finally {
    server.stop(true);
  }
}

describe("runInSteps", () => {
  test("a request is served between steps once the budget is spent, and the result comes back", async () => {
    const { log, result } = await servedDuring(4);
    expect(result).toBe("done");
    const served = log.indexOf("served");
    expect(served).toBeGreaterThan(0);
    expect(served).toBeLessThan(log.length - 1); // before the last step, not after all of them
  });

  test("with a budget the work never spends, the request waits for every step", async () => {
    const { log } = await servedDuring(10_000);
    expect(log.indexOf("served")).toBe(20);
  });
});
