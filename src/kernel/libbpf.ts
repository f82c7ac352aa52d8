/**
 * The thin typed binding to libbpf (and the libc calls it needs, bpf(2)
 * among them where libbpf 1.1 falls short), through bun:ffi. Nothing here
 * knows about HTTP: it opens, loads and attaches an object and moves bytes
 * in and out of its maps.
 */
import { dlopen, FFIType, JSCallback, ptr, read, type Pointer } from "bun:ffi";
import { closeSync, writeSync } from "node:fs";

/* From source this module sits beside the worker. Compiled, every bundled
 * module's URL is the binary's own, at the root of the embedded sources
 * (src/), so the worker is named from there. */
const LOAD_WORKER_URL = (import.meta.url.startsWith("file:///$bunfs/")
  ? new URL("./kernel/bpf_load_worker.ts", import.meta.url)
  : new URL("./bpf_load_worker.ts", import.meta.url)).href;

const P = FFIType.ptr;
const { i32, i64, u32, u64, bool, cstring, void: none } = FFIType;

/** Library names tried in order by --system-libbpf; the first that opens wins. */
export const SYSTEM_LIBBPF = ["libbpf.so.1", "libbpf.so"];

function openLibbpf(path: string) {
  return dlopen(path, {
    libbpf_version_string: { args: [], returns: cstring },
    libbpf_set_print: { args: [P], returns: P },
    bpf_object__open_mem: { args: [P, u64, P], returns: P },
    bpf_object__load: { args: [P], returns: i32 },
    bpf_object__close: { args: [P], returns: none },
    bpf_object__next_program: { args: [P, P], returns: P },
    bpf_object__find_map_by_name: { args: [P, cstring], returns: P },
    bpf_object__find_program_by_name: { args: [P, cstring], returns: P },
    bpf_program__name: { args: [P], returns: cstring },
    bpf_program__section_name: { args: [P], returns: cstring },
    bpf_program__set_autoload: { args: [P, bool], returns: i32 },
    bpf_program__set_expected_attach_type: { args: [P, u32], returns: i32 },
    bpf_program__fd: { args: [P], returns: i32 },
    libbpf_num_possible_cpus: { args: [], returns: i32 },
    bpf_program__attach: { args: [P], returns: P },
    bpf_program__attach_uprobe_opts: { args: [P, i32, cstring, u64, P], returns: P },
    bpf_program__attach_tracepoint: { args: [P, cstring, cstring], returns: P },
    bpf_link__destroy: { args: [P], returns: i32 },
    bpf_link__fd: { args: [P], returns: i32 },
    bpf_iter_create: { args: [i32], returns: i32 },
    bpf_program__attach_iter: { args: [P, P], returns: P },
    bpf_map__fd: { args: [P], returns: i32 },
    bpf_map__set_max_entries: { args: [P, u32], returns: i32 },
    bpf_map__key_size: { args: [P], returns: u32 },
    bpf_map__value_size: { args: [P], returns: u32 },
    bpf_map_delete_elem: { args: [i32, P], returns: i32 },
    bpf_map_update_elem: { args: [i32, P, P, u64], returns: i32 },
    bpf_map_lookup_batch: { args: [i32, P, P, P, P, P, P], returns: i32 },
    bpf_map_delete_batch: { args: [i32, P, P, P], returns: i32 },
  });
}

function openLibc() {
  return dlopen("libc.so.6", {
    __errno_location: { args: [], returns: P },
    strerror: { args: [i32], returns: cstring },
    vsnprintf: { args: [P, u64, P, P], returns: i32 },
    mount: { args: [cstring, cstring, cstring, u64, P], returns: i32 },
    memfd_create: { args: [cstring, u32], returns: i32 },
    read: { args: [i32, P, u64], returns: i64 },
    // Variadic in C; x86-64 passes these in the same registers either way.
    syscall: { args: [i64, i64, P, u32], returns: i64 },
  });
}

