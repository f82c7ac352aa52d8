/**
 * Least privilege, on the host: the plugin runs as uid 0 with nothing but
 * CAP_BPF and CAP_PERFMON and counts exactly; with either one missing it
 * refuses with one line and creates nothing. The socket capture attaches
 * through BTF alone, so none of this needs tracefs: a freshly booted machine
 * where nothing mounted it yet passes too (test/reliability/fresh_machine.test.ts
 * runs this file so). Its socket is root's alone. (In a container, where the
 * runtime's seccomp profile decides, see test/packaging/image.test.ts.)
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, readdirSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureBinary } from "../support/binary";
import { BINARY, requireRoot, startPlugin, totals } from "../support/plugin";
import { startBunServer } from "../support/servers";
import { curl, statusUrls } from "../support/traffic";

const PORT = 18700;

/** uid 0 whose capabilities are exactly `caps` (the bounding set caps what exec grants root). */
function onlyCaps(caps: string[]): string[] {
  const set = ["-all", ...caps.map((c) => `+${c}`)].join(",");
  return ["setpriv", `--bounding-set=${set}`, `--inh-caps=${set}`, "--"];
}

/** Runs the rest of the command in a private mount namespace where tracefs is mounted, or where it is not. */
function withTracefs(mounted: boolean): string[] {
  const setup = mounted
    ? "mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing"
    : `for m in $(awk '$9 == "tracefs" { print $5 }' /proc/self/mountinfo | sort -r); do umount "$m"; done`;
  return ["unshare", "--mount", "--propagation", "private", "sh", "-c", `set -e; ${setup}; exec "$@"`, "sh"];
}

beforeAll(async () => {
  requireRoot();
  await ensureBinary();
}, 120_000);

describe("capabilities on the host", () => {
  test("CAP_BPF + CAP_PERFMON and nothing else: exact counts, a socket only root can open", async () => {
    const server = await startBunServer(PORT);
    const plugin = await startPlugin({ binary: true, prefix: onlyCaps(["bpf", "perfmon"]) });
    try {
      const effective = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${plugin.proc.pid}/status`, "utf8"))![1]!;
      expect(BigInt(`0x${effective}`)).toBe((1n << 39n) | (1n << 38n)); // CAP_BPF, CAP_PERFMON
      expect(await curl(statusUrls(`http://127.0.0.1:${PORT}`, { 200: 5, 404: 2, 503: 1 }))).toEqual([200, 200, 200, 200, 200, 404, 404, 503]);
      expect(totals(await plugin.reportAfter(Date.now()), plugin.hostId, server.servingPids[0]!)).toEqual({
        http_requests_per_second: 8,
        http_200_responses_per_second: 5,
        http_404_responses_per_second: 2,
        http_503_responses_per_second: 1,
      });
      expect(statSync(plugin.socket).mode & 0o777).toBe(0o600);
      expect(statSync(join(plugin.socket, "..")).mode & 0o777).toBe(0o700);
    } finally {
      expect(await plugin.stop()).toBe(0);
      await server.stop();
    }
  }, 60_000);

  // Debian 12's own 6.1 kernel has no socket tracepoints: there the syscall capture's tracepoints are found through tracefs.
  test("--capture=syscalls with CAP_BPF + CAP_PERFMON and tracefs mounted (as systemd mounts it at boot): exact counts", async () => {
    const server = await startBunServer(PORT);
    const plugin = await startPlugin({ binary: true, args: ["--capture=syscalls"], prefix: [...withTracefs(true), ...onlyCaps(["bpf", "perfmon"])] });
    try {
      expect(await curl(statusUrls(`http://127.0.0.1:${PORT}`, { 200: 3, 500: 1 }))).toEqual([200, 200, 200, 500]);
      expect(totals(await plugin.reportAfter(Date.now()), plugin.hostId, server.servingPids[0]!)).toEqual({
        http_requests_per_second: 4,
        http_200_responses_per_second: 3,
        http_500_responses_per_second: 1,
      });
    } finally {
      expect(await plugin.stop()).toBe(0);
      await server.stop();
    }
  }, 60_000);

  test("--capture=syscalls with CAP_BPF + CAP_PERFMON and no tracefs: one line saying how to mount it, exit 1, nothing created", () => {
    const dir = mkdtempSync(join(tmpdir(), "hs-caps-"));
    const r = Bun.spawnSync([...withTracefs(false), ...onlyCaps(["bpf", "perfmon"]), BINARY, "--capture=syscalls", "--socket", join(dir, "p", "x.sock")], { stdout: "pipe", stderr: "pipe" });
    expect({ code: r.exitCode, stderr: r.stderr.toString() }).toEqual({
      code: 1,
      stderr: "http-statistics: tracefs is not mounted and mounting it failed (Operation not permitted): run 'mount -t tracefs tracefs /sys/kernel/tracing' as root\n",
    });
    expect(readdirSync(dir)).toEqual([]);
  });

  for (const caps of [["bpf"], ["perfmon"], []]) {
    test(`${caps.length ? `only ${caps.map((c) => `CAP_${c.toUpperCase()}`).join(" + ")}` : "uid 0 without any capability"}: one line naming what is missing, exit 1, nothing created`, () => {
      const dir = mkdtempSync(join(tmpdir(), "hs-caps-"));
      const r = Bun.spawnSync([...onlyCaps(caps), BINARY, "--socket", join(dir, "p", "x.sock")], { stdout: "pipe", stderr: "pipe" });
      expect({ code: r.exitCode, stderr: r.stderr.toString() }).toEqual({
        code: 1,
        stderr: "http-statistics: needs root to load eBPF programs (or CAP_BPF and CAP_PERFMON; the syscall capture also CAP_SYS_ADMIN to mount tracefs): run it with sudo\n",
      });
      expect(readdirSync(dir)).toEqual([]);
    });
  }
});
