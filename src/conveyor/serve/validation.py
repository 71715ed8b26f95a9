"""Request bodies -> model input columns, or a 4xx that names the record and the field.

No I/O and no web framework here, so each rule is a unit test against a hand-written
signature (tests/unit/test_serve_validation.py) and changing one needs no pipeline run. Every
record of a batch is checked before the model sees any of it; the error names the first bad
record and field, so a client fixes one thing at a time and no partial batch is ever served.

A body is one record (an object), a list of records, or, for large batches, a columnar body
`{"columns": {input: [value, ...], ...}}` holding the same values a column at a time: the
columns are what the model takes, so reading one costs no step per row.

Two readers share one set of rules. `to_batch` (on `parse_strict_json`) walks the body one
value at a time and is the specification: it writes every refusal message. `RequestDecoder`,
what the server runs, decodes and type-checks the body in one pass of msgspec with a record
type (or a columns type) built from the signature; whatever it does not take (a wrong type, a
missing or unknown field, a number past float32, JSON that is not JSON, a lone surrogate,
columns of unequal length) is handed to `to_batch`, which names the problem. Both build their
columns with `_assemble`, and differential fuzz tests hold the two to the same answer for any
body.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, NoReturn

import msgspec
import numpy as np
from msgspec.structs import astuple

from conveyor.contract import FLOAT32_MAX, NUMBER, NUMERIC_DTYPE
from conveyor.serve.signature import InputField, Signature


class RequestError(ValueError):
    """A request the server will not run; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        # A message may echo the client's text (an unknown field name), which JSON lets hold
        # a lone UTF-16 surrogate that no UTF-8 response can carry: escape it, never fail.
        message = message.encode("utf-8", "backslashreplace").decode("utf-8")
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Batch:
    """Validated input: one column per model input, plus what was unusual about it."""

    columns: dict[str, np.ndarray]
    unknown_categories: dict[str, int] = field(default_factory=dict)
    """Per input, how many values were not seen in training (accepted: the encoder maps an
    unseen category to all zeros); inputs with none are absent."""
    numbers: np.ndarray | None = None
    """The numeric inputs as one (inputs, rows) matrix in signature order, the array the
    columns are views of: the live drift tracker joins batches with one call, not one per
    input."""
    texts: np.ndarray | None = None
    """The text inputs' cleaned values as one (inputs, rows) object matrix in signature order,
    the array the text columns are views of."""


def _refuse_non_json_constant(name: str) -> float:
    """Python's parser takes NaN and Infinity; JSON has no such numbers and neither may a
    request, or they would reach the model as values no training row ever had."""
    raise RequestError(422, f"{name} is not a number JSON allows; send null for a missing value")


def parse_strict_json(body: bytes) -> Any:
    """The body as JSON: 400 when it is not JSON at all, 422 for NaN and Infinity."""
    try:
        return json.loads(body, parse_constant=_refuse_non_json_constant)
    except RequestError:
        raise
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(400, f"request body is not valid JSON: {error}") from None
    except RecursionError:  # thousands of nested brackets exhaust the parser's stack
        raise RequestError(400, "request body is nested too deeply to be a record") from None


def to_batch(payload: Any, signature: Signature, max_batch: int) -> Batch:
    """One record (an object), a list of records or a columnar body -> the graph's columns."""
    if _is_columnar(payload, signature):
        return _assemble(signature, _checked_columns(payload, signature, max_batch))
    records = _one_to_max_batch_records(payload, max_batch)
    expected = signature.names
    expected_set = frozenset(expected)
    values: list[list[Any]] = [[] for _ in expected]
    readers = [_value_reader(spec) for spec in signature.fields]
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise RequestError(
                422, f"record {index}: must be a JSON object, got {_describe(record)}"
            )
        if record.keys() != expected_set:
            _refuse_missing_or_unknown_fields(index, record, expected)
        for column, spec, read in zip(values, signature.fields, readers, strict=True):
            try:
                column.append(read(record[spec.name]))
            except _InvalidValueError as invalid:
                raise RequestError(422, f"record {index}: field {spec.name} {invalid}") from None
    return _assemble(signature, values)


COLUMNS = "columns"
"""The one member of a columnar body."""


def _is_columnar(payload: Any, signature: Signature) -> bool:
    """Whether an object is a columnar body rather than a record.

    It is when its `columns` member is an object: a record's values are numbers, strings or
    null, never objects, so no record is taken for one, even where an input is called
    "columns". It also is when `columns` is its only member and no input has that name, so
    `{"columns": [...]}` is refused as a columnar body of the wrong shape, not as a record
    missing every field.
    """
    if not isinstance(payload, dict) or COLUMNS not in payload:
        return False
    if isinstance(payload[COLUMNS], dict):
        return True
    return len(payload) == 1 and COLUMNS not in signature.names


