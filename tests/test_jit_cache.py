"""Parallel first runs in a fresh environment: librosa's numba cache is filled once, safely."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genrepipe import jit_cache
from genrepipe.features import FEATURE_SETS

_CHILD = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
import numpy as np
from genrepipe.features import extract, seed87
y = (0.1 * np.random.default_rng(1).standard_normal(22050 * 3)).astype(np.float32)
if sys.argv[1] == "direct":  # a feature function called as a library, as tools and tests do
    seed87(y, 22050, n_frames=64)
extract("seed87", y, 22050, {"n_frames": 64})
extract("stats", y, 22050)
print("done")
"""


def _start(cache_dir, how="extract"):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, how],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_jobs_starting_together_on_an_empty_cache_all_survive(tmp_path):
    """Six processes on an empty numba cache (as the first `snakemake --cores 8` after
    `pip install`): without the lock some died of a segmentation fault loading a
    half-written cache file; each must finish, one of them compiling for all, whether
    it calls extract or a feature function itself."""
    processes = [_start(tmp_path, how) for how in ("extract", "direct") * 3]
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


class _Filled(Exception):
    """Raised by a stand-in ensure_filled: the function asked for the cache first."""


@pytest.fixture()
def filling_raises(monkeypatch) -> None:
    """ensure_filled replaced by one raising :class:`_Filled`."""

    def filled():
        raise _Filled

    monkeypatch.setattr(jit_cache, "ensure_filled", filled)


@pytest.mark.parametrize("name", [*FEATURE_SETS, "seed87_reference"])
def test_every_feature_function_fills_the_cache_before_its_work(name, filling_raises):
    """A test worker calling seed87 itself (as tools/benchmark_extraction.py does) beside
    another filling the cache compiled librosa's functions unlocked and died of a
    segmentation fault in peak_pick (CI, a fresh environment): only extract filled it."""
    from genrepipe import features

    y = (0.1 * np.random.default_rng(0).standard_normal(22050 * 4)).astype(np.float32)
    with pytest.raises(_Filled):
        getattr(features, name)(y, 22050)


def test_decoding_through_librosa_fills_the_cache_first(filling_raises, tmp_path):
    """A clip libsndfile cannot read falls back to librosa.load, whose modules compile
    numba code as they load, in check_audio jobs running side by side."""
    from genrepipe.audio import AudioError, load_audio

    clip = tmp_path / "song.mp3"
    clip.write_bytes(b"not audio" * 100)
    with pytest.raises(AudioError, match="_Filled"):  # load_audio names what failed
        load_audio(clip, sr=22050)


def test_the_marker_names_the_cpu_model_numba_compiles_for(monkeypatch):
    """numba keeps one cache per CPU model: a cluster node of another model, finding a
    marker left by the first, skipped the lock and compiled beside its neighbours."""
    import numba

    here = jit_cache.marker_path()
    monkeypatch.setattr(numba.config, "CPU_NAME", "another-cpu")
    assert jit_cache.marker_path() != here
    assert jit_cache.marker_path().parent == here.parent


def test_a_lock_file_that_cannot_be_opened_is_passed_over(tmp_path, caplog):
    """Another user's lock file in a shared temporary folder, not writable by this one,
    stopped every extraction job with a PermissionError (a folder stands in for it
    here: it cannot be opened as a file either); the next lock is taken instead."""
    import filelock

    theirs, mine = tmp_path / "theirs.lock", tmp_path / "mine.lock"
    theirs.mkdir()
    with caplog.at_level("WARNING", logger="genrepipe"), jit_cache._exclusive(theirs, mine):
        with pytest.raises(filelock.Timeout):  # held: no other process may take it
            filelock.FileLock(mine).acquire(timeout=0)
    assert f"cannot lock {theirs}" in caplog.text
    filelock.FileLock(mine).acquire(timeout=0)  # and released after


@pytest.mark.skipif(jit_cache.fcntl is None, reason="no fcntl (Windows): the lock is filelock's")
def test_a_file_system_without_locks_still_fills_the_cache(monkeypatch, tmp_path, caplog):
    """NFS mounted without locks: flock fails with ENOLCK, which failed every extraction.
    The jobs of one machine then serialize on a lock in its temporary folder, so that
    a local run does not bring back the crash the lock prevents; with no lock at all,
    the cache is filled unlocked."""
    import errno

    cache, local = tmp_path / "cache", tmp_path / "local"
    cache.mkdir()
    local.mkdir()
    locked, runs, lockable = [], [], {cache: False, local: True}
    real_flock = jit_cache.fcntl.flock

    def flock(handle, operation):
        if not lockable[Path(handle.name).parent]:
            raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))
        if operation == jit_cache.fcntl.LOCK_EX:
            locked.append(Path(handle.name))
        real_flock(handle, operation)

    monkeypatch.setattr(jit_cache.fcntl, "flock", flock)
    monkeypatch.setattr(jit_cache.tempfile, "gettempdir", lambda: str(local))
    monkeypatch.setattr(jit_cache, "marker_path", lambda: cache / "genrepipe-filled-test")
    monkeypatch.setattr(jit_cache, "_run_every_feature_set", lambda: runs.append(len(locked)))
    for local_locks in (True, False):
        lockable[local] = local_locks
        (cache / "genrepipe-filled-test").unlink(missing_ok=True)
        monkeypatch.setattr(jit_cache, "_filled", False)
        locked.clear()
        caplog.clear()
        with caplog.at_level("WARNING", logger="genrepipe"):
            jit_cache.ensure_filled()
        assert (cache / "genrepipe-filled-test").exists()
        assert locked == ([local / "genrepipe-numba.lock"] if local_locks else [])
        assert f"cannot lock {cache / 'genrepipe-numba.lock'}" in caplog.text
        assert ("compiling without a lock" in caplog.text) is not local_locks
    assert runs == [1, 0]


def test_a_read_only_librosa_puts_the_marker_where_numba_caches(monkeypatch):
    """numba caches a read-only installation's functions in the user's cache folder:
    the marker beside librosa could never be written, so every job compiled again."""
    import numba
    from numba.misc.appdirs import AppDirs

    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setattr(jit_cache.os, "access", lambda path, mode: False)
    user_cache = AppDirs(appname="numba", appauthor=False).user_cache_dir
    assert jit_cache.cache_folder() == jit_cache.Path(user_cache)


def test_a_job_that_waited_for_the_lock_does_not_compile_again(monkeypatch, tmp_path):
    """Jobs started together queue on the lock: those after the first find the marker
    the first left and must not compile (and race on the cache files) again."""
    import contextlib

    marker = tmp_path / "genrepipe-filled-test"
    runs = []

    @contextlib.contextmanager
    def filled_by_another_job(*locks):
        marker.touch()  # the job holding the lock finished while this one waited
        yield

    monkeypatch.setattr(jit_cache, "marker_path", lambda: marker)
    monkeypatch.setattr(jit_cache, "_exclusive", filled_by_another_job)
    monkeypatch.setattr(jit_cache, "_run_every_feature_set", lambda: runs.append(1))
    monkeypatch.setattr(jit_cache, "_filled", False)
    jit_cache.ensure_filled()
    assert runs == []
