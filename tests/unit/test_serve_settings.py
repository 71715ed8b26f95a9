"""Server settings from an environment mapping; every bad value names its variable.

The message is the only line a refused start prints, so it must say which variable to fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.serve.settings import ServeSettings, SettingsError


def test_an_empty_environment_gives_the_images_defaults() -> None:
    settings = ServeSettings.from_environment({})
    assert settings == ServeSettings()
    assert (settings.host, settings.port, settings.workers) == ("0.0.0.0", 8080, 1)
    assert settings.model_path == Path("models/model.onnx")
    assert settings.signature_path == Path("models/signature.json")
    assert (settings.max_batch, settings.max_body_bytes) == (1000, 1_000_000)
    assert (settings.log_level, settings.threads_per_worker, settings.git_sha) == ("info", 1, None)


def test_every_variable_is_read() -> None:
    settings = ServeSettings.from_environment(
        {
            "CONVEYOR_MODEL_PATH": "/m/model.onnx",
            "CONVEYOR_SIGNATURE_PATH": "/m/signature.json",
            "CONVEYOR_HOST": "127.0.0.1",
            "CONVEYOR_PORT": "9000",
            "CONVEYOR_WORKERS": "4",
            "CONVEYOR_MAX_BATCH": "10",
            "CONVEYOR_MAX_BODY_BYTES": "64",
            "CONVEYOR_LOG_LEVEL": "DEBUG",
            "CONVEYOR_THREADS": "2",
            "CONVEYOR_DRIFT": "Off",
            "CONVEYOR_DRIFT_WINDOW": "20000",
            "CONVEYOR_DRIFT_SAMPLE": "0.5",
            "CONVEYOR_GIT_SHA": "4fa42f0c",
        }
    )
    assert settings == ServeSettings(
        model_path=Path("/m/model.onnx"),
        signature_path=Path("/m/signature.json"),
        host="127.0.0.1",
        port=9000,
        workers=4,
        max_batch=10,
        max_body_bytes=64,
        log_level="debug",
        threads_per_worker=2,
        drift=False,
        drift_window=20000,
        drift_sample=0.5,
        git_sha="4fa42f0c",
    )


def test_the_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVEYOR_PORT", "8181")
    assert ServeSettings.from_environment().port == 8181


BOUNDS = {
    "PORT": (1, 65535),
    "WORKERS": (1, 64),
    "MAX_BATCH": (1, 1_000_000),
    "MAX_BODY_BYTES": (64, 1 << 30),
    "THREADS": (1, 64),
    "DRIFT_WINDOW": (100, 10_000_000),
}


@pytest.mark.parametrize("name", BOUNDS)
def test_whole_numbers_are_read_between_their_bounds(name: str) -> None:
    low, high = BOUNDS[name]
    for value in (low, high):
        ServeSettings.from_environment({f"CONVEYOR_{name}": str(value)})
    for value in (low - 1, high + 1):
        with pytest.raises(SettingsError) as refused:
            ServeSettings.from_environment({f"CONVEYOR_{name}": str(value)})
        assert str(refused.value) == (
            f"CONVEYOR_{name} must be between {low} and {high}, got {value}"
        )


@pytest.mark.parametrize("name", BOUNDS)
@pytest.mark.parametrize("raw", ["eighty", "", "8.5", "0x50"])
def test_what_is_not_a_whole_number_is_refused_by_name(name: str, raw: str) -> None:
    with pytest.raises(SettingsError) as refused:
        ServeSettings.from_environment({f"CONVEYOR_{name}": raw})
    assert str(refused.value) == f"CONVEYOR_{name} must be a whole number, got {raw!r}"


@pytest.mark.parametrize(("raw", "on"), [("on", True), ("TRUE", True), ("1", True), ("no", False)])
def test_drift_tracking_is_switched_by_words_any_case(raw: str, on: bool) -> None:
    assert ServeSettings.from_environment({"CONVEYOR_DRIFT": raw}).drift is on
    assert ServeSettings.from_environment({}).drift is True  # on unless switched off


@pytest.mark.parametrize("raw", ["0", "1.01", "-1", "half", "nan"])
def test_a_drift_sample_outside_zero_to_one_is_refused_by_name(raw: str) -> None:
    with pytest.raises(SettingsError, match=r"^CONVEYOR_DRIFT_SAMPLE must be a number in \(0, 1\]"):
        ServeSettings.from_environment({"CONVEYOR_DRIFT_SAMPLE": raw})


def test_a_drift_switch_that_is_neither_on_nor_off_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match=r"^CONVEYOR_DRIFT must be on or off, got 'sometimes'"):
        ServeSettings.from_environment({"CONVEYOR_DRIFT": "sometimes"})


def test_an_unknown_log_level_is_refused_by_name() -> None:
    with pytest.raises(SettingsError, match=r"^CONVEYOR_LOG_LEVEL must be one of critical, error"):
        ServeSettings.from_environment({"CONVEYOR_LOG_LEVEL": "loud"})


@pytest.mark.parametrize(
    "value", ["a" * 65, "4fa4\x00", "not a sha"], ids=["long", "nul", "spaces"]
)
def test_what_cannot_be_a_commit_is_refused_by_name(value: str) -> None:
    with pytest.raises(SettingsError, match=r"^CONVEYOR_GIT_SHA must be a commit id"):
        ServeSettings.from_environment({"CONVEYOR_GIT_SHA": value})


def test_a_full_length_commit_is_kept() -> None:
    sha = "f" * 64
    assert ServeSettings.from_environment({"CONVEYOR_GIT_SHA": sha}).git_sha == sha
