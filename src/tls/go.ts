/**
 * Where to probe Go's crypto/tls in a Go executable (Go 1.18 or later on
 * x86-64, register ABI), found through the executable's own function table
 * (gopclntab.ts), stripped or not.
 *
 * A Go function is never given a return probe: it works by rewriting the
 * return address on the stack, and Go moves goroutine stacks (the process
 * would crash). Each return instruction of the function is probed instead,
 * found by decoding the function's code from its start to its end (Go puts
 * no data among its code). A function that could leave by a jump elsewhere
 * is refused rather than half covered.
 *
 * The entry probe goes on the conditional jump that ends the stack-guard
 * check Go puts first in a function (`cmp rsp, [r14+16]; jbe grow`, or with
 * `lea r12, [rsp-frame]` before it): the kernel emulates a jump, where the
 * compare would be single-stepped, and nothing before it touches the
 * argument registers. A function that grows its stack passes there again:
 * the entry program only records the call, so twice is the same as once.
 */
import { GO_TLS_PROGRAM, tlsCookie, type TlsProbe, type TlsProbeKind } from "../kernel/kernel_abi";
import { ElfError, type ElfFile } from "./elf";
import { type GoFunction, GoFunctionTable } from "./gopclntab";
import { iced } from "./iced";

export const GO_READ = "crypto/tls.(*Conn).Read";
export const GO_WRITE = "crypto/tls.(*Conn).Write";
export const GO_SERVER_HANDSHAKE = "crypto/tls.(*Conn).serverHandshake";
export const GO_CLIENT_HANDSHAKE = "crypto/tls.(*Conn).clientHandshake";
export const GO_CLOSE = "crypto/tls.(*Conn).Close";
const PROBED = [GO_READ, GO_WRITE, GO_SERVER_HANDSHAKE, GO_CLIENT_HANDSHAKE, GO_CLOSE];

export interface GoTlsProbes {
  probes: TlsProbe[];
  /** Entries that could not be placed after the stack check (probed on their first instruction, which is slower). */
  entriesAtStart: string[];
}

/** The crypto/tls functions of a Go executable, or undefined when it is not a Go program using crypto/tls. */
export function goTlsFunctions(elf: ElfFile): Map<string, GoFunction> | undefined {
  const table = GoFunctionTable.of(elf);
  const found = table?.find(PROBED);
  if (!found?.has(GO_READ) || !found.has(GO_WRITE)) return undefined;
  // Without a handshake probe a Conn reused at the same address would continue the last one's stream.
  if (!found.has(GO_SERVER_HANDSHAKE) && !found.has(GO_CLIENT_HANDSHAKE)) throw new ElfError("it has crypto/tls without its handshake functions");
  return found;
}

interface Decoded {
  /** The entry probe's address. */
  entry: number;
  atStart: boolean;
  returns: number[];
}

/** The function's entry probe address and its return instructions, decoded; `returns`: whether they are probed (then no jump may leave it). */
function decode(name: string, fn: GoFunction, elf: ElfFile, returns: boolean): Decoded {
  const { Decoder, DecoderOptions, FlowControl, Mnemonic, OpKind, Register } = iced();
  const decoder = new Decoder(64, elf.code(fn.start, fn.end - fn.start), DecoderOptions.None);
  decoder.ip = BigInt(fn.start);
  const prologue: Array<{ mnemonic: number; op0: number; op1Kind: number; base: number; jcc: boolean; ip: number }> = [];
  const found: number[] = [];
  try {
    while (decoder.canDecode) {
      const instruction = decoder.decode();
      try {
        if (instruction.isInvalid) throw new ElfError(`${name} does not decode at 0x${instruction.ip.toString(16)}`);
        if (prologue.length < 3)
          prologue.push({
            mnemonic: instruction.mnemonic,
            op0: instruction.op0Kind === OpKind.Register ? instruction.op0Register : Register.None,
            op1Kind: instruction.op1Kind,
            base: instruction.memoryBase,
            jcc: instruction.isJccShortOrNear,
            ip: Number(instruction.ip),
          });
        const flow = instruction.flowControl;
        if (flow === FlowControl.Return) found.push(Number(instruction.ip));
        if (returns && (flow === FlowControl.UnconditionalBranch || flow === FlowControl.ConditionalBranch)) {
          const target = Number(instruction.nearBranchTarget);
          if (target < fn.start || target >= fn.end) throw new ElfError(`${name} jumps out of itself at 0x${instruction.ip.toString(16)}`);
        }
      } finally {
        instruction.free();
      }
    }
  } finally {
    decoder.free();
  }
  if (returns && !found.length) throw new ElfError(`${name} has no return instruction`);
  const isGuardCompare = (i: (typeof prologue)[number] | undefined, reg: number) =>
    i?.mnemonic === Mnemonic.Cmp && i.op0 === reg && i.op1Kind === OpKind.Memory && i.base === Register.R14;
  const [first, second, third] = prologue;
  if (isGuardCompare(first, Register.RSP) && second?.jcc) return { entry: second.ip, atStart: false, returns: found };
  if (first?.mnemonic === Mnemonic.Lea && first.op0 === Register.R12 && first.base === Register.RSP && isGuardCompare(second, Register.R12) && third?.jcc)
    return { entry: third.ip, atStart: false, returns: found };
  return { entry: fn.start, atStart: true, returns: found };
}

/** The probes for a Go executable's crypto/tls: returns first, so that a call whose entry fired always meets its return. */
export function goTlsProbes(elf: ElfFile, functions: Map<string, GoFunction>): GoTlsProbes {
  const entries: TlsProbe[] = [];
  const returns: TlsProbe[] = [];
  const entriesAtStart: string[] = [];
  const probe = (kind: TlsProbeKind, at: number): TlsProbe => ({ program: GO_TLS_PROGRAM, offset: elf.fileOffset(at), cookie: tlsCookie(kind), retprobe: false });
  const probed: Array<[string, TlsProbeKind, boolean]> = [
    [GO_READ, "go_read", true],
    [GO_WRITE, "go_write", true],
    [GO_SERVER_HANDSHAKE, "go_server_handshake", false],
    [GO_CLIENT_HANDSHAKE, "go_client_handshake", false],
    [GO_CLOSE, "go_close", false],
  ];
  for (const [name, kind, hasReturn] of probed) {
    const fn = functions.get(name);
    // A program that only ever dials (or only serves) has no code for the other handshake, and no such Conn;
    // one that never closes a Conn, none for Close (its sessions then go when a handshake reuses the address).
    if (!fn) continue;
    const decoded = decode(name, fn, elf, hasReturn);
    if (decoded.atStart) entriesAtStart.push(name);
    entries.push(probe(kind, decoded.entry));
    if (hasReturn) for (const at of decoded.returns) returns.push(probe("go_return", at));
  }
  return { probes: [...returns, ...entries], entriesAtStart };
}
