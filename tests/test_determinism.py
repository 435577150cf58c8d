"""The workflow's seed reaches every model: same seed, same probabilities; another seed, others.

Fits go through ``genrepipe.tasks.fit_and_predict``, the function the
``train_model`` jobs call, so the seed is followed from the job's ``seed``
parameter into numpy, scikit-learn (GMM initialisation, SVM calibration folds,
inner cross-validation folds) and TensorFlow (weights, shuffling, deterministic
ops). The whole workflow twice with one config is
``tests/test_workflow.py::test_same_config_gives_same_summary_on_any_number_of_cores``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genrepipe.tasks import fit_and_predict

GENRES = np.array(["blues", "jazz", "rock"])


@pytest.fixture(scope="module")
def vectors():
    """Overlapping classes, so fits depend on initialisation and folds."""
    rng = np.random.default_rng(0)
    y = np.repeat(GENRES, 20)
    X = rng.normal(size=(60, 6)) + 0.8 * (np.searchsorted(GENRES, y)[:, None] == np.arange(6) % 3)
    train = np.arange(60) % 4 != 0
    return X.astype(np.float32), y, train


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(1)
    y = np.repeat(GENRES, 12)
    X = rng.normal(size=(36, 6, 16)).astype(np.float32)
    for i, genre in enumerate(GENRES):
        X[y == genre, 2 * i : 2 * i + 2] += 0.7
    return X, y, np.arange(36) % 4 != 0


SPECS = {
    "gmm": {"estimator": "gmm", "input": "pca", "params": {"n_components": 3}},
    "svm": {"estimator": "svm", "input": "pca", "params": {"C": 1.0}},
    "svm_search": {
        "estimator": "svm",
        "input": "scaled",
        "params": {},
        "search": {"inner_folds": 3, "param_grid": {"C": [0.1, 1.0, 10.0]}},
    },
    "nn": {
        "estimator": "nn",
        "input": "pca",
        "params": {"hidden_units": 8, "epochs": 4, "batch_size": 8, "validation_fraction": 0.0},
    },
    "cnn": {
        "estimator": "cnn",
        "input": "image",
        "params": {"filters": [2], "dense_units": 4, "epochs": 2, "batch_size": 8},
    },
}


def _proba(name, data, seed):
    X, y, train = data
    spec = {"features": "seed87", **SPECS[name]}
    _, _, proba, _ = fit_and_predict(spec, X, y, train, seed=seed, threads=1)
    return proba


@pytest.mark.parametrize("name", list(SPECS))
def test_same_seed_same_probabilities_other_seed_others(name, vectors, images):
    data = images if SPECS[name]["input"] == "image" else vectors
    first = _proba(name, data, seed=42)
    again = _proba(name, data, seed=42)
    other = _proba(name, data, seed=7)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 1e-6, f"{name}: the seed does not reach the model"


# Inner folds of one training track per genre: the SVM's calibration says so, as it should.
@pytest.mark.filterwarnings("ignore:classes .* single training row:UserWarning")
def test_inner_search_uses_fewer_folds_when_genres_have_few_tracks(caplog):
    """Two training tracks per genre cannot make 3 inner folds: it runs 2, and says so."""
    rng = np.random.default_rng(3)
    y = np.repeat(GENRES, 3)
    X = (rng.normal(size=(9, 4)) + 2.0 * (np.searchsorted(GENRES, y)[:, None] == 0)).astype(
        np.float32
    )
    train = np.tile([True, True, False], 3)
    spec = {"features": "stats", **SPECS["svm_search"]}
    with caplog.at_level("WARNING", logger="genrepipe"):
        _, _, proba, info = fit_and_predict(spec, X, y, train, seed=0, threads=1)
    assert proba.shape == (9, 3) and "C" in info["best_params"]
    assert "inner cross-validation on 2 folds instead of 3" in caplog.text

    lonely = np.tile([True, False, False], 3)  # one training track per genre
    with pytest.raises(ValueError, match="^search: no genre has two training tracks"):
        fit_and_predict(spec, X, y, lonely, seed=0, threads=1)


def test_fit_threads_come_from_the_config_not_the_job(vectors, monkeypatch):
    """TensorFlow's results depend on its thread count (a window CNN's probabilities moved
    by 2e-5 after two epochs between 1 and 2 threads), so the workflow passes
    ``threads.train`` as ``fit_threads``; the job's own threads, fewer under
    ``--cores 1``, serve only the models whose results do not depend on them."""
    import threadpoolctl

    import genrepipe.models

    asked, blas = [], []
    make_model = genrepipe.models.make_model
    threadpool_limits = threadpoolctl.threadpool_limits

    def spy(name, params, *, random_state, n_threads=None):
        asked.append(n_threads)
        return make_model(name, params, random_state=random_state, n_threads=n_threads)

    def spy_limits(limits=None, **kwargs):
        blas.append(limits)
        return threadpool_limits(limits=limits, **kwargs)

    monkeypatch.setattr(genrepipe.models, "make_model", spy)
    monkeypatch.setattr(threadpoolctl, "threadpool_limits", spy_limits)
    X, y, train = vectors
    spec = {"features": "seed87", **SPECS["svm"]}
    fit_and_predict(spec, X, y, train, seed=0, threads=1, fit_threads=2)
    fit_and_predict(spec, X, y, train, seed=0, threads=1)
    assert asked == [2, 1]
    assert blas == [2, 1]  # BLAS too: logistic regression's sums depend on it


def test_logistic_regression_gives_the_same_probabilities_whatever_the_job_threads():
    """lbfgs sums gradients with BLAS, and two threads add them in another order than one:
    the workflow fits it on ``threads.train`` threads whatever Snakemake grants."""
    from threadpoolctl import threadpool_info, threadpool_limits

    rng = np.random.default_rng(1)
    genres = np.array(list("abcdefghij"))
    y = np.repeat(genres, 90)  # the rich statistics of 900 GTZAN tracks: 317 numbers each
    X = rng.normal(size=(900, 317)) + 0.1 * np.searchsorted(genres, y)[:, None]
    train = np.arange(900) % 5 != 0
    spec = {"estimator": "logreg", "features": "rich", "input": "scaled", "params": {"C": 0.1}}

    def proba(threads, fit_threads):
        return fit_and_predict(spec, X, y, train, seed=0, threads=threads, fit_threads=fit_threads)[
            2
        ]

    # Above any limit an earlier caller left in this process: fit_and_predict sets its own.
    with threadpool_limits(limits=2):
        configured = proba(threads=2, fit_threads=2)
        np.testing.assert_array_equal(proba(threads=1, fit_threads=2), configured)
        if max((pool["num_threads"] for pool in threadpool_info()), default=1) < 2:
            pytest.skip("BLAS runs one thread here: the job's threads cannot move the sums")
        # The job's single thread gives other bits: the configured count is what holds them.
        assert np.abs(proba(threads=1, fit_threads=None) - configured).max() > 1e-6


# One process initialises TensorFlow's threads once: the count the model is given is
# what this test reads, not what TensorFlow then runs.
@pytest.mark.filterwarnings("ignore:TensorFlow is already initialised:RuntimeWarning")
def test_the_reference_cnn_trains_on_one_thread_whatever_it_is_given(vectors, images):
    # On two, its oneDNN 2-D convolutions over the 87 x 1400 image gave another set
    # of probabilities at every run (SINGLE_THREADED_ESTIMATORS); the nn gives one.
    for name, (X, y, train), threads in (("cnn", images, 1), ("nn", vectors, 2)):
        spec = {"features": "seed87", **SPECS[name]}
        model, _, _, _ = fit_and_predict(spec, X, y, train, seed=0, threads=2, fit_threads=2)
        assert model.n_threads == threads


# What the subprocess of the next test runs: a training task in a fresh process, whose
# TensorFlow has not started yet, then the thread counts TensorFlow runs on.
_TRAIN_AND_REPORT_THREADS = """
import json, sys
import tensorflow as tf
from conftest import train_final_model
from genrepipe import tasks

