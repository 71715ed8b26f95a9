#!/usr/bin/env bash
# Build the serving image with whatever container engine this machine has.
#
#   scripts/container.sh engine        print the engine to use (docker or podman)
#   scripts/container.sh setup         make sure an engine (and a base image) is available
#   scripts/container.sh build IMAGE   build the image from the Dockerfile (runs setup first)
#
# Docker is used when its engine answers. Otherwise podman is used, installed from Debian's
# packages when missing (root only). Without a registry (offline CI), the base image is built
# from Debian packages with debootstrap once and reused. Environment:
#   BASE_IMAGE   base image for both stages (default: python:3.12-slim, or the local base)
#   GIT_SHA, VERSION, SOURCE_URL, CREATED   OCI label values
set -euo pipefail
cd "$(dirname "$0")/.."

LOCAL_BASE=localhost/conveyor-base:bookworm
TOOLS_DIR=.tools
export CONTAINERS_CONF="${CONTAINERS_CONF:-$PWD/$TOOLS_DIR/containers.conf}"

engine() {
  if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
    echo docker
  else
    echo podman
  fi
}

install_podman() {
  if command -v podman >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1 \
    && command -v iptables >/dev/null 2>&1; then
    return
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "error: no Docker engine and no podman; install podman (or Docker) first" >&2
    exit 1
  fi
  echo "installing podman, buildah, runc and debootstrap from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends podman buildah runc debootstrap uidmap \
    slirp4netns fuse-overlayfs netavark aardvark-dns iptables ca-certificates >/dev/null
}

configure_podman() {
  # crun fails on hybrid cgroups here, and podman's default ulimits can exceed root's limits.
  mkdir -p "$(dirname "$CONTAINERS_CONF")"
  local nofile nproc
  nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
  nproc=$(ulimit -Hu); [ "$nproc" = unlimited ] && nproc=32768
  [ "$nofile" -gt 20000 ] && nofile=20000
  [ "$nproc" -gt 32768 ] && nproc=32768
  cat >"$CONTAINERS_CONF" <<CONF
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
[engine]
runtime = "runc"
CONF
}

registry_reachable() {
  timeout 20 podman pull --quiet docker.io/library/python:3.12-slim >/dev/null 2>&1
}

build_local_base() {
  if podman image exists "$LOCAL_BASE"; then
    return
  fi
  echo "building $LOCAL_BASE from Debian packages (debootstrap, about a minute)" >&2
  local mirror rootfs
  mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Created-By: Packages' \
    | grep -v security | head -1)
  mirror=${mirror:-http://deb.debian.org/debian/}
  rootfs=$(mktemp -d)
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "$mirror" >/dev/null
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar --numeric-owner -C "$rootfs" -c . \
    | podman import --change 'CMD ["/bin/bash"]' - "$LOCAL_BASE" >/dev/null
  rm -rf "$rootfs"
}

setup() {
  if [ "$(engine)" = docker ]; then
    return
  fi
  install_podman
  configure_podman
  if [ -z "${BASE_IMAGE:-}" ] && ! registry_reachable; then
    build_local_base
  fi
}

base_image() {
  if [ -n "${BASE_IMAGE:-}" ]; then
    echo "$BASE_IMAGE"
  elif [ "$(engine)" = podman ] && podman image exists "$LOCAL_BASE"; then
    echo "$LOCAL_BASE"
  else
    echo python:3.12-slim
  fi
}

build() {
  local image=${1:?usage: scripts/container.sh build IMAGE}
  [ -f models/model.onnx ] && [ -f models/signature.json ] \
    || { echo "error: models/model.onnx is missing: run \`make run\` first" >&2; exit 1; }
  setup
  local tool args
  tool=$(engine)
  args=(build --tag "$image"
    --build-arg "BASE_IMAGE=$(base_image)"
    --build-arg "GIT_SHA=${GIT_SHA:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}"
    --build-arg "VERSION=${VERSION:-$(git describe --tags --always 2>/dev/null || echo 0.0.0)}"
    --build-arg "SOURCE_URL=${SOURCE_URL:-https://github.com/conveyor-ml/conveyor}"
    --build-arg "CREATED=${CREATED:-$(date -u +%Y-%m-%dT%H:%M:%SZ)}")
  if [ "$tool" = podman ]; then
    args+=(--format docker)  # the OCI format drops HEALTHCHECK
  fi
  if [ -n "${SSL_CERT_FILE:-}" ] && [ -f "${SSL_CERT_FILE}" ]; then
    args+=(--secret "id=pipca,src=$SSL_CERT_FILE" --build-arg PIP_CERT=/run/secrets/pipca)
  fi
  "$tool" "${args[@]}" .
}

case "${1:-}" in
  engine) engine ;;
  setup) setup ;;
  build) shift; build "$@" ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
