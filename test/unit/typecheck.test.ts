/** The whole tree type-checks under tsconfig.json's strict settings. */
import { expect, test } from "bun:test";

test("tsc --noEmit reports no errors", () => {
  const r = Bun.spawnSync([process.execPath, "x", "tsc", "--noEmit", "-p", "."], { stdout: "pipe", stderr: "pipe" });
  expect(r.stdout.toString() + r.stderr.toString()).toBe("");
  expect(r.exitCode).toBe(0);
}, 120_000);
