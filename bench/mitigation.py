"""Measure what reweighting does to the fairness numbers, and that the export still holds.

Trains the default model without and with reweighing by each sensitive feature on the
prepared Adult data, judges each with the same gates the pipeline uses, and checks ONNX
parity of every reweighted model. Run after `make run`:

    python bench/mitigation.py --write docs/mitigation.md
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from conveyor.config import Settings, parse_settings, read_params
from conveyor.evaluate.assess import assess
from conveyor.export import check_parity, onnx_feeds, onnx_probabilities, to_onnx
from conveyor.features import model_inputs, target_vector
from conveyor.paths import ProjectPaths
from conveyor.train import build_pipeline, fit, reweighing_weights

PATHS = ProjectPaths(Path(__file__).resolve().parents[1])
SHOWN = (
    ("sex", "demographic_parity_difference"),
    ("sex", "equalized_odds_difference"),
    ("race", "demographic_parity_difference"),
    ("race", "equalized_odds_difference"),
)


def settings_for(feature: str | None) -> Settings:
    raw = dict(read_params(PATHS.root / "params.yaml"))
    raw["model"] = {
        **raw["model"],
        "reweighting": {"enabled": feature is not None, "sensitive_feature": feature},
    }
    return parse_settings(raw)


def row(feature: str | None, train: pd.DataFrame, test: pd.DataFrame) -> list[str]:
    settings = settings_for(feature)
    labels = target_vector(train, settings.data)
    weights = reweighing_weights(train[feature].astype(str).to_numpy(), labels) if feature else None
    pipeline = build_pipeline(settings.data, settings.model)
    fitted, _ = fit(pipeline, model_inputs(train, settings.data), labels, settings.model, weights)
    inputs = model_inputs(test, settings.data)
    probabilities = fitted.predict_proba(inputs)[:, 1]
    assessment = assess(test, target_vector(test, settings.data), probabilities, settings)
    onnx = onnx_probabilities(
        to_onnx(fitted, settings.data, settings.export), onnx_feeds(inputs, settings.data)
    )
    parity = check_parity(
        probabilities, onnx, settings.model.threshold, settings.export.parity_tolerance
    )
    cells = [feature or "none"]
    overall = {g.metric: g for g in assessment.verdict.gates if g.kind == "overall"}
    cells.append(f"{overall['roc_auc'].value:.3f}")
    for grouping, metric in SHOWN:
        estimate = assessment.fairness[grouping]["disparities"][metric]
        cells.append(
            f"{estimate['value']:.3f} [{estimate['ci_low']:.3f}, {estimate['ci_high']:.3f}]"
        )
    cells.append(f"{parity.max_abs_difference:.1e} ({'ok' if parity.passed else 'FAILED'})")
    return cells


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", type=Path)
    arguments = parser.parse_args(argv)
    train = pd.read_parquet(PATHS.train_data)
    test = pd.read_parquet(PATHS.test_data)
    header = ["reweighting by", "ROC AUC"] + [f"{g} {m.replace('_', ' ')}" for g, m in SHOWN]
    lines = [
        "| " + " | ".join([*header, "ONNX parity"]) + " |",
        "|" + "---|" * (len(header) + 1),
    ]
    for feature in (None, "sex", "race"):
        lines.append("| " + " | ".join(row(feature, train, test)) + " |")
    table = "\n".join(lines)
    if arguments.write:
        arguments.write.write_text(table + "\n", encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
