#!/usr/bin/env bash
# The one hook a team replaces to bring fresh data in: retrain.yml's first job runs it
# (`make refresh-data`) before the drift check and the pipeline, and so can a person.
#
#   CONVEYOR_FRESH_DATA=<file or https:// URL> [CONVEYOR_FRESH_DATA_TARGET=<source path>] \
#     scripts/refresh-data.sh
#
# The template's default: the file CONVEYOR_FRESH_DATA names (a path, or a URL fetched with
# curl) is the fresh export of one of the data sources params.yaml lists, in the layout
# `data:` describes (format, csv options, columns). It replaces that source
# (CONVEYOR_FRESH_DATA_TARGET, default: the first of data.sources), and the source's sha256
# pin in params.yaml, when it has one, is updated to the new content, so the change is
# reviewed in the pull request like any other. When the source is tracked by DVC
# (`<source>.dvc`), `dvc add` records the new version in that pointer file.
#
# What it leaves for the next steps: reports/fresh-batch.csv, the fresh rows as a CSV with a
# header (what `conveyor drift --current` reads), and `changed=true|false` in $GITHUB_OUTPUT.
# Nothing configured, or content identical to what is there: a notice, `changed=false`, exit 0.
# Anything wrong with the file: an error naming it and what was expected, nothing replaced.
#
# Replace this script with whatever brings your data: `dvc update data/raw/x.dvc` (for data
# added with `dvc import-url`/`dvc import`), a query written to the source's path, a copy from
# a bucket. Keep the contract: the sources params.yaml names hold the new data,
# reports/fresh-batch.csv holds it for the drift check, `changed=` says whether anything moved.
set -euo pipefail

BATCH=reports/fresh-batch.csv

say() {
  echo "$1" >&2
  if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then printf '%s\n' "${2:-$1}" >>"$GITHUB_STEP_SUMMARY"; fi
}

changed() {
  echo "changed=$1"
  if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "changed=$1" >>"$GITHUB_OUTPUT"; fi
  exit 0
}

fresh=${CONVEYOR_FRESH_DATA:-}
if [ -z "$fresh" ]; then
  say "::notice title=No fresh data::CONVEYOR_FRESH_DATA is not set (repository variable or the workflow's fresh-data input): nothing to refresh. Set it, or replace scripts/refresh-data.sh with your data source (docs/retraining.md)." \
    "No fresh data configured (CONVEYOR_FRESH_DATA): nothing refreshed, nothing retrained."
  changed false
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
download="$work/fresh"
case "$fresh" in
  https://* | http://*)
    curl --fail --silent --show-error --location --max-time 600 --output "$download" -- "$fresh"
    ;;
  *)
    if ! [ -f "$fresh" ]; then
      echo "::error::CONVEYOR_FRESH_DATA names $fresh, which is not a file (expected a path or an https:// URL)" >&2
      exit 2
    fi
    cp -- "$fresh" "$download"
    ;;
esac

# Validate the file as the pipeline would read it (conveyor.data.read_source: the layout,
# the columns), compare it with what is there, and only then replace the source.
python - "$download" "$BATCH" "$work/status" <<'PYTHON'
import os
import re
import shutil
import sys
from pathlib import Path

from conveyor.config import Source, load_settings
from conveyor.errors import ConveyorError

download, batch, status = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
params = Path("params.yaml")
settings = load_settings(params)
sources = settings.data.sources
wanted = os.environ.get("CONVEYOR_FRESH_DATA_TARGET") or str(sources[0].path)
matching = [s for s in sources if str(s.path) == wanted]
if not matching:
    listed = ", ".join(str(s.path) for s in sources)
    sys.exit(f"::error::CONVEYOR_FRESH_DATA_TARGET is {wanted}; expected one of "
             f"params.yaml's data.sources: {listed}")
target = matching[0]
current = Path(target.path)
if current.is_file() and current.read_bytes() == download.read_bytes():
    status.write_text(f"unchanged\t{target.path}\n")  # the same file: no need to parse it
    sys.exit(0)
from conveyor.data import read_source  # noqa: E402  (pandas: only when there is work to do)

# Named as the source is, so that a `.gz` is read as gzip, as the pipeline reads it.
download = download.rename(download.with_name("fresh" + "".join(Path(target.path).suffixes)))
try:
    loaded = read_source(Source(path=target.path), download, settings.data)
except ConveyorError as error:
    sys.exit(f"::error::the fresh data ({os.environ['CONVEYOR_FRESH_DATA']}) is not in the "
             f"layout params.yaml describes for {target.path}: {error}")
if current.is_file():
    try:
        before = read_source(Source(path=target.path), current, settings.data).sha256
    except ConveyorError:
        before = None
    if before == loaded.sha256:
        status.write_text(f"unchanged\t{target.path}\n")
        sys.exit(0)
text = params.read_text(encoding="utf-8")
if target.sha256 is not None:  # the new pin, worked out before anything is replaced
    pin = re.compile(rf"(-\s*path:\s*{re.escape(str(target.path))}\s*\n\s*sha256:\s*)"
                     rf"{target.sha256}")
    text, count = pin.subn(rf"\g<1>{loaded.sha256}", text)
    if count != 1:
        sys.exit(f"::error::cannot find the sha256 pin of {target.path} in params.yaml as "
                 "`- path: ...` followed by `sha256: ...`; update it by hand")
batch.parent.mkdir(parents=True, exist_ok=True)
loaded.frame.to_csv(batch, index=False)
current.parent.mkdir(parents=True, exist_ok=True)
shutil.copyfile(download, current)
params.write_text(text, encoding="utf-8")
print(f"replaced {target.path} ({len(loaded.frame):,} rows, sha256 {loaded.sha256})")
status.write_text(f"replaced\t{target.path}\n")
PYTHON
IFS=$'\t' read -r result target <"$work/status"
if [ "$result" != replaced ]; then
  say "::notice title=Data unchanged::the fresh data is what $target already holds: nothing to retrain." \
    "The fresh data is what \`$target\` already holds: nothing retrained."
  changed false
fi
if [ -f "$target.dvc" ]; then dvc add "$target"; fi  # data tracked by DVC: a new pointer
say "Fresh data from $fresh replaced $target." "Fresh data from \`$fresh\` replaced \`$target\`."
changed true
