"""`conveyor simulate`: a drifted batch made from the held-out test set, for demos.

The monitoring loop (serve → drift → alert → retrain) is hard to watch without a second data
source whose inputs have moved. This makes one from rows the model never trained on
(`data/prepared/test.parquet`), resampled or perturbed in one of four known ways, so a person
can see each alarm trip for the reason it claims, and a control batch that trips none:

- `covariate`: rows resampled with weights on one input. Numeric: the weight grows with the
  value's rank, so a row at the top is drawn `strength` times as often as one at the bottom.
  Categorical: the rows of the category whose share the weight moves the most are drawn
  `strength` times as often. Only that input's distribution moves (and those tied to it).
- `label`: positives and negatives resampled so the positive rate moves by `strength`
  (e.g. +0.2), inputs unchanged within each class: what `conveyor monitor --labelled` sees
  when the world's base rate changes.
- `noise`: a plain resample, then numeric inputs get gaussian noise with `strength` × the
  input's standard deviation and a `strength` share of categorical values become categories
  no one has seen: a broken upstream feed.
- `none`: a plain resample, the undrifted control.

Pure functions over a data frame; `run_simulate` is the I/O edge. The same seed gives the same
batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from conveyor.atomic import staged_outputs
from conveyor.batchio import read_batch
from conveyor.config import DataSettings
from conveyor.errors import DataError, StaleOutputError
from conveyor.paths import ProjectPaths

KINDS = ("covariate", "label", "noise", "none")
DEFAULT_STRENGTH = {"covariate": 10.0, "label": 0.2, "noise": 0.25}
"""Strong enough that `conveyor drift` (or `monitor`) flags the batch on the embedded data."""
UNSEEN_PREFIX = "simulated-unseen-"
UNSEEN_KINDS = 3
"""How many distinct never-seen categories `noise` writes into each categorical input."""


@dataclass(frozen=True)
class Columns:
    """The source's columns by role: the model's raw inputs and the label."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    target: str
    positive_label: str

    @classmethod
    def from_settings(cls, data: DataSettings) -> Columns:
        return cls(
            numeric=tuple(data.model_numeric_features),
            categorical=tuple(data.model_categorical_features),
            target=data.target,
            positive_label=str(data.positive_label),
        )

    @property
    def inputs(self) -> tuple[str, ...]:
        return self.numeric + self.categorical


@dataclass(frozen=True)
class Simulation:
    """What to simulate; `None` means the kind's default (see the module docstring)."""

    kind: str
    column: str | None = None
    rows: int | None = None  # default: as many rows as the source has
    seed: int = 0
    strength: float | None = None


def simulate(
    frame: pd.DataFrame, columns: Columns, simulation: Simulation
) -> tuple[pd.DataFrame, str]:
    """The simulated batch (the inputs and the label) and one line saying what moved."""
    kind = simulation.kind
    if kind not in KINDS:
        raise DataError(f"--kind {kind!r} is not one of {', '.join(KINDS)}")
    missing = [name for name in (*columns.inputs, columns.target) if name not in frame.columns]
    if missing:
        raise DataError(f"the source lacks column(s) {', '.join(missing)}")
    if not len(frame):
        raise DataError("the source has no rows to resample")
    rows = len(frame) if simulation.rows is None else simulation.rows
    if rows <= 0:
        raise DataError(f"--rows must be a positive number of rows, got {rows}")
    strength = _strength(simulation)
    column = _column(simulation, columns)
    source = frame.loc[:, [*columns.inputs, columns.target]].reset_index(drop=True)
    rng = np.random.default_rng(simulation.seed)
    if kind == "covariate":
        assert column is not None and strength is not None
        if column in columns.numeric:
            weights, favoured = _rank_weights(source[column], strength), None
        else:
            weights, favoured = _category_weights(source[column], strength)
        batch = _resample(source, rows, rng, weights)
        return batch, f"covariate shift on {column}: {_change(source, batch, column, favoured)}"
    if kind == "label":
        assert strength is not None
        return _label_shift(source, columns, rows, rng, strength)
    batch = _resample(source, rows, rng)
    if kind == "noise":
        assert strength is not None
        names = columns.inputs if column is None else (column,)
        for name in names:
            if name in columns.numeric:
                batch[name] = _gaussian(batch[name], source[name], strength, rng)
            else:
                batch[name] = _unseen(batch[name], strength, rng)
        return batch, f"noise of strength {strength:g} on {', '.join(names)}"
    return batch, "a plain resample (no drift)"


def _strength(simulation: Simulation) -> float | None:
    kind, strength = simulation.kind, simulation.strength
    if kind == "none":
        if strength is not None:
            raise DataError("--strength does not apply to --kind none (a plain resample)")
        return None
    value = DEFAULT_STRENGTH[kind] if strength is None else strength
    if not math.isfinite(value):
        raise DataError(f"--strength must be a finite number, got {value}")
    if kind == "covariate" and value <= 0:
        raise DataError(f"--strength for --kind covariate is a weight factor > 0, got {value:g}")
    if kind == "label" and not -1 < value < 1:
        raise DataError(
            f"--strength for --kind label is a change of rate in (-1, 1), got {value:g}"
        )
    if kind == "noise" and not 0 < value <= 1:
        raise DataError(f"--strength for --kind noise is a share in (0, 1], got {value:g}")
    return value


