#!/usr/bin/env bash
# Decide whether a push to main releases: only when it changes something the model or the
# serving image is built from. release.yml's first job runs this (act ignores `on.push.paths`,
# so the decision lives here, where a test can run it).
#
#   EVENT=push BEFORE=<sha> AFTER=<sha> scripts/release-decision.sh
#   EVENT=workflow_dispatch scripts/release-decision.sh      (a forced release)
#
# Prints `release=true|false` and `reason=...` (to $GITHUB_OUTPUT when set) and a line for the
# job summary. Exit 0 either way; 2 on bad arguments.
set -euo pipefail

# What a model or an image is built from. Anything else (docs, tests, workflows, README) does
# not change what a release would publish.
RELEASE_PATHS=(
  params.yaml dvc.yaml dvc.lock data/ src/ .dvc/config
  Dockerfile .dockerignore requirements/ pyproject.toml uv.lock scripts/prune-runtime.sh
)

event=${EVENT:-}
before=${BEFORE:-}
after=${AFTER:-}

decide() {
  local release=$1 reason=$2
  echo "release=$release"
  echo "reason=$reason"
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    printf 'release=%s\nreason=%s\n' "$release" "$reason" >>"$GITHUB_OUTPUT"
  fi
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    printf '### Release: %s\n%s\n' "$([ "$release" = true ] && echo yes || echo skipped)" \
      "$reason" >>"$GITHUB_STEP_SUMMARY"
  fi
  exit 0
}

case "$event" in
  workflow_dispatch) decide true "a release was requested by hand (workflow_dispatch)" ;;
  push) ;;
  *)
    echo "release-decision: EVENT must be push or workflow_dispatch, got '${event}'" >&2
    exit 2
    ;;
esac
if ! [[ "$after" =~ ^[0-9a-f]{40}$ ]]; then
  echo "release-decision: AFTER must be a 40-character commit SHA, got '${after}'" >&2
  exit 2
fi
if [[ "$before" =~ ^0{40}$ ]]; then
  decide false "the first commit of a repository (as created from the template) releases nothing: change params.yaml or your data, or run the workflow by hand"
fi
if ! [[ "$before" =~ ^[0-9a-f]{40}$ ]] || ! git cat-file -e "${before}^{commit}" 2>/dev/null; then
  # A force push or a shallow history: the diff is unknowable, so release rather than miss one.
  decide true "the previous commit ${before:-?} is not in the history; releasing to be safe"
fi
changed=$(git diff --name-only "$before" "$after" -- "${RELEASE_PATHS[@]}")
if [ -z "$changed" ]; then
  decide false "nothing a model or an image is built from changed in ${before::7}..${after::7}"
fi
count=$(printf '%s\n' "$changed" | wc -l)
first=$(printf '%s\n' "$changed" | head -3 | paste -sd, -)
decide true "${count} file(s) a release is built from changed: ${first}$([ "$count" -gt 3 ] && echo ', ...')"
