#!/usr/bin/env bash
# Build the serving image with whatever container engine this machine has.
#
#   scripts/container.sh engine        print the engine to use (docker or podman)
#   scripts/container.sh setup         make sure an engine (and a base image) is available
#   scripts/container.sh build IMAGE   build the image from the Dockerfile (runs setup first)
#   scripts/container.sh swap-base BASE [DOCKERFILE]   print the Dockerfile with BASE in its FROMs
#
# Docker is used when its engine answers. Otherwise podman is used, installed from Debian's
# packages when missing (root only). The Dockerfile pins its base by digest; without a registry
# (offline CI) a base is built from Debian packages with debootstrap once, reused, and swapped
# into a temporary copy of the Dockerfile's FROM lines for the build. Environment:
#   BASE_IMAGE   build from this base instead of the Dockerfile's (swapped in the same way)
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

# The Dockerfile with the image of each FROM replaced by $1: flags (--platform), stage names
# (AS build), spacing and every other line are kept; a FROM that names an earlier stage is left
# alone. Dependabot can only update a base written out in FROM, so the Dockerfile has no ARG
# there and a build without a registry swaps its base in a copy instead.
swap_base() {
  local base=${1:?usage: scripts/container.sh swap-base BASE [DOCKERFILE]} dockerfile=${2:-Dockerfile}
  [ -f "$dockerfile" ] || { echo "error: $dockerfile not found" >&2; return 1; }
  BASE=$base awk '
    # The text of the line before its field n, spacing kept.
    function before(n,   rest, kept, i, end) {
      rest = $0; kept = ""
      for (i = 1; i < n; i++) {
        end = index(rest, $i) + length($i) - 1
        kept = kept substr(rest, 1, end); rest = substr(rest, end + 1)
      }
      return kept substr(rest, 1, index(rest, $n) - 1)
    }
    toupper($1) == "FROM" {
      image = 0
      for (i = 2; i <= NF && !image; i++) if ($i !~ /^--/) image = i
      stage = (image && toupper($(image + 1)) == "AS") ? tolower($(image + 2)) : ""
      if (image && !(tolower($image) in stages)) {
        head = before(image)
        $0 = head ENVIRON["BASE"] substr($0, length(head) + length($image) + 1)
        swapped++
      }
      if (stage != "") stages[stage] = 1
    }
    { print }
    END { exit swapped ? 0 : 3 }
  ' "$dockerfile" || { echo "error: $dockerfile has no FROM line with an image to swap" >&2; return 1; }
}

# The image of the Dockerfile's first FROM: the base a registry must serve.
pinned_base() {
  awk 'toupper($1) == "FROM" { for (i = 2; i <= NF; i++) if ($i !~ /^--/) { print $i; exit } }' Dockerfile
}

REGISTRY=""  # yes or no, once asked
registry_reachable() {
  if [ -z "$REGISTRY" ]; then
    if timeout 20 podman pull --quiet "$(pinned_base)" >/dev/null 2>&1; then
      REGISTRY=yes
    else
      REGISTRY=no
    fi
  fi
  [ "$REGISTRY" = yes ]
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

# The base to build from instead of the Dockerfile's, and why; none: the Dockerfile's own.
SWAP_BASE="" SWAP_REASON=""
choose_base() {
  if [ -n "${BASE_IMAGE:-}" ]; then
    SWAP_BASE=$BASE_IMAGE SWAP_REASON="BASE_IMAGE is set"
  elif [ "$(engine)" = podman ] && ! registry_reachable; then
    SWAP_BASE=$LOCAL_BASE SWAP_REASON="no registry is reachable"
  fi
}

SCRATCH=""  # the swapped Dockerfile's folder, removed on exit
trap '[ -z "$SCRATCH" ] || rm -rf "$SCRATCH"' EXIT

build() {
  local image=${1:?usage: scripts/container.sh build IMAGE}
  [ -f models/model.onnx ] && [ -f models/signature.json ] \
    || { echo "error: models/model.onnx is missing: run \`make run\` first" >&2; exit 1; }
  setup
  local tool args dockerfile=Dockerfile
  tool=$(engine)
  choose_base
  if [ -n "$SWAP_BASE" ]; then
    SCRATCH=$(mktemp -d -t conveyor-build.XXXXXX)
    dockerfile=$SCRATCH/Dockerfile
    swap_base "$SWAP_BASE" >"$dockerfile"
    echo "building from $SWAP_BASE instead of the Dockerfile's $(pinned_base) ($SWAP_REASON)" >&2
  fi
  args=(build --file "$dockerfile" --tag "$image"
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
  swap-base) shift; swap_base "$@" ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
