/** Reads a running plugin's eBPF maps from outside, with bpftool, by the map ids its fds hold. */
import { readdirSync, readFileSync } from "node:fs";

export function mapIdsOf(pid: number): Record<string, number> {
  const ids: Record<string, number> = {};
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8");
    } catch {
      continue;
    }
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
