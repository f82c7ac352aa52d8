/**
 * A server in a network namespace of its own, as in a container, with a
 * keep-alive connection opened before the plugin started: the plugin finds
 * it through that namespace's /proc/<pid>/net/tcp and counts what follows.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { REPO, requireRoot, startPlugin, totals } from "../support/plugin";

const NETNS = `hs-test-${process.pid}`;
const PORT = 18195;

function sh(...argv: string[]) {
  const r = Bun.spawnSync(argv, { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr.toString()}`);
}

beforeAll(() => {
  requireRoot();
  sh("ip", "netns", "add", NETNS);
  sh("ip", "netns", "exec", NETNS, "ip", "link", "set", "lo", "up");
});

afterAll(() => {
  Bun.spawnSync(["ip", "netns", "del", NETNS]);
});

test("a connection in another network namespace, accepted before the plugin started, is counted from then on", async () => {
  const server = Bun.spawn(["ip", "netns", "exec", NETNS, process.execPath, join(REPO, "test/fixtures/bun_server.ts"), String(PORT)], {
    stdout: "ignore",
  });
  let client: ReturnType<typeof Bun.spawn<"pipe", "pipe", "inherit">> | undefined;
  let plugin: Awaited<ReturnType<typeof startPlugin>> | undefined;
  try {
    // Wait for the server inside the namespace to listen.
    for (let i = 0; i < 200; i++) {
      const probe = Bun.spawnSync(["ip", "netns", "exec", NETNS, "curl", "-s", "-o", "/dev/null", `http://127.0.0.1:${PORT}/status/204`]);
      if (probe.exitCode === 0) break;
      await Bun.sleep(25);
    }
    client = Bun.spawn(["ip", "netns", "exec", NETNS, "python3", join(REPO, "test/fixtures/keepalive_client.py"), String(PORT)], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    });
    const lines = client.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = "";
    const nextStatus = async () => {
      while (!buffered.includes("\n")) {
        const chunk = await lines.read();
        if (chunk.done) throw new Error("the keep-alive client exited early");
        buffered += chunk.value;
      }
      const [line, ...rest] = buffered.split("\n");
      buffered = rest.join("\n");
      return Number(line);
    };
    const get = async (path: string) => {
      client!.stdin.write(`${path}\n`);
      client!.stdin.flush();
      return nextStatus();
    };
    expect(await get("/status/200")).toBe(200); // before the plugin: not counted
    plugin = await startPlugin();
    for (const code of [201, 404, 404, 200]) expect(await get(`/status/${code}`)).toBe(code);
    // `ip netns exec` execs the server in place, so the spawned pid is the server's.
    expect(totals(await plugin.reportAfter(Date.now()), plugin.hostId, server.pid)).toEqual({
      http_requests_per_second: 4,
      http_201_responses_per_second: 1,
      http_404_responses_per_second: 2,
      http_200_responses_per_second: 1,
    });
  } finally {
    client?.stdin.end();
    client?.kill();
    server.kill();
    await server.exited;
    await plugin?.stop();
  }
}, 30_000);
