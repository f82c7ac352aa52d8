/**
 * The binary: dist/http-statistics runs on a minimal Debian 12 (debootstrap
 * minbase) that has no libbpf, libelf, zlib, clang or kernel headers,
 * chrooted, with only /proc, /sys and /dev from the host. It is started as
 * the README says, `./dist/http-statistics` with no flag, in a root where
 * /var/run is Debian's symlink to /run and no Scope probe made /run/scope:
 * its default socket, reached through the plugin's own root, serves exact
 * counts of real requests. Everything runs in a private mount namespace,
 * so the overlay and bind mounts vanish with the plugin.
 */
import { $ } from "bun";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { BINARY, REPO, reportAfter, requireRoot, totals } from "../support/plugin";
import { ensureRootfs } from "../support/rootfs";
import { startBunServer, type RunningServer } from "../support/servers";
import { getReport, waitForSocket } from "../support/socket_client";
import { curl, statusUrls } from "../support/traffic";

const PORT = 18510;
const PLAN = { 200: 3, 404: 1 };
// The default socket, /var/run/scope/plugins/..., where the root's /var/run leads: its symlink is
// absolute, so through /proc/PID/root it would lead to the host's /run instead.
const SOCKET_IN_ROOT = "/run/scope/plugins/http-statistics/http-statistics.sock";

// Runs as `sh -s` inside `unshare --mount`: paths come in through the environment.
const CHROOT_SCRIPT = `
set -eu
mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$T/upper,workdir=$T/work" "$T/root"
# minbase keeps zlib1g because dpkg needs it; this host must not offer it to the plugin.
rm -f "$T"/root/usr/lib/x86_64-linux-gnu/libz.so*
(cd "$T/root" && find . -xdev \\( -name 'libbpf*' -o -name 'libelf*' -o -name 'libz.so*' -o -name 'clang*' -o -name 'btf.h' \\) -print) > "$T/found.txt"
mkdir -p "$T/root/opt/http-statistics/dist"
cp "$BINARY" "$T/root/opt/http-statistics/dist/http-statistics"
mount --bind /proc "$T/root/proc"
mount --bind /sys "$T/root/sys"
mount --bind /dev "$T/root/dev"
# What a fresh Debian has: /var/run a symlink to /run, and no /run/scope before a Scope probe makes it.
{ readlink "$T/root/var/run"; test -e "$T/root/run/scope" && echo "/run/scope exists" || echo "no /run/scope"; } > "$T/layout.txt"
chroot "$T/root" /opt/http-statistics/dist/http-statistics --version > "$T/version.txt"
if chroot "$T/root" /opt/http-statistics/dist/http-statistics --system-libbpf --version > /dev/null 2> "$T/system.txt"; then echo 0 >> "$T/system.txt"; fi
exec chroot "$T/root" sh -c 'cd /opt/http-statistics && exec ./dist/http-statistics'
`;

