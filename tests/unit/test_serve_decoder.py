"""The server's decoder (`RequestDecoder`, one msgspec pass) against the specification
(`parse_strict_json` + `to_batch`, one value at a time): the same answer for any body.

The decoder only decides fast; every refusal message is the specification's. So the tests
here are differential: whatever bytes arrive, both readers must accept with the same columns
and unseen-category counts, or refuse with the same status and message. Hypothesis writes the
bodies: record-shaped and columnar JSON with every kind of wrong value, and raw bytes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from conveyor.serve.signature import Signature, parse_signature
from conveyor.serve.validation import (
    Batch,
    RequestDecoder,
    RequestError,
    parse_strict_json,
    to_batch,
)
from tests.serve.tiny_model import (
    CATEGORIES,
    CATEGORY_INPUT,
    MAX_BATCH,
    NUMBER_INPUT,
    REFUSED,
    Refused,
    signature_document,
    tiny_signature,
)

DECODER = RequestDecoder(tiny_signature(), MAX_BATCH)


def _outcome(read: Any, body: bytes) -> tuple[Any, ...]:
    """What a reader made of `body`, in a form two readers' results compare by ==."""
    try:
        batch: Batch = read(body)
    except RequestError as refused:
        return ("refused", refused.status, refused.message)

    def seen(array: Any) -> Any:
        if array is None:
            return None
        return (array.dtype.str, array.shape, [repr(value) for value in array.ravel().tolist()])

    columns = {name: seen(column) for name, column in batch.columns.items()}
    # the matrices the drift tracker reads, besides the columns the model reads
    matrices = (seen(batch.numbers), seen(batch.texts))
    return ("batch", columns, dict(batch.unknown_categories), matrices)


def _reference_for(signature: Signature) -> Callable[[bytes], Batch]:
    """The specification's reader for `signature`, as the decoder falls back to it."""

    def read(body: bytes) -> Batch:
        return to_batch(parse_strict_json(body), signature, MAX_BATCH)

    return read


_reference = _reference_for(tiny_signature())


def _same_answer(body: bytes) -> None:
    assert _outcome(DECODER.decode, body) == _outcome(_reference, body)


@pytest.mark.parametrize("case", REFUSED, ids=[case.case for case in REFUSED])
def test_the_decoder_refuses_every_bad_body_with_the_specifications_message(case: Refused) -> None:
    with pytest.raises(RequestError) as refused:
        DECODER.decode(case.body)
    assert refused.value.status == case.status
    assert case.needle in refused.value.message
    _same_answer(case.body)


@pytest.mark.parametrize(
    "body",
    [
        b'{"tenure": 40, "plan": "basic"}',
        b'[{"tenure": null, "plan": null}, {"tenure": -0.0, "plan": "  plus "}]',
        b'{"plan": "gold", "tenure": 3.4028234663852886e38}',  # the float32 limit itself
        b'{"tenure": 123456789012345678901234567890, "plan": "\\u00e9"}',
        b'{"tenure": 1e-400, "plan": "basic", "tenure": 2}',  # a repeated key: the last wins
        b'\xef\xbb\xbf{"tenure": 1, "plan": "basic"}',  # a UTF-8 byte order mark
        '{"tenure": 1, "plan": "basic"}'.encode("utf-16"),  # Python's reader takes UTF-16
    ],
    ids=["one", "missing_and_spaces", "float32_limit", "big_int", "repeated", "bom", "utf16"],
)
def test_the_decoder_serves_what_the_specification_serves(body: bytes) -> None:
    assert _outcome(_reference, body)[0] == "batch"
    _same_answer(body)


def test_a_served_batch_has_float32_and_text_columns_one_row_per_record() -> None:
    batch = DECODER.decode(b'[{"tenure": 1, "plan": " gold "}, {"tenure": null, "plan": null}]')
    tenure, plan = batch.columns[NUMBER_INPUT], batch.columns[CATEGORY_INPUT]
    assert tenure.dtype == np.float32 and tenure.shape == (2, 1)
    assert np.isnan(tenure[1, 0])
    assert plan.ravel().tolist() == ["gold", tiny_signature().fields[1].missing_value]
    assert batch.unknown_categories == {CATEGORY_INPUT: 1}


def test_inputs_named_as_no_python_attribute_can_be_decoded() -> None:
    """A team's columns may be called `education-num` or `class`; the record type maps them."""
    document = signature_document()
    document["inputs"][0]["name"] = "education-num"
    document["inputs"][1]["name"] = "class"
    decoder = RequestDecoder(parse_signature(document), MAX_BATCH)
    batch = decoder.decode(b'{"education-num": 3, "class": "basic"}')
    assert batch.columns["education-num"].ravel().tolist() == [3.0]
    with pytest.raises(RequestError, match=r"missing field\(s\) education-num"):
        decoder.decode(b'{"i0": 3, "class": "basic"}')


