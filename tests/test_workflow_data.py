"""End-to-end: the workflow on other datasets than the tiny one: damaged files, a
download, real GTZAN clips and published split lists (marked slow; CI runs them)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from conftest import TINY_CONFIG, planned_jobs, run_workflow, write_config

pytestmark = pytest.mark.slow


def write_bad_files(genres: Path) -> None:
    """A corrupt file (text named .wav) and a truncated clip, as found in real copies."""
    (genres / "jazz" / "jazz.00054.wav").write_text("this is not audio\n", encoding="utf-8")
    y, sr = sf.read(genres / "rock" / "rock.00000.wav", dtype="float32")
    sf.write(genres / "rock" / "rock.00099.wav", y[: sr // 2], sr, subtype="PCM_16")
    data = (genres / "blues" / "blues.00000.wav").read_bytes()
    (genres / "blues" / "blues.00098.wav").write_bytes(data[: len(data) // 8])


def test_corrupt_and_truncated_files_are_reported_and_skipped(tmp_path):
    from genrepipe.synthetic import write_dataset

    write_dataset(tmp_path / "data", n_per_genre=4, duration=3.0, seed=1)
    genres = tmp_path / "data" / "genres"
    write_bad_files(genres)
    override = write_config(
        tmp_path / "gtzan.yaml",
        {
            "dataset": {"kind": "gtzan", "gtzan": {"root": str(genres)}},
            "features": {"sets": ["seed87"]},
            "run_models": ["gmm", "svm"],
            "final_models": False,  # the tiny run covers them; these test the data
            "split": {"scheme": "holdout", "holdout": {"test_size": 0.25, "seed": 0}},
        },
    )
    run_workflow(tmp_path, TINY_CONFIG, override)
    failed = pd.read_csv(tmp_path / "results" / "failed_tracks.tsv", sep="\t")
    assert set(failed["track"]) == {"jazz.00054", "rock.00099", "blues.00098"}
    reasons = dict(zip(failed["track"], failed["reason"], strict=True))
    assert "jazz.00054.wav" in reasons["jazz.00054"] and "decode" in reasons["jazz.00054"]
    assert "shorter than min_duration" in reasons["rock.00099"]
    tracks = pd.read_csv(tmp_path / "results" / "tracks.tsv", sep="\t")
    assert len(tracks) == 40
    summary = pd.read_csv(tmp_path / "results" / "summary.csv")
    assert list(summary["model"]) == ["gmm", "svm"]
    assert (summary["n_train"] + summary["n_test"] == 40).all()
    # A stray file listed the next run retrains nothing: it changes no track.
    (genres / "blues" / "notes.txt").write_text("tempo by ear\n", encoding="utf-8")
    assert planned_jobs(tmp_path, TINY_CONFIG, override) == [
        ("list_failed_tracks", ""),
        ("all", ""),
    ]
    # The same folder written relative to the working directory names the same clips,
    # and is one spelling in the config the run record keeps: only the stray file's
    # list reruns.
    relative = write_config(
        tmp_path / "relative.yaml",
        {"dataset": {"kind": "gtzan", "gtzan": {"root": "data/genres"}}},
    )
    assert sorted(planned_jobs(tmp_path, TINY_CONFIG, override, relative)) == [
        ("all", ""),
        ("list_failed_tracks", ""),
    ]
    # A rock clip copied into pop/ is a pop clip: the console says so before any job.
    shutil.copy(genres / "rock" / "rock.00000.wav", genres / "pop" / "rock.00077.wav")
    plan = run_workflow(tmp_path, TINY_CONFIG, override, extra=["--dry-run"])
    assert (
        "dataset: 1 clip(s) named for another genre than their folder's are labelled by the "
        "folder: pop/rock.00077.wav"
    ) in plan.stdout + plan.stderr


def test_a_download_keeps_the_dataset_already_there(tmp_path):
    """Snakemake deletes a job's outputs before running it: with the genres folder as the
    download's output, a rerun (another url or md5, a lost benchmark file, a copy put
    there by hand) deleted a good dataset before failing to fetch the new archive."""
    genres = tmp_path / "resources" / "gtzan" / "genres"
    for genre in ("blues", "jazz"):
        (genres / genre).mkdir(parents=True)
        for i in range(5):
            (genres / genre / f"{genre}.{i:05d}.wav").write_bytes(b"RIFF")
    before = sorted(p.relative_to(genres) for p in genres.rglob("*"))
    moved = (tmp_path / "moved.tar.gz").as_uri()  # nothing there: a download would fail
    override = write_config(
        tmp_path / "download.yaml",
        {"dataset": {"kind": "gtzan", "download": {"url": moved, "md5": "0" * 32}}},
    )
    run_workflow(tmp_path, TINY_CONFIG, override, extra=["download_gtzan"], cores=1)
    kept = [p.relative_to(genres) for p in genres.rglob("*") if p.name != ".download.json"]
    assert sorted(kept) == before
    record = json.loads((genres / ".download.json").read_text(encoding="utf-8"))
    assert record["downloaded"] is False and record["files"] == 10
    # Gone, the folder is fetched: a failed download says so in one line...
    shutil.rmtree(genres)
    result = run_workflow(
        tmp_path, TINY_CONFIG, override, extra=["download_gtzan"], cores=1, check=False
    )
    assert result.returncode != 0 and not genres.exists()
    log = (tmp_path / "logs" / "download_gtzan.log").read_text(encoding="utf-8")
    assert f"job failed: cannot download {moved}" in log and "Traceback" not in log
    # ... and a good archive is unpacked and recorded.
    archive = tmp_path / "mirror" / "genres.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tar:
        for i in range(3):
            info = tarfile.TarInfo(f"genres/rock/rock.{i:05d}.wav")
            info.size = 4
            tar.addfile(info, io.BytesIO(b"RIFF"))
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    override = write_config(
        tmp_path / "download.yaml",
        {"dataset": {"kind": "gtzan", "download": {"url": archive.as_uri(), "md5": md5}}},
    )
    run_workflow(tmp_path, TINY_CONFIG, override, extra=["download_gtzan"], cores=1)
    assert sorted(p.name for p in genres.rglob("*.wav")) == [f"rock.{i:05d}.wav" for i in range(3)]
    record = json.loads((genres / ".download.json").read_text(encoding="utf-8"))
    assert record["downloaded"] is True and record["md5"] == md5 and record["files"] == 3


def copy_first_clips(gtzan_mini_dir: Path, genres: Path, n_per_genre: int) -> None:
    """The first ``n_per_genre`` real clips of every genre, copied to ``genres``."""
    for genre_dir in sorted(gtzan_mini_dir.iterdir()):
        (genres / genre_dir.name).mkdir(parents=True)
        for clip in sorted(genre_dir.glob("*.wav"))[:n_per_genre]:
            shutil.copy(clip, genres / genre_dir.name / clip.name)


def gtzan_dataset(genres: Path) -> dict:
    """The config's dataset block for GTZAN clips in ``genres``, at GTZAN's clip bounds."""
    return {
        "kind": "gtzan",
        "gtzan": {"root": str(genres)},
        "min_duration": 20.0,
        "max_duration": 31.0,
    }


def test_real_gtzan_clips(gtzan_mini_dir, tmp_path):
    """A few real GTZAN clips (30 s, 22050 Hz) through the whole workflow."""
    genres = tmp_path / "genres"
    copy_first_clips(gtzan_mini_dir, genres, 4)
    override = write_config(
        tmp_path / "real.yaml",
        {
            "dataset": gtzan_dataset(genres),
            "features": {"sets": ["seed87"], "seed87": {"n_frames": 1400}},
            "run_models": ["gmm", "svm"],
            "final_models": False,  # the tiny run covers them; these test the data
            "split": {"scheme": "holdout", "holdout": {"test_size": 0.25, "seed": 0}},
        },
    )
    run_workflow(tmp_path, TINY_CONFIG, override)
    table = tmp_path / "results" / "features" / "seed87.parquet"
    from genrepipe.feature_table import read_feature_table

    ids, found_genres, X = read_feature_table(table)
    assert X.shape == (40, 87, 1400)
    assert np.isfinite(X).all()
    assert set(found_genres) == {d.name for d in gtzan_mini_dir.iterdir()}
    summary = pd.read_csv(tmp_path / "results" / "summary.csv")
    assert (summary["n_test"] == 10).all() and (summary["n_train"] == 30).all()
    assert (summary["dataset"] == "gtzan").all()


def test_lists_split_on_real_clips_counts_missing(gtzan_mini_dir, kereliuk_splits_dir, tmp_path):
    """The filtered lists on the mini set: most listed clips are absent, counted, not fatal."""
    # Copies: editing one must rerun the split (their paths alone are params).
    (tmp_path / "lists").mkdir()
    lists = {}
    for subset in ("train", "valid", "test"):
        lists[subset] = str(tmp_path / "lists" / f"{subset}.txt")
        shutil.copy(kereliuk_splits_dir / f"{subset}_filtered.txt", lists[subset])
    # The first 4 clips of each genre hold listed train, valid and test clips and two
    # that no list names.
    genres = tmp_path / "genres"
    copy_first_clips(gtzan_mini_dir, genres, 4)
    override = write_config(
        tmp_path / "lists.yaml",
        {
            "dataset": gtzan_dataset(genres),
            "features": {"sets": ["stats"]},
            "models": {
                "svm_lists": {
                    "estimator": "svm",
                    "features": "stats",
                    "input": "scaled",
                    "params": {"C": 10.0},
                },
                "nn_lists": {
                    "estimator": "nn",
                    "features": "stats",
                    "input": "scaled",
                    "params": {
                        "hidden_units": 8,
                        "epochs": 200,
                        "patience": 3,
                        "validation_fraction": 0.0,
                    },
                },
            },
            "run_models": ["svm_lists", "nn_lists"],
            "split": {"scheme": "lists", "lists": lists},
        },
    )
    run_workflow(tmp_path, TINY_CONFIG, override)
    listed = sum(len(Path(path).read_text(encoding="utf-8").split()) for path in lists.values())
    split = pd.read_csv(tmp_path / "results" / "splits" / "lists.tsv", sep="\t")
    summary = pd.read_csv(tmp_path / "results" / "summary.csv")
    assert len(split) == 38 and {"hiphop.00001", "reggae.00003"}.isdisjoint(split["track"])
    assert summary.loc[0, "listed_missing"] == listed - len(split) > 800
    assert summary.loc[0, "n_test"] == (split["subset"] == "test").sum() > 0
    assert summary.loc[0, "n_train"] == (split["subset"] == "train").sum()
    predictions = pd.read_csv(
        tmp_path / "results" / "models" / "svm_lists" / "lists" / "fold0" / "predictions.tsv",
        sep="\t",
    )
    assert set(predictions["subset"]) == {"train", "valid", "test"}
    # The final model learns from the listed clips alone, as the folds do: it learnt
    # from the 2 unlisted ones too (a filtered split's faulty or repeated clips).
    card = json.loads(
        (tmp_path / "results" / "final" / "svm_lists" / "card.json").read_text(encoding="utf-8")
    )
    assert card["n_train"] == len(split) == 38
    # The fold network stopped early on the valid list; the final one, learning from
    # those clips too and keeping no slice of its own, trains the epochs it kept
    # rather than all 200.
    from genrepipe.bundle import load_bundle

    _, fold_nn, _ = load_bundle(
        tmp_path / "results" / "models" / "nn_lists" / "lists" / "fold0" / "model"
    )
    _, final_nn, final_card = load_bundle(tmp_path / "results" / "final" / "nn_lists" / "model")
    assert fold_nn.best_epoch_ < 200
    assert final_card["params"]["epochs"] == len(final_nn.history_["loss"]) == fold_nn.best_epoch_
    assert planned_jobs(tmp_path, TINY_CONFIG, override) == []
    # The root and the lists, inside the working directory, written relative: the same
    # files, so nothing reruns (the split and every model, and the cards, did).
    relative = yaml.safe_load(override.read_text(encoding="utf-8"))
    relative["dataset"]["gtzan"]["root"] = "genres"
    relative["split"]["lists"] = {subset: f"lists/{subset}.txt" for subset in lists}
    assert planned_jobs(tmp_path, TINY_CONFIG, write_config(override, relative)) == []
    # Spelled with ./ and a trailing slash too (the split reran, and every model).
    relative["dataset"]["gtzan"]["root"] = "./genres/"
    relative["split"]["lists"] = {subset: f"./lists//{subset}.txt" for subset in lists}
    assert planned_jobs(tmp_path, TINY_CONFIG, write_config(override, relative)) == []
    # A list edited in place reruns the split and what follows, nothing before it.
    train = Path(lists["train"])
    train.write_text(
        "".join(train.read_text(encoding="utf-8").splitlines(keepends=True)[1:]),
        encoding="utf-8",
    )
    planned = {rule for rule, _ in planned_jobs(tmp_path, TINY_CONFIG, override)}
    assert "make_split" in planned and "train_model" in planned
    before = ("check_audio", "extract_features", "merge_features", "list_tracks")
    assert not [rule for rule in planned if rule.startswith(before)]
