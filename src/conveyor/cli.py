"""`conveyor` command line: one sub-command per pipeline stage.

User mistakes (`ConveyorError`) end in one paragraph on stderr and exit code 2; a traceback is
shown only with `--verbose`, so a data scientist sees what to fix, not where our code noticed.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
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
    report.add_argument(
        "--comparison", type=Path, help="the champion comparison to include "
        "(default: reports/comparison.json when it exists)",
    )  # fmt: skip
    report.add_argument(
        "--release-notes", action="store_true",
        help="write the release notes instead: the comparison with the champion replaced",
    )  # fmt: skip
    champion_help = "fetch the champion (the released model) or pack this checkout's as one"
    champion = commands.add_parser("champion", help=champion_help, description=champion_help)
    actions = champion.add_subparsers(dest="action", required=True, metavar="ACTION")
    fetch = actions.add_parser("fetch", parents=[common], help="fetch the champion's files")
    fetch.add_argument(
        "--from", dest="source", default="auto",
        help="auto (latest release, else --base), release, release:TAG, git:REV or path:DIR",
    )  # fmt: skip
    fetch.add_argument("--base", help="git revision `auto` falls back to (e.g. origin/main)")
    fetch.add_argument("--repo", help="OWNER/NAME of the releases (default: gh's, from git)")
    fetch.add_argument("--output", type=Path, help="folder to fill (default: .champion)")
    pack = actions.add_parser("pack", parents=[common], help="this checkout's model as a champion")
    pack.add_argument("--output", type=Path, required=True, help="folder to write")
    pack.add_argument("--label", help="how reports will name it (e.g. the release tag)")
    compare_help = "compare this checkout's model with the champion; exit 1 if a margin blocks"
    compare = commands.add_parser(
        "compare", parents=[common], help=compare_help, description=compare_help
    )
    compare.add_argument("--champion", type=Path, help="champion folder (default: .champion)")
    compare.add_argument("--output", type=Path, help="default: reports/comparison.json")
    drift_help = "drift of a batch of inputs from the training data; exit 1 if an input drifted"
    drift = commands.add_parser("drift", parents=[common], help=drift_help, description=drift_help)
    drift.add_argument("--current", type=Path, required=True, help="CSV or Parquet batch")
    drift.add_argument("--output", type=Path, help="default: reports/drift.json (and .md)")
    simulate_help = "a demo batch from the test set, drifted in a known way (docs/monitoring.md)"
    simulate = commands.add_parser(
        "simulate", parents=[common], help=simulate_help, description=simulate_help
    )
    simulate.add_argument(
        "--kind", required=True, choices=("covariate", "label", "noise", "none"),
        help="covariate: resample weighted on one input; label: move the positive rate; "
        "noise: perturb the inputs, add unseen categories; none: a plain resample",
    )  # fmt: skip
    simulate.add_argument(
        "--column", help="the input to shift (covariate; default: the first) or to perturb "
        "(noise; default: all)",
    )  # fmt: skip
    simulate.add_argument("--rows", type=int, help="rows to write (default: the test set's)")
    simulate.add_argument("--seed", type=int, default=0, help="same seed, same batch")
    simulate.add_argument(
        "--strength", type=float,
        help="covariate: weight factor (10); label: change of the positive rate (0.2); "
        "noise: share of a std / of categories replaced (0.25)",
    )  # fmt: skip
    simulate.add_argument("--output", type=Path, required=True, help="FILE.csv or FILE.parquet")
    monitor_help = "the released model's metrics on newly labelled data; exit 1 if one dropped"
    monitor = commands.add_parser(
        "monitor", parents=[common], help=monitor_help, description=monitor_help
    )
    monitor.add_argument(
        "--labelled", type=Path, required=True,
        help="CSV or Parquet: the model's input columns and the label column (data.target)",
    )  # fmt: skip
    monitor.add_argument(
        "--model-dir", type=Path,
        help="the released model's folder (default: .champion, filled by `make champion`)",
    )  # fmt: skip
    monitor.add_argument("--output", type=Path, help="default: reports/monitor.json (and .md)")
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
    from conveyor.report import FULL_REPORT, Context, release_notes, render_report
    from conveyor.reportio import (
        code_changes,
        from_git,
        from_tree,
        head_commit,
        model_digest,
        monitoring_sections,
        read_comparison,
    )

    current = from_tree(paths, arguments.params, arguments.label)
    base = from_git(paths, arguments.params, arguments.base) if arguments.base else None
    context = Context(
        comparison=read_comparison(arguments.comparison or paths.comparison),
        code_changes=code_changes(paths.root, arguments.base) if arguments.base else None,
        commit=head_commit(paths.root),
        run_url=arguments.run_url,
        model_sha256=model_digest(paths.onnx_model),
        monitoring=monitoring_sections((paths.drift_report, paths.monitor_report)),
    )
    whole = None
    if arguments.release_notes:
        text = release_notes(current, context)
    else:
        text = render_report(current, base, context=context)
        whole = render_report(current, base, context=context, limit=sys.maxsize)
    full = arguments.output.with_name(FULL_REPORT)
    with staged_outputs() as out:
        out.write_text(arguments.output, text)
        if whole is not None and whole != text:  # cut to fit a comment: keep the whole too
            out.write_text(full, whole)
    if whole is not None and whole == text and full.exists():
        full.unlink()  # an older run's, of another report
    print(f"wrote {arguments.output}")
    return 0


def _champion(arguments: argparse.Namespace, paths: ProjectPaths) -> int:
    """`conveyor champion fetch|pack`."""
    import subprocess

    from conveyor import champion

    if arguments.action == "pack":
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=paths.root, capture_output=True, text=True,
            check=False,
        ).stdout.strip()  # fmt: skip
        about = {"source": "release", "label": arguments.label or head[:7], "commit": head}
        for path in champion.pack(paths, arguments.output, about):
            print(path)
        return 0
    output = arguments.output or paths.champion_dir
    about = champion.fetch(
        arguments.source, output, paths.root, base=arguments.base, repository=arguments.repo
    )
    if about.get("found"):
        print(f"champion: {about.get('label')} in {output}")
    else:
        print(f"no champion: {about.get('reason')}; the fixed bounds still apply")
    return 0


def _compare(arguments: argparse.Namespace, paths: ProjectPaths, settings: Settings) -> int:
    """`conveyor compare`: the margins' verdict, exit 1 when one blocks."""
    from conveyor.challenge import run_comparison
    from conveyor.verdict import format_table

    output = arguments.output or paths.comparison
    document, verdict = run_comparison(
        settings, paths, arguments.champion or paths.champion_dir, output
    )
    if document["skipped"]:
        print(f"not compared with a champion: {document['skipped']}")
    else:
        rows = document["rows"]
        print(f"{document['champion']['label']} against this model on {rows['compared']:,} rows")
        print(format_table(verdict))
    print(f"wrote {output}")
    return 1 if verdict.blocked else 0


