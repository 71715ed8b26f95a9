#!/usr/bin/env bash
# The serving image as an OCI archive: the one thing release.yml's unprivileged build job hands
# to its publish job, so the image that is pushed is byte for byte the image that was tested.
#
#   scripts/image-archive.sh digest ARCHIVE        print the archive's digest (sha256:...)
#   scripts/image-archive.sh check ARCHIVE DIGEST  fail unless the archive holds DIGEST
#   scripts/image-archive.sh load ARCHIVE NAME     load it into the local engine as NAME
#   scripts/image-archive.sh push ARCHIVE REF      push it to REF keeping its digest, then
#                                                  check the registry reports that digest
#
# skopeo (on GitHub's Ubuntu runners) copies the archive: `--all --preserve-digests` keeps the
# index with its SBOM and provenance manifests, and refuses any copy that would change a digest.
# The registry's digest is the SHA-256 of the manifest it serves, hashed here, not trusted.
set -euo pipefail

die() { echo "image-archive: $*" >&2; exit 1; }

digest() {
  local archive=$1
  [ -f "$archive" ] || die "no image archive at $archive"
  tar -xOf "$archive" index.json | python3 -c '
import json, sys
manifests = json.load(sys.stdin).get("manifests", [])
if len(manifests) != 1:
    sys.exit(f"image-archive: index.json must name one image, it names {len(manifests)}")
print(manifests[0]["digest"])'
}

action=${1:-}
case "$action" in
  digest)
    digest "${2:?usage: scripts/image-archive.sh digest ARCHIVE}"
    ;;
  check)
    archive=${2:?usage: scripts/image-archive.sh check ARCHIVE DIGEST}
    expected=${3:?usage: scripts/image-archive.sh check ARCHIVE DIGEST}
    held=$(digest "$archive")
    [ "$held" = "$expected" ] || die "the archive holds $held, not the tested image $expected"
    echo "$held"
    ;;
  load)
    archive=${2:?usage: scripts/image-archive.sh load ARCHIVE NAME}
    name=${3:?usage: scripts/image-archive.sh load ARCHIVE NAME}
    digest "$archive" >/dev/null
    skopeo copy --quiet "oci-archive:$archive" "docker-daemon:$name"
    ;;
  push)
    archive=${2:?usage: scripts/image-archive.sh push ARCHIVE REF}
    ref=${3:?usage: scripts/image-archive.sh push ARCHIVE REF}
    tested=$(digest "$archive")
    skopeo copy --quiet --all --preserve-digests "oci-archive:$archive" "docker://$ref"
    pushed="sha256:$(skopeo inspect --raw "docker://$ref" | sha256sum | cut -d' ' -f1)"
    [ "$pushed" = "$tested" ] \
      || die "the registry reports $pushed for $ref, not the tested digest $tested"
    echo "pushed $ref at the tested digest $tested"
    ;;
  *)
    die "expected digest, check, load or push as the first argument, got '${action}'"
    ;;
esac
