/**
 * The Scope tests run a real Weave Scope binary that is not in this
 * repository: $SCOPE_BINARY says where it is. Without it they stop at once
 * with one line naming the variable, not minutes later with a spawn error.
 */
import { expect, test } from "bun:test";
import { resolve } from "node:path";
import { REPO } from "../support/plugin";
import { DEFAULT_SCOPE_BINARY, scopeBinary } from "../support/scope";

const MISSING = "/nonexistent/scope";
const LINE = `no Weave Scope binary at ${MISSING}: set SCOPE_BINARY to a scope built from github.com/weaveworks/scope (default ${DEFAULT_SCOPE_BINARY})`;

test("SCOPE_BINARY unset or empty: shared/scope/scope beside the checkout", () => {
  expect(DEFAULT_SCOPE_BINARY).toBe(resolve(REPO, "..", "shared", "scope", "scope"));
  expect(scopeBinary({})).toBe(DEFAULT_SCOPE_BINARY);
  expect(scopeBinary({ SCOPE_BINARY: "" })).toBe(DEFAULT_SCOPE_BINARY);
});

test("SCOPE_BINARY naming no file: one line naming the variable and the default", () => {
  expect(() => scopeBinary({ SCOPE_BINARY: MISSING })).toThrow(LINE);
});

test("the Scope UI tests without the binary: that line first, before any set-up", async () => {
  const started = performance.now();
  const child = Bun.spawn([process.execPath, "test", "test/scope/ui.test.ts"], {
    cwd: REPO,
    env: { ...process.env, SCOPE_BINARY: MISSING },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  const errors = (out + err).split("\n").filter((line) => line.startsWith("error: "));
  expect({ code, errors }).toEqual({ code: 1, errors: [`error: ${LINE}`] });
  expect(performance.now() - started).toBeLessThan(20_000); // no container, plugin or browser was started
}, 60_000);
