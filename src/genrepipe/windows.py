"""A CNN on short log-mel windows, trained with augmentation, and classifiers on its embeddings.

:class:`WindowCNNClassifier` (``make_model("cnn_windows", ...)``) reads whole
tracks, ``(n_tracks, n_mels, n_frames)``, and does its own windowing:

* training: every epoch, ``crops_per_track`` windows of ``window_frames``
  frames at random positions of every training track (random crop, i.e. a
  random time shift), each with a random gain (a dB offset on the log-mel),
  SpecAugment-style time and frequency masks, and optionally mixup. The
  windows are generated on the fly by a :class:`keras.utils.PyDataset` from an
  :func:`epoch_plan` drawn from ``(random_state, epoch)`` alone; batch ``i`` of
  the whole fit is a function of the seed and ``i``, so a seed gives the same
  batches whatever the prefetching;
* early stopping: on windows of validation *tracks*, whole tracks carved from
  the training tracks (or given), never windows of tracks that also train;
* prediction: windows every ``hop_frames`` frames covering the track (the
  last one ends at its last frame; a padded track's windows end where its
  padding starts, :func:`audio_frames`); the track's class probabilities are
  the softmax of the mean window log-probability.

:class:`CnnEmbeddingClassifier` (``cnn_svm``, ``cnn_gmm``) fits an SVM or one
Gaussian mixture per genre on the window CNN's penultimate-layer embeddings (or
its pooled maps, ``embedding="global_pool"``) of the training tracks' windows, and
predicts a track by the mean log-probability of its windows. It trains its own
CNN, or takes an already fitted one of the same fold (``fit(..., cnn=...)``): the
workflow reuses the ``cnn_windows`` model named by the entry's ``base``.

Both save and load with :func:`genrepipe.models.save_model` /
:func:`~genrepipe.models.load_model`.
"""

from __future__ import annotations

import functools
import json
import math
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from genrepipe.estimators import EMBEDDING_LAYERS
from genrepipe.io import atomic_path
from genrepipe.models import (
    KerasClassifier,
    _as_pair,
    _check_kernel_fits,
    _import_keras,
)
from genrepipe.segments import vote

__all__ = [
    "CnnEmbeddingClassifier",
    "WindowCNNClassifier",
    "augment_windows",
    "crop_windows",
    "epoch_plan",
    "window_starts",
]

_COMPOSITE_META = "genrepipe_composite.json"
_COMPOSITE_FORMAT = "genrepipe-cnn-embedding"
_COMPOSITE_FORMAT_VERSION = 1
#: Batch-norm momentum: an epoch is a few dozen steps, so Keras's 0.99 would make the
#: inference statistics lag several epochs behind the weights (noisy validation loss).
_BN_MOMENTUM = 0.9
#: Tracks whose windows are predicted in one go (bounds memory: ~20 windows each).
_PREDICT_TRACKS = 32


# ------------------------------------------------------------------ windows, pure numpy


def window_starts(n_frames: int, window_frames: int, hop_frames: int) -> np.ndarray:
    """First frame of every window that covers a track, ``hop_frames`` apart.

    Windows start at 0, ``hop_frames``, ... and one more window ends at the last
    frame when the hop does not land there, so every frame is covered.

    Parameters
    ----------
    n_frames : int
        Frames of the track.
    window_frames : int
        Frames per window (at most ``n_frames``).
    hop_frames : int
        Frames between window starts.

    Returns
    -------
    numpy.ndarray
        Sorted int array of window starts.
    """
    if window_frames > n_frames:
        raise ValueError(f"a window of {window_frames} frames does not fit in {n_frames} frames")
    if hop_frames < 1:
        raise ValueError(f"hop_frames must be >= 1, got {hop_frames}")
    starts = np.arange(0, n_frames - window_frames + 1, hop_frames)
    if starts[-1] != n_frames - window_frames:
        starts = np.append(starts, n_frames - window_frames)
    return starts


def crop_windows(
    X: np.ndarray, tracks: np.ndarray, starts: np.ndarray, window_frames: int
) -> np.ndarray:
    """Windows ``X[tracks[i], :, starts[i]:starts[i] + window_frames]``, stacked.

    Parameters
    ----------
    X : numpy.ndarray
        Tracks, shape ``(n_tracks, n_mels, n_frames)``.
    tracks, starts : numpy.ndarray
        Track index and first frame of each window.
    window_frames : int
        Frames per window.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(len(tracks), n_mels, window_frames)`` (a copy).
    """
    frames = np.asarray(starts)[:, None] + np.arange(window_frames)[None, :]
    # Advanced indices on axes 0 and 2 put the window axis first: (n, window, mels).
    out = X[np.asarray(tracks)[:, None], :, frames]
    return np.ascontiguousarray(out.transpose(0, 2, 1), dtype=np.float32)


