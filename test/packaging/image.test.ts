/**
 * Issue 5, the image: the Dockerfile builds with buildah/podman and no
 * registry (its base images are made locally: Debian from the cached
 * debootstrap rootfs, Bun's from this host's bun binary, each under the very
 * name the Dockerfile's FROM uses, and pulls are disabled). The container
 * then serves exact counts through the mounted plugins directory, run once
 * with the seed's `docker run` flags and once with only CAP_BPF, CAP_PERFMON
 * and CAP_SYS_ADMIN, and never with kernel headers or /lib/modules.
 */
import { $ } from "bun";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { REPO, reportAfter, requireRoot, totals } from "../support/plugin";
import { dockerfileArg, ensureDebianImage, GLOBAL, imageExists, LIMITS, podman, requirePodman } from "../support/podman";
import { startBunServer, type RunningServer } from "../support/servers";
import { getReport, waitForSocket } from "../support/socket_client";
import { curl, statusUrls } from "../support/traffic";

const PORT = 18520;
const IMAGE = "localhost/http-statistics:test";
const CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt";

/** The Dockerfile's base images, made on this host under the names its FROM lines use. */
async function makeBaseImages(): Promise<void> {
  await ensureDebianImage();
  const bunImage = dockerfileArg("BUN_IMAGE");
  const wanted = bunImage.split(":").pop()!;
  if (Bun.version !== wanted) throw new Error(`the Dockerfile wants bun ${wanted} (${bunImage}) but this host has ${Bun.version}: make them agree`);
  if (!(await imageExists(bunImage))) {
    // Bun's official image keeps its binary at /usr/local/bin/bun, the one path the Dockerfile copies.
    const ctr = (await $`buildah from scratch`.text()).trim();
    await $`buildah copy -q ${ctr} ${process.execPath} /usr/local/bin/bun`.quiet();
    await $`buildah commit -q ${ctr} ${bunImage}`.quiet();
    await $`buildah rm ${ctr}`.quiet();
  }
}

interface Container {
  name: string;
  proc: ReturnType<typeof Bun.spawn>;
  socket: string;
  dir: string;
  hostId: string;
}

async function runContainer(name: string, hostId: string, securityFlags: string[]): Promise<Container> {
  const dir = mkdtempSync("/tmp/hs-image-");
  mkdirSync(join(dir, "plugins"));
  await $`podman ${GLOBAL} rm -f ${name}`.nothrow().quiet();
  const proc = Bun.spawn(
    ["podman", ...GLOBAL, "run", "--rm", "--name", name, ...securityFlags, "--net=host", "--pid=host", ...LIMITS,
      "-v", `${join(dir, "plugins")}:/var/run/scope/plugins`, IMAGE, "--hostname", hostId],
    { stdout: "pipe", stderr: "pipe" },
  );
  const socket = join(dir, "plugins", "http-statistics", "http-statistics.sock");
  await waitForSocket(socket, async () =>
    proc.exitCode === null ? undefined : `container ${name} exited with ${proc.exitCode}: ${await new Response(proc.stderr as ReadableStream).text()}`,
  );
  return { name, proc, socket, dir, hostId };
}

async function stopContainer(container: Container | undefined): Promise<number | undefined> {
  if (!container) return undefined;
  await $`podman ${GLOBAL} stop -t 10 ${container.name}`.nothrow().quiet();
  const code = await container.proc.exited;
  rmSync(container.dir, { recursive: true, force: true });
  return code;
}

const PLAN = { 200: 2, 503: 1 };
const EXPECTED = { http_requests_per_second: 3, http_200_responses_per_second: 2, http_503_responses_per_second: 1 };

async function countsSeenBy(container: Container, server: RunningServer) {
  const codes = await curl(statusUrls(`http://127.0.0.1:${PORT}`, PLAN));
  expect(codes).toEqual([200, 200, 503]);
  return totals(await reportAfter(() => getReport(container.socket), Date.now()), container.hostId, server.servingPids[0]!);
}

