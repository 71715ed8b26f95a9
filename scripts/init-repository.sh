#!/usr/bin/env bash
# Rewrite the template's placeholders for the repository "Use this template" created: the
# code owners (.github/CODEOWNERS names the template's team, and a review by a team that does
# not exist can never be given), the image's source URL (scripts/container.sh) and the image's
# name in the Kubernetes manifests (deploy/kubernetes), in lower case as registries require.
#
#   scripts/init-repository.sh [OWNER/REPO] [--code-owner @USER|@ORG/TEAM|EMAIL]
#   make init [REPOSITORY=OWNER/REPO] [CODE_OWNER=@ORG/TEAM]
#
# OWNER/REPO defaults to the GitHub repository of `git remote get-url origin`; the code owner
# to @OWNER (an organisation is not a valid code owner: name one of its teams). It rewrites
# every tracked file that holds a placeholder, prints each line it changed, and changes
# nothing when no placeholder is left, so running it again is harmless. A mention of the
# template's organisation in any other form stops it before anything is written.
set -euo pipefail  # bash 3.2 too (macOS): no mapfile, no empty "${array[@]}"

me=${0##*/}
# The template's placeholders, most specific first.
CODE_OWNER_PLACEHOLDER='@conveyor-ml/maintainers'
IMAGE_PLACEHOLDER='ghcr.io/conveyor-ml/conveyor'
REPOSITORY_PLACEHOLDER='conveyor-ml/conveyor'
ORGANISATION='conveyor-ml'
# Deliberately left alone: the act runs' fake repository (tests/workflows), and this script
# and its tests, which name the placeholders.
EXCLUDED=(tests/workflows/ scripts/init-repository.sh tests/unit/test_init_repository.py)

fail() {
  echo "$me: $*" >&2
  exit 1
}

usage="usage: $me [OWNER/REPO] [--code-owner @USER|@ORG/TEAM|EMAIL]"
slug="" code_owner=""
while [ $# -gt 0 ]; do
  case $1 in
    --code-owner) [ $# -ge 2 ] || fail "--code-owner needs a value ($usage)"; code_owner=$2; shift 2 ;;
    --code-owner=*) code_owner=${1#*=}; shift ;;
    -h | --help) echo "$usage"; exit 0 ;;
    -*) fail "unknown option '$1' ($usage)" ;;
    *) [ -z "$slug" ] || fail "one OWNER/REPO expected, got '$slug' and '$1' ($usage)"; slug=$1; shift ;;
  esac
done

cd "$(dirname "$0")/.."
git rev-parse --is-inside-work-tree >/dev/null 2>&1 \
  || fail "$PWD is not a git work tree: run it in the repository created from the template"