_TEXT = st.one_of(
    st.sampled_from([*CATEGORIES, "", " basic ", "gold", "\u00e9", "\x00"]),
    st.text(max_size=6),
    st.sampled_from(["\ud800", "\udfff", "x\udc00y"]),  # lone surrogates, as JSON can escape
)
_NUMBER = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([3.4028234663852886e38, 3.4028235e38, -3.5e38, 1e-320, -0.0]),
)
_VALUE = st.one_of(st.none(), st.booleans(), _NUMBER, _TEXT, st.just([]), st.just({}))
_KEY = st.one_of(st.sampled_from([NUMBER_INPUT, CATEGORY_INPUT]), st.text(max_size=4))


@st.composite
def _records(draw: st.DrawFn) -> Any:
    """Mostly well-formed records, each value free to be of the wrong kind."""

    def record() -> dict[str, Any]:
        item: dict[str, Any] = {
            NUMBER_INPUT: draw(st.one_of(st.none(), _NUMBER, _VALUE)),
            CATEGORY_INPUT: draw(st.one_of(st.none(), _TEXT, _VALUE)),
        }
        if draw(st.integers(0, 9)) == 0:
            item.pop(draw(st.sampled_from(sorted(item))))
        if draw(st.integers(0, 9)) == 0:
            item[draw(_KEY)] = draw(_VALUE)
        return item

    shape = draw(st.integers(0, 4))
    if shape == 0:
        return record()
    if shape == 1:
        return draw(_VALUE)
    return [record() for _ in range(draw(st.integers(0, MAX_BATCH + 1)))]


@st.composite
def _columnar_bodies(draw: st.DrawFn) -> Any:
    """Mostly well-formed columnar bodies: columns of one length (sometimes not), each value
    free to be of the wrong kind, a column now and then missing, unknown or not a list, and
    now and then something else in place of the columns or beside them."""
    rows = draw(st.integers(0, MAX_BATCH + 1))

    def column(good: st.SearchStrategy[Any]) -> Any:
        if draw(st.integers(0, 19)) == 0:
            return draw(_VALUE)
        length = rows if draw(st.integers(0, 9)) else draw(st.integers(0, MAX_BATCH + 1))
        return [draw(good if draw(st.integers(0, 19)) else _VALUE) for _ in range(length)]

    columns: Any = {
        NUMBER_INPUT: column(st.one_of(st.none(), _NUMBER)),
        CATEGORY_INPUT: column(st.one_of(st.none(), _TEXT)),
    }
    if draw(st.integers(0, 9)) == 0:
        columns.pop(draw(st.sampled_from(sorted(columns))))
    if draw(st.integers(0, 9)) == 0:
        columns[draw(_KEY)] = column(_VALUE)
    if draw(st.integers(0, 19)) == 0:
        columns = draw(_VALUE)
    body = {"columns": columns}
    if draw(st.integers(0, 19)) == 0:
        body[draw(_KEY)] = draw(_VALUE)
    return body


def _to_bytes(payload: Any, ascii_only: bool, indent: int | None = None) -> bytes:
    text = json.dumps(payload, ensure_ascii=ascii_only, indent=indent)
    return text.encode("utf-8", "surrogatepass")  # keep a lone surrogate as raw bytes too


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=_records(), ascii_only=st.booleans())
@example(payload={NUMBER_INPUT: True, CATEGORY_INPUT: "basic"}, ascii_only=True)
@example(payload=[{NUMBER_INPUT: 1, CATEGORY_INPUT: "\ud800"}], ascii_only=False)
def test_any_record_shaped_body_gets_the_same_answer_from_both_readers(
    payload: Any, ascii_only: bool
) -> None:
    _same_answer(_to_bytes(payload, ascii_only))


@settings(max_examples=400, deadline=None)
@given(body=st.binary(max_size=64))
@example(body=b'{"tenure": 1, "plan": "\xc3\x28"}')
@example(body=b"[" * 3000)
def test_any_bytes_get_the_same_answer_from_both_readers(body: bytes) -> None:
    _same_answer(body)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload=st.one_of(_records(), _columnar_bodies()),
    cut=st.integers(min_value=0, max_value=200),
    junk=st.binary(min_size=1, max_size=3),
)
def test_a_broken_body_gets_the_same_answer_from_both_readers(
    payload: Any, cut: int, junk: bytes
) -> None:
    """Valid JSON, records or columns, cut short or with bytes spliced in: the bodies a fuzzer
    finds first."""
    body = _to_bytes(payload, ascii_only=False)
    _same_answer(body[:cut] + junk + body[cut:])
    _same_answer(body[:cut])


@pytest.mark.parametrize(
    "body",
    [
        b'{"tenure": 1, "plan": " basic"}',
        b'{"tenure": 1, "plan": "basic"}',
        b'[{"tenure": 1, "plan": " basic"}, {"tenure": 2, "plan": " basic"}]',
        b'[{"tenure": 1, "plan": "plus"}, {"tenure": 2, "plan": null}]',
    ],
)
def test_a_hand_edited_signature_with_unstripped_categories_reads_alike(body: bytes) -> None:
    """A category stored with a space can never match (requests are stripped): both readers,
    one record or many, count it as unseen rather than pass it through as known."""
    document = signature_document()
    document["inputs"][1]["categories"] = [" basic", "plus"]
    signature = parse_signature(document)
    decoder = RequestDecoder(signature, MAX_BATCH)
    assert _outcome(decoder.decode, body) == _outcome(_reference_for(signature), body)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=_columnar_bodies(), ascii_only=st.booleans(), indent=st.sampled_from([None, 1]))
