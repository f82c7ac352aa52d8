/**
 * Clients for the accuracy cases, all bounded and on loopback: a raw socket
 * client (exact control of what goes in each write), a client-side response
 * parser that says which codes really came back, wrk, and Node's fetch.
 */
import { connect } from "node:net";
import { join } from "node:path";

const LOOPBACK = new Set(["127.0.0.1", "::1"]);
const MAX_REQUESTS = 200_000;

function checkLoopback(host: string): void {
  if (!LOOPBACK.has(host)) throw new Error(`not loopback: ${host}`);
}

export interface RawOptions {
  host?: string;
  port: number;
  /** Each element goes out in its own write. */
  writes: Array<string | Uint8Array>;
  /** Pause between writes, so each lands in its own server read. */
  pauseMs?: number;
  timeoutMs?: number;
}

/** Writes `writes` on one connection, then reads until the server closes. */
export function rawExchange(options: RawOptions): Promise<Buffer> {
  const host = options.host ?? "127.0.0.1";
  checkLoopback(host);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect({ host, port: options.port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`raw exchange with ${host}:${options.port} did not finish in ${options.timeoutMs ?? 20_000} ms`));
    }, options.timeoutMs ?? 20_000);
    socket.on("data", (data) => chunks.push(Buffer.from(data)));
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("end", () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.on("connect", async () => {
      for (const [i, piece] of options.writes.entries()) {
        if (i > 0 && options.pauseMs) await Bun.sleep(options.pauseMs);
        await new Promise<void>((done) => socket.write(piece, () => done()));
      }
    });
  });
}

/**
 * The status codes of every response in a byte stream, 1xx included, in
 * order. `heads[i]` tells whether the i-th request was a HEAD (no body).
 */
export function parseResponses(stream: Buffer, heads: boolean[] = []): number[] {
  const codes: number[] = [];
  let at = 0;
  let finals = 0;
  while (at < stream.length) {
    const end = stream.indexOf("\r\n\r\n", at);
    if (end < 0) throw new Error(`truncated response head at byte ${at}`);
    const lines = stream.subarray(at, end).toString("latin1").split("\r\n");
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]!);
    if (!match) throw new Error(`not a status line at byte ${at}: ${JSON.stringify(lines[0])}`);
    const code = Number(match[1]);
    codes.push(code);
    at = end + 4;
    if (code < 200) continue;
    const headers = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
    const isHead = heads[finals++] ?? false;
    if (isHead || code === 204 || code === 304) continue;
    if (headers.get("transfer-encoding")?.toLowerCase() === "chunked") {
      for (;;) {
        const lineEnd = stream.indexOf("\r\n", at);
        const size = parseInt(stream.subarray(at, lineEnd).toString("latin1"), 16);
        at = lineEnd + 2 + size + 2;
        if (size === 0) break;
      }
    } else if (headers.has("content-length")) {
      at += Number(headers.get("content-length"));
    } else {
      at = stream.length;
    }
  }
  return codes;
}

export function histogram(codes: number[]): Record<number, number> {
  const h: Record<number, number> = {};
  for (const c of codes) h[c] = (h[c] ?? 0) + 1;
  return h;
}

export function request(method: string, path: string, headers: Record<string, string> = {}, body = ""): string {
  const lines = [`${method} ${path} HTTP/1.1`, "Host: localhost", ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body && !("Transfer-Encoding" in headers)) lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join("\r\n")}\r\n\r\n${body}`;
}

/** Requests for a plan of codes, interleaved so every code appears throughout. */
export function planPaths(plan: Record<number, number>, prefix = "/status"): string[] {
  const queues = Object.entries(plan).map(([code, n]) => ({ code, n }));
  const paths: string[] = [];
  for (let more = true; more; ) {
    more = false;
    for (const q of queues)
      if (q.n > 0) {
        paths.push(`${prefix}/${q.code}`);
        q.n--;
        more = true;
      }
  }
  if (paths.length > MAX_REQUESTS) throw new Error("refusing an unbounded request loop");
  return paths;
}

export interface WrkResult {
  requests: number;
  non2xx: number;
}

/** wrk over keep-alive connections for a fixed time; returns its count of completed requests. */
export async function wrk(url: string, connections: number, seconds: number, threads = 2): Promise<WrkResult> {
  if (!/^http:\/\/(127\.0\.0\.1|\[::1\]):\d+\//.test(url)) throw new Error(`not loopback: ${url}`);
  if (seconds > 30) throw new Error("wrk runs are bounded to 30 s");
  const proc = Bun.spawn(["wrk", "-t", String(threads), "-c", String(connections), "-d", `${seconds}s`, url], {
    stdout: "pipe",
    stderr: "pipe",
  });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code !== 0) throw new Error(`wrk exited ${code}: ${await new Response(proc.stderr).text()}`);
  const requests = /(\d+) requests in/.exec(out);
  if (!requests) throw new Error(`cannot read wrk's output: ${out}`);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  return { requests: Number(requests[1]), non2xx: non2xx ? Number(non2xx[1]) : 0 };
}

/** Node's fetch (undici, keep-alive pool) fetching each path once, in order; returns the codes. */
export async function nodeFetch(base: string, paths: string[]): Promise<number[]> {
  if (!/^http:\/\/(127\.0\.0\.1|\[::1\]):\d+$/.test(base)) throw new Error(`not loopback: ${base}`);
  const proc = Bun.spawn(["node", join(import.meta.dir, "node_fetch.mjs"), base], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  proc.stdin.write(paths.join("\n"));
  proc.stdin.end();
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code !== 0) throw new Error(`node fetch exited ${code}: ${await new Response(proc.stderr).text()}`);
  return out.trim().split("\n").map(Number);
}