how, folder, spec = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if how == "fold":
    tasks.train_model(
        spec, {}, f"{folder}/logmel.parquet", f"{folder}/split.tsv", 0, f"{folder}/model",
        f"{folder}/predictions.tsv", base_dir=f"{folder}/base", seed=0, threads=1,
        fit_threads=1, sample_rate=22050, max_duration=31.0,
    )
else:
    base = {"base_model_dir": f"{folder}/base"} if how == "final head" else {}
    kept = {"fold_model_dir": f"{folder}/base"} if how == "final kept epochs" else {}
    train_final_model(
        spec, f"{folder}/{spec['features']}.parquet", f"{folder}/tracks.tsv",
        f"{folder}/model", fit_threads=1, **base, **kept,
    )
threading = tf.config.threading
print(threading.get_intra_op_parallelism_threads(), threading.get_inter_op_parallelism_threads())
"""


@pytest.mark.parametrize("how", ["fold", "final head", "final kept epochs"])
def test_a_network_loaded_before_the_fit_still_runs_on_the_models_threads(tmp_path, how):
    """Loading a saved network starts TensorFlow, which fixes its thread pools then: a CNN
    head's base (fold and final jobs) or the fold network whose epochs a final one keeps
    was loaded before the model asked for its threads, and ran on every core."""
    import pandas as pd
    from sklearn.preprocessing import FunctionTransformer

    from genrepipe.bundle import save_bundle
    from genrepipe.feature_table import write_feature_table
    from genrepipe.models import make_model
    from genrepipe.tasks import train_tracks_digest, write_table

    rng = np.random.default_rng(0)
    y = np.repeat(GENRES, 6)
    ids = [f"{genre}.{i:05d}" for i, genre in enumerate(y)]
    train = np.arange(len(y)) % 3 != 0
    if how == "final kept epochs":
        feature_set, X = "stats", rng.normal(size=(len(y), 6)).astype(np.float32)
        params = {"hidden_units": 4, "epochs": 3, "validation_fraction": 0.0}
        spec = {"estimator": "nn", "features": feature_set, "input": "scaled", "params": params}
        base = make_model("nn", params, random_state=0, n_threads=1)
        base.fit(X, y, validation_data=(X, y))
    else:
        feature_set, X = "logmel", rng.normal(size=(len(y), 4, 16)).astype(np.float32)
        cnn = {"filters": [2], "dense_units": 4, "window_frames": 8, "hop_frames": 8}
        cnn |= {"crops_per_track": 2, "epochs": 1, "validation_fraction": 0.0}
        spec = {"estimator": "cnn_svm", "features": feature_set, "input": "image"}
        spec["params"] = {"cnn": cnn}
        base = make_model("cnn_windows", cnn, random_state=0, n_threads=1)
        base.fit(X[train], y[train])
    write_feature_table(
        tmp_path / f"{feature_set}.parquet", zip(ids, y, X, strict=True), feature_set=feature_set
    )
    tracks = pd.DataFrame({"track": ids, "genre": y, "path": "", "duration": 30.0})
    write_table(tracks, tmp_path / "tracks.tsv")
    split = tracks[["track", "genre"]].assign(fold=0, subset=np.where(train, "train", "test"))
    write_table(split, tmp_path / "split.tsv")
    card = {"fold": 0, "n_train": int(train.sum())}
    card["train_tracks_sha256"] = train_tracks_digest(np.asarray(ids)[train])
    save_bundle(tmp_path / "base", transform=FunctionTransformer(), model=base, card=card)

    tests = Path(__file__).parent
    result = subprocess.run(
        [sys.executable, "-c", _TRAIN_AND_REPORT_THREADS, how, str(tmp_path), json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=tests,
        env={**os.environ, "PYTHONPATH": str(tests)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-2:] == ["1", "1"], result.stderr[-2000:]
    assert "cannot take effect" not in result.stderr
