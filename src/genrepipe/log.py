"""Logging for rule scripts: everything a job says goes to its rule's ``log:`` file."""

from __future__ import annotations

import atexit
import logging
import os
import re
import signal
import sys
import time
import warnings
from pathlib import Path

try:
    import resource
except ImportError:  # Windows
    resource = None

#: How a job's log ends (:func:`log_to_file`): its peak memory where the system says it,
#: and its CPU time. tools/benchmark_workflow.py reads the memory.
PEAK_MEMORY_LINE = "job's peak memory: {peak:.0f} MiB, CPU time: {cpu:.1f} s"
CPU_TIME_LINE = "job's CPU time: {cpu:.1f} s"
PEAK_MEMORY_PATTERN = re.compile(r"job's peak memory: (\d+) MiB")


def peak_memory_mib() -> float | None:
    """The peak resident memory of this process, or of its largest finished child, in MiB
    (None on Windows, which has no getrusage).

    Linux's getrusage keeps, across the exec that started a process, the peak of the
    process it was spawned from (Snakemake, or a pytest worker): the process's own
    high-water mark (VmHWM) is read from /proc instead.
    """
    if resource is None:
        return None
    kib = 1024 if sys.platform == "darwin" else 1  # ru_maxrss: bytes there, KiB elsewhere
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kib
    try:
        with open("/proc/self/status", encoding="utf-8", errors="replace") as status:
            own = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError, IndexError):  # not Linux
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kib
    return max(own, children) / 1024


#: Where the process's last log_to_file sends the exit line: (handler, logger name).
_exit_report: tuple[logging.Handler, str] | None = None


def _report_at_exit() -> None:
    """End the job's log with its exact peak memory and CPU time: Snakemake's benchmark
    file samples both every 0.5 s, then every 30 s, and misses a short peak (a cluster's
    limit does not) and the CPU time after its last sample."""
    if _exit_report is None:
        return
    times = os.times()  # this process and its finished children, as getrusage
    cpu = times.user + times.system + times.children_user + times.children_system
    peak = peak_memory_mib()
    line = (
        CPU_TIME_LINE.format(cpu=cpu)
        if peak is None
        else PEAK_MEMORY_LINE.format(peak=peak, cpu=cpu)
    )
    handler, name = _exit_report
    record = logging.getLogger(name).makeRecord(name, logging.INFO, __file__, 0, line, (), None)
    try:
        handler.stream.write(handler.format(record) + "\n")
        handler.stream.flush()
    except (OSError, ValueError):  # the log is gone or closed: nothing to tell it
        pass


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
    global _exit_report
    if _exit_report is None:
        atexit.register(_report_at_exit)
    _exit_report = (handler, name)
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
