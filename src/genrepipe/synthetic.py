"""A synthetic, GTZAN-shaped dataset that the workflow can generate offline.

Every clip is a short piece of music rendered from scratch with numpy and
scipy: drum kits built from filtered noise bursts and pitch-swept sines,
wavetable instruments with ADSR envelopes (plucked guitars, pianos, bowed
strings, organs, pads, brass, a formant-filtered "voice"), chord progressions,
bass lines and melodies. Each genre has its own *distributions* of tempo,
groove, instrumentation, harmony and production, and every clip draws from
them at random, sometimes borrowing a component (its tempo, drums, bass line,
chords, comping, lead or mix) from a neighbouring genre, so that genres overlap
the way real ones do: a simple classifier does clearly better than chance, but
not perfectly.

A clip is a pure function of ``(genre, index, seed, duration, sr)``: its
random generator is seeded with ``[seed, genre number, index]``, so a clip
does not depend on which or how many other clips are generated.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy import signal

from genrepipe import GENRES, SAMPLE_RATE
from genrepipe.io import atomic_path

__all__ = ["clip_filename", "synthesize_clip", "write_clip", "write_dataset"]

#: Probability that one component of a clip (tempo, drums, bass, chords, comping,
#: lead, production) is drawn from a neighbouring genre's distribution instead.
BORROW_PROB: float = 0.1

#: Which genres each genre may borrow a component from.
_NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "blues": ("jazz", "country", "rock"),
    "classical": ("jazz",),
    "country": ("blues", "rock", "pop"),
    "disco": ("pop", "hiphop", "reggae"),
    "hiphop": ("reggae", "pop", "jazz", "disco"),
    "jazz": ("blues", "classical", "hiphop"),
    "metal": ("rock",),
    "pop": ("disco", "rock", "hiphop", "country"),
    "reggae": ("hiphop", "pop", "disco"),
    "rock": ("metal", "blues", "pop", "country"),
}
#: Components a genre never borrows (classical music keeps no drums or bass guitar).
_NO_BORROW: dict[str, frozenset[str]] = {
    "classical": frozenset({"drums", "bass", "production"}),
}

_MIN_SR = 8000
_MAX_SR = 192000

# --------------------------------------------------------------------------------------
# CPU-independent float32 math
# --------------------------------------------------------------------------------------


def _in_float64(ufunc: np.ufunc):
    """``ufunc`` computed in float64 and rounded back to float32 for float32 input.

    numpy computes float32 sin, exp and tanh with code picked for the CPU's SIMD
    instructions (AVX-512, AVX2, SSE), each rounding its own way: one seed made
    other clips on a CPU without AVX2. Its float64 results differ between those by
    an ulp at most, which the rounding to float32 takes away (tests/test_synthetic.py
    checks three x86 levels).
    """

    def apply(x):
        x = np.asarray(x)
        if x.dtype != np.float32:
            return ufunc(x)
        return ufunc(x.astype(np.float64)).astype(np.float32)

    return apply


_sin, _exp, _tanh = _in_float64(np.sin), _in_float64(np.exp), _in_float64(np.tanh)


# --------------------------------------------------------------------------------------
# Wavetables
# --------------------------------------------------------------------------------------

_TABLE_SIZE = 2048
_TABLE_MASK = _TABLE_SIZE - 1
#: Band-limited versions of every wavetable, by their highest harmonic.
_TABLE_HARMONICS = (64, 32, 16, 8, 4, 2, 1)


def _pluck_comb(k: np.ndarray, position: float) -> np.ndarray:
    return np.abs(_sin(np.pi * k * position)) + 0.05


_TIMBRES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sine": lambda k: (k == 1).astype(float),
    "saw": lambda k: 1.0 / k,
    "square": lambda k: (k % 2 == 1) / k,
    "triangle": lambda k: (k % 2 == 1) / k**2,
    "piano": lambda k: 1.0 / k**1.9 * _pluck_comb(k, 0.12),
    "piano_bright": lambda k: (k > 1) / k**1.0 * _pluck_comb(k, 0.12),
    "epiano": lambda k: np.where(k == 1, 1.0, np.where(k == 2, 0.12, 0.0)),
    "epiano_bright": lambda k: np.where((k >= 6) & (k <= 9), 0.25 / np.maximum(k - 5, 1), 0.0),
    "organ": lambda k: np.select(
        [k == 1, k == 2, k == 3, k == 4, k == 6, k == 8], [1.0, 0.8, 0.55, 0.4, 0.22, 0.18], 0.0
    ),
    "guitar": lambda k: 1.0 / k**1.6 * _pluck_comb(k, 0.18),
    "guitar_bright": lambda k: (k > 1) / k**0.8 * _pluck_comb(k, 0.18),
    "bass": lambda k: 1.0 / k**2.2,
    "bass_bright": lambda k: (k > 1) / k**1.1,
    "strings": lambda k: 1.0 / k**1.15,
    "reed": lambda k: np.where(k % 2 == 1, 1.0, 0.35) / k**0.9,
    "brass": lambda k: 1.0 / k**0.75 * _exp(-k / 18.0),
    "flute": lambda k: np.where(k == 1, 1.0, 0.35 / k**1.5),
    "voice": lambda k: 1.0 / k**1.05,
    "warm": lambda k: 1.0 / k**2.6,
}


@cache
def _wavetables(name: str) -> tuple[np.ndarray, ...]:
    """Band-limited single-cycle tables of timbre ``name``, one per ``_TABLE_HARMONICS``."""
    amps_fn = _TIMBRES[name]
    k_all = np.arange(1, _TABLE_HARMONICS[0] + 1)
    norm = math.sqrt(float(np.sum(amps_fn(k_all).astype(float) ** 2)) / 2.0) or 1.0
    tables = []
    for kmax in _TABLE_HARMONICS:
        spec = np.zeros(_TABLE_SIZE // 2 + 1, dtype=complex)
        k = np.arange(1, kmax + 1)
        spec[1 : kmax + 1] = -1j * amps_fn(k).astype(float) * (_TABLE_SIZE / 2) / norm
        tables.append(np.fft.irfft(spec, _TABLE_SIZE).astype(np.float32))
    return tuple(tables)


def _table_for(name: str, freq: float, sr: int) -> np.ndarray:
    tables = _wavetables(name)
    for kmax, table in zip(_TABLE_HARMONICS, tables, strict=True):
        if kmax * freq <= 0.45 * sr:
            return table
    return tables[-1]


# --------------------------------------------------------------------------------------
# Instruments
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Inst:
    """A wavetable instrument: timbre, ADSR envelope and expression."""

    name: str
    tone: str
    attack: float
    decay: float
    sustain: float
    release: float
    bright: str | None = None
    bright_decay: float = 0.1
    vibrato: float = 0.0
    vib_rate: float = 5.5
    formant: bool = False
    breath: float = 0.0
    tremolo: float = 0.0
    distort: bool = False


_INSTRUMENTS: dict[str, _Inst] = {
    inst.name: inst
    for inst in (
        _Inst("piano", "piano", 0.002, 0.9, 0.0, 0.25, "piano_bright", 0.12),
        _Inst("epiano", "epiano", 0.003, 1.4, 0.15, 0.2, "epiano_bright", 0.08, tremolo=0.25),
        _Inst("organ", "organ", 0.012, 1.0, 1.0, 0.05, vibrato=0.003, vib_rate=6.5),
        _Inst("strings", "strings", 0.22, 1.0, 0.9, 0.35, vibrato=0.004, vib_rate=5.2),
        _Inst("pad", "warm", 0.35, 1.5, 0.8, 0.6, "saw", 1.2),
        _Inst("guitar_ac", "guitar", 0.002, 0.7, 0.0, 0.08, "guitar_bright", 0.07),
        _Inst("guitar_clean", "guitar", 0.003, 1.0, 0.15, 0.06, "guitar_bright", 0.12),
        _Inst("guitar_dist", "guitar", 0.003, 1.5, 0.6, 0.05, "guitar_bright", 0.2, distort=True),
        _Inst("synth_pluck", "warm", 0.003, 0.3, 0.0, 0.12, "saw", 0.06),
        _Inst("steel", "guitar", 0.04, 1.5, 0.8, 0.15, "guitar_bright", 0.3, 0.004, 5.5),
        _Inst("harp", "triangle", 0.002, 0.8, 0.0, 0.3, "guitar_bright", 0.05),
        _Inst("brass_section", "brass", 0.03, 0.3, 0.7, 0.08),
        _Inst("bass_finger", "bass", 0.004, 0.6, 0.35, 0.06, "bass_bright", 0.05),
        _Inst("bass_pick", "bass", 0.002, 0.5, 0.4, 0.05, "saw", 0.08),
        _Inst("bass_upright", "warm", 0.005, 0.35, 0.12, 0.08, "bass_bright", 0.03),
        _Inst("bass_synth", "saw", 0.003, 0.25, 0.55, 0.05, "square", 0.06),
        _Inst("bass_808", "sine", 0.004, 1.2, 0.5, 0.15),
        _Inst("cello", "strings", 0.12, 1.0, 0.85, 0.25, vibrato=0.004, vib_rate=5.0),
        _Inst("voice", "voice", 0.05, 0.6, 0.8, 0.1, vibrato=0.009, vib_rate=5.5, formant=True),
        _Inst("rapvoice", "voice", 0.01, 0.15, 0.6, 0.04, formant=True, breath=0.35),
        _Inst(
            "guitar_lead",
            "guitar",
            0.004,
            1.5,
            0.65,
            0.08,
            "guitar_bright",
            0.2,
            0.007,
            5.8,
            distort=True,
        ),
        _Inst("sax", "reed", 0.03, 0.6, 0.8, 0.08, vibrato=0.006, vib_rate=5.0, breath=0.08),
        _Inst("trumpet", "brass", 0.025, 0.5, 0.8, 0.07, vibrato=0.004, vib_rate=5.5),
        _Inst("violin", "strings", 0.08, 1.0, 0.85, 0.2, "saw", 0.3, 0.008, 5.8),
        _Inst("flute", "flute", 0.05, 1.0, 0.85, 0.12, vibrato=0.006, vib_rate=5.0, breath=0.1),
        _Inst("clarinet", "reed", 0.04, 1.0, 0.85, 0.1, vibrato=0.002),
        _Inst("synth_lead", "square", 0.005, 0.3, 0.75, 0.08, "saw", 0.2, 0.005, 6.0),
        _Inst("harmonica", "reed", 0.02, 0.5, 0.8, 0.06, "square", 0.2, 0.01, 6.0, breath=0.15),
        _Inst("melodica", "reed", 0.03, 0.8, 0.85, 0.07, breath=0.06),
    )
}

#: Vowel formants (F1, F2) in Hz for the formant-filtered voice.
_VOWELS: tuple[tuple[float, float], ...] = (
    (730.0, 1090.0),
    (530.0, 1840.0),
    (300.0, 2200.0),
    (570.0, 840.0),
    (440.0, 1020.0),
)


@lru_cache(maxsize=256)
def _sos(kind: str, cutoff: float | tuple[float, float], sr: int, order: int = 2) -> np.ndarray:
    """A Butterworth filter (``kind`` "lowpass", "highpass" or "bandpass") as SOS."""
    nyq = 0.5 * sr
    if isinstance(cutoff, tuple):
        lo = min(max(cutoff[0], 10.0), 0.9 * nyq)
        hi = min(max(cutoff[1], lo * 1.05), 0.95 * nyq)
        wn: float | tuple[float, float] = (lo, hi)
    else:
        wn = min(max(cutoff, 10.0), 0.95 * nyq)
    return signal.butter(order, wn, btype=kind, fs=sr, output="sos")


@lru_cache(maxsize=64)
def _formant_sos(vowel: int, sr: int) -> np.ndarray:
    """Two parallel band-passes at the vowel's first two formants, as one SOS filter."""
    f1, f2 = _VOWELS[vowel]
    b1, a1 = signal.butter(1, (f1 * 0.8, f1 * 1.25), btype="bandpass", fs=sr)
    b2, a2 = signal.butter(1, (f2 * 0.85, min(f2 * 1.18, 0.45 * sr)), btype="bandpass", fs=sr)
    b = 1.4 * np.polymul(b1, a2) + np.polymul(b2, a1)
    return signal.tf2sos(b, np.polymul(a1, a2))


