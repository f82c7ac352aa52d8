/**
 * Differential fuzzing of the kernel's HTTP parser against llhttp (Node's
 * node:http), through real sockets. Each stream is one TCP connection to
 * its own Node server process (a pool of them, so that the plugin's
 * per-process counts are per-stream counts). Where llhttp accepts the
 * stream, the plugin's request and response counts must equal llhttp's;
 * where it rejects it, the plugin must count no more than llhttp did.
 * Streams are deterministic (seed below): a mismatch is replayable from its index.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { REPO, requireRoot, startPlugin, totals, type RunningPlugin, type ScopeReport } from "../support/plugin";
import { lossKey } from "../../src/outputs/report";
import { waitForPort } from "../support/servers";
import { fuzzStreams, type FuzzStream } from "./fuzz_streams";

const SEED = 0x5eed12;
const STREAMS = 400;
const POOL = 16;
const FIRST_PORT = 18740;

/**
 * Streams the kernel parser counts differently from llhttp, by index; the
 * test asserts every other stream and writes these, byte for byte, to
 * build/fuzz-mismatches.txt. Issue 8's parser (a request counts once its
 * head is whole and framed one way, request lines validated) brought them
 * from 112 to 31 (same seed, 400 streams). What is left:
 * - llhttp rejects the message, the kernel counts its request anyway:
 *   header lines are not validated (an invalid token or byte in a header
 *   name, a lone CR: 20), an invalid chunk size after the request was
 *   counted (3), a non-token byte in the URL that is not a control (1);
 * - llhttp accepts, the kernel counts fewer: 'GET / HTTP/2.0' is not an
 *   HTTP/1.x request line to it (7, as malformed messages after valid ones).
 */
const KNOWN_MISMATCHES = new Set<number>([
  8, 18, 28, 29, 38, 78, 79, 88, 98, 118, 138, 148, 178, 188, 208, 218, 228, 229, 258, 279, 289,
  298, 308, 318, 328, 338, 358, 368, 369, 378, 398
]);

interface Reference {
  requests: number;
  responses: number;
  error: string | null;
}

interface Server {
  pid: number;
  port: number;
  proc: ReturnType<typeof Bun.spawn>;
  nextLine(): Promise<string>;
}

let plugin: RunningPlugin;
const servers: Server[] = [];

async function startServer(port: number): Promise<Server> {
  const proc = Bun.spawn(["node", join(REPO, "test/fixtures/fuzz_server.mjs"), String(port)], { stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const nextLine = async () => {
    for (;;) {
      const newline = buffered.indexOf("\n");
      if (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        return line;
      }
      const { value, done } = await reader.read();
      if (done) throw new Error(`fuzz server on ${port} exited`);
      buffered += value;
    }
  };
  expect(await nextLine()).toBe("ready");
  await waitForPort(port);
  // The readiness probe's connection reports too: consume its line.
  await nextLine();
  return { pid: proc.pid, port, proc, nextLine };
}

/**
 * Sends one stream on a new connection, piece by piece, then half-closes;
 * resolves, once the server closes, with the status lines it answered (the
 * answers' bodies are "ok" or empty, so every match is a status line).
 */
function send(stream: FuzzStream, port: number): Promise<number[]> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port, noDelay: true });
    let received = "";
    socket.on("data", (chunk) => (received += chunk.toString("latin1")));
    socket.on("error", () => {});
    const timer = setTimeout(() => socket.destroy(), 5000);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve([...received.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1])));
    });
    socket.once("connect", async () => {
      const bounds = [0, ...stream.splits, stream.bytes.length];
      for (let i = 0; i + 1 < bounds.length && !socket.destroyed; i++) {
        socket.write(stream.bytes.subarray(bounds[i], bounds[i + 1]));
        if (bounds.length > 2) await Bun.sleep(1);
      }
      socket.end();
    });
  });
}

function counted(report: ScopeReport, pid: number): { requests: number; responses: number } {
  const t = totals(report, plugin.hostId, pid);
  const responses = Object.entries(t).filter(([id]) => id !== "http_requests_per_second").reduce((a, [, v]) => a + v, 0);
  return { requests: t.http_requests_per_second ?? 0, responses };
}

