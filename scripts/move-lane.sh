#!/usr/bin/env bash
# Point a lane (staging, production) at an image that was already published, by digest,
# without rebuilding it; record the digest and the reason in the GitHub deployment this job
# runs in, and in the run summary. release.yml runs it for staging after a merge, promote.yml
# and rollback.yml for production.
#
#   IMAGE=ghcr.io/owner/repo DIGEST=sha256:... LANE=staging|production KIND=release|promote|rollback \
#   RELEASE=sha-<commit> REASON=... REPOSITORY=owner/repo RUN_SHA=$GITHUB_SHA scripts/move-lane.sh
#
# The tag is re-pointed with `docker buildx imagetools create` from IMAGE@DIGEST (one source is
# copied as it is) and read back: the lane must then report DIGEST, or the move fails.
# Production also moves `latest`, its alias. A release never moves a lane backwards: when the
# lane's last deployment is of a commit this one does not contain (a later merge finished
# first), staging stays where it is.
set -euo pipefail

die() { echo "::error title=Lane not moved::$*"; exit 1; }

image=${IMAGE:?IMAGE is required}
digest=${DIGEST:?DIGEST is required}
lane=${LANE:?LANE is required}
kind=${KIND:?KIND is required}
release=${RELEASE:?RELEASE is required}
repository=${REPOSITORY:?REPOSITORY is required}
run_sha=${RUN_SHA:?RUN_SHA is required}
reason=${REASON:-}
[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || die "DIGEST must be sha256:<64 hex>, got '$digest'"
[[ "$lane" =~ ^(staging|production)$ ]] || die "LANE must be staging or production, got '$lane'"
[[ "$kind" =~ ^(release|promote|rollback)$ ]] || die "KIND must be release, promote or rollback, got '$kind'"
[ -n "${reason//[[:space:]]/}" ] || die "a reason is required: it is recorded in the deployment"

summary() { [ -z "${GITHUB_STEP_SUMMARY:-}" ] || printf '%s\n' "$@" >>"$GITHUB_STEP_SUMMARY"; }

# This job's deployment: GitHub creates one when a job with `environment:` starts (newest first).
deployment=$(gh api "repos/$repository/deployments?environment=$lane&sha=$run_sha&per_page=1" \
  --jq '.[0].id // empty' 2>/dev/null || true)

if [ "$kind" = release ]; then
  previous=$(gh api "repos/$repository/deployments?environment=$lane&per_page=20" \
    --jq "[.[] | select(.sha != \"$run_sha\")][0].sha // empty" 2>/dev/null || true)
  if [ -n "$previous" ] && git cat-file -e "$previous^{commit}" 2>/dev/null \
    && ! git merge-base --is-ancestor "$previous" "$run_sha"; then
    echo "::notice title=Staging kept::$lane already runs $previous, which is newer than $run_sha"
    summary "### $lane kept" "$lane already runs a later merge ($previous); $image@$digest was published but not deployed."
    exit 0
  fi
fi

tags=("$lane")
[ "$lane" = production ] && tags+=(latest)
for tag in "${tags[@]}"; do
  docker buildx imagetools create --tag "$image:$tag" "$image@$digest"
  now=$(docker buildx imagetools inspect "$image:$tag" --format '{{json .Manifest.Digest}}' | tr -d '"')
  [ "$now" = "$digest" ] || die "$image:$tag reports $now after the move, not $digest"
done

# GitHub keeps 140 characters of a status description: the digest, then what and why. The
# run summary (log_url) holds the reason whole.
description="$kind ${release:4:12} $digest: $reason"
description=${description:0:140}
if [ -n "$deployment" ]; then
  gh api --method POST "repos/$repository/deployments/$deployment/statuses" \
    -f state=success -f "description=$description" -f "log_url=${RUN_URL:-}" >/dev/null
else
  echo "::warning title=No deployment::no $lane deployment found for $run_sha; the run summary is the record"
fi

summary "### $lane → $release" "" \
  "| | |" "|---|---|" \
  "| lane | \`$lane\` (tags: ${tags[*]}) |" \
  "| image | \`$image@$digest\` |" \
  "| release | \`$release\` |" \
  "| kind | $kind |" \
  "| reason | ${reason//|/\\|} |" \
  "| verified | ${VERIFIED:-built and tested in this run} |" \
  "| by | ${ACTOR:-unknown} (approvals: the run's environment review) |" \
  "| deployment | ${deployment:-none found} |"
echo "$lane now runs $image@$digest ($kind of $release)"
