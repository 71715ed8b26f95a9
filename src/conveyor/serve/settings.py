"""Server configuration from environment variables, read once at start-up.

The one reader of CONVEYOR_* variables: the server and the image's healthcheck both use it,
so a default (the port) or a rule cannot differ between them. Every refusal names the
variable, because it is printed as the only line of a refused start.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PREFIX = "CONVEYOR_"


class SettingsError(ValueError):
    """An environment variable holds a value the server cannot use."""


@dataclass(frozen=True)
class ServeSettings:
    """Everything the server can be told; defaults suit the container image."""

    model_path: Path = Path("models/model.onnx")
    signature_path: Path = Path("models/signature.json")
    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 1
    max_batch: int = 1000
    max_body_bytes: int = 1_000_000
    log_level: str = "info"
    threads_per_worker: int = 1
    drift: bool = True
    """Live drift tracking (the drift gauges and `GET /drift`); CONVEYOR_DRIFT=off stops it."""
    drift_window: int = 5000
    """Roughly how many recent tracked rows the drift numbers describe (an exponential decay)."""
    drift_sample: float = 0.1
    """The share of served rows the drift tracker counts, drawn at random: a tenth keeps
    its cost under a few percent of the server's throughput while a window of thousands of
    rows still fills within seconds under load (1 counts every row)."""
    git_sha: str | None = None
    """The commit the image was built from (the Dockerfile stamps it from the GIT_SHA build
    argument). It lives here, not in signature.json: the model's files depend only on the
    pipeline's inputs, so the same model keeps the same files at every commit."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ServeSettings:
        """Settings from `environ` (the process environment by default); unset is default."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            model_path=Path(env.get(f"{PREFIX}MODEL_PATH", str(defaults.model_path))),
            signature_path=Path(env.get(f"{PREFIX}SIGNATURE_PATH", str(defaults.signature_path))),
            host=env.get(f"{PREFIX}HOST", defaults.host),
            port=_whole_number_between(env, "PORT", defaults.port, 1, 65535),
            workers=_whole_number_between(env, "WORKERS", defaults.workers, 1, 64),
            max_batch=_whole_number_between(env, "MAX_BATCH", defaults.max_batch, 1, 1_000_000),
            max_body_bytes=_whole_number_between(
                env, "MAX_BODY_BYTES", defaults.max_body_bytes, 64, 1 << 30
            ),
            log_level=_log_level(env, "LOG_LEVEL", defaults.log_level),
            threads_per_worker=_whole_number_between(
                env, "THREADS", defaults.threads_per_worker, 1, 64
            ),
            drift=_switch(env, "DRIFT", defaults.drift),
            drift_window=_whole_number_between(
                env, "DRIFT_WINDOW", defaults.drift_window, 100, 10_000_000
            ),
            drift_sample=_share(env, "DRIFT_SAMPLE", defaults.drift_sample),
            git_sha=_git_sha(env),
        )


def _whole_number_between(
    env: Mapping[str, str], name: str, default: int, low: int, high: int
) -> int:
    """An integer in [low, high]: the bounds keep a typo (a port of 80800, a batch of 0)
    from starting a server that cannot work."""
    raw = env.get(PREFIX + name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{PREFIX}{name} must be between {low} and {high}, got {value}")
    return value


def _share(env: Mapping[str, str], name: str, default: float) -> float:
    """A number in (0, 1]."""
    raw = env.get(PREFIX + name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be a number in (0, 1], got {raw!r}") from None
    if not 0.0 < value <= 1.0:
        raise SettingsError(f"{PREFIX}{name} must be a number in (0, 1], got {raw!r}")
    return value


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    """on/off (or true/false, 1/0, yes/no), in any case."""
    raw = env.get(PREFIX + name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in {"on", "true", "1", "yes"}:
        return True
    if value in {"off", "false", "0", "no"}:
        return False
    raise SettingsError(f"{PREFIX}{name} must be on or off, got {raw!r}")


def _log_level(env: Mapping[str, str], name: str, default: str) -> str:
    """One of uvicorn's level names, in any case: an unknown one would fail only later,
    inside logging's configuration, with a message that does not name the variable."""
    levels = ("critical", "error", "warning", "info", "debug")
    value = env.get(PREFIX + name, default).lower()
    if value not in levels:
        raise SettingsError(f"{PREFIX}{name} must be one of {', '.join(levels)}, got {value!r}")
    return value


def _git_sha(env: Mapping[str, str]) -> str | None:
    """CONVEYOR_GIT_SHA, or None when unset, empty or the Dockerfile's `unknown` default.

    Refused when it cannot be a commit id: it is echoed as the model version in every
    prediction, so it must stay short and printable."""
    value = env.get(f"{PREFIX}GIT_SHA", "").strip()
    if value.lower() in {"", "unknown"}:
        return None
    if len(value) > 64 or not value.isprintable() or " " in value:
        raise SettingsError(
            f"{PREFIX}GIT_SHA must be a commit id (at most 64 characters, no spaces), got {value!r}"
        )
    return value
