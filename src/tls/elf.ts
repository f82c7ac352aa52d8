/**
 * Just enough of an ELF64 reader to place probes in a shared library or an
 * executable: its function symbols (.dynsym, and .symtab when not stripped)
 * and where a virtual address lies in the file (uprobes take file offsets).
 */
import { readFileSync } from "node:fs";

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const PT_LOAD = 1;
const PF_X = 1;
const STT_FUNC = 2;

export class ElfError extends Error {}

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

export class ElfFile {
  private readonly view: DataView;
  private readonly segments: Segment[] = [];
  private readonly functions = new Map<string, ElfSymbol>();

  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 64 || this.view.getUint32(0, false) !== 0x7f454c46) throw new ElfError("not an ELF file");
    if (bytes[4] !== 2 || bytes[5] !== 1) throw new ElfError("not a 64-bit little-endian ELF file");
    this.readSegments();
    this.readSymbols();
  }

  static open(path: string): ElfFile {
    return new ElfFile(readFileSync(path));
  }

  private u64(at: number): number {
    return Number(this.view.getBigUint64(at, true));
  }

  private readSegments(): void {
    const phoff = this.u64(0x20);
    const size = this.view.getUint16(0x36, true);
    const count = this.view.getUint16(0x38, true);
    for (let i = 0; i < count; i++) {
      const at = phoff + i * size;
      if (this.view.getUint32(at, true) !== PT_LOAD) continue;
      const flags = this.view.getUint32(at + 4, true);
      this.segments.push({ offset: this.u64(at + 8), vaddr: this.u64(at + 16), size: this.u64(at + 32), executable: (flags & PF_X) !== 0 });
    }
  }

  private readSymbols(): void {
    const shoff = this.u64(0x28);
    const size = this.view.getUint16(0x3a, true);
    const count = this.view.getUint16(0x3c, true);
    const header = (i: number) => shoff + i * size;
    for (let i = 0; i < count; i++) {
      const at = header(i);
      const type = this.view.getUint32(at + 4, true);
      if (type !== SHT_SYMTAB && type !== SHT_DYNSYM) continue;
      const offset = this.u64(at + 24);
      const bytes = this.u64(at + 32);
      const strings = this.u64(header(this.view.getUint32(at + 40, true)) + 24);
      for (let s = offset; s + 24 <= offset + bytes; s += 24) {
        if ((this.bytes[s + 4]! & 0xf) !== STT_FUNC) continue;
        const address = this.u64(s + 8);
        if (!address) continue;
        const name = this.cString(strings + this.view.getUint32(s, true));
        if (!this.functions.has(name)) this.functions.set(name, { address, size: this.u64(s + 16) });
      }
    }
  }

  private cString(at: number): string {
    let end = at;
    while (end < this.bytes.length && this.bytes[end] !== 0) end++;
    return new TextDecoder().decode(this.bytes.subarray(at, end));
  }

  /** A defined function by name (unversioned), or undefined. */
  symbol(name: string): ElfSymbol | undefined {
    return this.functions.get(name);
  }

  /** The file offset of an address in an executable segment (what a uprobe is attached at). */
  fileOffset(address: number): number {
    const segment = this.segments.find((s) => s.executable && address >= s.vaddr && address < s.vaddr + s.size);
    if (!segment) throw new ElfError(`address 0x${address.toString(16)} is in no executable segment`);
    return address - segment.vaddr + segment.offset;
  }

  /** Up to `length` bytes of code from `address`. */
  code(address: number, length: number): Uint8Array {
    const at = this.fileOffset(address);
    return this.bytes.subarray(at, Math.min(this.bytes.length, at + length));
  }
}
