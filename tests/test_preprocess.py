"""Tests of genrepipe.preprocess: no leakage from test rows, PCA capping, row standardization."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from genrepipe.preprocess import INPUT_KINDS, RowStandardizer, flatten, make_preprocessor


@pytest.fixture(scope="module")
def train_test() -> tuple[np.ndarray, np.ndarray]:
    """Training rows, and test rows from a shifted, rescaled distribution (so leakage shows)."""
    rng = np.random.default_rng(0)
    n_features = 12
    mixing = rng.standard_normal((n_features, n_features))
    train = rng.standard_normal((80, n_features)) @ mixing + np.arange(n_features)
    test = 3.0 * rng.standard_normal((20, n_features)) @ mixing.T + 10.0
    return train, test


def _assert_same_components(a: np.ndarray, b: np.ndarray) -> None:
    """PCA components match up to the sign of each component."""
    assert a.shape == b.shape
    signs = np.sign(np.sum(a * b, axis=1))
    np.testing.assert_allclose(a * signs[:, None], b, rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------- leakage


def test_pca_pipeline_is_fitted_on_training_rows_only(train_test):
    train, test = train_test
    k = 5
    pipeline = make_preprocessor("pca", *train.shape, pca_components=k)
    assert isinstance(pipeline, Pipeline)
    pipeline.fit(train)

    scaler = StandardScaler().fit(train)
    pca = PCA(n_components=k, svd_solver="full").fit(scaler.transform(train))

    fitted_scaler, fitted_pca = pipeline.named_steps["scale"], pipeline.named_steps["pca"]
    np.testing.assert_allclose(fitted_scaler.mean_, train.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(fitted_scaler.scale_, train.std(axis=0), rtol=1e-12)
    np.testing.assert_allclose(fitted_scaler.mean_, scaler.mean_)
    np.testing.assert_allclose(fitted_scaler.scale_, scaler.scale_)
    _assert_same_components(fitted_pca.components_, pca.components_)
    np.testing.assert_allclose(fitted_pca.explained_variance_, pca.explained_variance_, rtol=1e-10)

    # Test rows go through the training statistics, unchanged.
    expected = (scaler.transform(test) - pca.mean_) @ pca.components_.T
    got = pipeline.transform(test)
    assert got.shape == (len(test), k)
    signs = np.sign(np.sum(fitted_pca.components_ * pca.components_, axis=1))
    np.testing.assert_allclose(got * signs, expected, rtol=1e-6, atol=1e-8)


def test_fitting_on_all_rows_gives_different_statistics(train_test):
    train, test = train_test
    on_train = make_preprocessor("pca", *train.shape, pca_components=5).fit(train)
    both = np.vstack([train, test])
    on_all = make_preprocessor("pca", *both.shape, pca_components=5).fit(both)

    assert not np.allclose(on_train.named_steps["scale"].mean_, on_all.named_steps["scale"].mean_)
    assert not np.allclose(on_train.named_steps["scale"].scale_, on_all.named_steps["scale"].scale_)
    a, b = on_train.named_steps["pca"].components_, on_all.named_steps["pca"].components_
    assert not np.allclose(np.abs(a), np.abs(b), atol=1e-3)
    assert not np.allclose(np.abs(on_train.transform(test)), np.abs(on_all.transform(test)))


def test_scaled_input_is_a_standard_scaler_fitted_on_train(train_test):
    train, test = train_test
    scaler = make_preprocessor("scaled", *train.shape, pca_components=5)
    assert isinstance(scaler, StandardScaler)
    scaler.fit(train)
    np.testing.assert_allclose(scaler.mean_, train.mean(axis=0))
    np.testing.assert_allclose(
        scaler.transform(test), (test - train.mean(axis=0)) / train.std(axis=0), rtol=1e-10
    )


def test_preprocessor_is_unfitted_and_fresh_each_call(train_test):
    train, _ = train_test
    a = make_preprocessor("pca", *train.shape, pca_components=3)
    b = make_preprocessor("pca", *train.shape, pca_components=3)
    assert a is not b
    with pytest.raises(NotFittedError):
        a.transform(train)


# --------------------------------------------------------------------------- PCA components


def test_pca_components_capped_with_warning(caplog):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((6, 40))
    with caplog.at_level(logging.WARNING, logger="genrepipe.preprocess"):
        pipeline = make_preprocessor("pca", *X.shape, pca_components=20)
    assert pipeline.named_steps["pca"].n_components == 5
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "20 components requested" in message
    assert "6 training rows (centred, they span one direction fewer) x 40 features" in message
    assert message.endswith("using 5")
    assert pipeline.fit_transform(X).shape == (6, 5)


def test_pca_keeps_no_component_without_training_variance():
    """n training rows, centred, span n - 1 directions: an n-th component is noise of the
    SVD, near 0 on every training row and of ordinary size on a new one (an input the
    reference nn never learned a weight for, and a GMM's regularized variance penalizes)."""
    rng = np.random.default_rng(3)
    train, new = rng.standard_normal((30, 400)), rng.standard_normal((10, 400))
    pipeline = make_preprocessor("pca", *train.shape, pca_components=900).fit(train)
    on_train, on_new = pipeline.transform(train), pipeline.transform(new)
    assert on_train.shape[1] == 29
    train_spread, new_spread = on_train.std(axis=0), on_new.std(axis=0)
    assert train_spread.min() > 0.1 * new_spread.max()


def test_pca_components_capped_by_features(caplog):
    with caplog.at_level(logging.WARNING, logger="genrepipe.preprocess"):
        pipeline = make_preprocessor("pca", 500, 8, pca_components=20)
    assert pipeline.named_steps["pca"].n_components == 8
    assert "using 8" in caplog.text


def test_pca_components_not_capped_without_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="genrepipe.preprocess"):
        pipeline = make_preprocessor("pca", 900, 87, pca_components=20)
    pca = pipeline.named_steps["pca"]
    assert pca.n_components == 20
    # An exact SVD: nothing random, so the workflow's seed need not refit it.
    assert pca.svd_solver == "full"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_pca_components_must_be_positive():
    with pytest.raises(ValueError, match="pca_components"):
        make_preprocessor("pca", 100, 10, pca_components=0)
    # The workflow passes None to inputs without PCA, so that the setting reruns none of them.
    with pytest.raises(ValueError, match="pca_components"):
        make_preprocessor("pca", 100, 10, pca_components=None)
    assert isinstance(make_preprocessor("scaled", 100, 10, pca_components=None), StandardScaler)


