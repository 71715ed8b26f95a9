#!/usr/bin/env bash
# Pull from, or push to, the DVC remote that the repository's CI settings describe. ci.yml
# pulls before `dvc repro`, release.yml pushes after a release, and a test runs this script
# against a local S3 server, so all three use the same commands.
#
#   scripts/dvc-remote.sh pull|push
#
#   DVC_REMOTE_URL           repository variable, e.g. s3://my-bucket/conveyor
#   DVC_REMOTE_ENDPOINT_URL  repository variable, optional: an S3-compatible store (MinIO, R2)
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY   repository secrets
#
# Without a URL or without credentials (a pull request from a fork gets no secrets) it does
# nothing and succeeds: the pipeline then runs on the data in the repository.
set -euo pipefail

action=${1:-}
case "$action" in
  pull | push) ;;
  *)
    echo "dvc-remote: expected 'pull' or 'push' as the first argument, got '${action}'" >&2
    exit 2
    ;;
esac
if [ -z "${DVC_REMOTE_URL:-}" ]; then
  echo "dvc-remote: DVC_REMOTE_URL is not set; no remote to $action"
  exit 0
fi
if [ -z "${AWS_ACCESS_KEY_ID:-}" ] || [ -z "${AWS_SECRET_ACCESS_KEY:-}" ]; then
  echo "dvc-remote: AWS_ACCESS_KEY_ID or AWS_SECRET_ACCESS_KEY is not set; nothing to $action"
  exit 0
fi

# --local: the remote lives in .dvc/config.local, never in a commit.
dvc remote add --local --force --default ci "$DVC_REMOTE_URL"
if [ -n "${DVC_REMOTE_ENDPOINT_URL:-}" ]; then
  dvc remote modify --local ci endpointurl "$DVC_REMOTE_ENDPOINT_URL"
fi
if [ "$action" = pull ]; then
  # Outputs the remote does not hold yet are recomputed by `dvc repro`.
  dvc pull --allow-missing
else
  dvc push
fi
