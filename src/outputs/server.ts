/**
 * Serves the latest report and metrics on the plugin's unix socket, and
 * the metrics alone on an optional TCP listener. It only serves: bodies
 * are built elsewhere, from the collector's ticks.
 */
import { Elysia } from "elysia";
import { chmodSync, lstatSync, mkdirSync, rmdirSync, statSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { connect } from "node:net";
import { CONTENT_TYPES, negotiate, type Exposition } from "./prometheus";

export class SocketError extends Error {}

const JSON_TYPE = { "content-type": "application/json" };

function jsonError(status: number, message: string): Response {
  return new Response(JSON.stringify({ error: message }), { status, headers: JSON_TYPE });
}

/** "EACCES: permission denied, mkdir '/x'" -> "permission denied". */
function reason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return /^E[A-Z]+: ([^,]+)/.exec(message)?.[1] ?? message;
}

/** Is someone answering on this unix socket? */
function socketIsLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
}

/**
 * What stands at `dir`: a directory, a symlink to one, nothing, or else.
 * /var/run is a symlink (to /run) on every current Debian and Ubuntu, so
 * symlinks are followed, but only root's: one that another user planted
 * (in /tmp, say) must not steer where root creates directories and a socket.
 */
function kindOf(dir: string): { kind: "directory" | "missing" | "other" } | { kind: "foreign symlink"; uid: number } {
  let entry;
  try {
    entry = lstatSync(dir);
  } catch {
    return { kind: "missing" };
  }
  if (entry.isDirectory()) return { kind: "directory" };
  if (!entry.isSymbolicLink()) return { kind: "other" };
  if (entry.uid !== 0) return { kind: "foreign symlink", uid: entry.uid };
  try {
    return { kind: statSync(dir).isDirectory() ? "directory" : "other" };
  } catch {
    return { kind: "other" }; // leads nowhere: a directory cannot be made over it
  }
}

/** Creates the missing directories above `path` (0700), outermost first; returns those it created. */
function makeParents(path: string): string[] {
  const missing: string[] = [];
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const found = kindOf(dir);
    if (found.kind === "directory") break;
    if (found.kind === "other") throw new SocketError(`cannot serve ${path}: ${dir} is not a directory`);
    if (found.kind === "foreign symlink") throw new SocketError(`cannot serve ${path}: ${dir} is a symlink owned by uid ${found.uid}, not root`);
    missing.unshift(dir);
  }
  const created: string[] = [];
  for (const dir of missing) {
    try {
      mkdirSync(dir, { mode: 0o700 });
      chmodSync(dir, 0o700); // mkdir's mode passes through the umask
    } catch (error) {
      removeDirectories(created);
      throw new SocketError(`cannot create ${dir} for the socket: ${reason(error)}`);
    }
    created.push(dir);
  }
  return created;
}

/** Removes directories we created, innermost first, if nothing else was put in them. */
function removeDirectories(created: string[]): void {
  for (const dir of [...created].reverse()) {
    try {
      rmdirSync(dir);
    } catch {
      return; // not empty: someone else uses it
    }
  }
}

/** Refuses a live socket or anything that is not a socket; removes a stale socket. */
async function clearStaleSocket(path: string): Promise<void> {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new SocketError(`${path} exists and is not a socket: remove it or choose another --socket`);
  if (await socketIsLive(path)) throw new SocketError(`another process is already serving ${path}: stop it first`);
  unlinkSync(path);
}

export interface ReportServer {
  /** Closes the socket and removes it, and the directories this run created if they are empty. */
  stop(): void;
}

export interface Bodies {
  /** The Scope report, encoded once per tick, not once per request: at 10,000 processes it is ~5 MB. */
  report(): Uint8Array<ArrayBuffer>;
  /** The Prometheus exposition of the latest tick in the format asked for. */
  metrics(format: Exposition): string;
}

/** Does Accept-Encoding take gzip (and not with q=0)? */
export function acceptsGzip(acceptEncoding: string | null): boolean {
  if (!acceptEncoding) return false;
  return acceptEncoding.split(",").some((entry) => {
    const [coding = "", ...params] = entry.split(";").map((part) => part.trim().toLowerCase());
    const q = params.find((p) => p.startsWith("q="));
    return (coding === "gzip" || coding === "*") && (q === undefined || Number(q.slice(2)) > 0);
  });
}

function metricsResponse(request: Request, metrics: Bodies["metrics"]): Response {
  const format = negotiate(request.headers.get("accept"));
  const body = metrics(format);
  const headers: Record<string, string> = { "content-type": CONTENT_TYPES[format], vary: "Accept, Accept-Encoding" };
  if (!acceptsGzip(request.headers.get("accept-encoding"))) return new Response(body, { headers });
  return new Response(Bun.gzipSync(body), { headers: { ...headers, "content-encoding": "gzip" } });
}

const TEXT_TYPE = { "content-type": "text/plain; charset=utf-8" };

/**
 * Serves GET /report (Scope) and GET /metrics (Prometheus) on a unix socket
 * that only root can connect to; any failure leaves nothing behind.
 */
export async function serveReports(path: string, bodies: Bodies): Promise<ReportServer> {
  const created = makeParents(path);
  let app: { stop(closeActiveConnections: boolean): unknown };
  try {
    await clearStaleSocket(path);
    // Routing is decided here, from the parsed URL: Elysia's own fallback
    // router looks for the path from the 12th character on, so a Host of 1-3
    // characters ("http://x/report") would send POST to 404 and GET /ab/report to the report.
    const routed = new Elysia().onRequest(({ request }) => {
      const pathname = new URL(request.url).pathname;
      if (pathname !== "/report" && pathname !== "/metrics") return jsonError(404, "not found: the plugin serves GET /report and GET /metrics");
      if (request.method !== "GET") return jsonError(405, `method not allowed: use GET ${pathname}`);
      return pathname === "/report" ? new Response(bodies.report(), { headers: JSON_TYPE }) : metricsResponse(request, bodies.metrics);
    });
    // Created 0600 (not chmod'ed after bind): there is no moment when others may connect.
    const umask = process.umask(0o177);
    try {
      app = routed.listen({ unix: path } as unknown as number);
    } finally {
      process.umask(umask);
    }
  } catch (error) {
    removeDirectories(created);
    if (error instanceof SocketError) throw error;
    throw new SocketError(`cannot serve ${path}: ${reason(error)}`);
  }
  return {
    stop() {
      app.stop(true);
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
      removeDirectories(created);
    },
  };
}

/** GET /metrics only, on TCP: the one thing --listen exposes to the network. */
export function serveMetrics(address: { hostname: string; port: number }, metrics: Bodies["metrics"]): ReportServer {
  const app = new Elysia()
    .get("/metrics", ({ request }) => metricsResponse(request, metrics))
    .all("/metrics", () => new Response("method not allowed: use GET /metrics\n", { status: 405, headers: TEXT_TYPE }))
    .onError(({ code }) => (code === "NOT_FOUND" ? new Response("not found: this listener serves GET /metrics only\n", { status: 404, headers: TEXT_TYPE }) : undefined));
  try {
    app.listen({ hostname: address.hostname, port: address.port });
  } catch (error) {
    const shown = address.hostname.includes(":") ? `[${address.hostname}]:${address.port}` : `${address.hostname}:${address.port}`;
    throw new SocketError(`cannot listen on ${shown}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return { stop: () => app.stop(true) };
}
