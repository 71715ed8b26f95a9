"""Request bodies -> model input columns, or a 4xx that names the record and the field.

Pure functions: no I/O, no web framework, so every rule is tested without a server. A batch
is checked completely before anything runs, and the error names the first bad field.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conveyor.serve.signature import NUMBER, Signature

FLOAT32_MAX = float(np.finfo(np.float32).max)


class RequestError(ValueError):
    """A request the server will not run; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Batch:
    """Validated input: one column per model input, plus what was unusual about it."""

    columns: dict[str, np.ndarray]
    size: int
    unknown_categories: Counter[str] = field(default_factory=Counter)


def _reject_constant(name: str) -> float:
    raise RequestError(422, f"{name} is not a number JSON allows; send null for a missing value")


def parse_json(body: bytes) -> Any:
    """Strict JSON: NaN and Infinity, which Python's parser accepts, are refused."""
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except RequestError:
        raise
    except (ValueError, UnicodeDecodeError) as error:
        raise RequestError(400, f"request body is not valid JSON: {error}") from None


def to_batch(payload: Any, signature: Signature, max_batch: int) -> Batch:
    """One record (an object) or a list of records -> columns the ONNX graph accepts."""
    records = [payload] if isinstance(payload, dict) else payload
    if not isinstance(records, list):
        raise RequestError(
            422, f"body must be a JSON object (one record) or a list of them, got {_kind(payload)}"
        )
    if not records:
        raise RequestError(422, "body is an empty list: send at least one record")
    if len(records) > max_batch:
        raise RequestError(413, f"batch of {len(records)} records exceeds the limit of {max_batch}")
    expected = signature.names
    expected_set = frozenset(expected)
    values: dict[str, list[Any]] = {name: [] for name in expected}
    unknown: Counter[str] = Counter()
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise RequestError(422, f"record {index}: must be a JSON object, got {_kind(record)}")
        if record.keys() != expected_set:
            _explain_keys(index, record, expected)
        for spec in signature.fields:
            raw = record[spec.name]
            if spec.kind == NUMBER:
                values[spec.name].append(_number(index, spec.name, raw))
            else:
                text = _string(index, spec.name, raw, spec.missing_value)
                if text != spec.missing_value and text not in spec.categories:
                    unknown[spec.name] += 1
                values[spec.name].append(text)
    columns: dict[str, np.ndarray] = {}
    for spec in signature.fields:
        column = values[spec.name]
        if spec.kind == NUMBER:
            columns[spec.name] = np.asarray(column, dtype=np.float32).reshape(-1, 1)
        else:
            columns[spec.name] = np.asarray(column, dtype=object).reshape(-1, 1)
    return Batch(columns=columns, size=len(records), unknown_categories=unknown)


def _explain_keys(index: int, record: dict[str, Any], expected: tuple[str, ...]) -> None:
    missing = [name for name in expected if name not in record]
    if missing:
        raise RequestError(422, f"record {index}: missing field(s) {', '.join(missing)}")
    extra = sorted(str(name) for name in record if name not in expected)
    raise RequestError(
        422, f"record {index}: unknown field(s) {', '.join(extra)}; expected {', '.join(expected)}"
    )


def _number(index: int, name: str, raw: Any) -> float:
    if raw is None:
        return math.nan  # the model's imputer fills it, as in training
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise RequestError(
            422, f"record {index}: field {name} must be a number or null, got {_kind(raw)}"
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


def _string(index: int, name: str, raw: Any, missing: str) -> str:
    if raw is None:
        return missing
    if not isinstance(raw, str):
        raise RequestError(
            422, f"record {index}: field {name} must be a string or null, got {_kind(raw)}"
        )
    return raw.strip()


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"the number {value!r}"
    return names.get(type(value), type(value).__name__)
