# shellcheck shell=bash
# Sourced by the scripts that install a test's tools (scripts/kubernetes-tools.sh): install
# Debian (or Ubuntu) packages the one way, so each tools script only says which and why.
#
#   apt_install PACKAGE...   install them; non-zero, with the reason on stderr, when it cannot
#
# Root runs apt-get itself; anyone else only with sudo that asks no password (a test must never
# hang on a prompt). Two test sessions may start together: one installer at a time (flock,
# util-linux's, when present), and `apt-get update` first, as a fresh machine has no lists.

apt_install() {
  local as_root=()
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get is not here: install $* yourself" >&2
    return 1
  elif [ "$(id -u)" != 0 ]; then
    if ! { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; then
      echo "apt-get needs root or password-less sudo: install $* yourself" >&2
      return 1
    fi
    as_root=(sudo -n)
  fi
  (
    if command -v flock >/dev/null 2>&1; then
      exec 9>"${TMPDIR:-/tmp}/conveyor-apt-install.lock"
      flock 9
    fi
    echo "installing $* with apt-get (apt-get update first)"
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
      "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
  ) || {
    echo "apt-get install $* failed: install it yourself" >&2
    return 1
  }
}
