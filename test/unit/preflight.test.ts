import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hasSocketTracepoints } from "../../src/kernel/preflight";

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
