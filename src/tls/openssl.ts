/**
 * Where to probe an OpenSSL library (libssl.so.3, libssl.so.1.1) or an
 * executable that carries OpenSSL and exports its symbols.
 *
 * SSL_read_ex and SSL_write_ex each begin by calling the internal function
 * that SSL_read and SSL_write call too, with (ssl, buf, num, &done); the
 * probes go there (see bpf/tls_capture.bpf.c for why). That function is
 * found by decoding SSL_read_ex's code, and accepted only if SSL_read
 * calls the same one; SSL_peek calls another and is never counted.
 */
import { ElfError, type ElfFile } from "./elf";
import { directCalls } from "./x86";

export interface OpensslProbes {
  /** File offsets of the internal read and write functions, and of SSL_clear. */
  read: number;
  write: number;
  clear: number;
}

/** Whether a file exports what we probe (a cheap test before decoding). */
export function exportsOpenssl(elf: ElfFile): boolean {
  return ["SSL_read_ex", "SSL_write_ex", "SSL_read", "SSL_write", "SSL_clear"].every((name) => elf.symbol(name));
}

/** The internal function `exported` calls first, checked to be what `plain` calls too. */
function sharedInternal(elf: ElfFile, exported: string, plain: string): number {
  const ex = elf.symbol(exported);
  const other = elf.symbol(plain);
  if (!ex || !other) throw new ElfError(`no ${!ex ? exported : plain}`);
  const first = directCalls(elf.code(ex.address, ex.size || 64), ex.address)[0];
  if (!first) throw new ElfError(`${exported} calls no function directly`);
  const fromPlain = directCalls(elf.code(other.address, other.size || 256), other.address, false);
  if (!fromPlain.some((call) => call.target === first.target))
    throw new ElfError(`${plain} does not call the function ${exported} calls (0x${first.target.toString(16)})`);
  return first.target;
}

export function opensslProbes(elf: ElfFile): OpensslProbes {
  const clear = elf.symbol("SSL_clear");
  if (!clear) throw new ElfError("no SSL_clear");
  return {
    read: elf.fileOffset(sharedInternal(elf, "SSL_read_ex", "SSL_read")),
    write: elf.fileOffset(sharedInternal(elf, "SSL_write_ex", "SSL_write")),
    clear: elf.fileOffset(clear.address),
  };
}
