#!/usr/bin/env bash
# Protect the default branch of a repository made from the template, with the GitHub CLI:
# a ruleset that requires pull requests with an approving review (a code owner's where
# .github/CODEOWNERS names one) and every CI job passing, and forbids force pushes and
# deletion; and the workflows' token read-only by default (every workflow asks for what it
# needs). Running it again updates the ruleset instead of adding a second one.
#
#   scripts/protect-main.sh OWNER/REPO [--approvals N] [--workflow FILE] [--dry-run]
#   make protect REPOSITORY=OWNER/REPO
#
# The required checks are the names of the jobs in .github/workflows/ci.yml (--workflow),
# read on every run so they cannot drift from the workflow. --dry-run prints the ruleset and
# calls nothing. Needs `gh auth login` as a repository admin, and .venv (`make setup`), whose
# PyYAML reads the workflow.
set -euo pipefail

me=${0##*/}
RULESET_NAME="Conveyor: default branch"
GITHUB_ACTIONS_APP_ID=15368  # checks must come from GitHub Actions, not any app or status

fail() {
  echo "$me: $*" >&2
  exit 1
}

usage="usage: $me OWNER/REPO [--approvals N] [--workflow FILE] [--dry-run]"
root=$(cd "$(dirname "$0")/.." && pwd)
slug="" approvals=1 workflow="$root/.github/workflows/ci.yml" dry_run=false
while [ $# -gt 0 ]; do
  case $1 in
    --approvals) [ $# -ge 2 ] || fail "--approvals needs a number ($usage)"; approvals=$2; shift 2 ;;
    --workflow) [ $# -ge 2 ] || fail "--workflow needs a file ($usage)"; workflow=$2; shift 2 ;;
    --dry-run) dry_run=true; shift ;;
    -h | --help) echo "$usage"; exit 0 ;;
    -*) fail "unknown option '$1' ($usage)" ;;
    *) [ -z "$slug" ] || fail "one OWNER/REPO expected, got '$slug' and '$1' ($usage)"; slug=$1; shift ;;
  esac
done
[ -n "$slug" ] || fail "which repository? Name it: $me OWNER/REPO, or make protect REPOSITORY=OWNER/REPO"
if [[ ! $slug =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,37}[A-Za-z0-9])?/[A-Za-z0-9._-]{1,100}$ ]] \
  || [[ $slug == */. || $slug == */.. || $slug == *.git ]]; then
  fail "'$slug' is not a GitHub OWNER/REPO: expected e.g. acme/churn-model"
fi
[[ $approvals =~ ^[0-9]$|^10$ ]] || fail "--approvals must be a number from 0 to 10, got '$approvals'"
[ -f "$workflow" ] || fail "workflow file $workflow not found: the required checks are its jobs' names"
python="$root/.venv/bin/python"
[ -x "$python" ] || fail "$python not found: run \`make setup\` first (its PyYAML reads $workflow)"

# The ruleset, as JSON. A job's check is named by its `name:` (else its id); names GitHub
# computes at run time (expressions, matrices, reusable workflows) cannot be listed here.
body=$("$python" - "$workflow" "$RULESET_NAME" "$approvals" "$GITHUB_ACTIONS_APP_ID" <<'PYTHON'
import json
import sys

import yaml

path, name, approvals, app_id = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with open(path, encoding="utf-8") as stream:
    workflow = yaml.safe_load(stream) or {}
jobs = workflow.get("jobs")
if not isinstance(jobs, dict) or not jobs:
    sys.exit(f"{path}: no jobs found, so no check to require")
checks, problems = [], []
for job_id, job in jobs.items():
    check = str((job or {}).get("name", job_id))
    if "${{" in check:
        problems.append(f"job {job_id!r} has a computed name ({check!r})")
    elif "matrix" in ((job or {}).get("strategy") or {}):
        problems.append(f"job {job_id!r} is a matrix (one check per combination)")
    elif "uses" in (job or {}):
        problems.append(f"job {job_id!r} calls a reusable workflow (checks named '<job> / <its job>')")
    checks.append(check)
if problems:
    sys.exit(
        f"{path}: cannot name the checks to require: {'; '.join(problems)}; "
        "give each job a fixed `name:`, or create the ruleset by hand (README, Repository settings)"
    )
triggers = workflow.get("on", workflow.get(True)) or {}  # YAML 1.1 reads a bare `on` as true
if isinstance(triggers, str):
    triggers = [triggers]
if "pull_request" not in triggers:
    sys.exit(f"{path}: does not run on pull_request, so its checks would never pass on one")
pull_request = triggers.get("pull_request") if isinstance(triggers, dict) else None
if isinstance(pull_request, dict) and {"paths", "paths-ignore", "branches-ignore"} & set(pull_request):
    print(
        f"warning: {path} skips some pull requests (paths or branch filters); "
        "a required check that never runs blocks the merge",
        file=sys.stderr,
    )
ruleset = {
    "name": name,
    "target": "branch",
    "enforcement": "active",
    "bypass_actors": [],
    "conditions": {"ref_name": {"include": ["~DEFAULT_BRANCH"], "exclude": []}},
    "rules": [
        {"type": "deletion"},
        {"type": "non_fast_forward"},
        {
            "type": "pull_request",
            "parameters": {
                "required_approving_review_count": approvals,
                "require_code_owner_review": True,
                "dismiss_stale_reviews_on_push": True,
                "require_last_push_approval": False,
                "required_review_thread_resolution": False,
            },
        },
        {
            "type": "required_status_checks",
            "parameters": {
                "strict_required_status_checks_policy": True,
                "required_status_checks": [
                    {"context": check, "integration_id": app_id} for check in checks
                ],
            },
        },
    ],
}
print(json.dumps(ruleset, indent=2))
PYTHON
) || fail "no ruleset written (see above)"

if $dry_run; then
  echo "$body"
  exit 0
fi
command -v gh >/dev/null 2>&1 \
  || fail "the GitHub CLI (gh) is not installed: https://cli.github.com, or apply the settings by hand (README, Repository settings)"

# The path comes first (gh takes it anywhere; the test's stand-in reads it there).
existing=$(gh api "repos/$slug/rulesets" --paginate \
  --jq ".[] | select(.name == \"$RULESET_NAME\" and .source_type == \"Repository\") | .id") \
  || fail "could not list the rulesets of $slug: does it exist, and is gh logged in as one of its admins (\`gh auth status\`)?"
existing=${existing%%$'\n'*}
if [ -n "$existing" ]; then
  gh api "repos/$slug/rulesets/$existing" --method PUT --input - <<<"$body" >/dev/null \
    || fail "could not update ruleset $existing of $slug (see gh's message above)"
  action="updated"
else
  gh api "repos/$slug/rulesets" --method POST --input - <<<"$body" >/dev/null \
    || fail "could not create the ruleset on $slug (see gh's message above)"
  action="created"
fi
gh api "repos/$slug/actions/permissions/workflow" --method PUT \
  -f default_workflow_permissions=read -F can_approve_pull_request_reviews=false >/dev/null \
  || fail "could not make the workflows' token read-only by default on $slug (see gh's message above)"

checks=$("$python" -c '
import json, sys
rules = json.load(sys.stdin)["rules"]
print(", ".join(json.dumps(c["context"]) for r in rules if r["type"] == "required_status_checks"
                for c in r["parameters"]["required_status_checks"]))' <<<"$body")
echo "$me: $action ruleset \"$RULESET_NAME\" on $slug's default branch: pull requests only, $approvals approving review(s) including the code owners', checks required: $checks; no force pushes or deletion. Workflow token: read-only by default."
