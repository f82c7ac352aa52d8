/**
 * A real Weave Scope (app + probe, one binary with its web UI) on loopback,
 * its probe reading plugins from a private directory and, when asked,
 * listing containers through Podman's Docker-compatible API on a private
 * socket. The binary is Weave Scope built unchanged from its public source
 * (not in this repository: 46 MB), found at $SCOPE_BINARY, by default
 * shared/scope/scope in the folder that holds the checkout (where every
 * machine of this project and CI has it).
 */
import type { Subprocess } from "bun";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { GLOBAL } from "./podman";

export const DEFAULT_SCOPE_BINARY = resolve(import.meta.dir, "..", "..", "..", "shared", "scope", "scope");

/** The Scope binary the tests run, or a one-line error naming the variable that chooses it. */
export function scopeBinary(env: Record<string, string | undefined> = process.env): string {
  const path = env.SCOPE_BINARY || DEFAULT_SCOPE_BINARY;
  if (!existsSync(path))
    throw new Error(`no Weave Scope binary at ${path}: set SCOPE_BINARY to a scope built from github.com/weaveworks/scope (default ${DEFAULT_SCOPE_BINARY})`);
  return path;
}

export interface RunningScope {
  url: string;
  api<T = any>(path: string): Promise<T>;
  stop(): Promise<void>;
}

function spawnLogged(args: string[], env: Record<string, string>, log: string): Subprocess {
  return Bun.spawn(args, { stdout: Bun.file(log), stderr: Bun.file(log), env: { ...process.env, CHECKPOINT_DISABLE: "1", ...env } });
}

export async function startScope(options: { port: number; pluginsRoot: string; hostname: string; docker: boolean }): Promise<RunningScope> {
  const binary = scopeBinary();
  const dir = mkdtempSync(join(tmpdir(), "hs-scope-"));
  const url = `http://127.0.0.1:${options.port}`;
  const processes: Subprocess[] = [];
  const env: Record<string, string> = { SCOPE_HOSTNAME: options.hostname };
  if (options.docker) {
    const socket = join(dir, "docker.sock");
    processes.push(spawnLogged(["podman", ...GLOBAL, "system", "service", "--time=0", `unix://${socket}`], {}, join(dir, "podman.log")));
    for (let i = 0; i < 200 && !existsSync(socket); i++) await Bun.sleep(50);
    if (!existsSync(socket)) throw new Error(`podman system service made no socket at ${socket}`);
    env.DOCKER_HOST = `unix://${socket}`;
  }
  processes.push(spawnLogged([binary, "--mode=app", "--weave=false", `--app.http.address=127.0.0.1:${options.port}`], env, join(dir, "app.log")));
  processes.push(
    spawnLogged(
      [
        binary, "--mode=probe", "--weave=false", `--app.http.address=127.0.0.1:${options.port}`,
        `--probe.docker=${options.docker}`, "--probe.kubernetes=false", "--probe.cri=false", "--probe.ecs=false",
        "--probe.conntrack=false", "--probe.ebpf.connections=false", `--probe.plugins.root=${options.pluginsRoot}`,
      ],
      env,
      join(dir, "probe.log"),
    ),
  );
  const api = async (path: string) => {
    const res = await fetch(`${url}${path}`);
    if (!res.ok) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const dead = processes.find((p) => p.exitCode !== null);
    if (dead) throw new Error(`scope exited (${dead.exitCode}); logs in ${dir}`);
    try {
      await api("/api");
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`scope app did not answer on ${url}; logs in ${dir}`);
      await Bun.sleep(100);
    }
  }
  return {
    url,
    api,
    async stop() {
      for (const p of processes.reverse()) {
        p.kill();
        await p.exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
