"""The model suites. `test_embedded_model.py` checks a number only the embedded data set can
promise; on a team's own data it is not collected at all (rather than collected and skipped,
which would hide a real skip among the "your model" tests that must all run)."""

from __future__ import annotations

from tests.unit.test_embedded_data import EMBEDDED

collect_ignore = [] if EMBEDDED else ["test_embedded_model.py"]
