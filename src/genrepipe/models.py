"""The four classifiers of the reference study, their factory and their persistence.

Every model is a scikit-learn-style estimator: ``fit(X, y)`` with string or
integer labels, ``predict_proba(X)`` with one column per entry of ``classes_``
(in that order) and ``predict(X)``. Each is configured by constructor arguments
only, so a workflow config dict maps one to one onto a model (see
:func:`make_model`).

``gmm``
    :class:`GaussianMixtureClassifier`: one Gaussian mixture per class, the
    class of highest likelihood wins.
``svm``
    A scikit-learn :class:`~sklearn.svm.SVC` with Platt-scaled probabilities.
    scikit-learn 1.9 deprecates ``SVC(probability=True)`` (removal in 1.11) and
    names ``CalibratedClassifierCV(SVC(), ensemble=False)`` as its replacement:
    the same sigmoid calibration fitted on cross-validated decision values, then
    one SVC refitted on all rows. The factory builds that as :class:`CalibratedSVC`
    with :class:`CalibrationFolds`: 2 to 5 stratified folds (fewer when a class
    has fewer rows), grouped by track for windows.
``nn`` and ``cnn``
    :class:`KerasClassifier`, a small dense network on feature vectors or a
    small convolutional network on feature images.
``logreg``
    A scikit-learn :class:`~sklearn.linear_model.LogisticRegression`.
``cnn_windows``, ``cnn_svm``, ``cnn_gmm``
    A CNN on log-mel windows with augmentation, and an SVM or GMMs on its
    embeddings; see :mod:`genrepipe.windows`.

Persistence (:func:`save_model`, :func:`load_model`) writes one file per model
in every case, atomically: scikit-learn models as a ``skops`` file (never a
pickle), Keras models as a zip archive holding the native ``.keras`` file and a
JSON sidecar with the wrapper's state. TensorFlow is imported only when a Keras
model is built, fitted or loaded, so the ``gmm`` and ``svm`` jobs never pay for
it.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import (
    BaseCrossValidator,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)
from sklearn.svm import SVC
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

from genrepipe.estimators import ESTIMATOR_NAMES, MODEL_NAMES, allowed_params
from genrepipe.io import atomic_path

__all__ = [
    "ESTIMATOR_NAMES",
    "MODEL_NAMES",
    "SKOPS_ALLOWED_TYPES",
    "GaussianMixtureClassifier",
    "KerasClassifier",
    "UntrustedModelError",
    "load_model",
    "make_model",
    "save_model",
]

# --------------------------------------------------------------------------- GMM


class GaussianMixtureClassifier(ClassifierMixin, BaseEstimator):
    """One Gaussian mixture model per class; predict the class of highest likelihood.

    Parameters
    ----------
    n_components : int, default=1
        Mixture components per class. A class with fewer training rows than
        ``n_components`` gets one component per row instead (see
        ``n_components_``), so a rare class never makes ``fit`` fail; a class
        with a single row becomes one Gaussian at that row with covariance
        ``reg_covar`` (times the identity).
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Passed to :class:`sklearn.mixture.GaussianMixture`.
    reg_covar : float, default=1e-3
        Added to the covariance diagonals; keeps full covariances of small
        classes invertible.
    max_iter : int, default=200
        EM iterations per mixture.
    use_priors : bool, default=False
        Add the log class prior (the class frequency in training) to the
        log-likelihood before taking the arg-max and the softmax. The reference
        picks the class of highest likelihood, hence ``False``.
    random_state : int or None, default=None
        Seed of the k-means initialisation, the same seed for every class.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, sorted.
    gmms_ : list of GaussianMixture
        The fitted mixture of each class, in ``classes_`` order.
    n_components_ : ndarray of shape (n_classes,)
        Components actually used per class.
    class_log_prior_ : ndarray of shape (n_classes,)
        Log of each class's share of the training rows.
    n_features_in_ : int
        Feature count seen in ``fit``.
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        reg_covar: float = 1e-3,
        max_iter: int = 200,
        use_priors: bool = False,
        random_state: int | None = None,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.use_priors = use_priors
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike) -> GaussianMixtureClassifier:
        """Fit one mixture to the rows of each class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Feature vectors.
        y : array-like of shape (n_samples,)
            Class labels (strings or integers).

        Returns
        -------
        GaussianMixtureClassifier
            ``self``, fitted.
        """
        if int(self.n_components) < 1:
            raise ValueError(f"n_components must be >= 1, got {self.n_components!r}")
        X, y = check_X_y(X, y, dtype=np.float64)
        check_classification_targets(y)
        classes, y_index, counts = np.unique(y, return_inverse=True, return_counts=True)
        if len(classes) < 2:
            raise ValueError(f"need at least 2 classes to fit a classifier, got {len(classes)}")
        gmms: list[GaussianMixture] = []
        used = np.empty(len(classes), dtype=np.int64)
        for k in range(len(classes)):
            rows = X[y_index == k]
            n_comp = min(int(self.n_components), len(rows))
            gmm = GaussianMixture(
                n_components=n_comp,
                covariance_type=self.covariance_type,
                reg_covar=self.reg_covar,
                max_iter=self.max_iter,
                random_state=self.random_state,
            )
            if len(rows) == 1:
                # GaussianMixture needs two rows; a duplicated row has the same
                # maximum-likelihood fit: mean = the row, covariance = reg_covar.
                rows = np.repeat(rows, 2, axis=0)
            gmms.append(gmm.fit(rows))
            used[k] = n_comp
        self.classes_ = classes
        self.gmms_ = gmms
        self.n_components_ = used
        self.class_log_prior_ = np.log(counts / counts.sum())
        self.n_features_in_ = X.shape[1]
        return self

    def predict_log_likelihood(self, X: ArrayLike) -> np.ndarray:
        """Log-likelihood of each row under each class's mixture.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            ``score_samples`` of each class's mixture, columns in ``classes_``
            order; no class prior included.
        """
        check_is_fitted(self, "gmms_")
        X = check_array(X, dtype=np.float64)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features, but the model was fitted with {self.n_features_in_}"
            )
        return np.column_stack([gmm.score_samples(X) for gmm in self.gmms_])

    def _joint_log_likelihood(self, X: ArrayLike) -> np.ndarray:
        scores = self.predict_log_likelihood(X)
        if self.use_priors:
            scores = scores + self.class_log_prior_
        return scores

    def predict_log_proba(self, X: ArrayLike) -> np.ndarray:
        """Log of :meth:`predict_proba`, computed stably.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return log_softmax(self._joint_log_likelihood(X), axis=1)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Softmax over classes of the per-class log-likelihood (plus log prior if asked).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Rows sum to 1; columns in ``classes_`` order.
        """
        return softmax(self._joint_log_likelihood(X), axis=1)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The class of highest (prior-weighted, if ``use_priors``) likelihood.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        log_likelihood = self._joint_log_likelihood(X)  # NotFittedError before classes_
        return self.classes_[np.argmax(log_likelihood, axis=1)]


