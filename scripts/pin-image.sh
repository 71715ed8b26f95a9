#!/usr/bin/env bash
# Pin a lane's Kubernetes overlay to one image, by digest:
#
#   scripts/pin-image.sh LANE NAME@sha256:DIGEST
#   scripts/pin-image.sh staging ghcr.io/acme/churn-model@sha256:4f2c…(64 hex digits)
#
# It rewrites the `newName:` and `digest:` lines of the one `images:` entry in
# deploy/kubernetes/overlays/LANE/kustomization.yaml, so `kubectl apply -k` on that overlay runs
# exactly that image: a tag can be moved, a digest cannot. The release workflow runs it for each
# lane it deploys. Running it again with the same reference changes nothing. A lane without an
# overlay, or a reference that is not NAME@sha256:<64 hex digits>, is refused before anything
# is written. Needs bash and coreutils only (no yq, sed or Python): it runs on any runner.
set -euo pipefail

me=${0##*/}
usage="usage: $me LANE NAME@sha256:DIGEST (e.g. $me staging ghcr.io/acme/churn-model@sha256:<64 hex digits>)"
fail() {
  echo "$me: $*" >&2
  exit 1
}

[ $# -eq 2 ] || fail "expected two arguments, got $# ($usage)"
lane=$1 reference=$2
overlays=$(cd "$(dirname "$0")/../deploy/kubernetes/overlays" && pwd) \
  || fail "no deploy/kubernetes/overlays beside this script"

known=$(cd "$overlays" && for dir in */; do
  if [ -f "$dir/kustomization.yaml" ]; then printf '%s ' "${dir%/}"; fi
done)
if [[ ! $lane =~ ^[a-z0-9]([a-z0-9-]*[a-z0-9])?$ || ! -f $overlays/$lane/kustomization.yaml ]]; then
  fail "no overlay for lane '$lane' (deploy/kubernetes/overlays/$lane/kustomization.yaml); lanes: ${known% } ($usage)"
fi
file=$overlays/$lane/kustomization.yaml

# The grammar of an image name as registries accept it (lower case; an optional registry host
# with a port), then exactly one sha256 digest and no tag: a tag beside a digest is ignored by
# the runtime, so it could only mislead whoever reads the overlay.
component='[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*'
host='[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:[0-9]+)?'
name_pattern="^(($host)/)?$component(/$component)*$"
digest_pattern='^sha256:[0-9a-f]{64}$'
expected="expected NAME@sha256:<64 lower-case hex digits>, e.g. ghcr.io/acme/churn-model@sha256:4f2c…"
[[ $reference == *@* ]] || fail "'$reference' has no digest: $expected (a tag can be moved; pin the digest the release pushed)"
name=${reference%%@*}
digest=${reference#*@}
last=${name##*/}
if [[ $last == *:* ]]; then
  fail "'$reference' has a tag (:${last#*:}): $expected, without the tag"
elif [[ ! $name =~ $name_pattern ]]; then
  fail "'$name' is not an image name (lower-case path components separated by /, an optional registry host first): $expected"
elif [[ ! $digest =~ $digest_pattern ]]; then
  fail "'$digest' is not a sha256 digest: $expected"
fi

# Rewrite the two lines in a copy, counting them: anything but one of each means the overlay is
# not in the shape this script knows, and it is left as it was.
new=$file.pin.$$
trap 'rm -f "$new"' EXIT
cp -p "$file" "$new"  # the copy keeps the file's mode; it replaces the file whole, or not at all
names=0 digests=0 changed=false
while IFS= read -r line || [ -n "$line" ]; do
  old=$line
  if [[ $line =~ ^([[:space:]]*)newName:[[:space:]] ]]; then
    line="${BASH_REMATCH[1]}newName: $name"
    names=$((names + 1))
  elif [[ $line =~ ^([[:space:]]*)digest:[[:space:]] ]]; then
    line="${BASH_REMATCH[1]}digest: $digest"
    digests=$((digests + 1))
  fi
  [ "$line" = "$old" ] || changed=true
  printf '%s\n' "$line"
done <"$file" >"$new"
if [ "$names" -ne 1 ] || [ "$digests" -ne 1 ]; then
  fail "$file: expected one images: entry with one newName: and one digest: line, found $names newName: and $digests digest: lines; edit it by hand"
fi

if ! $changed; then
  echo "$me: $lane already runs $name@$digest"
else
  mv -f "$new" "$file"
  echo "$me: $lane now runs $name@$digest ($file)"
fi
