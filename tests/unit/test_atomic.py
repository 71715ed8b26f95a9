"""A stage publishes all of its outputs or none of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conveyor.atomic import staged_outputs, to_json


def test_outputs_appear_only_on_success(tmp_path: Path) -> None:
    with staged_outputs() as out:
        out.write_text(tmp_path / "a.txt", "A")
        out.write_json(tmp_path / "sub" / "b.json", {"b": 1})
        assert not (tmp_path / "a.txt").exists()
    assert (tmp_path / "a.txt").read_text() == "A"
    assert json.loads((tmp_path / "sub" / "b.json").read_text()) == {"b": 1}
    assert sorted(p.name for p in tmp_path.rglob("*.tmp")) == []


def test_a_failure_keeps_the_previous_outputs_and_leaves_no_temporary_files(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.txt").write_text("old")

    def broken_writer(path: Path) -> None:
        path.write_text("partial")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), staged_outputs() as out:
        out.write_text(tmp_path / "a.txt", "new")
        out.write(tmp_path / "b.bin", broken_writer)
    assert (tmp_path / "a.txt").read_text() == "old"
    assert not (tmp_path / "b.bin").exists()
    assert list(tmp_path.glob(".*")) == []


def test_json_is_canonical() -> None:
    assert to_json({"b": 1, "a": [1.5]}) == to_json({"a": [1.5], "b": 1})
    assert to_json({"a": 1}).endswith("}\n")
    with pytest.raises(ValueError, match="not JSON compliant"):
        to_json({"a": float("nan")})
