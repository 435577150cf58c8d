"""Tests of the four classifiers, their factory and their persistence.

The data are tiny and synthetic; the Keras fits are shared through
module-scoped fixtures so the whole file stays well under a minute on 2 cores.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
import zipfile

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.base import clone, is_classifier
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_blobs
from sklearn.preprocessing import FunctionTransformer

from genrepipe.models import (
    MODEL_NAMES,
    GaussianMixtureClassifier,
    KerasClassifier,
    UntrustedModelError,
    load_model,
    make_model,
    save_model,
)

GENRE_LABELS = np.array(["rock", "blues", "jazz"])  # deliberately not sorted

NN_PARAMS = {
    "hidden_units": 16,
    "dropout": 0.1,
    "epochs": 15,
    "batch_size": 16,
    "learning_rate": 0.01,
    "validation_fraction": 0.0,
}
CNN_PARAMS = {
    "filters": (4, 8),
    "kernel_size": 3,
    "pool_size": (2, 4),
    "dense_units": 16,
    "dropout": 0.1,
    "epochs": 12,
    "batch_size": 16,
    "learning_rate": 0.01,
    "validation_fraction": 0.0,
}


# ---------------------------------------------------------------------- data


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Three well separated blobs in 6-D with string labels: train and test halves."""
    X, y = make_blobs(
        n_samples=240, n_features=6, centers=3, cluster_std=1.0, center_box=(-8, 8), random_state=3
    )
    labels = GENRE_LABELS[y]
    return X[:120], labels[:120], X[120:], labels[120:]


