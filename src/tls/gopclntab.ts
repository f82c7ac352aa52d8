/**
 * Go's own function table (the "pclntab"), which every Go executable
 * carries for its runtime (stack traces, garbage collection) and which
 * survives stripping (`-ldflags=-s -w` removes .symtab, not this). It
 * names every function and where its code starts; a function ends where
 * the next one starts.
 *
 * Layout read here (Go 1.18 and later, magic 0xfffffff0 or 0xfffffff1):
 * a header (magic, pad, pad, minimum instruction size, pointer size, then
 * pointer-sized: nfunc, nfiles, textStart, and the offsets of funcnametab,
 * cutab, filetab, pctab and pclntab from the header), then in the pclntab
 * part nfunc+1 pairs of uint32 (entry offset from textStart, offset of the
 * function's _func record), the last pair's entry being the end of the
 * code. A _func record begins with (entryOff uint32, nameOff int32), the
 * name's offset in funcnametab (NUL-terminated). Earlier Go (1.16, 1.17)
 * used another layout and is refused.
 */
import { ElfError, type ElfFile } from "./elf";

const GO_118_MAGIC = 0xfffffff0;
const GO_120_MAGIC = 0xfffffff1;
const HEADER_BYTES = 8 + 8 * 8;
/** A table larger than this is not read (a Go program of several hundred megabytes). */
const MAX_TABLE_BYTES = 256 << 20;

export interface GoFunction {
  /** Virtual address of the first instruction. */
  start: number;
  /** Virtual address just past the function's code. */
  end: number;
}

export class GoFunctionTable {
  private constructor(
    private readonly bytes: Uint8Array,
    private readonly view: DataView,
    private readonly nfunc: number,
    private readonly textStart: number,
    private readonly funcnames: number,
    private readonly pcln: number,
  ) {}

  /** The table of a Go executable, or undefined when the file carries none (not Go, or Go before 1.18). */
  static of(elf: ElfFile): GoFunctionTable | undefined {
    const named = elf.section(".gopclntab") ?? elf.section(".data.rel.ro.gopclntab");
    if (named) return GoFunctionTable.at(elf, GoFunctionTable.load(elf, named.offset, named.size), 0);
    // An external linker may merge it into .data.rel.ro: in a Go program (its build id note says so), found by its magic.
    const relro = elf.section(".data.rel.ro");
    if (!relro || !elf.section(".note.go.buildid")) return undefined;
    const bytes = GoFunctionTable.load(elf, relro.offset, relro.size);
    for (let at = 0; at + HEADER_BYTES <= bytes.length; at += 8) {
      const table = GoFunctionTable.at(elf, bytes, at, false);
      if (table) return table;
    }
    return undefined;
  }

  private static load(elf: ElfFile, offset: number, size: number): Uint8Array {
    if (size > MAX_TABLE_BYTES) throw new ElfError(`its Go function table is larger than ${MAX_TABLE_BYTES >> 20} MiB`);
    return elf.bytesAt(offset, size);
  }

  /** The table whose header is at `at` in `bytes` (which hold the section it is in). */
  private static at(elf: ElfFile, bytes: Uint8Array, at: number, strict = true): GoFunctionTable | undefined {
    const limit = bytes.length;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const refuse = (why: string) => {
      if (strict) throw new ElfError(`its Go function table ${why}`);
      return undefined;
    };
    if (at + HEADER_BYTES > limit) return refuse("is truncated");
    const magic = view.getUint32(at, true);
    if (magic !== GO_118_MAGIC && magic !== GO_120_MAGIC) return refuse(`is from Go before 1.18 (magic 0x${magic.toString(16)})`);
    if (bytes[at + 4] !== 0 || bytes[at + 5] !== 0 || bytes[at + 6] !== 1 || bytes[at + 7] !== 8) return refuse("is not for a 64-bit x86 program");
    const word = (i: number) => Number(view.getBigUint64(at + 8 + 8 * i, true));
    const nfunc = word(0);
    // A position-independent executable leaves textStart to a relocation: .text's address is the same value.
    const textStart = word(2) || elf.section(".text")?.address;
    const funcnames = at + word(3);
    const pcln = at + word(7);
    if (!nfunc || textStart === undefined || funcnames >= limit || pcln + (nfunc + 1) * 8 > limit) return refuse("has offsets outside itself");
    return new GoFunctionTable(bytes, view, nfunc, textStart, funcnames, pcln);
  }

  /** The functions whose name is one of `names`, by name. */
  find(names: readonly string[]): Map<string, GoFunction> {
    const wanted = new Map(names.map((name) => [name, new TextEncoder().encode(`${name}\0`)]));
    const found = new Map<string, GoFunction>();
    for (let i = 0; i < this.nfunc && found.size < wanted.size; i++) {
      const entry = this.pcln + i * 8;
      const record = this.pcln + this.view.getUint32(entry + 4, true);
      if (record + 8 > this.bytes.length) throw new ElfError("its Go function table has a record outside itself");
      const nameAt = this.funcnames + this.view.getInt32(record + 4, true);
      for (const [name, encoded] of wanted) {
        if (found.has(name) || !this.startsWith(nameAt, encoded)) continue;
        found.set(name, {
          start: this.textStart + this.view.getUint32(entry, true),
          end: this.textStart + this.view.getUint32(entry + 8, true),
        });
      }
    }
    return found;
  }

  private startsWith(at: number, encoded: Uint8Array): boolean {
    if (at < 0 || at + encoded.length > this.bytes.length) return false;
    for (let i = 0; i < encoded.length; i++) if (this.bytes[at + i] !== encoded[i]) return false;
    return true;
  }
}