describe("the self-contained binary in a bare Debian chroot", () => {
  let dir: string;
  let plugin: ReturnType<typeof Bun.spawn>;
  let server: RunningServer;
  const timings: Record<string, number> = {};
  // The plugin's root as the host sees it: the overlay is mounted in its namespace alone.
  const socket = () => `/proc/${plugin.pid}/root${SOCKET_IN_ROOT}`;

  beforeAll(async () => {
    requireRoot();
    let t = performance.now();
    const build = await $`bun run build.ts`.cwd(REPO).nothrow().quiet();
    if (build.exitCode !== 0) throw new Error(`bun run build failed:\n${build.stderr}`);
    timings.buildMs = performance.now() - t;
    const rootfs = await ensureRootfs();
    timings.debootstrapMs = rootfs.builtMs;

    dir = mkdtempSync("/tmp/hs-chroot-");
    for (const sub of ["upper", "work", "root"]) mkdirSync(join(dir, sub));
    t = performance.now();
    plugin = Bun.spawn(["unshare", "--mount", "--propagation", "private", "sh", "-s"], {
      stdin: new Blob([CHROOT_SCRIPT]),
      stdout: "pipe",
      stderr: "pipe",
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ROOTFS: rootfs.path, T: dir, BINARY },
    });
    timings.startupMs = await waitForSocket(socket(), async () =>
      plugin.exitCode === null ? undefined : `the chrooted plugin exited with ${plugin.exitCode}: ${await new Response(plugin.stderr as ReadableStream).text()}`,
    );
    server = await startBunServer(PORT);
  }, 300_000);

  afterAll(async () => {
    await server?.stop();
    if (plugin && plugin.exitCode === null) plugin.kill("SIGTERM");
    const code = await plugin?.exited;
    // The directories it made for the socket (/run/scope and below) go with it.
    const left = dir ? existsSync(join(dir, "upper", "run", "scope")) : false;
    if (dir) rmSync(dir, { recursive: true, force: true });
    console.log(`binary test: build ${(timings.buildMs! / 1000).toFixed(1)} s, debootstrap ${(timings.debootstrapMs! / 1000).toFixed(1)} s (0 = cached), plugin up in ${(timings.startupMs! / 1000).toFixed(2)} s, exit ${code}`);
    expect({ code, left }).toEqual({ code: 0, left: false });
  }, 30_000);

  test("the root is a fresh Debian's: /var/run a symlink to /run, no /run/scope", () => {
    expect(readFileSync(join(dir, "layout.txt"), "utf8")).toBe("/run\nno /run/scope\n");
  });

  test("the root file system has no libbpf, libelf, zlib, clang or libbpf headers", () => {
    expect(readFileSync(join(dir, "found.txt"), "utf8")).toBe("");
  });

  test("--system-libbpf fails there with one clear line, proving none is on the host", () => {
    const text = readFileSync(join(dir, "system.txt"), "utf8");
    expect(text).toStartWith("http-statistics: cannot open the system's libbpf (tried libbpf.so.1, libbpf.so): ");
    expect(text.trim().split("\n")).toHaveLength(1);
  });

  test("--version names the build and the embedded libbpf", () => {
    const lines = readFileSync(join(dir, "version.txt"), "utf8").trim().split("\n");
    expect(lines[0]).toMatch(/^http-statistics \d+\.\d+\.\d+ \(commit [0-9a-f]{12}\)$/);
    expect(lines[1]).toMatch(/^libbpf v1\.\d+ \(embedded: libbpf1 \S+, libelf1 \S+, zlib1g \S+\)$/);
  });

  test("libbpf, libelf and libz are mapped from memory files, not from disk", () => {
    const maps = readFileSync(`/proc/${plugin.pid}/maps`, "utf8");
    for (const soname of ["libz.so.1", "libelf.so.1", "libbpf.so.1"]) expect(maps).toContain(`/memfd:${soname} (deleted)`);
    expect(maps.split("\n").filter((l) => / \/\S*(libbpf|libelf|libz)[^ ]*$/.test(l) && !l.includes("/memfd:"))).toEqual([]);
  });

  test("--health-check answers 0 for the live socket and 1, in one line, for a missing one", async () => {
    const ok = await $`${BINARY} --health-check --socket ${socket()}`.nothrow().quiet();
    expect(ok.exitCode).toBe(0);
    const missing = await $`${BINARY} --health-check --socket ${join(dir, "none.sock")}`.nothrow().quiet();
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr.toString()).toBe(`http-statistics: no plugin socket at ${join(dir, "none.sock")}\n`);
  });

  test("real requests to a loopback server come back as exact counts on its pid through the default socket, under /run/scope", async () => {
    expect(statSync(socket()).isSocket()).toBe(true);
    const codes = await curl(statusUrls(`http://127.0.0.1:${PORT}`, PLAN));
    expect(codes).toEqual([200, 200, 200, 404]);
    const report = await reportAfter(() => getReport(socket()), Date.now());
    expect(totals(report, hostname(), server.servingPids[0]!)).toEqual({
      http_requests_per_second: 4,
      http_200_responses_per_second: 3,
      http_404_responses_per_second: 1,
    });
  });
});
