/**
 * Just enough of an ELF64 reader to place probes in a shared library or an
 * executable: its exported functions (.dynsym) and where a virtual address
 * lies in the file (uprobes take file offsets). It reads only the headers,
 * the dynamic symbol table and the code asked for, never the whole file:
 * executables run to a hundred megabytes and more (Node, Bun, browsers),
 * and the process scan looks at each one.
 */
import { closeSync, openSync, readSync } from "node:fs";

const SHT_DYNSYM = 11;
const PT_LOAD = 1;
const PF_X = 1;
const STT_FUNC = 2;

export class ElfError extends Error {}

export interface ElfSection {
  address: number;
  offset: number;
  size: number;
}

export interface ElfSymbol {
  address: number;
  size: number;
}

interface Segment {
  vaddr: number;
  offset: number;
  size: number;
  executable: boolean;
}

/** `length` bytes at `at`; fewer only where `partial` allows and the file ends. */
function read(fd: number, at: number, length: number, partial = false): Uint8Array {
  const bytes = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, bytes, done, length - done, at + done);
    if (n === 0) {
      if (partial) return bytes.subarray(0, done);
      throw new ElfError("the file ends early");
    }
    done += n;
  }
  return bytes;
}

const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const u64 = (v: DataView, at: number) => Number(v.getBigUint64(at, true));

export class ElfFile {
  private readonly segments: Segment[] = [];
  private readonly functions = new Map<string, ElfSymbol>();
  private readonly sections = new Map<string, ElfSection>();

  private constructor(private readonly fd: number) {
    const header = read(fd, 0, 64);
    const h = view(header);
    if (h.getUint32(0, false) !== 0x7f454c46) throw new ElfError("not an ELF file");
    if (header[4] !== 2 || header[5] !== 1) throw new ElfError("not a 64-bit little-endian ELF file");
    this.readSegments(u64(h, 0x20), h.getUint16(0x36, true), h.getUint16(0x38, true));
    this.readExports(u64(h, 0x28), h.getUint16(0x3a, true), h.getUint16(0x3c, true));
  }

  /** Opens a file; close() when done (code() reads from it). */
  static open(path: string): ElfFile {
    const fd = openSync(path, "r");
    try {
      return new ElfFile(fd);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  private readSegments(offset: number, size: number, count: number): void {
    const table = view(read(this.fd, offset, size * count));
    for (let i = 0; i < count; i++) {
      const at = i * size;
      if (table.getUint32(at, true) !== PT_LOAD) continue;
      const flags = table.getUint32(at + 4, true);
      this.segments.push({ offset: u64(table, at + 8), vaddr: u64(table, at + 16), size: u64(table, at + 32), executable: (flags & PF_X) !== 0 });
    }
  }

  private readExports(offset: number, size: number, count: number): void {
    if (!offset || !count) return;
    const sections = view(read(this.fd, offset, size * count));
    const field = (i: number, at: number) => u64(sections, i * size + at);
    const shstrndx = view(read(this.fd, 0x3e, 2)).getUint16(0, true);
    const names = shstrndx < count ? read(this.fd, field(shstrndx, 24), field(shstrndx, 32)) : new Uint8Array();
    for (let i = 0; i < count; i++)
      this.sections.set(cString(names, sections.getUint32(i * size, true)), { address: field(i, 16), offset: field(i, 24), size: field(i, 32) });
    for (let i = 0; i < count; i++) {
      if (sections.getUint32(i * size + 4, true) !== SHT_DYNSYM) continue;
      const symbols = read(this.fd, field(i, 24), field(i, 32));
      const link = sections.getUint32(i * size + 40, true);
      const strings = read(this.fd, field(link, 24), field(link, 32));
      const s = view(symbols);
      for (let at = 0; at + 24 <= symbols.length; at += 24) {
        if ((symbols[at + 4]! & 0xf) !== STT_FUNC) continue;
        const address = u64(s, at + 8);
        if (!address) continue;
        const name = cString(strings, s.getUint32(at, true));
        if (!this.functions.has(name)) this.functions.set(name, { address, size: u64(s, at + 16) });
      }
    }
  }

  /** An exported function by name (unversioned), or undefined. */
  symbol(name: string): ElfSymbol | undefined {
    return this.functions.get(name);
  }

  /** The file offset of an address in an executable segment (what a uprobe is attached at). */
  fileOffset(address: number): number {
    const segment = this.segments.find((s) => s.executable && address >= s.vaddr && address < s.vaddr + s.size);
    if (!segment) throw new ElfError(`address 0x${address.toString(16)} is in no executable segment`);
    return address - segment.vaddr + segment.offset;
  }

  /** A section by name (Go's function table is one), or undefined. */
  section(name: string): ElfSection | undefined {
    return this.sections.get(name);
  }

  /** `length` bytes of the file from `offset`. */
  bytesAt(offset: number, length: number): Uint8Array {
    return read(this.fd, offset, length);
  }

  /** Up to `length` bytes of code from `address`. */
  code(address: number, length: number): Uint8Array {
    return read(this.fd, this.fileOffset(address), length, true);
  }
}

function cString(bytes: Uint8Array, at: number): string {
  let end = at;
  while (end < bytes.length && bytes[end] !== 0) end++;
  return new TextDecoder().decode(bytes.subarray(at, end));
}
