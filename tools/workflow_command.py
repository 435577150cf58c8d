"""The command line that runs the project's workflow, shared by the benchmark scripts."""

from __future__ import annotations

import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# This checkout's package, as the workflow's jobs import it (see the README's "Layout"),
# not another genrepipe installed in the environment (another clone's editable install).
if sys.path[:1] != [str(PROJECT_ROOT / "src")]:
    sys.path.insert(0, str(PROJECT_ROOT / "src"))

# The argparse type of the tools' counts (cores, tracks, repeats): genrepipe-predict's --jobs'.
from genrepipe.predict import positive_int as positive_int  # noqa: E402


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


def split_problem(config: dict, genres: list[str]) -> str | None:
    """Why the workflow would refuse ``config``'s split for tracks of these ``genres`` (or
    None): said before any work, in place of Snakemake's error after it."""
    from genrepipe.config import split_size_error

    scheme = config["split"]["scheme"]
    return split_size_error(scheme, config["split"].get(scheme) or {}, genres)