# ------------------------------------------------------------------------- Keras

#: Integer tuple parameters that JSON turns into lists, made tuples again on load.
#: Only these: WindowCNNClassifier's ``band_heights`` (floats) loads back as a list.
_KERAS_TUPLE_PARAMS = ("filters", "kernel_size", "pool_size")
#: Batches a network predicts in one call (bounds the copy Keras makes of its input).
_PREDICT_BATCHES = 32


#: TensorFlow's threads as this module first imports it, before any op fixes them
#: (None: its default, every core); see :func:`tensorflow_threads_on_import`.
_threads_on_import: int | None = None


def tensorflow_threads_on_import(n_threads: int | None) -> None:
    """Give TensorFlow ``n_threads`` threads when a model first needs it, which
    loading a bundle does before any code outside could ask: genrepipe-predict
    classifies on one thread in every process, as its ``--jobs`` workers do."""
    global _threads_on_import
    _threads_on_import = n_threads


def _import_keras() -> tuple[Any, Any]:
    """Import TensorFlow and Keras on first use (several seconds)."""
    # Keep TensorFlow's C++ INFO and WARNING chatter (the CPU-feature notice) out of logs.
    # The oneDNN notice comes before absl's logging starts, and no setting hides it.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    first = "tensorflow" not in sys.modules
    import keras
    import tensorflow as tf

    if first and _threads_on_import is not None:
        _configure_threads(tf, _threads_on_import)
    return keras, tf


def set_tensorflow_threads(n_threads: int | None) -> None:
    """Hold TensorFlow to ``n_threads`` intra- and inter-op threads (see below)."""
    _, tf = _import_keras()
    _configure_threads(tf, n_threads)


def _configure_threads(tf: Any, n_threads: int | None) -> None:
    """Ask TensorFlow for ``n_threads`` intra- and inter-op threads.

    TensorFlow fixes its thread pools when its runtime initialises (at the first
    op) and raises ``RuntimeError`` on a later change. A second model in the same
    process that asks for a different count therefore cannot get it: this warns
    and leaves the pools as they are. The workflow runs one model per process,
    where the first call always succeeds.
    """
    if n_threads is None:
        return
    n_threads = int(n_threads)
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1 or None, got {n_threads}")
    threading = tf.config.threading
    current = (
        threading.get_intra_op_parallelism_threads(),
        threading.get_inter_op_parallelism_threads(),
    )
    if current == (n_threads, n_threads):
        return
    try:
        threading.set_intra_op_parallelism_threads(n_threads)
        threading.set_inter_op_parallelism_threads(n_threads)
    except RuntimeError:
        warnings.warn(
            f"TensorFlow is already initialised with intra/inter-op threads {current} "
            f"(0 = TensorFlow's default); n_threads={n_threads} cannot take effect "
            "in this process",
            RuntimeWarning,
            stacklevel=3,
        )


def _as_pair(value: int | Sequence[int], name: str) -> tuple[int, int]:
    """An int or a 2-sequence as a pair of positive ints."""
    pair = (int(value), int(value)) if np.isscalar(value) else tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{name} must be a positive int or a pair of them, got {value!r}")
    return pair  # type: ignore[return-value]


def _check_kernel_fits(kernel: Sequence[int], shape: Sequence[int]) -> None:
    """Refuse a first convolution kernel larger than its input (rows, frames), or than
    its frames for a 1-D kernel: it sees padding, and one a few hundred times taller
    than its input aborted the process inside TensorFlow, without a Python error."""
    if any(k > n for k, n in zip(kernel, shape, strict=True)):
        sides = ("rows", "frames")[-len(shape) :]
        size = " x ".join(f"{n} {side}" for n, side in zip(shape, sides, strict=True))
        raise ValueError(f"kernel_size {tuple(kernel)} is larger than the input ({size})")


