"""Reading audio: any common format, any sample rate, mono or stereo, checked.

Every failure raises :class:`AudioError` with a message that names the file and
the reason, so the workflow can list the track in its failed-tracks table and
go on with the others.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf

from genrepipe import SAMPLE_RATE, jit_cache


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

    :func:`load_audio_and_rate` also gives the file's own sample rate.

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
    OSError
        If the file cannot be read at all (no permission, an I/O error): not a
        property of the clip, so the workflow's jobs fail rather than list it.
    ValueError
        If ``sr`` is not positive.
    """
    return load_audio_and_rate(path, sr=sr, min_duration=min_duration, max_duration=max_duration)[0]


def load_audio_and_rate(
    path: str | os.PathLike,
    *,
    sr: int = SAMPLE_RATE,
    min_duration: float = 0.0,
    max_duration: float | None = None,
) -> tuple[np.ndarray, int]:
    """:func:`load_audio`'s waveform at ``sr`` Hz, and the sample rate the file holds
    (below ``sr``, the waveform holds nothing above half that rate)."""
    path = Path(path)
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got sr={sr}")
    if not path.is_file():
        # A pipe or a device would block or never end: refused, but not as missing.
        what = "not a regular file" if path.exists() else "no such file"
        raise AudioError(f"{path}: {what}")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: file is empty")

    try:
        y, native_sr = _decode(path, max_duration)
    except AudioError:
        check_readable(path)
        raise
    except Exception as error:  # decoders raise many types; all mean "unreadable"
        check_readable(path)
        raise AudioError(f"{path}: cannot decode audio ({type(error).__name__}: {error})") from None

    if native_sr <= 0:
        # A header of rate 0 (libsndfile refuses it, audioread passes it on): resampling
        # would divide by it.
        raise AudioError(f"{path}: cannot decode audio (a sample rate of {native_sr} Hz)")
    if y.ndim == 2:
        y = y.mean(axis=1)
    if y.size == 0:
        raise AudioError(f"{path}: holds no audio samples")
    if not np.all(np.isfinite(y)):
        raise AudioError(f"{path}: audio holds NaN or infinite samples")
    if native_sr != sr:
        y = resample(y, native_sr, sr)
    y = np.ascontiguousarray(y, dtype=np.float32)

    duration = y.size / sr
    if duration < min_duration:
        raise AudioError(
            f"{path}: clip lasts {duration:.2f} s, shorter than min_duration={min_duration:g} s"
        )
    return y, int(native_sr)


def resample(y: np.ndarray, orig_sr: int, target_sr: int) -> np.ndarray:
    """``librosa.resample(y, orig_sr=..., target_sr=..., res_type="soxr_hq")``, the same values.

    Calls soxr directly: librosa's wrapper holds two more copies of the signal
    (about 500 MB more for an hour of 44.1 kHz audio, in ``genrepipe-predict``).
    Its length is librosa's: ``ceil(len(y) * target_sr / orig_sr)``.
    """
    import soxr

    n_samples = int(np.ceil(len(y) * float(target_sr) / orig_sr))
    y_hat = soxr.resample(y, orig_sr, target_sr, quality="soxr_hq")
    if len(y_hat) >= n_samples:
        return y_hat[:n_samples]
    return np.pad(y_hat, (0, n_samples - len(y_hat)))


#: Frames decoded at a time from a multichannel file (6 s of 44.1 kHz audio).
_BLOCK_FRAMES = 1 << 18


def _decode(path: Path, max_duration: float | None) -> tuple[np.ndarray, int]:
    """Decode with libsndfile, falling back to librosa (audioread) for other formats."""
    try:
        with sf.SoundFile(_native_path(path)) as f:
            if f.format == "RAW":
                # No header libsndfile knows: for a .au name it reads any bytes (an
                # HTML error page, zeros) as 8 kHz mu-law samples rather than fail.
                raise AudioError(
                    f"{path}: cannot decode audio (no header of a known audio format; "
                    "its bytes would be read as raw samples)"
                )
            frames = f.frames
            if max_duration is not None:
                frames = min(frames, int(np.ceil(max_duration * f.samplerate)))
            if f.channels == 1:
                return f.read(frames=frames, dtype="float32"), f.samplerate
            # Averaged to mono block by block: an hour of stereo read whole would hold
            # the interleaved channels and their mean at once (1.9 GB at 44.1 kHz).
            # Not SoundFile.blocks(): a stream shorter than its header says (a cut-off
            # download) came back in full blocks, the missing tail whatever its reused
            # buffer held before, and the clip as long as the header claims.
            y = np.empty(frames, dtype=np.float32)
            filled = 0
            while filled < frames:
                block = f.read(min(_BLOCK_FRAMES, frames - filled), dtype="float32")
                if not len(block):
                    break
                y[filled : filled + len(block)] = block.mean(axis=1)
                filled += len(block)
            return y[:filled], f.samplerate
    except sf.LibsndfileError as sndfile_error:
        # librosa compiles numba code as its modules load: under the cache's lock, as
        # the feature functions do, since jobs decode side by side.
        jit_cache.ensure_filled()
        try:
            import librosa

            with warnings.catch_warnings():
                # librosa's notes that libsndfile failed and that audioread is deprecated,
                # and audioread's imports of deprecated modules (aifc, sunau): this
                # fallback is the point, and a failure is said below, naming the file.
                # (Also silent where it succeeds: librosa 1.0 drops audioread, and such
                # a file then fails with that error.)
                warnings.filterwarnings("ignore", "PySoundFile failed", UserWarning)
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                y, native_sr = librosa.load(path, sr=None, mono=True, duration=max_duration)
        except Exception:
            reason = str(sndfile_error)
            if "does not exist" in reason:
                # libsndfile's words for a file it found (the check above) but whose
                # header none of its decoders accepts, a damaged mp3 say.
                reason = "no decoder recognises its contents"
            raise AudioError(f"{path}: cannot decode audio ({reason})") from None
        return y, int(native_sr)


def check_readable(path: Path) -> None:
    """Raise an OSError naming ``path`` if the file cannot be opened and read.

    libsndfile says "System error" alike for that and for some damaged files. Not a
    property of the clip: an OSError, not an AudioError, so no list caches it and a
    rerun after the fix reads the clip again. :func:`load_audio` asks only once decoding
    has failed; the tools ask of every clip before minutes of work that one would stop.
    """
    try:  # to its end: a disk error past the header fails decoding alike
        with open(path, "rb") as stream:
            while stream.read(1 << 20):
                pass
    except OSError as error:
        raise type(error)(f"{path}: cannot read the file ({error.strerror or error})") from None


def _native_path(path: Path) -> str | bytes:
    """``path`` as libsndfile should open it.

    A name whose bytes do not decode in the file-system encoding (a Latin-1
    ``caf\xe9.flac`` on a UTF-8 system) reaches Python with surrogates, which
    soundfile cannot encode back; its raw bytes open the file.
    """
    name = str(path)
    try:
        name.encode(sys.getfilesystemencoding())
    except UnicodeEncodeError:
        return os.fsencode(path)
    return name
