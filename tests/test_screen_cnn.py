"""Tests of tools/screen_cnn.py: its MFCC input, its settings and one small fold."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import librosa
import numpy as np
import pytest

#: A network small enough to train on a few tracks in seconds.
TINY_CNN = {
    "convolution": "time",
    "filters": [4],
    "dense_units": 4,
    "epochs": 3,
    "window_frames": 16,
    "hop_frames": 8,
    "crops_per_track": 4,
    "gain_db": 0.0,
    "freq_masks": 0,
    "validation_fraction": 0.0,
}


@pytest.fixture(scope="module")
def tool():
    # conftest puts tools/ on the import path.
    return importlib.import_module("screen_cnn")


def three_genres(seed: int, level_step: float) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Ten noise tracks per genre for three genres, told apart by the level of one band."""
    rng = np.random.default_rng(seed)
    genres = np.repeat(np.array(["blues", "jazz", "rock"], dtype=object), 10)
    tracks = [f"{g}.{i:05d}" for i, g in enumerate(genres)]
    X = rng.normal(size=(30, 6, 40)).astype(np.float32)
    X[:, 0, :] += np.repeat([0.0, level_step, 2 * level_step], 10)[:, None]
    return tracks, genres, X


def test_cepstra_are_librosa_mfcc_and_deltas_of_the_log_mel(tool) -> None:
    rng = np.random.default_rng(0)
    logmel_db = rng.normal(-40.0, 10.0, size=(2, 32, 50)).astype(np.float32)
    out = tool.cepstra(logmel_db, 13)
    assert out.shape == (2, 26, 50) and out.dtype == np.float32
    for track in range(2):
        mfcc = librosa.feature.mfcc(S=logmel_db[track], n_mfcc=13)
        np.testing.assert_allclose(out[track, :13], mfcc, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(
            out[track, 13:], librosa.feature.delta(mfcc, width=9), rtol=1e-4, atol=1e-3
        )
    with pytest.raises(ValueError, match="--n-mfcc"):
        tool.cepstra(logmel_db, 33)


def test_stats_frames_are_what_the_stats_vector_summarizes(tool) -> None:
    from genrepipe.features import stats

    sr = 22050
    t = np.arange(3 * sr) / sr
    y = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.05 * np.random.default_rng(0).normal(size=t.size)
    y = y.astype(np.float32)
    frames = tool.stats_frames(y, sr, hop_length=512, n_frames=1 + y.size // 512)
    assert frames.shape == (65, 130) and frames.dtype == np.float32
    vector = stats(y, sr)  # mean of each frame feature, then its std, then the tempo
    np.testing.assert_allclose(frames.mean(axis=1), vector[:65], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(frames.std(axis=1), vector[65:130], rtol=1e-4, atol=1e-4)
    padded = tool.stats_frames(y, sr, hop_length=512, n_frames=140)
    np.testing.assert_array_equal(padded[:, :130], frames)
    assert not padded[:, 130:].any()


def test_network_params_start_from_cnn_logmel(tool) -> None:
    config = tool.read_config()
    configured = config["models"]["cnn_logmel"]["params"]
    assert tool.network_params(config, {}, input_kind="logmel", untrained=False) == configured
    mfcc = tool.network_params(config, {"kernel_size": 1}, input_kind="mfcc", untrained=False)
    assert (mfcc["gain_db"], mfcc["freq_masks"], mfcc["kernel_size"]) == (0.0, 0, 1)
    assert mfcc["filters"] == configured["filters"]
    frames = tool.network_params(config, {}, input_kind="frames", untrained=False)
    assert (frames["gain_db"], frames["freq_masks"]) == (0.0, 0)
    # Asked-for masks win over the MFCC defaults; --untrained wins over everything.
    masked = tool.network_params(config, {"freq_masks": 1}, input_kind="mfcc", untrained=True)
    assert masked["freq_masks"] == 1
    assert (masked["epochs"], masked["learning_rate"]) == (1, 1e-7)


def test_fold_test_masks_are_the_benchmark_folds_of_one_repeat(tool) -> None:
    from genrepipe.splits import kfold_split

    genres = np.repeat(np.array(["blues", "jazz", "rock"], dtype=object), 10)
    tracks = [f"{g}.{i:05d}" for i, g in enumerate(genres)]
    benchmark = kfold_split(tracks, genres, n_splits=10, n_repeats=3, seed=42)
    for repeat in (0, 2):
        masks = tool.fold_test_masks(tracks, genres, repeat)
        # Every track is tested once per repeat, as in folds 10 r to 10 r + 9.
        np.testing.assert_array_equal(np.sum(masks, axis=0), np.ones(30))
        for k, mask in enumerate(masks):
            fold = benchmark[benchmark["fold"] == 10 * repeat + k]
            np.testing.assert_array_equal(mask, (fold["subset"] == "test").to_numpy())
    first, third = tool.fold_test_masks(tracks, genres, 0), tool.fold_test_masks(tracks, genres, 2)
    assert not np.array_equal(first, third)
    # Another split seed: the folds of `benchmark_accuracy.py --seed 7`, not the table's.
    other = kfold_split(tracks, genres, n_splits=10, n_repeats=1, seed=7)
    masks = tool.fold_test_masks(tracks, genres, 0, split_seed=7)
    for k, mask in enumerate(masks):
        np.testing.assert_array_equal(mask, (other.loc[other["fold"] == k, "subset"] == "test"))
    assert not np.array_equal(masks, first)


def test_screen_scores_the_cnn_and_its_heads_on_a_fold(tool) -> None:
    tracks, genres, X = three_genres(1, 3.0)
    scores = tool.screen(
        X, tracks, genres, TINY_CNN, folds=[0, 1], embeddings=["global_pool", None]
    )
    # Heads on the first layer named plainly, on the others by layer.
    assert set(scores) == {"cnn", "svm", "gmm", "svm@penultimate", "gmm@penultimate"}
    for values in scores.values():
        # One accuracy per fold, over its 3 test tracks (one per genre).
        assert len(values) == 2 and all(np.isclose(3 * v, round(3 * v)) for v in values)
    # The band level is easy: the heads on the pooled maps find it.
    assert np.mean(scores["svm"]) >= 2 / 3
    with pytest.raises(ValueError, match="no layer 'nope'"):
        tool.screen(X, tracks, genres, TINY_CNN, folds=[0], embeddings=["nope"])


def test_the_screens_svm_head_calibrates_on_whole_tracks(tool, monkeypatch) -> None:
    # As the workflow's cnn_svm: windows of one track on both sides of a calibration
    # fold make its probabilities overconfident.
    from genrepipe.models import CalibrationFolds

    split, folds = CalibrationFolds.split, []

    def recorded(self, X, y, groups=None):
        for fit_rows, held_rows in split(self, X, y, groups):
            folds.append((groups, fit_rows, held_rows))
            yield fit_rows, held_rows

    monkeypatch.setattr(CalibrationFolds, "split", recorded)
    tracks, genres, X = three_genres(1, 3.0)
    tool.screen(X, tracks, genres, {**TINY_CNN, "epochs": 1}, folds=[0])
    assert folds
    for groups, fit_rows, held_rows in folds:
        assert groups is not None
        assert not set(groups[fit_rows]) & set(groups[held_rows])


def test_several_seeds_average_networks_and_keep_the_first_alone(tool) -> None:
    tracks, genres, X = three_genres(2, 1.0)
    params = {**TINY_CNN, "epochs": 2, "crops_per_track": 2}
    both = tool.screen(X, tracks, genres, params, folds=[0], seeds=(5, 6))
    assert set(both) == {"cnn", "svm", "gmm", "cnn_first", "svm_first", "gmm_first"}
    # One thread and fixed seeds: the first network of two is the network of one.
    alone = tool.screen(X, tracks, genres, params, folds=[0], seeds=(5,))
    assert set(alone) == {"cnn", "svm", "gmm"}
    for name in ("cnn", "svm", "gmm"):
        assert both[f"{name}_first"] == alone[name]


@pytest.mark.parametrize("seeds", ["42,x", "42,42"])
def test_bad_seeds_are_refused(tool, tmp_path, capsys, seeds) -> None:
    with pytest.raises(SystemExit) as exit_info:
        tool.main([str(tmp_path), "--seeds", seeds])
    assert exit_info.value.code == 2
    assert "--seeds" in capsys.readouterr().err


def test_a_missing_dataset_folder_is_refused(tool, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        tool.main([str(tmp_path / "genres")])
    assert exit_info.value.code == 2
    assert "genres is not a folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--folds", "abc"], "--folds must be a range such as 0-9 or a list such as 0,3"),
        (["--folds", "3-1"], "--folds must name folds in 0-9, got '3-1'"),
        (["--folds", "0,0,1"], "--folds must not repeat a fold, got '0,0,1'"),
        (["--save-proba", "."], "--save-proba .: a folder; name the .npz file to write"),
        (["--n-fft", "0"], "--n-fft and --n-mels must be positive, got 0 and"),
        (["--input", "mfcc", "--n-mfcc", "999"], "--n-mfcc must be in [1, 96]"),
        (["--params", '{"nosuch": 1}'], "--params: unknown parameter(s) nosuch of cnn_windows"),
        (["--params", '{"epochs": 0}'], "--params.epochs must be positive, got 0"),
        (["--params", '{"filters": "x"}'], "--params.filters must be positive whole numbers"),
        (["--embedding", "nosuchlayer"], "--embedding nosuchlayer: one of penultimate, global"),
        ([], "too few clips for its 10 folds: split.kfold.n_splits=10 exceeds"),
    ],
)
def test_bad_settings_are_refused_before_any_clip_is_read(tool, tmp_path, capsys, argv, message):
    # These stopped the screen with a traceback after minutes of reading every clip
    # (a zero FFT size was silently the config's).
    for genre in ("blues", "rock"):
        (tmp_path / "genres" / genre).mkdir(parents=True)
        (tmp_path / "genres" / genre / f"{genre}.00000.wav").touch()
    with pytest.raises(SystemExit) as exit_info:
        tool.main([str(tmp_path), *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_frames_input_refuses_log_mel_settings(tool, tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        tool.main([str(tmp_path), "--input", "frames", "--n-fft", "2048"])
    assert exit_info.value.code == 2
    assert "--input frames has its own" in capsys.readouterr().err


def test_saved_probabilities_vote_as_the_workflow_ensemble_does(tool, tmp_path, capsys) -> None:
    vote_screens = importlib.import_module("vote_screens")
    tracks, genres, X = three_genres(3, 1.0)
    params = {**TINY_CNN, "epochs": 2, "crops_per_track": 2}
    proba: dict[str, np.ndarray] = {}
    scores = tool.screen(X, tracks, genres, params, folds=[0, 3], proba=proba)
    assert set(proba) == {"cnn", "svm", "gmm"}
    masks = tool.fold_test_masks(tracks, genres, 0)
    tested = masks[0] | masks[3]
    for values in proba.values():
        # Probabilities on the tested tracks, nothing on the others.
        np.testing.assert_allclose(values[tested].sum(axis=1), 1.0, rtol=1e-5)
        assert np.isnan(values[~tested]).all()
    path = tmp_path / "screen.npz"
    tool.save_proba(path, tracks, genres, 0, [0, 3], proba)
    assert path.exists() and not list(tmp_path.glob("*.partial*"))

    voted = vote_screens.soft_vote([f"{path}:cnn", f"{path}:svm"])
    # Each member's fold accuracies are the screen's; the vote is the mean's argmax.
    assert voted[f"{path}:cnn"] == scores["cnn"] and voted[f"{path}:svm"] == scores["svm"]
    mean = (proba["cnn"] + proba["svm"]) / 2
    classes = np.array(["blues", "jazz", "rock"])
    expected = [float((classes[mean[m].argmax(1)] == genres[m]).mean()) for m in masks[0::3][:2]]
    assert voted["vote"] == expected
    # Screens of another split's folds never vote with these.
    other_split = tmp_path / "seed7.npz"
    tool.save_proba(other_split, tracks, genres, 0, [0, 3], proba, split_seed=7)
    with pytest.raises(ValueError, match="differ in their fold"):
        vote_screens.soft_vote([f"{path}:cnn", f"{other_split}:cnn"])

    vote_screens.main([f"{path}:cnn", f"{path}:gmm"])
    printed = capsys.readouterr().out
    assert "vote" in printed and "over 2 folds" in printed

    # Members must test the same folds of the same repeat.
    other = tmp_path / "other.npz"
    tool.save_proba(other, tracks, genres, 0, [0], proba)
    with pytest.raises(ValueError, match="differ in their fold"):
        vote_screens.soft_vote([f"{path}:cnn", f"{other}:cnn"])
    with pytest.raises(ValueError, match="holds no model 'mlp'; it holds cnn, gmm, svm"):
        vote_screens.soft_vote([f"{path}:mlp", f"{path}:cnn"])
    with pytest.raises(SystemExit) as exit_info:
        vote_screens.main([str(path), f"{path}:cnn"])
    assert exit_info.value.code == 2
    assert "FILE:MODEL" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"fold,accuracy\n0,0.9\n", "is not a probability file"),
        (b"PK\x03\x04 truncated", "is not a probability file"),
        (None, "lacks tracks, genres"),
        ("npy", "is not a probability file"),
    ],
    ids=["text", "truncated", "other-npz", "npy"],
)
def test_vote_names_a_file_that_is_not_a_screens_probabilities(tmp_path, capsys, content, problem):
    vote_screens = importlib.import_module("vote_screens")
    path = tmp_path / "member.npz"
    if content is None:
        np.savez(path, proba_cnn=np.zeros((2, 3)))
    elif content == "npy":
        with open(path, "wb") as handle:
            np.save(handle, np.zeros(3))
    else:
        path.write_bytes(content)
    with pytest.raises(SystemExit) as exit_info:
        vote_screens.main([f"{path}:cnn", f"{path}:cnn_mfcc"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"{path} " in err and problem in err


def test_vote_refuses_a_member_given_twice(capsys):
    # Scores kept by member merged the two into one row "over 2 folds" of 4 values.
    vote_screens = importlib.import_module("vote_screens")
    with pytest.raises(SystemExit) as exit_info:
        vote_screens.main(["a.npz:cnn", "b.npz:cnn", "./a.npz:cnn"])
    assert exit_info.value.code == 2
    assert "./a.npz:cnn, a.npz:cnn given twice: a member votes once" in capsys.readouterr().err


def test_an_unreadable_clip_is_named_before_any_clip_is_loaded(tool, tmp_path, monkeypatch, capsys):
    # A clip without read permission stops the workflow's audio check: the screen ended
    # in a traceback after loading every clip before it, minutes on full GTZAN.
    from conftest import unreadable

    for genre in ("jazz", "rock"):  # enough for the 10 folds, checked before the clips
        (tmp_path / genre).mkdir()
        for i in range(10):
            (tmp_path / genre / f"{genre}.0000{i}.wav").write_bytes(b"RIFF")
    locked = tmp_path / "rock" / "rock.00001.wav"
    unreadable(monkeypatch, lambda file: Path(file) == locked)
    monkeypatch.setattr(tool, "load_tracks", lambda *a, **k: pytest.fail("loaded clips"))
    with pytest.raises(SystemExit) as stop:
        tool.main([str(tmp_path)])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err
    assert f"{locked}: cannot read the file (Permission denied)" in err


def test_a_clip_the_workflow_leaves_out_is_left_out_of_the_screen(tool, tmp_path, capsys):
    # One undecodable clip (full GTZAN's jazz.00054.wav) ended minutes of loading in a
    # traceback; a clip under min_duration, which the workflow's folds leave out, was kept.
    import soundfile
    import yaml
    from conftest import PROJECT_ROOT

    config = yaml.safe_load((PROJECT_ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    (tmp_path / "rock").mkdir()
    for i, seconds in ((1, 25.0), (2, 5.0)):
        tone = 0.3 * np.sin(2 * np.pi * 220.0 * np.arange(int(seconds * 22050)) / 22050)
        soundfile.write(tmp_path / "rock" / f"rock.0000{i}.wav", tone, 22050, subtype="PCM_16")
    (tmp_path / "rock" / "rock.00000.wav").write_bytes(b"RIFF, but no audio after it")
    tracks, genres, X = tool.load_tracks(tmp_path, config, n_fft=1024, n_mels=16)
    assert tracks == ["rock.00001"] and list(genres) == ["rock"] and X.shape[:2] == (1, 16)
    err = capsys.readouterr().err
    assert "left out:" in err and "rock.00000.wav" in err and "rock.00002.wav" in err
