"""`conveyor prepare`: raw files -> validated, anonymised, de-duplicated, split Parquet."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from conveyor import data as data_ops
from conveyor.atomic import staged_outputs
from conveyor.config import DataSettings, Settings
from conveyor.errors import ConfigError
from conveyor.features import target_vector
from conveyor.paths import ProjectPaths

log = logging.getLogger("conveyor")


def run(settings: Settings, paths: ProjectPaths) -> dict[str, Any]:
    """Raw files -> validated, anonymised, de-duplicated, split Parquet files."""
    data = settings.data
    key = pseudonym_key(data, os.environ)
    loaded = [
        data_ops.read_source(source, paths.resolve(source.path), data) for source in data.sources
    ]
    data_ops.check_same_layout(loaded)
    validated = [
        data_ops.validate(data_ops.normalise(s.frame, data), data, str(s.path)) for s in loaded
    ]
    combined = pd.concat(validated, ignore_index=True)
    classes = data_ops.check_classes(combined, data)
    rows_raw = len(combined)
    combined = data_ops.with_record_ids(combined)
    if data.deduplicate:
        combined = data_ops.deduplicate(combined)
    combined = data_ops.pseudonymise(combined, data.pseudonymise_columns, key)
    combined = data_ops.select_columns(combined, data)
    train, test = data_ops.split(combined, data, settings.split)
    manifest = {
        "sources": [{"path": str(s.path), "sha256": s.sha256} for s in loaded],
        "data_sha256": data_ops.data_fingerprint(loaded),
        "classes": classes,
        "rows_raw": rows_raw,
        "duplicates_dropped": rows_raw - len(combined),
        "rows_train": len(train),
        "rows_test": len(test),
        "positive_rate_train": round(float(target_vector(train, data).mean()), 6),
        "positive_rate_test": round(float(target_vector(test, data).mean()), 6),
        "columns": list(combined.columns),
        "pseudonymisation": "hmac-sha256"
        if key
        else ("sha256" if data.pseudonymise_columns else None),
    }
    with staged_outputs() as out:
        out.write(paths.train_data, lambda p: train.to_parquet(p, index=False))
        out.write(paths.test_data, lambda p: test.to_parquet(p, index=False))
        out.write_json(paths.manifest, manifest)
    log.info(
        "prepared %s train and %s test rows from %s record(s) (%s duplicates dropped)",
        f"{len(train):,}",
        f"{len(test):,}",
        f"{rows_raw:,}",
        f"{manifest['duplicates_dropped']:,}",
    )
    return manifest


def pseudonym_key(data: DataSettings, environ: Mapping[str, str]) -> bytes | None:
    """The HMAC key for pseudonymised columns, read before any data is, so a missing key
    stops the stage at once. Without a key the columns would get a plain SHA-256, which a
    dictionary reverses for guessable values (e-mails, phone numbers): allowed only when
    params say this is a demo (`data.pseudonymise_unkeyed: true`)."""
    variable, columns = data.pseudonymise_key_env, data.pseudonymise_columns
    key = environ.get(variable)
    if key:
        return key.encode()
    if columns and not data.pseudonymise_unkeyed:
        raise ConfigError(
            f"data.pseudonymise_columns lists {columns}, but the environment variable "
            f"{variable} (data.pseudonymise_key_env) is not set. Without a key these columns "
            "would get an unkeyed SHA-256, which a dictionary attack reverses for guessable "
            f"values such as e-mail addresses. Set {variable} to a secret (in CI, a repository "
            "secret), or, for a demo on data about no real people, set "
            "`data.pseudonymise_unkeyed: true` in params.yaml"
        )
    if columns:
        log.warning(
            "%s is not set and data.pseudonymise_unkeyed is true: pseudonymised columns %s "
            "use an unkeyed SHA-256, which a dictionary attack can reverse (demo data only)",
            variable,
            columns,
        )
    return None
