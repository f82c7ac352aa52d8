/**
 * Hostile or broken clients on the plugin's report socket, all at once,
 * while a well-behaved poller plays the Scope probe (GET /report with its
 * 500 ms timeout). Shared by test/reliability/report_socket.test.ts (exact
 * pass/fail) and bench/reliability.ts (latency and memory figures).
 */
import { connect, type Socket } from "node:net";

export interface AbusePlan {
  /** Connections opened and left silent. */
  idle: number;
  /** Connections that pipeline `slowRequests` GET /report and never read the answers. */
  slowReaders: number;
  slowRequests: number;
  /** Connections sending each malformed request in turn, reconnecting after every one. */
  malformed: number;
  /** Connections writing `floodDepth` pipelined GET /report at a time and reading the answers, over and over. */
  flooders: number;
  floodDepth: number;
}

/** Requests no server should act on: garbage, broken request lines, oversized or NUL-laden headers, absurd lengths. */
export const MALFORMED: string[] = [
  "\x00\x01\x02\x03 garbage \xff\xfe\r\n\r\n",
  "GET\r\n\r\n",
  "GET /report\r\n\r\n",
  "GET /report HTTP/9.9\r\nHost: x\r\n\r\n",
  `GET /report HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(200_000)}\r\n\r\n`,
  `GET /${"r".repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
  "GET /report HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
  "POST /report HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\nabc",
  "GET /report HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  "GET /report HTTP/1.1\r\nHo\x00st: x\r\n\r\n",
  `${"GET /report HTTP/1.1\r\n".repeat(5000)}\r\n`,
];

export interface AbuseCounts {
  idleOpen: number;
  slowReadersOpen: number;
  malformedSent: number;
  floodResponses: number;
  /** The server may close a flooding connection; the flooder then opens another. */
  floodReconnects: number;
  /**
   * Connects refused with EAGAIN, each tried again 5 ms later: the
   * server's listen backlog (512 in Bun) was full because this client,
   * connecting as fast as it can, got ahead of the accepts for a moment,
   * as any client can. Up to 100 tries per connection.
   */
  connectRetries: number;
  /** Connects that failed for any other reason, or 100 times over. */
  connectErrors: number;
  /** Their error codes, to say why. */
  connectErrorCodes: string[];
}

export interface Abuse {
  counts: AbuseCounts;
  stop(): void;
}

function connectOnce(path: string, sockets: Set<Socket>): Promise<{ socket?: Socket; code?: string }> {
  return new Promise((resolve) => {
    const socket = connect(path);
    sockets.add(socket);
    let connected = false;
    socket.once("connect", () => {
      connected = true;
      resolve({ socket });
    });
    socket.on("error", (error: NodeJS.ErrnoException) => {
      // After connect: the server hung up on a bad request (ECONNRESET, EPIPE), which is its right.
      if (connected) return;
      sockets.delete(socket);
      resolve({ code: error.code ?? error.message });
    });
    socket.once("close", () => sockets.delete(socket));
  });
}

async function open(path: string, counts: AbuseCounts, sockets: Set<Socket>): Promise<Socket | undefined> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const { socket, code } = await connectOnce(path, sockets);
    if (socket) return socket;
    if (code !== "EAGAIN") {
      counts.connectErrors++;
      counts.connectErrorCodes.push(code!);
      return undefined;
    }
    counts.connectRetries++;
    await Bun.sleep(5);
  }
  counts.connectErrors++;
  counts.connectErrorCodes.push("EAGAIN 100 times");
  return undefined;
}

export async function startAbuse(path: string, plan: AbusePlan): Promise<Abuse> {
  const counts: AbuseCounts = {
    idleOpen: 0,
    slowReadersOpen: 0,
    malformedSent: 0,
    floodResponses: 0,
    floodReconnects: 0,
    connectRetries: 0,
    connectErrors: 0,
    connectErrorCodes: [],
  };
  const sockets = new Set<Socket>();
  let running = true;

  for (let i = 0; i < plan.idle; i++) if (await open(path, counts, sockets)) counts.idleOpen++;

  const get = "GET /report?api_version=1 HTTP/1.1\r\nHost: x\r\n\r\n";
  for (let i = 0; i < plan.slowReaders; i++) {
    const socket = await open(path, counts, sockets);
    if (!socket) continue;
    socket.pause(); // never read: the server's writes back up
    socket.write(get.repeat(plan.slowRequests));
    counts.slowReadersOpen++;
  }

  const malformedLoop = async () => {
    for (let i = 0; running; i++) {
      const socket = await open(path, counts, sockets);
      if (!socket) {
        await Bun.sleep(10);
        continue;
      }
      await new Promise<void>((resolve) => {
        socket.on("data", () => {});
        socket.once("close", () => resolve());
        socket.write(MALFORMED[i % MALFORMED.length]!, (error) => error || counts.malformedSent++);
        setTimeout(() => socket.destroy(), 200);
      });
    }
  };

  const floodLoop = async () => {
    const burst = get.repeat(plan.floodDepth);
    while (running) {
      const socket = await open(path, counts, sockets);
      if (!socket) {
        await Bun.sleep(10);
        continue;
      }
      let pending = "";
      socket.on("data", (chunk) => {
        // Count status lines as they stream by; keep only a tail that may hold a split one.
        pending += chunk.toString("latin1");
        counts.floodResponses += pending.match(/HTTP\/1\.1 200 /g)?.length ?? 0;
        pending = pending.slice(-12);
      });
      while (running && !socket.destroyed) {
        await new Promise<void>((resolve) => {
          if (socket.write(burst)) resolve();
          else {
            socket.once("drain", () => resolve());
            socket.once("close", () => resolve());
          }
        });
        await Bun.sleep(5);
      }
      counts.floodReconnects++;
    }
  };

  const loops = [
    ...Array.from({ length: plan.malformed }, malformedLoop),
    ...Array.from({ length: plan.flooders }, floodLoop),
  ];
  return {
    counts,
    stop() {
      running = false;
      for (const socket of sockets) socket.destroy();
      void Promise.all(loops);
    },
  };
}

/** The probe's view: one GET /report with a 500 ms timeout; latency in ms, or undefined if it failed. */
export async function probeOnce(path: string): Promise<{ ms: number; ok: boolean }> {
  const started = performance.now();
  try {
    const res = await fetch("http://plugin/report?api_version=1&probe_id=7e57", { unix: path, signal: AbortSignal.timeout(500) } as RequestInit);
    const body = (await res.json()) as { Plugins?: Array<{ id: string }> };
    return { ms: performance.now() - started, ok: res.status === 200 && body.Plugins?.[0]?.id === "http-statistics" };
  } catch {
    return { ms: performance.now() - started, ok: false };
  }
}
