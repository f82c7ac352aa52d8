/**
 * `http-statistics top` in a real terminal (tmux): the real plugin counts
 * real nginx and Python servers; top must show their exact totals by
 * class, put the busy process first while it is busy, fit the terminal,
 * and give the terminal back as it found it on q and on Ctrl-C.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { REPO, requireRoot, startPlugin, type RunningPlugin } from "../support/plugin";
import { spawnPrintingPort, startNginx, startPythonServer, type RunningServer } from "../support/servers";
import { curl, statusUrls } from "../support/traffic";

const NGINX_PORT = 18705;
const PYTHON_PORT = 18706;
const SESSION = `hs-top-${process.pid}`;
const TOP = `${process.execPath} run ${join(REPO, "src", "main.ts")} top`;

let plugin: RunningPlugin;
let nginx: RunningServer;
let python: RunningServer;

function tmux(...args: string[]): string {
  const r = Bun.spawnSync(["tmux", ...args]);
  if (r.exitCode !== 0) throw new Error(`tmux ${args.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

const screen = () => tmux("capture-pane", "-p", "-t", SESSION);

async function waitForScreen(match: (text: string) => boolean, what: string, timeoutMs = 15_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const text = screen();
    if (match(text)) return text;
    if (Date.now() > end) throw new Error(`the terminal never showed ${what}; it shows:\n${text}`);
    await Bun.sleep(200);
  }
}

/** The table row of one pid, as top prints it. */
const rowOf = (text: string, pid: number) => text.split("\n").find((line) => line.startsWith(String(pid).padStart(7) + " "));

beforeAll(async () => {
  requireRoot();
  if (!Bun.which("tmux")) throw new Error("tmux is missing: run scripts/setup.sh");
  nginx = await startNginx({ port: NGINX_PORT, workers: 1 });
  python = await startPythonServer(PYTHON_PORT);
  plugin = await startPlugin({ hostId: "top-test" });
  // A shell in a 100x60 terminal (room for the other servers of a shared host); top runs in it, so its exit status and the terminal after it can be read.
  tmux("new-session", "-d", "-s", SESSION, "-x", "100", "-y", "60", "env PS1='$ ' sh");
}, 60_000);

afterAll(async () => {
  Bun.spawnSync(["tmux", "kill-session", "-t", SESSION]);
  await plugin?.stop();
  await nginx?.stop();
  await python?.stop();
});

