# The etcd-registrar image: built from source on Debian bookworm, run as a numeric non-root user
# with only the shared libraries the binary loads. docs/image.md: how to build and run it.
#
#   make image                 # here: base made with mmdebstrap, buildah bud (scripts/image.sh)
#   docker build -t etcd-registrar:0.1.0 .   # with Docker and a registry (debian:bookworm-slim)
#
# buildah 1.28 / BuildKit syntax only: RUN --mount=type=cache, no heredocs, no COPY --link.

# Build stage: the same install script and CMake build as CI (`make build`: Ninja, the default
# RelWithDebInfo), only the etcd-registrar target, tests and benchmarks not configured.
FROM debian:bookworm-slim AS build
COPY scripts/install-deps.sh /src/scripts/install-deps.sh
RUN /src/scripts/install-deps.sh --build
COPY CMakeLists.txt /src/
COPY controller /src/controller
COPY scripts/runtime-packages.sh /src/scripts/
WORKDIR /src
# ccache lives in a cache mount: kept between builds on this machine, not in any layer. When the
# builder mounts the host's own ccache at /host-ccache (scripts/image.sh does: buildah bud -v),
# that one is used instead, so the objects `make build` has just compiled are hits here (same
# compiler and flags; paths relative to /src) and the image's compiles go back to the host.
ENV CCACHE_DIR=/ccache CCACHE_MAXSIZE=2G
RUN --mount=type=cache,target=/ccache,id=etcd-registrar-ccache \
    if [ -d /host-ccache ]; then export CCACHE_DIR=/host-ccache && unset CCACHE_MAXSIZE; fi \
 && export CCACHE_STATSLOG=/tmp/ccache-stats.log \
 && cmake -S . -B build -G Ninja -DER_BUILD_TESTS=OFF -DER_BUILD_BENCH=OFF \
 && cmake --build build --target etcd-registrar \
 && ccache --show-log-stats --verbose | grep -E 'Hits|Misses' \
 && mkdir /out \
 && strip --strip-debug -o /out/etcd-registrar build/etcd-registrar \
 && scripts/runtime-packages.sh build/etcd-registrar > /out/runtime-packages

# Runtime stage: the base plus the packages holding the libraries the binary loads (ldd + dpkg -S,
# scripts/runtime-packages.sh: grpc++, protobuf, cpprest, yaml-cpp, spdlog/fmt, absl, OpenSSL...).
FROM debian:bookworm-slim
COPY --from=build /out/runtime-packages /tmp/runtime-packages
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      $(cat /tmp/runtime-packages) \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log /tmp/runtime-packages \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin nonroot
COPY --from=build /out/etcd-registrar /usr/local/bin/etcd-registrar
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/etcd-registrar"]
# make image passes these; the VERSION default is kept equal to project() in CMakeLists.txt (the
# image test checks it), SOURCE and REVISION are empty unless given (no public URL is known).
# Declared last: a new commit changes only the label layer.
ARG VERSION=0.1.0
ARG SOURCE=
ARG REVISION=
LABEL org.opencontainers.image.title="etcd-registrar" \
      org.opencontainers.image.description="Kubernetes controller that publishes go-zero service registrations into etcd" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="NOASSERTION" \
      org.opencontainers.image.base.name="debian:bookworm-slim"
