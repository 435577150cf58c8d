"""A record of every completed run, and a side-by-side comparison of runs.

After each run whose summary was (re)built, the ``record_run`` rule writes
``results/history/<UTC timestamp>-<config hash>/`` holding

``summary.csv``
    The run's comparison table.
``config.yaml``
    The resolved configuration (defaults, config files and ``--config`` merged).
``run.json``
    Date, the code's git revision and whether its tracked files had uncommitted
    changes, the genrepipe version, the config hash, and the SHA-256 of the
    track list and the split table (``inputs``): a split's list files or the
    clips found under the same root change results that no setting explains.

The suffix is the first 8 hex digits of the SHA-256 of the resolved config, so
runs of the same settings share it. ``genrepipe-compare`` prints runs side by
side: only the settings that differ between them (leaving out definitions of
models a run did not run, unless ``--all``), then each model's test accuracy
with its change from the first run shown.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import logging
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from genrepipe.config import config_hash
from genrepipe.config import plain_config as _plain
from genrepipe.io import (
    atomic_path,
    reader_gone,
    staged_folder,
    stdout_closed_by_reader,
    tolerate_unprintable,
)
from genrepipe.plots import rounded

logger = logging.getLogger("genrepipe")

#: Where the workflow records runs, relative to its working directory.
HISTORY_DIR = Path("results") / "history"
#: Shown for a setting a run does not have.
ABSENT = "-"

__all__ = [
    "HISTORY_DIR",
    "Run",
    "compare_runs",
    "config_hash",
    "file_sha256",
    "flatten_config",
    "git_revision",
    "list_runs",
    "load_run",
    "main",
    "record_run",
    "used_settings",
]


# -- recording -----------------------------------------------------------------------------------


def git_revision(repo: str | os.PathLike | None) -> tuple[str, bool | None]:
    """The commit checked out in ``repo`` and whether tracked files changed since.

    Returns
    -------
    revision, dirty
        ``("unknown", None)`` when git is missing or ``repo`` is not a git
        work tree. Untracked files do not make a tree dirty.
    """
    if repo is None:
        return "unknown", None
    try:
        revision = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            encoding="utf-8",  # git's own; the locale's on Windows is a code page
            errors="replace",
            check=True,
            timeout=30,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            encoding="utf-8",
            errors="replace",
            check=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown", None
    return revision or "unknown", bool(status.strip())


def _rebuilt_since(summary_csv: str | os.PathLike, entry: Path) -> bool:
    """Whether ``summary_csv`` was written after ``entry`` copied it: a retrained model
    can give the same table (a C of 90 and of 100 scoring alike, fit times rounded to
    the millisecond), and such a run is a run of its own, not "nothing rebuilt"."""
    try:
        return os.stat(summary_csv).st_mtime_ns > os.stat(entry / "summary.csv").st_mtime_ns
    except OSError:  # said by _same_summary
        return False


def _same_summary(summary_csv: str | os.PathLike, entry: Path) -> bool:
    """Whether ``entry`` records ``summary_csv``; False, said in the log, where the entry's
    copy is gone or unreadable (deleted by hand, a partial sync): one damaged entry
    must not fail every later run's last job."""
    try:
        return filecmp.cmp(summary_csv, entry / "summary.csv", shallow=False)
    except OSError as error:
        logger.warning(
            "%s: cannot be read (%s): a new history entry is recorded beside it",
            entry / "summary.csv",
            error.strerror or error,
        )
        return False


