"""How `make setup` chooses its Python (scripts/find-python.sh), on machines this one is not.

The README promises any CPython 3.11 or newer, but only 3.11 is installed here, so the tests
build the other machines out of stand-in interpreters on an otherwise empty PATH: shell scripts
named python3.12, python3.10, ... that answer `--version` as the real ones do and nothing else.
The selection script uses shell built-ins only, so nothing else needs to be on PATH. The last
tests run the real Makefile against a stand-in interpreter whose venv records what uv was given.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

FIND_PYTHON = ROOT / "scripts" / "find-python.sh"
INSTALL_HINT = "UV_PYTHON_DOWNLOADS=automatic make setup"


def interpreter(folder: Path, name: str, report: str | None) -> Path:
    """A stand-in `name` in `folder` that reports `report` to `--version`, as CPython does.

    `report=None` makes one that does not run, like a pyenv shim for a version that is not
    installed (it prints an error and exits 127). Anything but `--version` fails: the
    selection must learn the version by asking, not by running code.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if report is None:
        body = f'echo "pyenv: {name}: command not found" >&2\nexit 127\n'
    else:
        lines = "\n".join(f"  echo '{line}'" for line in report.splitlines())
        body = f'if [ "$1" = --version ]; then\n{lines}\n  exit 0\nfi\nexit 1\n'
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def find_python(path: list[Path], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the selection with exactly `path` as PATH (and `env`), as `make` would."""
    return subprocess.run(
        [str(FIND_PYTHON), *args],
        env={"PATH": os.pathsep.join(str(p) for p in path), **env},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def chosen(result: subprocess.CompletedProcess[str]) -> str:
    """The interpreter the selection printed, failing with its message if it chose none."""
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout.strip()


def test_a_machine_with_only_python_3_12_gets_it(tmp_path: Path) -> None:
    """The issue's machine: no python3.11 anywhere, which `.python-version` used to demand."""
    only = interpreter(tmp_path / "bin", "python3.12", "Python 3.12.4")
    assert chosen(find_python([tmp_path / "bin"])) == str(only)


def test_python3_comes_first_when_recent_enough(tmp_path: Path) -> None:
    """python3 is the machine's (or actions/setup-python's) choice; a newer python3.13 that a
    runner also carries must not override the 3.11 CI asked for."""
    default = interpreter(tmp_path / "setup-python", "python3", "Python 3.11.9")
    interpreter(tmp_path / "system", "python3.13", "Python 3.13.1")
    assert chosen(find_python([tmp_path / "setup-python", tmp_path / "system"])) == str(default)


def test_an_old_python3_is_refused_and_the_newest_versioned_name_taken(tmp_path: Path) -> None:
    interpreter(tmp_path / "bin", "python3", "Python 3.10.12")
    interpreter(tmp_path / "bin", "python3.11", "Python 3.11.9")
    newest = interpreter(tmp_path / "bin", "python3.13", "Python 3.13.1")
    assert chosen(find_python([tmp_path / "bin"])) == str(newest)


def test_python_3_10_alone_is_refused_with_one_sentence(tmp_path: Path) -> None:
    old = interpreter(tmp_path / "bin", "python3.10", "Python 3.10.12")
    interpreter(tmp_path / "bin", "python3", "Python 3.10.12")
    result = find_python([tmp_path / "bin"])
    assert result.returncode == 1
    assert result.stdout == ""
    message = result.stderr.strip()
    assert "\n" not in message, "one sentence, on one line"
    assert "install Python 3.11 or newer" in message
    assert INSTALL_HINT in message
    assert f"{tmp_path / 'bin' / 'python3'} is Python 3.10.12" in message, "says what it refused"
    assert str(old) not in message, "python3.10 is not a name it tries"


def test_no_python_at_all_fails_with_the_sentence(tmp_path: Path) -> None:
    result = find_python([tmp_path / "empty"])
    assert result.returncode == 1
    assert result.stdout == ""
    message = result.stderr.strip()
    assert "\n" not in message
    assert message.startswith("find-python.sh: no CPython 3.11 or newer found on PATH")
    assert message.endswith(
        f"run `{INSTALL_HINT}` to let uv download one where the network allows."
    )
    assert "refused" not in message, "nothing was found, so nothing was refused"


def test_an_interpreter_that_does_not_run_is_skipped(tmp_path: Path) -> None:
    """pyenv puts a shim for every version it knows on PATH, installed or not."""
    interpreter(tmp_path / "shims", "python3.12", None)
    works = interpreter(tmp_path / "shims", "python3.11", "Python 3.11.7")
    assert chosen(find_python([tmp_path / "shims"])) == str(works)
    interpreter(tmp_path / "broken", "python3", None)
    result = find_python([tmp_path / "broken"])
    assert result.returncode == 1
    assert f"{tmp_path / 'broken' / 'python3'} does not run" in result.stderr


@pytest.mark.parametrize(
    ("report", "accepted"),
    [
        ("Python 3.11.0", True),
        ("Python 3.14.0rc1", True),
        ("Python 3.20.1", True),  # two-digit minor versions compare as numbers, not text
        ("Python 4.0.0", True),
        ("Python 3.10.99", False),
        ("Python 3.9.18", False),
        ("Python 2.7.18", False),
        ("Python 3.11.9 (abc, Jan 1 2025)\n[PyPy 7.3.19 with GCC 10.2.1]", False),  # not CPython
        ("GraalPy 3.11.7 (Oracle GraalVM Native 24.1.1)", False),
        ("something else entirely", False),
    ],
)
def test_version_reports(tmp_path: Path, report: str, accepted: bool) -> None:
    candidate = interpreter(tmp_path / "bin", "python3", report)
    result = find_python([tmp_path / "bin"])
    if accepted:
        assert chosen(result) == str(candidate)
    else:
        assert result.returncode == 1, result.stdout
        assert "no CPython 3.11 or newer" in result.stderr


def test_an_explicit_python_wins_over_path(tmp_path: Path) -> None:
    interpreter(tmp_path / "bin", "python3", "Python 3.13.1")
    mine = interpreter(tmp_path / "elsewhere", "python3.12", "Python 3.12.4")
    assert chosen(find_python([tmp_path / "bin"], PYTHON=str(mine))) == str(mine)
    # A name is looked up on PATH, as `make PYTHON=python3.12` means.
    named = interpreter(tmp_path / "bin", "python3.12", "Python 3.12.4")
    assert chosen(find_python([tmp_path / "bin"], PYTHON="python3.12")) == str(named)
    # The bootstrap of .tools/ honours it too.
    assert chosen(find_python([tmp_path / "bin"], "--bootstrap", PYTHON=str(mine))) == str(mine)


def test_an_explicit_old_python_is_refused_not_replaced(tmp_path: Path) -> None:
    """Silently taking another interpreter would hide a mistake the user should see."""
    interpreter(tmp_path / "bin", "python3", "Python 3.13.1")
    old = interpreter(tmp_path / "elsewhere", "python3.10", "Python 3.10.12")
    result = find_python([tmp_path / "bin"], PYTHON=str(old))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (
        f"find-python.sh: PYTHON={old} is Python 3.10.12, but the environment needs CPython "
        "3.11 or newer; point PYTHON at one, or unset it to search PATH."
    )
    missing = find_python([tmp_path / "bin"], PYTHON="python3.99")
    assert missing.returncode == 1
    assert "PYTHON=python3.99 is not a command on PATH or an executable file" in missing.stderr
    not_executable = tmp_path / "notes.txt"
    not_executable.write_text("Python 3.12.0\n")
    refused = find_python([tmp_path / "bin"], PYTHON=str(not_executable))
    assert refused.returncode == 1
    assert "is not a command on PATH or an executable file" in refused.stderr


def test_downloads_allowed_hand_uv_a_request_and_bootstrap_with_any_python3(
    tmp_path: Path,
) -> None:
    """Ubuntu 22.04's case: only Python 3.10. With downloads allowed, 3.10 still installs uv,
    and uv is asked for 3.11, which it downloads."""
    old = interpreter(tmp_path / "bin", "python3", "Python 3.10.12")
    allowed = {"UV_PYTHON_DOWNLOADS": "automatic"}
    assert chosen(find_python([tmp_path / "bin"], **allowed)) == "3.11"
    assert chosen(find_python([tmp_path / "bin"], "--bootstrap", **allowed)) == str(old)
    # `never` (the Makefile's default) and `manual` download nothing on demand: refused.
    for setting in ("never", "manual"):
        result = find_python([tmp_path / "bin"], UV_PYTHON_DOWNLOADS=setting)
        assert result.returncode == 1, setting
    # Without any Python 3.8+ there is nothing to install uv with, downloads or not.
    interpreter(tmp_path / "ancient", "python3", "Python 3.6.15")
    result = find_python([tmp_path / "ancient"], "--bootstrap", **allowed)
    assert result.returncode == 1
    assert "install Python 3.11 or newer" in result.stderr


def test_an_unknown_argument_is_refused(tmp_path: Path) -> None:
    result = find_python([tmp_path], "--venv")
    assert result.returncode == 2
    assert "unknown argument '--venv' (expected nothing or --bootstrap)" in result.stderr


# The real Makefile, against an interpreter that records what it is asked to do.

FAKE_INTERPRETER = """\
#!{python}
# A stand-in CPython: answers --version; `-m venv DIR` makes DIR/bin/python a copy of this
# file, whose `-m pip install` adds DIR/bin/uv, another copy; each call is logged as JSON.
import json, os, shutil, sys
from pathlib import Path

me = Path(sys.argv[0])
args = sys.argv[1:]
with open({log!r}, "a") as log:
    log.write(json.dumps({{
        "program": me.name, "path": str(me), "args": args,
        "UV_PYTHON": os.environ.get("UV_PYTHON"),
        "UV_PYTHON_DOWNLOADS": os.environ.get("UV_PYTHON_DOWNLOADS"),
    }}) + "\\n")
if args == ["--version"]:
    print({report!r})
elif args[:2] == ["-m", "venv"]:
    (Path(args[2]) / "bin").mkdir(parents=True)
    shutil.copy(me, Path(args[2]) / "bin" / "python")
elif me.name == "python" and args[:3] == ["-m", "pip", "install"]:
    shutil.copy(me, me.parent / "uv")
elif me.name == "uv" and args[:1] == ["sync"]:
    Path(".venv").mkdir()
else:
    sys.exit(f"stand-in {{me.name}}: unexpected {{args}}")
"""


def recording_interpreter(folder: Path, name: str, report: str, log: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(FAKE_INTERPRETER.format(python=sys.executable, log=str(log), report=report))
    path.chmod(0o755)
    return path


def make_setup(
    tmp_path: Path, *interpreters: tuple[str, str], **env: str
) -> tuple[subprocess.CompletedProcess[str], Path, list[dict[str, Any]]]:
    """`make setup` from the real Makefile in an empty project, with only the given
    interpreters (name, version report) and `touch` on PATH; returns what they were asked."""
    project, shims, log = tmp_path / "project", tmp_path / "shims", tmp_path / "calls.jsonl"
    (project / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "Makefile", project / "Makefile")
    shutil.copy2(FIND_PYTHON, project / "scripts" / "find-python.sh")
    for name in ("pyproject.toml", "uv.lock"):
        (project / name).touch()
    for name, report in interpreters:
        recording_interpreter(shims, name, report, log)
    tools = tmp_path / "tools"
    tools.mkdir()
    touch = shutil.which("touch")
    assert touch is not None
    (tools / "touch").symlink_to(touch)
    make = shutil.which("make")
    assert make is not None, "make is needed to test the Makefile"
    result = subprocess.run(
        [make, "setup"], cwd=project, capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": f"{shims}{os.pathsep}{tools}", **env},
    )  # fmt: skip
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, shims, calls


def test_make_setup_builds_both_environments_with_the_chosen_python(tmp_path: Path) -> None:
    result, shims, calls = make_setup(
        tmp_path, ("python3", "Python 3.10.12"), ("python3.12", "Python 3.12.4")
    )
    assert result.returncode == 0, result.stderr
    work = [c for c in calls if c["args"] != ["--version"]]
    assert [(c["program"], c["args"][:3]) for c in work] == [
        ("python3.12", ["-m", "venv", ".tools"]),
        ("python", ["-m", "pip", "install"]),
        ("uv", ["sync", "--frozen", "--all-extras"]),
    ]
    assert work[0]["path"] == str(shims / "python3.12")
    uv = work[2]
    assert uv["UV_PYTHON"] == str(shims / "python3.12"), "uv builds .venv with the same Python"
    assert uv["UV_PYTHON_DOWNLOADS"] == "never", "the default still downloads nothing"
    assert (tmp_path / "project" / ".venv" / ".synced").exists()


def test_make_setup_stops_before_building_anything_without_python_3_11(tmp_path: Path) -> None:
    result, _, calls = make_setup(tmp_path, ("python3", "Python 3.10.12"))
    assert result.returncode != 0
    assert "no CPython 3.11 or newer found on PATH" in result.stderr
    assert INSTALL_HINT in result.stderr
    assert not (tmp_path / "project" / ".tools").exists()
    assert all(c["args"] == ["--version"] for c in calls), calls


def test_make_setup_lets_uv_download_python_when_asked(tmp_path: Path) -> None:
    """`UV_PYTHON_DOWNLOADS=automatic make setup`, as the selection's message suggests: the
    Makefile's default must yield to it, and uv is asked for 3.11."""
    result, shims, calls = make_setup(
        tmp_path, ("python3", "Python 3.10.12"), UV_PYTHON_DOWNLOADS="automatic"
    )
    assert result.returncode == 0, result.stderr
    venv = next(c for c in calls if c["args"][:2] == ["-m", "venv"])
    assert venv["path"] == str(shims / "python3")
    uv = next(c for c in calls if c["program"] == "uv")
    assert (uv["UV_PYTHON"], uv["UV_PYTHON_DOWNLOADS"]) == ("3.11", "automatic")
