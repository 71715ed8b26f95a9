"""The default model on the embedded data reaches the ROC AUC the README promises.

It reads the pipeline's outputs, so it lives with the model tests; the condition and the
number come from tests/unit/test_embedded_data.py. On a team's own data tests/model/conftest.py
leaves this module out of the collection.
"""

from __future__ import annotations

import json

import pytest

from conveyor.paths import ProjectPaths
from tests.unit.test_embedded_data import DOCUMENTED_AUC, EMBEDDED


@pytest.mark.parametrize("sources", EMBEDDED)
def test_the_default_model_reaches_the_documented_auc(
    sources: list[str], pipeline_outputs: ProjectPaths
) -> None:
    metrics = json.loads(pipeline_outputs.metrics.read_text())
    assert metrics["roc_auc"] >= DOCUMENTED_AUC, (
        f"test ROC AUC {metrics['roc_auc']:.4f} < {DOCUMENTED_AUC} on the embedded data"
    )
