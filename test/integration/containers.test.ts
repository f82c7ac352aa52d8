/**
 * Container attribution with a real container: nginx in Podman (built
 * offline from this host's nginx), nginx on the host beside it, the real
 * plugin. The container's node `<id>;<container>` must count exactly what
 * the container served, the host nginx must be in no container node, and
 * the host node must hold the totals of every process in the same report.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { containerIdFromCgroup, ContainerResolver } from "../../src/pipeline/containers";
import { requireRoot, startPlugin, type RunningPlugin, type ScopeReport } from "../support/plugin";
import { ensureNginxImage, requirePodman, runNginxContainer, type NginxContainer } from "../support/podman";
import { startNginx, type RunningServer } from "../support/servers";
import { curl, statusUrls } from "../support/traffic";

const CONTAINER_PORT = 18631;
const HOST_PORT = 18632;
const HOST_ID = "containers-test";
const CONTAINER_PLAN = { 200: 5, 404: 2, 503: 1, 418: 1 };
const HOST_PLAN = { 200: 3, 500: 2 };

let plugin: RunningPlugin;
let container: NginxContainer;
let hostNginx: RunningServer;
let dir: string;

type Node = { metrics?: Record<string, { samples: { value: number }[] }> };

/** Window sums of the count metrics (per second) of a node; latency percentiles are no counts to sum. */
function sums(node: Node | undefined): Record<string, number> {
  return Object.fromEntries(
    Object.entries(node?.metrics ?? {})
      .filter(([id]) => id.endsWith("_per_second"))
      .map(([id, m]) => [id, m.samples.reduce((s, x) => s + x.value, 0)]),
  );
}

function addInto(into: Record<string, number>, more: Record<string, number>) {
  for (const [id, n] of Object.entries(more)) into[id] = (into[id] ?? 0) + n;
}

beforeAll(async () => {
  requireRoot();
  requirePodman();
  await ensureNginxImage();
  dir = mkdtempSync(join(tmpdir(), "hs-containers-"));
  container = await runNginxContainer("hs-test-containers-nginx", CONTAINER_PORT, [200, 404, 418, 503], dir);
  hostNginx = await startNginx({ port: HOST_PORT, workers: 1 });
  // A window longer than the test: the sums below cover all of its traffic.
  plugin = await startPlugin({ hostId: HOST_ID, args: ["--window", "30"] });
}, 600_000);

afterAll(async () => {
  await plugin?.stop();
  await hostNginx?.stop();
  await container?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe("a Podman container running nginx", () => {
  let report: ScopeReport;

  beforeAll(async () => {
    for (let i = 0; i < 100; i++) {
      try {
        if ((await curl([`http://127.0.0.1:${CONTAINER_PORT}/status/200`]))[0] === 200) break;
      } catch {
        // not listening yet
      }
      await Bun.sleep(50);
    }
    // The readiness request above counts too: one more 200 for the container.
    const inContainer = await curl(statusUrls(`http://127.0.0.1:${CONTAINER_PORT}`, CONTAINER_PLAN));
    const onHost = await curl(statusUrls(`http://127.0.0.1:${HOST_PORT}`, HOST_PLAN));
    expect(inContainer).toEqual([200, 200, 200, 200, 200, 404, 404, 418, 503]);
    expect(onHost).toEqual([200, 200, 200, 500, 500]);
    report = await plugin.reportAfter(Date.now());
  }, 60_000);

  test("its processes' cgroups name the container's full id; the host nginx's and conmon's do not", () => {
    const resolver = new ContainerResolver();
    expect(resolver.containerOf(container.masterPid)).toBe(container.id);
    expect(resolver.containerOf(container.workerPid)).toBe(container.id);
    expect(container.id).toMatch(/^[0-9a-f]{64}$/);
    expect(resolver.containerOf(hostNginx.servingPids[0]!)).toBeUndefined();
    const conmon = Number(readFileSync(`/proc/${container.masterPid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]);
    expect(readFileSync(`/proc/${conmon}/comm`, "utf8").trim()).toBe("conmon");
    expect(containerIdFromCgroup(readFileSync(`/proc/${conmon}/cgroup`, "utf8"))).toBeUndefined();
  });

  test("the container node <id>;<container> counts exactly what the container served", () => {
    const node = (report.Container as { nodes: Record<string, Node & { id: string; topology: string }> }).nodes[`${container.id};<container>`];
    expect(node?.id).toBe(`${container.id};<container>`);
    expect(node?.topology).toBe("container");
    expect(sums(node)).toEqual({
      http_requests_per_second: 10,
      http_200_responses_per_second: 6,
      http_404_responses_per_second: 2,
      http_503_responses_per_second: 1,
      http_OTHERS_responses_per_second: 1,
    });
    // The same counts on the worker's process node: one worker served them all.
    expect(sums(report.Process.nodes[`${HOST_ID};${container.workerPid}`])).toEqual(sums(node));
  });

  test("the host nginx is counted on its process and the host, in no container node", () => {
    expect(sums(report.Process.nodes[`${HOST_ID};${hostNginx.servingPids[0]}`])).toEqual({
      http_requests_per_second: 5,
      http_200_responses_per_second: 3,
      http_500_responses_per_second: 2,
    });
    // Other sessions' containers may serve HTTP on this machine too, but no container node counts a 500:
    // only the host nginx sent one.
    const containerNodes = Object.values((report.Container as { nodes: Record<string, Node> }).nodes);
    for (const node of containerNodes) expect(sums(node)["http_500_responses_per_second"]).toBeUndefined();
  });

  test("the host node <host>;<host> holds the sum over every process of the report", () => {
    const expected: Record<string, number> = {};
    for (const node of Object.values(report.Process.nodes)) addInto(expected, sums(node));
    const host = (report.Host as { nodes: Record<string, Node> }).nodes[`${HOST_ID};<host>`];
    expect(sums(host)).toEqual(expected);
    expect(sums(host)["http_500_responses_per_second"]).toBeGreaterThanOrEqual(2);
    expect(sums(host)["http_404_responses_per_second"]).toBeGreaterThanOrEqual(2);
  });
});
