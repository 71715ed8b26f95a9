"""Benchmark the pipeline: wall time and peak memory of each stage, a cold `dvc repro`, and a
no-op `dvc repro`, each repeated and reported as a median.

Run from the project root with the environment set up (`make bench` does both):

    python bench/pipeline.py --repeat 3 --write docs/benchmarks.md

Every measurement runs in a fresh copy of the project with an empty DVC cache, so nothing is
served from a previous run. Peak memory is the largest resident set of the process tree
(`wait4`), which includes DVC's own process for the repro rows.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from conveyor.stages import STAGES

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# `python bench/pipeline.py` puts bench/, not the root, on the path; the copy is the tests' own.
sys.path.insert(0, str(ROOT))
from tests.conftest import copy_repository  # noqa: E402


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_mib: float


def measure(command: Sequence[str], cwd: Path) -> Sample:
    """Run a command to completion; wall time and peak RSS of its whole process tree."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        error = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"{' '.join(command)} failed:\n{error}")
    return Sample(seconds=elapsed, peak_mib=usage.ru_maxrss / 1024)


def run_once() -> dict[str, Sample]:
    """One round: cold repro, no-op repro, then each stage alone, in fresh copies."""
    samples: dict[str, Sample] = {}
    with tempfile.TemporaryDirectory(prefix="conveyor-bench-") as scratch:
        project = copy_repository(Path(scratch))
        samples["dvc repro (cold: empty cache)"] = measure([str(BIN / "dvc"), "repro"], project)
        samples["dvc repro (no-op)"] = measure([str(BIN / "dvc"), "repro"], project)
        for stage in STAGES:
            samples[f"conveyor {stage}"] = measure([str(BIN / "conveyor"), stage], project)
        samples["conveyor check (import + validate params)"] = measure(
            [str(BIN / "conveyor"), "check"], project
        )
    return samples


def table(rounds: list[dict[str, Sample]]) -> str:
    lines = [
        "| step | median wall time (s) | min–max (s) | median peak RSS (MiB) |",
        "|---|---:|---:|---:|",
    ]
    for name in rounds[0]:
        seconds = [r[name].seconds for r in rounds]
        memory = [r[name].peak_mib for r in rounds]
        lines.append(
            f"| {name} | {statistics.median(seconds):.2f} | "
            f"{min(seconds):.2f}–{max(seconds):.2f} | {statistics.median(memory):.0f} |"
        )
    return "\n".join(lines)


def report(rounds: list[dict[str, Sample]]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"""# Pipeline benchmarks

Measured by `make bench` (`python bench/pipeline.py --repeat {len(rounds)}`) on {when}:
{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} \
{platform.release()}, the embedded UCI Adult data (48,842 records), default `params.yaml`.
Each round runs in a fresh copy of the project with an empty DVC cache; figures are medians of
{len(rounds)} rounds. The machine is shared, so treat differences under ~20% as noise.

{table(rounds)}

How to read it:
- A cold `dvc repro` is the four stages plus DVC's hashing and caching of every output.
- A no-op `dvc repro` only hashes dependencies and compares them with `dvc.lock`.
- Each `conveyor <stage>` row includes Python start-up and imports; the `conveyor check` row is
  that fixed cost alone (scikit-learn, pandas, pandera and onnxruntime imports plus validation).
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds to take the median of")
    parser.add_argument("--write", type=Path, help="write the markdown report to this file")
    arguments = parser.parse_args(argv)
    rounds = [run_once() for _ in range(arguments.repeat)]
    text = report(rounds)
    if arguments.write:
        arguments.write.parent.mkdir(parents=True, exist_ok=True)
        arguments.write.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
