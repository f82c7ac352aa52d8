/**
 * The loaded eBPF side, as user space sees it: load and attach the object,
 * read the monotonically increasing counters and the loss counters, and
 * keep the connection table tidy (seed connections that predate us, reap
 * entries of processes that exec'd or exited).
 */
import { BPF_NOEXIST, BpfError, BpfMap, BpfObject, strerror, type LoadedLibrary } from "./libbpf";
import {
  CONN,
  CONN_OFFSETS,
  COUNT_KEY,
  GENERATION,
  FINISH_CALL_PROGRAM,
  LOSS,
  LOSS_REASONS,
  PARSER_RESYNC_OFFSET,
  PROG_SLOT,
  SEEDS_WAITING,
  USER_GENERATION_BASE,
  type LossReason,
} from "./kernel_abi";

export interface ProbeSizing {
  /** Slots of the per-tgid generation array: the kernel's pid_max. */
  pidMax: number;
  maxConnections: number;
  maxCounters: number;
}

/** Counter values keyed by tgid, then by slot (0 = requests, else status). */
export type CounterSnapshot = Map<number, Map<number, bigint>>;

export interface ExistingConnection {
  pid: number;
  fd: number;
}

export class KernelProbe {
  private readonly counters: BpfMap;
  private readonly connections: BpfMap;
  private readonly generations: BpfMap;
  private readonly losses: BpfMap;
  private readonly seedsWaiting: BpfMap;
  private nextUserGeneration = USER_GENERATION_BASE;

  private constructor(
    private readonly object: BpfObject,
    readonly programs: number,
  ) {
    this.counters = object.map("counters", COUNT_KEY);
    this.connections = object.map("connections", CONN);
    this.generations = object.map("generations", GENERATION);
    this.losses = object.map("losses", LOSS);
    this.seedsWaiting = object.map("seeds_waiting", SEEDS_WAITING);
  }

  static start(library: LoadedLibrary, image: Uint8Array, sizing: ProbeSizing): KernelProbe {
    const object = BpfObject.openMem(library, image);
    try {
      object.setMaxEntries("generations", sizing.pidMax);
      object.setMaxEntries("connections", sizing.maxConnections);
      object.setMaxEntries("counters", sizing.maxCounters);
      object.load();
      // Before attaching, so that no exit ever finds the program array empty.
      const finish = new Uint32Array([object.programFd(FINISH_CALL_PROGRAM)]);
      const rc = object.map("hs_exits", PROG_SLOT).update(new Uint8Array(4), new Uint8Array(finish.buffer));
      if (rc < 0) throw new BpfError(`cannot fill the hs_exits program array: ${strerror(rc)}`, rc);
      const programs = object.attachAll(new Set([FINISH_CALL_PROGRAM]));
      return new KernelProbe(object, programs);
    } catch (error) {
      object.close();
      throw error;
    }
  }

  readCounters(): CounterSnapshot {
    const { keys, values, count } = this.counters.lookupAll();
    const keyView = new DataView(keys.buffer, keys.byteOffset);
    const valueView = new DataView(values.buffer, values.byteOffset);
    const snapshot: CounterSnapshot = new Map();
    for (let i = 0; i < count; i++) {
      const tgid = keyView.getUint32(i * 8, true);
      const slot = keyView.getUint32(i * 8 + 4, true);
      let perProcess = snapshot.get(tgid);
      if (!perProcess) snapshot.set(tgid, (perProcess = new Map()));
      perProcess.set(slot, valueView.getBigUint64(i * 8, true));
    }
    return snapshot;
  }

  readLosses(): Record<LossReason, number> {
    const key = new Uint32Array(1);
    const value = new BigUint64Array(1);
    const result = {} as Record<LossReason, number>;
    LOSS_REASONS.forEach((reason, index) => {
      key[0] = index;
      result[reason] = this.losses.lookup(new Uint8Array(key.buffer), new Uint8Array(value.buffer))
        ? Number(value[0])
        : 0;
    });
    return result;
  }

