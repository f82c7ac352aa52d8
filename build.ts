/**
 * Builds the product: compiles bpf/*.bpf.c with clang (CO-RE, BTF kept,
 * DWARF stripped), links them into one object with bpftool, copies the
 * shared libraries the binary carries (libbpf, libelf, libz) into build/lib,
 * then compiles src/main.ts (and src/kernel/bpf_load_worker.ts, the thread it loads
 * the object on), that object and those libraries into the single
 * executable dist/http-statistics.
 *
 *   bun run build.ts            everything
 *   bun run build.ts --bpf      only build/http_statistics.bpf.o and build/lib (what tests from source need)
 */
import { $ } from "bun";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync } from "node:fs";
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

/**
 * The libraries embedded in the binary, dependencies first (the order
 * src/kernel/embedded_libraries.ts loads them in), and the Debian package of each.
 * Debian's own shared builds, not one bundle linked from libbpf.a, libelf.a
 * and libz.a: libelf.a is compiled for executables (its thread-local error
 * variable uses the local-exec TLS model, R_X86_64_TPOFF32), which no shared
 * object can contain.
 */
export const EMBEDDED = [
  { soname: "libz.so.1", pkg: "zlib1g" },
  { soname: "libelf.so.1", pkg: "libelf1" },
  { soname: "libbpf.so.1", pkg: "libbpf1" },
];
export const LIBRARY_DIR = "build/lib";
/** What every glibc host has; anything else a library needs must be embedded. */
const HOST_PROVIDED = new Set(["libc.so.6", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "libm.so.6", "libpthread.so.0", "libdl.so.2"]);

function systemLibraryPath(soname: string): string {
  const multiarch = process.arch === "x64" ? "x86_64-linux-gnu" : "aarch64-linux-gnu";
  for (const dir of [`/usr/lib/${multiarch}`, `/lib/${multiarch}`]) if (existsSync(`${dir}/${soname}`)) return realpathSync(`${dir}/${soname}`);
  fail(`${soname} not found: apt-get install ${EMBEDDED.find((l) => l.soname === soname)?.pkg}`);
}

/** Copies Debian's builds of the embedded libraries into build/lib, checking they need nothing else. */
export async function stageLibraries(): Promise<string[]> {
  await need("llvm-readelf", "apt-get install llvm");
  mkdirSync(LIBRARY_DIR, { recursive: true });
  const embedded = new Set(EMBEDDED.map((l) => l.soname));
  const staged: string[] = [];
  for (const { soname } of EMBEDDED) {
    const source = systemLibraryPath(soname);
    const r = await $`llvm-readelf --needed-libs ${source}`.nothrow().quiet();
    if (r.exitCode !== 0) fail(`cannot read ${source}: ${r.stderr}`);
    const needed = r.stdout.toString().split("\n").slice(1).map((l) => l.trim()).filter((l) => l && l !== "]");
    const missing = needed.filter((n) => !embedded.has(n) && !HOST_PROVIDED.has(n));
    if (missing.length) fail(`${source} needs ${missing.join(", ")}, which the binary does not embed: add it to EMBEDDED`);
    const target = `${LIBRARY_DIR}/${soname}`;
    if (!existsSync(target) || !readFileSync(target).equals(readFileSync(source))) copyFileSync(source, target);
    staged.push(target);
  }
  return staged;
}

/** "libbpf1 1:1.1.2-0+deb12u1, ...": what --version reports for the embedded copies. */
async function embeddedPackages(): Promise<string> {
  const versions = [];
  for (const { pkg } of [...EMBEDDED].reverse()) {
    const r = await $`dpkg-query -W -f=${"${Version}"} ${`${pkg}:${process.arch === "x64" ? "amd64" : "arm64"}`}`.nothrow().quiet();
    versions.push(`${pkg} ${r.exitCode === 0 ? r.stdout.toString().trim() : "unknown"}`);
  }
  return versions.join(", ");
}

async function gitCommit(): Promise<string> {
  // An image build has no .git: the Dockerfile passes the commit in.
  if (process.env.HS_GIT_COMMIT) return process.env.HS_GIT_COMMIT.slice(0, 12);
  const r = await $`git rev-parse --short=12 HEAD`.nothrow().quiet();
  return r.exitCode === 0 ? r.stdout.toString().trim() : "unknown";
}

export async function buildBinary(): Promise<string> {
  await stageLibraries();
  const outfile = "dist/http-statistics";
  mkdirSync("dist", { recursive: true });
  const version = `${pkg.version} (commit ${await gitCommit()})`;
  const packages = await embeddedPackages();
  const r = await $`bun build --compile --minify --sourcemap=none src/main.ts src/kernel/bpf_load_worker.ts --outfile ${outfile} --define ${`HS_BUILD_VERSION=${JSON.stringify(version)}`} --define ${`HS_EMBEDDED_PACKAGES=${JSON.stringify(packages)}`}`
    .nothrow()
    .quiet();
  if (r.exitCode !== 0) fail(`bun build failed:\n${r.stderr}`);
  return outfile;
}

if (import.meta.main) {
  const object = await buildBpf();
  console.log(`built ${object}`);
  console.log(`staged ${(await stageLibraries()).join(", ")}`);
  if (!process.argv.includes("--bpf")) console.log(`built ${await buildBinary()}`);
}
