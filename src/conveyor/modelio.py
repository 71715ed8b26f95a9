"""Save and load the fitted pipeline with skops, never pickle.

Loading a pickle runs arbitrary code; skops only rebuilds the types it is told to trust. We
trust exactly the scikit-learn/numpy types our own pipelines contain, so a tampered file that
smuggles in anything else is refused.
"""

from __future__ import annotations

from pathlib import Path

import skops.io as sio
from sklearn.pipeline import Pipeline

from conveyor.errors import ModelError, StaleOutputError

_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


def dump_model(pipeline: Pipeline) -> bytes:
    return bytes(sio.dumps(pipeline))


def load_model(path: Path) -> Pipeline:
    """Load a pipeline written by `dump_model`, refusing any type outside our allowlist."""
    if not path.exists():
        raise StaleOutputError(
            f"model {path} does not exist; run `dvc repro` (or `conveyor train`)"
        )
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as error:  # skops raises zipfile/JSON errors for a damaged file
        raise ModelError(f"model file {path} is not a readable skops file: {error}") from None
    refused = [name for name in untrusted if not name.startswith(_TRUSTED_PREFIXES)]
    if refused:
        raise ModelError(f"model file {path} contains types Conveyor does not trust: {refused}")
    model = sio.load(path, trusted=untrusted)
    if not isinstance(model, Pipeline):
        raise ModelError(f"model file {path} holds a {type(model).__name__}, not a Pipeline")
    return model
