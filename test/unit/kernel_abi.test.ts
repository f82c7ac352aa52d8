/**
 * src/kernel/kernel_abi.ts mirrors bpf/http_statistics.h by hand; this checks the
 * mirror against the compiled object's BTF (layouts), the header's text
 * (enum order) and its section names (capture front-ends), so the two sides
 * cannot drift apart silently.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { OBJECT } from "../../build";
import { CAPTURES, COUNT_KEY, LOSS_REASONS } from "../../src/kernel/kernel_abi";

interface BtfType {
  kind: string;
  name: string;
  size?: number;
}

const btf = JSON.parse(Bun.spawnSync(["bpftool", "btf", "dump", "file", OBJECT, "-j", "format", "raw"]).stdout.toString()) as {
  types: BtfType[];
};

test("the counters' key and value sizes match the map's BTF", () => {
  const key = btf.types.find((t) => t.kind === "STRUCT" && t.name === "hs_count_key");
  const value = btf.types.find((t) => t.kind === "STRUCT" && t.name === "hs_count");
  expect(key?.size).toBe(COUNT_KEY.keySize);
  expect(value?.size).toBe(COUNT_KEY.valueSize);
});

test("loss reasons are enum hs_loss in order", () => {
  const header = readFileSync("bpf/http_statistics.h", "utf8");
  const body = /enum hs_loss \{([^}]*)\}/.exec(header)![1]!;
  const names = [...body.matchAll(/HS_LOSS_([A-Z0-9_]+)/g)].map((m) => m[1]!).filter((n) => n !== "MAX");
  expect(names.map((n) => n.toLowerCase())).toEqual([...LOSS_REASONS]);
});

test("every program belongs to exactly one capture front-end, and each has its programs", () => {
  const sections = [...Bun.spawnSync(["llvm-readelf", "-S", OBJECT]).stdout.toString().matchAll(/ (tp_btf\/\S+|tracepoint\/\S+|[a-z_]+\/\S+) /g)]
    .map((m) => m[1]!)
    .filter((name) => !name.startsWith(".rel") && name !== ".maps");
  const socket = sections.filter(CAPTURES.socket.sections);
  const syscalls = sections.filter(CAPTURES.syscalls.sections);
  expect(socket.sort()).toEqual(["tp_btf/sock_recv_length", "tp_btf/sock_send_length"]);
  expect(syscalls).toContain("tracepoint/syscalls/sys_exit_read");
  expect(syscalls).toContain("tracepoint/sock/inet_sock_set_state");
  expect(socket.length + syscalls.length).toBe(sections.length);
});