def test_unknown_input_kind_is_named():
    with pytest.raises(ValueError) as info:
        make_preprocessor("mfcc_raw", 100, 10, pca_components=5)
    assert "'mfcc_raw'" in str(info.value)
    for kind in INPUT_KINDS:
        assert kind in str(info.value)


def test_image_input_is_a_row_standardizer():
    assert isinstance(make_preprocessor("image", 10, 10, pca_components=5), RowStandardizer)


# --------------------------------------------------------------------------- RowStandardizer


@pytest.fixture(scope="module")
def images() -> tuple[np.ndarray, np.ndarray]:
    """(tracks, rows, frames) float32 with very different per-row offsets and scales."""
    rng = np.random.default_rng(2)
    offsets = np.array([0.0, 100.0, -5.0, 1e4, 0.0])[None, :, None]
    scales = np.array([1.0, 0.01, 20.0, 300.0, 0.0])[None, :, None]  # last row constant
    train = (offsets + scales * rng.standard_normal((14, 5, 33))).astype(np.float32)
    test = (offsets + 2 * scales * rng.standard_normal((4, 5, 33)) + 1).astype(np.float32)
    return train, test


def test_row_standardizer_statistics_by_hand(images):
    train, _ = images
    scaler = RowStandardizer().fit(train)
    per_row = train.astype(np.float64).transpose(1, 0, 2).reshape(train.shape[1], -1)
    np.testing.assert_allclose(scaler.mean_, per_row.mean(axis=1), rtol=1e-6)
    expected_std = np.maximum(per_row.std(axis=1), scaler.eps)
    np.testing.assert_allclose(scaler.scale_, expected_std, rtol=1e-5)
    assert scaler.n_rows_ == train.shape[1]
    assert scaler.scale_[-1] == scaler.eps  # the constant row gets the floor


def test_row_standardizer_output_on_training_data(images):
    train, _ = images
    out = RowStandardizer().fit_transform(train)
    assert out.dtype == np.float32
    assert out.shape == train.shape
    assert np.all(np.isfinite(out))
    per_row = out.astype(np.float64).transpose(1, 0, 2).reshape(train.shape[1], -1)
    varying = per_row[:-1]
    np.testing.assert_allclose(varying.mean(axis=1), 0.0, atol=1e-3)
    np.testing.assert_allclose(varying.std(axis=1), 1.0, rtol=1e-3)
    # The constant row stays finite: all zeros.
    np.testing.assert_array_equal(per_row[-1], 0.0)


def test_row_standardizer_uses_training_statistics_on_test(images):
    train, test = images
    scaler = RowStandardizer().fit(train)
    out = scaler.transform(test)
    expected = (test - scaler.mean_[None, :, None]) / scaler.scale_[None, :, None]
    np.testing.assert_allclose(out[:, :-1], expected[:, :-1], rtol=1e-4, atol=1e-3)
    # A test set fitted on its own would be centred; through the training statistics it is not.
    assert abs(out[:, 0].mean()) > 0.5


def test_row_standardizer_constant_nonzero_row_is_finite():
    X = np.full((3, 2, 10), 7.0, dtype=np.float32)
    X[:, 1] = np.arange(10)
    out = RowStandardizer().fit_transform(X)
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[:, 0], 0.0)


