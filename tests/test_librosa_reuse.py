"""genrepipe.librosa_reuse gives exactly librosa's values with less work."""

from __future__ import annotations

from pathlib import Path

import librosa
import librosa.core.constantq as constantq
import numpy as np
import pytest

from genrepipe.audio import load_audio
from genrepipe.librosa_reuse import cached_cqt_filters, estimate_tuning, filter_cache_info

SR = 22050


def _signal(seconds: float = 3.0, seed: int = 0, detune: float = 0.0) -> np.ndarray:
    """Detuned tones and noise: a tuning estimate has peaks to find."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    y = sum(
        np.sin(2 * np.pi * f * 2 ** (detune / 12) * t) / (i + 1)
        for i, f in enumerate((220.0, 277.2, 329.6, 880.0))
    )
    return (0.3 * y + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("n_fft", [512, 2048, 4096])
@pytest.mark.parametrize("power", [1, 2])
@pytest.mark.parametrize("bins_per_octave", [12, 36])
def test_estimate_tuning_equals_librosa(n_fft, power, bins_per_octave):
    for seed, detune in ((0, 0.0), (1, 0.23), (2, -0.41)):
        S = np.abs(librosa.stft(_signal(seed=seed, detune=detune), n_fft=n_fft)) ** power
        expected = librosa.estimate_tuning(S=S, sr=SR, bins_per_octave=bins_per_octave)
        assert estimate_tuning(S, SR, bins_per_octave=bins_per_octave) == expected


@pytest.mark.parametrize("sr", [8000, 16000, 44100])
def test_estimate_tuning_equals_librosa_at_other_rates(sr):
    """At 8 kHz the 4 kHz top of piptrack's band is the Nyquist frequency itself."""
    t = np.arange(2 * sr) / sr
    y = (np.sin(2 * np.pi * 443.0 * t) + 0.5 * np.sin(2 * np.pi * 1500.0 * t)).astype(np.float32)
    S = np.abs(librosa.stft(y))
    assert estimate_tuning(S, sr, 36) == librosa.estimate_tuning(S=S, sr=sr, bins_per_octave=36)


@pytest.mark.parametrize("bins_per_octave", [12, 36])
def test_a_strong_tone_just_above_the_band_is_no_peak(bins_per_octave):
    # piptrack keeps peaks under 4000 Hz only. The row above the band is read as a
    # neighbour; a loud tone there, about a quarter semitone off A440, must not count.
    n_fft = 2048
    above = librosa.fft_frequencies(sr=SR, n_fft=n_fft)
    above = above[above >= 4000.0][0]  # the first row outside the band
    t = np.arange(2 * SR) / SR
    y = 0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.6 * np.sin(2 * np.pi * above * t)
    S = np.abs(librosa.stft(y.astype(np.float32), n_fft=n_fft))
    expected = librosa.estimate_tuning(S=S, sr=SR, bins_per_octave=bins_per_octave)
    assert estimate_tuning(S, SR, bins_per_octave=bins_per_octave) == expected


@pytest.mark.parametrize("bins_per_octave", [12, 36])
def test_below_8_khz_the_band_stops_under_the_nyquist_frequency(bins_per_octave):
    # At 6 kHz piptrack's band ends under 3000 Hz, not 4000 Hz: a loud tone at the
    # Nyquist frequency (3000 Hz, off the A440 scale) lies outside it.
    sr = 6000
    t = np.arange(2 * sr) / sr
    y = 0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.6 * np.cos(np.pi * sr * t)
    S = np.abs(librosa.stft(y.astype(np.float32)))
    expected = librosa.estimate_tuning(S=S, sr=sr, bins_per_octave=bins_per_octave)
    assert estimate_tuning(S, sr, bins_per_octave=bins_per_octave) == expected


def test_estimate_tuning_of_silence_is_librosas():
    S = np.zeros((1025, 50), dtype=np.float32)
    with pytest.warns(UserWarning, match="empty frequency set"):
        expected = librosa.estimate_tuning(S=S, sr=SR)
    with pytest.warns(UserWarning, match="empty frequency set"):
        assert estimate_tuning(S, SR) == expected == 0.0


def test_estimate_tuning_on_a_real_clip(gtzan_mini_dir: Path):
    y = load_audio(gtzan_mini_dir / "jazz" / "jazz.00004.wav", sr=SR, max_duration=31.0)
    mag = np.abs(librosa.stft(y))
    for S, bins_per_octave in ((mag, 36), (mag**2, 12)):
        expected = librosa.estimate_tuning(S=S, sr=SR, bins_per_octave=bins_per_octave)
        assert estimate_tuning(S, SR, bins_per_octave) == expected


@pytest.mark.parametrize(
    "settings",
    [
        {"n_bins": 7 * 36, "bins_per_octave": 36},  # chroma_cqt's CQT
        {"n_bins": 84, "bins_per_octave": 12},
        {"n_bins": 48, "bins_per_octave": 12, "fmin": 110.0, "hop_length": 256},
    ],
)
def test_cached_cqt_filters_give_identical_cqts(settings):
    before = filter_cache_info()
    for seed, tuning in enumerate((0.0, -0.12, 0.31, -0.12, None)):
        y = _signal(seed=seed, detune=0.1 * seed)
        plain = librosa.cqt(y, sr=SR, tuning=tuning, **settings)
        with cached_cqt_filters():
            first = librosa.cqt(y, sr=SR, tuning=tuning, **settings)
            again = librosa.cqt(y, sr=SR, tuning=tuning, **settings)
        np.testing.assert_array_equal(first, plain)
        np.testing.assert_array_equal(again, plain)
    after = filter_cache_info()
    # The repeated CQTs, and octaves of the same CQT, reused filter banks.
    assert after["hits"] - before["hits"] > after["misses"] - before["misses"]


def test_octaves_of_one_cqt_share_filters():
    with cached_cqt_filters():
        y = _signal(seed=5)
        before = filter_cache_info()
        librosa.cqt(y, sr=SR, n_bins=7 * 36, bins_per_octave=36, tuning=0.437)
        after = filter_cache_info()
    built = after["misses"] - before["misses"]
    reused = after["hits"] - before["hits"]
    assert built + reused == 7  # one filter bank per octave
    assert reused >= 2


def test_cached_cqt_filters_restores_librosa_afterwards():
    original = getattr(constantq, "__vqt_filter_fft")
    with pytest.raises(RuntimeError):
        with cached_cqt_filters():
            assert getattr(constantq, "__vqt_filter_fft") is not original
            with cached_cqt_filters():  # nested: still the one cache
                pass
            assert getattr(constantq, "__vqt_filter_fft") is not original
            raise RuntimeError("a failing track")
    assert getattr(constantq, "__vqt_filter_fft") is original
