"""`params.yaml` -> typed, validated settings: the one place that reads and checks parameters.

Every stage calls `load_settings` once and passes the result down, so a typo in a key or an
impossible value stops the run before any data is touched, with a message naming the key.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from conveyor.errors import ConfigError
from conveyor.evaluate.registry import (
    known_disparities,
    known_disparity_margins,
    known_metric_margins,
    known_metrics,
)
from conveyor.verdict import Mode

EstimatorName = Literal["logistic_regression", "random_forest", "hist_gradient_boosting"]
ColumnName = Annotated[str, Field(min_length=1)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class _Strict(BaseModel):
    """Unknown keys are errors: a misspelt key must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """One data file; several files of the same layout are concatenated in order."""

    path: Path
    sha256: Sha256 | None = Field(
        default=None,
        description="Checksum of the uncompressed content, checked on every load.",
    )


class CsvOptions(_Strict):
    """How to parse a delimited text file (gzip is detected from the `.gz` suffix)."""

    header: bool = True
    columns: list[ColumnName] | None = Field(
        default=None, description="Column names, required when the file has no header row."
    )
    separator: str = Field(default=",", min_length=1)
    skip_initial_space: bool = False
    comment: str | None = Field(default=None, min_length=1, max_length=1)
    na_values: list[str] = Field(default_factory=list)

    @field_validator("columns")
    @classmethod
    def _columns_are_unique(cls, columns: list[str] | None) -> list[str] | None:
        if columns and len(set(columns)) != len(columns):
            raise ValueError(f"`columns` has duplicate names: {_duplicates(columns)}")
        return columns

    @model_validator(mode="after")
    def _columns_when_headerless(self) -> CsvOptions:
        if not self.header and not self.columns:
            raise ValueError("`columns` must list the column names when `header` is false")
        return self


class DataSettings(_Strict):
    """What the raw data looks like and which columns play which role."""

    sources: list[Source] = Field(min_length=1)
    format: Literal["csv", "parquet"] = "csv"
    csv: CsvOptions = Field(default_factory=CsvOptions)
    target: ColumnName
    positive_label: str | int | bool
    target_value_map: dict[str, str] = Field(
        default_factory=dict,
        description="Raw target values to rewrite before validation (e.g. '>50K.' -> '>50K').",
    )
    numeric_features: list[ColumnName] = Field(default_factory=list)
    categorical_features: list[ColumnName] = Field(default_factory=list)
    sensitive_features: list[ColumnName] = Field(default_factory=list)
    use_sensitive_features: bool = False
    slice_columns: list[ColumnName] = Field(default_factory=list)
    drop_columns: list[ColumnName] = Field(default_factory=list)
    pseudonymise_columns: list[ColumnName] = Field(default_factory=list)
    pseudonymise_key_env: str = Field(
        default="CONVEYOR_PSEUDONYM_KEY",
        description="Environment variable holding the HMAC key for pseudonymised columns.",
    )
    pseudonymise_unkeyed: bool = Field(
        default=False,
        description="Allow a plain SHA-256 when the key is unset: for demos only, since a "
        "dictionary attack reverses an unkeyed hash of a guessable value such as an e-mail.",
    )
    deduplicate: bool = True

    @model_validator(mode="after")
    def _roles_are_consistent(self) -> DataSettings:
        roles = {
            "numeric_features": self.numeric_features,
            "categorical_features": self.categorical_features,
            "sensitive_features": self.sensitive_features,
            "slice_columns": self.slice_columns,
            "drop_columns": self.drop_columns,
            "pseudonymise_columns": self.pseudonymise_columns,
        }
        for key, columns in roles.items():
            if len(set(columns)) != len(columns):
                raise ValueError(f"`{key}` lists a column twice: {_duplicates(columns)}")
        both = set(self.numeric_features) & set(self.categorical_features)
        if both:
            raise ValueError(
                f"columns {sorted(both)} are in both `numeric_features` and "
                "`categorical_features`; each feature has one type"
            )
        if not self.numeric_features and not self.categorical_features:
            raise ValueError("no features: list at least one numeric or categorical feature")
        used = (
            set(self.numeric_features)
            | set(self.categorical_features)
            | set(self.sensitive_features)
            | set(self.slice_columns)
        )
        if self.target in used | set(self.drop_columns) | set(self.pseudonymise_columns):
            raise ValueError(
                f"the target `{self.target}` cannot also be a feature, sensitive, slice, "
                "dropped or pseudonymised column"
            )
        dropped_but_used = set(self.drop_columns) & (used | set(self.pseudonymise_columns))
        if dropped_but_used:
            raise ValueError(
                f"columns {sorted(dropped_but_used)} are in `drop_columns` but also used "
                "elsewhere; a dropped column is gone before any other step sees it"
            )
        features = set(self.numeric_features) | set(self.categorical_features)
        hashed_features = set(self.pseudonymise_columns) & set(self.numeric_features)
        if hashed_features:
            raise ValueError(
                f"pseudonymised columns {sorted(hashed_features)} become strings and cannot "
                "be numeric features"
            )
        if self.use_sensitive_features:
            missing = [c for c in self.sensitive_features if c not in features]
            if missing:
                raise ValueError(
                    f"`use_sensitive_features` is true but {missing} are not listed in "
                    "`numeric_features` or `categorical_features`"
                )
        if self.csv.columns is not None:
            known = set(self.csv.columns)
            named = used | {self.target} | set(self.drop_columns) | set(self.pseudonymise_columns)
            unknown = sorted(named - known)
            if unknown:
                raise ValueError(
                    f"columns {unknown} are not among `csv.columns` ({', '.join(self.csv.columns)})"
                )
        return self

    @property
    def model_numeric_features(self) -> list[str]:
        """Numeric inputs of the model: sensitive columns only when explicitly allowed."""
        return [c for c in self.numeric_features if self._model_may_use(c)]

    @property
    def model_categorical_features(self) -> list[str]:
        """Categorical inputs of the model: sensitive columns only when explicitly allowed."""
        return [c for c in self.categorical_features if self._model_may_use(c)]

    @property
    def model_features(self) -> list[str]:
        """All model inputs, in the order the exported model expects them."""
        return self.model_numeric_features + self.model_categorical_features

    @property
    def evaluation_columns(self) -> list[str]:
        """Columns kept beside the features for evaluation (sensitive groups, slices)."""
        extra = [*self.sensitive_features, *self.slice_columns]
        return [c for c in dict.fromkeys(extra) if c not in self.model_features]

    def _model_may_use(self, column: str) -> bool:
        return self.use_sensitive_features or column not in self.sensitive_features


