"""Nothing fitted sees a test track: checked through the workflow's own fitting code.

`tasks.fit_transform_features` and `tasks.fit_and_predict` are what the rules call. Each
test changes the test tracks (their features, and their genres where a model could read
them) and asserts that what was fitted on the training tracks did not move. Windows of
one track also stay together inside the training rows: in the SVM's calibration folds,
the inner grid search and the validation slice of early stopping.
"""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest
from conftest import train_final_model

from genrepipe.models import KerasClassifier, make_model
from genrepipe.tasks import _inner_search, fit_and_predict, fit_transform_features

GENRES = np.array(["blues", "jazz", "rock"])


def _tracks(n_tracks: int = 36, shape: tuple[int, ...] = (12,), seed: int = 0):
    """Features with a genre signal, genres, and a mask of the first 24 tracks as training."""
    rng = np.random.default_rng(seed)
    y = GENRES[np.arange(n_tracks) % len(GENRES)]
    signal = (np.arange(n_tracks) % len(GENRES)).reshape((-1,) + (1,) * len(shape))
    X = (rng.normal(size=(n_tracks, *shape)) + signal).astype(np.float32)
    return X, y, np.arange(n_tracks) < 24


def _with_other_test_tracks(X, y, train, seed: int = 1):
    """The same training tracks; the test tracks replaced by far-off noise, genres shuffled."""
    rng = np.random.default_rng(seed)
    X2, y2 = X.copy(), y.copy()
    X2[~train] = 50 + 10 * rng.normal(size=X2[~train].shape)
    y2[~train] = rng.permutation(y2[~train])[::-1]
    return X2, y2


@pytest.mark.parametrize(
    "feature_set, preprocessing, shape",
    [("seed87", "pca", (6, 10)), ("stats", "scaled", (12,)), ("segment_stats", "scaled", (5, 8))],
)
def test_preprocessing_is_fitted_on_training_tracks_only(feature_set, preprocessing, shape):
    X, y, train = _tracks(shape=shape)
    X2, _ = _with_other_test_tracks(X, y, train)
    components = 10 if preprocessing == "pca" else None
    _, Z = fit_transform_features(X, train, feature_set, preprocessing, pca_components=components)
    _, Z2 = fit_transform_features(X2, train, feature_set, preprocessing, pca_components=components)
    np.testing.assert_array_equal(Z[train], Z2[train])
    assert not np.allclose(Z[~train], Z2[~train])  # the test tracks did change


def _train_proba(spec, X, y, train, **kwargs):
    _, _, proba, _ = fit_and_predict(spec, X, y, train, seed=0, threads=1, **kwargs)
    return proba[train]


SVM = {"estimator": "svm", "input": "scaled", "params": {"C": 10.0}}


@pytest.mark.parametrize(
    "spec, shape",
    [
        (SVM | {"features": "stats"}, (12,)),
        (SVM | {"features": "segment_stats", "vote": "mean_log_proba"}, (5, 8)),
        (
            SVM | {"features": "stats", "search": {"inner_folds": 3, "param_grid": {"C": [1, 10]}}},
            (12,),
        ),
        (
            {
                "estimator": "logreg",
                "features": "segment_stats",
                "input": "scaled",
                "params": {},
                "search": {"inner_folds": 3, "param_grid": {"C": [0.1, 1.0]}},
            },
            (5, 8),
        ),
        (
            {
                "estimator": "gmm",
                "features": "stats",
                "input": "scaled",
                "params": {"n_components": 1, "covariance_type": "diag"},
            },
            (12,),
        ),
    ],
    ids=["svm", "svm-windows", "svm-search", "logreg-windows-search", "gmm"],
)
def test_models_train_on_training_tracks_only(spec, shape):
    X, y, train = _tracks(shape=shape)
    X2, y2 = _with_other_test_tracks(X, y, train)
    np.testing.assert_array_equal(
        _train_proba(spec, X, y, train), _train_proba(spec, X2, y2, train)
    )


