#!/usr/bin/env bash
# Install what the monitoring tests (tests/monitoring) need beyond the project's environment,
# and say what it does; run again, it does nothing more:
#   - promtool, Prometheus's checker (`promtool check rules`, `promtool test rules`):
#     $PROMTOOL if set, else promtool on PATH, else Debian's (and Ubuntu's) `prometheus`
#     package, which ships it, installed with apt-get as root or with password-less sudo.
# The package's service is not started (a container's policy-rc.d forbids it; elsewhere it is
# stopped at once, as the tests need only the checker). Ends with `promtool=PATH`.
set -euo pipefail

say() { echo "monitoring-tools: $*"; }
fail() {
  echo "monitoring-tools: error: $*" >&2
  exit 1
}

# Root runs apt-get itself; anyone else only with sudo that asks no password.
sudo_prefix() {
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$(id -u)" = 0 ]; then
    echo ""
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    echo "sudo -n"
  else
    return 1
  fi
}

promtool=${PROMTOOL:-}
if [ -n "$promtool" ]; then
  [ -x "$promtool" ] || fail "PROMTOOL=$promtool is not an executable file"
elif ! promtool=$(command -v promtool); then
  prefix=$(sudo_prefix) || fail "no promtool on PATH, and apt-get cannot install it here (it" \
    "needs root or password-less sudo): install Prometheus's promtool yourself (Debian and" \
    "Ubuntu: apt-get install prometheus; or a release from prometheus.io), or set" \
    "PROMTOOL=/path/to/promtool"
  # One installer at a time (two test sessions may start together); flock is util-linux's.
  if command -v flock >/dev/null 2>&1; then
    exec 9>"${TMPDIR:-/tmp}/conveyor-monitoring-tools.lock"
    flock 9
  fi
  if ! promtool=$(command -v promtool); then
    say "installing prometheus (for its promtool) with apt-get (apt-get update first)"
    $prefix env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
      fail "apt-get update failed; install promtool yourself (apt-get install prometheus)"
    $prefix env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends prometheus >/dev/null ||
      fail "apt-get install prometheus failed; install promtool yourself, or set PROMTOOL"
    # Where the package could start its daemon (a machine with systemd), stop it: the tests
    # need the checker, not a server listening on port 9090.
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
      $prefix systemctl stop prometheus || say "warning: could not stop the prometheus service"
    fi
    promtool=$(command -v promtool) ||
      fail "apt-get installed prometheus, but no promtool on PATH"
  fi
fi
version=$("$promtool" --version 2>&1 | head -n 1) ||
  fail "$promtool --version failed: is it Prometheus's promtool?"
say "using $promtool ($version)"
echo "promtool=$promtool"
