"""Which changes to `gates:` make the gates judge less: what the report warns a reviewer about.

A pull request may loosen a gate in the same change that makes the model worse; the report
says so first. Read from the raw `params.yaml` of both commits (the base's may be of an older
version that today's settings cannot parse), with the defaults a missing key stands for: a
gate without `mode` blocks, a missing `fail_on_inconclusive` is false.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conveyor.verdict import Mode

BOUNDS_LOWER_IS_LOOSER = ("min", "positive_rate_min")
BOUNDS_HIGHER_IS_LOOSER = (
    "max", "max_drop", "max_increase", "rows", "positives", "level", "positive_rate_max",
    "max_positive_rate_gap",
)  # fmt: skip
"""Leaves that judge less when moved: a lower minimum, a higher maximum or margin, a higher
support below which nothing is gated, a higher confidence level (wider intervals fail less)."""
GATE_LEAVES = ("min", "max", "max_drop", "max_increase")
"""The keys that make a mapping one gate (whose `mode` defaults to block)."""
_MODE_RANK = {str(Mode.OFF): 0, str(Mode.REPORT): 1, str(Mode.BLOCK): 2}


def flatten(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested params -> dotted keys, so a diff names exactly what changed."""
    flat: dict[str, Any] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _gates(flat: Mapping[str, Any]) -> dict[str, str]:
    """Each gate (the key of a mapping holding a bound or a margin) and its mode."""
    found = {}
    for key in flat:
        parent, _, leaf = key.rpartition(".")
        if leaf in GATE_LEAVES:
            found[parent] = str(flat.get(f"{parent}.mode", Mode.BLOCK))
    return found


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    return "`true`" if value is True else "`false`" if value is False else f"`{value}`"


def loosened(base: Mapping[str, Any], current: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(key, what happened) for every way `current`'s gates judge less than `base`'s."""
    before = flatten(base.get("gates") or {}, "gates.")
    now = flatten(current.get("gates") or {}, "gates.")
    found: list[tuple[str, str]] = []
    gates_before, gates_now = _gates(before), _gates(now)
    for gate, mode in gates_before.items():
        if gate not in gates_now:
            found.append((gate, "removed"))
        elif _MODE_RANK.get(gates_now[gate], 2) < _MODE_RANK.get(mode, 2):
            found.append((f"{gate}.mode", f"{_shown(mode)} → {_shown(gates_now[gate])}"))
    for key, old in before.items():
        leaf = key.rpartition(".")[2]
        new = now.get(key)
        if key.rpartition(".")[0] not in gates_now and leaf in GATE_LEAVES:
            continue  # the whole gate went: said above
        if leaf in GATE_LEAVES and key not in now:
            found.append((key, f"removed (was {_shown(old)})"))
        elif (
            _number(old)
            and _number(new)
            and (
                (leaf in BOUNDS_LOWER_IS_LOOSER and new < old)
                or (leaf in BOUNDS_HIGHER_IS_LOOSER and new > old)
            )
        ):
            found.append((key, f"{_shown(old)} → {_shown(new)}"))
    strict_before = before.get("gates.fail_on_inconclusive") is True
    if strict_before and now.get("gates.fail_on_inconclusive") is not True:
        found.append(("gates.fail_on_inconclusive", "`true` → `false`"))
    return sorted(found)