def test_image_input_is_standardized_on_training_tracks_only():
    # The row standardizer of `input: image` is fitted inside fit_and_predict.
    spec = {
        "estimator": "cnn",
        "features": "logmel",
        "input": "image",
        "params": {"filters": [2], "dense_units": 4, "epochs": 2, "batch_size": 8},
    }
    X, y, train = _tracks(shape=(6, 16))
    X2, y2 = _with_other_test_tracks(X, y, train)
    _, transform, _, _ = fit_and_predict(spec, X, y, train, seed=0, threads=1)
    _, transform2, _, _ = fit_and_predict(spec, X2, y2, train, seed=0, threads=1)
    np.testing.assert_array_equal(transform.transform(X[train]), transform2.transform(X[train]))


def test_early_stopping_reads_the_validation_tracks_not_the_test_tracks():
    spec = {
        "estimator": "nn",
        "features": "stats",
        "input": "scaled",
        "params": {"hidden_units": 8, "epochs": 12, "patience": 2, "validation_fraction": 0.0},
    }
    X, y, train = _tracks()
    valid = np.zeros_like(train)
    valid[18:24], train[18:24] = True, False  # six tracks validate, 18 train, 12 test
    X2, y2 = _with_other_test_tracks(X, y, train | valid)
    kwargs = {"valid": valid}
    seen = []
    fit = KerasClassifier.fit

    def spy(self, X_fit, y_fit, **fit_kwargs):
        seen.append((len(X_fit), fit_kwargs.get("validation_data")))
        return fit(self, X_fit, y_fit, **fit_kwargs)

    with mock.patch.object(KerasClassifier, "fit", spy):
        np.testing.assert_array_equal(
            _train_proba(spec, X, y, train, **kwargs), _train_proba(spec, X2, y2, train, **kwargs)
        )
    # And it does read them: the six validation tracks, apart from the 18 it fits on
    # (one fit per run above).
    assert len(seen) == 2
    for n_fitted, validation in seen:
        assert n_fitted == 18 and validation is not None
        assert list(validation[1]) == list(y[valid])


# ------------------------------------------------------- windows of one track together


