# http-statistics as a container image.
#
# Stage "build": Debian 12 with the toolchain scripts/setup.sh installs
# (clang, llvm, bpftool for the eBPF object; Debian's libbpf1, libelf1 and
# zlib1g, whose shared libraries the binary embeds) and the bun binary copied
# from Bun's official image, so the only inputs are two base images, Debian's
# mirror and the npm registry.
# Final stage: FROM scratch with the self-contained binary and the few glibc
# files it links (ld.so, libc, libm, libpthread, libdl). No shell, no kernel
# headers, no /lib/modules: the eBPF object is compiled once, here, and
# relocated by libbpf against the running kernel's BTF.
#
#   docker build -t http-statistics .
#   podman build -t http-statistics .
# Behind a TLS-intercepting proxy, hand its CA bundle to `bun install` without
# it landing in any layer: --secret id=extra_ca,src=/etc/ssl/certs/ca-certificates.crt

ARG DEBIAN_IMAGE=docker.io/library/debian:bookworm
ARG BUN_IMAGE=docker.io/oven/bun:1.4.5

FROM ${BUN_IMAGE} AS bun

FROM ${DEBIAN_IMAGE} AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      clang llvm bpftool libbpf-dev libbpf1 libelf1 zlib1g ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/*
COPY --from=bun /usr/local/bin/bun /usr/local/bin/bun
WORKDIR /src
COPY package.json bun.lock ./
RUN --mount=type=secret,id=extra_ca \
    if [ -f /run/secrets/extra_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/extra_ca; fi; \
    bun install --frozen-lockfile --production
COPY tsconfig.json build.ts ./
COPY bpf bpf
COPY src src
ARG GIT_COMMIT=unknown
RUN HS_GIT_COMMIT=${GIT_COMMIT} bun run build.ts
# Exactly the shared objects the binary links, at the paths the loader expects.
RUN mkdir -p /runtime/usr/bin \
 && ldd dist/http-statistics | grep -o '/[^ ]*' | xargs -I{} cp --parents -L {} /runtime/ \
 && cp dist/http-statistics /runtime/usr/bin/

FROM scratch
COPY --from=build /runtime/ /
ENTRYPOINT ["/usr/bin/http-statistics"]
