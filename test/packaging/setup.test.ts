/**
 * scripts/setup.sh on a stock Debian 12 (the cached debootstrap minbase, in
 * an overlay that vanishes with the private mount namespace), asked with
 * --dry-run what it would do: with nothing but Debian's packages it must
 * get npm from apt rather than stop, wait for apt's lock rather than fail,
 * and for --build install the build toolchain only.
 */
import { $ } from "bun";
import { beforeAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { REPO, requireRoot } from "../support/plugin";
import { ensureRootfs, ROOTFS } from "../support/rootfs";

const IN_OVERLAY = `
set -eu
mount -t overlay overlay -o "lowerdir=$ROOTFS,upperdir=$T/upper,workdir=$T/work" "$T/root"
mkdir -p "$T/root/src/scripts"
cp "$REPO/scripts/setup.sh" "$T/root/src/scripts/setup.sh"
exec chroot "$T/root" /bin/bash /src/scripts/setup.sh "$@"
`;

async function dryRun(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const T = mkdtempSync("/tmp/hs-setup-");
  for (const sub of ["upper", "work", "root"]) mkdirSync(join(T, sub));
  try {
    const r = await $`unshare --mount --propagation private sh -c ${IN_OVERLAY} sh ${args}`.env({ ...process.env, T, ROOTFS, REPO, PATH: "/usr/sbin:/usr/bin:/sbin:/bin" }).nothrow().quiet();
    return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  } finally {
    rmSync(T, { recursive: true, force: true });
  }
}

const APT = "apt-get -o DPkg::Lock::Timeout=600";

beforeAll(async () => {
  requireRoot();
  await ensureRootfs();
}, 600_000);

test("--build on a stock Debian 12: the build toolchain and npm from apt (Debian's nodejs has none), then Bun from npm", async () => {
  expect(await dryRun("--build", "--dry-run")).toEqual({
    code: 0,
    stdout: [
      `would run: ${APT} update -qq`,
      `would run: env DEBIAN_FRONTEND=noninteractive ${APT} install -y -qq --no-install-recommends clang llvm bpftool libbpf-dev libbpf1 libelf1 npm`,
      "would run: npm install -g --silent bun@1.4.5",
      "would run: bun install --frozen-lockfile --silent",
      "",
    ].join("\n"),
    stderr: "",
  });
}, 60_000);

test("without --build: the test servers, clients and benchmark peers as well", async () => {
  const r = await dryRun("--dry-run");
  expect(r.code).toBe(0);
  const install = r.stdout.split("\n").find((line) => line.includes(" install -y "));
  // util-linux is part of minbase already.
  expect(install).toBe(
    `would run: env DEBIAN_FRONTEND=noninteractive ${APT} install -y -qq --no-install-recommends clang llvm bpftool libbpf-dev libbpf1 libelf1 nginx-light curl python3 wrk nodejs iproute2 debootstrap buildah podman runc bpftrace liburing-dev libpcap0.8 libdbus-1-3 chromium fonts-dejavu-core prometheus tmux python3-gunicorn uwsgi-core uwsgi-plugin-python3 varnish nghttp2-server nghttp2-client python3-h2 python3-grpcio python3-hypercorn openssl gnutls-bin golang-go libssl-dev npm`,
  );
}, 60_000);

test("a wrong argument: one line, exit 1, nothing run", async () => {
  expect(await dryRun("--frobnicate")).toEqual({ code: 1, stdout: "", stderr: "setup.sh: unknown argument '--frobnicate' (--build, --dry-run)\n" });
}, 60_000);
