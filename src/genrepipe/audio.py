"""Reading audio: any common format, any sample rate, mono or stereo, checked.

Every failure raises :class:`AudioError` with a message that names the file and
the reason, so the workflow can list the track in its failed-tracks table and
go on with the others.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

from genrepipe import SAMPLE_RATE


class AudioError(ValueError):
    """An audio file that cannot be used: unreadable, empty, too short or not finite."""


def load_audio(
    path: str | os.PathLike,
    *,
    sr: int = SAMPLE_RATE,
    min_duration: float = 0.0,
    max_duration: float | None = None,
) -> np.ndarray:
    """Decode ``path`` to a float32 mono waveform at ``sr`` Hz.

    Parameters
    ----------
    path
        Audio file: anything libsndfile reads (wav, au, flac, ogg, mp3 with
        libsndfile >= 1.1), else whatever librosa's fallback decoder reads.
    sr
        Target sample rate; other rates are resampled (soxr, high quality).
    min_duration
        Clips shorter than this many seconds raise :class:`AudioError`.
    max_duration
        If given, longer clips are cropped to their first ``max_duration`` seconds
        (decoding stops there, so a 10-minute file costs no more than needed).

    Returns
    -------
    numpy.ndarray
        1-D float32 array.

    Raises
    ------
    AudioError
        If the file is missing, empty, undecodable, too short, silent-but-invalid
        (NaN or infinite samples).
    """
    path = Path(path)
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got sr={sr}")
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty")

    try:
        y, native_sr = _decode(path, max_duration)
    except AudioError:
        raise
    except Exception as error:  # decoders raise many types; all mean "unreadable"
        raise AudioError(f"{path}: cannot decode audio ({type(error).__name__}: {error})") from None

    if y.ndim == 2:
        y = y.mean(axis=1)
    if y.size == 0:
        raise AudioError(f"{path}: holds no audio samples")
    if not np.all(np.isfinite(y)):
        raise AudioError(f"{path}: audio holds NaN or infinite samples")
    if native_sr != sr:
        import librosa  # imported lazily: only resampling needs it

        y = librosa.resample(y, orig_sr=native_sr, target_sr=sr, res_type="soxr_hq")
    y = np.ascontiguousarray(y, dtype=np.float32)

    duration = y.size / sr
    if duration < min_duration:
        raise AudioError(
            f"{path}: clip lasts {duration:.2f} s, shorter than min_duration={min_duration:g} s"
        )
    return y


def _decode(path: Path, max_duration: float | None) -> tuple[np.ndarray, int]:
    """Decode with libsndfile, falling back to librosa (audioread) for other formats."""
    try:
        with sf.SoundFile(path) as f:
            frames = -1 if max_duration is None else int(np.ceil(max_duration * f.samplerate))
            return f.read(frames=frames, dtype="float32", always_2d=False), f.samplerate
    except sf.LibsndfileError as sndfile_error:
        try:
            import librosa

            y, native_sr = librosa.load(path, sr=None, mono=True, duration=max_duration)
        except Exception:
            raise AudioError(f"{path}: cannot decode audio ({sndfile_error})") from None
        return y, int(native_sr)
