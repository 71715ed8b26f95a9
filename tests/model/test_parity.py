"""The released ONNX file predicts what was evaluated, on whatever data params point at.

How good the model must be is the gates' business (test_gates.py, from `params.yaml`); the
default model's documented AUC on the embedded data is checked in
tests/unit/test_embedded_data.py, which applies only while params use that data.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pandas as pd
import pytest

from conveyor.config import load_settings
from conveyor.contract import predict_labels
from conveyor.export import onnx_feeds, onnx_probabilities
from conveyor.features import model_inputs
from conveyor.modelio import load_model
from conveyor.paths import ProjectPaths
from tests.conftest import ROOT

pytestmark = pytest.mark.parity


def test_onnx_matches_scikit_learn_on_the_whole_test_set(pipeline_outputs: ProjectPaths) -> None:
    settings = load_settings(ROOT / "params.yaml")
    inputs = model_inputs(pd.read_parquet(pipeline_outputs.test_data), settings.data)
    expected = load_model(pipeline_outputs.model).predict_proba(inputs)[:, 1]
    actual = onnx_probabilities(
        pipeline_outputs.onnx_model.read_bytes(), onnx_feeds(inputs, settings.data)
    )
    tolerance = settings.export.parity_tolerance
    threshold = settings.model.threshold
    worst = int(np.argmax(np.abs(expected - actual)))
    assert np.abs(expected - actual).max() <= tolerance, (
        f"row {worst}: sklearn {expected[worst]:.6f} vs onnx {actual[worst]:.6f}"
    )
    flipped = predict_labels(expected, threshold) != predict_labels(actual, threshold)
    assert not (flipped & (np.abs(expected - threshold) > tolerance)).any()


def test_signature_describes_the_onnx_graph(pipeline_outputs: ProjectPaths) -> None:
    signature = json.loads(pipeline_outputs.signature.read_text())
    graph = onnx.load(pipeline_outputs.onnx_model).graph
    kinds = {"tensor(float)": onnx.TensorProto.FLOAT, "tensor(string)": onnx.TensorProto.STRING}
    declared = [(i["name"], kinds[i["onnx_type"]]) for i in signature["inputs"]]
    assert declared == [(i.name, i.type.tensor_type.elem_type) for i in graph.input]
    assert signature["output"]["probability_output"] in [o.name for o in graph.output]
    assert set(signature["reference"]) == {name for name, _ in declared}
    assert len(signature["model"]["data_sha256"]) == 64