def _windows(n_tracks: int = 40, n_windows: int = 8, seed: int = 0):
    """Windows that repeat their track (plus a little noise), genres random per track:
    whatever an SVM learns is which track a window comes from."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_tracks, 5))
    labels = rng.permutation(np.repeat(["a", "b"], n_tracks // 2))
    tracks = np.repeat(np.arange(n_tracks), n_windows)
    X = centers[tracks] + 0.05 * rng.normal(size=(len(tracks), 5))
    return X, labels[tracks], tracks, rng.normal(size=(200, 5))


def test_svm_calibration_folds_keep_a_tracks_windows_together():
    # Calibrated on folds of windows, the sigmoids see decision values of windows whose
    # track the SVM learned, and turn a random guess on new tracks into ~93% confidence.
    X, y, tracks, new = _windows()
    by_track = make_model("svm", {"C": 10.0}, random_state=0).fit(X, y, tracks=tracks)
    by_window = make_model("svm", {"C": 10.0}, random_state=0).fit(X, y)
    assert by_track.predict_proba(new).max(axis=1).mean() < 0.7
    assert by_window.predict_proba(new).max(axis=1).mean() > 0.85
    assert type(by_track.cv).__name__ == "CalibrationFolds"  # its setting is left as it was


def test_cnn_embedding_head_calibrates_the_svm_on_whole_tracks():
    from genrepipe.windows import fit_embedding_head

    X, y, tracks, new = _windows()
    head = fit_embedding_head("svm", {"C": 10.0}, X, y, tracks, random_state=0)
    assert head.predict_proba(new).max(axis=1).mean() < 0.7


def test_svm_calibration_with_a_class_of_one_track_warns_and_still_fits():
    X, y, tracks, new = _windows()
    tracks = np.where(y == "a", 0, tracks)  # every "a" window from one track
    with pytest.warns(UserWarning, match="single training track"):
        model = make_model("svm", {"C": 10.0}, random_state=0).fit(X, y, tracks=tracks)
    np.testing.assert_allclose(model.predict_proba(new).sum(axis=1), 1.0)


def test_a_class_of_one_track_splits_only_its_own_windows_for_calibration():
    """A genre with one training track (a sparse list split, an inner fold) fell back to
    folds of windows for every genre, and the sigmoids learned the tracks the SVM knew."""
    from genrepipe.models import CalibrationFolds

    X, y, tracks, new = _windows()
    far = np.full((8, X.shape[1]), 10.0)  # genre c: one track, far from the others
    X_c, y_c = np.concatenate([X, far]), np.concatenate([y, ["c"] * 8])
    tracks_c = np.concatenate([tracks, [999] * 8])
    with pytest.warns(UserWarning, match=r"^c: a single training track"):
        folds = list(CalibrationFolds(5, random_state=0).split(X_c, y_c, groups=tracks_c))
    for fit_rows, calibration_rows in folds:
        shared = set(tracks_c[fit_rows]) & set(tracks_c[calibration_rows])
        assert shared <= {999}  # only c's track has windows on both sides
    assert all(999 in tracks_c[calibration] for _, calibration in folds[:2])
    with pytest.warns(UserWarning, match="single training track"):
        model = make_model("svm", {"C": 10.0}, random_state=0).fit(X_c, y_c, tracks=tracks_c)
    # As calibrated on whole tracks (test above): no confidence on tracks never heard.
    assert model.predict_proba(new).max(axis=1).mean() < 0.7


@pytest.mark.parametrize("search", [None, {"inner_folds": 3, "param_grid": {"C": [10.0]}}])
def test_segment_mode_calibrates_the_svm_on_whole_tracks(search):
    X, y, tracks, new = _windows()
    n_tracks = tracks.max() + 1
    per_track = X.reshape(n_tracks, -1, X.shape[1]).astype(np.float32)
    spec = {
        "estimator": "svm",
        "features": "segment_stats",
        "input": "scaled",
        "params": {"C": 10.0},
        "vote": "mean_log_proba",
        "search": search,
    }
    track_genres = y.reshape(n_tracks, -1)[:, 0]
    model, _, _, _ = fit_and_predict(
        spec, per_track, track_genres, np.ones(n_tracks, bool), seed=0, threads=1
    )
    assert model.predict_proba(new).max(axis=1).mean() < 0.7


def test_inner_search_splits_whole_tracks():
    X, y, tracks, _ = _windows()
    model = make_model("logreg", {}, random_state=0)
    grid = _inner_search(model, {"inner_folds": 3, "param_grid": {"C": [1.0]}}, X, y, tracks, 0)
    assert len(grid.cv) == 3
    for fit_rows, score_rows in grid.cv:
        assert not set(tracks[fit_rows]) & set(tracks[score_rows])


def test_an_inner_search_without_two_tracks_of_any_genre_names_what_helps():
    # It named search.inner_folds, already at its least (2), which cannot help.
    X = np.random.default_rng(0).normal(size=(4, 3))
    y, tracks = np.array([0, 0, 1, 1]), np.array(["a", "a", "b", "b"])  # one track each
    model = make_model("logreg", {}, random_state=0)
    search = {"inner_folds": 2, "param_grid": {"C": [1.0]}}
    with pytest.raises(ValueError, match=r"^search: no genre has two training tracks") as error:
        _inner_search(model, search, X, y, tracks, 0)
    assert "inner_folds" not in str(error.value) and "search: null" in str(error.value)


def test_validation_slice_takes_whole_tracks():
    X, y, tracks, _ = _windows()
    model = KerasClassifier("nn", validation_fraction=0.2, random_state=0)
    X_tr, y_tr, X_val, y_val = model._split(X, y, tracks)
    train_rows = np.isin(X, X_tr).all(axis=1)
    assert len(X_val) == 8 * 8 and len(X_tr) == len(X) - len(X_val)  # 8 of 40 tracks
    assert not set(tracks[train_rows]) & set(tracks[~train_rows])
    # Rows without tracks are their own tracks: the slice of the plain case.
    assert len(model._split(X, y)[2]) == int(np.ceil(0.2 * len(X)))


def test_keras_fits_on_the_rows_left_after_the_validation_slice():
    import keras

    X, y, tracks, _ = _windows()
    seen = []
    fit = keras.Model.fit

    def spy(self, x, *args, **kwargs):
        seen.append((np.asarray(x), np.asarray(kwargs["validation_data"][0])))
        return fit(self, x, *args, **kwargs)

    model = KerasClassifier("nn", hidden_units=4, epochs=2, validation_fraction=0.2, random_state=0)
    with mock.patch.object(keras.Model, "fit", spy):
        model.fit(X, y, tracks=tracks)
    ((trained, validated),) = seen
    assert len(trained) + len(validated) == len(X)
    assert not set(map(bytes, trained.astype(np.float32))) & set(
        map(bytes, validated.astype(np.float32))
    )


@pytest.mark.parametrize(
    "base_card",
    [
        {"fold": 1, "n_train": 24},
        {"fold": 0, "n_train": 23},
        # Fold 0 of another split of the same size: only the tracks tell it apart.
        {"fold": 0, "n_train": 24, "train_tracks_sha256": "0" * 64},
    ],
    ids=["fold", "count", "tracks"],
)
def test_a_cnn_head_refuses_a_base_cnn_of_another_fold(tmp_path, base_card):
    # Another fold's CNN may have trained on this fold's test tracks.
    import pandas as pd

    from genrepipe.feature_table import write_feature_table
    from genrepipe.tasks import train_model, write_table

    X, y, train = _tracks(shape=(6, 16))
    ids = [f"{genre}.{i:05d}" for i, genre in enumerate(y)]
    table = tmp_path / "logmel.parquet"
    write_feature_table(table, zip(ids, y, X, strict=True), feature_set="logmel")
    subset = np.where(train, "train", "test")
    write_table(
        pd.DataFrame({"fold": 0, "track": ids, "genre": y, "subset": subset}), tmp_path / "s.tsv"
    )
    spec = {"estimator": "cnn_svm", "features": "logmel", "input": "image", "params": {}}
    fitted_elsewhere = (None, object(), base_card)
    with (
        mock.patch("genrepipe.bundle.load_bundle", return_value=fitted_elsewhere),
        pytest.raises(ValueError, match="was fitted on another fold than fold 0"),
    ):
        train_model(
            spec,
            {},
            table,
            tmp_path / "s.tsv",
            0,
            tmp_path / "model",
            tmp_path / "p.tsv",
            base_dir=tmp_path / "base",
            seed=0,
            threads=1,
            sample_rate=22050,
            max_duration=None,
        )
    assert not (tmp_path / "model").exists() and not (tmp_path / "p.tsv").exists()


def test_a_cnn_head_reads_its_base_cnns_scale_not_one_of_its_own():
    """The head feeds its base's network: the base's row standardizer, as fitted with it
    (a refit may differ: one fitted by an earlier release counted padding frames)."""
    from genrepipe.models import make_model
    from genrepipe.preprocess import RowStandardizer
    from genrepipe.tasks import fit_and_predict

    X, y, train = _tracks(shape=(6, 16))
    base_transform = RowStandardizer().fit(2.0 * X[train] + 1.0)  # not what a refit gives
    net = {"filters": [2], "dense_units": 2, "epochs": 1, "window_frames": 8, "hop_frames": 8}
    base = make_model("cnn_windows", net, random_state=0)
    base.fit(base_transform.transform(X[train]), y[train])
    spec = {"estimator": "cnn_svm", "features": "logmel", "input": "image", "params": {}}
    _, transform, _, _ = fit_and_predict(
        spec, X, y, train, base_model=base, base_transform=base_transform, seed=0, threads=1
    )
    assert transform is base_transform


def _final_inputs(folder, X, y, feature_set: str) -> list[str]:
    """``tracks.tsv`` and ``<feature_set>.parquet`` of the tracks ``X``, ``y`` in ``folder``."""
    import pandas as pd

    from genrepipe.feature_table import write_feature_table
    from genrepipe.tasks import write_table

    ids = [f"{genre}.{i:05d}" for i, genre in enumerate(y)]
    write_table(
        pd.DataFrame({"track": ids, "genre": y, "path": "", "duration": 30.0}),
        folder / "tracks.tsv",
    )
    write_feature_table(
        folder / f"{feature_set}.parquet", zip(ids, y, X, strict=True), feature_set=feature_set
    )
    return ids


def test_the_preprocessing_job_fits_on_the_folds_training_tracks_alone(tmp_path):
    """The rule's task, not only the function it calls: a fold's valid and test tracks
    (the lists split has all three) never reach the scaler or the PCA."""
    import pandas as pd

    from genrepipe.feature_table import read_feature_table
    from genrepipe.models import load_model
    from genrepipe.tasks import fit_preprocessing, write_table

    X, y, _ = _tracks(n_tracks=18, shape=(6, 10))
    ids = _final_inputs(tmp_path, X, y, "seed87")
    subsets = ["train"] * 10 + ["valid"] * 4 + ["test"] * 4
    split = pd.DataFrame({"fold": 0, "track": ids, "genre": y, "subset": subsets})
    write_table(split, tmp_path / "split.tsv")

    def fit(features_table, name):
        fit_preprocessing(
            features_table,
            tmp_path / "split.tsv",
            0,
            "pca",
            tmp_path / f"{name}.skops",
            tmp_path / f"{name}.parquet",
            pca_components=5,
        )
        return load_model(tmp_path / f"{name}.skops"), read_feature_table(
            tmp_path / f"{name}.parquet"
        )

    transform, (tracks, _, Z) = fit(tmp_path / "seed87.parquet", "a")
    assert transform.named_steps["scale"].n_samples_seen_ == 10
    assert list(tracks) == ids  # every row transformed, by the training rows' fit
    # Other valid and test tracks change no training row's output.
    X2 = X.copy()
    X2[10:] = 50 + 10 * np.random.default_rng(1).normal(size=X2[10:].shape)
    other = tmp_path / "other"
    other.mkdir()
    _final_inputs(other, X2, y, "seed87")
    _, (_, _, Z2) = fit(other / "seed87.parquet", "b")
    np.testing.assert_allclose(Z2[:10], Z[:10], rtol=1e-5, atol=1e-5)
    assert not np.allclose(Z2[10:], Z[10:])


def _final_model(folder, spec, model_dir: str, **options) -> dict:
    """The card of a final model trained on :func:`_final_inputs`' tables in ``folder``."""
    features = folder / f"{spec['features']}.parquet"
    return train_final_model(spec, features, folder / "tracks.tsv", folder / model_dir, **options)


