"""Tests of the synthetic GTZAN-shaped dataset generator."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import soundfile as sf
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from genrepipe import GENRES, SAMPLE_RATE
from genrepipe.synthetic import clip_filename, synthesize_clip, write_clip, write_dataset

# --------------------------------------------------------------------------------------
# Determinism and basic properties
# --------------------------------------------------------------------------------------


def test_same_arguments_give_identical_clips():
    a = synthesize_clip("rock", 3, seed=7, duration=1.5)
    b = synthesize_clip("rock", 3, seed=7, duration=1.5)
    np.testing.assert_array_equal(a, b)


def test_same_seed_same_bytes_on_another_cpu_family():
    """numpy's float32 exp2 rounded otherwise with AVX-512 than without (the glide notes of
    five genres moved by up to 5 LSB), and its float32 sin, exp and tanh otherwise without
    AVX2 (every clip differed): a cluster of mixed CPUs made other clips."""
    import os
    import subprocess
    import sys

    code = (
        "import hashlib, numpy as np; from genrepipe import GENRES; "
        "from genrepipe.synthetic import synthesize_clip; h = hashlib.sha256(); "
        "[h.update(synthesize_clip(g, i, seed=7, duration=3.0).tobytes()) "
        "for g in GENRES for i in range(2)]; print(h.hexdigest())"
    )
    avx512 = "AVX512F AVX512CD AVX512_SKX AVX512_CLX AVX512_CNL AVX512_ICL AVX512_SPR X86_V4"
    hashes = []
    for disabled in ("", avx512, f"{avx512} AVX2 FMA3 X86_V3"):
        env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": disabled}
        result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
        if result.returncode != 0:
            pytest.skip(f"numpy refused NPY_DISABLE_CPU_FEATURES: {result.stderr[-300:]!r}")
        hashes.append(result.stdout.strip())
    assert hashes[0] == hashes[1] == hashes[2]


def test_crest_factor_alone_does_not_single_out_classical():
    """Master saturation switched on as a cliff (any saturate > 0 clipped at 4x the RMS), so
    classical, the one genre without it, was told by its peak-to-RMS ratio alone: 1 clip of
    72 of the other genres reached classical's least. Real masters overlap."""

    def crest(genre, index):
        y = synthesize_clip(genre, index, seed=0, duration=5.0).astype(np.float64)
        return np.max(np.abs(y)) / np.sqrt(np.mean(y**2))

    least = min(crest("classical", i) for i in range(8))
    others = [crest(g, i) for g in GENRES if g != "classical" for i in range(8)]
    assert np.mean(np.array(others) >= least) > 0.15


def test_clips_hold_no_dc_offset():
    """Sine-phase onsets and waveshaping left up to 5% of the RMS as DC in metal clips (real
    GTZAN metal: 0.2%), and energy below 20 Hz that told metal apart by itself."""
    for genre in ("metal", "rock", "blues", "jazz"):
        for index in range(3):
            y = synthesize_clip(genre, index, seed=7, duration=10.0).astype(np.float64)
            assert abs(y.mean()) < 0.005 * np.sqrt(np.mean(y**2)), (genre, index)


@pytest.mark.parametrize(
    "other",
    [
        {"genre": "rock", "index": 4, "seed": 7},
        {"genre": "rock", "index": 3, "seed": 8},
        {"genre": "metal", "index": 3, "seed": 7},
    ],
)
def test_different_index_seed_or_genre_give_different_clips(other):
    a = synthesize_clip("rock", 3, seed=7, duration=1.5)
    b = synthesize_clip(other["genre"], other["index"], seed=other["seed"], duration=1.5)
    assert a.shape == b.shape
    assert not np.allclose(a, b)
    # Not merely a different gain of the same music.
    assert abs(np.corrcoef(a, b)[0, 1]) < 0.5


def test_clip_does_not_depend_on_other_clips_generated_before():
    first = synthesize_clip("jazz", 2, seed=1, duration=1.0)
    for genre in ("blues", "pop"):
        synthesize_clip(genre, 0, seed=1, duration=1.0)
    np.testing.assert_array_equal(synthesize_clip("jazz", 2, seed=1, duration=1.0), first)


@pytest.mark.parametrize("genre", GENRES)
def test_clip_is_float32_mono_in_range_and_audible(genre):
    y = synthesize_clip(genre, 0, duration=2.0)
    assert y.dtype == np.float32
    assert y.shape == (2 * SAMPLE_RATE,)
    assert np.all(np.isfinite(y))
    assert np.max(np.abs(y)) <= 1.0
    rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    assert 0.03 < rms < 0.35, rms  # audible, but with headroom


