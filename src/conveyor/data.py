"""Load, validate, anonymise and split the raw data.

Reading bytes is the only I/O here (`read_source`); everything after it is a pure function of
data frames and settings, so each rule can be tested on a three-row frame.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.errors
import pandera.pandas as pa
from sklearn.model_selection import train_test_split

from conveyor.config import DataSettings, Source, SplitSettings
from conveyor.contract import FLOAT32_MAX, MISSING_CATEGORY, NUMERIC_DTYPE
from conveyor.errors import DataError
from conveyor.features import categorical_strings

MISSING_GROUP = "(missing)"
_MAX_EXAMPLES = 3


@dataclass(frozen=True)
class LoadedSource:
    """One raw file after parsing, with the checksum of its uncompressed content."""

    path: Path
    sha256: str
    frame: pd.DataFrame


def read_source(source: Source, path: Path, data: DataSettings) -> LoadedSource:
    """Read one file (CSV or Parquet, gzip by suffix) and check its checksum."""
    content = _read_bytes(path)
    digest = hashlib.sha256(content).hexdigest()
    if source.sha256 is not None and digest != source.sha256:
        raise DataError(
            f"checksum mismatch for {source.path}: params expect sha256 {source.sha256}, "
            f"the file's content has {digest}. The file changed or is corrupt; if the change "
            "is intended, update data.sources[].sha256 in params.yaml"
        )
    if not content.strip():
        raise DataError(f"data file {source.path} is empty: it holds no header and no rows")
    frame = _parse(content, source.path, data)
    if frame.empty:
        raise DataError(f"data file {source.path} has a header but no data rows")
    _check_columns(frame, source.path, data)
    return LoadedSource(path=source.path, sha256=digest, frame=frame)


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(
            f"data file {path} does not exist (data.sources in params.yaml names it)"
        ) from None
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise DataError(
            f"data file {path} is not a valid gzip file ({error}); re-create it with "
            "`gzip -k <file>` or drop the .gz suffix if it is not compressed"
        ) from None


def _parse(content: bytes, name: Path, data: DataSettings) -> pd.DataFrame:
    if data.format == "parquet":
        try:
            frame = pd.read_parquet(io.BytesIO(content))
        except Exception as error:  # pyarrow raises several unrelated types
            raise DataError(f"data file {name} is not a readable Parquet file: {error}") from None
        return frame.astype({c: "string" for c in frame.columns if frame[c].dtype == object})
    options = data.csv
    try:
        return pd.read_csv(
            io.BytesIO(content),
            sep=options.separator,
            header=0 if options.header else None,
            names=None if options.header else options.columns,
            index_col=False,
            skipinitialspace=options.skip_initial_space,
            comment=options.comment,
            na_values=options.na_values,
            keep_default_na=True,
            dtype=str,
            skip_blank_lines=True,
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {name} is empty: it holds no header and no rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise DataError(f"data file {name} cannot be parsed as CSV: {error}") from None


def _check_columns(frame: pd.DataFrame, name: Path, data: DataSettings) -> None:
    roles = {
        "target": [data.target],
        "numeric_features": data.numeric_features,
        "categorical_features": data.categorical_features,
        "sensitive_features": data.sensitive_features,
        "slice_columns": data.slice_columns,
        "drop_columns": data.drop_columns,
        "pseudonymise_columns": data.pseudonymise_columns,
    }
    problems = [
        f"'{column}' (data.{role})"
        for role, columns in roles.items()
        for column in columns
        if column not in frame.columns
    ]
    if problems:
        raise DataError(
            f"data file {name} lacks column(s) {', '.join(problems)}; "
            f"its columns are: {', '.join(map(str, frame.columns))}"
        )


def check_same_layout(sources: list[LoadedSource]) -> None:
    """Files are concatenated, so each must have the same columns in the same order."""
    first = sources[0]
    for other in sources[1:]:
        if list(other.frame.columns) != list(first.frame.columns):
            raise DataError(
                f"data files {first.path} and {other.path} have different columns: "
                f"{list(first.frame.columns)} vs {list(other.frame.columns)}"
            )


def data_fingerprint(sources: list[LoadedSource]) -> str:
    """One hash for the whole data set: changes whenever any file's content changes."""
    combined = hashlib.sha256()
    for source in sources:
        combined.update(source.sha256.encode())
    return combined.hexdigest()


def normalise(frame: pd.DataFrame, data: DataSettings) -> pd.DataFrame:
    """Trim text, rewrite raw target values, and give missing groups a visible name."""
    result = frame.copy()
    for column in result.columns:
        if pd.api.types.is_string_dtype(result[column]):
            result[column] = result[column].str.strip()
    target = result[data.target].astype("string")
    if data.target_value_map:
        target = target.replace(data.target_value_map)
    result[data.target] = target
    for column in _group_columns(data):
        result[column] = categorical_strings(result[column]).replace(
            MISSING_CATEGORY, MISSING_GROUP
        )
    return result


def _group_columns(data: DataSettings) -> list[str]:
    """Sensitive and slice columns that hold groups (not numeric slice columns like age)."""
    numeric = set(data.numeric_features)
    columns = [*data.sensitive_features, *data.slice_columns]
    return [c for c in dict.fromkeys(columns) if c not in numeric]


def validate(frame: pd.DataFrame, data: DataSettings, name: str) -> pd.DataFrame:
    """Check the frame against the schema the params describe; return it with numbers typed."""
    schema = pa.DataFrameSchema(
        {
            **{c: pa.Column(float, coerce=True, nullable=True) for c in data.numeric_features},
            data.target: pa.Column(str, nullable=False, coerce=False),
        },
        strict=False,
    )
    try:
        validated = schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        raise DataError(_describe_failures(errors.failure_cases, data, name)) from None
    _check_finite(validated, data, name)
    _check_target(validated, data, name)
    return validated


