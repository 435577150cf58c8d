"""Tests of genrepipe-predict: bundles built here from generated clips, then classified."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import readme_commands, train_final_model, unreadable

from genrepipe.audio import load_audio
from genrepipe.bundle import save_bundle
from genrepipe.features import extract
from genrepipe.models import make_model
from genrepipe.predict import Classifier, _usable_cpus, main, window_spans
from genrepipe.preprocess import flatten, make_preprocessor
from genrepipe.synthetic import write_dataset

SR = 22050
GENRES = ("classical", "jazz", "metal", "reggae")
#: seed87 on 3 s clips: 130 frames of 512 samples.
SEED87 = {
    "n_frames": 130,
    "n_fft": 2048,
    "hop_length": 512,
    "n_mfcc": 20,
    "n_mels": 20,
    "mel_fmax": 1400.0,
}
STATS = {"n_fft": 2048, "hop_length": 512, "n_mfcc": 13}
MAX_DURATION = 4.0


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    """Four 3 s generated clips for each of four genres (16-bit mono WAV, 22050 Hz)."""
    root = tmp_path_factory.mktemp("clips")
    return write_dataset(root, n_per_genre=4, duration=3.0, seed=11, genres=GENRES)


def training_features(paths, feature_set, settings) -> np.ndarray:
    """Features read exactly as the workflow's extraction reads a clip."""
    return np.stack(
        [
            extract(feature_set, load_audio(p, sr=SR, max_duration=MAX_DURATION), SR, settings)
            for p in paths
        ]
    )


def train_final_bundle(folder, clips, spec, settings) -> tuple[np.ndarray, dict]:
    """tasks.train_final_model on the clips, from tracks.tsv and <set>.parquet as the workflow's.

    Returns the clips' features and the card; the bundle is ``folder / "final" / "model"``.
    """
    from genrepipe.feature_table import write_feature_table
    from genrepipe.tasks import write_table

    feature_set = spec["features"]
    X = training_features(clips, feature_set, settings)
    tracks = pd.DataFrame(
        {
            "track": [p.stem for p in clips],
            "genre": [p.parent.name for p in clips],
            "path": [str(p) for p in clips],
            "duration": 3.0,
        }
    )
    write_table(tracks, folder / "tracks.tsv")
    write_feature_table(
        folder / f"{feature_set}.parquet",
        zip(tracks["track"], tracks["genre"], X, strict=True),
        feature_set=feature_set,
    )
    card = train_final_model(
        spec,
        folder / f"{feature_set}.parquet",
        folder / "tracks.tsv",
        folder / "final" / "model",
        feature_settings=settings,
        pca_components=8,
        sample_rate=SR,
        max_duration=MAX_DURATION,
    )
    return X, card


def build_bundle(folder, clips, *, feature_set, settings, estimator, params, input_kind, card):
    """Fit the transform and a model on the clips' features; save them as a bundle."""
    X = training_features(clips, feature_set, settings)
    y = np.array([p.parent.name for p in clips], dtype=object)
    transform = make_preprocessor(input_kind, len(X), flatten(X).shape[1], pca_components=8)
    Z = transform.fit_transform(flatten(X)).astype(np.float32)
    model = make_model(estimator, params, random_state=0).fit(Z, y)
    card = {
        "estimator": estimator,
        "features": feature_set,
        "feature_settings": settings,
        "input": input_kind,
        "classes": [str(c) for c in model.classes_],
        "sample_rate": SR,
        "max_duration": MAX_DURATION,
    } | card
    save_bundle(folder, transform=transform, model=model, card=card)
    return X, Z, model


@pytest.fixture(scope="module")
def svm_bundle(clips, tmp_path_factory) -> tuple[Path, np.ndarray, object]:
    """An SVM on PCA of seed87 (as the reference svm), its training features and model."""
    folder = tmp_path_factory.mktemp("svm") / "model"
    _, Z, model = build_bundle(
        folder,
        clips,
        feature_set="seed87",
        settings=SEED87,
        estimator="svm",
        params={"kernel": "rbf", "C": 1.0},
        input_kind="pca",
        card={"clip_seconds": 3.0},
    )
    return folder, Z, model


@pytest.fixture(scope="module")
def gmm_bundle(clips, tmp_path_factory) -> Path:
    """A diagonal GMM on scaled stats, inside results/final/<model>/model like the workflow's."""
    folder = tmp_path_factory.mktemp("final") / "gmm_stats" / "model"
    build_bundle(
        folder,
        clips,
        feature_set="stats",
        settings=STATS,
        estimator="gmm",
        params={"n_components": 1, "covariance_type": "diag"},
        input_kind="scaled",
        card={"clip_seconds": 3.0},
    )
    return folder


@pytest.fixture()
def nine_seconds(clips, tmp_path) -> Path:
    """Three clips of different genres back to back: 9 s."""
    parts = [sf.read(clips[i], dtype="float32")[0] for i in (0, 4, 8)]  # classical, jazz, metal
    path = tmp_path / "medley.wav"
    sf.write(path, np.concatenate(parts), SR, subtype="PCM_16")
    return path


def run(argv, capsys) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


# -- whole-file answers ----------------------------------------------------------------------------


def test_text_output_names_genre_and_top_three(svm_bundle, clips, capsys):
    folder, _, _ = svm_bundle
    status, out, err = run([folder, clips[0], clips[9]], capsys)
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 2
    for line, clip in zip(lines, (clips[0], clips[9]), strict=True):
        head, top = line.split("  (")
        path, genre = head.split(": ")
        assert path == str(clip)
        entries = [item.rsplit(" ", 1) for item in top.rstrip(")").split(", ")]
        assert len(entries) == 3 and entries[0][0] == genre
        probabilities = [float(p.rstrip("%")) for _, p in entries]
        assert probabilities == sorted(probabilities, reverse=True)
        assert 0 < sum(probabilities) <= 100.1


def test_predictions_equal_the_models_on_training_features(svm_bundle, clips, capsys):
    """Features are computed exactly as in training: same probabilities as the model gave."""
    folder, Z, model = svm_bundle
    status, out, _ = run([folder, "--format", "json", *clips], capsys)
    assert status == 0
    files = json.loads(out)["files"]
    assert [f["path"] for f in files] == [str(c) for c in clips]
    expected = model.predict_proba(Z)
    classes = [str(c) for c in model.classes_]
    got = np.array([[f["probabilities"][c] for c in classes] for f in files])
    np.testing.assert_allclose(got, expected, atol=2e-6)


def test_csv_output_parses_with_one_row_per_file(svm_bundle, clips, capsys):
    folder, _, _ = svm_bundle
    dataset = clips[0].parents[1]  # genres/: the folder is searched recursively
    status, out, _ = run([folder, dataset, "--format", "csv"], capsys)
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert sorted(row["path"] for row in rows) == sorted(str(c) for c in clips)
    for row in rows:
        assert row["genre"] == row["genre_1"] in GENRES
        assert float(row["duration"]) == pytest.approx(3.0, abs=0.01)
        assert row["windows"] == "1"
        probabilities = [float(row[f"proba_{i}"]) for i in (1, 2, 3)]
        assert probabilities == sorted(probabilities, reverse=True)


