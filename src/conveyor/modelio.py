"""Save and load the fitted pipeline with skops, never pickle.

Loading a pickle runs arbitrary code; skops rebuilds only the types it is told to trust. skops
trusts a fixed list of its own (scikit-learn's estimators and some of their internal types,
numpy arrays and scalars, plain Python values and containers) and names every other type in a
file as untrusted. Of those, we trust exactly `TRUSTED_TYPES`, the ones a pipeline built by
`conveyor.train` contains with any of its estimators (a test builds each and checks); any other
name, such as a function a `FunctionTransformer` would call at predict time, or a class from
another package, is refused before anything is loaded.
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import skops.io as sio
from sklearn.pipeline import Pipeline

from conveyor.errors import ModelError, StaleOutputError

_SCHEMA = "schema.json"
_EPOCH = (1980, 1, 1, 0, 0, 0)
TRUSTED_TYPES = frozenset(
    {
        "numpy.dtype",  # the dtype a SimpleImputer records at fit
        "sklearn.tree._tree.Tree",  # the trees of a random forest
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",  # boosted trees
    }
)
"""Types beyond skops' defaults that a Conveyor pipeline holds, and all that `load_model`
accepts besides them."""


def dump_model(pipeline: Pipeline) -> bytes:
    """skops bytes, made canonical so that the same model always gives the same file."""
    return canonical_skops(bytes(sio.dumps(without_thread_count(pipeline))))


def without_thread_count(pipeline: Pipeline) -> Pipeline:
    """A copy whose histogram binner no longer records how many OpenMP threads the fit used.

    Histogram gradient boosting keeps that count in `_bin_mapper.n_threads`; it is the only
    trace the machine leaves in the fitted model (the fit itself gives the same trees with one
    thread or many). Left in, the same data and parameters would give a different file, and a
    different DVC hash, on a runner with a different core count or `OMP_NUM_THREADS`. `None` is
    the binner's default: use the threads of the machine that loads it.
    """
    if not any(hasattr(step, "_bin_mapper") for _, step in pipeline.steps):
        return pipeline
    copied = copy.deepcopy(pipeline)
    for _, step in copied.steps:
        if hasattr(step, "_bin_mapper"):
            step._bin_mapper.n_threads = None
    return copied


def canonical_skops(archive: bytes) -> bytes:
    """Replace skops' memory addresses by sequence numbers and fix the zip timestamps.

    skops names every object by `id()` (and each array file `<id>.npy`), so two dumps of one
    model differ in every byte. Renumbering in the schema's own (deterministic) order keeps
    shared references shared and makes the file a function of the model: DVC then sees an
    unchanged output, `dvc.lock` does not churn, and a changed hash means a changed model.
    """
    source = zipfile.ZipFile(io.BytesIO(archive))
    schema = json.loads(source.read(_SCHEMA))
    numbers: dict[int, int] = {}
    _renumber(schema, numbers)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as target:
        _write_entry(target, _SCHEMA, json.dumps(schema, indent=2).encode())
        renamed = {}
        for name in source.namelist():
            if name == _SCHEMA:
                continue
            stem, dot, suffix = name.partition(".")
            if not stem.isdigit() or int(stem) not in numbers:
                raise ModelError(f"unexpected entry {name!r} in a skops archive")
            renamed[f"{numbers[int(stem)]}{dot}{suffix}"] = name
        for new_name in sorted(renamed):
            _write_entry(target, new_name, source.read(renamed[new_name]))
    return buffer.getvalue()


def _renumber(node: Any, numbers: dict[int, int]) -> None:
    if isinstance(node, dict):
        if "__id__" in node:
            node["__id__"] = numbers.setdefault(node["__id__"], len(numbers))
        if isinstance(node.get("file"), str):
            stem, dot, suffix = node["file"].partition(".")
            if stem.isdigit():
                node["file"] = f"{numbers.setdefault(int(stem), len(numbers))}{dot}{suffix}"
        for value in node.values():
            _renumber(value, numbers)
    elif isinstance(node, list):
        for item in node:
            _renumber(item, numbers)


def _write_entry(archive: zipfile.ZipFile, name: str, content: bytes) -> None:
    entry = zipfile.ZipInfo(name, date_time=_EPOCH)
    entry.compress_type = zipfile.ZIP_DEFLATED
    entry.external_attr = 0o644 << 16
    archive.writestr(entry, content)


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
    refused = sorted(set(untrusted) - TRUSTED_TYPES)
    if refused:
        raise ModelError(f"model file {path} contains types Conveyor does not trust: {refused}")
    model = sio.load(path, trusted=untrusted)
    if not isinstance(model, Pipeline):
        raise ModelError(f"model file {path} holds a {type(model).__name__}, not a Pipeline")
    return model
