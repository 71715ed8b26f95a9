"""`conveyor` command line: one sub-command per pipeline stage.

User mistakes (`ConveyorError`) end in one paragraph on stderr and exit code 2; a traceback is
shown only with `--verbose`, so a data scientist sees what to fix, not where our code noticed.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conveyor import __version__
from conveyor.errors import ConveyorError, StaleOutputError

if TYPE_CHECKING:
    from conveyor.config import Settings
    from conveyor.paths import ProjectPaths
    from conveyor.verdict import Verdict


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="conveyor",
        description="Run one stage of the Conveyor pipeline (DVC runs them in order: `dvc repro`).",
    )
    parser.add_argument("--version", action="version", version=f"conveyor {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--params",
        type=Path,
        default=Path("params.yaml"),
        help="parameters file; paths in it are relative to its folder (default: params.yaml)",
    )
    common.add_argument("-v", "--verbose", action="store_true", help="debug logs and tracebacks")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {
        "prepare": "load, validate, anonymise and split the raw data",
        "train": "fit the model pipeline (with the optional search)",
        "evaluate": "score the model on the test set; write metrics and plots",
        "export": "convert to ONNX, check parity, write the signature and model card",
        "check": "validate params.yaml (and the model settings) without running anything",
        "gate": "print the quality gates of the last evaluate; exit 1 if a blocking gate failed",
        "summary": "the headline metrics and the gates' verdict of the last run (exits 0)",
        "check-outputs": "after `dvc repro`: exit 1 if the committed dvc.lock and metrics "
        "are not what the pipeline produced",
    }
    for name, text in helps.items():
        commands.add_parser(name, parents=[common], help=text, description=text)
    report_help = "write the markdown report: this checkout's model against a base revision"
    report = commands.add_parser("report", parents=[common], help=report_help)
    report.add_argument("--base", help="git revision to compare with (e.g. origin/main)")
    report.add_argument("--label", default="this branch", help="name of this side")
    report.add_argument("--output", type=Path, default=Path("report.md"), help="report file")
    report.add_argument("--run-url", help="link to the CI run, added at the end")
    return parser


def _gate(paths: ProjectPaths) -> int:
    """`conveyor gate`: the verdict of the last evaluate, as CI consumes it."""
    from conveyor.verdict import format_table

    verdict = _read_verdict(paths.gates)
    print(format_table(verdict))
    return 1 if verdict.blocked else 0


def _summary(paths: ProjectPaths) -> int:
    """`conveyor summary`: what `make run` ends with; informs, never fails a build."""
    from conveyor.summary import render_summary

    metrics, verdict = _read_output(paths.metrics), _read_verdict(paths.gates)
    names = [str(path.relative_to(paths.root)) for path in (paths.metrics, paths.gates)]
    print(render_summary(metrics, verdict, *names))
    return 0


def _read_output(path: Path) -> Any:
    """A JSON output of the pipeline, or an error naming it and the command that makes it."""
    import json

    if not path.is_file():
        raise StaleOutputError(f"{path} does not exist: run `make run` (or `dvc repro`) first")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise StaleOutputError(
            f"{path} is not valid JSON ({error}): run `make run` again"
        ) from None


def _read_verdict(path: Path) -> Verdict:
    """`metrics/gates.json` read into the shared type."""
    from conveyor.verdict import load_verdict

    return load_verdict(_read_output(path), str(path))


def _check_outputs(paths: ProjectPaths) -> int:
    """`conveyor check-outputs`: exit 1 when the committed outputs are not what ran."""
    from conveyor.outputs_check import check_outputs

    # CI (GitHub sets CI=true, as does .ci/run) checks out a commit: nothing may be skipped.
    outcome = check_outputs(paths.root, strict=os.environ.get("CI") == "true")
    print(outcome.message, file=sys.stderr if outcome.code else sys.stdout)
    return outcome.code


def _load_settings(params: Path) -> Settings:
    """Validate params.yaml, and refuse keys dvc.yaml tracks but the file leaves out."""
    from conveyor.config import parse_settings, read_params
    from conveyor.tracked_params import check_tracked_params, read_dvc_stages

    raw = read_params(params)
    settings = parse_settings(raw, str(params))
    dvc_file = params.parent / "dvc.yaml"
    if dvc_file.is_file():
        defaults = settings.model_dump(mode="json")
        check_tracked_params(raw, defaults, read_dvc_stages(dvc_file), params, dvc_file)
    return settings


def _report(arguments: argparse.Namespace, paths: ProjectPaths) -> int:
    """`conveyor report`: render the comparison and write it atomically."""
    from conveyor.atomic import staged_outputs
    from conveyor.report import render_report
    from conveyor.reportio import from_git, from_tree

    current = from_tree(paths, arguments.params, arguments.label)
    base = from_git(paths, arguments.params, arguments.base) if arguments.base else None
    text = render_report(current, base, arguments.run_url)
    with staged_outputs() as out:
        out.write_text(arguments.output, text)
    print(f"wrote {arguments.output}")
    return 0


def _run(arguments: argparse.Namespace) -> int:
    command, params = arguments.command, arguments.params
    # Imported here so `conveyor --help` stays fast and each command loads only what it uses:
    # `summary`, `check-outputs`, `gate` and `report` read outputs and never import
    # scikit-learn (tests/unit/test_cli_imports.py holds them to it); the stages do.
    from conveyor.paths import ProjectPaths

    paths = ProjectPaths(root=params.resolve().parent)
    if command == "summary":
        return _summary(paths)
    if command == "check-outputs":
        return _check_outputs(paths)
    settings = _load_settings(params)
    if command == "gate":
        return _gate(paths)
    if command == "report":
        return _report(arguments, paths)
    from conveyor.train import check_model_settings

    check_model_settings(settings.data, settings.model)
    if command == "check":
        print(f"{params}: valid")
        return 0
    stage = importlib.import_module(f"conveyor.stages.{command}")
    stage.run(settings, paths)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if arguments.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return _run(arguments)
    except ConveyorError as error:
        if arguments.verbose:
            traceback.print_exc()
        print(f"conveyor {arguments.command}: error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"conveyor {arguments.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # our bug, not the user's: say so, keep the detail on request
        if arguments.verbose:
            traceback.print_exc()
        print(
            f"conveyor {arguments.command}: internal error: {type(error).__name__}: {error} "
            "(run again with --verbose for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
