"""The champion: the released model a branch's model must not be worse than.

A champion is a folder of release assets, the same files whatever it came from:
`model.onnx` and `signature.json` (required: what the server runs), `training-records.txt.gz`
(the record ids it was trained on, so that the comparison leaves them out), `metrics.json`
(its numbers at release) and `champion.json` (where it came from, or why there is none).

`conveyor champion pack` writes the folder from this checkout's outputs (the release job
attaches its files to the GitHub release); `conveyor champion fetch` brings one back from a
GitHub release (`gh release download`), from a git revision's DVC outputs (`dvc get`, from
the local cache or the DVC remote) or from a local folder, so every source, the tests'
stand-ins included, ends up as the same folder. `auto` tries the latest release, then the base
revision, and otherwise records that there is no champion: the fixed bounds still apply.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conveyor.atomic import staged_outputs
from conveyor.errors import ConveyorError
from conveyor.paths import ProjectPaths

MODEL = "model.onnx"
SIGNATURE = "signature.json"
TRAINING_RECORDS = "training-records.txt.gz"
METRICS = "metrics.json"
ABOUT = "champion.json"
REQUIRED = (MODEL, SIGNATURE)
OPTIONAL = (TRAINING_RECORDS, METRICS)
DEFAULT_DIR = Path(".champion")


class ChampionError(ConveyorError):
    """A champion source that was asked for by name cannot be read."""


@dataclass(frozen=True)
class Champion:
    """A champion folder, read."""

    directory: Path
    about: dict[str, Any]
    training_records: frozenset[str] | None

    @property
    def model(self) -> Path:
        return self.directory / MODEL

    @property
    def signature(self) -> Path:
        return self.directory / SIGNATURE

    @property
    def label(self) -> str:
        """How the report names it: `release model-20261127-abc1234`, `main (a1b2c3d)`."""
        return str(self.about.get("label") or self.about.get("source") or "champion")


def read_records(path: Path) -> frozenset[str]:
    """One record id per line, gzip-compressed."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return frozenset(line.strip() for line in handle if line.strip())
    except (OSError, UnicodeDecodeError, EOFError) as error:
        raise ChampionError(f"{path} is not a gzip file of record ids ({error})") from None


def _read_about(path: Path) -> dict[str, Any]:
    """`champion.json`, or an error naming it."""
    try:
        about = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ChampionError(
            f"{path} is not valid JSON ({error}): fetch the champion again"
        ) from None
    if not isinstance(about, dict):
        raise ChampionError(f"{path} must hold a JSON object: fetch the champion again")
    return about


def record_ids(parquet: Path, where: str) -> list[str]:
    """The record ids of a prepared training set (what `prepare` writes)."""
    import pandas as pd

    from conveyor.data import RECORD_ID

    try:
        return pd.read_parquet(parquet, columns=[RECORD_ID])[RECORD_ID].astype(str).tolist()
    except Exception as error:  # pyarrow raises its own types for a missing column or file
        raise ChampionError(f"{where} has no readable {RECORD_ID} column ({error})") from None


def records_text(record_ids: Sequence[str]) -> bytes:
    """Sorted and gzip-compressed with no timestamp: the same ids give the same bytes."""
    text = "".join(f"{r}\n" for r in sorted(set(record_ids)))
    return gzip.compress(text.encode(), mtime=0)


def load_champion(directory: Path) -> Champion | str:
    """The champion in `directory`, or the reason there is none (to say in the report)."""
    about_file = directory / ABOUT
    about: dict[str, Any] = {}
    if about_file.is_file():
        about = _read_about(about_file)
        if about.get("found") is False:
            return str(about.get("reason") or "no champion was found")
    missing = [name for name in REQUIRED if not (directory / name).is_file()]
    if missing:
        return (
            f"no champion in {directory} ({', '.join(missing)} missing): run "
            "`conveyor champion fetch` (or `make champion`) first"
        )
    records = directory / TRAINING_RECORDS
    return Champion(directory, about, read_records(records) if records.is_file() else None)


def pack(paths: ProjectPaths, output: Path, about: dict[str, Any]) -> list[Path]:
    """This checkout's model as a champion folder: what a release attaches."""
    sources = {MODEL: paths.onnx_model, SIGNATURE: paths.signature, METRICS: paths.metrics}
    missing = [str(p) for p in (*sources.values(), paths.train_data) if not p.is_file()]
    if missing:
        raise ChampionError(
            f"cannot pack the champion: {', '.join(missing)} missing; run `make run`"
        )
    records = record_ids(paths.train_data, str(paths.train_data))
    written = [output / name for name in (*sources, TRAINING_RECORDS, ABOUT)]
    with staged_outputs() as out:
        for name, source in sources.items():
            out.write_bytes(output / name, source.read_bytes())
        out.write_bytes(output / TRAINING_RECORDS, records_text(records))
        out.write_json(output / ABOUT, {"found": True, **about})
    return written


Runner = Callable[[Sequence[str], Path], subprocess.CompletedProcess[str]]