def _epoch_logger(keras: Any, log: Callable[[str], Any], epochs: int) -> Any:
    """A Keras callback calling ``log`` with a one-line summary after each epoch."""

    class _EpochLogger(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            logs = logs or {}
            parts = [f"epoch {epoch + 1}/{epochs}"]
            for key, label in (
                ("loss", "loss"),
                ("accuracy", "acc"),
                ("val_loss", "val_loss"),
                ("val_accuracy", "val_acc"),
            ):
                if key in logs:
                    parts.append(f"{label} {float(logs[key]):.4f}")
            if "learning_rate" in logs:  # present when a schedule changes it
                parts.append(f"lr {float(logs['learning_rate']):.2g}")
            log(" ".join(parts))

    return _EpochLogger()


class KerasClassifier(ClassifierMixin, BaseEstimator):
    """A small Keras network as a scikit-learn classifier.

    ``architecture="nn"`` takes feature vectors ``(n, d)``::

        Dense(hidden_units) -> BatchNorm -> LeakyReLU -> Dropout -> Dense(n_classes, softmax)

    ``architecture="cnn"`` takes feature images ``(n, rows, frames)``; a channel
    axis is added inside the model::

        2 x [Conv2D(filters[i], kernel_size, "same") -> BatchNorm -> LeakyReLU
             -> MaxPool2D(pool_size, "same")]
        -> Flatten (or GlobalAveragePooling2D if global_pool)
        -> Dense(dense_units) -> BatchNorm -> LeakyReLU -> Dropout -> Dense(n_classes, softmax)

    Pooling pads ("same"), so inputs smaller than the pool never shrink to zero.
    With the defaults and an 87 x 1400 input the CNN has 456,474 weights.

    Parameters
    ----------
    architecture : {"nn", "cnn"}, default="nn"
        Network type.
    hidden_units : int, default=64
        Width of the hidden layer of ``nn``.
    filters : tuple of int, default=(16, 32)
        Filters of the convolution blocks of ``cnn``, one block per entry.
    kernel_size : int or (int, int), default=3
        Convolution kernel of ``cnn``.
    pool_size : int or (int, int), default=(3, 8)
        Max-pooling window (rows, frames) after each convolution block.
    dense_units : int, default=64
        Width of the dense layer of ``cnn`` (its embedding size).
    global_pool : bool, default=False
        Global average pooling instead of flattening in ``cnn``.
    negative_slope : float, default=0.3
        Slope of LeakyReLU for negative inputs (Keras's default).
    dropout : float, default=0.5
        Dropout rate before the output layer.
    epochs : int, default=50
        Maximum training epochs.
    batch_size : int, default=32
        Mini-batch size, for training and prediction.
    learning_rate : float, default=1e-3
        Adam's learning rate.
    validation_fraction : float, default=0.1
        Share of the training rows (a stratified slice when every class allows
        it) held out to monitor ``val_loss`` for early stopping; the weights of
        the best epoch are restored. ``0`` trains on all rows for ``epochs``
        epochs without early stopping.
    patience : int, default=10
        Epochs without a ``val_loss`` improvement before training stops.
    random_state : int or None, default=None
        With an int, ``fit`` seeds Python, NumPy and TensorFlow
        (``keras.utils.set_random_seed``) and enables TensorFlow's deterministic
        ops, so two fits on the same data give identical probabilities.
        Op determinism is process-wide and stays on afterwards.
    n_threads : int or None, default=None
        TensorFlow intra- and inter-op threads; ``None`` leaves TensorFlow's
        default (all cores). TensorFlow accepts this only before its runtime
        starts, so only the first model fitted in a process can set it; a later
        different request warns and has no effect.
    verbose : int, default=0
        Keras's ``verbose`` for ``fit`` (0 silent, 1 progress bar, 2 one line per epoch).
    log : callable or None, default=None
        Called with a one-line summary after every epoch, e.g. ``logger.info``:
        ``"epoch 3/50 loss 1.2340 acc 0.4560 val_loss 1.3000 val_acc 0.4000"``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The original class labels, sorted; output column ``i`` is ``classes_[i]``.
    model_ : keras.Model
        The trained network.
    history_ : dict of str to list of float
        Per-epoch ``loss``, ``accuracy`` and, with a validation slice,
        ``val_loss``, ``val_accuracy``.
    best_epoch_ : int
        The (1-based) epoch whose weights the model holds.
    input_shape_ : tuple of int
        Shape of one input row, without the batch axis.
    n_features_in_ : int
        Feature count (``nn`` only).
    """

    def __init__(
        self,
        architecture: str = "nn",
        *,
        hidden_units: int = 64,
        filters: Sequence[int] = (16, 32),
        kernel_size: int | Sequence[int] = 3,
        pool_size: int | Sequence[int] = (3, 8),
        dense_units: int = 64,
        global_pool: bool = False,
        negative_slope: float = 0.3,
        dropout: float = 0.5,
        epochs: int = 50,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        validation_fraction: float = 0.1,
        patience: int = 10,
        random_state: int | None = None,
        n_threads: int | None = None,
        verbose: int = 0,
        log: Callable[[str], Any] | None = None,
    ) -> None:
        self.architecture = architecture
        self.hidden_units = hidden_units
        self.filters = filters
        self.kernel_size = kernel_size
        self.pool_size = pool_size
        self.dense_units = dense_units
        self.global_pool = global_pool
        self.negative_slope = negative_slope
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.n_threads = n_threads
        self.verbose = verbose
        self.log = log

    # -- input handling --------------------------------------------------------

    @property
    def _input_ndim(self) -> int:
        if self.architecture == "nn":
            return 2
        if self.architecture == "cnn":
            return 3
        raise ValueError(f"architecture must be 'nn' or 'cnn', got {self.architecture!r}")

    def _check_X(self, X: ArrayLike) -> np.ndarray:
        X = np.asarray(X, dtype=np.float32)
        ndim = self._input_ndim
        if X.ndim != ndim:
            shape = "(n, d)" if ndim == 2 else "(n, rows, frames)"
            raise ValueError(
                f"{self.architecture!r} expects a {ndim}-D input {shape}, got shape {X.shape}"
            )
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or infinity")
        if hasattr(self, "input_shape_") and tuple(X.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"X rows have shape {tuple(X.shape[1:])}, but the model was fitted "
                f"on {self.input_shape_}"
            )
        return X

    # -- network ---------------------------------------------------------------

    def _build(self, keras: Any, input_shape: tuple[int, ...], n_classes: int) -> Any:
        layers = keras.layers
        slope = float(self.negative_slope)
        inputs = keras.Input(shape=input_shape, name="features")
        if self.architecture == "nn":
            x = layers.Dense(int(self.hidden_units), name="hidden")(inputs)
        else:
            rows, frames = input_shape
            x = layers.Reshape((rows, frames, 1), name="add_channel")(inputs)
            kernel = _as_pair(self.kernel_size, "kernel_size")
            _check_kernel_fits(kernel, (rows, frames))
            pool = _as_pair(self.pool_size, "pool_size")
            filters = [int(f) for f in np.atleast_1d(self.filters)]
            if not filters or min(filters) < 1:
                raise ValueError(f"filters must be positive ints, got {self.filters!r}")
            for i, n_filters in enumerate(filters, start=1):
                x = layers.Conv2D(
                    n_filters, kernel, padding="same", use_bias=False, name=f"conv{i}"
                )(x)
                x = layers.BatchNormalization(name=f"conv{i}_bn")(x)
                x = layers.LeakyReLU(negative_slope=slope, name=f"conv{i}_act")(x)
                x = layers.MaxPooling2D(pool, padding="same", name=f"conv{i}_pool")(x)
            if self.global_pool:
                x = layers.GlobalAveragePooling2D(name="global_pool")(x)
            else:
                x = layers.Flatten(name="flatten")(x)
            x = layers.Dense(int(self.dense_units), name="hidden")(x)
        x = layers.BatchNormalization(name="hidden_bn")(x)
        x = layers.LeakyReLU(negative_slope=slope, name="hidden_act")(x)
        x = layers.Dropout(float(self.dropout), name="dropout")(x)
        outputs = layers.Dense(n_classes, activation="softmax", name="output")(x)
        return keras.Model(inputs, outputs, name=f"genrepipe_{self.architecture}")

    def _split(
        self, X: np.ndarray, y: np.ndarray, tracks: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Carve the validation slice out of the training rows.

        With ``tracks`` (the track of each row, as for windows of segment mode)
        the slice holds whole tracks, so no track trains and validates at once.
        """
        if tracks is None:
            tracks = np.arange(len(y))
        names, first = np.unique(np.asarray(tracks), return_index=True)
        validating = np.isin(tracks, names[self._validation_tracks(y[first])])
        if not validating.any():
            return X, y, None, None
        return X[~validating], y[~validating], X[validating], y[validating]

    def _validation_tracks(self, y: np.ndarray) -> np.ndarray:
        """Indices of the tracks (labels ``y``) carved out for validation, stratified
        where every class allows it."""
        fraction = float(self.validation_fraction or 0.0)
        if fraction <= 0.0:
            return np.empty(0, dtype=np.int64)
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1), got {fraction}")
        n_val = math.ceil(fraction * len(y))
        if n_val >= len(y):
            raise ValueError(f"validation_fraction={fraction} leaves no training tracks")
        index = np.arange(len(y))
        try:
            _, val = train_test_split(
                index, test_size=n_val, stratify=y, random_state=self.random_state
            )
        except ValueError:
            # A plain random slice could take a class's only tracks, which the network
            # would then never learn: one track of every class stays in training.
            rng = np.random.default_rng(self.random_state)
            order = rng.permutation(len(y))
            _, kept = np.unique(y[order], return_index=True)
            spare = np.setdiff1d(order, order[kept])
            what = (
                f"using a random slice of {min(n_val, len(spare))} that leaves every class "
                "a training track"
                if len(spare)
                else "no track to spare: training without a validation slice (no early stop)"
            )
            warnings.warn(
                f"cannot stratify {n_val} validation tracks over {len(np.unique(y))} classes; "
                + what,
                RuntimeWarning,
                stacklevel=3,
            )
            val = rng.choice(spare, size=min(n_val, len(spare)), replace=False)
        return np.sort(val)

    # -- estimator API -----------------------------------------------------------

    # -- fitting steps shared with the window CNN (genrepipe.windows) --------------------------

    def _check_targets(self, X: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray, Any]:
        """Forget a previous fit; check ``X``, ``y`` and the seed; return X, classes, codes."""
        for attr in ("model_", "history_", "classes_", "input_shape_", "best_epoch_"):
            self.__dict__.pop(attr, None)
        self.__dict__.pop("n_features_in_", None)
        X = self._check_X(X)
        y = np.asarray(y)
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(f"y must be 1-D with {len(X)} labels, got shape {y.shape}")
        check_classification_targets(y)
        classes, y_enc = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"need at least 2 classes to fit a classifier, got {len(classes)}")
        if self.random_state is not None and not isinstance(self.random_state, int | np.integer):
            raise TypeError(f"random_state must be an int or None, got {self.random_state!r}")
        return X, classes, y_enc

    def _start_keras(self) -> tuple[Any, Any]:
        """Import Keras, limit its threads and seed it (deterministic ops) for one fit."""
        keras, tf = _import_keras()
        _configure_threads(tf, self.n_threads)
        if self.random_state is not None:
            keras.utils.set_random_seed(int(self.random_state))
            tf.config.experimental.enable_op_determinism()
        return keras, tf

    def _known_validation(
        self, validation_data: tuple[ArrayLike, ArrayLike], classes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Validation rows and their class codes, without the rows of a class absent
        from training (they cannot be scored)."""
        X_val = self._check_X(validation_data[0])
        position = {label: i for i, label in enumerate(classes)}
        seen = np.array([label in position for label in validation_data[1]], dtype=bool)
        y_val = np.array(
            [position[label] for label in np.asarray(validation_data[1])[seen]], dtype=np.int64
        )
        return X_val[seen], y_val

    def _callbacks(self, keras: Any, *, early_stopping: bool) -> list[Any]:
        """Early stopping on the validation loss (best weights kept), and epoch logging."""
        callbacks = []
        if early_stopping:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=int(self.patience), restore_best_weights=True
                )
            )
        if self.log is not None:
            callbacks.append(_epoch_logger(keras, self.log, int(self.epochs)))
        return callbacks

    def _record_fit(
        self, model: Any, classes: np.ndarray, result: Any, input_shape, *, early_stopping: bool
    ) -> None:
        """Keep the network, classes and loss history; the best epoch when validated."""
        history = {key: [float(v) for v in values] for key, values in result.history.items()}
        self.model_ = model
        self.classes_ = classes
        self.history_ = history
        self.input_shape_ = tuple(int(d) for d in input_shape)
        if early_stopping and history.get("val_loss"):
            self.best_epoch_ = int(np.argmin(history["val_loss"])) + 1
        else:
            self.best_epoch_ = len(history.get("loss", []))

    def fit(
        self, X: ArrayLike, y: ArrayLike, validation_data=None, tracks: ArrayLike | None = None
    ) -> KerasClassifier:
        """Train a fresh network on ``X``, ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, rows, frames)
            2-D for ``nn``, 3-D for ``cnn``.
        y : array-like of shape (n_samples,)
            Class labels (strings or integers).
        validation_data : tuple (X_val, y_val), optional
            Rows for early stopping (such as a split's ``valid`` list); when
            given, no validation slice is carved from ``X``.
        tracks : array-like of shape (n_samples,), optional
            The track of each row when rows are windows of tracks: the
            validation slice then takes whole tracks.

        Returns
        -------
        KerasClassifier
            ``self``, fitted.
        """
        X, classes, y_enc = self._check_targets(X, y)
        keras, _ = self._start_keras()
        if validation_data is not None:
            X_val, y_val = self._known_validation(validation_data, classes)
            if len(y_val) == 0:
                X_val = y_val = None
            X_tr, y_tr = X, y_enc.astype(np.int64)
        else:
            X_tr, y_tr, X_val, y_val = self._split(
                X, y_enc.astype(np.int64), None if tracks is None else np.asarray(tracks)
            )
        model = self._build(keras, tuple(X.shape[1:]), len(classes))
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=float(self.learning_rate)),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        epochs = int(self.epochs)
        callbacks = self._callbacks(keras, early_stopping=X_val is not None)
        result = model.fit(
            X_tr,
            y_tr,
            validation_data=None if X_val is None else (X_val, y_val),
            epochs=epochs,
            batch_size=int(self.batch_size),
            shuffle=True,
            callbacks=callbacks,
            verbose=self.verbose,
        )
        self._record_fit(model, classes, result, X.shape[1:], early_stopping=X_val is not None)
        if self.architecture == "nn":
            self.n_features_in_ = int(X.shape[1])
        return self

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities of the softmax output.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            As in :meth:`fit`.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Rows sum to 1; columns in ``classes_`` order.
        """
        check_is_fitted(self, "model_")
        X = self._check_X(X)
        proba = _predict_in_parts(self.model_, X, int(self.batch_size)).astype(np.float64)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict(self, X: ArrayLike) -> np.ndarray:
        """The class of highest probability.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def transform_embedding(self, X: ArrayLike) -> np.ndarray:
        """Activations of the penultimate layer (the input of the softmax layer).

        At inference dropout is the identity, so this is the LeakyReLU output
        of the hidden dense layer: ``hidden_units`` values per row for ``nn``,
        ``dense_units`` for ``cnn``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)

        Returns
        -------
        ndarray of shape (n_samples, n_embedding)
        """
        check_is_fitted(self, "model_")
        X = self._check_X(X)
        keras, _ = _import_keras()
        embedder = keras.Model(
            self.model_.inputs, self.model_.get_layer("output").input, name="embedding"
        )
        return _predict_in_parts(embedder, X, int(self.batch_size))