def _drift(arguments: argparse.Namespace, paths: ProjectPaths, settings: Settings) -> int:
    """`conveyor drift`: 0 no drift, 1 drift past the threshold (2 for bad input, raised)."""
    from conveyor.drift_check import prediction_line, run_drift

    output = arguments.output or paths.drift_report
    document, drifted = run_drift(settings, paths, arguments.current, output)
    for name, entry in sorted(document["features"].items(), key=lambda kv: -(kv[1]["psi"] or 0)):
        mark = "DRIFTED" if name in drifted else "ok"
        tested = "" if entry["p_value"] is None else f"  {entry['test']} p {entry['p_value']:.2g}"
        print(f"{mark:<8} {name:<24} psi {entry['psi']}{tested}")
    if document["two_sample"]["skipped"]:
        print(f"two-sample tests skipped: {document['two_sample']['skipped']}")
    threshold, rows = document["psi_threshold"], document["rows"]
    print(prediction_line(document["prediction"], threshold))
    print(f"{len(drifted)} input(s) past psi {threshold:g} on {rows:,} rows; wrote {output}")
    return 1 if drifted else 0


def _simulate(arguments: argparse.Namespace, paths: ProjectPaths, settings: Settings) -> int:
    """`conveyor simulate`: write a drifted (or, with `--kind none`, an undrifted) batch."""
    from conveyor.simulate import Simulation, run_simulate

    simulation = Simulation(
        kind=arguments.kind, column=arguments.column, rows=arguments.rows,
        seed=arguments.seed, strength=arguments.strength,
    )  # fmt: skip
    batch, description = run_simulate(settings.data, paths, simulation, arguments.output)
    print(f"{description}; wrote {len(batch):,} rows to {arguments.output}")
    return 0


def _monitor(arguments: argparse.Namespace, paths: ProjectPaths, settings: Settings) -> int:
    """`conveyor monitor`: 0 no metric dropped, 1 one did (2 for bad input, raised)."""
    from conveyor.monitor import run_monitor
    from conveyor.verdict import Status

    output = arguments.output or paths.monitor_report
    model_dir = arguments.model_dir or paths.champion_dir
    document, checks = run_monitor(settings, arguments.labelled, model_dir, output)
    reading_order = list(Status)  # failures first, as `conveyor gate` lists them
    for check in sorted(checks, key=lambda check: reading_order.index(check.status)):
        print(f"{str(check.status).upper():<12} {check.message}")
    dropped, rows = document["dropped"], document["rows"]
    named = f": {', '.join(dropped)}" if dropped else ""
    print(
        f"{len(dropped)} metric(s) of {document['model']['label']} dropped by more than "
        f"monitor.max_drop {document['max_drop']:g} on {rows:,} rows{named}; wrote {output}"
    )
    return 1 if dropped else 0


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
    if command == "champion":  # files in, files out: no parameter is read
        return _champion(arguments, paths)
    settings = _load_settings(params)
    if command == "gate":
        return _gate(paths)
    if command == "report":
        return _report(arguments, paths)
    if command == "compare":
        return _compare(arguments, paths, settings)
    if command == "drift":
        return _drift(arguments, paths, settings)
    if command == "simulate":
        return _simulate(arguments, paths, settings)
    if command == "monitor":
        return _monitor(arguments, paths, settings)
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
    except BrokenPipeError:
        # The reader went away (`conveyor gate | head`): not an error of ours. Point stdout at
        # /dev/null so the interpreter's final flush cannot raise again, and end as a process
        # killed by SIGPIPE would, which is what shells expect from a pipeline.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
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
