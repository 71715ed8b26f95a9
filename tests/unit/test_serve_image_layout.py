"""The image's files, read from the Dockerfile and .dockerignore as Docker reads them.

tests/serve/test_lifecycle.py serves from this layout to prove the image lacks nothing serving
imports; these tests pin how the layout is read, so a wrong reading cannot make it pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.serve.image_layout import (
    Copy,
    environment_value,
    exec_form,
    ignored_by,
    instructions,
    is_ignored,
    lay_out_image,
    package_copies,
)

DOCKERFILE = """\
FROM python:3.12-slim AS build
COPY requirements/serve.txt /tmp/requirements.txt
FROM python:3.12-slim
# a comment with COPY src/conveyor/nothing /nowhere
COPY --from=build /opt/venv /opt/venv
COPY --chown=10001 src/conveyor/__init__.py \\
     src/conveyor/contract.py /app/conveyor/
COPY src/conveyor/serve /app/conveyor/serve
ENV PATH=/opt/venv/bin:$PATH \\
    PYTHONPATH=/app
HEALTHCHECK --interval=10s CMD ["python", "-m", "conveyor.serve.healthcheck"]
ENTRYPOINT ["python", "-m", "conveyor.serve"]
"""

DOCKERIGNORE = """\
# only what the image needs
*
!src/conveyor/__init__.py
!src/conveyor/contract.py
!src/conveyor/serve/
**/__pycache__
"""


def test_continuation_lines_join_and_comments_drop() -> None:
    keywords = [keyword for keyword, _ in instructions(DOCKERFILE)]
    assert keywords == [
        *("FROM", "COPY", "FROM", "COPY", "COPY", "COPY", "ENV", "HEALTHCHECK", "ENTRYPOINT")
    ]


def test_only_the_package_copies_from_the_context_count() -> None:
    assert package_copies(DOCKERFILE) == [
        Copy(("src/conveyor/__init__.py", "src/conveyor/contract.py"), "/app/conveyor/"),
        Copy(("src/conveyor/serve",), "/app/conveyor/serve"),
    ]


def test_a_dockerfile_without_package_copies_fails_clearly() -> None:
    with pytest.raises(AssertionError, match=r"no `COPY src/conveyor/\.\.\.` line"):
        package_copies("FROM python\nCOPY . /app\n")


def test_environment_and_commands_are_read() -> None:
    assert environment_value(DOCKERFILE, "PYTHONPATH") == "/app"
    assert exec_form(DOCKERFILE, "ENTRYPOINT") == ["python", "-m", "conveyor.serve"]
    assert exec_form(DOCKERFILE, "HEALTHCHECK") == ["python", "-m", "conveyor.serve.healthcheck"]
    with pytest.raises(AssertionError, match="no ENV HOME"):
        environment_value(DOCKERFILE, "HOME")
    with pytest.raises(AssertionError, match="no CMD"):
        exec_form(DOCKERFILE, "CMD")


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("README.md", True),
        ("src/conveyor/cli.py", True),
        ("src/conveyor/__init__.py", False),
        ("src/conveyor/serve/app.py", False),
        ("src/conveyor/serve/__pycache__/app.cpython-311.pyc", True),
        ("src/conveyor/contract.py", False),
    ],
)
def test_dockerignore_is_read_as_docker_reads_it(path: str, ignored: bool) -> None:
    assert is_ignored(path, ignored_by(DOCKERIGNORE)) is ignored


def test_double_star_spans_folders_and_single_star_does_not() -> None:
    rules = ignored_by("src/*.py\n**/*.txt\n")
    assert is_ignored("src/a.py", rules)
    assert not is_ignored("src/deep/a.py", rules)
    assert is_ignored("notes.txt", rules)
    assert is_ignored("a/b/notes.txt", rules)


def _project(root: Path, dockerignore: str) -> Path:
    for name in ("__init__.py", "contract.py", "cli.py", "serve/__init__.py", "serve/app.py"):
        (root / "src" / "conveyor" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "src" / "conveyor" / name).write_text(f"# {name}\n")
    (root / "src" / "conveyor" / "serve" / "__pycache__").mkdir()
    (root / "src" / "conveyor" / "serve" / "__pycache__" / "app.pyc").write_bytes(b"\0")
    (root / "Dockerfile").write_text(DOCKERFILE)
    (root / ".dockerignore").write_text(dockerignore)
    return root


def test_the_layout_holds_exactly_the_copied_files(tmp_path: Path) -> None:
    root = _project(tmp_path / "project", DOCKERIGNORE)
    app = lay_out_image(root, tmp_path / "image")
    assert app == tmp_path / "image" / "app"
    laid_out = sorted(str(p.relative_to(app)) for p in app.rglob("*") if p.is_file())
    assert laid_out == [
        "conveyor/__init__.py",
        "conveyor/contract.py",
        "conveyor/serve/__init__.py",
        "conveyor/serve/app.py",
    ]


def test_a_copied_file_the_context_leaves_out_fails_as_the_build_would(tmp_path: Path) -> None:
    without_contract = DOCKERIGNORE.replace("!src/conveyor/contract.py\n", "")
    root = _project(tmp_path / "project", without_contract)
    with pytest.raises(AssertionError, match=r"copies src/conveyor/contract\.py, which is not in"):
        lay_out_image(root, tmp_path / "image")


def test_the_repositorys_dockerfile_copies_the_package() -> None:
    copied = [
        source
        for copy in package_copies((ROOT / "Dockerfile").read_text())
        for source in copy.sources
    ]
    assert "src/conveyor/serve" in copied


def test_the_image_exposes_the_port_the_server_listens_on_by_default() -> None:
    """The image sets no CONVEYOR_HOST or CONVEYOR_PORT: the server's own defaults apply, and
    EXPOSE (documentation for `docker run -P` and orchestrators) must name the same port."""
    from conveyor.serve.settings import ServeSettings

    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    exposed = [value for keyword, value in instructions(dockerfile) if keyword == "EXPOSE"]
    assert exposed == [str(ServeSettings().port)]
    assert ServeSettings().host == "0.0.0.0"  # reachable from outside the container
    for name in ("CONVEYOR_HOST", "CONVEYOR_PORT"):
        with pytest.raises(AssertionError):
            environment_value(dockerfile, name)
