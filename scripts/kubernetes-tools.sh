#!/usr/bin/env bash
# Install what the Kubernetes manifest tests (tests/deploy) need beyond the project's
# environment, and say what it does; run again, it does nothing more:
#   - kubectl, for its built-in kustomize (`kubectl kustomize deploy/kubernetes/overlays/LANE`):
#     $KUBECTL if set, else kubectl on PATH, else Debian's (and Ubuntu's) `kubernetes-client`
#     package (kubectl 1.20 on Debian 12, kustomize v2.0.3: the manifests keep to fields it
#     renders as today's kustomize does), installed with apt-get as root or password-less sudo.
# Rendering needs no cluster and no kubeconfig. Ends with `kubectl=PATH`.
set -euo pipefail

say() { echo "kubernetes-tools: $*"; }
fail() {
  echo "kubernetes-tools: error: $*" >&2
  exit 1
}

kubectl=${KUBECTL:-}
if [ -n "$kubectl" ]; then
  [ -x "$kubectl" ] || fail "KUBECTL=$kubectl is not an executable file"
elif ! kubectl=$(command -v kubectl); then
  # shellcheck source=scripts/apt-install.sh
  . "${BASH_SOURCE[0]%/*}/apt-install.sh"  # no dirname: PATH may hold nothing
  # Another session may have installed it while this one waited for the lock: apt-get then
  # does nothing.
  apt_install kubernetes-client ||
    fail "no kubectl on PATH, and it could not be installed here (above): install kubectl" \
      "yourself (Debian and Ubuntu: apt-get install kubernetes-client), or set KUBECTL=/path/to/kubectl"
  kubectl=$(command -v kubectl) || fail "apt-get installed kubernetes-client, but no kubectl on PATH"
fi
# `kubectl version --client` asks no server. Its first line is kept here, not by `| head`, which
# could close the pipe before kubectl's second line and fail the pipeline with SIGPIPE.
version=$("$kubectl" version --client 2>/dev/null) ||
  fail "$kubectl version --client failed: is it kubectl?"
version=${version%%$'\n'*}
"$kubectl" kustomize --help >/dev/null 2>&1 ||
  fail "$kubectl has no kustomize sub-command (kubectl 1.14 or later has it)"
say "using $kubectl ($version)"
echo "kubectl=$kubectl"
