"""The OpenAPI document states the contract validation enforces: names, types, limits, classes.

Clients code against it and schemathesis fuzzes the live server from it, so a limit it states
differently from serve/validation.py would be a false promise or a blind spot.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest

from conveyor.contract import FLOAT32_MAX, STRING
from conveyor.serve.app import ROUTES
from conveyor.serve.openapi import build_openapi
from conveyor.serve.signature import InputField
from tests.serve.tiny_model import CATEGORIES, CLASSES, MAX_BATCH, tiny_signature


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_openapi(tiny_signature(), MAX_BATCH, "1.2.3")


def _schemas(document: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = document["components"]["schemas"]
    return schemas


def test_it_is_openapi_3_0_with_the_servers_version(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.0.")
    assert document["info"]["version"] == "1.2.3"
    json.dumps(document, allow_nan=False)  # strict JSON: the float limits are finite


def test_every_route_but_the_document_itself_is_described(document: dict[str, Any]) -> None:
    assert set(document["paths"]) == set(ROUTES) - {"/openapi.json"}
    operations = [op for path in document["paths"].values() for op in path.values()]
    assert len({op["operationId"] for op in operations}) == len(operations)


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    references = set(_references(document))
    assert references
    for reference in references:
        assert reference.startswith("#/components/schemas/")
        assert reference.rsplit("/", 1)[1] in _schemas(document)


def test_the_record_is_the_signatures_inputs_exactly(document: dict[str, Any]) -> None:
    record = _schemas(document)["Record"]
    assert record["required"] == ["tenure", "plan"]
    assert list(record["properties"]) == ["tenure", "plan"]
    assert record["additionalProperties"] is False
    assert {name: spec["type"] for name, spec in record["properties"].items()} == {
        "tenure": "number",
        "plan": "string",
    }
    assert all(spec["nullable"] is True for spec in record["properties"].values())


def test_numbers_are_limited_to_float32_as_validation_limits_them(
    document: dict[str, Any],
) -> None:
    tenure = _schemas(document)["Record"]["properties"]["tenure"]
    assert tenure["format"] == "float"
    assert (tenure["minimum"], tenure["maximum"]) == (-FLOAT32_MAX, FLOAT32_MAX)


def test_categories_seen_in_training_are_listed_with_an_example(document: dict[str, Any]) -> None:
    plan = _schemas(document)["Record"]["properties"]["plan"]
    assert plan["example"] == sorted(CATEGORIES)[0]
    assert f"Seen in training: {', '.join(sorted(CATEGORIES))}." in plan["description"]
    assert "enum" not in plan  # unknown categories are accepted, so they must stay valid


def test_long_category_lists_are_cut_and_empty_ones_have_no_example() -> None:
    many = InputField("city", STRING, frozenset(f"c{index:03d}" for index in range(60)))
    empty = InputField("note", STRING)
    signature = dataclasses.replace(tiny_signature(), fields=(many, empty))
    properties = _schemas(build_openapi(signature, 1, "0"))["Record"]["properties"]
    assert "c049" in properties["city"]["description"]
    assert "c050" not in properties["city"]["description"]
    assert "example" not in properties["note"]


def test_a_batch_holds_one_to_max_batch_records(document: dict[str, Any]) -> None:
    single, batch, columnar = _schemas(document)["PredictRequest"]["oneOf"]
    assert single == {"$ref": "#/components/schemas/Record"}
    assert batch["items"] == single
    assert (batch["minItems"], batch["maxItems"]) == (1, MAX_BATCH)
    assert columnar == {"$ref": "#/components/schemas/Columns"}


def test_the_columnar_body_holds_every_input_as_a_list_of_record_values(
    document: dict[str, Any],
) -> None:
    body = _schemas(document)["Columns"]
    assert (body["required"], body["additionalProperties"]) == (["columns"], False)
    columns = body["properties"]["columns"]
    assert columns["required"] == ["tenure", "plan"]
    assert columns["additionalProperties"] is False
    record = _schemas(document)["Record"]["properties"]
    for name, column in columns["properties"].items():
        assert column["type"] == "array"
        assert column["items"] == record[name]
        assert (column["minItems"], column["maxItems"]) == (1, MAX_BATCH)
    assert "same length" in body["description"]


def test_labels_are_the_signatures_classes(document: dict[str, Any]) -> None:
    prediction = _schemas(document)["PredictResponse"]["properties"]["predictions"]["items"]
    assert prediction["properties"]["label"]["enum"] == list(CLASSES)
    assert (
        prediction["properties"]["probability"]["minimum"],
        prediction["properties"]["probability"]["maximum"],
    ) == (0, 1)


def test_every_refusal_status_is_documented(document: dict[str, Any]) -> None:
    responses = document["paths"]["/predict"]["post"]["responses"]
    assert {"200", "400", "413", "415", "422"} <= set(responses)
    assert "503" in document["paths"]["/ready"]["get"]["responses"]
