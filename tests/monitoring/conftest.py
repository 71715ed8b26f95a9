"""promtool for the monitoring tests: installed on first use, never skipped when missing."""

from __future__ import annotations

import pytest

from conveyor.config import MonitorSettings, load_settings
from tests.conftest import ROOT
from tests.monitoring.promtool import MonitoringToolsError, ensure_promtool


@pytest.fixture(scope="session")
def promtool_path() -> str:
    """scripts/monitoring-tools.sh's promtool; a test that needs it fails with the reason
    when it cannot be had (a skip would pass a fresh clone that never checked the rules)."""
    try:
        return ensure_promtool()
    except MonitoringToolsError as error:
        pytest.fail(str(error))


@pytest.fixture(scope="session")
def monitor() -> MonitorSettings:
    """params.yaml's `monitor:` section, read as the CLI reads it."""
    return load_settings(ROOT / "params.yaml").monitor