def _predict_in_parts(network, X: np.ndarray, batch_size: int) -> np.ndarray:
    """``network.predict(X)``, a few batches at a time: Keras copies what it is given
    into a tensor (0.9 GB for 1000 reference feature images at once). Each part is
    whole batches, so every batch, and every output, is the one a single call gives."""
    rows = batch_size * _PREDICT_BATCHES
    parts = [
        np.asarray(network.predict(X[i : i + rows], batch_size=batch_size, verbose=0))
        for i in range(0, len(X), rows)
    ]
    if not parts:  # no rows: as Keras answers them
        return np.asarray(network.predict(X, batch_size=batch_size, verbose=0))
    return np.concatenate(parts)


# ---------------------------------------------------------------------- factory


class CalibratedSVC(CalibratedClassifierCV):
    """An SVC with Platt-scaled probabilities that also fits classes of one row.

    scikit-learn's replacement for ``SVC(probability=True)``. A class with a
    single training row (a sparse list split) cannot sit in every calibration
    fold; its row is repeated once, with a warning, so both folds see it.

    ``fit`` takes the ``tracks`` of windows (segment mode, window embeddings):
    the calibration folds then keep a track's windows on one side, so the
    sigmoids are fitted on decision values of tracks the SVM did not see, as
    they will be used.
    """

    def fit(self, X, y, tracks=None, **fit_params):
        X, y = np.asarray(X), np.asarray(y)
        labels, counts = np.unique(y, return_counts=True)
        single = np.isin(y, labels[counts == 1])
        if single.any():
            warnings.warn(
                f"classes {', '.join(map(str, labels[counts == 1]))} have a single training row: "
                "their probabilities are poorly calibrated",
                stacklevel=2,
            )
            X, y = np.concatenate([X, X[single]]), np.concatenate([y, y[single]])
            if tracks is not None:
                tracks = np.concatenate([tracks, np.asarray(tracks)[single]])
        if tracks is None:
            return super().fit(X, y, **fit_params)
        folds = self.cv
        # Without metadata routing scikit-learn passes no groups to the calibration
        # splitter: hand it this fit's folds, grouped by track, for the fit alone.
        self.cv = list(folds.split(X, y, groups=np.asarray(tracks)))
        try:
            return super().fit(X, y, **fit_params)
        finally:
            self.cv = folds


