"""Gate results and settings built by hand, for the tests of everything that reads or makes them."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conveyor.config import Settings, parse_settings
from conveyor.paths import ProjectPaths
from conveyor.verdict import Direction, GateResult, Kind, Mode, Status, Verdict
from tests.conftest import churn_params


def gate(
    id_: str,
    status: str,
    mode: str = "block",
    message: str | None = None,
    value: float = 0.5,
    *,
    bound: float = 0.5,
    direction: Direction = "min",
) -> GateResult:
    """A gate with the given id (`kind[.group].metric`), status and mode; the rest plausible."""
    kind, *group, metric = id_.split(".")
    assert kind in ("overall", "slice", "fairness"), kind
    checked_kind: Kind = kind  # type: ignore[assignment]
    return GateResult(
        id=id_, kind=checked_kind, metric=metric, group=".".join(group) or None, value=value,
        ci_low=value - 0.1, ci_high=value + 0.1, ci_level=0.95, bound=bound, direction=direction,
        n=100, positives=30, status=Status(status), mode=Mode(mode),
        message=message or f"{id_} message",
    )  # fmt: skip


def verdict(
    *gates: GateResult,
    fail_on_inconclusive: bool = False,
    bootstrap: Mapping[str, Any] | None = None,
) -> Verdict:
    return Verdict(tuple(gates), fail_on_inconclusive, dict(bootstrap or {}))


def settings(gates: Mapping[str, Any] | None = None, **data: Any) -> Settings:
    """Valid settings for `tests.conftest.churn_frame`-like data, with the given `gates:`
    section and `data:` keys replaced; bootstrap kept at its smallest for speed."""
    raw = copy.deepcopy(churn_params())
    raw["data"].update(data)
    raw["gates"] = {"bootstrap": {"resamples": 200, "seed": 1}, **copy.deepcopy(gates or {})}
    return parse_settings(raw)


def write_outputs(root: Path, metrics: Mapping[str, Any], gates: Verdict | Any) -> ProjectPaths:
    """metrics/metrics.json and metrics/gates.json in `root`, where `ProjectPaths` puts them
    (`gates` a Verdict, or any JSON document to test a malformed file)."""
    paths = ProjectPaths(root)
    paths.metrics_dir.mkdir(parents=True, exist_ok=True)
    paths.metrics.write_text(json.dumps(metrics), encoding="utf-8")
    document = gates.as_dict() if isinstance(gates, Verdict) else gates
    paths.gates.write_text(json.dumps(document), encoding="utf-8")
    return paths