def _run(command: Sequence[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a tool; one that is not installed is a failed run that says so."""
    program, *rest = command
    beside = Path(sys.executable).parent / program  # dvc of this environment, not activated
    executable = str(beside) if program == "dvc" and beside.is_file() else program
    try:
        return subprocess.run(
            [executable, *rest], cwd=cwd, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        return subprocess.CompletedProcess(command, 127, "", f"{program} is not installed")


def _last_line(completed: subprocess.CompletedProcess[str]) -> str:
    lines = (completed.stderr or completed.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit code {completed.returncode}"


def from_release(
    tag: str | None, repository: str | None, work: Path, root: Path, run: Runner = _run
) -> dict[str, Any]:
    """`gh release download`: the required assets, then each optional one if it is there
    (a release made before they existed still serves as a champion)."""
    base = ["gh", "release", "download", *([tag] if tag else []), "--dir", str(work), "--clobber"]
    base += ["--repo", repository] if repository else []
    patterns = [arg for name in REQUIRED for arg in ("--pattern", name)]
    completed = run([*base, *patterns], root)
    if completed.returncode != 0:
        raise ChampionError(f"no release to take the champion from: {_last_line(completed)}")
    missing = [name for name in REQUIRED if not (work / name).is_file()]
    if missing:
        raise ChampionError(f"the release has no {' or '.join(missing)} asset to compare with")
    for name in OPTIONAL:
        run([*base, "--pattern", name], root)
    fields = ["--json", "tagName,targetCommitish"]
    scope = ["--repo", repository] if repository else []
    view = run(["gh", "release", "view", *([tag] if tag else []), *fields, *scope], root)
    try:
        release = json.loads(view.stdout) if view.returncode == 0 else {}
    except ValueError:
        release = {}  # only the name is lost: the assets are what the comparison needs
    release = release if isinstance(release, dict) else {}
    name = release.get("tagName") or tag or "latest"
    return {"source": "release", "label": f"release {name}", "tag": name,
            "commit": release.get("targetCommitish")}  # fmt: skip


def from_revision(revision: str, work: Path, root: Path, run: Runner = _run) -> dict[str, Any]:
    """A git revision's DVC outputs with `dvc get` (the local cache, else the DVC remote)."""
    commit = run(["git", "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"], root)
    if commit.returncode != 0:
        raise ChampionError(f"git revision {revision!r} is not known here (fetch it first)")
    sha = commit.stdout.strip()
    paths = ProjectPaths(root)
    sources = {
        MODEL: paths.onnx_model,
        SIGNATURE: paths.signature,
        "train.parquet": paths.train_data,
    }
    wanted = {name: path.relative_to(root).as_posix() for name, path in sources.items()}
    for name, path in wanted.items():
        got = run(["dvc", "get", ".", path, "--rev", sha, "-o", str(work / name), "--force"], root)
        if got.returncode != 0:
            raise ChampionError(
                f"{revision}'s {path} is neither in the DVC cache nor on the DVC remote: "
                f"{_last_line(got)}"
            )
    metrics_path = paths.metrics.relative_to(root).as_posix()
    metrics = run(["git", "show", f"{sha}:{metrics_path}"], root)
    if metrics.returncode == 0:
        (work / METRICS).write_text(metrics.stdout, encoding="utf-8")
    records = record_ids(work / "train.parquet", f"{revision}'s {wanted['train.parquet']}")
    (work / TRAINING_RECORDS).write_bytes(records_text(records))
    (work / "train.parquet").unlink()
    label = f"{revision} ({sha[:7]})"
    return {"source": "git", "label": label, "revision": revision, "commit": sha}


def from_folder(folder: Path, work: Path) -> dict[str, Any]:
    """A folder holding the assets (a download by hand, or a test's stand-in)."""
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise ChampionError(f"{folder} is not a champion folder: {', '.join(missing)} missing")
    for name in (*REQUIRED, *OPTIONAL):
        if (folder / name).is_file():
            shutil.copyfile(folder / name, work / name)
    about_file = folder / ABOUT
    about = _read_about(about_file) if about_file.is_file() else {}
    return {"label": str(folder), **about, "source": "folder", "folder": str(folder)}


def fetch(
    source: str, output: Path, root: Path, *, base: str | None, repository: str | None,
    run: Runner = _run,
) -> dict[str, Any]:  # fmt: skip
    """Fetch the champion from `source` into `output`; return what `champion.json` says.

    `release[:TAG]`, `git:REV`, `path:DIR` fail with a `ChampionError` when that source has
    no champion; `auto` tries the latest release, then `base`, and records "none" otherwise.
    """
    with tempfile.TemporaryDirectory(prefix="champion-") as scratch:
        work = Path(scratch)
        if source == "auto":
            about = _first_found(work, root, base=base, repository=repository, run=run)
        elif source == "release" or source.startswith("release:"):
            tag = source.partition(":")[2] or None
            about = from_release(tag, repository, work, root, run)
        elif source.startswith("git:"):
            about = from_revision(source.removeprefix("git:"), work, root, run)
        elif source.startswith("path:"):
            about = from_folder(Path(source.removeprefix("path:")), work)
        else:
            raise ChampionError(
                f"unknown champion source {source!r}: use auto, release, release:TAG, git:REV "
                "or path:DIR"
            )
        about = {"found": about.get("source") is not None, **about}
        with staged_outputs() as out:
            for name in (*REQUIRED, *OPTIONAL):
                stale = output / name
                if (work / name).is_file():
                    out.write_bytes(stale, (work / name).read_bytes())
                elif stale.exists():
                    stale.unlink()  # never mix one champion's files with another's
            out.write_json(output / ABOUT, about)
    return about


def _first_found(
    work: Path, root: Path, *, base: str | None, repository: str | None, run: Runner
) -> dict[str, Any]:
    tried = []
    if shutil.which("gh"):
        try:
            return from_release(None, repository, work, root, run)
        except ChampionError as error:
            tried.append(str(error))
    else:
        tried.append("gh is not installed, so no release was looked for")
    if base:
        try:
            return from_revision(base, work, root, run)
        except ChampionError as error:
            tried.append(str(error))
    return {"found": False, "reason": "no champion found: " + "; ".join(tried)}
