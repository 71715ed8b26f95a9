#!/usr/bin/env bash
# Install what the report-rendering tests (tests/report) need beyond the project's environment,
# and say what it does; run again, it does nothing more:
#   - a Chromium: $CHROMIUM if set, else chromium (or chromium-browser, google-chrome) on PATH,
#     else Debian's package (as root, or with password-less sudo), with fonts-liberation, the
#     fonts Chromium recommends (Liberation Sans stands in for GitHub's Arial/Helvetica), and
#     fonts-noto-color-emoji for the report's emoji;
#   - the pinned render packages of scripts/render/package-lock.json (mermaid, puppeteer-core,
#     github-markdown-css), installed by `npm ci` into .tools/render/node_modules (or
#     $RENDER_TOOLS/node_modules), again whenever that lock or package.json changes.
# No browser is downloaded: puppeteer-core drives the system's Chromium (mermaid-cli's own
# browser download needs a host this project cannot rely on). Ends with `chromium=PATH`.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source_dir=$root/scripts/render
tools=${RENDER_TOOLS:-$root/.tools/render}

say() { echo "render-tools: $*"; }
fail() {
  echo "render-tools: error: $*" >&2
  exit 1
}

# Root runs apt-get itself; anyone else only with sudo that asks no password.
as_root=()
can_apt() {
  command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$(id -u)" = 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    return 1
  fi
}

apt_install() {
  say "installing $* with apt-get (apt-get update first)"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq ||
    fail "apt-get update failed; install $* yourself"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
    fail "apt-get install $* failed; install $* yourself (or set CHROMIUM=/path/to/chromium)"
}

has_liberation() {
  command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list ':family=Liberation Sans' family)" ]
}

has_emoji() {
  command -v fc-list >/dev/null 2>&1 && [ -n "$(fc-list ':family=Noto Color Emoji' family)" ]
}

# --- Chromium ---------------------------------------------------------------------------
chromium=${CHROMIUM:-}
if [ -n "$chromium" ]; then
  [ -x "$chromium" ] || fail "CHROMIUM=$chromium is not an executable file"
elif chromium=$(command -v chromium || command -v chromium-browser || command -v google-chrome); then
  : # GitHub's Ubuntu runners have chromium (and google-chrome) on PATH already
else
  packages=(chromium)
  has_liberation || packages+=(fonts-liberation)
  has_emoji || packages+=(fonts-noto-color-emoji)
  can_apt || fail "no chromium on PATH, and apt-get cannot install it here (it needs root or" \
    "password-less sudo): install Chromium yourself, or set CHROMIUM=/path/to/chromium"
  apt_install "${packages[@]}"
  chromium=$(command -v chromium) || fail "apt-get installed chromium, but no chromium on PATH"
fi
version=$("$chromium" --version 2>/dev/null) || fail "$chromium --version failed: is it a browser?"
say "using $chromium ($version)"
# Liberation Sans stands in for GitHub's Arial/Helvetica; without it text is measured and drawn
# in another font, which is no reason to stop.
if ! has_liberation && can_apt; then
  (apt_install fonts-liberation) || true
fi
has_liberation || say "warning: no Liberation fonts: text is drawn in another font than GitHub's"
# The report's verdicts are emoji (✅ ❌ 🟢 🔴): without a colour emoji font a screenshot shows
# empty boxes where GitHub shows them.
if ! has_emoji && can_apt; then
  (apt_install fonts-noto-color-emoji) || true
fi
has_emoji || say "warning: no emoji font: a screenshot shows boxes where the report has emoji"

# --- The render packages ----------------------------------------------------------------
command -v node >/dev/null 2>&1 || fail "node is not on PATH: install Node.js 18 or newer"
command -v npm >/dev/null 2>&1 || fail "npm is not on PATH: install npm with Node.js"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' ||
  fail "node $(node --version) is too old: the render packages need Node.js 18 or newer"

mkdir -p "$tools"
# One installer at a time (two test sessions may start together); flock is util-linux's.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$tools/.lock"
  flock 9
fi
# `npm ci` empties node_modules first, so a failed install leaves no stamp and is redone.
stamp=$tools/node_modules/.conveyor-render-stamp
wanted=$(cd "$source_dir" && sha256sum package.json package-lock.json)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  say "render packages up to date in $tools/node_modules"
else
  if [ -d "$tools/node_modules" ]; then
    say "$tools/node_modules is not from scripts/render's current lock: reinstalling"
  fi
  say "npm ci: $(node -p 'Object.entries(require(process.argv[1]).dependencies).map(([n, v]) => n + "@" + v).join(" ")' "$source_dir/package.json") into $tools/node_modules"
  cp "$source_dir/package.json" "$source_dir/package-lock.json" "$tools/"
  (cd "$tools" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
    fail "npm ci failed in $tools (is the npm registry reachable?)"
  echo "$wanted" >"$stamp"
fi
echo "chromium=$chromium"
