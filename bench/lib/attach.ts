/**
 * Loads an eBPF object and attaches all its programs, then holds them until
 * SIGTERM: how the suite runs a floor (bench/floor.bpf.c) in a process of
 * its own. It calls the system's libbpf directly rather than the product's
 * binding, so the floor stays the same whatever the product's user space
 * becomes. Programs whose section names no attach point (SEC("uprobe"))
 * are placed by the arguments after the object: PROGRAM=PATH:OFFSET for an
 * entry probe at that file offset, PROGRAM=PATH:OFFSET:return for a
 * return probe.
 *
 *   bun bench/lib/attach.ts OBJECT [PROGRAM=PATH:OFFSET[:return]]...
 */
import { dlopen, FFIType, ptr, type Pointer } from "bun:ffi";

const path = process.argv[2];
if (!path) {
  process.stderr.write("usage: bun bench/lib/attach.ts OBJECT [PROGRAM=PATH:OFFSET[:return]]...\n");
  process.exit(2);
}
const { ptr: P, i32, u64, bool, cstring } = FFIType;
const bpf = dlopen("libbpf.so.1", {
  bpf_object__open_file: { args: [P, P], returns: P },
  bpf_object__load: { args: [P], returns: i32 },
  bpf_object__next_program: { args: [P, P], returns: P },
  bpf_program__name: { args: [P], returns: cstring },
  bpf_program__attach: { args: [P], returns: P },
  bpf_program__attach_uprobe: { args: [P, bool, i32, P, u64], returns: P },
  bpf_link__destroy: { args: [P], returns: i32 },
  bpf_object__close: { args: [P], returns: i32 },
  libbpf_get_error: { args: [P], returns: i32 },
}).symbols;

function fail(message: string): never {
  process.stderr.write(`attach: ${message}\n`);
  process.exit(1);
}

/** Placed programs by name: one program may sit on several points. */
const placed = new Map<string, Array<{ path: string; offset: number; retprobe: boolean }>>();
for (const spec of process.argv.slice(3)) {
  const m = /^([A-Za-z0-9_]+)=(\/[^:]+):(0x[0-9a-f]+|[0-9]+)(:return)?$/.exec(spec);
  if (!m) fail(`not PROGRAM=PATH:OFFSET[:return]: ${spec}`);
  const list = placed.get(m[1]!) ?? [];
  list.push({ path: m[2]!, offset: Number(m[3]), retprobe: Boolean(m[4]) });
  placed.set(m[1]!, list);
}

const object = bpf.bpf_object__open_file(ptr(Buffer.from(`${path}\0`)), null);
if (!object || bpf.libbpf_get_error(object)) fail(`cannot open ${path}`);
const loaded = bpf.bpf_object__load(object);
if (loaded) fail(`cannot load ${path} (error ${loaded})`);
const links: (Pointer | bigint)[] = [];
for (let prog = bpf.bpf_object__next_program(object, null); prog; prog = bpf.bpf_object__next_program(object, prog)) {
  const name = String(bpf.bpf_program__name(prog));
  const points = placed.get(name);
  placed.delete(name);
  if (!points) {
    const link = bpf.bpf_program__attach(prog);
    if (!link || bpf.libbpf_get_error(link)) fail(`cannot attach ${name}`);
    links.push(link);
    continue;
  }
  for (const { path, offset, retprobe } of points) {
    const link = bpf.bpf_program__attach_uprobe(prog, retprobe, -1, ptr(Buffer.from(`${path}\0`)), offset);
    if (!link || bpf.libbpf_get_error(link)) fail(`cannot attach ${name} at ${path}:0x${offset.toString(16)}`);
    links.push(link);
  }
}
if (placed.size) fail(`no program ${[...placed.keys()].join(", ")} in ${path}`);
process.stdout.write(`attached ${links.length}\n`);
const stop = () => {
  for (const link of links) bpf.bpf_link__destroy(link);
  bpf.bpf_object__close(object);
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
setInterval(() => {}, 1 << 30);
