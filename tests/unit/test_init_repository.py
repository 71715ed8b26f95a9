"""`make init` (scripts/init-repository.sh): the template's placeholders become the adopter's.

A repository made with "Use this template" still names the template's organisation: its code
owners (a team the adopter's organisation does not have, whose review can never be given), the
image's source URL and the image the Kubernetes manifests run. The script rewrites them. Each
test runs the copy's own script in a copy of the repository (never this one), and one test reads
this repository's files, so that a new mention of the template's organisation that the script
would not rewrite fails the suite.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, copy_repository
from tests.deploy.kubernetes import image_names

SCRIPT = Path("scripts") / "init-repository.sh"
ORGANISATION = "conveyor-ml"
# What the script rewrites and what it leaves alone, stated here independently of the script,
# and checked against the script's own definitions below.
PLACEHOLDERS = (
    "@conveyor-ml/maintainers",
    "ghcr.io/conveyor-ml/conveyor",  # the image: lower-cased, as registries require
    "conveyor-ml/conveyor",
)
EXCLUDED = (
    "tests/workflows/",  # the fake repository name of the act runs: a fixture
    "scripts/init-repository.sh",  # the placeholders' definition
    "tests/unit/test_init_repository.py",  # this file
)


def init(repository: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the repository's own copy of the script, as `make init` does."""
    return subprocess.run(
        [str(repository / SCRIPT), *args],
        cwd=repository, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def git(repository: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repository, capture_output=True, text=True, check=True
    ).stdout


def mentions(repository: Path) -> list[str]:
    """`file:line: text` of every tracked line naming the organisation, outside the exclusions."""
    found = subprocess.run(
        ["git", "grep", "-n", "-I", "-F", ORGANISATION, "--", ".",
         *(f":(exclude){path}" for path in EXCLUDED)],
        cwd=repository, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert found.returncode in (0, 1), found.stderr
    return found.stdout.splitlines()


def snapshot(repository: Path) -> dict[str, bytes]:
    """Every tracked file's content, to prove what a run did not change."""
    names = git(repository, "ls-files").splitlines()
    return {name: (repository / name).read_bytes() for name in names}


def small_repository(destination: Path, files: dict[str, str], origin: str | None) -> Path:
    """A git repository holding the script and `files`: fast, for the input checks."""
    (destination / "scripts").mkdir(parents=True)
    (destination / SCRIPT).write_bytes((ROOT / SCRIPT).read_bytes())
    (destination / SCRIPT).chmod(0o755)
    for name, text in files.items():
        (destination / name).parent.mkdir(parents=True, exist_ok=True)
        (destination / name).write_text(text)
    git(destination, "init", "-q", "-b", "main")
    git(destination, "add", "-A")
    git(destination, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "x")
    if origin:
        git(destination, "remote", "add", "origin", origin)
    return destination


DOCKERFILE = "ARG SOURCE_URL=https://github.com/conveyor-ml/conveyor\n"


@pytest.fixture
def adopted(tmp_path: Path) -> Path:
    """This repository as "Use this template" gives it to acme, cloned from GitHub."""
    repository = copy_repository(tmp_path / "churn-model")
    git(repository, "remote", "add", "origin", "https://github.com/acme/churn-model.git")
    return repository


def test_rewrites_every_placeholder_and_prints_each_line(adopted: Path) -> None:
    before = mentions(adopted)
    assert before, "the template names its organisation somewhere, or this test proves nothing"
    result = init(adopted)
    assert result.returncode == 0, result.stderr
    assert mentions(adopted) == [], "a placeholder was left"
    codeowners = (adopted / ".github" / "CODEOWNERS").read_text()
    assert "/.github/ @acme\n" in codeowners
    rules = [line.split() for line in codeowners.splitlines() if line and line[0] != "#"]
    assert len(rules) > 1 and all(owners == ["@acme"] for _, *owners in rules), "every rule"
    # The Dockerfile is a release path: init must not touch it (scripts/release-decision.sh).
    assert 'ARG SOURCE_URL=""' in (adopted / "Dockerfile").read_text()
    container = adopted / "scripts" / "container.sh"
    assert "https://github.com/acme/churn-model}" in container.read_text()
    assert container.stat().st_mode & 0o111, "the rewritten script is still executable"
    assert image_names(adopted) == {"ghcr.io/acme/churn-model"}
    # It prints each changed line, as it now reads, and changed no other file.
    for line in before:
        name, number, _ = line.split(":", 2)
        now = (adopted / name).read_text().splitlines()[int(number) - 1]
        assert f"  {name}:{number}: {now}\n" in result.stdout
    changed = set(git(adopted, "diff", "--name-only").splitlines())
    assert changed == {line.split(":", 1)[0] for line in before}
    assert "If acme is an organisation" in result.stdout, "the defaulted owner is explained"


def test_a_second_run_changes_nothing(adopted: Path) -> None:
    assert init(adopted).returncode == 0
    after_first = snapshot(adopted)
    again = init(adopted)
    assert again.returncode == 0, again.stderr
    assert "nothing to change" in again.stdout
    assert snapshot(adopted) == after_first


def test_the_argument_and_the_code_owner_option_win(adopted: Path) -> None:
    result = init(adopted, "acme-labs/churn.v2", "--code-owner", "@acme-labs/ml_team")
    assert result.returncode == 0, result.stderr
    assert "/.github/ @acme-labs/ml_team\n" in (adopted / ".github" / "CODEOWNERS").read_text()
    assert "github.com/acme-labs/churn.v2}" in (adopted / "scripts" / "container.sh").read_text()
    assert "If acme-labs is an organisation" not in result.stdout


def test_the_manifests_image_is_in_lower_case_as_registries_require(adopted: Path) -> None:
    """GitHub keeps the name's case; ghcr.io (and the release workflow) lower-case it."""
    result = init(adopted, "Acme/Churn-Model")
    assert result.returncode == 0, result.stderr
    assert image_names(adopted) == {"ghcr.io/acme/churn-model"}
    assert "github.com/Acme/Churn-Model}" in (adopted / "scripts" / "container.sh").read_text()


def test_the_script_rewrites_every_mention_in_this_repository() -> None:
    """Every tracked (or new, unignored) file's mention of the template's organisation, outside
    the deliberate exclusions, is a placeholder the script rewrites: a new leftover fails here."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    leftovers = []
    for name in listed:
        path = ROOT / name
        if name.startswith(EXCLUDED) or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary: git grep skips it too
        for number, line in enumerate(text.splitlines(), 1):
            rest = line
            for placeholder in PLACEHOLDERS:
                rest = rest.replace(placeholder, "")
            if ORGANISATION in rest:
                leftovers.append(f"{name}:{number}: {line.strip()}")
    assert leftovers == [], "add these to scripts/init-repository.sh, or rewrite them"


def test_the_script_defines_the_placeholders_and_exclusions_this_test_states() -> None:
    """The tests above state the contract; this ties it to what the script really does."""
    script = (ROOT / SCRIPT).read_text()
    assert f"CODE_OWNER_PLACEHOLDER='{PLACEHOLDERS[0]}'" in script
    assert f"IMAGE_PLACEHOLDER='{PLACEHOLDERS[1]}'" in script
    assert f"REPOSITORY_PLACEHOLDER='{PLACEHOLDERS[2]}'" in script
    declared = re.search(r"^EXCLUDED=\((.*)\)$", script, re.MULTILINE)
    assert declared is not None
    assert tuple(declared.group(1).split()) == EXCLUDED


@pytest.mark.parametrize(
    "origin",
    [
        "https://github.com/acme/churn-model.git",
        "https://github.com/acme/churn-model",
        "https://github.com/acme/churn-model/",
        "git@github.com:acme/churn-model.git",
        "ssh://git@github.com/acme/churn-model.git",
        "https://x-access-token:ghs_secret@github.com/acme/churn-model.git",
    ],
)
def test_owner_and_name_come_from_origin(tmp_path: Path, origin: str) -> None:
    repository = small_repository(tmp_path, {"Dockerfile": DOCKERFILE}, origin)
    result = init(repository)
    assert result.returncode == 0, result.stderr
    assert (repository / "Dockerfile").read_text() == (
        "ARG SOURCE_URL=https://github.com/acme/churn-model\n"
    )
    assert "ghs_secret" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["acme"], "'acme' is not OWNER/REPO: expected one slash, e.g. acme/churn-model"),
        (["acme/churn/model"], "'acme/churn/model' is not OWNER/REPO: expected one slash"),
        (["ac me/x"], "the owner 'ac me' is not a GitHub account name"),
        (["-acme/x"], "unknown option '-acme/x'"),
        (["acme-/x"], "the owner 'acme-' is not a GitHub account name"),
        (["/x"], "the owner '' is not a GitHub account name"),
        (["acme/"], "the name '' is not a GitHub repository name"),
        (["acme/churn.git"], "the name 'churn.git' is not a GitHub repository name"),
        (["acme/.."], "the name '..' is not a GitHub repository name"),
        (["acme/a|b"], "the name 'a|b' is not a GitHub repository name"),
        (["acme/x", "acme/y"], "one OWNER/REPO expected, got 'acme/x' and 'acme/y'"),
        (["acme/x", "--code-owner", "acme"], "code owner 'acme' is not @USER, @ORG/TEAM or an"),
        (["acme/x", "--code-owner", "@a&b"], "code owner '@a&b' is not @USER, @ORG/TEAM"),
        (["acme/x", "--code-owner"], "--code-owner needs a value"),
    ],
)
def test_malformed_input_is_refused_before_any_change(
    tmp_path: Path, arguments: list[str], message: str
) -> None:
    repository = small_repository(tmp_path, {"Dockerfile": DOCKERFILE}, None)
    result = init(repository, *arguments)
    assert result.returncode == 1
    assert message in result.stderr
    assert (repository / "Dockerfile").read_text() == DOCKERFILE


def test_without_argument_or_github_origin_it_says_what_to_pass(tmp_path: Path) -> None:
    repository = small_repository(tmp_path / "none", {"Dockerfile": DOCKERFILE}, None)
    result = init(repository)
    assert result.returncode == 1
    assert "no OWNER/REPO given and no git remote 'origin'" in result.stderr
    assert "make init REPOSITORY=OWNER/REPO" in result.stderr
    elsewhere = "https://user:hunter2@gitlab.example.com/acme/churn-model.git"
    repository = small_repository(tmp_path / "gitlab", {"Dockerfile": DOCKERFILE}, elsewhere)
    result = init(repository)
    assert result.returncode == 1
    assert "origin (https://gitlab.example.com/acme/churn-model.git) is not a github.com" in (
        result.stderr
    )
    assert "hunter2" not in result.stderr
    assert (repository / "Dockerfile").read_text() == DOCKERFILE


def test_an_unknown_mention_stops_it_before_anything_is_written(tmp_path: Path) -> None:
    files = {"Dockerfile": DOCKERFILE, "docs/notes.md": "Ask the conveyor-ml team.\n"}
    repository = small_repository(tmp_path, files, None)
    result = init(repository, "acme/churn-model")
    assert result.returncode == 1
    assert "in a form this script does not rewrite" in result.stderr
    assert "  docs/notes.md:1: Ask the conveyor-ml team." in result.stderr
    assert (repository / "Dockerfile").read_text() == DOCKERFILE
    assert git(repository, "status", "--porcelain") == ""
