"""Bad audio in a dataset folder: every case is reported or used, and nothing else is lost.

Unit tests drive the workflow's steps (``tasks.check_audio``,
``extraction.extract_features``, ``tasks.merge_features``, ``dataset.discover_tracks``,
``audio.load_audio``) one bad file at a time; ``tests/test_audio.py`` and
``tests/test_dataset.py`` already cover plain decoding and scanning. One slow
test puts every case into one dataset folder and runs the whole workflow.

Decisions checked here: pure silence is used (its features are finite); a clip
shorter than one analysis window is reported by the audio check whatever
``dataset.min_duration`` says; a clip whose features come out NaN or infinite is
reported in ``results/features/<set>_failed.tsv`` and never reaches a table.
"""

from __future__ import annotations

import re
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from genrepipe import GENRES, SAMPLE_RATE
from genrepipe import features as F
from genrepipe.audio import load_audio
from genrepipe.dataset import discover_tracks
from genrepipe.extraction import FAILED_FEATURES, extract_features
from genrepipe.feature_table import read_feature_table
from genrepipe.io import load_npy
from genrepipe.tasks import (
    check_audio,
    fit_and_predict,
    list_failed_tracks,
    list_tracks,
    merge_features,
    read_table,
)

SR = SAMPLE_RATE
TINY_SEED87 = {"n_frames": 130}
MAX_DURATION = 4.0