@pytest.fixture(scope="module")
def images() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Noisy (8, 32) feature images; each class lights up its own band of rows."""
    rng = np.random.default_rng(0)
    n = 90
    y = np.arange(n) % 3
    X = rng.normal(scale=0.5, size=(n, 8, 32)).astype(np.float32)
    for k in range(3):
        X[y == k, 2 * k + 1 : 2 * k + 3, :] += 1.5
    return X[:60], y[:60], X[60:], y[60:]


# ------------------------------------------------------------------- fitted models


def test_an_unfitted_gmm_says_so_as_scikit_learn_estimators_do(blobs):
    from sklearn.exceptions import NotFittedError

    X = blobs[0]
    for method in ("predict", "predict_proba"):
        with pytest.raises(NotFittedError):  # predict raised AttributeError: no classes_
            getattr(GaussianMixtureClassifier(), method)(X)


@pytest.fixture(scope="module")
def gmm_fit(blobs) -> GaussianMixtureClassifier:
    X, y, _, _ = blobs
    return make_model("gmm", {"n_components": 2}, random_state=0).fit(X, y)


@pytest.fixture(scope="module")
def svm_fit(blobs) -> CalibratedClassifierCV:
    X, y, _, _ = blobs
    return make_model("svm", {"kernel": "rbf", "C": 1.0, "gamma": "scale"}, random_state=0).fit(
        X, y
    )


@pytest.fixture(scope="module")
def nn_fit(blobs) -> KerasClassifier:
    X, y, _, _ = blobs
    return make_model("nn", NN_PARAMS, random_state=7).fit(X, y)


@pytest.fixture(scope="module")
def cnn_fit(images) -> KerasClassifier:
    X, y, _, _ = images
    return make_model("cnn", CNN_PARAMS, random_state=7).fit(X, y)


# ------------------------------------------------------------------------- GMM


def test_gmm_predicts_class_of_highest_likelihood(gmm_fit, blobs):
    _, _, X_test, y_test = blobs
    loglik = gmm_fit.predict_log_likelihood(X_test)
    assert loglik.shape == (len(X_test), 3)
    np.testing.assert_array_equal(gmm_fit.predict(X_test), gmm_fit.classes_[loglik.argmax(axis=1)])
    # each column is the score of that class's own mixture
    np.testing.assert_allclose(loglik[:, 1], gmm_fit.gmms_[1].score_samples(X_test))
    assert np.mean(gmm_fit.predict(X_test) == y_test) >= 0.95
    assert is_classifier(gmm_fit)


def test_gmm_proba_is_softmax_with_string_labels_in_classes_order(gmm_fit, blobs):
    _, _, X_test, y_test = blobs
    assert list(gmm_fit.classes_) == ["blues", "jazz", "rock"]
    proba = gmm_fit.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba, softmax(gmm_fit.predict_log_likelihood(X_test), axis=1))
    # column i belongs to classes_[i]: the true class gets the largest mass
    for i, label in enumerate(gmm_fit.classes_):
        rows = y_test == label
        assert proba[rows, i].mean() > 0.9
    np.testing.assert_allclose(np.exp(gmm_fit.predict_log_proba(X_test)), proba)


def test_gmm_priors_shift_the_decision():
    # two overlapping classes, 9:1 imbalance: the prior must favour the big class
    X, y = make_blobs(n_samples=[180, 20], n_features=2, centers=[[0, 0], [1, 0]], random_state=0)
    plain = GaussianMixtureClassifier(random_state=0).fit(X, y)
    prior = GaussianMixtureClassifier(use_priors=True, random_state=0).fit(X, y)
    np.testing.assert_allclose(prior.class_log_prior_, np.log([0.9, 0.1]))
    expected = softmax(plain.predict_log_likelihood(X) + np.log([0.9, 0.1]), axis=1)
    np.testing.assert_allclose(prior.predict_proba(X), expected)
    assert (prior.predict(X) == 0).sum() > (plain.predict(X) == 0).sum()


def test_gmm_class_with_fewer_samples_than_components():
    X, y = make_blobs(n_samples=[30, 30], n_features=3, centers=[[0] * 3, [6] * 3], random_state=1)
    X = np.vstack([X, [[-6, -6, -6]]])
    y = np.append(y.astype(str), "solo")
    model = GaussianMixtureClassifier(n_components=4, random_state=0).fit(X, y)
    assert list(model.n_components_) == [4, 4, 1]
    proba = model.predict_proba(X)
    assert np.all(np.isfinite(proba))
    assert model.predict([[-6, -6, -6]])[0] == "solo"


def test_gmm_mixtures_take_the_classifiers_settings():
    # covariance_type, reg_covar and max_iter are the config's gmm params: dropped on
    # the way to each class's GaussianMixture, changing them would change nothing.
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(60, 3)), rng.normal(size=(60, 3)) + 4, [[9.0, 9.0, 9.0]]])
    y = np.repeat(["a", "b", "solo"], [60, 60, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter=2 stops EM before it converges
        model = GaussianMixtureClassifier(
            n_components=3, covariance_type="diag", reg_covar=0.25, max_iter=2, random_state=0
        ).fit(X, y)
    for gmm in model.gmms_[:2]:
        assert gmm.covariances_.shape == (3, 3)  # diagonal: a variance per component and feature
        assert gmm.n_iter_ == 2 and not gmm.converged_  # EM needs 4 or more iterations here
    # The single row is a Gaussian at that row with covariance reg_covar.
    solo = model.gmms_[2]
    np.testing.assert_allclose(solo.means_, [[9.0, 9.0, 9.0]])
    np.testing.assert_allclose(solo.covariances_, [[0.25, 0.25, 0.25]], rtol=1e-6)


def test_gmm_same_seed_gives_the_same_mixtures():
    # The seed reaches each mixture's k-means initialisation: without it, several
    # components on one blob land on other local optima in every fit.
    rng = np.random.default_rng(1)
    X = np.vstack([rng.normal(size=(60, 3)), rng.normal(size=(60, 3)) + 3])
    y = np.repeat([0, 1], 60)
    fits = [GaussianMixtureClassifier(n_components=4, random_state=7).fit(X, y) for _ in range(4)]
    for other in fits[1:]:
        np.testing.assert_array_equal(
            other.predict_log_likelihood(X), fits[0].predict_log_likelihood(X)
        )


def test_gmm_rejects_wrong_feature_count(gmm_fit):
    with pytest.raises(ValueError, match="features"):
        gmm_fit.predict(np.zeros((2, 5)))


# --------------------------------------------------------------------- factory


def test_make_model_types_and_injected_settings():
    gmm = make_model("gmm", {"n_components": 3}, random_state=5)
    assert isinstance(gmm, GaussianMixtureClassifier)
    assert (gmm.n_components, gmm.random_state) == (3, 5)
    svm = make_model("svm", {"C": 10.0, "kernel": "linear"}, random_state=5)
    assert isinstance(svm, CalibratedClassifierCV) and svm.ensemble is False
    assert (svm.estimator.C, svm.estimator.kernel, svm.estimator.random_state) == (
        10.0,
        "linear",
        5,
    )
    cnn = make_model("cnn", {"epochs": 3}, random_state=5, n_threads=2)
    assert isinstance(cnn, KerasClassifier)
    assert (cnn.architecture, cnn.epochs, cnn.random_state, cnn.n_threads) == ("cnn", 3, 5, 2)
    assert make_model("nn", {}, random_state=0).architecture == "nn"


def test_svm_calibrates_on_five_folds_where_classes_allow():
    # The documented Platt scaling on 5-fold cross-validated decision values.
    svm = make_model("svm", {}, random_state=0)
    assert svm.cv.get_n_splits(y=np.repeat(["a", "b", "c"], 10)) == 5


def test_make_model_rejects_unknown_name():
    with pytest.raises(ValueError, match="unknown model 'rf'.*gmm, svm, nn, cnn"):
        make_model("rf", {}, random_state=0)
    assert MODEL_NAMES == ("gmm", "svm", "nn", "cnn")


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("gmm", "n_component"),
        ("svm", "probability"),
        ("svm", "random_state"),
        ("nn", "filters"),  # a CNN parameter is a typo for the dense network
        ("cnn", "hidden_units"),
        ("cnn", "n_threads"),
    ],
)
def test_make_model_rejects_unknown_param(name, key):
    with pytest.raises(ValueError, match=rf"'{key}'.*model '{name}'"):
        make_model(name, {key: 1}, random_state=0)


def test_svm_proba_columns_follow_classes(svm_fit, blobs):
    _, _, X_test, y_test = blobs
    proba = svm_fit.predict_proba(X_test)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(svm_fit.classes_[proba.argmax(axis=1)], svm_fit.predict(X_test))
    assert np.mean(svm_fit.predict(X_test) == y_test) >= 0.95


# ----------------------------------------------------------------------- Keras


def test_nn_learns_separable_blobs(nn_fit, blobs):
    _, _, X_test, y_test = blobs
    assert list(nn_fit.classes_) == ["blues", "jazz", "rock"]
    proba = nn_fit.predict_proba(X_test)
    assert proba.shape == (len(X_test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert np.mean(nn_fit.predict(X_test) == y_test) >= 0.9  # chance is 1/3
    assert len(nn_fit.history_["loss"]) == NN_PARAMS["epochs"]
    assert "val_loss" not in nn_fit.history_
    assert nn_fit.history_["loss"][-1] < nn_fit.history_["loss"][0]
    assert is_classifier(nn_fit)


def test_cnn_learns_banded_images(cnn_fit, images):
    _, _, X_test, y_test = images
    assert cnn_fit.input_shape_ == (8, 32)
    assert np.mean(cnn_fit.predict(X_test) == y_test) >= 0.8  # chance is 1/3
    assert cnn_fit.predict(X_test).dtype.kind == "i"


def test_same_seed_gives_identical_probabilities(nn_fit, blobs):
    X, y, X_test, _ = blobs
    again = clone(nn_fit).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X_test), nn_fit.predict_proba(X_test))
    assert again.history_ == nn_fit.history_


def test_validation_slice_early_stopping_and_epoch_log():
    # random labels: nothing to learn, so val_loss soon stops improving
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 10))
    y = rng.integers(0, 2, size=80)
    lines: list[str] = []
    model = KerasClassifier(
        "nn",
        hidden_units=32,
        dropout=0.0,
        epochs=60,
        batch_size=16,
        learning_rate=0.05,
        validation_fraction=0.25,
        patience=3,
        random_state=0,
        log=lines.append,
    ).fit(X, y)
    history = model.history_
    n_epochs = len(history["loss"])
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history)
    assert n_epochs < 60
    assert n_epochs == model.best_epoch_ + 3  # stopped `patience` epochs after the best
    assert model.best_epoch_ == int(np.argmin(history["val_loss"])) + 1
    assert len(lines) == n_epochs
    assert lines[0].startswith("epoch 1/60 loss ")
    assert " acc " in lines[0] and " val_loss " in lines[0] and " val_acc " in lines[0]
    # The network holds the best epoch's weights, not the last one's: its loss on the
    # validation slice is the lowest val_loss of the history, nearer it than any other
    # epoch's (Keras 3.0.5 logged it 0.04% off this mean, Keras 3.1x within 1e-8).
    _, _, X_val, y_val = model._split(X.astype(np.float32), y)
    proba = model.predict_proba(X_val)
    loss = -np.mean(np.log(proba[np.arange(len(y_val)), y_val]))
    val_loss = np.asarray(history["val_loss"])
    assert np.argmin(np.abs(val_loss - loss)) == model.best_epoch_ - 1
    np.testing.assert_allclose(loss, val_loss.min(), rtol=1e-3)
    assert loss < val_loss[-1]


def test_validation_slice_is_a_stratified_share_of_the_training_rows():
    # The slice is the asked share (rounded up) of the rows, the rest trains: swapped,
    # the network trained on the small slice. Each class keeps its share in it: 9:1
    # imbalanced labels give 9 + 1 of 10 validation rows for every seed.
    y = np.repeat([0, 1], [90, 10])
    X = np.arange(100, dtype=np.float32)[:, None]
    for seed in range(8):
        model = KerasClassifier("nn", validation_fraction=0.1, random_state=seed)
        X_tr, y_tr, X_val, y_val = model._split(X, y)
        assert (len(y_tr), len(y_val)) == (90, 10)
        assert np.bincount(y_val).tolist() == [9, 1]
        assert sorted(np.concatenate([X_tr, X_val])[:, 0]) == list(range(100))
    # 0.25 of 10 rows is 2.5: three validate, not two.
    model = KerasClassifier("nn", validation_fraction=0.25, random_state=0)
    assert len(model._split(X[:10], np.arange(10) % 2)[3]) == 3


def test_an_unstratifiable_validation_slice_leaves_every_class_a_training_track():
    # One track of class 0 in this fold: stratifying fails, and the random slice that
    # replaced it took that track in 38 of 200 seeds, so the network never learnt class 0.
    y = np.array([0] + [c for c in range(1, 10) for _ in range(10)])
    for seed in range(40):
        model = KerasClassifier("nn", validation_fraction=0.15, random_state=seed)
        with pytest.warns(RuntimeWarning, match="leaves every class a training track"):
            val = model._validation_tracks(y)
        assert len(val) == 14 and 0 not in val  # ceil(0.15 * 91), none of them track 0
        assert set(np.delete(y, val)) == set(range(10))
    # Three classes of one track each and one of two: one track to spare, not ceil(0.4 * 5).
    model = KerasClassifier("nn", validation_fraction=0.4, random_state=0)
    with pytest.warns(RuntimeWarning, match="random slice of 1 that"):
        val = model._validation_tracks(np.array([0, 1, 2, 3, 3]))
    assert len(val) == 1 and val[0] in (3, 4)
    # No class of two tracks: none to spare, and it says there is no validation at all.
    with pytest.warns(RuntimeWarning, match="training without a validation slice"):
        assert len(model._validation_tracks(np.array([0, 1, 2]))) == 0


def test_validation_fraction_that_leaves_no_training_row_is_refused():
    # ceil(0.8 * 4) = 4 rows would validate and none train: say so, rather than fail
    # inside scikit-learn's splitter with its own message.
    model = KerasClassifier("nn", validation_fraction=0.8, random_state=0)
    with pytest.raises(ValueError, match="leaves no training tracks"):
        model._split(np.zeros((4, 2), dtype=np.float32), np.array([0, 1, 0, 1]))


def test_keras_rejects_wrong_input_rank(nn_fit, cnn_fit):
    with pytest.raises(ValueError, match="2-D"):
        KerasClassifier("nn").fit(np.zeros((4, 2, 2)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="3-D"):
        cnn_fit.predict_proba(np.zeros((4, 8)))
    with pytest.raises(ValueError, match="fitted on"):
        nn_fit.predict(np.zeros((4, 5)))


def test_cnn_refuses_a_kernel_larger_than_its_input():
    # A kernel a few hundred times taller than its input aborted inside TensorFlow.
    X, y = np.zeros((4, 8, 40), dtype=np.float32), ["a", "b", "a", "b"]
    for kernel, message in (
        ([1000, 3], r"\(1000, 3\).*\(8 rows x 40 frames\)"),
        (41, r"\(41, 41\)"),
    ):
        with pytest.raises(ValueError, match=rf"kernel_size {message}"):
            # No validation slice: 4 rows cannot give a stratified one, which warns.
            KerasClassifier("cnn", kernel_size=kernel, epochs=1, validation_fraction=0).fit(X, y)


def test_embedding_is_what_the_output_layer_reads(nn_fit, cnn_fit, blobs, images):
    """The embedding's values, not only its shape: the softmax of the output layer's
    weights applied to it gives the model's probabilities."""
    for model, X, width in (
        (nn_fit, blobs[2], NN_PARAMS["hidden_units"]),
        (cnn_fit, images[2], CNN_PARAMS["dense_units"]),
    ):
        emb = model.transform_embedding(X)
        assert emb.shape == (len(X), width) and np.all(np.isfinite(emb))
        weights, bias = model.model_.get_layer("output").get_weights()
        logits = emb @ weights + bias
        proba = np.exp(logits - logits.max(axis=1, keepdims=True))
        proba /= proba.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-5)