class SplitSettings(_Strict):
    """Hold-out split: the test set is never seen by training or search."""

    test_fraction: float = Field(gt=0.0, lt=1.0)
    seed: int = Field(ge=0)
    stratify: bool = True


class UniformSpace(_Strict):
    """A continuous range, sampled evenly or on a log scale."""

    distribution: Literal["uniform", "loguniform"]
    low: float
    high: float

    @field_validator("low")
    @classmethod
    def _loguniform_low_is_positive(cls, low: float, info: ValidationInfo) -> float:
        if info.data.get("distribution") == "loguniform" and low <= 0:
            raise ValueError("must be > 0 for a loguniform distribution")
        return low

    @field_validator("high")
    @classmethod
    def _high_above_low(cls, high: float, info: ValidationInfo) -> float:
        low = info.data.get("low")
        if low is not None and not low < high:
            raise ValueError(f"must be above `low` ({low})")
        return high


class IntSpace(_Strict):
    """Whole numbers from `low` to `high`, both included."""

    distribution: Literal["int"]
    low: int
    high: int

    @field_validator("high")
    @classmethod
    def _high_not_below_low(cls, high: int, info: ValidationInfo) -> int:
        low = info.data.get("low")
        if low is not None and high < low:
            raise ValueError(f"must not be below `low` ({low})")
        return high


# A search-space entry is a union tagged by `_space_entry_kind`. pydantic puts the tag of the
# branch that failed into an error's location; these tags are ours, not pydantic's internal
# labels, so `_format_location` can leave them out and show only the user's key path.
UNIFORM_TAG = "<uniform or loguniform>"
INT_TAG = "<int>"
CHOICES_TAG = "<list of choices>"
_UNION_TAGS = frozenset({UNIFORM_TAG, INT_TAG, CHOICES_TAG})
_TAG_OF_DISTRIBUTION = {"uniform": UNIFORM_TAG, "loguniform": UNIFORM_TAG, "int": INT_TAG}


