"""Reading the outputs of earlier stages, with a message that says which command makes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from conveyor.errors import StaleOutputError


def read_prepared(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise StaleOutputError(f"{path} does not exist; run `dvc repro` (or `conveyor prepare`)")
    return pd.read_parquet(path)


def read_json(path: Path) -> Any:
    if not path.exists():
        raise StaleOutputError(f"{path} does not exist; run `dvc repro` to produce it")
    return json.loads(path.read_text(encoding="utf-8"))
