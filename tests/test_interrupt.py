"""A killed run leaves no file that looks complete, and a rerun finishes it identically.

Every output is written under a temporary name beside its final path and renamed
when complete (``genrepipe.io.atomic_path``). The fast tests kill a process with
SIGKILL in the middle of each kind of write and check that the final path holds
either nothing or its previous, complete version. The slow test kills the whole
workflow during feature extraction and again during training, resumes it with
``--rerun-incomplete`` and compares its summary with the uninterrupted tiny run's.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from conftest import TINY_CONFIG, snakemake_command

from genrepipe.io import load_npy, save_npy

# -- one write killed half-way ---------------------------------------------------------------------

#: Child processes: each starts one write and SIGKILLs itself half-way through it.
_CHILD = r"""
import os, signal, sys
from pathlib import Path

import numpy as np
import pandas as pd

case, target = sys.argv[1], Path(sys.argv[2])


def die():
    os.kill(os.getpid(), signal.SIGKILL)


def half_then_die(f, data):
    f.write(data[: len(data) // 2])
    f.flush()
    os.fsync(f.fileno())
    die()


if case == "npy":
    from genrepipe.io import save_npy

    def dying_save(f, array, allow_pickle=False):
        import io

        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array, allow_pickle=False)
        half_then_die(f, buffer.getvalue())

    np.save = dying_save
    save_npy(target, np.arange(1000, dtype=np.float32))

elif case == "tsv":
    from genrepipe.tasks import write_table

    def dying_to_csv(frame, path, **kwargs):
        with open(path, "w") as f:
            half_then_die(f, "track\tgenre\n" + "blues.00001\tblues\n" * 1000)

    pd.DataFrame.to_csv = dying_to_csv
    write_table(pd.DataFrame({"track": ["blues.00001"], "genre": ["blues"]}), target)

elif case == "parquet":
    from genrepipe.feature_table import write_feature_table

    def rows():
        for i in range(200):  # a few row groups reach the file, then the job dies
            yield f"blues.{i:05d}", "blues", np.full(8, i, dtype=np.float32)
        die()

    write_feature_table(target, rows(), feature_set="stats", rows_per_group=16)

elif case == "skops":
    import skops.io as sio
    from sklearn.preprocessing import StandardScaler

    from genrepipe.models import save_model

    real_dump = sio.dump

    def dying_dump(model, path):
        real_dump(model, path)
        with open(path, "r+b") as f:
            f.truncate(Path(path).stat().st_size // 2)
        die()

    sio.dump = dying_dump
    save_model(StandardScaler().fit(np.ones((3, 2))), target)

elif case == "bundle":
    from sklearn.preprocessing import StandardScaler

    from genrepipe import bundle
    from genrepipe.models import GaussianMixtureClassifier

    real_save = bundle.save_model
    calls = []

    def dying_save(model, path):  # the transform is written, the estimator is not
        calls.append(path)
        if len(calls) == 2:
            die()
        real_save(model, path)

    bundle.save_model = dying_save
    X, y = np.random.default_rng(0).normal(size=(20, 2)), ["a", "b"] * 10
    bundle.save_bundle(
        target,
        transform=StandardScaler().fit(X),
        model=GaussianMixtureClassifier().fit(X, y),
        card={"fold": 0},
    )
"""


def _kill_during_write(case: str, target: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, case, str(target)], capture_output=True, text=True
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]


def _visible(folder: Path) -> list[str]:
    """Names a reader may take for outputs: hidden temporary files do not count."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_killed_npy_write_leaves_the_previous_file(tmp_path):
    target = tmp_path / "blues.00001.npy"
    save_npy(target, np.zeros(5, dtype=np.float32))
    _kill_during_write("npy", target)
    np.testing.assert_array_equal(load_npy(target), np.zeros(5, dtype=np.float32))
    assert _visible(tmp_path) == ["blues.00001.npy"]


def test_killed_table_write_leaves_the_previous_file(tmp_path):
    target = tmp_path / "tracks.tsv"
    target.write_text("track\tgenre\nrock.00000\trock\n", encoding="utf-8")
    _kill_during_write("tsv", target)
    assert target.read_text(encoding="utf-8") == "track\tgenre\nrock.00000\trock\n"
    assert _visible(tmp_path) == ["tracks.tsv"]


def test_killed_parquet_write_leaves_no_table(tmp_path):
    target = tmp_path / "stats.parquet"
    _kill_during_write("parquet", target)
    assert not target.exists()
    assert _visible(tmp_path) == []
    leftovers = list(tmp_path.iterdir())
    assert leftovers and all(p.name.startswith(".stats.parquet.") for p in leftovers)
    with pytest.raises(pa.ArrowInvalid):  # the temporary file is truly incomplete
        pq.read_table(leftovers[0])


def test_killed_model_write_leaves_no_model(tmp_path):
    target = tmp_path / "transform.skops"
    _kill_during_write("skops", target)
    assert _visible(tmp_path) == []


def test_killed_bundle_write_leaves_no_folder(tmp_path):
    target = tmp_path / "model"
    _kill_during_write("bundle", target)
    assert _visible(tmp_path) == []


@pytest.mark.parametrize("case, name", [("npy", "blues.00001.npy"), ("bundle", "model")])
def test_the_next_write_removes_what_a_killed_one_left(tmp_path, case, name):
    """SIGKILL (the out-of-memory killer) leaves the temporary file or folder; the rerun
    that writes the same output removes it."""
    _kill_during_write(case, tmp_path / name)
    [leftover] = [p for p in tmp_path.iterdir() if p.name.startswith(f".{name}.")]
    _kill_during_write(case, tmp_path / name)  # another killed write: the first one's goes
    [second] = [p for p in tmp_path.iterdir() if p.name.startswith(f".{name}.")]
    assert second != leftover and not leftover.exists()
    if case == "npy":
        save_npy(tmp_path / name, np.ones(3, dtype=np.float32))
    else:
        from sklearn.preprocessing import StandardScaler

        from genrepipe.bundle import save_bundle
        from genrepipe.models import GaussianMixtureClassifier

        X, y = np.random.default_rng(0).normal(size=(20, 2)), ["a", "b"] * 10
        model = GaussianMixtureClassifier().fit(X, y)
        save_bundle(tmp_path / name, transform=StandardScaler().fit(X), model=model, card={})
    assert [p.name for p in tmp_path.iterdir()] == [name]


# -- the whole workflow killed twice --------------------------------------------------------------

#: The tiny run's dataset, split and models (the uninterrupted reference is the shared
#: tiny run), with smaller extraction batches so that the first kill finds some written.
MODELS = ["gmm", "svm", "nn"]
SETTINGS = {
    "features": {"sets": ["seed87"], "tracks_per_job": 20},  # 4 extraction batches
    "run_models": MODELS,
}


def _command(workdir: Path, config: Path, *extra: str) -> list[str]:
    # Up to the summary: final models add minutes and no kind of write the folds lack.
    return snakemake_command(
        workdir,
        TINY_CONFIG,
        config,
        extra=["results/summary.csv", "--rerun-incomplete", *extra],
    )


def _run(workdir: Path, config: Path, *extra: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        _command(workdir, config, *extra), capture_output=True, text=True, cwd=workdir
    )
    assert result.returncode == 0, result.stderr[-6000:]
    return result


def _kill_when(workdir: Path, config: Path, ready, timeout: float = 600) -> None:
    """Start the workflow; SIGKILL its whole process group once ``ready()`` is true."""
    log = open(workdir / f"run{time.monotonic_ns()}.log", "w", encoding="utf-8")  # noqa: SIM115
    process = subprocess.Popen(
        _command(workdir, config),
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            assert process.poll() is None, f"the run ended before the kill: {log.name}"
            assert time.monotonic() < deadline, "timed out waiting for the point to kill"
            time.sleep(0.02)
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:  # a failed wait (or the suite's timeout) stops the run too
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()


def _check_nothing_looks_complete_but_is_not(results: Path) -> int:
    """Every visible output reads back whole; returns how many were checked."""
    checked = 0
    for path in results.rglob("*"):
        if any(part.startswith(".") for part in path.relative_to(results).parts):
            continue  # temporary files and folders: never declared outputs
        if path.suffix == ".npy":
            load_npy(path)
        elif path.suffix == ".parquet":
            pq.read_table(path)
        elif path.suffix in (".tsv", ".csv"):
            pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix in (".skops", ".keras"):
            with zipfile.ZipFile(path) as archive:
                assert archive.testzip() is None, path
        elif path.is_dir() and path.name == "model":
            card = json.loads((path / "card.json").read_text(encoding="utf-8"))
            assert (path / card["estimator_file"]).is_file(), path
            assert (path / "transform.skops").is_file(), path
        else:
            continue
        checked += 1
    return checked


def _summary(workdir: Path) -> pd.DataFrame:
    summary = pd.read_csv(workdir / "results" / "summary.csv").drop(columns="fit_seconds")
    return summary[summary["model"].isin(MODELS)].reset_index(drop=True)


@pytest.mark.slow
def test_killed_runs_resume_to_the_same_summary(tmp_path, tiny_run):
    config = tmp_path / "settings.yaml"
    config.write_text(yaml.safe_dump(SETTINGS), encoding="utf-8")
    interrupted = tmp_path / "interrupted"
    interrupted.mkdir()
    results = interrupted / "results"

    def extracting():
        return any(results.glob("features/seed87/*/[!.]*.npy"))

    _kill_when(interrupted, config, extracting)
    assert not (results / "features" / "seed87.parquet").exists()  # killed mid-extraction
    assert _check_nothing_looks_complete_but_is_not(results) > 0

    def training():
        return (interrupted / "logs" / "train_model" / "nn" / "holdout" / "fold0.log").exists()

    _run(interrupted, config, "--unlock")  # a killed Snakemake leaves its lock behind
    _kill_when(interrupted, config, training)
    assert not (results / "summary.csv").exists()  # killed mid-training
    assert _check_nothing_looks_complete_but_is_not(results) > 0

    _run(interrupted, config, "--unlock")
    _run(interrupted, config)
    assert list(_summary(interrupted)["model"]) == MODELS
    pd.testing.assert_frame_equal(_summary(interrupted), _summary(tiny_run))
    # Snakemake agrees that the resumed run is complete.
    plan = _run(interrupted, config, "--dry-run")
    assert "Nothing to be done" in plan.stdout + plan.stderr
