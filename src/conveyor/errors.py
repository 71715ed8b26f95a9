"""Errors that reach the user as one clear paragraph instead of a traceback.

Anything raised as a `ConveyorError` is the user's to fix (a parameter, a column, a file), so the
CLI prints its message and exits non-zero; anything else is our bug and keeps its traceback.
"""

from __future__ import annotations


class ConveyorError(Exception):
    """A problem with the user's input, explained well enough to fix without reading code."""

    exit_code = 2


class ConfigError(ConveyorError):
    """`params.yaml` is malformed: unknown keys, wrong types, impossible values."""


class DataError(ConveyorError):
    """A data file is missing, unreadable, or does not match the schema in the params."""


class ModelError(ConveyorError):
    """A model cannot be built, loaded, or exported faithfully."""


class StaleOutputError(ConveyorError):
    """A stage's input is missing because an earlier stage has not run."""
