"""What a quality gate found and whether it blocks: the one type every reader of gates.json shares.

`conveyor evaluate` writes `metrics/gates.json` from these types; `conveyor gate`, the summary,
the pull-request report and the tests read it back into them. The rule that decides the build
(`GateResult.blocks`) and the names of statuses and modes live here only, so no reader can
re-derive them differently (an earlier copy in the report ignored `fail_on_inconclusive`).

Standard library only: `params.yaml`'s schema (config.py) takes the modes from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, Literal

Kind = Literal["overall", "slice", "fairness"]
Direction = Literal["min", "max"]


class Status(StrEnum):
    """What the interval says about the bound. The order of the members is the reading
    order: failures first, then what could not be decided, then passes, then the rest."""

    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    PASS = "pass"
    NOT_GATED = "not gated"


class Mode(StrEnum):
    """What a gate may do to the build, set per gate in `params.yaml`: a team adopts gates
    gradually (`report` first, `block` once the bound is trusted)."""

    OFF = "off"
    REPORT = "report"
    BLOCK = "block"


_READING_ORDER = {status: rank for rank, status in enumerate(Status)}


@dataclass(frozen=True)
class GateResult:
    """One judged number: what, where, how sure, against what, and the verdict."""

    id: str
    kind: Kind
    metric: str
    group: str | None
    value: float | None
    ci_low: float | None
    ci_high: float | None
    ci_level: float
    bound: float
    direction: Direction
    n: int
    positives: int | None
    status: Status
    mode: Mode
    message: str

    def blocks(self, fail_on_inconclusive: bool) -> bool:
        """The rule that decides the build: a blocking gate that failed or, when the team
        asked for it, could not decide."""
        if self.mode is not Mode.BLOCK:
            return False
        if self.status is Status.FAIL:
            return True
        return fail_on_inconclusive and self.status is Status.INCONCLUSIVE

    @property
    def needs_attention(self) -> bool:
        """Failed or undecided, whatever the mode: what a reviewer should see unfolded."""
        return self.status in (Status.FAIL, Status.INCONCLUSIVE)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": str(self.status), "mode": str(self.mode)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> GateResult:
        """Read one entry of gates.json; an unknown status or mode is an error, not a pass."""
        names = {f.name for f in fields(cls)}
        missing = sorted(names - raw.keys())
        if missing:
            raise ValueError(f"gate {raw.get('id', '?')!r} lacks {', '.join(missing)}")
        values = {name: raw[name] for name in names}
        values["status"] = Status(raw["status"])
        values["mode"] = Mode(raw["mode"])
        return cls(**values)


@dataclass(frozen=True)
class Verdict:
    """Every gate of one evaluation and what they decide together."""

    gates: tuple[GateResult, ...]
    fail_on_inconclusive: bool
    bootstrap: Mapping[str, Any] = field(default_factory=dict)

    @property
    def blocking(self) -> tuple[GateResult, ...]:
        """The gates that stop the build, in reading order."""
        return tuple(g for g in self.ordered() if g.blocks(self.fail_on_inconclusive))

    @property
    def blocked(self) -> bool:
        return bool(self.blocking)

    @property
    def outcome(self) -> Status:
        """`fail` when anything blocks, else `pass`: the headline of gates.json."""
        return Status.FAIL if self.blocked else Status.PASS

    def counts(self) -> dict[Status, int]:
        return {status: sum(g.status is status for g in self.gates) for status in Status}

    def ordered(self) -> list[GateResult]:
        """Failures first, then by id: the order of every listing of gates."""
        return sorted(self.gates, key=lambda g: (_READING_ORDER[g.status], g.id))

    def as_dict(self) -> dict[str, Any]:
        """The content of `metrics/gates.json`."""
        document: dict[str, Any] = {
            "verdict": str(self.outcome),
            "fail_on_inconclusive": self.fail_on_inconclusive,
            "counts": {str(status): n for status, n in self.counts().items()},
            "gates": [g.as_dict() for g in self.gates],
        }
        if self.bootstrap:
            document["bootstrap"] = dict(self.bootstrap)
        return document

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Verdict:
        """Read gates.json back. The verdict is recomputed from the gates by `blocks`, never
        taken from the stored headline, so a hand-edited headline cannot pass a build."""
        return cls(
            gates=tuple(GateResult.from_dict(g) for g in raw.get("gates", [])),
            fail_on_inconclusive=bool(raw.get("fail_on_inconclusive", False)),
            bootstrap=dict(raw.get("bootstrap", {})),
        )


def format_table(verdict: Verdict) -> str:
    """The gates for a terminal: failures first, one line per gate, then the verdict."""
    gates = verdict.ordered()
    width = max((len(g.status) for g in gates), default=4)
    lines = [f"{g.status.upper():<{width}}  {g.mode:<6}  {g.message}" for g in gates]
    lines.append(format_verdict(verdict))
    return "\n".join(lines)


def format_verdict(verdict: Verdict) -> str:
    """`verdict: PASS (2 fail, 27 pass)`: the last line of `conveyor gate` and of the summary."""
    listed = ", ".join(f"{n} {status}" for status, n in verdict.counts().items() if n)
    listed = listed or "no gates configured"
    return f"verdict: {verdict.outcome.upper()} ({listed})"
