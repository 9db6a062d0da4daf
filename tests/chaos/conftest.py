"""Under SAMPLEMILL_REQUIRE_SERVICES=1 (CI) a chaos test that cannot run fails instead of
skipping: its private services come from helpers that skip when redis-server or PostgreSQL's
server binaries are missing (tests/faults/own_redis.py, tests/chaos/own_postgres.py), and a
skipped chaos suite would pass CI having proved nothing. Expected failures stay as they are."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from tests.services import REQUIRED


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Generator[None, Any, None]:
    """Turn a chaos test's skip into a failure when the services are required."""
    outcome = yield
    report = outcome.get_result()
    if (REQUIRED and report.skipped and item.get_closest_marker("chaos") is not None
            and not hasattr(report, "wasxfail")):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"SAMPLEMILL_REQUIRE_SERVICES=1 but the chaos test skipped: {reason}"