def _filt(
    kind: str, x: np.ndarray, cutoff: float | tuple[float, float], sr: int, order: int = 2
) -> np.ndarray:
    if isinstance(cutoff, tuple):
        key: float | tuple[float, float] = (float(round(cutoff[0])), float(round(cutoff[1])))
    else:
        key = float(round(cutoff))
    return signal.sosfilt(_sos(kind, key, sr, order), x).astype(np.float32, copy=False)


# --------------------------------------------------------------------------------------
# Musical context
# --------------------------------------------------------------------------------------

_QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "5": (0, 7, 12),
    "dim": (0, 3, 6),
    "m9": (0, 3, 7, 10, 14),
    "9": (0, 4, 7, 10, 14),
    "6": (0, 4, 7, 9),
    "add9": (0, 4, 7, 14),
    "m7b5": (0, 3, 6, 10),
    "sus4": (0, 5, 7),
}

_SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "minor": (0, 2, 3, 5, 7, 8, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "harmonic": (0, 2, 3, 5, 7, 8, 11),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "pent_major": (0, 2, 4, 7, 9),
    "pent_minor": (0, 3, 5, 7, 10),
    "blues": (0, 3, 5, 6, 7, 10),
}

_VEL = {"X": 1.0, "x": 0.72, "o": 0.45, "g": 0.25}

Chord = tuple[int, tuple[int, ...]]  # (root pitch class relative to the key, intervals)


