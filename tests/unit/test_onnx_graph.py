"""The exported graph's rewrites give skl2onnx's probabilities, bit for bit."""

from __future__ import annotations

from collections import Counter
from typing import get_args

import numpy as np
import onnx
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from conveyor.config import EstimatorName, Settings, parse_settings
from conveyor.contract import MISSING_CATEGORY, PROBABILITY_OUTPUT
from conveyor.errors import ModelError
from conveyor.export import convert_pipeline, onnx_feeds, onnx_probabilities, to_onnx
from conveyor.features import model_inputs, target_vector
from conveyor.onnx_graph import (
    MISSING_ROUTING,
    OneHotColumn,
    with_lookup_encoding,
    without_dead_missing_routing,
)
from conveyor.train import build_pipeline
from tests.conftest import churn_frame, churn_params, section

SMALL = {"random_forest": {"n_estimators": 5}, "hist_gradient_boosting": {"max_iter": 10}}


def _fitted(
    params: dict[str, object], *, holed: bool = False, distinct: bool = False
) -> tuple[Settings, Pipeline, pd.DataFrame]:
    """The pipeline fitted on the churn table, with some categories missing when `holed`, and
    the first categorical input holding a category of its own on every row when `distinct`."""
    settings = parse_settings(params)
    frame = churn_frame(300)
    inputs = model_inputs(frame, settings.data)
    if holed:
        inputs = _with_missing_categories(inputs, settings)
    if distinct:
        name = settings.data.model_categorical_features[0]
        inputs[name] = [f"{name}-{row}" for row in range(len(inputs))]
    pipeline = build_pipeline(settings.data, settings.model)
    pipeline.fit(inputs, target_vector(frame, settings.data))
    return settings, pipeline, inputs


def _probe_rows(inputs: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """The data's rows, then for each categorical input every value it took, a missing one
    and one never seen, each beside a row of missing numbers."""
    rows = [inputs]
    for name in settings.data.model_categorical_features:
        values = [*sorted(set(inputs[name])), MISSING_CATEGORY, "never-seen", " padded "]
        probe = inputs.iloc[[0] * len(values)].copy()
        probe[name] = values
        for numeric in settings.data.model_numeric_features:
            probe[numeric] = np.nan
        rows.append(probe)
    return pd.concat(rows, ignore_index=True)


def _with_missing_categories(inputs: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Training rows with some categories missing, so the imputer's fill value is a category."""
    holed = inputs.copy()
    name = settings.data.model_categorical_features[0]
    holed.loc[holed.index[::7], name] = MISSING_CATEGORY
    return holed


def _exported_as_skl2onnx_would(
    settings: Settings, pipeline: Pipeline, inputs: pd.DataFrame
) -> tuple[bytes, onnx.ModelProto]:
    """Conveyor's export and skl2onnx's own graph, once their probabilities on the probe rows
    are checked equal to the last bit."""
    lean = to_onnx(pipeline, settings.data, settings.export)
    plain = convert_pipeline(pipeline, settings.data, settings.export)
    feeds = onnx_feeds(_probe_rows(inputs, settings), settings.data)
    expected = onnx_probabilities(plain.SerializeToString(), feeds)
    assert np.array_equal(onnx_probabilities(lean, feeds), expected)
    return lean, plain


@pytest.mark.parametrize("estimator", get_args(EstimatorName))
@pytest.mark.parametrize("missing_in_training", [False, True], ids=["complete", "holed"])
def test_lookup_encoding_gives_skl2onnx_probabilities_exactly(
    estimator: str, missing_in_training: bool
) -> None:
    params = churn_params(estimator=estimator, hyperparameters=SMALL.get(estimator, {"C": 1.0}))
    settings, pipeline, inputs = _fitted(params, holed=missing_in_training)
    lean, plain = _exported_as_skl2onnx_would(settings, pipeline, inputs)
    graph = onnx.load_from_string(lean).graph
    operators = Counter(node.op_type for node in graph.node)
    assert operators["OneHotEncoder"] == 0
    assert operators["LabelEncoder"] == len(settings.data.model_categorical_features)
    assert len(graph.node) < len(plain.graph.node)
    routed = [n for n in graph.node if any(a.name == MISSING_ROUTING for a in n.attribute)]
    assert routed == []


def _routing(model: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in model.graph.node for a in n.attribute if a.name == MISSING_ROUTING]


def test_missing_routing_stays_where_a_nan_could_reach_the_trees() -> None:
    """Numbers alone, imputed: the routing goes. The guard trips: an imputer that could leave
    a NaN (here, one that fills with NaN) keeps it, as it then decides where that NaN goes."""
    params = churn_params(estimator="hist_gradient_boosting", hyperparameters={"max_iter": 10})
    section(params, "data")["categorical_features"] = []
    settings, pipeline, _ = _fitted(params)
    plain = convert_pipeline(pipeline, settings.data, settings.export)
    assert _routing(plain) and not _routing(without_dead_missing_routing(plain, PROBABILITY_OUTPUT))
    leaky = onnx.ModelProto()
    leaky.CopyFrom(plain)
    (imputer,) = [n for n in leaky.graph.node if n.op_type == "Imputer"]
    (filled,) = [a for a in imputer.attribute if a.name == "imputed_value_floats"]
    filled.floats[0] = float("nan")
    assert _routing(without_dead_missing_routing(leaky, PROBABILITY_OUTPUT)) == _routing(plain)


def test_categorical_inputs_alone_are_encoded_by_lookup_too() -> None:
    params = churn_params()
    section(params, "data")["numeric_features"] = []
    settings, pipeline, inputs = _fitted(params)
    _exported_as_skl2onnx_would(settings, pipeline, inputs)


def test_a_graph_without_a_categorical_block_is_refused_by_name() -> None:
    """The rewrite trips, naming the output it walked back from, rather than guess."""
    settings, pipeline, _ = _fitted(churn_params())
    plain = convert_pipeline(pipeline, settings.data, settings.export)
    unrelated = [OneHotColumn("not_an_input", ("a", "b"), None)]
    with pytest.raises(ModelError, match=rf"one-hot block on the way to '{PROBABILITY_OUTPUT}'"):
        with_lookup_encoding(plain, unrelated, MISSING_CATEGORY, PROBABILITY_OUTPUT)


def test_a_column_of_many_categories_keeps_the_graph_near_skl2onnx_size() -> None:
    """Nothing in the rewrite grows with the square of a column's categories (a team's
    postcode or product id): here one category per row, 300 in all, which a table of one-hot
    rows would hold as 300 x 300 floats, over 40 times skl2onnx's whole graph."""
    settings, pipeline, inputs = _fitted(churn_params(), distinct=True)
    lean, plain = _exported_as_skl2onnx_would(settings, pipeline, inputs)
    assert len(lean) < 1.5 * len(plain.SerializeToString())