def _checked_columns(
    payload: dict[str, Any], signature: Signature, max_batch: int
) -> list[list[Any]]:
    """A columnar body's values, one list per input in signature order, or the refusal.

    Shape first (only `columns`; an object of every input and nothing else; lists of one
    length, 1 to `max_batch` rows, 413 above as for a long list of records), then the values,
    column by column in signature order and row by row, so the first bad value is named.
    """
    extra = sorted(str(key) for key in payload if key != COLUMNS)
    if extra:
        raise RequestError(
            422, f"a columnar body holds only {COLUMNS}; unknown key(s) {', '.join(extra)}"
        )
    columns = payload[COLUMNS]
    if not isinstance(columns, dict):
        raise RequestError(
            422, f"{COLUMNS} must be a JSON object of one list per input, got {_describe(columns)}"
        )
    expected = signature.names
    missing = [name for name in expected if name not in columns]
    if missing:
        raise RequestError(422, f"missing column(s) {', '.join(missing)}")
    unknown = sorted(str(name) for name in columns if name not in expected)
    if unknown:
        raise RequestError(
            422, f"unknown column(s) {', '.join(unknown)}; expected {', '.join(expected)}"
        )
    for name in expected:
        if not isinstance(columns[name], list):
            raise RequestError(
                422, f"column {name} must be a list of values, got {_describe(columns[name])}"
            )
    first, rows = expected[0], len(columns[expected[0]])
    for name in expected:
        if len(columns[name]) != rows:
            raise RequestError(
                422,
                f"column {name} has {len(columns[name])} value(s) but column {first} has "
                f"{rows}: every column holds one value per row",
            )
    if not rows:
        raise RequestError(422, "the columns are empty: send at least one row")
    if rows > max_batch:
        raise RequestError(413, f"batch of {rows} rows exceeds the limit of {max_batch}")
    values: list[list[Any]] = []
    for spec in signature.fields:
        read = _value_reader(spec)
        column: list[Any] = []
        for row, raw in enumerate(columns[spec.name]):
            try:
                column.append(read(raw))
            except _InvalidValueError as invalid:
                raise RequestError(422, f"column {spec.name}, row {row}: {invalid}") from None
        values.append(column)
    return values


# A number the graph's float32 input can hold, checked by msgspec while it decodes.
_FLOAT32 = Annotated[float, msgspec.Meta(ge=-FLOAT32_MAX, le=FLOAT32_MAX)]


class RequestDecoder:
    """The server's reader of request bodies: `to_batch`'s rules in one typed msgspec pass.

    Built once per model: the record type has one field per input, typed `float | None` or
    `str | None`, unknown fields forbidden, none optional; the columns type has the same
    fields, each a list of such values. A body it cannot take is read again by
    `parse_strict_json` and `to_batch`, which refuse it with the message the client gets (or,
    for the few bodies Python's JSON reader takes and msgspec does not, such as a UTF-16 body,
    serve it exactly as before).

    msgspec cannot choose between two object types without a tag, and a columnar body is an
    object as a record is. So a body that opens as a columnar one does (`{"columns"`, after
    any whitespace: one regular-expression match) is first tried as one, and every other body
    goes straight to the record types. A record that opens that way too (possible only where
    an input is called "columns") fails the columnar type, whose `columns` must be an object,
    and is then read as a record.
    """

    def __init__(self, signature: Signature, max_batch: int) -> None:
        self._signature = signature
        self._max_batch = max_batch
        values = [_FLOAT32 | None if f.kind == NUMBER else str | None for f in signature.fields]
        record = _signature_struct("Record", signature, values)
        columns = _signature_struct("Columns", signature, [list[v] for v in values])  # type: ignore[valid-type]
        columnar = msgspec.defstruct(
            "ColumnarBody", [(COLUMNS, columns)], forbid_unknown_fields=True, gc=False
        )
        self._record = record
        self._one_row = _OneRow(signature)
        self._decode = msgspec.json.Decoder(record | list[record]).decode  # type: ignore[valid-type]
        self._decode_columnar = msgspec.json.Decoder(columnar).decode

    def decode(self, body: bytes) -> Batch:
        """The batch, or the RequestError `to_batch` raises for this body.

        A single record's batch lives in buffers this decoder refills (`_OneRow`): it is
        valid until the next decode, so use it before then and copy what you keep.
        """
        if _COLUMNAR_OPENING.match(body):
            try:
                columnar = self._decode_columnar(body)
            except (ValueError, RecursionError):
                pass  # not a columnar body msgspec takes: read as records, or explained
            else:
                return self._from_columns(body, astuple(getattr(columnar, COLUMNS)))
        try:
            payload = self._decode(body)
        except (ValueError, RecursionError):  # msgspec's errors and UnicodeDecodeError
            return self._explain(body)
        if isinstance(payload, self._record):  # the usual request: one record
            return self._one_row.fill(astuple(payload))
        records = payload
        if not 0 < len(records) <= self._max_batch:
            return self._explain(body)
        # astuple: a record's values in field (= signature) order; zip turns rows into columns
        return _assemble(self._signature, list(zip(*map(astuple, records), strict=True)))

    def _from_columns(self, body: bytes, values: tuple[list[Any], ...]) -> Batch:
        """Typed columns -> the batch, once their lengths are equal and within the limit."""
        rows = len(values[0])
        if not 0 < rows <= self._max_batch or any(len(column) != rows for column in values):
            return self._explain(body)
        return _assemble(self._signature, values)

    def _explain(self, body: bytes) -> Batch:
        return to_batch(parse_strict_json(body), self._signature, self._max_batch)


