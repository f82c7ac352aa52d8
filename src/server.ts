/**
 * Serves the latest report and metrics on the plugin's unix socket, and
 * the metrics alone on an optional TCP listener. It only serves: bodies
 * are built elsewhere, from the collector's ticks.
 */
import { Elysia } from "elysia";
import { chmodSync, existsSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { connect } from "node:net";
import { CONTENT_TYPES, negotiate, type Exposition } from "./prometheus";

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

/** The Scope report and the metrics on the unix socket. */
export function serveReports(path: string, bodies: Bodies): ReportServer {
  const app = new Elysia()
    .get("/report", () => new Response(bodies.report(), { headers: JSON_TYPE }))
    .all("/report", () => jsonError(405, "method not allowed: use GET /report"))
    .get("/metrics", ({ request }) => metricsResponse(request, bodies.metrics))
    .all("/metrics", () => jsonError(405, "method not allowed: use GET /metrics"))
    .onError(({ code }) => (code === "NOT_FOUND" ? jsonError(404, "not found: the plugin serves GET /report and GET /metrics") : undefined))
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
