/**
 * Differential fuzzing of the kernel's HTTP/2 walker against a reference
 * HPACK decoder (Python's hpack, Debian's python3-h2), through real
 * sockets, under both captures. Each seed is one connection between two
 * processes of test/fixtures/http2_fuzz_peer.py: a server answering with
 * random frames (1xx, literal, Huffman, never-indexed and table-referenced
 * statuses, CONTINUATION, padding, priority, trailers, resets, PINGs,
 * extension frames, table size updates) written in chunks of random sizes,
 * and a client that reads in random sizes and decodes every answer. The
 * client's decoder is the truth: requests and every final status must be
 * counted exactly, on both sides, except the statuses of blocks that begin
 * with a table entry older than the insertions the kernel remembers (the
 * client works out which from the block's bytes): exactly those blocks are
 * named h2_dynamic_table. The grpc-status of each block that ends a stream
 * (trailers, or beside a final status) is counted by code, exactly; a
 * block that ends a stream without one the kernel can see, but refers
 * after its first field to an entry it cannot know, is named too. No
 * connection may lose its place.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { LOSS_REASONS } from "../../src/kernel/kernel_abi";
import { lossKey } from "../../src/outputs/report";
import { REPO, startPlugin, type RunningPlugin } from "../support/plugin";
import { spawnPrintingPort } from "../support/servers";
import { grpcCounts, processSeries, sideCounts } from "../support/metrics_text";
import { reportedLoss } from "../accuracy/harness";

setDefaultTimeout(120_000);

const PEER = join(REPO, "test", "fixtures", "http2_fuzz_peer.py");
// Debian's interpreter: the one with python3-h2's hpack.
const PYTHON = "/usr/bin/python3";
const SEEDS = Array.from({ length: 12 }, (_, i) => i + 1);
const STREAMS = 120;

interface Truth {
  requests: number;
  codes: Record<string, number>;
  /** Of those, the statuses in blocks that begin with a table entry the kernel cannot know. */
  unknown: Record<string, number>;
  /** Blocks that begin so (responses, trailers or 1xx), and blocks ending a stream whose grpc-status may be in such an entry. */
  unknownBlocks: number;
  /** gRPC calls by the grpc-status name they count under. */
  grpc: Record<string, number>;
}

async function lossTotals(plugin: RunningPlugin): Promise<Record<string, number>> {
  const report = await plugin.report();
  return Object.fromEntries(LOSS_REASONS.map((r) => [r, reportedLoss(report, plugin.hostId, lossKey(r))]));
}

/** One seed: the reference's counts, and the pids of both ends. */
async function connection(seed: number): Promise<{ truth: Truth; server: number; client: number }> {
  const { proc: server, port } = await spawnPrintingPort([PYTHON, PEER, "server", String(seed)], `fuzz server (seed ${seed})`);
  const client = Bun.spawn([PYTHON, PEER, "client", String(seed), String(port), String(STREAMS)], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(client.stdout).text(), new Response(client.stderr).text(), client.exited]);
  if (code !== 0) throw new Error(`fuzz client (seed ${seed}) exited ${code}: ${err}`);
  await server.exited;
  return { truth: JSON.parse(out) as Truth, server: server.pid, client: client.pid };
}

describe.each(["socket", "syscalls"])("--capture=%s", (capture) => {
  let plugin: RunningPlugin;
  beforeAll(async () => {
    plugin = await startPlugin({ args: ["--window", "300", `--capture=${capture}`] });
  }, 30_000);
  afterAll(async () => {
    await plugin?.stop();
  }, 30_000);

  test(`${SEEDS.length} random connections of ${STREAMS} streams: requests and statuses exact, exactly the unknowable table references named`, async () => {
    const before = await lossTotals(plugin);
    const runs = [];
    for (const seed of SEEDS) runs.push({ seed, ...(await connection(seed)) });
    await plugin.reportAfter(Date.now());
    let unknownBlocks = 0;
    for (const run of runs) {
      const expected = { requests: run.truth.requests, codes: { ...run.truth.codes } };
      for (const [code, n] of Object.entries(run.truth.unknown)) expected.codes[code]! -= n;
      for (const code of Object.keys(expected.codes)) if (!expected.codes[code]) delete expected.codes[code];
      for (const [pid, side] of [[run.server, "server"], [run.client, "client"]] as const) {
        const series = await processSeries(plugin, pid);
        const counted = sideCounts(series, side);
        const codes = Object.fromEntries(Object.entries(counted.codes).map(([c, n]) => [String(c), n]));
        expect({ seed: run.seed, side, requests: counted.requests, codes, grpc: grpcCounts(series, side) }).toEqual({ seed: run.seed, side, ...expected, grpc: run.truth.grpc });
        unknownBlocks += run.truth.unknownBlocks;
      }
    }
    const after = await lossTotals(plugin);
    expect(after.h2_lost! - before.h2_lost!).toBe(0);
    // Exactly the blocks that begin with an entry the kernel cannot know are named, on each side.
    expect(after.h2_dynamic_table! - before.h2_dynamic_table!).toBe(unknownBlocks);
    const missing = runs.reduce((sum, run) => sum + Object.values(run.truth.unknown).reduce((a, b) => a + b, 0), 0);
    const grpc = runs.reduce((sum, run) => sum + Object.values(run.truth.grpc).reduce((a, b) => a + b, 0), 0);
    const grpcOther = runs.reduce((sum, run) => sum + (run.truth.grpc.OTHER ?? 0), 0);
    process.stdout.write(`http2 fuzz (${capture}): ${runs.length * STREAMS} streams a side, ${missing} final statuses a side named, not counted; ${unknownBlocks} blocks named h2_dynamic_table; ${grpc} grpc-status counted a side (${grpcOther} OTHER)\n`);
  });
});
