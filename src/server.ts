/**
 * Serves the latest report on the plugin's unix socket. It only serves:
 * the body is built elsewhere, once per tick, and handed over as UTF-8 bytes.
 */
import { Elysia } from "elysia";
import { chmodSync, lstatSync, mkdirSync, rmdirSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { connect } from "node:net";

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

/** Creates the missing directories above `path` (0700), outermost first; returns those it created. */
function makeParents(path: string): string[] {
  const missing: string[] = [];
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    try {
      if (!lstatSync(dir).isDirectory()) throw new SocketError(`cannot serve ${path}: ${dir} is not a directory`);
      break;
    } catch (error) {
      if (error instanceof SocketError) throw error;
      missing.unshift(dir);
    }
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

/**
 * Serves GET /report on a unix socket that only root can connect to; any
 * failure leaves nothing behind. The body is encoded once per tick, not once
 * per request: at 10,000 processes it is ~5 MB.
 */
export async function serveReports(path: string, currentReport: () => Uint8Array<ArrayBuffer>): Promise<ReportServer> {
  const created = makeParents(path);
  let app: { stop(closeActiveConnections: boolean): unknown };
  try {
    await clearStaleSocket(path);
    // Routing is decided here, from the parsed URL: Elysia's own fallback
    // router looks for the path from the 12th character on, so a Host of 1-3
    // characters ("http://x/report") would send POST to 404 and GET /ab/report to the report.
    const routed = new Elysia()
      .onRequest(({ request }) => {
        if (new URL(request.url).pathname !== "/report") return jsonError(404, "not found: the plugin serves GET /report");
        if (request.method !== "GET") return jsonError(405, "method not allowed: use GET /report");
      })
      .get("/report", () => new Response(currentReport(), { headers: JSON_TYPE }));
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
