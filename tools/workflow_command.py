"""The command line that runs the project's workflow, shared by the benchmark scripts."""

from __future__ import annotations

import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def snakemake_command(
    workdir: Path, *args: str, configfiles: list[Path], cores: int | None
) -> list[str]:
    """``python -m snakemake ARGS`` on the project's Snakefile, run in ``workdir``.

    ``args`` (targets and options) come before ``--configfile``, which takes every
    value after it; ``cores=None`` leaves ``--cores`` to the executor options. The
    tests run the workflow with it too.
    """
    return [
        sys.executable,
        "-m",
        "snakemake",
        *map(str, args),
        "--snakefile",
        str(PROJECT_ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        *(["--cores", str(cores)] if cores else []),
        "--configfile",
        *map(str, configfiles),
    ]
