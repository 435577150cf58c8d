"""The workflow on a student's laptop: Windows and macOS as well as Linux.

CI runs on Linux only, so what differs elsewhere is checked here by its cause: text
files are read and written as UTF-8 whatever the locale (Windows defaults to a code
page, in which an HTML page declaring UTF-8, a log naming a clip "Beyoncé" or a
config holding a user's folder come out garbled or not at all), and nothing a job
runs needs what only POSIX has (``fcntl``, ``SIGHUP``).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import time

import filelock
import pytest
from conftest import PROJECT_ROOT

PYTHON_SOURCES = sorted(
    [
        *(PROJECT_ROOT / "src" / "genrepipe").rglob("*.py"),
        *(PROJECT_ROOT / "workflow").rglob("*.py"),
        *(PROJECT_ROOT / "tools").glob("*.py"),
        *(PROJECT_ROOT / "tests").glob("*.py"),
    ]
)
WORKFLOW_SOURCES = sorted([PROJECT_ROOT / "Snakefile", *(PROJECT_ROOT / "rules").glob("*.smk")])

#: Modules whose ``open`` reads bytes or no file: not Python's text ``open``.
_BINARY_OPENERS = {"os", "tarfile", "zipfile", "gzip", "bz2", "lzma", "sf", "soundfile", "wave"}


def _mode(call: ast.Call, position: int) -> str | None:
    """The ``mode`` argument of an ``open`` call, when written as a string."""
    keywords = {k.arg: k.value for k in call.keywords}
    node = keywords.get("mode", call.args[position] if len(call.args) > position else None)
    if node is None:
        return "r"
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def text_io_without_encoding(source: str) -> list[str]:
    """Every call in ``source`` reading or writing a text file in the locale's encoding, as
    ``line: call``: ``open`` (the built-in, or a path's) in text mode, ``read_text`` and
    ``write_text``, each without ``encoding=``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        keywords = {k.arg for k in node.keywords}
        if "encoding" in keywords or None in keywords:  # None: **kwargs, unknown
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":
            mode = _mode(node, 1)
        elif isinstance(func, ast.Attribute) and func.attr == "open":
            if isinstance(func.value, ast.Name) and func.value.id in _BINARY_OPENERS:
                continue
            mode = _mode(node, 0)  # Path.open(mode)
        elif isinstance(func, ast.Attribute) and func.attr in ("read_text", "write_text"):
            mode = "text"
        else:
            continue
        if mode is None or "b" not in mode:
            found.append(f"{node.lineno}: {ast.unparse(node)[:80]}")
    return found


@pytest.mark.parametrize(
    "snippet",
    [
        "open(path)",
        "open(path, 'w', newline='')",
        "open(path, mode='a')",
        "path.open()",
        "path.open('w')",
        "Path(name).read_text()",
        "(folder / 'card.json').write_text(text)",
        "yaml.safe_load(open(path))",
    ],
)
def test_the_scan_finds_text_files_in_the_locales_encoding(snippet):
    assert text_io_without_encoding(snippet), snippet


@pytest.mark.parametrize(
    "snippet",
    [
        "open(path, encoding='utf-8')",
        "open(path, 'rb')",
        "open(path, mode='wb')",
        "path.open('rb')",
        "path.read_text(encoding='utf-8', errors='replace')",
        "path.write_text(text, encoding='utf-8')",
        "path.read_bytes()",
        "tarfile.open(archive)",
        "os.open(os.devnull, os.O_WRONLY)",
        "sf.SoundFile(path)",
    ],
)
def test_the_scan_passes_binary_and_utf8_files(snippet):
    assert text_io_without_encoding(snippet) == []


@pytest.mark.parametrize("path", PYTHON_SOURCES, ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_text_files_are_utf8_whatever_the_locale(path):
    assert text_io_without_encoding(path.read_text(encoding="utf-8")) == [], path


def tables_in_platform_line_endings(source: str) -> list[str]:
    """Every ``to_csv`` call in ``source`` without ``lineterminator=``: pandas ends lines
    with ``os.linesep``, so the same run's tables on Windows differed from Linux's in
    every line (CRLF)."""
    return [
        f"{node.lineno}: {ast.unparse(node)[:80]}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "to_csv"
        and not {"lineterminator", None} & {k.arg for k in node.keywords}
    ]


def test_the_table_scan_finds_tables_without_a_line_end():
    assert tables_in_platform_line_endings("frame.to_csv(path, sep='\\t')")
    assert tables_in_platform_line_endings("frame.to_csv(path, lineterminator='\\n')") == []


@pytest.mark.parametrize(
    "path",
    [p for p in PYTHON_SOURCES if p.parts[-2] in ("genrepipe", "scripts")],
    ids=lambda p: str(p.relative_to(PROJECT_ROOT)),
)
def test_the_workflows_tables_end_lines_alike_on_every_system(path):
    assert tables_in_platform_line_endings(path.read_text(encoding="utf-8")) == [], path


@pytest.mark.parametrize("path", WORKFLOW_SOURCES, ids=lambda p: p.name)
def test_the_workflow_reads_its_files_as_utf8(path):
    """The Snakefile and rule files are no Python for ``ast``: every ``open(...)`` call's
    text, up to its closing parenthesis, names an encoding."""
    text = path.read_text(encoding="utf-8")
    for match in re.finditer(r"\bopen\(", text):
        depth, end = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            end += 1
        call = text[match.start() : end]
        assert "encoding=" in call or re.search(r"""['"][rwa]b['"]""", call), (path, call)


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
