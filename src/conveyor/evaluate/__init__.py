"""Evaluation of a fitted model on the held-out test set.

Pure functions over labels and probabilities; the `evaluate` stage writes their results. The
gates, the tests and the report all read these numbers, never recompute them.
"""
