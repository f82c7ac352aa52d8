/**
 * A minimal Debian 12 root file system (debootstrap --variant=minbase), the
 * "host with nothing but a kernel" the packaging tests run the binary and
 * build the image on. Built once from the mirror apt already uses and cached
 * under ROOTFS; tests never modify it (they mount an overlay on top).
 */
import { $ } from "bun";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

export const CACHE = "/var/cache/http-statistics-test";
export const ROOTFS = join(CACHE, "rootfs");
const COMPLETE = join(ROOTFS, ".http-statistics-rootfs-complete");
const SUITE = "bookworm";

/** The Debian mirror apt is configured with here, so debootstrap reaches nothing else. */
export function debianMirror(): string {
  const files = ["/etc/apt/sources.list", ...readdirSync("/etc/apt/sources.list.d").map((f) => `/etc/apt/sources.list.d/${f}`)];
  for (const file of files.filter((f) => /\.(list|sources)$/.test(f) && existsSync(f))) {
    const text = readFileSync(file, "utf8").replace(/^\s*#.*$/gm, "");
    // deb822 stanzas: the first whose Suites include bookworm
    for (const stanza of text.split(/\n\s*\n/)) {
      const uris = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uris && suites.includes(SUITE)) return uris;
    }
    const line = new RegExp(`^deb\\s+(?:\\[[^\\]]*\\]\\s+)?(\\S+)\\s+${SUITE}\\s`, "m").exec(text);
    if (line) return line[1]!;
  }
  throw new Error(`no apt source for Debian ${SUITE} in /etc/apt: cannot pick a mirror for debootstrap`);
}

/** Returns the cached rootfs, building it first when missing (about 30 s on a near mirror). */
export async function ensureRootfs(): Promise<{ path: string; builtMs: number }> {
  if (existsSync(COMPLETE)) return { path: ROOTFS, builtMs: 0 };
  if (!Bun.which("debootstrap")) throw new Error("debootstrap is missing: run scripts/setup.sh");
  const started = performance.now();
  const partial = `${ROOTFS}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  const r = await $`debootstrap --variant=minbase ${SUITE} ${partial} ${debianMirror()}`.nothrow().quiet();
  if (r.exitCode !== 0) {
    rmSync(partial, { recursive: true, force: true });
    throw new Error(`debootstrap failed (${r.exitCode}):\n${r.stdout.toString().slice(-2000)}${r.stderr.toString().slice(-2000)}`);
  }
  // The .debs debootstrap leaves behind are 40 MB nobody reads.
  await $`rm -rf ${partial}/var/cache/apt/archives/*.deb`.quiet();
  await Bun.write(join(partial, ".http-statistics-rootfs-complete"), `${new Date().toISOString()}\n`);
  rmSync(ROOTFS, { recursive: true, force: true });
  renameSync(partial, ROOTFS);
  return { path: ROOTFS, builtMs: performance.now() - started };
}