def _music(seconds: float = 3.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A few seconds of tones and noise: features of it are ordinary."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    y = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 660 * t)
    return (y + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


def _wav(path: Path, y: np.ndarray, sr: int = SR, subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr, subtype=subtype, format="WAV")
    return path


# -- the bad files, one builder each: (path) -> None -------------------------------------------


def _empty(path):
    path.write_bytes(b"")


def _text(path):
    path.write_text("this is not audio, just text named .wav\n" * 20, encoding="utf-8")


def _cut_in_header(path):
    data = _wav(path, _music()).read_bytes()
    path.write_bytes(data[:20])  # the RIFF header stops half-way


def _under_one_window(path):
    _wav(path, _music(seconds=0.07))  # 1543 samples: less than n_fft=2048


def _inf_sample(path):
    y = _music()
    y[1000] = np.inf
    _wav(path, y, subtype="FLOAT")


def _pcm_u8(path):
    _wav(path, _music(), subtype="PCM_U8")


def _pcm_24(path):
    _wav(path, _music(), subtype="PCM_24")


def _float(path):
    _wav(path, _music(), subtype="FLOAT")


def _stereo(path):
    y = _music()
    _wav(path, np.stack([y, 0.5 * y], axis=1))


def _rate_44k1(path):
    _wav(path, _music(sr=44100), sr=44100)


def _rate_48k(path):
    _wav(path, _music(sr=48000), sr=48000)


def _ten_minutes(path):
    _wav(path, np.tile(_music(), 200))  # 600 s


def _silence(path):
    _wav(path, np.zeros(3 * SR, dtype=np.float32))


def _too_loud(path):
    # Finite float samples, but the STFT power overflows float32: features are inf.
    _wav(path, _music() * np.float32(1e30), subtype="FLOAT")


REPORTED = {  # builder: what the audio check's reason says
    "empty": (_empty, "file is empty"),
    "text_named_wav": (_text, "cannot decode"),
    "truncated": (_cut_in_header, "cannot decode"),
    "under_one_window": (_under_one_window, "shorter than one analysis window"),
    "inf_sample": (_inf_sample, "NaN or infinite"),
}
USED = {  # builder: the duration it is used with
    "pcm_u8": (_pcm_u8, 3.0),
    "pcm_24": (_pcm_24, 3.0),
    "float": (_float, 3.0),
    "stereo": (_stereo, 3.0),
    "rate_44k1": (_rate_44k1, 3.0),
    "rate_48k": (_rate_48k, 3.0),
    "ten_minutes": (_ten_minutes, MAX_DURATION),
    "silence": (_silence, 3.0),
}


def _check_one(tmp_path, builder, name: str) -> pd.Series:
    """Run the workflow's audio check on one good clip and one ``builder`` clip."""
    good = _wav(tmp_path / "blues" / "blues.00000.wav", _music())
    bad = tmp_path / "blues" / f"{name}.wav"
    builder(bad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa's audioread fallback warns on its way to failing
        table = check_audio(
            [str(good), str(bad)],
            ["blues.00000", name],
            ["blues", "blues"],
            tmp_path / "check.tsv",
            sr=SR,
            min_duration=0.0,
            max_duration=MAX_DURATION,
            min_samples=2048,
        )
    assert table.loc[0, "status"] == "ok"  # the other clip goes through
    written = pd.read_csv(tmp_path / "check.tsv", sep="\t", keep_default_na=False)
    assert list(written["status"]) == list(table["status"])
    return table.iloc[1]


@pytest.mark.parametrize("case", sorted(REPORTED))
def test_check_audio_reports_bad_clip_naming_the_file(tmp_path, case):
    builder, reason = REPORTED[case]
    row = _check_one(tmp_path, builder, case)
    assert row["status"] == "failed"
    assert reason in row["reason"]
    assert f"{case}.wav" in row["reason"]


@pytest.mark.parametrize("case", sorted(USED))
def test_check_audio_uses_decodable_clip(tmp_path, case):
    builder, duration = USED[case]
    row = _check_one(tmp_path, builder, case)
    assert row["status"] == "ok", row["reason"]
    assert row["duration"] == pytest.approx(duration, abs=0.01)


def test_ten_minute_file_is_cropped_and_decoding_stops_early(tmp_path):
    """Only max_duration seconds are ever decoded: memory does not grow with the file."""
    path = tmp_path / "long.wav"
    _ten_minutes(path)
    whole_file_bytes = 600 * SR * 4  # the whole clip as float32: 53 MB
    tracemalloc.start()
    try:
        y = load_audio(path, sr=SR, max_duration=MAX_DURATION)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert y.size == MAX_DURATION * SR
    assert peak < whole_file_bytes / 20, f"decoding held {peak / 1e6:.1f} MB"


def _extract(tmp_path, feature_set, settings, clips: dict[str, Path], **options):
    outputs = [tmp_path / "out" / f"{track}.npy" for track in clips]
    extract_features(
        feature_set,
        settings,
        [str(path) for path in clips.values()],
        list(clips),
        [str(out) for out in outputs],
        tmp_path / "report.tsv",
        sr=SR,
        max_duration=MAX_DURATION,
        **options,
    )
    report = pd.read_csv(tmp_path / "report.tsv", sep="\t", keep_default_na=False)
    return report.set_index("track"), {t: load_npy(o) for t, o in zip(clips, outputs, strict=True)}


def test_extraction_names_its_librosa_and_a_release_apart_from_the_plans(tmp_path, caplog):
    """The workflow re-extracts when Snakemake's librosa changes release (its param); a job
    run in another environment (a conda one) computes with its own, and says so."""
    import librosa

    from genrepipe.config import release

    clips = {"blues.00000": _wav(tmp_path / "blues.00000.wav", _music())}
    planned = release(librosa.__version__)
    with caplog.at_level("INFO", logger="genrepipe"):
        _extract(tmp_path, "stats", {}, clips, librosa_release=planned)
    assert f"with librosa {librosa.__version__}" in caplog.text
    assert not [record for record in caplog.records if record.levelname == "WARNING"]
    caplog.clear()
    with caplog.at_level("INFO", logger="genrepipe"):
        _extract(tmp_path, "stats", {}, clips, librosa_release="0.1")
    (warning,) = [record for record in caplog.records if record.levelname == "WARNING"]
    assert f"runs librosa {librosa.__version__}" in warning.getMessage()
    assert "librosa 0.1:" in warning.getMessage()
    # Called with no plan (a benchmark tool, a script of the user's): nothing to compare,
    # so no warning naming a release "None".
    caplog.clear()
    with caplog.at_level("INFO", logger="genrepipe"):
        _extract(tmp_path, "stats", {}, clips)
    assert not [record for record in caplog.records if record.levelname == "WARNING"]


@pytest.mark.parametrize(
    ("feature_set", "settings"),
    [("seed87", TINY_SEED87), ("stats", {}), ("logmel", {"n_frames": 130})],
)
def test_silence_is_used_with_finite_features(tmp_path, feature_set, settings):
    """Decision: a silent clip is a valid clip; its features are finite, so it is used."""
    clips = {"blues.00000": tmp_path / "silent.wav"}
    _silence(clips["blues.00000"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa: no pitch to estimate the tuning from
        report, arrays = _extract(tmp_path, feature_set, settings, clips)
    assert report.loc["blues.00000", "status"] == "ok"
    assert arrays["blues.00000"].size > 0
    assert np.isfinite(arrays["blues.00000"]).all()


@pytest.mark.parametrize("feature_set", ["seed87", "stats"])
def test_clip_with_infinite_features_is_reported_and_the_batch_goes_on(tmp_path, feature_set):
    """A loud float clip decodes (finite samples) but its features overflow: that track fails."""
    clips = {
        "blues.00000": _wav(tmp_path / "blues.00000.wav", _music()),
        "blues.00001": tmp_path / "blues.00001.wav",
        "blues.00002": _wav(tmp_path / "blues.00002.wav", _music(seed=2)),
    }
    _too_loud(clips["blues.00001"])
    settings = TINY_SEED87 if feature_set == "seed87" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report, arrays = _extract(tmp_path, feature_set, settings, clips)
    assert list(report["status"]) == ["ok", "failed", "ok"]
    assert "blues.00001.wav" in report.loc["blues.00001", "reason"]
    assert f"features of '{feature_set}'" in report.loc["blues.00001", "reason"]
    assert "scale the file to -1 to 1" in report.loc["blues.00001", "reason"]
    assert arrays["blues.00001"].size == 0
    for track in ("blues.00000", "blues.00002"):
        assert np.isfinite(arrays[track]).all() and arrays[track].size > 0


def test_nan_features_are_reported_and_never_merged(tmp_path, monkeypatch):
    """Features that come out NaN: the track is reported by extraction and by the merge."""

    def flaky(y, sr):  # NaN for the quiet clip, ordinary values otherwise
        value = np.nan if np.abs(y).max() < 0.1 else float(np.abs(y).mean())
        return np.full(4, value, dtype=np.float32)

    monkeypatch.setitem(F.FEATURE_SETS, "flaky", flaky)
    clips = {
        "blues.00000": _wav(tmp_path / "blues.00000.wav", _music()),
        "blues.00001": _wav(tmp_path / "blues.00001.wav", 0.01 * _music(seed=1)),
        "blues.00002": _wav(tmp_path / "blues.00002.wav", _music(seed=2)),
    }
    report, _ = _extract(tmp_path, "flaky", {}, clips)
    assert list(report["status"]) == ["ok", "failed", "ok"]
    assert "not finite" in report.loc["blues.00001", "reason"]
    assert "blues.00001.wav" in report.loc["blues.00001", "reason"]

    failed = _merge(tmp_path, "flaky", list(clips))
    assert list(failed["track"]) == ["blues.00001"]
    assert "blues.00001.wav" in failed.loc[0, "reason"]  # the reason from the batch report


def _merge(tmp_path, feature_set: str, tracks: list[str], usable_tracks=None) -> pd.DataFrame:
    merge_features(
        feature_set,
        {},
        [str(tmp_path / "out" / f"{track}.npy") for track in tracks],
        tracks,
        ["blues"] * len(tracks),
        tmp_path / "merged.parquet",
        tmp_path / "failed.tsv",
        reports=[str(tmp_path / "report.tsv")],
        usable_tracks=usable_tracks,
    )
    ids, _, X = read_feature_table(tmp_path / "merged.parquet")
    assert np.isfinite(X).all()
    failed = pd.read_csv(tmp_path / "failed.tsv", sep="\t", keep_default_na=False, dtype=str)
    usable = set(tracks) if usable_tracks is None else set(read_table(usable_tracks)["track"])
    assert set(ids) == (set(tracks) & usable) - set(failed["track"])
    return failed


def test_merge_leaves_out_a_cached_file_holding_nan(tmp_path):
    """A stale or foreign cache file with NaN never reaches the merged table."""
    from genrepipe.io import save_npy

    out = tmp_path / "out"
    save_npy(out / "blues.00000.npy", np.ones(131, dtype=np.float32))
    save_npy(out / "blues.00001.npy", np.full(131, np.nan, dtype=np.float32))
    save_npy(out / "blues.00002.npy", FAILED_FEATURES)
    pd.DataFrame(
        {"track": ["blues.00002"], "status": ["failed"], "reason": ["x.wav: broken"]}
    ).to_csv(tmp_path / "report.tsv", sep="\t", index=False)
    failed = _merge(tmp_path, "stats", ["blues.00000", "blues.00001", "blues.00002"])
    reasons = dict(zip(failed["track"], failed["reason"], strict=True))
    assert set(reasons) == {"blues.00001", "blues.00002"}
    assert "not finite" in reasons["blues.00001"] and "blues.00001.npy" in reasons["blues.00001"]
    assert reasons["blues.00002"] == "x.wav: broken"


def test_merge_with_every_track_failed_says_why(tmp_path):
    """Nothing to merge: the error gives the first track's reason, not only that none is left."""
    from genrepipe.io import save_npy

    tracks = ["blues.00000", "blues.00001"]
    for track in tracks:
        save_npy(tmp_path / "out" / f"{track}.npy", FAILED_FEATURES)
    reason = "x.wav: 3.00 s of audio is shorter than one 5 s segment window"
    pd.DataFrame({"track": tracks, "status": "failed", "reason": reason}).to_csv(
        tmp_path / "report.tsv", sep="\t", index=False
    )
    with pytest.raises(ValueError) as info:
        _merge(tmp_path, "segment_stats", tracks)
    assert str(info.value) == (
        f"no track has segment_stats features: all 2 failed, e.g. blues.00000: {reason}"
    )
    assert not (tmp_path / "merged.parquet").exists()


def test_clips_the_audio_check_refused_are_extracted_but_not_merged(tmp_path):
    """dataset.min_duration is the audio check's: extraction ignores it, the merge applies it.

    So changing the setting re-extracts nothing, and the table still holds usable tracks only.
    """
    clips = {
        "blues.00000": _wav(tmp_path / "blues.00000.wav", _music()),
        "blues.00001": _wav(tmp_path / "blues.00001.wav", _music(seed=1)[: SR // 2]),
        "blues.00002": _wav(tmp_path / "blues.00002.wav", _music(seed=2)),
    }
    report, arrays = _extract(tmp_path, "stats", {}, clips)
    assert list(report["status"]) == ["ok", "ok", "ok"] and arrays["blues.00001"].size > 0
    check_audio(
        [str(path) for path in clips.values()],
        list(clips),
        ["blues"] * 3,
        tmp_path / "check.tsv",
        sr=SR,
        min_duration=1.0,
        max_duration=MAX_DURATION,
    )
    list_tracks([tmp_path / "check.tsv"], tmp_path / "tracks.tsv")
    list_failed_tracks([tmp_path / "check.tsv"], [], tmp_path / "refused.tsv")
    refused = pd.read_csv(tmp_path / "refused.tsv", sep="\t")
    assert list(refused["track"]) == ["blues.00001"]
    assert "shorter than min_duration" in refused.loc[0, "reason"]
    failed = _merge(tmp_path, "stats", list(clips), usable_tracks=tmp_path / "tracks.tsv")
    assert failed.empty  # listed once, in failed_tracks.tsv, not again as a failed extraction


def test_track_ids_that_look_like_numbers_stay_text(tmp_path):
    """A dataset of genres/rock/001.wav: tables read back "001", not 1, so the merge finds
    the tracks the audio check listed (read as numbers, none matched and the run stopped)."""
    clips = {
        "001": _wav(tmp_path / "001.wav", _music()),
        "002": _wav(tmp_path / "002.wav", _music(seed=1)),
    }
    report, _ = _extract(tmp_path, "stats", {}, clips)
    assert list(report["status"]) == ["ok", "ok"]
    check_audio(
        [str(path) for path in clips.values()],
        list(clips),
        ["07", "07"],  # a genre folder named by number
        tmp_path / "check.tsv",
        sr=SR,
        min_duration=1.0,
        max_duration=MAX_DURATION,
    )
    list_tracks([tmp_path / "check.tsv"], tmp_path / "tracks.tsv")
    assert read_table(tmp_path / "tracks.tsv")[["track", "genre"]].values.tolist() == [
        ["001", "07"],
        ["002", "07"],
    ]
    failed = _merge(tmp_path, "stats", list(clips), usable_tracks=tmp_path / "tracks.tsv")
    assert failed.empty
    assert list(read_feature_table(tmp_path / "merged.parquet")[0]) == ["001", "002"]


def test_track_ids_and_genres_that_pandas_reads_as_missing_stay_text(tmp_path):
    """Clips NA.wav, null.wav and nan.wav in a genre folder named NA: pandas reads those
    words as missing values by default; the tables keep them as the names they are."""
    names = ("NA", "null", "nan")
    clips = {name: _wav(tmp_path / f"{name}.wav", _music(seed=i)) for i, name in enumerate(names)}
    check_audio(
        [str(path) for path in clips.values()],
        list(clips),
        ["NA"] * len(clips),
        tmp_path / "check.tsv",
        sr=SR,
        min_duration=1.0,
        max_duration=MAX_DURATION,
    )
    list_tracks([tmp_path / "check.tsv"], tmp_path / "tracks.tsv")
    listed = read_table(tmp_path / "tracks.tsv")
    assert sorted(listed[["track", "genre"]].values.tolist()) == sorted(
        [name, "NA"] for name in names
    )
    assert not listed[["track", "genre"]].isna().any().any()


def test_no_usable_track_is_an_error_giving_the_first_reason(tmp_path):
    """All clips refused: one error here, not sklearn's about an empty split and empty merges."""
    clips = [_wav(tmp_path / f"blues.0000{i}.wav", _music(seed=i)[: SR // 2]) for i in range(2)]
    check_audio(
        [str(path) for path in clips],
        ["blues.00000", "blues.00001"],
        ["blues"] * 2,
        tmp_path / "check.tsv",
        sr=SR,
        min_duration=1.0,
        max_duration=MAX_DURATION,
    )
    with pytest.raises(ValueError) as info:
        list_tracks([tmp_path / "check.tsv"], tmp_path / "tracks.tsv")
    message = str(info.value)
    assert message.startswith("no usable track: all 2 clips failed the audio check, e.g. ")
    assert "blues.00000.wav" in message and "shorter than min_duration" in message


def test_file_names_with_braces_are_skipped_not_fatal(tmp_path):
    """Snakemake reads { } in a path as a wildcard: such a file is reported, not a track."""
    genres = tmp_path / "genres"
    _wav(genres / "blues" / "blues.00000.wav", _music())
    _wav(genres / "blues" / "blues.{00001}.wav", _music())
    found = discover_tracks(genres, genres=("blues",))
    assert [t.track for t in found.tracks] == ["blues.00000"]
    assert len(found.skipped) == 1
    path, reason = found.skipped[0]
    assert path.endswith("blues.{00001}.wav") and "{" in reason


# -- end to end ----------------------------------------------------------------------------------


def _bad_dataset(root: Path) -> dict[str, dict[str, str]]:
    """Every bad case in one GTZAN-shaped folder; returns what should happen to each file."""
    from genrepipe.synthetic import write_dataset

    genres = root / "genres"
    write_dataset(
        root, n_per_genre=4, duration=3.0, seed=3, genres=[g for g in GENRES if g != "reggae"]
    )
    reported = {  # track: what its reason in results/failed_tracks.tsv says
        "blues.00004": (_empty, "file is empty"),
        "classical.00004": (_text, "cannot decode"),
        "classical.00005": (_cut_in_header, "cannot decode"),
        "rock.00005": (_under_one_window, "shorter than one analysis window"),
        "jazz.00005": (_inf_sample, "NaN or infinite"),
    }
    used = {  # track: its duration in results/tracks.tsv
        "country.00004": (_pcm_u8, 3.0),
        "disco.00004": (_pcm_24, 3.0),
        "hiphop.00004": (_float, 3.0),
        "jazz.00004": (_stereo, 3.0),
        "metal.00004": (_rate_44k1, 3.0),
        "pop.00004": (_rate_48k, 3.0),
        "rock.00004": (_ten_minutes, MAX_DURATION),
        "blues.00005": (_silence, 3.0),
        "hiphop.00005": (_too_loud, 3.0),  # decodes, but its features fail
    }
    for track, (builder, _) in {**reported, **used}.items():
        builder(genres / track.split(".")[0] / f"{track}.wav")
    # Files and folders that are not tracks.
    (genres / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (genres / "blues" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (genres / "README.txt").write_text("GTZAN genre collection\n", encoding="utf-8")
    (genres / "blues" / "README.txt").write_text("blues clips\n", encoding="utf-8")
    _wav(genres / "polka" / "polka.00000.wav", _music())
    (genres / "reggae").mkdir()
    (genres / "reggae" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    _wav(genres / "disco" / "disco.{1}.wav", _music())
    skipped = {  # path relative to genres: what its reason says
        "README.txt": "not a genre folder",
        "blues/README.txt": "not an audio file extension",
        "polka": "unknown genre folder",
        "reggae": "holds no audio clips",
        "disco/disco.{1}.wav": "{",
    }
    return {
        "reported": {k: v[1] for k, v in reported.items()},
        "used": {k: v[1] for k, v in used.items()},
        "skipped": skipped,
    }


@pytest.mark.slow
def test_every_bad_input_in_one_dataset(tmp_path):
    from conftest import TINY_CONFIG, run_workflow

    from genrepipe.feature_table import read_feature_table

    expected = _bad_dataset(tmp_path / "data")
    genres = tmp_path / "data" / "genres"
    override = tmp_path / "bad.yaml"
    override.write_text(
        yaml.safe_dump(
            {
                "dataset": {
                    "kind": "gtzan",
                    "gtzan": {"root": str(genres)},
                    "min_duration": 0.05,  # below one window: the window check must catch it
                    "max_duration": MAX_DURATION,
                },
                "run_models": ["gmm", "svm"],
                "final_models": False,  # the tiny run covers them; this tests the data
            }
        ),
        encoding="utf-8",
    )
    result = run_workflow(tmp_path, TINY_CONFIG, override)
    results = tmp_path / "results"

    failed = pd.read_csv(results / "failed_tracks.tsv", sep="\t", keep_default_na=False)
    by_track = {t: r for t, r in zip(failed["track"], failed["reason"], strict=True) if t}
    assert set(by_track) == set(expected["reported"])
    for track, reason in expected["reported"].items():
        assert reason in by_track[track] and f"{track}.wav" in by_track[track]
    # Paths inside the working directory are written relative to it.
    assert not [p for p in failed["path"] if Path(p).is_absolute()]
    by_path = {
        (tmp_path / p).relative_to(genres).as_posix(): r
        for t, p, r in zip(failed["track"], failed["path"], failed["reason"], strict=True)
        if not t
    }
    assert set(by_path) == set(expected["skipped"])
    for path, reason in expected["skipped"].items():
        assert reason in by_path[path]
    assert ".DS_Store" not in failed.to_string()
    # Every skipped file is named in the log of the run, too.
    assert "disco.{1}.wav" in result.stderr and "polka" in result.stderr

    tracks = pd.read_csv(results / "tracks.tsv", sep="\t")
    durations = dict(zip(tracks["track"], tracks["duration"], strict=True))
    good = {f"{g}.{i:05d}" for g in GENRES if g != "reggae" for i in range(4)}
    assert set(durations) == good | set(expected["used"])
    for track, duration in expected["used"].items():
        assert durations[track] == pytest.approx(duration, abs=0.01), track

    # The clip whose features overflow is reported per feature set, naming the file; the
    # clips the audio check refused are not listed again (failed_tracks.tsv has them).
    for feature_set in ("seed87", "stats"):
        set_failed = pd.read_csv(results / "features" / f"{feature_set}_failed.tsv", sep="\t")
        reasons = dict(zip(set_failed["track"], set_failed["reason"], strict=True))
        assert set(reasons) == {"hiphop.00005"}
        assert "hiphop.00005.wav" in reasons["hiphop.00005"]
        assert re.search("finite|infs", reasons["hiphop.00005"]), reasons["hiphop.00005"]

    # No NaN or inf in any table a model reads; every other track reaches every model.
    tables = list(results.glob("features/*.parquet")) + list(
        results.glob("preprocessed/**/*.parquet")
    )
    assert len(tables) >= 3
    for table in tables:
        ids, _, X = read_feature_table(table)
        assert np.isfinite(X).all(), table
        assert "hiphop.00005" not in set(ids)
    reaching = set(durations) - {"hiphop.00005"}
    summary = pd.read_csv(results / "summary.csv")
    assert list(summary["model"]) == ["gmm", "svm"]
    assert (summary["n_train"] + summary["n_test"] == len(reaching)).all()
    for model in ("gmm", "svm"):
        predictions = pd.read_csv(
            results / "models" / model / "holdout" / "fold0" / "predictions.tsv", sep="\t"
        )
        assert set(predictions["track"]) == reaching


@pytest.mark.filterwarnings("error")
def test_merge_reads_a_report_without_failures_as_text(tmp_path, monkeypatch):
    """A batch report whose reason column is all empty merges without pandas dtype warnings."""
    monkeypatch.setitem(F.FEATURE_SETS, "plain", lambda y, sr: np.ones(4, dtype=np.float32))
    clips = {
        f"blues.0000{i}": _wav(tmp_path / f"blues.0000{i}.wav", _music(seed=i)) for i in (0, 1)
    }
    report, _ = _extract(tmp_path, "plain", {}, clips)
    assert list(report["status"]) == ["ok", "ok"]
    assert _merge(tmp_path, "plain", list(clips)).empty


def test_extraction_leaves_the_callers_blas_threads_as_they_were(tmp_path):
    # One BLAS thread while it extracts; a notebook or a test calling it in-process
    # keeps its own count afterwards (a bare threadpool_limits capped it for good).
    from threadpoolctl import threadpool_info, threadpool_limits

    clips = {"blues.00000": tmp_path / "silent.wav"}
    _silence(clips["blues.00000"])
    with threadpool_limits(limits=2):
        before = [pool["num_threads"] for pool in threadpool_info()]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _extract(tmp_path, "stats", {}, clips)
        assert [pool["num_threads"] for pool in threadpool_info()] == before


# -- merge_features and the extraction report: cases found by mutation testing ----------------


def _cached(tmp_path, arrays: dict[str, np.ndarray]) -> list[str]:
    """Per-track cache files as the extraction jobs leave them; returns their paths."""
    from genrepipe.io import save_npy

    paths = []
    for track, array in arrays.items():
        save_npy(tmp_path / "out" / f"{track}.npy", array)
        paths.append(str(tmp_path / "out" / f"{track}.npy"))
    return paths


def _report(path: Path, rows: list[tuple[str, str, str]]) -> str:
    pd.DataFrame(rows, columns=["track", "status", "reason"]).to_csv(path, sep="\t", index=False)
    return str(path)


def test_merge_keeps_each_genre_with_its_track_after_leaving_out_unusable_ones(tmp_path):
    # Filtering by usable_tracks must drop a track's genre with it: shifting the genres
    # (the refused track's genre given to the next track) mislabels every later track.
    tracks = ["blues.00000", "jazz.00000", "rock.00000"]
    genres = ["blues", "jazz", "rock"]
    paths = _cached(tmp_path, {t: np.full(131, i, np.float32) for i, t in enumerate(tracks)})
    pd.DataFrame({"track": ["blues.00000", "rock.00000"], "genre": ["blues", "rock"]}).to_csv(
        tmp_path / "tracks.tsv", sep="\t", index=False
    )
    merge_features(
        "stats",
        {},
        paths,
        tracks,
        genres,
        tmp_path / "merged.parquet",
        tmp_path / "failed.tsv",
        usable_tracks=tmp_path / "tracks.tsv",
    )
    ids, got_genres, X = read_feature_table(tmp_path / "merged.parquet")
    assert ids.tolist() == ["blues.00000", "rock.00000"]
    assert got_genres.tolist() == ["blues", "rock"]
    np.testing.assert_array_equal(X[:, 0], [0, 2])


def test_failed_table_gives_each_failed_tracks_genre_and_reasons_from_every_batch(tmp_path):
    # The reasons come from all the batch reports (not only the last one read), and each
    # failed row keeps its track's genre: failed tables are counted per genre.
    arrays = {
        "blues.00000": FAILED_FEATURES,
        "jazz.00000": np.ones(131, np.float32),
        "rock.00000": FAILED_FEATURES,
    }
    paths = _cached(tmp_path, arrays)
    reports = [
        _report(tmp_path / "batch0.tsv", [("blues.00000", "failed", "b.wav: broken")]),
        _report(
            tmp_path / "batch1.tsv",
            [("jazz.00000", "ok", ""), ("rock.00000", "failed", "r.wav: cut")],
        ),
    ]
    merge_features(
        "stats",
        {},
        paths,
        list(arrays),
        ["blues", "jazz", "rock"],
        tmp_path / "merged.parquet",
        tmp_path / "failed.tsv",
        reports=reports,
    )
    failed = pd.read_csv(tmp_path / "failed.tsv", sep="\t", keep_default_na=False, dtype=str)
    assert failed.values.tolist() == [
        ["blues.00000", "blues", "b.wav: broken"],
        ["rock.00000", "rock", "r.wav: cut"],
    ]
    assert read_feature_table(tmp_path / "merged.parquet")[0].tolist() == ["jazz.00000"]


def test_merge_with_some_tracks_failed_reports_a_shape_mismatch_as_such(tmp_path):
    # "all N failed" is only the message when every track failed: with a few failed and
    # arrays of two shapes, the error is the shape mismatch, naming the odd track.
    arrays = {
        "blues.00000": np.ones(131, np.float32),
        "blues.00001": FAILED_FEATURES,
        "blues.00002": np.ones(130, np.float32),
    }
    with pytest.raises(ValueError) as info:
        merge_features(
            "stats",
            {},
            _cached(tmp_path, arrays),
            list(arrays),
            ["blues"] * 3,
            tmp_path / "merged.parquet",
            tmp_path / "failed.tsv",
        )
    message = str(info.value)
    assert "blues.00002" in message and "(130,)" in message and "(131,)" in message
    assert "failed" not in message
    assert not (tmp_path / "merged.parquet").exists()


def test_extraction_report_gives_each_tracks_own_cpu_seconds(tmp_path, monkeypatch):
    # The report's cpu_seconds column is the process time of that track alone, read from
    # the clock around each track: not a constant, not a running total.
    import itertools

    import genrepipe.extraction as extraction

    monkeypatch.setitem(F.FEATURE_SETS, "plain", lambda y, sr: np.ones(4, dtype=np.float32))
    clips = {
        f"blues.0000{i}": _wav(tmp_path / f"blues.0000{i}.wav", _music(seed=i)) for i in range(3)
    }
    ticks = itertools.count(start=10.0, step=0.25)
    monkeypatch.setattr(extraction.time, "process_time", lambda: next(ticks))
    report, _ = _extract(tmp_path, "plain", {}, clips)
    monkeypatch.undo()
    header = (tmp_path / "report.tsv").read_text(encoding="utf-8").splitlines()[0]
    assert header.split("\t") == ["track", "status", "reason", "cpu_seconds"]
    assert report["cpu_seconds"].tolist() == [0.25] * 3


def test_a_network_whose_training_diverged_fails_instead_of_voting_for_the_first_genre():
    """NaN probabilities took argmax's index 0: every track 'blues', and no word of why."""
    rng = np.random.default_rng(0)
    y = np.repeat(["blues", "jazz", "rock"], 20)
    X = (rng.standard_normal((60, 8)) * 1e18).astype(np.float32)
    spec = {
        "estimator": "nn",
        "features": "stats",
        "input": "vector",
        "params": {"hidden_units": 4, "epochs": 2, "learning_rate": 1e30},
    }
    with pytest.raises(ValueError, match=r"^nn: the fitted model's probabilities are NaN or inf"):
        fit_and_predict(spec, X, y, np.ones(60, dtype=bool), seed=0, threads=1)
