"""Atomic file writing: a reader never sees a half-written output."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
import tokenize
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

try:
    import fcntl
except ImportError:  # Windows: no flock, so nothing tells a live writer there (as before)
    fcntl = None

logger = logging.getLogger(__name__)


def _umask_mode(mode: int) -> int:
    """``mode`` less the process umask: what ``open`` or ``mkdir`` would have given."""
    # Reading the umask means setting it: set the strictest for that instant, so a file
    # another thread makes meanwhile is never more open than asked.
    umask = os.umask(0o077)
    os.umask(umask)
    return mode & ~umask


@contextlib.contextmanager
def held_while_written(tmp: str | os.PathLike) -> Iterator[None]:
    """Hold a lock on the temporary file or folder ``tmp`` while it is written, so that
    :func:`remove_killed_writes` in another process leaves it alone.

    Outputs have one writer at a time (one Snakemake job each), but a job can outlive
    its run: a second Snakemake started after ``--unlock`` while the first still ran,
    or a cluster job resubmitted while its first attempt still wrote. Where the file
    system takes no such lock (NFS emulates it with locks on writable files only),
    nothing tells the writer is alive, and the premise of one writer stands alone. So it
    does in the microseconds between the temporary's creation and its lock.
    """
    fd = None
    if fcntl is not None:  # (Windows: as said at the import)
        try:
            fd = os.open(tmp, os.O_RDONLY)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a file system without locks: unguarded, never a failed write
            pass
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def _held_by_a_writer(tmp: str) -> bool:
    """Whether a live process holds the lock of :func:`held_while_written` on ``tmp``."""
    if fcntl is None:
        return False
    try:  # O_NONBLOCK: never waiting on a FIFO of that name
        fd = os.open(tmp, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except PermissionError:  # a colleague's file: no writer told, as without locks
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # no such locks here (NFS wants a writable file): no writer told
        return False
    finally:
        os.close(fd)
    return False


def remove_killed_writes(path: str | os.PathLike, suffix: str = ".tmp") -> None:
    """Remove what killed writers of ``path`` left beside it: temporary files or folders
    named as :func:`atomic_path` and :func:`staged_folder` name them,
    ``.<name>.<8 random characters><suffix>``, ``suffix`` being the one the writer gave
    :mod:`tempfile` (``".tmp" + path.suffix`` for :func:`atomic_path`).

    A write killed outright (SIGKILL, the kernel's out-of-memory killer, a lost machine)
    cannot remove its own, and a model's PCA on full GTZAN is 441 MB. One whose writer
    still holds its lock (:func:`held_while_written`) stays; so do links, which no
    writer makes. Anything else of that name is a dead writer's: each output has one
    writer at a time (one Snakemake job).
    """
    path = Path(path)
    prefix = f".{path.name}."
    # tempfile's names: 8 characters from a-z, 0-9 and "_".
    killed = re.compile(re.escape(prefix) + "[a-z0-9_]{8}" + re.escape(suffix))
    try:
        entries = list(os.scandir(path.parent))
    except OSError:  # no folder yet, or one that cannot be listed: nothing to remove
        return
    for entry in entries:
        if not (entry.name.startswith(prefix) and killed.fullmatch(entry.name)):
            continue
        try:
            if entry.is_symlink():
                continue
            if _held_by_a_writer(entry.path):
                logger.info("left %s: a live process is writing it", entry.path)
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except FileNotFoundError:
            continue
        except OSError as error:  # never the reason a write fails
            logger.warning("cannot remove %s, left by a killed write: %s", entry.path, error)
            continue
        logger.info("removed %s, left by a write of %s that was killed", entry.path, path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    The temporary file lives in the same directory, so the final ``os.replace``
    is atomic on POSIX file systems. On an exception the temporary file is
    removed and ``path`` is left untouched. The file gets the permissions the
    umask gives a new file (``tempfile`` makes it owner-only), so colleagues
    sharing a results folder can read it. What a killed earlier write of ``path`` left
    is removed first (:func:`remove_killed_writes`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_killed_writes(path, ".tmp" + path.suffix)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent
    )
    os.close(fd)  # Windows renames no file a handle holds open
    tmp_path = Path(tmp)
    try:
        with held_while_written(tmp_path):
            tmp_path.chmod(_umask_mode(0o666))
            yield tmp_path
            os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def staged_folder(folder: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``folder``; on success it replaces ``folder``.

    A reader never sees a half-written folder; on an exception the temporary
    folder is removed and ``folder`` is left as it was. Like :func:`atomic_path`,
    the folder gets the permissions the umask gives a new one, and what a killed
    earlier write of ``folder`` left goes first.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_killed_writes(folder)
    # ".<name>.<random>.tmp": the pattern the README gives for leftovers of a killed job.
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        with held_while_written(tmp):
            tmp.chmod(_umask_mode(0o777))
            yield tmp
            if folder.exists():
                shutil.rmtree(folder)
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Save ``array`` to ``path`` (a ``.npy`` file) atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """Load a ``.npy`` file without ever unpickling objects.

    A damaged file (cut short, overwritten) raises a ValueError naming it: numpy's own
    words named no file, and for bytes that are no array advised unpickling them.
    """
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError, SyntaxError, tokenize.TokenError) as error:
        # (A header whose end is overwritten stops numpy's parser of it in tokenize.)
        with open(path, "rb") as stream:
            magic = stream.read(6)
        # numpy reads bytes without its magic as a pickle: say what they are instead.
        reason = _first_sentence(error) if magic == b"\x93NUMPY" else "no .npy header"
        raise ValueError(
            f"{path}: damaged, not a whole .npy array ({reason}); delete it, and the next "
            "run makes it again"
        ) from None


def read_json(path: str | os.PathLike) -> Any:
    """The JSON document in ``path``; a damaged one raises a ValueError naming the file."""
    import json

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(
            f"{path}: damaged, not a whole JSON document ({error}); delete it, and the "
            "next run makes it again"
        ) from None


def _first_sentence(error: BaseException) -> str:
    return str(error).split(". ")[0].rstrip(".") or type(error).__name__


def tolerate_unprintable(stream: Any) -> None:
    """Print what the stream cannot encode with backslash escapes, not a traceback.

    A file name with bytes undecodable in the file-system encoding (Latin-1 on
    UTF-8) holds surrogates no codec writes; a non-ASCII name meets an ASCII
    terminal (``LC_ALL=C``) or, on Windows, output redirected in a code page.
    """
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(errors="backslashreplace")


def reader_gone(error: OSError) -> bool:
    """Whether a write error on stdout means its reader stopped reading (``| head``):
    ``BrokenPipeError``, or on Windows ``EINVAL`` on a pipe, which CPython raises there
    when the pipe's reader exited (python/cpython#79935). Windows gives EINVAL for other
    failed writes too: on a file it stays an error."""
    if isinstance(error, BrokenPipeError):
        return True
    return sys.platform == "win32" and error.errno == errno.EINVAL and stdout_is_pipe()


def stdout_is_pipe() -> bool:
    """Whether stdout is a pipe (``| head``), not a file, a terminal or nothing."""
    try:
        return stat.S_ISFIFO(os.fstat(sys.stdout.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):  # closed, or no file descriptor
        return False


def stdout_closed_by_reader() -> int:
    """After a ``BrokenPipeError`` on stdout (``| head`` stopped reading): point stdout
    at ``/dev/null``, so Python's flush at exit fails no more, and return 141, the
    shell's status for SIGPIPE. A command then stops quietly, without a traceback."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 141
