"""`conveyor compare`: this checkout's model (the challenger) against the champion.

Reads the test set and both models, scores the rows the champion never trained on with both
(through the server's own path, `conveyor.scoring`), judges the `gates.champion` margins
(`conveyor.comparison`) and writes `reports/comparison.json`, which the pull-request report
and the release notes show. When there is no champion, or it cannot score this data (its input
columns are gone), the file says why and no margin is judged: the fixed bounds of the evaluate
stage still apply.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conveyor.atomic import staged_outputs
from conveyor.champion import Champion, load_champion, record_ids
from conveyor.comparison import compare, rows_to_compare
from conveyor.config import Settings
from conveyor.data import RECORD_ID
from conveyor.features import target_vector
from conveyor.paths import ProjectPaths
from conveyor.reportio import model_digest
from conveyor.scoring import ScoringError, score
from conveyor.serve.signature import SignatureError, load_signature
from conveyor.stages.inputs import read_prepared
from conveyor.verdict import Verdict

SCHEMA_VERSION = 1


def run_comparison(
    settings: Settings, paths: ProjectPaths, champion_dir: Path, output: Path
) -> tuple[dict[str, Any], Verdict]:
    """Compare, write `output`, and return the document and the margins' verdict."""
    frame = read_prepared(paths.test_data)
    champion = load_champion(champion_dir)
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "rows": {"test": len(frame)},
        "challenger_onnx_sha256": model_digest(paths.onnx_model),
    }
    verdict = Verdict(
        (), settings.gates.fail_on_inconclusive, settings.gates.bootstrap.model_dump()
    )
    skipped: str | None
    if isinstance(champion, Champion):
        document["champion"] = {"label": champion.label, **champion.about}
        outcome = _compare(settings, paths, frame, champion, document)
        skipped = outcome if isinstance(outcome, str) else None
        verdict = outcome if isinstance(outcome, Verdict) else verdict
    else:
        document["champion"] = None
        skipped = champion
    document["skipped"] = skipped
    document["verdict"] = verdict.as_dict()
    with staged_outputs() as out:
        out.write_json(output, document)
    return document, verdict


def _compare(
    settings: Settings, paths: ProjectPaths, frame: Any, champion: Champion,
    document: dict[str, Any],
) -> Verdict | str:  # fmt: skip
    """Fill `document` with the comparison; a reason to skip it instead, when there is one."""
    rows = rows_to_compare(frame[RECORD_ID].astype(str).tolist(), champion.training_records)
    document["rows"] = {**rows.as_dict(), **_recognised(paths, champion)}
    if rows.compared.size == 0:
        return "every test row is one the champion was trained on: nothing left to compare on"
    chosen = frame.iloc[rows.compared].reset_index(drop=True)
    try:
        champion_scores = score(champion.model, champion.signature, chosen)
        threshold = load_signature(champion.signature).threshold
    except (ScoringError, SignatureError) as error:
        return f"the champion cannot score this branch's test set: {error}"
    challenger_scores = score(paths.onnx_model, paths.signature, chosen)
    labels = target_vector(chosen, settings.data)
    sections, verdict = compare(
        chosen, labels, champion_scores, challenger_scores, settings, champion_threshold=threshold
    )
    document.update(sections)
    return verdict


def _recognised(paths: ProjectPaths, champion: Champion) -> dict[str, Any]:
    """How many of this branch's training records the champion's list holds. Record ids
    fingerprint whole raw rows: a column added to the raw data changes every id, and then
    no row the champion trained on can be recognised in the test set. A low share says so."""
    if champion.training_records is None or not paths.train_data.is_file():
        return {}
    ids = record_ids(paths.train_data, str(paths.train_data))
    known = sum(record in champion.training_records for record in ids)
    return {"branch_training_records_the_champion_knows": round(known / max(len(ids), 1), 4)}
