"""Two librosa computations done with less work and bit-identical results.

:func:`genrepipe.features.seed87` must give the same values as calling each
librosa feature on the waveform (:func:`genrepipe.features.seed87_reference`).
Two of librosa's costs can be cut without changing a single value:

:func:`estimate_tuning`
    ``librosa.estimate_tuning(S=S)`` runs ``piptrack``, which interpolates
    every row of the spectrogram but keeps peaks only between 150 and 4000 Hz
    (a third of the rows at 22050 Hz). Here the same element-wise operations run
    on those rows and one neighbour each side, so the peaks, their values and the
    estimated tuning are exactly librosa's.
:func:`cached_cqt_filters`
    ``librosa.cqt`` builds the frequency-domain filters of every octave on each
    call (a third of its cost on a 30 s clip). librosa reuses them only through
    its on-disk joblib cache (``LIBROSA_CACHE_DIR``). Inside this context the
    filter construction is memoized in memory, keyed by its exact arguments
    (sample rate, filter frequencies, bandwidths, ...), so a later track with the
    same tuning gets a copy of the very same filters. The octaves of one CQT
    share filters too: each octave halves both the sample rate and the
    frequencies, and the filters depend on them only through their ratio,
    computed in floating point so that scaling both by a power of two changes no
    bit; the key therefore holds the sample rate and frequencies scaled by the
    same power of two (exact), so octaves whose bandwidths are also equal share
    one filter bank. librosa's own code still computes everything else.

Both rely on librosa internals (``librosa.core.pitch._parabolic_interpolation``
and ``librosa.core.constantq.__vqt_filter_fft``, as in librosa 0.11). Where
those are absent, both fall back to plain librosa: slower, same values.
tests/test_librosa_reuse.py checks bit-for-bit equality with librosa itself, so
a librosa release that computes differently shows up there.
"""

from __future__ import annotations

import contextlib
import inspect
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import librosa
import numpy as np

__all__ = ["cached_cqt_filters", "estimate_tuning", "filter_cache_info"]

#: ``librosa.piptrack`` defaults, which ``librosa.estimate_tuning`` uses.
_PIPTRACK_FMIN = 150.0
_PIPTRACK_FMAX = 4000.0
_PIPTRACK_THRESHOLD = 0.1
_TUNING_RESOLUTION = 0.01


def _piptrack_interpolation() -> Callable | None:
    """piptrack's private interpolation helper (a numba stencil), or None if absent.

    Imported on first use: importing it loads numba, which jobs that only merge
    tables should not pay for.
    """
    try:
        from librosa.core.pitch import _parabolic_interpolation
    except ImportError:  # pragma: no cover - other librosa versions
        return None
    return _parabolic_interpolation


def estimate_tuning(S: np.ndarray, sr: float, bins_per_octave: int = 12) -> float:
    """``librosa.estimate_tuning(S=S, sr=sr, bins_per_octave=...)``, computing less.

    Parameters
    ----------
    S : numpy.ndarray
        Magnitude or power spectrogram, frequencies x frames (what librosa's
        ``chroma_stft`` and ``cqt`` pass to ``estimate_tuning``).
    sr : float
        Sample rate in Hz.
    bins_per_octave : int
        Bins per octave of the tuning estimate.

    Returns
    -------
    float
        The tuning deviation in fractions of a bin, equal to librosa's.
    """
    S = np.asarray(S)
    n_rows = S.shape[-2] if S.ndim >= 2 else 0
    parabolic_interpolation = _piptrack_interpolation()
    if parabolic_interpolation is None or S.ndim != 2 or n_rows < 3:
        return librosa.estimate_tuning(S=S, sr=sr, bins_per_octave=bins_per_octave)
    # piptrack(S=S) infers n_fft from the number of rows.
    n_fft = 2 * (n_rows - 1)
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    fmax = np.minimum(_PIPTRACK_FMAX, float(sr) / 2)
    band = np.flatnonzero((_PIPTRACK_FMIN <= freqs) & (freqs < fmax))
    if band.size == 0:
        return librosa.estimate_tuning(S=S, sr=sr, bins_per_octave=bins_per_octave)
    first, last = int(band[0]), int(band[-1])
    # Rows in the band and one neighbour each side: gradient, interpolation and local
    # maxima of a row read only its neighbours, so they equal piptrack's on every band row.
    lo, hi = max(first - 1, 0), min(last + 2, n_rows)
    X = np.abs(S[lo:hi])
    avg = np.gradient(X, axis=-2)
    shift = parabolic_interpolation(X, axis=-2)
    dskew = 0.5 * avg * shift
    # The peak threshold is relative to each frame's maximum over all rows, as in piptrack.
    ref_value = _PIPTRACK_THRESHOLD * np.max(np.abs(S), axis=-2)
    peaks = librosa.util.localmax(X * (X > ref_value[np.newaxis]), axis=-2)
    peaks[: first - lo] = False
    peaks[last + 1 - lo :] = False
    rows, cols = np.nonzero(peaks)
    # piptrack stores these into arrays of S's dtype; the arithmetic is the same.
    pitch = ((rows + lo) + shift[rows, cols]) * float(sr) / n_fft
    pitch = pitch.astype(X.dtype)
    mag = (X[rows, cols] + dskew[rows, cols]).astype(X.dtype)
    # estimate_tuning: pitches above 0 whose magnitude reaches the median of those.
    found = pitch > 0
    threshold = np.median(mag[found]) if found.any() else 0.0
    return librosa.pitch_tuning(
        pitch[(mag >= threshold) & found],
        resolution=_TUNING_RESOLUTION,
        bins_per_octave=bins_per_octave,
    )


