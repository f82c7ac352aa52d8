/**
 * Loads an eBPF object and attaches all its programs, then holds them until
 * SIGTERM: how the suite runs a floor (bench/floor.bpf.c) in a process of
 * its own. It calls the system's libbpf directly rather than the product's
 * binding, so the floor stays the same whatever the product's user space
 * becomes.
 *
 *   bun bench/lib/attach.ts OBJECT
 */
import { dlopen, FFIType, ptr, type Pointer } from "bun:ffi";

const path = process.argv[2];
if (!path) {
  process.stderr.write("usage: bun bench/lib/attach.ts OBJECT\n");
  process.exit(2);
}
const { ptr: P, i32, cstring } = FFIType;
const bpf = dlopen("libbpf.so.1", {
  bpf_object__open_file: { args: [P, P], returns: P },
  bpf_object__load: { args: [P], returns: i32 },
  bpf_object__next_program: { args: [P, P], returns: P },
  bpf_program__name: { args: [P], returns: cstring },
  bpf_program__attach: { args: [P], returns: P },
  bpf_link__destroy: { args: [P], returns: i32 },
  bpf_object__close: { args: [P], returns: i32 },
  libbpf_get_error: { args: [P], returns: i32 },
}).symbols;

function fail(message: string): never {
  process.stderr.write(`attach: ${message}\n`);
  process.exit(1);
}

const object = bpf.bpf_object__open_file(ptr(Buffer.from(`${path}\0`)), null);
if (!object || bpf.libbpf_get_error(object)) fail(`cannot open ${path}`);
const loaded = bpf.bpf_object__load(object);
if (loaded) fail(`cannot load ${path} (error ${loaded})`);
const links: (Pointer | bigint)[] = [];
for (let prog = bpf.bpf_object__next_program(object, null); prog; prog = bpf.bpf_object__next_program(object, prog)) {
  const link = bpf.bpf_program__attach(prog);
  if (!link || bpf.libbpf_get_error(link)) fail(`cannot attach ${bpf.bpf_program__name(prog)}`);
  links.push(link);
}
process.stdout.write(`attached ${links.length}\n`);
const stop = () => {
  for (const link of links) bpf.bpf_link__destroy(link);
  bpf.bpf_object__close(object);
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
setInterval(() => {}, 1 << 30);
