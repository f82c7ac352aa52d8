import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkPlatform, hasSocketTracepoints } from "../../src/kernel/preflight";

describe("checkPlatform", () => {
  test("this machine (x86_64, 6.18) passes", () => {
    expect(() => checkPlatform()).not.toThrow();
  });

  test("x86_64 from Linux 5.17 on passes, whatever the distribution's suffix", () => {
    for (const release of ["5.17.0", "5.19.0-46-generic", "6.1.0-28-amd64", "6.18.44-fc-v1272", "10.0.1"])
      expect(() => checkPlatform({ machine: "x86_64", release })).not.toThrow();
  });

  test("a kernel older than 5.17: one line naming it", () => {
    for (const release of ["5.16.20", "5.10.0-28-amd64", "4.19.0-26-amd64", "2.6.78"])
      expect(() => checkPlatform({ machine: "x86_64", release })).toThrow(
        `needs Linux 5.17 or later (its HTTP parser uses bpf_loop), and this kernel is ${release}`,
      );
  });

  test("a release that is no version is refused, not taken for a new kernel", () => {
    expect(() => checkPlatform({ machine: "x86_64", release: "unknown" })).toThrow("needs Linux 5.17 or later (its HTTP parser uses bpf_loop), and this kernel is unknown");
  });

  test("another architecture: one line naming it, before the kernel is looked at", () => {
    for (const machine of ["aarch64", "i686", "riscv64"])
      expect(() => checkPlatform({ machine, release: "4.19.0" })).toThrow(`runs on x86_64 only, and this machine is ${machine}`);
  });
});

describe("hasSocketTracepoints", () => {
  const dir = mkdtempSync(join(tmpdir(), "hs-preflight-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A stand-in for a BTF file: filler bytes with NUL-terminated names at the given offsets. */
  function btfWith(name: string, entries: Array<[offset: number, text: string]>, size = 300_000): string {
    const bytes = Buffer.alloc(size, "x");
    for (const [offset, text] of entries) bytes.write(`\0${text}\0`, offset);
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  }

  test("this kernel (6.18) names both tracepoints' types in its BTF", () => {
    expect(hasSocketTracepoints()).toBe(true);
  });

  test("both names found, each lying across a boundary between the pieces read", () => {
    const path = btfWith("across", [
      [4096 - 10, "btf_trace_sock_recv_length"],
      [3 * 4096 - 20, "btf_trace_sock_send_length"],
    ]);
    expect(hasSocketTracepoints(path, 4096)).toBe(true);
  });

  test("one name missing: no socket tracepoints", () => {
    expect(hasSocketTracepoints(btfWith("one", [[100, "btf_trace_sock_recv_length"]]), 4096)).toBe(false);
  });

  test("a longer name that starts with one of them is not that name", () => {
    const path = btfWith("longer", [
      [100, "btf_trace_sock_recv_length"],
      [9000, "btf_trace_sock_send_length_v2"],
    ]);
    expect(hasSocketTracepoints(path, 4096)).toBe(false);
  });
});
