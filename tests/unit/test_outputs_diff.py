"""The comparisons behind `conveyor check-outputs`, on documents written by hand."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from conveyor.outputs_diff import (
    MAX_REPORTED,
    diff_csv,
    diff_lock,
    diff_output,
    diff_values,
    failure_message,
    value_outputs,
)

STAGES = {
    "train": {
        "outs": ["models/model.skops"],
        "metrics": [{"metrics/train.json": {"cache": False}}],
    },
    "evaluate": {
        "metrics": [{"metrics/metrics.json": {"cache": False}}],
        "plots": [{"plots/roc.csv": {"cache": False}}, "plots/confusion.csv"],
    },
}
VALUE_PATHS = {"metrics/train.json", "metrics/metrics.json", "plots/roc.csv"}


def _lock() -> dict[str, Any]:
    return {
        "schema": "2.0",
        "stages": {
            "evaluate": {
                "cmd": "conveyor evaluate",
                "deps": [{"path": "models/model.skops", "hash": "md5", "md5": "aa", "size": 10}],
                "params": {"params.yaml": {"model.threshold": 0.5}},
                "outs": [
                    {"path": "metrics/metrics.json", "hash": "md5", "md5": "bb", "size": 20},
                    {"path": "plots/confusion.csv", "hash": "md5", "md5": "cc", "size": 30},
                ],
            }
        },
    }


def _dump(document: Any) -> str:
    return yaml.safe_dump(document)


def test_only_outputs_kept_out_of_the_cache_are_compared_by_value() -> None:
    assert value_outputs(STAGES) == VALUE_PATHS


def test_numbers_within_the_tolerance_match_and_keys_are_named() -> None:
    committed: dict[str, Any] = {"roc_auc": 0.93, "slices": [{"n": 10, "auc": 0.8}], "name": "x"}
    produced = copy.deepcopy(committed)
    produced["roc_auc"] += 5e-7
    assert diff_values(committed, produced, "", 1e-6) == []
    produced["roc_auc"] = 0.92
    produced["slices"][0]["auc"] = 0.7
    produced["name"] = "y"
    assert diff_values(committed, produced, "", 1e-6) == [
        "roc_auc: committed 0.93, produced 0.92",
        "slices[0].auc: committed 0.8, produced 0.7",
        "name: committed 'x', produced 'y'",
    ]


def test_missing_and_extra_keys_nan_and_booleans() -> None:
    committed = {"a": 1, "nan": float("nan"), "flag": True}
    produced = {"nan": float("nan"), "flag": 1, "b": 2}
    assert diff_values(committed, produced, "", 1e-6) == [
        "a: committed, no longer produced",
        "flag: committed True, produced 1",
        "b: produced, not committed",
    ]


def test_the_lock_ignores_only_the_hashes_of_value_outputs() -> None:
    committed, produced = _lock(), _lock()
    outs = produced["stages"]["evaluate"]["outs"]
    outs[0].update(md5="changed", size=21)  # metrics.json: compared by value elsewhere
    assert diff_lock(_dump(committed), _dump(produced), VALUE_PATHS) == []
    outs[1]["md5"] = "dd"  # a cached plot: compared by hash
    produced["stages"]["evaluate"]["params"]["params.yaml"]["model.threshold"] = 0.5000001
    assert diff_lock(_dump(committed), _dump(produced), VALUE_PATHS) == [
        "dvc.lock: stages.evaluate.outs[plots/confusion.csv].md5: committed 'cc', produced 'dd'",
        "dvc.lock: stages.evaluate.params.params.yaml.model.threshold: committed 0.5, "
        "produced 0.5000001",
    ]


def test_a_missing_lock_on_either_side_is_a_difference() -> None:
    assert diff_lock(None, _dump(_lock()), VALUE_PATHS) == ["dvc.lock: produced, but not committed"]
    assert diff_lock(_dump(_lock()), None, VALUE_PATHS) == [
        "dvc.lock: committed, but the pipeline did not produce it"
    ]


def test_csv_cells_are_numbers_within_the_tolerance_or_equal_text() -> None:
    committed = "fpr,tpr,group\n0.0,0.1,a\n0.5,0.9,b\n"
    assert diff_csv(committed, "fpr,tpr,group\n0,0.1000004,a\n0.5,0.9,b\n") == []
    assert diff_csv(committed, "fpr,tpr,group\n0.0,0.2,a\n0.5,0.9,c\n") == [
        "row 1, column tpr: committed '0.1', produced '0.2'",
        "row 2, column group: committed 'b', produced 'c'",
    ]
    assert diff_csv(committed, "fpr,tpr,group\n0.0,0.1,a\n") == ["rows: committed 2, produced 1"]
    assert diff_csv(committed, "fpr,recall,group\n") == [
        "header: committed ['fpr', 'tpr', 'group'], produced ['fpr', 'recall', 'group']"
    ]


@pytest.mark.parametrize(
    ("committed", "produced", "expected"),
    [
        (None, "{}", ["metrics/m.json: produced, but not committed"]),
        ("{}", None, ["metrics/m.json: committed, but the pipeline did not produce it"]),
        ('{"a": 1}', '{"a": 2}', ["metrics/m.json: a: committed 1, produced 2"]),
        ('{"a": 1}', "{", ["metrics/m.json: not valid JSON on one side"]),
    ],
)
def test_an_output_file_is_named_in_each_difference(
    committed: str | None, produced: str | None, expected: list[str]
) -> None:
    found = diff_output("metrics/m.json", committed, produced)
    assert [line.split(" (")[0] for line in found] == expected


def test_a_long_list_of_differences_is_cut_and_counted() -> None:
    committed = json.dumps({f"k{i:02}": 0 for i in range(MAX_REPORTED + 5)})
    produced = json.dumps({f"k{i:02}": 1 for i in range(MAX_REPORTED + 5)})
    found = diff_output("metrics/m.json", committed, produced)
    assert len(found) == MAX_REPORTED + 1
    assert found[-1] == "metrics/m.json: ... and 5 more difference(s)"


def test_the_failure_message_lists_each_difference_then_says_what_to_do() -> None:
    message = failure_message(["metrics/m.json: a: committed 1, produced 2"])
    assert "  metrics/m.json: a: committed 1, produced 2" in message.splitlines()
    assert message.endswith("run `make run` and commit dvc.lock and metrics/")
