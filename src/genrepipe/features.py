"""Audio feature extraction: waveform in, numpy array out.

Every function here is a pure computation on a mono waveform (a 1-D floating
numpy array) and a sample rate; none reads or writes data files. The first call
in a fresh environment fills librosa's numba cache on disk, under a file lock
(:func:`genrepipe.jit_cache.ensure_filled`). The feature sets, registered by name
in :data:`FEATURE_SETS` and dispatched by :func:`extract`:

``seed87``
    The reference study's per-track stack of 87 frame-level feature rows
    (MFCC, mel bands, dynamic tempo, RMS, centroid, bandwidth, three chroma
    variants and spectral contrast), cropped or zero-padded to a fixed number
    of frames. :func:`seed87` computes it from one shared STFT, one shared
    128-band mel spectrogram and one shared CQT; :func:`seed87_reference`
    computes it the way the study did, one independent librosa call per
    feature, and is kept as the yardstick for equality and cost.
``stats``
    A compact 1-D vector of means and standard deviations of frame features
    plus a global tempo, for fast classic models.
``segment_stats``
    The ``stats`` vector of each of ``n_windows`` windows of ``window`` seconds
    spread over the clip (segment mode: a row per window).
``logmel``
    A log-mel spectrogram in dB against a fixed reference, for CNNs.
``mfcc``
    MFCC and their deltas frame by frame (:func:`mfcc`), the DCT of a
    :func:`logmel` with librosa's MFCC settings, for CNNs.
``rich``
    The ``stats`` vector plus tonnetz and CQT chroma, tempogram bands, pulse
    clarity and onset rate, and window-level statistics of the frame
    features (:func:`rich`); costs less CPU per track than ``seed87``.

Notes
-----
The sharing in :func:`seed87` relies on these details of librosa 0.11:

* ``librosa.feature.*`` functions given ``y`` compute
  ``np.abs(librosa.stft(y, ...)) ** power`` (``power=1`` for centroid,
  bandwidth and contrast, ``power=2`` for chroma_stft and melspectrogram), so
  passing ``S=`` built from the same STFT gives identical values.
* ``mfcc(y=...)`` is ``dct(power_to_db(melspectrogram(y, n_mels=128)))`` and
  ``onset_strength(y=...)`` is spectral flux of
  ``power_to_db(melspectrogram(y, n_mels=128, fmax=sr/2))``: the same
  128-band log-mel spectrogram, computed once here.
* ``chroma_cqt(y=...)`` and ``chroma_cens(y=...)`` both compute
  ``np.abs(cqt(y, fmin=None, n_bins=7*36, bins_per_octave=36, tuning=None))``
  and accept that magnitude CQT as ``C=``; ``chroma_cens`` calls
  ``chroma_cqt(norm=None)`` internally, so one CQT serves both.
* ``cqt(tuning=None)`` estimates the tuning with
  ``estimate_tuning(y=y, bins_per_octave=36)``, i.e. ``piptrack`` on a
  magnitude STFT with ``n_fft=2048, hop_length=512``; when the shared STFT
  has exactly those settings it is reused for the tuning estimate.
* Both tuning estimates (the CQT's, and ``chroma_stft``'s on the power
  spectrogram) and the CQT's filter banks are computed by
  :mod:`genrepipe.librosa_reuse`, with librosa's values and less work.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import librosa
import numpy as np
import scipy.fft

from genrepipe import jit_cache
from genrepipe.config import CONTRAST_FMIN
from genrepipe.librosa_reuse import cached_cqt_filters, estimate_tuning

__all__ = [
    "FEATURE_SETS",
    "cepstra",
    "extract",
    "feature_names",
    "logmel",
    "mfcc",
    "mfcc_row_names",
    "rich",
    "rich_feature_names",
    "seed87",
    "seed87_reference",
    "seed87_row_names",
    "stats",
    "stats_feature_names",
]

#: CQT layout used by ``librosa.feature.chroma_cqt`` / ``chroma_cens`` defaults.
_CQT_BINS_PER_OCTAVE = 36
_CQT_N_OCTAVES = 7
#: Number of mel bands librosa uses for MFCC and onset strength by default.
_MEL_BANDS_SHARED = 128
#: Spectral contrast settings (``n_bands=6`` gives ``n_bands + 1`` rows).
_CONTRAST_BANDS = 6
_CONTRAST_FMIN = CONTRAST_FMIN  # the config check refuses an n_fft too coarse for it
_N_CHROMA = 12
#: STFT settings that ``librosa.estimate_tuning(y=...)`` uses internally.
_TUNING_N_FFT = 2048
_TUNING_HOP = _TUNING_N_FFT // 4


# --------------------------------------------------------------------------- validation


def _cache_filled_first(func: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """``func``, filling librosa's numba cache first (once per environment, under a
    lock): librosa compiles and caches its functions on first use, and processes doing
    that side by side crash (a test worker calling seed87 beside one running extract
    died of a segmentation fault in librosa's peak_pick)."""

    @functools.wraps(func)
    def filled_first(*args: Any, **kwargs: Any) -> np.ndarray:
        jit_cache.ensure_filled()
        return func(*args, **kwargs)

    return filled_first


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _check_audio(y: Any, sr: Any, n_fft: Any, hop_length: Any) -> tuple[np.ndarray, int]:
    """Validate the waveform and analysis settings shared by every feature set."""
    if isinstance(sr, bool) or not isinstance(sr, (int, float, np.integer, np.floating)):
        raise ValueError(f"sr must be a positive number, got {sr!r}")
    if not np.isfinite(sr) or sr <= 0:
        raise ValueError(f"sr must be a positive number, got {sr!r}")
    n_fft = _check_positive_int("n_fft", n_fft)
    _check_positive_int("hop_length", hop_length)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"audio must be a 1-D (mono) array, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.floating):
        raise ValueError(f"audio must be a floating-point array, got dtype {y.dtype}")
    if y.shape[0] < n_fft:
        # Also in seconds: the reason reaches failed-track lists and genrepipe-predict.
        raise ValueError(
            f"audio of {y.shape[0]} samples ({y.shape[0] / sr:.3f} s) is shorter than one "
            f"analysis window (n_fft={n_fft}, {n_fft / sr:.3f} s)"
        )
    n_bad = int(np.count_nonzero(~np.isfinite(y)))
    if n_bad:
        raise ValueError(f"audio holds {n_bad} non-finite samples (NaN or inf)")
    return y, int(sr) if float(sr).is_integer() else sr


def _check_contrast_sr(sr: float) -> None:
    top_edge = _CONTRAST_FMIN * 2.0 ** (_CONTRAST_BANDS - 1)
    if top_edge >= 0.5 * sr:
        raise ValueError(
            f"sr={sr} is too low for spectral contrast with {_CONTRAST_BANDS} bands "
            f"from {_CONTRAST_FMIN:g} Hz (needs sr > {2 * top_edge:g})"
        )


def _check_seed87_args(
    sr: float, n_frames: Any, n_mfcc: Any, n_mels: Any, mel_fmax: Any
) -> tuple[int, int, int, float]:
    n_frames = _check_positive_int("n_frames", n_frames)
    n_mfcc = _check_positive_int("n_mfcc", n_mfcc)
    if n_mfcc > _MEL_BANDS_SHARED:
        raise ValueError(
            f"n_mfcc={n_mfcc} exceeds the {_MEL_BANDS_SHARED} mel bands MFCCs are taken from"
        )
    n_mels = _check_positive_int("n_mels", n_mels)
    if (
        isinstance(mel_fmax, bool)
        or not isinstance(mel_fmax, (int, float, np.integer, np.floating))
        or not 0 < mel_fmax <= 0.5 * sr
    ):
        raise ValueError(f"mel_fmax must lie in (0, sr/2] = (0, {0.5 * sr:g}], got {mel_fmax!r}")
    _check_contrast_sr(sr)
    return n_frames, n_mfcc, n_mels, float(mel_fmax)


def _fit_frames(block: np.ndarray, n_frames: int) -> np.ndarray:
    """Crop ``block`` (rows x frames) to ``n_frames`` or zero-pad it at the end."""
    block = np.atleast_2d(block)
    have = block.shape[-1]
    if have >= n_frames:
        return block[:, :n_frames]
    return np.pad(block, ((0, 0), (0, n_frames - have)))


def _stack_fixed(blocks: list[np.ndarray], n_frames: int) -> np.ndarray:
    return np.vstack([_fit_frames(b, n_frames) for b in blocks]).astype(np.float32)


# --------------------------------------------------------------------------- seed87


def seed87_row_names(n_mfcc: int = 20, n_mels: int = 20) -> list[str]:
    """Name the rows of a :func:`seed87` array, in order.

    Parameters
    ----------
    n_mfcc : int
        Number of MFCC rows.
    n_mels : int
        Number of mel-band rows.

    Returns
    -------
    list of str
        ``mfcc_00..``, ``mel_00..``, ``tempo``, ``rms``, ``centroid``,
        ``bandwidth``, ``cens_00..11``, ``chroma_stft_00..11``,
        ``chroma_cqt_00..11``, ``contrast_00..06``; 87 names with the defaults.
    """
    n_mfcc = _check_positive_int("n_mfcc", n_mfcc)
    n_mels = _check_positive_int("n_mels", n_mels)
    names = [f"mfcc_{i:02d}" for i in range(n_mfcc)]
    names += [f"mel_{i:02d}" for i in range(n_mels)]
    names += ["tempo", "rms", "centroid", "bandwidth"]
    names += [f"cens_{i:02d}" for i in range(_N_CHROMA)]
    names += [f"chroma_stft_{i:02d}" for i in range(_N_CHROMA)]
    names += [f"chroma_cqt_{i:02d}" for i in range(_N_CHROMA)]
    names += [f"contrast_{i:02d}" for i in range(_CONTRAST_BANDS + 1)]
    return names


#: Row names of :func:`seed87` with its default settings (87 names).
SEED87_ROWS: tuple[str, ...] = tuple(seed87_row_names())


@_cache_filled_first
def seed87_reference(
    y: np.ndarray,
    sr: int,
    *,
    n_frames: int = 1400,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mfcc: int = 20,
    n_mels: int = 20,
    mel_fmax: float = 1400.0,
) -> np.ndarray:
    """Compute the 87-row feature stack the way the reference study did.

    Each feature is its own librosa call on the waveform, so each recomputes
    its own STFT, mel spectrogram or CQT. The values equal :func:`seed87`;
    this slow version is kept as the yardstick for tests and benchmarks.

    Parameters
    ----------
    y : numpy.ndarray
        Mono waveform, 1-D floating array of at least ``n_fft`` samples.
    sr : int
        Sample rate in Hz (must exceed 12800 Hz for spectral contrast).
    n_frames : int
        Number of frames kept: each row block is cropped to its first
        ``n_frames`` frames or zero-padded at the end.
    n_fft : int
        STFT window length in samples.
    hop_length : int
        Hop between frames in samples.
    n_mfcc : int
        Number of MFCCs (at most 128).
    n_mels : int
        Number of mel bands in the mel block.
    mel_fmax : float
        Upper frequency of the mel block in Hz.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(n_mfcc + n_mels + 47, n_frames)``, rows as
        named by :func:`seed87_row_names`.

    Raises
    ------
    ValueError
        On an invalid waveform or setting.
    """
    y, sr = _check_audio(y, sr, n_fft, hop_length)
    n_frames, n_mfcc, n_mels, mel_fmax = _check_seed87_args(sr, n_frames, n_mfcc, n_mels, mel_fmax)
    stft_kw = {"n_fft": n_fft, "hop_length": hop_length}
    feat = librosa.feature
    # librosa.feature.tempo(y=...) calls onset_strength(y=..., hop_length=...) and so
    # always uses n_fft=2048; calling onset_strength explicitly lets n_fft apply.
    # With the default n_fft this is exactly feat.tempo(y=y, sr=sr, aggregate=None).
    onset_env = librosa.onset.onset_strength(y=y, sr=sr, **stft_kw)
    blocks = [
        feat.mfcc(y=y, sr=sr, n_mfcc=n_mfcc, **stft_kw),
        feat.melspectrogram(y=y, sr=sr, n_mels=n_mels, fmax=mel_fmax, **stft_kw),
        feat.tempo(onset_envelope=onset_env, sr=sr, hop_length=hop_length, aggregate=None),
        feat.rms(y=y, frame_length=n_fft, hop_length=hop_length),
        feat.spectral_centroid(y=y, sr=sr, **stft_kw),
        feat.spectral_bandwidth(y=y, sr=sr, **stft_kw),
        feat.chroma_cens(y=y, sr=sr, hop_length=hop_length),
        feat.chroma_stft(y=y, sr=sr, **stft_kw),
        feat.chroma_cqt(y=y, sr=sr, hop_length=hop_length),
        feat.spectral_contrast(y=y, sr=sr, n_bands=_CONTRAST_BANDS, fmin=_CONTRAST_FMIN, **stft_kw),
    ]
    return _stack_fixed(blocks, n_frames)


def _shared_cqt(y: np.ndarray, sr: float, hop_length: int, tuning: float | None) -> np.ndarray:
    """The magnitude CQT that ``chroma_cqt(y=...)`` / ``chroma_cens(y=...)`` build.

    Filter banks are reused across octaves and tracks (same values; see
    :func:`genrepipe.librosa_reuse.cached_cqt_filters`).
    """
    with cached_cqt_filters():
        return np.abs(
            librosa.cqt(
                y,
                sr=sr,
                hop_length=hop_length,
                fmin=None,
                n_bins=_CQT_N_OCTAVES * _CQT_BINS_PER_OCTAVE,
                bins_per_octave=_CQT_BINS_PER_OCTAVE,
                tuning=tuning,
            )
        )


@_cache_filled_first
def seed87(
    y: np.ndarray,
    sr: int,
    *,
    n_frames: int = 1400,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mfcc: int = 20,
    n_mels: int = 20,
    mel_fmax: float = 1400.0,
) -> np.ndarray:
    """Compute the reference study's 87-row feature stack, cheaply.

    Same values as :func:`seed87_reference`, but one magnitude STFT serves
    every STFT-based feature, one 128-band mel spectrogram serves MFCC and
    the tempo's onset envelope, and one CQT serves chroma CQT and chroma
    CENS (see the module notes for the librosa internals this relies on).

    Parameters
    ----------
    y : numpy.ndarray
        Mono waveform, 1-D floating array of at least ``n_fft`` samples.
    sr : int
        Sample rate in Hz (must exceed 12800 Hz for spectral contrast).
    n_frames : int
        Number of frames kept: each row block is cropped to its first
        ``n_frames`` frames or zero-padded at the end.
    n_fft : int
        STFT window length in samples.
    hop_length : int
        Hop between frames in samples.
    n_mfcc : int
        Number of MFCCs (at most 128).
    n_mels : int
        Number of mel bands in the mel block.
    mel_fmax : float
        Upper frequency of the mel block in Hz.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(n_mfcc + n_mels + 47, n_frames)``, rows as
        named by :func:`seed87_row_names`: 87 rows with the defaults.

    Raises
    ------
    ValueError
        On an invalid waveform or setting.
    """
    y, sr = _check_audio(y, sr, n_fft, hop_length)
    n_frames, n_mfcc, n_mels, mel_fmax = _check_seed87_args(sr, n_frames, n_mfcc, n_mels, mel_fmax)
    feat = librosa.feature
    mag = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length))
    power = mag**2
    stft_kw = {"n_fft": n_fft, "hop_length": hop_length}

    # One 128-band log-mel spectrogram for MFCC and the onset envelope.
    log_mel128 = librosa.power_to_db(
        feat.melspectrogram(S=power, sr=sr, n_mels=_MEL_BANDS_SHARED, **stft_kw)
    )
    mfcc = feat.mfcc(S=log_mel128, sr=sr, n_mfcc=n_mfcc)
    onset_env = librosa.onset.onset_strength(S=log_mel128, sr=sr, **stft_kw)
    tempo = feat.tempo(onset_envelope=onset_env, sr=sr, hop_length=hop_length, aggregate=None)

    mel = feat.melspectrogram(S=power, sr=sr, n_mels=n_mels, fmax=mel_fmax, **stft_kw)
    centroid = feat.spectral_centroid(S=mag, sr=sr, **stft_kw)
    bandwidth = feat.spectral_bandwidth(S=mag, sr=sr, centroid=centroid, **stft_kw)
    contrast = feat.spectral_contrast(
        S=mag, sr=sr, n_bands=_CONTRAST_BANDS, fmin=_CONTRAST_FMIN, **stft_kw
    )
    # chroma_stft(tuning=None) runs estimate_tuning(S=power, bins_per_octave=12): the same
    # estimate, on the rows piptrack reads only (genrepipe.librosa_reuse).
    chroma_tuning = estimate_tuning(power, sr, bins_per_octave=_N_CHROMA)
    chroma_stft = feat.chroma_stft(S=power, sr=sr, tuning=chroma_tuning, **stft_kw)

    # cqt(tuning=None) would run estimate_tuning(y=y), i.e. piptrack on the magnitude
    # STFT with n_fft=2048, hop=512: reuse ours when it has exactly those settings.
    tuning = None
    if n_fft == _TUNING_N_FFT and hop_length == _TUNING_HOP:
        tuning = estimate_tuning(mag, sr, bins_per_octave=_CQT_BINS_PER_OCTAVE)
    cqt_mag = _shared_cqt(y, sr, hop_length, tuning)
    cens = feat.chroma_cens(C=cqt_mag, sr=sr, hop_length=hop_length)
    chroma_cqt = feat.chroma_cqt(C=cqt_mag, sr=sr, hop_length=hop_length)

    rms = feat.rms(y=y, frame_length=n_fft, hop_length=hop_length)
    blocks = [
        mfcc,
        mel,
        tempo,
        rms,
        centroid,
        bandwidth,
        cens,
        chroma_stft,
        chroma_cqt,
        contrast,
    ]
    return _stack_fixed(blocks, n_frames)