class CalibrationFolds(BaseCrossValidator):
    """Stratified folds for probability calibration that also work on tiny classes.

    Uses ``max_splits`` folds, or fewer (at least 2) when the smallest class has
    fewer rows, so an SVM trained on a handful of clips per genre (an inner
    cross-validation fold, a small test dataset) still gets calibrated
    probabilities instead of an error. With ``groups`` (the track of each
    window) a group never sits on both sides, and the smallest class counts
    its groups; a class of one group cannot be split so: its windows, and only
    its, are split, with a warning.
    """

    def __init__(self, max_splits: int = 5, random_state: int | None = None):
        self.max_splits = max_splits
        self.random_state = random_state

    def _n_splits(self, y, groups=None) -> int:
        y = np.asarray(y)
        if groups is None:
            smallest = int(np.unique(y, return_counts=True)[1].min())
        else:
            groups = np.asarray(groups)
            smallest = min(len(np.unique(groups[y == label])) for label in np.unique(y))
        if smallest < 2:
            raise ValueError("probability calibration needs at least 2 rows of every class")
        return max(2, min(self.max_splits, smallest))

    def _usable_groups(self, y, groups):
        """``groups`` as integer codes, a class of a single group's rows each a group of
        its own (with a warning): the other classes' tracks stay whole."""
        if groups is None:
            return None
        y = np.asarray(y)
        codes = np.unique(np.asarray(groups), return_inverse=True)[1].reshape(-1)
        lonely = [label for label in np.unique(y) if len(np.unique(codes[y == label])) < 2]
        if lonely:
            warnings.warn(
                f"{', '.join(map(str, lonely))}: a single training track, whose windows the "
                "calibration folds split (the other classes' tracks stay whole)",
                stacklevel=3,
            )
            rows = np.flatnonzero(np.isin(y, lonely))
            codes = codes.copy()
            codes[rows] = codes.max() + 1 + np.arange(len(rows))
        return codes

    def split(self, X, y, groups=None):
        groups = self._usable_groups(y, groups)
        if groups is None:
            folds = StratifiedKFold(
                n_splits=self._n_splits(y), shuffle=True, random_state=self.random_state
            )
            return folds.split(X, y)
        folds = StratifiedGroupKFold(
            n_splits=self._n_splits(y, groups), shuffle=True, random_state=self.random_state
        )
        return folds.split(X, y, groups)

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        if y is None:
            return self.max_splits
        return self._n_splits(y, self._usable_groups(y, groups))


