/**
 * Loads an eBPF object and attaches all its programs, then holds them until
 * SIGTERM: how the suite runs the floor variant (bench/floor.bpf.c) in a
 * process of its own, through the product's own libbpf binding.
 *
 *   bun bench/lib/attach.ts OBJECT
 */
import { BpfObject, loadLibbpf, SYSTEM_LIBBPF } from "../../src/libbpf";

const path = process.argv[2];
if (!path) {
  process.stderr.write("usage: bun bench/lib/attach.ts OBJECT\n");
  process.exit(2);
}
const library = loadLibbpf(SYSTEM_LIBBPF);
const object = BpfObject.openMem(library, new Uint8Array(await Bun.file(path).arrayBuffer()));
object.load();
const attached = object.attachAll();
process.stdout.write(`attached ${attached}\n`);
const stop = () => {
  object.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
setInterval(() => {}, 1 << 30);