def epoch_plan(
    n_tracks: int,
    n_frames: int | np.ndarray,
    window_frames: int,
    *,
    crops_per_track: int,
    gain_db: float,
    time_masks: int,
    time_mask_frames: int,
    freq_masks: int,
    freq_mask_bins: int,
    n_mels: int,
    mixup_alpha: float,
    seed: int | None,
    epoch: int,
) -> dict[str, np.ndarray]:
    """Every random choice of one training epoch, drawn from ``(seed, epoch)`` only.

    Parameters
    ----------
    n_tracks, n_frames, window_frames, n_mels
        Training tracks, their frames (one count, or one per track: crops stay in a
        track's audio, :func:`audio_frames`), frames per window, mel bands.
    crops_per_track
        Windows cut from every track in the epoch.
    gain_db
        Gains are uniform in ``[-gain_db, gain_db]`` dB.
    time_masks, time_mask_frames, freq_masks, freq_mask_bins
        Masks per window and their largest width (widths are uniform from 0).
    mixup_alpha
        Mixup weights come from ``Beta(alpha, alpha)`` (folded so a window's
        own example weighs at least a half); ``0`` turns mixup off.
    seed, epoch
        The plan depends on nothing else.

    Returns
    -------
    dict of str to numpy.ndarray
        ``track`` and ``start`` (the crops, in training order), ``gain`` (dB),
        ``time_start``, ``time_width``, ``freq_start``, ``freq_width`` (one
        column per mask), ``partner`` (the sample mixed into each, an index of
        this plan) and ``lam`` (each sample's own weight; 1 without mixup).
    """
    rng = np.random.default_rng([0 if seed is None else int(seed), int(epoch)])
    n = n_tracks * crops_per_track
    track = rng.permutation(np.repeat(np.arange(n_tracks), crops_per_track))
    frames = np.broadcast_to(np.asarray(n_frames), (n_tracks,))
    if np.all(frames == frames[0]):  # one bound: the draws of tracks of one length as before
        start = rng.integers(0, int(frames[0]) - window_frames + 1, size=n)
    else:
        start = rng.integers(0, frames[track] - window_frames + 1)
    gain = rng.uniform(-gain_db, gain_db, size=n) if gain_db > 0 else np.zeros(n)
    time_width = rng.integers(0, min(time_mask_frames, window_frames) + 1, size=(n, time_masks))
    time_start = rng.integers(0, window_frames - time_width + 1)
    freq_width = rng.integers(0, min(freq_mask_bins, n_mels) + 1, size=(n, freq_masks))
    freq_start = rng.integers(0, n_mels - freq_width + 1)
    if mixup_alpha > 0:
        lam = rng.beta(mixup_alpha, mixup_alpha, size=n)
        lam = np.maximum(lam, 1.0 - lam)
        partner = rng.permutation(n)
    else:
        lam, partner = np.ones(n), np.arange(n)
    return {
        "track": track,
        "start": start,
        "gain": gain,
        "time_start": time_start,
        "time_width": time_width,
        "freq_start": freq_start,
        "freq_width": freq_width,
        "partner": partner,
        "lam": lam,
    }


def augment_windows(
    windows: np.ndarray,
    gain: np.ndarray,
    gain_scale: np.ndarray,
    time_start: np.ndarray,
    time_width: np.ndarray,
    freq_start: np.ndarray,
    freq_width: np.ndarray,
    fill: float = 0.0,
) -> np.ndarray:
    """Apply gains and masks to windows, in place.

    Parameters
    ----------
    windows : numpy.ndarray
        ``(n, n_mels, window_frames)``.
    gain : numpy.ndarray
        Gain of each window in dB.
    gain_scale : numpy.ndarray
        Input units per dB of each mel band, ``(n_mels,)``: 1 for a log-mel in
        dB, the band's standard deviation in dB once standardized.
    time_start, time_width, freq_start, freq_width : numpy.ndarray
        ``(n, n_masks)`` masks; width 0 masks nothing.
    fill : float
        Value of masked cells (0: the training mean of standardized inputs).

    Returns
    -------
    numpy.ndarray
        ``windows``, augmented.
    """
    windows += (gain[:, None, None] / gain_scale[None, :, None]).astype(windows.dtype)
    for i in range(len(windows)):
        for s, w in zip(time_start[i], time_width[i], strict=True):
            windows[i, :, s : s + w] = fill
        for s, w in zip(freq_start[i], freq_width[i], strict=True):
            windows[i, s : s + w, :] = fill
    return windows


def audio_frames(X: np.ndarray, window_frames: int) -> np.ndarray:
    """Frames of each track before the padding its features end in, at least one window.

    ``logmel`` and ``mfcc`` pad a clip shorter than ``n_frames`` with one repeated
    column (the -100 dB floor, or its MFCC), which any per-band standardization keeps
    one column; audio gives no two equal columns but in digital silence, which holds no
    genre either. (``mfcc``'s deltas, computed after the padding, reach half their
    ``delta_width`` into it: those frames count as audio.) Windows of the padding alone
    are one input for every short track, one the network would learn, or vote with, as
    the track's genre.

    Parameters
    ----------
    X : numpy.ndarray
        Tracks, shape ``(n_tracks, n_mels, n_frames)``.
    window_frames : int
        Frames per window: the least a track is given.

    Returns
    -------
    numpy.ndarray
        int array of shape ``(n_tracks,)``.
    """
    n_frames = np.shape(X)[2]
    frames = np.full(len(X), n_frames)
    for i, track in enumerate(X):  # a track at a time: a bool copy of all is as large as X
        # Equal within float32 rounding: the MFCC and deltas of a constant stretch vary
        # in their last digits.
        last = track[:, -1:]
        tolerance = 1e-5 * (1.0 + float(np.max(np.abs(last))))
        differs = np.any(np.abs(track - last) > tolerance, axis=0)
        if n_frames > 1 and not differs[-2]:
            changed = np.flatnonzero(differs)
            frames[i] = changed[-1] + 1 if len(changed) else 0
    return np.maximum(frames, min(int(window_frames), n_frames))


