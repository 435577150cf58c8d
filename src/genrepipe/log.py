"""Logging for rule scripts: everything a job says goes to its rule's ``log:`` file."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import warnings
from pathlib import Path


def log_to_file(path: str | os.PathLike, name: str = "genrepipe") -> logging.Logger:
    """Send log records, warnings and uncaught errors of this process to ``path``.

    SIGTERM and SIGHUP (which Windows lacks) then stop the process as an exception
    would, so its half-done writes leave no temporary files behind.

    Returns the package logger. Tail the file (``tail -f logs/<rule>/...log``)
    to follow a running job.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # UTF-8 whatever the locale (Windows: a code page), as every file genrepipe writes.
    stream = open(path, "w", buffering=1, encoding="utf-8")  # noqa: SIM115 - the job's life
    # Native libraries (TensorFlow, BLAS) write to file descriptor 2, and Keras's
    # progress (a model's `verbose` param) to 1: send both to the log too, so
    # nothing a job says is lost or interleaved on the terminal.
    for fd, attribute in ((1, "stdout"), (2, "stderr")):
        getattr(sys, attribute).flush()
        os.dup2(stream.fileno(), fd)
        setattr(sys, attribute, stream)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    warnings.simplefilter("default")

    def log_uncaught(exc_type, exc, tb):
        # Python's own hook would print the traceback to stderr, this log, a second time.
        logger = logging.getLogger(name)
        if issubclass(exc_type, KeyboardInterrupt):
            logger.critical("job stopped by Ctrl-C (SIGINT)")  # asked for: no traceback
        elif exc_type.__module__.startswith(f"{name}."):
            # This package's errors (a failed download, a bad bundle) say what happened
            # and what to do: the message is the report, a traceback only buries it.
            logger.critical("job failed: %s", exc)
        else:
            logger.critical("job failed", exc_info=(exc_type, exc, tb))

    sys.excepthook = log_uncaught

    def stop_on_signal(signum, frame):
        # A batch system's time or memory limit, or a cancelled job, sends SIGTERM; a
        # closed terminal or a dropped ssh session SIGHUP. Either by default ends Python
        # on the spot: unwinding instead removes the temporary file or folder of a
        # half-done write (genrepipe.io), as Ctrl-C's SIGINT does.
        logging.getLogger(name).critical("job stopped by %s", signal.Signals(signum).name)
        raise SystemExit(128 + signum)

    # Windows has no SIGHUP (its TerminateProcess cannot be caught anyway).
    stops = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    for stop in stops:
        if signal.getsignal(stop) is not signal.SIG_IGN:  # `nohup snakemake`: keep ignoring
            signal.signal(stop, stop_on_signal)
    return logging.getLogger(name)


class Progress:
    """Log ``done / total`` with a rate every ``every`` seconds (and at the end)."""

    def __init__(self, total: int, what: str, logger: logging.Logger, every: float = 5.0):
        self.total, self.what, self.logger, self.every = total, what, logger, every
        self.done = 0
        self.start = self.last = time.perf_counter()

    def step(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self.last >= self.every or self.done == self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            self.logger.info(
                "%s: %d/%d done (%.1f/s, %.0f s elapsed)",
                self.what,
                self.done,
                self.total,
                rate,
                now - self.start,
            )
