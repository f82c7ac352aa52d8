/**
 * The `previous` variant: the product as it was at a baseline commit
 * (default 28f497a, the last commit before issue 8 rewrote the kernel
 * side), built by the suite itself so "no slower / no worse than before"
 * is measured side by side in the same run, not against old figures.
 *
 * The baseline's tree comes from `git archive` into build/bench/ (no
 * worktree is registered, so an interrupted build leaves nothing in the
 * repository's git metadata), is built with its own build.ts, and only
 * its binary is kept, cached by commit: later runs reuse it.
 */
import { $ } from "bun";
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { OUT_DIR, REPO } from "./common";

export const DEFAULT_BASELINE = "28f497a";

export interface PreviousBuild {
  ref: string;
  commit: string;
  binary: string;
  cached: boolean;
}

async function run(what: string, command: string[], cwd: string, env: Record<string, string> = {}): Promise<void> {
  const r = await $`${command}`.cwd(cwd).env({ ...process.env, ...env }).nothrow().quiet();
  if (r.exitCode !== 0) throw new Error(`${what} failed: ${`${r.stderr}${r.stdout}`.trim().split("\n").slice(-3).join(" / ")}`);
}

export async function buildPrevious(ref: string, log: (line: string) => void): Promise<PreviousBuild> {
  const resolved = await $`git -C ${REPO} rev-parse --verify --quiet ${`${ref}^{commit}`}`.nothrow().quiet();
  if (resolved.exitCode !== 0) throw new Error(`--baseline=${ref}: no such commit in this repository`);
  const commit = resolved.stdout.toString().trim();
  const dir = `${OUT_DIR}/previous/${commit.slice(0, 12)}`;
  const binary = `${dir}/http-statistics`;
  if (existsSync(binary)) return { ref, commit, binary, cached: true };

  log(`building the previous product from ${ref} (${commit.slice(0, 12)}) in ${dir}/src`);
  const src = `${dir}/src`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(src, { recursive: true });
  await run("git archive", ["sh", "-c", `git -C '${REPO}' archive ${commit} | tar -x -C '${src}'`], REPO);
  await run("bun install (previous)", [process.execPath, "install", "--frozen-lockfile"], src);
  // No .git in the extracted tree: build.ts takes the commit from the environment, as in an image build.
  await run("the previous build", [process.execPath, "run", "build.ts"], src, { HS_GIT_COMMIT: commit });
  // Copied under a temporary name and renamed, so an interrupted build never leaves a cached half-binary.
  copyFileSync(`${src}/dist/http-statistics`, `${binary}.partial`);
  renameSync(`${binary}.partial`, binary);
  rmSync(src, { recursive: true, force: true });
  return { ref, commit, binary, cached: false };
}