def test_row_standardizer_checks_shapes(images):
    train, _ = images
    scaler = RowStandardizer()
    with pytest.raises(NotFittedError):
        scaler.transform(train)
    with pytest.raises(ValueError, match="tracks, rows, frames"):
        scaler.fit(train.reshape(len(train), -1))
    scaler.fit(train)
    with pytest.raises(ValueError, match="expected 5 rows per track, got 4"):
        scaler.transform(train[:, :4])


def test_row_standardizer_can_leave_out_the_padding_of_short_tracks(images):
    train, _ = images
    # Tracks 0 to 4 end in 13 frames of one repeated column, as logmel pads a short clip
    # with its -100 dB floor.
    padded = train.copy()
    padded[:5, :, 20:] = -100.0
    audio = np.concatenate([padded[i, :, :20] for i in range(5)] + list(padded[5:]), axis=1)
    scaler = RowStandardizer(exclude_padding=True).fit(padded)
    np.testing.assert_allclose(scaler.mean_, audio.mean(axis=1, dtype=np.float64), rtol=1e-6)
    np.testing.assert_allclose(
        scaler.scale_, np.maximum(audio.std(axis=1, dtype=np.float64), scaler.eps), rtol=1e-5
    )
    # Counting every frame (the reference CNN's), the padding moves the statistics.
    every_frame = RowStandardizer().fit(padded)
    assert not np.allclose(every_frame.mean_[:4], scaler.mean_[:4], rtol=1e-3)
    # Without padding, the same bytes either way: results on full clips stay as they were.
    exact = RowStandardizer(exclude_padding=True).fit(train)
    np.testing.assert_array_equal(exact.mean_, RowStandardizer().fit(train).mean_)
    np.testing.assert_array_equal(exact.scale_, RowStandardizer().fit(train).scale_)


def test_window_cnns_standardize_the_audio_and_the_reference_cnn_every_frame(images):
    from genrepipe.tasks import fit_and_predict

    train, _ = images
    padded = train[:12, :4].copy()  # the constant row left out: 4 bands
    padded[:6, :, 20:] = -100.0
    y = np.array(["a", "b"] * 6)
    mask = np.ones(12, dtype=bool)
    net = {"epochs": 1, "filters": [2], "dense_units": 2, "batch_size": 12}
    window = {"window_frames": 8, "hop_frames": 8, "crops_per_track": 1}
    for estimator, params, expected in (
        ("cnn", {**net, "pool_size": [1, 2]}, RowStandardizer().fit(padded)),
        ("cnn_windows", {**net, **window}, RowStandardizer(exclude_padding=True).fit(padded)),
    ):
        spec = {"estimator": estimator, "features": "logmel", "input": "image", "params": params}
        _, transform, _, _ = fit_and_predict(spec, padded, y, mask, seed=0, threads=1)
        np.testing.assert_array_equal(transform.mean_, expected.mean_)


def test_flatten():
    X = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    flat = flatten(X)
    assert flat.shape == (2, 12)
    np.testing.assert_array_equal(flat[1], np.arange(12, 24))
    assert np.shares_memory(flat, X)
    assert flatten(np.zeros((5, 7))).shape == (5, 7)


def test_pca_features_do_not_depend_on_the_blas_thread_count():
    """Snakemake sets BLAS's thread count from the cores it grants a job (1 under
    ``--cores 1``), and PCA's trailing components move with it: the same config must
    give the same features, so the fit and transform run on one thread."""
    from threadpoolctl import threadpool_limits

    from genrepipe.tasks import fit_transform_features

    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 20000)).astype(np.float32)
    train = np.arange(90) % 10 != 0
    features = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads):
            _, Z = fit_transform_features(X, train, "seed87", "pca", pca_components=80)
        features.append(Z)
    np.testing.assert_array_equal(features[0], features[1])


@pytest.mark.parametrize("preprocessing", ["pca", "scaled"])
def test_fitting_on_a_copy_in_place_changes_no_input_and_no_output(preprocessing):
    """The fit scales and centres its private copy of the training rows in place (less
    memory); the features, the fitted transform and every input stay as with copies."""
    from threadpoolctl import threadpool_limits

    from genrepipe.tasks import fit_transform_features

    rng = np.random.default_rng(3)
    X = rng.normal(2.0, 3.0, size=(40, 3, 50)).astype(np.float32)
    train = np.arange(40) % 4 != 0
    before = X.copy()
    transform, Z = fit_transform_features(X, train, "seed87", preprocessing, pca_components=12)
    np.testing.assert_array_equal(X, before)
    expected = make_preprocessor(preprocessing, 30, 150, pca_components=12)
    with threadpool_limits(limits=1):
        expected.fit(flatten(X)[train])
        np.testing.assert_array_equal(Z, expected.transform(flatten(X)).astype(np.float32))
    # The saved transform copies again: predicting leaves the caller's rows as they were.
    new_rows = flatten(rng.normal(size=(5, 3, 50)).astype(np.float32))
    kept = new_rows.copy()
    transform.transform(new_rows)
    np.testing.assert_array_equal(new_rows, kept)