  /** Drops the counters of processes that are gone. */
  forgetProcesses(tgids: Iterable<number>): void {
    const gone = new Set(tgids);
    if (gone.size === 0) return;
    const { keys, count } = this.counters.lookupAll();
    const view = new DataView(keys.buffer, keys.byteOffset);
    const doomed: number[] = [];
    for (let i = 0; i < count; i++) if (gone.has(view.getUint32(i * 8, true))) doomed.push(i);
    this.deleteEntries(this.counters, keys, doomed);
  }

  private generationOf(tgid: number): number {
    const value = new Uint32Array(1);
    return this.generations.lookup(new Uint8Array(new Uint32Array([tgid]).buffer), new Uint8Array(value.buffer))
      ? value[0]!
      : 0;
  }

  /**
   * Tracks connections accepted before we attached. Their parsers start in
   * resync mode: the next buffer in each direction may be mid-message; and
   * a read may already be waiting on them (seededUnentered).
   */
  seedConnections(existing: ExistingConnection[]): number {
    let seeded = 0;
    for (const { pid, fd } of existing) {
      let generation = this.generationOf(pid);
      if (generation === 0) {
        generation = this.nextUserGeneration++;
        const rc = this.generations.update(
          new Uint8Array(new Uint32Array([pid]).buffer),
          new Uint8Array(new Uint32Array([generation]).buffer),
        );
        if (rc < 0) continue;
      }
      const value = new Uint8Array(CONN.valueSize);
      const view = new DataView(value.buffer);
      view.setUint32(CONN_OFFSETS.generation, generation, true);
      view.setUint32(CONN_OFFSETS.seededUnentered, 1, true);
      value[CONN_OFFSETS.request + PARSER_RESYNC_OFFSET] = 1;
      value[CONN_OFFSETS.response + PARSER_RESYNC_OFFSET] = 1;
      const key = new Uint8Array(new Uint32Array([pid, fd]).buffer);
      // NOEXIST: a connection the kernel already tracks knows better than we do.
      if (this.connections.update(key, value, BPF_NOEXIST) === 0) seeded++;
    }
    this.setSeedsWaiting(seeded);
    return seeded;
  }

  /** Deletes connections of a retired generation (exec, exit): the kernel closed them without a close() we saw. */
  reapStale(): number {
    return this.reapConnections();
  }

  /** Lets the kernel side stop looking for reads blocked since start once none can be left. */
  private setSeedsWaiting(count: number): void {
    this.seedsWaiting.update(new Uint8Array(4), new Uint8Array(new Uint32Array([count]).buffer));
  }

  private reapConnections(): number {
    const { keys, values, count } = this.connections.lookupAll();
    const keyView = new DataView(keys.buffer, keys.byteOffset);
    const valueView = new DataView(values.buffer, values.byteOffset);
    const generationByTgid = new Map<number, number>();
    const stale: number[] = [];
    let seedsWaiting = 0;
    for (let i = 0; i < count; i++) {
      const tgid = keyView.getUint32(i * CONN.keySize, true);
      let current = generationByTgid.get(tgid);
      if (current === undefined) generationByTgid.set(tgid, (current = this.generationOf(tgid)));
      if (valueView.getUint32(i * CONN.valueSize + CONN_OFFSETS.generation, true) !== current) stale.push(i);
      else if (valueView.getUint32(i * CONN.valueSize + CONN_OFFSETS.seededUnentered, true) !== 0) seedsWaiting++;
    }
    this.deleteEntries(this.connections, keys, stale);
    this.setSeedsWaiting(seedsWaiting);
    return stale.length;
  }

  private deleteEntries(map: BpfMap, keys: Uint8Array, indexes: number[]): void {
    if (indexes.length === 0) return;
    const packed = new Uint8Array(indexes.length * map.keySize);
    indexes.forEach((index, i) => packed.set(keys.subarray(index * map.keySize, (index + 1) * map.keySize), i * map.keySize));
    map.deleteMany(packed, indexes.length);
  }

  close(): void {
    this.object.close();
  }
}

export { BpfError };
