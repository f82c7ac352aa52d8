/**
 * Headless Chromium (Debian's `chromium`) driven over the DevTools
 * protocol: load a page, evaluate JavaScript in it, move the mouse, take
 * PNG screenshots. Enough to check what the real Scope UI shows.
 */
import type { Subprocess } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--remote-debugging-address=127.0.0.1",
  "--remote-debugging-port=0",
];

export interface Page {
  send<T = any>(method: string, params?: Record<string, unknown>): Promise<T>;
  evaluate<T>(expression: string): Promise<T>;
  /** Polls `expression` until it is truthy; returns its value. */
  waitFor<T>(expression: string, what: string, timeoutMs?: number): Promise<T>;
  screenshot(clip?: { x: number; y: number; width: number; height: number }): Promise<Uint8Array>;
  hover(x: number, y: number): Promise<void>;
}

export interface Browser {
  open(url: string, width: number, height: number): Promise<Page>;
  close(): Promise<void>;
}

export async function startChromium(): Promise<Browser> {
  const binary = Bun.which("chromium");
  if (!binary) throw new Error("chromium is missing: run scripts/setup.sh");
  const profile = mkdtempSync(join(tmpdir(), "hs-chromium-"));
  const proc: Subprocess<"ignore", "ignore", "pipe"> = Bun.spawn([binary, ...FLAGS, `--user-data-dir=${profile}`, "about:blank"], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  // Chromium prints "DevTools listening on ws://127.0.0.1:PORT/..." once it is ready.
  const reader = proc.stderr.getReader();
  let text = "";
  const deadline = Date.now() + 30_000;
  let port = 0;
  while (!port) {
    if (Date.now() > deadline) throw new Error(`chromium did not start: ${text.slice(-1000)}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`chromium exited: ${text.slice(-1000)}`);
    text += new TextDecoder().decode(value);
    port = Number(/DevTools listening on ws:\/\/127\.0\.0\.1:(\d+)\//.exec(text)?.[1] ?? 0);
  }
  // Keep draining stderr so chromium never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done);
  })().catch(() => {});
  const sockets: WebSocket[] = [];
  return {
    async open(url, width, height) {
      const target = (await (await fetch(`http://127.0.0.1:${port}/json/new?about:blank`, { method: "PUT" })).json()) as { webSocketDebuggerUrl: string };
      const ws = new WebSocket(target.webSocketDebuggerUrl);
      sockets.push(ws);
      await new Promise((resolve, reject) => {
        ws.onopen = resolve;
        ws.onerror = reject;
      });
      let nextId = 1;
      const pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
      ws.onmessage = (event) => {
        const message = JSON.parse(String(event.data));
        const waiter = message.id && pending.get(message.id);
        if (!waiter) return;
        pending.delete(message.id);
        if (message.error) waiter.reject(new Error(`${message.error.message}`));
        else waiter.resolve(message.result);
      };
      const send = <T>(method: string, params: Record<string, unknown> = {}) =>
        new Promise<T>((resolve, reject) => {
          const id = nextId++;
          pending.set(id, { resolve, reject });
          ws.send(JSON.stringify({ id, method, params }));
        });
      const evaluate = async <T>(expression: string): Promise<T> => {
        const r = await send<{ result: { value: T }; exceptionDetails?: { text: string } }>("Runtime.evaluate", { expression, returnByValue: true });
        if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.text} (${expression.slice(0, 200)})`);
        return r.result.value;
      };
      await send("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile: false });
      await send("Page.enable");
      await send("Page.navigate", { url });
      return {
        send,
        evaluate,
        async waitFor<T>(expression: string, what: string, timeoutMs = 30_000) {
          const end = Date.now() + timeoutMs;
          for (;;) {
            const value = await evaluate<T>(expression).catch(() => undefined);
            if (value) return value;
            if (Date.now() > end) throw new Error(`the page never showed ${what} within ${timeoutMs} ms`);
            await Bun.sleep(200);
          }
        },
        async screenshot(clip) {
          const r = await send<{ data: string }>("Page.captureScreenshot", { format: "png", ...(clip && { clip: { ...clip, scale: 1 } }) });
          return Uint8Array.from(Buffer.from(r.data, "base64"));
        },
        async hover(x, y) {
          await send("Input.dispatchMouseEvent", { type: "mouseMoved", x, y });
        },
      };
    },
    async close() {
      for (const ws of sockets) ws.close();
      proc.kill();
      await proc.exited;
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
