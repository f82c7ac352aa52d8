/**
 * Differential fuzzing of the kernel's HTTP/2 walker against a reference
 * HPACK decoder (Python's hpack, Debian's python3-h2), through real
 * sockets, under both captures. Each seed is one connection between two
 * processes of test/fixtures/http2_fuzz_peer.py: a server answering with
 * random frames (1xx, literal, Huffman, never-indexed and table-referenced
 * statuses, CONTINUATION, padding, priority, trailers, resets, PINGs,
 * extension frames, table size updates) written in chunks of random sizes,
 * and a client that reads in random sizes and decodes every answer. The
 * client's decoder is the truth: requests must match exactly, and every
 * final status must be counted under its code or named (h2_dynamic_table:
 * a reference older than the insertions the kernel remembers), never under
 * another code, never more than sent; no connection may lose its place.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { LOSS_REASONS } from "../../src/kernel/kernel_abi";
import { lossKey } from "../../src/outputs/report";
import { afterNextTick, REPO, startPlugin, type RunningPlugin } from "../support/plugin";
import { processSeries, sideCounts } from "../support/metrics_text";
import { reportedLoss } from "../accuracy/harness";

setDefaultTimeout(120_000);

const PEER = join(REPO, "test", "fixtures", "http2_fuzz_peer.py");
// Debian's interpreter: the one with python3-h2's hpack.
const PYTHON = "/usr/bin/python3";
const SEEDS = [1, 2, 3, 4, 5, 6];
const STREAMS = 120;

interface Counts {
  requests: number;
  codes: Record<string, number>;
}

async function lossTotals(plugin: RunningPlugin): Promise<Record<string, number>> {
  const report = await plugin.report();
  return Object.fromEntries(LOSS_REASONS.map((r) => [r, reportedLoss(report, plugin.hostId, lossKey(r))]));
}

/** One seed: the reference's counts, and the pids of both ends. */
async function connection(seed: number): Promise<{ truth: Counts; server: number; client: number }> {
  const server = Bun.spawn([PYTHON, PEER, "server", String(seed)], { stdout: "pipe", stderr: "inherit" });
  const reader = server.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`fuzz server (seed ${seed}) exited before listening`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const client = Bun.spawn([PYTHON, PEER, "client", String(seed), text.trim(), String(STREAMS)], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(client.stdout).text(), new Response(client.stderr).text(), client.exited]);
  if (code !== 0) throw new Error(`fuzz client (seed ${seed}) exited ${code}: ${err}`);
  await server.exited;
  return { truth: JSON.parse(out) as Counts, server: server.pid, client: client.pid };
}

function sum(codes: Record<string, number>): number {
  return Object.values(codes).reduce((a, b) => a + b, 0);
}

describe.each(["socket", "syscalls"])("--capture=%s", (capture) => {
  let plugin: RunningPlugin;
  beforeAll(async () => {
    plugin = await startPlugin({ args: ["--window", "300", `--capture=${capture}`] });
  }, 30_000);
  afterAll(async () => {
    await plugin?.stop();
  }, 30_000);

  test(`${SEEDS.length} random connections of ${STREAMS} streams: requests exact, statuses exact or named, never another code`, async () => {
    const before = await lossTotals(plugin);
    const runs = [];
    for (const seed of SEEDS) runs.push({ seed, ...(await connection(seed)) });
    await afterNextTick();
    await afterNextTick();
    let named = 0;
    let missing = 0;
    for (const run of runs) {
      for (const [pid, side] of [[run.server, "server"], [run.client, "client"]] as const) {
        const counted = sideCounts(await processSeries(plugin, pid), side);
        const codes = Object.fromEntries(Object.entries(counted.codes).map(([c, n]) => [String(c), n]));
        expect({ seed: run.seed, side, requests: counted.requests }).toEqual({ seed: run.seed, side, requests: run.truth.requests });
        for (const [code, n] of Object.entries(codes)) expect({ seed: run.seed, side, code, over: n > (run.truth.codes[code] ?? 0) }).toEqual({ seed: run.seed, side, code, over: false });
        missing += sum(run.truth.codes) - sum(codes);
      }
    }
    const after = await lossTotals(plugin);
    named = after.h2_dynamic_table! - before.h2_dynamic_table!;
    expect(after.h2_lost! - before.h2_lost!).toBe(0);
    // Every status not counted was named. A block whose first field is an
    // entry we no longer remember may also have been trailers or a 1xx: named
    // as well, so the names can outnumber the statuses missing.
    expect(named).toBeGreaterThanOrEqual(missing);
    process.stdout.write(`http2 fuzz (${capture}): ${runs.length * STREAMS} streams a side, ${missing} final statuses not counted, ${named} blocks named h2_dynamic_table\n`);
  });
});
