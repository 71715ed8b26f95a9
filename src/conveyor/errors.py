"""Errors that reach the user as one clear paragraph instead of a traceback.

A `ConveyorError` is the user's to fix (a parameter, a column, a file): the CLI prints its
message and exits with its `exit_code` (2). Any other exception is our bug: the CLI reports it
as an internal error, asks for a bug report and exits 1. Either way the traceback is printed
only with `--verbose`.
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
