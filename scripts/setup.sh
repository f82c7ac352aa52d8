#!/usr/bin/env bash
# Installs what building and testing http-statistics needs on Debian 12.
#
#   scripts/setup.sh             everything: the build toolchain, the real servers
#                                and clients the tests drive, and the benchmark peers
#   scripts/setup.sh --build     only what `bun run build` needs (clang, llvm,
#                                bpftool, libbpf, Bun)
#   add --dry-run                print the commands instead of running them
#
# Idempotent; run as root. Running the built binary needs none of this.
set -euo pipefail

mode=all
dry_run=false
for arg in "$@"; do
  case "$arg" in
    --build) mode=build ;;
    --dry-run) dry_run=true ;;
    -h|--help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown argument '$arg' (--build, --dry-run)" >&2; exit 1 ;;
  esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (sudo $0)" >&2
  exit 1
fi

run() {
  if $dry_run; then echo "would run: $*"; else "$@"; fi
}

build_packages=(
  clang llvm bpftool libbpf-dev   # compile and link bpf/*.bpf.c
  libbpf1 libelf1 zlib1g           # copied into the binary by build.ts (the host needs none of them)
)
test_packages=(
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
  python3-gunicorn                 # the JSON API `bun run bench --only=service` measures, and a WSGI server on a unix socket behind nginx in the tests (both under /usr/bin/python3)
  uwsgi-core uwsgi-plugin-python3  # uwsgi --http-socket, whose response bodies end with the connection
  varnish                          # a reverse proxy that writes HTTP in many writev segments
  nghttp2-server nghttp2-client    # h2c server (nghttpd) and clients (h2load, nghttp) of the HTTP/2 tests
  python3-h2                       # the reference HPACK decoder of the HTTP/2 fuzz, the h2c Upgrade server (/usr/bin/python3)
  python3-grpcio                   # gRPC server and client of the HTTP/2 tests (/usr/bin/python3)
  python3-hypercorn                # an ASGI server answering h2c with prior knowledge in the HTTP/2 tests (/usr/bin/python3)
  openssl gnutls-bin               # HTTPS tests: certificates; gnutls-serv, a TLS library we do not decode
  golang-go                        # HTTPS tests: builds the Go crypto/tls server and client (test/fixtures/go_tls)
  libssl-dev                       # HTTPS tests: the OpenSSL server that renegotiates and client that reuses its SSL object (test/fixtures/tls_session.c, compiled at test time)
)
packages=("${build_packages[@]}")
[ "$mode" = all ] && packages+=("${test_packages[@]}")
# Bun comes from npm, and Debian's nodejs package ships without npm.
command -v bun >/dev/null 2>&1 || command -v npm >/dev/null 2>&1 || packages+=(npm)

installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}
missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  # Wait for another apt or unattended-upgrades to finish instead of failing at once.
  apt_get=(apt-get -o DPkg::Lock::Timeout=600)
  run "${apt_get[@]}" update -qq
  run env DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq --no-install-recommends "${missing[@]}"
fi
# The Debian nginx, prometheus and varnish packages start servers (ports 80, 9090, 6081); the tests start their own.
if [ "$mode" = all ] && ! $dry_run; then systemctl disable --now nginx prometheus varnish >/dev/null 2>&1 || true; fi

if ! command -v bun >/dev/null 2>&1; then
  run npm install -g --silent bun@1.4.5
fi

cd "$(dirname "$0")/.."
run bun install --frozen-lockfile --silent
$dry_run || echo "setup.sh: ready for $([ "$mode" = all ] && echo "building and testing" || echo "building") (bun $(bun --version), clang $(clang -dumpversion), $(bpftool version | head -1))"