# --------------------------------------------------------------------------- stats


def _stats_row_names(n_mfcc: int) -> list[str]:
    rows = [f"mfcc_{i:02d}" for i in range(n_mfcc)]
    rows += [f"mfcc_delta_{i:02d}" for i in range(n_mfcc)]
    rows += ["centroid", "bandwidth", "rolloff", "flatness", "zcr", "rms"]
    rows += [f"contrast_{i:02d}" for i in range(_CONTRAST_BANDS + 1)]
    rows += [f"chroma_stft_{i:02d}" for i in range(_N_CHROMA)]
    return rows


def stats_feature_names(n_mfcc: int = 20) -> list[str]:
    """Name the entries of a :func:`stats` vector, in order.

    Parameters
    ----------
    n_mfcc : int
        Number of MFCCs.

    Returns
    -------
    list of str
        ``<row>_mean`` for every frame feature, then ``<row>_std`` for every
        frame feature, then ``tempo``. Frame features are ``mfcc_XX``,
        ``mfcc_delta_XX``, ``centroid``, ``bandwidth``, ``rolloff``,
        ``flatness``, ``zcr``, ``rms``, ``contrast_00..06`` and
        ``chroma_stft_00..11``; 131 names with ``n_mfcc=20``.
    """
    n_mfcc = _check_positive_int("n_mfcc", n_mfcc)
    rows = _stats_row_names(n_mfcc)
    return [f"{r}_mean" for r in rows] + [f"{r}_std" for r in rows] + ["tempo"]


