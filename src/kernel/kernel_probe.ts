/**
 * The loaded eBPF side, as user space sees it: load and attach one capture
 * front-end of the object, and read the monotonically increasing counters
 * and the loss counters (both per CPU, summed here).
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { BpfMap, BpfObject, kernelHasUprobeMulti, type LoadedLibrary, type UprobeLink, type UprobeOffset } from "./libbpf";
import {
  CAPTURES,
  CLIENT_SIDE,
  COUNT_KEY,
  GO_TLS_CALLS_MAP,
  GO_TLS_WRITES_MAP,
  LATENCY_SUM_SLOT,
  LOSS,
  LOSS_REASONS,
  MAPPED_FILE,
  MAPPED_FILES_PROGRAM,
  MAPPED_FILES_SECTION,
  isTlsSection,
  SYSCALL_CLOSED_CONNECTIONS_MAP,
  SYSCALL_CONNECTIONS_MAP,
  SYSCALL_EXIT_PROGRAM,
  SYSCALL_EXIT_SECTION,
  SYSCALL_EXIT_TRACEPOINTS,
  UNIX_WALK,
  UNIX_WALK_PROGRAM,
  TLS_BIO_PROCESSES_MAP,
  TLS_SESSIONS_MAP,
  type Capture,
  type LossReason,
} from "./kernel_abi";

export interface ProbeSizing {
  capture: Capture;
  /** The report socket's path: HTTP on it (Scope polling the plugin) is not counted. */
  reportSocket?: string;
  /** Connections the syscall capture keeps state for at once (the socket capture needs no table). */
  maxConnections: number;
  maxCounters: number;
  /** Attach TLS probes as uprobe_multi links (default: where the kernel has them); false gives the perf-event uprobes older kernels get. */
  uprobeMulti?: boolean;
}

/**
 * A kernel u64 as JavaScript holds it: a number while a number is exact
 * (below 2^53), a bigint beyond. Counts never get there; a latency
 * bucket's duration sum can, after months. Numbers make the second's
 * arithmetic allocation-free where bigints allocate at every step.
 */
export type Counter = number | bigint;

/** Counter values keyed by tgid, then by slot (kernel_abi's slotMeaning says what each holds). */
export type CounterSnapshot = Map<number, Map<number, Counter>>;

const TWO_TO_32 = 2 ** 32;

/** The sum over `cpus` CPUs of the u64 at `offset` of each CPU's `stride`-byte value, exact at any size. */
export function sumPerCpu(view: DataView, offset: number, cpus: number, stride: number): Counter {
  let low = 0;
  let high = 0;
  for (let cpu = 0; cpu < cpus; cpu++) {
    low += view.getUint32(offset + cpu * stride, true);
    high += view.getUint32(offset + cpu * stride + 4, true);
  }
  // Rounding only happens at 2^53 and up, and never brings a sum below it: a safe result is exact.
  const sum = high * TWO_TO_32 + low;
  return Number.isSafeInteger(sum) ? sum : (BigInt(high) << 32n) + BigInt(low);
}

/** a + b, exact, as a number while that is exact. */
export function addCounters(a: Counter, b: Counter): Counter {
  if (typeof a === "number" && typeof b === "number") {
    const sum = a + b;
    if (Number.isSafeInteger(sum)) return sum;
  }
  return BigInt(a) + BigInt(b);
}

/**
 * The inode number of the listening unix socket bound to `path` in this
 * network namespace, from /proc/net/unix (columns: Num RefCount Protocol
 * Flags Type St Inode Path; flag 0x10000 marks a listener), or undefined.
 */
export function listeningUnixInode(path: string, table = readFileSync("/proc/net/unix", "utf8")): number | undefined {
  const wanted = new Set([path, resolve(path)]);
  for (const line of table.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8 || !wanted.has(fields.slice(7).join(" "))) continue;
    if ((Number.parseInt(fields[3]!, 16) & 0x10000) === 0) continue;
    return Number(fields[6]);
  }
  return undefined;
}

export class KernelProbe {
  private readonly counters: BpfMap;
  private readonly losses: BpfMap;
  private readonly cpus: number;

