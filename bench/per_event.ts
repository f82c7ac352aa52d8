/**
 * What one run of the socket capture's programs costs, per event, as the
 * kernel itself times it (BPF run-time statistics), for one or more builds
 * of the eBPF object side by side:
 *
 *   sudo bun bench/per_event.ts [--rounds=N] [OBJECT ...]
 *
 * OBJECT: a compiled http_statistics.bpf.o (default: the one in build/).
 * Each is run by the product (src/main.ts, the same binary code) in turn,
 * rounds interleaved, under these loads: syscall_loop tcp-http and tcp-raw
 * (bench/syscall_loop.c), the same HTTP exchange by readv/writev in 1, 3
 * and 32 segments (iov-N: the cost of a segment), and nginx serving a 256-byte file and `return
 * 204` through wrk (-t1 -c32, 3 s), where both nginx's and wrk's calls are
 * parsed. Prints the median ns per run of hs_sock_recv, hs_sock_send and
 * hs_tcp_state (the close hook: a few runs per connection, not per call).
 * The statistics add ~20 ns per run of their own; they are switched on for
 * this and off again after. Not a timed test and not part of `bun run bench`:
 * the tool behind BENCHMARKS.md's "Where the nanoseconds go".
 */
import { $ } from "bun";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { median, OUT_DIR, PORTS, REPO, startBenchNginx } from "./lib/common";
import { buildDriver } from "./syscalls";

const OBJECT = `${REPO}/build/http_statistics.bpf.o`;
const STATS = "/proc/sys/kernel/bpf_stats_enabled";
const PROGRAMS = ["hs_sock_recv", "hs_sock_send", "hs_tcp_state"] as const;
const LOADS = ["tcp-http", "tcp-raw", "iov-1", "iov-3", "iov-32", "/static.html", "/no-content"] as const;
type Load = (typeof LOADS)[number];

function fail(message: string): never {
  process.stderr.write(`per_event: ${message}\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
const rounds = Number(args.find((a) => a.startsWith("--rounds="))?.slice(9) ?? 3);
const objects = args.filter((a) => !a.startsWith("--")).map((a) => resolve(a));
if (!Number.isInteger(rounds) || rounds < 1) fail("--rounds takes a whole number of at least 1");
for (const o of objects) if (!existsSync(o)) fail(`no such object: ${o}`);
if (process.getuid?.() !== 0) fail("loads eBPF programs: run as root");
if (!existsSync(OBJECT)) fail("build the object first: bun run build.ts --bpf");

/** Run time and count of our programs so far, by program id, from bpftool. */
async function snapshot(): Promise<Map<number, { name: string; ns: number; runs: number }>> {
  const progs = (await $`bpftool prog show -j`.json()) as { id: number; name: string; run_time_ns?: number; run_cnt?: number }[];
  const out = new Map<number, { name: string; ns: number; runs: number }>();
  for (const p of progs)
    if ((PROGRAMS as readonly string[]).includes(p.name)) out.set(p.id, { name: p.name, ns: p.run_time_ns ?? 0, runs: p.run_cnt ?? 0 });
  return out;
}

async function drive(load: Load): Promise<void> {
  if (load.startsWith("tcp-") || load.startsWith("iov-")) {
    await $`${OUT_DIR}/syscall_loop ${load} ${PORTS.syscalls} 200000`.quiet();
    return;
  }
  await $`wrk -t1 -c32 -d3s http://127.0.0.1:${PORTS.nginx}${load}`.quiet();
}

/** Resolves when the plugin says it serves: it opens its socket before the
 * kernel has verified the programs, and says so only once they are attached. */
async function attached(stderr: ReadableStream<Uint8Array>): Promise<void> {
  const decoder = new TextDecoder();
  const reader = stderr.getReader();
  const deadline = performance.now() + 30_000;
  let said = "";
  while (!said.includes("serving ")) {
    const next = await Promise.race([reader.read(), Bun.sleep(Math.max(0, deadline - performance.now())).then(() => undefined)]);
    if (!next) throw new Error("the plugin did not start within 30 s");
    if (next.done) throw new Error(`the plugin stopped before serving: ${said.trim()}`);
    said += decoder.decode(next.value, { stream: true });
  }
  reader.releaseLock();
}

/** ns per run of each program under one load, with `object` loaded by the product. */
async function measure(object: string, load: Load): Promise<number[]> {
  copyFileSync(object, OBJECT);
  const socket = join(mkdtempSync(join(tmpdir(), "hs-per-event-")), "plugin.sock");
  const plugin = Bun.spawn(["bun", "run", `${REPO}/src/main.ts`, "--socket", socket], { cwd: REPO, stdout: "ignore", stderr: "pipe" });
  try {
    await attached(plugin.stderr);
    const before = await snapshot();
    await drive(load);
    const after = await snapshot();
    // By id, over programs present in both: the last plugin's may linger a moment after it exits.
    return PROGRAMS.map((name) => {
      let ns = 0;
      let runs = 0;
      for (const [id, now] of after) {
        const then = before.get(id);
        if (now.name !== name || !then) continue;
        ns += now.ns - then.ns;
        runs += now.runs - then.runs;
      }
      return runs > 0 ? ns / runs : NaN;
    });
  } finally {
    plugin.kill();
    await plugin.exited;
  }
}

const saved = mkdtempSync(join(tmpdir(), "hs-per-event-object-"));
copyFileSync(OBJECT, join(saved, "http_statistics.bpf.o"));
const builds = objects.length ? objects : [join(saved, "http_statistics.bpf.o")];
const wasOn = readFileSync(STATS, "utf8").trim() !== "0";
await buildDriver();
const nginx = await startBenchNginx(PORTS.nginx);
writeFileSync(STATS, "1\n");
const samples = new Map<string, number[][]>();
let failure: unknown;
try {
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...builds].reverse() : builds;
    for (const object of order)
      for (const load of LOADS) {
        const key = `${object}\t${load}`;
        samples.set(key, [...(samples.get(key) ?? []), await measure(object, load)]);
      }
    process.stderr.write(`  round ${r + 1}/${rounds} done\n`);
  }
} catch (error) {
  failure = error;
} finally {
  writeFileSync(STATS, wasOn ? "1\n" : "0\n");
  copyFileSync(join(saved, "http_statistics.bpf.o"), OBJECT);
  await nginx.stop();
}
if (failure) fail(failure instanceof Error ? failure.message : String(failure));

console.log(`| ns per run, median of ${rounds} (recv / send / tcp_state) | ${LOADS.join(" | ")} |`);
console.log(`| --- |${LOADS.map(() => " ---: |").join("")}`);
for (const object of builds) {
  const cells = LOADS.map((load) => {
    const runs = samples.get(`${object}\t${load}`) ?? [];
    return PROGRAMS.map((_, i) => Math.round(median(runs.map((r) => r[i]!)))).join(" / ");
  });
  console.log(`| ${objects.length ? basename(object) : "build/http_statistics.bpf.o"} | ${cells.join(" | ")} |`);
}