_COLUMNAR_OPENING = re.compile(rb'[ \t\n\r]*\{[ \t\n\r]*"' + COLUMNS.encode() + rb'"')
"""How a columnar body begins: `{"columns"`, with JSON's whitespace allowed around the brace."""


def _signature_struct(
    name: str, signature: Signature, types: Sequence[Any]
) -> type[msgspec.Struct]:
    """A msgspec struct with one required field per input, of the given types, named in JSON
    as the inputs are; unknown fields are refused.

    Attribute names are positional (an input may be called "education-num" or "class", which
    no attribute can be); `rename` maps each to the input's JSON name.
    """
    attributes = [f"i{position}" for position in range(len(signature.fields))]
    struct: type[msgspec.Struct] = msgspec.defstruct(
        name,
        list(zip(attributes, types, strict=True)),
        rename=dict(zip(attributes, signature.names, strict=True)),
        forbid_unknown_fields=True,
        gc=False,  # fields hold floats, strings, None or lists of them: no cycles to track
    )
    return struct


class _OneRow:
    """The graph's feeds for a one-record request, allocated once per decoder and refilled.

    Most requests carry one record, and building its arrays afresh (two matrices and a view
    per input) is most of what decoding costs; filling these in place is the batch of
    `_assemble` without the allocations. The batch it returns shares the buffers: the server
    scores it, counts it and hands it to the drift tracker (which copies what it keeps) with
    no `await` in between, so no other request refills them meanwhile.
    """

    def __init__(self, signature: Signature) -> None:
        self._numeric_positions = [position for position, _ in signature.numeric_fields]
        self._text_fields = signature.text_fields
        self._numbers = (
            np.empty((len(self._numeric_positions), 1), dtype=NUMERIC_DTYPE)
            if self._numeric_positions
            else None
        )
        self._texts = (
            np.empty((len(self._text_fields), 1), dtype=object) if self._text_fields else None
        )
        self._columns = _column_views(signature, self._numbers, self._texts)

    def fill(self, record: tuple[Any, ...]) -> Batch:
        """One checked record, its values in signature order -> the batch, as `_assemble`
        would build it (None becomes NaN; texts cleaned by `_clean_texts`)."""
        unknown: dict[str, int] = {}
        if self._numbers is not None:
            self._numbers[:, 0] = [record[position] for position in self._numeric_positions]
        if self._texts is not None:
            self._texts[:, 0] = [
                _clean_texts(spec, (record[position],), unknown)[0]
                for position, spec in self._text_fields
            ]
        return Batch(self._columns, unknown, self._numbers, self._texts)


def _assemble(signature: Signature, values: Sequence[Sequence[Any]]) -> Batch:
    """Checked values, one sequence per input in signature order -> the graph's columns.

    Numbers are floats within float32's range or None (missing: NaN, which the model's
    imputer fills as in training); texts are str or None, cleaned by `_clean_texts`. All
    numbers go through numpy as one matrix and all texts as another, so a request costs a few
    numpy calls whatever its number of inputs and rows.
    """
    size = len(values[0])
    numbers = signature.numeric_fields
    matrix = None
    if numbers:  # None becomes NaN
        matrix = np.array([values[position] for position, _ in numbers], dtype=NUMERIC_DTYPE)
    unknown: dict[str, int] = {}
    texts = signature.text_fields
    text_matrix = None
    if texts:
        table = [_clean_texts(spec, values[position], unknown) for position, spec in texts]
        text_matrix = np.array(table, dtype=object).reshape(len(texts), size)
    columns = _column_views(signature, matrix, text_matrix)
    return Batch(columns=columns, unknown_categories=unknown, numbers=matrix, texts=text_matrix)


