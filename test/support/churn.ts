/**
 * Short connections against a fork-per-connection server: each connection
 * is served by a process of its own that exits when the connection closes.
 * Shared by test/reliability/churn.test.ts and bench/reliability.ts.
 */
import { connect } from "node:net";
import { join } from "node:path";
import { waitForPort } from "./servers";

export interface ForkServer {
  pid: number;
  /** pid -> requests served, for every child that has exited so far. */
  children: Map<number, number>;
  stop(): Promise<void>;
}

export async function startForkServer(port: number): Promise<ForkServer> {
  const proc = Bun.spawn(["python3", join(import.meta.dir, "..", "fixtures", "fork_server.py"), String(port)], { stdout: "pipe", stderr: "inherit" });
  const children = new Map<number, number>();
  const reader = proc.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let ready = () => {};
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  void (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffered += value;
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      for (const line of lines) {
        if (line === "ready") ready();
        else {
          const [pid, served] = line.split(" ").map(Number);
          children.set(pid!, served!);
        }
      }
    }
  })();
  await isReady;
  await waitForPort(port);
  // waitForPort's own connection was served (0 requests) by a child: not part of any test's traffic.
  for (let i = 0; i < 100 && children.size === 0; i++) await Bun.sleep(10);
  children.clear();
  return {
    pid: proc.pid,
    children,
    async stop() {
      proc.kill();
      await proc.exited;
    },
  };
}

/** One connection: `requests` pipelined GET `path` (answered 200), read every answer, close. Resolves with the answers read. */
export function shortConnection(port: number, requests: number, path = "/status/200"): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    let seen = "";
    let answers = 0;
    socket.on("data", (chunk) => {
      seen += chunk.toString("latin1");
      const parts = seen.split("HTTP/1.1 200 ");
      answers += parts.length - 1;
      seen = parts[parts.length - 1]!.slice(-16);
      if (answers >= requests) socket.end();
    });
    socket.once("error", reject);
    socket.once("close", () => resolve(answers));
    socket.once("connect", () => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`.repeat(requests)));
  });
}

/** `connections` short connections, `concurrency` at a time; returns the answers read in all. */
export async function churn(port: number, connections: number, requestsEach: number, concurrency: number, path?: string): Promise<number> {
  if (connections > 1_000_000) throw new Error("refusing an unbounded connection loop");
  let next = 0;
  let answers = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < connections) {
        next++;
        const read = await shortConnection(port, requestsEach, path);
        answers += read; // not `answers += await ...`, which adds to the value read before the wait

      }
    }),
  );
  return answers;
}
