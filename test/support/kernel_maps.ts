/** Reads a running plugin's eBPF maps from outside, with bpftool, by the map ids its fds hold. */
import { readdirSync, readFileSync } from "node:fs";
import { slotMeaning } from "../../src/kernel/kernel_abi";

/** What the kernel says of each descriptor a process holds (those closed meanwhile left out). */
function* fdInfosOf(pid: number): Generator<string> {
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      yield readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8");
    } catch {
      // closed since the listing
    }
  }
}

export function mapIdsOf(pid: number): Record<string, number> {
  const ids: Record<string, number> = {};
  for (const info of fdInfosOf(pid)) {
    const id = /^map_id:\s*(\d+)$/m.exec(info)?.[1];
    if (!id) continue;
    const show = JSON.parse(Bun.spawnSync(["bpftool", "map", "show", "id", id, "-j"]).stdout.toString());
    ids[show.name] = Number(id);
  }
  return ids;
}

/** Keys of a map as arrays of byte values. */
export function mapKeys(id: number): number[][] {
  const dump = JSON.parse(Bun.spawnSync(["bpftool", "map", "dump", "id", String(id), "-j"]).stdout.toString()) as Array<{ key: unknown }>;
  return dump.map((entry) => (entry.key as string[]).map((byte) => Number(byte)));
}

/** Entries of a map keyed by a struct whose first field is a u32 tgid. */
export function entriesOfTgid(id: number, tgid: number): number {
  return mapKeys(id).filter((key) => Buffer.from(key).readUInt32LE(0) === tgid).length;
}

export interface BpfObjectIds {
  prog: Set<number>;
  map: Set<number>;
  link: Set<number>;
}

/** Ids of the programs, maps and links a process holds open right now (from its fdinfo). */
export function bpfObjectsHeldBy(pid: number, into: BpfObjectIds = { prog: new Set(), map: new Set(), link: new Set() }): BpfObjectIds {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fdinfo`);
  } catch {
    return into;
  }
  for (const fd of fds) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8");
    } catch {
      continue;
    }
    for (const kind of ["prog", "map", "link"] as const) {
      const id = new RegExp(`^${kind}_id:\\s*(\\d+)$`, "m").exec(info)?.[1];
      if (id) into[kind].add(Number(id));
    }
  }
  return into;
}

/** Of these ids, the ones the kernel still has (anyone's: ids are never reused while the object lives). */
export function stillInKernel(ids: BpfObjectIds): BpfObjectIds {
  const existing = (kind: string) => {
    const out = Bun.spawnSync(["bpftool", kind, "show", "-j"]).stdout.toString();
    return new Set((JSON.parse(out || "[]") as Array<{ id: number }>).map((o) => o.id));
  };
  const left = (kind: "prog" | "map" | "link") => {
    const now = existing(kind);
    return new Set([...ids[kind]].filter((id) => now.has(id)));
  };
  return { prog: left("prog"), map: left("map"), link: left("link") };
}

/** Number of entries of the map `name` that a running plugin holds. */
export function mapEntryCount(pid: number, name: string): number {
  const id = mapIdsOf(pid)[name];
  if (id === undefined) throw new Error(`process ${pid} holds no map named ${name}`);
  return mapKeys(id).length;
}

/** The counters map of a running plugin, summed over CPUs: tgid -> slot -> count (a value's first u64). */
export function counterValues(pid: number): Map<number, Map<number, bigint>> {
  const id = mapIdsOf(pid).counters;
  if (id === undefined) throw new Error(`process ${pid} holds no counters map`);
  const dump = JSON.parse(Bun.spawnSync(["bpftool", "map", "dump", "id", String(id), "-j"]).stdout.toString()) as Array<{
    key: string[];
    values: Array<{ value: string[] }>;
  }>;
  const out = new Map<number, Map<number, bigint>>();
  for (const entry of dump) {
    const key = Buffer.from(entry.key.map(Number));
    const sum = entry.values.reduce((total, { value }) => total + Buffer.from(value.map(Number)).readBigUInt64LE(0), 0n);
    const tgid = key.readUInt32LE(0);
    let slots = out.get(tgid);
    if (!slots) out.set(tgid, (slots = new Map()));
    slots.set(key.readUInt32LE(4), sum);
  }
  return out;
}

/**
 * One process's rows of the counters map: the slots that are not latency
 * buckets (requests, codes), and how many requests the
 * buckets hold, however they spread over buckets.
 */
export function counterRowsOf(pluginPid: number, tgid: number): { slots: number[]; timed: number; entries: number } {
  const rows = counterValues(pluginPid).get(tgid) ?? new Map<number, bigint>();
  const isBucket = (slot: number) => slotMeaning(slot)?.kind === "latency_bucket";
  return {
    slots: [...rows.keys()].filter((slot) => !isBucket(slot)).sort((a, b) => a - b),
    timed: Number([...rows].filter(([slot]) => isBucket(slot)).reduce((sum, [, count]) => sum + count, 0n)),
    entries: rows.size,
  };
}

/** A uprobe_multi link a process holds: its program, the probed file and how many instructions of it. */
export interface UprobeLinkInfo {
  linkId: number;
  progId: number;
  retprobe: boolean;
  path: string;
  probes: number;
}

/** The uprobe_multi (and uretprobe_multi) links a process holds, as the kernel describes their descriptors. */
export function uprobeLinksOf(pid: number): UprobeLinkInfo[] {
  const links: UprobeLinkInfo[] = [];
  for (const info of fdInfosOf(pid)) {
    const type = /^link_type:\s*(u(?:ret)?probe_multi)$/m.exec(info)?.[1];
    if (!type) continue;
    const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(info)?.[1] ?? "";
    links.push({
      linkId: Number(field("link_id")),
      progId: Number(field("prog_id")),
      retprobe: type === "uretprobe_multi",
      path: field("path"),
      probes: Number(field("uprobe_cnt")),
    });
  }
  return links;
}