def _describe_failures(failures: pd.DataFrame, data: DataSettings, name: str) -> str:
    lines = []
    for group, cases in failures.groupby("column", sort=True):
        column = str(group)
        unique = cases.drop_duplicates(subset=["index"])
        examples = ", ".join(
            f"{case!s:.40} (record {int(index) + 1})"
            for case, index in zip(
                unique["failure_case"].head(_MAX_EXAMPLES),
                unique["index"].head(_MAX_EXAMPLES),
                strict=True,
            )
            if index is not None and not pd.isna(index)
        )
        if column == data.target:
            lines.append(
                f"target column '{column}' has {len(unique)} missing value(s); "
                "every row needs a label"
            )
        else:
            lines.append(
                f"column '{column}' (data.numeric_features) must hold numbers, but "
                f"{len(unique)} value(s) are not numeric, e.g. {examples}"
            )
    return f"data file {name} does not match the schema in params: " + "; ".join(lines)


def _check_finite(frame: pd.DataFrame, data: DataSettings, name: str) -> None:
    for column in data.numeric_features:
        values = frame[column].to_numpy(dtype=np.float64)
        infinite = np.isinf(values)
        if infinite.any():
            first = int(np.argmax(infinite)) + 1
            raise DataError(
                f"data file {name}: column '{column}' holds {int(infinite.sum())} infinite "
                f"value(s) (first at record {first}); use an empty cell for a missing number"
            )
        too_large = np.abs(values) > FLOAT32_MAX
        if too_large.any():
            raise DataError(
                f"data file {name}: column '{column}' holds values beyond float32 range, "
                "which the exported model cannot represent"
            )


def _check_target(frame: pd.DataFrame, data: DataSettings, name: str) -> None:
    classes = sorted(frame[data.target].dropna().astype(str).unique())
    positive = str(data.positive_label)
    if positive not in classes:
        raise DataError(
            f"data file {name}: target column '{data.target}' never takes the positive label "
            f"{positive!r} (data.positive_label); its values are {classes[:10]}"
        )


def check_classes(frame: pd.DataFrame, data: DataSettings) -> list[str]:
    """The two classes, negative first; a binary model needs exactly two."""
    classes = sorted(frame[data.target].astype(str).unique())
    positive = str(data.positive_label)
    if len(classes) < 2:
        raise DataError(
            f"target column '{data.target}' has only one class ({classes[0]!r}); a binary "
            "classifier needs the positive label and one other value"
        )
    if len(classes) > 2:
        raise DataError(
            f"target column '{data.target}' has {len(classes)} classes {classes[:10]}; "
            "Conveyor trains binary classifiers: map the extra values with "
            "data.target_value_map"
        )
    negative = next(c for c in classes if c != positive)
    return [negative, positive]


def pseudonymise(frame: pd.DataFrame, columns: list[str], key: bytes | None) -> pd.DataFrame:
    """Replace identifiers by HMAC-SHA256 digests: joinable across runs, not reversible.

    Without a key the digest is a plain SHA-256, which a dictionary attack can reverse for
    guessable values (e-mail addresses); the stage warns when that happens.
    """
    if not columns:
        return frame
    result = frame.copy()
    for column in columns:
        values = result[column].astype("string")
        result[column] = [pd.NA if pd.isna(value) else _digest(str(value), key) for value in values]
        result[column] = result[column].astype("string")
    return result


def _digest(value: str, key: bytes | None) -> str:
    if key is None:
        return hashlib.sha256(value.encode()).hexdigest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


RECORD_ID = "record_id"


def with_record_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """Add a fingerprint of each whole raw record (before columns are dropped).

    Two rows share it only when every raw value is equal, so it identifies duplicates, and it
    lets a data test prove that no record sits on both sides of the split even after columns
    such as identifiers or weights have been removed.
    """
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    return frame.assign(**{RECORD_ID: [f"{value:016x}" for value in hashes]})


def deduplicate(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop exact duplicate records: a copy in train and test would inflate every metric."""
    return frame.drop_duplicates(subset=[RECORD_ID], ignore_index=True)


def select_columns(frame: pd.DataFrame, data: DataSettings) -> pd.DataFrame:
    """Keep what the model and the evaluation need, typed; everything else goes."""
    keep = list(
        dict.fromkeys(
            [
                *data.model_features,
                *data.evaluation_columns,
                *data.pseudonymise_columns,
                data.target,
                RECORD_ID,
            ]
        )
    )
    result = frame[keep].copy()
    for column in data.numeric_features:
        if column in result.columns:
            result[column] = result[column].astype(NUMERIC_DTYPE)
    for column in data.categorical_features:
        if column in result.columns and column not in _group_columns(data):
            result[column] = categorical_strings(result[column]).astype("string")
    result[data.target] = result[data.target].astype("string")
    result[RECORD_ID] = result[RECORD_ID].astype("string")
    return result


def split(
    frame: pd.DataFrame, data: DataSettings, settings: SplitSettings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Seeded hold-out split, stratified on the label so both sides keep its balance."""
    labels = frame[data.target] if settings.stratify else None
    if labels is not None:
        smallest = int(labels.value_counts().min())
        if smallest < 2:
            raise DataError(
                f"cannot stratify on '{data.target}': one class has only {smallest} row; "
                "add data or set split.stratify to false"
            )
    try:
        train, test = train_test_split(
            frame,
            test_size=settings.test_fraction,
            random_state=settings.seed,
            stratify=labels,
        )
    except ValueError as error:
        raise DataError(f"cannot split {len(frame)} rows: {error}") from None
    return train.reset_index(drop=True), test.reset_index(drop=True)
