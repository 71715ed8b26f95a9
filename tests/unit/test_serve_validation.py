"""Request bodies -> model columns or a 4xx naming the record (or column) and field: every
rule, no server.

The signature is the hand-written one of tests/serve/tiny_model.py (a number `tenure`, a category
`plan`), so a rule changed in serve/validation.py is tested here without a pipeline run.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from conveyor.contract import FLOAT32_MAX, MISSING_CATEGORY, NUMERIC_DTYPE
from conveyor.serve.signature import parse_signature
from conveyor.serve.validation import Batch, RequestError, parse_strict_json, to_batch
from tests.serve.tiny_model import MAX_BATCH, REFUSED, Refused, signature_document, tiny_signature

GOOD = {"tenure": 40.0, "plan": "basic"}


def _batch(payload: Any, max_batch: int = MAX_BATCH) -> Batch:
    return to_batch(payload, tiny_signature(), max_batch)


def _refusal(payload: Any, max_batch: int = MAX_BATCH) -> RequestError:
    with pytest.raises(RequestError) as refused:
        _batch(payload, max_batch)
    return refused.value


@pytest.mark.parametrize("case", REFUSED, ids=[case.case for case in REFUSED])
def test_every_bad_body_is_refused_by_name(case: Refused) -> None:
    with pytest.raises(RequestError) as refused:
        _batch(parse_strict_json(case.body))
    assert refused.value.status == case.status
    assert case.needle in refused.value.message
    assert str(refused.value) == refused.value.message


def test_one_record_is_a_batch_of_one() -> None:
    batch = _batch(GOOD)
    assert set(batch.columns) == {"tenure", "plan"}
    assert batch.columns["tenure"].dtype == NUMERIC_DTYPE
    assert batch.columns["tenure"].shape == (1, 1)
    assert batch.columns["plan"].dtype == object
    assert batch.columns["plan"].tolist() == [["basic"]]
    assert batch.unknown_categories == {}


def test_a_list_keeps_its_order_and_numbers_become_float32() -> None:
    batch = _batch([{"tenure": 1, "plan": "plus"}, {"tenure": 2.5, "plan": "basic"}])
    assert batch.columns["tenure"].tolist() == [[1.0], [2.5]]
    assert batch.columns["plan"].tolist() == [["plus"], ["basic"]]


def test_the_batch_limit_is_inclusive() -> None:
    assert _batch([GOOD] * MAX_BATCH).columns["tenure"].shape == (MAX_BATCH, 1)
    refused = _refusal([GOOD] * (MAX_BATCH + 1))
    assert refused.status == 413


def test_null_is_missing_as_in_training() -> None:
    batch = _batch({"tenure": None, "plan": None})
    assert math.isnan(batch.columns["tenure"][0, 0])
    assert batch.columns["plan"][0, 0] == MISSING_CATEGORY
    assert batch.unknown_categories == {}


def test_categories_lose_surrounding_spaces_as_in_training() -> None:
    batch = _batch([{"tenure": 1, "plan": " basic\t"}, {"tenure": 1, "plan": "   "}])
    assert batch.columns["plan"].tolist() == [["basic"], [MISSING_CATEGORY]]
    assert batch.unknown_categories == {}  # blank is missing, not an unknown category


def test_unknown_categories_are_accepted_and_counted_per_input() -> None:
    records = [
        {"tenure": 1, "plan": "Atlantis"},
        {"tenure": 1, "plan": "basic"},
        {"tenure": 1, "plan": "gold"},
        {"tenure": 1, "plan": None},
    ]
    batch = _batch(records)
    assert batch.columns["plan"].tolist() == [["Atlantis"], ["basic"], ["gold"], [""]]
    assert batch.unknown_categories == {"plan": 2}


@pytest.mark.parametrize(
    "value", [0, -3, 39, 1e-45, FLOAT32_MAX, -FLOAT32_MAX, 10**38, 2.5], ids=repr
)
def test_numbers_a_float32_holds_are_accepted(value: float) -> None:
    column = _batch({"tenure": value, "plan": "basic"}).columns["tenure"]
    assert column[0, 0] == np.float32(value)
    assert np.isfinite(column).all()


@pytest.mark.parametrize(
    "value",
    [1e39, -1e39, 2**128, -(2**128), 10**400, math.inf, -math.inf, math.nan, 1.7e308],
    ids=repr,
)
def test_numbers_beyond_float32_are_refused(value: float) -> None:
    refused = _refusal([GOOD, {"tenure": value, "plan": "basic"}])
    assert refused.status == 422
    assert refused.message.startswith("record 1: field tenure is out of range for a 32-bit float")


@pytest.mark.parametrize(
    ("value", "described"),
    [
        (True, "a boolean"),
        (False, "a boolean"),
        ("40", "a string"),
        ([40], "a list"),
        ({"value": 40}, "an object"),
    ],
)
def test_a_number_must_be_a_json_number(value: Any, described: str) -> None:
    refused = _refusal({"tenure": value, "plan": "basic"})
    assert refused.message == f"record 0: field tenure must be a number or null, got {described}"


@pytest.mark.parametrize(
    ("value", "described"),
    [(7, "the number 7"), (1.5, "the number 1.5"), (True, "a boolean"), (["a"], "a list")],
)
def test_a_category_must_be_a_json_string(value: Any, described: str) -> None:
    refused = _refusal({"tenure": 1, "plan": value})
    assert refused.message == f"record 0: field plan must be a string or null, got {described}"


def test_every_missing_field_is_named_in_signature_order() -> None:
    assert _refusal({}).message == "record 0: missing field(s) tenure, plan"


def test_unknown_fields_are_named_with_the_expected_ones() -> None:
    refused = _refusal({**GOOD, "zeta": 1, "alpha": 2})
    assert refused.message == "record 0: unknown field(s) alpha, zeta; expected tenure, plan"


def test_a_missing_field_is_named_before_an_unknown_one() -> None:
    refused = _refusal({"plan": "basic", "agee": 40})
    assert refused.message == "record 0: missing field(s) tenure"


@pytest.mark.parametrize(
    ("record", "described"),
    [("oops", "a string"), ([GOOD], "a list"), (None, "null"), (3, "the number 3")],
)
def test_each_record_must_be_an_object(record: Any, described: str) -> None:
    refused = _refusal([GOOD, record])
    assert refused.message == f"record 1: must be a JSON object, got {described}"


@pytest.mark.parametrize(
    ("payload", "described"),
    [(42, "the number 42"), ("text", "a string"), (None, "null"), (True, "a boolean")],
)
def test_the_body_must_be_a_record_or_a_list(payload: Any, described: str) -> None:
    refused = _refusal(payload)
    assert refused.status == 422
    assert refused.message.endswith(f"got {described}")


def test_the_first_bad_record_is_the_one_named() -> None:
    refused = _refusal([GOOD, {"tenure": "x", "plan": "basic"}, {"tenure": 1}])
    assert refused.message.startswith("record 1: field tenure")


def test_strict_json_refuses_what_python_would_accept() -> None:
    assert parse_strict_json(b'{"tenure": 1e3, "plan": null}') == {"tenure": 1000.0, "plan": None}
    for constant in ("NaN", "Infinity", "-Infinity"):
        with pytest.raises(RequestError) as refused:
            parse_strict_json(f'{{"tenure": {constant}}}'.encode())
        assert refused.value.status == 422
        assert refused.value.message.startswith(f"{constant} is not a number JSON allows")


def _columnar(**columns: Any) -> dict[str, Any]:
    return {"columns": columns}


def test_a_columnar_body_is_the_same_batch_as_its_records() -> None:
    records = [
        {"tenure": 1, "plan": " plus"},
        {"tenure": None, "plan": "Atlantis"},
        {"tenure": 2.5, "plan": None},
    ]
    by_columns = _batch(_columnar(plan=[" plus", "Atlantis", None], tenure=[1, None, 2.5]))
    by_records = _batch(records)
    assert by_columns.columns.keys() == by_records.columns.keys()
    for name, column in by_columns.columns.items():
        np.testing.assert_array_equal(column, by_records.columns[name])
        assert column.dtype == by_records.columns[name].dtype
    assert by_columns.unknown_categories == by_records.unknown_categories == {"plan": 1}


def test_the_batch_limit_holds_for_columns_too() -> None:
    rows = _columnar(tenure=[1] * MAX_BATCH, plan=["basic"] * MAX_BATCH)
    assert _batch(rows).columns["plan"].shape == (MAX_BATCH, 1)
    refused = _refusal(_columnar(tenure=[1] * (MAX_BATCH + 1), plan=["basic"] * (MAX_BATCH + 1)))
    assert (refused.status, refused.message) == (413, "batch of 6 rows exceeds the limit of 5")


def test_unequal_columns_name_both_columns_and_lengths() -> None:
    refused = _refusal(_columnar(tenure=[1, 2, 3], plan=["basic"]))
    assert refused.message == (
        "column plan has 1 value(s) but column tenure has 3: every column holds one value per row"
    )


def test_the_first_bad_value_is_named_by_column_then_row() -> None:
    """Column by column in signature order: a bad `tenure` anywhere is named before `plan`."""
    refused = _refusal(_columnar(tenure=[1, 2, True, "x"], plan=[5, "basic", "basic", "basic"]))
    assert refused.message == "column tenure, row 2: must be a number or null, got a boolean"


def test_missing_columns_are_named_before_unknown_ones() -> None:
    assert _refusal(_columnar(plan=["basic"], agee=[1])).message == "missing column(s) tenure"
    assert _refusal(_columnar()).message == "missing column(s) tenure, plan"


@pytest.mark.parametrize(
    ("columns", "described"),
    [([[1, "basic"]], "a list"), ("tenure", "a string"), (None, "null"), (3, "the number 3")],
)
def test_columns_must_be_an_object(columns: Any, described: str) -> None:
    refused = _refusal({"columns": columns})
    assert refused.message == (
        f"columns must be a JSON object of one list per input, got {described}"
    )


def test_a_record_with_a_stray_columns_field_is_still_read_as_a_record() -> None:
    """Only an object whose `columns` is an object, or that holds `columns` alone, is columnar:
    a record carrying one field too many is told so, as any record is."""
    refused = _refusal({**GOOD, "columns": 3})
    assert refused.message == "record 0: unknown field(s) columns; expected tenure, plan"
    refused = _refusal({"columns": {"tenure": [1], "plan": ["basic"]}, **GOOD})
    assert refused.message == "a columnar body holds only columns; unknown key(s) plan, tenure"


def test_an_input_called_columns_keeps_its_records() -> None:
    """A record's values are never objects, so `{"columns": <number>}` is a record wherever an
    input has that name, and `{"columns": {...}}` is still a columnar body."""
    document = signature_document()
    document["inputs"][0]["name"] = "columns"
    signature = parse_signature(document)
    record = to_batch({"columns": 3, "plan": "basic"}, signature, MAX_BATCH)
    assert record.columns["columns"].tolist() == [[3.0]]
    columnar = to_batch({"columns": {"columns": [3], "plan": ["basic"]}}, signature, MAX_BATCH)
    assert columnar.columns["columns"].tolist() == [[3.0]]
    with pytest.raises(RequestError) as refused:
        to_batch({"columns": [3], "plan": "basic"}, signature, MAX_BATCH)
    assert refused.value.message == "record 0: field columns must be a number or null, got a list"
    with pytest.raises(RequestError) as refused:
        to_batch({"columns": "3"}, signature, MAX_BATCH)
    assert refused.value.message == "record 0: missing field(s) plan"