def test_networks_predict_a_few_batches_at_a_time_with_the_same_outputs(
    cnn_fit, images, monkeypatch
):
    """Keras copies what predict is given: 1000 reference images at once cost 0.9 GB.
    In parts of whole batches, every output is the one a single call gives."""
    import genrepipe.models

    X = images[2]  # 30 rows: parts of 2 batches of 8 leave a short last part
    monkeypatch.setattr(cnn_fit, "batch_size", 8)
    whole = np.asarray(cnn_fit.model_.predict(X, batch_size=8, verbose=0), dtype=np.float64)
    embedding = cnn_fit.transform_embedding(X)
    monkeypatch.setattr(genrepipe.models, "_PREDICT_BATCHES", 2)
    sizes = []
    predict = type(cnn_fit.model_).predict

    def counting(network, rows, **kwargs):
        sizes.append(len(rows))
        return predict(network, rows, **kwargs)

    monkeypatch.setattr(type(cnn_fit.model_), "predict", counting)
    np.testing.assert_array_equal(
        cnn_fit.predict_proba(X), whole / whole.sum(axis=1, keepdims=True)
    )
    assert sizes == [16, 14]
    np.testing.assert_array_equal(cnn_fit.transform_embedding(X), embedding)
    assert sizes[2:] == [16, 14]


