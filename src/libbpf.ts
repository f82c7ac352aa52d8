/**
 * The thin typed binding to libbpf (and the three libc calls it needs),
 * through bun:ffi. Nothing here knows about HTTP: it opens, loads and
 * attaches an object and moves bytes in and out of its maps.
 */
import { CString, dlopen, FFIType, JSCallback, ptr, read, type Pointer } from "bun:ffi";

const { ptr: P, i32, u32, u64, cstring, void: none } = FFIType;

/** Library paths tried in order; the first that opens wins. */
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
    bpf_program__fd: { args: [P], returns: i32 },
    bpf_program__name: { args: [P], returns: cstring },
    bpf_program__attach: { args: [P], returns: P },
    bpf_link__destroy: { args: [P], returns: i32 },
    bpf_map__fd: { args: [P], returns: i32 },
    bpf_map__set_max_entries: { args: [P, u32], returns: i32 },
    bpf_map_lookup_elem: { args: [i32, P, P], returns: i32 },
    bpf_map_update_elem: { args: [i32, P, P, u64], returns: i32 },
    bpf_map_delete_elem: { args: [i32, P], returns: i32 },
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
    geteuid: { args: [], returns: u32 },
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

/** BPF_F_* update flags. */
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;

const ENOENT = 2;

export type Libbpf = ReturnType<typeof openLibbpf>["symbols"];

export interface LoadedLibrary {
  path: string;
  symbols: Libbpf;
  version: string;
  /** libbpf's messages since the last drain, for error reports. */
  drainLog(): string[];
}

/** Opens libbpf from the first path that works and routes its log into memory. */
export function loadLibbpf(paths: string[], verbose = false): LoadedLibrary {
  let lastError: unknown;
  for (const path of paths) {
    let lib: ReturnType<typeof openLibbpf>;
    try {
      lib = openLibbpf(path);
    } catch (error) {
      lastError = error;
      continue;
    }
    const log: string[] = [];
    const c = getLibc();
    const text = new Uint8Array(4096);
    // libbpf hands us a printf format and a va_list; vsnprintf formats it in C.
    const printer = new JSCallback(
      (level: number, format: Pointer, args: Pointer) => {
        const n = c.vsnprintf(ptr(text), text.length, format, args);
        const line = new TextDecoder().decode(text.subarray(0, Math.max(0, Math.min(n, text.length - 1)))).trimEnd();
        if (verbose) process.stderr.write(`libbpf: ${line}\n`);
        log.push(line);
        if (log.length > 400) log.splice(0, log.length - 400);
        return 0;
      },
      { args: [i32, P, P], returns: i32, threadsafe: false },
    );
    lib.symbols.libbpf_set_print(printer.ptr);
    return {
      path,
      symbols: lib.symbols,
      version: String(lib.symbols.libbpf_version_string()),
      drainLog: () => log.splice(0, log.length),
    };
  }
  throw new BpfError(`cannot open libbpf (${paths.join(", ")}): ${lastError}`, -ENOENT);
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

  lookup(key: Uint8Array, value: Uint8Array): boolean {
    return this.lib.bpf_map_lookup_elem(this.fd, ptr(key), ptr(value)) === 0;
  }

  update(key: Uint8Array, value: Uint8Array, flags = BPF_ANY): number {
    return this.lib.bpf_map_update_elem(this.fd, ptr(key), ptr(value), flags);
  }

  delete(key: Uint8Array): boolean {
    return this.lib.bpf_map_delete_elem(this.fd, ptr(key)) === 0;
  }

  /**
   * Every entry, through BPF_MAP_LOOKUP_BATCH: one syscall per `chunk`
   * entries rather than two per entry as with get_next_key + lookup.
   */
  lookupAll(chunk = 4096): { keys: Uint8Array; values: Uint8Array; count: number } {
    let keys = new Uint8Array(this.keySize * chunk);
    let values = new Uint8Array(this.valueSize * chunk);
    const token = new BigUint64Array(2); // in_batch, out_batch: opaque 32-bit bucket cursors
    const countBox = new Uint32Array(1);
    let total = 0;
    let first = true;
    for (;;) {
      if (keys.length < (total + chunk) * this.keySize) {
        keys = grow(keys, (total + chunk) * this.keySize * 2);
        values = grow(values, (total + chunk) * this.valueSize * 2);
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

function grow(buffer: Uint8Array, size: number): Uint8Array {
  const bigger = new Uint8Array(size);
  bigger.set(buffer);
  return bigger;
}

export interface MapLayout {
  keySize: number;
  valueSize: number;
}

/** An opened (and after load(), loaded) BPF object with its programs' links. */
export class BpfObject {
  private links: Pointer[] = [];
  private closed = false;
  // The object keeps a pointer into this buffer until it is loaded.
  private constructor(
    private readonly library: LoadedLibrary,
    private readonly handle: Pointer,
    private readonly image: Uint8Array,
  ) {}

  static openMem(library: LoadedLibrary, image: Uint8Array): BpfObject {
    const handle = library.symbols.bpf_object__open_mem(ptr(image), image.byteLength, null);
    if (!handle) {
      const code = -errno();
      throw new BpfError(`cannot open the eBPF object: ${strerror(code)}`, code, library.drainLog());
    }
    return new BpfObject(library, handle, image);
  }

  private mapHandle(name: string): Pointer {
    const handle = this.library.symbols.bpf_object__find_map_by_name(this.handle, Buffer.from(`${name}\0`));
    if (!handle) throw new BpfError(`the eBPF object has no map ${name}`, -ENOENT);
    return handle;
  }

  setMaxEntries(name: string, entries: number): void {
    const rc = this.library.symbols.bpf_map__set_max_entries(this.mapHandle(name), entries);
    if (rc < 0) throw new BpfError(`cannot size map ${name}: ${strerror(rc)}`, rc);
  }

  load(): void {
    const rc = this.library.symbols.bpf_object__load(this.handle);
    if (rc < 0) throw new BpfError(`the kernel refused the eBPF programs: ${strerror(rc)}`, rc, this.library.drainLog());
  }

  /** Attaches every program by its section name; returns how many. */
  attachAll(): number {
    const lib = this.library.symbols;
    let prog: Pointer | null = null;
    while ((prog = lib.bpf_object__next_program(this.handle, prog))) {
      const link = lib.bpf_program__attach(prog);
      if (!link) {
        const code = -errno();
        const name = String(lib.bpf_program__name(prog));
        throw new BpfError(`cannot attach ${name}: ${strerror(code)}`, code, this.library.drainLog());
      }
      this.links.push(link);
    }
    return this.links.length;
  }

  /** The fd of a loaded program, e.g. to put it in a program array. */
  programFd(name: string): number {
    const prog = this.library.symbols.bpf_object__find_program_by_name(this.handle, Buffer.from(`${name}\0`));
    if (!prog) throw new BpfError(`the eBPF object has no program ${name}`, -ENOENT);
    const fd = this.library.symbols.bpf_program__fd(prog);
    if (fd < 0) throw new BpfError(`program ${name} is not loaded`, fd);
    return fd;
  }

  map(name: string, layout: MapLayout): BpfMap {
    const fd = this.library.symbols.bpf_map__fd(this.mapHandle(name));
    if (fd < 0) throw new BpfError(`map ${name} is not loaded`, fd);
    return new BpfMap(this.library.symbols, name, fd, layout.keySize, layout.valueSize);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const link of this.links) this.library.symbols.bpf_link__destroy(link);
    this.links = [];
    this.library.symbols.bpf_object__close(this.handle);
    void this.image;
  }
}

export { CString };
