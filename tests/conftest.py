"""Shared fixtures: where the real data lives, and small generated audio."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

import filelock
import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "tools"))  # the benchmark scripts and their helpers
import workflow_command  # noqa: E402

#: ``../shared`` beside the project root: real GTZAN clips and published splits, never committed.
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
GTZAN_MINI = SHARED_DATA / "gtzan_mini" / "genres"
KERELIUK_SPLITS = SHARED_DATA / "gtzan_splits" / "kereliuk2015_filtered"
#: 80 generated clips of 3 s and small models: the end-to-end tests' workflow settings.
TINY_CONFIG = PROJECT_ROOT / "tests" / "configs" / "tiny.yaml"


def pytest_xdist_auto_num_workers(config) -> int:
    """Workers for ``-n auto``: ``PYTEST_XDIST_AUTO_NUM_WORKERS`` if set, else one per core
    this process may use, at most 4: each end-to-end test runs Snakemake on 2 cores, and
    more workers would multiply the processes and memory on a machine's cores."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, 4))


def pytest_sessionstart(session) -> None:
    """Fill librosa's numba cache before any test, in each process (under its lock):
    tests call librosa, some directly, in several workers at once, and processes
    compiling the same functions side by side crash (a segmentation fault in peak_pick,
    seen in CI's fresh environment). A filled cache costs one file check."""
    from genrepipe import jit_cache

    jit_cache.ensure_filled()


def pytest_collection_modifyitems(items) -> None:
    """The modules with the most slow end-to-end tests first, each module's tests in their
    own order: pytest-xdist hands modules out in this order (pyproject.toml), so the
    minute-long runs start early and short tests fill the workers at the end."""
    slow = Counter(
        item.getparent(pytest.Module) for item in items if item.get_closest_marker("slow")
    )
    items.sort(key=lambda item: -slow[item.getparent(pytest.Module)])


def snakemake_command(workdir: Path, *configs: Path, extra=(), cores: int | None = 2) -> list[str]:
    """``python -m snakemake`` on the project's Snakefile in ``workdir`` with config files
    (``extra``: targets and options), built as the benchmark scripts build it."""
    return workflow_command.snakemake_command(workdir, *extra, configfiles=configs, cores=cores)


def train_final_model(spec, features_table, tracks_table, model_dir, **options) -> dict:
    """A final model as the workflow trains one: its preprocessing fitted on the final
    tracks first (beside ``features_table``), unless the input is an image; returns the card.

    ``options``: :func:`genrepipe.tasks.train_final_model`'s, ``feature_settings``
    ({} unless given), ``pca_components`` (None) and defaults for the rest.
    """
    from genrepipe import tasks

    settings = options.pop("feature_settings", {})
    pca_components = options.pop("pca_components", None)
    options = {"seed": 0, "threads": 1, "sample_rate": 22050, "max_duration": 31.0} | options
    if spec["input"] != "image":
        folder = Path(features_table).parent / f"{Path(model_dir).name}-{spec['input']}"
        folder.mkdir(parents=True)
        tasks.fit_final_preprocessing(
            features_table,
            tracks_table,
            spec["input"],
            folder / "transform.skops",
            folder / "features.parquet",
            pca_components=pca_components,
            lists_split_table=options.get("lists_split_table"),
        )
        features_table = folder / "features.parquet"
        options["transform_path"] = folder / "transform.skops"
    return tasks.train_final_model(
        spec, settings, features_table, tracks_table, model_dir, **options
    )


def run_workflow(
    workdir: Path, *configs: Path, extra=(), cores: int | None = 2, check: bool = True
) -> subprocess.CompletedProcess:
    """Run :func:`snakemake_command`; with ``check``, fail the test with its output on failure."""
    command = snakemake_command(workdir, *configs, extra=extra, cores=cores)
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}")
    return result


def planned_jobs(workdir: Path, *configs: Path, extra=()) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run plans, from Snakemake's own plan."""
    result = run_workflow(workdir, *configs, extra=["--dry-run", *extra])
    jobs, rule = [], None
    for line in (result.stdout + result.stderr).splitlines():
        match = re.match(r"^(?:local)?rule (\S+):$", line.strip())
        if match:
            rule = match.group(1)
            jobs.append((rule, ""))
        elif rule and line.strip().startswith("wildcards:"):
            jobs[-1] = (rule, line.strip().removeprefix("wildcards:").strip())
    return jobs


def planned_job_details(workdir: Path, *configs: Path, extra=()) -> list[dict[str, str]]:
    """Every job a dry run plans, as the fields Snakemake prints for it (rule, input,
    output, log, benchmark, wildcards, ...), each as printed, comma-separated."""
    result = run_workflow(workdir, *configs, extra=["--dry-run", *extra])
    jobs = []
    for line in (result.stdout + result.stderr).splitlines():
        line = line.strip()
        if match := re.match(r"^(?:local)?rule (\S+):$", line):
            jobs.append({"rule": match.group(1)})
        elif jobs and (field := re.match(r"^(\w+): (.*)$", line)):
            jobs[-1].setdefault(field.group(1), field.group(2))
    return jobs