@_cache_filled_first
def stats(
    y: np.ndarray,
    sr: int,
    *,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mfcc: int = 20,
) -> np.ndarray:
    """Compute a compact vector of frame-feature statistics for classic models.

    One magnitude STFT serves every spectral feature; MFCCs come from a
    128-band log-mel spectrogram that also gives the onset envelope for the
    global tempo. Zero-crossing rate and RMS are framed from the waveform
    with ``frame_length=n_fft``.

    Parameters
    ----------
    y : numpy.ndarray
        Mono waveform, 1-D floating array of at least ``n_fft`` samples.
    sr : int
        Sample rate in Hz (must exceed 12800 Hz for spectral contrast).
    n_fft : int
        STFT window length in samples.
    hop_length : int
        Hop between frames in samples.
    n_mfcc : int
        Number of MFCCs (at most 128).

    Returns
    -------
    numpy.ndarray
        1-D float32 vector: mean over frames of every frame feature, then the
        standard deviation of every frame feature, then the global tempo in
        BPM; entries named by :func:`stats_feature_names`.

    Raises
    ------
    ValueError
        On an invalid waveform or setting.
    """
    frames, onset_env = _stats_frames(y, sr, n_fft=n_fft, hop_length=hop_length, n_mfcc=n_mfcc)
    tempo = librosa.feature.tempo(onset_envelope=onset_env, sr=sr, hop_length=hop_length)
    return _summarize(frames, tempo)


