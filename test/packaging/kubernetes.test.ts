/**
 * Issue 5, Kubernetes: no cluster here, so the DaemonSet is parsed and the
 * fields a node needs are checked, cross-checked against the code and the
 * Dockerfile they must agree with (socket path, flags, entrypoint, version).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import pkg from "../../package.json";
import { DEFAULT_SOCKET, parseArgs } from "../../src/cli";
import { REPO } from "../support/plugin";

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string> };
  spec: {
    selector: { matchLabels: Record<string, string> };
    updateStrategy: { type: string };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        hostPID: boolean;
        hostNetwork: boolean;
        dnsPolicy: string;
        automountServiceAccountToken: boolean;
        nodeSelector: Record<string, string>;
        tolerations: Array<Record<string, string>>;
        containers: Array<{
          name: string;
          image: string;
          args: string[];
          securityContext: {
            privileged: boolean;
            readOnlyRootFilesystem: boolean;
            runAsUser: number;
            capabilities: { drop: string[]; add: string[] };
          };
          resources: { requests: { cpu: string; memory: string }; limits: { cpu: string; memory: string } };
          readinessProbe: { exec: { command: string[] }; periodSeconds: number; timeoutSeconds: number };
          volumeMounts: Array<{ name: string; mountPath: string }>;
        }>;
        volumes: Array<{ name: string; hostPath: { path: string; type: string } }>;
      };
    };
  };
}

const text = readFileSync(join(REPO, "deploy", "kubernetes", "http-statistics.yaml"), "utf8");
const manifest = Bun.YAML.parse(text) as Manifest;
const pod = manifest.spec.template.spec;
const container = pod.containers[0]!;
const PLUGINS_DIR = dirname(dirname(DEFAULT_SOCKET));

function mebibytes(quantity: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (!m) throw new Error(`unexpected memory quantity ${quantity}`);
  return Number(m[1]) * (m[2] === "Gi" ? 1024 : 1);
}

function millicores(quantity: string): number {
  return quantity.endsWith("m") ? Number(quantity.slice(0, -1)) : Number(quantity) * 1000;
}

function hostPathMountedAt(mountPath: string): string | undefined {
  const mount = container.volumeMounts.find((m) => m.mountPath === mountPath);
  return pod.volumes.find((v) => v.name === mount?.name)?.hostPath?.path;
}

describe("deploy/kubernetes/http-statistics.yaml", () => {
  test("is one apps/v1 DaemonSet whose selector picks its own pods", () => {
    expect(text.split(/^---$/m)).toHaveLength(1);
    expect(manifest.apiVersion).toBe("apps/v1");
    expect(manifest.kind).toBe("DaemonSet");
    expect(manifest.metadata.namespace).toBe("weave");
    for (const [key, value] of Object.entries(manifest.spec.selector.matchLabels)) expect(manifest.spec.template.metadata.labels[key]).toBe(value);
    expect(manifest.spec.updateStrategy.type).toBe("RollingUpdate");
    expect(pod.containers).toHaveLength(1);
  });

  test("shares the host's pids and hostname, and runs on every x86_64 Linux node whatever its taints", () => {
    expect(pod.hostPID).toBe(true);
    expect(pod.hostNetwork).toBe(true);
    expect(pod.dnsPolicy).toBe("ClusterFirstWithHostNet");
    expect(pod.tolerations).toEqual([{ operator: "Exists" }]);
    expect(pod.nodeSelector).toEqual({ "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64" });
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  test("serves the socket Scope's probe looks for, in the host's plugins directory", () => {
    expect(PLUGINS_DIR).toBe("/var/run/scope/plugins");
    expect(hostPathMountedAt(PLUGINS_DIR)).toBe(PLUGINS_DIR);
    expect(pod.volumes.find((v) => v.hostPath.path === PLUGINS_DIR)?.hostPath.type).toBe("DirectoryOrCreate");
    expect(parseArgs(container.args).socket).toBe(DEFAULT_SOCKET);
  });

  test("mounts the host's tracefs and nothing of kernel headers, /lib/modules or debugfs", () => {
    expect(hostPathMountedAt("/sys/kernel/tracing")).toBe("/sys/kernel/tracing");
    const hostPaths = pod.volumes.map((v) => v.hostPath.path).sort();
    expect(hostPaths).toEqual(["/sys/kernel/tracing", "/var/run/scope/plugins"]);
  });

  test("gets only CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN and CAP_SYS_PTRACE, not privileged, on a read-only root", () => {
    const security = container.securityContext;
    expect(security.privileged).toBe(false);
    expect(security.runAsUser).toBe(0);
    expect(security.readOnlyRootFilesystem).toBe(true);
    expect(security.capabilities).toEqual({ drop: ["ALL"], add: ["BPF", "PERFMON", "SYS_ADMIN", "SYS_PTRACE"] });
  });

  test("requests no more than it is limited to, and enough memory for the plugin plus its probe", () => {
    const { requests, limits } = container.resources;
    expect(millicores(requests.cpu)).toBeLessThanOrEqual(millicores(limits.cpu));
    expect(mebibytes(requests.memory)).toBeLessThanOrEqual(mebibytes(limits.memory));
    // ~50 MiB resident + ~20 MiB of maps + a ~45 MiB probe process, with headroom.
    expect(mebibytes(limits.memory)).toBeGreaterThanOrEqual(192);
  });

  test("is ready when the binary's own --health-check gets a report from the socket", () => {
    const entrypoint = /^ENTRYPOINT \["([^"]+)"\]$/m.exec(readFileSync(join(REPO, "Dockerfile"), "utf8"))?.[1];
    const [command, ...args] = container.readinessProbe.exec.command;
    expect(command).toBe(entrypoint!);
    const options = parseArgs(args);
    expect(options.healthCheck).toBe(true);
    expect(options.socket).toBe(parseArgs(container.args).socket);
    expect(container.readinessProbe.timeoutSeconds).toBeGreaterThan(2); // --health-check gives up after 2 s
    expect(container.readinessProbe.periodSeconds).toBeGreaterThanOrEqual(container.readinessProbe.timeoutSeconds);
  });

  test("runs the image of this version", () => {
    expect(container.image.split(":").pop()).toBe(pkg.version);
  });
});