def _readme_code() -> list[tuple[str, bool]]:
    """The README's code as ``(text, in_a_block)``: each line of its code blocks
    (continuations joined; in a block of ``$ `` prompts, the prompt lines alone, without
    the ``$ ``, the rest being output), then each inline code span of its prose (one
    broken over two lines joined)."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    code = []
    for block in re.findall(r"```\w*\n(.*?)```", readme, flags=re.S):
        lines = block.replace("\\\n", " ").splitlines()
        if any(line.startswith("$ ") for line in lines):
            lines = [line[2:] for line in lines if line.startswith("$ ")]
        code += [(line, True) for line in lines]
    prose = re.sub(r"```.*?```", "", readme, flags=re.S)
    return code + [(" ".join(span.split()), False) for span in re.findall(r"`([^`]+)`", prose)]


def readme_commands(program: str) -> list[list[str]]:
    """The README's command lines of ``program`` (a regular expression), as words from the
    program on, for the tests that check what it tells users to type: whatever comes
    before it (``.venv/bin/``, ``time``, ``cd DIR &&``) left out, and what follows a
    ``&&``, ``;`` or ``|`` after it (another command). A span of the prose that is the
    program's name alone mentions it; a comment's words are none."""
    commands = []
    for text, in_block in _readme_code():
        if not re.search(program, text):  # prose in code, such as `job's peak memory`
            continue
        lexer = shlex.shlex(text, posix=True, punctuation_chars="&;|")
        lexer.whitespace_split = True
        words = list(lexer)
        for start, word in enumerate(words):
            if not re.fullmatch(rf"(\S*/)?{program}", word):
                continue
            ends = [i for i in range(start, len(words)) if words[i] in ("&&", ";", "|", "||")]
            command = words[start : ends[0] if ends else len(words)]
            if in_block or len(words) > 1:
                commands.append(command)
    return commands


def write_config(path: Path, settings: dict) -> Path:
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


@pytest.fixture(scope="session", autouse=True)
def tensorflow_on_one_thread() -> None:
    """TensorFlow fixes its thread pools at its first op, for the whole process: one
    thread before any test, so that the in-process Keras fits that ask for one get it and
    the others run on it too, whichever test a pytest-xdist worker runs first."""
    from genrepipe.models import set_tensorflow_threads

    set_tensorflow_threads(1)


@pytest.fixture(scope="session")
def gtzan_mini_dir() -> Path:
    """The 100-clip GTZAN mini set, or a skip when ``../shared`` is absent."""
    if not GTZAN_MINI.is_dir():
        pytest.skip(
            f"real GTZAN clips not found at {GTZAN_MINI} (../shared is absent in this clone)"
        )
    return GTZAN_MINI


@pytest.fixture(scope="session")
def kereliuk_splits_dir() -> Path:
    """The artist-filtered split lists of Kereliuk et al. (2015), or a skip when absent."""
    if not KERELIUK_SPLITS.is_dir():
        pytest.skip(f"filtered split lists not found at {KERELIUK_SPLITS} (../shared is absent)")
    return KERELIUK_SPLITS


def made_once(tmp_path_factory, name: str, make) -> Path:
    """The folder ``name``, filled by ``make(folder)`` once per test session.

    pytest-xdist's workers are processes with session fixtures of their own: the
    first to ask makes the folder under a lock in the base folder they share, the
    others wait for it and read it. A failed ``make`` is not tried again: the
    workers after it fail at once with its error.
    """
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # each worker's base folder sits in the session's
    folder, done, failed = root / name, root / f"{name}.done", root / f"{name}.failed"
    with filelock.FileLock(root / f"{name}.lock"):
        if failed.exists():
            error = failed.read_text(encoding="utf-8")
            pytest.fail(f"{name}, made by another worker, failed:\n{error}")
        if not done.exists():
            folder.mkdir()
            try:
                make(folder)
            except BaseException as error:
                failed.write_text(str(error), encoding="utf-8")
                raise
            done.touch()
    return folder


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One complete run of the workflow on the tiny generated dataset, then its report as
    one HTML file (``results/report.html``), shared by the end-to-end tests that only
    read its outputs or dry-run against it. Made here, not by tests/test_report.py, as
    those tests may be reading the run meanwhile; a failed report fails them all."""

    def run(workdir: Path) -> None:
        run_workflow(workdir, TINY_CONFIG)
        run_workflow(workdir, TINY_CONFIG, extra=["--report", "results/report.html"])

    return made_once(tmp_path_factory, "tiny", run)


def unreadable(monkeypatch, matches, error: OSError | None = None):
    """Make every file ``matches(path)`` accepts unreadable to genrepipe.audio, as chmod
    000 would for a user (it binds no root): libsndfile and librosa's fallback fail on
    it, and ``open`` raises ``error`` (permission denied by default)."""
    import os
    from types import SimpleNamespace

    import soundfile as sf

    import genrepipe.audio

    def refusing_open(file, *args, **kwargs):
        if matches(file):
            raise error or PermissionError(13, "Permission denied")
        return open(file, *args, **kwargs)

    def refusing_soundfile(file, *args, **kwargs):
        if matches(os.fsdecode(file)):
            raise sf.LibsndfileError(2, prefix=f"Error opening {file!r}: ")  # "System error."
        return sf.SoundFile(file, *args, **kwargs)

    def refusing_load(file, *args, **kwargs):  # librosa's fallback decoder fails as well
        if matches(os.fsdecode(file)):
            raise error or PermissionError(13, "Permission denied")
        return load(file, *args, **kwargs)

    import librosa

    load = librosa.load
    fake = SimpleNamespace(SoundFile=refusing_soundfile, LibsndfileError=sf.LibsndfileError)
    monkeypatch.setattr(genrepipe.audio, "sf", fake)
    monkeypatch.setattr(librosa, "load", refusing_load)
    monkeypatch.setattr(genrepipe.audio, "open", refusing_open, raising=False)