def _column_views(
    signature: Signature, numbers: np.ndarray | None, texts: np.ndarray | None
) -> dict[str, np.ndarray]:
    """The graph's feeds: each input's (rows, 1) column, a view of its (inputs, rows) matrix,
    so a batch is two arrays however many inputs it has."""
    columns: dict[str, np.ndarray] = {}
    if numbers is not None:
        stacked = numbers.reshape(*numbers.shape, 1)
        columns.update(zip(signature.numeric_names, stacked, strict=True))
    if texts is not None:
        columns.update(zip(signature.text_names, texts.reshape(*texts.shape, 1), strict=True))
    return columns


def _clean_texts(spec: InputField, raw: Sequence[str | None], unknown: dict[str, int]) -> Any:
    """One text input's values as the graph takes them: null is the signature's missing
    value, surrounding spaces go (training strips them, so " Private" is "Private"), and
    values seen in no training row are counted into `unknown` (they are still served).

    The usual column, every value a known category that needs no stripping, is returned as it
    came after one set comparison in C.
    """
    if spec.unchanged.issuperset(raw):
        return raw
    missing = spec.missing_value
    column = [missing if text is None else text.strip() for text in raw]
    if not spec.known.issuperset(column):
        unknown[spec.name] = sum(1 for text in column if text not in spec.known)
    return column


def _one_to_max_batch_records(payload: Any, max_batch: int) -> list[Any]:
    """An object is a batch of one; a list must hold 1 to `max_batch` records (413 above,
    as the batch limit bounds the work one request may ask for)."""
    records = [payload] if isinstance(payload, dict) else payload
    if not isinstance(records, list):
        raise RequestError(
            422,
            f"body must be a JSON object (one record) or a list of them, got {_describe(payload)}",
        )
    if not records:
        raise RequestError(422, "body is an empty list: send at least one record")
    if len(records) > max_batch:
        raise RequestError(413, f"batch of {len(records)} records exceeds the limit of {max_batch}")
    return records


def _refuse_missing_or_unknown_fields(
    index: int, record: dict[str, Any], expected: tuple[str, ...]
) -> NoReturn:
    """Every input, and nothing else: a misspelt field would otherwise be dropped silently
    while the model imputes the one the client meant to send."""
    missing = [name for name in expected if name not in record]
    if missing:
        raise RequestError(422, f"record {index}: missing field(s) {', '.join(missing)}")
    extra = sorted(str(name) for name in record if name not in expected)
    raise RequestError(
        422, f"record {index}: unknown field(s) {', '.join(extra)}; expected {', '.join(expected)}"
    )


class _InvalidValueError(ValueError):
    """A value of the wrong kind; its text completes "record 3: field age ..." or
    "column age, row 3: ...", which the caller prefixes."""


def _value_reader(spec: InputField) -> Callable[[Any], Any]:
    """The check one input's values go through, by the input's JSON type."""
    return _float32_or_missing if spec.kind == NUMBER else _text_or_missing


def _float32_or_missing(raw: Any) -> float:
    """A JSON number the graph's float32 input can hold, or null for missing.

    Booleans are refused although Python counts them as integers: `true` for a number is a
    client bug, not 1.0. Beyond FLOAT32_MAX the cast would make infinity, which the model
    never saw in training.
    """
    if raw is None:
        return math.nan  # the model's imputer fills it, as in training
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise _InvalidValueError(f"must be a number or null, got {_describe(raw)}")
    try:
        value = float(raw)
    except OverflowError:  # an integer too large for any float
        value = math.inf
    if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
        raise _InvalidValueError(f"is out of range for a 32-bit float: {raw!r}")
    return value


def _text_or_missing(raw: Any) -> str | None:
    """A JSON string that is text, or None for null (`_assemble` strips and fills it)."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _InvalidValueError(f"must be a string or null, got {_describe(raw)}")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:  # JSON's \ud800 escape decodes to a string that is not text
        raise _InvalidValueError("holds a lone UTF-16 surrogate, which is not text") from None
    return raw


def _describe(value: Any) -> str:
    """A JSON value as an error message names it."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"the number {value!r}"
    return names.get(type(value), type(value).__name__)
