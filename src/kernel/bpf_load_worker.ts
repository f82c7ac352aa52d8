/**
 * The thread BpfObject.load() runs libbpf's bpf_object__load on, so that
 * the kernel's verification of the programs (hundreds of ms inside that
 * one call) does not stop the main thread from answering /report. libbpf's
 * messages during the load go to a printer made here: a callback made on
 * the main thread may only be called there.
 */
import { CFunction, FFIType, type Pointer } from "bun:ffi";
import { libbpfPrinter, type LoadRequest, type LoadResult } from "./libbpf";

declare const self: Worker;

self.onmessage = (event: MessageEvent<LoadRequest>) => {
  const { object, load, setPrint, verbose } = event.data;
  const setPrintFn = CFunction({ ptr: setPrint as unknown as Pointer, args: [FFIType.ptr], returns: FFIType.ptr });
  const loadFn = CFunction({ ptr: load as unknown as Pointer, args: [FFIType.ptr], returns: FFIType.i32 });
  const log: string[] = [];
  const printer = libbpfPrinter(log, verbose);
  const previous = setPrintFn(printer.ptr);
  let rc: number;
  try {
    rc = loadFn(object as unknown as Pointer) as number;
  } finally {
    setPrintFn(previous);
    printer.close();
  }
  const result: LoadResult = { rc, log };
  postMessage(result);
};