def test_json_output_holds_all_probabilities(svm_bundle, clips, capsys):
    folder, _, _ = svm_bundle
    status, out, _ = run([folder, clips[3], "--format", "json"], capsys)
    assert status == 0
    document = json.loads(out)
    assert document["classes"] == sorted(GENRES) and document["errors"] == []
    (entry,) = document["files"]
    assert sum(entry["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)
    assert (
        entry["genre"]
        == entry["top"][0]["genre"]
        == max(entry["probabilities"], key=entry["probabilities"].get)
    )
    assert [t["probability"] for t in entry["top"]] == sorted(
        entry["probabilities"].values(), reverse=True
    )[:3]


def test_bundle_parent_folder_is_accepted(gmm_bundle, clips, capsys):
    """results/final/<model> works as well as results/final/<model>/model."""
    by_bundle = run([gmm_bundle, clips[5], "--format", "json"], capsys)
    by_parent = run([gmm_bundle.parent, clips[5], "--format", "json"], capsys)
    assert by_bundle[0] == by_parent[0] == 0
    assert json.loads(by_bundle[1])["files"] == json.loads(by_parent[1])["files"]


# -- timeline and long files -----------------------------------------------------------------------


def test_window_spans_cover_the_signal():
    assert window_spans(9 * SR, SR, 3.0, 3.0) == [(0, 3 * SR), (3 * SR, 6 * SR), (6 * SR, 9 * SR)]
    # The last window is aligned to the end, so every window has the full length.
    assert window_spans(10 * SR, SR, 3.0, 3.0)[-1] == (7 * SR, 10 * SR)
    assert window_spans(2 * SR, SR, 3.0, 1.0) == [(0, 2 * SR)]  # shorter than one window
    # A tail of a few hundred samples (a medley of 30.013 s GTZAN clips) gets no window of its
    # own: it would repeat the last one and count that stretch twice in the file's mean.
    assert window_spans(90 * SR + 600, SR, 30.0, 30.0) == [
        (k * SR, (k + 30) * SR) for k in (0, 30, 60)
    ]
    # Under a quarter of the hop (0.7 of 0.75 s) too; the 1 s tail above gets its window.
    assert window_spans(9 * SR + 7 * SR // 10, SR, 3.0, 3.0)[-1] == (6 * SR, 9 * SR)
    with pytest.raises(ValueError, match="positive"):
        window_spans(SR, SR, 0.0, 1.0)


def test_timeline_gives_one_row_per_window(svm_bundle, clips, nine_seconds, capsys):
    folder, _, _ = svm_bundle
    status, out, _ = run([folder, nine_seconds, "--timeline", "--window", "3", "-q"], capsys)
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"{nine_seconds}: ") and "mean of 3 windows" in lines[0]
    assert len(lines) == 4
    status, out, _ = run([folder, nine_seconds, "--timeline", "--window", "20", "-q"], capsys)
    assert status == 0 and "(1 window: " in out.splitlines()[0] and len(out.splitlines()) == 2
    status, out, _ = run(
        [folder, nine_seconds, "--timeline", "--window", "3", "--format", "csv"], capsys
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(float(r["start"]), float(r["end"])) for r in rows] == [(0, 3), (3, 6), (6, 9)]
    # Each window holds exactly one original clip: the same answer as that clip alone.
    status, out, _ = run([folder, clips[0], clips[4], clips[8], "--format", "csv"], capsys)
    alone = list(csv.DictReader(io.StringIO(out)))
    for window, clip in zip(rows, alone, strict=True):
        assert window["genre"] == clip["genre"]
        assert float(window["proba_1"]) == pytest.approx(float(clip["proba_1"]), abs=1e-3)


def test_timeline_hop_gives_overlapping_windows(gmm_bundle, nine_seconds, capsys):
    options = ["--timeline", "--window", "3", "--hop", "1.5", "--format", "json"]
    status, out, _ = run([gmm_bundle, nine_seconds, *options], capsys)
    assert status == 0
    (entry,) = json.loads(out)["files"]
    starts = [w["start"] for w in entry["timeline"]]
    assert starts == [0.0, 1.5, 3.0, 4.5, 6.0]
    assert all(w["end"] - w["start"] == pytest.approx(3.0) for w in entry["timeline"])
    assert entry["windows"] == 5
    # The file's answer is the mean of its windows', not the first window's.
    classes = json.loads(out)["classes"]
    windows = np.array([[w["probabilities"][c] for c in classes] for w in entry["timeline"]])
    got = np.array([entry["probabilities"][c] for c in classes])
    np.testing.assert_allclose(got, windows.mean(axis=0), atol=2e-6)
    assert not np.allclose(windows[0], windows[-1], atol=1e-3)  # the mean is no one window's


def test_short_windows_of_padded_features_warn(svm_bundle, nine_seconds, capsys):
    folder, _, _ = svm_bundle
    status, _, err = run([folder, nine_seconds, "--timeline", "--window", "1"], capsys)
    assert status == 0
    assert "warning" in err and "shorter than the 3.0 s clips" in err
    _, _, quiet = run([folder, nine_seconds, "--timeline", "--window", "1", "--quiet"], capsys)
    assert quiet == ""


def test_short_windows_of_clip_statistics_warn(gmm_bundle, nine_seconds, capsys):
    # stats summarizes a whole clip: on 1 s of audio its statistics leave the training range.
    status, _, err = run([gmm_bundle, nine_seconds, "--timeline", "--window", "1"], capsys)
    assert status == 0
    assert "shorter than the 3.0 s clips" in err and "statistics of a whole clip" in err
    _, _, clip_length = run([gmm_bundle, nine_seconds, "--timeline", "--window", "3"], capsys)
    assert "shorter than" not in clip_length


def test_files_much_shorter_than_the_training_clips_warn_once(svm_bundle, clips, tmp_path, capsys):
    """A 0.5 s and a 1 s file are answered, named in one warning; a 3 s clip is not named."""
    folder, _, _ = svm_bundle
    y = sf.read(clips[0], dtype="float32")[0]
    short = []
    for seconds in (0.5, 1.0):
        path = tmp_path / f"first_{seconds:g}s.wav"
        sf.write(path, y[: int(seconds * SR)], SR, subtype="PCM_16")
        short.append(path)
    status, out, err = run([folder, *short, clips[0]], capsys)
    assert status == 0 and len(out.splitlines()) == 3
    warning = [line for line in err.splitlines() if "less than half" in line]
    assert len(warning) == 1
    assert "2 files last less than half the 3.0 s clips" in warning[0]
    assert "seed87 features pad them" in warning[0]
    assert f"{short[0]} (0.50 s)" in warning[0] and f"{short[1]} (1.00 s)" in warning[0]
    assert str(clips[0]) not in warning[0]
    # With --timeline, a file shorter than its one window is named too (its window is
    # not the length asked for); windows the user chose shorter than the file are not.
    _, _, err = run([folder, short[1], "--timeline", "--window", "3"], capsys)
    assert "1 file lasts less than half the 3.0 s clips" in err and f"{short[1]} (1.00 s)" in err
    _, _, err = run([folder, short[1], "--timeline", "--window", "0.5"], capsys)
    assert "less than half" not in err and "0.5 s windows are shorter" in err
    _, _, quiet = run([folder, *short, "--quiet"], capsys)
    assert quiet == ""


def test_file_shorter_than_a_segment_window_fails_in_seconds(clips, tmp_path, capsys):
    """segment_stats cannot read a file shorter than one window: an error line in seconds."""
    settings = {**STATS, "window": 1.0, "n_windows": 3}
    spec = {"estimator": "logreg", "features": "segment_stats", "input": "scaled", "params": {}}
    train_final_bundle(tmp_path, clips, spec, settings)
    folder = tmp_path / "final"
    y = sf.read(clips[0], dtype="float32")[0]
    short = tmp_path / "half_second.wav"
    sf.write(short, y[: SR // 2], SR, subtype="PCM_16")
    status, out, err = run([folder, short, clips[0], "--quiet"], capsys)
    assert status == 1 and len(out.splitlines()) == 1
    assert err.strip() == (
        f"genrepipe-predict: error: {short}: 0.50 s of audio is shorter than one 1 s segment window"
    )


def test_long_file_averages_clip_length_windows(gmm_bundle, clips, nine_seconds, capsys):
    """A file three training clips long is the mean of its three clips' probabilities."""
    classifier = Classifier.load(gmm_bundle)
    y = load_audio(nine_seconds, sr=SR)
    proba, spans = classifier.classify(y)
    assert spans == [(0, 3 * SR), (3 * SR, 6 * SR), (6 * SR, 9 * SR)]
    parts = [classifier.classify(load_audio(clips[i], sr=SR))[0] for i in (0, 4, 8)]
    np.testing.assert_allclose(proba, np.mean(parts, axis=0), atol=1e-6)
    # --long first reads the file as training would: its first max_duration seconds.
    first, spans = classifier.classify(y, long="first")
    assert spans == [(0, int(MAX_DURATION * SR))]
    status, out, _ = run([gmm_bundle, nine_seconds], capsys)
    assert status == 0 and "[mean of 3 windows of 3 s]" in out
    # Progress of a long file: one call per window, for the command's progress bar.
    calls = []
    classifier.predict_file(nine_seconds, on_window=lambda *args: calls.append(args))
    assert calls == [(1, 3), (2, 3), (3, 3)]


# -- formats and failures --------------------------------------------------------------------------


def test_stereo_44k_wav_and_flac(svm_bundle, clips, tmp_path, capsys):
    """Stereo 44.1 kHz is downmixed and resampled to the model's rate; FLAC is read like WAV."""
    import librosa

    folder, _, _ = svm_bundle
    y, _ = sf.read(clips[12], dtype="float32")
    y44 = librosa.resample(y, orig_sr=SR, target_sr=44100, res_type="soxr_hq")
    stereo = tmp_path / "stereo44k.wav"
    sf.write(stereo, np.column_stack([y44, 0.5 * y44]), 44100, subtype="FLOAT")
    # What the model must hear: the mean of both channels, at 22050 Hz.
    mono = tmp_path / "mono22k.wav"
    expected = librosa.resample(0.75 * y44, orig_sr=44100, target_sr=SR, res_type="soxr_hq")
    sf.write(mono, expected, SR, subtype="FLOAT")
    flac = tmp_path / "clip.flac"
    sf.write(flac, y, SR, format="FLAC", subtype="PCM_16")
    status, out, err = run([folder, clips[12], stereo, mono, flac, "--format", "json"], capsys)
    assert status == 0, err
    original, resampled, downmixed, lossless = json.loads(out)["files"]
    assert resampled["duration"] == pytest.approx(3.0, abs=0.01)
    for genre, p in downmixed["probabilities"].items():
        assert resampled["probabilities"][genre] == pytest.approx(p, abs=1e-4)
    assert lossless["probabilities"] == original["probabilities"]  # same samples, same answer


def test_corrupt_file_is_one_error_line_others_answered(svm_bundle, clips, tmp_path, capsys):
    folder, _, _ = svm_bundle
    bad = tmp_path / "broken.wav"
    bad.write_text("this is not audio\n", encoding="utf-8")
    status, out, err = run([folder, clips[0], bad, clips[1], tmp_path / "absent.mp3"], capsys)
    assert status == 1
    errors = err.splitlines()
    assert len(errors) == 2
    assert "broken.wav" in errors[0] and errors[0].startswith("genrepipe-predict: error:")
    assert "absent.mp3" in errors[1]
    answered = [line.split(": ")[0] for line in out.splitlines()]
    assert answered == [str(clips[0]), str(clips[1])]


def test_folders_leave_out_hidden_files_as_the_dataset_scan_does(
    svm_bundle, clips, tmp_path, capsys
):
    """A folder copied from a Mac: ``._<clip>.wav`` resource forks and ``.Trashes`` are skipped."""
    folder, _, _ = svm_bundle
    music = tmp_path / "music"
    (music / ".Trashes").mkdir(parents=True)
    shutil.copy(clips[0], music / clips[0].name)
    shutil.copy(clips[1], music / ".Trashes" / clips[1].name)
    (music / f"._{clips[0].name}").write_bytes(b"\x00\x05\x16\x07Mac OS X        ")
    status, out, err = run([folder, music], capsys)
    assert status == 0 and err == ""
    assert [line.split(": ")[0] for line in out.splitlines()] == [str(music / clips[0].name)]
    # A hidden file named on the command line is still read.
    status, _, err = run([folder, music / f"._{clips[0].name}"], capsys)
    assert status == 1 and "cannot decode audio" in err


def test_ctrl_c_keeps_the_answers_so_far_and_exits_130(svm_bundle, clips, capsys, monkeypatch):
    folder, _, _ = svm_bundle
    predict_file = Classifier.predict_file

    def interrupted_at_the_second(self, path, **kwargs):
        if path == clips[1]:
            raise KeyboardInterrupt
        return predict_file(self, path, **kwargs)

    monkeypatch.setattr(Classifier, "predict_file", interrupted_at_the_second)
    status, out, err = run([folder, *clips[:3]], capsys)
    assert status == 130
    assert [line.split(": ")[0] for line in out.splitlines()] == [str(clips[0])]
    assert err.splitlines()[-1] == "genrepipe-predict: interrupted"
    assert "Traceback" not in err
    # JSON is printed whole at the end, so Ctrl-C must still print a document.
    status, out, err = run([folder, "--format", "json", *clips[:3]], capsys)
    assert status == 130 and err.splitlines()[-1] == "genrepipe-predict: interrupted"
    document = json.loads(out)
    assert document["interrupted"] is True
    assert [entry["path"] for entry in document["files"]] == [str(clips[0])]
    status, out, _ = run([folder, "--format", "json", clips[0]], capsys)
    assert status == 0 and "interrupted" not in json.loads(out)


def test_ctrl_c_while_the_model_loads_still_gives_a_json_document(
    svm_bundle, clips, capsys, monkeypatch
):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Classifier, "load", interrupted)
    status, out, err = run([svm_bundle[0], "--format", "json", clips[0]], capsys)
    assert status == 130 and err == "genrepipe-predict: interrupted\n"
    assert json.loads(out) == {
        "model": str(svm_bundle[0]),
        "files": [],
        "errors": [],
        "interrupted": True,
    }
    status, out, err = run([svm_bundle[0], clips[0]], capsys)
    assert status == 130 and out == "" and err == "genrepipe-predict: interrupted\n"


def test_ctrl_c_while_folders_are_scanned_still_gives_a_json_document(
    svm_bundle, clips, capsys, monkeypatch
):
    # Between loading the model and reading the first file: a large music folder's scan.
    def interrupted(paths):
        raise KeyboardInterrupt
        yield  # a generator, as find_audio

    monkeypatch.setattr("genrepipe.predict.find_audio", interrupted)
    status, out, err = run([svm_bundle[0], "--format", "json", clips[0]], capsys)
    assert status == 130 and err == "genrepipe-predict: interrupted\n"
    document = json.loads(out)
    assert document["interrupted"] is True
    assert document["files"] == [] and document["errors"] == []
    assert document["classes"] == Classifier.load(svm_bundle[0]).classes
    status, out, err = run([svm_bundle[0], clips[0]], capsys)
    assert status == 130 and out == "" and err == "genrepipe-predict: interrupted\n"


def test_a_reader_closing_stdout_ends_quietly(svm_bundle, clips):
    """`genrepipe-predict ... | head -n 1`: no BrokenPipeError traceback once head exits."""
    folder, _, _ = svm_bundle
    script = Path(sys.executable).parent / "genrepipe-predict"
    command = [str(script), str(folder), *map(str, clips), "-q"]
    reader = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=0
    )
    reader.stdout.readline()
    reader.stdout.close()  # as head does after its line
    stderr = reader.stderr.read()
    assert reader.wait(timeout=120) == 141
    assert stderr == ""


def test_usage_errors_exit_2(clips, tmp_path, capsys):
    status, _, err = run([tmp_path / "no_model", clips[0]], capsys)
    assert status == 2 and "no_model" in err and len(err.splitlines()) == 1
    (tmp_path / "empty").mkdir()
    status, _, err = run([tmp_path / "empty", clips[0]], capsys)
    assert status == 2 and err.count(str(tmp_path / "empty")) == 1
    assert "not a model bundle (no card.json)" in err and "holds" not in err
    # results/final, one folder too high: the error names the bundles inside.
    final = tmp_path / "final"
    for name in ("svm", "gmm"):
        (final / name / "model").mkdir(parents=True)
        (final / name / "model" / "card.json").write_text("{}", encoding="utf-8")
    status, _, err = run([final, clips[0]], capsys)
    assert status == 2 and "it holds the bundles gmm, svm: pass one" in err
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "empty")])  # no PATH
    assert exit_info.value.code == 2


