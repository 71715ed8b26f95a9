"""Where every stage reads and writes, relative to the project root.

`dvc.yaml` declares the same paths, stage by stage; a test keeps the two in step
(tests/model/test_pipeline_definition.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PLOTS = ("roc", "precision_recall", "calibration", "confusion", "fairness")
"""The DVC plot tables `conveyor evaluate` writes, by name (see `ProjectPaths.plot`)."""


@dataclass(frozen=True)
class ProjectPaths:
    """All pipeline files of one project; built once from the root and passed down."""

    root: Path

    @property
    def prepared_dir(self) -> Path:
        return self.root / "data" / "prepared"

    @property
    def train_data(self) -> Path:
        return self.prepared_dir / "train.parquet"

    @property
    def test_data(self) -> Path:
        return self.prepared_dir / "test.parquet"

    @property
    def manifest(self) -> Path:
        return self.prepared_dir / "manifest.json"

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def model(self) -> Path:
        return self.models_dir / "model.skops"

    @property
    def onnx_model(self) -> Path:
        return self.models_dir / "model.onnx"

    @property
    def signature(self) -> Path:
        return self.models_dir / "signature.json"

    @property
    def model_card(self) -> Path:
        return self.models_dir / "MODEL_CARD.md"

    @property
    def metrics_dir(self) -> Path:
        return self.root / "metrics"

    @property
    def train_metrics(self) -> Path:
        return self.metrics_dir / "train.json"

    @property
    def metrics(self) -> Path:
        return self.metrics_dir / "metrics.json"

    @property
    def slices(self) -> Path:
        return self.metrics_dir / "slices.json"

    @property
    def fairness(self) -> Path:
        return self.metrics_dir / "fairness.json"

    @property
    def gates(self) -> Path:
        return self.metrics_dir / "gates.json"

    @property
    def export_metrics(self) -> Path:
        return self.metrics_dir / "export.json"

    @property
    def comparison(self) -> Path:
        """`conveyor compare`'s result: not a pipeline output (the champion is not an input
        of the pipeline), so kept out of git and dvc.lock."""
        return self.root / "reports" / "comparison.json"

    @property
    def drift_report(self) -> Path:
        """`conveyor drift`'s result (its markdown beside it, `.md`), out of git like the
        comparison: it judges a batch, not the pipeline's inputs."""
        return self.root / "reports" / "drift.json"

    @property
    def monitor_report(self) -> Path:
        """`conveyor monitor`'s result (and `.md`)."""
        return self.root / "reports" / "monitor.json"

    @property
    def champion_dir(self) -> Path:
        """Where `conveyor champion fetch` puts the champion's files."""
        return self.root / ".champion"

    @property
    def plots_dir(self) -> Path:
        return self.root / "plots"

    def plot(self, name: str) -> Path:
        return self.plots_dir / f"{name}.csv"

    def stage_outputs(self) -> dict[str, tuple[Path, ...]]:
        """Every file each pipeline stage writes, in the order the stages run."""
        return {
            "prepare": (self.train_data, self.test_data, self.manifest),
            "train": (self.model, self.train_metrics),
            "evaluate": (
                self.metrics,
                self.slices,
                self.fairness,
                self.gates,
                *(self.plot(name) for name in PLOTS),
            ),
            "export": (self.onnx_model, self.signature, self.model_card, self.export_metrics),
        }

    def resolve(self, path: Path) -> Path:
        """Paths in params are relative to the project root, never to the caller's cwd."""
        return path if path.is_absolute() else self.root / path
