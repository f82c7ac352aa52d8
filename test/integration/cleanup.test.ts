/**
 * Per-process state does not outlive the process: after a server dies
 * (killed, so its sockets close without a close() we could see), its
 * counters leave the kernel map and its node leaves the report. Its
 * connections' parser state lived in the sockets and went with them.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { REQUEST_SLOT } from "../../src/kernel/kernel_abi";
import { counterRowsOf, entriesOfTgid, mapIdsOf } from "../support/kernel_maps";
import { REPO, startPlugin, totals } from "../support/plugin";
import { startBunServer } from "../support/servers";
import { curl, statusUrls } from "../support/traffic";

test("a killed server's counters and node are gone once it has been idle for the window", async () => {
  const plugin = await startPlugin({ args: ["--window", "2"] });
  const server = await startBunServer(18197);
  // A keep-alive connection that stays open until the server dies.
  const held = Bun.spawn(["python3", join(REPO, "test/fixtures/keepalive_client.py"), "18197"], { stdin: "pipe", stdout: "pipe" });
  try {
    held.stdin.write("/status/200\n");
    held.stdin.flush();
    const reader = held.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let line = "";
    for (let chunk = await reader.read(); ; chunk = await reader.read()) {
      line += chunk.value ?? "";
      if (chunk.done || line.includes("\n")) break;
    }
    expect(line).toBe("200\n");
    await curl(statusUrls("http://127.0.0.1:18197", { 200: 1, 500: 1 }), { close: true });
    const pid = server.servingPids[0]!;
    expect(totals(await plugin.reportAfter(Date.now()), plugin.hostId, pid)).toEqual({
      http_requests_per_second: 3,
      http_200_responses_per_second: 2,
      http_500_responses_per_second: 1,
    });
    const maps = mapIdsOf(plugin.proc.pid);
    // Requests, 200, 500, and the latency buckets its three requests fell in (each with its durations' sum).
    const rows = counterRowsOf(plugin.proc.pid, pid);
    expect(rows.slots).toEqual([REQUEST_SLOT, 200, 500]);
    expect(rows.timed).toBe(3);
    expect(entriesOfTgid(maps.counters!, pid)).toBe(rows.entries);

    await server.stop();
    let left = { counters: -1, inReport: true };
    for (let i = 0; i < 40; i++) {
      await Bun.sleep(500);
      left = {
        counters: entriesOfTgid(maps.counters!, pid),
        inReport: `${plugin.hostId};${pid}` in (await plugin.report()).Process.nodes,
      };
      if (left.counters === 0 && !left.inReport) break;
    }
    expect(left).toEqual({ counters: 0, inReport: false });
  } finally {
    held.kill();
    await server.stop();
    await plugin.stop();
  }
}, 60_000);
