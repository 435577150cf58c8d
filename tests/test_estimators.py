"""The import-free tables of allowed model settings match the estimators' signatures."""

import subprocess
import sys

import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from genrepipe.estimators import ESTIMATOR_NAMES, ESTIMATOR_PARAMS, allowed_params
from genrepipe.models import GaussianMixtureClassifier, KerasClassifier
from genrepipe.windows import CnnEmbeddingClassifier, WindowCNNClassifier

# What the workflow sets itself, never a config: the seed, SVC's probability
# (calibration is done by CalibratedSVC), the Keras wrappers' architecture, thread
# count and log (the job's); and what does nothing: logistic regression's deprecated
# `penalty`, and its `n_jobs` (no effect since scikit-learn 1.8; a config setting
# it retrained the model for nothing); SVC's `break_ties` and `decision_function_shape`
# (the calibrated probabilities decide, from one decision column per genre).
FIXED_BY_WORKFLOW = {
    "random_state",
    "probability",
    "break_ties",
    "decision_function_shape",
    "penalty",
    "n_jobs",
    "architecture",
    "n_threads",
    "log",
}
# KerasClassifier holds the settings of both reference architectures.
NN_ONLY = {"hidden_units"}
CNN_ONLY = {"filters", "kernel_size", "pool_size", "dense_units", "global_pool"}


def signature_params(name):
    """The settings of estimator ``name`` from its constructor (imports scikit-learn)."""
    if name == "gmm":
        keys = set(GaussianMixtureClassifier().get_params())
    elif name == "svm":
        keys = set(SVC().get_params())
    elif name == "logreg":
        # multi_class: deprecated in scikit-learn 1.5, gone in 1.8; not a config setting.
        keys = set(LogisticRegression().get_params()) - {"multi_class"}
    elif name == "cnn_windows":
        keys = set(WindowCNNClassifier().get_params())
    elif name in ("cnn_svm", "cnn_gmm"):
        # The head's settings, the CNN's under `cnn`, and the classifier's own (its layer).
        wrapped = {"head", "head_params", "cnn_params", "log"}
        own = set(CnnEmbeddingClassifier().get_params()) - wrapped - FIXED_BY_WORKFLOW
        return signature_params(name.removeprefix("cnn_")) | {"cnn"} | own
    elif name in ("nn", "cnn"):
        keys = set(KerasClassifier().get_params()) - (CNN_ONLY if name == "nn" else NN_ONLY)
    else:
        pytest.fail(f"a new estimator {name!r}: add the class whose settings it takes here")
    return keys - FIXED_BY_WORKFLOW


@pytest.mark.parametrize("name", ESTIMATOR_NAMES)
def test_allowed_params_match_the_estimator_signature(name):
    assert allowed_params(name) == signature_params(name)


def test_tensorflow_estimators_are_those_taking_a_thread_count():
    from genrepipe.estimators import TENSORFLOW_ESTIMATORS
    from genrepipe.models import make_model

    takes_threads = {
        name
        for name in ESTIMATOR_NAMES
        if "n_threads" in make_model(name, {}, random_state=0).get_params()
    }
    assert takes_threads == TENSORFLOW_ESTIMATORS


def test_an_estimator_registered_but_not_built_is_named(monkeypatch):
    """A new name in ESTIMATOR_NAMES without its branch in make_model fell through to the
    Keras network: "KerasClassifier.__init__() got an unexpected keyword argument"."""
    import genrepipe.models as models

    monkeypatch.setattr(models, "ESTIMATOR_NAMES", (*ESTIMATOR_NAMES, "knn"))
    monkeypatch.setattr(models, "allowed_params", lambda name: {"n_neighbors"})
    with pytest.raises(ValueError, match="make_model has no branch building estimator 'knn'"):
        models.make_model("knn", {"n_neighbors": 3}, random_state=0)


def test_every_scikit_learn_estimator_has_its_values_checked_before_any_job():
    """Values of a scikit-learn estimator's settings (class_weight, tol, ...) are checked
    against its class by genrepipe.config._SKLEARN_CLASSES; a new one missing there let
    `weights: bogus` through to fail in every training job."""
    from genrepipe.config import _SKLEARN_CLASSES
    from genrepipe.estimators import TENSORFLOW_ESTIMATORS

    assert set(ESTIMATOR_NAMES) - TENSORFLOW_ESTIMATORS == set(_SKLEARN_CLASSES)


