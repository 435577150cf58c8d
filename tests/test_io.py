"""Atomic outputs: whole or absent, and as readable as any file the user makes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import numpy as np
import pytest

from genrepipe.io import atomic_path, load_npy, read_json, save_npy, staged_folder


@pytest.fixture(params=[0o022, 0o027, 0o077])
def umask(request):
    """Run the test under a given umask, restoring the old one after."""
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_file_gets_the_umask_permissions(tmp_path, umask):
    # tempfile makes its files owner-only (0600): a shared results folder could not be read.
    with atomic_path(tmp_path / "summary.csv") as tmp:
        tmp.write_text("model,test_accuracy\n", encoding="utf-8")
    save_npy(tmp_path / "features" / "blues.00000.npy", np.zeros(3))
    for path in (tmp_path / "summary.csv", tmp_path / "features" / "blues.00000.npy"):
        assert mode(path) == 0o666 & ~umask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features", "summary.csv"]


def test_staged_folder_gets_the_umask_permissions(tmp_path, umask):
    with staged_folder(tmp_path / "model") as tmp:
        (tmp / "card.json").write_text("{}", encoding="utf-8")
    assert mode(tmp_path / "model") == 0o777 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_staged_folder_replaces_whole_or_not_at_all(tmp_path):
    folder = tmp_path / "model"
    with staged_folder(folder) as tmp:
        (tmp / "old.txt").write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), staged_folder(folder) as tmp:
        (tmp / "new.txt").write_text("half", encoding="utf-8")
        raise RuntimeError("killed mid-write")
    assert [p.name for p in folder.iterdir()] == ["old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folder left
    with staged_folder(folder) as tmp:
        (tmp / "new.txt").write_text("new", encoding="utf-8")
    assert [p.name for p in folder.iterdir()] == ["new.txt"]


def test_temporary_names_match_the_pattern_the_readme_gives_for_leftovers(tmp_path):
    # A killed job leaves its temporary file or folder: `.*.tmp*` must find both.
    import fnmatch

    with atomic_path(tmp_path / "summary.csv") as file, staged_folder(tmp_path / "model") as folder:
        names = [file.name, folder.name]
    assert all(fnmatch.fnmatch(name, ".*.tmp*") for name in names), names


def test_a_write_removes_what_killed_writes_of_its_path_left_and_nothing_else(tmp_path, caplog):
    killed_file = tmp_path / ".a.npy.k1ll_3d0.tmp.npy"
    killed_folder = tmp_path / ".model.abcd1234.tmp"
    others = [
        ".a.npy.abcd123.tmp.npy",  # not 8 random characters
        ".ab.npy.abcd1234.tmp.npy",  # another file's
        ".a.npy.abcd1234.tmp.npy.part",
        ".model.abcd1234.tmp.npy",  # a look-alike: the folder's have no .npy
        "a.npy.abcd1234.tmp.npy",  # not hidden
    ]
    for name in [killed_file.name, *others]:
        (tmp_path / name).write_bytes(b"half")
    (killed_folder / "sub").mkdir(parents=True)
    (killed_folder / "sub" / "estimator.skops").write_bytes(b"half")
    with caplog.at_level("INFO", logger="genrepipe"):
        save_npy(tmp_path / "a.npy", np.arange(3))
        with staged_folder(tmp_path / "model") as tmp:
            (tmp / "card.json").write_text("{}", encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*others, "a.npy", "model"])
    assert f"removed {killed_file}, left by a write of {tmp_path / 'a.npy'} that was killed" in (
        caplog.messages
    )
    assert any(message.startswith(f"removed {killed_folder},") for message in caplog.messages)


#: A writer that holds its temporary file or folder open until told to finish.
_LIVE_WRITER = r"""
import sys, time
from pathlib import Path

from genrepipe.io import atomic_path, staged_folder

kind, target, ready, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])
with (atomic_path if kind == "file" else staged_folder)(target) as tmp:
    (tmp if kind == "file" else tmp / "card.json").write_bytes(b"the live writer's")
    ready.touch()
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
"""


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_live_writers_temporary_stays(tmp_path, kind):
    """A job outliving its run (a second Snakemake after --unlock, a resubmitted cluster
    job) writes the same output as the new one: neither may break the other's write."""
    target = tmp_path / ("a.npy" if kind == "file" else "model")
    signals = tmp_path / "signals"
    signals.mkdir()
    ready, go = signals / "ready", signals / "go"
    command = [sys.executable, "-c", _LIVE_WRITER, kind, str(target), str(ready), str(go)]
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            if child.poll() is not None or time.monotonic() > deadline:
                child.kill()
                pytest.fail(f"no live writer: {child.communicate()[1][-2000:]}")
            time.sleep(0.01)
        [live] = [p for p in tmp_path.iterdir() if p.name.startswith(f".{target.name}.")]
        if kind == "file":
            save_npy(target, np.arange(3))
        else:
            with staged_folder(target) as tmp:
                (tmp / "card.json").write_bytes(b"mine")
        assert live.exists()
    finally:
        go.touch()
        try:
            _, errors = child.communicate(timeout=60)
        finally:
            child.kill()  # no-op once it has ended
    assert child.returncode == 0, errors
    written = target if kind == "file" else target / "card.json"
    assert written.read_bytes() == b"the live writer's"  # it finished last
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, "signals"])


