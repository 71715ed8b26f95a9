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
from typing import Any, Literal, get_args

from conveyor.errors import StaleOutputError

Kind = Literal["overall", "slice", "fairness", "champion"]
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


def too_small_reason(rows: int, positives: int) -> str:
    """Why a group too small to judge is not gated. Such a gate names the group in
    gates.json, but the public report counts it instead of describing it."""
    return f"{_TOO_SMALL} {rows} rows / {positives} positives"


_TOO_SMALL = "support below"


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
    def too_small(self) -> bool:
        """Not gated because its group has too few rows or positives to judge."""
        return self.status is Status.NOT_GATED and f"({_TOO_SMALL} " in self.message

    @property
    def needs_attention(self) -> bool:
        """Failed or undecided, whatever the mode: what a reviewer should see unfolded."""
        return self.status in (Status.FAIL, Status.INCONCLUSIVE)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status": str(self.status), "mode": str(self.mode)}

    @classmethod
    def from_dict(cls, raw: Any) -> GateResult:
        """Read one entry of gates.json; anything malformed is a `ValueError` naming the gate
        and the field, never a gate that quietly passes."""
        if not isinstance(raw, Mapping):
            raise ValueError(f"a gate must be an object, got {type(raw).__name__}")
        names = {f.name for f in fields(cls)}
        missing = sorted(names - raw.keys())
        where = f"gate {raw.get('id', '?')!r}"
        if missing:
            raise ValueError(f"{where} lacks {', '.join(missing)}")
        values = {name: raw[name] for name in names}
        values["status"] = Status(raw["status"])
        values["mode"] = Mode(raw["mode"])
        _check_choice(where, "kind", raw["kind"], get_args(Kind))
        _check_choice(where, "direction", raw["direction"], get_args(Direction))
        for name in ("id", "metric", "message"):
            _check_type(where, name, raw[name], str)
        _check_type(where, "group", raw["group"], str, optional=True)
        for name in ("value", "ci_low", "ci_high"):
            _check_type(where, name, raw[name], (int, float), optional=True)
        _check_type(where, "ci_level", raw["ci_level"], (int, float))
        _check_type(where, "bound", raw["bound"], (int, float))
        _check_type(where, "n", raw["n"], int)
        _check_type(where, "positives", raw["positives"], int, optional=True)
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
    def from_dict(cls, raw: Any) -> Verdict:
        """Read gates.json back. The verdict is recomputed from the gates by `blocks`, never
        taken from the stored headline, so a hand-edited headline cannot pass a build; a file
        without its list of gates is an error, not a build with nothing to judge."""
        if not isinstance(raw, Mapping):
            raise ValueError(f"a gates file must hold an object, got {type(raw).__name__}")
        gates, strict = raw.get("gates"), raw.get("fail_on_inconclusive")
        if not isinstance(gates, list):
            raise ValueError("`gates` must be the list of gates (an empty list when none)")
        if not isinstance(strict, bool):
            raise ValueError("`fail_on_inconclusive` must be true or false")
        bootstrap = raw.get("bootstrap", {})
        if not isinstance(bootstrap, Mapping):
            raise ValueError("`bootstrap` must be an object")
        return cls(tuple(GateResult.from_dict(g) for g in gates), strict, dict(bootstrap))


def load_verdict(document: Any, where: str) -> Verdict:
    """A parsed gates.json, or an error naming `where`: a file this version cannot read is the
    user's to regenerate (exit 2), never a blocked build (exit 1) nor our bug. `conveyor gate`,
    the summary and the report all read gates files through this."""
    try:
        return Verdict.from_dict(document)
    except ValueError as error:
        raise StaleOutputError(
            f"{where} is not a gates file this version reads ({error}): run `make run` again"
        ) from None


def _check_choice(where: str, name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{where}: `{name}` must be one of {', '.join(allowed)}, got {value!r}")


def _check_type(
    where: str, name: str, value: Any, expected: type | tuple[type, ...], optional: bool = False
) -> None:
    """JSON types, strictly: a boolean is not a number, a number in a string is not one."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, expected):
        raise ValueError(f"{where}: `{name}` has the wrong type ({type(value).__name__})")


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
