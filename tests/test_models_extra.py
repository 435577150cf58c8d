"""Tests of the models beyond the reference four: logistic regression, the window CNN with
its augmentation and voting, classifiers on its embeddings, and the soft-voting ensemble.

The CNNs are tiny (two blocks of 4 and 8 filters, 2 epochs, 16 x 48 inputs) and shared
through module-scoped fixtures.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy.special import softmax
from sklearn.linear_model import LogisticRegression

from genrepipe.config import (
    SEARCHABLE_ESTIMATORS,
    ConfigError,
    check_config,
    model_feature_sets,
    models_in_use,
)
from genrepipe.models import ESTIMATOR_NAMES, allowed_params, load_model, make_model, save_model
from genrepipe.preprocess import RowStandardizer
from genrepipe.tasks import _fit_kwargs, combine_ensemble, read_table, write_table
from genrepipe.windows import (
    CnnEmbeddingClassifier,
    WindowCNNClassifier,
    _augmented_dataset,
    audio_frames,
    augment_windows,
    crop_windows,
    epoch_plan,
    window_starts,
)

CNN_PARAMS = {
    "filters": (4, 8),
    "dense_units": 8,
    "dropout": 0.1,
    "epochs": 2,
    "batch_size": 16,
    "learning_rate": 0.01,
    "window_frames": 16,
    "hop_frames": 8,
    "crops_per_track": 8,
    "gain_db": 0.5,  # the inputs are not in dB: a small gain
    "time_mask_frames": 4,
    "freq_mask_bins": 3,
}
LABELS = np.array(["rock", "blues", "jazz"])  # deliberately not sorted


@pytest.fixture(scope="module")
def tracks() -> tuple[np.ndarray, np.ndarray]:
    """45 noisy (16 mel x 48 frame) tracks; each class lights up its own bands."""
    rng = np.random.default_rng(0)
    y = LABELS[np.arange(45) % 3]
    X = rng.normal(scale=0.5, size=(45, 16, 48)).astype(np.float32)
    for k, label in enumerate(LABELS):
        X[y == label, 5 * k : 5 * k + 4, :] += 1.5
    return X, y


@pytest.fixture(scope="module")
def cnn_fit(tracks) -> WindowCNNClassifier:
    X, y = tracks
    model = make_model("cnn_windows", CNN_PARAMS, random_state=3)
    return model.fit(X, y)


# ----------------------------------------------------------------------- logreg


def test_logreg_is_built_configured_and_searchable(tracks) -> None:
    model = make_model("logreg", {"C": 0.5}, random_state=1)
    assert isinstance(model, LogisticRegression)
    assert (model.C, model.random_state, model.max_iter) == (0.5, 1, 5000)
    assert "C" in allowed_params("logreg") and "random_state" not in allowed_params("logreg")
    with pytest.raises(ValueError, match="unknown parameter"):
        make_model("logreg", {"gamma": 1.0}, random_state=1)
    assert "logreg" in SEARCHABLE_ESTIMATORS and "logreg" in ESTIMATOR_NAMES


def test_logreg_fits_predicts_saves_and_loads(tracks, tmp_path) -> None:
    X, y = tracks
    flat = X.mean(axis=2)
    model = make_model("logreg", {"C": 1.0}, random_state=0).fit(flat[:30], y[:30])
    assert (model.predict(flat[30:]) == y[30:]).mean() > 0.9
    save_model(model, tmp_path / "logreg.skops")
    loaded = load_model(tmp_path / "logreg.skops")
    np.testing.assert_array_equal(loaded.predict_proba(flat), model.predict_proba(flat))


# ----------------------------------------------------------------- windowing


def test_window_starts_cover_every_frame() -> None:
    np.testing.assert_array_equal(window_starts(48, 16, 8), [0, 8, 16, 24, 32])
    np.testing.assert_array_equal(window_starts(50, 16, 8), [0, 8, 16, 24, 32, 34])
    np.testing.assert_array_equal(window_starts(16, 16, 8), [0])
    with pytest.raises(ValueError, match="does not fit"):
        window_starts(10, 16, 8)


def test_crop_windows_cuts_the_asked_frames() -> None:
    X = np.arange(2 * 3 * 10, dtype=np.float32).reshape(2, 3, 10)
    windows = crop_windows(X, np.array([1, 0]), np.array([4, 0]), 5)
    assert windows.shape == (2, 3, 5)
    np.testing.assert_array_equal(windows[0], X[1, :, 4:9])
    np.testing.assert_array_equal(windows[1], X[0, :, 0:5])


def _plan(seed: int, epoch: int, **overrides) -> dict[str, np.ndarray]:
    settings = dict(
        crops_per_track=3,
        gain_db=6.0,
        time_masks=2,
        time_mask_frames=4,
        freq_masks=1,
        freq_mask_bins=3,
        n_mels=16,
        mixup_alpha=0.2,
    )
    return epoch_plan(10, 48, 16, **(settings | overrides), seed=seed, epoch=epoch)


def test_epoch_plan_changes_between_epochs_and_repeats_for_a_seed() -> None:
    first, again, second = _plan(1, 0), _plan(1, 0), _plan(1, 1)
    for key in first:
        np.testing.assert_array_equal(first[key], again[key])
    assert not np.array_equal(first["start"], second["start"])
    assert not np.array_equal(first["gain"], second["gain"])
    assert not np.array_equal(_plan(2, 0)["start"], first["start"])
    # Every track is cropped crops_per_track times; crops and masks stay inside the window.
    np.testing.assert_array_equal(np.bincount(first["track"]), np.full(10, 3))
    assert first["start"].min() >= 0 and first["start"].max() <= 48 - 16
    assert (first["time_start"] + first["time_width"] <= 16).all()
    assert (first["freq_start"] + first["freq_width"] <= 16).all()
    assert (np.abs(first["gain"]) <= 6.0).all()
    assert (first["lam"] >= 0.5).all() and (first["lam"] <= 1.0).all()
    plain = _plan(1, 0, mixup_alpha=0.0, gain_db=0.0)
    assert (plain["lam"] == 1).all() and (plain["gain"] == 0).all()


def test_augment_windows_adds_gain_in_db_and_masks() -> None:
    windows = np.zeros((2, 4, 6), dtype=np.float32)
    scale = np.array([1.0, 2.0, 4.0, 8.0])  # input units per dB... as a band's std in dB
    out = augment_windows(
        windows,
        gain=np.array([8.0, -4.0]),
        gain_scale=scale,
        time_start=np.array([[1], [0]]),
        time_width=np.array([[2], [0]]),
        freq_start=np.array([[3], [0]]),
        freq_width=np.array([[1], [0]]),
    )
    # 8 dB on standardized bands of std 1, 2, 4, 8 dB: 8, 4, 2, 1 units.
    np.testing.assert_allclose(out[0, :3, 0], [8.0, 4.0, 2.0])
    np.testing.assert_array_equal(out[0, :, 1:3], 0.0)  # the time mask
    np.testing.assert_array_equal(out[0, 3, :], 0.0)  # the frequency mask
    np.testing.assert_allclose(out[1], np.broadcast_to(-4.0 / scale[:, None], (4, 6)))


def test_training_batches_change_between_epochs_and_repeat_for_a_seed(tracks) -> None:
    from genrepipe.models import _import_keras

    keras, _ = _import_keras()
    X, y = tracks
    onehot = np.eye(3, dtype=np.float32)[np.unique(y, return_inverse=True)[1]]

    def batches(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        model = WindowCNNClassifier(**CNN_PARAMS, random_state=seed)
        dataset = _augmented_dataset(keras, model, X, onehot, np.ones(16), n_epochs=2)
        assert len(dataset) == 2 * dataset.steps == 2 * 23  # 45 tracks x 8 crops / 16
        # The first batch of epoch 1 comes after epoch 0's, asked in any order.
        return [dataset[0], dataset[dataset.steps], dataset[0]]

    (a0, ya0), (a1, _), (again, _) = batches(5)
    np.testing.assert_array_equal(a0, again)

    (b0, yb0), (b1, _), _ = batches(5)
    np.testing.assert_array_equal(a0, b0)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(ya0, yb0)
    assert a0.shape == (16, 16, 16) and not np.allclose(a0, a1)
    # Mixup keeps the labels distributions: rows sum to one.
    np.testing.assert_allclose(ya0.sum(axis=1), 1.0, rtol=1e-6)


def test_mixup_mixes_windows_and_labels_alike(tracks) -> None:
    # Rows summing to one held with the labels or the audio left unmixed: each batch
    # must be lam * own + (1 - lam) * partner, in the windows and in the labels.
    from genrepipe.models import _import_keras

    keras, _ = _import_keras()
    X, y = tracks
    onehot = np.eye(3, dtype=np.float32)[np.unique(y, return_inverse=True)[1]]
    model = WindowCNNClassifier(**(CNN_PARAMS | {"mixup_alpha": 0.4}), random_state=3)
    dataset = _augmented_dataset(keras, model, X, onehot, np.ones(16), n_epochs=1)
    x, labels = dataset[1]
    plan = dataset.plan(0)
    idx = np.arange(16, 32)
    partner, lam = plan["partner"][idx], plan["lam"][idx].astype(np.float32)
    own, other = dataset._samples(plan, idx), dataset._samples(plan, partner)
    np.testing.assert_allclose(
        x, lam[:, None, None] * own + (1 - lam[:, None, None]) * other, rtol=1e-5, atol=1e-5
    )
    expected = (
        lam[:, None] * onehot[plan["track"][idx]]
        + (1 - lam[:, None]) * onehot[plan["track"][partner]]
    )
    np.testing.assert_allclose(labels, expected, rtol=1e-6)
    assert (labels.max(axis=1) < 0.99).any()  # some rows are truly mixed
    assert not np.allclose(x, own)


# ------------------------------------------------------------------ the window CNN


def test_cnn_windows_learns_and_votes_over_windows(cnn_fit, tracks) -> None:
    X, y = tracks
    assert list(cnn_fit.classes_) == sorted(LABELS)
    assert cnn_fit.input_shape_ == (16, 16)
    proba = cnn_fit.predict_proba(X)
    assert proba.shape == (45, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (cnn_fit.predict(X) == y).mean() > 0.6
    # A track's probabilities: softmax of the mean log-probability of its 5 windows.
    log_proba, track_index = cnn_fit.window_log_proba(X)
    assert log_proba.shape == (45 * 5, 3)
    np.testing.assert_array_equal(np.bincount(track_index), np.full(45, 5))
    expected = softmax(log_proba.reshape(45, 5, 3).mean(axis=1), axis=1)
    np.testing.assert_allclose(proba, expected, rtol=1e-6, atol=1e-9)
    embeddings, index = cnn_fit.window_embeddings(X)
    assert embeddings.shape == (45 * 5, 8)
    np.testing.assert_array_equal(index, track_index)


def test_cnn_windows_embeds_from_a_named_layer(cnn_fit, tracks) -> None:
    X, _ = tracks
    pooled, index = cnn_fit.window_embeddings(X, layer="global_pool")
    np.testing.assert_array_equal(index, np.repeat(np.arange(45), 5))
    # The last block's maps of every window, averaged over bands and frames.
    maps, _ = cnn_fit.window_embeddings(X, layer="conv2_pool")
    assert pooled.shape == (45 * 5, 8) and maps.shape[0] == 45 * 5
    np.testing.assert_allclose(pooled, maps.mean(axis=(1, 2)), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="no layer 'nope'.*global_pool"):
        cnn_fit.window_embeddings(X, layer="nope")


def test_cnn_windows_predicts_full_batches_with_one_traced_function(cnn_fit, tracks) -> None:
    X, _ = tracks
    # 45 tracks of 5 windows: 160 and 65 windows in two chunks, batches of 16 leave 1.
    log_proba, index = cnn_fit.window_log_proba(X)
    windows = crop_windows(X, index, np.tile(window_starts(X.shape[2], 16, 8), 45), 16)
    direct = np.asarray(cnn_fit.model_(windows, training=False))
    np.testing.assert_allclose(log_proba, np.log(np.clip(direct, 1e-12, 1.0)), atol=1e-5)
    # The zero windows that fill the last batch leave one input shape to trace.
    embedder = cnn_fit._embedder(None)
    cnn_fit.window_embeddings(X)
    cnn_fit.window_embeddings(X[:7])
    assert cnn_fit._embedder(None) is embedder
    assert cnn_fit._embedder("global_pool") is not embedder
    assert embedder.predict_function.experimental_get_tracing_count() == 1


def test_cnn_windows_validates_on_whole_training_tracks(cnn_fit, tracks) -> None:
    _, y = tracks
    train, valid = cnn_fit.train_tracks_, cnn_fit.validation_tracks_
    assert len(np.intersect1d(train, valid)) == 0
    assert sorted(np.concatenate([train, valid])) == list(range(45))
    assert len(valid) == 7  # ceil(0.15 * 45), stratified: every class holds some
    assert set(y[valid]) == set(LABELS)
    assert "val_loss" in cnn_fit.history_


def test_cnn_windows_trains_on_the_tracks_left_after_validation(tracks) -> None:
    # The attributes above only record the split: check what training was handed.
    from unittest import mock

    from genrepipe import windows

    X, y = tracks
    with mock.patch.object(
        windows, "_augmented_dataset", wraps=windows._augmented_dataset
    ) as augmented:
        model = make_model("cnn_windows", CNN_PARAMS | {"epochs": 1}, random_state=3).fit(X, y)
    trained = augmented.call_args.args[2]
    np.testing.assert_array_equal(trained, X[model.train_tracks_])
    assert len(trained) == len(X) - len(model.validation_tracks_)


def test_cnn_windows_is_deterministic_for_a_seed(cnn_fit, tracks) -> None:
    X, y = tracks
    again = make_model("cnn_windows", CNN_PARAMS, random_state=3).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), cnn_fit.predict_proba(X))
    np.testing.assert_array_equal(again.validation_tracks_, cnn_fit.validation_tracks_)


def test_cnn_windows_halves_the_learning_rate_on_plateaus(tracks) -> None:
    import keras

    X, y = tracks
    lines: list[str] = []
    # A learning rate far too high makes val_loss bounce, so plateaus come early.
    params = CNN_PARAMS | {"epochs": 8, "patience": 8, "lr_patience": 1, "learning_rate": 3.0}
    model = make_model("cnn_windows", params, random_state=0).set_params(log=lines.append)
    plateau = [
        c
        for c in model._callbacks(keras, early_stopping=True)
        if isinstance(c, keras.callbacks.ReduceLROnPlateau)
    ]
    assert len(plateau) == 1 and plateau[0].factor == 0.5 and plateau[0].patience == 1
    assert plateau[0].min_lr == pytest.approx(3.0 / 32)
    # No schedule without validation tracks, nor with lr_patience=0.
    assert not any(
        isinstance(c, keras.callbacks.ReduceLROnPlateau)
        for c in model._callbacks(keras, early_stopping=False)
    )
    constant = make_model("cnn_windows", CNN_PARAMS, random_state=0)
    assert not any(
        isinstance(c, keras.callbacks.ReduceLROnPlateau)
        for c in constant._callbacks(keras, early_stopping=True)
    )

    model.fit(X, y)
    rates = np.array(model.history_["learning_rate"])
    assert len(rates) == len(model.history_["loss"])
    assert rates[0] == pytest.approx(3.0) and np.all(np.diff(rates) <= 0)
    assert rates[-1] < 3.0 and rates.min() >= 3.0 / 32 * (1 - 1e-6)
    # Each halving follows an epoch whose val_loss was no better than the best before it.
    val = np.array(model.history_["val_loss"])
    for epoch in np.flatnonzero(np.diff(rates) < 0):
        assert val[epoch] > val[:epoch].min() - 1e-4
    assert len(lines) == len(rates) and all(" lr " in line for line in lines)
    with pytest.raises(ValueError, match="lr_patience"):
        make_model("cnn_windows", CNN_PARAMS | {"lr_patience": -1}, random_state=0).fit(X, y)


def test_cnn_windows_cosine_schedule_ends_near_zero(tracks) -> None:
    import keras

    X, y = tracks
    params = CNN_PARAMS | {"epochs": 3, "validation_fraction": 0.0, "lr_schedule": "cosine"}
    model = make_model("cnn_windows", params, random_state=0).fit(X, y)
    optimizer = model.model_.optimizer
    # 45 tracks x 8 crops in batches of 16: 23 steps an epoch, 3 epochs.
    steps = 3 * 23
    # As NumPy first: Keras 3.0's variables convert to no Python number.
    value = keras.ops.convert_to_numpy
    assert int(value(optimizer.iterations)) == steps
    schedule = optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert float(value(schedule(0))) == pytest.approx(0.01)
    assert float(value(schedule(steps // 2))) == pytest.approx(0.005, rel=0.05)
    assert float(value(optimizer.learning_rate)) == pytest.approx(0.0, abs=1e-9)
    # The schedule owns the rate: no plateau halving, even with validation tracks.
    cosine = make_model("cnn_windows", params | {"lr_patience": 2}, random_state=0)
    assert not any(
        isinstance(c, keras.callbacks.ReduceLROnPlateau)
        for c in cosine._callbacks(keras, early_stopping=True)
    )
    # The constant default keeps the configured rate to the end.
    constant = make_model("cnn_windows", params | {"lr_schedule": "constant"}, random_state=0)
    constant.fit(X, y)
    assert float(value(constant.model_.optimizer.learning_rate)) == pytest.approx(0.01)
    assert not np.allclose(constant.predict_proba(X), model.predict_proba(X))


def test_cnn_windows_with_given_validation_tracks(tracks) -> None:
    X, y = tracks
    params = CNN_PARAMS | {"epochs": 1}
    model = make_model("cnn_windows", params, random_state=0)
    model.fit(X[:36], y[:36], validation_data=(X[36:], y[36:]), input_scale=np.full(16, 10.0))
    assert len(model.validation_tracks_) == 0 and len(model.train_tracks_) == 36
    assert "val_loss" in model.history_
    with pytest.raises(ValueError, match="input_scale"):
        model.fit(X, y, input_scale=np.ones(3))
    with pytest.raises(ValueError, match="shorter than a window"):
        model.fit(X[:, :, :10], y)


def test_cnn_windows_save_load_round_trip(cnn_fit, tracks, tmp_path) -> None:
    X, _ = tracks
    save_model(cnn_fit, tmp_path / "cnn.keras")
    loaded = load_model(tmp_path / "cnn.keras")
    assert isinstance(loaded, WindowCNNClassifier)
    assert loaded.get_params()["window_frames"] == 16 and loaded.filters == (4, 8)
    np.testing.assert_array_equal(loaded.predict_proba(X), cnn_fit.predict_proba(X))
    with pytest.raises(ValueError, match="mel bands"):
        loaded.predict_proba(X[:, :8, :])


def test_cnn_windows_over_time_sees_every_band_and_round_trips(tracks, tmp_path) -> None:
    X, y = tracks
    params = CNN_PARAMS | {"convolution": "time", "kernel_size": 3, "global_pool": "mean_max"}
    model = make_model("cnn_windows", params, random_state=3).fit(X, y)
    # One kernel spans 3 frames of all 16 bands (the bands are channels), not a 3 x 3 patch.
    assert tuple(model.model_.get_layer("conv1").kernel.shape) == (3, 16, 4)
    # Mean and max over time of the last block's 8 maps feed the embedding layer.
    assert tuple(model.model_.get_layer("global_pool").output.shape) == (None, 16)
    assert (model.predict(X) == y).mean() > 0.6
    embeddings, index = model.window_embeddings(X)
    assert embeddings.shape == (45 * 5, 8) and len(index) == 45 * 5
    save_model(model, tmp_path / "cnn_time.keras")
    loaded = load_model(tmp_path / "cnn_time.keras")
    assert loaded.convolution == "time" and loaded.global_pool == "mean_max"
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_cnn_windows_mean_std_pool_is_the_maps_spread_and_loads_elsewhere(tracks, tmp_path) -> None:
    import keras

    X, y = tracks
    params = CNN_PARAMS | {"convolution": "time", "kernel_size": 3, "global_pool": "mean_std"}
    model = make_model("cnn_windows", params, random_state=3).fit(X, y)
    network = model.model_
    maps = keras.Model(network.input, network.get_layer("conv2_pool").output)
    pooled = keras.Model(network.input, network.get_layer("global_pool").output)
    windows = X[:6, :, :16]
    last_maps = np.asarray(maps(windows))  # (window, frames, maps)
    expected = np.concatenate([last_maps.mean(axis=1), np.sqrt(last_maps.var(axis=1) + 1e-6)], 1)
    np.testing.assert_allclose(np.asarray(pooled(windows)), expected, rtol=1e-4, atol=1e-5)
    assert (model.predict(X) == y).mean() > 0.6
    save_model(model, tmp_path / "cnn_std.keras")
    np.save(tmp_path / "X.npy", X)
    # A fresh process has not built the custom layer yet: loading must register it.
    code = (
        "import sys, numpy as np; from genrepipe.models import load_model; "
        "m = load_model(sys.argv[1]); np.save(sys.argv[2], m.predict_proba(np.load(sys.argv[3])))"
    )
    subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(tmp_path / "cnn_std.keras"),
            str(tmp_path / "p.npy"),
            str(tmp_path / "X.npy"),
        ],
        check=True,
        capture_output=True,
    )
    np.testing.assert_allclose(np.load(tmp_path / "p.npy"), model.predict_proba(X), atol=1e-6)


def test_cnn_windows_timbral_front_end_finds_a_shape_in_any_band(tracks, tmp_path) -> None:
    import keras

    X, y = tracks
    params = CNN_PARAMS | {"convolution": "timbral", "kernel_size": 3, "band_heights": [0.25, 0.75]}
    model = make_model("cnn_windows", params, random_state=3).fit(X, y)
    network = model.model_
    # Kernels of 3 frames, 4 and 12 of the 16 bands tall; the 4 maps of block 1 split 2 + 2.
    assert tuple(network.get_layer("conv1_1").kernel.shape) == (4, 3, 1, 2)
    assert tuple(network.get_layer("conv1_2").kernel.shape) == (12, 3, 1, 2)
    assert tuple(network.get_layer("conv1").output.shape) == (None, 16, 4)
    # The same spectral shape one band higher gives the same maps: each map is the
    # maximum over the kernel's band positions (the 4-band kernels here, which see
    # both shapes at every offset; a 12-band one has too few positions to).
    front = keras.Model(network.input, network.get_layer("conv1_1_band_pool").output)
    shape = np.random.default_rng(1).normal(size=(2, 16)).astype(np.float32)
    low, high, other = (np.zeros((1, 16, 16), np.float32) for _ in range(3))
    low[0, 6:8], high[0, 7:9], other[0, 6:8] = shape, shape, shape[::-1]
    np.testing.assert_allclose(np.asarray(front(high)), np.asarray(front(low)), atol=1e-6)
    assert not np.allclose(np.asarray(front(other)), np.asarray(front(low)), atol=1e-3)
    save_model(model, tmp_path / "cnn_timbral.keras")
    loaded = load_model(tmp_path / "cnn_timbral.keras")
    assert loaded.convolution == "timbral" and list(loaded.band_heights) == [0.25, 0.75]
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ({"convolution": "frequency"}, "convolution must be"),
        ({"global_pool": "median"}, "global_pool must be"),
        ({"lr_schedule": "linear"}, "lr_schedule must be"),
        ({"convolution": "time", "kernel_size": (3, 3)}, "kernel_size must be a positive int"),
        ({"kernel_size": (17, 3)}, r"kernel_size \(17, 3\) is larger than the input \(16 rows"),
        ({"convolution": "time", "kernel_size": 17}, r"\(17,\) is larger .* \(16 frames\)"),
        ({"convolution": "timbral", "kernel_size": 17}, r"\(17,\) is larger"),
        ({"convolution": "timbral", "band_heights": [0.5, 1.5]}, "band_heights must be"),
        ({"convolution": "timbral", "band_stride": 0}, "band_stride must be"),
    ],
)
def test_cnn_windows_refuses_unknown_layouts(tracks, override, match) -> None:
    X, y = tracks
    model = make_model("cnn_windows", CNN_PARAMS | {"epochs": 1} | override, random_state=0)
    with pytest.raises(ValueError, match=match):
        model.fit(X, y)


def test_fit_kwargs_give_gains_in_db_of_standardized_bands(tracks) -> None:
    X, _ = tracks
    scaler = RowStandardizer().fit(X)
    kwargs = _fit_kwargs(make_model("cnn_windows", CNN_PARAMS, random_state=0), scaler, None)
    np.testing.assert_array_equal(kwargs["input_scale"], scaler.scale_)
    assert _fit_kwargs(make_model("svm", {}, random_state=0), scaler, None) == {}


# ------------------------------------------------------------------ SVM / GMM heads


@pytest.mark.parametrize("name", ["cnn_svm", "cnn_gmm"])
def test_embedding_heads_reuse_a_fitted_cnn_and_vote(name, cnn_fit, tracks, tmp_path) -> None:
    X, y = tracks
    weights = [w.copy() for w in cnn_fit.model_.get_weights()]
    params = {"C": 1.0} if name == "cnn_svm" else {"n_components": 1, "covariance_type": "diag"}
    model = make_model(name, params, random_state=0).fit(X, y, cnn=cnn_fit)
    assert model.cnn_ is cnn_fit
    for before, after in zip(weights, cnn_fit.model_.get_weights(), strict=True):
        np.testing.assert_array_equal(before, after)  # reused, not refitted
    proba = model.predict_proba(X)
    log_proba, _ = model.window_log_proba(X)
    expected = softmax(log_proba.reshape(45, 5, 3).mean(axis=1), axis=1)
    np.testing.assert_allclose(proba, expected, rtol=1e-6, atol=1e-9)
    assert (model.predict(X) == y).mean() > 0.5
    save_model(model, tmp_path / "head.keras")
    loaded = load_model(tmp_path / "head.keras")
    assert isinstance(loaded, CnnEmbeddingClassifier) and loaded.head == name[4:]
    np.testing.assert_allclose(loaded.predict_proba(X), proba, rtol=1e-6, atol=1e-9)


def test_embedding_head_on_the_pooled_maps_reads_that_layer(cnn_fit, tracks, tmp_path) -> None:
    X, y = tracks
    model = make_model("cnn_svm", {"C": 1.0, "embedding": "global_pool"}, random_state=0)
    model.fit(X, y, cnn=cnn_fit)
    pooled, index = cnn_fit.window_embeddings(X, layer="global_pool")
    # The head's window probabilities are its own on the pooled activations ...
    np.testing.assert_allclose(
        model.head_.predict_proba(pooled), np.exp(model.window_log_proba(X)[0]), atol=1e-9
    )
    # ... and it standardized other features than a head on the dense layer did.
    penultimate = make_model("cnn_svm", {"C": 1.0}, random_state=0).fit(X, y, cnn=cnn_fit)
    assert not np.allclose(
        penultimate.head_.named_steps["scale"].mean_, model.head_.named_steps["scale"].mean_
    )
    save_model(model, tmp_path / "pooled.keras")
    loaded = load_model(tmp_path / "pooled.keras")
    assert loaded.embedding == "global_pool"
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-9)
    with pytest.raises(ValueError, match="embedding must be one of"):
        make_model("cnn_gmm", {"embedding": "conv1"}, random_state=0).fit(X, y, cnn=cnn_fit)


def test_embedding_head_trains_the_same_cnn_as_its_base(cnn_fit, tracks) -> None:
    """Without a fitted base, the head trains its own CNN: the same one, given the same seed."""
    X, y = tracks
    model = make_model("cnn_svm", {"C": 1.0, "cnn": CNN_PARAMS}, random_state=3).fit(X, y)
    np.testing.assert_array_equal(model.cnn_.predict_proba(X), cnn_fit.predict_proba(X))
    with pytest.raises(
        ValueError,
        match=r"unknown parameter\(s\) \['widow_frames'\] for the cnn of model 'cnn_svm'",
    ):
        make_model("cnn_svm", {"cnn": {"widow_frames": 3}}, random_state=0)
    other = np.where(y == "jazz", "pop", y)
    with pytest.raises(ValueError, match="other classes"):
        make_model("cnn_gmm", {}, random_state=0).fit(X, other, cnn=cnn_fit)


# ------------------------------------------------------------------ ensemble


def _member_predictions(path, proba: np.ndarray, tracks: list[str], fit_seconds: float):
    classes = ["blues", "jazz", "rock"]
    table = pd.DataFrame(
        {
            "fold": 0,
            "track": tracks,
            "genre": ["blues", "jazz", "rock"][: len(tracks)],
            "subset": ["train", "test", "test"][: len(tracks)],
            "predicted": np.asarray(classes)[proba.argmax(axis=1)],
        }
    )
    for j, genre in enumerate(classes):
        table[f"proba_{genre}"] = proba[:, j]
    path.mkdir()
    write_table(table, path / "predictions.tsv")
    (path / "model").mkdir()
    (path / "model" / "card.json").write_text(
        json.dumps({"fit_seconds": fit_seconds}), encoding="utf-8"
    )
    return path / "predictions.tsv", path / "model"


def test_ensemble_averages_its_members(tmp_path) -> None:
    a = np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.2, 0.2, 0.6]])
    b = np.array([[0.2, 0.7, 0.1], [0.1, 0.7, 0.2], [0.1, 0.1, 0.8]])
    names = ["blues.1", "jazz.1", "rock.1"]
    table_a, dir_a = _member_predictions(tmp_path / "a", a, names, 2.0)
    table_b, dir_b = _member_predictions(tmp_path / "b", b, names, 3.5)
    out = combine_ensemble(
        {"estimator": "ensemble", "members": ["a", "b"]},
        [table_a, table_b],
        [dir_a, dir_b],
        0,
        tmp_path / "ensemble" / "model",
        tmp_path / "ensemble" / "predictions.tsv",
        seed=1,
    )
    written = read_table(tmp_path / "ensemble" / "predictions.tsv")
    assert list(written.columns) == list(read_table(table_a).columns)
    mean = (a + b) / 2
    np.testing.assert_allclose(written[["proba_blues", "proba_jazz", "proba_rock"]], mean)
    # Soft voting: blues.1 goes to jazz (0.5 > 0.4) though member a said blues.
    assert list(written["predicted"]) == ["jazz", "jazz", "rock"] == list(out["predicted"])
    card = json.loads((tmp_path / "ensemble" / "model" / "card.json").read_text(encoding="utf-8"))
    assert card["members"] == ["a", "b"] and card["fit_seconds"] == 5.5
    assert card["classes"] == ["blues", "jazz", "rock"] and card["n_train"] == 1


def test_ensemble_keeps_tracks_every_member_predicts_and_checks_classes(tmp_path) -> None:
    a = np.array([[0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.2, 0.2, 0.6]])
    table_a, dir_a = _member_predictions(tmp_path / "a", a, ["t1", "t2", "t3"], 1.0)
    table_b, dir_b = _member_predictions(tmp_path / "b", a[:2], ["t1", "t2"], 1.0)
    out = combine_ensemble(
        {"estimator": "ensemble", "members": ["a", "b"]},
        [table_a, table_b],
        [dir_a, dir_b],
        0,
        tmp_path / "e" / "model",
        tmp_path / "e" / "predictions.tsv",
        seed=1,
    )
    assert list(out["track"]) == ["t1", "t2"]
    odd = read_table(table_b).rename(columns={"proba_rock": "proba_pop"})
    write_table(odd, table_b)
    with pytest.raises(ValueError, match="other classes"):
        combine_ensemble(
            {"estimator": "ensemble", "members": ["a", "b"]},
            [table_a, table_b],
            [dir_a, dir_b],
            0,
            tmp_path / "f" / "model",
            tmp_path / "f" / "predictions.tsv",
            seed=1,
        )


# ------------------------------------------------------------------ configuration


def _config(**models) -> dict:
    import yaml
    from conftest import PROJECT_ROOT

    config = yaml.safe_load((PROJECT_ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["models"].update(models)
    config["final_models"] = False
    return config


def test_config_accepts_the_new_entries_and_resolves_what_they_need() -> None:
    # Members spelled out here, so the test does not follow config.yaml's choice.
    config = _config(
        ensemble={"estimator": "ensemble", "members": ["svm_rich", "logreg_rich", "cnn_logmel"]}
    )
    config["run_models"] = ["svm", "cnn_svm", "ensemble"]
    check_config(config)
    assert models_in_use(config) == [
        "svm",
        "cnn_svm",
        "ensemble",
        "cnn_logmel",
        "svm_rich",
        "logreg_rich",
    ]
    assert model_feature_sets(config, "ensemble") == ["rich", "logmel"]
    assert model_feature_sets(config, "cnn_svm") == ["logmel"]


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"estimator": "ensemble", "members": ["svm", "nope"]}, "not defined"),
        ({"estimator": "ensemble", "members": ["svm"]}, "at least 2"),
        ({"estimator": "ensemble", "members": ["svm", "nn"], "params": {"C": 1}}, "fits nothing"),
        (
            {"estimator": "cnn_svm", "features": "logmel", "input": "image", "base": "svm"},
            "cnn_windows",
        ),
        (
            {"estimator": "cnn_gmm", "features": "seed87", "input": "image", "base": "cnn_logmel"},
            "features must equal",
        ),
        (
            {
                "estimator": "cnn_svm",
                "features": "logmel",
                "input": "image",
                "params": {"embedding": "conv1"},
            },
            "embedding must be one of penultimate, global_pool",
        ),
        ({"estimator": "cnn_windows", "features": "logmel", "input": "scaled"}, "needs input"),
        ({"estimator": "logreg", "features": "seed87", "input": "image"}, "input 'image'"),
        (
            {
                "estimator": "cnn_windows",
                "features": "logmel",
                "input": "image",
                "params": {"hop_frames": 0},
            },
            "positive",
        ),
        (
            {
                "estimator": "cnn_windows",
                "features": "logmel",
                "input": "image",
                "params": {"convolution": "timbral", "band_stride": 0},
            },
            "band_stride must be positive",
        ),
        # A CNN on a vector per track: no image to convolve.
        ({"estimator": "cnn", "features": "stats", "input": "image"}, "is a vector per track"),
        # An ensemble of ensembles: its members' probabilities exist only after its own.
        ({"estimator": "ensemble", "members": ["svm", "ensemble"]}, "is an ensemble itself"),
        # Members of a model that fits: ignored by it, yet trained as models in use.
        (
            {"estimator": "svm", "features": "stats", "input": "scaled", "members": ["svm", "nn"]},
            "members is only for estimator 'ensemble'",
        ),
        # A head on a base reuses the base's fitted CNN: CNN settings of its own do nothing.
        (
            {
                "estimator": "cnn_svm",
                "features": "logmel",
                "input": "image",
                "base": "cnn_logmel",
                "params": {"cnn": {"epochs": 3}},
            },
            "the CNN is that of base 'cnn_logmel'",
        ),
    ],
)
def test_config_refuses_what_cannot_work(entry, match) -> None:
    config = _config(new=entry)
    config["run_models"] = ["new"]
    with pytest.raises(ConfigError, match=match):
        check_config(config)


def test_config_accepts_the_timbral_front_end() -> None:
    timbral = {"convolution": "timbral", "band_heights": [0.4, 0.7], "band_stride": 4}
    entry = {"estimator": "cnn_windows", "features": "logmel", "input": "image", "params": timbral}
    config = _config(new=entry)
    config["run_models"] = ["new"]
    check_config(config)


def test_config_accepts_an_ensemble_with_final_models() -> None:
    # Its final bundle holds its members' final bundles (rule combine_final_ensemble).
    config = _config()
    config["run_models"] = ["ensemble"]
    config["final_models"] = True
    check_config(config)


def test_validation_tracks_of_untrained_genres_are_named(caplog) -> None:
    """A lists split's valid list held genres its train list lacked (the mini set with
    Kereliuk's lists: 30 of 49): early stopping dropped them without a word."""
    from genrepipe.tasks import fit_and_predict

    rng = np.random.default_rng(0)
    y = np.repeat(np.array(["blues", "jazz", "rock"]), 8)
    X = (rng.normal(size=(24, 6)) + (y[:, None] == "jazz")).astype(np.float32)
    train = np.tile([True, True, True, False], 6) & (y != "blues")
    valid = ~train & (np.arange(24) % 4 == 3)
    spec = {
        "features": "stats",
        "estimator": "nn",
        "input": "scaled",
        "params": {"hidden_units": 4, "epochs": 2, "batch_size": 8, "validation_fraction": 0.0},
    }
    with caplog.at_level("WARNING", logger="genrepipe"):
        fit_and_predict(spec, X, y, train, valid=valid, seed=0, threads=1)
    assert (
        "early stopping: 2 of 6 validation tracks are of genres with no training track "
        "(blues) and are left out of its validation loss" in caplog.text
    )
    caplog.clear()
    with caplog.at_level("WARNING", logger="genrepipe"):
        fit_and_predict(spec, X, y, train, valid=valid & (y == "blues"), seed=0, threads=1)
    assert "2 of 2 validation tracks" in caplog.text and "it trains every epoch" in caplog.text


