/**
 * Finds the TLS libraries processes use and attaches the TLS probes to
 * each library file once: a uprobe lives on the file's inode, so one
 * attachment covers every process that maps the file, now or later
 * (Python's ssl module mapping libssl on import included). The host's own
 * libssl is attached at start; other copies (a container's, reached
 * through /proc/<pid>/root) are found by scanning the processes' maps.
 */
import { readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import type { UprobeLink } from "../kernel/libbpf";
import { ElfError, ElfFile } from "./elf";
import { exportsOpenssl, opensslProbes } from "./openssl";

/** What TlsHooks needs of the loaded object. */
export interface UprobeTarget {
  attachUprobe(name: string, path: string, offset: number, retprobe: boolean): UprobeLink;
}

/** A library file mapped by `path` inside the mount namespace `root` leads to. */
const OPENSSL_LIBRARY = /\/libssl\.so(\.[0-9.]+)?$/;
/** Where the host's own libssl lives on Debian and most distributions. */
const HOST_LIBRARY_DIRS = ["/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"];

export interface HookedLibrary {
  /** "OpenSSL 3" etc., from the file's name. */
  library: string;
  path: string;
  /** How it was found: the host's library directory, or a process mapping it. */
  foundIn: string;
}

function libraryName(path: string): string {
  const version = /libssl\.so\.([0-9.]+)$/.exec(path)?.[1];
  return version ? `OpenSSL ${version}` : "OpenSSL";
}

function inodeOf(path: string): string | undefined {
  try {
    const st = statSync(path);
    return st.isFile() ? `${st.dev}:${st.ino}` : undefined;
  } catch {
    return undefined;
  }
}

function commOf(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "?";
  }
}

export class TlsHooks {
  /** Library files by inode: their links once attached, or why they could not be. */
  private readonly files = new Map<string, UprobeLink[] | "refused">();
  readonly hooked: HookedLibrary[] = [];

  constructor(
    private readonly target: UprobeTarget,
    private readonly log: (line: string) => void,
  ) {}

  /** The host's libssl files, whether or not any process maps them yet. */
  attachHostLibraries(): void {
    for (const dir of HOST_LIBRARY_DIRS) {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const name of names) {
        if (!OPENSSL_LIBRARY.test(`/${name}`)) continue;
        // By the file's own name (libssl.so.3), not a development symlink's (libssl.so).
        let path: string;
        try {
          path = realpathSync(`${dir}/${name}`);
        } catch {
          continue;
        }
        this.attach(path, "the host's library directory");
      }
    }
  }

  /** Every process's mapped libssl files not attached yet (containers' copies, other builds). */
  scanProcesses(): void {
    let pids: string[];
    try {
      pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
    } catch {
      return;
    }
    for (const pid of pids) {
      let maps: string;
      try {
        maps = readFileSync(`/proc/${pid}/maps`, "utf8");
      } catch {
        continue; // exited, or a kernel thread
      }
      for (const line of maps.split("\n")) {
        const path = line.slice(line.indexOf("/"));
        if (!line.includes("/") || !OPENSSL_LIBRARY.test(path)) continue;
        this.attach(`/proc/${pid}/root${path}`, `${commOf(pid)}[${pid}]`, path);
      }
    }
  }

  private attach(path: string, foundIn: string, shownPath = path): void {
    const inode = inodeOf(path);
    if (!inode || this.files.has(inode)) return;
    let elf: ElfFile;
    try {
      elf = ElfFile.open(path);
      if (!exportsOpenssl(elf)) throw new ElfError("it does not export SSL_read_ex, SSL_write_ex and SSL_clear");
      const probes = opensslProbes(elf);
      const links: UprobeLink[] = [];
      try {
        // Each return probe before its entry probe: a call whose entry fired then always fires its return.
        links.push(this.target.attachUprobe("hs_openssl_read_return", path, probes.read, true));
        links.push(this.target.attachUprobe("hs_openssl_read_enter", path, probes.read, false));
        links.push(this.target.attachUprobe("hs_openssl_write_return", path, probes.write, true));
        links.push(this.target.attachUprobe("hs_openssl_write_enter", path, probes.write, false));
        links.push(this.target.attachUprobe("hs_openssl_clear", path, probes.clear, false));
      } catch (error) {
        for (const link of links) link.destroy();
        throw error;
      }
      this.files.set(inode, links);
      const hooked = { library: libraryName(shownPath), path: shownPath, foundIn };
      this.hooked.push(hooked);
      this.log(`TLS: decoding ${hooked.library} plaintext from ${path === shownPath ? path : `${shownPath} as ${foundIn} maps it`} (every process mapping that file)`);
    } catch (error) {
      this.files.set(inode, "refused");
      const reason = error instanceof Error ? error.message : String(error);
      this.log(`TLS: not decoding ${shownPath} (${foundIn}): ${reason}; its connections count as tls_undecoded`);
    }
  }

  close(): void {
    for (const links of this.files.values()) if (links !== "refused") for (const link of links) link.destroy();
    this.files.clear();
  }
}