def test_a_network_classifies_on_one_tensorflow_thread_as_the_workers_do(clips, tmp_path, capsys):
    """-j 1 ran TensorFlow on its default threads, each --jobs worker on one: a CNN's
    probabilities differed in their last digits between -j 1 and -j 2."""
    folder = tmp_path / "model"
    params = {"hidden_units": 8, "epochs": 1, "validation_fraction": 0.0}
    build_bundle(
        folder,
        clips,
        feature_set="seed87",
        settings=SEED87,
        estimator="nn",
        params=params,
        input_kind="pca",
        card={"clip_seconds": 3.0},
    )
    probe = (
        "import sys; from genrepipe.predict import main; "
        f"status = main([{str(folder)!r}, {str(clips[2])!r}, '-q', '-j', '1']); "
        "import tensorflow as tf; threading = tf.config.threading; "
        "print(threading.get_intra_op_parallelism_threads(), "
        "threading.get_inter_op_parallelism_threads()); sys.exit(status)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "1 1"
    # Asked only while the bundle loads: main() called from Python leaves the rest as it was.
    from genrepipe import models

    assert run([folder, clips[2]], capsys)[0] == 0
    assert models._threads_on_import is None


def test_console_script_runs_without_tensorflow(svm_bundle, clips, tmp_path):
    """The installed command answers; a corrupt file costs one stderr line; no TensorFlow."""
    folder, _, _ = svm_bundle
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF....WAVEfmt nonsense")
    script = Path(sys.executable).parent / "genrepipe-predict"
    result = subprocess.run(
        [str(script), str(folder), str(clips[2]), str(bad), "--format", "csv"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    # Only our line: the decoders' multi-line warnings stay out of stderr.
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert "bad.wav" in result.stderr and "cannot decode" in result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["path"] for row in rows] == [str(clips[2])]
    probe = (
        "import sys; from genrepipe.predict import main; "
        f"status = main([{str(folder)!r}, {str(clips[2])!r}, '-q']); "
        "print('tensorflow' in sys.modules); sys.exit(status)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "False"


# -- the final-model code path ---------------------------------------------------------------------


def test_train_final_model_bundle_predicts_like_its_training(clips, tmp_path, capsys):
    """tasks.train_final_model on a feature table; the predictor reproduces its predictions."""
    spec = {"estimator": "svm", "features": "stats", "input": "scaled", "params": {"C": 10.0}}
    X, card = train_final_bundle(tmp_path, clips, spec, STATS)
    assert card["n_train"] == len(clips) and card["clip_seconds"] == 3.0
    classifier = Classifier.load(tmp_path / "final")
    expected = classifier.model.predict_proba(classifier.transform.transform(X).astype(np.float32))
    got = np.stack([classifier.predict_file(p).proba for p in clips])
    np.testing.assert_allclose(got, expected, atol=1e-6)


# -- real GTZAN clips ------------------------------------------------------------------------------


def test_real_clips_and_a_converted_copy(svm_bundle, gtzan_mini_dir, tmp_path, capsys):
    """30 s real clips are answered; FLAC and MP3 copies of one give the WAV's answer."""
    folder, _, _ = svm_bundle
    real = sorted(gtzan_mini_dir.glob("*/*.wav"))[::25][:4]
    y, sr = sf.read(real[0], dtype="float32")
    copies = [tmp_path / "copy.flac"]
    sf.write(copies[0], y, sr, format="FLAC", subtype="PCM_16")
    if "MP3" in sf.available_formats():
        copies.append(tmp_path / "copy.mp3")
        sf.write(copies[1], y, sr, format="MP3", subtype="MPEG_LAYER_III")
    status, out, err = run([folder, *real, *copies, "--format", "json"], capsys)
    assert status == 0, err
    files = {Path(f["path"]).name: f for f in json.loads(out)["files"]}
    assert len(files) == len(real) + len(copies)
    assert all(f["duration"] == pytest.approx(30.0, abs=0.7) for f in files.values())
    wav = files[real[0].name]
    assert files["copy.flac"]["probabilities"] == wav["probabilities"]
    if len(copies) == 2:
        assert files["copy.mp3"]["genre"] == wav["genre"]


def run_with_terminal_stderr(
    argv, *, stdout_too: bool = False, env=None
) -> tuple[subprocess.CompletedProcess, bytes]:
    """Run genrepipe-predict with stderr on a pseudo-terminal and stdout on a pipe (or on
    the same terminal, ``stdout_too``); return the run and what the terminal showed."""
    import os
    import pty
    import threading

    master, slave = pty.openpty()
    seen = bytearray()

    def drain():
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                return
            if not chunk:
                return
            seen.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    script = Path(sys.executable).parent / "genrepipe-predict"
    result = subprocess.run(
        [str(script), *map(str, argv)],
        stdout=slave if stdout_too else subprocess.PIPE,
        stderr=slave,
        text=True,
        env=env,
        check=False,
    )
    os.close(slave)
    reader.join(timeout=10)
    os.close(master)
    return result, bytes(seen)


def test_progress_bar_on_a_terminal_leaves_stdout_to_the_answers(svm_bundle, clips):
    """stderr a terminal (progress bar), stdout a pipe: every answer still reaches stdout."""
    folder, _, _ = svm_bundle
    result, seen = run_with_terminal_stderr([folder, *clips[:4], "--format", "csv"])
    assert result.returncode == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["path"] for row in rows] == [str(c) for c in clips[:4]]
    assert b"classifying" in seen  # the bar was drawn on the terminal


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full on this system")
def test_answers_that_cannot_be_written_are_one_error_line(svm_bundle, clips):
    script = Path(sys.executable).parent / "genrepipe-predict"
    for output in ("text", "csv", "json"):
        with open("/dev/full", "w", encoding="utf-8") as full:
            result = subprocess.run(
                [str(script), str(svm_bundle[0]), str(clips[0]), "-q", "--format", output],
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                check=False,
            )
        assert result.returncode == 74
        assert result.stderr == (
            "genrepipe-predict: error: cannot write the answers: No space left on device\n"
        )


class _PipeWithoutReader(io.StringIO):
    """stdout whose reader exited, as Windows reports it: EINVAL, not BrokenPipeError
    (python/cpython#79935)."""

    def write(self, text):
        raise OSError(errno.EINVAL, "Invalid argument")


def test_a_reader_gone_on_windows_ends_quietly_too(monkeypatch):
    """`genrepipe-predict ... | more`, ended early on Windows: the closed pipe raised
    EINVAL, and the tool said "cannot write the answers" and exited 74."""
    from genrepipe import predict
    from genrepipe.io import reader_gone

    monkeypatch.setattr("sys.stdout", _PipeWithoutReader())
    monkeypatch.setattr("genrepipe.io.stdout_is_pipe", lambda: True)
    with pytest.raises(predict.AnswersUnwritable):  # elsewhere EINVAL is a real error
        predict._write_answer("blues")
    monkeypatch.setattr("sys.platform", "win32")
    with pytest.raises(BrokenPipeError):  # what main answers with exit 141, quietly
        predict._write_answer("blues")
    monkeypatch.setattr("genrepipe.io.stdout_is_pipe", lambda: False)
    with pytest.raises(predict.AnswersUnwritable):  # on a file, a failed write
        predict._write_answer("blues")
    assert reader_gone(BrokenPipeError()) and not reader_gone(OSError(errno.ENOSPC, "full"))


def test_stdout_is_a_pipe_only_when_it_is_one(monkeypatch, tmp_path):
    from genrepipe.io import stdout_is_pipe

    read, write = os.pipe()
    with (
        open(write, "w", encoding="utf-8") as pipe,
        open(tmp_path / "f", "w", encoding="utf-8") as file,
    ):
        monkeypatch.setattr("sys.stdout", pipe)
        assert stdout_is_pipe()
        monkeypatch.setattr("sys.stdout", file)
        assert not stdout_is_pipe()
    monkeypatch.setattr("sys.stdout", io.StringIO())  # no file descriptor
    assert not stdout_is_pipe()
    # A character device, as a terminal is: on Windows, EINVAL there is a failed write.
    with open(os.devnull, "w", encoding="utf-8") as null:
        monkeypatch.setattr("sys.stdout", null)
        assert not stdout_is_pipe()
    os.close(read)


def test_answers_on_the_progress_bars_terminal_are_never_broken(svm_bundle, clips, tmp_path):
    """stdout and stderr one narrow terminal: each CSV row stays one line, as named."""
    import os
    import re

    long_name = tmp_path / ("a_long_folder_name_" * 4) / "clip.wav"
    long_name.parent.mkdir()
    shutil.copy(clips[0], long_name)
    emoji_code = tmp_path / "song:fire:.wav"  # not an emoji on the screen
    shutil.copy(clips[1], emoji_code)
    result, seen = run_with_terminal_stderr(
        [svm_bundle[0], long_name, emoji_code, *clips[:2], "--format", "csv"],
        stdout_too=True,
        env={**os.environ, "COLUMNS": "60", "LINES": "20"},
    )
    assert result.returncode == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode())
    rows = [line for line in text.replace("\r", "\n").splitlines() if ".wav," in line]
    assert len(str(long_name)) > 60 and len(rows) == 4
    paths = []
    for row in rows:
        cells = next(csv.reader([row]))
        assert len(cells) == 10  # path, duration, windows, genre, 3 x 2
        paths.append(cells[0])
    assert paths == [str(long_name), str(emoji_code), *map(str, clips[:2])]


def test_folders_are_searched_for_aiff_and_caf_too(gmm_bundle, clips, tmp_path, capsys):
    audio, sr = sf.read(clips[0])
    sf.write(tmp_path / "clip.aiff", audio, sr)
    sf.write(tmp_path / "clip.caf", audio, sr)
    status, out, _ = run([gmm_bundle, tmp_path, "--format", "csv"], capsys)
    assert status == 0
    paths = [row["path"] for row in csv.DictReader(io.StringIO(out))]
    assert sorted(paths) == [str(tmp_path / "clip.aiff"), str(tmp_path / "clip.caf")]


def test_progress_bar_counts_the_windows_of_one_long_file(gmm_bundle, nine_seconds):
    """One file three training clips long: the bar shows, and counts its windows."""
    result, seen = run_with_terminal_stderr([gmm_bundle, nine_seconds])
    assert result.returncode == 0 and "[mean of 3 windows of 3 s]" in result.stdout
    assert b"classifying" in seen and b"medley.wav: window 3 of 3" in seen


# -- window CNN bundles ----------------------------------------------------------------------------

LOGMEL = {"n_mels": 32, "n_fft": 1024, "hop_length": 512, "n_frames": 128}
TINY_CNN = {
    "filters": [4, 8],
    "dense_units": 8,
    "epochs": 2,
    "batch_size": 16,
    "window_frames": 32,
    "hop_frames": 16,
    "crops_per_track": 2,
    "validation_fraction": 0.0,
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("estimator", "params"),
    [("cnn_windows", TINY_CNN), ("cnn_svm", {"C": 1.0, "cnn": TINY_CNN})],
)
def test_window_cnn_bundles_predict_like_their_training(estimator, params, clips, tmp_path, capsys):
    """Final window CNN and CNN-embedding SVM bundles load and answer as the fitted model."""
    spec = {"estimator": estimator, "features": "logmel", "input": "image", "params": params}
    X, _ = train_final_bundle(tmp_path, clips, spec, LOGMEL)
    classifier = Classifier.load(tmp_path / "final")
    expected = classifier.predict_features(X)
    got = np.stack([classifier.predict_file(p).proba for p in clips])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert got.shape == (len(clips), len(GENRES))
    # A file shorter than the 128 frames: its 65 frames' windows vote, none of the padding.
    short = tmp_path / "short.wav"
    audio, _ = sf.read(clips[0], dtype="float32")
    sf.write(short, audio[: int(1.5 * SR)], SR)
    short_audio = load_audio(short, sr=SR)
    own_frames = extract("logmel", short_audio, SR, {**LOGMEL, "n_frames": None})
    padded = extract("logmel", short_audio, SR, LOGMEL)
    assert own_frames.shape[1] == 65 and padded.shape[1] == 128
    short_proba = classifier.predict_file(short).proba
    np.testing.assert_allclose(short_proba, classifier.predict_features(own_frames[None])[0])
    # The network finds the padding itself (as for a fold's short clips).
    np.testing.assert_allclose(short_proba, classifier.predict_features(padded[None])[0])
    assert not classifier.pads_short_windows  # so no warning speaks of padding
    # Timeline windows shorter than one network window are padded to one: said.
    _, _, err = run([tmp_path / "final", clips[0], "--timeline", "--window", "0.5"], capsys)
    assert "0.5 s windows are shorter than the 0.7 s windows the network votes over" in err
    _, _, err = run([tmp_path / "final", clips[0], "--timeline", "--window", "1"], capsys)
    assert "windows the network votes over" not in err and "pad" not in err
    # In an ensemble beside a member whose logmel pads: each gets its own features.
    from genrepipe.bundle import save_ensemble_bundle

    build_bundle(
        tmp_path / "padding_svm", clips, feature_set="logmel", settings=LOGMEL,
        estimator="svm", params={}, input_kind="pca", card={},
    )  # fmt: skip
    members = {"window_cnn": tmp_path / "final" / "model", "svm": tmp_path / "padding_svm"}
    for order in (members, dict(reversed(members.items()))):
        save_ensemble_bundle(tmp_path / "ensemble", order, {"classes": []})
        alone = [Classifier.load(folder).predict_file(short).proba for folder in order.values()]
        ensemble_proba = Classifier.load(tmp_path / "ensemble").predict_file(short).proba
        np.testing.assert_allclose(ensemble_proba, np.mean(alone, axis=0), atol=1e-9)
        shutil.rmtree(tmp_path / "ensemble")
    status, out, _ = run([tmp_path / "final", clips[0]], capsys)
    assert status == 0 and clips[0].name in out
    # The network's Keras is recorded and compared, as librosa and scikit-learn are.
    import keras

    card_path = tmp_path / "final" / "model" / "card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    assert card["versions"]["keras"] == keras.__version__
    card["versions"]["keras"] = "2.15.0"
    card_path.write_text(json.dumps(card), encoding="utf-8")
    _, _, err = run([tmp_path / "final", clips[0]], capsys)
    assert f"trained with keras 2.15.0, this environment has keras {keras.__version__}" in err
    if estimator == "cnn_svm":  # its archive holds the CNN's: a damaged one named once
        broken = tmp_path / "broken"
        shutil.copytree(tmp_path / "final" / "model", broken)
        (archive,) = broken.glob("estimator.*")
        for data in (b"{bad", zip_holding({"schema.json": b"{bad"})):
            rewrite_member(archive, "cnn.zip", data)
            status, out, err = run([broken, clips[0]], capsys)
            assert status == 2 and out == "" and err.count("damaged") == 1, err
            assert f"{archive}: damaged, or not written by save_model (cnn.zip" in err


# -- ensemble bundles ------------------------------------------------------------------------------


def test_ensemble_bundle_averages_its_members(svm_bundle, gmm_bundle, clips, tmp_path, capsys):
    from genrepipe.bundle import save_ensemble_bundle
    from genrepipe.predict import BundleError, EnsembleClassifier

    svm_folder = svm_bundle[0]
    folder = tmp_path / "final" / "ensemble" / "model"
    save_ensemble_bundle(folder, {"svm": svm_folder, "gmm_stats": gmm_bundle}, {"classes": []})
    ensemble = Classifier.load(folder.parent)  # the parent folder works as for any bundle
    assert isinstance(ensemble, EnsembleClassifier)
    assert ensemble.feature_set == "seed87+stats"
    members = [Classifier.load(svm_folder), Classifier.load(gmm_bundle)]
    for clip in clips[:3]:
        expected = np.mean([m.predict_file(clip).proba for m in members], axis=0)
        np.testing.assert_allclose(ensemble.predict_file(clip).proba, expected, atol=1e-9)
    status, out, _ = run([folder.parent, clips[0]], capsys)
    assert status == 0 and clips[0].name in out
    # A short file: the member whose features pad it is named, not the one of statistics.
    short = tmp_path / "short.wav"
    sf.write(short, sf.read(clips[0], dtype="float32")[0][: SR // 2], SR, subtype="PCM_16")
    _, _, err = run([folder.parent, short], capsys)
    assert "the model's seed87 features pad it" in err

    # The folder stands alone: members are copies, and a missing one is named.
    moved = tmp_path / "moved"
    folder.rename(moved)
    assert isinstance(Classifier.load(moved), EnsembleClassifier)
    shutil.rmtree(moved / "members" / "gmm_stats")
    with pytest.raises(BundleError, match="gmm_stats"):
        Classifier.load(moved)


def test_ensemble_members_sharing_a_feature_set_compute_it_once(
    svm_bundle, gmm_bundle, clips, tmp_path, monkeypatch
):
    """Two seed87 members and a stats one: two feature computations a clip, the same answer."""
    import genrepipe.features
    from genrepipe.bundle import save_ensemble_bundle

    folder = tmp_path / "ensemble"
    members = {"svm": svm_bundle[0], "svm_again": svm_bundle[0], "gmm_stats": gmm_bundle}
    save_ensemble_bundle(folder, members, {"classes": []})
    ensemble = Classifier.load(folder)
    alone = [Classifier.load(member) for member in members.values()]
    expected = np.mean([member.predict_file(clips[0]).proba for member in alone], axis=0)
    computed = []
    extract = genrepipe.features.extract
    monkeypatch.setattr(
        genrepipe.features,
        "extract",
        lambda feature_set, *args: computed.append(feature_set) or extract(feature_set, *args),
    )
    calls = []
    got = ensemble.predict_file(clips[0], on_window=lambda *args: calls.append(args))
    np.testing.assert_allclose(got.proba, expected, atol=1e-9)
    assert sorted(computed) == ["seed87", "stats"]
    assert calls == [(1, 2), (2, 2)]  # one window, two feature sets


def test_card_without_sample_rate_warns(svm_bundle, clips, tmp_path, capsys):
    """A bundle whose card records no rate (an older fold model's) says what it assumes."""
    folder = tmp_path / "fold0" / "model"
    shutil.copytree(svm_bundle[0], folder)
    card_path = folder / "card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    del card["sample_rate"], card["max_duration"]
    card_path.write_text(json.dumps(card), encoding="utf-8")
    status, out, err = run([folder, clips[0]], capsys)
    assert status == 0 and out.strip()
    assert "records no sample rate" in err and f"{SR} Hz" in err
    _, _, quiet = run([folder, clips[0], "--quiet"], capsys)
    assert quiet == ""


def test_every_set_of_clip_vectors_counts_as_clip_statistics():
    """A new set of per-clip statistics gets the timeline's warning as stats and rich do;
    a hand list of those two left it silent."""
    from types import SimpleNamespace

    from genrepipe.config import FEATURE_DEFAULTS

    def summarizes(feature_set):
        return Classifier.summarizes_clips.fget(SimpleNamespace(feature_set=feature_set))

    six = ("seed87", "stats", "logmel", "mfcc", "segment_stats", "rich")
    assert set(six) <= set(FEATURE_DEFAULTS)
    kinds = {name: summarizes(name) for name in six}
    assert kinds == {
        "seed87": False,
        "stats": True,
        "logmel": False,
        "mfcc": False,
        "segment_stats": False,
        "rich": True,
    }
    assert summarizes("flux")  # a set added beside them, of vectors


def test_bundles_trained_with_other_library_releases_warn_once(
    svm_bundle, gmm_bundle, clips, tmp_path, capsys
):
    """The card records librosa's and scikit-learn's versions; another release is named."""
    import librosa

    from genrepipe.bundle import save_ensemble_bundle

    folder = tmp_path / "model"
    shutil.copytree(svm_bundle[0], folder)
    card_path = folder / "card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    assert card["versions"]["librosa"] == librosa.__version__
    assert "keras" not in card["versions"]  # no network in it: Keras's release is no matter
    status, _, err = run([folder, clips[0]], capsys)
    assert status == 0 and err == ""  # trained here: nothing to say

    major, minor, *_ = card["versions"]["librosa"].split(".")
    patch_only = f"{major}.{minor}.99"
    card["versions"]["librosa"] = patch_only
    card_path.write_text(json.dumps(card), encoding="utf-8")
    assert run([folder, clips[0]], capsys)[2] == ""  # a patch release changes no result

    card["versions"] |= {"librosa": "0.8.1", "scikit-learn": "0.24.2"}
    card_path.write_text(json.dumps(card), encoding="utf-8")
    status, out, err = run([folder, clips[0]], capsys)
    assert status == 0 and clips[0].name in out  # still answered
    assert err.count("warning") == 1
    assert str(card_path) in err and "librosa 0.8.1" in err and "scikit-learn 0.24.2" in err
    assert f"librosa {librosa.__version__}" in err and "'librosa==0.8.1'" in err

    # An ensemble names its members' training once, not once a member.
    ensemble = tmp_path / "ensemble"
    save_ensemble_bundle(ensemble, {"a": folder, "b": folder, "gmm": gmm_bundle}, {"classes": []})
    status, _, err = run([ensemble, clips[0]], capsys)
    assert status == 0 and err.count("trained with") == 1 and "librosa 0.8.1" in err

    del card["versions"]  # a bundle from before cards recorded versions
    card_path.write_text(json.dumps(card), encoding="utf-8")
    assert run([folder, clips[0]], capsys)[2] == ""


def test_model_trained_on_generated_data_warns(gmm_bundle, clips, tmp_path, capsys, monkeypatch):
    """A final model's card beside its bundle names its dataset; synthesized music is flagged."""
    folder = tmp_path / "final" / "gmm_stats"
    shutil.copytree(gmm_bundle, folder / "model")

    def model_card(**card) -> None:
        (folder / "card.json").write_text(
            json.dumps({"model": "gmm_stats", **card}), encoding="utf-8"
        )

    model_card(bundle="model", dataset={"kind": "synthetic", "n_per_genre": 4})
    (tmp_path / "link").symlink_to(folder / "model")
    for model_dir in (folder, folder / "model", tmp_path / "link", "."):
        with monkeypatch.context() as inside:
            inside.chdir(folder / "model")  # "." is the bundle itself
            status, out, err = run([model_dir, clips[0]], capsys)
        assert status == 0 and out.startswith(str(clips[0]))
        assert "trained on the workflow's generated dataset" in err and "gtzan" in err
    assert run([folder, clips[0], "--quiet"], capsys)[2] == ""
    model_card(bundle="model", dataset={"kind": "gtzan", "gtzan": {"root": "genres"}})
    assert run([folder, clips[0]], capsys)[2] == ""
    # A card of another bundle says nothing of this one.
    model_card(bundle="other", dataset={"kind": "synthetic"})
    assert run([folder, clips[0]], capsys)[2] == ""


def test_fold_bundle_of_a_run_on_generated_data_warns(gmm_bundle, clips, tmp_path, capsys):
    """Fold bundles have no model card: their run's summary names the dataset."""
    results = tmp_path / "results"
    folder = results / "models" / "gmm_stats" / "holdout" / "fold0" / "model"
    shutil.copytree(gmm_bundle, folder)
    assert run([folder, clips[0]], capsys)[2] == ""  # no summary: nothing to say

    def summary(dataset: str) -> None:
        (results / "summary.csv").write_text(
            f"model,dataset,split\nsvm,gtzan,holdout\ngmm_stats,{dataset},holdout\n",
            encoding="utf-8",
        )

    summary("synthetic")
    status, out, err = run([folder, clips[0]], capsys)
    assert status == 0 and out.startswith(str(clips[0]))
    assert "trained on the workflow's generated dataset" in err
    summary("gtzan")
    assert run([folder, clips[0]], capsys)[2] == ""
    # A summary of another split is a later run's: it says nothing of this bundle.
    (results / "summary.csv").write_text(
        "model,dataset,split\ngmm_stats,synthetic,kfold\n", encoding="utf-8"
    )
    assert run([folder, clips[0]], capsys)[2] == ""


# -- what a user gets wrong, or hands in unusual -----------------------------------------------


@pytest.fixture(scope="module")
def segment_bundle(clips, tmp_path_factory) -> Path:
    """A logistic regression on segment_stats windows of 1 s (three per clip)."""
    folder = tmp_path_factory.mktemp("segments")
    spec = {"estimator": "logreg", "features": "segment_stats", "input": "scaled", "params": {}}
    train_final_bundle(folder, clips, spec, {**STATS, "window": 1.0, "n_windows": 3})
    return folder / "final"


def test_timeline_window_too_short_for_the_model_is_a_usage_error(
    svm_bundle, segment_bundle, tmp_path, capsys
):
    """Said once, naming --window, before any file is read (the file here does not exist)."""
    absent = tmp_path / "absent.wav"
    with pytest.raises(SystemExit) as exit_info:
        main([str(segment_bundle), str(absent), "--timeline", "--window", "0.5"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "absent" not in err
    assert (
        "--window 0.5 is too short for this model: 0.50 s of audio is shorter than one 1 s" in err
    )
    folder, _, _ = svm_bundle
    with pytest.raises(SystemExit) as exit_info:
        main([str(folder), str(absent), "--timeline", "--window", "0.05"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "--window 0.05 is too short" in err and "(n_fft=2048, 0.093 s)" in err
    # Long enough: no usage error (status 1 only because that folder holds no audio).
    status, _, _ = run([segment_bundle, absent.parent, "--timeline", "--window", "1"], capsys)
    assert status == 1  # no audio in that folder, but no usage error


def test_timeline_windows_longer_than_the_model_hears_warn(
    svm_bundle, gmm_bundle, segment_bundle, nine_seconds, capsys
):
    folder, _, _ = svm_bundle
    # seed87 keeps 130 frames (3.0 s): the last 6 s of a 9 s window would go unheard.
    status, out, err = run([folder, nine_seconds, "--timeline", "--window", "9"], capsys)
    assert status == 0 and "0.0 -     9.0 s" in out
    assert "9 s windows are longer than the model hears" in err and "3.0 s" in err
    # stats summarize the window: over 1.5 clips, statistics the model never saw.
    _, _, err = run([gmm_bundle, nine_seconds, "--timeline", "--window", "9"], capsys)
    assert "which shift on longer audio" in err
    _, _, err = run([gmm_bundle, nine_seconds, "--timeline", "--window", "4"], capsys)
    assert err == ""
    # segment_stats windows: three of 1 s spread over each 9 s window hear 3 s of it.
    _, _, err = run([segment_bundle, nine_seconds, "--timeline", "--window", "9"], capsys)
    assert (
        "9 s windows are longer than the model hears: its segment_stats features take 3 "
        "windows of 1 s spread over it, 3.0 s, so the rest of each window goes unheard"
    ) in err
    _, _, err = run([segment_bundle, nine_seconds, "--timeline", "--window", "3"], capsys)
    assert err == ""
    # A hop beyond the window leaves gaps.
    _, out, err = run(
        [gmm_bundle, nine_seconds, "--timeline", "--window", "3", "--hop", "4"], capsys
    )
    assert "--hop 4 is longer than --window 3: 1 s between windows go unheard" in err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--window", "3"], "--window needs --timeline"),
        (["--hop", "3"], "--hop needs --timeline"),
        (["--timeline", "--long", "first"], "--long has no effect with --timeline"),
    ],
)
def test_options_that_would_be_ignored_are_usage_errors(
    gmm_bundle, clips, options, message, capsys
):
    with pytest.raises(SystemExit) as exit_info:
        main([str(gmm_bundle), str(clips[0]), *options])
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_silent_files_are_answered_and_named_in_one_warning(gmm_bundle, clips, tmp_path, capsys):
    y = sf.read(clips[0], dtype="float32")[0]
    silent = tmp_path / "silence.wav"
    sf.write(silent, np.zeros_like(y), SR, subtype="PCM_16")
    quiet = tmp_path / "quiet.wav"  # 40 dB down: quiet, not silent
    sf.write(quiet, 0.01 * y, SR, subtype="PCM_16")
    # Noise peaking at -70 dBFS: not digital zero, but under -60 dBFS, so silent too.
    faint = tmp_path / "faint_noise.wav"
    noise = np.random.default_rng(0).uniform(-1.0, 1.0, y.size)
    sf.write(faint, 10 ** (-70 / 20) * noise / np.abs(noise).max(), SR, subtype="FLOAT")
    status, out, err = run([gmm_bundle, silent, quiet, faint, clips[0]], capsys)
    assert status == 0 and len(out.splitlines()) == 4
    assert err.strip() == (
        "genrepipe-predict: warning: 2 files are silent in the audio classified (peak under "
        f"-60 dBFS), so their genres mean nothing: {silent}, {faint}"
    )
    _, _, err = run([gmm_bundle, silent, "--quiet"], capsys)
    assert err == ""


def test_files_sampled_below_the_models_rate_are_named_in_one_warning(
    gmm_bundle, clips, tmp_path, capsys
):
    # Upsampled, an 8 kHz file holds nothing above 4 kHz: files at 8 and 11 kHz got one
    # confident genre whatever their music, without a word.
    from genrepipe.audio import load_audio_and_rate, resample

    y = sf.read(clips[0], dtype="float32")[0]
    narrow, wide = tmp_path / "phone.wav", tmp_path / "studio.wav"
    sf.write(narrow, resample(y, SR, 8000), 8000, subtype="PCM_16")
    sf.write(wide, resample(y, SR, 44100), 44100, subtype="PCM_16")
    assert load_audio_and_rate(narrow, sr=SR)[1] == 8000
    status, out, err = run([gmm_bundle, narrow, wide, clips[0]], capsys)
    assert status == 0 and len(out.splitlines()) == 3
    assert err.strip() == (
        f"genrepipe-predict: warning: 1 file is sampled below the {SR} Hz of the model's "
        "audio, so it holds no sound above half its rate, unlike anything the model learned "
        f"from: its answer may mean little: {narrow} (8000 Hz)"
    )
    assert run([gmm_bundle, wide, clips[0]], capsys)[2] == ""  # a higher rate loses nothing


def test_a_file_whose_classified_audio_is_silent_is_named(gmm_bundle, clips, tmp_path, capsys):
    # 4.2 s of silence, then 0.2 s of music: under 1.5 clips, so read as in training, its
    # first MAX_DURATION (4 s) seconds alone, all silence. The music after the crop kept
    # the file from counting as silent, and its answer was silence's, unwarned.
    y = sf.read(clips[0], dtype="float32")[0]
    intro = tmp_path / "silent_intro.wav"
    sf.write(intro, np.concatenate([np.zeros(int(4.2 * SR)), y[: int(0.2 * SR)]]), SR)
    status, _, err = run([gmm_bundle, intro, clips[0]], capsys)
    assert status == 0
    assert err.strip().endswith(f"so its genre means nothing: {intro}")
    # The same music inside the classified seconds: not silent.
    inside = tmp_path / "music_inside.wav"
    sf.write(inside, np.concatenate([np.zeros(int(3.8 * SR)), y[: int(0.6 * SR)]]), SR)
    assert run([gmm_bundle, inside], capsys)[2] == ""


def test_a_long_file_with_a_silent_first_window_is_not_named_silent(
    gmm_bundle, clips, tmp_path, capsys
):
    # 3 s of silence, then 6 s of music: three training clips long, so its three windows
    # are averaged; the music in the later two is classified, so the file is not silent.
    y = sf.read(clips[0], dtype="float32")[0]
    late = tmp_path / "late_start.wav"
    sf.write(late, np.concatenate([np.zeros(3 * SR), y, y]), SR, subtype="PCM_16")
    status, out, err = run([gmm_bundle, late, "--long", "average"], capsys)
    assert status == 0 and "[mean of 3 windows of 3 s]" in out
    assert err == ""


def test_a_segment_model_votes_over_windows_as_its_card_says(segment_bundle, clips, tmp_path):
    # A model trained with vote: majority was evaluated on the share of windows voting
    # for each genre; the predictor must answer the same way, not by mean log-probability.
    from genrepipe.segments import expand_windows, vote

    folder = tmp_path / "majority"
    shutil.copytree(segment_bundle / "model", folder)
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    (folder / "card.json").write_text(json.dumps(card | {"vote": "majority"}), encoding="utf-8")
    classifier = Classifier.load(folder)
    for clip in clips[::5]:
        F = classifier.features(load_audio(clip, sr=SR, max_duration=MAX_DURATION))
        windows, groups = expand_windows(F[None])
        window_proba = classifier.model.predict_proba(classifier.model_input(windows))
        expected = vote(window_proba, groups, 1, "majority")[0]
        assert not np.allclose(expected, vote(window_proba, groups, 1, "mean_log_proba")[0])
        np.testing.assert_allclose(classifier.predict_file(clip).proba, expected, atol=1e-12)


@pytest.mark.parametrize(
    ("key", "value"), [("classes", 5), ("features", ["stats"]), ("classes", None)]
)
def test_a_card_value_of_the_wrong_type_is_one_bundle_error(
    gmm_bundle, clips, tmp_path, capsys, key, value
):
    # A hand-edited or damaged card ended in a TypeError's traceback, exit 1.
    folder = tmp_path / "model"
    shutil.copytree(gmm_bundle, folder)
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    (folder / "card.json").write_text(json.dumps(card | {key: value}), encoding="utf-8")
    status, out, err = run([folder, clips[0]], capsys)
    assert status == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(f"genrepipe-predict: error: {folder / 'card.json'}: ")


def test_a_file_name_holding_a_newline_keeps_one_answer_a_line(gmm_bundle, clips, tmp_path, capsys):
    # Text output printed the name raw: one answer over two lines, the second looking
    # like the answer of a file "b.wav".
    odd = tmp_path / "a\nb.wav"
    shutil.copy(clips[0], odd)
    short = tmp_path / "tab\tshort.wav"
    sf.write(short, sf.read(clips[0], dtype="float32")[0][: SR // 2], SR, subtype="PCM_16")
    status, out, err = run([gmm_bundle, odd, short], capsys)
    assert status == 0 and len(out.splitlines()) == 2
    assert out.startswith(f"{tmp_path}/a\\nb.wav: ")
    assert f"{tmp_path}/tab\\tshort.wav (0.50 s)" in err and "\t" not in err
    # CSV and JSON quote the name as it is.
    _, out, _ = run([gmm_bundle, odd, "--format", "json"], capsys)
    assert json.loads(out)["files"][0]["path"] == str(odd)


def test_model_folder_mistakes_are_named(svm_bundle, clips, tmp_path, capsys):
    folder, _, _ = svm_bundle
    # The audio first, the model second.
    status, _, err = run([clips[0], folder], capsys)
    assert status == 2
    assert f"{clips[0]}: a file, not a model folder (the model folder comes first" in err
    # ... a folder of audio first.
    status, _, err = run([clips[0].parent, folder], capsys)
    assert status == 2
    assert "holds audio files: the model folder comes first, then the audio" in err
    # A model file that cannot be opened (a folder in its place, no read permission).
    blocked = tmp_path / "blocked"
    shutil.copytree(folder, blocked)
    (blocked / "transform.skops").unlink()
    (blocked / "transform.skops").mkdir()
    status, out, err = run([blocked, clips[0]], capsys)
    assert status == 2 and out == "" and "Traceback" not in err
    assert err.startswith(f"genrepipe-predict: error: {blocked}: not a usable model bundle: ")
    # results/models/<model>: the fold bundles lie in <scheme>/fold<k>/model/.
    models = tmp_path / "models" / "svm"
    for fold in ("fold0", "fold1"):
        shutil.copytree(folder, models / "kfold" / fold / "model")
    status, _, err = run([models, clips[0]], capsys)
    assert status == 2 and "it holds the bundles kfold/fold0, kfold/fold1: pass one" in err
    # results/models: every model's folds.
    shutil.copytree(models, models.parent / "gmm")
    status, _, err = run([models.parent, clips[0]], capsys)
    assert status == 2 and "it holds the fold bundles of gmm, svm: pass a final model" in err
    # A damaged card is named as the file at fault.
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / "card.json").write_text('{"features": "seed87",', encoding="utf-8")
    status, _, err = run([broken, clips[0]], capsys)
    assert status == 2 and f"{broken / 'card.json'}: not valid JSON" in err


def test_file_names_the_file_system_encoding_cannot_decode(gmm_bundle, clips, tmp_path, capsys):
    """A Latin-1 name on a UTF-8 system reaches Python with surrogates: read, and printed."""
    raw = bytes(tmp_path) + b"/caf\xe9.wav"
    try:
        shutil.copy(clips[0], raw)
    except OSError as error:  # file systems that insist on valid UTF-8 names (APFS)
        pytest.skip(f"this file system refuses a Latin-1 file name: {error}")
    status, out, err = run([gmm_bundle, tmp_path, "--format", "csv"], capsys)
    assert status == 0 and err == ""
    (row,) = list(csv.DictReader(io.StringIO(out)))
    assert row["path"] == str(tmp_path / "caf\\udce9.wav") and row["genre"] in GENRES


def test_damaged_mp3_is_one_error_line_without_decoder_notes(gmm_bundle, clips, tmp_path, capfd):
    """Random bytes named .mp3: mpg123's notes stay off stderr; the reason is not 'missing'."""
    fake = tmp_path / "fake.mp3"
    fake.write_bytes(np.random.default_rng(0).bytes(3000))
    status = main([str(gmm_bundle), str(fake), str(clips[0])])
    out, err = capfd.readouterr()
    assert status == 1 and len(out.splitlines()) == 1
    assert err.splitlines() == [err.strip()] and err.startswith(f"genrepipe-predict: error: {fake}")
    assert "does not exist" not in err


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("sample_rate", "abc", "sample_rate is not a positive number: 'abc'"),
        ("sample_rate", 0, "sample_rate is not a positive number: 0"),
        ("sample_rate", 22050.5, "sample_rate is not a whole number: 22050.5"),
        ("max_duration", "x", "max_duration is not a positive number: 'x'"),
        ("clip_seconds", -3, "clip_seconds is not a positive number: -3"),
        ("feature_settings", [1], "feature_settings is not a mapping"),
        ("features", "bogus", "unknown feature set 'bogus'"),
    ],
)
def test_a_card_value_that_cannot_be_right_is_one_bundle_error(
    svm_bundle, clips, tmp_path, capsys, key, value, message
):
    # Not a traceback, nor a default put in silently (0 Hz read as 22050 Hz), nor an
    # error repeated for every file without naming the card.
    folder = tmp_path / "model"
    shutil.copytree(svm_bundle[0], folder)
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    (folder / "card.json").write_text(json.dumps(card | {key: value}), encoding="utf-8")
    status, out, err = run([folder, clips[0], clips[1]], capsys)
    assert status == 2 and out == ""
    assert err.strip() == f"genrepipe-predict: error: {folder / 'card.json'}: {message}"


def test_features_of_another_layout_than_the_transform_is_one_bundle_error(
    svm_bundle, gmm_bundle, clips, tmp_path, capsys
):
    # A bundle of a genrepipe whose features had another layout: every file failed
    # alike, each error blaming the audio file, exit 1.
    for name, bundle in (("svm", svm_bundle[0]), ("gmm", gmm_bundle)):
        folder = tmp_path / name / "model"
        shutil.copytree(bundle, folder)
        card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
        card["feature_settings"] = card["feature_settings"] | {"n_mfcc": 17}
        (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")
        status, out, err = run([folder, clips[0], clips[1]], capsys)
        assert status == 2 and out == "" and err.count("\n") == 1
        assert f"genrepipe-predict: error: {folder}: card.json's {card['features']} settings" in err
        assert "retrain it" in err


def test_feature_settings_this_genrepipe_does_not_know_are_one_bundle_error(
    svm_bundle, clips, tmp_path, capsys
):
    # A setting of another genrepipe's feature function: every file failed alike with
    # "unknown parameter(s)", each blamed on the audio file, exit 1.
    folder = tmp_path / "model"
    shutil.copytree(svm_bundle[0], folder)
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    card["feature_settings"] = card["feature_settings"] | {"center": True}
    (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")
    status, out, err = run([folder, clips[0], clips[1]], capsys)
    assert status == 2 and out == "" and err.count("\n") == 1
    assert f"error: {folder / 'card.json'}: seed87 settings ['center'] are unknown" in err


def zip_holding(members: dict[str, bytes]) -> bytes:
    """The bytes of a zip archive holding ``members``."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def rewrite_member(archive: Path, member: str, data: bytes) -> None:
    """Replace one member of a zip archive (a damaged estimator file)."""
    import zipfile

    with zipfile.ZipFile(archive) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    assert member in members
    with zipfile.ZipFile(archive, "w") as zf:
        for name, content in (members | {member: data}).items():
            zf.writestr(name, content)


def test_a_damaged_estimator_archive_is_named_not_the_card(svm_bundle, clips, tmp_path, capsys):
    # Its JSON inside was reported as "card.json: not valid JSON", the card being intact.
    for damaged in ("transform.skops", "estimator.skops"):
        folder = tmp_path / damaged / "model"
        shutil.copytree(svm_bundle[0], folder)
        rewrite_member(folder / damaged, "schema.json", b"{bad")
        status, out, err = run([folder, clips[0]], capsys)
        assert status == 2 and out == "" and err.count("\n") == 1, err
        assert f"{folder / damaged}: damaged, or not written by save_model" in err
        assert "card.json" not in err


@pytest.mark.slow
def test_image_bundles_of_another_layout_are_one_bundle_error(clips, tmp_path, capsys):
    """The reference CNN's image input: rows or frames other than its model was fitted
    on failed every file alike, each blamed on the audio (exit 1)."""
    cnn = {"filters": [2, 2], "dense_units": 4, "epochs": 1, "batch_size": 8}
    cnn |= {"validation_fraction": 0.0}
    spec = {"estimator": "cnn", "features": "seed87", "input": "image", "params": cnn}
    train_final_bundle(tmp_path, clips, spec, SEED87)
    bundle = tmp_path / "final" / "model"
    status, _, _ = run([bundle, clips[0]], capsys)
    assert status == 0
    for setting, value, what in (
        ("n_mfcc", 7, "matrix rows, but its transform"),
        ("n_frames", 40, "frames, but its model"),
    ):
        folder = tmp_path / setting
        shutil.copytree(bundle, folder)
        card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
        card["feature_settings"] = card["feature_settings"] | {setting: value}
        (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")
        status, out, err = run([folder, clips[0], clips[1]], capsys)
        assert status == 2 and out == "" and err.count("\n") == 1, err
        assert f"error: {folder}: card.json's seed87 settings give" in err and what in err
    # A frame count that is no number is the feature function's to refuse, file by
    # file, as before the check: not a traceback.
    folder = tmp_path / "no_number"
    shutil.copytree(bundle, folder)
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    card["feature_settings"] = card["feature_settings"] | {"n_frames": "abc"}
    (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")
    status, out, err = run([folder, clips[0]], capsys)
    assert status == 1 and "n_frames must be a positive integer" in err and "Traceback" not in err
    # A damaged member of the Keras archive is named in it, not by the card, nor by the
    # temporary folder the archive was unpacked to.
    for member in ("genrepipe_keras.json", "model.keras"):
        folder = tmp_path / member / "model"
        shutil.copytree(bundle, folder)
        rewrite_member(folder / "estimator.keras", member, b"{bad")
        status, out, err = run([folder, clips[0]], capsys)
        assert status == 2 and out == "" and err.count("\n") == 1, err
        assert f"{folder / 'estimator.keras'}: damaged, or not written by save_model" in err
        assert "card.json" not in err and "genrepipe-keras-" not in err, err


def test_a_model_card_naming_no_dataset_mapping_is_ignored(gmm_bundle, clips, tmp_path, capsys):
    folder = tmp_path / "final" / "gmm_stats"
    shutil.copytree(gmm_bundle, folder / "model")
    (folder / "card.json").write_text(
        json.dumps({"bundle": "model", "dataset": "gtzan"}), encoding="utf-8"
    )
    status, out, err = run([folder, clips[0]], capsys)
    assert status == 0 and out.startswith(str(clips[0])) and err == ""


def test_fold_bundle_takes_the_clip_length_of_its_run(
    gmm_bundle, clips, nine_seconds, capsys, monkeypatch
):
    """Fold cards record no clip length: the run's track list gives it, so a file three
    times as long as the 3 s training clips is averaged over 3 s windows, as the final
    bundle does, instead of judged by its first seconds as if clips were 30 s long."""
    results = nine_seconds.parent / "results"
    folder = results / "models" / "gmm_stats" / "holdout" / "fold0" / "model"
    shutil.copytree(gmm_bundle, folder)
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    del card["clip_seconds"]
    (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")
    final = run([gmm_bundle, nine_seconds, "--format", "json"], capsys)[1]
    assert json.loads(final)["files"][0]["windows"] == 3

    # Without the run's track list: no clip was read longer than max_duration, 4 s.
    no_list = json.loads(run([folder, nine_seconds, "--format", "json"], capsys)[1])
    assert no_list["files"][0]["windows"] == 3  # 9 s > 1.5 x 4 s: windows of 4 s

    def track_list(*durations: float, before_the_bundle: bool) -> None:
        listed = results / "tracks.tsv"
        pd.DataFrame(
            {"track": [f"t{i}" for i in range(len(durations))], "duration": durations}
        ).to_csv(listed, sep="\t", index=False)
        if before_the_bundle:  # as in a run: the list, then the models trained on it
            made = (folder / "card.json").stat().st_mtime - 60
            os.utime(listed, (made, made))

    track_list(3.0, 3.0, 2.9, before_the_bundle=True)
    fold = json.loads(run([folder, nine_seconds, "--format", "json"], capsys)[1])
    assert fold["files"] == json.loads(final)["files"]
    # The same folder through a link of another name, or as ".": the same run's clips
    # (both were taken for some other folder, and files judged by windows of 4 s).
    link = nine_seconds.parent / "fold_link"
    link.symlink_to(folder, target_is_directory=True)
    linked = json.loads(run([link, nine_seconds, "--format", "json"], capsys)[1])
    assert linked["files"] == fold["files"]
    with monkeypatch.context() as inside:
        inside.chdir(folder)
        here = json.loads(run([Path("."), nine_seconds, "--format", "json"], capsys)[1])
    assert here["files"] == fold["files"]
    # A later run on 30 s clips rewrote the list: still no clip was read past 4 s.
    track_list(30.0, 30.0, before_the_bundle=False)
    later = json.loads(run([folder, nine_seconds, "--format", "json"], capsys)[1])
    assert later["files"][0]["windows"] == 3
    # A bundle of 30 s clips (crop 31 s), the list rewritten by a later run on 3 s clips:
    # the list is not this bundle's, so a 9 s file is one clip, not three.
    (folder / "card.json").write_text(json.dumps(card | {"max_duration": 31.0}), encoding="utf-8")
    track_list(3.0, 3.0, before_the_bundle=False)
    later = json.loads(run([folder, nine_seconds, "--format", "json"], capsys)[1])
    assert later["files"][0]["windows"] == 1


def test_an_ensembles_fold_folders_point_to_its_final_bundle(clips, tmp_path, capsys, monkeypatch):
    fold = tmp_path / "models" / "ensemble" / "holdout" / "fold0" / "model"
    fold.mkdir(parents=True)
    card = {"estimator": "ensemble", "members": ["svm"], "classes": GENRES}
    (fold / "card.json").write_text(json.dumps(card), encoding="utf-8")
    # The fold's model folder, the fold, the scheme's folder, the model's.
    for model_dir in (fold, fold.parent, fold.parent.parent, tmp_path / "models" / "ensemble"):
        status, _, err = run([model_dir, clips[0]], capsys)
        assert status == 2 and "results/final/ensemble" in err and "member bundle" not in err
    monkeypatch.chdir(fold)  # "." in the fold's model folder: not "members: no such folder"
    status, _, err = run([Path("."), clips[0]], capsys)
    assert status == 2 and "results/final/ensemble" in err and "no such folder" not in err


def test_a_final_folder_whose_bundle_is_gone_is_named_so(svm_bundle, clips, tmp_path, capsys):
    # A failed retraining removes results/final/<model>/model and leaves the model card:
    # that card was read as a bundle's ("no such file ... transform.skops").
    final = tmp_path / "final" / "svm"
    final.mkdir(parents=True)
    card = json.loads((svm_bundle[0] / "card.json").read_text(encoding="utf-8"))
    (final / "card.json").write_text(json.dumps(card | {"bundle": "model"}), encoding="utf-8")
    status, out, err = run([final, clips[0]], capsys)
    assert status == 2 and out == ""
    assert (
        f"error: {final / 'model'}: no such bundle ({final / 'card.json'} is the model card" in err
    )
    # An ensemble's final bundle without its members is no fold folder: it was sent to
    # "classify with its final bundle", the folder given.
    ensemble = tmp_path / "final" / "ensemble" / "model"
    ensemble.mkdir(parents=True)
    card = {"estimator": "ensemble", "members": ["svm"], "classes": GENRES}
    (ensemble / "card.json").write_text(json.dumps(card), encoding="utf-8")
    for folder in (ensemble, ensemble.parent):
        status, out, err = run([folder, clips[0]], capsys)
        assert status == 2 and out == "" and "fold folders" not in err
        assert f"error: {ensemble / 'members'}: no such folder: an ensemble bundle holds" in err


def test_csv_quotes_a_file_name_holding_a_line_break(gmm_bundle, clips, tmp_path, capsys):
    path = tmp_path / "two\nlines.wav"
    shutil.copy(clips[0], path)
    status, out, _ = run([gmm_bundle, path, "--format", "csv"], capsys)
    rows = list(csv.reader(io.StringIO(out)))
    assert status == 0 and len(rows) == 2 and rows[1][0] == str(path)


def test_linked_folders_are_searched_and_broken_links_named(gmm_bundle, clips, tmp_path, capsys):
    real = tmp_path / "real"
    real.mkdir()
    shutil.copy(clips[0], real / "a.wav")
    top = tmp_path / "top"
    top.mkdir()
    (top / "linked").symlink_to(real, target_is_directory=True)
    (top / "loop").symlink_to(top, target_is_directory=True)  # must not walk forever
    (top / "broken.wav").symlink_to(tmp_path / "gone.wav")
    status, out, err = run([gmm_bundle, top], capsys)
    assert status == 1
    assert out.startswith(str(top / "linked" / "a.wav"))
    assert f"{top / 'broken.wav'}: a link to a missing file" in err


def test_paths_given_that_cannot_be_looked_into_are_one_line_each(
    gmm_bundle, clips, tmp_path, capsys, monkeypatch
):
    """A path inside a folder one may not enter (pathlib raises PermissionError there,
    as for a name too long): a traceback, no answer for the other files, exit 1. As a
    model folder: a traceback where a usage error exits 2."""
    locked = tmp_path / "locked"
    is_dir = Path.is_dir

    def refusing_is_dir(path):
        if locked in (path, *path.parents):
            raise PermissionError(13, "Permission denied", str(path))
        return is_dir(path)

    monkeypatch.setattr(Path, "is_dir", refusing_is_dir)
    status, out, err = run([gmm_bundle, clips[0], locked / "c.wav"], capsys)
    assert status == 1
    assert out.startswith(str(clips[0])) and len(out.splitlines()) == 1
    assert err.splitlines() == [
        f"genrepipe-predict: error: {locked / 'c.wav'}: cannot be read (Permission denied)"
    ]
    status, out, err = run([locked / "model", clips[0]], capsys)
    assert status == 2 and not out
    assert err.strip() == (
        f"genrepipe-predict: error: {locked / 'model'}: cannot be read (Permission denied)"
    )


def test_unreadable_folders_and_files_are_named_and_fail(
    gmm_bundle, clips, tmp_path, capsys, monkeypatch
):
    # os.walk skipped a folder it could not list: exit 0, its files never mentioned. An
    # unreadable file was "cannot decode audio (System error)". (chmod binds no root.)

    top = tmp_path / "top"
    (top / "ok").mkdir(parents=True)
    (top / "locked").mkdir()
    shutil.copy(clips[0], top / "ok" / "a.wav")
    shutil.copy(clips[1], top / "ok" / "b.wav")
    shutil.copy(clips[2], top / "locked" / "c.wav")
    scandir = os.scandir

    def refusing_scandir(folder="."):
        if Path(folder) == top / "locked":
            raise PermissionError(13, "Permission denied", str(folder))
        return scandir(folder)

    monkeypatch.setattr(os, "scandir", refusing_scandir)
    unreadable(monkeypatch, lambda file: Path(file).name == "b.wav")
    status, out, err = run([gmm_bundle, top], capsys)
    assert status == 1
    assert out.startswith(str(top / "ok" / "a.wav")) and len(out.splitlines()) == 1
    assert err.splitlines() == [
        f"genrepipe-predict: error: {top / 'locked'}: cannot list this folder (Permission denied)",
        f"genrepipe-predict: error: {top / 'ok' / 'b.wav'}: cannot read the file "
        "(Permission denied)",
    ]


def test_a_hop_too_fine_to_mean_anything_is_a_usage_error(gmm_bundle, clips, capsys, monkeypatch):
    with pytest.raises(SystemExit) as exit_info:
        main([str(gmm_bundle), str(clips[0]), "--timeline", "--hop", "0.0001"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2 and out == ""
    assert "--hop 0.0001 is below 0.05 s" in err and "600,000" in err
    # Without --hop, the window is the hop: the option given is the one named, and
    # before the model loads (nothing of the model decides it).
    monkeypatch.setattr(Classifier, "load", None)
    with pytest.raises(SystemExit) as exit_info:
        main([str(gmm_bundle), str(clips[0]), "--timeline", "--window", "0.01"])
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2 and out == ""
    (message,) = [line for line in err.splitlines() if "error:" in line]
    assert "--window 0.01 (the hop) is below 0.05 s" in message and "--hop" not in message


# -- --jobs: files classified in worker processes ---------------------------------------------


def test_jobs_give_the_same_answers_errors_and_order(
    svm_bundle, clips, tmp_path, capsys, monkeypatch
):
    """Worker processes each load the bundle and classify whole files; the answers come
    back in the files' order, byte for byte those of one process, as do the error lines."""
    import multiprocessing

    from genrepipe import predict

    monkeypatch.setattr(predict, "_usable_cpus", lambda: 4)  # no warning on a 1-CPU machine
    folder, _, _ = svm_bundle
    bad = tmp_path / "broken.wav"
    bad.write_text("this is not audio\n", encoding="utf-8")
    files = [*clips[:5], bad, *clips[5:9], tmp_path / "absent.mp3", *clips[9:]]
    for output in ("csv", "json"):
        one = run([folder, "--format", output, *files], capsys)
        two = run([folder, "--format", output, "--jobs", "2", *files], capsys)
        assert one[0] == two[0] == 1
        assert one[1] == two[1]
        assert one[2] == two[2] and len(two[2].splitlines()) == 2
    assert multiprocessing.active_children() == []  # the workers stopped with the run
    # One readable file: no worker processes at all, the same answer.
    assert run([folder, "--jobs", "3", clips[0]], capsys) == run([folder, clips[0]], capsys)


def test_ctrl_c_with_jobs_keeps_the_answers_so_far_and_stops_the_workers(
    svm_bundle, clips, capsys, monkeypatch
):
    import multiprocessing

    from genrepipe import predict

    monkeypatch.setattr(predict, "_usable_cpus", lambda: 4)  # workers on a 1-CPU machine too
    folder, _, _ = svm_bundle
    text_lines = predict._text_lines

    def interrupted_at_the_third(result, *args):
        if result.path == clips[2]:
            raise KeyboardInterrupt
        return text_lines(result, *args)

    monkeypatch.setattr(predict, "_text_lines", interrupted_at_the_third)
    status, out, err = run([folder, "--jobs", "2", *clips], capsys)
    assert status == 130 and err.splitlines()[-1] == "genrepipe-predict: interrupted"
    assert [line.split(": ")[0] for line in out.splitlines()] == [str(c) for c in clips[:2]]
    assert multiprocessing.active_children() == []


@pytest.mark.skipif(
    _usable_cpus() < 2, reason="-j 2 runs one process on one CPU: no workers to interrupt"
)
def test_a_terminals_ctrl_c_with_jobs_is_one_line_and_leaves_no_process(svm_bundle, clips):
    """The terminal sends SIGINT to the whole process group, workers included, while the
    command waits for an answer: one line on stderr, no traceback from a worker or from
    the executor's thread, and nothing left running in the group."""
    import signal
    import time

    folder, _, _ = svm_bundle
    # Python leaves SIGINT ignored when it starts so (a suite run in the background by a
    # shell): the command's own default handler, as a terminal's shell gives it.
    program = (
        "import signal, sys\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from genrepipe.predict import main\n"
        "sys.exit(main())\n"
    )
    command = [sys.executable, "-c", program, "-q", "-j", "2", str(folder)]
    process = subprocess.Popen(
        [*command, *map(str, clips * 20)],  # 320 files: most still queued at the Ctrl-C
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        first = process.stdout.readline()  # an answer: the workers are running
        os.killpg(process.pid, signal.SIGINT)
        rest, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert first.startswith(str(clips[0]))
    assert process.returncode == 130
    assert err == "genrepipe-predict: interrupted\n"
    assert len(rest.splitlines()) < 319
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)  # a process of the group still there?
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("worker processes outlived the command")


def test_a_worker_runs_one_thread_per_pool_and_reports_a_bundle_it_cannot_load(
    svm_bundle, clips, tmp_path
):
    """What _start_worker leaves in a fresh process, as a spawned worker is: every thread
    pool at one thread, those of the libraries the bundle loads too, and warnings
    silenced; and a bundle gone since the command loaded it is an error per file naming
    it, not a traceback."""
    folder, _, _ = svm_bundle
    probe = (
        "import json, sys\n"
        "from genrepipe import predict\n"
        "predict._start_worker(sys.argv[1])\n"
        "import warnings\n"
        "warnings.warn('a library warning')\n"
        "result, problem = predict._predict_in_worker(predict.Path(sys.argv[2]), 'average', None)\n"
        "from threadpoolctl import threadpool_info\n"
        "print(json.dumps([[p['internal_api'], p['num_threads']] for p in threadpool_info()]))\n"
        "print(json.dumps(problem))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe, str(folder), str(clips[0])],
        capture_output=True,
        text=True,
        check=True,
    )
    pools, problem = (json.loads(line) for line in found.stdout.splitlines())
    assert problem is None
    # The command ignores warnings (its own one-line ones say what matters): so do its
    # workers, whose stderr is the command's.
    assert "a library warning" not in found.stderr
    assert {api for api, _ in pools} >= {"openblas"} and {n for _, n in pools} == {1}
    missing = tmp_path / "gone"
    found = subprocess.run(
        [sys.executable, "-c", probe, str(missing), str(clips[0])],
        capture_output=True,
        text=True,
        check=True,
    )
    problem = json.loads(found.stdout.splitlines()[1])
    assert problem.startswith(f"{clips[0]}: a worker process of --jobs could not load {missing}")
    assert "Traceback" not in found.stderr


def _outcomes_in_two_workers(folder: Path, files: list) -> Iterator:
    """genrepipe-predict's outcomes of ``files`` from two worker processes, as -j 2 makes them."""
    from genrepipe.predict import _outcomes

    return _outcomes(
        Classifier.load(folder),
        files,
        jobs=2,
        model_dir=folder,
        long="average",
        timeline=None,
        on_start=lambda path: None,
        on_window=lambda name, done, total: None,
    )


def test_a_worker_killed_fails_the_files_left_by_name_and_stops_the_others(svm_bundle, clips):
    """A worker killed outright (the out-of-memory killer) breaks the pool: every file
    not yet answered is an error naming it, in order, and no process is left behind."""
    import multiprocessing
    import signal

    files = [(path, None) for path in clips * 10]  # 160 files: most still queued at the kill
    outcomes = _outcomes_in_two_workers(svm_bundle[0], files)
    first = next(outcomes)
    assert first[0] == clips[0] and first[1] is not None
    os.kill(multiprocessing.active_children()[0].pid, signal.SIGKILL)
    rest = list(outcomes)
    assert [path for path, _, _ in rest] == [path for path, _ in files[1:]]
    failures = [problem for _, result, problem in rest if result is None]
    assert failures, "every file was answered although a worker was killed"
    assert all("a worker process of --jobs stopped" in problem for problem in failures)
    # Each line names its own file: a bare "not classified" left the user to guess which.
    assert all(problem.startswith(f"{path}: ") for path, result, problem in rest if result is None)
    assert all(result is None for _, result, _ in rest[len(rest) - len(failures) :])
    assert multiprocessing.active_children() == []


def test_a_second_ctrl_c_while_the_workers_stop_waits_until_all_have(
    svm_bundle, clips, monkeypatch
):
    """A Ctrl-C raised halfway through stopping the workers left those after the first to
    classify their whole queue; it is raised once all are stopped instead."""
    import multiprocessing
    import signal
    from multiprocessing.process import BaseProcess

    folder, _, _ = svm_bundle
    terminate = BaseProcess.terminate
    interrupted = []

    def ctrl_c_at_the_first(process):
        if not interrupted:
            interrupted.append(process.pid)
            os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C again
        terminate(process)

    # Python's handler, as a terminal's shell gives it (a background shell ignores SIGINT).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        # 160 files: most still queued when closed
        outcomes = _outcomes_in_two_workers(folder, [(path, None) for path in clips * 10])
        assert next(outcomes)[1] is not None
        assert len(multiprocessing.active_children()) == 2
        monkeypatch.setattr(BaseProcess, "terminate", ctrl_c_at_the_first)
        with pytest.raises(KeyboardInterrupt):
            outcomes.close()
        assert interrupted
        left = multiprocessing.active_children()
        assert left == [], f"{len(left)} worker(s) left running their queue"
    finally:
        signal.signal(signal.SIGINT, previous)
        for process in multiprocessing.active_children():
            process.kill()


def test_a_deferred_ctrl_c_is_raised_after_the_block_as_the_handler_before_says():
    """Python's handler: KeyboardInterrupt once the block is done, not inside it; an
    ignored SIGINT stays ignored; the handler before is put back either way."""
    import signal

    from genrepipe.predict import _interrupts_deferred

    previous = signal.getsignal(signal.SIGINT)
    done = []
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        with pytest.raises(KeyboardInterrupt):
            with _interrupts_deferred():
                signal.raise_signal(signal.SIGINT)
                done.append("after the signal")
        assert done == ["after the signal"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        # Pressed twice: the second is raised at once, a hung stop no trap.
        with pytest.raises(KeyboardInterrupt):
            with _interrupts_deferred():
                signal.raise_signal(signal.SIGINT)
                signal.raise_signal(signal.SIGINT)
                done.append("after the second")
        assert done == ["after the signal"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        with _interrupts_deferred():
            signal.raise_signal(signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGINT to raise on Windows")
def test_a_deferred_ctrl_c_under_the_systems_handler_ends_the_process():
    """SIG_DFL: the process ends on Ctrl-C, once the block is done, not dropped."""
    import signal

    program = (
        "import signal\n"
        "from genrepipe.predict import _interrupts_deferred\n"
        "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
        "with _interrupts_deferred():\n"
        "    signal.raise_signal(signal.SIGINT)\n"
        "    print('the block ran on', flush=True)\n"
        "print('the signal was dropped', flush=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True)
    assert done.returncode == -signal.SIGINT, done.stderr
    assert done.stdout == "the block ran on\n"


def test_jobs_past_the_cpus_run_one_worker_per_cpu_and_say_so(
    svm_bundle, clips, capsys, monkeypatch
):
    """Each worker holds a copy of the model: -j 64 on two CPUs held 64 copies for the
    speed of two (a Keras bundle's, TensorFlow in each, ran out of memory)."""
    from genrepipe import predict

    outcomes = predict._outcomes
    asked = []

    def counting(*args, jobs, **kwargs):
        asked.append(jobs)
        return outcomes(*args, jobs=jobs, **kwargs)

    monkeypatch.setattr(predict, "_outcomes", counting)
    monkeypatch.setattr(predict, "_usable_cpus", lambda: 2)
    folder, _, _ = svm_bundle
    status, out, err = run([folder, "--jobs", "64", *clips[:3]], capsys)
    assert status == 0 and len(out.splitlines()) == 3
    assert asked == [2]
    assert "warning: --jobs 64 is more than the 2 CPUs this command may use: 2 at a time" in err
    monkeypatch.setattr(predict, "_usable_cpus", lambda: 1)
    status, out, err = run([folder, "--jobs", "2", *clips[:3]], capsys)
    assert "warning: --jobs 2 is more than the 1 CPU this command may use: 1 at a time" in err
    assert asked == [2, 1]
    monkeypatch.setattr(predict, "_usable_cpus", lambda: 2)
    status, out, err = run([folder, "--jobs", "2", *clips[:3]], capsys)
    assert asked == [2, 1, 2] and "warning" not in err
    # -q: no warning, the same cap
    status, out, err = run([folder, "-q", "--jobs", "3", *clips[:3]], capsys)
    assert asked == [2, 1, 2, 2] and err == ""


def test_jobs_must_be_a_whole_number_of_at_least_one(svm_bundle, clips, capsys):
    for value in ("0", "-1", "two"):
        with pytest.raises(SystemExit) as exit_info:
            main([str(svm_bundle[0]), "--jobs", value, str(clips[0])])
        assert exit_info.value.code == 2
        assert "--jobs" in capsys.readouterr().err


def test_jobs_classify_with_the_commands_long_and_timeline_options(
    svm_bundle, nine_seconds, tmp_path, capsys, monkeypatch
):
    """The workers answer as the command was asked (--long first, --timeline's windows),
    not with the defaults: the same answers as one process, options and all."""
    from genrepipe import predict

    monkeypatch.setattr(predict, "_usable_cpus", lambda: 4)
    folder, _, _ = svm_bundle
    files = [nine_seconds, shutil.copy(nine_seconds, tmp_path / "again.wav")]
    plain = run([folder, "-q", "--format", "json", *files], capsys)
    for options in (["--long", "first"], ["--timeline", "--window", "3"]):
        one = run([folder, "-q", "--format", "json", *options, *files], capsys)
        two = run([folder, "-q", "--format", "json", "--jobs", "2", *options, *files], capsys)
        assert one[0] == 0 and one != plain, options  # the option changes the answers
        assert two == one, options


def test_jobs_start_no_worker_process_for_one_readable_file_or_one_job(
    svm_bundle, clips, tmp_path, capsys, monkeypatch
):
    """A worker loads the bundle again (seconds for a network, TensorFlow included): with
    one file to classify, or --jobs 1, the command classifies by itself."""
    import concurrent.futures

    from genrepipe import predict

    def no_pool(*args, **kwargs):
        raise AssertionError("a pool of worker processes was started")

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", no_pool)
    monkeypatch.setattr(predict, "_usable_cpus", lambda: 4)
    folder, _, _ = svm_bundle
    absent = tmp_path / "absent.wav"
    status, out, err = run([folder, "-q", "--jobs", "3", clips[0], absent], capsys)
    assert status == 1 and out.startswith(f"{clips[0]}: ") and str(absent) in err
    status, out, _ = run([folder, "-q", "--jobs", "1", *clips[:3]], capsys)
    assert status == 0 and len(out.splitlines()) == 3


def test_closing_the_outcomes_early_terminates_the_workers_and_gives_ctrl_c_back(svm_bundle, clips):
    """Closed early (Ctrl-C, a reader gone), the workers are stopped at once, not left to
    classify their whole queue and then killed (seconds, minutes with a network); and
    Ctrl-C, held back while they stop, works again after (else every later one is lost)."""
    import multiprocessing
    import signal

    before = signal.getsignal(signal.SIGINT)
    try:
        # 160 files: most still queued when closed
        outcomes = _outcomes_in_two_workers(svm_bundle[0], [(path, None) for path in clips * 10])
        assert next(outcomes)[1] is not None
        workers = multiprocessing.active_children()
        assert len(workers) == 2
        outcomes.close()
        assert [worker.exitcode for worker in workers] == [-signal.SIGTERM] * 2
        assert signal.getsignal(signal.SIGINT) is before
    finally:
        signal.signal(signal.SIGINT, before)


def test_workers_that_outlive_sigterm_are_killed_after_the_deadline(svm_bundle, clips, monkeypatch):
    """A worker that does not end on SIGTERM (a library's own handler; here ignored, a
    disposition the spawned workers inherit) is killed once the shared deadline passes:
    closing does not hang on it, and no process is left behind. (A stopped worker is no
    stand-in: Linux ends it on an unhandled SIGTERM all the same.)"""
    import multiprocessing
    import signal

    from genrepipe import predict

    monkeypatch.setattr(predict, "_WORKER_STOP_SECONDS", 0.5)
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        # 160 files: most still queued when closed
        outcomes = _outcomes_in_two_workers(svm_bundle[0], [(path, None) for path in clips * 10])
        assert next(outcomes)[1] is not None
        signal.signal(signal.SIGTERM, previous)
        workers = multiprocessing.active_children()
        assert len(workers) == 2
        started = time.monotonic()
        outcomes.close()
        # The deadline set above, not a literal 10 s (a generous bound: not a speed check).
        assert time.monotonic() - started < 8
        assert [worker.exitcode for worker in workers] == [-signal.SIGKILL] * 2
        assert multiprocessing.active_children() == []
    finally:
        signal.signal(signal.SIGTERM, previous)
        for process in multiprocessing.active_children():  # none left behind on a failure
            process.kill()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads Linux's /proc")
def test_workers_start_with_ctrl_c_blocked_and_the_command_without(svm_bundle, clips):
    """A terminal's Ctrl-C reaches the whole process group: workers still importing when
    it came each printed a traceback. They inherit SIGINT blocked from the pool's start;
    the command itself must have it back, to stop on it."""
    import multiprocessing
    import re
    import signal

    outcomes = _outcomes_in_two_workers(svm_bundle[0], [(path, None) for path in clips[:4]])
    try:
        assert next(outcomes)[1] is not None
        workers = multiprocessing.active_children()
        assert len(workers) == 2
        for worker in workers:
            status = Path(f"/proc/{worker.pid}/status").read_text(encoding="utf-8")
            blocked = int(re.search(r"^SigBlk:\s*([0-9a-f]+)$", status, re.MULTILINE)[1], 16)
            assert blocked & (1 << (signal.SIGINT - 1)), f"worker {worker.pid} takes Ctrl-C"
        assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
    finally:
        outcomes.close()


def test_an_unexpected_error_in_one_file_names_its_type_and_the_file(
    svm_bundle, clips, capsys, monkeypatch
):
    """Not an audio or feature error (a library's KeyError, a bug): the line gives its type,
    where a bare "'proba'" told nothing, and the other files are still answered."""
    predict_file = Classifier.predict_file

    def failing_on_the_second(self, path, **kwargs):
        if path == clips[1]:
            raise KeyError("proba")
        return predict_file(self, path, **kwargs)

    monkeypatch.setattr(Classifier, "predict_file", failing_on_the_second)
    folder, _, _ = svm_bundle
    status, out, err = run([folder, "-q", *clips[:3]], capsys)
    assert status == 1 and len(out.splitlines()) == 2
    assert err == f"genrepipe-predict: error: {clips[1]}: KeyError('proba')\n"


def test_one_process_classifies_on_one_blas_thread(svm_bundle, clips, capsys, monkeypatch):
    """More BLAS threads only spun on a clip's small matrices: twice the CPU for the same
    wall time on 100 GTZAN clips. The limit holds while files are classified, not after."""
    from threadpoolctl import threadpool_info

    folder, _, _ = svm_bundle
    predict_file = Classifier.predict_file
    seen = []

    def recording(self, path, **kwargs):
        seen.append({pool["num_threads"] for pool in threadpool_info()})
        return predict_file(self, path, **kwargs)

    monkeypatch.setattr(Classifier, "predict_file", recording)
    before = [pool["num_threads"] for pool in threadpool_info()]
    assert run([folder, *clips[:2]], capsys)[0] == 0
    assert seen == [{1}, {1}]
    assert [pool["num_threads"] for pool in threadpool_info()] == before  # restored


# -j N's placeholder as a number.
README_COMMANDS = [
    ["2" if word == "N" else word for word in words]
    for words in readme_commands(r"genrepipe-(predict|compare)")
]


def test_the_readme_has_predict_and_compare_commands_to_check():
    assert {words[0] for words in README_COMMANDS} == {"genrepipe-predict", "genrepipe-compare"}
    assert len(README_COMMANDS) >= 6


@pytest.mark.parametrize("words", README_COMMANDS, ids=" ".join)
def test_the_readmes_predict_and_compare_commands_parse(words):
    """A renamed option, or one the command refuses beside another, fails here, not for
    the README's reader."""
    from genrepipe import history, predict

    usage = {"genrepipe-predict": predict._usage, "genrepipe-compare": history._usage}
    usage[words[0]](words[1:])  # parsed and checked (--window without --timeline, ...)


def test_an_ensembles_clip_statistics_warning_names_only_its_summarizing_members():
    """Short timeline windows shift whole-clip statistics: the warning named every member's
    set (stats+segment_stats), though segment_stats' windows were never whole clips."""
    from types import SimpleNamespace

    from genrepipe.predict import _timeline_warnings

    def member(feature_set, summarizes):
        return SimpleNamespace(
            feature_set=feature_set,
            summarizes_clips=summarizes,
            pads_short_windows=False,
            voted_window_frames=None,
            heard_seconds=None,
        )

    members = [member("stats", True), member("segment_stats", False)]
    ensemble = SimpleNamespace(
        members=members,
        feature_set="stats+segment_stats",
        clip_seconds=30.0,
        summarizes_clips=True,
        pads_short_windows=False,
    )
    (warning,) = _timeline_warnings(ensemble, 3.0, 3.0)
    assert "its stats features are statistics of a whole clip" in warning


def test_links_that_loop_are_named_as_loops_not_as_missing(gmm_bundle, tmp_path, capsys):
    # os.path.exists is False for a.wav -> b.wav -> a.wav; "no such file" sent one looking
    # for a file that ls lists.
    (tmp_path / "a.wav").symlink_to(tmp_path / "b.wav")
    (tmp_path / "b.wav").symlink_to(tmp_path / "a.wav")
    (tmp_path / "dead.wav").symlink_to(tmp_path / "gone.wav")
    status, out, err = run([gmm_bundle, tmp_path / "a.wav", tmp_path / "dead.wav"], capsys)
    assert status == 1 and out == ""
    assert (
        f"{tmp_path / 'a.wav'}: a link that leads back to itself, or through too many links "
        f"(to {tmp_path / 'b.wav'})" in err
    )
    assert f"{tmp_path / 'dead.wav'}: a link to a missing file (to {tmp_path / 'gone.wav'})" in err
    # Found in a folder alike; and as the model folder.
    status, _, err = run([gmm_bundle, tmp_path], capsys)
    assert status == 1 and f"{tmp_path / 'b.wav'}: a link that leads back to itself" in err
    (tmp_path / "model").symlink_to(tmp_path / "model")
    status, _, err = run([tmp_path / "model", tmp_path / "a.wav"], capsys)
    assert status == 2 and f"{tmp_path / 'model'}: a link that leads back to itself" in err