def test_audio_frames_end_where_the_padding_starts() -> None:
    X = np.random.default_rng(0).normal(size=(4, 3, 20)).astype(np.float32)
    X[1, :, 12:] = -100.0  # padded after 12 frames
    X[2, :, 17:] = -100.0  # three columns of padding
    X[3] = 7.0  # nothing but padding: one window still
    X[1, 0, 12:] += np.linspace(0, 1e-4, 8)  # rounding of a standardized padding: still it
    np.testing.assert_array_equal(audio_frames(X, 5), [20, 12, 17, 5])


def test_crops_and_votes_stay_in_the_audio_of_padded_tracks(cnn_fit, tracks) -> None:
    """A 20 s clip padded to the 30 s frames gave windows of padding alone: one input for
    every short track, learned and voted as its genre."""
    X, _ = tracks
    frames = np.array([48, 30] * 5)
    plan = epoch_plan(
        10, frames, 16, crops_per_track=50, gain_db=0.0, time_masks=0, time_mask_frames=0,
        freq_masks=0, freq_mask_bins=0, n_mels=16, mixup_alpha=0.0, seed=0, epoch=0,
    )  # fmt: skip
    assert (plan["start"] + 16 <= frames[plan["track"]]).all()
    assert plan["start"][frames[plan["track"]] == 48].max() > 30 - 16  # the long ones: all
    # One length: the draws of before, so results on full clips stay as they were.
    same = epoch_plan(
        10, np.full(10, 48), 16, crops_per_track=3, gain_db=0.0, time_masks=0,
        time_mask_frames=0, freq_masks=0, freq_mask_bins=0, n_mels=16, mixup_alpha=0.0,
        seed=1, epoch=0,
    )  # fmt: skip
    scalar = epoch_plan(
        10, 48, 16, crops_per_track=3, gain_db=0.0, time_masks=0, time_mask_frames=0,
        freq_masks=0, freq_mask_bins=0, n_mels=16, mixup_alpha=0.0, seed=1, epoch=0,
    )  # fmt: skip
    np.testing.assert_array_equal(same["start"], scalar["start"])
    # A padded track votes with the windows of its audio alone.
    padded = X[:3].copy()
    padded[:, :, 30:] = padded[:, :, 29:30].min()
    _, track_index = cnn_fit.window_log_proba(padded)
    np.testing.assert_array_equal(np.bincount(track_index), [3, 3, 3])  # 0, 8, 14 of 30
    for i in range(3):
        np.testing.assert_allclose(
            cnn_fit.predict_proba(padded[i : i + 1]), cnn_fit.predict_proba(X[i : i + 1, :, :30])
        )


def test_early_stopping_scores_the_audio_of_padded_validation_tracks(tracks, monkeypatch) -> None:
    # The validation windows too: padding alone would be one input scored for every
    # short validation track.
    from genrepipe import windows

    grids = []

    def spy(frames, window_frames, hop_frames):
        grids.append(np.asarray(frames).copy())
        return grid(frames, window_frames, hop_frames)

    grid = windows._window_grid
    monkeypatch.setattr(windows, "_window_grid", spy)
    X, y = tracks
    padded = X[:6].copy()
    padded[:, :, 30:] = padded[:, :, 29:30].min()
    model = WindowCNNClassifier(**(CNN_PARAMS | {"epochs": 1}), random_state=0)
    model.fit(X, y, validation_data=(padded, y[:6]))
    np.testing.assert_array_equal(grids[0], np.full(6, 30))
