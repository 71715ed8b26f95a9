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
from conveyor.verdict import Mode, Verdict
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
    verdict = Verdict.from_dict(json.loads(pipeline_outputs.gates.read_text()))
    gate = next(g for g in verdict.gates if g.id == gate_id)
    if gate.blocks(verdict.fail_on_inconclusive):
        pytest.fail(gate.message, pytrace=False)
    if gate.needs_attention and gate.mode is Mode.REPORT:
        warnings.warn(f"report-only gate: {gate.message}", stacklevel=1)


def test_the_stored_verdict_is_the_one_the_gates_decide(pipeline_outputs: ProjectPaths) -> None:
    stored = json.loads(pipeline_outputs.gates.read_text())
    verdict = Verdict.from_dict(stored)
    assert stored == verdict.as_dict(), "gates.json is not what its gates decide: re-run evaluate"
    assert stored["bootstrap"]["resamples"] >= 100
