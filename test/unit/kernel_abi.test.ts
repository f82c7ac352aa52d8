/**
 * src/kernel_abi.ts mirrors bpf/http_statistics.h by hand; this checks the
 * mirror against the compiled object's BTF (layouts) and the header's text
 * (enum order), so the two sides cannot drift apart silently.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { OBJECT } from "../../build";
import { CONN, CONN_OFFSETS, COUNT_KEY, LOSS_REASONS, PARSER_RESYNC_OFFSET } from "../../src/kernel_abi";

interface BtfMember {
  name: string;
  bits_offset: number;
}
interface BtfType {
  kind: string;
  name: string;
  size?: number;
  members?: BtfMember[];
}

const btf = JSON.parse(Bun.spawnSync(["bpftool", "btf", "dump", "file", OBJECT, "-j", "format", "raw"]).stdout.toString()) as {
  types: BtfType[];
};

function struct(name: string) {
  const found = btf.types.find((t) => t.kind === "STRUCT" && t.name === name);
  if (!found) throw new Error(`struct ${name} is not in ${OBJECT}'s BTF`);
  const offsets = Object.fromEntries(found.members!.map((m) => [m.name, m.bits_offset / 8]));
  return { size: found.size!, offsets };
}

test("key and value sizes match the maps' BTF", () => {
  expect(struct("hs_count_key").size).toBe(COUNT_KEY.keySize);
  expect(struct("hs_conn_key").size).toBe(CONN.keySize);
  expect(struct("hs_conn").size).toBe(CONN.valueSize);
});

test("offsets user space writes when seeding a connection", () => {
  const conn = struct("hs_conn");
  expect(conn.offsets.generation).toBe(CONN_OFFSETS.generation);
  expect(conn.offsets.request).toBe(CONN_OFFSETS.request);
  expect(conn.offsets.response).toBe(CONN_OFFSETS.response);
  expect(struct("hs_parser").offsets.resync).toBe(PARSER_RESYNC_OFFSET);
});

test("loss reasons are enum hs_loss in order", () => {
  const header = readFileSync("bpf/http_statistics.h", "utf8");
  const body = /enum hs_loss \{([^}]*)\}/.exec(header)![1]!;
  const names = [...body.matchAll(/HS_LOSS_([A-Z_]+)/g)].map((m) => m[1]!).filter((n) => n !== "MAX");
  expect(names.map((n) => n.toLowerCase())).toEqual([...LOSS_REASONS]);
});

test("the parser's header-name hashes are FNV-1a of the lower-case names", () => {
  const fnv1a = (text: string) => {
    let hash = 0xcbf29ce484222325n;
    for (const byte of Buffer.from(text)) hash = ((hash ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
    return `0x${hash.toString(16)}ULL`;
  };
  const parser = readFileSync("bpf/http_parser.bpf.c", "utf8");
  expect(parser).toContain(`#define HS_HASH_CONTENT_LENGTH ${fnv1a("content-length")}`);
  expect(parser).toContain(`#define HS_HASH_TRANSFER_ENCODING ${fnv1a("transfer-encoding")}`);
});
