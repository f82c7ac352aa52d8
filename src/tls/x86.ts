/**
 * Instruction decoding for probe placement, with a real x86-64 decoder
 * (iced-x86): where instructions begin and what a call targets is never
 * guessed from byte patterns.
 */
import { iced } from "./iced";

export interface DecodedCall {
  /** Address of the call instruction. */
  at: number;
  /** Address it calls. */
  target: number;
}

/**
 * The direct calls of a function's code, in address order, from `address`
 * to the end of `code` (the function's bytes), stopping at the first
 * return or unconditional jump, past which the bytes may be another path.
 */
export function directCalls(code: Uint8Array, address: number, untilFlowEnds = true): DecodedCall[] {
  const { Decoder, DecoderOptions, FlowControl, OpKind } = iced();
  const decoder = new Decoder(64, code, DecoderOptions.None);
  decoder.ip = BigInt(address);
  const calls: DecodedCall[] = [];
  try {
    while (decoder.canDecode) {
      const instruction = decoder.decode();
      try {
        const flow = instruction.flowControl;
        if (instruction.isInvalid) break;
        if (flow === FlowControl.Call && instruction.op0Kind === OpKind.NearBranch64)
          calls.push({ at: Number(instruction.ip), target: Number(instruction.nearBranchTarget) });
        if (untilFlowEnds && (flow === FlowControl.Return || flow === FlowControl.UnconditionalBranch || flow === FlowControl.IndirectBranch)) break;
      } finally {
        instruction.free();
      }
    }
  } finally {
    decoder.free();
  }
  return calls;
}

/**
 * The function a thin wrapper calls: a direct call among its first
 * `within` instructions with no branch before it, else undefined.
 */
export function wrappedCall(code: Uint8Array, address: number, within = 4): number | undefined {
  const { Decoder, DecoderOptions, FlowControl, OpKind } = iced();
  const decoder = new Decoder(64, code, DecoderOptions.None);
  decoder.ip = BigInt(address);
  try {
    for (let i = 0; i < within && decoder.canDecode; i++) {
      const instruction = decoder.decode();
      try {
        if (instruction.isInvalid) return undefined;
        const flow = instruction.flowControl;
        if (flow === FlowControl.Call && instruction.op0Kind === OpKind.NearBranch64) return Number(instruction.nearBranchTarget);
        if (flow !== FlowControl.Next) return undefined;
      } finally {
        instruction.free();
      }
    }
    return undefined;
  } finally {
    decoder.free();
  }
}

/**
 * Where to probe a function's entry arguments for less: past the
 * instructions at its start that only compare (a null check's `test rdi,
 * rdi`), on the conditional jump after them, which the kernel emulates
 * where it would single-step the compare. The argument registers are
 * still untouched there. Else the function's first instruction.
 */
export function afterFlagChecks(code: Uint8Array, address: number): number {
  const { Decoder, DecoderOptions, Mnemonic } = iced();
  const decoder = new Decoder(64, code, DecoderOptions.None);
  decoder.ip = BigInt(address);
  try {
    for (let i = 0; i < 3 && decoder.canDecode; i++) {
      const instruction = decoder.decode();
      try {
        if (instruction.isInvalid) return address;
        if (instruction.isJccShortOrNear) return i === 0 ? address : Number(instruction.ip);
        if (instruction.mnemonic !== Mnemonic.Test && instruction.mnemonic !== Mnemonic.Cmp && instruction.mnemonic !== Mnemonic.Endbr64) return address;
      } finally {
        instruction.free();
      }
    }
    return address;
  } finally {
    decoder.free();
  }
}
