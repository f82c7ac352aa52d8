/**
 * Which container a process runs in, read from its cgroup path: every
 * container runtime puts a container's processes in a cgroup named after
 * the container's 64-hex id, which is the id Scope's own container nodes
 * carry. Pure parsing plus a per-pid cache; the only I/O is one read of
 * /proc/<pid>/cgroup the first time a pid is asked about.
 */
import { readFileSync } from "node:fs";

/**
 * One cgroup path segment that names a container, as the runtimes write it:
 * - `<id>`: Docker and containerd with cgroupfs (`/docker/<id>`, `/default/<id>`),
 *   Kubernetes with cgroupfs (`/kubepods/burstable/pod<uid>/<id>`), ECS;
 * - `docker-<id>.scope`: Docker with the systemd driver;
 * - `libpod-<id>` (cgroupfs) and `libpod-<id>.scope` (systemd): Podman;
 * - `cri-containerd-<id>.scope`: containerd's CRI plugin (Kubernetes), systemd driver;
 * - `crio-<id>.scope` and `crio-<id>`: CRI-O;
 * - `nerdctl-<id>.scope`: containerd through nerdctl.
 * Runtime helpers outside the container (`libpod-conmon-<id>.scope`,
 * `crio-conmon-<id>.scope`, `/libpod_parent/conmon`) do not match.
 */
const CONTAINER_SEGMENT = /^(?:(?:docker|libpod|cri-containerd|crio|nerdctl)-)?([0-9a-f]{64})(?:\.scope)?$/;

/**
 * The container id in one cgroup path. The innermost segment wins: a
 * process in a cgroup the container made for itself (`libpod-<id>.scope/container`,
 * a systemd unit inside the container) is still the container's, and with
 * containers nested in containers (Docker in Docker, kind) the innermost
 * one is the container the process belongs to.
 */
export function containerIdFromPath(path: string): string | undefined {
  const segments = path.split("/");
  for (let i = segments.length - 1; i >= 0; i--) {
    const match = CONTAINER_SEGMENT.exec(segments[i]!);
    if (match) return match[1];
  }
  return undefined;
}

/**
 * The container id in the text of /proc/<pid>/cgroup (`hierarchy:controllers:path`
 * lines). cgroup v2's single line (`0::/path`) is preferred; on cgroup v1
 * and hybrid hosts any controller's path that names a container will do,
 * since a runtime places a container in the same path in every hierarchy.
 */
export function containerIdFromCgroup(text: string): string | undefined {
  let fromV1: string | undefined;
  for (const line of text.split("\n")) {
    const second = line.indexOf(":", line.indexOf(":") + 1);
    if (second < 0) continue;
    const id = containerIdFromPath(line.slice(second + 1));
    if (!id) continue;
    if (line.startsWith("0::")) return id;
    fromV1 ??= id;
  }
  return fromV1;
}

function readProcCgroup(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cgroup`, "utf8");
  } catch {
    return undefined; // the process is gone
  }
}

/**
 * Container of each pid, looked up once and kept until forget(): a process
 * does not change container. A pid whose /proc entry is already gone is
 * remembered as outside any container (its counts still show on its process
 * and host nodes), so an unreadable pid costs one failed open, not one a tick.
 */
export class ContainerResolver {
  private readonly byPid = new Map<number, string | null>();

  constructor(private readonly readCgroup: (pid: number) => string | undefined = readProcCgroup) {}

  containerOf(pid: number): string | undefined {
    let id = this.byPid.get(pid);
    if (id === undefined) {
      const text = this.readCgroup(pid);
      id = (text === undefined ? undefined : containerIdFromCgroup(text)) ?? null;
      this.byPid.set(pid, id);
    }
    return id ?? undefined;
  }

  /** Forgets processes that exited, so a reused pid is looked up afresh. */
  forget(pids: Iterable<number>): void {
    for (const pid of pids) this.byPid.delete(pid);
  }

  get size(): number {
    return this.byPid.size;
  }
}