def make_model(
    name: str,
    params: Mapping[str, Any] | None,
    *,
    random_state: int,
    n_threads: int | None = None,
) -> BaseEstimator:
    """A new, unfitted estimator for model ``name`` configured by ``params``.

    Parameters
    ----------
    name : {"gmm", "svm", "nn", "cnn", "logreg", "cnn_windows", "cnn_svm", "cnn_gmm"}
        The model, one of :data:`ESTIMATOR_NAMES`. ``logreg`` is a
        :class:`sklearn.linear_model.LogisticRegression` (``max_iter`` 5000
        unless given); ``cnn_windows`` a
        :class:`genrepipe.windows.WindowCNNClassifier`; ``cnn_svm`` and
        ``cnn_gmm`` a :class:`genrepipe.windows.CnnEmbeddingClassifier` whose
        ``params`` are the head's (as for ``svm`` / ``gmm``) plus ``cnn``, a
        mapping of the window CNN's settings, and ``embedding``, the layer the
        head reads (``"penultimate"``, the default, or ``"global_pool"``).
    params : mapping or None
        Constructor arguments: of :class:`GaussianMixtureClassifier` for
        ``gmm``, of :class:`sklearn.svm.SVC` for ``svm`` (e.g. ``kernel``, ``C``,
        ``gamma``), of :class:`KerasClassifier` for ``nn``/``cnn`` (only those
        the architecture uses). ``random_state``, ``n_threads`` and
        ``architecture`` are set here, not from ``params``. SVC's ``probability``
        is not set: it keeps scikit-learn's default, and
        :class:`CalibratedSVC` supplies the probabilities.
    random_state : int
        The workflow's seed.
    n_threads : int or None, default=None
        TensorFlow threads for ``nn``, ``cnn``, ``cnn_windows``, ``cnn_svm`` and
        ``cnn_gmm``; ignored by ``gmm``, ``svm`` (single-threaded) and ``logreg``
        (its BLAS threads are set around its fit).

    Returns
    -------
    estimator
        ``GaussianMixtureClassifier`` for ``gmm``;
        ``CalibratedSVC(SVC(...), method="sigmoid", cv=CalibrationFolds(5),
        ensemble=False)`` for ``svm`` (scikit-learn 1.9's replacement of
        ``SVC(probability=True)``: Platt scaling on decision values cross-validated
        over 2 to 5 stratified folds, grouped by track for windows);
        ``KerasClassifier`` for ``nn`` and ``cnn``;
        :class:`sklearn.linear_model.LogisticRegression` for ``logreg``;
        :class:`genrepipe.windows.WindowCNNClassifier` for ``cnn_windows``;
        :class:`genrepipe.windows.CnnEmbeddingClassifier` for ``cnn_svm`` and ``cnn_gmm``.

    Raises
    ------
    ValueError
        For an unknown model name, or a key of ``params`` the model does not take.
    """
    if name not in ESTIMATOR_NAMES:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(ESTIMATOR_NAMES)}")
    params = dict(params or {})
    allowed = allowed_params(name)
    unknown = sorted(str(key) for key in params if key not in allowed)
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))} for model {name!r}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    if name == "gmm":
        return GaussianMixtureClassifier(**params, random_state=random_state)
    if name == "svm":
        svc = SVC(**params, random_state=random_state)
        return CalibratedSVC(
            svc, method="sigmoid", cv=CalibrationFolds(5, random_state=random_state), ensemble=False
        )
    if name == "logreg":
        params.setdefault("max_iter", 5000)
        return LogisticRegression(**params, random_state=random_state)
    if name == "cnn_windows":
        from genrepipe.windows import WindowCNNClassifier

        return WindowCNNClassifier(**params, random_state=random_state, n_threads=n_threads)
    if name in ("cnn_svm", "cnn_gmm"):
        from genrepipe.windows import CnnEmbeddingClassifier

        cnn_params = params.pop("cnn", None) or {}
        embedding = params.pop("embedding", "penultimate")
        unknown = sorted(set(cnn_params) - allowed_params("cnn_windows"))
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown} for the cnn of model {name!r}")
        return CnnEmbeddingClassifier(
            name.removeprefix("cnn_"),
            head_params=params,
            embedding=embedding,
            cnn_params=cnn_params,
            random_state=random_state,
            n_threads=n_threads,
        )
    if name in ("nn", "cnn"):
        return KerasClassifier(name, **params, random_state=random_state, n_threads=n_threads)
    # An estimator registered in genrepipe.estimators but built nowhere here: say so,
    # rather than hand its settings to the Keras network.
    raise ValueError(f"make_model has no branch building estimator {name!r}")