def _space_entry_kind(entry: Any) -> str | None:
    """The tag of a search-space entry, from its shape; None when it has no known shape."""
    if isinstance(entry, UniformSpace):
        return UNIFORM_TAG
    if isinstance(entry, IntSpace):
        return INT_TAG
    if isinstance(entry, list | tuple):
        return CHOICES_TAG
    if isinstance(entry, Mapping):
        return _TAG_OF_DISTRIBUTION.get(str(entry.get("distribution")))
    return None


Choices = Annotated[list[Any], Field(min_length=1)]
SpaceEntry = Annotated[
    Annotated[UniformSpace, Tag(UNIFORM_TAG)]
    | Annotated[IntSpace, Tag(INT_TAG)]
    | Annotated[Choices, Tag(CHOICES_TAG)],
    Discriminator(
        _space_entry_kind,
        custom_error_type="search_space_entry",
        custom_error_message="expected a list of choices, or a mapping of `distribution` "
        "(uniform, loguniform or int), `low` and `high`",
    ),
]


class SearchSettings(_Strict):
    """Optional hyper-parameter search, run on the training set only with stratified CV."""

    enabled: bool = False
    strategy: Literal["randomized", "halving"] = "randomized"
    n_candidates: int = Field(default=20, ge=1)
    cv_folds: int = Field(default=5, ge=2)
    scoring: str = "roc_auc"
    space: dict[str, SpaceEntry] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _space_when_enabled(self) -> SearchSettings:
        if self.enabled and not self.space:
            raise ValueError("`space` must name at least one hyper-parameter when enabled")
        return self


class ReweightingSettings(_Strict):
    """Reweighing (Kamiran & Calders): weight each (group, label) cell so that group and label
    look independent in training. Changes only sample weights, so the export is unchanged."""

    enabled: bool = False
    sensitive_feature: ColumnName | None = None

    @model_validator(mode="after")
    def _feature_when_enabled(self) -> ReweightingSettings:
        if self.enabled and not self.sensitive_feature:
            raise ValueError("`sensitive_feature` must name the column to reweight by")
        return self


class ModelSettings(_Strict):
    """Which estimator, its hyper-parameters, and the decision threshold."""

    estimator: EstimatorName
    seed: int = Field(ge=0)
    threshold: float = Field(default=0.5, gt=0.0, lt=1.0)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    search: SearchSettings = Field(default_factory=SearchSettings)
    reweighting: ReweightingSettings = Field(default_factory=ReweightingSettings)


class EvaluateSettings(_Strict):
    """Evaluation knobs that do not gate anything."""

    calibration_bins: int = Field(default=10, ge=2, le=100)
    curve_points: int = Field(
        default=200, ge=10, le=10_000, description="Points kept per ROC/PR curve in plots/."
    )


class ExportSettings(_Strict):
    """ONNX export and its parity check against scikit-learn."""

    parity_tolerance: float = Field(default=1e-4, gt=0.0, le=0.01)
    target_opset: int = Field(default=17, ge=13)
    reference_bins: int = Field(
        default=10, ge=2, le=100, description="Quantile bins per numeric feature for drift."
    )


MetricBounds = Annotated[dict[str, "Bound"], AfterValidator(known_metrics)]
"""Bounds keyed by metrics of the registry (`conveyor.evaluate.registry.METRICS`)."""
DisparityBounds = Annotated[dict[str, "Bound"], AfterValidator(known_disparities)]
"""Bounds keyed by disparities of the registry (`conveyor.evaluate.registry.DISPARITIES`)."""
MetricMargins = Annotated[dict[str, "Margin"], AfterValidator(known_metric_margins)]
"""Non-inferiority margins keyed by metrics of the registry, each the way it gets worse."""
DisparityMargins = Annotated[dict[str, "Margin"], AfterValidator(known_disparity_margins)]
"""Non-inferiority margins keyed by disparities of the registry."""


class Bound(_Strict):
    """One gate: a minimum or a maximum, and whether it blocks, reports, or is off."""

    min: float | None = None
    max: float | None = None
    mode: Mode = Mode.BLOCK

    @model_validator(mode="after")
    def _exactly_one_of_min_or_max(self) -> Bound:
        if (self.min is None) == (self.max is None):
            raise ValueError("give exactly one of `min` or `max`")
        return self

    @property
    def direction(self) -> Literal["min", "max"]:
        return "min" if self.min is not None else "max"

    @property
    def value(self) -> float:
        bound = self.min if self.min is not None else self.max
        assert bound is not None
        return bound


