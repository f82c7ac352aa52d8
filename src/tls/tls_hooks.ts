/**
 * Finds the TLS libraries processes use and attaches the TLS probes to
 * each library file once: a uprobe lives on the file's inode, so one
 * attachment covers every process that maps the file, now or later
 * (Python's ssl module mapping libssl on import included). The host's own
 * libssl is attached at start; other copies (a container's, reached
 * through /proc/<pid>/root) are found by scanning the processes' maps.
 */
import { readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from "node:fs";
import type { TlsProbe } from "../kernel/kernel_abi";
import type { UprobeLink, UprobeOffset } from "../kernel/libbpf";
import { ElfError, ElfFile } from "./elf";
import { goTlsFunctions, goTlsProbes, type GoTlsProbes } from "./go";
import { exportsOpenssl, opensslProbes, type OpensslProbes } from "./openssl";

/** What TlsHooks needs of the loaded object: program `name` attached to offsets of the file at `path` (all or none), and which files a process maps. */
export interface UprobeTarget {
  attachUprobes(name: string, path: string, probes: UprobeOffset[], retprobe: boolean): UprobeLink;
  /** The files a process maps, by each mapping's start, as the kernel's own "major:minor:inode". */
  mappedFiles(pid: number): Map<number, string> | undefined;
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

/**
 * A file's identity as the kernel's uprobes see it: "major:minor:inode" of
 * the file a mapping really reads. /proc/<pid>/maps shows that file's
 * device and inode even for a container's overlay (whose own inode differs
 * per container while the probed file is the same): keying by it attaches a
 * file shared by several containers once, never twice.
 */
function fileIdOf(path: string): string | undefined {
  try {
    const st = statSync(path);
    if (!st.isFile()) return undefined;
    const dev = st.dev;
    const major = Math.floor(dev / 256) & 0xfff;
    const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
    return `${major}:${minor}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** One mapping's file, from a /proc/<pid>/maps line: its identity and path, or undefined for anonymous ones. */
interface MappedFile {
  /** "major:minor:inode" as /proc/<pid>/maps names it. */
  id: string;
  path: string;
  start: number;
  /** The device has no block device behind it (an overlay, tmpfs): the file the kernel maps may be another. */
  anonymous: boolean;
}

function mappedFile(line: string): MappedFile | undefined {
  const [range, , , dev, inode, path] = line.split(/\s+/, 6);
  if (!range || !path?.startsWith("/") || !dev || !inode || inode === "0") return undefined;
  const [major, minor] = dev.split(":").map((hex) => parseInt(hex, 16)) as [number, number];
  return { id: `${major}:${minor}:${inode}`, path: line.slice(line.indexOf(path)), start: parseInt(range, 16), anonymous: major === 0 };
}

function commOf(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "?";
  }
}

export class TlsHooks {
  /** Library files by identity (fileIdOf): their links once attached, or why they could not be. */
  private readonly files = new Map<string, UprobeLink[] | "refused">();
  /** Executables already read that carry no OpenSSL, by identity. */
  private readonly plainExecutables = new Set<string>();
  /** The kernel's identity of files /proc/<pid>/maps names by an overlay's device, by "pid id" (this scan's and the last's). */
  private kernelIds = new Map<string, string>();
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
        const id = fileIdOf(path);
        if (id) this.attach(id, path, "the host's library directory");
      }
    }
  }

  /** Every process's mapped libssl files not attached yet (containers' copies, other builds), and executables carrying OpenSSL. */
  scanProcesses(): void {
    let pids: string[];
    try {
      pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
    } catch {
      return;
    }
    const kernelIds = new Map<string, string>();
    for (const pid of pids) {
      let maps: string;
      let exe: string | undefined;
      try {
        maps = readFileSync(`/proc/${pid}/maps`, "utf8");
        exe = readlinkSync(`/proc/${pid}/exe`);
      } catch {
        continue; // exited, a kernel thread, or not ours to read (CAP_SYS_PTRACE)
      }
      const seen = new Set<string>();
      for (const line of maps.split("\n")) {
        const file = mappedFile(line);
        if (!file || seen.has(file.id)) continue;
        seen.add(file.id);
        if (OPENSSL_LIBRARY.test(file.path)) this.attach(this.kernelId(pid, file, kernelIds), `/proc/${pid}/root${file.path}`, `${commOf(pid)}[${pid}]`, file.path);
        else if (file.path === exe) this.checkExecutable(this.kernelId(pid, file, kernelIds), `/proc/${pid}/root${exe}`, `${commOf(pid)}[${pid}]`, exe);
      }
    }
    this.kernelIds = kernelIds;
  }

  /**
   * A file's identity as the kernel registers uprobes on it. A container's
   * file shows in maps under its overlay's device, one per container, while
   * the kernel maps the image layer's file, which containers of one image
   * share: keyed by the overlay's name, that file would be probed once per
   * container and each call parsed as many times.
   */
  private kernelId(pid: string, file: MappedFile, seen: Map<string, string>): string {
    if (!file.anonymous) return file.id;
    const key = `${pid} ${file.id}`;
    let id = this.kernelIds.get(key) ?? seen.get(key);
    // Where the kernel cannot walk one process (before Linux 6.1), the name maps gives.
    id ??= this.target.mappedFiles(Number(pid))?.get(file.start) ?? file.id;
    seen.set(key, id);
    return id;
  }

  /** An executable that carries OpenSSL and exports its calls (Node's official builds do), or a Go program using crypto/tls. */
  private checkExecutable(id: string, path: string, foundIn: string, shownPath: string): void {
    if (this.files.has(id) || this.plainExecutables.has(id)) return;
    let elf: ElfFile;
    try {
      elf = ElfFile.open(path);
    } catch {
      this.plainExecutables.add(id); // not an ELF file we can read: nothing to probe
      return;
    }
    let carries: "openssl" | GoTlsProbes | undefined;
    try {
      if (exportsOpenssl(elf)) carries = "openssl";
      else {
        const go = goTlsFunctions(elf);
        if (go) carries = goTlsProbes(elf, go);
      }
    } catch (error) {
      // A Go program using crypto/tls whose calls cannot be placed: named, its connections undecoded.
      return this.refuse(id, shownPath, foundIn, error);
    } finally {
      elf.close();
    }
    if (!carries) {
      this.plainExecutables.add(id);
      return;
    }
    if (carries === "openssl") this.attach(id, path, foundIn, shownPath, "OpenSSL (inside the executable)");
    else this.attachGo(id, path, foundIn, shownPath, carries);
  }

  /** A Go executable: probes on crypto/tls's Read, Write and handshakes (src/tls/go.ts). */
  private attachGo(id: string, path: string, foundIn: string, shownPath: string, placed: GoTlsProbes): void {
    try {
      this.files.set(id, this.attachAll(path, placed.probes));
      const hooked = { library: "Go crypto/tls", path: shownPath, foundIn };
      this.hooked.push(hooked);
      const slower = placed.entriesAtStart.length ? `; ${placed.entriesAtStart.join(", ")} probed at their first instruction` : "";
      this.log(`TLS: decoding Go crypto/tls plaintext from ${path === shownPath ? path : `${shownPath} as ${foundIn} runs it`} (every process running that file; probes on (*Conn).Read and Write, their returns, the handshakes and Close${slower})`);
    } catch (error) {
      this.refuse(id, shownPath, foundIn, error);
    }
  }

  /**
   * Attaches probes all or none, one attachment per program and kind
   * (entry or return), in the order each first appears: returns before
   * entries, so that a call whose entry fired always meets its return.
   */
  private attachAll(path: string, probes: TlsProbe[]): UprobeLink[] {
    const groups = new Map<string, { program: string; retprobe: boolean; offsets: UprobeOffset[] }>();
    for (const { program, retprobe, offset, cookie } of probes) {
      const key = `${program} ${retprobe}`;
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { program, retprobe, offsets: [] }));
      group.offsets.push({ offset, cookie });
    }
    const links: UprobeLink[] = [];
    try {
      for (const group of groups.values()) links.push(this.target.attachUprobes(group.program, path, group.offsets, group.retprobe));
    } catch (error) {
      for (const link of links) link.destroy();
      throw error;
    }
    return links;
  }

  private refuse(id: string, shownPath: string, foundIn: string, error: unknown): void {
    this.files.set(id, "refused");
    const reason = error instanceof Error ? error.message : String(error);
    this.log(`TLS: not decoding ${shownPath} (${foundIn}): ${reason}; its connections count as tls_undecoded`);
  }

  private attach(id: string, path: string, foundIn: string, shownPath = path, library = libraryName(shownPath)): void {
    if (this.files.has(id)) return;
    try {
      const elf = ElfFile.open(path);
      let placed: OpensslProbes;
      try {
        if (!exportsOpenssl(elf)) throw new ElfError("it does not export SSL_read_ex, SSL_write_ex and SSL_clear");
        placed = opensslProbes(elf);
      } finally {
        elf.close();
      }
      const { placement, probes } = placed;
      this.files.set(id, this.attachAll(path, probes));
      const hooked = { library, path: shownPath, foundIn };
      this.hooked.push(hooked);
      const where = placement === "internal" ? "its internal read and write functions" : "SSL_read, SSL_write and their _ex variants";
      this.log(`TLS: decoding ${hooked.library} plaintext from ${path === shownPath ? path : `${shownPath} as ${foundIn} maps it`} (every process mapping that file; probes on ${where})`);
    } catch (error) {
      this.refuse(id, shownPath, foundIn, error);
    }
  }

  close(): void {
    for (const links of this.files.values()) if (links !== "refused") for (const link of links) link.destroy();
    this.files.clear();
  }
}
