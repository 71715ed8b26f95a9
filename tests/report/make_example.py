"""Write docs/report-example.md and its screenshot: the report of this checkout's model against
a worse baseline, as a team sees it before adopting the template (`make report-example`).

The baseline is this pipeline made worse (`BASELINES`: e.g. `max_iter` cut to 20), trained with
`dvc exp run` in a throw-away clone that shares this repository's DVC cache, then packed as a
champion exactly as a release packs one. The report is `conveyor report`'s, rendered with
GitHub's cmark-gfm and mermaid in headless Chromium (tests/report/render.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from conveyor.config import load_settings
from tests.report.render import screenshot

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BASELINES = {
    "hist_gradient_boosting": "max_iter=20",
    "logistic_regression": "C=0.001",
    "random_forest": "n_estimators=5",
}
"""A plausible, clearly worse baseline per estimator: fewer boosting rounds or trees, or far
stronger regularisation."""


ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
"""The stages' `conveyor` commands come from this environment, activated or not."""


def _run(*command: str, cwd: Path) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, cwd=cwd, check=True, env=ENV)


def make_example(markdown: Path, png: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="report-example-") as scratch:
        clone = Path(scratch) / "baseline"
        _run("git", "clone", "--quiet", str(ROOT), str(clone), cwd=ROOT)
        _run(str(BIN / "dvc"), "cache", "dir", "--local", str(ROOT / ".dvc" / "cache"), cwd=clone)
        _run(str(BIN / "dvc"), "repro", "--quiet", cwd=clone)
        estimator = load_settings(ROOT / "params.yaml").model.estimator
        baseline = BASELINES[estimator]
        _run(str(BIN / "dvc"), "exp", "run", "--quiet", "-S", f"model.hyperparameters.{baseline}",
             cwd=clone)  # fmt: skip
        champion = Path(scratch) / "champion"
        _run(str(BIN / "conveyor"), "champion", "pack", "--output", str(champion),
             "--label", f"worse baseline ({baseline})", cwd=clone)  # fmt: skip
        comparison = Path(scratch) / "comparison.json"
        compared = subprocess.run(
            [str(BIN / "conveyor"), "compare", "--champion", str(champion),
             "--output", str(comparison)],
            cwd=ROOT, check=False, env=ENV,
        )  # fmt: skip
        if compared.returncode not in (0, 1):
            raise SystemExit(f"conveyor compare failed ({compared.returncode})")
        _run(str(BIN / "conveyor"), "report", "--base", "HEAD", "--comparison", str(comparison),
             "--output", str(markdown), cwd=ROOT)  # fmt: skip
    screenshot(markdown.read_text(encoding="utf-8"), png)
    print(f"wrote {markdown} and {png}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, default=ROOT / "docs" / "report-example.md")
    parser.add_argument("--png", type=Path, default=ROOT / "docs" / "report-example.png")
    arguments = parser.parse_args()
    make_example(arguments.markdown.resolve(), arguments.png.resolve())


if __name__ == "__main__":
    main()
