"""Two rewrites of skl2onnx's graph that keep its numbers bit for bit and cut its work.

**The one-hot encoding by position.** skl2onnx converts the categorical branch (impute
"" as "missing", then one-hot encode) into about forty nodes that copy every string several
times over (Concat, ArrayFeatureExtractor, LabelEncoder, Cast, Where, Gather, OneHotEncoder):
on the default model, most of a one-record `run`. Each column's one-hot block is a function
of that column's string alone, so it can be computed from the string's position instead: a
LabelEncoder maps the string to its position among the categories (one past the last for a
category unseen in training), a OneHot per column turns the position into the vector (all
zeros for one past the last), and one Concat and Reshape lay them side by side as skl2onnx
did. The inputs, the numeric branch and the estimator are skl2onnx's,
so anyone running the released `model.onnx` gets the same probabilities, bit for bit
(tests/unit/test_onnx_graph.py checks it on every category, on missing and on unseen values),
only sooner.

**No missing-value routing in trees that never see a missing value.** A tree ensemble node
records, per split, where a NaN goes, and onnxruntime then tests every value it compares for
NaN. The pipeline imputes every number before the trees and the one-hot columns hold only 0 and 1,
so that test can never be true: when the graph proves it (every part of the trees' input comes
from an Imputer replacing NaN by numbers, or from a OneHot of constant 0 and 1), the routing
is dropped, and onnxruntime takes its plain comparison path.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper, numpy_helper

from conveyor.errors import ModelError

ML_DOMAIN = "ai.onnx.ml"


@dataclass(frozen=True)
class OneHotColumn:
    """One categorical input as the fitted encoder lays it out.

    `categories` are the one-hot columns in order; a missing value ("") is encoded as the
    category at `missing_index` (the imputer's fill value), or as all zeros when training saw
    no missing value; any other string not in `categories` is all zeros too.
    """

    name: str
    categories: tuple[str, ...]
    missing_index: int | None


def one_hot_columns(
    names: Sequence[str], categories: Sequence[Sequence[str]], fill_value: str
) -> list[OneHotColumn]:
    """The layout of the fitted one-hot encoder's columns, in the encoder's input order."""
    columns = []
    for name, fitted in zip(names, categories, strict=True):
        known = tuple(str(c) for c in fitted)
        missing = known.index(fill_value) if fill_value in known else None
        columns.append(OneHotColumn(name, known, missing))
    return columns


def with_lookup_encoding(
    model: onnx.ModelProto, columns: Sequence[OneHotColumn], missing_value: str, output: str
) -> onnx.ModelProto:
    """A copy of `model` whose categorical block, on the way to `output`, is computed from
    each string's position; the error names what is off when the graph is not laid out as
    skl2onnx does."""
    lean = onnx.ModelProto()
    lean.CopyFrom(model)
    graph = lean.graph
    block = _categorical_block(graph, {c.name for c in columns}, output)
    width = sum(len(c.categories) for c in columns)
    nodes, constants = _lookup_nodes(columns, missing_value, width, block)
    kept = [node for node in graph.node if block not in node.output]
    consumer_position = next(i for i, n in enumerate(kept) if block in n.input)
    ordered = kept[:consumer_position] + nodes + kept[consumer_position:]
    live, _ = _upstream(_producers(ordered), [o.name for o in graph.output])
    del graph.node[:]
    graph.node.extend(node for node in ordered if id(node) in live)
    used = {name for node in graph.node for name in node.input}
    initializers = [t for t in graph.initializer if t.name in used] + constants
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    onnx.checker.check_model(lean)
    return lean


def _lookup_nodes(
    columns: Sequence[OneHotColumn], missing_value: str, width: int, block: str
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Per column: string -> position (LabelEncoder; `size`, one past the last, for what has
    no column), position -> one-hot vector (OneHot, whose out-of-range positions are all
    zeros, so no table grows with the square of a column's categories); then the columns side
    by side, [N, 1, width] reshaped to [N, width]."""
    values = "conveyor_off_on"
    constants = [numpy_helper.from_array(np.array([0.0, 1.0], dtype=np.float32), values)]
    nodes: list[onnx.NodeProto] = []
    parts = []
    for position, column in enumerate(columns):
        size = len(column.categories)
        keys = [*column.categories, missing_value]
        rows = [*range(size), size if column.missing_index is None else column.missing_index]
        code, depth, part = (f"conveyor_{kind}_{position}" for kind in ("code", "depth", "hot"))
        nodes.append(
            helper.make_node(
                "LabelEncoder",
                [column.name],
                [code],
                domain=ML_DOMAIN,
                keys_strings=keys,
                values_int64s=rows,
                default_int64=size,
            )
        )
        constants.append(numpy_helper.from_array(np.array([size], dtype=np.int64), depth))
        nodes.append(helper.make_node("OneHot", [code, depth, values], [part], axis=-1))
        parts.append(part)
    shape = "conveyor_block_shape"
    constants.append(numpy_helper.from_array(np.array([-1, width], dtype=np.int64), shape))
    nodes.append(helper.make_node("Concat", parts, ["conveyor_block_3d"], axis=2))
    nodes.append(helper.make_node("Reshape", ["conveyor_block_3d", shape], [block]))
    return nodes, constants


def _categorical_block(graph: onnx.GraphProto, categorical: set[str], output: str) -> str:
    """The tensor holding the one-hot columns: the classifier's input when that depends on
    the categorical inputs alone, else the one part of the Concat feeding it that does."""
    producers = _producers(graph.node)
    graph_inputs = {i.name for i in graph.input}

    def categorical_alone(tensor: str) -> bool:
        inputs = _upstream(producers, [tensor])[1] & graph_inputs
        return bool(inputs) and inputs <= categorical

    classifier = _classifier_of(producers, output)
    features = str(classifier.input[0]) if classifier is not None else ""
    if categorical_alone(features):
        return features
    merge = producers.get(features)
    if merge is not None and merge.op_type == "Concat":
        alone = [str(name) for name in merge.input if categorical_alone(name)]
        if len(alone) == 1:
            return alone[0]
    raise ModelError(
        f"cannot find the one-hot block on the way to {output!r} in the converted graph: the "
        "classifier's input is neither categorical alone nor a Concat with one categorical "
        "part (has skl2onnx changed how it converts a ColumnTransformer?)"
    )


def _classifier_of(producers: dict[str, onnx.NodeProto], output: str) -> onnx.NodeProto | None:
    """The classifier node `output` comes from (skl2onnx's *Classifier ops), walking back
    along each node's data input past what follows it (a Normalizer, a Cast)."""
    node = producers.get(output)
    while node is not None and not node.op_type.endswith("Classifier"):
        node = producers.get(node.input[0]) if node.input else None
    return node


def without_dead_missing_routing(model: onnx.ModelProto, output: str) -> onnx.ModelProto:
    """A copy of `model` without the tree ensemble's per-split NaN routing, when no NaN can
    reach the ensemble; the model itself otherwise (a linear model, an input not proven)."""
    producers = _producers(model.graph.node)
    constants = {t.name: t for t in model.graph.initializer}
    ensemble = _classifier_of(producers, output)
    if ensemble is None or not ensemble.op_type.startswith("TreeEnsemble"):
        return model
    if not _never_nan(ensemble.input[0], producers, constants):
        return model
    lean = onnx.ModelProto()
    lean.CopyFrom(model)
    for node in lean.graph.node:
        if node.output == ensemble.output:
            kept = [a for a in node.attribute if a.name != MISSING_ROUTING]
            del node.attribute[:]
            node.attribute.extend(kept)
    onnx.checker.check_model(lean)
    return lean


MISSING_ROUTING = "nodes_missing_value_tracks_true"
"""The tree ensemble attribute saying, per split, whether a NaN takes the true branch."""


def _never_nan(
    tensor: str, producers: dict[str, onnx.NodeProto], constants: dict[str, onnx.TensorProto]
) -> bool:
    """Whether the graph guarantees `tensor` holds no NaN, by the nodes that make it: an
    Imputer replacing NaN by values that are not NaN; a OneHot whose off and on values are
    not NaN; a Concat or Reshape of such tensors. Anything else is not proven."""
    node = producers.get(tensor)
    if node is None:
        return tensor in constants and not np.isnan(numpy_helper.to_array(constants[tensor])).any()
    attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type == "Imputer":
        replaced = attributes.get("replaced_value_float", 0.0)
        filled = attributes.get("imputed_value_floats", [])
        return bool(filled) and math.isnan(replaced) and not any(map(math.isnan, filled))
    if node.op_type == "OneHot":  # every output is its off or its on value
        return _never_nan(node.input[2], producers, constants)
    if node.op_type in ("Concat", "Reshape"):
        data = node.input if node.op_type == "Concat" else node.input[:1]
        return all(_never_nan(name, producers, constants) for name in data)
    return False


def _producers(nodes: Iterable[onnx.NodeProto]) -> dict[str, onnx.NodeProto]:
    """Each tensor's producing node, by the tensor's name."""
    return {name: node for node in nodes for name in node.output}


def _upstream(
    producers: dict[str, onnx.NodeProto], tensors: Iterable[str]
) -> tuple[set[int], set[str]]:
    """What `tensors` are computed from: the ids of the nodes on the way and every tensor
    name met (graph inputs and initializers included), the given ones too."""
    nodes: set[int] = set()
    names: set[str] = set()
    stack = list(tensors)
    while stack:
        name = stack.pop()
        if name in names:
            continue
        names.add(name)
        node = producers.get(name)
        if node is not None and id(node) not in nodes:
            nodes.add(id(node))
            stack.extend(node.input)
    return nodes, names