def _column(simulation: Simulation, columns: Columns) -> str | None:
    kind, column = simulation.kind, simulation.column
    if kind in ("label", "none"):
        if column is not None:
            raise DataError(f"--column does not apply to --kind {kind}")
        return None
    if column is None:
        return columns.inputs[0] if kind == "covariate" else None
    if column not in columns.inputs:
        raise DataError(
            f"--column {column!r} is not one of the model's inputs: {', '.join(columns.inputs)}"
        )
    return column


def _resample(
    source: pd.DataFrame, rows: int, rng: np.random.Generator, weights: np.ndarray | None = None
) -> pd.DataFrame:
    chance = None if weights is None else weights / weights.sum()
    picked = rng.choice(len(source), size=rows, replace=True, p=chance)
    return source.iloc[picked].reset_index(drop=True)


def _rank_weights(values: pd.Series, factor: float) -> np.ndarray:
    """`factor` to the power of each value's rank in (0, 1]: the top row weighs `factor`, the
    bottom about 1; a missing value weighs 1."""
    rank = values.rank(method="average", pct=True).fillna(0.0).to_numpy(dtype=np.float64)
    return np.power(factor, rank)


def _category_weights(values: pd.Series, factor: float) -> tuple[np.ndarray, str]:
    """`factor` for the rows of the category whose share it moves the most, 1 for the rest.

    A share p becomes p·f / (p·f + 1 - p): a rare category barely moves, a dominant one has
    little room left, so the favoured one is in between.
    """
    text = values.astype("string")
    shares = text.value_counts(normalize=True)
    moved = shares * factor / (shares * factor + 1 - shares) - shares
    favoured = str(moved.abs().idxmax())
    return np.where((text == favoured).fillna(False).to_numpy(dtype=bool), factor, 1.0), favoured


def _change(source: pd.DataFrame, batch: pd.DataFrame, column: str, favoured: str | None) -> str:
    """How the column's mean, or the favoured category's share, moved, in words."""
    if favoured is None:
        return f"mean {source[column].mean():.4g} → {batch[column].mean():.4g}"
    before, after = (
        float((f[column].astype("string") == favoured).mean()) for f in (source, batch)
    )
    return f"share of {favoured!r} {before:.1%} → {after:.1%}"


def _label_shift(
    source: pd.DataFrame, columns: Columns, rows: int, rng: np.random.Generator, change: float
) -> tuple[pd.DataFrame, str]:
    positive = (source[columns.target].astype(str) == columns.positive_label).to_numpy()
    before = float(positive.mean())
    target = before + change
    if not 0 <= target <= 1:
        raise DataError(
            f"--strength {change:+g} would move the positive rate of {columns.target} from "
            f"{before:.3f} to {target:.3f}, outside [0, 1]"
        )
    wanted = round(rows * target)
    pools = np.flatnonzero(positive), np.flatnonzero(~positive)
    for pool, count, what in zip(
        pools, (wanted, rows - wanted), ("positive", "negative"), strict=True
    ):
        if count and not len(pool):
            raise DataError(f"the source has no {what} rows of {columns.target} to resample")
    picked = np.concatenate([
        rng.choice(pools[0], size=wanted, replace=True),
        rng.choice(pools[1], size=rows - wanted, replace=True),
    ])  # fmt: skip
    batch = source.iloc[rng.permutation(picked)].reset_index(drop=True)
    moved = f"positive rate of {columns.target} {before:.3f} → {wanted / rows:.3f}"
    return batch, f"label shift: {moved} ({columns.positive_label!r} is positive)"


def _gaussian(
    values: pd.Series, source: pd.Series, scale: float, rng: np.random.Generator
) -> pd.Series:
    numbers = values.astype(np.float64)
    spread = float(source.astype(np.float64).std())
    spread = 0.0 if math.isnan(spread) else spread
    return numbers + rng.normal(0.0, scale * spread, len(numbers))


def _unseen(values: pd.Series, share: float, rng: np.random.Generator) -> pd.Series:
    text = values.astype("string")
    present = text.notna().to_numpy(dtype=bool)
    chosen = present & (rng.random(len(text)) < share)
    known = set(text.dropna())
    names = [f"{UNSEEN_PREFIX}{k}" for k in range(1, UNSEEN_KINDS + 1)]
    names = [name if name not in known else f"{name}-{len(known)}" for name in names]
    replaced = text.copy()
    replaced[chosen] = np.asarray(names, dtype=object)[rng.integers(0, len(names), chosen.sum())]
    return replaced


def write_batch(batch: pd.DataFrame, output: Path) -> None:
    """CSV or Parquet by the file's suffix, renamed into place only when complete."""
    with staged_outputs() as out:
        if output.suffix == ".parquet":
            out.write(output, lambda path: batch.to_parquet(path, index=False))
        else:
            out.write(output, lambda path: batch.to_csv(path, index=False))


def run_simulate(
    data: DataSettings, paths: ProjectPaths, simulation: Simulation, output: Path
) -> tuple[pd.DataFrame, str]:
    """Read the held-out test set, simulate, write `output`."""
    if output.suffix not in (".csv", ".parquet"):
        raise DataError(f"--output {output} must end in .csv or .parquet")
    if not paths.test_data.is_file():
        raise StaleOutputError(f"{paths.test_data} does not exist: run `make run` first")
    columns = Columns.from_settings(data)
    frame = read_batch(paths.test_data, list(columns.categorical))
    batch, description = simulate(frame, columns, simulation)
    write_batch(batch, output)
    return batch, description
