"""Run the test suite with the oldest dependency releases pyproject.toml allows.

A lower bound nobody installs rots: it may name a release that lacks an API the
code uses, or one with a bug the workflow trips on. This script turns every
runtime dependency's lower bound into a pin (``>=1.26`` becomes ``==1.26.*``, the
last patch of that release, ``>=14`` ``==14.0.*``; ``>=0.10.2`` becomes ``==0.10.2``),
installs them in a
virtual environment made anew, installs the project beside them without letting pip
upgrade anything, and runs pytest there (arguments after ``--`` go to pytest).

    python tools/check_oldest_versions.py                 # venv in .venv-oldest, whole suite
    python tools/check_oldest_versions.py -- -m "not slow"

Needs the package index (to install the old releases) and the oldest Python
requires-python allows; about 3 minutes of installs on a new venv, then the suite.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# Test tools are not runtime dependencies: the current ones run the old releases' code.
TEST_TOOLS = [
    "pytest",
    "pytest-timeout",
    "pytest-xdist",
    "snakemake-executor-plugin-cluster-generic",
]
# Left in the environments this script makes, which it alone may wipe (not your .venv).
MARKER = ".check-oldest-versions"


def oldest_pin(requirement: str) -> str:
    """``name>=X.Y[,<Z][; marker]`` as ``name==X.Y.*[; marker]`` (``>=X`` as ``==X.0.*``,
    ``==X.Y.Z`` as given)."""
    spec, _, marker = requirement.partition(";")
    match = re.fullmatch(r"\s*([A-Za-z0-9_.\-\[\]]+)\s*>=\s*([0-9][0-9.]*)\s*(,.*)?", spec)
    if not match:
        raise ValueError(f"no lower bound to pin in {requirement!r}")
    name, version = match.group(1), match.group(2).rstrip(".")
    if version.count(".") == 0:
        version += ".0"  # >=14 allows 14.0: ==14.* would let pip take 14.9
    pin = f"{name}=={version}.*" if version.count(".") < 2 else f"{name}=={version}"
    return f"{pin}; {marker.strip()}" if marker.strip() else pin


def oldest_pins(pyproject: Path = PROJECT_ROOT / "pyproject.toml") -> list[str]:
    """The pins of every runtime dependency of the project."""
    dependencies = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    return [oldest_pin(requirement) for requirement in dependencies]


def oldest_python(pyproject: Path = PROJECT_ROOT / "pyproject.toml") -> tuple[int, int]:
    """The oldest Python the project allows (``requires-python = ">=3.11"``: ``(3, 11)``)."""
    requires = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["requires-python"]
    version = oldest_pin(f"python{requires}").split("==", 1)[1]  # "3.11.*", "3.11.4"
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--venv",
        type=Path,
        default=PROJECT_ROOT / ".venv-oldest",
        help="virtual environment to make anew (.venv-oldest)",
    )
    parser.add_argument("pytest_args", nargs="*", help="arguments for pytest, after --")
    args = parser.parse_args(argv)
    # Absolute: pytest runs from the project root, where a relative path would miss it.
    args.venv = args.venv.absolute()
    marker = args.venv / MARKER
    if args.venv.exists() and not marker.exists():
        parser.error(f"{args.venv} exists and was not made by this script; it would be wiped")
    # The oldest releases are those of the oldest Python: on a newer one some have no
    # build at all (numba 0.58.1 stops at 3.11), and pip fails minutes in.
    floor = oldest_python()
    if sys.version_info[:2] != floor:
        parser.error(
            f"run it with Python {floor[0]}.{floor[1]}, the oldest pyproject.toml allows "
            f"(this is {sys.version_info[0]}.{sys.version_info[1]}): the oldest releases are "
            f"those that install there, and some have no build for a newer Python"
        )
    pins = oldest_pins()
    print("oldest allowed releases:", " ".join(pins), flush=True)
    # Anew each time: releases left from an earlier run (another Snakemake's PuLP, say)
    # would otherwise stay and be tested instead of what pip resolves for these pins.
    # The marker first, so that a run stopped while the environment is made (Ctrl-C)
    # leaves a folder the next run knows as its own.
    args.venv.mkdir(parents=True, exist_ok=True)
    for entry in args.venv.iterdir():  # all but the marker, which a Ctrl-C must not take
        if entry.name == MARKER:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    marker.write_text(
        "made by tools/check_oldest_versions.py, which may wipe it\n", encoding="utf-8"
    )
    venv.create(args.venv, with_pip=True)
    python = str(args.venv / ("Scripts" if os.name == "nt" else "bin") / "python")
    pip = [python, "-m", "pip", "install", "-q"]
    for step in (
        [*pip, *pins, *TEST_TOOLS],
        [*pip, "--no-deps", "-e", str(PROJECT_ROOT)],
        [python, "-m", "pip", "check"],  # the old releases agree with each other
    ):
        status = subprocess.run(step).returncode
        if status != 0:
            sys.exit(
                f"check_oldest_versions.py: {' '.join(step[1:4])} ... failed (status {status})"
            )
    return subprocess.run([python, "-m", "pytest", *args.pytest_args], cwd=PROJECT_ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