def test_thread_change_after_tf_start_warns(nn_fit):
    import tensorflow as tf

    from genrepipe.models import _configure_threads

    current = tf.config.threading.get_intra_op_parallelism_threads()
    with pytest.warns(RuntimeWarning, match="already initialised"):
        _configure_threads(tf, current + 1)


# ------------------------------------------------------------------ persistence


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_save_load_round_trip(name, request, tmp_path, blobs, images):
    model = request.getfixturevalue(f"{name}_fit")
    X_test = images[2] if name == "cnn" else blobs[2]
    path = tmp_path / "models" / f"{name}.model"
    save_model(model, path)
    assert path.is_file()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp file left behind
    loaded = load_model(path)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.classes_, model.classes_)
    assert loaded.classes_.dtype == model.classes_.dtype
    np.testing.assert_array_equal(loaded.predict_proba(X_test), model.predict_proba(X_test))
    np.testing.assert_array_equal(loaded.predict(X_test), model.predict(X_test))
    if isinstance(model, KerasClassifier):
        assert loaded.history_ == model.history_
        assert loaded.get_params() == {**model.get_params(), "log": None}
        np.testing.assert_array_equal(
            loaded.transform_embedding(X_test), model.transform_embedding(X_test)
        )


def test_a_network_logging_its_epochs_saves_and_loads_without_its_log(nn_fit, tmp_path):
    # The workflow points `log` at the job's logger before training: a callable that
    # JSON cannot hold, left out of the saved parameters.
    logging_model = copy.copy(nn_fit)
    logging_model.log = print
    save_model(logging_model, tmp_path / "nn.model")
    loaded = load_model(tmp_path / "nn.model")
    assert loaded.log is None and loaded.n_features_in_ == nn_fit.n_features_in_