# ------------------------------------------------------------------ persistence


class UntrustedModelError(ValueError):
    """A model file names a type outside the allow-list; it was not loaded."""


#: Types that ``skops`` does not trust by default but our own models contain.
#: Anything else a file names makes :func:`load_model` refuse it.
SKOPS_ALLOWED_TYPES: frozenset[str] = frozenset(
    {
        f"{__name__}.GaussianMixtureClassifier",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "genrepipe.preprocess.RowStandardizer",
        f"{__name__}.CalibrationFolds",
        f"{__name__}.CalibratedSVC",
    }
)

_KERAS_ARCHIVE_META = "genrepipe_keras.json"
_KERAS_ARCHIVE_MODEL = "model.keras"
#: What NumPy 2 says when Keras 3 saves a TensorFlow variable (see :func:`_save_keras`).
_KERAS_NUMPY2_WARNING = "__array__ implementation doesn't accept a copy keyword"
_KERAS_FORMAT = "genrepipe-keras"
_KERAS_FORMAT_VERSION = 1


def save_model(model: BaseEstimator, path: str | os.PathLike) -> None:
    """Write a fitted model to one file at ``path``, atomically.

    scikit-learn estimators (including :class:`GaussianMixtureClassifier`) are
    written with ``skops.io.dump``. A :class:`KerasClassifier` is written as a
    zip archive of the native ``model.keras`` file and ``genrepipe_keras.json``
    (format version, constructor parameters except ``log``, ``classes_`` and
    their dtype, ``history_``, ``best_epoch_``, ``input_shape_``, library
    versions). A :class:`genrepipe.windows.CnnEmbeddingClassifier` is written as
    a composite archive of its CNN and head
    (:func:`genrepipe.windows.save_embedding_classifier`). In every case the file
    appears at ``path`` only when complete.

    Parameters
    ----------
    model : estimator
        A fitted estimator.
    path : path-like
        Target file; parent directories are created.
    """
    if isinstance(model, KerasClassifier):
        _save_keras(model, Path(path))
        return
    if type(model).__name__ == "CnnEmbeddingClassifier":
        from genrepipe.windows import save_embedding_classifier

        save_embedding_classifier(model, Path(path))
        return
    if not isinstance(model, BaseEstimator):
        raise TypeError(f"expected a scikit-learn estimator, got {type(model).__name__}")
    check_is_fitted(model)
    import skops.io as sio

    with atomic_path(path) as tmp:
        sio.dump(model, tmp)


