/**
 * What one run of the socket capture's programs costs, per event, as the
 * kernel itself times it (BPF run-time statistics), for one or more builds
 * of the eBPF object side by side:
 *
 *   sudo bun bench/per_event.ts [--rounds=N] [OBJECT ...]
 *
 * OBJECT: a compiled http_statistics.bpf.o (default: the one in build/).
 * Each is run by the product (src/main.ts, the same binary code) in turn,
 * rounds interleaved, under four loads: syscall_loop tcp-http and tcp-raw
 * (bench/syscall_loop.c), and nginx serving a 256-byte file and `return
 * 204` through wrk (-t1 -c32, 3 s), where both nginx's and wrk's calls are
 * parsed. Prints the median ns per run of hs_sock_recv and hs_sock_send.
 * The statistics add ~20 ns per run of their own; they are switched on for
 * this and off again after. Not a timed test and not part of `bun run bench`:
 * the tool behind BENCHMARKS.md's "Where the nanoseconds go".
 */
import { $ } from "bun";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { median, OUT_DIR, PORTS, REPO, startBenchNginx, waitFor } from "./lib/common";
import { buildDriver } from "./syscalls";

const OBJECT = `${REPO}/build/http_statistics.bpf.o`;
const STATS = "/proc/sys/kernel/bpf_stats_enabled";
const PROGRAMS = ["hs_sock_recv", "hs_sock_send"] as const;
const LOADS = ["tcp-http", "tcp-raw", "/static.html", "/no-content"] as const;
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

/** Run time and count of our programs so far, from bpftool. */
async function snapshot(): Promise<Record<string, [number, number]>> {
  const progs = (await $`bpftool prog show -j`.json()) as { name: string; run_time_ns?: number; run_cnt?: number }[];
  const out: Record<string, [number, number]> = {};
  for (const p of progs) if ((PROGRAMS as readonly string[]).includes(p.name)) out[p.name] = [p.run_time_ns ?? 0, p.run_cnt ?? 0];
  return out;
}

async function drive(load: Load): Promise<void> {
  if (load.startsWith("tcp-")) {
    await $`${OUT_DIR}/syscall_loop ${load} ${PORTS.syscalls} 200000`.quiet();
    return;
  }
  await $`wrk -t1 -c32 -d3s http://127.0.0.1:${PORTS.nginx}${load}`.quiet();
}

/** ns per run of each program under one load, with `object` loaded by the product. */
async function measure(object: string, load: Load): Promise<number[]> {
  copyFileSync(object, OBJECT);
  const socket = join(mkdtempSync(join(tmpdir(), "hs-per-event-")), "plugin.sock");
  const plugin = Bun.spawn(["bun", "run", `${REPO}/src/main.ts`, "--socket", socket], { cwd: REPO, stdout: "ignore", stderr: "pipe" });
  try {
    await waitFor("the plugin's socket", () => existsSync(socket), 30_000, 50);
    const before = await snapshot();
    await drive(load);
    const after = await snapshot();
    return PROGRAMS.map((name) => {
      const [t0, c0] = before[name] ?? [0, 0];
      const [t1, c1] = after[name] ?? [0, 0];
      return c1 > c0 ? (t1 - t0) / (c1 - c0) : NaN;
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
} finally {
  writeFileSync(STATS, wasOn ? "1\n" : "0\n");
  copyFileSync(join(saved, "http_statistics.bpf.o"), OBJECT);
  await nginx.stop();
}

console.log(`| ns per run, median of ${rounds} (recv / send) | ${LOADS.join(" | ")} |`);
console.log(`| --- |${LOADS.map(() => " ---: |").join("")}`);
for (const object of builds) {
  const cells = LOADS.map((load) => {
    const runs = samples.get(`${object}\t${load}`) ?? [];
    return PROGRAMS.map((_, i) => Math.round(median(runs.map((r) => r[i]!)))).join(" / ");
  });
  console.log(`| ${objects.length ? basename(object) : "build/http_statistics.bpf.o"} | ${cells.join(" | ")} |`);
}
