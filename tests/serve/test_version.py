"""The server's model version: the image's commit from the environment, else a name of the
model itself. signature.json holds no commit, so the model files are the same at every one."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from conveyor.paths import ProjectPaths
from conveyor.serve.app import create_app, model_id
from conveyor.serve.settings import ServeSettings, SettingsError
from tests.serve.conftest import example_record


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, None), ("", None), ("unknown", None), (" 4fa42f0c ", "4fa42f0c")],
)
def test_the_commit_comes_from_the_environment(value: str | None, expected: str | None) -> None:
    environ = {} if value is None else {"CONVEYOR_GIT_SHA": value}
    assert ServeSettings.from_environment(environ).git_sha == expected


def test_a_commit_with_spaces_is_refused() -> None:
    with pytest.raises(SettingsError, match="CONVEYOR_GIT_SHA"):
        ServeSettings.from_environment({"CONVEYOR_GIT_SHA": "not a sha"})


def test_the_model_id_is_a_prefix_of_the_onnx_hash() -> None:
    assert model_id("2e06531ebdbe1ab431feed57a0da41cd") == "onnx-2e06531ebdbe"


def _answers(paths: ProjectPaths, git_sha: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """/metadata and a /predict reply from the app in this process (no server needed)."""
    settings = ServeSettings(
        model_path=paths.onnx_model, signature_path=paths.signature, git_sha=git_sha
    )
    record = example_record(json.loads(paths.signature.read_text()))

    async def ask() -> tuple[dict[str, Any], dict[str, Any]]:
        transport = httpx.ASGITransport(app=create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            metadata = (await client.get("/metadata")).json()
            prediction = (await client.post("/predict", json=record)).json()
            return metadata, prediction

    return asyncio.run(ask())


def test_metadata_shows_the_commit_and_the_model_id(pipeline_outputs: ProjectPaths) -> None:
    signature = json.loads(pipeline_outputs.signature.read_text())
    assert "git_sha" not in signature["model"]
    expected_id = "onnx-" + signature["model"]["onnx_sha256"][:12]
    metadata, prediction = _answers(pipeline_outputs, "4fa42f0c")
    assert (metadata["model_version"], metadata["git_sha"]) == ("4fa42f0c", "4fa42f0c")
    assert metadata["model_id"] == expected_id
    assert prediction["model_version"] == "4fa42f0c"
    metadata, prediction = _answers(pipeline_outputs, None)
    assert (metadata["model_version"], metadata["git_sha"]) == (expected_id, None)
    assert prediction["model_version"] == expected_id
