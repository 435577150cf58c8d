"""The suite's own settings (pyproject.toml): a crashed worker or a stuck test ends the run
with its reason instead of holding CI until its limit.

Each test runs pytest on a few generated test files with the project's pytest settings
(``-c pyproject.toml``), in a process of its own, and bounds that run's time itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib

import pytest
from conftest import PROJECT_ROOT

PYPROJECT = PROJECT_ROOT / "pyproject.toml"


def _run_pytest(folder, *args, limit=180):
    """pytest with the project's settings on the tests in `folder`/tests; fails the calling
    test when it has not ended after `limit` seconds (the hang being tested for: the inner
    run takes a few seconds, more on a loaded machine)."""
    # Not this run's own worker variables: the inner pytest is a session of its own.
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    command = [sys.executable, "-m", "pytest", "-c", str(PYPROJECT), "--rootdir", str(folder)]
    # Its own temporary folder: the default one's cleanup would delete old runs' folders.
    command += ["-p", "no:cacheprovider", "--basetemp", str(folder / "basetemp")]
    command += [*args, str(folder / "tests")]
    try:
        return subprocess.run(
            command, capture_output=True, text=True, env=environment, timeout=limit
        )
    except subprocess.TimeoutExpired as stuck:
        output = stuck.stdout.decode() if isinstance(stuck.stdout, bytes) else stuck.stdout
        pytest.fail(f"pytest still running after {limit} s:\n{(output or '')[-2000:]}")


def _write_tests(folder, **modules):
    """Test modules ``<name>.py`` with the given sources in `folder`/tests."""
    (folder / "tests").mkdir()
    for name, source in modules.items():
        (folder / "tests" / f"{name}.py").write_text(source, encoding="utf-8")


def test_a_crashed_worker_ends_the_run_with_its_reason(tmp_path):
    """pytest-xdist replaces a crashed worker by default, and under --dist loadfile the
    replacement can wait for ever (pytest-xdist issues 784, 1323 and 1378): a numba crash
    in one worker once held CI until it was killed by hand. --max-worker-restart=0 ends
    the run instead, naming the test that crashed, once the other workers finish the
    modules they hold (modules not yet handed out are not run)."""
    _write_tests(
        tmp_path,
        test_a_crash="import os\n\ndef test_first():\n    pass\n\n"
        "def test_crashes():\n    os.kill(os.getpid(), 9)\n",
        test_b_after="def test_later():\n    pass\n",
    )
    # One worker, as in pytest-xdist's own report of the hang.
    result = _run_pytest(tmp_path, "-n", "1")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "crashed while running 'tests/test_a_crash.py::test_crashes'" in output
    assert "worker restarting disabled" in output


def test_a_stuck_test_fails_with_its_stack_and_the_worker_goes_on(tmp_path):
    """A test stuck in Python code or waiting on a subprocess (a Snakemake run waiting on
    a lock, say) fails after the configured timeout, with the stack it was stuck in. The
    signal method raises inside the test: the worker lives on to run the module's next
    test, where the thread method would kill it, and a killed worker now ends the run
    (above). Native code that never returns to Python (a deadlock inside TensorFlow) is
    beyond it: CI's own limit stops that."""
    _write_tests(
        tmp_path,
        test_stuck="import time\n\ndef test_never_ends():\n    time.sleep(600)\n\n"
        "def test_next():\n    pass\n",
    )
    # The configured timeout, shortened for the test: the method and plugin are the project's.
    result = _run_pytest(tmp_path, "-n", "1", "-o", "timeout=5")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Failed: Timeout" in output, output
    assert "time.sleep(600)" in output  # the stack it was stuck in
    assert "1 failed, 1 passed" in output


def test_the_timeout_leaves_the_slowest_tests_room_and_ci_its_limit():
    """The per-test timeout covers a test's fixtures too, so it must exceed the slowest
    item with its fixtures (the tiny run's setup: 124 s in a whole-suite run on 2 cores)
    at least five times over, yet end a stuck test well within CI's 90 minutes."""
    settings = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    assert settings["timeout_method"] == "signal"
    assert 5 * 120 <= int(settings["timeout"]) <= 30 * 60
    assert "--max-worker-restart=0" in settings["addopts"].split()
