#!/bin/sh
# Print the Python interpreter that `make setup` builds the environments with, so that any
# CPython 3.11 or newer works, whichever of them a machine has. POSIX sh: it runs before any
# Python is known to work.
#
#   scripts/find-python.sh              the interpreter uv builds .venv with (UV_PYTHON)
#   scripts/find-python.sh --bootstrap  the interpreter of .tools/, which only installs uv
#
# The choice: $PYTHON when set (refused, not replaced, when it is not CPython 3.11+); else
# the first of python3, python3.14, python3.13, python3.12, python3.11 on PATH that reports
# CPython 3.11 or newer. python3 comes first because it is the one the machine (or CI's
# actions/setup-python) chose as the default; runners also carry other versions.
#
# With none found, it fails with one sentence saying what to install, unless
# UV_PYTHON_DOWNLOADS=automatic: then uv may download CPython, so it prints the request
# "3.11" for uv and, with --bootstrap, any Python 3.8+ able to install uv.
set -eu

MINIMUM=3.11
CANDIDATES="python3 python3.14 python3.13 python3.12 python3.11"
me=${0##*/}
newline='
'

mode=venv
case ${1-} in
  "") ;;
  --bootstrap) mode=bootstrap ;;
  *) echo "$me: unknown argument '$1' (expected nothing or --bootstrap)" >&2; exit 2 ;;
esac

# What an interpreter says it is, e.g. "Python 3.12.4"; nothing when it does not run.
# Asking the interpreter itself sees through pyenv shims and symbolic links, and through a
# shim for a version that is not installed (it exits non-zero).
# Shell built-ins only: the tests run it with nothing but stand-in interpreters on PATH.
report() {
  out=$("$1" --version 2>&1 </dev/null) || return 0
  case $out in
    *PyPy*) echo "PyPy, ${out%%"$newline"*}" ;;  # "Python 3.x.y (...)" then "[PyPy 7.3 ...]"
    *) echo "${out%%"$newline"*}" ;;
  esac
}

# A `--version` report for a message: "is Python 3.10.13", or "does not run".
described() {
  if [ -n "$1" ]; then echo "is $1"; else echo "does not run"; fi
}

# Exit status 0 when a `--version` report is CPython at least MAJOR.MINOR ($2 $3).
at_least() {
  case $1 in
    "Python "[0-9]*.[0-9]*) ;;
    *) return 1 ;;
  esac
  version=${1#Python }
  major=${version%%.*}
  rest=${version#*.}
  minor=${rest%%[!0-9]*}
  [ -n "$minor" ] || return 1
  [ "$major" -gt "$2" ] || { [ "$major" -eq "$2" ] && [ "$minor" -ge "$3" ]; }
}

# The path of an executable command or file (dash's `command -v` also names plain files).
locate() {
  found=$(command -v -- "$1" 2>/dev/null) || return 1
  [ -f "$found" ] && [ -x "$found" ] || return 1
  echo "$found"
}

want_major=${MINIMUM%%.*}
want_minor=${MINIMUM#*.}

if [ -n "${PYTHON-}" ]; then
  path=$(locate "$PYTHON") || {
    echo "$me: PYTHON=$PYTHON is not a command on PATH or an executable file; point PYTHON at a CPython $MINIMUM or newer, or unset it to search PATH." >&2
    exit 1
  }
  said=$(report "$path")
  if ! at_least "$said" "$want_major" "$want_minor"; then
    echo "$me: PYTHON=$PYTHON $(described "$said"), but the environment needs CPython $MINIMUM or newer; point PYTHON at one, or unset it to search PATH." >&2
    exit 1
  fi
  echo "$path"
  exit 0
fi

refused=""
for name in $CANDIDATES; do
  path=$(locate "$name") || continue
  said=$(report "$path")
  if at_least "$said" "$want_major" "$want_minor"; then
    echo "$path"
    exit 0
  fi
  refused="$refused${refused:+, }$path $(described "$said")"
done

if [ "${UV_PYTHON_DOWNLOADS-}" = automatic ]; then
  if [ "$mode" = venv ]; then
    echo "$MINIMUM"  # a request uv resolves by downloading a managed CPython
    exit 0
  fi
  for name in $CANDIDATES; do
    path=$(locate "$name") || continue
    if at_least "$(report "$path")" 3 8; then
      echo "$path"
      exit 0
    fi
  done
fi

echo "$me: no CPython $MINIMUM or newer found on PATH (tried $CANDIDATES${refused:+; refused: $refused}): install Python $MINIMUM or newer, or set PYTHON=/path/to/python3.x, or run \`UV_PYTHON_DOWNLOADS=automatic make setup\` to let uv download one where the network allows." >&2
exit 1
