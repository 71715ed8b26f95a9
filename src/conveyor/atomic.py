"""Write outputs so that a failed stage leaves nothing half-written.

Every file goes to a temporary sibling first; only when all of a stage's outputs are complete
are they renamed into place (a rename within one directory is atomic on POSIX).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

Writer = Callable[[Path], None]


def to_json(value: Any) -> str:
    """Canonical JSON: sorted keys and a final newline, so equal results are equal bytes."""
    return json.dumps(value, indent=2, sort_keys=True, allow_nan=False) + "\n"


def _ignore(_: object) -> None:
    """Adapts writers that return a byte count to the `Writer` signature."""


class StagedOutputs:
    """Collects a stage's outputs as temporary files and publishes them together."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def write(self, target: Path, writer: Writer) -> None:
        """Let `writer` fill a temporary file that will become `target` on commit."""
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(handle)
        temporary = Path(name)
        self._pending.append((temporary, target))
        writer(temporary)

    def write_text(self, target: Path, text: str) -> None:
        self.write(target, lambda path: _ignore(path.write_text(text, encoding="utf-8")))

    def write_bytes(self, target: Path, data: bytes) -> None:
        self.write(target, lambda path: _ignore(path.write_bytes(data)))

    def write_json(self, target: Path, value: Any) -> None:
        self.write_text(target, to_json(value))

    def commit(self) -> None:
        for temporary, target in self._pending:
            temporary.chmod(0o644)
            temporary.replace(target)
        self._pending.clear()

    def discard(self) -> None:
        for temporary, _ in self._pending:
            temporary.unlink(missing_ok=True)
        self._pending.clear()


@contextmanager
def staged_outputs() -> Iterator[StagedOutputs]:
    """All-or-nothing outputs: renamed into place on success, removed on any error."""
    staged = StagedOutputs()
    try:
        yield staged
    except BaseException:
        staged.discard()
        raise
    staged.commit()
