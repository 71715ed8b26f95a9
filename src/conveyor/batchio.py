"""Reading a batch of rows a team hands to `conveyor drift`, `simulate` or `monitor`.

A module of its own so that a command reading a batch pays only for pandas, not for what
another command needs besides (scipy's statistics take seconds to import).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from conveyor.errors import DataError


def read_batch(path: Path, categorical: list[str]) -> pd.DataFrame:
    """A CSV (header row; `.gz` allowed) or Parquet file; categories read as text."""
    if not path.is_file():
        raise DataError(f"{path} does not exist")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype={name: str for name in categorical})
    except Exception as error:  # pandas and pyarrow raise many types for an unreadable file
        raise DataError(f"{path} cannot be read as CSV or Parquet: {error}") from None
