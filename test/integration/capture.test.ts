/**
 * Which kernel hooks each capture front-end really sits on, read back from
 * the kernel while the plugin runs: the default touches no syscall
 * tracepoint (so no other syscall of the machine pays for it), the fallback
 * only the syscall exits and the socket state changes; both add uprobes on
 * TLS libraries (docs/tls.md), as uprobe_multi links, one per program and file.
 */
import { expect, test } from "bun:test";
import { uprobeLinksOf } from "../support/kernel_maps";
import { startPlugin, type RunningPlugin } from "../support/plugin";

/** "<kind>:<tracepoint or file>" for each program the process holds attached, as `bpftool perf` lists them. */
function hooksOf(pid: number): string[] {
  const perf = JSON.parse(Bun.spawnSync(["bpftool", "perf", "show", "-j"]).stdout.toString() || "[]") as Array<{ pid: number; fd_type: string; tracepoint?: string; filename?: string }>;
  return perf
    .filter((p) => p.pid === pid)
    .map((p) => `${p.fd_type}:${p.tracepoint ?? p.filename ?? "?"}`)
    .sort();
}

/** The TLS library probes (docs/tls.md) are uprobes on library files, whichever capture runs (perf events only on kernels before 6.6). */
const isTlsProbe = (hook: string) => hook.startsWith("uprobe:") || hook.startsWith("uretprobe:");

async function withPlugin<T>(args: string[], body: (plugin: RunningPlugin) => Promise<T> | T): Promise<T> {
  const plugin = await startPlugin({ args });
  try {
    return await body(plugin);
  } finally {
    await plugin.stop();
  }
}

test("the default capture sits on the two socket tracepoints and the TCP state changes, and on no syscall tracepoint", async () => {
  await withPlugin(["--capture=auto"], async (plugin) => {
    const hooks = hooksOf(plugin.proc.pid);
    // inet_sock_set_state fires a few times per TCP connection, not per call: bodies that end with the connection.
    expect(hooks.filter((h) => !isTlsProbe(h))).toEqual(["raw_tracepoint:inet_sock_set_state", "raw_tracepoint:sock_recv_length", "raw_tracepoint:sock_send_length"]);
    expect(hooks.filter((h) => /sys_(enter|exit)/.test(h))).toEqual([]);
    // The host's libssl: one link for the entries of its internal read and write functions, SSL_clear and SSL_free, one for the two returns.
    const libssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
    expect(hooks.filter(isTlsProbe)).toEqual([]);
    const links = uprobeLinksOf(plugin.proc.pid).filter((l) => l.path === libssl);
    expect(links.map((l) => ({ retprobe: l.retprobe, probes: l.probes })).sort((a, b) => Number(a.retprobe) - Number(b.retprobe))).toEqual([
      { retprobe: false, probes: 4 },
      { retprobe: true, probes: 2 },
    ]);
    await plugin.stop();
    // The walk of existing unix sockets ran once at start and is detached.
    expect(await plugin.stderr()).toContain("capture: socket layer (sock_recv_length, sock_send_length), 3 programs attached");
  });
}, 30_000);

test("--capture=syscalls sits on the data syscalls' exits, the socket state changes and io_uring completions only", async () => {
  await withPlugin(["--capture=syscalls"], async (plugin) => {
    const exits = ["read", "readv", "recvfrom", "recvmsg", "recvmmsg", "sendfile64", "sendmsg", "sendmmsg", "sendto", "splice", "write", "writev"];
    expect(hooksOf(plugin.proc.pid).filter((h) => !isTlsProbe(h))).toEqual(
      [...exits.map((call) => `tracepoint:sys_exit_${call}`), "tracepoint:inet_sock_set_state", "tracepoint:io_uring_complete"].sort(),
    );
    await plugin.stop();
    // One program on the twelve exits (verified once), one on each of the other two.
    expect(await plugin.stderr()).toContain("capture: syscall exits (fallback for kernels without the socket tracepoints), 3 programs attached to 14 hooks");
  });
}, 30_000);
