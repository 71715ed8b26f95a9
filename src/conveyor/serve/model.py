"""The ONNX model: one onnxruntime session, one call per batch."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnxruntime as ort

from conveyor.contract import REACHES_THRESHOLD
from conveyor.serve.signature import Signature, SignatureError, check_against_graph


class OnnxModel:
    """An inference session bound to its signature; predicts positive-class probabilities."""

    def __init__(self, model_path: Path, signature: Signature, threads: int = 1) -> None:
        if not model_path.is_file():
            raise SignatureError(
                f"model file {model_path} does not exist (set CONVEYOR_MODEL_PATH, or run "
                "`dvc repro` to produce models/model.onnx)"
            )
        options = ort.SessionOptions()
        # One thread per worker: several workers on a few cores beat threads fighting.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                str(model_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own untyped exceptions
            raise SignatureError(f"model file {model_path} cannot be loaded: {error}") from None
        inputs = {i.name: i.type for i in self._session.get_inputs()}
        outputs = [o.name for o in self._session.get_outputs()]
        check_against_graph(signature, inputs, outputs)
        self.signature = signature
        self._positive = signature.classes[signature.positive_index]
        self._negative = signature.classes[1 - signature.positive_index]

    def probabilities(self, columns: dict[str, np.ndarray]) -> list[float]:
        """Positive-class probability per row, from one `run` over the whole batch.

        As Python floats (each float32 widened exactly): what the response carries and what
        `labels` compares, with no further numpy call on the hot path.
        """
        (table,) = self._session.run([self.signature.probability_output], columns)
        scores: list[float] = table[:, self.signature.positive_index].tolist()
        if not all(map(math.isfinite, scores)):  # JSON has no NaN: a 500 of ours, never null
            raise FloatingPointError("the model returned a probability that is not a number")
        return scores

    def labels(self, probabilities: list[float]) -> list[str]:
        """Class names by the contract's threshold rule, the one the pipeline evaluated with
        (on Python floats: compared in float64, as evaluation does, with no numpy call)."""
        positive, negative, threshold = self._positive, self._negative, self.signature.threshold
        return [positive if REACHES_THRESHOLD(p, threshold) else negative for p in probabilities]
