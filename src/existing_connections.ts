/**
 * TCP connections that servers accepted before we attached: a keep-alive
 * connection can outlive a restart of this plugin by hours, and we could not
 * have seen its accept(). /proc/<pid>/net/tcp{,6}, read once per network
 * namespace, tells which established sockets sit on a listening port;
 * /proc/<pid>/fd tells who holds them.
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import type { ExistingConnection } from "./kernel_probe";

const TCP_ESTABLISHED = "01";
const TCP_LISTEN = "0A";

interface SocketLine {
  localPort: number;
  state: string;
  inode: string;
}

/** Parses /proc/net/tcp or tcp6 text. */
export function parseProcNetTcp(text: string): SocketLine[] {
  const rows: SocketLine[] = [];
  for (const line of text.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10) continue;
    const local = fields[1]!;
    rows.push({ localPort: parseInt(local.slice(local.indexOf(":") + 1), 16), state: fields[3]!, inode: fields[9]! });
  }
  return rows;
}

/** Inodes of established sockets whose local port has a listener: the server side. */
export function serverSideInodes(rows: SocketLine[]): Set<string> {
  const listening = new Set(rows.filter((r) => r.state === TCP_LISTEN).map((r) => r.localPort));
  return new Set(rows.filter((r) => r.state === TCP_ESTABLISHED && listening.has(r.localPort)).map((r) => r.inode));
}

function readOr(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Server-side inodes of the network namespace pid lives in (containers have their own). */
function serverSideInodesOf(procRoot: string, pid: number): Set<string> {
  const rows = [...parseProcNetTcp(readOr(`${procRoot}/${pid}/net/tcp`)), ...parseProcNetTcp(readOr(`${procRoot}/${pid}/net/tcp6`))];
  return serverSideInodes(rows);
}

export function findExistingConnections(procRoot = "/proc", excludePid = process.pid): ExistingConnection[] {
  const byNamespace = new Map<string, Set<string>>();
  const found: ExistingConnection[] = [];
  for (const entry of readdirSync(procRoot)) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === excludePid) continue;
    let fds: string[];
    let namespace: string;
    try {
      namespace = readlinkSync(`${procRoot}/${pid}/ns/net`);
      fds = readdirSync(`${procRoot}/${pid}/fd`);
    } catch {
      continue; // gone, or a kernel thread
    }
    let wanted = byNamespace.get(namespace);
    if (!wanted) byNamespace.set(namespace, (wanted = serverSideInodesOf(procRoot, pid)));
    if (wanted.size === 0) continue;
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`${procRoot}/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode && wanted.has(inode)) found.push({ pid, fd: Number(fd) });
    }
  }
  return found;
}
