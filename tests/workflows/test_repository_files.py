"""Dependabot's and CODEOWNERS' coverage, read the way GitHub reads the two files.

Dependabot looks only in the directories its entries name: a workflow, a composite action, a
Dockerfile or a lock file elsewhere is never updated, and a base image named through an ARG
cannot be. CODEOWNERS asks for a code owner's review only on the paths its patterns match. Each
check is a pure function over file names and texts, run on this repository and shown to trip
on one that breaks it.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT
from tests.container.bases import base_images

PLACEHOLDER_OWNER = "@conveyor-ml/maintainers"  # what scripts/init-repository.sh rewrites
# What runs with a write token or decides a release: a directory (trailing slash) stands for
# every file in it. The README ("Repository settings") and .github/CODEOWNERS say the same.
REVIEWED = (
    ".github/",  # workflows, the setup action, dependabot.yml, CODEOWNERS itself
    "Makefile",
    "scripts/",
    "Dockerfile",
    ".dockerignore",
    "pyproject.toml",
    "uv.lock",
    "requirements/",
    "params.yaml",  # its `gates:` decide a release; CODEOWNERS cannot own part of a file
    "dvc.yaml",
    "dvc.lock",
    ".dvc/",
    "deploy/",
)
DIGEST = re.compile(r"^[^@\s$]+:[^@\s:/$]+@sha256:[0-9a-f]{64}$")  # name:tag@sha256:digest


def repository_files() -> list[str]:
    """Tracked and new unignored files, as a fresh clone (and `make init`) would see them."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    return [name for name in listed if (ROOT / name).is_file()]


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


# --- Dependabot -------------------------------------------------------------------------------


def _directory(name: str) -> str:
    """A file's directory as dependabot.yml writes it: "/" for the root, else "/a/b"."""
    parent = str(PurePosixPath(name).parent)
    return "/" if parent == "." else f"/{parent}"


def _is_dockerfile(name: str) -> bool:
    path = PurePosixPath(name)
    return path.name in {"Dockerfile", "Containerfile"} or path.suffix == ".Dockerfile"


def _uses_published_actions(manifest: str) -> bool:
    """Whether a composite action calls an action by version, which is what Dependabot updates
    (the act runs' stand-ins under tests/ call none)."""
    document = yaml.safe_load(manifest) or {}
    steps = (document.get("runs") or {}).get("steps") or []
    return any(
        "@" in step.get("uses", "") and not step["uses"].startswith(("./", "docker://"))
        for step in steps
    )


def dependabot_needs(files: Iterable[str], read: Callable[[str], str]) -> dict[str, set[str]]:
    """Per package ecosystem, the directories holding something it updates: workflows (read
    from "/"), composite actions that call published actions, Dockerfiles, uv.lock files."""
    needs: dict[str, set[str]] = {"github-actions": set(), "docker": set(), "uv": set()}
    for name in files:
        path = PurePosixPath(name)
        if path.parent == PurePosixPath(".github/workflows") and path.suffix in {".yml", ".yaml"}:
            needs["github-actions"].add("/")
        elif path.name in {"action.yml", "action.yaml"} and _uses_published_actions(read(name)):
            needs["github-actions"].add(_directory(name))
        elif _is_dockerfile(name):
            needs["docker"].add(_directory(name))
        elif path.name == "uv.lock":
            needs["uv"].add(_directory(name))
    return needs


def _segments(directory: str) -> list[str]:
    return [part for part in directory.strip("/").split("/") if part]


