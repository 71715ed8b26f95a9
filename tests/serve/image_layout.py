"""The serving image's files, laid out from the Dockerfile without building the image.

The image carries only what its `COPY src/conveyor/...` lines name, and only if .dockerignore
lets it into the build context. Laying out exactly that (and starting it the way ENTRYPOINT
does) lets a test prove, in seconds and without a container engine, that serving imports
nothing the image lacks.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

PACKAGE_SOURCE = "src/conveyor"


@dataclass(frozen=True)
class Copy:
    """One `COPY` of the build context into the image."""

    sources: tuple[str, ...]
    destination: str


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    joined: list[str] = []
    pending = ""
    for line in dockerfile.splitlines():
        if line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    parsed = []
    for line in [*joined, pending]:
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            parsed.append((keyword.upper(), arguments.strip()))
    return parsed


def package_copies(dockerfile: str) -> list[Copy]:
    """The COPY instructions that take the conveyor package from the build context."""
    copies = []
    for keyword, arguments in instructions(dockerfile):
        words = arguments.split()
        if keyword != "COPY" or any(word.startswith("--from") for word in words):
            continue
        paths = [word for word in words if not word.startswith("--")]
        if any(source.startswith(PACKAGE_SOURCE) for source in paths[:-1]):
            copies.append(Copy(tuple(paths[:-1]), paths[-1]))
    if not copies:
        raise AssertionError(
            f"the Dockerfile has no `COPY {PACKAGE_SOURCE}/...` line: the image would carry "
            "no serving code, or it is copied in a way this test cannot follow"
        )
    return copies


def environment_value(dockerfile: str, name: str) -> str:
    """The value `ENV` gives `name` (the `ENV A=1 B=2` form the Dockerfile uses)."""
    for keyword, arguments in instructions(dockerfile):
        if keyword == "ENV":
            for word in arguments.split():
                key, _, value = word.partition("=")
                if key == name:
                    return value
    raise AssertionError(f"the Dockerfile sets no ENV {name}")


def exec_form(dockerfile: str, keyword: str) -> list[str]:
    """The JSON command of ENTRYPOINT, or of HEALTHCHECK's CMD."""
    for found, arguments in instructions(dockerfile):
        if found == keyword:
            command = arguments.split(" CMD ", 1)[-1] if keyword == "HEALTHCHECK" else arguments
            words: list[str] = json.loads(command)
            return words
    raise AssertionError(f"the Dockerfile has no {keyword} in exec form")


def _pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as Docker reads it: `*` and `?` stop at `/`, `**` does not."""
    expression = ""
    index = 0
    while index < len(pattern):
        if pattern.startswith("**/", index):
            expression, index = expression + "(?:.*/)?", index + 3
        elif pattern.startswith("**", index):
            expression, index = expression + ".*", index + 2
        else:
            character = pattern[index]
            expression += {"*": "[^/]*", "?": "[^/]"}.get(character, re.escape(character))
            index += 1
    return re.compile(expression)


def ignored_by(dockerignore: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(is an exception, pattern) per line, in order: the last one that matches decides."""
    rules = []
    for line in dockerignore.splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        exception = text.startswith("!")
        cleaned = text.lstrip("!").strip().strip("/")
        rules.append((exception, _pattern(cleaned)))
    return rules


def is_ignored(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether the build context leaves `path` out: a pattern matches a path or its folders."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: count + 1]) for count in range(len(parts))]
    ignored = False
    for exception, pattern in rules:
        if any(pattern.fullmatch(prefix) for prefix in prefixes):
            ignored = not exception
    return ignored


def lay_out_image(root: Path, destination: Path) -> Path:
    """Copy what the image's package COPY lines take into `destination` as the image's root;
    returns the folder the image's PYTHONPATH names there."""
    dockerfile = (root / "Dockerfile").read_text(encoding="utf-8")
    ignore_file = root / ".dockerignore"
    rules = ignored_by(ignore_file.read_text(encoding="utf-8") if ignore_file.exists() else "")

    def in_context(path: Path) -> bool:
        return path.is_file() and not is_ignored(path.relative_to(root).as_posix(), rules)

    for copy in package_copies(dockerfile):
        target = destination / copy.destination.lstrip("/")
        for source in copy.sources:
            origin = root / source
            if origin.is_dir():  # COPY of a folder copies what the context holds of it
                placed = {path: target / path.relative_to(origin) for path in origin.rglob("*")}
            elif copy.destination.endswith("/") or len(copy.sources) > 1:
                placed = {origin: target / origin.name}
            else:
                placed = {origin: target}
            placed = {path: to for path, to in placed.items() if in_context(path)}
            if not placed:
                raise AssertionError(
                    f"the Dockerfile copies {source}, which is not in the build context "
                    "(missing, or left out by .dockerignore): the image build would fail"
                )
            for path, to in placed.items():
                to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, to)
    pythonpath = environment_value(dockerfile, "PYTHONPATH").split(":")[0]
    return destination / pythonpath.lstrip("/")
