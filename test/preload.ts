/**
 * Runs before every test file: make sure the eBPF object that src/main.ts
 * embeds is built from the current bpf/ sources.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { buildBpf, EMBEDDED, LIBRARY_DIR, OBJECT, stageLibraries } from "../build";

const newestSource = Math.max(...readdirSync("bpf").map((f) => statSync(`bpf/${f}`).mtimeMs));
if (!existsSync(OBJECT) || statSync(OBJECT).mtimeMs < newestSource) await buildBpf();
if (EMBEDDED.some(({ soname }) => !existsSync(`${LIBRARY_DIR}/${soname}`))) await stageLibraries();
