/**
 * The fallback capture front-end must count exactly what the default one
 * does: this runs the whole accuracy suite again, in a child `bun test`,
 * with every plugin started as --capture=syscalls (HS_TEST_CAPTURE, read by
 * test/support/plugin.ts). Its output is shown when it fails.
 */
import { expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { REPO, requireRoot } from "../support/plugin";

test("the accuracy suite passes with --capture=syscalls", async () => {
  requireRoot();
  const files = readdirSync(import.meta.dir)
    .filter((f) => f.endsWith(".test.ts") && f !== "syscall_capture.test.ts")
    .map((f) => join("test", "accuracy", f));
  expect(files.length).toBeGreaterThan(3);
  const child = Bun.spawn([process.execPath, "test", ...files], {
    cwd: REPO,
    env: { ...process.env, HS_TEST_CAPTURE: "syscalls" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  const summary = /(\d+) pass\s+(\d+) fail/.exec(err + out);
  if (code !== 0 || !summary) process.stderr.write(`--- accuracy suite with --capture=syscalls ---\n${out}${err}\n`);
  expect({ code, failed: Number(summary?.[2]) }).toEqual({ code: 0, failed: 0 });
  expect(Number(summary?.[1])).toBeGreaterThan(0);
}, 600_000);
