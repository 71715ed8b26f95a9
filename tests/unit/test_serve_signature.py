"""signature.json -> the contract the server enforces: each rule, with no pipeline run.

A signature that parses is trusted for every request, so each way it can be wrong must be
refused at start-up by name.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conveyor.contract import MISSING_CATEGORY, NUMBER, STRING
from conveyor.serve.signature import (
    InputField,
    SignatureError,
    check_against_graph,
    load_signature,
    parse_signature,
)
from tests.serve.tiny_model import CATEGORIES, CLASSES, signature_document, tiny_signature

GRAPH_INPUTS = {"tenure": "tensor(float)", "plan": "tensor(string)"}


def test_the_hand_written_signature_parses_into_the_contract() -> None:
    document = signature_document()
    signature = parse_signature(document)
    assert signature.fields == (
        InputField("tenure", NUMBER),
        InputField("plan", STRING, frozenset(CATEGORIES), MISSING_CATEGORY),
    )
    assert signature.names == ("tenure", "plan")
    assert signature.classes == CLASSES
    assert (signature.positive_index, signature.threshold) == (1, 0.5)
    assert signature.probability_output == "probabilities"
    assert signature.model_info == document["model"]
    assert signature.document == document


def test_a_missing_value_defaults_to_the_contracts_missing_category() -> None:
    document = signature_document()
    del document["inputs"][1]["missing_value"]
    assert parse_signature(document).fields[1].missing_value == MISSING_CATEGORY


def test_a_signature_without_model_section_has_no_model_info() -> None:
    document = signature_document()
    del document["model"]
    assert parse_signature(document).model_info == {}


Edit = Callable[[dict[str, Any]], Any]


def _set(path: str, value: Any) -> Edit:
    """An edit setting `a.b.0.c` (list indices as numbers) to `value`."""

    def edit(document: dict[str, Any]) -> dict[str, Any]:
        *parents, last = path.split(".")
        target: Any = document
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        target[int(last) if last.isdigit() else last] = value
        return document

    return edit


def _delete(path: str) -> Edit:
    def edit(document: dict[str, Any]) -> dict[str, Any]:
        *parents, last = path.split(".")
        target: Any = document
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        del target[int(last) if last.isdigit() else last]
        return document

    return edit


def _duplicate_first_input(document: dict[str, Any]) -> dict[str, Any]:
    document["inputs"].append(dict(document["inputs"][0]))
    return document


MALFORMED: list[tuple[str, Edit, str]] = [
    ("not_an_object", lambda document: [document], "must be a JSON object, got list"),
    ("no_inputs", _delete("inputs"), "missing key 'inputs'"),
    ("inputs_not_a_list", _set("inputs", "tenure"), "'inputs' must be a list, got str"),
    ("inputs_empty", _set("inputs", []), "'inputs' is empty"),
    ("input_not_an_object", _set("inputs.0", "tenure"), "each of 'inputs' must be an object"),
    ("input_without_name", _delete("inputs.0.name"), "missing key 'name'"),
    ("input_without_type", _delete("inputs.0.type"), "missing key 'type'"),
    ("unsupported_type", _set("inputs.0.type", "boolean"),
     "'tenure' has unsupported type 'boolean'"),
    ("type_not_a_string", _set("inputs.0.type", ["number"]), "'tenure' has unsupported type"),
    ("categories_not_a_list", _set("inputs.1.categories", "basic"),
     "'inputs.plan.categories' must be a list"),
    ("repeated_name", _duplicate_first_input, "'inputs' names tenure more than once"),
    ("no_output", _delete("output"), "missing key 'output'"),
    ("output_not_an_object", _set("output", []), "'output' must be an object, got list"),
    ("no_classes", _delete("output.classes"), "missing key 'classes'"),
    ("classes_not_a_list", _set("output.classes", "no,yes"), "'output.classes' must be a list"),
    ("one_class", _set("output.classes", ["yes"]), "must hold two classes, got ['yes']"),
    ("three_classes", _set("output.classes", ["a", "b", "c"]), "must hold two classes"),
    ("no_positive_index", _delete("output.positive_index"), "missing key 'positive_index'"),
    ("positive_index_2", _set("output.positive_index", 2), "must be 0 or 1, got 2"),
    ("positive_index_text", _set("output.positive_index", "1"), "must be 0 or 1, got '1'"),
    ("positive_index_boolean", _set("output.positive_index", True), "must be 0 or 1, got True"),
    ("no_threshold", _delete("output.threshold"), "missing key 'threshold'"),
    ("threshold_0", _set("output.threshold", 0), "'output.threshold' must be between 0 and 1"),
    ("threshold_1", _set("output.threshold", 1.0), "'output.threshold' must be between 0 and 1"),
    ("threshold_negative", _set("output.threshold", -0.5), "must be between 0 and 1, got -0.5"),
    ("threshold_nan", _set("output.threshold", math.nan), "must be between 0 and 1, got nan"),
    ("threshold_text", _set("output.threshold", "half"), "could not convert string to float"),
    ("threshold_null", _set("output.threshold", None), "float() argument must be"),
    ("no_probability_output", _delete("output.probability_output"),
     "missing key 'probability_output'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("edit", "needle"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_a_malformed_signature_is_refused_by_key(edit: Edit, needle: str) -> None:
    with pytest.raises(SignatureError) as refused:
        parse_signature(edit(signature_document()))
    assert needle in str(refused.value)


def test_a_file_that_is_not_there_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(SignatureError, match="does not exist") as refused:
        load_signature(tmp_path / "signature.json")
    assert "CONVEYOR_SIGNATURE_PATH" in str(refused.value)
    assert "dvc repro" in str(refused.value)


@pytest.mark.parametrize("content", [b"{", b"\xff\xfe{}", None], ids=["json", "utf8", "a-folder"])
def test_a_file_that_is_not_json_is_refused(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "signature.json"
    if content is None:
        path.mkdir()
    else:
        path.write_bytes(content)
    with pytest.raises(
        SignatureError, match=f"signature file {re.escape(str(path))} is not readable JSON"
    ):
        load_signature(path)


def test_a_malformed_file_names_the_file_then_the_key(tmp_path: Path) -> None:
    path = tmp_path / "signature.json"
    path.write_text('{"inputs": []}', encoding="utf-8")
    with pytest.raises(SignatureError) as refused:
        load_signature(path)
    assert str(refused.value) == f"signature file {path} is malformed: 'inputs' is empty"


def test_a_good_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "signature.json"
    path.write_text(json.dumps(signature_document()), encoding="utf-8")
    assert load_signature(path) == tiny_signature()


def test_the_signature_of_the_graph_passes() -> None:
    check_against_graph(tiny_signature(), GRAPH_INPUTS, ["label", "probabilities"])


@pytest.mark.parametrize(
    "graph_inputs",
    [
        {"tenure": "tensor(float)"},
        {**GRAPH_INPUTS, "hours": "tensor(float)"},
        {"tenure": "tensor(double)", "plan": "tensor(string)"},
        {"tenure": "tensor(float)", "plan": "tensor(float)"},
        {"years": "tensor(float)", "plan": "tensor(string)"},
    ],
    ids=["input-missing", "input-extra", "number-type", "category-type", "renamed"],
)
def test_inputs_unlike_the_graphs_are_refused(graph_inputs: dict[str, str]) -> None:
    with pytest.raises(SignatureError) as refused:
        check_against_graph(tiny_signature(), graph_inputs, ["probabilities"])
    message = str(refused.value)
    assert "model.onnx and signature.json describe different models" in message
    assert str(graph_inputs) in message
    assert "conveyor export" in message


def test_a_probability_output_the_graph_lacks_is_refused() -> None:
    with pytest.raises(SignatureError, match=r"model\.onnx has no output 'probabilities'"):
        check_against_graph(tiny_signature(), GRAPH_INPUTS, ["label", "output_probability"])
