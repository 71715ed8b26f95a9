"""The one rule that decides the build, and gates.json read and written by the shared type."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest

from conveyor.verdict import GateResult, Mode, Status, Verdict, format_table, format_verdict
from tests.unit.verdicts import gate, verdict

# The documented rule, written out: a blocking gate that failed blocks; one that could not
# decide blocks only when the team set `fail_on_inconclusive`. Nothing else ever blocks.
BLOCKING = {
    (Status.FAIL, Mode.BLOCK, False),
    (Status.FAIL, Mode.BLOCK, True),
    (Status.INCONCLUSIVE, Mode.BLOCK, True),
}
EVERY_CASE = list(itertools.product(Status, Mode, [False, True]))


def test_the_table_covers_every_status_and_mode() -> None:
    assert len(EVERY_CASE) == 4 * 3 * 2
    assert {str(s) for s in Status} == {"fail", "inconclusive", "pass", "not gated"}
    assert {str(m) for m in Mode} == {"off", "report", "block"}


@pytest.mark.parametrize(("status", "mode", "strict"), EVERY_CASE)
def test_blocks_truth_table(status: Status, mode: Mode, strict: bool) -> None:
    one = gate("overall.roc_auc", status, mode)
    expected = (status, mode, strict) in BLOCKING
    assert one.blocks(fail_on_inconclusive=strict) is expected
    whole = verdict(one, gate("overall.f1", "pass"), fail_on_inconclusive=strict)
    assert whole.blocked is expected
    assert whole.outcome is (Status.FAIL if expected else Status.PASS)
    assert whole.blocking == ((one,) if expected else ())


@pytest.mark.parametrize("status", list(Status))
def test_needs_attention_whatever_the_mode(status: Status) -> None:
    for mode in Mode:
        assert gate("overall.f1", status, mode).needs_attention is (
            status in (Status.FAIL, Status.INCONCLUSIVE)
        )


MIXED = verdict(
    gate("slice.plan=basic.recall", "pass"),
    gate("overall.roc_auc", "fail"),
    gate("slice.plan=plus.recall", "not gated", "report"),
    gate("fairness.gender.equalized_odds_difference", "inconclusive", direction="max"),
    gate("overall.f1", "fail", "report"),
    gate("overall.accuracy", "pass"),
    fail_on_inconclusive=True,
    bootstrap={"resamples": 1000, "level": 0.95, "seed": 0},
)


def test_ordered_failures_first_then_by_id() -> None:
    assert [g.id for g in MIXED.ordered()] == [
        "overall.f1",
        "overall.roc_auc",
        "fairness.gender.equalized_odds_difference",
        "overall.accuracy",
        "slice.plan=basic.recall",
        "slice.plan=plus.recall",
    ]
    assert [g.id for g in MIXED.blocking] == [
        "overall.roc_auc",
        "fairness.gender.equalized_odds_difference",
    ]


def test_counts_name_every_status() -> None:
    assert MIXED.counts() == {
        Status.FAIL: 2, Status.INCONCLUSIVE: 1, Status.PASS: 2, Status.NOT_GATED: 1
    }  # fmt: skip
    assert verdict().counts() == dict.fromkeys(Status, 0)


def test_as_dict_is_plain_json() -> None:
    document = MIXED.as_dict()
    assert json.loads(json.dumps(document)) == document
    assert document["verdict"] == "fail"
    assert document["fail_on_inconclusive"] is True
    assert document["counts"] == {"fail": 2, "inconclusive": 1, "pass": 2, "not gated": 1}
    assert document["bootstrap"] == {"resamples": 1000, "level": 0.95, "seed": 0}
    first = document["gates"][0]
    assert first["status"] == "pass" and type(first["status"]) is str
    assert first["mode"] == "block" and type(first["mode"]) is str
    assert "bootstrap" not in verdict(gate("overall.f1", "pass")).as_dict()


@pytest.mark.parametrize("strict", [False, True])
def test_round_trip_through_json(strict: bool) -> None:
    original = Verdict(MIXED.gates, strict, MIXED.bootstrap)
    again = Verdict.from_dict(json.loads(json.dumps(original.as_dict())))
    assert again == original
    assert again.outcome is original.outcome
    assert all(isinstance(g.status, Status) and isinstance(g.mode, Mode) for g in again.gates)


def test_an_empty_list_of_gates_is_an_empty_passing_verdict() -> None:
    empty = Verdict.from_dict({"gates": [], "fail_on_inconclusive": False})
    assert empty == verdict()
    assert empty.outcome is Status.PASS


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({}, "`gates` must be the list of gates"),
        ({"verdict": "fail"}, "`gates` must be the list of gates"),
        ([], "a gates file must hold an object"),
        ({"gates": {}, "fail_on_inconclusive": False}, "`gates` must be the list"),
        ({"gates": [], "fail_on_inconclusive": "no"}, "`fail_on_inconclusive` must be true"),
        ({"gates": ["x"], "fail_on_inconclusive": False}, "a gate must be an object, got str"),
        ({"gates": [], "fail_on_inconclusive": False, "bootstrap": 3}, "`bootstrap` must be"),
    ],
)
def test_a_malformed_gates_file_is_an_error_not_a_pass(document: Any, expected: str) -> None:
    with pytest.raises(ValueError, match=re.escape(expected)):
        Verdict.from_dict(document)


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("kind", "bogus", "`kind` must be one of overall, slice, fairness, champion, got 'bogus'"),
        ("direction", "sideways", "`direction` must be one of min, max"),
        ("value", "0.9", "`value` has the wrong type (str)"),
        ("n", True, "`n` has the wrong type (bool)"),
        ("n", 1.5, "`n` has the wrong type (float)"),
        ("bound", None, "`bound` has the wrong type (NoneType)"),
        ("group", 3, "`group` has the wrong type (int)"),
        ("message", None, "`message` has the wrong type"),
    ],
)
def test_a_malformed_gate_names_itself_and_the_field(field: str, value: Any, expected: str) -> None:
    entry = {**gate("overall.roc_auc", "pass").as_dict(), field: value}
    with pytest.raises(ValueError, match=re.escape(f"gate 'overall.roc_auc': {expected}")):
        GateResult.from_dict(entry)


@pytest.mark.parametrize(("stored", "gates", "expected"), [
    ("pass", [gate("overall.roc_auc", "fail")], Status.FAIL),
    ("fail", [gate("overall.roc_auc", "pass")], Status.PASS),
    ("pass", [gate("overall.roc_auc", "inconclusive")], Status.PASS),
])  # fmt: skip
def test_a_hand_edited_headline_is_ignored(
    stored: str, gates: list[GateResult], expected: Status
) -> None:
    document = verdict(*gates).as_dict()
    document["verdict"] = stored
    document["counts"] = {"pass": 99}
    assert Verdict.from_dict(document).outcome is expected


def test_the_stored_fail_on_inconclusive_is_read() -> None:
    document = verdict(gate("overall.roc_auc", "inconclusive")).as_dict()
    document["fail_on_inconclusive"] = True
    assert Verdict.from_dict(document).blocked


def _document(**changes: Any) -> dict[str, Any]:
    document = verdict(gate("overall.roc_auc", "pass")).as_dict()
    document["gates"][0].update(changes)
    return document


@pytest.mark.parametrize(("field", "value"), [("status", "passed"), ("status", "PASS"),
                                              ("mode", "warn"), ("mode", None)])  # fmt: skip
def test_an_unknown_status_or_mode_is_an_error_not_a_pass(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=repr(value)):
        Verdict.from_dict(_document(**{field: value}))


@pytest.mark.parametrize("field", ["status", "mode", "bound", "message", "ci_level"])
def test_a_missing_field_is_named(field: str) -> None:
    document = _document()
    del document["gates"][0][field]
    with pytest.raises(ValueError, match=f"gate 'overall.roc_auc' lacks {field}"):
        Verdict.from_dict(document)


def test_several_missing_fields_are_all_named() -> None:
    with pytest.raises(ValueError, match=r"gate '\?' lacks .*id.*kind.*status"):
        GateResult.from_dict({"metric": "f1"})


def test_unknown_extra_fields_are_ignored() -> None:
    """A newer writer may add fields; this reader keeps what it knows."""
    assert Verdict.from_dict(_document(note="added later")).gates[0].id == "overall.roc_auc"


def test_format_table() -> None:
    table = format_table(
        verdict(
            gate("overall.roc_auc", "pass", message="roc_auc fine"),
            gate("slice.plan=basic.f1", "fail", "report", message="plan=basic f1 low"),
            gate("slice.plan=plus.f1", "not gated", message="plan=plus f1: not gated"),
            gate("overall.f1", "fail", message="f1 low"),
        )
    )
    assert table.splitlines() == [
        "FAIL       block   f1 low",
        "FAIL       report  plan=basic f1 low",
        "PASS       block   roc_auc fine",
        "NOT GATED  block   plan=plus f1: not gated",
        "verdict: FAIL (2 fail, 1 pass, 1 not gated)",
    ]


def test_format_table_narrows_to_the_statuses_shown() -> None:
    table = format_table(verdict(gate("overall.f1", "pass", message="f1 fine")))
    assert table.splitlines() == ["PASS  block   f1 fine", "verdict: PASS (1 pass)"]


def test_format_verdict() -> None:
    assert format_verdict(MIXED) == "verdict: FAIL (2 fail, 1 inconclusive, 2 pass, 1 not gated)"
    relaxed = Verdict(MIXED.gates, fail_on_inconclusive=False)
    assert format_verdict(relaxed) == "verdict: FAIL (2 fail, 1 inconclusive, 2 pass, 1 not gated)"
    only_report = verdict(gate("overall.f1", "fail", "report"), gate("overall.auc", "pass"))
    assert format_verdict(only_report) == "verdict: PASS (1 fail, 1 pass)"
