"""The files in deploy/monitoring as the tests read them: the alerting rules, the dashboard
and its queries, and the metric names a PromQL expression reads."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from conveyor.drift import FLOOR
from tests.conftest import ROOT

DEPLOY = ROOT / "deploy" / "monitoring"
ALERTS = DEPLOY / "alerts.yml"
DASHBOARD = DEPLOY / "grafana-dashboard.json"
SCRAPE_CONFIG = DEPLOY / "prometheus-scrape.yml"
DRIFT_ALERTS = (
    "ConveyorFeatureDrift",
    "ConveyorUnseenCategories",
    "ConveyorPredictionDrift",
    "ConveyorPositiveRateShift",
)
SERVICE_ALERTS = ("ConveyorPredictLatencyHigh", "ConveyorErrorRateHigh")


def alert_rules(path: Path = ALERTS) -> dict[str, dict[str, Any]]:
    """The alerting rules of every group, by alert name."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        rule["alert"]: rule
        for group in document["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def unseen_term(rate: float) -> float:
    """The unseen bucket's term of an input's PSI, as conveyor.drift counts an empty bucket."""
    share = max(rate, FLOOR)
    return (share - FLOOR) * math.log(share / FLOOR)


def dashboard() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return document


def panels(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    for panel in document["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(document: dict[str, Any]) -> list[str]:
    """Every PromQL the dashboard sends: panel targets and the variables' label_values."""
    queries = [t["expr"] for p in panels(document) for t in p.get("targets", [])]
    for variable in document["templating"]["list"]:
        if variable["type"] == "query":
            found = re.fullmatch(r"label_values\((.+),\s*\w+\)", variable["query"]["query"])
            assert found, f"variable {variable['name']}: not a label_values() query"
            queries.append(found[1])
    return queries


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_IDENTIFIER = re.compile(r"(?<![\w:.$])[A-Za-z_:][\w:]*")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
_KEYWORDS |= {"group_left", "group_right", "inf", "nan", "atan2"}
_AGGREGATIONS = {"sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk"}
_AGGREGATIONS |= {"quantile", "count_values", "group"}


def metric_names(expr: str) -> set[str]:
    """The metric names `expr` selects: what is left of the PromQL once strings, label
    matchers, range selectors, grouping clauses, functions and keywords are taken out."""
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    names = set()
    for found in _IDENTIFIER.finditer(text):
        word = found[0]
        after = text[found.end() :].lstrip()
        if after.startswith("(") or word.lower() in _KEYWORDS or word in _AGGREGATIONS:
            continue
        names.add(word)
    return names


def relabel(rules: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, str] | None:
    """Prometheus's `keep` and `replace` relabelling (anchored regexes, `;`-joined sources,
    $N references); None when a `keep` drops the target."""
    labels = dict(labels)
    for rule in rules:
        value = rule.get("separator", ";").join(labels.get(s, "") for s in rule["source_labels"])
        found = re.fullmatch(rule.get("regex", "(.*)"), value)
        if rule.get("action", "replace") == "keep":
            if not found:
                return None
        elif found:
            template = re.sub(r"\$(\d+)", r"\\g<\1>", rule.get("replacement", "$1"))
            labels[rule["target_label"]] = found.expand(template)
    return labels
