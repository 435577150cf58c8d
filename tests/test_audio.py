"""Tests of genrepipe.audio.load_audio: formats, rates, channels, durations and every failure."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import unreadable

import genrepipe.audio
from genrepipe import SAMPLE_RATE
from genrepipe.audio import AudioError, load_audio, resample


def _sine(freq: float, seconds: float, sr: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_frequency(y: np.ndarray, sr: int) -> float:
    """Frequency of the largest FFT bin (Hann window), in Hz."""
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return float(np.fft.rfftfreq(y.size, d=1.0 / sr)[np.argmax(spectrum)])


def _write(path: Path, y: np.ndarray, sr: int, subtype: str | None = None, fmt=None) -> Path:
    sf.write(path, y, sr, subtype=subtype, format=fmt)
    return path


# --------------------------------------------------------------------------- decoding


def test_pcm16_mono_at_target_rate_round_trips(tmp_path):
    y = _sine(440.0, 1.0, SAMPLE_RATE)
    path = _write(tmp_path / "tone.wav", y, SAMPLE_RATE, "PCM_16")

    out = load_audio(path)

    assert out.dtype == np.float32
    assert out.ndim == 1
    assert out.size == y.size
    # 16-bit quantization: one step is 1/32768.
    np.testing.assert_allclose(out, y, atol=2.0 / 32768)


def test_accepts_str_path(tmp_path):
    y = _sine(440.0, 0.5, SAMPLE_RATE)
    path = _write(tmp_path / "tone.wav", y, SAMPLE_RATE, "PCM_16")
    assert load_audio(str(path)).size == y.size


def test_stereo_is_averaged_to_mono(tmp_path):
    left = _sine(440.0, 1.0, SAMPLE_RATE, amp=0.6)
    right = _sine(1000.0, 1.0, SAMPLE_RATE, amp=0.2)
    path = _write(tmp_path / "stereo.wav", np.stack([left, right], axis=1), SAMPLE_RATE, "FLOAT")

    out = load_audio(path)

    assert out.shape == (left.size,)
    np.testing.assert_allclose(out, (left + right) / 2, atol=1e-6)


def test_opposite_channels_cancel(tmp_path):
    """Averaging, not taking the first channel: L = -R gives silence."""
    left = _sine(440.0, 0.5, SAMPLE_RATE)
    path = _write(tmp_path / "antiphase.wav", np.stack([left, -left], axis=1), SAMPLE_RATE, "FLOAT")
    np.testing.assert_allclose(load_audio(path), 0.0, atol=1e-7)


@pytest.mark.parametrize("native_sr", [44100, 48000, 16000])
def test_other_rates_are_resampled(tmp_path, native_sr):
    seconds = 1.0
    y = _sine(440.0, seconds, native_sr)
    path = _write(tmp_path / f"tone{native_sr}.wav", y, native_sr, "PCM_16")

    out = load_audio(path)

    # The length scales by the rate ratio; the tone keeps its pitch.
    assert abs(out.size - y.size * SAMPLE_RATE / native_sr) <= 1
    assert out.dtype == np.float32
    assert abs(_peak_frequency(out, SAMPLE_RATE) - 440.0) <= 1.0
    # Resampling keeps the amplitude (away from the edges).
    middle = out[out.size // 4 : 3 * out.size // 4]
    assert np.max(np.abs(middle)) == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize("native_sr", [8000, 16000, 44100, 48000, 96000])
@pytest.mark.parametrize("n_samples", [1, 1023, 44111])
def test_resample_equals_librosa_resample(native_sr, n_samples):
    """Features computed before soxr was called directly stay the same, values and length."""
    import librosa

    y = np.random.default_rng(native_sr + n_samples).normal(0, 0.1, n_samples).astype(np.float32)
    expected = librosa.resample(y, orig_sr=native_sr, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    got = resample(y, native_sr, SAMPLE_RATE)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_channels_are_averaged_block_by_block(tmp_path, monkeypatch):
    """A 6-channel file read in blocks of 1000 frames: the mean of every frame, nothing lost."""
    monkeypatch.setattr(genrepipe.audio, "_BLOCK_FRAMES", 1000)
    y = np.random.default_rng(6).normal(0, 0.2, (10_500, 6)).astype(np.float32)
    path = _write(tmp_path / "surround.wav", y, SAMPLE_RATE, "FLOAT")
    np.testing.assert_array_equal(load_audio(path), y.mean(axis=1))
    np.testing.assert_array_equal(
        load_audio(path, max_duration=2500 / SAMPLE_RATE), y[:2500].mean(axis=1)
    )


def test_long_stereo_file_never_holds_both_channels_at_once(tmp_path):
    """Peak allocation of decoding and resampling a minute of 44.1 kHz stereo.

    Read whole, the interleaved channels (2x the mono signal) and their mean were
    held together, 3x; block by block the mono signal and the resampled output, 1.5x.
    """
    import tracemalloc

    seconds, native_sr = 60, 44100
    y = np.random.default_rng(0).normal(0, 0.1, (seconds * native_sr, 2)).astype(np.float32)
    path = _write(tmp_path / "minute.wav", y, native_sr, "FLOAT")
    del y
    mono_bytes = seconds * native_sr * 4
    resample(np.zeros(8, np.float32), native_sr, SAMPLE_RATE)  # import soxr outside the trace
    tracemalloc.start()
    try:
        out = load_audio(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.size == int(np.ceil(seconds * native_sr * SAMPLE_RATE / native_sr))
    assert peak < 2.0 * mono_bytes, f"peak {peak / mono_bytes:.2f}x the mono signal"


def test_explicit_target_rate(tmp_path):
    y = _sine(440.0, 1.0, SAMPLE_RATE)
    path = _write(tmp_path / "tone.wav", y, SAMPLE_RATE, "PCM_16")
    out = load_audio(path, sr=11025)
    assert abs(out.size - 11025) <= 1
    assert abs(_peak_frequency(out, 11025) - 440.0) <= 1.0


def test_non_positive_rate_is_refused(tmp_path):
    path = _write(tmp_path / "tone.wav", _sine(440.0, 0.1, SAMPLE_RATE), SAMPLE_RATE, "PCM_16")
    with pytest.raises(ValueError, match="sr=0"):
        load_audio(path, sr=0)


@pytest.mark.parametrize(
    ("subtype", "atol"),
    [
        ("PCM_U8", 2.0 / 128),  # 8-bit unsigned: step 1/128
        ("PCM_24", 2.0 / 2**23),
        ("PCM_32", 1e-6),
        ("FLOAT", 1e-7),
        ("DOUBLE", 1e-7),
    ],
)
def test_wav_sample_formats_decode(tmp_path, subtype, atol):
    y = _sine(440.0, 0.5, SAMPLE_RATE, amp=0.7)
    path = _write(tmp_path / f"tone_{subtype}.wav", y, SAMPLE_RATE, subtype)
    assert sf.info(path).subtype == subtype

    out = load_audio(path)

    assert out.dtype == np.float32
    assert out.size == y.size
    np.testing.assert_allclose(out, y, atol=atol)


def test_au_file_decodes(tmp_path):
    """GTZAN's original format: big-endian 16-bit Sun/NeXT .au."""
    y = _sine(440.0, 0.5, SAMPLE_RATE)
    path = _write(tmp_path / "blues.00000.au", y, SAMPLE_RATE, "PCM_16", fmt="AU")
    np.testing.assert_allclose(load_audio(path), y, atol=2.0 / 32768)


