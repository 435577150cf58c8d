"""Classify your own audio with a trained model: ``genrepipe-predict``.

::

    genrepipe-predict MODEL_DIR PATH [PATH ...]

``MODEL_DIR`` is a model bundle (``results/final/<model>/model``, or its parent
``results/final/<model>``, or a fold's ``results/models/.../model``); an
ensemble's bundle holds its members' bundles, whose probabilities are averaged
(:class:`EnsembleClassifier`). ``PATH``
is an audio file or a folder searched recursively for audio files
(:data:`AUDIO_SUFFIXES`: ``.wav``, ``.au``, ``.flac``, ``.ogg``, ``.mp3``, ``.aiff``,
``.aif``, ``.caf``). Files of any length, sample rate and
channel count are read with :func:`genrepipe.audio.load_audio` (resampled to the
model's rate, stereo averaged to mono).

Features are computed exactly as in training: the feature set and its settings
come from the bundle's ``card.json`` and go through
:func:`genrepipe.features.extract`, then the bundle's fitted transform
(flattened first for ``pca``/``scaled`` inputs; the per-row standardizer on the
3-D array for ``image`` inputs) and its estimator. Segmented feature sets
(``segment_stats``) are classified window by window and voted as in training.

How a file becomes one answer
-----------------------------
A clip up to 1.5 times as long as the training clips (``clip_seconds`` in the
card: the median training duration; for a fold bundle, the median duration in its
run's ``results/tracks.tsv``; for a bundle without either, the length of the fixed
frame count of ``seed87``/``logmel``/``mfcc``, else 30 s; never more than the training
``max_duration``) is read as training read its clips: cropped to the training
``max_duration``; ``seed87`` then keeps its first ``n_frames`` frames (32.5 s with
the defaults at 22050 Hz), so the rest of a longer file would go unheard. A longer
file is therefore cut into consecutive windows of ``clip_seconds`` (one more aligned
to the end of the file when at least a quarter of a window is left over), each
classified like a training clip, and the window probabilities are averaged
(``--long average``, the default): the answer reflects the whole file, and one
unusual passage cannot veto the rest. ``--long first`` classifies only the
beginning, exactly as training would have read the file.

``--timeline`` classifies windows of ``--window`` seconds every ``--hop`` seconds
instead. Windows shorter than the training clips are padded by ``seed87``, ``mfcc`` and
``logmel`` to their fixed frame count, something the model never saw in
training: a warning says so, and ``--window`` equal to the clip length avoids it.
A window CNN (and an SVM or GMM on its embeddings) votes over the windows of the audio
alone instead, its padding left out (shorter than one of its windows, a window holds
some: a warning says so).
Longer windows warn as well (fixed frame counts leave the rest unheard; whole-clip
statistics leave the training range); a window too short for the features (one
``n_fft``, one ``segment_stats`` window) is a usage error, said before any file is read.
A file silent in the audio classified (peak under -60 dBFS; a long file read as in
training, its first ``max_duration`` seconds) is answered, and named in one warning.
Files shorter than half a training clip are answered, with one warning naming them:
the answer rests on less audio than any the model learned from. So are files sampled
below the model's rate: they hold no sound above half their own rate.
A model trained on the workflow's generated dataset (its model card, beside the
bundle, says ``dataset.kind: synthetic``; for a fold bundle, its run's summary)
knows synthesized music only: a warning says so too.

Exit status: 0 when every file got an answer, 1 when any file failed (each
failure is one line on stderr naming the file), 2 for usage errors (a missing
or unreadable model bundle, bad options), 74 when the answers could not be
written (a full disk), 130 when interrupted (Ctrl-C), after
the answers so far (with ``--format json``, a document holding them and
``"interrupted": true``), 141 when the reader of stdout stops reading (``| head``),
quietly, as other command-line tools do.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import errno
import io
import json
import math
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genrepipe import SAMPLE_RATE
from genrepipe.dataset import AUDIO_EXTENSIONS
from genrepipe.io import reader_gone, stdout_closed_by_reader, tolerate_unprintable

__all__ = [
    "AUDIO_SUFFIXES",
    "BundleError",
    "Classifier",
    "FilePrediction",
    "find_audio",
    "main",
    "window_spans",
]

#: Extensions searched for in folders (case-insensitive): those of a dataset's clips.
AUDIO_SUFFIXES: tuple[str, ...] = AUDIO_EXTENSIONS
#: Files longer than this many training clips are averaged over clip-length windows.
LONG_FILE_FACTOR = 1.5
#: Files shorter than this fraction of the training clips get a warning: the model
#: never learned from so little audio (training refuses clips under ``min_duration``).
SHORT_FILE_FACTOR = 0.5
#: ``--timeline``'s window length when ``--window`` is not given.
DEFAULT_WINDOW_SECONDS = 10.0
#: The shortest ``--hop``: closer windows repeat each other's features, frame for frame.
MIN_HOP_SECONDS = 0.05
#: Peak amplitude under which a file counts as silent (-60 dBFS): its answer says
#: nothing about genre, whatever probability the model gives it.
SILENT_PEAK = 10 ** (-60 / 20)
#: Assumed training clip length (GTZAN's 30 s) when neither the card nor, for a fold
#: bundle, its run's ``results/tracks.tsv`` says and the features have no fixed frame
#: count; capped at ``max_duration`` like any clip length.
DEFAULT_CLIP_SECONDS = 30.0
#: Seconds the --jobs workers, sent SIGTERM together, are given to end before SIGKILL.
_WORKER_STOP_SECONDS = 10.0
_PROG = "genrepipe-predict"


class BundleError(ValueError):
    """A model folder that cannot be used: missing, incomplete or refused."""


@dataclass
class FilePrediction:
    """The answer for one file.

    Attributes
    ----------
    path
        The file, as found.
    duration
        Its length in seconds.
    proba
        Class probabilities, in the order of the classifier's ``classes``.
    spans
        ``(start, end)`` seconds of the windows whose probabilities were averaged
        into ``proba`` (one span for a normal clip).
    timeline
        With ``--timeline``: the probabilities of each window, same order as ``spans``.
    peak
        The largest absolute sample value in ``spans``, the audio classified (1.0 is
        full scale); under :data:`SILENT_PEAK` the file is :attr:`silent`.
    file_sample_rate
        The sample rate the file holds (the audio was resampled to the model's).
    """

    path: Path
    duration: float
    proba: np.ndarray
    spans: list[tuple[float, float]]
    timeline: np.ndarray | None = field(default=None)
    peak: float = 1.0
    file_sample_rate: int | None = None

    @property
    def silent(self) -> bool:
        """Whether the audio classified holds no audible sound (peak under -60 dBFS)."""
        return self.peak < SILENT_PEAK


def _peak(y: np.ndarray, spans: Sequence[tuple[int, int]]) -> float:
    """The largest absolute sample inside ``spans`` (no ``|y|`` copy of an hour of audio)."""
    peaks = [max(float(y[a:b].max()), -float(y[a:b].min())) for a, b in spans if b > a]
    return max(peaks, default=0.0)


def window_spans(n_samples: int, sr: int, window: float, hop: float) -> list[tuple[int, int]]:
    """Sample ranges of windows of ``window`` seconds every ``hop`` seconds covering a signal.

    Windows start at 0, ``hop``, ``2 hop``, ... while they fit; when the last
    one stops at least a quarter of a hop short of the end, one more window is
    aligned to the end, so the end is covered and every window has the full
    length. A shorter tail is left out: a window for it would repeat the one
    before almost sample for sample (a 90.03 s medley of three GTZAN clips
    would count its last 30 s twice in the average). A signal shorter than one
    window gives one window: the whole signal.

    Parameters
    ----------
    n_samples
        Length of the signal in samples.
    sr
        Its sample rate.
    window, hop
        Window length and hop in seconds (positive).

    Returns
    -------
    list of (start, stop)
        Sample indices, ``stop`` exclusive.
    """
    if not window > 0 or not hop > 0:
        raise ValueError(f"window and hop must be positive seconds, got {window} and {hop}")
    length = max(1, int(round(window * sr)))
    step = max(1, int(round(hop * sr)))
    if n_samples <= length:
        return [(0, n_samples)]
    starts = list(range(0, n_samples - length + 1, step))
    if n_samples - (starts[-1] + length) >= step / 4:
        starts.append(n_samples - length)
    return [(start, start + length) for start in starts]


class Classifier:
    """A loaded model bundle that turns waveforms into genre probabilities.

    Parameters
    ----------
    folder
        The bundle folder (``transform.skops``, the estimator, ``card.json``).
    transform, model, card
        As returned by :func:`genrepipe.bundle.load_bundle`.
    quiet_native
        Send what native libraries (TensorFlow's C++ start-up lines) write to
        file descriptor 2 to ``/dev/null`` while a Keras model loads and predicts,
        so a command's stderr holds only its own messages.
    """

    def __init__(
        self,
        folder: Path,
        transform: Any,
        model: Any,
        card: dict[str, Any],
        *,
        quiet_native: bool = False,
    ) -> None:
        self.folder = folder
        self.transform = transform
        self.model = model
        self.card = card
        self.quiet_native = quiet_native and _is_keras(folder)
        self.quiet_decoders = quiet_native
        self.classes: list[str] = [str(c) for c in card["classes"]]
        model_classes = [str(c) for c in getattr(model, "classes_", self.classes)]
        if model_classes != self.classes:
            raise BundleError(
                f"{folder}: card.json lists classes {self.classes}, the estimator {model_classes}"
            )
        from genrepipe.config import FEATURE_DEFAULTS

        self.feature_set: str = card["features"]
        if self.feature_set not in FEATURE_DEFAULTS:
            raise BundleError(f"{folder / 'card.json'}: unknown feature set {self.feature_set!r}")
        settings = card.get("feature_settings") or {}
        if not isinstance(settings, dict):
            raise BundleError(f"{folder / 'card.json'}: feature_settings is not a mapping")
        self.feature_settings: dict[str, Any] = dict(settings)
        self.input: str = card["input"]
        self._check_feature_count(folder)
        self.sample_rate: int = (
            _card_number(folder, card, "sample_rate", integer=True) or SAMPLE_RATE
        )
        self.max_duration: float | None = _card_number(folder, card, "max_duration")
        # Fold cards record no clip length: their run's track list gives it, which a
        # later run on longer clips may have rewritten.
        clip = _card_number(folder, card, "clip_seconds") or _fold_clip_seconds(folder)
        if clip is None:
            clip = self._frames_seconds()
        if self.max_duration is not None:
            clip = min(clip, self.max_duration)  # no clip was read longer than that
        self.clip_seconds: float = clip

    @classmethod
    def load(cls, model_dir: str | Path, *, quiet_native: bool = False) -> Classifier:
        """Load a bundle folder, or the folder holding it as ``model/``.

        ``quiet_native``: see the class; also applies while the bundle loads, and
        while audio files decode (mpg123 writes its notes on a damaged mp3 there).

        Raises
        ------
        BundleError
            Naming the folder, when it is missing, not a bundle, or refused
            (a skops file with types outside the allow-list).
        """
        from genrepipe.bundle import load_bundle
        from genrepipe.models import UntrustedModelError

        folder = Path(model_dir)
        try:  # pathlib raises where it cannot look: a folder on the way not ours, a long name
            is_file, is_dir = folder.is_file(), folder.is_dir()
        except OSError as error:
            raise BundleError(f"{folder}: cannot be read ({error.strerror or error})") from None
        if is_file:
            raise BundleError(
                f"{folder}: a file, not a model folder (the model folder comes first, "
                "then the audio files)"
            )
        if not is_dir:
            raise BundleError(
                f"{folder}: {_broken_link(folder, 'folder') or 'no such model folder'}"
            )
        is_bundle = (folder / "transform.skops").is_file() or (folder / "members").is_dir()
        if not is_bundle and (folder / "model").is_dir():
            folder = folder / "model"
        elif _is_model_card(folder):
            # results/final/<model>/ whose model/ a failed retraining removed.
            raise BundleError(
                f"{folder / 'model'}: no such bundle ({folder / 'card.json'} is the model "
                "card of a final model whose bundle is gone, as when its retraining failed); "
                "rerun the workflow to rebuild it"
            )
        if not (folder / "card.json").is_file():
            bundles = sorted(
                sub if (sub / "card.json").is_file() else sub / "model"
                for sub in folder.iterdir()
                if (sub / "card.json").is_file() or (sub / "model" / "card.json").is_file()
            )
            inside = [bundle.relative_to(folder).parts[0] for bundle in bundles]
            if not bundles:  # results/models/<model>: <scheme>/fold<k>/model/ hold the bundles
                bundles = [card.parent for card in sorted(folder.glob("*/*/model/card.json"))]
                inside = [f"{b.parent.parent.name}/{b.parent.name}" for b in bundles]
            # An ensemble's <model>/<scheme>/ or <model>/: only folds it cannot classify with.
            if bundles and all(_is_fold_ensemble(bundle) for bundle in bundles):
                run = _fold_run(bundles[0])
                raise _fold_ensemble_error(folder, run[1] if run else folder.resolve().name)
            hint = f"; it holds the bundles {', '.join(inside)}: pass one" if inside else ""
            # results/models: every model's folds, one level further down.
            models = sorted({card.parts[-5] for card in folder.glob("*/*/*/model/card.json")})
            if not inside and models:
                hint = (
                    f"; it holds the fold bundles of {', '.join(models)}: pass a final model "
                    "(results/final/<model>) or one fold (<model>/<scheme>/fold<k>)"
                )
            if not inside and any(
                f.suffix.lower() in AUDIO_SUFFIXES for f in folder.iterdir() if f.is_file()
            ):
                hint = "; it holds audio files: the model folder comes first, then the audio"
            raise BundleError(f"{folder}: not a model bundle (no card.json){hint}")
        if _card_estimator(folder) == "ensemble":
            if not (folder / "members").is_dir():
                if run := _fold_run(folder):
                    raise _fold_ensemble_error(folder, run[1])
                raise BundleError(
                    f"{folder / 'members'}: no such folder: an ensemble bundle holds its "
                    "members' bundles there; rerun the workflow to rebuild it"
                )
            return EnsembleClassifier.load(folder, quiet_native=quiet_native)
        try:
            with _native_stderr_silenced(quiet_native and _is_keras(folder)):
                transform, model, card = load_bundle(folder)
        except json.JSONDecodeError as error:
            raise BundleError(f"{folder / 'card.json'}: not valid JSON ({error})") from None
        # OSError: a file gone, a folder in a file's place, one without read permission.
        except (OSError, UntrustedModelError, ValueError, TypeError, KeyError) as error:
            raise BundleError(_one_line(f"{folder}: not a usable model bundle: {error}")) from None
        for key in ("features", "input", "classes"):
            if key not in card:
                raise BundleError(f"{folder / 'card.json'}: missing key {key!r}")
        try:
            return cls(folder, transform, model, card, quiet_native=quiet_native)
        except BundleError:
            raise
        # A card edited by hand or damaged: "classes": 5, "features": ["seed87"], ...
        except (TypeError, ValueError, KeyError) as error:
            raise BundleError(
                _one_line(f"{folder / 'card.json'}: not a usable model card ({error!r})")
            ) from None

    def _check_feature_count(self, folder: Path) -> None:
        """The card's feature settings must be ones this genrepipe knows, and give the
        values (or matrix rows, and the reference CNN's frames) that the transform and
        model were fitted on: else every file fails alike, each blamed on the audio (a
        bundle of a genrepipe whose features had another layout, a card edited by hand)."""
        from genrepipe.config import feature_dimension, feature_rows
        from genrepipe.features import FEATURE_SETS, _keyword_params

        stale = (
            "the bundle was written by a genrepipe whose features differ, or its card was "
            "edited; retrain it"
        )
        accepted = _keyword_params(FEATURE_SETS[self.feature_set])
        if unknown := sorted(set(self.feature_settings) - accepted):
            raise BundleError(
                f"{folder / 'card.json'}: {self.feature_set} settings {unknown} are unknown to "
                f"this genrepipe (it knows {sorted(accepted)}): {stale}"
            )
        settings = {"features": {self.feature_set: self.feature_settings}}
        try:
            expected = feature_dimension(settings, self.feature_set)
            rows = feature_rows(settings, self.feature_set)
            frames = self.n_frames
        except (KeyError, TypeError, ValueError):
            return  # values the feature function refuses: said on the first file
        transform = self.transform
        checks = [
            ("values a row", expected, "transform", getattr(transform, "n_features_in_", None)),
            ("matrix rows", rows, "transform", getattr(transform, "n_rows_", None)),
        ]
        shape = getattr(self.model, "input_shape_", None)
        if self.card.get("estimator") == "cnn" and shape:  # it reads the whole matrix
            checks.append(("frames", frames, "model", shape[1]))
        for what, expected, part, fitted in checks:
            if fitted is not None and expected is not None and int(fitted) != expected:
                raise BundleError(
                    f"{folder}: card.json's {self.feature_set} settings give {expected} "
                    f"{what}, but its {part} was fitted on {int(fitted)}: {stale}"
                )

    @property
    def n_frames(self) -> int | None:
        """The fixed frame count of the feature set (seed87 always has one), or None."""
        from genrepipe.config import MATRIX_FEATURE_SETS  # cropped or padded to n_frames

        if self.feature_set not in MATRIX_FEATURE_SETS:
            return None
        default = 1400 if self.feature_set == "seed87" else None
        n_frames = self.feature_settings.get("n_frames", default)
        return None if n_frames is None else int(n_frames)

    @property
    def pads_short_windows(self) -> bool:
        """Whether windows shorter than a training clip get padded features.

        A window CNN (and a head on its embeddings) votes over the windows of the audio
        itself: it finds where the padding starts (:func:`genrepipe.windows.audio_frames`).
        """
        return self.n_frames is not None and self.voted_window_frames is None

    @property
    def voted_window_seconds(self) -> float | None:
        """Seconds of audio in one window a window CNN votes over, or None."""
        if self.voted_window_frames is None:
            return None
        hop = self.feature_settings.get("hop_length", 512)
        return self.voted_window_frames * hop / self.sample_rate

    @property
    def voted_window_frames(self) -> int | None:
        """Frames of the windows a window CNN, or a head on its embeddings, votes over."""
        network = getattr(self.model, "cnn_", self.model)  # a cnn_svm / cnn_gmm head's CNN
        frames = getattr(network, "window_frames", None)
        return None if frames is None else int(frames)

    @property
    def summarizes_clips(self) -> bool:
        """Whether the features are statistics of a whole clip (``stats``, ``rich``: every
        set of vectors, neither a matrix nor windows), whose values shift with the clip's
        length (the mean of MFCC deltas, tempo, spreads)."""
        from genrepipe.config import MATRIX_FEATURE_SETS, SEGMENT_FEATURE_SETS

        return self.feature_set not in (*MATRIX_FEATURE_SETS, *SEGMENT_FEATURE_SETS)

    @property
    def heard_seconds(self) -> float | None:
        """Seconds of audio the features take in however long it is, or None where they
        take it all: a fixed frame count's, or the ``segment_stats`` windows spread over it."""
        if self.n_frames is not None:
            return self._frames_seconds()
        if self.feature_set == "segment_stats":
            settings = self.feature_settings
            return int(settings.get("n_windows", 10)) * float(settings.get("window", 3.0))
        return None

    def hearing(self) -> str:
        """How the features take in audio, for a warning about what goes unheard."""
        if self.n_frames is not None:
            return "keep a fixed frame count"
        settings = self.feature_settings
        return (
            f"take {int(settings.get('n_windows', 10))} windows of "
            f"{float(settings.get('window', 3.0)):g} s spread over it"
        )

    def _frames_seconds(self) -> float:
        """Length of the fixed frame count of seed87/logmel/mfcc, else 30 s."""
        if self.n_frames is None:
            return DEFAULT_CLIP_SECONDS
        hop = self.feature_settings.get("hop_length", 512)
        return self.n_frames * hop / self.sample_rate

    # -- features and probabilities ------------------------------------------------------------

    def features(self, y: np.ndarray) -> np.ndarray:
        """The bundle's feature set of one waveform (at :attr:`sample_rate`), as in training."""
        from genrepipe.features import extract

        return extract(self.feature_set, y, self.sample_rate, self.feature_settings)

    def predict_features(self, F: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n_clips, n_classes)`` of stacked per-clip features."""
        from genrepipe.config import SEGMENT_FEATURE_SETS
        from genrepipe.segments import expand_windows, vote

        F = np.asarray(F, dtype=np.float32)
        if self.feature_set in SEGMENT_FEATURE_SETS and self.input != "image":
            windows, groups = expand_windows(F)
            proba = self._model_proba(self.model_input(windows))
            return vote(proba, groups, len(F), self.card.get("vote") or "mean_log_proba")
        return self._model_proba(self.model_input(F))

    def model_input(self, F: np.ndarray) -> np.ndarray:
        """What the estimator reads for stacked per-clip (or per-window) features: the
        bundle's fitted transform of them, as in training."""
        from genrepipe.preprocess import flatten

        F = np.asarray(F, dtype=np.float32)
        if self.input == "image":
            return self.transform.transform(F)
        # Training stored the transformed features as float32: the model saw those.
        return self.transform.transform(flatten(F)).astype(np.float32)

    def _model_proba(self, Z: np.ndarray) -> np.ndarray:
        with _native_stderr_silenced(self.quiet_native):
            return self.model.predict_proba(Z)

    def predict_spans(
        self,
        y: np.ndarray,
        spans: Sequence[tuple[int, int]],
        on_window: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Probabilities of each ``(start, stop)`` sample range of ``y``.

        ``on_window(done, total)`` is called after each window's features.
        """
        F = _span_features(self.features, y, spans, on_window)
        return np.asarray(self.predict_features(F), dtype=np.float64)

    def classify(
        self,
        y: np.ndarray,
        *,
        long: str = "average",
        on_window: Callable[[int, int], None] | None = None,
    ) -> tuple[np.ndarray, list]:
        """Probabilities of a whole waveform, and the sample spans they come from.

        A waveform up to :data:`LONG_FILE_FACTOR` training clips long is read as
        in training (cropped to ``max_duration``); a longer one, with
        ``long="average"``, is the mean of the probabilities of consecutive
        clip-length windows. ``long="first"`` always reads it as in training.
        ``on_window``: see :meth:`predict_spans`.
        """
        if long not in ("average", "first"):
            raise ValueError(f"long must be 'average' or 'first', got {long!r}")
        duration = len(y) / self.sample_rate
        if long == "average" and duration > LONG_FILE_FACTOR * self.clip_seconds:
            spans = window_spans(len(y), self.sample_rate, self.clip_seconds, self.clip_seconds)
        else:
            stop = len(y)
            if self.max_duration is not None:
                stop = min(stop, int(math.ceil(self.max_duration * self.sample_rate)))
            spans = [(0, stop)]
        proba = self.predict_spans(y, spans, on_window)
        return proba.mean(axis=0), spans

    def predict_file(
        self,
        path: str | Path,
        *,
        long: str = "average",
        timeline: tuple[float, float] | None = None,
        on_window: Callable[[int, int], None] | None = None,
    ) -> FilePrediction:
        """Read one audio file and classify it (or each of its windows, with ``timeline``).

        Parameters
        ----------
        path
            Any audio file :func:`genrepipe.audio.load_audio` reads.
        long
            How a file much longer than the training clips is classified (see :meth:`classify`).
        timeline
            ``(window, hop)`` in seconds: classify each window; the file's
            probabilities are then the mean over windows.
        on_window
            ``on_window(done, total)`` after each window's features: a long
            file's progress (see :meth:`predict_spans`).

        Raises
        ------
        genrepipe.audio.AudioError
            When the file cannot be read (the message names it).
        ValueError
            When its features cannot be computed (e.g. a clip shorter than one
            analysis frame); the message names the file.
        """
        from genrepipe.audio import load_audio_and_rate

        path = Path(path)
        with _native_stderr_silenced(self.quiet_decoders):
            y, file_sample_rate = load_audio_and_rate(path, sr=self.sample_rate)
        sr = self.sample_rate
        try:
            if timeline is None:
                proba, spans = self.classify(y, long=long, on_window=on_window)
                windows = None
            else:
                spans = window_spans(len(y), sr, *timeline)
                windows = self.predict_spans(y, spans, on_window)
                proba = windows.mean(axis=0)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        return FilePrediction(
            path=path,
            duration=len(y) / sr,
            proba=proba,
            spans=[(start / sr, stop / sr) for start, stop in spans],
            timeline=windows,
            # Of what was classified: a long file's first clip alone may be silence.
            peak=_peak(y, spans),
            file_sample_rate=file_sample_rate,
        )

    def top(self, proba: np.ndarray, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable classes with their probabilities, most probable first."""
        order = np.argsort(-np.asarray(proba), kind="stable")[:k]
        return [(self.classes[i], float(proba[i])) for i in order]


class EnsembleClassifier(Classifier):
    """A soft-voting ensemble's bundle: the mean of its members' probabilities.

    Each member's features are computed from the waveform exactly as its own
    bundle would compute them (once for members sharing a feature set); the
    answer is the equal-weight mean of the members' probabilities, as the
    workflow's ``ensemble`` models compute it per fold.
    """

    def __init__(self, folder: Path, members: list[Classifier], card: dict[str, Any]) -> None:
        self.folder, self.members, self.card = folder, members, card
        first = members[0]
        for member in members[1:]:
            for attribute in ("classes", "sample_rate", "max_duration"):
                if getattr(member, attribute) != getattr(first, attribute):
                    raise BundleError(
                        f"{folder}: members {first.folder.name} and {member.folder.name} "
                        f"differ in {attribute}"
                    )
        self.classes = first.classes
        self.sample_rate, self.max_duration = first.sample_rate, first.max_duration
        self.clip_seconds = max(member.clip_seconds for member in members)
        self.feature_set = "+".join(dict.fromkeys(member.feature_set for member in members))
        self.quiet_native = any(member.quiet_native for member in members)
        self.quiet_decoders = any(member.quiet_decoders for member in members)

    @classmethod
    def load(cls, model_dir: str | Path, *, quiet_native: bool = False) -> EnsembleClassifier:
        folder = Path(model_dir)
        card = json.loads(
            (folder / "card.json").read_text(encoding="utf-8")
        )  # read by Classifier.load
        names = card.get("members")
        if not names:
            raise BundleError(f"{folder / 'card.json'}: an ensemble without members")
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise BundleError(f"{folder / 'card.json'}: members is not a list of model names")
        members = []
        for name in names:
            member = folder / "members" / name
            if not member.is_dir():
                raise BundleError(f"{folder}: member bundle {member} is missing")
            members.append(Classifier.load(member, quiet_native=quiet_native))
        return cls(folder, members, card)

    @property
    def pads_short_windows(self) -> bool:
        return any(member.pads_short_windows for member in self.members)

    @property
    def summarizes_clips(self) -> bool:
        return any(member.summarizes_clips for member in self.members)

    def predict_spans(
        self,
        y: np.ndarray,
        spans: Sequence[tuple[int, int]],
        on_window: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """The mean over members of their probabilities of each sample range.

        Members reading the same feature set with the same settings (``gmm`` and
        ``svm`` on ``seed87``) share one computation of it. ``on_window(done,
        total)`` counts windows over the feature sets computed.
        """
        keys = [
            json.dumps([member.feature_set, member.feature_settings], sort_keys=True)
            for member in self.members
        ]
        distinct = list(dict.fromkeys(keys))
        features: dict[str, np.ndarray] = {}
        probas = []
        for key, member in zip(keys, self.members, strict=True):
            if key not in features:
                progress = None
                if on_window is not None:
                    offset, total = distinct.index(key) * len(spans), len(distinct) * len(spans)

                    def progress(done, _, offset=offset, total=total):
                        on_window(offset + done, total)

                features[key] = _span_features(member.features, y, spans, progress)
            probas.append(np.asarray(member.predict_features(features[key]), dtype=np.float64))
        return np.mean(probas, axis=0)


def _span_features(
    features: Callable[[np.ndarray], np.ndarray],
    y: np.ndarray,
    spans: Sequence[tuple[int, int]],
    on_window: Callable[[int, int], None] | None,
) -> np.ndarray:
    """``features`` of each ``(start, stop)`` range of ``y``, stacked; ``on_window`` after each."""
    rows = []
    for done, (start, stop) in enumerate(spans, start=1):
        rows.append(features(y[start:stop]))
        if on_window is not None:
            on_window(done, len(spans))
    return np.stack(rows)


def _training_dataset(folder: Path) -> dict[str, Any]:
    """The dataset settings of the run that trained a bundle, or ``{}``.

    ``write_model_card`` puts ``results/final/<model>/card.json`` next to the
    final bundle it names (``"bundle": "model"``). Fold bundles have no model
    card: for ``results/models/<model>/<scheme>/<fold>/model`` the kind comes from
    the model's row of that run's ``results/summary.csv``.
    """
    folder = folder.resolve()  # given as `.`, or through a link, its parent is elsewhere
    try:
        card = json.loads((folder.parent / "card.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _fold_dataset(folder)
    if not isinstance(card, dict) or card.get("bundle") != folder.name:
        return {}
    dataset = card.get("dataset")
    return dict(dataset) if isinstance(dataset, dict) else {}


def _card_number(
    folder: Path, card: dict[str, Any], key: str, *, integer: bool = False
) -> float | None:
    """A positive number of a bundle's card, or None where the card has none."""
    value = card.get(key)
    if value is None:
        return None
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or not math.isfinite(value) or value <= 0:
        raise BundleError(f"{folder / 'card.json'}: {key} is not a positive number: {value!r}")
    if integer:
        if not float(value).is_integer():
            raise BundleError(f"{folder / 'card.json'}: {key} is not a whole number: {value!r}")
        return int(value)
    return float(value)


def _fold_run(folder: Path) -> tuple[Path, str, str] | None:
    """``(results folder, model, scheme)`` of a fold bundle
    ``results/models/<model>/<scheme>/<fold>/model``, or None for another folder."""
    parts = folder.resolve().parts  # "." or a link of another name: the folder itself
    if len(parts) < 6 or parts[-5] != "models" or parts[-1] != "model":
        return None
    return Path(*parts[:-5]), parts[-4], parts[-3]


def _fold_clip_seconds(folder: Path) -> float | None:
    """For a fold bundle, the median length of its run's clips (``results/tracks.tsv``),
    as a final bundle's card records it; None elsewhere, without a readable list, or
    with a list newer than the bundle (a later run's, on other clips: the workflow
    retrains every fold model after a new list)."""
    run = _fold_run(folder)
    if run is None:
        return None
    listed = run[0] / "tracks.tsv"
    try:
        if listed.stat().st_mtime > (folder / "card.json").stat().st_mtime:
            return None
        with listed.open(newline="", encoding="utf-8") as handle:
            durations = [float(row["duration"]) for row in csv.DictReader(handle, delimiter="\t")]
    except (OSError, ValueError, KeyError, TypeError, csv.Error):
        return None
    durations = [d for d in durations if math.isfinite(d) and d > 0]
    return round(float(np.median(durations)), 3) if durations else None


def _fold_dataset(folder: Path) -> dict[str, Any]:
    """``{"kind": ...}`` of a fold bundle from its run's summary, or ``{}`` (also where
    the summary is of another split: a later run's, whose dataset may differ)."""
    run = _fold_run(folder)
    if run is None:
        return {}
    model, scheme, summary = run[1], run[2], run[0] / "summary.csv"
    try:
        with summary.open(newline="", encoding="utf-8") as handle:
            rows = [
                row
                for row in csv.DictReader(handle)
                if row.get("model") == model and row.get("split", scheme) == scheme
            ]
    except (OSError, ValueError, csv.Error):
        return {}
    return {"kind": rows[0]["dataset"]} if rows and rows[0].get("dataset") else {}


def _card_estimator(folder: Path) -> str | None:
    """The ``estimator`` of a bundle's card, or None when it has no readable card."""
    try:
        return json.loads((folder / "card.json").read_text(encoding="utf-8")).get("estimator")
    except (OSError, ValueError, AttributeError):
        return None


def _is_model_card(folder: Path) -> bool:
    """Whether ``folder/card.json`` is a final model's card (``results/final/<model>/``),
    which names its bundle folder, not a bundle's own card."""
    try:
        card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(card, dict) and "bundle" in card


def _fold_ensemble_error(folder: Path, name: str) -> BundleError:
    """An ensemble's fold folders hold only its card: it fits nothing to load."""
    return BundleError(
        f"{folder}: an ensemble's fold folders hold no models, only the average of its "
        f"members' predictions; classify with its final bundle, results/final/{name}"
    )


def _is_fold_ensemble(folder: Path) -> bool:
    """A fold ensemble's model folder: the card of an ensemble, without member bundles."""
    return _card_estimator(folder) == "ensemble" and not (folder / "members").is_dir()


def _is_keras(folder: Path) -> bool:
    return (folder / "estimator.keras").is_file()


@contextlib.contextmanager
def _native_stderr_silenced(active: bool) -> Iterator[None]:
    """Point file descriptor 2 at ``/dev/null`` for the duration (Python exceptions still raise)."""
    if not active:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w", encoding="utf-8") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


# -- files -----------------------------------------------------------------------------------------


def _audio_in(folder: Path, unreadable: list[OSError]) -> Iterator[Path]:
    """The audio files under ``folder``, through linked folders too (each real folder
    once, so a link to a folder above cannot loop), leaving out hidden names; a link
    to a missing audio file is yielded, for the caller to report. Folders that cannot
    be listed are appended to ``unreadable`` (os.walk skipped them without a word)."""
    seen: set[str] = set()
    for root, folders, files in os.walk(folder, followlinks=True, onerror=unreadable.append):
        real = os.path.realpath(root)
        if real in seen:
            folders[:] = []
            continue
        seen.add(real)
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_SUFFIXES:
                yield Path(root, name)


def find_audio(paths: Sequence[str | Path]) -> Iterator[tuple[Path, str | None]]:
    """Expand files and folders into ``(file, error)`` pairs, in the order given.

    A folder yields its audio files (:data:`AUDIO_SUFFIXES`, recursively, sorted),
    leaving out hidden files and folders as the workflow's dataset scan does: a
    folder copied from a Mac holds a ``._<name>.wav`` resource fork beside each
    clip. A file is yielded whatever its extension or name. A missing path, a
    folder with no audio file or one that cannot be listed, or a link to a missing
    file, yields ``(path, message)``. Linked folders are followed.
    """
    for raw in paths:
        path = Path(raw)
        try:  # pathlib raises where it cannot look: a folder on the way not ours, a long name
            is_dir, exists = path.is_dir(), path.exists()
        except OSError as error:
            yield path, f"{path}: cannot be read ({error.strerror or error})"
            continue
        if is_dir:
            unreadable: list[OSError] = []
            found = sorted(_audio_in(path, unreadable))
            for error in unreadable:
                where = Path(error.filename or path)
                yield where, f"{where}: cannot list this folder ({error.strerror or error})"
            if not found and not unreadable:
                kinds = ", ".join(s.lstrip(".") for s in AUDIO_SUFFIXES)
                yield path, f"{path}: no audio files ({kinds}) in this folder"
            for file in found:
                yield file, None if file.exists() else f"{file}: {_broken_link(file)}"
        elif exists:
            yield path, None
        else:
            yield path, f"{path}: {_broken_link(path) or 'no such file or folder'}"


def _broken_link(path: Path, missing: str = "file") -> str | None:
    """What is wrong with a link at ``path`` that leads nowhere, or None if it is no link:
    a loop (a.wav -> b.wav -> a.wav) exists as little as a missing target, but saying
    "missing" of a file one can list sends its owner looking in the wrong place."""
    try:
        target = os.readlink(path)
    except OSError:
        return None
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return f"a link that leads back to itself, or through too many links (to {target})"
        if error.errno not in (errno.ENOENT, errno.ENOTDIR):  # a folder on the way not ours
            return f"a link whose target cannot be reached (to {target}: {error.strerror})"
    return f"a link to a missing {missing} (to {target})"


# -- output ----------------------------------------------------------------------------------------


def _one_line(message: str) -> str:
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _top_text(top: list[tuple[str, float]]) -> str:
    return ", ".join(f"{genre} {_percent(p)}" for genre, p in top)


def _csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    # The line end is written and cut off: a field holding one is then quoted.
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()[:-2]


def _csv_header(timeline: bool, k: int) -> list[str]:
    head = ["path", "start", "end"] if timeline else ["path", "duration", "windows"]
    head.append("genre")
    for i in range(1, k + 1):
        head += [f"genre_{i}", f"proba_{i}"]
    return head


def _csv_rows(result: FilePrediction, classifier: Classifier, timeline: bool) -> list[list[Any]]:
    def top_cells(proba):
        top = classifier.top(proba)
        cells = [top[0][0]]
        for genre, p in top:
            cells += [genre, f"{p:.4f}"]
        return cells

    if not timeline:
        return [
            [
                str(result.path),
                f"{result.duration:.3f}",
                len(result.spans),
                *top_cells(result.proba),
            ]
        ]
    return [
        [str(result.path), f"{start:.3f}", f"{end:.3f}", *top_cells(proba)]
        for (start, end), proba in zip(result.spans, result.timeline, strict=True)
    ]


#: Control characters as escapes: a file name holding a newline would split one answer
#: of the text output over two lines (CSV quotes it, JSON escapes it).
_CONTROL_ESCAPES = {
    code: {9: "\\t", 10: "\\n", 13: "\\r"}.get(code, f"\\x{code:02x}") for code in (*range(32), 127)
}


def printable(path: str | Path) -> str:
    """``path`` for a line of text: control characters escaped, any other kept."""
    return str(path).translate(_CONTROL_ESCAPES)


def _text_lines(result: FilePrediction, classifier: Classifier, timeline: bool) -> list[str]:
    top = classifier.top(result.proba)
    n = len(result.spans)
    if not timeline:
        note = ""
        if n > 1:
            length = result.spans[0][1] - result.spans[0][0]
            note = f"  [mean of {n} windows of {length:.0f} s]"
        return [f"{printable(result.path)}: {top[0][0]}  ({_top_text(top)}){note}"]
    windows = "1 window" if n == 1 else f"mean of {n} windows"  # a file shorter than one
    lines = [f"{printable(result.path)}: {top[0][0]}  ({windows}: {_top_text(top)})"]
    width = max(len(g) for g in classifier.classes)
    for (start, end), proba in zip(result.spans, result.timeline, strict=True):
        window_top = classifier.top(proba)
        lines.append(
            f"  {start:7.1f} - {end:7.1f} s  {window_top[0][0]:<{width}}  {_top_text(window_top)}"
        )
    return lines


def _json_entry(result: FilePrediction, classifier: Classifier) -> dict[str, Any]:
    def describe(proba):
        return {
            "genre": classifier.top(proba, 1)[0][0],
            "top": [{"genre": g, "probability": round(p, 6)} for g, p in classifier.top(proba)],
            "probabilities": {
                genre: round(float(p), 6)
                for genre, p in zip(classifier.classes, proba, strict=True)
            },
        }

    entry = {
        "path": str(result.path),
        "duration": round(result.duration, 3),
        "windows": len(result.spans),
    } | describe(result.proba)
    if result.timeline is not None:
        entry["timeline"] = [
            {"start": round(start, 3), "end": round(end, 3)} | describe(proba)
            for (start, end), proba in zip(result.spans, result.timeline, strict=True)
        ]
    return entry


# -- command line ----------------------------------------------------------------------------------


def positive_seconds(text: str) -> float:
    """An argparse type: seconds above 0 (also for the benchmark tools' clip lengths)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected positive seconds, got {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Classify audio files by genre with a model trained by the genrepipe "
        "workflow. Prints, per file, the predicted genre and its three most probable genres; "
        "with --timeline, the text and JSON output add those of each window (CSV gives the "
        "window rows only).",
        epilog="Exit status: 0 all files answered, 1 some file failed, 2 usage error, "
        "74 the answers could not be written, 130 interrupted, 141 stdout closed by its reader.",
    )
    parser.add_argument(
        "model_dir",
        metavar="MODEL_DIR",
        help="model bundle: results/final/<model>/model or results/final/<model>, or a "
        "fold's results/models/<model>/<scheme>/fold<k>/model or its parent",
    )
    parser.add_argument(
        "paths",
        metavar="PATH",
        nargs="+",
        help="audio files, or folders searched recursively for "
        + ", ".join(s.lstrip(".") for s in AUDIO_SUFFIXES)
        + " (hidden files and folders left out)",
    )
    parser.add_argument(
        "--timeline",
        action="store_true",
        help="also print the genre of each window over time: text and JSON keep each "
        "file's answer (the mean over its windows) and add the windows; CSV gives one row "
        "per window only",
    )
    parser.add_argument(
        "--window",
        type=positive_seconds,
        metavar="SECONDS",
        help=f"timeline window length (default: {DEFAULT_WINDOW_SECONDS:g})",
    )
    parser.add_argument(
        "--hop",
        type=positive_seconds,
        metavar="SECONDS",
        help="timeline hop between window starts (default: the window length)",
    )
    parser.add_argument(
        "--long",
        choices=("average", "first"),
        help="files much longer than the training clips: average clip-length windows over "
        "the whole file, or classify the first clip only as training would (default: "
        "average; not with --timeline, whose windows cover the whole file)",
    )
    parser.add_argument(
        "--format",
        choices=("text", "csv", "json"),
        default="text",
        help="output format on stdout (default: %(default)s)",
    )
    parser.add_argument(
        "-j",
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="classify N files at a time, each in a process of its own that loads the model "
        "(with this one's, N+1 times its memory); the answers keep the files' order "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar and no warnings on stderr"
    )
    return parser


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (--jobs here; cores, tracks and
    repeats in the benchmark tools)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


@contextlib.contextmanager
def _progress(enabled: bool):
    """A progress bar on stderr; a silent one (same methods) when not ``enabled``."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("classifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
        transient=True,
        disable=not enabled,
        # Answers are printed around the bar by _main itself when stdout is the same
        # terminal: rich's redirection would break them at the terminal's width.
        redirect_stdout=False,
    )
    if not enabled:
        # Not entered: rich before 14.3 prints an empty line to stderr when even a
        # disabled bar stops, and stderr must hold only this command's own lines.
        yield progress
        return
    with progress:
        yield progress


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``genrepipe-predict``; returns the exit status."""
    # Decoders and librosa warn in several lines (a fallback decoder, a short window);
    # what matters reaches stderr as this command's own one-line errors and warnings.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _main(argv)
        except KeyboardInterrupt:  # while loading the model, say
            return _interrupted()
        except BrokenPipeError:
            return stdout_closed_by_reader()
        except AnswersUnwritable as error:  # a full disk, say: the answers are lost
            print(f"{_PROG}: error: cannot write the answers: {error}", file=sys.stderr)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing to flush
            return 74  # EX_IOERR


class AnswersUnwritable(OSError):
    """stdout refused the answers (not a reader gone: that is ``BrokenPipeError``)."""


def _write_answer(text: str) -> None:
    """Print answer lines on stdout, flushed, so a write error surfaces here."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        raise
    except OSError as error:
        if reader_gone(error):  # Windows' word for it
            raise BrokenPipeError(errno.EPIPE, error.strerror) from error
        raise AnswersUnwritable(error.strerror or str(error)) from None


def _interrupted() -> int:
    """Ctrl-C: one line, no traceback, and the shell's status for SIGINT."""
    print(f"{_PROG}: interrupted", file=sys.stderr)
    return 130


def _short_files_warning(short_files: Sequence[tuple[Path, float]], classifier) -> str:
    """One line naming the files much shorter than the model's training clips."""
    shown = ", ".join(f"{printable(path)} ({duration:.2f} s)" for path, duration in short_files[:3])
    if len(short_files) > 3:
        shown += f" and {len(short_files) - 3} more"
    one = len(short_files) == 1
    count = "1 file lasts" if one else f"{len(short_files)} files last"
    answers = "its answer rests" if one else "their answers rest"
    padding = (
        f"; the model's {_padding_sets(classifier)} features pad {'it' if one else 'them'} "
        "to a fixed frame count"
        if classifier.pads_short_windows
        else ""
    )
    return (
        f"{count} less than half the {classifier.clip_seconds:.1f} s clips the model learned "
        f"from, so {answers} on little audio{padding}: {shown}"
    )


def _padding_sets(classifier: Classifier) -> str:
    """The feature sets of a classifier (an ensemble's members) that pad short audio."""
    sets = [m.feature_set for m in _members(classifier) if m.pads_short_windows]
    return "+".join(dict.fromkeys(sets))


def _summarizing_sets(classifier: Classifier) -> str:
    """The feature sets of a classifier (an ensemble's members) that summarize a whole clip."""
    sets = [m.feature_set for m in _members(classifier) if m.summarizes_clips]
    return "+".join(dict.fromkeys(sets))


def _members(classifier: Classifier) -> list[Classifier]:
    """The bundles whose features a classifier computes: an ensemble's members, or itself."""
    return list(getattr(classifier, "members", [classifier]))


def _version_warnings(classifier: Classifier) -> list[str]:
    """One line per bundle trained with another librosa, scikit-learn or Keras release;
    members that differ alike share one line.

    Another minor release may compute features or read an estimator differently
    (the libraries' own warnings are silenced with the decoders' noise), so the
    answers may not be those the run's accuracy was measured on.
    """
    from genrepipe.bundle import RECORDED_LIBRARIES, library_versions
    from genrepipe.config import release

    installed = library_versions()
    messages: dict[tuple, str] = {}  # an ensemble's members trained alike: one line
    for member in _members(classifier):
        recorded = member.card.get("versions")
        if not isinstance(recorded, dict):
            continue  # bundles from before cards recorded versions
        differ = [
            (name, str(recorded[name]), installed[name])
            for name in RECORDED_LIBRARIES
            if name in recorded
            and name in installed
            and release(str(recorded[name])) != release(installed[name])
        ]
        if differ and tuple(differ) not in messages:
            then = " and ".join(f"{name} {was}" for name, was, _ in differ)
            now = " and ".join(f"{name} {now}" for name, _, now in differ)
            pins = " ".join(f"'{name}=={was}'" for name, was, _ in differ)
            messages[tuple(differ)] = (
                f"{member.folder / 'card.json'}: trained with {then}, this environment has "
                f"{now}, so features or model may differ from training and the answers from "
                f"those its accuracy was measured on; pip install {pins} to match"
            )
    return list(messages.values())


def _silent_files_warning(silent_files: Sequence[Path]) -> str:
    """One line naming the files without audible sound in the audio classified."""
    shown = ", ".join(printable(path) for path in silent_files[:3])
    if len(silent_files) > 3:
        shown += f" and {len(silent_files) - 3} more"
    if len(silent_files) == 1:
        return (
            "1 file is silent in the audio classified (peak under -60 dBFS), so its genre "
            f"means nothing: {shown}"
        )
    return (
        f"{len(silent_files)} files are silent in the audio classified (peak under -60 dBFS), "
        f"so their genres mean nothing: {shown}"
    )


def _narrow_files_warning(narrow_files: Sequence[tuple[Path, int]], model_rate: int) -> str:
    """One line naming the files sampled below the model's rate: upsampled, they hold
    nothing above half their own rate, a spectrum the model never learned from (files
    at 8 or 11 kHz got one confident genre, whatever their music)."""
    shown = ", ".join(f"{printable(path)} ({rate} Hz)" for path, rate in narrow_files[:3])
    if len(narrow_files) > 3:
        shown += f" and {len(narrow_files) - 3} more"
    one = len(narrow_files) == 1
    return (
        f"{'1 file is' if one else f'{len(narrow_files)} files are'} sampled below the "
        f"{model_rate} Hz of the model's audio, so {'it holds' if one else 'they hold'} no "
        f"sound above half {'its' if one else 'their'} rate, unlike anything the model "
        f"learned from: {'its answer' if one else 'their answers'} may mean little: {shown}"
    )


def _window_problem(classifier: Classifier, window: float) -> str | None:
    """Why ``--timeline`` windows of ``window`` seconds cannot be classified, or None.

    Computes each feature set of the model on one window of quiet noise: a window
    shorter than an analysis frame (``n_fft``) or a ``segment_stats`` window then
    fails once, as a usage error, not once per file. Only short windows can fail.
    """
    if window >= classifier.clip_seconds:
        return None
    size = max(1, round(window * classifier.sample_rate))
    noise = np.random.default_rng(0).normal(scale=0.01, size=size).astype(np.float32)
    distinct = {
        json.dumps([member.feature_set, member.feature_settings], sort_keys=True): member
        for member in _members(classifier)
    }
    for member in distinct.values():
        try:
            member.features(noise)
        except ValueError as error:
            return str(error)
    return None


def _timeline_warnings(classifier: Classifier, window: float, hop: float) -> list[str]:
    """What ``--timeline`` windows of ``window`` s every ``hop`` s do that training never did."""
    clip = classifier.clip_seconds
    warnings_ = []
    if window < 0.9 * clip and classifier.pads_short_windows:
        warnings_.append(
            f"{window:g} s windows are shorter than the {clip:.1f} s clips the model was "
            f"trained on; its {_padding_sets(classifier)} features pad them to a fixed frame count "
            "the model never saw padded, so window answers may be less reliable "
            f"(--window {clip:.1f} avoids it)"
        )
    elif window < 0.9 * clip and classifier.summarizes_clips:
        warnings_.append(
            f"{window:g} s windows are shorter than the {clip:.1f} s clips the model was "
            f"trained on; its {_summarizing_sets(classifier)} features are statistics of a whole "
            "clip, which shift on shorter audio, so window answers may mean little "
            f"(--window {clip:.1f} avoids it)"
        )
    shortest = min(
        (m.voted_window_seconds for m in _members(classifier) if m.voted_window_frames),
        default=None,
    )
    if shortest is not None and window < shortest:  # a window CNN pads it to one window
        warnings_.append(
            f"{window:g} s windows are shorter than the {shortest:.1f} s windows the network "
            "votes over; their features are padded to one, something it never saw, so window "
            f"answers may be less reliable (--window {shortest:.1f} avoids it)"
        )
    hearing = min(
        ((m.heard_seconds, m) for m in _members(classifier) if m.heard_seconds is not None),
        default=None,
        key=lambda pair: pair[0],
    )
    if hearing is not None and window > 1.02 * hearing[0]:
        heard, member = hearing
        warnings_.append(
            f"{window:g} s windows are longer than the model hears: its "
            f"{member.feature_set} features {member.hearing()}, {heard:.1f} s, so "
            f"the rest of each window goes unheard (--window {min(clip, heard):.1f} avoids it)"
        )
    elif window > LONG_FILE_FACTOR * clip and classifier.summarizes_clips:
        warnings_.append(
            f"{window:g} s windows are longer than the {clip:.1f} s clips the model was "
            f"trained on; its {_summarizing_sets(classifier)} features are statistics of a whole "
            "clip, which shift on longer audio, so window answers may mean little "
            f"(--window {clip:.1f} avoids it)"
        )
    if hop > window:
        warnings_.append(
            f"--hop {hop:g} is longer than --window {window:g}: {hop - window:g} s between "
            "windows go unheard"
        )
    return warnings_


def _failure_message(path: Path, error: Exception) -> str:
    """One file's error as reported: AudioError and feature errors name the file;
    anything else gets its type and the file's name."""
    message = str(error) if isinstance(error, ValueError | OSError) else repr(error)
    return message if str(path) in message else f"{path}: {message}"


def _outcomes(
    classifier: Classifier,
    files: Sequence[tuple[Path, str | None]],
    *,
    jobs: int,
    model_dir: str | Path,
    long: str,
    timeline: tuple[float, float] | None,
    on_start: Callable[[Path], None],
    on_window: Callable[[str, int, int], None],
) -> Iterator[tuple[Path, FilePrediction | None, str | None]]:
    """``(path, prediction, None)`` or ``(path, None, error)`` for each file, in order.

    With ``jobs`` above 1, readable files are classified in that many worker
    processes, each loading the bundle once (:func:`_start_worker`); ``on_start``
    then names the file whose answer is awaited, and ``on_window`` is not called.
    Closing the generator stops the workers.
    """
    readable = [path for path, problem in files if problem is None]
    if jobs <= 1 or len(readable) <= 1:
        from threadpoolctl import threadpool_limits

        # One BLAS thread, as in each worker: a clip's matrices are small, and more
        # threads only spin (100 GTZAN clips, a seed87 GMM on 2 cores: the same wall
        # time for half the CPU).
        with threadpool_limits(limits=1):
            for path, problem in files:
                on_start(path)
                if problem is not None:
                    yield path, None, problem
                    continue
                try:
                    result = classifier.predict_file(
                        path,
                        long=long,
                        timeline=timeline,
                        on_window=lambda done, total, name=path.name: on_window(name, done, total),
                    )
                except Exception as error:  # one file's failure must not cost the others theirs
                    yield path, None, _failure_message(path, error)
                    continue
                yield path, result, None
        return
    import multiprocessing
    import signal
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # spawn, not fork: a forked copy of a process that loaded TensorFlow can deadlock.
    executor = ProcessPoolExecutor(
        max_workers=min(jobs, len(readable)),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(str(model_dir),),
    )
    try:
        # The workers start as the files are submitted. SIGINT is blocked meanwhile, a
        # mask they inherit: a Ctrl-C to the terminal's process group then reaches this
        # process alone (once unblocked, below), not workers still importing, which
        # would each print a traceback. Not on Windows, which has no such mask.
        blocking = hasattr(signal, "pthread_sigmask")
        if blocking:
            mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            # Futures of our own, awaited in order: executor.map's iterator cancels the
            # rest when interrupted, and the executor's thread then raised
            # InvalidStateError on the cancelled futures (Python 3.11).
            answers = deque(
                executor.submit(_predict_in_worker, path, long, timeline) for path in readable
            )
        finally:
            if blocking:
                signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        broken = None
        for path, problem in files:
            on_start(path)
            if problem is not None:
                yield path, None, problem
                continue
            if broken is None:
                try:
                    result, problem = answers.popleft().result()  # its answer, then freed
                except BrokenProcessPool:
                    broken = "not classified: a worker process of --jobs stopped (out of memory?)"
            if broken is not None:
                yield path, None, f"{path}: {broken}"
                continue
            yield path, result, problem
    finally:
        # Done, or closed early (Ctrl-C, a reader gone): stop the workers rather than wait
        # for a running file, the files queued, or their interpreters' teardown (seconds).
        # The executor has no public way to stop a running task (Python 3.14 adds
        # terminate_workers): its own process table. Stopped first, then shut down, so
        # its thread fails the queued files' futures itself.
        with _interrupts_deferred():
            workers = list(dict(getattr(executor, "_processes", None) or {}).values())
            for worker in workers:
                worker.terminate()
            deadline = time.monotonic() + _WORKER_STOP_SECONDS
            for worker in workers:
                worker.join(timeout=max(0.0, deadline - time.monotonic()))
                if worker.exitcode is None:  # a library's own SIGTERM handler held it
                    worker.kill()
                    worker.join(timeout=5)  # a process stuck in the kernel outlives even that
            executor.shutdown()


@contextlib.contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold a Ctrl-C back until the block ends, then raise it as Python would have.

    Raised halfway through stopping the --jobs workers, a second Ctrl-C left those not yet
    stopped to classify their whole queue. One more during the block is raised at once:
    a stop that hangs (a worker stuck on a dead network mount) still lets the user out.
    Python's handler, not a signal mask: the kernel gives a signal that the main thread
    blocks to another of its threads (a BLAS pool's), whose C handler still has the main
    thread raise it. Outside the main thread, where no handler can be set, or under a
    handler set outside Python, which could not be put back, the block runs as it is.
    """
    import signal
    import threading

    previous = signal.getsignal(signal.SIGINT)
    if previous is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple[int, Any]] = []

    def deliver(signum: int, frame: Any) -> None:
        """The signal as the handler before would have had it."""
        signal.signal(signal.SIGINT, previous)
        caught.clear()
        if callable(previous):  # Python's default raises KeyboardInterrupt
            previous(signum, frame)
        elif previous == signal.SIG_DFL:  # the system's: the process ends
            signal.raise_signal(signal.SIGINT)

    def hold(signum: int, frame: Any) -> None:
        caught.append((signum, frame))
        if len(caught) > 1:  # pressed again: the user means it
            deliver(signum, frame)

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            deliver(*caught[0])


def _usable_cpus() -> int:
    """The CPUs this process may run on (its affinity: a Slurm job's cpuset, not the node's;
    a container's CPU quota does not show here), or all of them where the system does not
    say."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


#: The bundle a --jobs worker process classifies with, loaded once by _start_worker,
#: or why it could not be loaded there.
_worker_classifier: Classifier | None = None
_worker_load_error: str | None = None


def _start_worker(model_dir: str) -> None:
    """Initializer of a --jobs worker process: one thread each (the processes are the
    parallelism), Ctrl-C left to the main process, the main process's quiet warnings."""
    global _worker_classifier, _worker_load_error
    import signal

    from threadpoolctl import threadpool_limits

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warnings.simplefilter("ignore")
    # Read as each library loads: scipy's OpenBLAS, scikit-learn's OpenMP and TensorFlow
    # load with the bundle below (numpy's pool is loaded already: threadpool_limits).
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"
    os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = "1"
    try:
        _worker_classifier = Classifier.load(model_dir, quiet_native=True)
    except Exception as error:  # said per file, by the main process, not as a traceback here
        _worker_load_error = f"a worker process of --jobs could not load {model_dir}: {error}"
    threadpool_limits(limits=1)  # every pool loaded by now


def _predict_in_worker(
    path: Path, long: str, timeline: tuple[float, float] | None
) -> tuple[FilePrediction | None, str | None]:
    """One file's prediction in a --jobs worker, or its error message (an exception of
    any type might not survive the trip back to the main process)."""
    if _worker_classifier is None:
        return None, f"{path}: {_worker_load_error}"
    try:
        return _worker_classifier.predict_file(path, long=long, timeline=timeline), None
    except Exception as error:
        return None, _failure_message(path, error)


def _usage(
    argv: Sequence[str] | None,
) -> tuple[argparse.ArgumentParser, argparse.Namespace, tuple[float, float] | None]:
    """The parser, the command line parsed and checked, and its ``(window, hop)`` with
    --timeline: options wrong whatever the model exit with status 2 before it loads."""
    parser = _parser()
    args = parser.parse_args(argv)
    for option in ("window", "hop"):
        if getattr(args, option) is not None and not args.timeline:
            parser.error(f"--{option} needs --timeline")
    if args.long is not None and args.timeline:
        parser.error("--long has no effect with --timeline, whose windows cover the whole file")
    timeline = None
    if args.timeline:
        window = args.window or DEFAULT_WINDOW_SECONDS
        timeline = (window, args.hop or window)
        if timeline[1] < MIN_HOP_SECONDS:
            option = f"--hop {args.hop:g}" if args.hop else f"--window {window:g} (the hop)"
            parser.error(
                f"{option} is below {MIN_HOP_SECONDS:g} s: windows that close "
                "repeat each other's features (a feature frame is about 23 ms), and a minute "
                f"of audio would take {60 / timeline[1]:,.0f} of them"
            )
    return parser, args, timeline


def _main(argv: Sequence[str] | None) -> int:
    parser, args, timeline = _usage(argv)
    tolerate_unprintable(sys.stdout)

    def warn(message: str) -> None:
        if not args.quiet:
            print(f"{_PROG}: warning: {message}", file=sys.stderr)

    jobs = args.jobs
    if jobs > (cpus := _usable_cpus()):
        # Each worker holds a copy of the model: past one per CPU, memory with no speed.
        cpu_count = f"{cpus} CPU" + ("s" if cpus > 1 else "")
        warn(f"--jobs {jobs} is more than the {cpu_count} this command may use: {cpus} at a time")
        jobs = cpus
    # One TensorFlow thread, as in each --jobs worker: -j 1 gave a CNN's probabilities
    # other last digits than -j 2 on TensorFlow's default threads. Only while the bundle
    # loads (its members too), where TensorFlow starts: main() called from Python leaves
    # the rest of the process as it was.
    from genrepipe.models import tensorflow_threads_on_import

    tensorflow_threads_on_import(1)
    try:
        classifier = Classifier.load(args.model_dir, quiet_native=True)
    except BundleError as error:
        print(f"{_PROG}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.format == "json":  # a reader of JSON still gets a document
            document = {"model": str(args.model_dir), "files": [], "errors": []}
            _write_answer(json.dumps(document | {"interrupted": True}, indent=2))
        raise
    finally:
        tensorflow_threads_on_import(None)
    if "sample_rate" not in classifier.card:
        # Bundles from before fold cards recorded it; a wrong rate gives wrong features.
        warn(
            f"{args.model_dir}: card.json records no sample rate, so audio is read at "
            f"{classifier.sample_rate} Hz, the default, and not cropped to a training length; "
            "the final bundle (results/final/<model>/model) records both"
        )
    for message in _version_warnings(classifier):
        warn(message)
    if _training_dataset(classifier.folder).get("kind") == "synthetic":
        warn(
            f"{args.model_dir} was trained on the workflow's generated dataset (synthesized "
            "music), so its genres for recordings mean little; to classify real audio, "
            "train on GTZAN first (dataset.kind: gtzan)"
        )
    if timeline is not None:
        window = timeline[0]
        problem = _window_problem(classifier, window)
        if problem is not None:
            parser.error(f"--window {window:g} is too short for this model: {problem}")
        for message in _timeline_warnings(classifier, *timeline):
            warn(message)

    interrupted = False
    try:
        files = list(find_audio(args.paths))  # a large folder takes a while
    except KeyboardInterrupt:
        files, interrupted = [], True  # still the JSON document below, with the classes
    failed = 0
    short_files: list[tuple[Path, float]] = []
    silent_files: list[Path] = []
    narrow_files: list[tuple[Path, int]] = []
    entries: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    # Also for one file: an hour-long mix is minutes of windows.
    show_progress = not args.quiet and sys.stderr.isatty()
    with _progress(show_progress) as progress:
        task = progress.add_task("", total=len(files))

        def report_error(path: Path, message: str) -> None:
            message = _one_line(message)
            errors.append({"path": str(path), "error": message})
            line = f"{_PROG}: error: {message}"
            if show_progress:
                progress.console.print(
                    line, markup=False, highlight=False, emoji=False, soft_wrap=True
                )
            else:
                print(line, file=sys.stderr, flush=True)

        def answer(text: str) -> None:
            if show_progress and sys.stdout.isatty():
                # The bar's own terminal: printed around the bar, unbroken (soft_wrap),
                # so that a row copied from the screen is one row.
                progress.console.print(
                    text, markup=False, highlight=False, emoji=False, soft_wrap=True
                )
            else:
                _write_answer(text)

        if args.format == "csv":
            answer(_csv_line(_csv_header(timeline is not None, min(3, len(classifier.classes)))))

        def on_window(name: str, done: int, total: int) -> None:
            if total > 1:  # a long file, or a timeline
                progress.update(task, description=f"{name}: window {done} of {total}")

        outcomes = _outcomes(
            classifier,
            files,
            jobs=jobs,
            model_dir=args.model_dir,
            long=args.long or "average",
            timeline=timeline,
            on_start=lambda path: progress.update(task, description=path.name),
            on_window=on_window,
        )
        try:
            for path, result, problem in outcomes:
                if result is None:
                    failed += 1
                    report_error(path, problem)
                    progress.advance(task)
                    continue
                # With --timeline, only a file shorter than its one window: the user
                # chose the length of the others.
                if result.duration < SHORT_FILE_FACTOR * classifier.clip_seconds and (
                    timeline is None or result.duration < timeline[0]
                ):
                    short_files.append((path, result.duration))
                if result.silent:
                    silent_files.append(path)
                if (result.file_sample_rate or classifier.sample_rate) < classifier.sample_rate:
                    narrow_files.append((path, result.file_sample_rate))
                if args.format == "json":
                    entries.append(_json_entry(result, classifier))
                elif args.format == "csv":
                    for row in _csv_rows(result, classifier, timeline is not None):
                        answer(_csv_line(row))
                else:
                    answer("\n".join(_text_lines(result, classifier, timeline is not None)))
                progress.advance(task)
        except KeyboardInterrupt:
            # Ctrl-C in a long run: the answers so far still reach stdout, in any format.
            interrupted = True
        finally:
            outcomes.close()  # --jobs: stops the worker processes
    if short_files:
        warn(_short_files_warning(short_files, classifier))
    if silent_files:
        warn(_silent_files_warning(silent_files))
    if narrow_files:
        warn(_narrow_files_warning(narrow_files, classifier.sample_rate))
    if args.format == "json":
        document = {
            "model": str(classifier.folder),
            "classes": classifier.classes,
            "files": entries,
            "errors": errors,
        }
        if interrupted:
            document["interrupted"] = True  # files after the last entry were not read
        _write_answer(json.dumps(document, indent=2))
    if interrupted:
        return _interrupted()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
