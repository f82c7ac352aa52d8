/**
 * src/kernel/kernel_abi.ts mirrors bpf/http_statistics.h by hand; this checks the
 * mirror against the compiled object's BTF (layouts), the header's text
 * (enum order) and its section names (capture front-ends), so the two sides
 * cannot drift apart silently.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { OBJECT } from "../../build";
import { CAPTURES, CLIENT_SIDE, COUNT_KEY, GO_TLS_PROGRAM, GRPC_OTHER, GRPC_SLOT, GRPC_STATUS_MAX, GRPC_STATUS_NAMES, isTlsSection, LATENCY_SLOT, LOSS_REASONS, MAPPED_FILE, MAPPED_FILES_SECTION, OPENSSL_ENTRY_PROGRAM, OPENSSL_RETURN_PROGRAM, REQUEST_SLOT, STATUS_MAX, STATUS_MIN, SYSCALL_EXIT_PROGRAM, SYSCALL_EXIT_SECTION, SYSCALL_EXITS, TLS_PROBES, UNIX_WALK, slotMeaning } from "../../src/kernel/kernel_abi";
import { listeningUnixInode } from "../../src/kernel/kernel_probe";

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

test("TLS probe cookies are enum hs_tls_probe in order, and every TLS program is one the object has", () => {
  const header = readFileSync("bpf/tls.h", "utf8");
  const body = /enum hs_tls_probe \{([^}]*)\}/.exec(header)![1]!;
  const names = [...body.matchAll(/^\s*HS_TLS_([A-Z0-9_]+)/gm)].map((m) => m[1]!.toLowerCase());
  expect(names).toEqual([...TLS_PROBES]);
  const tlsPrograms = [...Bun.spawnSync(["llvm-objdump", "-t", OBJECT]).stdout.toString().matchAll(/ g +F (\S+)\s+[0-9a-f]+ (\S+)$/gm)]
    .filter((m) => isTlsSection(m[1]!))
    .map((m) => m[2]!)
    .sort();
  expect(tlsPrograms).toEqual([GO_TLS_PROGRAM, OPENSSL_ENTRY_PROGRAM, OPENSSL_RETURN_PROGRAM].sort());
});

test("the counter slots are the header's", () => {
  const header = readFileSync("bpf/http_statistics.h", "utf8");
  const define = (name: string) => Number(new RegExp(`#define HS_${name} (\\d+)`).exec(header)?.[1]);
  expect([REQUEST_SLOT, STATUS_MIN, STATUS_MAX, GRPC_SLOT, GRPC_STATUS_MAX, LATENCY_SLOT, CLIENT_SIDE]).toEqual(
    ["REQUEST_SLOT", "STATUS_MIN", "STATUS_MAX", "GRPC_SLOT", "GRPC_STATUS_MAX", "LATENCY_SLOT", "CLIENT_SIDE"].map(define),
  );
  expect(header).toContain("#define HS_GRPC_OTHER (HS_GRPC_STATUS_MAX + 1)");
  expect(GRPC_STATUS_NAMES.length as number).toBe(GRPC_STATUS_MAX + 1);
  expect(slotMeaning(GRPC_SLOT + 5)).toEqual({ side: "server", kind: "grpc", code: 5 });
  expect(slotMeaning(CLIENT_SIDE + GRPC_SLOT + GRPC_OTHER)).toEqual({ side: "client", kind: "grpc", code: GRPC_OTHER });
  expect(slotMeaning(GRPC_SLOT + GRPC_OTHER + 1)).toBeUndefined();
});

test("every program belongs to exactly one capture front-end, and each has its programs", () => {
  // "<section> <name>" of each program: a function symbol outside .text (where the subprograms are).
  const programs = [...Bun.spawnSync(["llvm-objdump", "-t", OBJECT]).stdout.toString().matchAll(/ g +F (\S+)\s+[0-9a-f]+ (\S+)$/gm)]
    .filter((m) => m[1] !== ".text")
    .map((m) => ({ section: m[1]!, name: m[2]! }));
  const sections = [...new Set(programs.map((p) => p.section))];
  const socket = sections.filter(CAPTURES.socket.sections).filter((s) => !isTlsSection(s));
  const syscalls = sections.filter(CAPTURES.syscalls.sections).filter((s) => !isTlsSection(s));
  expect(socket.sort()).toEqual([MAPPED_FILES_SECTION, "iter/unix", "tp_btf/inet_sock_set_state", "tp_btf/sock_recv_length", "tp_btf/sock_send_length"]);
  expect(syscalls.sort()).toEqual([MAPPED_FILES_SECTION, "iter/unix", SYSCALL_EXIT_SECTION, "tracepoint/io_uring/io_uring_complete", "tracepoint/sock/inet_sock_set_state"]);
  // The syscall exits are one program, whose section names no attach point: user space attaches it to each.
  expect(programs.filter((p) => p.section === SYSCALL_EXIT_SECTION).map((p) => p.name)).toEqual([SYSCALL_EXIT_PROGRAM]);
  // ...and dispatches on exactly the syscalls it is attached to (sendfile64's number is HS_NR_SENDFILE).
  const source = readFileSync("bpf/syscall_capture.bpf.c", "utf8");
  const dispatch = source.slice(source.indexOf(`int ${SYSCALL_EXIT_PROGRAM}(`), source.indexOf("default:", source.indexOf(`int ${SYSCALL_EXIT_PROGRAM}(`)));
  const cases = [...dispatch.matchAll(/case HS_NR_([A-Z0-9_]+):/g)].map((m) => m[1]!.toLowerCase());
  expect(cases.sort()).toEqual(SYSCALL_EXITS.map((call) => call.replace(/64$/, "")).sort());
  // The walks of existing unix sockets and of a process's mappings are the programs both run; the TLS probes are loaded with either.
  expect(socket.length + syscalls.length).toBe(sections.filter((s) => !isTlsSection(s)).length + 2);
});

test("the unix walk's entry matches its BTF, and the report socket's inode is found by path among listeners only", () => {
  const walk = btf.types.find((t) => t.kind === "STRUCT" && t.name === "hs_unix_walk");
  expect(walk?.size).toBe(UNIX_WALK.valueSize);
  const table = [
    "Num       RefCount Protocol Flags    Type St Inode Path",
    "0000000000000000: 00000003 00000000 00000000 0001 03 448573 /run/plugins/http-statistics.sock",
    "0000000000000000: 00000002 00000000 00010000 0001 01 180295 /run/plugins/http-statistics.sock",
    "0000000000000000: 00000002 00000000 00010000 0001 01 180296 /run/other.sock",
    "0000000000000000: 00000002 00000000 00010000 0001 01 180297",
  ].join("\n");
  expect(listeningUnixInode("/run/plugins/http-statistics.sock", table)).toBe(180295);
  expect(listeningUnixInode("/run/none.sock", table)).toBeUndefined();
});

test("the mapped-files walk's record matches the header (a record the walk writes out, so not in the object's BTF)", () => {
  const header = readFileSync("bpf/http_statistics.h", "utf8");
  const body = /struct hs_mapped_file \{([^}]*)\};/.exec(header)?.[1] ?? "";
  const offsets: Record<string, number> = {};
  let at = 0;
  for (const [, type, name] of body.matchAll(/__u(64|32) (\w+);/g)) {
    offsets[name!] = at;
    at += Number(type) / 8;
  }
  expect({ size: at, offsets }).toEqual({ size: MAPPED_FILE.recordSize, offsets: { start: 0, ino: MAPPED_FILE.inoOffset, dev: MAPPED_FILE.devOffset, pad: 20 } });
});

test("the TLS probes load with either capture, and are attached by src/tls/ rather than by section", () => {
  const sections = [...Bun.spawnSync(["llvm-readelf", "-S", OBJECT]).stdout.toString().matchAll(/ (uprobe|uretprobe) /g)].map((m) => m[1]!);
  expect(new Set(sections)).toEqual(new Set(["uprobe", "uretprobe"]));
  for (const section of sections) {
    expect(isTlsSection(section)).toBe(true);
    expect(CAPTURES.socket.sections(section) && CAPTURES.syscalls.sections(section)).toBe(true);
  }
});
