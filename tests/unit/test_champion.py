"""The champion folder: packed from a checkout, fetched from a release (through the gh
stand-in, a real process on PATH), a folder or nothing, and read back."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from conveyor import champion
from conveyor.paths import ProjectPaths
from tests.conftest import ROOT, run_conveyor

STANDINS = ROOT / "tests" / "workflows" / "standins" / "bin"


def _checkout(root: Path) -> ProjectPaths:
    """The outputs `pack` reads, small: any bytes serve as the model here."""
    paths = ProjectPaths(root)
    paths.models_dir.mkdir(parents=True)
    paths.onnx_model.write_bytes(b"onnx bytes")
    paths.signature.write_text('{"inputs": []}')
    paths.metrics_dir.mkdir()
    paths.metrics.write_text('{"roc_auc": 0.9}')
    paths.prepared_dir.mkdir(parents=True)
    pd.DataFrame({"record_id": ["b2", "a1", "b2"], "x": [1, 2, 3]}).to_parquet(paths.train_data)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    return paths


def _env(tmp_path: Path, assets: Path | None) -> dict[str, str]:
    env = {"PATH": f"{STANDINS}{os.pathsep}{os.environ['PATH']}",
           "STANDIN_LOG": str(tmp_path / "calls.jsonl")}  # fmt: skip
    if assets is not None:
        env["STANDIN_RELEASE_ASSETS"] = str(assets)
        env["STANDIN_RELEASE_TAG"] = "model-20261127-abc1234"
    return env


def test_pack_writes_the_release_assets_and_load_reads_them(tmp_path: Path) -> None:
    paths = _checkout(tmp_path / "repo")
    written = champion.pack(paths, tmp_path / "out", {"label": "release x", "commit": "abc"})
    assert sorted(p.name for p in written) == sorted(
        ["model.onnx", "signature.json", "metrics.json", "training-records.txt.gz",
         "champion.json"]
    )  # fmt: skip
    loaded = champion.load_champion(tmp_path / "out")
    assert isinstance(loaded, champion.Champion)
    assert loaded.training_records == frozenset({"a1", "b2"})
    assert loaded.label == "release x" and loaded.model.read_bytes() == b"onnx bytes"
    # The same ids give the same bytes: a release asset does not change with the row order.
    again = champion.records_text(["a1", "b2"])
    assert (tmp_path / "out" / "training-records.txt.gz").read_bytes() == again


def test_pack_names_what_is_missing(tmp_path: Path) -> None:
    paths = _checkout(tmp_path / "repo")
    paths.train_data.unlink()
    with pytest.raises(champion.ChampionError, match=r"train\.parquet missing; run `make run`"):
        champion.pack(paths, tmp_path / "out", {})
    assert not (tmp_path / "out").exists()


def test_fetch_from_the_latest_release_with_gh(tmp_path: Path) -> None:
    paths = _checkout(tmp_path / "repo")
    champion.pack(paths, tmp_path / "assets", {})
    result = run_conveyor("champion", "fetch", "--from", "release",
                          cwd=paths.root, env=_env(tmp_path, tmp_path / "assets"))  # fmt: skip
    assert result.code == 0, result.stderr
    assert "champion: release model-20261127-abc1234 in" in result.stdout
    loaded = champion.load_champion(paths.champion_dir)
    assert isinstance(loaded, champion.Champion)
    assert loaded.about["tag"] == "model-20261127-abc1234"
    assert loaded.training_records == frozenset({"a1", "b2"})
    calls = [
        json.loads(line)["args"] for line in (tmp_path / "calls.jsonl").read_text().splitlines()
    ]
    assert calls[0][:2] == ["release", "download"] and "model.onnx" in calls[0]


def test_a_release_without_training_records_still_serves(tmp_path: Path) -> None:
    """Releases made before the asset existed: compared on every row, and said so."""
    paths = _checkout(tmp_path / "repo")
    champion.pack(paths, tmp_path / "assets", {})
    (tmp_path / "assets" / "training-records.txt.gz").unlink()
    result = run_conveyor("champion", "fetch", "--from", "release", cwd=paths.root,
                          env=_env(tmp_path, tmp_path / "assets"))  # fmt: skip
    assert result.code == 0, result.stderr
    loaded = champion.load_champion(paths.champion_dir)
    assert isinstance(loaded, champion.Champion) and loaded.training_records is None


def test_auto_without_a_release_or_a_base_records_that_there_is_none(tmp_path: Path) -> None:
    paths = _checkout(tmp_path / "repo")
    stale = paths.champion_dir
    stale.mkdir()
    (stale / "model.onnx").write_bytes(b"an older champion")
    result = run_conveyor("champion", "fetch", "--base", "no-such-branch", cwd=paths.root,
                          env=_env(tmp_path, None))  # fmt: skip
    assert result.code == 0, result.stderr
    assert (
        "no champion: no champion found: no release to take the champion from: release "
        "not found; git revision 'no-such-branch' is not known here" in result.stdout
    )
    assert not (stale / "model.onnx").exists(), "one champion's files never mix with another's"
    reason = champion.load_champion(stale)
    assert isinstance(reason, str) and reason.startswith("no champion found")


def test_an_explicit_source_that_has_nothing_fails_clearly(tmp_path: Path) -> None:
    paths = _checkout(tmp_path / "repo")
    for source, message in (
        ("release", "no release to take the champion from: release not found"),
        ("git:nope", "git revision 'nope' is not known here"),
        (f"path:{tmp_path}", "is not a champion folder: model.onnx, signature.json missing"),
        ("ftp://x", "unknown champion source 'ftp://x'"),
    ):
        result = run_conveyor("champion", "fetch", "--from", source, cwd=paths.root,
                              env=_env(tmp_path, None))  # fmt: skip
        assert result.code == 2, (source, result.stdout, result.stderr)
        assert message in result.stderr, source


def test_a_missing_champion_folder_says_how_to_fetch_one(tmp_path: Path) -> None:
    reason = champion.load_champion(tmp_path / "none")
    assert isinstance(reason, str) and "run `conveyor champion fetch`" in reason