def record_run(
    summary_csv: str | os.PathLike,
    latest_out: str | os.PathLike,
    *,
    config: Mapping[str, Any],
    repo: str | os.PathLike | None,
    now: datetime | None = None,
    inputs: Mapping[str, str | os.PathLike] | None = None,
) -> Path:
    """Record a completed run in the history folder (the parent of ``latest_out``).

    Parameters
    ----------
    summary_csv
        The run's ``results/summary.csv``.
    latest_out
        A small text file naming the newest entry (the rule's output; the
        entries themselves stay when the rule runs again).
    config
        The resolved configuration.
    repo
        The workflow's source folder, for its git revision.
    now
        The run's date (default: now, UTC).
    inputs
        Files the results depend on beyond the config, by name (the workflow's:
        ``tracks``, ``results/tracks.tsv``; ``split``, the split table): their
        SHA-256 goes into ``run.json`` for :func:`compare_runs` to show.

    Returns
    -------
    pathlib.Path
        The new entry's folder; the newest entry's when its summary is the same
        file content (nothing was rebuilt), which gets no second entry.
    """
    history = Path(latest_out).parent
    previous = list_runs(history)
    if (
        previous
        and not _rebuilt_since(summary_csv, previous[-1])
        and _same_summary(summary_csv, previous[-1])
    ):
        # Nothing was rebuilt (a setting the results do not depend on changed, such as
        # a model not in run_models): the newest entry already records this summary.
        logger.info("summary unchanged since %s: no new history entry", previous[-1].name)
        with atomic_path(latest_out) as out:
            out.write_text(previous[-1].name + "\n", encoding="utf-8")
        return previous[-1]
    now = (now or datetime.now(UTC)).astimezone(UTC)
    digest = config_hash(config)
    stem = f"{now:%Y%m%dT%H%M%SZ}-{digest}"
    entry, n = history / stem, 1
    while entry.exists():  # two records in one second with the same config
        n += 1
        entry = history / f"{stem}.{n}"
    revision, dirty = git_revision(repo)
    from genrepipe import __version__

    info = {
        "date": now.isoformat(timespec="seconds"),
        "git_revision": revision,
        "git_dirty": dirty,
        "genrepipe_version": __version__,
        "config_hash": digest,
        "inputs": {name: file_sha256(path) for name, path in (inputs or {}).items()},
    }
    with staged_folder(entry) as tmp:
        shutil.copyfile(summary_csv, tmp / "summary.csv")
        (tmp / "config.yaml").write_text(
            yaml.safe_dump(_plain(config), sort_keys=False), encoding="utf-8"
        )
        (tmp / "run.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    with atomic_path(latest_out) as out:
        out.write_text(entry.name + "\n", encoding="utf-8")
    logger.info("recorded this run in %s", entry)
    return entry


def file_sha256(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- reading and comparing -----------------------------------------------------------------------


@dataclass
class Run:
    """One recorded run: its folder name, resolved config, summary table and run info."""

    name: str
    config: dict[str, Any]
    summary: pd.DataFrame
    info: dict[str, Any]


def list_runs(history: str | os.PathLike = HISTORY_DIR) -> list[Path]:
    """The entries of a history folder, oldest first (names start with the UTC time).

    Other folders (a user's ``old/``, a copy) are no entries: taken as the newest,
    one stopped every run's ``record_run`` job, after the training.
    """
    history = Path(history)
    if not history.is_dir():
        return []
    return sorted(p for p in history.iterdir() if p.is_dir() and _ENTRY_NAME.match(p.name))


#: How :func:`record_run` names an entry: the UTC time, the config hash, a count if needed.
_ENTRY_NAME = re.compile(r"\d{8}T\d{6}Z-[0-9a-f]+(\.\d+)?$")


def load_run(path: str | os.PathLike) -> Run:
    """Read one history entry.

    Raises
    ------
    FileNotFoundError
        Naming the entry when it does not exist or a file of it is missing.
    ValueError
        Naming the file that cannot be read (damaged, settings that are no
        mapping, or a summary without the ``model`` and ``test_accuracy`` columns
        or with an accuracy that is not a number).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such recorded run")
    for name in ("summary.csv", "config.yaml", "run.json"):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path} is not a recorded run (no {name})")
    from genrepipe.tasks import read_summary

    readers = {
        "config.yaml": lambda file: yaml.safe_load(file.read_text(encoding="utf-8")) or {},
        "summary.csv": read_summary,
        "run.json": lambda file: json.loads(file.read_text(encoding="utf-8")),
    }
    parts = {}
    for name, read in readers.items():
        try:
            parts[name] = read(path / name)
        except (ValueError, yaml.YAMLError, pd.errors.ParserError) as error:
            reason = " ".join(str(error).split())  # YAML's are several lines
            raise ValueError(f"{path / name}: cannot be read ({reason})") from None
    for name in ("config.yaml", "run.json"):  # text or a list parses too
        if not isinstance(parts[name], Mapping):
            kind = type(parts[name]).__name__
            raise ValueError(f"{path / name}: cannot be read (a {kind}, not a mapping of settings)")
    summary = parts["summary.csv"]
    if missing := {"model", "test_accuracy"} - set(summary.columns):
        raise ValueError(f"{path / 'summary.csv'}: no column {', '.join(sorted(missing))}")
    # An edited cell (n/a) makes the column text, which no accuracy is.
    written = summary["test_accuracy"]
    accuracy = pd.to_numeric(written, errors="coerce")
    if bad := sorted(set(written[accuracy.isna() & written.notna()].astype(str))):
        raise ValueError(
            f"{path / 'summary.csv'}: test_accuracy holds {', '.join(map(repr, bad))}, not numbers"
        )
    summary["test_accuracy"] = accuracy
    return Run(
        name=path.name,
        config=parts["config.yaml"],
        summary=parts["summary.csv"],
        info=parts["run.json"],
    )


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as ``{"dotted.key": value}``; lists stay values.

    >>> flatten_config({"models": {"svm": {"params": {"C": 1.0}}}, "seed": 42})
    {'models.svm.params.C': 1.0, 'seed': 42}
    """
    flat: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten_config(value, prefix=f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _format_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and not value:
        return "{}"
    return json.dumps(value)


def used_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The flattened settings a run used: definitions of models it did not run left out.

    ``models.<name>.*`` is kept for the models in ``run_models`` (and the
    members and bases they build on); ``features.<set>.*`` for the feature sets
    extracted (``features.sets`` and the sets those models read). Everything
    else is kept. Returns dotted keys as :func:`flatten_config`.
    """
    models = config.get("models") or {}
    used_models: set[str] = set()
    pending = list(config.get("run_models") or [])
    while pending:
        name = pending.pop()
        if name in used_models or name not in models:
            continue
        used_models.add(name)
        spec = models[name] or {}
        pending += list(spec.get("members") or []) + ([spec["base"]] if spec.get("base") else [])
    features = config.get("features") or {}
    used_sets = set(features.get("sets") or []) | {
        models[m]["features"] for m in used_models if (models[m] or {}).get("features")
    }
    # Section by section: a model's name may hold a dot (svm_c0.5), so a dotted key
    # alone does not say which model it belongs to.
    kept: dict[str, Any] = {}
    for key, value in config.items():
        if key == "models" and isinstance(value, Mapping):
            used = {name: spec for name, spec in value.items() if name in used_models}
        elif key == "features" and isinstance(value, Mapping):
            used = {
                name: settings
                for name, settings in value.items()
                if not isinstance(settings, Mapping) or name in used_sets
            }
        else:
            used = value
        kept.update(flatten_config({key: used}))
    return kept


def compare_runs(
    runs: Sequence[Run], *, every_setting: bool = False, changes: bool = True
) -> pd.DataFrame:
    """A table of runs side by side: one column per run, rows of what differs.

    Rows: ``date`` and ``git`` (revision, ``+dirty`` when tracked files had
    changes), ``inputs.tracks`` and ``inputs.split`` (the first 12 hex digits
    of the track list's and split table's SHA-256) where they differ, then
    every config setting (dotted path) whose value differs between the runs,
    then ``test_accuracy.<model>`` for each model of any run, with the change
    from the first run in parentheses.

    Parameters
    ----------
    runs
        The runs, in column order; changes are relative to the first.
    every_setting
        Also compare the settings a run did not use (see :func:`used_settings`):
        definitions of models it did not run, settings of sets it did not extract.
    changes
        Write the change beside each accuracy (for reading); without, the cells
        are plain numbers (for a script, ``--format csv``).
    """
    if not runs:
        raise ValueError("no runs to compare")
    rows: dict[str, list[str]] = {
        "date": [str(run.info.get("date", ABSENT)) for run in runs],
        "git": [
            str(run.info.get("git_revision", "unknown"))[:10]
            + ("+dirty" if run.info.get("git_dirty") else "")
            for run in runs
        ],
    }
    # The same settings on other clips or other split lists: the files' digests say so.
    recorded = [run.info.get("inputs") or {} for run in runs]
    for name in sorted(set().union(*recorded)):
        values = [str(inputs.get(name, ABSENT))[:12] for inputs in recorded]
        if len(set(values)) > 1:
            rows[f"inputs.{name}"] = values
    flat = [
        flatten_config(run.config) if every_setting else used_settings(run.config) for run in runs
    ]
    keys = sorted(set().union(*flat))
    for key in keys:
        values = [_format_value(f[key]) if key in f else ABSENT for f in flat]
        if len(set(values)) > 1:
            rows[key] = values
    accuracies = [
        dict(zip(run.summary["model"].astype(str), run.summary["test_accuracy"], strict=True))
        for run in runs
    ]
    models: list[str] = []
    for acc in accuracies:
        models += [m for m in acc if m not in models]
    for model in models:
        base = accuracies[0].get(model)
        cells = []
        for i, acc in enumerate(accuracies):
            value = acc.get(model)
            if value is None or (isinstance(value, float) and math.isnan(value)):
                cells.append(ABSENT)
            elif not changes:  # for a script: the summary's own value, not rounded
                cells.append(f"{value:.10g}")
            elif i == 0 or base is None or math.isnan(base):
                cells.append(rounded(value, 3))
            else:
                # The change of the values shown, so that 0.812 -> 0.813 reads +0.001;
                # rounded as the figures round (0.0625 reads 0.063 there and here).
                change = Decimal(rounded(value, 3)) - Decimal(rounded(base, 3))
                cells.append(f"{rounded(value, 3)} ({change:+.3f})")
        rows[f"test_accuracy.{model}"] = cells
    return pd.DataFrame.from_dict(rows, orient="index", columns=[run.name for run in runs])


def _text_table(table: pd.DataFrame) -> str:
    header = ["", *table.columns]
    body = [
        [str(index), *map(str, row)] for index, row in zip(table.index, table.values, strict=True)
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
        for r in [header]
    ]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in body
    ]
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genrepipe-compare",
        description="Compare recorded workflow runs side by side: the settings that differ, "
        "and each model's test accuracy with its change from the first run shown.",
    )
    parser.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help="history entries (folders, or names inside --history); default: every recorded run",
    )
    parser.add_argument(
        "--history",
        default=str(HISTORY_DIR),
        help="history folder (default: %(default)s, relative to the working directory)",
    )
    parser.add_argument(
        "--last",
        type=int,
        metavar="N",
        help="only the last N of the RUNs given, or without RUNs the N most recent runs",
    )
    parser.add_argument(
        "--all",
        action="store_true",
        help="also compare settings a run did not use (models it did not run, feature sets "
        "it did not extract)",
    )
    parser.add_argument(
        "--format", choices=("text", "csv"), default="text", help="output format (default: text)"
    )
    return parser


def _usage(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line, parsed and checked (a usage error exits with status 2)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.last is not None and args.last < 1:
        parser.error(f"--last must be at least 1, got {args.last}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``genrepipe-compare``; returns the exit status (2: nothing to compare)."""
    args = _usage(argv)
    history = Path(args.history)
    if args.runs:
        paths = [Path(r) if Path(r).is_dir() else history / r for r in args.runs]
    else:
        paths = list_runs(history)
        if not paths:
            print(f"genrepipe-compare: error: no recorded runs in {history}", file=sys.stderr)
            return 2
    if args.last is not None:
        paths = paths[-args.last :]
    try:
        runs = [load_run(path) for path in paths]
    except (FileNotFoundError, OSError, ValueError, yaml.YAMLError) as error:
        print(f"genrepipe-compare: error: {error}", file=sys.stderr)
        return 2
    table = compare_runs(runs, every_setting=args.all, changes=args.format == "text")
    tolerate_unprintable(sys.stdout)  # a folder named in Cyrillic on a Windows console
    try:
        if args.format == "csv":
            table.rename_axis("setting").to_csv(sys.stdout, lineterminator="\n")
        else:
            print(_text_table(table))
        sys.stdout.flush()  # here, where a closed pipe can still be caught
    except OSError as error:
        if not reader_gone(error):  # `genrepipe-compare --all | head`
            raise
        return stdout_closed_by_reader()
    return 0


if __name__ == "__main__":
    sys.exit(main())