def test_a_keras_archive_of_another_format_version_is_refused(nn_fit, tmp_path):
    # A later format may store its state otherwise: read as this one, it would load wrong.
    path, newer = tmp_path / "nn.model", tmp_path / "newer.model"
    save_model(nn_fit, path)
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(newer, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "genrepipe_keras.json":
                meta = json.loads(data)
                meta["format_version"] += 1
                data = json.dumps(meta)
            dst.writestr(name, data)
    with pytest.raises(
        ValueError, match="unsupported Keras archive format 'genrepipe-keras' version 2"
    ):
        load_model(newer)


def test_saving_a_network_leaves_the_training_log_quiet(nn_fit, tmp_path):
    # Keras 3 saving TensorFlow variables under NumPy 2 raised a DeprecationWarning that
    # log_to_file wrote into every network's training log.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        save_model(nn_fit, tmp_path / "nn.model")
        warnings.warn("a warning of our own", DeprecationWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["a warning of our own"]


def test_load_refuses_untrusted_types(tmp_path):
    # a classic skops exploit: a trusted estimator carrying os.system
    path = tmp_path / "evil.model"
    save_model(FunctionTransformer(func=os.system).fit(np.zeros((2, 1))), path)
    with pytest.raises(UntrustedModelError, match="system"):
        load_model(path)


def test_load_rejects_foreign_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a model", encoding="utf-8")
    with pytest.raises(ValueError, match="not a model file"):
        load_model(text)
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(ValueError, match="not a model file"):
        load_model(archive)


def test_svm_calibrates_on_classes_smaller_than_five_folds():
    # Three rows per class: fixed 5-fold calibration would refuse to fit.
    rng = np.random.default_rng(0)
    labels = np.repeat([f"g{i}" for i in range(6)], 3)
    X = rng.normal(size=(18, 4)) + 4 * np.repeat(np.arange(6), 3)[:, None]
    model = make_model("svm", {"C": 10.0}, random_state=0).fit(X, labels)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (model.predict(X) == labels).mean() > 0.8
    # A class with a single row (as in a sparse list split) still fits, with a warning.
    with pytest.warns(UserWarning, match="single training row"):
        sparse = make_model("svm", {"C": 10.0}, random_state=0).fit(X[:7], labels[:7])
    assert list(sparse.classes_) == ["g0", "g1", "g2"]
    assert (sparse.predict(X[:7]) == labels[:7]).mean() > 0.8
