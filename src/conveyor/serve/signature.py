"""`signature.json` -> the contract the server enforces, checked against the ONNX graph.

The server refuses to start when the two disagree: a request validated against one contract
and run through a graph expecting another would fail later, per request, as a 500. Parsing
takes a plain dictionary (`parse_signature`), so each rule is tested without a file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from conveyor.contract import MISSING_CATEGORY, NUMBER, ONNX_TYPES


class SignatureError(RuntimeError):
    """The model files are missing, unreadable, or describe different models."""


@dataclass(frozen=True)
class InputField:
    """One model input: its JSON type and, for categories, the values seen in training."""

    name: str
    kind: str
    categories: frozenset[str] = frozenset()
    missing_value: str = MISSING_CATEGORY

    @cached_property
    def known(self) -> frozenset[str]:
        """Values that are not an unseen category: the categories and the missing value."""
        return self.categories | {self.missing_value}

    @cached_property
    def unchanged(self) -> frozenset[str]:
        """Known values that stripping leaves as they are: a request value in this set is
        served exactly as sent (training stored its categories stripped, so this is all of
        `known` for an exported model; a hand-edited signature may differ)."""
        return frozenset(value for value in self.known if value == value.strip())


@dataclass(frozen=True)
class Signature:
    """What the server needs from `signature.json`, validated."""

    fields: tuple[InputField, ...]
    classes: tuple[str, str]
    positive_index: int
    threshold: float
    probability_output: str
    document: dict[str, Any] = field(repr=False)

    @property
    def names(self) -> tuple[str, ...]:
        """Input names in signature order, the order every error message lists them in."""
        return tuple(f.name for f in self.fields)

    @cached_property
    def numeric_fields(self) -> tuple[tuple[int, InputField], ...]:
        """The number inputs with their positions (the server builds them as one matrix)."""
        return tuple((i, f) for i, f in enumerate(self.fields) if f.kind == NUMBER)

    @cached_property
    def text_fields(self) -> tuple[tuple[int, InputField], ...]:
        """The string inputs with their positions."""
        return tuple((i, f) for i, f in enumerate(self.fields) if f.kind != NUMBER)

    @cached_property
    def numeric_names(self) -> tuple[str, ...]:
        """The number inputs' names, in the order of `numeric_fields`."""
        return tuple(f.name for _, f in self.numeric_fields)

    @cached_property
    def text_names(self) -> tuple[str, ...]:
        """The string inputs' names, in the order of `text_fields`."""
        return tuple(f.name for _, f in self.text_fields)

    @property
    def model_info(self) -> dict[str, Any]:
        """The `model` section (estimator, hashes); optional, as only /metadata shows it."""
        info: dict[str, Any] = self.document.get("model", {})
        return info


def load_signature(path: Path) -> Signature:
    """`parse_signature` on a file; every problem names the file, then the key."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SignatureError(
            f"signature file {path} does not exist (set CONVEYOR_SIGNATURE_PATH, or run "
            "`dvc repro` to produce models/signature.json)"
        ) from None
    except (OSError, ValueError) as error:
        raise SignatureError(f"signature file {path} is not readable JSON: {error}") from None
    try:
        return parse_signature(document)
    except SignatureError as error:
        raise SignatureError(f"signature file {path} is malformed: {error}") from None


def parse_signature(document: Any) -> Signature:
    """The validated contract, or a SignatureError naming the key that breaks it.

    Every rule is checked here, at start-up, because a signature that passes is trusted per
    request: a class index out of range would otherwise surface as a 500 on every prediction.
    """
    try:
        return _parse(document)
    except KeyError as error:
        raise SignatureError(f"missing key {error}") from None
    except (TypeError, ValueError) as error:
        raise SignatureError(str(error)) from None


def _parse(document: Any) -> Signature:
    if not isinstance(document, dict):
        raise TypeError(f"the document must be a JSON object, got {type(document).__name__}")
    fields = [_input_field(entry) for entry in _listed(document["inputs"], "inputs")]
    if not fields:
        raise ValueError("'inputs' is empty")
    names = [f.name for f in fields]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"'inputs' names {', '.join(repeated)} more than once")
    output = document["output"]
    if not isinstance(output, dict):
        raise TypeError(f"'output' must be an object, got {type(output).__name__}")
    classes = tuple(str(c) for c in _listed(output["classes"], "output.classes"))
    if len(classes) != 2:
        raise ValueError(f"'output.classes' must hold two classes, got {list(classes)}")
    positive_index = output["positive_index"]
    if positive_index not in (0, 1) or isinstance(positive_index, bool):
        raise ValueError(f"'output.positive_index' must be 0 or 1, got {positive_index!r}")
    threshold = float(output["threshold"])
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"'output.threshold' must be between 0 and 1, got {threshold}")
    return Signature(
        fields=tuple(fields),
        classes=(classes[0], classes[1]),
        positive_index=int(positive_index),
        threshold=threshold,
        probability_output=str(output["probability_output"]),
        document=document,
    )


def _listed(value: Any, key: str) -> list[Any]:
    """A JSON list, refused by name otherwise: iterating a string or an object would
    silently make one input (or class) per character or key."""
    if not isinstance(value, list):
        raise TypeError(f"'{key}' must be a list, got {type(value).__name__}")
    return value


def _input_field(entry: Any) -> InputField:
    if not isinstance(entry, dict):
        raise TypeError(f"each of 'inputs' must be an object, got {entry!r}")
    name = str(entry["name"])
    kind = entry["type"]
    if not isinstance(kind, str) or kind not in ONNX_TYPES:
        raise ValueError(f"input {name!r} has unsupported type {kind!r}")
    categories = _listed(entry.get("categories", []), f"inputs.{name}.categories")
    return InputField(
        name=name,
        kind=kind,
        categories=frozenset(str(c) for c in categories),
        missing_value=str(entry.get("missing_value", MISSING_CATEGORY)),
    )


def check_against_graph(
    signature: Signature, graph_inputs: Mapping[str, str], graph_outputs: list[str]
) -> None:
    """Refuse a signature whose inputs or outputs are not the graph's."""
    declared = {f.name: ONNX_TYPES[f.kind] for f in signature.fields}
    if declared != dict(graph_inputs):
        raise SignatureError(
            "model.onnx and signature.json describe different models: the graph takes "
            f"{dict(graph_inputs)}, the signature declares {declared}. Re-run `conveyor export` "
            "so both files come from the same model"
        )
    if signature.probability_output not in graph_outputs:
        raise SignatureError(
            f"model.onnx has no output {signature.probability_output!r} "
            f"(it has {graph_outputs}); signature.json does not belong to this model"
        )