def test_a_leftover_that_cannot_be_removed_only_warns(tmp_path, monkeypatch, caplog):
    leftover = tmp_path / ".a.npy.abcd1234.tmp.npy"
    leftover.write_bytes(b"half")
    real_unlink = os.unlink

    def refusing_unlink(path, *args, **kwargs):
        if os.fspath(path) == str(leftover):
            raise PermissionError(13, "Permission denied")
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", refusing_unlink)
    save_npy(tmp_path / "a.npy", np.arange(3))
    np.testing.assert_array_equal(load_npy(tmp_path / "a.npy"), np.arange(3))
    assert leftover.exists()
    assert f"cannot remove {leftover}, left by a killed write: [Errno 13] Permission denied" in (
        caplog.messages
    )


def test_a_bundle_links_the_transform_it_was_loaded_from(tmp_path, monkeypatch):
    """A fold's PCA is hundreds of MB on GTZAN: each model's bundle links it, and copies
    it where no link can be made, but never writes it anew."""
    from sklearn.preprocessing import StandardScaler

    from genrepipe.bundle import load_bundle, save_bundle
    from genrepipe.models import make_model, save_model

    X, y = np.arange(12.0).reshape(6, 2), np.array(["a", "b"] * 3)
    scaler = StandardScaler().fit(X)
    save_model(scaler, tmp_path / "transform.skops")
    model = make_model("svm", {}, random_state=0).fit(scaler.transform(X), y)
    fitted = tmp_path / "transform.skops"

    def other_file_system(*args):
        raise OSError(18, "Invalid cross-device link")

    for name in ("linked", "copied"):
        if name == "copied":
            monkeypatch.setattr(os, "link", other_file_system)
        save_bundle(
            tmp_path / name, transform=None, model=model, card={"n": 1}, transform_file=fitted
        )
        transform, loaded, card = load_bundle(tmp_path / name)
        np.testing.assert_array_equal(transform.transform(X), scaler.transform(X))
        assert (tmp_path / name / "transform.skops").read_bytes() == fitted.read_bytes()
        linked = os.path.samefile(tmp_path / name / "transform.skops", fitted)
        assert linked == (name == "linked")
    # A refit replaces the source: the bundle keeps the transform it was trained with.
    before = (tmp_path / "linked" / "transform.skops").read_bytes()
    save_model(StandardScaler().fit(X * 2), fitted)
    assert (tmp_path / "linked" / "transform.skops").read_bytes() == before != fitted.read_bytes()


def test_a_folder_without_a_card_is_named_as_no_bundle(tmp_path):
    # A model folder given by mistake (a fold's transform alone, a half-copied bundle):
    # say what it lacks, before any file in it is read as a model.
    from genrepipe.bundle import load_bundle

    (tmp_path / "transform.skops").write_bytes(b"not read")
    with pytest.raises(FileNotFoundError, match=r"is not a model bundle \(no card.json\)"):
        load_bundle(tmp_path)


def test_a_fold_model_links_its_folds_transform_without_reading_it(tmp_path, monkeypatch):
    """Its features are already transformed: the fold's PCA, hundreds of MB on GTZAN, was
    read in every training job for nothing but writing it into the bundle again."""
    import pandas as pd
    import skops.io

    import genrepipe.models
    from genrepipe.bundle import load_bundle
    from genrepipe.feature_table import write_feature_table
    from genrepipe.tasks import fit_preprocessing, train_model, write_table

    rng = np.random.default_rng(0)
    y = np.repeat(["blues", "jazz"], 6)
    X = (rng.normal(size=(12, 5)) + (y == "jazz")[:, None]).astype(np.float32)
    ids = [f"{genre}.{i:05d}" for i, genre in enumerate(y)]
    write_feature_table(
        tmp_path / "stats.parquet", zip(ids, y, X, strict=True), feature_set="stats"
    )
    subset = np.where(np.arange(12) % 3 == 0, "test", "train")
    split = pd.DataFrame({"fold": 0, "track": ids, "genre": y, "subset": subset})
    write_table(split, tmp_path / "split.tsv")
    fold = tmp_path / "fold0"
    fit_preprocessing(
        tmp_path / "stats.parquet",
        tmp_path / "split.tsv",
        0,
        "scaled",
        fold / "transform.skops",
        fold / "features.parquet",
        pca_components=None,
    )

    def unread(path, *args, **kwargs):
        raise AssertionError(f"{path} was read")

    spec = {"estimator": "svm", "features": "stats", "input": "scaled", "params": {}}
    with monkeypatch.context() as patched:
        # Every route to a skops file: load_model, as bound anywhere, reads through it.
        patched.setattr(genrepipe.models, "load_model", unread)
        patched.setattr(skops.io, "load", unread)
        train_model(
            spec,
            {},
            fold / "features.parquet",
            tmp_path / "split.tsv",
            0,
            tmp_path / "model",
            tmp_path / "predictions.tsv",
            transform_path=fold / "transform.skops",
            seed=0,
            threads=1,
            sample_rate=22050,
            max_duration=None,
        )
    assert os.path.samefile(tmp_path / "model" / "transform.skops", fold / "transform.skops")
    transform, _, _ = load_bundle(tmp_path / "model")
    assert transform.n_features_in_ == 5