def _match_segments(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match_segments(rest, parts[start:]) for start in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _match_segments(rest, parts[1:])


def directory_matches(pattern: str, directory: str) -> bool:
    """A dependabot.yml `directory` or `directories` entry against a directory: `*` stays
    within one path segment, `**` spans any number of them (GitHub's docs, "Defining multiple
    locations for manifest files")."""
    return _match_segments(_segments(pattern), _segments(directory))


def uncovered_by_dependabot(needs: dict[str, set[str]], config: dict[str, Any]) -> list[str]:
    """`ecosystem directory` for each needed directory that no entry of its ecosystem names."""
    patterns: dict[str, list[str]] = {}
    for update in config.get("updates", []):
        listed = update.get("directories") or [update.get("directory", "")]
        patterns.setdefault(update["package-ecosystem"], []).extend(listed)
    return [
        f"{ecosystem} {directory}"
        for ecosystem, directories in sorted(needs.items())
        for directory in sorted(directories)
        if not any(directory_matches(p, directory) for p in patterns.get(ecosystem, []))
    ]


def unpinned_bases(dockerfile: str) -> list[str]:
    """Each base image a FROM names without both a tag and a digest written out: Dependabot
    updates neither an unpinned base nor one named through an ARG."""
    return [image for image in base_images(dockerfile) if not DIGEST.match(image)]


def test_dependabot_looks_wherever_a_workflow_action_image_or_lock_file_is() -> None:
    files = repository_files()
    needs = dependabot_needs(files, read)
    # What this repository holds, found from its files: the finder sees them all.
    assert {"/", "/.github/actions/setup"} <= needs["github-actions"]
    assert "/" in needs["docker"] and "/" in needs["uv"]
    config = yaml.safe_load(read(".github/dependabot.yml"))
    assert uncovered_by_dependabot(needs, config) == []
    for update in config["updates"]:
        assert update["cooldown"]["default-days"] >= 7, update["package-ecosystem"]


def test_a_directory_no_entry_names_is_reported() -> None:
    needs = dependabot_needs(
        [".github/workflows/ci.yml", ".github/actions/setup/action.yml",
         "tools/lint/action.yml", "images/batch/Dockerfile", "uv.lock"],
        lambda _: "runs:\n  using: composite\n  steps:\n    - uses: actions/cache@0123abc\n",
    )  # fmt: skip
    config = {
        "updates": [
            {"package-ecosystem": "github-actions", "directory": "/"},
            {"package-ecosystem": "docker", "directories": ["/"]},
        ]
    }
    assert uncovered_by_dependabot(needs, config) == [
        "docker /images/batch",
        "github-actions /.github/actions/setup",  # the gap the `directories` pattern closes
        "github-actions /tools/lint",
        "uv /",
    ]
    config["updates"][0] = {
        "package-ecosystem": "github-actions",
        "directories": ["/", "/.github/actions/*", "/tools/**"],
    }
    assert uncovered_by_dependabot(needs, config) == ["docker /images/batch", "uv /"]


def test_an_action_that_calls_no_published_action_needs_no_entry() -> None:
    local = "runs:\n  using: composite\n  steps:\n    - uses: ./.github/actions/setup\n"
    assert dependabot_needs(["tests/standins/cache/action.yml"], lambda _: local) == {
        "github-actions": set(), "docker": set(), "uv": set(),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("pattern", "directory", "matches"),
    [
        ("/", "/", True),
        ("/", "/.github/actions/setup", False),  # "/" is the root only
        ("/.github/actions/*", "/.github/actions/setup", True),
        ("/.github/actions/*", "/.github/actions/setup/inner", False),
        ("/.github/actions/*", "/.github/actions", False),
        ("/tools/**", "/tools/a/b", True),
        ("/lib-*", "/lib-core", True),
        ("/lib-*", "/src/lib-core", False),
    ],
)
def test_dependabot_directory_patterns(pattern: str, directory: str, matches: bool) -> None:
    assert directory_matches(pattern, directory) is matches


def test_every_base_image_is_pinned_by_tag_and_digest_in_from_itself() -> None:
    dockerfiles = [name for name in repository_files() if _is_dockerfile(name)]
    assert "Dockerfile" in dockerfiles
    assert {name: unpinned_bases(read(name)) for name in dockerfiles} == {
        name: [] for name in dockerfiles
    }
    serving = base_images(read("Dockerfile"))
    assert len(serving) == 2 and len(set(serving)) == 1, "both stages start from the same base"


def test_an_unpinned_base_or_one_named_through_an_arg_is_reported() -> None:
    digest = "sha256:" + "0" * 64
    dockerfile = (
        "ARG BASE=python:3.12-slim\n"
        "FROM ${BASE} AS build\n"
        "FROM python:3.12-slim\n"
        f"FROM python@{digest}\n"  # a digest without a tag: nothing to show a reviewer
        f"FROM --platform=linux/amd64 python:3.12-slim@{digest} AS ok\n"
        "FROM build\n"  # an earlier stage, not a base
    )
    assert unpinned_bases(dockerfile) == ["${BASE}", "python:3.12-slim", f"python@{digest}"]


# --- CODEOWNERS -------------------------------------------------------------------------------


def codeowners_rules(text: str) -> list[tuple[str, list[str]]]:
    """(pattern, owners) per rule line, in order; comments and blank lines dropped."""
    rules = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pattern, *owners = line.split()
            rules.append((pattern, owners))
    return rules


def codeowners_pattern_matches(pattern: str, path: str) -> bool:
    """GitHub's CODEOWNERS matching (gitignore's rules, less `!` and `[]`): a slash at the start
    or in the middle anchors the pattern at the root, otherwise it matches at any depth; a
    trailing slash matches a directory's contents only; a pattern that matches a directory
    matches everything in it; `*` stays within one segment, `**` spans any number."""
    directory_only = pattern.endswith("/")
    body = pattern.strip("/")
    anchored = pattern.startswith("/") or "/" in body
    wanted = [part for part in body.split("/") if part]
    parts = path.split("/")
    # The path itself (a file) or any directory above it; a trailing slash wants a directory.
    candidates = [parts[:end] for end in range(1, len(parts) + (0 if directory_only else 1))]
    for candidate in candidates:
        starts = [0] if anchored else range(len(candidate))
        if any(_match_segments(wanted, candidate[start:]) for start in starts):
            return True
    return False


def code_owners(rules: list[tuple[str, list[str]]], path: str) -> list[str]:
    """The owners GitHub asks for a change to `path`: the last matching rule wins, and a rule
    without owners leaves the path unowned."""
    owners: list[str] = []
    for pattern, rule_owners in rules:
        if codeowners_pattern_matches(pattern, path):
            owners = rule_owners
    return owners


def unowned(
    rules: list[tuple[str, list[str]]], reviewed: Iterable[str], files: list[str]
) -> list[str]:
    """Each file under `reviewed` (a directory stands for its files) with no code owner, and each
    entry of `reviewed` that names no file at all (a check over nothing proves nothing)."""
    missing = []
    for entry in reviewed:
        named = [n for n in files if n == entry or (entry.endswith("/") and n.startswith(entry))]
        if not named:
            missing.append(f"{entry} (no such file)")
        missing += [name for name in named if not code_owners(rules, name)]
    return missing


def test_codeowners_covers_what_runs_with_write_tokens_or_decides_a_release() -> None:
    rules = codeowners_rules(read(".github/CODEOWNERS"))
    assert unowned(rules, REVIEWED, repository_files()) == []
    # One owner everywhere, the placeholder `make init` rewrites, in a syntax GitHub accepts.
    assert {owner for _, owners in rules for owner in owners} == {PLACEHOLDER_OWNER}
    assert all(owners for _, owners in rules), "a rule without owners unowns its paths"
    assert not [p for p, _ in rules if p.startswith("!") or "[" in p or "\\" in p]


def test_a_path_no_rule_covers_is_reported() -> None:
    files = ["Makefile", "scripts/container.sh", "scripts/tools/x.sh", "src/scripts/y.sh",
             "params.yaml", "docs/Makefile"]  # fmt: skip
    rules = codeowners_rules("/Makefile @a\n/scripts/ @a\n/scripts/tools/ \n")
    assert unowned(rules, ["Makefile", "scripts/", "params.yaml", "dvc.lock"], files) == [
        "scripts/tools/x.sh",  # the last match has no owner
        "params.yaml",
        "dvc.lock (no such file)",
    ]


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("/Makefile", "Makefile", True),
        ("/Makefile", "docs/Makefile", False),  # a leading slash anchors at the root
        ("Makefile", "docs/Makefile", True),  # without one, any depth
        ("/scripts/", "scripts/container.sh", True),
        ("/scripts/", "scripts/render/x.js", True),  # a directory's whole tree
        ("/scripts/", "src/scripts/x.sh", False),
        ("scripts/", "src/scripts/x.sh", True),
        ("/scripts/", "scripts", False),  # a trailing slash wants a directory
        ("/.github/", ".github/CODEOWNERS", True),
        ("docs/*.md", "docs/a.md", True),  # a slash in the middle anchors too
        ("docs/*.md", "x/docs/a.md", False),
        ("docs/*.md", "docs/x/a.md", False),  # `*` stays in one segment
        ("*.yml", "a/b/c.yml", True),
        ("/deploy/**/kustomization.yaml", "deploy/overlays/staging/kustomization.yaml", True),
        ("/deploy", "deploy/base/service.yaml", True),  # a file pattern naming a directory
    ],
)
def test_codeowners_patterns(pattern: str, path: str, matches: bool) -> None:
    assert codeowners_pattern_matches(pattern, path) is matches
