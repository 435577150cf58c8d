"""Tests of the ``rich`` feature set: layout, equality with ``stats``, its entries, its cost."""

from __future__ import annotations

import numpy as np
import pytest

from genrepipe import features as F

SR = 22050


def _clicks(seconds: float, bpm: float, seed: int = 0) -> np.ndarray:
    """Noise bursts at ``bpm`` beats per minute, silence between them."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * SR), dtype=np.float32)
    period = int(round(SR * 60.0 / bpm))
    burst = np.hanning(256)
    for start in range(0, y.size - burst.size, period):
        y[start : start + burst.size] += 0.8 * rng.standard_normal(burst.size) * burst
    return y


def _tone(freq: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture(scope="module")
def mixture() -> np.ndarray:
    rng = np.random.default_rng(0)
    y = _tone(220.0, 8.0) + _clicks(8.0, bpm=100.0) + 0.02 * rng.standard_normal(8 * SR)
    return y.astype(np.float32)


def _entry(names: list[str], name: str) -> int:
    return names.index(name)


def test_rich_vector_matches_its_names_and_starts_with_stats(mixture) -> None:
    rich = F.extract("rich", mixture, SR)
    names = F.feature_names("rich")
    assert rich.dtype == np.float32 and rich.shape == (len(names),) == (317,)
    assert len(set(names)) == len(names)
    stats = F.extract("stats", mixture, SR)
    # What stats has, computed the same way (the tempo shares rich's tempogram).
    np.testing.assert_array_equal(rich[: stats.size], stats)
    assert names[: stats.size] == F.stats_feature_names()


def test_rich_settings_change_the_layout(mixture) -> None:
    settings = {"n_mfcc": 13, "tempo_bands": 4, "window": 2.0, "tonal_hop_length": 1024}
    rich = F.extract("rich", mixture, SR, settings)
    assert rich.shape == (len(F.feature_names("rich", settings)),)
    assert sum(n.startswith("tempogram_") for n in F.feature_names("rich", settings)) == 8
    with pytest.raises(ValueError, match="tempo_bands"):
        F.extract("rich", mixture, SR, {"tempo_bands": 0})
    with pytest.raises(ValueError, match="window"):
        F.extract("rich", mixture, SR, {"window": 0.0})
    with pytest.raises(ValueError, match="unknown parameter"):
        F.extract("rich", mixture, SR, {"n_windows": 3})


def test_rich_rhythm_entries_follow_the_tempo() -> None:
    names = F.rich_feature_names()
    slow, fast = F.rich(_clicks(12.0, bpm=60.0), SR), F.rich(_clicks(12.0, bpm=150.0), SR)
    # Onsets per second: one a second and 2.5 a second.
    assert slow[_entry(names, "onset_rate")] == pytest.approx(1.0, abs=0.2)
    assert fast[_entry(names, "onset_rate")] == pytest.approx(2.5, abs=0.3)
    bands = [i for i, n in enumerate(names) if n.startswith("tempogram_") and n.endswith("_mean")]
    edges = F._rich_tempo_edges(8)
    band_150 = int(np.searchsorted(edges, 150.0)) - 1
    # The 150 BPM click train has its strongest periodicity in the band holding 150 BPM...
    assert fast[bands[band_150]] == pytest.approx(fast[bands].max())
    # ...which the 60 BPM train (periods of 1 s, 0.5 s, ... do not give 0.4 s) lacks.
    assert slow[bands[band_150]] < fast[bands[band_150]]
    assert fast[_entry(names, "pulse_clarity")] > 0.5


def test_rich_tonal_entries_find_the_pitch_class() -> None:
    names = F.rich_feature_names()
    a, c = F.rich(_tone(440.0, 6.0), SR), F.rich(_tone(261.63, 6.0), SR)
    chroma = [i for i, n in enumerate(names) if n.startswith("chroma_cqt_") and n.endswith("_mean")]
    assert int(np.argmax(a[chroma])) == 9  # A (chroma bins start at C)
    assert int(np.argmax(c[chroma])) == 0  # C
    tonnetz = [i for i, n in enumerate(names) if n.startswith("tonnetz_") and n.endswith("_mean")]
    assert not np.allclose(a[tonnetz], c[tonnetz], atol=0.05)


def test_window_summary_against_a_direct_computation() -> None:
    rng = np.random.default_rng(1)
    frames = rng.normal(size=(3, 50))
    frames[1, 25:] += 4.0  # a change halfway: the window means of row 1 spread
    summary = F.window_summary(frames, 10)
    starts = range(0, 50 - 10 + 1, 5)
    means = np.array([[frames[r, s : s + 10].mean() for s in starts] for r in range(3)])
    stds = np.array([[frames[r, s : s + 10].std() for s in starts] for r in range(3)])
    np.testing.assert_allclose(summary, np.concatenate([means.std(1), stds.mean(1)]), atol=1e-9)
    assert summary[1] > 3 * summary[0]
    flat = F.window_summary(np.ones((2, 40)), 8)
    np.testing.assert_allclose(flat, 0.0, atol=1e-9)


def test_rich_window_entries_see_a_change_over_time() -> None:
    """Loud then quiet: the spread of window RMS means is large, the global std alike."""
    names = F.rich_feature_names()
    steady = _tone(330.0, 12.0)
    changing = steady.copy()
    changing[: changing.size // 2] *= 0.05
    i = _entry(names, "win_rms_mean_std")
    assert F.rich(changing, SR)[i] > 10 * F.rich(steady, SR)[i]
