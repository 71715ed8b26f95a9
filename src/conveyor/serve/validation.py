"""Request bodies -> model input columns, or a 4xx that names the record and the field.

No I/O and no web framework here, so each rule is a unit test against a hand-written
signature (tests/unit/test_serve_validation.py) and changing one needs no pipeline run. Every
record of a batch is checked before the model sees any of it; the error names the first bad
record and field, so a client fixes one thing at a time and no partial batch is ever served.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np

from conveyor.contract import FLOAT32_MAX, NUMBER, NUMERIC_DTYPE
from conveyor.serve.signature import Signature


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
    unknown_categories: Counter[str] = field(default_factory=Counter)


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
    """One record (an object) or a list of records -> columns the ONNX graph accepts."""
    records = _one_to_max_batch_records(payload, max_batch)
    expected = signature.names
    expected_set = frozenset(expected)
    values: dict[str, list[Any]] = {name: [] for name in expected}
    unknown: Counter[str] = Counter()
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise RequestError(
                422, f"record {index}: must be a JSON object, got {_describe(record)}"
            )
        if record.keys() != expected_set:
            _refuse_missing_or_unknown_fields(index, record, expected)
        for spec in signature.fields:
            raw = record[spec.name]
            if spec.kind == NUMBER:
                values[spec.name].append(_float32_or_missing(index, spec.name, raw))
            else:
                text = _stripped_text_or_missing(index, spec.name, raw, spec.missing_value)
                if text != spec.missing_value and text not in spec.categories:
                    unknown[spec.name] += 1
                values[spec.name].append(text)
    columns: dict[str, np.ndarray] = {}
    for spec in signature.fields:
        dtype = NUMERIC_DTYPE if spec.kind == NUMBER else object
        columns[spec.name] = np.asarray(values[spec.name], dtype=dtype).reshape(-1, 1)
    return Batch(columns=columns, unknown_categories=unknown)


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


def _float32_or_missing(index: int, name: str, raw: Any) -> float:
    """A JSON number the graph's float32 input can hold, or null for missing.

    Booleans are refused although Python counts them as integers: `true` for a number is a
    client bug, not 1.0. Beyond FLOAT32_MAX the cast would make infinity, which the model
    never saw in training.
    """
    if raw is None:
        return math.nan  # the model's imputer fills it, as in training
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise RequestError(
            422, f"record {index}: field {name} must be a number or null, got {_describe(raw)}"
        )
    try:
        value = float(raw)
    except OverflowError:  # an integer too large for any float
        value = math.inf
    if not math.isfinite(value) or abs(value) > FLOAT32_MAX:
        raise RequestError(
            422, f"record {index}: field {name} is out of range for a 32-bit float: {raw!r}"
        )
    return value


def _stripped_text_or_missing(index: int, name: str, raw: Any, missing: str) -> str:
    """A JSON string without surrounding spaces, as training strips them (so " Private" is
    the category "Private"), or the signature's missing value for null."""
    if raw is None:
        return missing
    if not isinstance(raw, str):
        raise RequestError(
            422, f"record {index}: field {name} must be a string or null, got {_describe(raw)}"
        )
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:  # JSON's \ud800 escape decodes to a string that is not text
        raise RequestError(
            422, f"record {index}: field {name} holds a lone UTF-16 surrogate, which is not text"
        ) from None
    return raw.strip()


def _describe(value: Any) -> str:
    """A JSON value as an error message names it."""
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"the number {value!r}"
    return names.get(type(value), type(value).__name__)