def test_every_estimator_has_a_table():
    assert set(ESTIMATOR_PARAMS) == set(ESTIMATOR_NAMES)
    with pytest.raises(ValueError, match="unknown estimator 'bogus'"):
        allowed_params("bogus")


def test_checking_a_config_imports_no_scikit_learn():
    # Snakemake checks the config at every parse (dry runs, no-op reruns): keep it light.
    code = (
        "import sys, yaml\n"
        "from genrepipe.config import check_config\n"
        "check_config(yaml.safe_load(open('config/config.yaml')))\n"
        "heavy = [m for m in ('sklearn', 'tensorflow', 'librosa', 'scipy') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert result.stdout.strip() == ""


def test_window_frames_default_is_the_window_cnns():
    import inspect

    from genrepipe.estimators import WINDOW_FRAMES_DEFAULT

    default = inspect.signature(WindowCNNClassifier).parameters["window_frames"].default
    assert default == WINDOW_FRAMES_DEFAULT


def test_window_cnn_layout_choices_are_those_the_network_builds() -> None:
    """The parse-time table of layout and schedule values matches what WindowCNNClassifier
    accepts."""
    import itertools

    import keras

    from genrepipe.config import _CHOICES

    assert set(_CHOICES) <= ESTIMATOR_PARAMS["cnn_windows"]
    for convolution, pool in itertools.product(_CHOICES["convolution"], _CHOICES["global_pool"]):
        cnn = WindowCNNClassifier(convolution=convolution, global_pool=pool, filters=(2,))
        assert cnn._build(keras, (8, 16), 3).output_shape == (None, 3)
    for schedule in _CHOICES["lr_schedule"]:
        WindowCNNClassifier(lr_schedule=schedule)._check_params()
    for name in _CHOICES:
        cnn = WindowCNNClassifier(**{name: "none of these"}, filters=(2,))
        with pytest.raises(ValueError, match=name):
            cnn._check_params()
            cnn._build(keras, (8, 16), 3)


@pytest.mark.parametrize("name", ["gmm", "svm", "nn", "cnn", "logreg", "cnn_windows"])
def test_every_setting_with_a_float_default_is_a_real_param(name):
    # config.REAL_PARAMS is kept by hand: a new real-valued setting missing from it
    # would retrain its model when written `1` instead of `1.0`.
    from genrepipe.config import REAL_PARAMS
    from genrepipe.models import make_model

    defaults = {
        key.rpartition("__")[2]: value
        for key, value in make_model(name, {}, random_state=0).get_params(deep=True).items()
    }
    floats = {p for p in allowed_params(name) if type(defaults.get(p)) is float}
    assert floats and floats <= REAL_PARAMS, floats - REAL_PARAMS


def test_cnn_estimators_are_those_that_build_a_convolutional_network():
    # CNN_ESTIMATORS decides which training jobs ask a cluster for a GPU: every estimator
    # that builds a CNN (the reference one, the window CNN, the embedding heads) and no other.
    from genrepipe.estimators import CNN_ESTIMATORS
    from genrepipe.models import make_model

    def builds_a_cnn(model):
        if isinstance(model, WindowCNNClassifier | CnnEmbeddingClassifier):
            return True
        return isinstance(model, KerasClassifier) and model.architecture == "cnn"

    built = {name for name in ESTIMATOR_NAMES if builds_a_cnn(make_model(name, {}, random_state=0))}
    assert built == CNN_ESTIMATORS


def test_thread_dependent_estimators_leave_out_the_single_threaded_cnn():
    # Their training jobs take `threads.train` cores: the TensorFlow estimators and logistic
    # regression, but not the reference cnn, which always trains on one thread.
    from genrepipe.estimators import (
        SINGLE_THREADED_ESTIMATORS,
        TENSORFLOW_ESTIMATORS,
        THREAD_DEPENDENT_ESTIMATORS,
    )

    assert SINGLE_THREADED_ESTIMATORS == {"cnn"}
    assert THREAD_DEPENDENT_ESTIMATORS == (TENSORFLOW_ESTIMATORS | {"logreg"}) - {"cnn"}
    assert not THREAD_DEPENDENT_ESTIMATORS & SINGLE_THREADED_ESTIMATORS
