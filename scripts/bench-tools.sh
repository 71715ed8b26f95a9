#!/usr/bin/env bash
# Install what `make bench-serve` needs beyond the project's environment: wrk, the load
# generator, and taskset (util-linux), which pins the server and the load to separate CPUs
# (without it the run is measured unpinned and says so). Debian/Ubuntu as root installs both
# with apt; elsewhere a missing wrk stops the run with what to install.
set -euo pipefail

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${missing[*]} from Debian's packages" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
elif ! command -v wrk >/dev/null 2>&1; then
  echo "error: bench-serve and bench-drift need wrk: apt-get install wrk (as root), or brew install wrk" >&2
  exit 1
fi
