# fluxd and fluxctl in one image: a slim, non-root Debian runtime with what
# fluxd runs (git, ssh, gpg for signed commits, kustomize for .flux.yaml
# generators, CA certificates for TLS) and tini as PID 1 to reap the
# processes git and ssh leave behind.
#
#   docker build -t registry.example.com/flux-rs:0.1.0 .
#
# NOT BUILT HERE: the machines this project is developed and tested on have
# no container engine, so this file has never been built. What is tested
# (crates/flux-ops/tests/it/dockerfile.rs): every path it copies exists, the
# binaries it copies are the workspace's, its cargo commands are the
# README's, and those commands build fluxd and fluxctl.

ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

# fluxd and fluxctl, with the README's commands.
FROM docker.io/library/rust:${RUST_VERSION}-slim-${DEBIAN} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
COPY benches benches
COPY deploy deploy
RUN cargo install --locked --path crates/flux-daemon --root /out \
 && cargo install --locked --path crates/flux-cli --root /out

# kustomize, for `kustomize build` generators in .flux.yaml (the version
# kubectl 1.32 carries, which the tests use). Go checks the module sums.
FROM docker.io/library/golang:1.23-${DEBIAN} AS kustomize
RUN GOBIN=/out go install sigs.k8s.io/kustomize/kustomize/v5@v5.5.0

FROM docker.io/library/debian:${DEBIAN}-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates git gnupg openssh-client tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10001 --user-group --create-home --home-dir /home/flux \
      --shell /usr/sbin/nologin flux \
 && mkdir -p /etc/fluxd/ssh /var/lib/fluxd /var/fluxd/keygen \
 && chown flux:flux /var/lib/fluxd /var/fluxd/keygen
COPY --from=build /out/bin/fluxd /out/bin/fluxctl /usr/local/bin/
COPY --from=kustomize /out/kustomize /usr/local/bin/kustomize
USER 10001:10001
ENV HOME=/home/flux
# One glibc malloc arena: a sync allocates in bursts on several threads and
# each thread's arena kept its burst's pages (benches/compare/fluxd.sh, 10,000
# resources: 270 MB after the first sync, 378 MB after five more; with one
# arena 252 MB, flat). A fixed mmap threshold: glibc otherwise raises it
# after each large free, and large buffers (request bodies, pack data,
# vectors of ten thousand entries) then stay in the heap's high-water mark
# (10,000 resources and 20,000 cached tags: 119 MB without, 109 MB with).
# musl ignores both.
ENV MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=131072
EXPOSE 3030 3031
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/fluxd"]
CMD ["--state-dir=/var/lib/fluxd", "--ssh-keygen-dir=/var/fluxd/keygen"]