@pytest.mark.parametrize(("duration", "sr"), [(0.5, SAMPLE_RATE), (1.25, 16000), (0.001, 22050)])
def test_length_is_duration_times_sample_rate(duration, sr):
    y = synthesize_clip("disco", 1, duration=duration, sr=sr)
    assert len(y) == round(duration * sr)


def test_level_is_randomized_within_a_genre():
    levels = [
        float(np.sqrt(np.mean(synthesize_clip("pop", i, duration=1.0) ** 2))) for i in range(5)
    ]
    assert max(levels) / min(levels) > 1.2


# --------------------------------------------------------------------------------------
# Argument validation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("genre", ["polka", "Rock", ""])
def test_unknown_genre_is_rejected_by_name(genre):
    with pytest.raises(ValueError, match=repr(genre)):
        synthesize_clip(genre, 0, duration=0.1)
    with pytest.raises(ValueError, match=repr(genre)):
        clip_filename(genre, 0)


@pytest.mark.parametrize("duration", [0, -1.0, math.nan, math.inf, 1e-9])
def test_bad_duration_is_rejected_by_value(duration):
    with pytest.raises(ValueError, match=repr(duration)):
        synthesize_clip("blues", 0, duration=duration)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"index": -1}, "-1"),
        ({"index": 1.5}, "1.5"),
        ({"seed": -3}, "-3"),
        ({"sr": 100}, "100"),
        ({"sr": 22050.0}, "22050.0"),
    ],
)
def test_bad_index_seed_or_sample_rate_is_rejected_by_value(kwargs, needle):
    args = {"index": 0, "seed": 0, "sr": SAMPLE_RATE} | kwargs
    with pytest.raises(ValueError, match=needle):
        synthesize_clip("blues", args["index"], seed=args["seed"], sr=args["sr"], duration=0.1)


def test_write_dataset_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_per_genre must be a positive integer, got 0"):
        write_dataset(tmp_path, n_per_genre=0, duration=0.1, seed=0)
    with pytest.raises(ValueError, match="'polka'"):
        write_dataset(tmp_path, n_per_genre=1, duration=0.1, seed=0, genres=["rock", "polka"])
    with pytest.raises(ValueError, match="-2.0"):
        write_dataset(tmp_path, n_per_genre=1, duration=-2.0, seed=0)
    # A genre named twice would write (and list) its clips twice.
    with pytest.raises(ValueError, match="duplicates"):
        write_dataset(tmp_path, n_per_genre=1, duration=0.1, seed=0, genres=["rock", "rock"])
    assert not any(tmp_path.iterdir())  # validated before writing anything


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------


def test_clip_filename_is_gtzan_style():
    assert clip_filename("blues", 3) == "blues.00003.wav"
    assert clip_filename("hiphop", 0) == "hiphop.00000.wav"
    assert clip_filename("rock", 99) == "rock.00099.wav"
    with pytest.raises(ValueError, match="-1"):
        clip_filename("rock", -1)
    # Six digits would break GTZAN's fixed-width names (and their sort order).
    assert clip_filename("rock", 99999) == "rock.99999.wav"
    with pytest.raises(ValueError, match="5-digit"):
        clip_filename("rock", 100000)


def test_classical_never_borrows_drums_bass_or_production():
    # The documented exception to borrowing: classical clips keep no drum kit or bass
    # guitar of a neighbour, while their other components do borrow now and then.
    from genrepipe.synthetic import _render

    borrowed = set()
    for index in range(30):
        plan: dict = {}
        rng = np.random.default_rng([0, GENRES.index("classical"), index])
        _render("classical", rng, 2000, 8000, plan)
        sources = plan["sources"]
        assert sources["drums"] == sources["bass"] == sources["production"] == "classical"
        borrowed |= {part for part, genre in sources.items() if genre != "classical"}
    assert borrowed  # 30 clips of 4 borrowing parts at 10%: a borrow is all but certain


