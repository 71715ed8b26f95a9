"""Conveyor: continuous delivery for tabular scikit-learn models."""

__version__ = "0.1.0"
