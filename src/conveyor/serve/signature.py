"""`signature.json` -> the contract the server enforces, checked against the ONNX graph.

The server refuses to start when the two disagree: a request validated against one contract
and run through a graph expecting another would fail later, per request, as a 500.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NUMBER = "number"
STRING = "string"
_ONNX_TYPES = {NUMBER: "tensor(float)", STRING: "tensor(string)"}


class SignatureError(RuntimeError):
    """The model files are missing, unreadable, or describe different models."""


@dataclass(frozen=True)
class InputField:
    """One model input: its JSON type and, for categories, the values seen in training."""

    name: str
    kind: str
    categories: frozenset[str] = frozenset()
    missing_value: str = ""


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
        return tuple(f.name for f in self.fields)

    @property
    def model_info(self) -> dict[str, Any]:
        info: dict[str, Any] = self.document.get("model", {})
        return info


def load_signature(path: Path) -> Signature:
    """Parse and validate `signature.json`; every problem names the file and the key."""
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
        return _parse(document)
    except (KeyError, TypeError, ValueError) as error:
        raise SignatureError(f"signature file {path} is malformed: {error}") from None


def _parse(document: dict[str, Any]) -> Signature:
    fields = []
    for entry in document["inputs"]:
        kind = entry["type"]
        if kind not in _ONNX_TYPES:
            raise ValueError(f"input {entry['name']!r} has unsupported type {kind!r}")
        fields.append(
            InputField(
                name=str(entry["name"]),
                kind=kind,
                categories=frozenset(entry.get("categories", ())),
                missing_value=str(entry.get("missing_value", "")),
            )
        )
    if not fields:
        raise ValueError("'inputs' is empty")
    output = document["output"]
    classes = tuple(str(c) for c in output["classes"])
    if len(classes) != 2:
        raise ValueError(f"'output.classes' must hold two classes, got {list(classes)}")
    threshold = float(output["threshold"])
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"'output.threshold' must be between 0 and 1, got {threshold}")
    return Signature(
        fields=tuple(fields),
        classes=(classes[0], classes[1]),
        positive_index=int(output["positive_index"]),
        threshold=threshold,
        probability_output=str(output["probability_output"]),
        document=document,
    )


def check_against_graph(
    signature: Signature, graph_inputs: dict[str, str], graph_outputs: list[str]
) -> None:
    """Refuse a signature whose inputs or outputs are not the graph's."""
    declared = {f.name: _ONNX_TYPES[f.kind] for f in signature.fields}
    if declared != graph_inputs:
        raise SignatureError(
            "model.onnx and signature.json describe different models: the graph takes "
            f"{graph_inputs}, the signature declares {declared}. Re-run `conveyor export` "
            "so both files come from the same model"
        )
    if signature.probability_output not in graph_outputs:
        raise SignatureError(
            f"model.onnx has no output {signature.probability_output!r} "
            f"(it has {graph_outputs}); signature.json does not belong to this model"
        )
