"""The workflow on a student's laptop: Windows and macOS as well as Linux.

CI runs on Linux only, so what differs elsewhere is checked here by its cause:
nothing a job runs needs what only POSIX has (``fcntl``, ``SIGHUP``).
"""

from __future__ import annotations

import subprocess
import sys
import time

import filelock
import pytest

_WITHOUT_POSIX_ONLY = """
import signal, sys, time
from pathlib import Path
import filelock  # first: it takes the system's own lock (msvcrt on Windows, flock here)
sys.modules["fcntl"] = None  # then, as on Windows, no fcntl module
del signal.SIGHUP  # and no SIGHUP
log, lock, held, release = map(Path, sys.argv[1:])
import genrepipe.features, genrepipe.predict, genrepipe.tasks  # what the rule scripts import
from genrepipe import jit_cache
from genrepipe.log import log_to_file
logger = log_to_file(log)
assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, "SIGTERM not handled"
logger.info("logged by a job named for Beyonc\\u00e9 and \\u97f3\\u697d")
with jit_cache._exclusive(lock):
    held.touch()
    while not release.exists():
        time.sleep(0.05)
"""


def test_jobs_run_where_there_is_no_fcntl_and_no_sighup(tmp_path):
    """Windows has neither: importing the feature code (its numba-cache lock) or setting
    up a job's log (its signal handlers) stopped every job there. Simulated here: the
    job must log (as UTF-8) and hold the cache lock, which another process then cannot
    take."""
    log, lock, held, release = (tmp_path / name for name in ("job.log", "lock", "held", "go"))
    job = subprocess.Popen(
        [sys.executable, "-c", _WITHOUT_POSIX_ONLY, log, lock, held, release],
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    )
    try:
        deadline = time.monotonic() + 120
        while not held.exists() and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if not held.exists():  # the job stopped (its log says why), or hangs
            job.kill()
            pytest.fail(f"no lock held: {_said(job, log)}")
        with pytest.raises(filelock.Timeout):
            filelock.FileLock(lock).acquire(timeout=0)
    finally:
        release.touch()
        job.wait(timeout=60)
    assert job.returncode == 0, _said(job, log)
    assert "a job named for Beyoncé and 音楽" in log.read_text(encoding="utf-8")


def _said(job: subprocess.Popen, log) -> str:
    """What a finished job wrote: its log (its stdout and stderr, once it made it), then
    what reached its stderr before that."""
    job.wait(timeout=60)
    return (log.read_text(encoding="utf-8") if log.exists() else "") + job.stderr.read()
