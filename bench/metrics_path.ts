/**
 * GET /metrics (the Prometheus scrape) at 100 and 1,000 active processes:
 * body size plain and gzipped, and the time of a scrape that builds the
 * exposition (the first after a tick) and of one served from the tick's
 * cache. Processes are played by writing their kernel counters directly
 * (bench/lib/bump_counters.ts, as bench/report_path.ts does); from there it
 * is the product's real path. The compiled binary (dist/) is measured.
 *
 *   bun run build && bun bench/metrics_path.ts
 */
import { buildBinary } from "../build";
import { median, REPO, round, table } from "./lib/common";
import { startPlugin } from "./lib/variants";
import { countersMap, FIRST_FAKE_TGID } from "./report_path";

const SCRAPES = 15;

async function timed(fetchIt: () => Promise<Response>): Promise<{ ms: number; bytes: number }> {
  const start = performance.now();
  const res = await fetchIt();
  const body = await res.arrayBuffer();
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return { ms: performance.now() - start, bytes: body.byteLength };
}

async function measure(processes: number) {
  const plugin = await startPlugin("plugin");
  const bumper = Bun.spawn([process.execPath, `${REPO}/bench/lib/bump_counters.ts`, String(countersMap(plugin.pid!).id), String(FIRST_FAKE_TGID), String(processes), countersMap(plugin.pid!).perCpu ? "percpu" : "shared"], { stdout: "pipe", stderr: "inherit" });
  try {
    await bumper.stdout.getReader().read();
    await Bun.sleep(2500);
    const first: number[] = [];
    const cached: number[] = [];
    let plain = 0;
    let zipped = 0;
    const get = (headers: Record<string, string> = {}) => () => fetch("http://plugin/metrics", { unix: plugin.socket, headers, decompress: false } as RequestInit);
    for (let i = 0; i < SCRAPES; i++) {
      await Bun.sleep(1000 - (Date.now() % 1000) + 300); // after the tick: this scrape builds
      const built = await timed(get());
      first.push(built.ms);
      plain = built.bytes;
      cached.push((await timed(get())).ms);
      zipped = (await timed(get({ "accept-encoding": "gzip" }))).bytes;
    }
    const text = await (await fetch("http://plugin/metrics", { unix: plugin.socket } as RequestInit)).text();
    const ours = text.split("\n").filter((l) => /^http_statistics_requests_total\{pid="(\d+)"/.exec(l) && Number(/pid="(\d+)"/.exec(l)![1]) >= FIRST_FAKE_TGID).length;
    if (ours !== processes) throw new Error(`/metrics holds ${ours} of the ${processes} processes written`);
    return { processes, firstMs: median(first), cachedMs: median(cached), plain, zipped };
  } finally {
    bumper.kill("SIGTERM");
    await bumper.exited;
    await plugin.stop();
  }
}

await buildBinary();
const rows = [];
for (const n of [100, 1000]) rows.push(await measure(n));
console.log(
  table(
    ["active processes", "scrape that builds, p50 ms", "cached scrape p50 ms", "body bytes", "gzipped bytes"],
    rows.map((r) => [r.processes.toLocaleString("en-US"), round(r.firstMs, 2), round(r.cachedMs, 2), r.plain.toLocaleString("en-US"), r.zipped.toLocaleString("en-US")]),
  ),
);
