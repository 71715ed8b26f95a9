#!/usr/bin/env bash
# Pull from, or push to, the DVC remote that the repository's CI settings describe. ci.yml
# pulls before `dvc repro`, release.yml pushes after a release, and a test runs this script
# against a local S3 server, so all three use the same commands.
#
#   scripts/dvc-remote.sh pull|push
#   scripts/dvc-remote.sh upload DIR   DIR: a local DVC remote a build job filled (`dvc push
#                                      --remote handoff`), uploaded with the AWS CLI alone
#
# `upload` is how the release and retrain workflows write to the remote: the job holding the
# write key runs no dvc (nor make, nor pytest), only `aws s3 sync`. A local DVC remote and an
# S3 one share one layout (files/md5/ab/cdef...), so syncing the first into the second is the
# `dvc push` it stands for (tests/pipeline/test_dvc_remote.py pulls it back with dvc).
#
#   DVC_REMOTE_URL           repository variable, e.g. s3://my-bucket/conveyor
#   DVC_REMOTE_ENDPOINT_URL  repository variable, optional: an S3-compatible store (MinIO, R2)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   set by the workflow step from the DVC_READ_*
#                                              (pull) or DVC_WRITE_* (upload, push) secrets
#
# Without a URL or without credentials (a pull request from a fork gets no secrets) it does
# nothing and succeeds: the pipeline then runs on the data in the repository. But when data
# that DVC tracks (a `*.dvc` file in git) is still missing after a pull, the pipeline cannot
# run: the script says why in one message (and in the job summary) and fails, instead of
# leaving `conveyor prepare` to fail on a missing file.
set -euo pipefail

# The outputs of the `*.dvc` files git tracks (data added with `dvc add`) that are not here.
missing_data() {
  { git ls-files -z -- '*.dvc' 2>/dev/null || true; } | python3 -c '
import sys
from pathlib import Path

import yaml

for name in sys.stdin.read().split("\0"):
    if not name:
        continue
    for out in (yaml.safe_load(Path(name).read_text()) or {}).get("outs", []):
        path = Path(name).parent / out["path"]
        if not path.exists():
            print(f"{path} ({name})")
'
}

# Fail with one message, in the log and the job summary, when tracked data is still missing.
require_data() {
  local why=$1 missing
  [ "$action" = pull ] || return 0
  missing=$(missing_data)
  [ -n "$missing" ] || return 0
  local message
  message="data tracked by DVC is not in this checkout: $(printf '%s' "$missing" | paste -sd, - | sed 's/,/, /g'). $why"
  echo "::error title=Data not available::$message"
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    printf '### Data not available\n%s\n' "$message" >>"$GITHUB_STEP_SUMMARY"
  fi
  exit 1
}

action=${1:-}
case "$action" in
  pull | push | upload) ;;
  *)
    echo "dvc-remote: expected 'pull', 'push' or 'upload' as the first argument, got '${action}'" >&2
    exit 2
    ;;
esac
if [ -z "${DVC_REMOTE_URL:-}" ]; then
  echo "dvc-remote: DVC_REMOTE_URL is not set; no remote to $action"
  require_data "No DVC remote is configured: set the repository variable DVC_REMOTE_URL and the DVC_READ_ACCESS_KEY_ID and DVC_READ_SECRET_ACCESS_KEY secrets (README, \"Configure a DVC remote\")."
  exit 0
fi
if [ -z "${AWS_ACCESS_KEY_ID:-}" ] || [ -z "${AWS_SECRET_ACCESS_KEY:-}" ]; then
  echo "dvc-remote: AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not set; nothing to $action"
  require_data "It lives in the DVC remote, and this run has no credentials for it: pull requests from forks get no secrets. A maintainer can push the branch to this repository to run CI with the remote."
  exit 0
fi

if [ "$action" = upload ]; then
  objects=${2:-}
  [ -d "$objects/files" ] || {
    echo "dvc-remote: upload needs a local DVC remote folder (with files/), got '${objects}'" >&2
    exit 2
  }
  [[ "$DVC_REMOTE_URL" == s3://* ]] || {
    echo "dvc-remote: upload supports s3:// remotes (and S3-compatible stores), got $DVC_REMOTE_URL; push with dvc instead" >&2
    exit 2
  }
  aws s3 sync "$objects/files" "${DVC_REMOTE_URL%/}/files" --only-show-errors \
    ${DVC_REMOTE_ENDPOINT_URL:+--endpoint-url "$DVC_REMOTE_ENDPOINT_URL"}
  echo "dvc-remote: uploaded $(find "$objects/files" -type f | wc -l) objects to $DVC_REMOTE_URL"
  exit 0
fi

# --local: the remote lives in .dvc/config.local, never in a commit.
dvc remote add --local --force --default ci "$DVC_REMOTE_URL"
if [ -n "${DVC_REMOTE_ENDPOINT_URL:-}" ]; then
  dvc remote modify --local ci endpointurl "$DVC_REMOTE_ENDPOINT_URL"
fi
if [ "$action" = pull ]; then
  # Outputs the remote does not hold yet are recomputed by `dvc repro`.
  if ! dvc pull --allow-missing; then
    echo "::warning::dvc pull failed; outputs the remote does not give are recomputed"
  fi
  require_data "The DVC remote $DVC_REMOTE_URL did not provide it: run \`dvc push\` where the data is."
else
  dvc push
fi