  private constructor(
    private readonly object: BpfObject,
    /** The capture's programs attached at start, and the hooks they sit on (one program may sit on several). */
    readonly programs: number,
    readonly hooks: number,
    /** Whether the TLS programs were loaded for uprobe_multi links (Linux 6.6+), or are attached as one perf-event uprobe per offset. */
    readonly uprobeMulti: boolean,
  ) {
    this.counters = object.perCpuMap("counters", COUNT_KEY);
    this.losses = object.perCpuMap("losses", LOSS);
    this.cpus = object.possibleCpus();
  }

  static async start(library: LoadedLibrary, image: Uint8Array, sizing: ProbeSizing): Promise<KernelProbe> {
    const object = BpfObject.openMem(library, image);
    try {
      object.selectPrograms(CAPTURES[sizing.capture].sections);
      object.setMaxEntries(SYSCALL_CONNECTIONS_MAP, sizing.capture === "syscalls" ? sizing.maxConnections : 1);
      if (sizing.capture !== "syscalls") object.setMaxEntries(SYSCALL_CLOSED_CONNECTIONS_MAP, 1);
      object.setMaxEntries("counters", sizing.maxCounters);
      const uprobeMulti = sizing.uprobeMulti ?? kernelHasUprobeMulti();
      if (uprobeMulti) object.loadAsUprobeMulti(isTlsSection);
      await object.load();
      // The syscall exits' one program below.
      // The TLS probes are attached per library file, as src/tls/ finds them; the walk of a process's mappings when it runs.
      object.attachAll((section) => isTlsSection(section) || section === SYSCALL_EXIT_SECTION || section === MAPPED_FILES_SECTION);
      if (sizing.capture === "syscalls")
        for (const tracepoint of SYSCALL_EXIT_TRACEPOINTS) {
          const [category, event] = tracepoint.split("/") as [string, string];
          object.attachTracepoint(SYSCALL_EXIT_PROGRAM, category, event);
        }
      // After the capture is attached: a unix socket the walk does not list was made while it watched.
      const ownInode = sizing.reportSocket === undefined ? undefined : listeningUnixInode(sizing.reportSocket);
      if (ownInode !== undefined) {
        const walk = new Uint8Array(UNIX_WALK.valueSize);
        new DataView(walk.buffer).setBigUint64(UNIX_WALK.ownInoOffset, BigInt(ownInode), true);
        object.map(UNIX_WALK.map, UNIX_WALK).update(new Uint8Array(UNIX_WALK.keySize), walk);
      }
      object.runIterator(UNIX_WALK_PROGRAM);
      return new KernelProbe(object, object.attachedPrograms, object.attached, uprobeMulti);
    } catch (error) {
      object.close();
      throw error;
    }
  }

  /** Every (process, slot) count; each side's latency buckets' sums become its LATENCY_SUM_SLOT. */
  readCounters(): CounterSnapshot {
    const { keys, values, count } = this.counters.lookupAll();
    const keyView = new DataView(keys.buffer, keys.byteOffset);
    const valueView = new DataView(values.buffer, values.byteOffset);
    const snapshot: CounterSnapshot = new Map();
    for (let i = 0; i < count; i++) {
      const tgid = keyView.getUint32(i * COUNT_KEY.keySize, true);
      const slot = keyView.getUint32(i * COUNT_KEY.keySize + 4, true);
      const at = i * this.counters.valueSize;
      let perProcess = snapshot.get(tgid);
      if (!perProcess) snapshot.set(tgid, (perProcess = new Map()));
      perProcess.set(slot, sumPerCpu(valueView, at, this.cpus, COUNT_KEY.valueSize));
      const ns = sumPerCpu(valueView, at + 8, this.cpus, COUNT_KEY.valueSize);
      if (ns === 0) continue;
      const sumSlot = (slot >= CLIENT_SIDE ? CLIENT_SIDE : 0) + LATENCY_SUM_SLOT;
      perProcess.set(sumSlot, addCounters(perProcess.get(sumSlot) ?? 0, ns));
    }
    return snapshot;
  }

