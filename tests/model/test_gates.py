"""Every quality gate of the released model, one test id each.

The numbers come from `metrics/gates.json`, written by `conveyor evaluate` (the same module
the report reads). A blocking gate that failed fails its test with the gate's own message; a
report-only gate that failed is shown as a warning; a gate without enough support passes as
"not gated" but says so.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest

from conveyor.paths import ProjectPaths
from tests.conftest import ROOT

GATES_FILE = ProjectPaths(ROOT).gates
MARKS = {"slice": pytest.mark.slice, "fairness": pytest.mark.fairness}


def _gate_params() -> list[Any]:
    if not GATES_FILE.exists():
        return [pytest.param(None, id="gates-missing")]
    summary = json.loads(GATES_FILE.read_text())
    return [
        pytest.param(gate["id"], id=gate["id"], marks=MARKS.get(gate["kind"], ()))
        for gate in summary["gates"]
    ]


@pytest.mark.parametrize("gate_id", _gate_params())
def test_gate(gate_id: str | None, pipeline_outputs: ProjectPaths) -> None:
    if gate_id is None:
        pytest.fail(f"{GATES_FILE} is missing: run `make run` (or `dvc repro`)")
    summary = json.loads(pipeline_outputs.gates.read_text())
    gate = next(g for g in summary["gates"] if g["id"] == gate_id)
    failing = {"fail", "inconclusive"} if summary["fail_on_inconclusive"] else {"fail"}
    if gate["status"] in failing:
        if gate["mode"] == "block":
            pytest.fail(gate["message"], pytrace=False)
        warnings.warn(f"report-only gate: {gate['message']}", stacklevel=1)


def test_the_gate_verdict_matches_the_gates(pipeline_outputs: ProjectPaths) -> None:
    summary = json.loads(pipeline_outputs.gates.read_text())
    blocked = [g for g in summary["gates"] if g["mode"] == "block" and g["status"] == "fail"]
    assert (summary["verdict"] == "fail") == bool(blocked)
    assert summary["bootstrap"]["resamples"] >= 100
