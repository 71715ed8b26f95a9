"""Champion against challenger on the team's own pipeline, the DVC way: the released model is
fetched from a git revision's DVC outputs (real `dvc get`), and a deliberately worse challenger
trained with `dvc exp run -S` is listed by
`dvc exp show` and blocked by the non-inferiority gate, with a message naming the metric, the
difference and its interval. (That the unchanged model passes against itself is shown on the
repository's own outputs by tests/report/test_report_renders.py.)

One copy of the repository and one experiment serve every test here: the experiment re-runs
train, evaluate and export once (prepare is restored from the shared DVC cache).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from conveyor.config import Settings, parse_settings, read_params
from conveyor.verdict import Mode
from tests.conftest import ROOT, CliResult, copy_repository, run_conveyor
from tests.pipeline.dvc import dvc, git, share_project_cache, stages_run

pytestmark = pytest.mark.pipeline

WORSE: dict[str, dict[str, Any]] = {
    "hist_gradient_boosting": {"max_iter": 2},
    "logistic_regression": {"C": 1e-6},
    "random_forest": {"n_estimators": 1, "max_depth": 1},
}
"""Hyper-parameters that cripple each estimator: a challenger far worse than any champion."""
REPRESENTATIVE_MARGIN = ("roc_auc", {"max_drop": 0.005, "mode": "block"})
"""Added only when the team has no blocking overall margin: the gate must still be proven."""
# `roc_auc vs champion -0.1234 (95% CI -0.1300 to -0.1100, n=1,234): worse than ...`
MESSAGE = re.compile(
    r"^(\w+) vs champion ([+-]\d\.\d{4}) \(\d+% CI ([+-]\d\.\d{4}) to ([+-]\d\.\d{4}), "
    r"n=[\d,]+\): worse than the allowed (?:drop|increase) \d\.\d{4}$"
)


def _blocking_margins(settings: Settings) -> dict[str, Any]:
    return {m: b for m, b in settings.gates.champion.overall.items() if b.mode is Mode.BLOCK}


def _params_with_a_blocking_margin() -> tuple[str, str]:
    """params.yaml as the team wrote it, plus the representative margin if it has none."""
    text = (ROOT / "params.yaml").read_text()
    raw = dict(read_params(ROOT / "params.yaml"))
    if _blocking_margins(parse_settings(raw)):
        return text, next(iter(_blocking_margins(parse_settings(raw))))
    gates = raw.setdefault("gates", {}) or {}
    raw["gates"] = gates
    champion = gates.setdefault("champion", {}) or {}
    gates["champion"] = champion
    champion.setdefault("overall", {})[REPRESENTATIVE_MARGIN[0]] = REPRESENTATIVE_MARGIN[1]
    return yaml.safe_dump(raw, sort_keys=False), REPRESENTATIVE_MARGIN[0]


@dataclass(frozen=True)
class Experiment:
    clone: Path
    margin: str
    worse: CliResult
    comparison: dict[str, Any]
    exp_output: str
    overrides: list[str]
    worse_when: str


@pytest.fixture(scope="module")
def experiment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Experiment]:
    params, margin = _params_with_a_blocking_margin()
    clone = copy_repository(tmp_path_factory.mktemp("experiment"), {"params.yaml": params})
    git(clone, "add", "-A")
    share_project_cache(clone)
    dvc(clone, "repro")
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "the released model", "--allow-empty")
    fetched = run_conveyor("champion", "fetch", "--from", "git:HEAD", cwd=clone)
    assert fetched.code == 0, fetched.stderr
    settings = parse_settings(read_params(clone / "params.yaml"))
    overrides = [
        f"model.hyperparameters.{k}={v}" for k, v in WORSE[settings.model.estimator].items()
    ]
    if settings.model.search.enabled:
        overrides.append("model.search.enabled=false")
    exp_output = dvc(clone, "exp", "run", *(a for o in overrides for a in ("-S", o)))
    worse = run_conveyor("compare", cwd=clone)
    comparison = json.loads((clone / "reports" / "comparison.json").read_text())
    worse_when = settings.gates.champion.overall[margin].worse_when
    yield Experiment(clone, margin, worse, comparison, exp_output, overrides, worse_when)


def test_the_champion_comes_from_the_revisions_dvc_outputs(experiment: Experiment) -> None:
    about = json.loads((experiment.clone / ".champion" / "champion.json").read_text())
    head = git(experiment.clone, "rev-parse", "HEAD")
    assert (about["found"], about["source"], about["commit"]) == (True, "git", head)
    assert (experiment.clone / ".champion" / "training-records.txt.gz").is_file()


def test_a_worse_challenger_from_dvc_exp_run_is_blocked(experiment: Experiment) -> None:
    # Train, evaluate and export ran (or, on a second run of the suite, came back from DVC's
    # run cache); prepare did not: its inputs did not change.
    assert "prepare" not in stages_run(experiment.exp_output)
    committed = json.loads(git(experiment.clone, "show", "HEAD:metrics/metrics.json"))
    assert experiment.comparison["overall"]["roc_auc"]["champion"] == pytest.approx(
        committed["roc_auc"], abs=1e-4
    )
    assert experiment.worse.code == 1, experiment.worse.stdout + experiment.worse.stderr
    overall = f"{experiment.margin} vs champion "  # the overall gate, not a slice's
    line = next(
        message
        for status, _, message in (
            line.split(None, 2) for line in experiment.worse.stdout.splitlines() if line.strip()
        )
        if status == "FAIL" and message.startswith(overall)
    )
    found = MESSAGE.match(line)
    assert found, line
    metric, value, low, high = found.group(1), *map(float, found.group(2, 3, 4))
    assert metric == experiment.margin
    assert low <= value <= high
    # Wholly on the worse side: below zero for a metric that drops, above for one that rises.
    assert high < 0 if experiment.worse_when == "lower" else low > 0
    entry = experiment.comparison["overall"][metric]
    assert entry["difference"] == pytest.approx(value, abs=1e-4)
    # Every test row was held out from the champion's training: none is left out here.
    rows = experiment.comparison["rows"]
    assert rows["champion_training_records_known"] and rows["left_out_champion_trained_on"] == 0


def test_dvc_exp_show_lists_the_experiment_with_its_metrics(experiment: Experiment) -> None:
    shown = json.loads(dvc(experiment.clone, "exp", "show", "--json"))
    metrics_file = json.loads((experiment.clone / "metrics" / "metrics.json").read_text())
    experiments = [exp for commit in shown for exp in (commit.get("experiments") or [])]
    assert experiments, shown
    found = [
        revision["data"]
        for exp in experiments
        for revision in exp.get("revs") or []
        if revision.get("data", {}).get("metrics", {}).get("metrics/metrics.json")
    ]
    assert found, experiments
    recorded = found[0]["metrics"]["metrics/metrics.json"]["data"]
    assert recorded["roc_auc"] == metrics_file["roc_auc"]
    params = found[0]["params"]["params.yaml"]["data"]["model"]["hyperparameters"]
    for override in experiment.overrides:
        key, value = override.removeprefix("model.hyperparameters.").split("=")
        if "." not in key:
            assert str(params[key]) == value