class _Song:
    """Timing grid (16th-note steps with swing) and the chord of every beat."""

    def __init__(
        self,
        rng: np.random.Generator,
        sr: int,
        n: int,
        bpm: float,
        swing: float,
        beats: int,
        key: int,
        scale: str,
        progression: list[tuple[int, str, int]],
    ):
        self.rng = rng
        self.sr = sr
        self.n = n
        self.bpm = bpm
        self.beat = 60.0 / bpm
        self.swing = swing
        self.beats = beats
        self.spb = 4 * beats  # steps per bar
        self.key = key
        self.scale = scale
        bar = self.beat * beats
        # Start somewhere inside a bar, like an excerpt taken from a longer piece.
        self.offset = float(rng.uniform(0.0, bar))
        self.n_bars = int(math.ceil((n / sr + self.offset) / bar)) + 1
        self.n_beats = self.n_bars * beats
        chords: list[Chord] = []
        while len(chords) < self.n_beats:
            for degree, quality, length in progression:
                chords.extend([((key + degree) % 12, _QUALITIES[quality])] * length)
        self.chords = chords[: self.n_beats]
        fr = (0.0, swing / 2, swing, (1.0 + swing) / 2)
        self._frac = np.array(fr)

    def time(self, step: np.ndarray | int) -> np.ndarray:
        """Seconds (relative to the clip start) of global 16th-note step(s)."""
        step = np.asarray(step)
        return (step // 4 + self._frac[step % 4]) * self.beat - self.offset

    def chord_at(self, step: int) -> Chord:
        return self.chords[min(step // 4, self.n_beats - 1)]

    def segments(self) -> list[tuple[int, int, Chord]]:
        """Runs of equal chords as (first step, length in steps, chord)."""
        out: list[tuple[int, int, Chord]] = []
        start = 0
        for b in range(1, self.n_beats + 1):
            if (
                b == self.n_beats
                or self.chords[b] != self.chords[start]
                or b % (4 * self.beats) == 0
            ):
                out.append((start * 4, (b - start) * 4, self.chords[start]))
                start = b
        return out


def _midi_in(pc: int, lo: int) -> int:
    """The lowest MIDI note of pitch class ``pc`` at or above ``lo``."""
    return lo + (pc - lo) % 12


def _voicing(chord: Chord, lo: int, n_notes: int) -> tuple[int, ...]:
    """Close-position voicing of ``chord`` with ``n_notes`` notes from ``lo`` upwards."""
    root, ivs = chord
    pcs = [(root + i) % 12 for i in ivs]
    notes: list[int] = []
    base = _midi_in(root, lo)
    k = 0
    while len(notes) < n_notes:
        pc = pcs[k % len(pcs)]
        m = _midi_in(pc, notes[-1] + 1 if notes else base)
        notes.append(m)
        k += 1
    return tuple(notes)


def _guitar_voicing(chord: Chord, n_strings: int) -> tuple[int, ...]:
    root, ivs = chord
    pcs = sorted({(root + i) % 12 for i in ivs if i != 12})
    base = _midi_in(root, 40)
    notes = [base]
    cur = base
    while len(notes) < n_strings:
        cands = [_midi_in(pc, cur + 3) for pc in pcs]
        cur = min(cands)
        notes.append(cur)
    return tuple(notes)


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


@dataclass
class _Track:
    """Note events for one instrument."""

    inst: _Inst
    events: list[tuple[float, float, tuple[int, ...], float, float, float]]
    # (time s, duration s, MIDI notes, velocity, strum spread s, glide semitones)
    vowel_seed: int = 0


class _Renderer:
    def __init__(self, sr: int, n: int, rng: np.random.Generator):
        self.sr = sr
        self.n = n
        self.rng = rng
        self.t = np.arange(int(8.0 * sr), dtype=np.float32) / np.float32(sr)
        self.noise = _filt("highpass", rng.standard_normal(int(2.5 * sr)), 1500.0, sr)
        self._cache: dict[tuple, np.ndarray] = {}

    def _time(self, length: int) -> np.ndarray:
        if length > len(self.t):
            self.t = np.arange(length, dtype=np.float32) / np.float32(self.sr)
        return self.t[:length]

    def _noise(self, length: int) -> np.ndarray:
        start = int(self.rng.integers(0, max(1, len(self.noise) - length)))
        seg = self.noise[start : start + length]
        if len(seg) < length:
            seg = np.resize(self.noise, length)
        return seg

    def note(self, inst: _Inst, midi: int, dur: int, glide: float, vowel: int) -> np.ndarray:
        """One note (cached): ``dur`` samples of sustain plus the release tail."""
        key = (inst.name, midi, dur, glide, vowel)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        sr = self.sr
        length = dur + int(4.0 * inst.release * sr)
        t = self._time(length)
        f = 440.0 * 2.0 ** ((midi - 69) / 12.0)
        table = _table_for(inst.tone, f, sr)
        if inst.vibrato or glide:
            fr = np.ones(length, dtype=np.float32)
            if inst.vibrato:
                ramp = np.minimum(t / 0.35, 1.0)
                fr += inst.vibrato * ramp * _sin((2 * np.pi * inst.vib_rate) * t)
            if glide:
                # A glide from `glide` semitones below, 2 ** (-glide/12) at t = 0.
                fr *= _exp(np.float32(-glide / 12.0 * math.log(2.0)) * _exp(-t / 0.07))
            phase = np.cumsum(fr, dtype=np.float64) * (f * _TABLE_SIZE / sr)
        else:
            phase = np.arange(length, dtype=np.float64) * (f * _TABLE_SIZE / sr)
        idx = phase.astype(np.int64) & _TABLE_MASK
        wave = table[idx]
        if inst.bright:
            bright = _table_for(inst.bright, f, sr)[idx]
            wave += bright * _exp(-t / inst.bright_decay)
        if inst.breath:
            wave += inst.breath * self._noise(length)
        a, d, s, r = inst.attack, inst.decay, inst.sustain, inst.release
        dur_s = dur / sr
        env = np.minimum(t / a, 1.0) * (s + (1.0 - s) * _exp(-np.maximum(t - a, 0.0) / d))
        env *= _exp(-np.maximum(t - dur_s, 0.0) / r)
        if inst.tremolo:
            env *= 1.0 - inst.tremolo * (0.5 + 0.5 * _sin((2 * np.pi * 4.5) * t))
        y = (wave * env).astype(np.float32)
        if inst.formant:
            y = signal.sosfilt(_formant_sos(vowel % len(_VOWELS), sr), y).astype(np.float32)
        self._cache[key] = y
        return y

    def track(self, tr: _Track) -> np.ndarray:
        sr, n = self.sr, self.n
        buf = np.zeros(n, dtype=np.float32)
        vrng = np.random.default_rng(tr.vowel_seed)
        for t0, dur, notes, vel, spread, glide in tr.events:
            start = int(round(t0 * sr))
            if start >= n:
                continue
            d = max(1, int(round(dur * sr)))
            if start + d + int(4.0 * tr.inst.release * sr) + int(len(notes) * spread * sr) < 0:
                continue  # over before the clip starts
            for j, midi in enumerate(notes):
                vowel = int(vrng.integers(0, len(_VOWELS))) if tr.inst.formant else 0
                y = self.note(tr.inst, midi, d, glide, vowel)
                s0 = start + int(round(j * spread * sr))
                _add(buf, s0, y, vel * (1.0 - 0.06 * j))
        return buf


def _add(buf: np.ndarray, start: int, y: np.ndarray, gain: float) -> None:
    """``buf[start:start+len(y)] += gain * y``, clipped to the buffer."""
    n = len(buf)
    lo = max(start, 0)
    hi = min(start + len(y), n)
    if hi <= lo:
        return
    buf[lo:hi] += np.float32(gain) * y[lo - start : hi - start]


# --------------------------------------------------------------------------------------
# Drums
# --------------------------------------------------------------------------------------


def _kick(sr, noise, f0, f1, ptau, decay, click):
    length = int(min(5 * decay, 1.5) * sr)
    t = np.arange(length, dtype=np.float32) / sr
    f = f1 + (f0 - f1) * _exp(-t / ptau)
    y = _sin(2 * np.pi * np.cumsum(f) / sr) * _exp(-t / decay)
    nc = int(0.006 * sr)
    y[:nc] += click * _filt("highpass", noise[:nc], 2000.0, sr) * _exp(-t[:nc] / 0.0015)
    return y.astype(np.float32)


def _snare(sr, noise, tone, ndecay, lo, hi, nlevel):
    length = int(min(5 * ndecay, 1.0) * sr)
    t = np.arange(length, dtype=np.float32) / sr
    body = (_sin(2 * np.pi * tone * t) + 0.5 * _sin(2 * np.pi * 1.6 * tone * t)) * _exp(-t / 0.045)
    rattle = _filt("bandpass", noise[:length], (lo, hi), sr) * _exp(-t / ndecay)
    return (0.6 * body + nlevel * 1.8 * rattle).astype(np.float32)


def _metallic(sr: int, ratio: float, seconds: float) -> np.ndarray:
    """Six detuned square waves (the TR-808 cymbal oscillators), unfiltered."""
    t = np.arange(int(seconds * sr), dtype=np.float32) / np.float32(sr)
    freqs = np.array([205.3, 304.4, 369.6, 522.7, 540.0, 800.0], dtype=np.float32) * ratio
    ph = (t[None, :] * freqs[:, None]) % np.float32(1.0)
    return (np.where(ph < 0.5, 1.0, -1.0).sum(axis=0) * 0.4).astype(np.float32)


def _cymbal(sr, noise, base, decay, cut):
    length = min(int(5 * decay * sr), len(base))
    t = np.arange(length, dtype=np.float32) / sr
    y = base[:length] + 1.5 * noise[:length]
    env = _exp(-t / decay) * np.minimum((length - np.arange(length)) / (0.05 * sr), 1.0)
    return (_filt("highpass", y, cut, sr) * env).astype(np.float32)


def _rim(sr, noise, tone):
    length = int(0.12 * sr)
    t = np.arange(length, dtype=np.float32) / sr
    y = _sin(2 * np.pi * tone * t) * _exp(-t / 0.02)
    y += 2.0 * _filt("bandpass", noise[:length], (1800.0, 5500.0), sr) * _exp(-t / 0.012)
    return y.astype(np.float32)


def _clap(sr, noise, decay):
    length = int(min(5 * decay, 0.6) * sr)
    t = np.arange(length, dtype=np.float32) / sr
    env = _exp(-t / decay)
    for lag in (0.0, 0.009, 0.018):
        env += 1.5 * np.where(t >= lag, _exp(-(t - lag) / 0.004), 0.0)
    return (2.5 * _filt("bandpass", noise[:length], (900.0, 3500.0), sr) * env).astype(np.float32)


def _build_kit(rng: np.random.Generator, sr: int, kit: dict[str, float]) -> dict[str, list]:
    """Three slightly different samples of every drum of the kit."""
    out: dict[str, list] = {}
    big = rng.standard_normal(int(3.0 * sr)).astype(np.float32)
    hat_base = _metallic(sr, kit["cym_ratio"], 1.2)
    ride_base = _metallic(sr, kit["cym_ratio"] * 1.9, 1.8)
    crash_base = _metallic(sr, kit["cym_ratio"] * 1.3, 2.0)

    def noise():
        start = int(rng.integers(0, int(0.5 * sr)))
        return big[start:]

    for _ in range(3):
        j = rng.uniform(0.97, 1.03)
        out.setdefault("kick", []).append(
            _kick(
                sr,
                noise(),
                kit["kick_f0"] * j,
                kit["kick_f1"] * j,
                kit["kick_ptau"],
                kit["kick_decay"],
                kit["kick_click"],
            )
        )
        out.setdefault("snare", []).append(
            _snare(
                sr,
                noise(),
                kit["snare_tone"] * j,
                kit["snare_decay"],
                kit["snare_lo"],
                kit["snare_hi"],
                kit["snare_noise"],
            )
        )
        out.setdefault("hat", []).append(
            _cymbal(sr, noise(), hat_base, kit["hat_decay"] * j, kit["hat_cut"])
        )
        out.setdefault("ohat", []).append(
            _cymbal(sr, noise(), hat_base, kit["ohat_decay"] * j, kit["hat_cut"] * 0.9)
        )
        out.setdefault("ride", []).append(
            0.6 * _cymbal(sr, noise(), ride_base, kit["ride_decay"] * j, 3500.0)
        )
        out.setdefault("crash", []).append(
            _cymbal(sr, noise(), crash_base, kit["crash_decay"] * j, 2800.0)
        )
        out.setdefault("rim", []).append(_rim(sr, noise(), kit["rim_tone"] * j))
        out.setdefault("clap", []).append(_clap(sr, noise(), kit["clap_decay"]))
        out.setdefault("tom", []).append(
            _kick(sr, noise(), kit["tom_f"] * 1.5 * j, kit["tom_f"] * j, 0.05, 0.22, 0.2)
        )
    return out


#: Level of the drum kit in the mix, by the genre the drums come from.
_DRUM_BUS = {
    "blues": 0.8,
    "country": 0.8,
    "disco": 1.1,
    "hiphop": 1.25,
    "jazz": 0.55,
    "metal": 0.9,
    "pop": 1.05,
    "reggae": 1.0,
    "rock": 1.0,
}

_DRUM_LEVELS = {
    "kick": 1.0,
    "snare": 0.8,
    "rim": 0.55,
    "clap": 0.7,
    "hat": 0.28,
    "ohat": 0.3,
    "ride": 0.3,
    "crash": 0.35,
    "tom": 0.7,
}

#: 16-step (one 4/4 bar of 16th notes) drum patterns; X x o g are decreasing velocities.
_PATTERNS: dict[str, list[dict[str, str]]] = {
    "rock": [
        {"kick": "X.......X.x.....", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X.x.....X.......", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X.....x.X.......", "snare": "....X.......X...", "ride": "x.x.x.x.x.x.x.x."},
        {"kick": "X.......X.......", "snare": "....X..o....X...", "hat": "xoxoxoxoxoxoxoxo"},
        {"kick": "X...X...X...X...", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
    ],
    "metal": [
        {"kick": "XXXXXXXXXXXXXXXX", "snare": "....X.......X...", "crash": "X.......x......."},
        {"kick": "X.X.X.X.X.X.X.X.", "snare": "....X.......X...", "ride": "x.x.x.x.x.x.x.x."},
        {"kick": "XXXX..XXXXXX..XX", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X.X.X.X.X.X.X.X.", "snare": "..X...X...X...X.", "crash": "x...x...x...x..."},
        {"kick": "XXXXXXXXXXXXXXXX", "snare": "........X.......", "ohat": "x...x...x...x..."},
        {"kick": "X.X.X.X.X.X.X.X.", "snare": ".x.x.x.x.x.x.x.x", "ride": "x.x.x.x.x.x.x.x."},
    ],
    "pop": [
        {"kick": "X.......X.......", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X...X...X...X...", "clap": "....X.......X...", "hat": "..x...x...x...x."},
        {"kick": "X..x..x.X.......", "snare": "....X.......X...", "hat": "xoxoxoxoxoxoxoxo"},
        {"kick": "X.......X.x.....", "clap": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
    ],
    "disco": [
        {"kick": "X...X...X...X...", "clap": "....X.......X...", "ohat": "..X...X...X...X."},
        {
            "kick": "X...X...X...X...",
            "snare": "....X.......X...",
            "hat": "xoxoxoxoxoxoxoxo",
            "ohat": "..x...x...x...x.",
        },
        {"kick": "X...X...X...X...", "snare": "....X.......X...", "ohat": "..X...X...X...X."},
        {"kick": "X...X...X...X..x", "clap": "....X.......X...", "hat": "x.xxx.xxx.xxx.xx"},
    ],
    "hiphop": [
        {"kick": "X......x..X.....", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X.....X...X..x..", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X.x.......X.....", "snare": "....X.......X..o", "hat": "xoxoxoxoxoxoxoxo"},
        {"kick": "X......X.XX.....", "clap": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
    ],
    "reggae": [
        {"kick": "........X.......", "rim": "........X.......", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X.......X.......", "rim": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X...X...X...X...", "rim": "........X.......", "hat": "..x...x...x...x."},
        {"kick": "........X.......", "snare": "........X.......", "hat": "x.xxx.xxx.xxx.xx"},
    ],
    "jazz": [
        {"ride": "X...X.x.X...X.x.", "hat": "....x.......x...", "kick": "g...g...g...g..."},
        {"ride": "X...X.x.X...X.x.", "hat": "....x.......x...", "snare": "......g.......g."},
        {"ride": "x.x.x.x.x.x.x.x.", "hat": "....x.......x...", "kick": "x.........x....."},
    ],
    "blues": [
        {"kick": "X.......X.......", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X.......X.......", "snare": "....X.......X...", "ride": "x.x.x.x.x.x.x.x."},
        {"kick": "X...X...X...X...", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
    ],
    "country": [
        {"kick": "X.......X.......", "snare": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X.......X.......", "rim": "....X.......X...", "hat": "x.x.x.x.x.x.x.x."},
        {"kick": "X.......X.......", "snare": "g.g.X.g.g.g.X.g.", "hat": "..x...x...x...x."},
        {"kick": "X.......X.......", "snare": "....X.......X...", "ride": "..x...x...x...x."},
    ],
}


def _draw_kit(g: str, rng: np.random.Generator) -> dict[str, float]:
    u = rng.uniform
    kit = {
        "kick_f0": u(110, 200),
        "kick_f1": u(45, 65),
        "kick_ptau": u(0.02, 0.05),
        "kick_decay": u(0.15, 0.4),
        "kick_click": u(0.1, 0.6),
        "snare_tone": u(160, 260),
        "snare_decay": u(0.07, 0.18),
        "snare_lo": u(1000, 2500),
        "snare_hi": u(5500, 9500),
        "snare_noise": u(0.5, 1.1),
        "hat_decay": u(0.025, 0.06),
        "ohat_decay": u(0.15, 0.4),
        "hat_cut": u(6000, 9000),
        "ride_decay": u(0.5, 1.2),
        "crash_decay": u(1.0, 2.0),
        "cym_ratio": u(0.8, 1.3),
        "rim_tone": u(400, 800),
        "clap_decay": u(0.05, 0.15),
        "tom_f": u(90, 180),
    }
    if g == "metal":
        kit.update(kick_decay=u(0.1, 0.22), kick_click=u(0.6, 1.2), kick_f1=u(50, 62))
    elif g == "hiphop":
        kit.update(
            kick_decay=u(0.3, 0.9),
            kick_f1=u(40, 55),
            kick_click=u(0.0, 0.3),
            snare_decay=u(0.12, 0.3),
        )
    elif g == "jazz":
        kit.update(
            kick_f1=u(55, 75), kick_click=0.0, snare_noise=u(0.3, 0.7), ride_decay=u(0.8, 1.6)
        )
    elif g == "disco":
        kit.update(ohat_decay=u(0.2, 0.45))
    elif g == "reggae":
        kit.update(rim_tone=u(500, 900), hat_decay=u(0.03, 0.07))
    return kit


def _drum_track(
    song: _Song, g: str, rng: np.random.Generator
) -> tuple[list[tuple[float, str, float]], dict[str, str]]:
    """Drum hits (time s, drum, velocity) following one of genre ``g``'s patterns.

    Also returns the main pattern, so that a bass line can lock to its kick drum.
    """
    patterns = _PATTERNS[g]
    main = patterns[int(rng.integers(len(patterns)))]
    alt = patterns[int(rng.integers(len(patterns)))] if rng.random() < 0.35 else main
    jitter = {"jazz": 0.012, "blues": 0.01, "country": 0.006, "reggae": 0.006}.get(g, 0.003)
    fill_prob = rng.uniform(0.2, 0.8)
    ghost_prob = {"jazz": 0.25, "hiphop": 0.08, "blues": 0.05, "disco": 0.05}.get(g, 0.02)
    section = int(rng.choice([4, 8]))
    hits: list[tuple[float, str, float]] = []
    spb = song.spb
    for bar in range(song.n_bars):
        pat = alt if (bar // section) % 2 == 1 else main
        base = bar * spb
        fill = (bar % section == section - 1) and rng.random() < fill_prob
        fill_from = spb - int(rng.choice([4, 8])) if fill else spb
        for drum, pstr in pat.items():
            for i in range(min(spb, fill_from)):
                ch = pstr[i % len(pstr)]
                if ch == ".":
                    continue
                if ch not in "X" and rng.random() < 0.06:
                    continue
                hits.append((base + i, drum, _VEL[ch] * rng.uniform(0.85, 1.08)))
        if g == "jazz" or rng.random() < ghost_prob * 4:
            for i in range(0, spb, 2):
                if rng.random() < ghost_prob:
                    hits.append((base + i, "snare", rng.uniform(0.15, 0.35)))
        if fill:
            drums = ["snare", "tom", "tom", "snare"]
            for i in range(fill_from, spb, 1 if rng.random() < 0.6 else 2):
                hits.append((base + i, drums[int(rng.integers(4))], rng.uniform(0.6, 1.0)))
        if bar % section == 0 and bar > 0 and (g != "jazz" or rng.random() < 0.3):
            hits.append((base, "crash", rng.uniform(0.7, 1.0)))
    steps = np.array([h[0] for h in hits], dtype=np.int64)
    times = song.time(steps) + rng.normal(0.0, jitter, len(hits)) if hits else np.zeros(0)
    return [(float(t), h[1], h[2]) for t, h in zip(times, hits, strict=True)], main


def _render_drums(hits, kit, sr, n, rng) -> np.ndarray:
    buf = np.zeros(n, dtype=np.float32)
    for t0, drum, vel in hits:
        start = int(round(t0 * sr))
        if start >= n:
            continue
        samples = kit[drum]
        y = samples[int(rng.integers(len(samples)))]
        _add(buf, start, y, vel * _DRUM_LEVELS[drum])
    return buf


# --------------------------------------------------------------------------------------
# Genre styles: each component is drawn from one genre's distribution
# --------------------------------------------------------------------------------------


def _pick(rng: np.random.Generator, options: Sequence[tuple[float, object]]):
    w = np.array([o[0] for o in options], dtype=float)
    return options[int(rng.choice(len(options), p=w / w.sum()))][1]


#: Tempo (BPM) and swing ranges; swing 0.5 is straight, 0.67 a triplet shuffle.
_TEMPO: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "blues": ((62, 135), (0.6, 0.68)),
    "classical": ((55, 140), (0.5, 0.5)),
    "country": ((85, 165), (0.5, 0.56)),
    "disco": ((110, 132), (0.5, 0.54)),
    "hiphop": ((76, 102), (0.5, 0.62)),
    "jazz": ((95, 230), (0.6, 0.68)),
    "metal": ((95, 210), (0.5, 0.5)),
    "pop": ((88, 128), (0.5, 0.55)),
    "reggae": ((62, 92), (0.5, 0.62)),
    "rock": ((88, 165), (0.5, 0.54)),
}


def _draw_tempo(g: str, rng: np.random.Generator) -> tuple[float, float]:
    """(bpm, swing) of a clip drawn from genre ``g``'s ranges."""
    (b0, b1), (s0, s1) = _TEMPO[g]
    return float(rng.uniform(b0, b1)), float(rng.uniform(s0, s1))


_PROGRESSIONS: dict[str, list[tuple[str, list[tuple[int, str]]]]] = {
    "blues": [
        (
            "major",
            [(0, "7")] * 4
            + [(5, "7")] * 2
            + [(0, "7")] * 2
            + [(7, "7"), (5, "7"), (0, "7"), (7, "7")],
        ),
        (
            "major",
            [
                (0, "7"),
                (5, "7"),
                (0, "7"),
                (0, "7"),
                (5, "7"),
                (5, "7"),
                (0, "7"),
                (0, "7"),
                (7, "7"),
                (5, "7"),
                (0, "7"),
                (7, "7"),
            ],
        ),
        (
            "minor",
            [(0, "m7")] * 4
            + [(5, "m7")] * 2
            + [(0, "m7")] * 2
            + [(8, "7"), (7, "7"), (0, "m7"), (7, "7")],
        ),
    ],
    "classical": [
        ("major", [(0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")]),
        ("major", [(0, "maj"), (9, "min"), (2, "min"), (7, "7")]),
        (
            "major",
            [
                (0, "maj"),
                (7, "maj"),
                (9, "min"),
                (4, "min"),
                (5, "maj"),
                (0, "maj"),
                (5, "maj"),
                (7, "maj"),
            ],
        ),
        ("minor", [(0, "min"), (5, "min"), (7, "maj"), (0, "min")]),
        ("minor", [(0, "min"), (8, "maj"), (5, "min"), (7, "7")]),
        (
            "harmonic",
            [
                (0, "min"),
                (5, "min"),
                (10, "maj"),
                (3, "maj"),
                (8, "maj"),
                (2, "dim"),
                (7, "maj"),
                (0, "min"),
            ],
        ),
    ],
    "country": [
        (
            "major",
            [
                (0, "maj"),
                (0, "maj"),
                (5, "maj"),
                (0, "maj"),
                (7, "maj"),
                (7, "maj"),
                (0, "maj"),
                (0, "maj"),
            ],
        ),
        ("major", [(0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")]),
        ("major", [(0, "maj"), (7, "maj"), (9, "min"), (5, "maj")]),
        ("major", [(0, "maj"), (5, "maj"), (0, "maj"), (7, "7")]),
    ],
    "disco": [
        ("dorian", [(0, "m7"), (5, "7")]),
        ("minor", [(0, "m7"), (5, "m7")]),
        ("major", [(0, "maj7"), (5, "maj7")]),
        ("major", [(2, "m7"), (7, "7"), (0, "maj7"), (9, "m7")]),
        ("minor", [(0, "m7"), (8, "maj7"), (10, "7"), (0, "m7")]),
    ],
    "hiphop": [
        ("minor", [(0, "m7"), (8, "maj7")]),
        ("dorian", [(0, "m9"), (5, "m7")]),
        ("minor", [(0, "min"), (10, "maj"), (8, "maj"), (10, "maj")]),
        ("minor", [(0, "m7")]),
        ("major", [(0, "maj7"), (9, "m7")]),
    ],
    "jazz": [
        ("major", [(2, "m7"), (7, "7"), (0, "maj7"), (0, "maj7")]),
        ("major", [(0, "maj7"), (9, "m7"), (2, "m7"), (7, "9")]),
        ("major", [(4, "m7"), (9, "7"), (2, "m7"), (7, "7")]),
        ("minor", [(2, "m7b5"), (7, "7"), (0, "m7"), (0, "m7")]),
        (
            "major",
            [(0, "6"), (9, "7"), (2, "m7"), (7, "7"), (5, "maj7"), (10, "7"), (0, "6"), (7, "7")],
        ),
    ],
    "metal": [
        ("minor", [(0, "5"), (8, "5"), (10, "5"), (0, "5")]),
        ("phrygian", [(0, "5"), (1, "5"), (0, "5"), (10, "5")]),
        ("harmonic", [(0, "5"), (0, "5"), (8, "5"), (7, "5")]),
        ("minor", [(0, "5"), (5, "5"), (8, "5"), (10, "5")]),
    ],
    "pop": [
        ("major", [(0, "maj"), (7, "maj"), (9, "min"), (5, "maj")]),
        ("major", [(9, "min"), (5, "maj"), (0, "maj"), (7, "maj")]),
        ("major", [(0, "add9"), (9, "min"), (5, "maj7"), (7, "maj")]),
        ("major", [(5, "maj"), (0, "maj"), (7, "maj"), (9, "min")]),
    ],
    "reggae": [
        ("major", [(0, "maj"), (5, "maj")]),
        ("major", [(0, "maj"), (7, "maj")]),
        ("minor", [(0, "min"), (5, "min")]),
        ("major", [(0, "maj"), (5, "maj"), (7, "maj"), (5, "maj")]),
        ("dorian", [(0, "m7"), (10, "maj")]),
    ],
    "rock": [
        ("mixolydian", [(0, "maj"), (10, "maj"), (5, "maj"), (0, "maj")]),
        ("major", [(0, "maj"), (5, "maj"), (7, "maj"), (5, "maj")]),
        ("major", [(9, "min"), (5, "maj"), (0, "maj"), (7, "maj")]),
        ("minor", [(0, "min"), (10, "maj"), (8, "maj"), (10, "maj")]),
        ("major", [(0, "5"), (7, "5"), (5, "5"), (5, "5")]),
    ],
}


def _draw_harmony(
    g: str, rng: np.random.Generator, beats: int
) -> tuple[int, str, list[tuple[int, str, int]]]:
    """(key pitch class, scale, progression as (degree, quality, length in beats))."""
    scale, prog = _PROGRESSIONS[g][int(rng.integers(len(_PROGRESSIONS[g])))]
    if g == "blues":
        key = int(rng.choice([4, 9, 7, 0, 10, 2]))
    elif g == "metal":
        key = int(rng.choice([4, 2, 1, 11, 9]))
    else:
        key = int(rng.integers(12))
    per_bar = 2 if (g in ("classical", "jazz", "metal") and rng.random() < 0.4) else 1
    bars_per = 2 if (g in ("disco", "hiphop", "reggae") and rng.random() < 0.5) else 1
    length = beats * bars_per if beats % per_bar else beats // per_bar * bars_per
    return key, scale, [(d, q, length) for d, q in prog]


#: Mixing and mastering ranges: guitar drive, master low-pass (recording era and
#: brightness), reverb send and time, hiss level, bus saturation (loudness war),
#: slow level swells (dynamics) and the probability of a lo-fi, crackly master.
_PRODUCTION_DEFAULT: dict[str, tuple[float, float]] = {
    "drive": (0.0, 0.0),
    "lowpass": (6500.0, 10500.0),
    "reverb": (0.05, 0.25),
    "rt60": (0.6, 1.8),
    "noise_db": (-75.0, -52.0),
    "saturate": (0.0, 0.6),
    "swell": (0.0, 0.15),
    "lofi": (0.0, 0.0),
}
_PRODUCTION: dict[str, dict[str, tuple[float, float]]] = {
    "blues": {"drive": (0.0, 6.0), "lowpass": (3500.0, 8500.0), "noise_db": (-66.0, -42.0)},
    "classical": {
        "reverb": (0.2, 0.5),
        "rt60": (1.4, 2.8),
        "lowpass": (5000.0, 10000.0),
        "noise_db": (-72.0, -48.0),
        "saturate": (0.0, 0.0),
        "swell": (0.2, 0.6),
    },
    "country": {"drive": (0.0, 1.5), "lowpass": (6500.0, 10500.0)},
    "disco": {"reverb": (0.1, 0.3), "saturate": (0.2, 0.8), "lowpass": (7500.0, 11000.0)},
    "hiphop": {"lofi": (0.5, 0.5), "lowpass": (6000.0, 11000.0), "saturate": (0.3, 1.0)},
    "jazz": {
        "lowpass": (3500.0, 8500.0),
        "noise_db": (-68.0, -44.0),
        "reverb": (0.1, 0.3),
        "saturate": (0.0, 0.3),
    },
    "metal": {
        "drive": (8.0, 30.0),
        "reverb": (0.02, 0.15),
        "saturate": (0.4, 1.2),
        "lowpass": (8000.0, 11000.0),
    },
    "pop": {"drive": (0.0, 3.0), "saturate": (0.3, 1.0), "lowpass": (8000.0, 11000.0)},
    "reggae": {"reverb": (0.15, 0.4), "rt60": (0.8, 2.0), "lowpass": (4500.0, 9000.0)},
    "rock": {"drive": (2.0, 16.0), "saturate": (0.2, 0.9), "lowpass": (7000.0, 11000.0)},
}


def _draw_production(g: str, rng: np.random.Generator) -> dict[str, float]:
    ranges = {**_PRODUCTION_DEFAULT, **_PRODUCTION[g]}
    p = {k: float(rng.uniform(lo, hi)) for k, (lo, hi) in ranges.items()}
    p["lofi"] = float(rng.random() < ranges["lofi"][1])
    if p["lofi"]:
        p["lowpass"] = float(rng.uniform(3500.0, 7000.0))
    return p


# Bass / comping / lead options per genre: (weight, (style, instrument)).
_BASS: dict[str, list[tuple[float, tuple[str, str]]]] = {
    "blues": [
        (3, ("boogie", "bass_finger")),
        (2, ("walking", "bass_upright")),
        (1, ("root4", "bass_finger")),
    ],
    "classical": [(3, ("bowed", "cello")), (2, ("none", "")), (1, ("bowed", "bass_upright"))],
    "country": [
        (4, ("root_fifth", "bass_finger")),
        (1, ("root_fifth", "bass_upright")),
        (1, ("root8", "bass_pick")),
    ],
    "disco": [
        (4, ("octave", "bass_finger")),
        (2, ("octave", "bass_synth")),
        (1, ("syncop", "bass_finger")),
    ],
    "hiphop": [
        (3, ("sub808", "bass_808")),
        (2, ("syncop", "bass_finger")),
        (1, ("walking", "bass_upright")),
        (1, ("sub808", "bass_synth")),
    ],
    "jazz": [(5, ("walking", "bass_upright")), (1, ("root4", "bass_upright"))],
    "metal": [(4, ("root16", "bass_pick")), (2, ("root8", "bass_pick"))],
    "pop": [
        (3, ("root8", "bass_finger")),
        (2, ("syncop", "bass_synth")),
        (1, ("syncop", "bass_finger")),
    ],
    "reggae": [(5, ("reggae", "bass_finger")), (1, ("reggae", "bass_synth"))],
    "rock": [
        (4, ("root8", "bass_pick")),
        (2, ("root8", "bass_finger")),
        (1, ("root4", "bass_pick")),
    ],
}

_COMP: dict[str, list[tuple[float, tuple[str, str]]]] = {
    "blues": [
        (3, ("boogie", "guitar_clean")),
        (2, ("pad", "organ")),
        (2, ("block", "piano")),
        (1, ("strum", "guitar_clean")),
        (1, ("boogie", "guitar_dist")),
    ],
    "classical": [
        (3, ("pad", "strings")),
        (3, ("arp", "piano")),
        (1, ("arp", "harp")),
        (1, ("block", "piano")),
        (1, ("pad", "brass_section")),
    ],
    "country": [
        (6, ("strum", "guitar_ac")),
        (2, ("arp", "guitar_clean")),
        (1, ("block", "piano")),
    ],
    "disco": [
        (3, ("chops", "guitar_clean")),
        (3, ("pad", "strings")),
        (2, ("stabs", "brass_section")),
        (2, ("block", "epiano")),
        (1, ("pad", "pad")),
    ],
    "hiphop": [
        (3, ("pad", "epiano")),
        (2, ("stabs", "piano")),
        (2, ("pad", "pad")),
        (1, ("arp", "harp")),
        (1, ("stabs", "strings")),
    ],
    "jazz": [
        (5, ("jazzcomp", "piano")),
        (2, ("jazzcomp", "epiano")),
        (1, ("jazzcomp", "guitar_clean")),
        (1, ("pad", "organ")),
    ],
    "metal": [(6, ("power", "guitar_dist")), (1, ("arp", "guitar_clean")), (1, ("pad", "strings"))],
    "pop": [
        (4, ("pad", "pad")),
        (3, ("block", "piano")),
        (3, ("arp", "synth_pluck")),
        (1, ("strum", "guitar_ac")),
        (1, ("chops", "guitar_clean")),
    ],
    "reggae": [
        (5, ("skank", "guitar_clean")),
        (3, ("skank", "organ")),
        (1, ("skank", "piano")),
        (1, ("pad", "organ")),
    ],
    "rock": [
        (5, ("power", "guitar_dist")),
        (3, ("strum", "guitar_dist")),
        (1, ("strum", "guitar_clean")),
        (1, ("block", "piano")),
        (1, ("pad", "organ")),
    ],
}

_LEAD: dict[str, list[tuple[float, tuple[str, str]]]] = {
    "blues": [
        (4, ("blues", "guitar_lead")),
        (2, ("vocal", "voice")),
        (1, ("blues", "harmonica")),
        (1, ("blues", "piano")),
    ],
    "classical": [
        (3, ("classical", "violin")),
        (2, ("classical", "piano")),
        (1, ("classical", "flute")),
        (1, ("classical", "clarinet")),
        (1, ("none", "")),
    ],
    "country": [
        (4, ("vocal", "voice")),
        (2, ("fiddle", "violin")),
        (2, ("blues", "steel")),
        (1, ("blues", "harmonica")),
    ],
    "disco": [(4, ("vocal", "voice")), (2, ("synth", "synth_lead")), (1, ("pop", "strings"))],
    "hiphop": [(6, ("rap", "rapvoice")), (1, ("vocal", "voice")), (1, ("none", ""))],
    "jazz": [
        (3, ("bebop", "sax")),
        (2, ("bebop", "trumpet")),
        (2, ("bebop", "piano")),
        (1, ("bebop", "guitar_clean")),
        (1, ("none", "")),
    ],
    "metal": [(3, ("shred", "guitar_lead")), (2, ("vocal", "voice")), (2, ("none", ""))],
    "pop": [(6, ("vocal", "voice")), (2, ("synth", "synth_lead")), (1, ("pop", "piano"))],
    "reggae": [
        (4, ("vocal", "voice")),
        (2, ("pop", "melodica")),
        (1, ("pop", "organ")),
        (1, ("none", "")),
    ],
    "rock": [(5, ("vocal", "voice")), (3, ("blues", "guitar_lead")), (1, ("none", ""))],
}


# --------------------------------------------------------------------------------------
# Parts: bass, comping, lead
# --------------------------------------------------------------------------------------

Event = tuple[float, float, tuple[int, ...], float, float, float]


def _ev(
    song: _Song,
    step: int,
    dur_steps: float,
    notes,
    vel: float,
    spread: float = 0.0,
    glide: float = 0.0,
    jitter: float = 0.004,
) -> Event:
    t = float(song.time(step)) + float(song.rng.normal(0.0, jitter))
    dur = dur_steps * song.beat / 4.0
    return (t, dur, tuple(int(m) for m in notes), vel, spread, glide)


def _bass_part(song: _Song, style: str, kick_steps: set[int] | None) -> list[Event]:
    """A bass line in ``style`` following the chords (an 808 line follows the kick drum)."""
    rng = song.rng
    ev: list[Event] = []
    lo = 28  # E1
    spb = song.spb
    motif = sorted(
        rng.choice([0, 3, 6, 8, 10, 11, 14], size=int(rng.integers(3, 6)), replace=False).tolist()
    )
    if style == "reggae":
        motif = sorted(
            rng.choice(
                [0, 2, 3, 6, 7, 8, 10, 11, 14], size=int(rng.integers(3, 6)), replace=False
            ).tolist()
        )
    motif_iv = [int(rng.choice([0, 0, 7, 12, 10, 3])) for _ in motif]
    for bar in range(song.n_bars):
        base = bar * spb
        for beat in range(song.beats):
            step = base + 4 * beat
            root, ivs = song.chord_at(step)
            r = _midi_in(root, lo)
            nxt_root = song.chord_at(step + 4)[0]
            fifth = r + 7 if r + 7 <= 45 else r - 5
            if style == "root8":
                for k in (0, 2):
                    m = r + (12 if rng.random() < 0.08 else 0)
                    ev.append(_ev(song, step + k, 1.7, [m], rng.uniform(0.75, 1.0)))
            elif style == "root16":
                for k in range(4):
                    ev.append(_ev(song, step + k, 0.8, [r], rng.uniform(0.7, 1.0), jitter=0.002))
            elif style == "root4":
                ev.append(_ev(song, step, 3.2, [r], rng.uniform(0.8, 1.0)))
            elif style == "root_fifth":
                if beat % 2 == 0:
                    m = r if beat == 0 else fifth
                    ev.append(_ev(song, step, 3.0, [m], rng.uniform(0.8, 1.0)))
                elif rng.random() < 0.2:
                    ev.append(_ev(song, step + 2, 1.5, [r + 4 if 4 in ivs else r + 3], 0.6))
            elif style == "walking":
                if beat == 0:
                    m = r
                elif beat == song.beats - 1:
                    m = _midi_in(nxt_root, lo) + int(rng.choice([-1, 1, -2]))
                else:
                    m = r + int(rng.choice(ivs + (2, 5, 9)))
                m = m if m <= 48 else m - 12
                ev.append(_ev(song, step, 3.6, [m], rng.uniform(0.75, 1.0), jitter=0.008))
            elif style == "boogie":
                seq = (0, 4 if 4 in ivs else 3, 7, 9, 10, 9, 7, 4 if 4 in ivs else 3)
                for k in (0, 2):
                    m = r + seq[(2 * beat + k // 2) % 8]
                    ev.append(_ev(song, step + k, 1.8, [m], rng.uniform(0.75, 1.0)))
            elif style == "octave":
                for k in (0, 2):
                    ev.append(
                        _ev(
                            song,
                            step + k,
                            1.5,
                            [r + (12 if k else 0)],
                            rng.uniform(0.8, 1.0),
                            jitter=0.002,
                        )
                    )
            elif style == "bowed":
                if beat % 2 == 0:
                    m = r if beat == 0 or rng.random() < 0.5 else fifth
                    ev.append(_ev(song, step, 7.6, [m + 12], rng.uniform(0.6, 0.9)))
        if style in ("syncop", "reggae"):
            root = song.chord_at(base)[0]
            r = _midi_in(root, lo)
            for i, (s, iv) in enumerate(zip(motif, motif_iv, strict=True)):
                if s >= spb:
                    continue
                nxt = motif[i + 1] if i + 1 < len(motif) else spb
                d = max(1.0, (nxt - s) * (0.9 if style == "reggae" else 0.7))
                ev.append(_ev(song, base + s, d, [r + iv], rng.uniform(0.75, 1.0)))
        elif style == "sub808":
            steps = sorted(s for s in (kick_steps or {0, 10}) if s < spb)
            for i, s in enumerate(steps):
                root = song.chord_at(base + s)[0]
                nxt = steps[i + 1] if i + 1 < len(steps) else spb
                glide = float(rng.choice([0.0, 0.0, 2.0, 5.0]))
                ev.append(
                    _ev(
                        song,
                        base + s,
                        max(1.0, nxt - s),
                        [_midi_in(root, lo)],
                        rng.uniform(0.8, 1.0),
                        glide=glide,
                    )
                )
    return ev


def _comp_part(song: _Song, style: str, g: str) -> list[Event]:
    """Chordal accompaniment: strums, power chords, skanks, pads, arpeggios, comping..."""
    rng = song.rng
    ev: list[Event] = []
    n_notes = int(rng.integers(3, 5))
    lo = int(rng.integers(52, 62))
    strum_pat = _pick(
        rng,
        [
            (2, "X.x.x.x.X.x.x.x."),
            (2, "X...x.x.X.x.x.x."),
            (1, "X.x.X.x.X.x.X.x."),
            (1, "X...X...X...X..."),
        ],
    )
    chop_pat = "".join(rng.choice(list("..xX"), size=16, p=[0.35, 0.25, 0.25, 0.15]))
    stab_pat = _pick(
        rng,
        [
            (2, "..X...X...X...X."),
            (1, "X.....X.....X..."),
            (1, "X......X..X....."),
            (1, "......X.......X."),
        ],
    )
    skank_steps = (4, 12) if rng.random() < 0.55 else (2, 6, 10, 14)
    arp_div = int(rng.choice([2, 2, 4]))
    arp_shape = _pick(rng, [(2, (0, 1, 2, 1)), (2, (0, 2, 1, 2)), (1, (0, 1, 2, 3))])
    block_div = int(rng.choice([4, 4, 8, 2]))
    for seg_start, seg_len, chord in song.segments():
        voicing = _voicing(chord, lo, n_notes)
        if style == "pad":
            ev.append(_ev(song, seg_start, seg_len - 0.5, voicing, rng.uniform(0.7, 0.9)))
        elif style == "strum":
            gv = _guitar_voicing(chord, int(rng.integers(4, 7)))
            hits = [i for i in range(seg_len) if strum_pat[(seg_start + i) % 16] != "."]
            for j, i in enumerate(hits):
                nxt = hits[j + 1] if j + 1 < len(hits) else seg_len
                up = (seg_start + i) % 4 == 2
                notes = gv[::-1] if up else gv
                vel = _VEL[strum_pat[(seg_start + i) % 16]] * rng.uniform(0.8, 1.0)
                ev.append(
                    _ev(song, seg_start + i, nxt - i, notes, vel, spread=rng.uniform(0.006, 0.018))
                )
        elif style == "power":
            root = chord[0]
            r = _midi_in(root, 40)
            notes = (r, r + 7, r + 12)
            dense = rng.random() < (0.6 if g == "metal" else 0.3)
            step = 1 if dense else 2
            for i in range(0, seg_len, step):
                accent = (seg_start + i) % 8 == 0
                dur = (1.8 * step) if accent else 0.45 * step
                ev.append(
                    _ev(
                        song,
                        seg_start + i,
                        dur,
                        notes,
                        1.0 if accent else 0.7,
                        spread=0.003,
                        jitter=0.002,
                    )
                )
        elif style == "boogie":
            r = _midi_in(chord[0], 40)
            for i in range(0, seg_len, 2):
                six = 9 if (seg_start + i) % 8 >= 4 else 7
                ev.append(
                    _ev(song, seg_start + i, 1.6, (r, r + six), rng.uniform(0.7, 1.0), spread=0.004)
                )
        elif style == "skank":
            for i in range(seg_len):
                if (seg_start + i) % 16 in skank_steps:
                    ev.append(
                        _ev(
                            song,
                            seg_start + i,
                            0.5,
                            _voicing(chord, 62, 3),
                            rng.uniform(0.75, 1.0),
                            spread=0.003,
                        )
                    )
        elif style == "chops":
            for i in range(seg_len):
                c = chop_pat[(seg_start + i) % 16]
                if c != ".":
                    ev.append(
                        _ev(
                            song,
                            seg_start + i,
                            0.35,
                            _voicing(chord, 60, 3),
                            _VEL[c] * 0.9,
                            spread=0.002,
                            jitter=0.002,
                        )
                    )
        elif style == "stabs":
            for i in range(seg_len):
                if stab_pat[(seg_start + i) % 16] != ".":
                    ev.append(_ev(song, seg_start + i, 1.2, voicing, rng.uniform(0.7, 1.0)))
        elif style == "arp":
            tones = voicing + (voicing[0] + 12,)
            for k, i in enumerate(range(0, seg_len, arp_div)):
                m = tones[arp_shape[k % len(arp_shape)] % len(tones)]
                ev.append(_ev(song, seg_start + i, arp_div * 1.6, [m], rng.uniform(0.6, 0.9)))
            if g == "classical" or rng.random() < 0.5:
                ev.append(_ev(song, seg_start, seg_len * 0.9, [_midi_in(chord[0], 36)], 0.7))
        elif style == "block":
            for i in range(0, seg_len, block_div):
                ev.append(
                    _ev(
                        song,
                        seg_start + i,
                        block_div * 0.8,
                        voicing,
                        rng.uniform(0.6, 0.9),
                        spread=0.002,
                    )
                )
        elif style == "jazzcomp":
            root, ivs = chord
            pcs = [(root + iv) % 12 for iv in (ivs[1:] + (14,))]
            rootless = tuple(sorted(_midi_in(pc, 55) for pc in pcs))
            for i in range(0, seg_len, 2):
                if rng.random() < 0.3:
                    ev.append(
                        _ev(
                            song,
                            seg_start + i,
                            float(rng.choice([1.0, 2.0, 4.0])),
                            rootless,
                            rng.uniform(0.4, 0.8),
                            spread=0.004,
                            jitter=0.01,
                        )
                    )
    return ev


def _scale_notes(song: _Song, scale: str, lo: int, hi: int) -> np.ndarray:
    pcs = {(song.key + s) % 12 for s in _SCALES[scale]}
    return np.array([m for m in range(lo, hi + 1) if m % 12 in pcs])


_CELLS: dict[str, list[tuple[int, ...]]] = {
    "vocal": [(2, 2), (4,), (2, 1, 1), (3, 1), (-2, 2), (4,), (-4,), (1, 1, 2)],
    "rap": [(1, 1, 1, 1), (1, 1, 2), (2, 1, 1), (2, 2), (-1, 1, 1, 1), (-2, 1, 1)],
    "blues": [(2, 2), (3, 1), (4,), (-2, 2), (1, 1, 2), (8,), (-4,)],
    "fiddle": [(2, 2), (1, 1, 1, 1), (2, 1, 1), (4,)],
    "bebop": [(2, 2), (2, 2), (1, 1, 2), (-2, 2), (4,), (3, 1)],
    "shred": [(1, 1, 1, 1), (1, 1, 1, 1), (2, 2), (4,)],
    "classical": [(4,), (8,), (2, 2), (6, 2), (4,), (12, 4)],
    "synth": [(2, 2), (1, 1, 2), (4,), (-2, 2), (3, 3, 2)],
    "pop": [(2, 2), (4,), (8,), (-4,), (2, 1, 1)],
}


def _lead_part(song: _Song, style: str) -> list[Event]:
    """Melody events: motif-based phrases with rests between them."""
    rng = song.rng
    ev: list[Event] = []
    if style in ("vocal", "pop", "synth"):
        scale = _pick(
            rng,
            [
                (2, "pent_major" if song.scale == "major" else "pent_minor"),
                (2, song.scale),
                (1, "major"),
            ],
        )
        lo, hi = (55, 74) if style == "vocal" else (62, 84)
    elif style == "rap":
        scale, lo = "pent_minor", int(rng.integers(46, 55))
        hi = lo + 5
    elif style == "blues":
        scale = str(rng.choice(["blues", "pent_minor"]))
        lo, hi = 57, 81
    elif style == "fiddle":
        scale, lo, hi = str(rng.choice(["pent_major", "major"])), 62, 86
    elif style == "shred":
        scale, lo, hi = str(rng.choice(["harmonic", "minor", "phrygian"])), 57, 86
    elif style == "bebop":
        scale, lo, hi = ("dorian" if song.scale == "minor" else "major"), 55, 82
    else:  # classical
        scale, lo, hi = song.scale if song.scale in _SCALES else "major", 62, 88
    if scale not in _SCALES:
        scale = "major"
    notes = _scale_notes(song, scale, lo, hi)
    cells = _CELLS[style]
    phrase_bars = int(rng.choice([1, 2, 2, 4]))
    play_prob = rng.uniform(0.45, 0.85) if style != "classical" else 0.9
    staccato = {"rap": 0.55, "bebop": 0.85, "shred": 0.8, "synth": 0.8}.get(style, 0.95)
    pos = int(rng.integers(len(notes) // 3, 2 * len(notes) // 3 + 1))
    steps_p = np.array([0.1, 0.25, 0.25, 0.15, 0.1, 0.08, 0.07])
    moves = np.array([0, -1, 1, -2, 2, -3, 3])
    if style == "rap":
        steps_p = np.array([0.5, 0.2, 0.2, 0.05, 0.05, 0.0, 0.0])
    spb = song.spb
    motif: list[tuple[int, int, int]] | None = None
    glide_prob = 0.3 if style == "blues" else (0.15 if style == "vocal" else 0.0)
    for ph_start in range(0, song.n_bars, phrase_bars):
        if rng.random() > play_prob:
            continue
        phrase_len = phrase_bars * spb
        if motif is not None and rng.random() < 0.5:
            rhythm = motif
        else:
            rhythm = []
            s = 0
            while s < phrase_len:
                cell = cells[int(rng.integers(len(cells)))]
                for d in cell:
                    if s >= phrase_len:
                        break
                    dd = min(abs(d), phrase_len - s)
                    rhythm.append((s, dd, 1 if d > 0 else 0))
                    s += dd
            if motif is None:
                motif = rhythm
        # Leave a breath at the end of each phrase.
        for s, d, sounding in rhythm[:-1] if len(rhythm) > 2 else rhythm:
            if not sounding:
                continue
            step = ph_start * spb + s
            pos = int(np.clip(pos + rng.choice(moves, p=steps_p), 0, len(notes) - 1))
            m = int(notes[pos])
            if step % 4 == 0 and rng.random() < 0.6:
                root, ivs = song.chord_at(step)
                tones = {(root + i) % 12 for i in ivs}
                if m % 12 not in tones:
                    for delta in (1, -1, 2, -2):
                        if (m + delta) % 12 in tones:
                            m += delta
                            break
            glide = float(rng.choice([1.0, 2.0])) if rng.random() < glide_prob else 0.0
            vel = rng.uniform(0.7, 1.0) * (1.1 if step % 4 == 0 else 0.9)
            ev.append(_ev(song, step, d * staccato, [m], vel, glide=glide, jitter=0.008))
    return ev


# --------------------------------------------------------------------------------------
# Mixing
# --------------------------------------------------------------------------------------


def _comb(x: np.ndarray, d: int, g: float) -> np.ndarray:
    """The feedback comb filter ``y[n] = x[n - d] + g * y[n - d]``.

    The recursion reaches back exactly ``d`` samples, so it runs block by block
    over consecutive blocks of ``d`` samples: a short Python loop of vector ops.
    """
    n = len(x)
    rows = -(-n // d) + 1
    buf = np.zeros(rows * d, dtype=np.float32)
    buf[d : d + n] = x  # the input delayed by d
    m = buf.reshape(rows, d)
    gg = np.float32(g)
    for i in range(1, rows):
        m[i] += gg * m[i - 1]
    return buf[:n]


def _reverb(x: np.ndarray, sr: int, rt60: float, rng: np.random.Generator) -> np.ndarray:
    """A cheap Schroeder-style reverb: four parallel feedback combs, then one allpass."""
    send = _filt("lowpass", x, 3500.0, sr, 1)
    out = np.zeros(len(x), dtype=np.float32)
    for ms in (29.7, 37.1, 41.1, 43.7):
        d = max(1, int(ms * 1e-3 * sr * rng.uniform(0.92, 1.08)))
        out += _comb(send, d, 10.0 ** (-3.0 * d / (rt60 * sr)))
    g = 0.7  # allpass: H(z) = (-g + z^-d) / (1 - g z^-d) = -g + (1 - g^2) z^-d / (1 - g z^-d)
    ap = np.float32(1 - g * g) * _comb(out, max(1, int(0.005 * sr)), g) - np.float32(g) * out
    return 0.25 * ap


def _rms(x: np.ndarray) -> float:
    # numpy's pairwise float64 sum, not BLAS: its result does not depend on thread count.
    return math.sqrt(float(np.sum(np.square(x), dtype=np.float64)) / len(x)) if len(x) else 0.0


def _normalize_rms(x: np.ndarray) -> np.ndarray:
    rms = _rms(x)
    return x * np.float32(1.0 / rms) if rms > 1e-9 else x


def _source(genre: str, part: str, rng: np.random.Generator) -> str:
    """The genre whose distribution a component is drawn from (usually ``genre``)."""
    if part in _NO_BORROW.get(genre, frozenset()) or rng.random() >= BORROW_PROB:
        return genre
    nb = _NEIGHBOURS[genre]
    return nb[int(rng.integers(len(nb)))]


def _render(
    genre: str, rng: np.random.Generator, n: int, sr: int, plan: dict | None = None
) -> np.ndarray:
    """Draw a clip's components, render and mix them; ``plan`` (if given) records the draws."""
    parts = ("tempo", "harmony", "drums", "bass", "comp", "lead", "production")
    src = {p: _source(genre, p, rng) for p in parts}
    bpm, swing = _draw_tempo(src["tempo"], rng)
    beats = 3 if (genre == "classical" and rng.random() < 0.3) else 4
    key, scale, progression = _draw_harmony(src["harmony"], rng, beats)
    prod = _draw_production(src["production"], rng)
    song = _Song(rng, sr, n, bpm, swing, beats, key, scale, progression)
    rend = _Renderer(sr, n, rng)
    mix = np.zeros(n, dtype=np.float32)
    if plan is not None:
        plan.update(sources=src, bpm=bpm, swing=swing, beats=beats, scale=scale, prod=prod)

    dg = src["drums"]
    kick_steps: set[int] | None = None
    if dg in _PATTERNS:  # classical has no drum patterns
        kit = _build_kit(rng, sr, _draw_kit(dg, rng))
        hits, main = _drum_track(song, dg, rng)
        kick_steps = {i for i, c in enumerate(main.get("kick", "")) if c in "Xx"} or None
        drums = _normalize_rms(_render_drums(hits, kit, sr, n, rng))
        level = rng.uniform(0.75, 1.05) * _DRUM_BUS[dg]
        mix += drums * np.float32(level)
        if plan is not None:
            plan["drums"] = main

    tracks: list[tuple[np.ndarray, float]] = []
    bass_style, bass_inst = _pick(rng, _BASS[src["bass"]])
    if bass_style != "none":
        tr = _Track(_INSTRUMENTS[bass_inst], _bass_part(song, bass_style, kick_steps))
        tracks.append((rend.track(tr), rng.uniform(0.55, 0.9)))
    if plan is not None:
        plan["bass"] = (bass_style, bass_inst)

    n_comp = 1 if rng.random() < 0.55 else 2
    for i in range(n_comp):
        cg = src["comp"] if i == 0 else _source(genre, "comp", rng)
        style, inst_name = _pick(rng, _COMP[cg])
        inst = _INSTRUMENTS[inst_name]
        buf = rend.track(_Track(inst, _comp_part(song, style, cg)))
        gain = rng.uniform(0.4, 0.75) / n_comp**0.5
        if inst.distort:
            drive = prod["drive"] if prod["drive"] > 2.0 else rng.uniform(2.0, 6.0)
            buf = _distort(buf, drive, sr)
            gain *= 1.0 + drive / 15.0
        tracks.append((buf, gain))
        if plan is not None:
            plan.setdefault("comp", []).append((style, inst_name))

    lead_style, lead_inst = _pick(rng, _LEAD[src["lead"]])
    if lead_style != "none":
        inst = _INSTRUMENTS[lead_inst]
        events = _lead_part(song, lead_style)
        buf = rend.track(_Track(inst, events, vowel_seed=int(rng.integers(1 << 30))))
        if inst.distort:
            buf = _distort(buf, max(prod["drive"] * 0.7, 3.0), sr)
        tracks.append((buf, rng.uniform(0.45, 0.8)))
    if plan is not None:
        plan["lead"] = (lead_style, lead_inst)

    for buf, gain in tracks:
        mix += _normalize_rms(buf) * np.float32(gain)
    return _master(mix, prod, sr, rng)


def _distort(x: np.ndarray, drive: float, sr: int) -> np.ndarray:
    """Overdrive: waveshaping, then a guitar-cabinet low-pass."""
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak <= 0.0:
        return x
    y = _tanh(x * np.float32(drive / peak))
    return _filt("lowpass", y, 4500.0, sr)


def _master(mix: np.ndarray, prod: dict[str, float], sr: int, rng) -> np.ndarray:
    n = len(mix)
    mix = _normalize_rms(mix)
    if prod["reverb"] > 0:
        mix = mix + np.float32(prod["reverb"] * 2.0) * _reverb(mix, sr, prod["rt60"], rng)
    mix = _filt("lowpass", mix, prod["lowpass"], sr)
    if prod["lofi"]:
        mix = _filt("highpass", mix, 90.0, sr, 1)
    if prod["swell"] > 0:
        hop = max(1, sr // 20)
        n_ctrl = n // hop + 2
        period = rng.uniform(4.0, 12.0) * 20
        curve = 1.0 + prod["swell"] * _sin(
            2 * np.pi * np.arange(n_ctrl) / period + rng.uniform(0, 2 * np.pi)
        )
        mix *= np.repeat(curve.astype(np.float32), hop)[:n]
    mix = _normalize_rms(mix)
    if prod["saturate"] > 0:
        # The drive grows from 0: 0.25 + saturate made any saturation a hard knee at 4x
        # the RMS, and classical, the one genre without it, stood out by its crest factor.
        drive = np.float32(prod["saturate"])
        mix = _tanh(mix * drive) / drive
        mix = _normalize_rms(mix)
    # Notes starting in sine phase and waveshaped lopsided waves leave a DC offset and
    # energy below 20 Hz (4% of the RMS in metal) that no real master keeps.
    mix = _filt("highpass", mix, 25.0, sr, 2)
    noise_len = min(n, sr)
    hiss = rng.standard_normal(noise_len).astype(np.float32)
    if prod["lofi"]:
        hiss[rng.random(noise_len) < 0.0008] *= 40.0  # vinyl crackle
    mix += np.float32(10 ** (prod["noise_db"] / 20)) * np.resize(hiss, n)
    target = 10 ** (rng.uniform(-24.0, -13.0) / 20)
    mix *= np.float32(target / max(_rms(mix), 1e-9))
    peak = float(np.max(np.abs(mix)))
    if peak > 0.99:
        mix *= np.float32(0.99 / peak)
    return mix.astype(np.float32)


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def _check_genre(genre: str) -> int:
    if genre not in GENRES:
        raise ValueError(f"unknown genre {genre!r}; expected one of {', '.join(GENRES)}")
    return GENRES.index(genre)


def _check_index(index: int) -> int:
    if isinstance(index, bool) or not isinstance(index, int | np.integer) or index < 0:
        raise ValueError(f"index must be a non-negative integer, got {index!r}")
    return int(index)


def _check_args(genre: str, index: int, seed: int, duration: float, sr: int) -> tuple[int, int]:
    g = _check_genre(genre)
    idx = _check_index(index)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if (
        isinstance(sr, bool)
        or not isinstance(sr, int | np.integer)
        or not (_MIN_SR <= sr <= _MAX_SR)
    ):
        raise ValueError(f"sr must be an integer between {_MIN_SR} and {_MAX_SR}, got {sr!r}")
    try:
        dur = float(duration)
    except (TypeError, ValueError):
        raise ValueError(
            f"duration must be a positive number of seconds, got {duration!r}"
        ) from None
    if not math.isfinite(dur) or dur <= 0:
        raise ValueError(f"duration must be a positive number of seconds, got {duration!r}")
    n = int(round(dur * sr))
    if n < 1:
        raise ValueError(f"duration {duration!r} s is shorter than one sample at {sr} Hz")
    return g, idx


def synthesize_clip(
    genre: str, index: int, *, seed: int = 0, duration: float = 30.0, sr: int = SAMPLE_RATE
) -> np.ndarray:
    """Synthesize one clip of ``genre``.

    Parameters
    ----------
    genre : str
        One of :data:`genrepipe.GENRES`.
    index : int
        Clip number within the genre (non-negative).
    seed : int, default 0
        Dataset seed (non-negative); different seeds give different datasets.
    duration : float, default 30.0
        Length in seconds (positive); the clip has ``round(duration * sr)`` samples.
    sr : int, default :data:`genrepipe.SAMPLE_RATE`
        Sample rate in Hz, between 8000 and 192000.

    Returns
    -------
    numpy.ndarray
        Mono float32 waveform in [-1, 1]. It is a deterministic function of
        ``(genre, index, seed, duration, sr)``, independent of any other clip.

    Raises
    ------
    ValueError
        If an argument is out of range; the message names the bad value.
    """
    g, idx = _check_args(genre, index, seed, duration, sr)
    sr = int(sr)
    n = int(round(float(duration) * sr))
    rng = np.random.default_rng([int(seed), g, idx])
    y = _render(genre, rng, n, sr)
    return np.clip(y, -1.0, 1.0).astype(np.float32, copy=False)


def clip_filename(genre: str, index: int) -> str:
    """GTZAN-style file name of a clip, e.g. ``clip_filename("blues", 3) == "blues.00003.wav"``.

    Raises
    ------
    ValueError
        If ``genre`` is unknown or ``index`` is negative, greater than 99999 or not
        an integer.
    """
    _check_genre(genre)
    idx = _check_index(index)
    if idx > 99999:
        raise ValueError(f"index {index!r} does not fit the 5-digit GTZAN file name")
    return f"{genre}.{idx:05d}.wav"


def write_clip(
    path: str | os.PathLike,
    genre: str,
    index: int,
    *,
    seed: int = 0,
    duration: float = 30.0,
    sr: int = SAMPLE_RATE,
) -> None:
    """Synthesize one clip and write it atomically as a mono 16-bit PCM WAV file.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; parent directories are created. A reader never sees a
        half-written file (the clip is written to a temporary file, then renamed).
    genre, index, seed, duration, sr
        As for :func:`synthesize_clip`.
    """
    y = synthesize_clip(genre, index, seed=seed, duration=duration, sr=sr)
    with atomic_path(path) as tmp:
        sf.write(tmp, y, int(sr), subtype="PCM_16", format="WAV")


def write_dataset(
    root: str | os.PathLike,
    *,
    n_per_genre: int,
    duration: float,
    seed: int,
    sr: int = SAMPLE_RATE,
    genres: Iterable[str] = GENRES,
) -> list[Path]:
    """Write a GTZAN-shaped dataset: ``root/genres/<genre>/<genre>.000NN.wav``.

    Parameters
    ----------
    root : str or os.PathLike
        Dataset root; the clips go under ``root/genres``.
    n_per_genre : int
        Clips per genre (positive), indices ``0 .. n_per_genre - 1``.
    duration : float
        Clip length in seconds.
    seed : int
        Dataset seed.
    sr : int, default :data:`genrepipe.SAMPLE_RATE`
        Sample rate in Hz.
    genres : iterable of str, default :data:`genrepipe.GENRES`
        Which genres to write (a subset gives the same clips as the full set).

    Returns
    -------
    list of pathlib.Path
        The written files, genre by genre in the order of ``genres``, then by index.
    """
    if (
        isinstance(n_per_genre, bool)
        or not isinstance(n_per_genre, int | np.integer)
        or (n_per_genre < 1)
    ):
        raise ValueError(f"n_per_genre must be a positive integer, got {n_per_genre!r}")
    genres = [genres] if isinstance(genres, str) else list(genres)
    if not genres:
        raise ValueError("genres must name at least one genre, got an empty list")
    for genre in genres:
        _check_genre(genre)
    if len(set(genres)) != len(genres):
        raise ValueError(f"genres contains duplicates: {genres!r}")
    _check_args(genres[0], 0, seed, duration, sr)
    base = Path(root) / "genres"
    paths: list[Path] = []
    for genre in genres:
        for i in range(int(n_per_genre)):
            path = base / genre / clip_filename(genre, i)
            write_clip(path, genre, i, seed=seed, duration=duration, sr=sr)
            paths.append(path)
    return paths