class Margin(_Strict):
    """A non-inferiority gate: how much worse than the champion a number may get.

    Judged on the difference challenger - champion, like a bound on any other number:
    `max_drop: m` is a minimum of -m on the difference, `max_increase: m` a maximum of m.
    """

    max_drop: float | None = Field(default=None, ge=0.0)
    max_increase: float | None = Field(default=None, ge=0.0)
    mode: Mode = Mode.BLOCK

    @model_validator(mode="after")
    def _exactly_one_of_drop_or_increase(self) -> Margin:
        if (self.max_drop is None) == (self.max_increase is None):
            raise ValueError("give exactly one of `max_drop` or `max_increase`")
        return self

    @property
    def worse_when(self) -> Literal["lower", "higher"]:
        return "lower" if self.max_drop is not None else "higher"

    def as_bound(self) -> Bound:
        """The bound on the difference challenger - champion that this margin means."""
        if self.max_drop is not None:
            return Bound(min=-self.max_drop, mode=self.mode)
        assert self.max_increase is not None
        return Bound(max=self.max_increase, mode=self.mode)


class Support(_Strict):
    """Below this, a group's numbers are reported but never gated: too few rows to judge."""

    rows: int = Field(default=100, ge=1)
    positives: int = Field(default=30, ge=0)


class BootstrapSettings(_Strict):
    """Confidence intervals for every gated number (Poisson bootstrap, seeded)."""

    resamples: int = Field(default=1000, ge=100, le=100_000)
    level: float = Field(default=0.95, gt=0.5, lt=1.0)
    seed: int = Field(default=0, ge=0)


class SliceGates(_Strict):
    """Per-slice minimums over `data.slice_columns`; numeric columns are cut into bins."""

    min_support: Support = Field(default_factory=Support)
    bins: dict[str, list[float]] = Field(default_factory=dict)
    metrics: MetricBounds = Field(default_factory=dict)

    @field_validator("bins")
    @classmethod
    def _bin_edges_increase(cls, bins: dict[str, list[float]]) -> dict[str, list[float]]:
        for column, edges in bins.items():
            if len(edges) < 2 or any(b <= a for a, b in itertools.pairwise(edges)):
                raise ValueError(
                    f"bins for {column!r} must be at least two strictly increasing edges"
                )
        return bins


class FairnessGates(_Strict):
    """Bounds per sensitive feature (or intersection `a&b`) on fairlearn's disparity metrics."""

    min_support: Support = Field(default_factory=lambda: Support(rows=100, positives=30))
    intersections: list[list[ColumnName]] = Field(default_factory=list)
    bounds: dict[str, DisparityBounds] = Field(default_factory=dict)


class DataGates(_Strict):
    """Checks on the prepared data that run before any model is judged."""

    positive_rate_min: float = Field(default=0.01, ge=0.0, le=1.0)
    positive_rate_max: float = Field(default=0.99, ge=0.0, le=1.0)
    max_positive_rate_gap: float = Field(
        default=0.02, ge=0.0, le=1.0, description="Largest |train - test| positive-rate gap."
    )


class ChampionGates(_Strict):
    """Gates against the champion (the model in production): the challenger may be worse by
    at most a margin, judged on the paired bootstrap interval of the difference."""

    overall: MetricMargins = Field(default_factory=dict)
    slices: MetricMargins = Field(
        default_factory=dict,
        description="Per slice with the support of gates.slices.min_support.",
    )
    fairness: dict[str, DisparityMargins] = Field(
        default_factory=dict, description="Per sensitive feature or intersection, as bounds."
    )


class GateSettings(_Strict):
    """The quality gates. A gate fails only when its whole confidence interval is past the
    bound; an interval straddling it is `inconclusive` (failing only if configured)."""

    fail_on_inconclusive: bool = False
    bootstrap: BootstrapSettings = Field(default_factory=BootstrapSettings)
    overall: MetricBounds = Field(default_factory=dict)
    slices: SliceGates = Field(default_factory=SliceGates)
    fairness: FairnessGates = Field(default_factory=FairnessGates)
    data: DataGates = Field(default_factory=DataGates)
    champion: ChampionGates = Field(default_factory=ChampionGates)


