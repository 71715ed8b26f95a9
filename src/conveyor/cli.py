"""`conveyor` command line: one sub-command per pipeline stage.

User mistakes (`ConveyorError`) end in one paragraph on stderr and exit code 2; a traceback is
shown only with `--verbose`, so a data scientist sees what to fix, not where our code noticed.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from conveyor import __version__
from conveyor.errors import ConveyorError


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
    }
    for name, text in helps.items():
        commands.add_parser(name, parents=[common], help=text, description=text)
    return parser


def _run(command: str, params: Path) -> None:
    # Imported here so `conveyor --help` stays fast and each stage loads only its own code.
    from conveyor.config import load_settings
    from conveyor.paths import ProjectPaths
    from conveyor.train import check_model_settings

    settings = load_settings(params)
    check_model_settings(settings.data, settings.model)
    if command == "check":
        print(f"{params}: valid")
        return
    stage = importlib.import_module(f"conveyor.stages.{command}")
    stage.run(settings, ProjectPaths(root=params.resolve().parent))


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if arguments.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        _run(arguments.command, arguments.params)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
