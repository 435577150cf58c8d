"""The estimators the workflow builds and the settings a config may give each, import-free.

Snakemake checks the configuration every time it parses the workflow, including
for a dry run or a rerun with nothing to do. Deriving the allowed names from the
estimators' signatures would import scikit-learn (about a second) into every
parse, so they are listed here instead; ``tests/test_estimators.py`` checks the
tables against the estimators themselves, so they cannot drift apart.
"""

from __future__ import annotations

#: The model names of the reference study, in its order.
MODEL_NAMES: tuple[str, ...] = ("gmm", "svm", "nn", "cnn")
#: Every estimator :func:`genrepipe.models.make_model` builds: the reference four,
#: logistic regression, the window CNN and classifiers on its embeddings.
ESTIMATOR_NAMES: tuple[str, ...] = (*MODEL_NAMES, "logreg", "cnn_windows", "cnn_svm", "cnn_gmm")
#: The estimators that run TensorFlow. Their results depend on its thread count (its
#: parallel reductions add in another order), so the workflow fixes that count.
TENSORFLOW_ESTIMATORS: frozenset[str] = frozenset(
    {"nn", "cnn", "cnn_windows", "cnn_svm", "cnn_gmm"}
)
#: The estimators that train or run a CNN, which a GPU speeds up: their training jobs
#: ask for one (the `gpu` resource; a cluster profile may turn it off with `gpu: None`,
#: not 0, since a Kubernetes pod with any `gpu` resource gets the GPU toleration).
CNN_ESTIMATORS: frozenset[str] = frozenset({"cnn", "cnn_windows", "cnn_svm", "cnn_gmm"})
#: The estimators that always train on one thread: the reference CNN, whose oneDNN
#: 2-D convolutions over the 87 x 1400 image add in a run-dependent order on more
#: than one (three runs of the same 2 epochs on 2 threads gave three sets of
#: probabilities; on one thread, or with the window CNNs on 2, one set).
SINGLE_THREADED_ESTIMATORS: frozenset[str] = frozenset({"cnn"})
#: The estimators whose results depend on the thread count: TensorFlow's, and
#: logistic regression, whose lbfgs gradients are BLAS sums that more threads split
#: (probabilities moved by 2e-2 between 1 and 2 threads on 2000 rows of 300
#: features). The SVM (libsvm) and the GMM gave the same bits on either count. Their
#: training jobs take `threads.train` cores; the others one.
THREAD_DEPENDENT_ESTIMATORS: frozenset[str] = (
    TENSORFLOW_ESTIMATORS | {"logreg"}
) - SINGLE_THREADED_ESTIMATORS

# Settings of the estimators' constructors a config may set: everything but the
# seed, what the workflow fixes itself (the window CNN's architecture and thread
# count, the networks' `log`, which it points at the job's log), SVC's deprecated
# `probability` (CalibratedSVC gives the probabilities), and what does nothing or harm:
# logistic regression's deprecated `penalty`, and its `n_jobs`, without effect since
# scikit-learn 1.8 (`threads.train` sets its BLAS threads); SVC's `break_ties`, as the
# calibrated probabilities decide, and `decision_function_shape`, as calibration reads
# one decision column per genre (ovo's pairwise columns were paired with the wrong genres).
_GMM = frozenset({"covariance_type", "max_iter", "n_components", "reg_covar", "use_priors"})
_SVM = frozenset(
    {
        "C",
        "cache_size",
        "class_weight",
        "coef0",
        "degree",
        "gamma",
        "kernel",
        "max_iter",
        "shrinking",
        "tol",
        "verbose",
    }
)
_KERAS_COMMON = frozenset(
    {
        "batch_size",
        "dropout",
        "epochs",
        "learning_rate",
        "negative_slope",
        "patience",
        "validation_fraction",
        "verbose",
    }
)
_LOGREG = frozenset(
    {
        "C",
        "class_weight",
        "dual",
        "fit_intercept",
        "intercept_scaling",
        "l1_ratio",
        "max_iter",
        "solver",
        "tol",
        "verbose",
        "warm_start",
    }
)
_CNN_WINDOWS = _KERAS_COMMON | {
    "band_heights",
    "band_stride",
    "convolution",
    "crops_per_track",
    "dense_units",
    "filters",
    "freq_mask_bins",
    "freq_masks",
    "gain_db",
    "global_pool",
    "hop_frames",
    "kernel_size",
    "lr_patience",
    "lr_schedule",
    "mixup_alpha",
    "pool_size",
    "time_mask_frames",
    "time_masks",
    "weight_decay",
    "window_frames",
}

#: The window CNN's default window length in frames (WindowCNNClassifier's
#: ``window_frames``): the configuration check compares it with the feature frames.
WINDOW_FRAMES_DEFAULT = 128

#: Layers an embedding head (cnn_svm, cnn_gmm) may read: the dense layer before
#: the output, or the pooled maps that feed it.
EMBEDDING_LAYERS = ("penultimate", "global_pool")

#: Estimator name to the settings its config ``params`` may hold. The embedding
#: heads take their head's settings plus ``cnn``, the window CNN's settings, and
#: ``embedding``, the layer they read.
ESTIMATOR_PARAMS: dict[str, frozenset[str]] = {
    "gmm": _GMM,
    "svm": _SVM,
    "nn": _KERAS_COMMON | {"hidden_units"},
    "cnn": _KERAS_COMMON | {"filters", "kernel_size", "pool_size", "dense_units", "global_pool"},
    "logreg": _LOGREG,
    "cnn_windows": _CNN_WINDOWS,
    "cnn_svm": _SVM | {"cnn", "embedding"},
    "cnn_gmm": _GMM | {"cnn", "embedding"},
}


def allowed_params(name: str) -> frozenset[str]:
    """Keys a config's ``params`` may hold for estimator ``name``."""
    try:
        return ESTIMATOR_PARAMS[name]
    except KeyError:
        raise ValueError(
            f"unknown estimator {name!r} (known: {', '.join(ESTIMATOR_NAMES)})"
        ) from None
