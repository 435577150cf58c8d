"""A failing job's log: its error once, and for this package's own errors without a traceback."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest


def _fail(tmp_path, raise_statement: str) -> str:
    log = tmp_path / "job.log"
    code = (
        "from genrepipe.log import log_to_file\n"
        f"log_to_file({str(log)!r})\n"
        "from genrepipe.download import DownloadError\n"
        f"{raise_statement}\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 1, result.stderr  # still a failed job for Snakemake
    assert result.stderr == ""  # everything went to the log
    return log.read_text(encoding="utf-8")


def test_an_unexpected_error_is_logged_once_with_its_traceback(tmp_path):
    text = _fail(tmp_path, "raise ValueError('boom')")
    assert text.count("Traceback") == 1 and text.count("ValueError: boom") == 1
    assert "CRITICAL genrepipe: job failed" in text


@pytest.mark.skipif(sys.platform == "win32", reason="Windows has no getrusage")
def test_a_jobs_log_ends_with_its_exact_peak_memory(tmp_path):
    """Snakemake's benchmark file samples a job's memory every 0.5 s, then every 30 s:
    a short peak, which a cluster's limit would kill, read as a fraction of itself."""
    log = tmp_path / "job.log"
    code = (
        "from genrepipe.log import log_to_file\n"
        f"log_to_file({str(log)!r})\n"
        "import numpy as np\n"
        "peak = np.ones(300 * 2**20 // 8)\n"  # 300 MiB, gone before the job ends
        "del peak\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    last = log.read_text(encoding="utf-8").splitlines()[-1]
    match = re.search(r"INFO genrepipe: job's peak memory: (\d+) MiB, CPU time: [\d.]+ s$", last)
    assert match and int(match[1]) >= 300, last
    if Path("/proc/self/status").exists():  # its own peak, not this pytest worker's
        assert int(match[1]) < 600, last
    # A failed job's too, after its error.
    assert "job's peak memory" in _fail(tmp_path, "raise ValueError('x')").splitlines()[-1]


def test_the_packages_own_error_is_one_line(tmp_path):
    text = _fail(tmp_path, "raise DownloadError('cannot download it: put it there')")
    assert "CRITICAL genrepipe: job failed: cannot download it: put it there" in text
    assert "Traceback" not in text and len(text.splitlines()) == 2  # and the peak memory


def test_problems_of_the_data_are_one_line(tmp_path):
    """A collection the split or the audio check cannot use ends the job with its reason,
    not a traceback the reason ends: "blues: one track" and "no usable track" came
    under 20 lines of make_split's and list_tracks' frames."""
    tracks = tmp_path / "tracks.tsv"
    tracks.write_text(
        "track\tgenre\tpath\tduration\n"
        + "".join(
            f"{t}\t{t[:-6]}\t{t}.wav\t30.0\n" for t in ["blues.00000", "rock.00000", "rock.00001"]
        ),
        encoding="utf-8",
    )
    out = tmp_path / "split"
    text = _fail(
        tmp_path,
        "from genrepipe.tasks import make_split\n"
        f"make_split('holdout', {{}}, {str(tracks)!r}, '{out}.tsv', '{out}.json')",
    )
    assert "CRITICAL genrepipe: job failed: blues: one track, and a stratified split" in text
    assert "Traceback" not in text, text
    checks = tmp_path / "checks.tsv"
    checks.write_text(
        "track\tgenre\tpath\tduration\tstatus\treason\n"
        "blues.00000\tblues\tb.wav\t3.0\tfailed\tshorter than min_duration=20 s\n",
        encoding="utf-8",
    )
    text = _fail(
        tmp_path,
        "from genrepipe.tasks import list_tracks\n"
        f"list_tracks([{str(checks)!r}], {str(tmp_path / 'usable.tsv')!r})",
    )
    assert "job failed: no usable track: all 1 clips failed the audio check" in text
    assert "Traceback" not in text, text


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGHUP"])
def test_a_stop_signal_mid_write_leaves_no_temporary_file(tmp_path, stop):
    """A batch system's limit sends SIGTERM, a closed terminal or dropped ssh session
    SIGHUP (which left the temporary file): the half-done write is undone, the job logged."""
    log, target = tmp_path / "job.log", tmp_path / "out" / "table.tsv"
    code = (
        "import os, signal\n"
        "from genrepipe.io import atomic_path\n"
        "from genrepipe.log import log_to_file\n"
        # As from a terminal, whatever runs the suite (nohup makes its children ignore it).
        f"signal.signal(signal.{stop}, signal.SIG_DFL)\n"
        f"log_to_file({str(log)!r})\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    tmp.write_text('half a table')\n"
        f"    os.kill(os.getpid(), signal.{stop})\n"
        "    tmp.write_text('never reached')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 128 + getattr(signal, stop), result.stderr
    assert list(target.parent.iterdir()) == []  # neither the table nor its temporary file
    assert f"CRITICAL genrepipe: job stopped by {stop}" in log.read_text(encoding="utf-8")


def test_a_job_of_a_nohup_run_keeps_ignoring_sighup(tmp_path):
    """`nohup snakemake ... &` ignores SIGHUP, and its jobs inherit that: a dropped ssh
    session must not stop them (the stop on SIGHUP above ended every running job)."""
    log, target = tmp_path / "job.log", tmp_path / "table.tsv"
    code = (
        "import os, signal\n"
        "from genrepipe.io import atomic_path\n"
        "from genrepipe.log import log_to_file\n"
        "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        f"log_to_file({str(log)!r})\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    os.kill(os.getpid(), signal.SIGHUP)\n"
        "    tmp.write_text('whole table')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert target.read_text(encoding="utf-8") == "whole table" and "stopped" not in log.read_text(
        encoding="utf-8"
    )


def test_what_a_job_prints_reaches_its_log_not_the_terminal(tmp_path):
    """Keras prints its progress (verbose > 0) to stdout; native code writes to fd 1 and 2."""
    log = tmp_path / "job.log"
    code = (
        "import os, sys\n"
        "from genrepipe.log import log_to_file\n"
        f"log_to_file({str(log)!r})\n"
        "print('epoch 1/3')\n"
        "os.write(1, b'native out\\n')\n"
        "os.write(2, b'native err\\n')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout == result.stderr == ""
    assert log.read_text(encoding="utf-8").splitlines()[:-1] == [
        "epoch 1/3",
        "native out",
        "native err",
    ]


def test_ctrl_c_is_one_line_not_a_traceback(tmp_path):
    """An interrupted job was asked to stop: its log says so, not that it crashed."""
    log = tmp_path / "job.log"
    code = (
        "from genrepipe.log import log_to_file\n"
        f"log_to_file({str(log)!r})\n"
        "raise KeyboardInterrupt\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0 and result.stderr == ""
    line, peak = log.read_text(encoding="utf-8").splitlines()
    assert line.endswith("CRITICAL genrepipe: job stopped by Ctrl-C (SIGINT)")
    assert "CPU time" in peak  # and the peak memory, where the system says it


def test_progress_reports_every_interval_and_at_the_end(monkeypatch, caplog):
    # A line per `every` seconds, counted from the last line, and one when all is done
    # however soon: a job's log must end saying how far it got.
    import logging

    from genrepipe import log

    clock = iter([0.0, 1.0, 2.0, 6.0, 7.0, 8.0])
    monkeypatch.setattr(log.time, "perf_counter", lambda: next(clock))
    progress = log.Progress(5, "stats features", logging.getLogger("genrepipe.test"), every=5.0)
    with caplog.at_level(logging.INFO, logger="genrepipe.test"):
        for _ in range(5):
            progress.step()
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "stats features: 3/5 done",
        "stats features: 5/5 done",
    ]
