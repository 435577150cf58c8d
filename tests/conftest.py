"""Shared fixtures: where the real data lives, and small generated audio."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: ``../shared`` beside the project root: real GTZAN clips and published splits, never committed.
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
GTZAN_MINI = SHARED_DATA / "gtzan_mini" / "genres"
KERELIUK_SPLITS = SHARED_DATA / "gtzan_splits" / "kereliuk2015_filtered"


@pytest.fixture(scope="session")
def gtzan_mini_dir() -> Path:
    """The 100-clip GTZAN mini set, or a skip when ``../shared`` is absent."""
    if not GTZAN_MINI.is_dir():
        pytest.skip(
            f"real GTZAN clips not found at {GTZAN_MINI} (../shared is absent in this clone)"
        )
    return GTZAN_MINI


@pytest.fixture(scope="session")
def kereliuk_splits_dir() -> Path:
    """The artist-filtered split lists of Kereliuk et al. (2015), or a skip when absent."""
    if not KERELIUK_SPLITS.is_dir():
        pytest.skip(f"filtered split lists not found at {KERELIUK_SPLITS} (../shared is absent)")
    return KERELIUK_SPLITS


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One complete run of the workflow on the tiny generated dataset, shared by the
    end-to-end tests that only read its outputs or dry-run against it."""
    from test_workflow import TINY_CONFIG, run_workflow

    workdir = tmp_path_factory.mktemp("tiny")
    run_workflow(workdir, TINY_CONFIG)
    return workdir