@pytest.mark.parametrize(
    "contents",
    [b"\x00" * 20_000, b"<html><body>404 Not Found</body></html>\n" * 500],
    ids=["zeros", "an error page"],
)
def test_au_name_on_bytes_without_an_audio_header_is_refused(tmp_path, contents):
    """libsndfile opens any file named .au that lacks the header as headerless 8 kHz
    mu-law: a broken download became a usable blues clip of noise."""
    path = tmp_path / "blues.00000.au"
    path.write_bytes(contents)
    with pytest.raises(AudioError, match=r"blues\.00000\.au: cannot decode audio \(no header"):
        load_audio(path)


def test_au_name_on_another_format_decodes_as_that_format(tmp_path):
    # libsndfile knows formats by their header, not their name: no raw fallback here.
    y = _sine(440.0, 0.5, SAMPLE_RATE)
    path = _write(tmp_path / "blues.00000.au", y, SAMPLE_RATE, "PCM_16", fmt="WAV")
    np.testing.assert_allclose(load_audio(path), y, atol=2.0 / 32768)


def test_flac_decodes_losslessly(tmp_path):
    if "FLAC" not in sf.available_formats():
        pytest.skip("libsndfile built without FLAC")
    y = _sine(440.0, 0.5, SAMPLE_RATE)
    path = _write(tmp_path / "tone.flac", y, SAMPLE_RATE, "PCM_16", fmt="FLAC")
    np.testing.assert_allclose(load_audio(path), y, atol=2.0 / 32768)