def _summarize(frames: np.ndarray, tempo: np.ndarray) -> np.ndarray:
    """Mean and std over frames of each frame feature, then the tempo."""
    return np.concatenate(
        [frames.mean(axis=1), frames.std(axis=1), np.atleast_1d(tempo).ravel()[:1]]
    ).astype(np.float32)


def _stats_frames(
    y: np.ndarray, sr: int, *, n_fft: int, hop_length: int, n_mfcc: int
) -> tuple[np.ndarray, np.ndarray]:
    """Frame features of :func:`stats` (rows x frames) and the onset envelope."""
    y, sr = _check_audio(y, sr, n_fft, hop_length)
    n_mfcc = _check_positive_int("n_mfcc", n_mfcc)
    if n_mfcc > _MEL_BANDS_SHARED:
        raise ValueError(
            f"n_mfcc={n_mfcc} exceeds the {_MEL_BANDS_SHARED} mel bands MFCCs are taken from"
        )
    _check_contrast_sr(sr)
    feat = librosa.feature
    stft_kw = {"n_fft": n_fft, "hop_length": hop_length}
    mag = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length))
    power = mag**2

    log_mel128 = librosa.power_to_db(
        feat.melspectrogram(S=power, sr=sr, n_mels=_MEL_BANDS_SHARED, **stft_kw)
    )
    mfcc = feat.mfcc(S=log_mel128, sr=sr, n_mfcc=n_mfcc)
    n_t = mfcc.shape[-1]
    # delta's default "interp" mode needs at least `width` frames.
    mfcc_delta = feat.delta(mfcc, width=9, mode="interp" if n_t >= 9 else "nearest")
    onset_env = librosa.onset.onset_strength(S=log_mel128, sr=sr, **stft_kw)

    centroid = feat.spectral_centroid(S=mag, sr=sr, **stft_kw)
    frames = np.vstack(
        [
            mfcc,
            mfcc_delta,
            centroid,
            feat.spectral_bandwidth(S=mag, sr=sr, centroid=centroid, **stft_kw),
            feat.spectral_rolloff(S=mag, sr=sr, **stft_kw),
            feat.spectral_flatness(S=mag, **stft_kw),
            feat.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop_length),
            feat.rms(y=y, frame_length=n_fft, hop_length=hop_length),
            feat.spectral_contrast(
                S=mag, sr=sr, n_bands=_CONTRAST_BANDS, fmin=_CONTRAST_FMIN, **stft_kw
            ),
            # tuning: librosa's own estimate (chroma_stft's tuning=None), computed cheaper.
            feat.chroma_stft(
                S=power,
                sr=sr,
                tuning=estimate_tuning(power, sr, bins_per_octave=_N_CHROMA),
                **stft_kw,
            ),
        ]
    ).astype(np.float64)
    return frames, onset_env