describe("the container image, built and run with buildah/podman and no registry", () => {
  let server: RunningServer;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    requireRoot();
    requirePodman();
    let t = performance.now();
    await makeBaseImages();
    timings.baseImagesMs = performance.now() - t;
    t = performance.now();
    const commit = (await $`git rev-parse --short=12 HEAD`.cwd(REPO).nothrow().quiet()).stdout.toString().trim() || "unknown";
    const secret = existsSync(CA_BUNDLE) ? ["--secret", `id=extra_ca,src=${CA_BUNDLE}`] : [];
    await podman(["build", "--pull=never", ...LIMITS, ...secret, "--build-arg", `GIT_COMMIT=${commit}`, "-t", IMAGE, "."], "building the image");
    timings.buildMs = performance.now() - t;
    server = await startBunServer(PORT);
  }, 900_000);

  afterAll(async () => {
    await server?.stop();
    console.log(`image test: base images ${(timings.baseImagesMs! / 1000).toFixed(1)} s, podman build ${(timings.buildMs! / 1000).toFixed(1)} s`);
  }, 30_000);

  test("the image holds the binary and the glibc files it links, nothing else", async () => {
    const ctr = (await podman(["create", IMAGE], "creating a container")).trim();
    const tar = join(mkdtempSync("/tmp/hs-image-"), "fs.tar");
    await podman(["export", "-o", tar, ctr], "exporting the container");
    await podman(["rm", ctr], "removing the container");
    const listing = await $`tar -tf ${tar}`.text();
    rmSync(join(tar, ".."), { recursive: true, force: true });
    const files = listing.split("\n").filter((f) => f && !f.endsWith("/")).sort();
    expect(files).toEqual([
      "lib/x86_64-linux-gnu/libc.so.6",
      "lib/x86_64-linux-gnu/libdl.so.2",
      "lib/x86_64-linux-gnu/libm.so.6",
      "lib/x86_64-linux-gnu/libpthread.so.0",
      "lib64/ld-linux-x86-64.so.2",
      "usr/bin/http-statistics",
    ]);
    const size = Number((await podman(["image", "inspect", IMAGE, "--format", "{{.Size}}"], "inspecting the image")).trim());
    console.log(`image size: ${(size / 1e6).toFixed(1)} MB`);
    expect(size).toBeLessThan(125e6);
  });

  test("with the seed's flags (--privileged --net=host --pid=host, plugins dir mounted): exact counts from the host", async () => {
    const container = await runContainer("hs-test-privileged", "image-privileged", ["--privileged"]);
    try {
      expect(await countsSeenBy(container, server)).toEqual(EXPECTED);
    } finally {
      expect(await stopContainer(container)).toBe(0);
    }
  }, 60_000);

  test("as the DaemonSet runs it: only CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN, read-only root, no tracefs (the socket capture needs none): exact counts", async () => {
    const container = await runContainer("hs-test-caps", "image-caps", ["--cap-drop=all", "--cap-add=BPF,PERFMON,SYS_ADMIN", "--read-only"]);
    try {
      const pid = Number((await podman(["inspect", "--format", "{{.State.Pid}}", container.name], "inspecting the container")).trim());
      const mounts = readFileSync(`/proc/${pid}/mountinfo`, "utf8").split("\n");
      expect(mounts.filter((m) => m.includes(" - tracefs ")).map((m) => m.split(" ")[4])).toEqual([]);
      expect(mounts.filter((m) => /\/lib\/modules|\/usr\/src|\/sys\/kernel\/debug/.test(m))).toEqual([]);
      expect(await countsSeenBy(container, server)).toEqual(EXPECTED);
      // The DaemonSet's readiness probe, run the way the kubelet runs it: inside the container.
      const probe = await $`podman ${GLOBAL} exec ${container.name} /usr/bin/http-statistics --health-check`.nothrow().quiet();
      expect(probe.exitCode).toBe(0);
    } finally {
      expect(await stopContainer(container)).toBe(0);
    }
  }, 60_000);

  // The exact set under Podman's default seccomp profile, which lets bpf()
  // through only with CAP_SYS_ADMIN: that one capability is enough (it
  // implies CAP_BPF and CAP_PERFMON), and CAP_BPF + CAP_PERFMON alone, even
  // with the host's tracefs mounted in, are refused with one clear line.
  test("least privilege in a container: CAP_SYS_ADMIN alone on a read-only root counts exactly", async () => {
    const container = await runContainer("hs-test-sysadmin", "image-sysadmin", ["--cap-drop=all", "--cap-add=SYS_ADMIN", "--read-only"]);
    try {
      expect(await countsSeenBy(container, server)).toEqual(EXPECTED);
    } finally {
      expect(await stopContainer(container)).toBe(0);
    }
  }, 60_000);

  test("least privilege in a container: CAP_BPF + CAP_PERFMON without CAP_SYS_ADMIN are refused by seccomp, named in one line", async () => {
    const r = await $`podman ${GLOBAL} run --rm --cap-drop=all --cap-add=BPF,PERFMON --read-only -v /sys/kernel/tracing:/sys/kernel/tracing --net=host --pid=host ${LIMITS} ${IMAGE} --socket /tmp/x.sock`.nothrow().quiet();
    expect({ code: r.exitCode, stderr: r.stderr.toString() }).toEqual({
      code: 1,
      stderr:
        "http-statistics: the kernel refused the eBPF programs: a seccomp filter forbids bpf() without CAP_SYS_ADMIN (container runtimes' default profiles do): add CAP_SYS_ADMIN, or run with an unconfined seccomp profile\n",
    });
  }, 60_000);
});
