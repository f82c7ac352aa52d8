/**
 * Serves the latest report on the plugin's unix socket. It only serves:
 * the body is built elsewhere, once per tick, and handed over as UTF-8 bytes.
 */
import { Elysia } from "elysia";
import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { connect } from "node:net";

export class SocketError extends Error {}

const JSON_TYPE = { "content-type": "application/json" };

function jsonError(status: number, message: string): Response {
  return new Response(JSON.stringify({ error: message }), { status, headers: JSON_TYPE });
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

/** Creates the socket's directories (0700) and removes a stale socket, never a live one or a file. */
export async function prepareSocketPath(path: string): Promise<void> {
  const dir = dirname(path);
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }
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
  stop(): void;
}

/** The body is encoded once per tick, not once per request: at 10,000 processes it is ~5 MB. */
export function serveReports(path: string, currentReport: () => Uint8Array<ArrayBuffer>): ReportServer {
  const app = new Elysia()
    .get("/report", () => new Response(currentReport(), { headers: JSON_TYPE }))
    .all("/report", () => jsonError(405, "method not allowed: use GET /report"))
    .onError(({ code }) => (code === "NOT_FOUND" ? jsonError(404, "not found: the plugin serves GET /report") : undefined))
    .listen({ unix: path } as unknown as number);
  return {
    stop() {
      app.stop(true);
      try {
        unlinkSync(path);
      } catch {
        // already gone
      }
    },
  };
}
