/**
 * How long the TLS probes take to attach, and to detach (a plugin's stop
 * waits for the kernel to remove them), through the product's own code
 * (src/tls/, src/kernel/): the host's libssl and a running Go executable
 * (test/fixtures/go_tls, built here), attached as uprobe_multi links (one
 * per program and file, Linux 6.6+) and as the perf-event uprobes older
 * kernels get (one per probed instruction). The two styles alternate
 * round by round.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KernelProbe } from "../src/kernel/kernel_probe";
import { loadLibbpf, type UprobeLink, type UprobeOffset } from "../src/kernel/libbpf";
import { TlsHooks } from "../src/tls/tls_hooks";
import { median, REPO, round, table } from "./lib/common";

const STYLES = ["uprobe_multi", "perf-event"] as const;
type Style = (typeof STYLES)[number];
const LIBSSL = "/usr/lib/x86_64-linux-gnu/libssl.so.3";

interface FileTimes {
  probes: number;
  links: number;
  attachMs: number;
  detachMs: number;
}

export interface TlsAttachSummary {
  rounds: number;
  /** style -> file ("libssl" or "go") -> medians over rounds */
  files: Record<string, Record<string, FileTimes>>;
}

/** One start and stop of the TLS probes in one style: each file's probe count, link count, and time to attach and to detach its links. */
async function once(style: Style, goPath: string): Promise<Record<string, FileTimes>> {
  const library = loadLibbpf(["libbpf.so.1"]);
  const image = new Uint8Array(await Bun.file(join(REPO, "build", "http_statistics.bpf.o")).arrayBuffer());
  const probe = await KernelProbe.start(library, image, { capture: "socket", maxConnections: 1, maxCounters: 1024, uprobeMulti: style === "uprobe_multi" });
  const times: Record<string, FileTimes> = {};
  const fileOf = (path: string) => (path.endsWith(goPath) ? "go" : path === LIBSSL ? "libssl" : undefined);
  // Times each attachment and each detachment, by file; other files found in the scan are attached but not reported.
  const timed = {
    mappedFiles: (pid: number) => probe.mappedFiles(pid),
    attachUprobes(name: string, path: string, probes: UprobeOffset[], retprobe: boolean): UprobeLink {
      const file = fileOf(path);
      const started = performance.now();
      const link = probe.attachUprobes(name, path, probes, retprobe);
      if (!file) return link;
      const t = (times[file] ??= { probes: 0, links: 0, attachMs: 0, detachMs: 0 });
      t.attachMs += performance.now() - started;
      t.probes += probes.length;
      t.links += style === "uprobe_multi" ? 1 : probes.length;
      return {
        destroy() {
          const detaching = performance.now();
          link.destroy();
          t.detachMs += performance.now() - detaching;
        },
      };
    },
  };
  const hooks = new TlsHooks(timed, () => {});
  try {
    hooks.attachHostLibraries();
    hooks.scanProcesses();
  } finally {
    hooks.close();
    probe.close();
  }
  if (!times.go || !times.libssl) throw new Error(`the TLS probes did not reach both ${LIBSSL} and ${goPath}`);
  return times;
}

export async function benchTlsAttach(options: { rounds: number; log: (line: string) => void }): Promise<TlsAttachSummary> {
  const dir = mkdtempSync(join(tmpdir(), "hs-bench-tls-attach-"));
  const goPath = join(dir, "go_tls");
  const built = Bun.spawnSync(["go", "build", "-trimpath", "-o", goPath, "."], { cwd: join(REPO, "test", "fixtures", "go_tls"), env: { ...process.env, CGO_ENABLED: "0" }, stderr: "pipe" });
  if (built.exitCode !== 0) throw new Error(`go build failed (scripts/setup.sh installs golang-go): ${built.stderr}`);
  // A Go client waiting for its first path on stdin: a running process of that executable, which is how the plugin finds it.
  const go = Bun.spawn([goPath, "client", "1"], { stdin: "pipe", stdout: "ignore", stderr: "ignore" });
  const samples: Record<string, Record<string, FileTimes[]>> = {};
  try {
    for (let r = 0; r < options.rounds; r++) {
      for (const style of r % 2 ? [...STYLES].reverse() : STYLES) {
        for (const [file, t] of Object.entries(await once(style, goPath))) ((samples[style] ??= {})[file] ??= []).push(t);
      }
      options.log(`    round ${r + 1}/${options.rounds} done`);
    }
  } finally {
    go.kill("SIGKILL");
    await go.exited;
    rmSync(dir, { recursive: true, force: true });
  }
  const files: TlsAttachSummary["files"] = {};
  for (const [style, byFile] of Object.entries(samples))
    for (const [file, list] of Object.entries(byFile))
      (files[style] ??= {})[file] = {
        probes: list[0]!.probes,
        links: list[0]!.links,
        attachMs: median(list.map((t) => t.attachMs)),
        detachMs: median(list.map((t) => t.detachMs)),
      };
  return { rounds: options.rounds, files };
}

export function tlsAttachTable(s: TlsAttachSummary): string {
  const name = { libssl: "the host's libssl", go: "a Go executable (crypto/tls)" } as Record<string, string>;
  return table(
    [`TLS probes (${s.rounds} rounds, medians)`, "probes", "links", "attach ms", "detach ms"],
    Object.entries(s.files).flatMap(([style, byFile]) =>
      Object.entries(byFile).map(([file, t]) => [`${name[file] ?? file}, ${style === "uprobe_multi" ? "uprobe_multi links" : "perf-event uprobes (kernels before 6.6)"}`, t.probes, t.links, round(t.attachMs, 0), round(t.detachMs, 0)]),
    ),
  );
}