# ------------------------------------------------------------------ segment_stats


def segment_starts(n_frames: int, window_frames: int, n_windows: int) -> np.ndarray:
    """First frame of each of ``n_windows`` windows spread evenly over ``n_frames``.

    The first window starts at the first frame and the last one ends at the last
    frame, so every track gives the same number of windows whatever its length.
    """
    if window_frames > n_frames:
        raise ValueError(
            f"a window of {window_frames} frames does not fit in {n_frames} frames of audio"
        )
    return np.round(np.linspace(0, n_frames - window_frames, n_windows)).astype(int)


@_cache_filled_first
def segment_stats(
    y: np.ndarray,
    sr: int,
    *,
    window: float = 3.0,
    n_windows: int = 10,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mfcc: int = 20,
) -> np.ndarray:
    """The :func:`stats` vector of each of ``n_windows`` windows of ``window`` seconds.

    Frame features are computed once for the whole clip and summarized per
    window, so windows cost little more than one :func:`stats`. Windows spread
    evenly over the clip (overlapping when ``n_windows * window`` exceeds its
    length). Used by segment mode: a model trains on windows and predicts a
    track by combining its windows' probabilities.

    Parameters
    ----------
    y, sr
        As for :func:`stats`.
    window : float
        Window length in seconds (positive).
    n_windows : int
        Number of windows.
    n_fft, hop_length, n_mfcc
        As for :func:`stats`.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(n_windows, len(stats_feature_names(n_mfcc)))``;
        each window's tempo is estimated from its own onset envelope.

    Raises
    ------
    ValueError
        On an invalid waveform or setting, or audio shorter than one window.
    """
    n_windows = _check_positive_int("n_windows", n_windows)
    if not window > 0:
        raise ValueError(f"window must be positive seconds, got {window!r}")
    frames, onset_env = _stats_frames(y, sr, n_fft=n_fft, hop_length=hop_length, n_mfcc=n_mfcc)
    window_frames = max(2, int(round(window * sr / hop_length)))
    if window_frames > frames.shape[1]:
        # Said in seconds: the reason reaches failed-track lists and genrepipe-predict.
        raise ValueError(
            f"{len(y) / sr:.2f} s of audio is shorter than one {window:g} s segment window"
        )
    starts = segment_starts(frames.shape[1], window_frames, n_windows)
    rows = []
    for start in starts:
        stop = start + window_frames
        tempo = librosa.feature.tempo(
            onset_envelope=onset_env[start:stop], sr=sr, hop_length=hop_length
        )
        rows.append(_summarize(frames[:, start:stop], tempo))
    return np.stack(rows)


# --------------------------------------------------------------------------- rich

#: CQT layout of the tonal features of :func:`rich` (as ``chroma_cqt``'s defaults).
_RICH_CQT_BINS_PER_OCTAVE = 36
#: Tempo range (BPM) that :func:`rich` splits into log-spaced tempogram bands.
_RICH_TEMPO_RANGE = (30.0, 300.0)
#: Seconds of onset envelope per tempogram column: ``librosa.feature.tempo``'s ``ac_size``.
_RICH_AC_SIZE = 8.0
_N_TONNETZ = 6


def _rich_tempo_edges(tempo_bands: int) -> np.ndarray:
    """BPM edges of the log-spaced tempogram bands, from 30 to 300 BPM."""
    low, high = _RICH_TEMPO_RANGE
    return np.geomspace(low, high, tempo_bands + 1)


def rich_feature_names(n_mfcc: int = 20, tempo_bands: int = 8) -> list[str]:
    """Name the entries of a :func:`rich` vector, in order.

    Parameters
    ----------
    n_mfcc : int
        Number of MFCCs.
    tempo_bands : int
        Number of tempogram bands.

    Returns
    -------
    list of str
        The :func:`stats_feature_names`, then ``tonnetz_X_mean/std``,
        ``chroma_cqt_XX_mean/std``, ``tempogram_<lo>_<hi>bpm_mean/std``,
        ``pulse_clarity``, ``onset_rate``, ``onset_strength_mean/std``, then
        for every frame feature of :func:`stats` ``win_<row>_mean_std`` (spread
        of the window means over the track) and ``win_<row>_std_mean`` (mean
        within-window spread); 317 names with the defaults.
    """
    n_mfcc = _check_positive_int("n_mfcc", n_mfcc)
    tempo_bands = _check_positive_int("tempo_bands", tempo_bands)
    names = stats_feature_names(n_mfcc)
    for block in (
        [f"tonnetz_{i}" for i in range(_N_TONNETZ)],
        [f"chroma_cqt_{i:02d}" for i in range(_N_CHROMA)],
    ):
        names += [f"{row}_mean" for row in block] + [f"{row}_std" for row in block]
    edges = _rich_tempo_edges(tempo_bands)
    bands = [
        f"tempogram_{lo:.0f}_{hi:.0f}bpm" for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    ]
    names += [f"{band}_mean" for band in bands] + [f"{band}_std" for band in bands]
    names += ["pulse_clarity", "onset_rate", "onset_strength_mean", "onset_strength_std"]
    rows = _stats_row_names(n_mfcc)
    names += [f"win_{row}_mean_std" for row in rows] + [f"win_{row}_std_mean" for row in rows]
    return names


