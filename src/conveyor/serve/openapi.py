"""The OpenAPI document, generated from the signature so it states the real field names,
types and limits: what clients code against and what fuzzers (schemathesis) attack."""

from __future__ import annotations

from typing import Any

from conveyor.contract import FLOAT32_MAX, NUMBER
from conveyor.serve.signature import Signature
from conveyor.serve.validation import COLUMNS

_MAX_LISTED_CATEGORIES = 50


def _field_schema(kind: str, categories: frozenset[str]) -> dict[str, Any]:
    """The schema of one input as validation enforces it. Categories are listed, never an
    `enum`: unknown ones are accepted (and counted), so an enum would call valid requests
    invalid."""
    if kind == NUMBER:
        return {
            "type": "number",
            "format": "float",
            "nullable": True,
            "minimum": -FLOAT32_MAX,
            "maximum": FLOAT32_MAX,
            "description": "A number; null means missing (imputed as in training).",
        }
    known = sorted(categories)
    listed = ", ".join(known[:_MAX_LISTED_CATEGORIES])
    schema: dict[str, Any] = {
        "type": "string",
        "nullable": True,
        "description": (
            f"Seen in training: {listed}. Other values are accepted and counted in "
            "conveyor_unknown_categories_total; null means missing."
        ),
    }
    if known:
        schema["example"] = known[0]
    return schema


def _columns_schema(signature: Signature, max_batch: int) -> dict[str, Any]:
    """The columnar body: every input as a list of the values a record holds. That the lists
    have one length is a rule JSON Schema cannot state; the description says it and
    validation enforces it (422 naming both columns)."""
    column_of = {
        f.name: {
            "type": "array",
            "items": _field_schema(f.kind, f.categories),
            "minItems": 1,
            "maxItems": max_batch,
        }
        for f in signature.fields
    }
    return {
        "type": "object",
        "description": (
            "A batch a column at a time, for large batches: one list per input, every list "
            "the same length (one value per row), typed and cleaned as in a record. The "
            "predictions come back in row order."
        ),
        "properties": {
            COLUMNS: {
                "type": "object",
                "properties": column_of,
                "required": list(signature.names),
                "additionalProperties": False,
            }
        },
        "required": [COLUMNS],
        "additionalProperties": False,
    }


def build_openapi(signature: Signature, max_batch: int, version: str) -> dict[str, Any]:
    """OpenAPI 3.0 for the server, with the record schema taken from the signature."""
    record = {
        "type": "object",
        "properties": {f.name: _field_schema(f.kind, f.categories) for f in signature.fields},
        "required": list(signature.names),
        "additionalProperties": False,
    }
    error = {
        "description": "Refused; the message names the record (or column and row) and field.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    json_ok = {"200": {"description": "OK", "content": {"application/json": {"schema": {}}}}}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Conveyor model server",
            "version": version,
            "description": "Predictions from the ONNX model exported by the Conveyor pipeline.",
        },
        "paths": {
            "/predict": {
                "post": {
                    "summary": "Predict one record or a batch",
                    "description": (
                        "The body is one record, a list of records, or the same rows as "
                        'columns: {"columns": {"<input>": [values...], ...}}.'
                    ),
                    "operationId": "predict",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/PredictRequest"}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "One prediction per record, in order.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/PredictResponse"}
                                }
                            },
                        },
                        "400": error,
                        "413": error,
                        "415": error,
                        "422": error,
                    },
                }
            },
            "/health": {
                "get": {"summary": "Liveness", "operationId": "health", "responses": json_ok}
            },
            "/ready": {
                "get": {
                    "summary": "Readiness: the model is loaded",
                    "operationId": "ready",
                    "responses": {**json_ok, "503": error},
                }
            },
            "/metadata": {
                "get": {
                    "summary": "Model version, provenance, metrics, signature",
                    "operationId": "metadata",
                    "responses": json_ok,
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "operationId": "metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/drift": {
                "get": {
                    "summary": "Live drift of recent inputs and predictions from training",
                    "operationId": "drift",
                    "responses": {
                        "200": {
                            "description": "The drift numbers (enabled: false when switched off)",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Drift"}
                                }
                            },
                        }
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Record": record,
                "Columns": _columns_schema(signature, max_batch),
                "PredictRequest": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Record"},
                        {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Record"},
                            "minItems": 1,
                            "maxItems": max_batch,
                        },
                        {"$ref": "#/components/schemas/Columns"},
                    ]
                },
                "PredictResponse": {
                    "type": "object",
                    "required": ["model_version", "predictions"],
                    "properties": {
                        "model_version": {"type": "string"},
                        "predictions": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["label", "probability"],
                                "properties": {
                                    "label": {"type": "string", "enum": list(signature.classes)},
                                    "probability": {
                                        "type": "number",
                                        "minimum": 0,
                                        "maximum": 1,
                                    },
                                },
                            },
                        },
                    },
                },
                "Drift": _DRIFT_SCHEMA,
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
            }
        },
    }


_RATE = {"type": "number", "nullable": True, "minimum": 0, "maximum": 1}
_INDEX = {"type": "number", "nullable": True, "minimum": 0}
_DRIFT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["enabled"],
    "properties": {
        "enabled": {"type": "boolean"},
        "reason": {"type": "string"},
        "window": {"type": "integer", "minimum": 1},
        "sample": {"type": "number", "exclusiveMinimum": True, "minimum": 0, "maximum": 1},
        "rows": {"type": "number", "minimum": 0},
        "features": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["psi", "missing_rate", "unseen_rate"],
                "properties": {"psi": _INDEX, "missing_rate": _RATE, "unseen_rate": _RATE},
            },
        },
        "prediction": {
            "type": "object",
            "nullable": True,
            "required": ["psi", "positive_rate", "reference_positive_rate"],
            "properties": {
                "psi": _INDEX,
                "positive_rate": _RATE,
                "reference_positive_rate": _RATE,
            },
        },
    },
}