# --------------------------------------------------------------------------- CQT filters

_FILTER_FFT = "__vqt_filter_fft"
#: Filter banks kept in memory: one per octave and tuning (kilobytes to a megabyte each).
_CACHE_SIZE = 512
_cache: OrderedDict[tuple, tuple] = OrderedDict()
_stats = {"hits": 0, "misses": 0}


def filter_cache_info() -> dict[str, int]:
    """Hits, misses and entries of the in-memory CQT filter cache."""
    return {**_stats, "entries": len(_cache)}


def _frozen(value: Any) -> Any:
    """A hashable, exact stand-in for one argument, or raise TypeError."""
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, type) or isinstance(value, np.dtype):
        return ("dtype", np.dtype(value).str)
    hash(value)
    return (type(value).__name__, value)


def _scale_free(arguments: dict[str, Any]) -> dict[str, Any]:
    """The filter arguments with ``sr`` and ``freqs`` divided by the same power of two.

    ``filters.wavelet`` uses them only as ``Q * sr / freqs`` (filter lengths) and
    ``n * 2 * pi * freq / sr`` (phases): multiplying both by ``2**k`` scales each
    intermediate exactly and leaves every result bit-identical. That holds with
    ``gamma == 0`` (a constant-Q transform) and no ``hop_length`` (which sets a
    minimum FFT size in samples); otherwise the arguments are kept as they are.
    """
    sr, freqs = arguments.get("sr"), arguments.get("freqs")
    if (
        arguments.get("gamma") != 0
        or arguments.get("hop_length") is not None
        or not isinstance(freqs, np.ndarray)
        or freqs.dtype != np.float64
        or isinstance(sr, bool)
        or not isinstance(sr, int | float | np.integer | np.floating)
        or not 0 < float(sr) < math.inf
    ):
        return arguments
    mantissa, exponent = math.frexp(float(sr))
    scaled = np.ldexp(freqs, -exponent)
    if not np.array_equal(np.ldexp(scaled, exponent), freqs):  # under/overflow: not exact
        return arguments
    return {**arguments, "sr": ("scaled", mantissa), "freqs": scaled}


def _memoized(original: Callable) -> Callable:
    signature = inspect.signature(original)

    def filter_fft(*args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            arguments = _scale_free(dict(bound.arguments))
            key = tuple((name, _frozen(value)) for name, value in arguments.items())
        except TypeError:  # an unhashable argument (e.g. a window array): no caching
            return original(*args, **kwargs)
        if key in _cache:
            _stats["hits"] += 1
            _cache.move_to_end(key)
        else:
            _stats["misses"] += 1
            _cache[key] = original(*args, **kwargs)
            if len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        basis, n_fft, lengths = _cache[key]
        # vqt rescales the basis in place: hand out copies, keep the original.
        return basis.copy(), n_fft, np.array(lengths, copy=True)

    filter_fft._genrepipe_memoized = True
    return filter_fft


@contextlib.contextmanager
def cached_cqt_filters() -> Iterator[None]:
    """Within this context, ``librosa.cqt`` reuses filter banks built for equal arguments.

    Values are unchanged: a filter bank is reused only for exactly equal
    arguments. Not thread-safe (it swaps a function of librosa's module for the
    duration): use it in one thread at a time, as the extraction jobs do.
    """
    import librosa.core.constantq as constantq

    original = getattr(constantq, _FILTER_FFT, None)
    if original is None or getattr(original, "_genrepipe_memoized", False):
        yield  # another librosa version, or already inside the context
        return
    setattr(constantq, _FILTER_FFT, _memoized(original))
    try:
        yield
    finally:
        setattr(constantq, _FILTER_FFT, original)
