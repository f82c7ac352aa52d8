#!/usr/bin/env bash
# Installs what building and testing http-statistics needs on Debian 12:
# the eBPF toolchain, the real servers and clients the tests drive, and Bun.
# Idempotent; run as root. Running the built binary needs none of this.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (sudo $0)" >&2
  exit 1
fi

packages=(
  clang llvm bpftool libbpf-dev   # compile and link bpf/*.bpf.c
  libbpf1 libelf1 zlib1g           # copied into the binary by build.ts (the host needs none of them)
  nginx-light curl python3 wrk     # real servers and clients for the tests
  nodejs                           # Node http server and fetch client in the tests
  iproute2 util-linux              # network namespaces and setpriv in the tests
  debootstrap                      # the bare Debian root the packaging tests run the binary in
  buildah podman runc              # build and run the image without a Docker engine
  bpftrace                         # the peer `bun run bench` compares against
  liburing-dev                     # the io_uring server of the accuracy suite (compiled at test time)
  libpcap0.8 libdbus-1-3           # what the Weave Scope binary the UI tests run links ($SCOPE_BINARY)
  chromium fonts-dejavu-core       # headless browser that renders Scope's UI in the tests
  prometheus                       # scrapes --listen in the tests; its promtool checks /metrics
  tmux                             # the terminal `http-statistics top` is tested in
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian nginx and prometheus packages start servers (ports 80, 9090); the tests start their own.
systemctl disable --now nginx prometheus >/dev/null 2>&1 || true

if ! command -v bun >/dev/null 2>&1; then
  command -v npm >/dev/null 2>&1 || { echo "setup.sh: npm is needed to install bun (apt-get install npm)" >&2; exit 1; }
  npm install -g --silent bun@1.4.5 >/dev/null
fi

cd "$(dirname "$0")/.."
bun install --frozen-lockfile >/dev/null
echo "setup.sh: ready (bun $(bun --version), clang $(clang -dumpversion), $(bpftool version | head -1))"
