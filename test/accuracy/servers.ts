/**
 * Servers for the accuracy cases that the shared test/support/servers.ts
 * does not provide: nginx with an access log that says which worker pid
 * served which status (the ground truth per worker), and the raw
 * one-syscall-shape server (raw_server.py).
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runNginx, STATUS_LOCATIONS, waitForPort } from "../support/servers";

export const BIG_BYTES = 1 << 20;

export interface LoggedNginx {
  port: number;
  workers: number[];
  /** Per worker pid: {status: count} as nginx's own access log says it served; reset empties the log. */
  servedByPid(reset?: boolean): Map<number, Record<number, number>>;
  /** Waits until nginx holds no client connection open: every request it read is answered and logged. */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

/** nginx with `workers` worker processes, IPv4 and IPv6, one access-log line per response: "pid status". */
export async function startLoggedNginx(port: number, workers: number): Promise<LoggedNginx> {
  const dir = mkdtempSync(join(tmpdir(), "hs-acc-nginx-"));
  chmodSync(dir, 0o755); // workers run unprivileged and must read big.bin
  writeFileSync(join(dir, "big.bin"), Buffer.alloc(BIG_BYTES, "n"), { mode: 0o644 });
  const log = join(dir, "access.log");
  const nginx = await runNginx(dir, port, {
    workers,
    main: "worker_rlimit_nofile 16384;",
    connections: 8192,
    accessLog: `${log} served`,
    http: `log_format served '$pid $status';
  keepalive_requests 1000000;
  sendfile on;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    listen [::1]:${port} backlog=4096;
    root ${dir};
    location = /big.bin { }
    ${STATUS_LOCATIONS}
  }`,
  });
  return {
    port,
    workers: nginx.workers,
    servedByPid(reset = true) {
      const served = new Map<number, Record<number, number>>();
      const text = existsSync(log) ? readFileSync(log, "utf8") : "";
      for (const line of text.split("\n")) {
        if (!line) continue;
        const [pid, status] = line.split(" ").map(Number) as [number, number];
        const perPid = served.get(pid) ?? {};
        perPid[status] = (perPid[status] ?? 0) + 1;
        served.set(pid, perPid);
      }
      if (reset) writeFileSync(log, ""); // the next case starts from an empty log
      return served;
    },
    async idle() {
      for (let i = 0; i < 500 && openConnections(port) > 0; i++) await Bun.sleep(20);
      const left = openConnections(port);
      if (left > 0) throw new Error(`nginx still holds ${left} client connections open after 10 s`);
    },
    stop: nginx.stop,
  };
}

/** TCP sockets on local `port` that their owner still holds open (established, being accepted, or closed by the peer only). */
function openConnections(port: number): number {
  const local = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  let count = 0;
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of readFileSync(table, "utf8").split("\n").slice(1)) {
      const [, localAddress, , state] = line.trim().split(/\s+/);
      // 01 ESTABLISHED, 03 SYN_RECV, 08 CLOSE_WAIT
      if (localAddress?.endsWith(local) && ["01", "03", "08"].includes(state!)) count++;
    }
  }
  return count;
}

export type ReadShape = "read" | "recv" | "readv" | "recvmsg";
export type WriteShape = "write" | "send" | "writev" | "sendmsg" | "sendfile" | "split" | "trickle";

export interface RawServer {
  port: number;
  host: string;
  pid: number;
  /** Pids of forked children that served (fork mode), as they logged themselves. */
  childPids(): number[];
  stop(): Promise<void>;
}

export async function startRawServer(
  port: number,
  read: ReadShape,
  write: WriteShape,
  options: { host?: string; mode?: "thread" | "fork" } = {},
): Promise<RawServer> {
  const host = options.host ?? "127.0.0.1";
  const pidLog = join(mkdtempSync(join(tmpdir(), "hs-acc-raw-")), "children");
  const proc = Bun.spawn(["python3", join(import.meta.dir, "raw_server.py"), String(port), host, read, write, options.mode ?? "thread"], {
    stdout: "ignore",
    stderr: "inherit",
    env: { ...process.env, HS_CHILD_PID_LOG: pidLog },
  });
  await waitForPort(port, host);
  return {
    port,
    host,
    pid: proc.pid,
    childPids: () => (existsSync(pidLog) ? readFileSync(pidLog, "utf8").trim().split("\n").filter(Boolean).map(Number) : []),
    async stop() {
      proc.kill("SIGTERM");
      await proc.exited;
    },
  };
}
