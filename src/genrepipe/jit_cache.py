"""Fill librosa's numba cache once, before parallel jobs read it.

librosa compiles several functions with numba and caches the machine code on
disk (``cache=True``). When jobs start side by side in a fresh environment,
they compile and write the same cache files at the same time, and a process
that loads a half-written one dies with a segmentation fault (seen with
``librosa.core.pitch._parabolic_interpolation``, a gufunc, on the first
``snakemake --cores 8`` after ``pip install``).

:func:`ensure_filled` runs every feature set once on a short signal under an
exclusive file lock, then leaves a marker beside the cache: later processes
see the marker and skip the lock altogether, so a warm environment pays one
``stat`` per process. numba keeps one cache per CPU model, so the marker names
the CPU too: a cluster node of another model fills its own under the lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: filelock's lock instead
    fcntl = None

logger = logging.getLogger("genrepipe")

_filled = False


def cache_folder() -> Path:
    """Where numba caches librosa's functions: ``NUMBA_CACHE_DIR``, else beside librosa,
    else (a read-only install) numba's cache folder of the user, as numba itself falls
    back."""
    import librosa
    import numba

    if numba.config.CACHE_DIR:
        return Path(numba.config.CACHE_DIR)
    beside = Path(librosa.__file__).parent / "__pycache__"
    if os.access(beside if beside.is_dir() else beside.parent, os.W_OK):
        return beside
    from numba.misc.appdirs import AppDirs

    return Path(AppDirs(appname="numba", appauthor=False).user_cache_dir)


def marker_path() -> Path:
    """The file that says the cache of these librosa and numba versions, of this
    librosa installation and for this CPU model, is filled."""
    import librosa
    import numba
    from llvmlite import binding

    # What numba keys its cached machine code by (its codegen's magic tuple), and the
    # installation: the user's cache folder may hold the caches of several.
    cpu = numba.config.CPU_NAME or binding.get_host_cpu_name()
    try:
        features = numba.config.CPU_FEATURES or binding.get_host_cpu_features().flatten()
    except RuntimeError:  # as numba: no features known
        features = ""
    key = f"{cpu}|{features}|{Path(librosa.__file__).resolve()}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    versions = f"{librosa.__version__}-{numba.__version__}"
    return cache_folder() / f"genrepipe-filled-{versions}-{digest}"


def _acquire(lock: Path) -> Callable[[], None]:
    """Wait for an exclusive lock on the file ``lock``; return what releases it.

    Raises OSError where the file cannot be opened (another user's lock file in a
    shared temporary folder) or locked (NFS mounted without locks). flock itself where
    there is one: there filelock's releases differ (3.x polls for ever instead of failing).
    """
    if fcntl is None:
        import filelock

        held = filelock.FileLock(lock)
        # filelock 3.x retries a lock file it may not open for ever: give up after
        # ten minutes, far more than a compilation takes (its Timeout is an OSError).
        held.acquire(timeout=600)
        return held.release
    handle = open(lock, "a", encoding="utf-8")  # noqa: SIM115 - closed on release
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
    except BaseException:  # also Ctrl-C or a stop signal while waiting
        handle.close()
        raise

    def release() -> None:
        try:
            fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            handle.close()

    return release


@contextlib.contextmanager
def _exclusive(*locks: Path) -> Iterator[None]:
    """Hold the first of ``locks`` that can be locked, or none (with a warning)."""
    for lock in locks:
        try:
            release = _acquire(lock)
        except OSError as error:
            # A network file system mounted without locks (NFS nolock), or a lock file
            # of another user: try the next.
            logger.warning("cannot lock %s (%s)", lock, error.strerror)
            continue
        try:
            yield
        finally:
            release()
        return
    logger.warning("compiling without a lock")
    yield


def ensure_filled() -> None:
    """Fill the cache once per environment (under a lock); a no-op once it is."""
    global _filled
    if _filled:
        return
    _filled = True  # set first: the warm-up below calls the feature functions again
    marker = marker_path()
    if marker.exists():
        return
    folder = marker.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        writable = os.access(folder, os.W_OK)
    except OSError:
        writable = False
    # Without a writable cache folder numba caches elsewhere (or not at all): still
    # serialize the first calls, with the lock in the temporary folder, which also
    # serves the jobs of this machine where the cache's file system has no locks.
    local = Path(tempfile.gettempdir()) / "genrepipe-numba.lock"
    locks = [folder / "genrepipe-numba.lock", local] if writable else [local]
    with _exclusive(*locks):
        if marker.exists():  # another process filled it while this one waited
            return
        logger.info("compiling librosa's numba functions once for this environment")
        _run_every_feature_set()
        if writable:
            marker.touch()


#: The feature functions of :mod:`genrepipe.features`, with settings for a short signal.
_FEATURE_FUNCTIONS = {
    "seed87": {"n_frames": 32},
    "stats": {},
    "logmel": {},
    "mfcc": {},
    "segment_stats": {"window": 1.0, "n_windows": 2},
    "rich": {"window": 1.0},
}


def _run_every_feature_set() -> None:
    """Every feature function on four seconds of noise: every numba function they call."""
    from genrepipe import features

    sr = 22050
    y = (0.1 * np.random.default_rng(0).standard_normal(4 * sr)).astype(np.float32)
    for name, settings in _FEATURE_FUNCTIONS.items():
        getattr(features, name)(y, sr, **settings)
