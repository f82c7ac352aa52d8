/**
 * Podman for the tests, with no registry: the Debian base image is made
 * from the cached debootstrap rootfs, and an nginx image from it plus this
 * host's own nginx binary and the libraries it links. Both are built once
 * and reused by name.
 */
import { $ } from "bun";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./plugin";
import { ensureRootfs } from "./rootfs";

// crun fails here; runc with cgroupfs works, given explicit limits no higher than ours.
export const GLOBAL = ["--runtime", "runc", "--cgroup-manager", "cgroupfs"];

function ownHardLimit(name: string): number {
  const row = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith(name));
  const hard = row?.slice(name.length).trim().split(/\s+/)[1];
  return !hard || hard === "unlimited" ? Infinity : Number(hard);
}
const NOFILE = Math.min(16384, ownHardLimit("Max open files"));
const NPROC = Math.min(16384, ownHardLimit("Max processes"));
export const LIMITS = ["--ulimit", `nofile=${NOFILE}:${NOFILE}`, "--ulimit", `nproc=${NPROC}:${NPROC}`];

export function requirePodman(): void {
  for (const tool of ["podman", "buildah", "runc"])
    if (!Bun.which(tool, { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" })) throw new Error(`${tool} is missing: run scripts/setup.sh`);
}

export async function podman(args: string[], what: string): Promise<string> {
  const r = await $`podman ${GLOBAL} ${args}`.cwd(REPO).nothrow().quiet();
  if (r.exitCode !== 0) throw new Error(`${what} failed (podman ${args.join(" ")}):\n${r.stdout.toString().slice(-3000)}\n${r.stderr.toString().slice(-3000)}`);
  return r.stdout.toString();
}

export async function imageExists(name: string): Promise<boolean> {
  return (await $`podman ${GLOBAL} image exists ${name}`.nothrow().quiet()).exitCode === 0;
}

export function dockerfileArg(name: string): string {
  const value = new RegExp(`^ARG ${name}=(\\S+)$`, "m").exec(readFileSync(join(REPO, "Dockerfile"), "utf8"))?.[1];
  if (!value) throw new Error(`Dockerfile has no default for ARG ${name}`);
  return value;
}

/** Debian 12 under the name the Dockerfile's FROM uses, made from the cached debootstrap rootfs. */
export async function ensureDebianImage(): Promise<string> {
  const debian = dockerfileArg("DEBIAN_IMAGE");
  if (!(await imageExists(debian))) {
    const { path } = await ensureRootfs();
    const r = await $`tar -C ${path} --exclude=./.http-statistics-rootfs-complete -c . | podman ${GLOBAL} import -q - ${debian}`.nothrow().quiet();
    if (r.exitCode !== 0) throw new Error(`importing ${debian} failed: ${r.stderr}`);
  }
  return debian;
}

export const NGINX_IMAGE = "localhost/http-statistics-test-nginx:1";

/** Debian plus the host's /usr/sbin/nginx and every library ldd names for it. */
export async function ensureNginxImage(): Promise<string> {
  if (await imageExists(NGINX_IMAGE)) return NGINX_IMAGE;
  const base = await ensureDebianImage();
  const libraries = [...(await $`ldd /usr/sbin/nginx`.text()).matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!);
  const ctr = (await $`buildah from --pull=never ${base}`.text()).trim();
  try {
    for (const file of ["/usr/sbin/nginx", ...libraries]) await $`buildah copy -q ${ctr} ${file} ${file}`.quiet();
    await $`buildah config --cmd '[]' --entrypoint '["/usr/sbin/nginx"]' ${ctr}`.quiet();
    await $`buildah commit -q ${ctr} ${NGINX_IMAGE}`.quiet();
  } finally {
    await $`buildah rm ${ctr}`.nothrow().quiet();
  }
  return NGINX_IMAGE;
}

export interface NginxContainer {
  name: string;
  /** The full 64-hex id, as Scope and the plugin name the container. */
  id: string;
  /** Host pids: the master (the container's first process) and its one worker. */
  masterPid: number;
  workerPid: number;
  stop(): Promise<void>;
}

/**
 * nginx in a container of its own (own cgroup, pid and mount namespaces),
 * on the host's network so loopback reaches it. One worker, so one process
 * serves every request. GET /status/NNN answers NNN. `tls`: HTTPS, with the
 * cert.pem and key.pem the caller put in `dir`.
 */
export async function runNginxContainer(name: string, port: number, codes: number[], dir: string, options: { tls?: boolean } = {}): Promise<NginxContainer> {
  const locations = codes.map((code) => `location = /status/${code} { return ${code} "status ${code}\\n"; }`).join("\n    ");
  await Bun.write(
    join(dir, "nginx.conf"),
    `worker_processes 1;
daemon off;
user root;
pid /tmp/nginx.pid;
error_log stderr;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path /tmp/body;
  proxy_temp_path /tmp/proxy;
  fastcgi_temp_path /tmp/fastcgi;
  uwsgi_temp_path /tmp/uwsgi;
  scgi_temp_path /tmp/scgi;
  server {
    listen 127.0.0.1:${port}${options.tls ? " ssl" : ""};
    ${options.tls ? "ssl_certificate /etc/test-nginx/cert.pem; ssl_certificate_key /etc/test-nginx/key.pem;" : ""}
    ${locations}
  }
}
`,
  );
  await $`podman ${GLOBAL} rm -f ${name}`.nothrow().quiet();
  const id = (
    await podman(
      ["run", "-d", "--name", name, "--net=host", ...LIMITS, "-v", `${dir}:/etc/test-nginx:ro`, NGINX_IMAGE, "-c", "/etc/test-nginx/nginx.conf", "-e", "stderr"],
      "starting the nginx container",
    )
  ).trim();
  const masterPid = Number((await podman(["inspect", "--format", "{{.State.Pid}}", name], "inspecting the nginx container")).trim());
  let workerPid = 0;
  for (let i = 0; i < 200 && !workerPid; i++) {
    workerPid = Number(readFileSync(`/proc/${masterPid}/task/${masterPid}/children`, "utf8").trim().split(/\s+/)[0] || 0);
    if (!workerPid) await Bun.sleep(25);
  }
  if (!workerPid) throw new Error(`nginx in container ${name} started no worker`);
  return {
    name,
    id,
    masterPid,
    workerPid,
    async stop() {
      await $`podman ${GLOBAL} rm -f -t 2 ${name}`.nothrow().quiet();
    },
  };
}