def test_write_clip_writes_16bit_pcm_mono_wav(tmp_path):
    path = tmp_path / "sub" / "country.00002.wav"
    write_clip(path, "country", 2, seed=5, duration=1.5, sr=SAMPLE_RATE)
    info = sf.info(path)
    assert info.format == "WAV"
    assert info.subtype == "PCM_16"
    assert info.samplerate == SAMPLE_RATE
    assert info.channels == 1
    assert info.frames == round(1.5 * SAMPLE_RATE)
    data, sr = sf.read(path, dtype="float32")
    assert sr == SAMPLE_RATE
    expected = synthesize_clip("country", 2, seed=5, duration=1.5)
    np.testing.assert_allclose(data, expected, atol=1.5 / 32768)
    # Atomic write: only the final file is left behind.
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_write_dataset_layout(tmp_path):
    genres = ("metal", "blues")
    paths = write_dataset(tmp_path, n_per_genre=3, duration=0.3, seed=2, genres=genres)
    expected = [tmp_path / "genres" / g / f"{g}.{i:05d}.wav" for g in genres for i in range(3)]
    assert paths == expected
    on_disk = sorted(p for p in (tmp_path / "genres").rglob("*") if p.is_file())
    assert on_disk == sorted(expected)
    assert sorted(p.name for p in (tmp_path / "genres").iterdir()) == ["blues", "metal"]
    for p in paths:
        info = sf.info(p)
        assert (info.samplerate, info.channels, info.subtype) == (SAMPLE_RATE, 1, "PCM_16")
        assert info.frames == round(0.3 * SAMPLE_RATE)
    # A clip does not depend on which other genres or how many clips were written.
    data, _ = sf.read(paths[4], dtype="float32")
    np.testing.assert_allclose(
        data, synthesize_clip("blues", 1, seed=2, duration=0.3), atol=1.5 / 32768
    )


def test_write_dataset_default_genres(tmp_path):
    paths = write_dataset(tmp_path, n_per_genre=1, duration=0.2, seed=0)
    assert [p.name for p in paths] == [f"{g}.00000.wav" for g in GENRES]
    assert all(p.parent == tmp_path / "genres" / p.name.split(".")[0] for p in paths)


# --------------------------------------------------------------------------------------
# The genres sound different
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def genre_clips() -> dict[str, list[np.ndarray]]:
    """Four 6 s clips of a few contrasting genres."""
    return {
        g: [synthesize_clip(g, i, seed=11, duration=6.0) for i in range(4)]
        for g in ("classical", "metal", "disco", "reggae")
    }


def _onset_rate(y: np.ndarray) -> float:
    onsets = librosa.onset.onset_detect(y=y, sr=SAMPLE_RATE, units="time")
    return len(onsets) / (len(y) / SAMPLE_RATE)


def _centroid(y: np.ndarray) -> float:
    return float(np.mean(librosa.feature.spectral_centroid(y=y, sr=SAMPLE_RATE)))


def test_metal_is_brighter_than_classical(genre_clips):
    metal = np.mean([_centroid(y) for y in genre_clips["metal"]])
    classical = np.mean([_centroid(y) for y in genre_clips["classical"]])
    assert metal > 1.3 * classical


def test_metal_is_denser_in_onsets_than_classical(genre_clips):
    metal = np.mean([_onset_rate(y) for y in genre_clips["metal"]])
    classical = np.mean([_onset_rate(y) for y in genre_clips["classical"]])
    assert metal > 1.3 * classical


def test_disco_is_faster_than_reggae(genre_clips):
    """Disco (about 110-132 BPM) against reggae's one drop (about 62-92 BPM)."""

    def tempo(y):
        onset_env = librosa.onset.onset_strength(y=y, sr=SAMPLE_RATE)
        return float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onset_env))[0])

    disco = np.median([tempo(y) for y in genre_clips["disco"]])
    reggae = np.median([tempo(y) for y in genre_clips["reggae"]])
    assert 95 <= disco <= 140
    assert disco > reggae


def test_genres_are_learnable_but_not_trivially():
    """MFCC statistics and a cross-validated logistic regression beat chance (10%) by far,
    but the genres overlap, so they do not separate perfectly."""
    features, labels = [], []
    for k, genre in enumerate(GENRES):
        for i in range(8):
            y = synthesize_clip(genre, i, seed=0, duration=5.0)
            mfcc = librosa.feature.mfcc(y=y, sr=SAMPLE_RATE, n_mfcc=20)
            features.append(np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)]))
            labels.append(k)
    x, labels = np.array(features), np.array(labels)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(n_splits=4, shuffle=True, random_state=0)
    accuracy = float(np.mean(cross_val_score(model, x, labels, cv=cv)))
    assert 0.4 < accuracy < 0.95, accuracy