@example(payload={"columns": {NUMBER_INPUT: [1], CATEGORY_INPUT: ["\ud800"]}}, ascii_only=False,
         indent=None)  # fmt: skip
def test_any_columnar_body_gets_the_same_answer_from_both_readers(
    payload: Any, ascii_only: bool, indent: int | None
) -> None:
    _same_answer(_to_bytes(payload, ascii_only, indent))


_ROW = st.tuples(
    st.one_of(st.none(), st.floats(-1e30, 1e30), st.integers(-(10**9), 10**9)),
    st.one_of(st.none(), st.sampled_from([*CATEGORIES, " plus ", "gold", ""]), st.text(max_size=4)),
)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(_ROW, min_size=1, max_size=MAX_BATCH), lone=st.booleans())
def test_the_same_rows_as_records_or_as_columns_make_the_same_batch(
    rows: list[tuple[Any, Any]], lone: bool
) -> None:
    """The columnar form is a second spelling of the same rows: same columns, same counts."""
    numbers, texts = (list(column) for column in zip(*rows, strict=True))
    records: Any = [{NUMBER_INPUT: n, CATEGORY_INPUT: t} for n, t in rows]
    if lone and len(records) == 1:
        records = records[0]
    columnar = {"columns": {CATEGORY_INPUT: texts, NUMBER_INPUT: numbers}}
    by_records = _outcome(DECODER.decode, _to_bytes(records, ascii_only=False))
    by_columns = _outcome(DECODER.decode, _to_bytes(columnar, ascii_only=False))
    assert by_records[0] == "batch"
    assert by_columns == by_records


@pytest.mark.parametrize(
    "body",
    [
        b'{"columns": {"tenure": [1, null], "plan": ["basic", " plus"]}}',
        b' \n{ \t"columns" :{"plan": [null], "tenure": [2.5]}}\r\n',
        b'{"columns": {"tenure": [1], "plan": ["basic"]}, '
        b'"columns": {"tenure": [2], "plan": [null]}}',  # a repeated key: the last wins
        b'{"\\u0063olumns": {"tenure": [1], "plan": ["basic"]}}',  # the key escaped
        b'\xef\xbb\xbf{"columns": {"tenure": [1], "plan": ["basic"]}}',
    ],
    ids=["plain", "whitespace", "repeated", "escaped_key", "bom"],
)
def test_the_decoder_serves_the_columnar_bodies_the_specification_serves(body: bytes) -> None:
    assert _outcome(_reference, body)[0] == "batch"
    _same_answer(body)


def _renamed(payload: Any, old: str, new: str) -> Any:
    """`payload` with every object key `old` called `new`, at any depth."""
    if isinstance(payload, dict):
        return {(new if key == old else key): _renamed(v, old, new) for key, v in payload.items()}
    if isinstance(payload, list):
        return [_renamed(item, old, new) for item in payload]
    return payload


def _columns_input_signature() -> Signature:
    """The tiny signature with its number input called "columns", the columnar form's key."""
    document = signature_document()
    document["inputs"][0]["name"] = "columns"
    return parse_signature(document)


_COLUMNS_INPUT = _columns_input_signature()
_COLUMNS_INPUT_DECODER = RequestDecoder(_COLUMNS_INPUT, MAX_BATCH)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=st.one_of(_records(), _columnar_bodies()))
@example(payload={NUMBER_INPUT: 3, CATEGORY_INPUT: "basic"})
@example(payload={"columns": {NUMBER_INPUT: [3], CATEGORY_INPUT: ["basic"]}})
def test_an_input_called_columns_reads_alike_as_records_and_as_columns(payload: Any) -> None:
    """Where an input is called "columns", a record opens as a columnar body does; the
    decoder tries the columnar type, fails, and reads it as a record, as the specification
    does (a record's value is never an object)."""
    body = _to_bytes(_renamed(payload, NUMBER_INPUT, "columns"), ascii_only=False)
    decoded = _outcome(_COLUMNS_INPUT_DECODER.decode, body)
    assert decoded == _outcome(_reference_for(_COLUMNS_INPUT), body)


def test_an_input_called_columns_is_served_in_both_forms() -> None:
    record = _COLUMNS_INPUT_DECODER.decode(b'{"columns": 3, "plan": "basic"}')
    columnar = _COLUMNS_INPUT_DECODER.decode(b'{"columns": {"columns": [3], "plan": ["basic"]}}')
    assert record.columns["columns"].tolist() == columnar.columns["columns"].tolist() == [[3.0]]
    assert record.columns["plan"].tolist() == columnar.columns["plan"].tolist() == [["basic"]]