def _window_grid(
    frames: np.ndarray, window_frames: int, hop_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """Track index and start of every covering window of every track of ``frames`` frames."""
    tracks, starts = [], []
    grids = {n: window_starts(int(n), window_frames, hop_frames) for n in np.unique(frames)}
    for track, n in enumerate(frames):
        tracks.append(np.full(len(grids[n]), track))
        starts.append(grids[n])
    return np.concatenate(tracks), np.concatenate(starts)


def _as_int(value: int | Sequence[int], name: str) -> int:
    """A positive int, or a 1-sequence of one (a 1-D kernel or pool size)."""
    values = [int(v) for v in np.atleast_1d(value)]
    if len(values) != 1 or values[0] < 1:
        raise ValueError(f"{name} must be a positive int for convolution='time', got {value!r}")
    return values[0]


@functools.cache
def _std_pooling(keras: Any) -> dict[str, type]:
    """Keras layers for the standard deviation of maps over time (and bands).

    Built once per process and registered under the ``genrepipe`` package, so a
    saved network that uses them loads with ``safe_mode=True`` (no Lambda layer).
    """

    def make(ndim: int) -> type:
        axes = tuple(range(1, ndim + 1))

        class GlobalStdPooling(keras.layers.Layer):
            """Standard deviation of every map over its time (and band) axes."""

            def call(self, inputs: Any) -> Any:
                ops = keras.ops
                mean = ops.mean(inputs, axis=axes, keepdims=True)
                variance = ops.mean(ops.square(inputs - mean), axis=axes)
                # The epsilon keeps the gradient finite where a map is constant.
                return ops.sqrt(variance + 1e-6)

            def compute_output_shape(self, input_shape: tuple) -> tuple:
                return (input_shape[0], input_shape[-1])

        GlobalStdPooling.__name__ = GlobalStdPooling.__qualname__ = f"GlobalStdPooling{ndim}D"
        return keras.saving.register_keras_serializable(package="genrepipe")(GlobalStdPooling)

    return {f"GlobalStdPooling{ndim}D": make(ndim) for ndim in (1, 2)}


def custom_objects(keras: Any) -> dict[str, type]:
    """The custom layers a saved window CNN may hold, for ``keras.models.load_model``."""
    return {f"genrepipe>{name}": cls for name, cls in _std_pooling(keras).items()}


def _global_pool(keras: Any, x: Any, how: str, ndim: int) -> Any:
    """Pool feature maps over time (and bands): their mean, with their max or std."""
    layers = keras.layers
    average, maximum = {
        1: (layers.GlobalAveragePooling1D, layers.GlobalMaxPooling1D),
        2: (layers.GlobalAveragePooling2D, layers.GlobalMaxPooling2D),
    }[ndim]
    if how == "mean":
        return average(name="global_pool")(x)
    if how == "mean_max":
        return layers.Concatenate(name="global_pool")(
            [average(name="global_mean")(x), maximum(name="global_max")(x)]
        )
    if how == "mean_std":
        deviation = _std_pooling(keras)[f"GlobalStdPooling{ndim}D"]
        return layers.Concatenate(name="global_pool")(
            [average(name="global_mean")(x), deviation(name="global_std")(x)]
        )
    raise ValueError(f"global_pool must be 'mean', 'mean_max' or 'mean_std', got {how!r}")


# ------------------------------------------------------------------ data pipeline


def _augmented_dataset(
    keras: Any, clf: WindowCNNClassifier, X, Y, gain_scale, n_epochs: int
) -> Any:
    """A :class:`keras.utils.PyDataset` of augmented training windows for ``n_epochs`` epochs.

    Its batches run through every epoch in turn (``steps`` batches each, fitted with
    ``steps_per_epoch=steps``), so batch ``i`` is epoch ``i // steps`` of the
    :func:`epoch_plan`, a function of the seed and ``i`` alone: nothing depends on
    when Keras's prefetching asks for it.
    """
    n_samples = len(X) * int(clf.crops_per_track)
    frames = audio_frames(X, int(clf.window_frames))

    class AugmentedWindows(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__(workers=1, use_multiprocessing=False)
            self.steps = math.ceil(n_samples / int(clf.batch_size))
            self._plans: dict[int, dict[str, np.ndarray]] = {}

        def plan(self, epoch: int) -> dict[str, np.ndarray]:
            if epoch not in self._plans:
                if len(self._plans) > 1:  # batches arrive in order: keep two epochs at most
                    self._plans.pop(min(self._plans))
                self._plans[epoch] = epoch_plan(
                    len(X),
                    frames,
                    int(clf.window_frames),
                    crops_per_track=int(clf.crops_per_track),
                    gain_db=float(clf.gain_db),
                    time_masks=int(clf.time_masks),
                    time_mask_frames=int(clf.time_mask_frames),
                    freq_masks=int(clf.freq_masks),
                    freq_mask_bins=int(clf.freq_mask_bins),
                    n_mels=X.shape[1],
                    mixup_alpha=float(clf.mixup_alpha),
                    seed=clf.random_state,
                    epoch=epoch,
                )
            return self._plans[epoch]

        def __len__(self) -> int:
            return self.steps * n_epochs

        def _samples(self, plan: dict[str, np.ndarray], idx: np.ndarray) -> np.ndarray:
            windows = crop_windows(
                X, plan["track"][idx], plan["start"][idx], int(clf.window_frames)
            )
            return augment_windows(
                windows,
                plan["gain"][idx],
                gain_scale,
                plan["time_start"][idx],
                plan["time_width"][idx],
                plan["freq_start"][idx],
                plan["freq_width"][idx],
            )

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            epoch, batch = divmod(int(index), self.steps)
            plan = self.plan(epoch)
            size = int(clf.batch_size)
            idx = np.arange(batch * size, min((batch + 1) * size, n_samples))
            x = self._samples(plan, idx)
            y = Y[plan["track"][idx]]
            if float(clf.mixup_alpha) > 0:
                partner = plan["partner"][idx]
                lam = plan["lam"][idx].astype(np.float32)
                x = lam[:, None, None] * x + (1 - lam[:, None, None]) * self._samples(plan, partner)
                y = lam[:, None] * y + (1 - lam[:, None]) * Y[plan["track"][partner]]
            return x.astype(np.float32), y.astype(np.float32)

    return AugmentedWindows()


# ------------------------------------------------------------------ the window CNN


class _WindowVoting:
    """Tracks predicted from the class probabilities of their covering windows.

    Subclasses give ``_window_proba(X)``: the probabilities of every window
    every ``hop_frames`` frames of every track, and the track of each.
    """

    def window_log_proba(self, X: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """Log-probabilities of every covering window and the track of each.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_mels, n_frames)

        Returns
        -------
        log_proba, track_index
            ``(n_windows_total, n_classes)`` and ``(n_windows_total,)``.
        """
        proba, tracks = self._window_proba(X)
        return np.log(np.clip(proba, 1e-12, 1.0)), tracks

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Softmax of the mean window log-probability of each track.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_mels, n_frames)

        Returns
        -------
        ndarray of shape (n_tracks, n_classes)
            Rows sum to 1; columns in ``classes_`` order.
        """
        proba, tracks = self._window_proba(X)
        return vote(proba, tracks, len(X), "mean_log_proba")


class WindowCNNClassifier(_WindowVoting, KerasClassifier):
    """A CNN on log-mel windows with augmentation; tracks predicted by window voting.

    Network, on one window ``(n_mels, window_frames)``::

        len(filters) x [Conv(f, kernel_size, "same") -> BatchNorm -> LeakyReLU
                        -> MaxPool(pool_size, "same")]
        -> global pooling (mean, mean and max, or mean and std) -> Dropout
        -> Dense(dense_units) -> BatchNorm -> LeakyReLU -> Dropout -> Dense(n_classes, softmax)

    ``convolution="time_frequency"`` convolves the window as an image (Conv2D over
    bands and frames, one input channel); ``convolution="time"`` convolves along time
    only, with the mel bands as channels (Conv1D), so that every kernel sees the whole
    spectrum of ``kernel_size`` frames. ``convolution="timbral"`` makes the first block
    the musically motivated front end of Pons et al. (musicnn, 2019): kernels of
    ``kernel_size`` frames as tall as a share of the bands (``band_heights``), each
    map max-pooled over the kernel's band positions, so that a spectral shape is found
    in any register; the other blocks convolve along time.

    The ``Dense(dense_units)`` activations are the embedding
    (:meth:`window_embeddings`). With the defaults (96 mel bands, 128 frames)
    the network has about 66,000 weights and trains on CPU.

    Parameters
    ----------
    architecture : {"cnn_windows"}
        Fixed; present so that saved parameters name the network.
    convolution : {"time_frequency", "time", "timbral"}, default="time_frequency"
        2-D kernels over bands and frames, 1-D kernels over frames that span
        every band, or a first block of tall kernels pooled over band positions
        before 1-D kernels over frames.
    filters : tuple of int, default=(16, 32, 64, 64)
        Filters of the convolution blocks, one block per entry.
    kernel_size : int or (int, int), default=3
        Convolution kernel.
    pool_size : int or (int, int), default=2
        Max-pooling window (mel bands, frames) after each block; an int (frames)
        with ``convolution="time"`` or ``"timbral"``, as is ``kernel_size``.
    global_pool : {"mean", "mean_max", "mean_std"}, default="mean"
        What the last block's maps pass on: their mean over the window, or
        their mean and their maximum or standard deviation (twice the features).
    band_heights : sequence of float, default=(0.4, 0.7)
        With ``convolution="timbral"``: the first block's kernel heights as
        shares of the bands (musicnn's), its ``filters[0]`` maps split evenly
        between them.
    band_stride : int, default=1
        With ``convolution="timbral"``: bands between the positions of a tall
        kernel (larger: less CPU, coarser invariance to a shift over bands).
    dense_units : int, default=64
        Width of the embedding layer.
    negative_slope : float, default=0.3
        LeakyReLU slope.
    dropout : float, default=0.3
        Dropout rate after pooling and before the output layer.
    epochs : int, default=60
        Maximum epochs (an epoch is ``crops_per_track`` windows of every training track).
    batch_size : int, default=32
        Windows per batch.
    learning_rate : float, default=1e-3
        Adam's learning rate.
    weight_decay : float, default=1e-4
        AdamW's decoupled weight decay (0: plain Adam).
    validation_fraction : float, default=0.15
        Share of the training *tracks* (stratified by class where possible)
        whose windows monitor ``val_loss`` for early stopping; the best
        epoch's weights are restored. Ignored when ``fit`` gets
        ``validation_data``; ``0`` trains all epochs on every track.
    patience : int, default=10
        Epochs without a ``val_loss`` improvement before stopping.
    lr_patience : int, default=0
        Epochs without a ``val_loss`` improvement before the learning rate
        halves (down to 1/32 of ``learning_rate``); 0 keeps it constant. Only
        with validation tracks and ``lr_schedule="constant"``.
    lr_schedule : {"constant", "cosine"}, default="constant"
        ``"cosine"`` lowers the learning rate from ``learning_rate`` to 0 along
        a half cosine over all ``epochs``: a fixed training length that ends
        on small steps, for training without validation tracks.
    window_frames : int, default=128
        Frames per window (about 3 s at 22050 Hz and hop 512).
    hop_frames : int, default=64
        Frames between the windows that predict a track (and validate).
    crops_per_track : int, default=8
        Random windows of every training track per epoch.
    gain_db : float, default=6.0
        Random gain of each training window, uniform in ``[-gain_db, gain_db]`` dB.
    time_masks, freq_masks : int, default=2
        SpecAugment masks per training window along time and mel bands.
    time_mask_frames, freq_mask_bins : int, default=16 and 12
        Largest mask widths.
    mixup_alpha : float, default=0.2
        Mixup of training windows and labels, weight from ``Beta(alpha, alpha)``;
        0 turns it off.
    random_state : int or None
        Seeds the network (``keras.utils.set_random_seed``, deterministic ops)
        and every augmentation and validation choice.
    n_threads, verbose, log
        As for :class:`~genrepipe.models.KerasClassifier`.

    Attributes
    ----------
    classes_, model_, history_, best_epoch_
        As for :class:`~genrepipe.models.KerasClassifier`.
    input_shape_ : tuple of int
        ``(n_mels, window_frames)``: one window.
    train_tracks_, validation_tracks_ : numpy.ndarray
        Rows of ``fit``'s ``X`` that trained and that validated (disjoint;
        ``validation_tracks_`` is empty with given ``validation_data`` or
        ``validation_fraction=0``).
    """

    def __init__(
        self,
        architecture: str = "cnn_windows",
        *,
        convolution: str = "time_frequency",
        filters: Sequence[int] = (16, 32, 64, 64),
        kernel_size: int | Sequence[int] = 3,
        pool_size: int | Sequence[int] = 2,
        global_pool: str = "mean",
        band_heights: Sequence[float] = (0.4, 0.7),
        band_stride: int = 1,
        dense_units: int = 64,
        negative_slope: float = 0.3,
        dropout: float = 0.3,
        epochs: int = 60,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        validation_fraction: float = 0.15,
        patience: int = 10,
        lr_patience: int = 0,
        lr_schedule: str = "constant",
        window_frames: int = 128,
        hop_frames: int = 64,
        crops_per_track: int = 8,
        gain_db: float = 6.0,
        time_masks: int = 2,
        time_mask_frames: int = 16,
        freq_masks: int = 2,
        freq_mask_bins: int = 12,
        mixup_alpha: float = 0.2,
        random_state: int | None = None,
        n_threads: int | None = None,
        verbose: int = 0,
        log: Callable[[str], Any] | None = None,
    ) -> None:
        self.architecture = architecture
        self.convolution = convolution
        self.filters = filters
        self.kernel_size = kernel_size
        self.pool_size = pool_size
        self.global_pool = global_pool
        self.band_heights = band_heights
        self.band_stride = band_stride
        self.dense_units = dense_units
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.lr_patience = lr_patience
        self.lr_schedule = lr_schedule
        self.window_frames = window_frames
        self.hop_frames = hop_frames
        self.crops_per_track = crops_per_track
        self.gain_db = gain_db
        self.time_masks = time_masks
        self.time_mask_frames = time_mask_frames
        self.freq_masks = freq_masks
        self.freq_mask_bins = freq_mask_bins
        self.mixup_alpha = mixup_alpha
        self.random_state = random_state
        self.n_threads = n_threads
        self.verbose = verbose
        self.log = log

    # -- input handling ----------------------------------------------------------

    @property
    def _input_ndim(self) -> int:
        if self.architecture != "cnn_windows":
            raise ValueError(f"architecture must be 'cnn_windows', got {self.architecture!r}")
        return 3

    def _check_X(self, X: ArrayLike) -> np.ndarray:
        """Whole tracks ``(n, n_mels, n_frames)``, at least one window long."""
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 3 or self._input_ndim != 3:
            raise ValueError(f"'cnn_windows' expects tracks (n, n_mels, frames), got {X.shape}")
        if X.shape[2] < int(self.window_frames):
            raise ValueError(
                f"tracks of {X.shape[2]} frames are shorter than a window of "
                f"{self.window_frames} frames"
            )
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinity")
        if hasattr(self, "input_shape_") and X.shape[1] != self.input_shape_[0]:
            raise ValueError(
                f"X has {X.shape[1]} mel bands, but the model was fitted on {self.input_shape_[0]}"
            )
        return X

    # -- network -------------------------------------------------------------------

    def _build(self, keras: Any, input_shape: tuple[int, ...], n_classes: int) -> Any:
        layers = keras.layers
        slope = float(self.negative_slope)
        rows, frames = input_shape
        inputs = keras.Input(shape=input_shape, name="features")
        filters = [int(f) for f in np.atleast_1d(self.filters)]
        if not filters or min(filters) < 1:
            raise ValueError(f"filters must be positive ints, got {self.filters!r}")
        blocks = list(enumerate(filters, start=1))
        if self.convolution == "time_frequency":
            x = layers.Reshape((rows, frames, 1), name="add_channel")(inputs)
            conv, pool_layer, ndim = layers.Conv2D, layers.MaxPooling2D, 2
            kernel = _as_pair(self.kernel_size, "kernel_size")
            _check_kernel_fits(kernel, (rows, frames))
            pool = _as_pair(self.pool_size, "pool_size")
        elif self.convolution in ("time", "timbral"):
            conv, pool_layer, ndim = layers.Conv1D, layers.MaxPooling1D, 1
            kernel, pool = (
                _as_int(self.kernel_size, "kernel_size"),
                _as_int(self.pool_size, "pool_size"),
            )
            _check_kernel_fits((kernel,), (frames,))
            if self.convolution == "time":
                # Mel bands become channels: every kernel sees the whole spectrum of a few
                # frames, a learned spectral envelope and its change (timbre), as MFCC and
                # deltas are fixed ones.
                x = layers.Permute((2, 1), name="frames_first")(inputs)
            else:
                # Pons et al.'s musically motivated front end (musicnn): tall kernels that
                # span a share of the bands, max-pooled over band positions, detect a
                # spectral shape wherever it sits (a timbre in any register or key); the
                # blocks after it convolve over time.
                x = self._timbral_block(keras, inputs, filters[0], rows)
                x = pool_layer(pool, padding="same", name="conv1_pool")(x)
                blocks = blocks[1:]
        else:
            raise ValueError(
                "convolution must be 'time_frequency', 'time' or 'timbral', "
                f"got {self.convolution!r}"
            )
        for i, n_filters in blocks:
            x = conv(n_filters, kernel, padding="same", use_bias=False, name=f"conv{i}")(x)
            x = layers.BatchNormalization(momentum=_BN_MOMENTUM, name=f"conv{i}_bn")(x)
            x = layers.LeakyReLU(negative_slope=slope, name=f"conv{i}_act")(x)
            x = pool_layer(pool, padding="same", name=f"conv{i}_pool")(x)
        x = _global_pool(keras, x, self.global_pool, ndim)
        x = layers.Dropout(float(self.dropout), name="pool_dropout")(x)
        x = layers.Dense(int(self.dense_units), name="hidden")(x)
        x = layers.BatchNormalization(momentum=_BN_MOMENTUM, name="hidden_bn")(x)
        x = layers.LeakyReLU(negative_slope=slope, name="hidden_act")(x)
        x = layers.Dropout(float(self.dropout), name="dropout")(x)
        outputs = layers.Dense(n_classes, activation="softmax", name="output")(x)
        return keras.Model(inputs, outputs, name="genrepipe_cnn_windows")

    def _timbral_block(self, keras: Any, inputs: Any, n_filters: int, rows: int) -> Any:
        """Tall kernels over bands, max-pooled over band positions: ``(frames, n_filters)``."""
        layers = keras.layers
        heights = [float(h) for h in np.atleast_1d(self.band_heights)]
        if not heights or min(heights) <= 0 or max(heights) > 1:
            raise ValueError(f"band_heights must be shares of the bands in (0, 1], got {heights}")
        if n_filters < len(heights):
            raise ValueError(
                f"filters[0]={n_filters} cannot give a map to each of {len(heights)} band_heights"
            )
        width = _as_int(self.kernel_size, "kernel_size")
        stride = int(self.band_stride)
        x = layers.Reshape((rows, -1, 1), name="add_channel")(inputs)
        # Pad time only: the maps are pooled over every band position afterwards.
        x = layers.ZeroPadding2D(((0, 0), ((width - 1) // 2, width // 2)), name="pad_time")(x)
        maps = [len(part) for part in np.array_split(np.arange(n_filters), len(heights))]
        slope = float(self.negative_slope)
        branches = []
        for j, (share, n_maps) in enumerate(zip(heights, maps, strict=True), start=1):
            height = max(1, round(share * rows))
            y = layers.Conv2D(
                n_maps,
                (height, width),
                strides=(stride, 1),
                use_bias=False,
                name=f"conv1_{j}",
            )(x)
            y = layers.BatchNormalization(momentum=_BN_MOMENTUM, name=f"conv1_{j}_bn")(y)
            y = layers.LeakyReLU(negative_slope=slope, name=f"conv1_{j}_act")(y)
            positions = (rows - height) // stride + 1
            y = layers.MaxPooling2D((positions, 1), name=f"conv1_{j}_band_pool")(y)
            name = "conv1" if len(heights) == 1 else f"conv1_{j}_frames"
            branches.append(layers.Reshape((-1, n_maps), name=name)(y))
        if len(branches) == 1:
            return branches[0]
        return layers.Concatenate(name="conv1")(branches)

    def _callbacks(self, keras: Any, *, early_stopping: bool) -> list[Any]:
        """Early stopping and epoch logging, and the learning rate halving on plateaus."""
        callbacks = super()._callbacks(keras, early_stopping=early_stopping)
        if early_stopping and int(self.lr_patience) > 0 and self.lr_schedule == "constant":
            # Small validation sets give a noisy val_loss: a smaller step settles it.
            # First in the list, so the epoch logger already sees the epoch's rate.
            callbacks.insert(
                0,
                keras.callbacks.ReduceLROnPlateau(
                    monitor="val_loss",
                    factor=0.5,
                    patience=int(self.lr_patience),
                    min_lr=float(self.learning_rate) / 32,
                ),
            )
        return callbacks

    def _check_params(self) -> None:
        for name in (
            "window_frames",
            "hop_frames",
            "crops_per_track",
            "batch_size",
            "epochs",
            "band_stride",
        ):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in (
            "time_masks",
            "time_mask_frames",
            "freq_masks",
            "freq_mask_bins",
            "lr_patience",
        ):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if float(self.gain_db) < 0 or float(self.mixup_alpha) < 0:
            raise ValueError("gain_db and mixup_alpha must be >= 0")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ValueError(
                f"lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}"
            )

    # -- estimator API ---------------------------------------------------------------

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        input_scale: ArrayLike | None = None,
    ) -> WindowCNNClassifier:
        """Train a fresh network on augmented windows of the tracks ``X``.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_mels, n_frames)
            Whole tracks (log-mel, in dB or standardized per band).
        y : array-like of shape (n_tracks,)
            Class of each track.
        validation_data : tuple (X_val, y_val), optional
            Validation tracks (a split's ``valid`` list); when given, no tracks
            are carved out of ``X``.
        input_scale : array-like of shape (n_mels,), optional
            Input units per dB of each band, so that gains are in dB: the
            band's standard deviation when ``X`` was standardized per band
            (:class:`genrepipe.preprocess.RowStandardizer`'s ``scale_``); 1
            (the default) when ``X`` is in dB.

        Returns
        -------
        WindowCNNClassifier
            ``self``, fitted.
        """
        self._check_params()
        X, classes, y_enc = self._check_targets(X, y)
        n_mels, n_classes = X.shape[1], len(classes)
        gain_scale = (
            np.ones(n_mels) if input_scale is None else np.asarray(input_scale, dtype=np.float64)
        )
        if gain_scale.shape != (n_mels,) or not np.all(gain_scale > 0):
            raise ValueError(f"input_scale must hold {n_mels} positive values")

        keras, _ = self._start_keras()
        onehot = np.eye(n_classes, dtype=np.float32)
        if validation_data is not None:
            train_tracks, val_tracks = np.arange(len(X)), np.empty(0, dtype=np.int64)
            X_v, y_v = self._known_validation(validation_data, classes)
        else:
            val_tracks = self._validation_tracks(y_enc)
            train_tracks = np.setdiff1d(np.arange(len(X)), val_tracks)
            X_v, y_v = X[val_tracks], y_enc[val_tracks]
        validation = None
        if len(y_v):
            v_tracks, v_starts = _window_grid(
                audio_frames(X_v, int(self.window_frames)),
                int(self.window_frames),
                int(self.hop_frames),
            )
            validation = (
                crop_windows(X_v, v_tracks, v_starts, int(self.window_frames)),
                onehot[y_v[v_tracks]],
            )

        epochs = int(self.epochs)
        dataset = _augmented_dataset(
            keras, self, X[train_tracks], onehot[y_enc[train_tracks]], gain_scale, epochs
        )
        model = self._build(keras, (n_mels, int(self.window_frames)), n_classes)
        learning_rate: Any = float(self.learning_rate)
        if self.lr_schedule == "cosine":
            learning_rate = keras.optimizers.schedules.CosineDecay(
                learning_rate, decay_steps=epochs * dataset.steps
            )
        if float(self.weight_decay) > 0:
            optimizer = keras.optimizers.AdamW(
                learning_rate=learning_rate, weight_decay=float(self.weight_decay)
            )
        else:
            optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
        model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
        callbacks = self._callbacks(keras, early_stopping=validation is not None)
        result = model.fit(
            dataset,
            steps_per_epoch=dataset.steps,
            shuffle=False,  # the plan orders each epoch; Keras would mix batches of all epochs
            validation_data=validation,
            validation_batch_size=int(self.batch_size),
            epochs=epochs,
            callbacks=callbacks,
            verbose=self.verbose,
        )
        self._record_fit(
            model,
            classes,
            result,
            (n_mels, self.window_frames),
            early_stopping=validation is not None,
        )
        self.train_tracks_ = train_tracks
        self.validation_tracks_ = val_tracks
        return self

    def _windows_apply(self, X: ArrayLike, network: Any) -> tuple[np.ndarray, np.ndarray]:
        """Run ``network`` on every covering window of every track of ``X``."""
        check_is_fitted(self, "model_")
        X = self._check_X(X)
        wf, hop, batch = int(self.window_frames), int(self.hop_frames), int(self.batch_size)
        tracks, starts = _window_grid(audio_frames(X, wf), wf, hop)
        outputs = []
        for first in range(0, len(X), _PREDICT_TRACKS):
            rows = (tracks >= first) & (tracks < first + _PREDICT_TRACKS)
            windows = crop_windows(X, tracks[rows], starts[rows], wf)
            # Zero windows fill the last batch: every batch then has one shape, so
            # Keras traces its predict function once per network instead of once
            # per leftover size (TensorFlow warns of the retracing). Inference
            # treats windows independently, so the padding changes no output.
            n = len(windows)
            padded = np.zeros((-(-n // batch) * batch, *windows.shape[1:]), windows.dtype)
            padded[:n] = windows
            outputs.append(np.asarray(network.predict(padded, batch_size=batch, verbose=0))[:n])
        return np.concatenate(outputs).astype(np.float64), tracks

    def _window_proba(self, X: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        return self._windows_apply(X, self.model_)

    def window_embeddings(
        self, X: ArrayLike, layer: str | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Penultimate-layer activations of every covering window, and its track.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_mels, n_frames)
        layer : str or None
            Name of another layer whose output to return instead, such as
            ``"global_pool"`` (the pooled maps, before the dense layer).

        Returns
        -------
        embeddings, track_index
            ``(n_windows_total, dense_units)`` (or the layer's width) and
            ``(n_windows_total,)``.
        """
        check_is_fitted(self, "model_")
        return self._windows_apply(X, self._embedder(layer))

    def _embedder(self, layer: str | None) -> Any:
        """A Keras model from the input to ``layer``'s output, one per layer and network.

        Kept so that repeated calls (training, then test tracks) reuse one traced
        predict function; a refit or a reloaded network starts a new set.
        """
        cache = getattr(self, "_embedders", None)
        if cache is None or cache[0] is not self.model_:
            cache = self._embedders = (self.model_, {})
        embedders = cache[1]
        if layer not in embedders:
            keras, _ = _import_keras()
            if layer is None:
                output = self.model_.get_layer("output").input
            else:
                try:
                    output = self.model_.get_layer(layer).output
                except ValueError:
                    names = ", ".join(known.name for known in self.model_.layers)
                    raise ValueError(
                        f"the network has no layer {layer!r} (it has: {names})"
                    ) from None
            embedders[layer] = keras.Model(self.model_.inputs, output, name="embedding")
        return embedders[layer]

    def transform_embedding(self, X: ArrayLike) -> np.ndarray:
        """Mean window embedding of each track, ``(n_tracks, dense_units)``."""
        embeddings, tracks = self.window_embeddings(X)
        counts = np.bincount(tracks)
        out = np.zeros((len(counts), embeddings.shape[1]))
        np.add.at(out, tracks, embeddings)
        return out / counts[:, None]


# ------------------------------------------------------------------ SVM / GMM on embeddings


class CnnEmbeddingClassifier(_WindowVoting, ClassifierMixin, BaseEstimator):
    """An SVM or per-genre GMMs on the window CNN's embeddings, tracks by window voting.

    Parameters
    ----------
    head : {"svm", "gmm"}, default="svm"
        The classifier on embeddings: :func:`genrepipe.models.make_model`'s
        ``svm`` (Platt-calibrated SVC) or ``gmm``, after a standardization of
        the embeddings fitted on the training windows.
    head_params : mapping or None
        Its settings (e.g. ``{"C": 10}`` or ``{"n_components": 2}``).
    embedding : {"penultimate", "global_pool"}, default="penultimate"
        The CNN layer whose window activations the head reads: the dense
        layer before the output, or the pooled maps before it (see
        :meth:`WindowCNNClassifier.window_embeddings`).
    cnn_params : mapping or None
        Settings of the :class:`WindowCNNClassifier` trained by ``fit`` (not
        used when ``fit`` gets a fitted ``cnn``).
    random_state, n_threads, log
        Passed to the CNN trained by ``fit``; the head gets ``random_state`` only.

    Attributes
    ----------
    cnn_ : WindowCNNClassifier
        The fitted CNN.
    head_ : sklearn.pipeline.Pipeline
        Standardization and the head, fitted on the training tracks' windows.
    classes_ : numpy.ndarray
        Class labels, sorted.
    """

    def __init__(
        self,
        head: str = "svm",
        *,
        head_params: Mapping[str, Any] | None = None,
        embedding: str = "penultimate",
        cnn_params: Mapping[str, Any] | None = None,
        random_state: int | None = None,
        n_threads: int | None = None,
        log: Callable[[str], Any] | None = None,
    ) -> None:
        self.head = head
        self.head_params = head_params
        self.embedding = embedding
        self.cnn_params = cnn_params
        self.random_state = random_state
        self.n_threads = n_threads
        self.log = log

    def _layer(self) -> str | None:
        """The layer :meth:`WindowCNNClassifier.window_embeddings` reads (None: penultimate)."""
        if self.embedding not in EMBEDDING_LAYERS:
            raise ValueError(
                f"embedding must be one of {', '.join(EMBEDDING_LAYERS)}, got {self.embedding!r}"
            )
        return None if self.embedding == "penultimate" else self.embedding

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        validation_data: tuple[ArrayLike, ArrayLike] | None = None,
        input_scale: ArrayLike | None = None,
        cnn: WindowCNNClassifier | None = None,
    ) -> CnnEmbeddingClassifier:
        """Fit (or take) the CNN, then the head on embeddings of the training windows.

        Parameters
        ----------
        X : array-like of shape (n_tracks, n_mels, n_frames)
            Training tracks.
        y : array-like of shape (n_tracks,)
            Their classes.
        validation_data, input_scale
            For the CNN's fit (see :meth:`WindowCNNClassifier.fit`).
        cnn : WindowCNNClassifier, optional
            A CNN already fitted on these training tracks (the same fold): used
            as it is, not refitted.

        Returns
        -------
        CnnEmbeddingClassifier
            ``self``, fitted.
        """
        y = np.asarray(y)
        layer = self._layer()
        if cnn is None:
            cnn = WindowCNNClassifier(
                **dict(self.cnn_params or {}),
                random_state=self.random_state,
                n_threads=self.n_threads,
                log=self.log,
            )
            cnn.fit(X, y, validation_data=validation_data, input_scale=input_scale)
        else:
            check_is_fitted(cnn, "model_")
            if not np.array_equal(np.unique(y), cnn.classes_):
                raise ValueError("the given CNN was fitted on other classes than y")
        embeddings, tracks = cnn.window_embeddings(X, layer=layer)
        seed = 0 if self.random_state is None else int(self.random_state)
        self.head_ = fit_embedding_head(
            self.head, self.head_params, embeddings, y[tracks], tracks, random_state=seed
        )
        self.cnn_ = cnn
        self.classes_ = cnn.classes_
        return self

    def _window_proba(self, X: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "head_")
        embeddings, tracks = self.cnn_.window_embeddings(X, layer=self._layer())
        return self.head_.predict_proba(embeddings), tracks

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The class of highest voted probability."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def fit_embedding_head(
    head: str,
    params: Mapping[str, Any] | None,
    embeddings: np.ndarray,
    labels: ArrayLike,
    tracks: np.ndarray,
    random_state: int = 0,
) -> Pipeline:
    """Fit a head of :class:`CnnEmbeddingClassifier` on window embeddings.

    Parameters
    ----------
    head
        ``svm`` or ``gmm``, built by :func:`genrepipe.models.make_model` with ``params``
        after a :class:`~sklearn.preprocessing.StandardScaler`.
    params
        The head's settings, as a config gives them for ``svm`` or ``gmm``; None for
        the defaults.
    embeddings, labels, tracks
        One row per window: its embedding, its track's label and its track's index.
        An SVM's probability calibration folds keep a track's windows together
        (see :class:`~genrepipe.models.CalibratedSVC`): windows of a track on both
        sides would make its probabilities overconfident.
    random_state
        The head's seed, passed to :func:`~genrepipe.models.make_model`.

    Returns
    -------
    sklearn.pipeline.Pipeline
        The fitted pipeline: the ``scale`` step, then the ``head``.

    Raises
    ------
    ValueError
        If ``head`` is not ``svm`` or ``gmm``.
    """
    from genrepipe.models import make_model

    if head not in ("svm", "gmm"):
        raise ValueError(f"head must be 'svm' or 'gmm', got {head!r}")
    estimator = make_model(head, dict(params or {}), random_state=random_state)
    pipeline = Pipeline([("scale", StandardScaler()), ("head", estimator)])
    return pipeline.fit(
        embeddings, np.asarray(labels), **({"head__tracks": tracks} if head == "svm" else {})
    )


def save_embedding_classifier(model: CnnEmbeddingClassifier, path: str | Path) -> None:
    """Write a fitted :class:`CnnEmbeddingClassifier` as one zip archive, atomically.

    The archive holds ``genrepipe_composite.json`` (format, parameters, classes),
    ``cnn.zip`` (the CNN as written by :func:`~genrepipe.models.save_model`) and
    ``head.skops`` (the standardization and head).
    """
    from genrepipe.models import save_model

    check_is_fitted(model, "head_")
    params = model.get_params(deep=False)
    params.pop("log", None)
    params["head_params"] = dict(params["head_params"] or {})
    params["cnn_params"] = {
        k: list(v) if isinstance(v, tuple) else v for k, v in (params["cnn_params"] or {}).items()
    }
    classes = model.classes_
    meta = {
        "format": _COMPOSITE_FORMAT,
        "format_version": _COMPOSITE_FORMAT_VERSION,
        "params": params,
        "classes": classes.tolist(),
        "classes_dtype": "object" if classes.dtype == object else classes.dtype.str,
    }
    with tempfile.TemporaryDirectory(prefix="genrepipe-composite-") as tmpdir:
        cnn_file, head_file = Path(tmpdir) / "cnn.zip", Path(tmpdir) / "head.skops"
        save_model(model.cnn_, cnn_file)
        save_model(model.head_, head_file)
        with atomic_path(path) as tmp:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
                zf.writestr(_COMPOSITE_META, json.dumps(meta, indent=2, sort_keys=True))
                zf.write(cnn_file, arcname="cnn.zip")
                zf.write(head_file, arcname="head.skops")


def load_embedding_classifier(path: str | Path) -> CnnEmbeddingClassifier:
    """Read a :class:`CnnEmbeddingClassifier` written by :func:`save_embedding_classifier`.

    Its parts are read with :func:`~genrepipe.models.load_model`, with the
    same safeguards (the skops allow-list, Keras safe mode).
    """
    from genrepipe.models import load_model

    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read(_COMPOSITE_META))
        if meta.get("format") != _COMPOSITE_FORMAT or (
            meta.get("format_version") != _COMPOSITE_FORMAT_VERSION
        ):
            raise ValueError(f"{path}: unsupported composite model format")
        with tempfile.TemporaryDirectory(prefix="genrepipe-composite-") as tmpdir:
            cnn_file, head_file = Path(tmpdir) / "cnn.zip", Path(tmpdir) / "head.skops"
            cnn_file.write_bytes(zf.read("cnn.zip"))
            head_file.write_bytes(zf.read("head.skops"))
            cnn, head = load_model(cnn_file), load_model(head_file)
    if not isinstance(cnn, WindowCNNClassifier):
        raise ValueError(f"{path}: the composite's CNN is not a window CNN")
    model = CnnEmbeddingClassifier(**meta["params"])
    model.cnn_, model.head_ = cnn, head
    model.classes_ = np.asarray(meta["classes"], dtype=np.dtype(meta["classes_dtype"]))
    return model