describe("http-statistics top", () => {
  test("no plugin on the socket: one line, exit 1, the terminal untouched", () => {
    const r = Bun.spawnSync([process.execPath, "run", join(REPO, "src", "main.ts"), "top", "--socket", "/tmp/hs-top-nobody/p.sock"]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout.toString()).toBe("");
    const lines = r.stderr.toString().trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith("http-statistics: no plugin answers on /tmp/hs-top-nobody/p.sock: ");
    expect(lines[0]).toEndWith("(is it running? --socket sets the path)");
  });

  test("exact totals by class per process, the busy one first, within 100 columns; q restores the terminal", async () => {
    const nginxPid = nginx.servingPids[0]!;
    const pythonPid = python.servingPids[0]!;
    await curl(statusUrls(`http://127.0.0.1:${NGINX_PORT}`, { 200: 6, 301: 2, 404: 3, 503: 1 }));
    await curl(statusUrls(`http://127.0.0.1:${PYTHON_PORT}`, { 200: 2, 500: 4, 302: 1 }));
    tmux("send-keys", "-t", SESSION, `${TOP} --socket ${plugin.socket}; echo "top exited $?"`, "Enter");
    let text = await waitForScreen((t) => [nginxPid, pythonPid].every((pid) => rowOf(t, pid)?.includes(" 0.0 ")), "both rows with their rates");
    // Idle since top's previous read: no request to take a p99 of, none sent.
    expect(rowOf(text, nginxPid)).toBe(`${String(nginxPid).padStart(7)} nginx           -                 0.0        -        6        2        3        1      0.0`);
    expect(rowOf(text, pythonPid)).toBe(`${String(pythonPid).padStart(7)} python3         -                 0.0        -        2        1        0        4      0.0`);
    expect(text).toContain("    PID COMMAND         CONTAINER       REQ/S   P99 MS      2XX      3XX      4XX      5XX    OUT/S");
    expect(text).toMatch(/^http-statistics top: \d+ processes on /m);
    for (const line of text.split("\n")) expect(line.length).toBeLessThanOrEqual(100);

    // Python kept busy, in batches (at most 60), until top shows it first with a rate.
    const pythonFirst = (t: string) => {
      const first = t.split("\n")[2] ?? "";
      return first.startsWith(String(pythonPid).padStart(7)) && Number(first.trim().split(/\s+/)[3]) > 0;
    };
    for (let batch = 0; batch < 60 && !pythonFirst(screen()); batch++) await curl(statusUrls(`http://127.0.0.1:${PYTHON_PORT}`, { 200: 20 }));
    text = screen();
    expect(pythonFirst(text)).toBe(true);
    expect(Number(rowOf(text, pythonPid)!.trim().split(/\s+/)[3])).toBeGreaterThan(0);

    tmux("send-keys", "-t", SESSION, "q");
    text = await waitForScreen((t) => /^top exited \d+$/m.test(t), "top's exit");
    expect(text).toMatch(/^top exited 0$/m);
    expect(text).not.toContain("REQ/S"); // the alternate screen is gone, the shell's screen is back
    tmux("send-keys", "-t", SESSION, "clear; stty -a | tr ' ;' '\\n\\n' | grep -x -e icanon -e -icanon -e echo -e -echo | sort | tr '\\n' ' '; echo", "Enter");
    text = await waitForScreen((t) => /^-?echo -?icanon$/m.test(t), "stty's modes"); // capture-pane drops trailing spaces
    expect(text).toMatch(/^echo icanon$/m);
  }, 60_000);

  test("Ctrl-C exits cleanly too", async () => {
    tmux("send-keys", "-t", SESSION, "clear", "Enter");
    await waitForScreen((t) => t.trim() === "$", "a cleared shell");
    tmux("send-keys", "-t", SESSION, `${TOP} --socket ${plugin.socket}; echo "top exited $?"`, "Enter");
    await waitForScreen((t) => t.includes("REQ/S"), "the table");
    tmux("send-keys", "-t", SESSION, "C-c");
    const text = await waitForScreen((t) => /^top exited \d+$/m.test(t), "top's exit");
    expect(text).toMatch(/^top exited 0$/m);
    expect(text).not.toContain("REQ/S");
  }, 30_000);

  test("a gRPC server: a GRPC ERR column with the calls it answered with a status other than OK", async () => {
    tmux("send-keys", "-t", SESSION, "clear", "Enter");
    await waitForScreen((t) => t.trim() === "$", "a cleared shell");
    const server = await spawnPrintingPort(["/usr/bin/python3", join(REPO, "test", "fixtures", "grpc_peer.py"), "server"], "the gRPC server");
    try {
      const calls = ["OK", "NOT_FOUND", "INTERNAL", "OK", "NOT_FOUND", "STREAM"];
      const client = Bun.spawnSync(["/usr/bin/python3", join(REPO, "test", "fixtures", "grpc_peer.py"), "client", String(server.port), ...calls]);
      expect(client.stdout.toString().trim().split("\n")).toEqual(["OK", "NOT_FOUND", "INTERNAL", "OK", "NOT_FOUND", "OK"]);
      tmux("send-keys", "-t", SESSION, `${TOP} --socket ${plugin.socket}; echo "top exited $?"`, "Enter");
      const text = await waitForScreen((t) => rowOf(t, server.proc.pid)?.includes(" 0.0 ") ?? false, "the gRPC server's row with its rate");
      expect(text).toContain("    PID COMMAND            REQ/S   P99 MS      2XX      3XX      4XX      5XX GRPC ERR");
      // Six calls, each a 200; three ended with NOT_FOUND or INTERNAL.
      expect(rowOf(text, server.proc.pid)).toMatch(new RegExp(`^${String(server.proc.pid).padStart(7)} python3 +0\\.0 +\\S+ +6 +0 +0 +0 +3`));
      for (const line of text.split("\n")) expect(line.length).toBeLessThanOrEqual(100);
      tmux("send-keys", "-t", SESSION, "q");
      await waitForScreen((t) => /^top exited 0$/m.test(t), "top's exit");
    } finally {
      server.proc.kill("SIGTERM");
      await server.proc.exited;
    }
  }, 60_000);

  test("a narrow terminal: no line wider than it", async () => {
    tmux("resize-window", "-t", SESSION, "-x", "50", "-y", "12");
    tmux("send-keys", "-t", SESSION, "clear", "Enter");
    await waitForScreen((t) => t.trim() === "$", "a cleared shell");
    tmux("send-keys", "-t", SESSION, `${TOP} --socket ${plugin.socket}`, "Enter");
    const text = await waitForScreen((t) => t.includes("REQ/S"), "the table");
    expect(text.split("\n")[1]).toBe("    PID COMMAND  REQ/S    2XX    3XX    4XX    5XX");
    for (const line of text.split("\n")) expect(line.length).toBeLessThanOrEqual(50);
    tmux("send-keys", "-t", SESSION, "q");
  }, 30_000);
});