def test_ogg_vorbis_decodes(tmp_path):
    if "OGG" not in sf.available_formats():
        pytest.skip("libsndfile built without OGG")
    y = _sine(440.0, 1.0, 44100)
    path = tmp_path / "tone.ogg"
    try:
        sf.write(path, y, 44100, format="OGG", subtype="VORBIS")
    except Exception as error:  # pragma: no cover - depends on the libsndfile build
        pytest.skip(f"soundfile cannot write OGG Vorbis here: {error}")

    out = load_audio(path)

    # Lossy: check the length (resampled 44.1 -> 22.05 kHz) and the pitch, not the samples.
    assert abs(out.size - SAMPLE_RATE) <= 2
    assert abs(_peak_frequency(out, SAMPLE_RATE) - 440.0) <= 1.0
    assert np.all(np.isfinite(out))


# --------------------------------------------------------------------------- durations


def test_min_duration_rejects_short_clip(tmp_path):
    path = _write(tmp_path / "short.wav", _sine(440.0, 0.5, SAMPLE_RATE), SAMPLE_RATE, "PCM_16")

    with pytest.raises(AudioError) as info:
        load_audio(path, min_duration=1.0)

    message = str(info.value)
    assert "short.wav" in message
    assert "0.50 s" in message  # the clip's own duration
    assert "min_duration=1" in message


def test_min_duration_applies_after_resampling(tmp_path):
    """0.6 s at 44.1 kHz is 0.6 s, not 1.2 s, whatever the sample count."""
    path = _write(tmp_path / "short44.wav", _sine(440.0, 0.6, 44100), 44100, "PCM_16")
    with pytest.raises(AudioError, match="0.60 s"):
        load_audio(path, min_duration=1.0)
    assert abs(load_audio(path, min_duration=0.5).size - 0.6 * SAMPLE_RATE) <= 1


def test_min_duration_accepts_long_enough_clip(tmp_path):
    path = _write(tmp_path / "ok.wav", _sine(440.0, 1.0, SAMPLE_RATE), SAMPLE_RATE, "PCM_16")
    assert load_audio(path, min_duration=1.0).size == SAMPLE_RATE