def _save_keras(model: KerasClassifier, path: Path) -> None:
    check_is_fitted(model, "model_")
    keras, tf = _import_keras()
    params: dict[str, Any] = model.get_params(deep=False)
    params.pop("log", None)
    for key in _KERAS_TUPLE_PARAMS:
        if isinstance(params[key], tuple | np.ndarray):
            params[key] = [int(v) for v in params[key]]
    classes = model.classes_
    meta = {
        "format": _KERAS_FORMAT,
        "format_version": _KERAS_FORMAT_VERSION,
        "params": params,
        "classes": classes.tolist(),
        "classes_dtype": "object" if classes.dtype == object else classes.dtype.str,
        "history": model.history_,
        "best_epoch": model.best_epoch_,
        "input_shape": list(model.input_shape_),
        "versions": {"keras": keras.__version__, "tensorflow": tf.__version__},
    }
    meta_json = json.dumps(meta, indent=2, sort_keys=True)
    with tempfile.TemporaryDirectory(prefix="genrepipe-keras-") as tmpdir:
        keras_file = Path(tmpdir) / _KERAS_ARCHIVE_MODEL
        with warnings.catch_warnings():
            # Keras converts TensorFlow variables with np.array(x), which NumPy 2 flags as
            # deprecated: upstream noise in every training log, and the file is unaffected.
            warnings.filterwarnings("ignore", _KERAS_NUMPY2_WARNING, DeprecationWarning)
            model.model_.save(keras_file)
        with atomic_path(path) as tmp:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
                zf.writestr(_KERAS_ARCHIVE_META, meta_json)
                zf.write(keras_file, arcname=_KERAS_ARCHIVE_MODEL)


def load_model(path: str | os.PathLike) -> BaseEstimator:
    """Read a model written by :func:`save_model`.

    A ``skops`` file is audited first: ``skops.io.get_untrusted_types`` lists
    the types skops does not trust by default, and each must be in
    :data:`SKOPS_ALLOWED_TYPES`; only then is the file loaded with exactly those
    types trusted. A Keras archive is loaded with
    ``keras.models.load_model(..., safe_mode=True, compile=False)`` (no Lambda
    layers or other arbitrary code; the optimizer state is not needed to predict).

    Parameters
    ----------
    path : path-like
        A file written by :func:`save_model`.

    Returns
    -------
    estimator
        The fitted model.

    Raises
    ------
    UntrustedModelError
        If a skops file names a type outside the allow-list.
    ValueError
        If the file is neither format.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except zipfile.BadZipFile as err:
        raise ValueError(f"{path} is not a model file written by save_model") from err
    try:
        return _load_archive(path, names)
    except DamagedModelError as error:
        if error.path == path:
            raise
        # A member archive's (a CNN head's network): name the outer file.
        raise DamagedModelError(path, f"{error.path.name}: {error.reason}") from error
    except (ValueError, TypeError, KeyError, zipfile.BadZipFile) as error:
        # A damaged member (JSON, a network): name the archive and the member, not the
        # temporary folder it was unpacked to, nor card.json beside it.
        message = re.sub(r"\S*genrepipe-(?:keras|composite)-[^/\s]*/", "", str(error))
        if isinstance(error, UntrustedModelError):
            raise UntrustedModelError(message) from None
        if str(path) in message:
            raise
        raise DamagedModelError(path, message) from error


class DamagedModelError(ValueError):
    """A model file whose archive opens but whose contents cannot be read back."""

    def __init__(self, path: Path, reason: str):
        self.path, self.reason = path, reason
        super().__init__(f"{path}: damaged, or not written by save_model ({reason})")


def _load_archive(path: Path, names: set[str]) -> BaseEstimator:
    """:func:`load_model` for a zip archive holding ``names``."""
    if _KERAS_ARCHIVE_META in names:
        return _load_keras(path)
    if "genrepipe_composite.json" in names:
        from genrepipe.windows import load_embedding_classifier

        return load_embedding_classifier(path)
    if "schema.json" not in names:
        raise ValueError(f"{path} is not a model file written by save_model")
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    refused = sorted(t for t in untrusted if t not in SKOPS_ALLOWED_TYPES)
    if refused:
        raise UntrustedModelError(
            f"{path} contains types outside the allow-list, not loaded: {', '.join(refused)}"
        )
    model = sio.load(path, trusted=untrusted)
    if not (hasattr(model, "predict_proba") or hasattr(model, "transform")):
        raise TypeError(f"{path} holds a {type(model).__name__}, neither a model nor a transform")
    return model


def _load_keras(path: Path) -> KerasClassifier:
    keras, _ = _import_keras()
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read(_KERAS_ARCHIVE_META))
        if meta.get("format") != _KERAS_FORMAT or meta.get("format_version") != (
            _KERAS_FORMAT_VERSION
        ):
            raise ValueError(
                f"{path}: unsupported Keras archive format "
                f"{meta.get('format')!r} version {meta.get('format_version')!r}"
            )
        with tempfile.TemporaryDirectory(prefix="genrepipe-keras-") as tmpdir:
            keras_file = Path(tmpdir) / _KERAS_ARCHIVE_MODEL
            keras_file.write_bytes(zf.read(_KERAS_ARCHIVE_MODEL))
            # A window CNN may hold genrepipe's own pooling layers: register them first.
            from genrepipe.windows import custom_objects

            network = keras.models.load_model(
                keras_file, safe_mode=True, compile=False, custom_objects=custom_objects(keras)
            )
    params = dict(meta["params"])
    for key in _KERAS_TUPLE_PARAMS:
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    if params.get("architecture") == "cnn_windows":
        from genrepipe.windows import WindowCNNClassifier

        model = WindowCNNClassifier(**params)
    else:
        model = KerasClassifier(**params)
    model.classes_ = np.asarray(meta["classes"], dtype=np.dtype(meta["classes_dtype"]))
    model.model_ = network
    model.history_ = {k: [float(v) for v in vals] for k, vals in meta["history"].items()}
    model.best_epoch_ = int(meta["best_epoch"])
    model.input_shape_ = tuple(int(d) for d in meta["input_shape"])
    if model.architecture == "nn":
        model.n_features_in_ = model.input_shape_[0]
    return model
