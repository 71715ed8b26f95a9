"""The read-only commands (`gate`, `report`, `summary`, `check-outputs`): they read committed
outputs, so they must start fast and never import the model stack; and `gate`'s exit code is
the build's verdict.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conveyor import cli
from conveyor.paths import ProjectPaths
from conveyor.verdict import Verdict
from tests.conftest import BIN, ROOT
from tests.unit.verdicts import gate, verdict
from tests.unit.verdicts import write_outputs as write_metrics_and_gates

FORBIDDEN = frozenset({"sklearn", "skl2onnx", "fairlearn", "onnxruntime"})
WATCHED = FORBIDDEN | {"onnx", "scipy", "pandas", "numpy", "pyarrow", "pandera", "pydantic",
                       "yaml", "skops", "dvc", "matplotlib"}  # fmt: skip
WRAPPER = f"""
import json, sys
from conveyor.cli import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {sorted(WATCHED)!r})
print("MODULES " + json.dumps(sorted({{m.split(".")[0] for m in loaded}})))
sys.exit(code)
"""
COMMANDS = {
    "gate": ["gate"],
    "report": ["report", "--output", "report.md"],
    "summary": ["summary"],
    "check-outputs": ["check-outputs"],
}
METRICS = {"roc_auc": 0.93, "f1": 0.71, "accuracy": 0.87, "rows": 1000, "positives": 250}


def write_outputs(root: Path, gates: Verdict) -> ProjectPaths:
    return write_metrics_and_gates(root, METRICS, gates)


@pytest.fixture(scope="module")
def outputs_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's params and pipeline definition, hand-written outputs, one commit."""
    root = tmp_path_factory.mktemp("outputs")
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy2(ROOT / name, root / name)
    write_outputs(root, verdict(gate("overall.roc_auc", "pass"), gate("overall.f1", "fail")))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "outputs"], cwd=root, check=True)
    return root


def run_and_list_modules(root: Path, arguments: list[str]) -> tuple[int, str, list[str]]:
    """Run one command in a fresh interpreter: its exit code, output, and watched modules."""
    source = str(ROOT / "src")  # this tree's code, whatever the venv's install points at
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    completed = subprocess.run(
        [sys.executable, "-c", WRAPPER, *arguments],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": path},
        check=False,
    )
    lines = completed.stdout.splitlines()
    assert lines and lines[-1].startswith("MODULES "), completed.stdout + completed.stderr
    return completed.returncode, "\n".join(lines[:-1]), json.loads(lines[-1].split(" ", 1)[1])


@pytest.mark.parametrize("command", list(COMMANDS))
def test_read_only_commands_never_import_the_model_stack(
    outputs_project: Path, command: str
) -> None:
    code, output, modules = run_and_list_modules(outputs_project, COMMANDS[command])
    assert code in (0, 1), output
    assert not FORBIDDEN & set(modules), f"`conveyor {command}` imported {modules}"


def test_gate_prints_the_table_in_its_own_process(outputs_project: Path) -> None:
    code, output, _ = run_and_list_modules(outputs_project, ["gate"])
    assert code == 1
    assert output.splitlines() == [
        "FAIL  block   overall.f1 message",
        "PASS  block   overall.roc_auc message",
        "verdict: FAIL (1 fail, 1 pass)",
    ]


@pytest.mark.parametrize(
    ("gates", "code"),
    [
        (verdict(gate("overall.roc_auc", "pass")), 0),
        (verdict(gate("overall.roc_auc", "pass"), gate("overall.f1", "fail")), 1),
        (verdict(gate("overall.f1", "fail", "report")), 0),
        (verdict(gate("overall.f1", "inconclusive")), 0),
        (verdict(gate("overall.f1", "inconclusive"), fail_on_inconclusive=True), 1),
        (verdict(gate("overall.f1", "not gated"), fail_on_inconclusive=True), 0),
        (verdict(), 0),
    ],
    ids=[
        "pass",
        "blocking-fail",
        "report-fail",
        "inconclusive",
        "strict-inconclusive",
        "not-gated",
        "no-gates",
    ],
)
def test_gate_exits_1_exactly_when_a_gate_blocks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], gates: Verdict, code: int
) -> None:
    shutil.copy2(ROOT / "params.yaml", tmp_path / "params.yaml")
    write_outputs(tmp_path, gates)
    assert cli.main(["gate", "--params", str(tmp_path / "params.yaml")]) == code
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1].startswith("verdict: " + ("FAIL" if code else "PASS"))
    assert len(printed) == len(gates.gates) + 1


def test_gate_without_outputs_names_the_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy2(ROOT / "params.yaml", tmp_path / "params.yaml")
    assert cli.main(["gate", "--params", str(tmp_path / "params.yaml")]) == 2
    assert f"{ProjectPaths(tmp_path).gates} does not exist" in capsys.readouterr().err


def test_gate_on_an_unreadable_gates_file_is_not_a_blocked_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 1 means "a gate blocks"; a gates.json this version cannot read is the user's to fix
    (exit 2, naming the file), not an internal error that exits 1 like a blocked build."""
    shutil.copy2(ROOT / "params.yaml", tmp_path / "params.yaml")
    gates = write_outputs(tmp_path, verdict(gate("overall.roc_auc", "pass"))).gates
    document = json.loads(gates.read_text())
    del document["gates"][0]["mode"]
    gates.write_text(json.dumps(document))
    assert cli.main(["gate", "--params", str(tmp_path / "params.yaml")]) == 2
    error = capsys.readouterr().err
    assert str(gates) in error
    assert "lacks mode" in error


def test_a_reader_that_goes_away_is_no_internal_error(tmp_path: Path) -> None:
    """`conveyor gate | true`: the reader never reads; the command ends quietly, as a process
    killed by SIGPIPE (141), not with an internal error."""
    script = f"set -o pipefail; '{BIN / 'conveyor'}' gate | true"
    done = subprocess.run(
        ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert "internal error" not in done.stderr, done.stderr
    assert done.returncode == 141, (done.returncode, done.stderr)
    assert done.stderr == ""
