"""Fixtures shared by the real-timbre tests: one render cache and one analysis per file for the
whole session, so phrases that several tests score are rendered and analysed once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.analysis import realtimbre as R
from tests.services import REQUIRED
from worker.analysis import AnalysisParams, SampleTable, analyze_file


@pytest.fixture(scope="session")
def realtimbre_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh render cache for this session (rendering is part of what is tested); skips,
    naming the Debian package, without fluidsynth or the soundfont, and fails instead under
    SAMPLEMILL_REQUIRE_SERVICES=1."""
    why = R.missing_tools()
    if why is not None:
        if REQUIRED:
            pytest.fail(f"SAMPLEMILL_REQUIRE_SERVICES=1 but {why}")
        pytest.skip(why)
    return tmp_path_factory.mktemp("realtimbre")


@pytest.fixture(scope="session")
def analyzed() -> Callable[[Path], SampleTable]:
    """analyze_file with default parameters, computed once per file in the session."""
    tables: dict[Path, SampleTable] = {}

    def table(path: Path) -> SampleTable:
        if path not in tables:
            tables[path] = analyze_file(path, AnalysisParams())
        return tables[path]

    return table