  readLosses(): Record<LossReason, number> {
    const result = Object.fromEntries(LOSS_REASONS.map((reason) => [reason, 0])) as Record<LossReason, number>;
    // One syscall for the whole array (a lookup per reason was one each); one entry more than it holds, so the first batch ends it.
    const { keys, values, count } = this.losses.lookupAll(LOSS_REASONS.length + 1);
    const keyView = new DataView(keys.buffer, keys.byteOffset);
    const valueView = new DataView(values.buffer, values.byteOffset);
    for (let i = 0; i < count; i++) {
      const reason = LOSS_REASONS[keyView.getUint32(i * LOSS.keySize, true)];
      if (reason) result[reason] = Number(sumPerCpu(valueView, i * this.losses.valueSize, this.cpus, LOSS.valueSize));
    }
    return result;
  }

  /** Drops the counters of processes that are gone. */
  forgetProcesses(tgids: Iterable<number>): void {
    const gone = new Set(tgids);
    if (gone.size === 0) return;
    const { keys, count } = this.counters.lookupAll();
    const view = new DataView(keys.buffer, keys.byteOffset);
    const doomed: number[] = [];
    for (let i = 0; i < count; i++) if (gone.has(view.getUint32(i * COUNT_KEY.keySize, true))) doomed.push(i);
    if (doomed.length === 0) return;
    const packed = new Uint8Array(doomed.length * COUNT_KEY.keySize);
    doomed.forEach((index, i) => packed.set(keys.subarray(index * COUNT_KEY.keySize, (index + 1) * COUNT_KEY.keySize), i * COUNT_KEY.keySize));
    this.counters.deleteMany(packed, doomed.length);
  }

  /**
   * Attaches a TLS probe program to offsets of a library file, all or none:
   * one uprobe_multi link where the kernel has them (removed in one grace
   * period), else a perf-event uprobe per offset (one grace period each).
   */
  attachUprobes(name: string, path: string, probes: UprobeOffset[], retprobe: boolean): UprobeLink {
    if (this.uprobeMulti) return this.object.attachUprobeMulti(name, path, probes, retprobe);
    const links: UprobeLink[] = [];
    try {
      for (const probe of probes) links.push(this.object.attachUprobe(name, path, probe, retprobe));
    } catch (error) {
      for (const link of links) link.destroy();
      throw error;
    }
    return { destroy: () => links.forEach((link) => link.destroy()) };
  }

  /**
   * The files process `pid` maps, by the address each mapping starts at, as
   * "major:minor:inode" of the file the kernel maps (for a container's, its
   * layer's file); undefined where the kernel cannot walk one process (before 6.1).
   */
  mappedFiles(pid: number): Map<number, string> | undefined {
    let bytes: Uint8Array;
    try {
      bytes = this.object.readTaskIterator(MAPPED_FILES_PROGRAM, pid);
    } catch {
      return undefined;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const files = new Map<number, string>();
    for (let at = 0; at + MAPPED_FILE.recordSize <= bytes.byteLength; at += MAPPED_FILE.recordSize) {
      const dev = view.getUint32(at + MAPPED_FILE.devOffset, true);
      files.set(Number(view.getBigUint64(at, true)), `${dev >>> 20}:${dev & 0xfffff}:${view.getBigUint64(at + MAPPED_FILE.inoOffset, true)}`);
    }
    return files;
  }

  /** Drops the TLS state of processes that are gone: sessions never freed, their memory-BIO mark, Go calls and writes they never returned from. */
  forgetTlsProcesses(alive: (tgid: number) => boolean): void {
    for (const name of [TLS_SESSIONS_MAP, TLS_BIO_PROCESSES_MAP, GO_TLS_CALLS_MAP, GO_TLS_WRITES_MAP]) {
      const map = this.object.declaredMap(name);
      const { keys, count } = map.lookupAll();
      const view = new DataView(keys.buffer, keys.byteOffset);
      const doomed: number[] = [];
      for (let i = 0; i < count; i++) if (!alive(view.getUint32(i * map.keySize, true))) doomed.push(i);
      const packed = new Uint8Array(doomed.length * map.keySize);
      doomed.forEach((index, i) => packed.set(keys.subarray(index * map.keySize, (index + 1) * map.keySize), i * map.keySize));
      map.deleteMany(packed, doomed.length);
    }
  }

  close(): void {
    this.object.close();
  }
}
