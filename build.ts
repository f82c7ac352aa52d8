/**
 * Builds the product: compiles bpf/*.bpf.c with clang (CO-RE, BTF kept,
 * DWARF stripped), links them into one object with bpftool, then compiles
 * src/main.ts and that object into the single executable dist/http-statistics.
 *
 *   bun run build.ts            everything
 *   bun run build.ts --bpf      only build/http_statistics.bpf.o (what tests from source need)
 */
import { $ } from "bun";
import { mkdirSync, readdirSync } from "node:fs";
import pkg from "./package.json";

const ARCH: Record<string, string> = { x64: "x86", arm64: "arm64" };
export const OBJECT = "build/http_statistics.bpf.o";

function fail(message: string): never {
  process.stderr.write(`build: ${message}\n`);
  process.exit(1);
}

async function need(tool: string, hint: string) {
  if (!Bun.which(tool)) fail(`${tool} not found: ${hint}`);
}

export async function buildBpf(): Promise<string> {
  await need("clang", "apt-get install clang");
  await need("bpftool", "apt-get install bpftool");
  await need("llvm-strip", "apt-get install llvm");
  const arch = ARCH[process.arch] ?? fail(`unsupported architecture ${process.arch}`);
  mkdirSync("build", { recursive: true });
  // maps.bpf.c first: libbpf 1.1's linker mis-resolves extern maps seen before their definition.
  const sources = readdirSync("bpf")
    .filter((f) => f.endsWith(".bpf.c"))
    .sort((a, b) => Number(b === "maps.bpf.c") - Number(a === "maps.bpf.c") || a.localeCompare(b));
  const objects: string[] = [];
  for (const source of sources) {
    const out = `build/${source.replace(/\.c$/, ".o")}`;
    const multiarch = `/usr/include/${process.arch === "x64" ? "x86_64" : "aarch64"}-linux-gnu`;
    const r = await $`clang -g -O2 -Wall -Werror -target bpf -mcpu=v3 -D__TARGET_ARCH_${arch} -I${multiarch} -c bpf/${source} -o ${out}`.nothrow().quiet();
    if (r.exitCode !== 0) fail(`clang failed on bpf/${source}:\n${r.stderr}`);
    objects.push(out);
  }
  const linked = await $`bpftool gen object ${OBJECT} ${objects}`.nothrow().quiet();
  if (linked.exitCode !== 0) fail(`bpftool gen object failed:\n${linked.stderr}`);
  await $`llvm-strip -g ${OBJECT}`.quiet();
  return OBJECT;
}

async function gitCommit(): Promise<string> {
  const r = await $`git rev-parse --short=12 HEAD`.nothrow().quiet();
  return r.exitCode === 0 ? r.stdout.toString().trim() : "unknown";
}

export async function buildBinary(): Promise<string> {
  const outfile = "dist/http-statistics";
  mkdirSync("dist", { recursive: true });
  const version = `${pkg.version} (commit ${await gitCommit()})`;
  const r = await $`bun build --compile --minify --sourcemap=none src/main.ts --outfile ${outfile} --define ${`HS_BUILD_VERSION=${JSON.stringify(version)}`}`
    .nothrow()
    .quiet();
  if (r.exitCode !== 0) fail(`bun build failed:\n${r.stderr}`);
  return outfile;
}

if (import.meta.main) {
  const object = await buildBpf();
  console.log(`built ${object}`);
  if (!process.argv.includes("--bpf")) console.log(`built ${await buildBinary()}`);
}