function losses(report: ScopeReport): Record<string, number> {
  const host = (report.Host as { nodes: Record<string, { latest: Record<string, { value: string }> }> }).nodes[`${plugin.hostId};<host>`]!;
  const prefix = lossKey("");
  return Object.fromEntries(
    Object.entries(host.latest)
      .filter(([id]) => id.startsWith(prefix))
      .map(([id, v]) => [id.slice(prefix.length), Number(v.value)]),
  );
}

beforeAll(async () => {
  requireRoot();
  plugin = await startPlugin({ args: ["--window", "300"] });
  for (let i = 0; i < POOL; i++) servers.push(await startServer(FIRST_PORT + i));
}, 60_000);
afterAll(async () => {
  for (const s of servers) s.proc.kill();
  await plugin?.stop();
}, 30_000);

test(`${STREAMS} mutated HTTP/1.x streams through real sockets: the plugin agrees with llhttp`, async () => {
  const streams = fuzzStreams(SEED, STREAMS);
  let before = await plugin.reportAfter(Date.now());
  const lossesBefore = losses(before);
  const mismatches: string[] = [];
  const known: string[] = [];
  let accepted = 0;
  const summary = new Map<string, number>();
  for (let start = 0; start < streams.length; start += POOL) {
    const batch = streams.slice(start, start + POOL);
    const references = await Promise.all(
      batch.map(async (stream, i) => {
        const server = servers[i]!;
        const line = server.nextLine();
        const statuses = await send(stream, server.port);
        const parsed = JSON.parse(await line) as Reference;
        // What went over the wire is the truth: Node also answers some bad requests with a 400 of its own, without a clientError.
        return { requests: parsed.requests, responses: statuses.length, error: parsed.error ?? (statuses.includes(400) ? "400 from Node" : null) };
      }),
    );
    const after = await plugin.reportAfter(Date.now());
    batch.forEach((stream, i) => {
      const pid = servers[i]!.pid;
      const was = counted(before, pid);
      const now = counted(after, pid);
      const got = { requests: now.requests - was.requests, responses: now.responses - was.responses };
      const ref = references[i]!;
      const ok = ref.error === null ? got.requests === ref.requests && got.responses === ref.responses : got.requests <= ref.requests && got.responses <= ref.responses;
      if (ref.error === null) accepted++;
      if (ok) return;
      const over = (a: number, b: number) => (a > b ? "more" : a < b ? "fewer" : "same");
      summary.set(`${stream.kind} | llhttp ${ref.error ?? "accepts"} | requests ${over(got.requests, ref.requests)}, responses ${over(got.responses, ref.responses)}`, (summary.get(`${stream.kind} | llhttp ${ref.error ?? "accepts"} | requests ${over(got.requests, ref.requests)}, responses ${over(got.responses, ref.responses)}`) ?? 0) + 1);
      const line = `#${stream.index} (${stream.kind}): llhttp ${JSON.stringify(ref)}, plugin ${JSON.stringify(got)}, bytes ${JSON.stringify(stream.bytes.toString("latin1"))}${stream.splits.length ? `, split at ${JSON.stringify(stream.splits)}` : ""}`;
      (KNOWN_MISMATCHES.has(stream.index) ? known : mismatches).push(line);
    });
    before = after;
  }
  const lossDelta = Object.fromEntries(Object.entries(losses(before)).map(([k, v]) => [k, v - (lossesBefore[k] ?? 0)]).filter(([, v]) => (v as number) > 0));
  console.log(`fuzz: ${STREAMS} streams (seed ${SEED}), ${accepted} accepted by llhttp, ${STREAMS - accepted} rejected; mismatches ${mismatches.length} (+${known.length} known); losses ${JSON.stringify(lossDelta)}`);
  for (const [what, n] of [...summary].sort()) console.log(`  ${n} x ${what}`);
  const nowAgree = [...KNOWN_MISMATCHES].filter((index) => !known.some((line) => line.startsWith(`#${index} `)));
  if (nowAgree.length) console.log(`fuzz: known mismatches that now agree with llhttp: ${nowAgree.join(", ")}`);
  writeFileSync(join(REPO, "build", "fuzz-mismatches.txt"), [...mismatches, ...known].join("\n") + "\n");
  expect(mismatches).toEqual([]);
}, 300_000);