class MonitorSettings(_Strict):
    """Drift of the inputs from the training data (`conveyor drift`) and the released model's
    performance on newly labelled data (`conveyor monitor`); docs/monitoring.md."""

    psi_threshold: float = Field(
        default=0.2, gt=0.0, description="Population stability index past which an input drifted."
    )
    min_rows: int = Field(
        default=100,
        ge=1,
        description="Fewest rows a sample needs before drift or performance is judged.",
    )
    p_value: float = Field(
        default=0.01,
        gt=0.0,
        lt=1.0,
        description="Significance level of the two-sample tests against the training data "
        "(reported beside the PSI; the PSI alone decides what drifted).",
    )
    max_drop: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="How much worse than at release a metric may get on newly labelled data "
        "(`conveyor monitor`) before it counts as dropped: judged on its whole interval.",
    )


class Settings(_Strict):
    """Everything in `params.yaml`, validated."""

    data: DataSettings
    split: SplitSettings
    model: ModelSettings
    evaluate: EvaluateSettings = Field(default_factory=EvaluateSettings)
    export: ExportSettings = Field(default_factory=ExportSettings)
    gates: GateSettings = Field(default_factory=GateSettings)
    monitor: MonitorSettings = Field(default_factory=MonitorSettings)

    @model_validator(mode="after")
    def _reweighting_names_a_sensitive_feature(self) -> Settings:
        reweighting = self.model.reweighting
        sensitive = self.data.sensitive_features
        if reweighting.enabled and reweighting.sensitive_feature not in sensitive:
            raise ValueError(
                f"model.reweighting.sensitive_feature {reweighting.sensitive_feature!r} is not "
                "in data.sensitive_features"
            )
        return self

    @model_validator(mode="after")
    def _gates_name_known_columns(self) -> Settings:
        data, gates = self.data, self.gates
        numeric = set(data.numeric_features)
        for column in gates.slices.bins:
            if column not in data.slice_columns:
                raise ValueError(
                    f"gates.slices.bins names {column!r}, which is not in data.slice_columns"
                )
        unbinned = [c for c in data.slice_columns if c in numeric and c not in gates.slices.bins]
        if unbinned:
            raise ValueError(
                f"numeric slice columns {unbinned} need bin edges in gates.slices.bins"
            )
        known = set(data.sensitive_features)
        for combination in gates.fairness.intersections:
            unknown = [c for c in combination if c not in known]
            if unknown or len(combination) < 2:
                raise ValueError(
                    f"gates.fairness.intersections entry {combination} must combine two or "
                    "more of data.sensitive_features"
                )
            known.add("&".join(combination))
        for where, named in (
            ("gates.fairness.bounds", gates.fairness.bounds),
            ("gates.champion.fairness", gates.champion.fairness),
        ):
            stray = [name for name in named if name not in known]
            if stray:
                raise ValueError(
                    f"{where} names {stray}; use data.sensitive_features or a "
                    "configured intersection (joined with '&')"
                )
        return self


def _duplicates(items: list[str]) -> list[str]:
    seen: set[str] = set()
    return sorted({x for x in items if x in seen or seen.add(x)})  # type: ignore[func-returns-value]


def _format_location(location: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in location:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif part in _UNION_TAGS:
            continue
        else:
            parts.append(("." if parts else "") + str(part))
    return "".join(parts) or "(top level)"


def _explain(error: ValidationError, source: str) -> ConfigError:
    lines = []
    for item in error.errors(include_url=False):
        where = _format_location(tuple(item["loc"]))
        what = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            what = "unknown key (check the spelling; see README for the accepted keys)"
        elif "input" in item and item["type"] not in {"missing"}:
            what = f"{what} (got {item['input']!r})"
        lines.append(f"  {where}: {what}")
    return ConfigError(f"invalid parameters in {source}:\n" + "\n".join(lines))


def parse_settings(raw: Mapping[str, Any], source: str = "params") -> Settings:
    """Validate already-parsed parameters; pure, so tests can feed dictionaries."""
    try:
        return Settings.model_validate(raw)
    except ValidationError as error:
        raise _explain(error, source) from None


def load_settings(path: Path) -> Settings:
    """Read and validate `params.yaml`; every failure names the file and the key."""
    return parse_settings(read_params(path), str(path))


def read_params(path: Path) -> Mapping[str, Any]:
    """The raw sections of `params.yaml`, before defaults: what DVC sees of the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"parameters file {path} does not exist") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path} must hold a mapping of sections (data, split, model, ...)")
    return raw