def test_max_duration_crops_to_the_start(tmp_path):
    y = _sine(440.0, 2.0, SAMPLE_RATE) * np.linspace(0, 1, 2 * SAMPLE_RATE, dtype=np.float32)
    path = _write(tmp_path / "long.wav", y, SAMPLE_RATE, "FLOAT")

    out = load_audio(path, max_duration=0.5)

    assert out.size == SAMPLE_RATE // 2
    np.testing.assert_allclose(out, y[: SAMPLE_RATE // 2], atol=1e-7)


def test_max_duration_crops_a_clip_of_another_rate(tmp_path):
    # That it crops before decoding the rest is checked by memory in test_bad_inputs.py
    # (test_ten_minute_file_is_cropped_and_decoding_stops_early).
    path = _write(tmp_path / "long48.wav", _sine(440.0, 2.0, 48000), 48000, "PCM_16")
    out = load_audio(path, max_duration=0.5)
    assert abs(out.size - SAMPLE_RATE / 2) <= 1


def test_max_duration_crops_in_the_librosa_fallback_too(tmp_path, monkeypatch):
    # Formats libsndfile cannot read go through librosa: cropped there as well, so a
    # long file in such a format is not decoded whole.
    from types import SimpleNamespace

    def refusing(*args, **kwargs):
        raise sf.LibsndfileError(1, prefix="Error opening file: ")

    path = _write(tmp_path / "long.wav", _sine(440.0, 2.0, SAMPLE_RATE), SAMPLE_RATE, "FLOAT")
    # Only genrepipe's own libsndfile call refuses; librosa still reads with soundfile.
    fake = SimpleNamespace(SoundFile=refusing, LibsndfileError=sf.LibsndfileError)
    monkeypatch.setattr(genrepipe.audio, "sf", fake)
    assert load_audio(path, max_duration=0.5).size == SAMPLE_RATE // 2
    assert load_audio(path).size == 2 * SAMPLE_RATE  # the fallback was the one reading


def test_max_duration_longer_than_clip_keeps_everything(tmp_path):
    y = _sine(440.0, 0.5, SAMPLE_RATE)
    path = _write(tmp_path / "clip.wav", y, SAMPLE_RATE, "FLOAT")
    assert load_audio(path, max_duration=30.0).size == y.size


# --------------------------------------------------------------------------- failures


def _assert_audio_error_naming(path: Path, **kwargs) -> AudioError:
    with pytest.raises(AudioError) as info:
        load_audio(path, **kwargs)
    assert path.name in str(info.value)
    return info.value


def test_audio_error_is_a_value_error():
    assert issubclass(AudioError, ValueError)


def test_missing_file(tmp_path):
    error = _assert_audio_error_naming(tmp_path / "nowhere.wav")
    assert "no such file" in str(error)


def test_directory_is_not_a_file(tmp_path):
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    assert str(_assert_audio_error_naming(folder)).endswith(": not a regular file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_refused_unread_and_not_called_missing(tmp_path):
    pipe = tmp_path / "pipe.wav"
    os.mkfifo(pipe)  # reading it would block until a writer came
    assert str(_assert_audio_error_naming(pipe)).endswith(": not a regular file")


def _unreadable(monkeypatch, path: Path, error: OSError | None = None):
    """Make ``path`` unreadable to genrepipe.audio (chmod 000 binds no root): libsndfile
    fails on it with its "System error", and ``open`` with ``error``."""
    unreadable(monkeypatch, lambda file: Path(file) == path, error)


def test_an_unreadable_file_is_an_os_error_naming_it_not_a_bad_clip(tmp_path, monkeypatch):
    # libsndfile said "System error" and the clip was listed as undecodable: cached as
    # failed, and never read again after the permissions were fixed.
    path = _write(tmp_path / "locked.wav", _sine(440, 1.0, SAMPLE_RATE), SAMPLE_RATE)
    _unreadable(monkeypatch, path)
    with pytest.raises(PermissionError) as info:
        load_audio(path)
    assert not isinstance(info.value, AudioError)
    assert str(info.value) == f"{path}: cannot read the file (Permission denied)"
    _unreadable(monkeypatch, path, OSError(5, "Input/output error"))
    with pytest.raises(OSError, match=r"locked\.wav: cannot read the file \(Input/output error\)"):
        load_audio(path)
    monkeypatch.undo()
    assert load_audio(path).size == SAMPLE_RATE


def test_a_read_error_past_the_header_is_an_os_error_too(tmp_path, monkeypatch):
    # The file opens and its first bytes read; a bad sector later fails the decoder
    # alike, which was listed as "cannot decode audio" and cached as a bad clip.
    import io

    import genrepipe.audio

    path = _write(tmp_path / "sector.wav", _sine(440, 3.0, SAMPLE_RATE), SAMPLE_RATE)
    _unreadable(monkeypatch, path)

    class FailingLater(io.BytesIO):
        def read(self, size=-1):
            if self.tell() > 0:
                raise OSError(5, "Input/output error")
            return super().read(1000)

    monkeypatch.setattr(genrepipe.audio, "open", lambda *a: FailingLater(path.read_bytes()))
    with pytest.raises(OSError, match=r"sector\.wav: cannot read the file \(Input/output"):
        load_audio(path)


def test_a_decoder_failing_with_another_error_on_an_unreadable_file_is_an_os_error(
    tmp_path, monkeypatch
):
    # Decoders fail on a disk error with exceptions of any type, not only libsndfile's:
    # the file's own read then tells a disk's problem from a bad clip, which is cached.
    path = _write(tmp_path / "flaky.wav", _sine(440, 1.0, SAMPLE_RATE), SAMPLE_RATE)

    def failing_decoder(path, max_duration):
        raise RuntimeError("a decoder's own failure")

    monkeypatch.setattr(genrepipe.audio, "_decode", failing_decoder)
    _unreadable(monkeypatch, path, OSError(5, "Input/output error"))
    with pytest.raises(OSError, match=r"flaky\.wav: cannot read the file \(Input/output error\)"):
        load_audio(path)


def test_the_audio_check_fails_on_an_unreadable_clip_instead_of_listing_it(tmp_path, monkeypatch):
    from genrepipe.tasks import check_audio

    good = _write(tmp_path / "a.wav", _sine(440, 1.0, SAMPLE_RATE), SAMPLE_RATE)
    locked = _write(tmp_path / "b.wav", _sine(440, 1.0, SAMPLE_RATE), SAMPLE_RATE)
    _unreadable(monkeypatch, locked)
    output = tmp_path / "check.tsv"
    with pytest.raises(PermissionError, match="b.wav"):
        check_audio(
            [str(good), str(locked)],
            ["a", "b"],
            ["rock", "rock"],
            output,
            sr=SAMPLE_RATE,
            min_duration=0.5,
            max_duration=2.0,
        )
    assert not output.exists()  # nothing cached: the rerun reads the clip again


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.touch()
    error = _assert_audio_error_naming(path)
    assert "empty" in str(error)


def test_text_file_named_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text(
        "this is not audio, just some text pretending to be a WAV file\n" * 20, encoding="utf-8"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        error = _assert_audio_error_naming(path)
    assert "cannot decode" in str(error)
    # The error says it all: not librosa's notes on its way there (libsndfile failed,
    # audioread deprecated), which filled the audio check's log around it.
    assert [str(warning.message) for warning in caught] == []


def test_truncated_wav_is_short_or_rejected(tmp_path):
    seconds = 2.0
    path = _write(tmp_path / "cut.wav", _sine(440.0, seconds, SAMPLE_RATE), SAMPLE_RATE, "PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    try:
        out = load_audio(path)
    except AudioError as error:
        assert path.name in str(error)
    else:
        # libsndfile reads what is there: about half the samples, no garbage.
        assert out.size < seconds * SAMPLE_RATE * 0.6
        assert np.all(np.isfinite(out))
        assert np.max(np.abs(out)) <= 0.51
    # Either way, a caller asking for the full duration gets an AudioError naming the file.
    _assert_audio_error_naming(path, min_duration=seconds * 0.9)


@pytest.mark.parametrize("channels", [1, 2])
def test_a_cut_off_mp3_holds_what_is_left_whatever_its_channels(tmp_path, channels):
    """An mp3's header says how long it is; a cut-off download holds less. Mono read what
    is there; stereo was filled up to the header's length with a reused buffer's leftovers
    (earlier blocks, zeros, or values of 1e19), so it passed min_duration and fed them on."""
    if "MP3" not in sf.available_formats():
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) writes no mp3")
    tone = _sine(440.0, 3.0, SAMPLE_RATE)
    y = np.stack([tone, 0.5 * tone], axis=1) if channels == 2 else tone
    path = tmp_path / "cut.mp3"
    sf.write(path, y, SAMPLE_RATE, format="MP3", subtype="MPEG_LAYER_III")
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.7)])
    there = sf.read(path, dtype="float32")[0]  # read whole, short reads trimmed
    assert len(there) < 2.5 * SAMPLE_RATE
    with sf.SoundFile(path) as f:
        assert f.frames > len(there) + SAMPLE_RATE // 2  # the header promises more
    expected = there.mean(axis=1) if channels == 2 else there
    np.testing.assert_allclose(load_audio(path), expected, atol=1e-6)
    _assert_audio_error_naming(path, min_duration=2.5)


def test_header_only_wav_holds_no_samples(tmp_path):
    path = _write(tmp_path / "nothing.wav", np.zeros(0, dtype=np.float32), SAMPLE_RATE, "PCM_16")
    assert path.stat().st_size > 0
    error = _assert_audio_error_naming(path)
    assert "no audio samples" in str(error)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_float_wav_with_non_finite_samples_is_rejected(tmp_path, bad):
    y = _sine(440.0, 0.5, SAMPLE_RATE)
    y[100] = bad
    path = _write(tmp_path / "broken.wav", y, SAMPLE_RATE, "FLOAT")
    error = _assert_audio_error_naming(path)
    assert "NaN or infinite" in str(error)


def test_non_finite_sample_in_one_channel_is_rejected(tmp_path):
    y = np.stack([_sine(440.0, 0.5, SAMPLE_RATE)] * 2, axis=1)
    y[5, 1] = np.nan
    path = _write(tmp_path / "broken_stereo.wav", y, SAMPLE_RATE, "FLOAT")
    assert "NaN or infinite" in str(_assert_audio_error_naming(path))


@pytest.mark.parametrize(("suffix", "offset", "layout"), [(".wav", 24, "<I"), (".au", 16, ">I")])
def test_a_header_of_sample_rate_zero_is_an_audio_error(tmp_path, suffix, offset, layout):
    """A header whose sample rate field is 0: genrepipe-predict, which reads without
    max_duration, died of a ZeroDivisionError; the workflow refused the clip as holding
    no samples. Both now say what is wrong with the file."""
    import struct

    path = tmp_path / f"rate0{suffix}"
    sf.write(path, np.zeros(2205, dtype=np.float32), 22050, subtype="PCM_16")
    header = bytearray(path.read_bytes())
    struct.pack_into(layout, header, offset, 0)
    path.write_bytes(bytes(header))
    for max_duration in (None, 30.0):
        with pytest.raises(AudioError, match=r"rate0.*a sample rate of 0 Hz"):
            genrepipe.audio.load_audio_and_rate(path, max_duration=max_duration)
