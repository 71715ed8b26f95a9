#!/usr/bin/env bash
# Before a lane moves to an image: prove the image is one this repository's release.yml
# published from main. promote.yml and rollback.yml run this in a job with read permissions.
#
#   IMAGE=ghcr.io/owner/repo RELEASE=sha-<commit> REPOSITORY=owner/repo scripts/verify-release.sh
#
# With artifact attestations (public repositories, GitHub Enterprise Cloud): the image's
# attestation must be signed by .github/workflows/release.yml of REPOSITORY on refs/heads/main
# (`gh attestation verify` with --repo, --signer-workflow and --source-ref; an attestation by
# any other workflow, ref or repository is refused). Without attestations on the plan: the
# digest must equal the one the release of that commit recorded (its `image.json` asset,
# which only release.yml's publish job writes). Either way the script says which check it made.
# Writes digest=, commit= and verified= to $GITHUB_OUTPUT; exit 1 when the image is refused.
set -euo pipefail

SIGNER=.github/workflows/release.yml
SOURCE_REF=refs/heads/main

refuse() {
  echo "::error title=Release refused::$*"
  [ -z "${GITHUB_STEP_SUMMARY:-}" ] || printf '### Refused\n%s\n' "$*" >>"$GITHUB_STEP_SUMMARY"
  exit 1
}

image=${IMAGE:?IMAGE is required (ghcr.io/owner/repo)}
repository=${REPOSITORY:?REPOSITORY is required (owner/repo)}
release=${RELEASE:-}
[[ "$release" =~ ^sha-([0-9a-f]{40})$ ]] \
  || refuse "release must be an image tag sha-<40 hex characters> (the sha-<commit> tag release.yml pushed), got '${release}'"
commit=${BASH_REMATCH[1]}

digest=$(docker buildx imagetools inspect "$image:$release" --format '{{json .Manifest.Digest}}' | tr -d '"') \
  || refuse "no image $image:$release in the registry"
[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || refuse "the registry answered '$digest' for $image:$release"

attestations=$(gh api "repos/$repository/attestations/$digest" --jq '.attestations | length' 2>/dev/null || echo 0)
if [ "${attestations:-0}" -gt 0 ]; then
  gh attestation verify "oci://$image@$digest" --repo "$repository" \
    --signer-workflow "$repository/$SIGNER" --source-ref "$SOURCE_REF" >&2 \
    || refuse "$image@$digest has no attestation signed by $repository/$SIGNER on $SOURCE_REF: it was not published by this repository's release workflow from main"
  verified="attestation signed by $repository/$SIGNER on $SOURCE_REF"
else
  # No attestation at all: a plan without them. The release of this commit recorded its digest.
  tag=$(gh api "repos/$repository/releases?per_page=100" \
    --jq ".[] | select(.target_commitish == \"$commit\") | .tag_name" | head -n 1)
  [ -n "$tag" ] || refuse "$image@$digest has no attestation, and no release of commit $commit recorded a digest"
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  gh release download "$tag" --repo "$repository" --pattern image.json --dir "$scratch" \
    || refuse "release $tag has no image.json asset recording its digest"
  recorded=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["digest"])' "$scratch/image.json")
  [ "$recorded" = "$digest" ] \
    || refuse "$image:$release is $digest, but release $tag recorded $recorded"
  verified="digest recorded by release $tag (no artifact attestations on this plan)"
fi

echo "verified $image@$digest: $verified"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  printf 'digest=%s\ncommit=%s\nverified=%s\n' "$digest" "$commit" "$verified" >>"$GITHUB_OUTPUT"
fi
