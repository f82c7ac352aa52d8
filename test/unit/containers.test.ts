/** Container attribution from /proc/<pid>/cgroup, on the layouts the runtimes really write. */
import { describe, expect, test } from "bun:test";
import { containerIdFromCgroup, containerIdFromPath, ContainerResolver } from "../../src/pipeline/containers";

const A = "8b9d401329b4c50db7afb99c5671ea5e010a5c29174950dba21c79280e2049d7";
const B = "3f1e0c4a9d2b8e7f6a5c4b3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f";
const POD = "0f2c4f6e_3f63_4b8a_9c1d_2a1b3c4d5e6f";

/** A cgroup v1 file as runc writes it: the same path in every hierarchy. */
function v1(path: string, unified = path): string {
  return [
    `12:pids:${path}`, `11:memory:${path}`, `10:cpu,cpuacct:${path}`, `9:devices:${path}`,
    `1:name=systemd:${path}`, `0::${unified}`, "",
  ].join("\n");
}

describe("containerIdFromCgroup", () => {
  test.each([
    ["Podman, cgroupfs, hybrid v1 (this machine, podman run)", v1(`/libpod_parent/libpod-${A}`), A],
    ["Podman, systemd, cgroup v2", `0::/machine.slice/libpod-${A}.scope\n`, A],
    ["Podman 4, systemd, cgroup v2, process in the container's own sub-cgroup", `0::/machine.slice/libpod-${A}.scope/container\n`, A],
    ["Podman rootless, cgroup v2", `0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${A}.scope/container\n`, A],
    ["Docker, cgroupfs, cgroup v1", v1(`/docker/${A}`, "/"), A],
    ["Docker, systemd, cgroup v2", `0::/system.slice/docker-${A}.scope\n`, A],
    ["Kubernetes + containerd (CRI), systemd, cgroup v2", `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD}.slice/cri-containerd-${A}.scope\n`, A],
    ["Kubernetes + containerd (CRI), cgroupfs, cgroup v1", v1(`/kubepods/burstable/pod${POD.replaceAll("_", "-")}/${A}`), A],
    ["Kubernetes + CRI-O, systemd, cgroup v2", `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD}.slice/crio-${A}.scope\n`, A],
    ["Kubernetes + CRI-O, cgroupfs, cgroup v1", v1(`/kubepods/besteffort/pod${POD.replaceAll("_", "-")}/crio-${A}`), A],
    ["containerd through nerdctl, systemd", `0::/system.slice/nerdctl-${A}.scope\n`, A],
    ["Docker in Docker: the inner container", `0::/docker/${B}/docker/${A}\n`, A],
    ["kind: a pod container inside the node container", `0::/docker/${B}/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod${POD}.slice/cri-containerd-${A}.scope\n`, A],
    ["a systemd unit inside a container", `0::/machine.slice/libpod-${A}.scope/system.slice/nginx.service\n`, A],
  ])("%s", (_, text, id) => {
    expect(containerIdFromCgroup(text)).toBe(id);
  });

  test.each([
    ["a host process, cgroup v2", "0::/user.slice/user-0.slice/session-3.scope\n"],
    ["a host service, hybrid v1", v1("/system.slice/nginx.service")],
    ["a process in the root cgroup", v1("/", "/")],
    ["Podman's conmon, cgroupfs (this machine)", "8:pids:/libpod_parent/conmon\n4:memory:/libpod_parent/conmon\n1:name=systemd:/\n0::/\n"],
    ["Podman's conmon, systemd", `0::/machine.slice/libpod-conmon-${A}.scope\n`],
    ["CRI-O's conmon", `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD}.slice/crio-conmon-${A}.scope\n`],
    ["a 32-hex name is not a container id", "4:memory:/process_api/514fee89cd5fe654c4501057de1a5399\n0::/\n"],
    ["63 hex digits", `0::/docker/${A.slice(1)}\n`],
    ["upper-case hex", `0::/docker/${A.toUpperCase()}\n`],
    ["empty text", ""],
  ])("%s: no container", (_, text) => {
    expect(containerIdFromCgroup(text)).toBeUndefined();
  });

  test("cgroup v2's line is preferred when v1 hierarchies disagree", () => {
    expect(containerIdFromCgroup(`11:memory:/docker/${B}\n0::/system.slice/docker-${A}.scope\n`)).toBe(A);
    expect(containerIdFromCgroup(`11:memory:/docker/${B}\n0::/\n`)).toBe(B);
  });

  test("paths seen from another cgroup namespace (a plugin in a container) still name the container", () => {
    expect(containerIdFromPath(`/../../machine.slice/libpod-${A}.scope/container`)).toBe(A);
  });
});

describe("ContainerResolver", () => {
  function counting(files: Record<number, string>) {
    const reads: number[] = [];
    const resolver = new ContainerResolver((pid) => {
      reads.push(pid);
      return files[pid];
    });
    return { resolver, reads };
  }

  test("reads each pid's cgroup once, answers from its cache after", () => {
    const { resolver, reads } = counting({ 10: `0::/docker/${A}\n`, 11: "0::/user.slice\n" });
    for (let i = 0; i < 3; i++) {
      expect(resolver.containerOf(10)).toBe(A);
      expect(resolver.containerOf(11)).toBeUndefined();
    }
    expect(reads).toEqual([10, 11]);
    expect(resolver.size).toBe(2);
  });

  test("a pid already gone is remembered as outside containers, not read again each tick", () => {
    const { resolver, reads } = counting({});
    expect(resolver.containerOf(5_000_000)).toBeUndefined();
    expect(resolver.containerOf(5_000_000)).toBeUndefined();
    expect(reads).toEqual([5_000_000]);
  });

  test("forget drops exited pids: a reused pid is read afresh", () => {
    const files: Record<number, string> = { 10: `0::/docker/${A}\n` };
    const { resolver, reads } = counting(files);
    expect(resolver.containerOf(10)).toBe(A);
    resolver.forget([10]);
    expect(resolver.size).toBe(0);
    files[10] = `0::/docker/${B}\n`;
    expect(resolver.containerOf(10)).toBe(B);
    expect(reads).toEqual([10, 10]);
  });

  test("the default reader: a pid above any pid_max has no /proc entry, so no container", () => {
    expect(new ContainerResolver().containerOf(4_194_305)).toBeUndefined();
  });
});