def window_summary(frames: np.ndarray, window_frames: int) -> np.ndarray:
    """Spread of window means and mean of window spreads of each frame feature.

    Windows of ``window_frames`` frames start every ``window_frames // 2``
    frames (half overlap); a clip shorter than one window is one window.

    Parameters
    ----------
    frames : numpy.ndarray
        Frame features, shape ``(n_rows, n_frames)``.
    window_frames : int
        Frames per window.

    Returns
    -------
    numpy.ndarray
        Shape ``(2 * n_rows,)``: the standard deviation across windows of each
        row's per-window mean, then the mean across windows of each row's
        per-window standard deviation.
    """
    frames = np.asarray(frames, dtype=np.float64)
    n_frames = frames.shape[1]
    window_frames = min(_check_positive_int("window_frames", window_frames), n_frames)
    hop = max(1, window_frames // 2)
    starts = np.arange(0, n_frames - window_frames + 1, hop)
    # Window sums from cumulative sums: every window costs O(1) per row.
    zero = np.zeros((frames.shape[0], 1))
    c1 = np.concatenate([zero, np.cumsum(frames, axis=1)], axis=1)
    c2 = np.concatenate([zero, np.cumsum(frames**2, axis=1)], axis=1)
    mean = (c1[:, starts + window_frames] - c1[:, starts]) / window_frames
    mean_sq = (c2[:, starts + window_frames] - c2[:, starts]) / window_frames
    std = np.sqrt(np.maximum(mean_sq - mean**2, 0.0))
    return np.concatenate([mean.std(axis=1), std.mean(axis=1)])


@_cache_filled_first
def rich(
    y: np.ndarray,
    sr: int,
    *,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mfcc: int = 20,
    window: float = 3.0,
    tonal_hop_length: int = 2048,
    tempo_bands: int = 8,
) -> np.ndarray:
    """The :func:`stats` vector plus tonal, rhythm and window-level statistics.

    On top of :func:`stats` (computed the same way, so its entries are equal):

    * tonality: mean and standard deviation of the 6 tonnetz coordinates and of
      the 12 CQT chroma bins, from one magnitude CQT of 7 octaves at 36 bins
      per octave with a hop of ``tonal_hop_length`` (harmony changes slowly;
      a coarse hop keeps the CQT cheap) and no tuning estimate (three bins per
      semitone absorb a detuning of a third of a semitone);
    * rhythm: the autocorrelation tempogram of the onset envelope (8 s
      windows, the one ``librosa.feature.tempo`` uses, computed once and shared
      with the tempo), averaged in ``tempo_bands`` log-spaced bands from 30 to
      300 BPM, mean and standard deviation over time; the pulse clarity (the
      highest average autocorrelation in that range); the onset rate (onsets
      per second); mean and standard deviation of the onset strength;
    * texture over time: the frame features of :func:`stats` summarized over
      half-overlapping windows of ``window`` seconds (see
      :func:`window_summary`).

    Parameters
    ----------
    y : numpy.ndarray
        Mono waveform, 1-D floating array of at least ``n_fft`` samples.
    sr : int
        Sample rate in Hz (must exceed 12800 Hz for spectral contrast).
    n_fft, hop_length, n_mfcc
        As for :func:`stats`.
    window : float
        Seconds per window of the window-level statistics.
    tonal_hop_length : int
        Hop of the CQT of the tonal features, in samples.
    tempo_bands : int
        Number of tempogram bands.

    Returns
    -------
    numpy.ndarray
        1-D float32 vector named by :func:`rich_feature_names`.

    Raises
    ------
    ValueError
        On an invalid waveform or setting.
    """
    if not window > 0:
        raise ValueError(f"window must be positive seconds, got {window!r}")
    tonal_hop_length = _check_positive_int("tonal_hop_length", tonal_hop_length)
    tempo_bands = _check_positive_int("tempo_bands", tempo_bands)
    frames, onset_env = _stats_frames(y, sr, n_fft=n_fft, hop_length=hop_length, n_mfcc=n_mfcc)
    feat = librosa.feature

    # One tempogram for the tempo of stats and the rhythm features.
    ac_frames = int(librosa.time_to_frames(_RICH_AC_SIZE, sr=sr, hop_length=hop_length))
    tempogram = feat.tempogram(
        onset_envelope=onset_env, sr=sr, hop_length=hop_length, win_length=ac_frames
    )
    tempo = feat.tempo(onset_envelope=onset_env, sr=sr, hop_length=hop_length, tg=tempogram)
    bpms = librosa.tempo_frequencies(ac_frames, sr=sr, hop_length=hop_length)
    edges = _rich_tempo_edges(tempo_bands)
    band_rows = []
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        lags = (bpms >= low) & (bpms < high)
        if not lags.any():  # a band narrower than one lag: take the nearest lag
            lags = np.zeros_like(lags)
            lags[np.argmin(np.abs(np.log(bpms[1:] / np.sqrt(low * high)))) + 1] = True
        band_rows.append(tempogram[lags].mean(axis=0))
    bands = np.vstack(band_rows)
    in_range = (bpms >= edges[0]) & (bpms <= edges[-1])
    pulse_clarity = float(tempogram[in_range].mean(axis=1).max()) if in_range.any() else 0.0
    onsets = librosa.onset.onset_detect(onset_envelope=onset_env, sr=sr, hop_length=hop_length)
    onset_rate = len(onsets) / (len(y) / sr)

    with cached_cqt_filters():
        cqt = np.abs(
            librosa.cqt(
                y,
                sr=sr,
                hop_length=tonal_hop_length,
                n_bins=_CQT_N_OCTAVES * _RICH_CQT_BINS_PER_OCTAVE,
                bins_per_octave=_RICH_CQT_BINS_PER_OCTAVE,
                tuning=0.0,
            )
        )
    chroma = feat.chroma_cqt(
        C=cqt, sr=sr, hop_length=tonal_hop_length, bins_per_octave=_RICH_CQT_BINS_PER_OCTAVE
    )
    tonnetz = feat.tonnetz(chroma=chroma, sr=sr)

    window_frames = max(2, int(round(window * sr / hop_length)))
    return np.concatenate(
        [
            _summarize(frames, tempo),
            tonnetz.mean(axis=1),
            tonnetz.std(axis=1),
            chroma.mean(axis=1),
            chroma.std(axis=1),
            bands.mean(axis=1),
            bands.std(axis=1),
            [pulse_clarity, onset_rate, onset_env.mean(), onset_env.std()],
            window_summary(frames, window_frames),
        ]
    ).astype(np.float32)


# --------------------------------------------------------------------------- logmel

_LOGMEL_AMIN = 1e-10


@_cache_filled_first
def logmel(
    y: np.ndarray,
    sr: int,
    *,
    n_mels: int = 96,
    n_fft: int = 1024,
    hop_length: int = 512,
    fmax: float | None = None,
    n_frames: int | None = None,
) -> np.ndarray:
    """Compute a log-mel power spectrogram in dB against a fixed reference.

    The power-to-dB conversion uses ``ref=1.0``, ``amin=1e-10`` and no
    ``top_db`` clipping, so values are comparable across tracks: a track is
    never normalised by its own maximum, and halving the amplitude lowers
    every (non-floored) value by about 6 dB.

    Parameters
    ----------
    y : numpy.ndarray
        Mono waveform, 1-D floating array of at least ``n_fft`` samples.
    sr : int
        Sample rate in Hz.
    n_mels : int
        Number of mel bands.
    n_fft : int
        STFT window length in samples.
    hop_length : int
        Hop between frames in samples.
    fmax : float or None
        Upper frequency of the mel filter bank in Hz; ``None`` means ``sr / 2``.
    n_frames : int or None
        If given, crop to the first ``n_frames`` frames or pad at the end with
        the floor value (-100 dB, silence), so every track has the same shape.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(n_mels, n_frames)``, or
        ``(n_mels, 1 + len(y) // hop_length)`` without ``n_frames``, in dB.

    Raises
    ------
    ValueError
        On an invalid waveform or setting.
    """
    y, sr = _check_audio(y, sr, n_fft, hop_length)
    n_mels = _check_positive_int("n_mels", n_mels)
    if fmax is not None and (
        isinstance(fmax, bool)
        or not isinstance(fmax, (int, float, np.integer, np.floating))
        or not 0 < fmax <= 0.5 * sr
    ):
        raise ValueError(f"fmax must be None or lie in (0, sr/2] = (0, {0.5 * sr:g}], got {fmax!r}")
    mel = librosa.feature.melspectrogram(
        y=y, sr=sr, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, fmax=fmax, power=2.0
    )
    db = librosa.power_to_db(mel, ref=1.0, amin=_LOGMEL_AMIN, top_db=None).astype(np.float32)
    if n_frames is None:
        return db
    n_frames = _check_positive_int("n_frames", n_frames)
    if db.shape[1] >= n_frames:
        return db[:, :n_frames]
    floor = np.float32(10 * np.log10(_LOGMEL_AMIN))
    return np.pad(db, ((0, 0), (0, n_frames - db.shape[1])), constant_values=floor)


# --------------------------------------------------------------------------- mfcc


@_cache_filled_first
def mfcc(
    y: np.ndarray,
    sr: int,
    *,
    n_mfcc: int = 20,
    n_mels: int = 128,
    n_fft: int = 2048,
    hop_length: int = 512,
    delta_width: int = 9,
    n_frames: int | None = None,
) -> np.ndarray:
    """Compute MFCC and their deltas, frame by frame, from a fixed-reference log-mel.

    The MFCC are ``librosa.feature.mfcc`` of :func:`logmel` (DCT-II, orthonormal,
    of the dB mel bands, librosa's default 2048-sample FFT and 128 bands), and the
    deltas ``librosa.feature.delta`` of them. The log-mel keeps its fixed reference
    and no ``top_db``, so a quiet track is not rescaled by its own maximum.

    Parameters
    ----------
    y : numpy.ndarray
        Mono waveform, 1-D floating array of at least ``n_fft`` samples.
    sr : int
        Sample rate in Hz.
    n_mfcc : int
        Number of coefficients, at most ``n_mels``.
    n_mels, n_fft, hop_length : int
        Settings of the log-mel, as in :func:`logmel`.
    delta_width : int
        Frames of the delta filter: odd, at least 3.
    n_frames : int or None
        If given, the log-mel is cropped or padded with silence to ``n_frames``
        frames first, so every track has the same shape.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(2 * n_mfcc, frames)``: the MFCC, then their deltas
        (:func:`mfcc_row_names`).

    Raises
    ------
    ValueError
        On an invalid waveform or setting.
    """
    n_mels = _check_positive_int("n_mels", n_mels)
    n_mfcc = _check_positive_int("n_mfcc", n_mfcc)
    if n_mfcc > n_mels:
        raise ValueError(f"n_mfcc must be at most n_mels={n_mels}, got {n_mfcc}")
    delta_width = _check_positive_int("delta_width", delta_width)
    if delta_width < 3 or delta_width % 2 == 0:
        raise ValueError(f"delta_width must be odd and at least 3, got {delta_width}")
    db = logmel(y, sr, n_mels=n_mels, n_fft=n_fft, hop_length=hop_length, n_frames=n_frames)
    if db.shape[1] < delta_width:
        raise ValueError(
            f"{db.shape[1]} frames are fewer than the delta filter's delta_width={delta_width}"
        )
    return cepstra(db, n_mfcc, delta_width=delta_width)


def cepstra(logmel_db: np.ndarray, n_mfcc: int, *, delta_width: int = 9) -> np.ndarray:
    """MFCC and deltas of log-mel bands in dB, ``(..., n_mels, frames) -> (..., 2 n_mfcc, frames)``.

    The same DCT as ``librosa.feature.mfcc`` given ``S=logmel_db``; works on a stack
    of tracks as on one.
    """
    coefficients = scipy.fft.dct(logmel_db, axis=-2, type=2, norm="ortho")[..., :n_mfcc, :]
    deltas = librosa.feature.delta(coefficients, width=delta_width, axis=-1)
    return np.concatenate([coefficients, deltas], axis=-2).astype(np.float32)


def mfcc_row_names(n_mfcc: int = 20) -> list[str]:
    """Row names of :func:`mfcc`: ``mfcc_0`` ... then ``mfcc_delta_0`` ..."""
    return [f"mfcc_{i}" for i in range(n_mfcc)] + [f"mfcc_delta_{i}" for i in range(n_mfcc)]


# --------------------------------------------------------------------------- registry

#: Feature sets by name; each takes ``(y, sr, **params)`` and returns an array.
FEATURE_SETS: dict[str, Callable[..., np.ndarray]] = {
    "seed87": seed87,
    "stats": stats,
    "logmel": logmel,
    "mfcc": mfcc,
    "segment_stats": segment_stats,
    "rich": rich,
}


def _lookup(feature_set: str) -> Callable[..., np.ndarray]:
    try:
        return FEATURE_SETS[feature_set]
    except (KeyError, TypeError):
        known = ", ".join(sorted(FEATURE_SETS))
        raise ValueError(f"unknown feature set {feature_set!r}; known: {known}") from None


def _keyword_params(func: Callable[..., Any]) -> set[str]:
    return {
        name
        for name, p in inspect.signature(func).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


def extract(
    feature_set: str, y: np.ndarray, sr: int, params: Mapping[str, Any] | None = None
) -> np.ndarray:
    """Compute the named feature set on a waveform.

    Parameters
    ----------
    feature_set : str
        A key of :data:`FEATURE_SETS`.
    y : numpy.ndarray
        Mono waveform, 1-D floating array.
    sr : int
        Sample rate in Hz.
    params : mapping or None
        Keyword arguments for the feature function (e.g. ``{"n_frames": 1400}``).

    Returns
    -------
    numpy.ndarray
        The features, guaranteed finite.

    Raises
    ------
    ValueError
        For an unknown feature set, an unknown parameter, invalid input, or a
        result holding NaN or inf ("features of ... are not finite").
    """
    func = _lookup(feature_set)
    params = dict(params or {})
    accepted = _keyword_params(func)
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for feature set {feature_set!r}; "
            f"accepted: {sorted(accepted)}"
        )
    try:
        out = np.asarray(func(y, sr, **params))
    except (librosa.util.exceptions.ParameterError, ValueError) as error:
        # librosa's own check (e.g. "Input must be finite" once a very loud float
        # clip overflows float32 in the STFT) is not a ValueError: make it one; and
        # scipy's on an overflow ("array must not contain infs or NaNs") names no set.
        hint = _peak_hint(y)
        if isinstance(error, librosa.util.exceptions.ParameterError) or hint:
            raise ValueError(
                f"features of {feature_set!r} cannot be computed: {error}{hint}"
            ) from None
        raise  # a setting or a clip too short: the message says it
    n_bad = int(np.count_nonzero(~np.isfinite(out)))
    if n_bad:
        raise ValueError(
            f"features of {feature_set!r} are not finite: {n_bad} of {out.size} values "
            f"are NaN or inf{_peak_hint(y)}"
        )
    return out


def _peak_hint(y: Any) -> str:
    """Name a float clip's peak far beyond full scale, the usual cause of overflow."""
    try:
        peak = float(np.max(np.abs(y)))
    except (TypeError, ValueError):  # not an array of numbers: the error says enough
        return ""
    # Float audio is -1 to 1; the stats sets overflowed from a peak of 1e18, not 1e16.
    if not 1e15 < peak < np.inf:
        return ""
    return (
        f" (the clip's peak sample {peak:.3g} is far above full scale 1.0: its power "
        "overflows float32; scale the file to -1 to 1)"
    )


def feature_names(feature_set: str, params: Mapping[str, Any] | None = None) -> list[str] | None:
    """Name the rows (``seed87``, ``mfcc``) or entries (``stats``, ``rich``) of a feature set.

    Parameters
    ----------
    feature_set : str
        A key of :data:`FEATURE_SETS`.
    params : mapping or None
        The same parameters as given to :func:`extract`; only ``n_mfcc``, ``n_mels``
        and ``tempo_bands`` (``rich``) matter.

    Returns
    -------
    list of str or None
        Row names for ``seed87`` and ``mfcc``, vector entry names for ``stats`` and
        ``rich``, the entries of one window for ``segment_stats``, ``None`` for
        ``logmel`` (its rows are plain mel bands).

    Raises
    ------
    ValueError
        For an unknown feature set.
    """
    _lookup(feature_set)
    params = dict(params or {})
    if feature_set == "seed87":
        return seed87_row_names(n_mfcc=params.get("n_mfcc", 20), n_mels=params.get("n_mels", 20))
    if feature_set in ("stats", "segment_stats"):
        return stats_feature_names(n_mfcc=params.get("n_mfcc", 20))
    if feature_set == "mfcc":
        return mfcc_row_names(n_mfcc=params.get("n_mfcc", 20))
    if feature_set == "rich":
        return rich_feature_names(
            n_mfcc=params.get("n_mfcc", 20), tempo_bands=params.get("tempo_bands", 8)
        )
    return None
