"""A hand-written signature and a matching two-input ONNX graph, for the serving unit tests.

The serving rules are about the contract, not about the model the pipeline trained, so they
are tested against this stand-in: built in milliseconds, the same on every machine, and no
`dvc repro` between changing a rule and testing it. It has one input of each JSON type, which
is every kind of input the server knows.

The graph: p(yes) = sigmoid(0.05 * tenure + plan_code), where a missing tenure counts as 0 and
plan_code is 1 for "basic", 2 for "plus" and 0 for anything else (unknown or missing). So
{"tenure": 0, "plan": null} scores exactly 0.5, the threshold, and is labelled "yes".
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from conveyor.contract import LABEL_OUTPUT, MISSING_CATEGORY, PROBABILITY_OUTPUT
from conveyor.serve.signature import Signature, parse_signature

NUMBER_INPUT = "tenure"
CATEGORY_INPUT = "plan"
CATEGORIES = ("basic", "plus")
CLASSES = ("no", "yes")
AGE_WEIGHT = 0.05

_SIGNATURE: dict[str, Any] = {
    "schema_version": 1,
    "inputs": [
        {"name": NUMBER_INPUT, "type": "number", "onnx_type": "tensor(float)", "nullable": True},
        {
            "name": CATEGORY_INPUT,
            "type": "string",
            "onnx_type": "tensor(string)",
            "nullable": True,
            "missing_value": MISSING_CATEGORY,
            "categories": list(CATEGORIES),
        },
    ],
    "output": {
        "probability_output": PROBABILITY_OUTPUT,
        "label_output": LABEL_OUTPUT,
        "classes": list(CLASSES),
        "positive_class": CLASSES[1],
        "positive_index": 1,
        "threshold": 0.5,
    },
    "model": {"estimator": "tiny", "onnx_sha256": "0" * 64, "data_sha256": "d" * 64},
    "metrics": {"roc_auc": 0.75, "rows": 4},
    "parity": {"rows": 4, "max_abs_difference": 0.0},
    "reference": {NUMBER_INPUT: {"kind": "numeric", "mean": 40.0}},
}


def signature_document() -> dict[str, Any]:
    """A fresh copy of the hand-written `signature.json`, for a test to break as it likes."""
    return copy.deepcopy(_SIGNATURE)


def tiny_signature() -> Signature:
    return parse_signature(signature_document())


def positive_probability(tenure: float | None, plan: str | None) -> float:
    """What the graph computes, so a test can state the answer it expects."""
    code = {name: index + 1 for index, name in enumerate(CATEGORIES)}.get(plan or "", 0)
    score = np.float32(AGE_WEIGHT) * np.float32(tenure or 0.0) + np.float32(code)
    return float(1 / (1 + np.exp(-np.float64(score))))


def model_bytes() -> bytes:
    """The serialised graph: inputs `tenure` (float) and `plan` (string), both [N, 1]."""

    def constant(name: str, value: float) -> onnx.TensorProto:
        return numpy_helper.from_array(np.array(value, dtype=np.float32), name)

    nodes = [
        helper.make_node("IsNaN", [NUMBER_INPUT], ["age_missing"]),
        helper.make_node("Where", ["age_missing", "zero", NUMBER_INPUT], ["age_filled"]),
        helper.make_node("Mul", ["age_filled", "age_weight"], ["age_term"]),
        helper.make_node(
            "CategoryMapper",
            [CATEGORY_INPUT],
            ["plan_code"],
            domain="ai.onnx.ml",
            cats_strings=list(CATEGORIES),
            cats_int64s=list(range(1, len(CATEGORIES) + 1)),
            default_int64=0,
        ),
        helper.make_node("Cast", ["plan_code"], ["plan_term"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["age_term", "plan_term"], ["score"]),
        helper.make_node("Sigmoid", ["score"], ["positive"]),
        helper.make_node("Sub", ["one", "positive"], ["negative"]),
        helper.make_node("Concat", ["negative", "positive"], [PROBABILITY_OUTPUT], axis=1),
        helper.make_node("ArgMax", [PROBABILITY_OUTPUT], [LABEL_OUTPUT], axis=1, keepdims=0),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info(NUMBER_INPUT, TensorProto.FLOAT, [None, 1]),
            helper.make_tensor_value_info(CATEGORY_INPUT, TensorProto.STRING, [None, 1]),
        ],
        [
            helper.make_tensor_value_info(PROBABILITY_OUTPUT, TensorProto.FLOAT, [None, 2]),
            helper.make_tensor_value_info(LABEL_OUTPUT, TensorProto.INT64, [None]),
        ],
        initializer=[
            constant("zero", 0.0),
            constant("one", 1.0),
            constant("age_weight", AGE_WEIGHT),
        ],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
        ir_version=8,  # what every supported onnxruntime reads
    )
    onnx.checker.check_model(model, full_check=True)
    serialised: bytes = model.SerializeToString()
    return serialised


class ModelFiles(NamedTuple):
    """`model.onnx` and `signature.json` written where a test can point the server at them."""

    model: Path
    signature: Path
    document: dict[str, Any]


def write_model_files(directory: Path, document: dict[str, Any] | None = None) -> ModelFiles:
    """Write the graph and a signature (the hand-written one unless given) into `directory`.

    The signature's `onnx_sha256` is the graph's, as export writes it, so the model id the
    server derives from it is the real one.
    """
    graph = model_bytes()
    signature = signature_document() if document is None else copy.deepcopy(document)
    signature["model"]["onnx_sha256"] = hashlib.sha256(graph).hexdigest()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "model.onnx").write_bytes(graph)
    (directory / "signature.json").write_text(json.dumps(signature), encoding="utf-8")
    return ModelFiles(directory / "model.onnx", directory / "signature.json", signature)


MAX_BATCH = 5
"""The batch limit the refusal table is written for."""


class Refused(NamedTuple):
    """A request body the server must refuse, the status it answers and a piece of the message."""

    case: str
    body: bytes
    status: int
    needle: str


def _records(*records: Any) -> bytes:
    return json.dumps(list(records)).encode()


def _columns(**columns: Any) -> bytes:
    """A columnar body holding `columns` (an input's values, or anything in their place)."""
    return json.dumps({"columns": columns}).encode()


def _plan(text: bytes) -> bytes:
    """A record whose category is `text`, as raw bytes between the quotes."""
    return b'{"tenure": 1, "plan": "' + text + b'"}'


_GOOD = {NUMBER_INPUT: 40.0, CATEGORY_INPUT: "basic"}
REFUSED: list[Refused] = [
    Refused("missing", _records(_GOOD, {CATEGORY_INPUT: "basic"}), 422,
            "record 1: missing field(s) tenure"),
    Refused("extra", _records(_GOOD, {**_GOOD, "favourite_colour": "blue"}), 422,
            "record 1: unknown field(s) favourite_colour; expected tenure, plan"),
    Refused("number_as_string", _records(_GOOD, {**_GOOD, NUMBER_INPUT: "forty"}), 422,
            "record 1: field tenure must be a number or null, got a string"),
    Refused("boolean_number", _records(_GOOD, {**_GOOD, NUMBER_INPUT: True}), 422,
            "record 1: field tenure must be a number or null, got a boolean"),
    Refused("string_as_number", _records(_GOOD, {**_GOOD, CATEGORY_INPUT: 7}), 422,
            "record 1: field plan must be a string or null, got the number 7"),
    Refused("huge_number", _records(_GOOD, {**_GOOD, NUMBER_INPUT: 1e39}), 422,
            "record 1: field tenure is out of range for a 32-bit float"),
    Refused("huge_negative_number", _records(_GOOD, {**_GOOD, NUMBER_INPUT: -1e39}), 422,
            "record 1: field tenure is out of range for a 32-bit float"),
    Refused("huge_integer", _records(_GOOD, {**_GOOD, NUMBER_INPUT: 10**400}), 422,
            "record 1: field tenure is out of range for a 32-bit float"),
    Refused("not_an_object", _records(_GOOD, "oops"), 422,
            "record 1: must be a JSON object, got a string"),
    Refused("nan", b'{"tenure": NaN, "plan": "basic"}', 422, "NaN is not a number JSON allows"),
    Refused("infinity", b'[{"tenure": Infinity, "plan": "basic"}]', 422,
            "Infinity is not a number JSON allows"),
    Refused("negative_infinity", b'[{"tenure": -Infinity, "plan": null}]', 422,
            "-Infinity is not a number JSON allows"),
    Refused("empty_list", b"[]", 422, "body is an empty list: send at least one record"),
    Refused("over_the_batch_limit", _records(*[_GOOD] * (MAX_BATCH + 1)), 413,
            f"batch of {MAX_BATCH + 1} records exceeds the limit of {MAX_BATCH}"),
    Refused("not_json", b"{not json", 400, "request body is not valid JSON"),
    Refused("not_utf8", b"\xff\xfe", 400, "request body is not valid JSON"),
    Refused("empty_body", b"", 400, "request body is not valid JSON"),
    Refused("a_number", b"42", 422, "got the number 42"),
    Refused("a_string", b'"a string"', 422, "got a string"),
    Refused("null", b"null", 422, "got null"),
    # Found by a hostile-input corpus as 500s: each is the client's mistake, not the server's.
    Refused("deeply_nested", b"[" * 1_500 + b"]" * 1_500, 400, "nested too deeply"),
    Refused("lone_surrogate_key", b'{"tenure": 1, "plan": "basic", "x\\udfff": 1}', 422,
            "unknown field(s) x\\udfff"),
    # A category holding a lone UTF-16 surrogate (as a JSON escape or encoded as UTF-8 bytes,
    # which Python's reader decodes alike), or bytes that are not UTF-8 at all.
    *(Refused(case, _plan(text), 422, "field plan holds a lone UTF-16 surrogate")
      for case, text in (("lone_surrogate_value", b"\\ud800"), ("lone_low_surrogate", b"\\udc00"),
                         ("reversed_surrogate_pair", b"\\udc00\\ud800"),
                         ("utf8_encoded_surrogate", b"\xed\xa0\x80"))),
    *(Refused(case, _plan(text), 400, "request body is not valid JSON")
      for case, text in (("invalid_utf8_in_string", b"\xc3\x28"), ("overlong_utf8", b"\xc0\xaf"),
                         ("truncated_utf8", b"\xe2\x82"))),
    Refused("deeply_nested_value",
            b'{"tenure": ' + b"[" * 1_500 + b"]" * 1_500 + b', "plan": null}', 400,
            "nested too deeply"),
    # The columnar form ({"columns": {input: [values...]}}): its shape, then each value, named
    # by column and row.
    Refused("columns_unequal", _columns(tenure=[1, 2], plan=["basic"]), 422,
            "column plan has 1 value(s) but column tenure has 2"),
    Refused("columns_empty", _columns(tenure=[], plan=[]), 422,
            "the columns are empty: send at least one row"),
    Refused("columns_over_the_batch_limit",
            _columns(tenure=[1] * (MAX_BATCH + 1), plan=["basic"] * (MAX_BATCH + 1)), 413,
            f"batch of {MAX_BATCH + 1} rows exceeds the limit of {MAX_BATCH}"),
    Refused("columns_missing", _columns(tenure=[1]), 422, "missing column(s) plan"),
    Refused("columns_unknown", _columns(tenure=[1], plan=["basic"], colour=["blue"]), 422,
            "unknown column(s) colour; expected tenure, plan"),
    Refused("columns_not_an_object", b'{"columns": [[1, "basic"]]}', 422,
            "columns must be a JSON object of one list per input, got a list"),
    Refused("column_not_a_list", _columns(tenure=1, plan=["basic"]), 422,
            "column tenure must be a list of values, got the number 1"),
    Refused("columns_beside_another_key", b'{"columns": {"tenure": [1], "plan": [null]}, "v": 2}',
            422, "a columnar body holds only columns; unknown key(s) v"),
    Refused("column_number_as_string", _columns(tenure=[1, 2, 3, "forty"], plan=["basic"] * 4),
            422, "column tenure, row 3: must be a number or null, got a string"),
    Refused("column_string_as_number", _columns(tenure=[1, 2], plan=["basic", 7]), 422,
            "column plan, row 1: must be a string or null, got the number 7"),
    Refused("column_huge_number", _columns(tenure=[1e39], plan=["basic"]), 422,
            "column tenure, row 0: is out of range for a 32-bit float"),
    Refused("column_lone_surrogate", b'{"columns": {"tenure": [1], "plan": ["\\ud800"]}}', 422,
            "column plan, row 0: holds a lone UTF-16 surrogate"),
    Refused("column_nan", b'{"columns": {"tenure": [NaN], "plan": ["basic"]}}', 422,
            "NaN is not a number JSON allows"),
]  # fmt: skip
"""Every class of bad body, once; the validation and the app tests both run all of them."""
