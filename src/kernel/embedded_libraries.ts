/**
 * The shared libraries the binary carries so that a host needs no libbpf,
 * libelf or zlib: Debian's own builds, copied into build/lib by build.ts
 * (stageLibraries) and embedded by `bun build --compile`. Dependencies
 * first, libbpf last: loadEmbeddedLibbpf() loads them in this order.
 */
import libz from "../../build/lib/libz.so.1" with { type: "file" };
import libelf from "../../build/lib/libelf.so.1" with { type: "file" };
import libbpf from "../../build/lib/libbpf.so.1" with { type: "file" };
import type { EmbeddedLibrary } from "./libbpf";

/** Set by build.ts: the Debian package versions embedded; libbpf itself only reports major.minor. */
declare const HS_EMBEDDED_PACKAGES: string | undefined;
export const EMBEDDED_PACKAGES: string = typeof HS_EMBEDDED_PACKAGES === "string" ? HS_EMBEDDED_PACKAGES : "copied from this host by build.ts";

export const EMBEDDED_LIBRARIES: EmbeddedLibrary[] = [
  { soname: "libz.so.1", file: libz },
  { soname: "libelf.so.1", file: libelf },
  { soname: "libbpf.so.1", file: libbpf },
];
