/**
 * A freshly booted machine has not mounted tracefs until something asks for
 * it, and the suite must pass there in any file order: the least-privilege
 * tests run first thing, alone, in a private mount namespace where no
 * tracefs is mounted (the host's mounts, which other tests may be using,
 * are untouched).
 */
import { expect, test } from "bun:test";
import { REPO, requireRoot } from "../support/plugin";

// Inside `unshare --mount`: unmount every tracefs (innermost first), show that none is left, run the file.
const SCRIPT = `
set -eu
for m in $(awk '$9 == "tracefs" { print $5 }' /proc/self/mountinfo | sort -r); do umount "$m"; done
echo "tracefs mounts: $(awk '$9 == "tracefs"' /proc/self/mountinfo | wc -l)"
exec "$BUN" test test/reliability/least_privilege.test.ts
`;

test("the least-privilege tests pass alone with no tracefs mounted", async () => {
  requireRoot();
  const child = Bun.spawn(["unshare", "--mount", "--propagation", "private", "sh", "-c", SCRIPT], {
    cwd: REPO,
    env: { ...process.env, BUN: process.execPath },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, err, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  const summary = /(\d+) pass\s+(\d+) fail/.exec(err);
  if (code !== 0 || !summary) process.stderr.write(`--- least_privilege.test.ts with no tracefs ---\n${out}${err}\n`);
  expect({ mounts: out.split("\n")[0], code, failed: Number(summary?.[2]) }).toEqual({ mounts: "tracefs mounts: 0", code: 0, failed: 0 });
  expect(Number(summary?.[1])).toBeGreaterThan(0);
}, 180_000);
