/**
 * wrk (Debian's) on loopback: full speed with keep-alive, or paced to a
 * fixed rate with a Lua delay() (Debian has no wrk2).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { OUT_DIR } from "./lib/common";

export interface WrkResult {
  requests: number;
  seconds: number;
  rps: number;
  p50us: number;
  p99us: number;
  errors: number;
}

function micros(text: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text.trim());
  if (!m) return NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n : m[2] === "ms" ? n * 1000 : n * 1e6;
}

export function parseWrk(out: string): WrkResult {
  // wrk writes the duration as 10.00s, 250.00ms or, from a minute on, 10.00m.
  const dur = /(\d+) requests in ([\d.]+)(ms|s|m)\b/.exec(out);
  const requests = Number(dur?.[1] ?? NaN);
  const seconds = dur ? Number(dur[2]) * (dur[3] === "ms" ? 0.001 : dur[3] === "m" ? 60 : 1) : NaN;
  const p = (q: string) => micros(new RegExp(`^\\s+${q}%\\s+(\\S+)`, "m").exec(out)?.[1] ?? "");
  const errors = [...out.matchAll(/(?:Non-2xx or 3xx responses|Socket errors:.*?timeout) (\d+)/g)].reduce((s, m) => s + Number(m[1]), 0);
  return { requests, seconds, rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN), p50us: p("50"), p99us: p("99"), errors };
}

export interface WrkOptions {
  url: string;
  seconds: number;
  connections: number;
  threads?: number;
  /** Paces each connection to one request per delayMs (a fixed total rate). */
  delayMs?: number;
}

export async function runWrk(options: WrkOptions): Promise<WrkResult> {
  const args = ["wrk", "--latency", `-t${options.threads ?? 1}`, `-c${options.connections}`, `-d${options.seconds}s`, "--timeout", "2s"];
  if (options.delayMs) {
    mkdirSync(OUT_DIR, { recursive: true }); // the soak test runs this outside `bun run bench`
    const script = `${OUT_DIR}/paced_${options.delayMs}.lua`;
    writeFileSync(script, `-- one request per connection every ${options.delayMs} ms\nfunction delay() return ${options.delayMs} end\n`);
    args.push("-s", script);
  }
  args.push(options.url);
  const proc = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), (options.seconds + 30) * 1000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`wrk failed (${code}): ${err}${out}`);
  const result = parseWrk(out);
  if (!Number.isFinite(result.rps)) throw new Error(`cannot read wrk's output:\n${out}`);
  return result;
}

/**
 * Connections that, each paced by delayMs, give about `rate` req/s in all:
 * wrk's timer and the round trip make a connection's real period longer
 * than delayMs, so measure it (2 s, twice).
 */
export async function pacedConnections(url: string, rate: number, delayMs: number): Promise<number> {
  // Twice: a connection's period grows a little with the number of connections.
  let connections = 8;
  for (let i = 0; i < 2; i++) {
    const r = await runWrk({ url, seconds: 2, connections, delayMs });
    connections = Math.max(1, Math.round((rate * connections) / r.rps));
  }
  return connections;
}
