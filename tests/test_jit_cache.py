"""Parallel first runs in a fresh environment: librosa's numba cache is filled once, safely."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_CHILD = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
import numpy as np
from genrepipe.features import extract
y = (0.1 * np.random.default_rng(1).standard_normal(22050 * 3)).astype(np.float32)
extract("seed87", y, 22050, {"n_frames": 64})
extract("stats", y, 22050)
print("done")
"""


def _start(cache_dir):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_jobs_starting_together_on_an_empty_cache_all_survive(tmp_path):
    """Six processes on an empty numba cache (as the first `snakemake --cores 8` after
    `pip install`): without the lock some died of a segmentation fault loading a
    half-written cache file; each must finish, one of them compiling for all."""
    processes = [_start(tmp_path) for _ in range(6)]
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    assert [p.returncode for p in processes] == [0] * 6, outputs
    assert all(out.rstrip().endswith("done") for out in outputs)
    compiled = [out for out in outputs if "compiling librosa's numba functions" in out]
    assert len(compiled) == 1
    assert list(tmp_path.glob("genrepipe-filled-*"))

    # A later process finds the marker: no lock, no second compilation.
    later = _start(tmp_path)
    out = later.communicate(timeout=600)[0]
    assert later.returncode == 0 and "compiling" not in out
