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