// libdl.so.2 exists on every glibc: a stub forwarding to libc since 2.34, the real thing before.
function openLibdl() {
  return dlopen("libdl.so.2", {
    dlopen: { args: [cstring, i32], returns: P },
    dlerror: { args: [], returns: cstring },
  });
}

let libc: ReturnType<typeof openLibc> | undefined;
export function getLibc() {
  libc ??= openLibc();
  return libc.symbols;
}

export function errno(): number {
  return read.i32(getLibc().__errno_location()!, 0);
}

export function strerror(code: number): string {
  return String(getLibc().strerror(Math.abs(code)));
}

/** A libbpf or kernel failure, carrying the negative errno and what libbpf logged. */
export class BpfError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly log: string[] = [],
  ) {
    super(message);
  }
}

const ENOENT = 2;
const EBADF = 9;

/*
 * The bpf(2) calls libbpf 1.1 cannot make: uprobe_multi links (Linux 6.6)
 * came after it. Their attribute layouts are the kernel's stable ABI
 * (union bpf_attr in include/uapi/linux/bpf.h); x86-64 is the only
 * architecture the plugin runs on (preflight.ts).
 */
const SYS_BPF = 321;
const BPF_PROG_LOAD = 5;
const BPF_LINK_CREATE = 28;
const BPF_PROG_TYPE_KPROBE = 2;
/** enum bpf_attach_type's value for uprobe_multi programs and links, which libbpf 1.1 does not name. */
const BPF_TRACE_UPROBE_MULTI = 48;
const BPF_F_UPROBE_MULTI_RETURN = 1;

/** bpf(command, attr): the kernel's result, or the negative errno. */
function bpfSyscall(command: number, attr: Uint8Array): number {
  const rc = Number(getLibc().syscall(SYS_BPF, command, ptr(attr), attr.byteLength));
  return rc < 0 ? -errno() : rc;
}

/**
 * Whether this kernel makes uprobe_multi links: one link for many offsets
 * of one file, removed with one synchronization where a perf-event uprobe
 * costs one each. Asked without probing anything: a trivial program loaded
 * for them is linked to "/", which a kernel that has them refuses as not a
 * regular file (EBADF), and one that has not as an unknown attach type.
 */
