"""Prometheus's own checker for the files in deploy/monitoring, and what the tests feed it.

- `ensure_promtool()`: the first call of a session runs scripts/monitoring-tools.sh, which
  installs promtool when it is missing (Debian's `prometheus` package) and names it.
- `check_rules`, `run_rule_test`: `promtool check rules` and `promtool test rules`, the second on
  a rule-test document built here (`rule_test`) against deploy/monitoring/alerts.yml.
- `expected_alert`: an alert as promtool must report it, its annotations rendered from the
  rules' own templates for the labels and value given (the few template forms alerts.yml
  uses), so a template that names a missing label or mangles the value fails the test.
"""

from __future__ import annotations

import functools
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT
from tests.monitoring.deployed import ALERTS
from tests.tools import ToolsError, install_tool

MONITORING_TOOLS = ROOT / "scripts" / "monitoring-tools.sh"


class MonitoringToolsError(ToolsError):
    """promtool could not be found or installed."""


@functools.cache
def ensure_promtool() -> str:
    """Run scripts/monitoring-tools.sh once per session; the promtool it settled on."""
    return install_tool(MONITORING_TOOLS, "promtool", MonitoringToolsError)


def promtool(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """One promtool run; its exit code is the caller's to judge."""
    return subprocess.run(
        [ensure_promtool(), *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def check_rules(path: Path = ALERTS) -> subprocess.CompletedProcess[str]:
    return promtool("check", "rules", path)


@dataclass(frozen=True)
class Series:
    """One input series of a rule test: labels (the name as `__name__`) and its values in
    promtool's expanding notation, e.g. "0.3x20" (the value held for 20 more intervals)."""

    labels: Mapping[str, str]
    values: str

    def as_dict(self) -> dict[str, str]:
        name = self.labels["__name__"]
        rest = ", ".join(
            f'{key}="{_escape(value)}"' for key, value in sorted(self.labels.items())
            if key != "__name__"
        )  # fmt: skip
        return {"series": f"{name}{{{rest}}}", "values": self.values}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def rule_test(
    series: Iterable[Series],
    expectations: Mapping[str, Sequence[Mapping[str, Any]]],
    eval_time: str = "15m",
) -> dict[str, Any]:
    """A promtool rule-test document: the series, then for each alert name the alerts that
    must be firing at `eval_time` (an empty list: none may fire)."""
    return {
        "rule_files": [str(ALERTS)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [s.as_dict() for s in series],
                "alert_rule_test": [
                    {"eval_time": eval_time, "alertname": name, "exp_alerts": list(alerts)}
                    for name, alerts in expectations.items()
                ],
            }
        ],
    }


def run_rule_test(document: Mapping[str, Any]) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` on `document` (written to a scratch file)."""
    with tempfile.TemporaryDirectory(prefix="conveyor-promtool-") as scratch:
        path = Path(scratch) / "rules-test.yml"
        path.write_text(yaml.safe_dump(dict(document), sort_keys=False), encoding="utf-8")
        return promtool("test", "rules", path)


_TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def render_template(text: str, labels: Mapping[str, str], value: float) -> str:
    """`text` as Prometheus renders an annotation, for the template forms alerts.yml uses:
    `$labels.NAME`, `$value | printf "%.3f"`, `$value | humanizePercentage`."""

    def one(found: re.Match[str]) -> str:
        action = " ".join(found[1].split())
        if action.startswith("$labels."):
            return labels[action.removeprefix("$labels.")]
        if action == '$value | printf "%.3f"':
            return f"{value:.3f}"
        if action == "$value | humanizePercentage":
            return f"{value * 100:.4g}%"
        raise AssertionError(f"alerts.yml uses a template form the tests cannot render: {action}")

    return _TEMPLATE.sub(one, text)


def expected_alert(
    rule: Mapping[str, Any], labels: Mapping[str, str], value: float
) -> dict[str, Any]:
    """The alert `rule` raises for a series with `labels` (the rule's own labels added) and
    `value`, as a promtool `exp_alerts` entry."""
    all_labels = {**labels, **rule.get("labels", {})}
    return {
        "exp_labels": all_labels,
        "exp_annotations": {
            key: render_template(text, all_labels, value)
            for key, text in rule.get("annotations", {}).items()
        },
    }