def test_final_model_of_a_lists_split_learns_from_listed_tracks_only(tmp_path):
    """A filtered split's lists leave out faulty or repeated clips (70 of GTZAN's): the
    final model trained on every usable track, those included."""
    import pandas as pd

    from genrepipe.tasks import write_table

    X, y, _ = _tracks(n_tracks=12)
    ids = _final_inputs(tmp_path, X, y, "stats")
    listed = pd.DataFrame(
        {"fold": 0, "track": ids[:9], "genre": y[:9], "subset": ["train"] * 6 + ["test"] * 3}
    )
    write_table(listed, tmp_path / "lists.tsv")
    spec = {"estimator": "svm", "features": "stats", "input": "scaled", "params": {"C": 1.0}}

    lists = _final_model(tmp_path, spec, "lists", lists_split_table=tmp_path / "lists.tsv")
    assert lists["n_train"] == 9
    # The final scaler, too, saw the listed tracks alone.
    from genrepipe.bundle import load_bundle

    transform, _, _ = load_bundle(tmp_path / "lists")
    scaler = transform[-1] if hasattr(transform, "steps") else transform
    assert scaler.n_samples_seen_ == 9
    assert _final_model(tmp_path, spec, "kfold")["n_train"] == 12  # other schemes: every track


@pytest.mark.parametrize("estimator", ["nn", "cnn_gmm"])
def test_final_network_of_a_lists_split_trains_the_epochs_its_fold_model_kept(tmp_path, estimator):
    """The fold network stops early on the valid list; the final one learns from those
    tracks too, so it has none to stop on and trains as many epochs instead of all."""
    from sklearn.preprocessing import FunctionTransformer

    from genrepipe.bundle import save_bundle

    if estimator == "nn":
        X, y, _ = _tracks(n_tracks=30, shape=(6,))
        features = "stats"
        net = {"hidden_units": 4, "epochs": 40, "patience": 2, "validation_fraction": 0.0}
        spec = {"estimator": "nn", "features": features, "input": "scaled", "params": net}
        params = net
    else:
        X, y, _ = _tracks(n_tracks=30, shape=(4, 24))
        features = "logmel"
        net = {
            "filters": [2],
            "dense_units": 4,
            "window_frames": 8,
            "hop_frames": 8,
            "crops_per_track": 2,
            "epochs": 40,
            "patience": 2,
            "validation_fraction": 0.0,
        }
        params = {"cnn": net}
        spec = {"estimator": estimator, "features": features, "input": "image", "params": params}
    _final_inputs(tmp_path, X, y, features)
    # A fold network whose validation tracks, of random genres, soon stop it.
    rng = np.random.default_rng(0)
    model = make_model(estimator, params, random_state=0, n_threads=1)
    fold = np.arange(30) < 20
    X_fold = X if estimator != "nn" else (X - X[fold].mean(0)) / X[fold].std(0)
    model.fit(X_fold[fold], y[fold], validation_data=(X_fold[~fold], rng.permutation(y[~fold])))
    network = getattr(model, "cnn_", model)
    assert network.best_epoch_ < 40
    save_bundle(tmp_path / "fold", transform=FunctionTransformer(), model=model, card={})

    def final(spec, folder):
        card = _final_model(tmp_path, spec, folder, fold_model_dir=tmp_path / "fold")
        return card["params"]["cnn"] if estimator != "nn" else card["params"]

    assert final(spec, "final")["epochs"] == network.best_epoch_

    def with_fraction(fraction):
        settings = {**net, "validation_fraction": fraction}
        return {**spec, "params": settings if estimator == "nn" else {"cnn": settings}}

    # A null fraction is none, as the estimators read it.
    assert final(with_fraction(None), "null")["epochs"] == network.best_epoch_
    # A network keeping a slice of its own stops on it: the fold's epochs do not apply.
    assert final(with_fraction(0.2), "sliced")["epochs"] == 40
    from genrepipe.bundle import load_bundle

    _, final, _ = load_bundle(tmp_path / "final")
    assert len(getattr(final, "cnn_", final).history_["loss"]) == network.best_epoch_


def test_a_final_model_refuses_features_its_transform_does_not_come_with(tmp_path):
    """Scaled or PCA features come with the transform fitted on them, for the bundle;
    an image input's standardizer is fitted with it (or is its base's): it takes none."""
    from genrepipe.tasks import train_final_model as train

    X, y, _ = _tracks(n_tracks=12)
    _final_inputs(tmp_path, X, y, "stats")
    spec = {"estimator": "svm", "features": "stats", "input": "scaled", "params": {}}
    options = {"seed": 0, "threads": 1, "sample_rate": 22050, "max_duration": 31.0}
    tables = (tmp_path / "stats.parquet", tmp_path / "tracks.tsv", tmp_path / "model")
    with pytest.raises(ValueError, match="a scaled input needs transform_path"):
        train(spec, {}, *tables, **options)
    image = spec | {"input": "image", "estimator": "cnn"}
    with pytest.raises(ValueError, match="an image input's standardizer is fitted here"):
        train(image, {}, *tables, transform_path=tmp_path / "transform.skops", **options)
    assert not (tmp_path / "model").exists()
