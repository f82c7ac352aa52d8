/**
 * Plays N busy processes for bench/report_path.ts: once a second, writes
 * growing request and status-200 counts for tgids FIRST..FIRST+N-1 into a
 * plugin's kernel `counters` map (by map id, a per-CPU hash: the count goes
 * in CPU 0's slot, zeros in the others), in one batch update. Runs in
 * its own process so its work never delays the latency being measured.
 * VALUE_BYTES is the map's value size: 8 (a u64 count) or 16 (a count and
 * a nanosecond sum, zero here).
 *
 *   bun bench/lib/bump_counters.ts MAP_ID FIRST_TGID N percpu|shared VALUE_BYTES
 */
import { dlopen, FFIType, ptr } from "bun:ffi";

const [mapId, firstTgid, processes] = process.argv.slice(2, 5).map(Number);
const layout = process.argv[5];
const words = Number(process.argv[6]) / 8;
if (!mapId || !firstTgid || !processes || (layout !== "percpu" && layout !== "shared") || (words !== 1 && words !== 2)) {
  process.stderr.write("usage: bun bench/lib/bump_counters.ts MAP_ID FIRST_TGID N percpu|shared 8|16\n");
  process.exit(2);
}
const { ptr: P, i32, u32 } = FFIType;
const bpf = dlopen("libbpf.so.1", {
  bpf_map_get_fd_by_id: { args: [u32], returns: i32 },
  bpf_map_update_batch: { args: [i32, P, P, P, P], returns: i32 },
  libbpf_num_possible_cpus: { args: [], returns: i32 },
}).symbols;
// A per-CPU map takes a value per possible CPU; the product before issue 8 had one shared value.
const cpus = layout === "percpu" ? bpf.libbpf_num_possible_cpus() : 1;
const fd = bpf.bpf_map_get_fd_by_id(mapId);
if (fd < 0) {
  process.stderr.write(`bump_counters: cannot open map id ${mapId}\n`);
  process.exit(1);
}
const entries = processes * 2;
const keys = new Uint32Array(entries * 2);
const values = new BigUint64Array(entries * cpus * words);
for (let i = 0; i < processes; i++) keys.set([firstTgid + i, 0, firstTgid + i, 200], i * 4);
let second = 0n;
const bump = () => {
  second++;
  // Process i serves 1 + i % 50 requests a second, all answered 200.
  for (let i = 0; i < processes; i++)
    for (const entry of [i * 2, i * 2 + 1]) values[entry * cpus * words] = second * BigInt(1 + (i % 50));
  const count = new Uint32Array([entries]);
  const rc = bpf.bpf_map_update_batch(fd, ptr(keys), ptr(values), ptr(count), null);
  if (rc < 0 || count[0] !== entries) {
    process.stderr.write(`bump_counters: wrote ${count[0]} of ${entries} entries (rc ${rc})\n`);
    process.exit(1);
  }
};
bump();
process.stdout.write("bumping\n");
// Bounded: a benchmark that forgets to stop us still ends within ten minutes.
let ticks = 0;
setInterval(() => (++ticks > 600 ? process.exit(0) : bump()), 1000);