export function kernelHasUprobeMulti(): boolean {
  // r0 = 0; exit
  const insns = new Uint8Array([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
  const license = Buffer.from("GPL\0");
  // union bpf_attr for BPF_PROG_LOAD, up to expected_attach_type.
  const load = new Uint8Array(72);
  const loadView = new DataView(load.buffer);
  loadView.setUint32(0, BPF_PROG_TYPE_KPROBE, true); // prog_type
  loadView.setUint32(4, insns.length / 8, true); // insn_cnt
  loadView.setBigUint64(8, BigInt(ptr(insns)), true); // insns
  loadView.setBigUint64(16, BigInt(ptr(license)), true); // license
  loadView.setUint32(68, BPF_TRACE_UPROBE_MULTI, true); // expected_attach_type
  const prog = bpfSyscall(BPF_PROG_LOAD, load);
  if (prog < 0) return false;
  try {
    const link = createUprobeMultiLink(prog, "/", [{ offset: 0, cookie: 0 }], false);
    if (link >= 0) closeSync(link);
    return link === -EBADF;
  } finally {
    closeSync(prog);
  }
}

/** One probed instruction of a file, and the number its program reads back with bpf_get_attach_cookie. */
export interface UprobeOffset {
  offset: number;
  cookie: number;
}

/** BPF_LINK_CREATE of a uprobe_multi link for program `prog`, in every process (no pid filter): its descriptor, or the negative errno. */
function createUprobeMultiLink(prog: number, path: string, probes: UprobeOffset[], retprobe: boolean): number {
  const file = Buffer.from(`${path}\0`);
  const offsets = new BigUint64Array(probes.map((p) => BigInt(p.offset)));
  const cookies = new BigUint64Array(probes.map((p) => BigInt(p.cookie)));
  // union bpf_attr for BPF_LINK_CREATE: prog_fd, target_fd, attach_type, flags, then uprobe_multi's path,
  // offsets, ref_ctr_offsets, cookies, cnt, flags, pid.
  const attr = new Uint8Array(64);
  const view = new DataView(attr.buffer);
  view.setUint32(0, prog, true);
  view.setUint32(8, BPF_TRACE_UPROBE_MULTI, true);
  view.setBigUint64(16, BigInt(ptr(file)), true);
  view.setBigUint64(24, BigInt(ptr(offsets)), true);
  view.setBigUint64(40, BigInt(ptr(cookies)), true);
  view.setUint32(48, probes.length, true);
  view.setUint32(52, retprobe ? BPF_F_UPROBE_MULTI_RETURN : 0, true);
  return bpfSyscall(BPF_LINK_CREATE, attr);
}

export type Libbpf = ReturnType<typeof openLibbpf>["symbols"];

export interface LoadedLibrary {
  path: string;
  symbols: Libbpf;
  version: string;
  /** Whether libbpf's messages also go to stderr. */
  verbose: boolean;
  /** libbpf's messages since the last drain, for error reports. */
  drainLog(): string[];
}

/** A shared library carried inside the binary: its soname and where Bun can read its bytes. */
export interface EmbeddedLibrary {
  soname: string;
  file: string;
}

const MFD_CLOEXEC = 0x1;
/** Kernels >= 6.3 with vm.memfd_noexec=1 make memfds non-executable unless asked. */
const MFD_EXEC = 0x10;
const EINVAL = 22;
const RTLD_NOW = 0x2;

/**
 * Loads libbpf and its dependencies from copies shipped inside the binary,
 * without writing them to disk: each goes into an anonymous memory file and
 * is dlopen()ed through /proc/self/fd. `libraries` lists dependencies first
 * and libbpf last: when libbpf's DT_NEEDED asks for "libelf.so.1", the
 * dynamic linker matches that name against the soname of the copy already
 * loaded and never searches the disk.
 */
export async function loadEmbeddedLibbpf(libraries: EmbeddedLibrary[], verbose = false): Promise<LoadedLibrary> {
  const libc = getLibc();
  const dl = openLibdl().symbols;
  const fds: number[] = [];
  try {
    const paths: string[] = [];
    for (const library of libraries) {
      const bytes = new Uint8Array(await Bun.file(library.file).arrayBuffer());
      const name = Buffer.from(`${library.soname}\0`);
      let fd = libc.memfd_create(name, MFD_CLOEXEC | MFD_EXEC);
      if (fd < 0 && errno() === EINVAL) fd = libc.memfd_create(name, MFD_CLOEXEC);
      if (fd < 0) {
        const code = errno();
        throw new BpfError(`cannot create a memory file for the embedded ${library.soname}: ${strerror(code)} (try --system-libbpf)`, -code);
      }
      fds.push(fd);
      for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
      paths.push(`/proc/self/fd/${fd}`);
    }
    // Every descriptor stays open until all are loaded: a reused fd number would
    // make a later /proc/self/fd/N match an already loaded object by its name.
    for (const [i, library] of libraries.slice(0, -1).entries())
      if (!dl.dlopen(Buffer.from(`${paths[i]}\0`), RTLD_NOW))
        throw new BpfError(`cannot load the embedded ${library.soname}: ${dl.dlerror()} (try --system-libbpf)`, -ENOENT);
    let loaded: LoadedLibrary;
    try {
      loaded = loadLibbpf(paths.slice(-1), verbose);
    } catch (error) {
      throw new BpfError(`cannot load the embedded libbpf.so.1: ${error instanceof Error ? error.message : error} (try --system-libbpf)`, -ENOENT);
    }
    return { ...loaded, path: "embedded" };
  } finally {
    // The mappings keep the memory files alive; the descriptors are no longer needed.
    for (const fd of fds) closeSync(fd);
  }
}

/**
 * A libbpf print callback that formats each message into `log` (its last
 * 400 lines), and onto stderr when verbose. It may only be called on the
 * thread that made it.
 */
export function libbpfPrinter(log: string[], verbose: boolean): JSCallback {
  const c = getLibc();
  const text = new Uint8Array(4096);
  // libbpf hands us a printf format and a va_list; vsnprintf formats it in C.
  return new JSCallback(
    (level: number, format: Pointer, args: Pointer) => {
      const n = c.vsnprintf(ptr(text), text.length, format, args);
      // libbpf starts most messages with its own "libbpf: "; keep one.
      const line = new TextDecoder().decode(text.subarray(0, Math.max(0, Math.min(n, text.length - 1)))).trimEnd().replace(/^libbpf: /, "");
      if (verbose) process.stderr.write(`libbpf: ${line}\n`);
      log.push(line);
      if (log.length > 400) log.splice(0, log.length - 400);
      return 0;
    },
    { args: [i32, P, P], returns: i32, threadsafe: false },
  );
}

/** What the load worker (bpf_load_worker.ts) is sent: the object and the two libbpf functions it calls, by address. */
export interface LoadRequest {
  object: number;
  load: number;
  setPrint: number;
  verbose: boolean;
}

/** What it answers: bpf_object__load's return code and libbpf's messages meanwhile. */
export interface LoadResult {
  rc: number;
  log: string[];
}

/** Opens libbpf from the first path that works and routes its log into memory. */
export function loadLibbpf(paths: string[], verbose = false): LoadedLibrary {
  let firstError: unknown;
  for (const path of paths) {
    let lib: ReturnType<typeof openLibbpf>;
    try {
      lib = openLibbpf(path);
    } catch (error) {
      firstError ??= error;
      continue;
    }
    const log: string[] = [];
    const printer = libbpfPrinter(log, verbose);
    lib.symbols.libbpf_set_print(printer.ptr);
    return {
      path,
      symbols: lib.symbols,
      version: String(lib.symbols.libbpf_version_string()),
      verbose,
      drainLog: () => log.splice(0, log.length),
    };
  }
  const reason = firstError instanceof Error ? firstError.message : String(firstError);
  throw new BpfError(`cannot open the system's libbpf (tried ${paths.join(", ")}): ${reason}`, -ENOENT);
}

/** One map of a loaded object: typed byte-level access. */
export class BpfMap {
  constructor(
    private readonly lib: Libbpf,
    readonly name: string,
    readonly fd: number,
    readonly keySize: number,
    readonly valueSize: number,
  ) {}

  delete(key: Uint8Array): boolean {
    return this.lib.bpf_map_delete_elem(this.fd, ptr(key)) === 0;
  }

  /** Writes one entry (BPF_ANY). */
  update(key: Uint8Array, value: Uint8Array): void {
    const rc = this.lib.bpf_map_update_elem(this.fd, ptr(key), ptr(value), 0);
    if (rc < 0) throw new BpfError(`writing map ${this.name}: ${strerror(rc)}`, rc);
  }

  /** lookupAll's buffers, kept between calls: it runs every second, and a per-CPU map's values are large. */
  private batchKeys = new Uint8Array(0);
  private batchValues = new Uint8Array(0);

  /**
   * Every entry, through BPF_MAP_LOOKUP_BATCH: one syscall per `chunk`
   * entries rather than two per entry as with get_next_key + lookup. The
   * buffers returned are valid until the next call.
   */
  lookupAll(chunk = 4096): { keys: Uint8Array; values: Uint8Array; count: number } {
    let keys = this.batchKeys;
    let values = this.batchValues;
    const token = new BigUint64Array(2); // in_batch, out_batch: opaque 32-bit bucket cursors
    const countBox = new Uint32Array(1);
    let total = 0;
    let first = true;
    for (;;) {
      if (keys.length < (total + chunk) * this.keySize) {
        keys = this.batchKeys = grow(keys, (total + chunk) * this.keySize * 2);
        values = this.batchValues = grow(values, (total + chunk) * this.valueSize * 2);
      }
      countBox[0] = chunk;
      const rc = this.lib.bpf_map_lookup_batch(
        this.fd,
        first ? null : ptr(token, 0),
        ptr(token, 8),
        ptr(keys, total * this.keySize),
        ptr(values, total * this.valueSize),
        ptr(countBox),
        null,
      );
      total += countBox[0]!;
      if (rc === -ENOENT || (rc < 0 && errno() === ENOENT)) break;
      if (rc < 0) throw new BpfError(`reading map ${this.name}: ${strerror(rc)}`, rc);
      token[0] = token[1]!;
      first = false;
    }
    return { keys, values, count: total };
  }

  deleteMany(keys: Uint8Array, count: number): void {
    if (count === 0) return;
    const countBox = new Uint32Array([count]);
    const rc = this.lib.bpf_map_delete_batch(this.fd, ptr(keys), ptr(countBox), null);
    // An entry already gone (ENOENT) stops the batch early: finish one by one.
    if (rc < 0) {
      for (let i = countBox[0]!; i < count; i++) this.delete(keys.subarray(i * this.keySize, (i + 1) * this.keySize));
    }
  }
}

/** bun:ffi types pointer returns as possibly bigint; pointers of this address space fit a number. */
function asPointer(value: Pointer | bigint | null): Pointer | null {
  if (typeof value === "bigint") throw new BpfError("bun:ffi returned a pointer beyond 2^53", -22);
  return value;
}

/** A dlopen()ed function's address: bun:ffi sets it as `ptr` on each symbol, though its types do not declare it. */
function addressOf(symbol: object): number {
  const address = (symbol as { ptr?: unknown }).ptr;
  if (typeof address !== "number") throw new BpfError("bun:ffi gave no address for a libbpf function", -EINVAL);
  return address;
}

function grow(buffer: Uint8Array, size: number): Uint8Array<ArrayBuffer> {
  const bigger = new Uint8Array(size);
  bigger.set(buffer);
  return bigger;
}

/** Attached uprobes; destroy() detaches them. */
export interface UprobeLink {
  destroy(): void;
}

export interface MapLayout {
  keySize: number;
  valueSize: number;
}

/** An opened (and after load(), loaded) BPF object with its programs' links. */
export class BpfObject {
  /** Each link, and the program it attaches (one program may have several). */
  private readonly links = new Map<Pointer, string>();
  private readonly linkByProgram = new Map<string, Pointer>();
  /** Links libbpf does not know of (uprobe_multi), by descriptor, and their program. */
  private readonly linkFds = new Map<number, string>();
  private readonly unloaded = new Set<string>();
  private closed = false;
  // The object keeps a pointer into this buffer until it is loaded.
  private constructor(
    private readonly library: LoadedLibrary,
    private readonly handle: Pointer,
    private readonly image: Uint8Array,
  ) {}

  static openMem(library: LoadedLibrary, image: Uint8Array): BpfObject {
    const handle = asPointer(library.symbols.bpf_object__open_mem(ptr(image), image.byteLength, null));
    if (!handle) {
      const code = -errno();
      throw new BpfError(`cannot open the eBPF object: ${strerror(code)}`, code, library.drainLog());
    }
    return new BpfObject(library, handle, image);
  }

  private mapHandle(name: string): Pointer {
    const handle = asPointer(this.library.symbols.bpf_object__find_map_by_name(this.handle, Buffer.from(`${name}\0`)));
    if (!handle) throw new BpfError(`the eBPF object has no map ${name}`, -ENOENT);
    return handle;
  }

  setMaxEntries(name: string, entries: number): void {
    const rc = this.library.symbols.bpf_map__set_max_entries(this.mapHandle(name), entries);
    if (rc < 0) throw new BpfError(`cannot size map ${name}: ${strerror(rc)}`, rc);
  }

  /**
   * bpf_object__load, on a worker thread: the kernel verifies the programs
   * inside that one call, for hundreds of ms, and the thread that serves
   * the socket must keep answering meanwhile.
   */
  async load(): Promise<void> {
    const symbols = this.library.symbols;
    const request: LoadRequest = {
      object: this.handle as unknown as number,
      load: addressOf(symbols.bpf_object__load),
      setPrint: addressOf(symbols.libbpf_set_print),
      verbose: this.library.verbose,
    };
    const worker = new Worker(LOAD_WORKER_URL);
    try {
      const { rc, log } = await new Promise<LoadResult>((resolve, reject) => {
        worker.onmessage = (event: MessageEvent<LoadResult>) => resolve(event.data);
        worker.onerror = (event) => reject(new BpfError(`the eBPF load thread failed: ${event.message}`, -EINVAL));
        worker.postMessage(request);
      });
      if (rc < 0) throw new BpfError(`the kernel refused the eBPF programs: ${strerror(rc)}`, rc, log);
    } finally {
      worker.terminate();
    }
  }

  /** Loads and attaches only the programs whose section name `keep` accepts (call before load()). */
  selectPrograms(keep: (section: string) => boolean): void {
    const lib = this.library.symbols;
    let prog: Pointer | null = null;
    while ((prog = asPointer(lib.bpf_object__next_program(this.handle, prog)))) {
      const section = String(lib.bpf_program__section_name(prog));
      if (keep(section)) continue;
      this.unloaded.add(String(lib.bpf_program__name(prog)));
      const rc = lib.bpf_program__set_autoload(prog, false);
      if (rc < 0) throw new BpfError(`cannot leave out program ${section}: ${strerror(rc)}`, rc);
    }
  }

  /** Attaches every loaded program by its section name, but those `later` names (attached on demand); returns how many. */
  attachAll(later: (section: string) => boolean = () => false): number {
    const lib = this.library.symbols;
    let prog: Pointer | null = null;
    while ((prog = asPointer(lib.bpf_object__next_program(this.handle, prog)))) {
      const name = String(lib.bpf_program__name(prog));
      if (this.unloaded.has(name) || later(String(lib.bpf_program__section_name(prog)))) continue;
      const link = asPointer(lib.bpf_program__attach(prog));
      if (!link) {
        const code = -errno();
        throw new BpfError(`cannot attach ${name}: ${strerror(code)}`, code, this.library.drainLog());
      }
      this.links.set(link, name);
      this.linkByProgram.set(name, link);
    }
    return this.links.size;
  }

  /**
   * Loads the programs whose section name `multi` accepts as uprobe_multi
   * programs (call before load(), on a kernel that has them,
   * kernelHasUprobeMulti()): they can then only be attached with
   * attachUprobeMulti. libbpf 1.1 hands the attach type to the kernel as is.
   */
  loadAsUprobeMulti(multi: (section: string) => boolean): void {
    const lib = this.library.symbols;
    let prog: Pointer | null = null;
    while ((prog = asPointer(lib.bpf_object__next_program(this.handle, prog)))) {
      const section = String(lib.bpf_program__section_name(prog));
      if (!multi(section)) continue;
      const rc = lib.bpf_program__set_expected_attach_type(prog, BPF_TRACE_UPROBE_MULTI);
      if (rc < 0) throw new BpfError(`cannot make ${section} a uprobe_multi program: ${strerror(rc)}`, rc);
    }
  }

  /** How many attachments (links) the object holds now. */
  get attached(): number {
    return this.links.size + this.linkFds.size;
  }

  /** How many distinct programs are attached now. */
  get attachedPrograms(): number {
    return new Set([...this.links.values(), ...this.linkFds.values()]).size;
  }

  /** Runs an attached iterator program once, to its end (its output, if any, is dropped), then detaches it. */
  runIterator(program: string): void {
    const link = this.linkByProgram.get(program);
    if (!link) throw new BpfError(`iterator ${program} is not attached`, -ENOENT);
    const fd = this.library.symbols.bpf_iter_create(this.library.symbols.bpf_link__fd(link));
    if (fd < 0) throw new BpfError(`cannot start iterator ${program}: ${strerror(fd)}`, fd);
    const buffer = new Uint8Array(4096);
    try {
      const libc = getLibc();
      for (;;) {
        const n = Number(libc.read(fd, ptr(buffer), buffer.byteLength));
        if (n === 0) return;
        if (n < 0) {
          const code = -errno();
          throw new BpfError(`iterator ${program} failed: ${strerror(code)}`, code);
        }
      }
    } finally {
      closeSync(fd);
      this.library.symbols.bpf_link__destroy(link);
      this.links.delete(link);
      this.linkByProgram.delete(program);
    }
  }

  /**
   * Runs iterator program `name`, a task iterator, over the one process
   * `pid` (the kernel's pid filter, Linux 6.1+) and returns what it wrote.
   */
  readTaskIterator(name: string, pid: number): Uint8Array {
    const lib = this.library.symbols;
    // union bpf_iter_link_info's task member: { u32 tid; u32 pid; u32 pid_fd; }, in a 16-byte union.
    const linkInfo = new Uint32Array(4);
    linkInfo[1] = pid;
    // struct bpf_iter_attach_opts { size_t sz; union bpf_iter_link_info *link_info; u32 link_info_len; }
    const opts = new BigUint64Array(3);
    opts[0] = BigInt(opts.byteLength);
    opts[1] = BigInt(ptr(linkInfo));
    opts[2] = BigInt(linkInfo.byteLength);
    const link = asPointer(lib.bpf_program__attach_iter(this.program(name), ptr(opts)));
    if (!link) {
      const code = -errno();
      throw new BpfError(`cannot attach ${name} to process ${pid}: ${strerror(code)}`, code, this.library.drainLog());
    }
    try {
      const fd = lib.bpf_iter_create(lib.bpf_link__fd(link));
      if (fd < 0) throw new BpfError(`cannot start iterator ${name}: ${strerror(fd)}`, fd);
      try {
        const chunks: Uint8Array[] = [];
        const libc = getLibc();
        for (;;) {
          const buffer = new Uint8Array(16384);
          const n = Number(libc.read(fd, ptr(buffer), buffer.byteLength));
          if (n === 0) return Buffer.concat(chunks);
          if (n < 0) {
            const code = -errno();
            throw new BpfError(`iterator ${name} failed: ${strerror(code)}`, code);
          }
          chunks.push(buffer.subarray(0, n));
        }
      } finally {
        closeSync(fd);
      }
    } finally {
      lib.bpf_link__destroy(link);
    }
  }

  /** Attaches program `name`, a tracepoint program, to the tracepoint `category`/`event` besides any other it sits on. */
  attachTracepoint(name: string, category: string, event: string): void {
    const lib = this.library.symbols;
    const link = asPointer(lib.bpf_program__attach_tracepoint(this.program(name), Buffer.from(`${category}\0`), Buffer.from(`${event}\0`)));
    if (!link) {
      const code = -errno();
      throw new BpfError(`cannot attach ${name} to ${category}:${event}: ${strerror(code)}`, code, this.library.drainLog());
    }
    this.links.set(link, name);
  }

  /**
   * Attaches program `name` as a uprobe (or a uretprobe) at byte `offset`
   * of the file at `path`, in every process that maps that file (pid -1).
   * The kernel holds the probe on the file's inode; it lives as long as the
   * returned link (a perf event descriptor), so nothing outlives us.
   * The program reads `cookie` back with bpf_get_attach_cookie.
   */
  attachUprobe(name: string, path: string, { offset, cookie }: UprobeOffset, retprobe: boolean): UprobeLink {
    const lib = this.library.symbols;
    const prog = this.program(name);
    // struct bpf_uprobe_opts as libbpf 1.1 lays it out: sz, ref_ctr_offset, bpf_cookie, retprobe, func_name.
    const opts = new BigUint64Array(5);
    opts[0] = BigInt(opts.byteLength);
    opts[2] = BigInt(cookie);
    opts[3] = retprobe ? 1n : 0n;
    const link = asPointer(lib.bpf_program__attach_uprobe_opts(prog, -1, Buffer.from(`${path}\0`), offset, ptr(opts)));
    if (!link) {
      const code = -errno();
      throw new BpfError(`cannot attach ${name} to ${path}+0x${offset.toString(16)}: ${strerror(code)}`, code, this.library.drainLog());
    }
    this.links.set(link, name);
    return { destroy: () => this.destroyLink(link) };
  }

  /**
   * Attaches program `name` (loaded by loadAsUprobeMulti) to every offset
   * of `probes` in the file at `path`, in every process that maps it, as
   * one uprobe_multi link: the kernel removes all of its probes with one
   * synchronization, where each perf-event uprobe waits for its own.
   */
  attachUprobeMulti(name: string, path: string, probes: UprobeOffset[], retprobe: boolean): UprobeLink {
    const prog = this.library.symbols.bpf_program__fd(this.program(name));
    if (prog < 0) throw new BpfError(`program ${name} is not loaded`, prog);
    const fd = createUprobeMultiLink(prog, path, probes, retprobe);
    if (fd < 0) throw new BpfError(`cannot attach ${name} to ${path} at ${probes.map((p) => `+0x${p.offset.toString(16)}`).join(", ")}: ${strerror(fd)}`, fd);
    this.linkFds.set(fd, name);
    return {
      destroy: () => {
        if (this.linkFds.delete(fd)) closeSync(fd);
      },
    };
  }

  private program(name: string): Pointer {
    const prog = asPointer(this.library.symbols.bpf_object__find_program_by_name(this.handle, Buffer.from(`${name}\0`)));
    if (!prog) throw new BpfError(`the eBPF object has no program ${name}`, -ENOENT);
    return prog;
  }

  private destroyLink(link: Pointer): void {
    if (!this.links.delete(link)) return;
    this.library.symbols.bpf_link__destroy(link);
  }

  map(name: string, layout: MapLayout): BpfMap {
    const fd = this.library.symbols.bpf_map__fd(this.mapHandle(name));
    if (fd < 0) throw new BpfError(`map ${name} is not loaded`, fd);
    return new BpfMap(this.library.symbols, name, fd, layout.keySize, layout.valueSize);
  }

  /** A map with the key and value sizes its declaration gives (for maps user space only sweeps). */
  declaredMap(name: string): BpfMap {
    const handle = this.mapHandle(name);
    const lib = this.library.symbols;
    return this.map(name, { keySize: lib.bpf_map__key_size(handle), valueSize: lib.bpf_map__value_size(handle) });
  }

  /** A per-CPU map: each lookup yields one value per possible CPU, each padded to 8 bytes. */
  perCpuMap(name: string, layout: MapLayout): BpfMap {
    return this.map(name, { keySize: layout.keySize, valueSize: Math.ceil(layout.valueSize / 8) * 8 * this.possibleCpus() });
  }

  possibleCpus(): number {
    const cpus = this.library.symbols.libbpf_num_possible_cpus();
    if (cpus <= 0) throw new BpfError(`cannot count the possible CPUs: ${strerror(cpus)}`, cpus);
    return cpus;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links.keys()) this.library.symbols.bpf_link__destroy(link);
    this.links.clear();
    for (const fd of this.linkFds.keys()) closeSync(fd);
    this.linkFds.clear();
    this.linkByProgram.clear();
    this.library.symbols.bpf_object__close(this.handle);
    void this.image;
  }
}