if [ -z "$slug" ]; then
  url=$(git remote get-url origin 2>/dev/null) \
    || fail "no OWNER/REPO given and no git remote 'origin' to read it from; run \`make init REPOSITORY=OWNER/REPO\`"
  shown=$(sed -E 's#//[^/@]*@#//#' <<<"$url")  # never print a token kept in the URL
  if [[ $url =~ ^(https?://([^/@]+@)?github\.com/|git@github\.com:|ssh://git@github\.com(:[0-9]+)?/)(.+)$ ]]; then
    slug=${BASH_REMATCH[4]%/}
    slug=${slug%.git}
  else
    fail "origin ($shown) is not a github.com repository URL; pass OWNER/REPO: \`make init REPOSITORY=OWNER/REPO\`"
  fi
fi

owner=${slug%%/*}
repo=${slug#*/}
owner_pattern='^[A-Za-z0-9]([A-Za-z0-9-]{0,37}[A-Za-z0-9])?$'
repo_pattern='^[A-Za-z0-9._-]{1,100}$'
if [[ $slug != */* || $repo == */* ]]; then
  fail "'$slug' is not OWNER/REPO: expected one slash, e.g. acme/churn-model"
elif [[ ! $owner =~ $owner_pattern ]]; then
  fail "'$slug': the owner '$owner' is not a GitHub account name: expected letters, digits and inner hyphens, at most 39"
elif [[ ! $repo =~ $repo_pattern || $repo == . || $repo == .. || $repo == *.git ]]; then
  fail "'$slug': the name '$repo' is not a GitHub repository name: expected letters, digits, '.', '_' and '-', at most 100, without .git"
fi

# The image the release workflow pushes: ghcr.io accepts lower-case names only.
image=ghcr.io/$(printf '%s' "$owner/$repo" | tr '[:upper:]' '[:lower:]')

defaulted=false
if [ -z "$code_owner" ]; then
  code_owner="@$owner"
  defaulted=true
fi
handle_pattern='^@[A-Za-z0-9]([A-Za-z0-9-]{0,37}[A-Za-z0-9])?(/[A-Za-z0-9._-]+)?$'
email_pattern='^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$'
if [[ ! $code_owner =~ $handle_pattern && ! $code_owner =~ $email_pattern ]]; then
  fail "code owner '$code_owner' is not @USER, @ORG/TEAM or an e-mail address"
fi

excludes=()
for path in "${EXCLUDED[@]}"; do
  excludes+=(":(exclude)$path")
done
# The tracked files that mention the template's organisation (git grep exits 1 for none).
files=()
status=0
listing=$(git grep -l -I -F -e "$ORGANISATION" -- . "${excludes[@]}") || status=$?
[ "$status" -le 1 ] || fail "git grep failed (exit $status) while looking for placeholders"
while IFS= read -r file; do
  [ -z "$file" ] || files+=("$file")
done <<<"$listing"
if [ ${#files[@]} -eq 0 ]; then
  echo "$me: nothing to change: no template placeholder is left (already initialised)."
  exit 0
fi

# Any mention that is not a known placeholder stops everything: it needs a person's decision.
unknown=""
for file in "${files[@]}"; do
  left=$(sed -e "s|$CODE_OWNER_PLACEHOLDER||g" -e "s|$IMAGE_PLACEHOLDER||g" \
    -e "s|$REPOSITORY_PLACEHOLDER||g" "$file" \
    | grep -n -F -e "$ORGANISATION" | sed "s|^\([0-9]*\):|  $file:\1: |" || true)
  unknown+=${left:+$left$'\n'}
done
[ -z "$unknown" ] || fail "these lines mention $ORGANISATION in a form this script does not rewrite; edit them by hand (or teach the script), then run it again:
${unknown%$'\n'}"

temporary=()
trap 'rm -f ${temporary[@]+"${temporary[@]}"}' EXIT  # macOS's bash 3.2: empty arrays are unset
changes=""
for file in "${files[@]}"; do
  new="$file.init.$$"
  temporary+=("$new")
  cp -p "$file" "$new"  # keeps the mode (scripts/container.sh is executable)
  sed -e "s|$CODE_OWNER_PLACEHOLDER|$code_owner|g" -e "s|$IMAGE_PLACEHOLDER|$image|g" \
    -e "s|$REPOSITORY_PLACEHOLDER|$owner/$repo|g" "$file" >"$new"
  while IFS=: read -r number _; do
    changes+="  $file:$number: $(sed -n "${number}p" "$new")"$'\n'
  done < <(grep -n -F -e "$ORGANISATION" "$file")
done
# Every file was rewritten without error: only now replace them.
for file in "${files[@]}"; do
  mv -f "$file.init.$$" "$file"
done
temporary=()

echo "$me: $owner/$repo, code owner $code_owner; changed:"
printf '%s' "$changes"
if $defaulted; then
  echo "If $owner is an organisation, replace $code_owner in .github/CODEOWNERS with one of its teams (@$owner/TEAM): an organisation cannot be a code owner."
fi
echo "Review with \`git diff\`, commit, then apply the repository settings (README, \"Repository settings\")."
