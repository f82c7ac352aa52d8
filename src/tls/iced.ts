/**
 * Loads iced-x86 so that it also works inside the compiled executable.
 * The package's CommonJS entry reads its WebAssembly from beside itself
 * (__dirname), which a single-file executable does not have: its source
 * and its .wasm are embedded as files, and the entry runs with `fs` and
 * `path` that hand it the embedded bytes.
 */
import { readFileSync } from "node:fs";
import * as util from "node:util";
import entryFile from "../../node_modules/iced-x86/iced_x86.js" with { type: "file" };
import wasmPath from "../../node_modules/iced-x86/iced_x86_bg.wasm" with { type: "file" };

type Iced = typeof import("iced-x86");
/** Imported as a file, the entry is its path; TypeScript still types it as the module. */
const entryPath = entryFile as unknown as string;

let loaded: Iced | undefined;

export function iced(): Iced {
  if (loaded) return loaded;
  const wasm = readFileSync(wasmPath);
  const modules: Record<string, unknown> = {
    util,
    fs: { readFileSync: () => wasm },
    path: { join: () => "iced_x86_bg.wasm" },
  };
  const module = { exports: {} as Iced };
  const run = new Function("module", "exports", "require", "__dirname", readFileSync(entryPath, "utf8"));
  run(module, module.exports, (name: string) => modules[name], "");
  loaded = module.exports;
  return loaded;
}
