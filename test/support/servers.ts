/**
 * Real HTTP servers on loopback for the tests: nginx from Debian, and small
 * Node, Bun and Python servers (test/fixtures/) that answer GET /status/NNN
 * with status NNN. Each returns the pids that serve requests.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

const FIXTURES = join(import.meta.dir, "..", "fixtures");

export interface RunningServer {
  port: number;
  /** Processes that accept and answer connections. */
  servingPids: number[];
  stop(): Promise<void>;
}

export async function waitForPort(port: number, host = "127.0.0.1", timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const socket = await Bun.connect({ hostname: host, port, socket: { data() {} } });
      socket.end();
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
      await Bun.sleep(20);
    }
  }
}

/** A fixture that prints the port it listens on as its first line of stdout: the process and that port. */
export async function spawnPrintingPort(argv: string[], name: string): Promise<{ proc: Subprocess<"ignore", "pipe", "inherit">; port: number }> {
  const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${name} exited before listening`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return { proc, port: Number(text.trim()) };
}

export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export interface NginxOptions {
  port: number;
  workers?: number;
  /** Extra directives inside the server block. */
  locations?: string;
  ipv6?: boolean;
  /** A reverse proxy: every request goes to this loopback port, over kept-alive HTTP/1.1 connections. */
  proxyTo?: number;
  /** Cleartext HTTP/2 with prior knowledge (h2c) on the port instead of HTTP/1.x. */
  http2?: boolean;
}

/** nginx's return takes a literal code, so one exact location per code: GET /status/NNN answers NNN. */
export const STATUS_LOCATIONS = Array.from({ length: 400 }, (_, i) => i + 200)
  .map((code) => `location = /status/${code} { return ${code} "status ${code}\\n"; }`)
  .join("\n    ");

export async function startNginx(options: NginxOptions): Promise<RunningServer> {
  const dir = mkdtempSync(join(tmpdir(), "hs-nginx-"));
  writeFileSync(join(dir, "index.html"), "<h1>hello from nginx</h1>\n");
  const h2 = options.http2 ? " http2" : "";
  const listen = `listen 127.0.0.1:${options.port}${h2};${options.ipv6 ? ` listen [::1]:${options.port}${h2};` : ""}`;
  const upstream = options.proxyTo ? `upstream backend { server 127.0.0.1:${options.proxyTo}; keepalive 4; }` : "";
  const locations = options.proxyTo
    ? `location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }`
    : `location = /index.html { }\n    ${STATUS_LOCATIONS}`;
  const nginx = await runNginx(dir, options.port, {
    workers: options.workers ?? 2,
    http: `keepalive_requests 100000;
  ${upstream}
  server {
    ${listen}
    root ${dir};
    ${locations}
    ${options.locations ?? ""}
  }`,
  });
  return { port: options.port, servingPids: nginx.workers, stop: nginx.stop };
}

export interface NginxConfig {
  /** The http block's own directives and servers. */
  http: string;
  workers?: number;
  connections?: number;
  /** Directives at the top level, beside worker_processes. */
  main?: string;
  /** The access_log directive's arguments (after `http`, which may define their log_format). */
  accessLog?: string;
}

export interface NginxProcess {
  workers: number[];
  stop(): Promise<void>;
}

/**
 * Writes `dir`/nginx.conf (nginx in the foreground, keeping its pid, logs and
 * temporary files in `dir`) around `config.http`, runs it, and waits for
 * `port` to answer and every worker to run.
 */
export async function runNginx(dir: string, port: number, config: NginxConfig): Promise<NginxProcess> {
  const workers = config.workers ?? 1;
  writeFileSync(
    join(dir, "nginx.conf"),
    `worker_processes ${workers};
${config.main ?? ""}
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events { worker_connections ${config.connections ?? 4096}; }
http {
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  ${config.http}
  access_log ${config.accessLog ?? "off"};
}
`,
  );
  const proc = Bun.spawn(["nginx", "-c", join(dir, "nginx.conf"), "-e", join(dir, "error.log")], { stdout: "ignore", stderr: "inherit" });
  const stop = async () => {
    proc.kill("SIGTERM");
    await proc.exited;
  };
  try {
    await waitForPort(port);
    let pids: number[] = [];
    for (let i = 0; i < 100 && pids.length < workers; i++) {
      pids = childrenOf(proc.pid);
      if (pids.length < workers) await Bun.sleep(20);
    }
    if (pids.length !== workers) throw new Error(`nginx started ${pids.length} workers, not ${workers}`);
    return { workers: pids, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function startFixture(command: string[], port: number, host = "127.0.0.1"): Promise<RunningServer> {
  const proc: Subprocess = Bun.spawn(command, { stdout: "ignore", stderr: "inherit" });
  await waitForPort(port, host);
  return {
    port,
    servingPids: [proc.pid],
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}

export const startNodeServer = (port: number) => startFixture(["node", join(FIXTURES, "node_server.mjs"), String(port)], port);
export const startBunServer = (port: number) =>
  startFixture([process.execPath, join(FIXTURES, "bun_server.ts"), String(port)], port);
/** protocol: "HTTP/1.0" or "HTTP/1.1" */
export const startPythonServer = (port: number, protocol = "HTTP/1.1") =>
  startFixture(["python3", join(FIXTURES, "python_server.py"), String(port), protocol], port);
