#!/usr/bin/env bash
# Decide whether a retrain proposes its model: retrain.yml's first job runs this after the
# drift check, the pipeline, the gates and the comparison with main's model.
#
#   CHANGED=true|false DRIFT=0|1|2|skipped scripts/retrain-decision.sh OUTPUT_DIR
#
# A pull request is proposed when the fresh data drifted (`conveyor drift` exited 1) or the
# retrained model improved on main's: a blocking margin against the champion
# (reports/comparison.json, gates.champion in params.yaml) whose whole confidence interval
# lies on the better side of zero (above it for a metric to raise, below it for one to
# lower), and no blocking margin failed. A change within the noise is no improvement.
#
# Writes OUTPUT_DIR/decision.json and OUTPUT_DIR/pr-body.md, and `open=`, `reason=` and
# `title=` to $GITHUB_OUTPUT when set. Exit 0 either way; 2 on bad arguments.
set -euo pipefail

out=${1:-}
if [ -z "$out" ]; then
  echo "retrain-decision: expected the output folder as the argument" >&2
  exit 2
fi
changed=${CHANGED:-false}
drift=${DRIFT:-skipped}
comparison=reports/comparison.json
mkdir -p "$out"

drifted=false
[ "$drift" = 1 ] && drifted=true
improved=false
improvements=""
if [ "$changed" = true ] && [ -f "$comparison" ]; then
  improvements=$(jq -r '
    (.verdict.gates // []) | map(select(.kind == "champion" and .mode == "block" and .group == null)) as $margins
    | if ($margins | map(select(.status == "fail")) | length) > 0 then empty
      else $margins[]
        | select((.direction == "min" and .ci_low > 0) or (.direction == "max" and .ci_high < 0))
        | "\(.metric) \(if .value >= 0 then "+" else "" end)\(.value * 10000 | round / 10000) (\(.ci_level * 100 | round)% CI \(.ci_low) to \(.ci_high))"
      end' "$comparison")
  [ -n "$improvements" ] && improved=true
fi

reasons=()
[ "$drifted" = true ] && reasons+=("data drifted")
[ "$improved" = true ] && reasons+=("model improved")
open=false
[ "${#reasons[@]}" -gt 0 ] && open=true
reason=$(IFS=,; echo "${reasons[*]:-nothing moved}")
reason=${reason//,/, }
title="Retrain on fresh data: $reason"

drift_inputs=""
if [ -f reports/drift.json ]; then
  drift_inputs=$(jq -r '.drifted | join(", ")' reports/drift.json)
fi
jq -n --argjson open "$open" --argjson changed "$changed" --argjson drifted "$drifted" \
  --argjson improved "$improved" --arg reason "$reason" --arg title "$title" \
  --arg drift "$drift" --arg inputs "$drift_inputs" --arg improvements "$improvements" \
  '{open: $open, changed: $changed, drifted: $drifted, improved: $improved, reason: $reason,
    title: $title, drift_exit: $drift, drifted_inputs: ($inputs | split(", ") | map(select(. != ""))),
    improvements: ($improvements | split("\n") | map(select(. != "")))}' >"$out/decision.json"

{
  echo "This pull request was opened by the scheduled retrain (\`.github/workflows/retrain.yml\`): $reason."
  echo
  if [ "$drifted" = true ]; then
    echo "- **Data drift** against the training data of \`main\`'s model: ${drift_inputs:-see the report}."
  elif [ "$drift" = 0 ]; then
    echo "- No input drifted past \`monitor.psi_threshold\`."
  fi
  if [ "$improved" = true ]; then
    while IFS= read -r line; do echo "- **Improved** against \`main\`'s model: $line"; done <<<"$improvements"
  fi
  echo
  echo "It holds the refreshed data, \`dvc.lock\` and \`metrics/\` of the retrained model. CI runs on it"
  echo "like on any pull request; the full report is the comment below. Merge it to release the model;"
  echo "close it to keep the current one (the next retrain opens a new one when it has reason to)."
  if [ -n "${RUN_URL:-}" ]; then
    echo
    echo "Retrain run: $RUN_URL"
  fi
} >"$out/pr-body.md"

echo "open=$open"
echo "reason=$reason"
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  printf 'open=%s\nreason=%s\n' "$open" "$reason" >>"$GITHUB_OUTPUT"
fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
  printf '### Retrain: %s\n%s\n' "$([ "$open" = true ] && echo "a pull request is proposed" || echo "nothing to propose")" \
    "$reason" >>"$GITHUB_STEP_SUMMARY"
fi
