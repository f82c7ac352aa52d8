/**
 * Where to probe an OpenSSL library (libssl.so.3, libssl.so.1.1) or an
 * executable that carries OpenSSL and exports its symbols.
 *
 * Where SSL_read_ex and SSL_write_ex begin by calling the internal
 * function that SSL_read and SSL_write call too, with (ssl, buf, num,
 * &done), the probes go there (see bpf/tls_capture.bpf.c for why). That
 * function is found by decoding SSL_read_ex's code, and accepted only if
 * SSL_read calls the same one; SSL_peek calls another and is never
 * counted. Elsewhere the four exported calls are probed.
 *
 * SSL_clear starts a session (SSL_new calls it) and SSL_free ends it. Both
 * run once per connection; SSL_free's probe still goes past its null check,
 * on the conditional jump, which the kernel emulates.
 */
import { OPENSSL_ENTRY_PROGRAM, OPENSSL_RETURN_PROGRAM, tlsCookie, type TlsProbe, type TlsProbeKind } from "../kernel/kernel_abi";
import { ElfError, type ElfFile } from "./elf";
import { afterFlagChecks, directCalls, wrappedCall } from "./x86";

/** Where each probe goes, as file offsets. */
export interface OpensslProbes {
  /** "internal": the shared read and write functions; "exported": the four calls themselves. */
  placement: "internal" | "exported";
  probes: TlsProbe[];
}

/** Whether a file exports what we probe (a cheap test before decoding). */
export function exportsOpenssl(elf: ElfFile): boolean {
  return ["SSL_read_ex", "SSL_write_ex", "SSL_read", "SSL_write", "SSL_clear", "SSL_free"].every((name) => elf.symbol(name));
}

function symbol(elf: ElfFile, name: string) {
  const found = elf.symbol(name);
  if (!found) throw new ElfError(`no ${name}`);
  return found;
}

/** The internal function `exported` is a thin wrapper of, checked to be what `plain` calls too; else undefined. */
function sharedInternal(elf: ElfFile, exported: string, plain: string): number | undefined {
  const ex = symbol(elf, exported);
  const other = symbol(elf, plain);
  const target = wrappedCall(elf.code(ex.address, ex.size || 64), ex.address);
  if (target === undefined) return undefined;
  const fromPlain = directCalls(elf.code(other.address, other.size || 256), other.address, false);
  return fromPlain.some((call) => call.target === target) ? target : undefined;
}

const entry = (kind: TlsProbeKind, offset: number): TlsProbe => ({ program: OPENSSL_ENTRY_PROGRAM, offset, cookie: tlsCookie(kind), retprobe: false });

/** An entry probe and its return probe on one function. */
const both = (kind: TlsProbeKind, offset: number): TlsProbe[] => [
  // The return probe first: a call whose entry fired then always fires its return.
  { program: OPENSSL_RETURN_PROGRAM, offset, cookie: tlsCookie(kind), retprobe: true },
  entry(kind, offset),
];

/**
 * The internal functions where SSL_read_ex and SSL_write_ex are thin
 * wrappers of them (Debian's libssl); otherwise, where the compiler
 * inlined them (Node's OpenSSL), the four exported calls, SSL_read and
 * SSL_write returning the count themselves.
 */
export function opensslProbes(elf: ElfFile): OpensslProbes {
  const free = symbol(elf, "SSL_free");
  const lifetime = [
    entry("openssl_clear", elf.fileOffset(symbol(elf, "SSL_clear").address)),
    entry("openssl_free", elf.fileOffset(afterFlagChecks(elf.code(free.address, free.size || 64), free.address))),
  ];
  const read = sharedInternal(elf, "SSL_read_ex", "SSL_read");
  const write = sharedInternal(elf, "SSL_write_ex", "SSL_write");
  if (read !== undefined && write !== undefined && read !== write)
    return { placement: "internal", probes: [...both("openssl_read_ex", elf.fileOffset(read)), ...both("openssl_write_ex", elf.fileOffset(write)), ...lifetime] };
  const at = (name: string) => elf.fileOffset(symbol(elf, name).address);
  return {
    placement: "exported",
    probes: [
      ...both("openssl_read_ex", at("SSL_read_ex")),
      ...both("openssl_write_ex", at("SSL_write_ex")),
      ...both("openssl_read", at("SSL_read")),
      ...both("openssl_write", at("SSL_write")),
      ...lifetime,
    ],
  };
}