def test_a_damaged_npy_is_named_with_what_to_do(tmp_path):
    # numpy named no file, and for bytes that are no array advised unpickling them.
    path = tmp_path / "blues.00000.npy"
    save_npy(path, np.arange(2000, dtype=np.float32).reshape(20, 100))
    np.testing.assert_array_equal(load_npy(path)[1], np.arange(100, 200))
    whole = path.read_bytes()
    # Cut inside the data or the header, or bytes that are no .npy file at all (numpy
    # called those "pickled (object) data").
    # numpy's own reason follows: numpy 2 "Failed to read all data for array", 1.26
    # "cannot reshape array of size 468 into shape (20,100)" for the cut data.
    for damaged, reasons in (
        (whole[:2000], ("Failed to read all data for array", "cannot reshape array of size")),
        (whole[:40], ("",)),
        (b"garbage\n", ("no .npy header",)),
        (bytes(200), ("no .npy header",)),
        # The header's end overwritten: numpy's header parser raised tokenize's TokenError.
        (whole[:40] + bytes(88) + whole[128:], ("",)),
    ):
        path.write_bytes(damaged)
        with pytest.raises(ValueError) as info:
            load_npy(path)
        message = str(info.value)
        start = f"{path}: damaged, not a whole .npy array ("
        assert message.startswith(tuple(start + reason for reason in reasons)), message
        assert message.endswith("delete it, and the next run makes it again")
        assert "pickle" not in message


def test_a_damaged_json_is_named(tmp_path):
    path = tmp_path / "kfold.json"
    path.write_text('{"test_accuracy": 0.75, "fold_test_accuracy": [0.5, 1.0]}', encoding="utf-8")
    assert read_json(path)["fold_test_accuracy"] == [0.5, 1.0]
    path.write_text('{"test_accuracy": 0.75, "fold_te', encoding="utf-8")
    with pytest.raises(ValueError, match=rf"^{path}: damaged, not a whole JSON document \("):
        read_json(path)


def test_a_leftover_another_write_removed_first_is_no_error(tmp_path, monkeypatch):
    """Two jobs clearing what the same killed write left: the one that finds it gone
    (removed by the other between the listing and its own removal) still writes."""
    leftover = tmp_path / ".a.npy.abcd1234.tmp.npy"
    leftover.write_bytes(b"half")
    real_unlink = os.unlink

    def removed_by_another_job_first(path, *args, **kwargs):
        if os.fspath(path) == str(leftover):
            real_unlink(path)  # the other job's removal
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", removed_by_another_job_first)
    save_npy(tmp_path / "a.npy", np.arange(3))
    np.testing.assert_array_equal(load_npy(tmp_path / "a.npy"), np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_named_like_a_leftover_never_blocks_a_write(tmp_path):
    """Opened to test its lock, a FIFO waits for a writer that never comes: the job
    would hang before writing its output."""
    import threading

    fifo = tmp_path / ".a.npy.abcd1234.tmp.npy"
    os.mkfifo(fifo)
    errors = []

    def write():
        try:
            save_npy(tmp_path / "a.npy", np.arange(3))
        except BaseException as error:
            errors.append(error)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    writer.join(timeout=10)  # at once, unless the open blocks
    if writer.is_alive():
        # A writer end lets the blocked open return, so that the thread ends.
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        writer.join(timeout=30)
        pytest.fail("the write blocked on a named pipe beside its output")
    assert errors == []
    np.testing.assert_array_equal(load_npy(tmp_path / "a.npy"), np.arange(3))


@pytest.mark.skipif(not os.path.isdir("/dev/fd"), reason="lists /dev/fd")
def test_writes_leave_no_file_descriptor_open(tmp_path):
    """An extraction job writes a .npy per track (1000 on GTZAN): a descriptor kept by
    each write (its lock's) would run into the open-file limit."""
    save_npy(tmp_path / "first.npy", np.arange(3))  # whatever opens once, lazily
    with staged_folder(tmp_path / "first") as tmp:
        (tmp / "card.json").write_text("{}", encoding="utf-8")
    before = len(os.listdir("/dev/fd"))
    for i in range(10):
        save_npy(tmp_path / f"{i}.npy", np.arange(3))
        with staged_folder(tmp_path / f"model{i}") as tmp:
            (tmp / "card.json").write_text("{}", encoding="utf-8")
    assert len(os.listdir("/dev/fd")) == before
