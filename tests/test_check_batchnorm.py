"""tools/check_batchnorm.py: batch-norm statistics re-estimated from given rows only."""

from __future__ import annotations

import check_batchnorm
import numpy as np
import pytest


@pytest.fixture(scope="module")
def network():
    from genrepipe.models import _configure_threads, _import_keras

    keras, tf = _import_keras()
    # TensorFlow fixes its thread pools at its first op: ask for the one thread the
    # suite's later Keras fits ask for, or they could not get it in this process.
    _configure_threads(tf, 1)
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(5,))
    hidden = keras.layers.Dense(4, name="hidden")(inputs)
    normed = keras.layers.BatchNormalization(name="bn")(hidden)
    dropped = keras.layers.Dropout(0.5)(normed)
    outputs = keras.layers.Dense(3, activation="softmax")(dropped)
    return keras.Model(inputs, outputs)


def test_statistics_become_the_mean_of_batch_statistics(network):
    X = np.random.default_rng(0).normal(3.0, 2.0, size=(64, 5)).astype(np.float32)
    weights = [w.copy() for w in network.get_weights()]
    bn = network.get_layer("bn")
    dropout = next(layer for layer in network.layers if layer.name.startswith("dropout"))
    assert np.allclose(bn.moving_mean.numpy(), 0.0)  # Keras's starting statistics

    assert check_batchnorm.refresh_batchnorm(network, X, batch_size=16) == 1

    hidden = network.get_layer("hidden")(X).numpy()
    batches = hidden.reshape(4, 16, 4)
    np.testing.assert_allclose(bn.moving_mean.numpy(), hidden.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        bn.moving_variance.numpy(), batches.var(axis=1).mean(axis=0), rtol=1e-4, atol=1e-5
    )
    # Nothing else moved: weights other than the statistics, momentum, dropout.
    after = network.get_weights()
    changed = [
        i for i, (a, b) in enumerate(zip(weights, after, strict=True)) if not np.array_equal(a, b)
    ]
    assert len(changed) == 2  # the moving mean and variance
    assert bn.momentum == 0.99 and dropout.rate == 0.5


def test_statistics_come_from_the_training_rows_shuffled(network):
    """In split order a batch held one or two genres (9 blues, 9 classical, ...): the mean
    of batch variances left out the spread between genres, which training's shuffled
    batches hold."""
    from types import SimpleNamespace

    rng = np.random.default_rng(1)
    genres = np.repeat(np.array(["blues", "jazz", "rock", "pop"]), 32)
    X = (
        rng.normal(size=(128, 5))
        + 6.0 * np.searchsorted(["blues", "jazz", "pop", "rock"], genres)[:, None]
    )
    train = np.arange(128) % 8 != 0  # the test rows hold nothing the statistics may read
    X[~train] = 1e3
    model = SimpleNamespace(model_=network, batch_size=16, predict=lambda Z: genres)
    classifier = SimpleNamespace(model=model, model_input=lambda X: X.astype(np.float32))
    check_batchnorm.check_fold(classifier, X, genres, train)

    hidden = network.get_layer("hidden")(X[train].astype(np.float32)).numpy()
    bn = network.get_layer("bn")
    np.testing.assert_allclose(bn.moving_mean.numpy(), hidden.mean(axis=0), rtol=1e-4, atol=1e-4)
    # Shuffled batches of 16 hold about 15/16 of the whole variance; a genre's alone, 1/50.
    np.testing.assert_allclose(bn.moving_variance.numpy(), hidden.var(axis=0), rtol=0.25)


@pytest.mark.slow
def test_the_tool_reports_every_fold_and_leaves_the_run_alone(tiny_run, capsys):
    bundle = tiny_run / "results" / "models" / "cnn" / "holdout" / "fold0" / "model"
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    assert check_batchnorm.main([str(tiny_run), "cnn"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("cnn (holdout): accuracy as trained -> with batch-norm")
    fold_line, mean_line = lines[2], lines[3]
    assert fold_line.split()[0] == "0" and mean_line.split()[0] == "mean"
    numbers = [float(v) for v in fold_line.split()[1:] if v != "->"]
    assert len(numbers) == 4 and all(0.0 <= v <= 1.0 for v in numbers)
    assert {p.name: p.read_bytes() for p in bundle.iterdir()} == before
    # The svm is no Keras model: refused with a reason, not a traceback.
    assert check_batchnorm.main([str(tiny_run), "svm"]) == 2
    assert "not a KerasClassifier" in capsys.readouterr().err  # errors on stderr
    # A model the run did not train is named as such.
    assert check_batchnorm.main([str(tiny_run), "cnn_logmel"]) == 2
    assert "no fold models" in capsys.readouterr().err


@pytest.mark.slow
def test_only_the_current_splits_folds_are_checked(tiny_run, tmp_path, capsys):
    # A kept run folder holds fold models of earlier splits (3 repeats, then 1): the
    # tool read them all and failed on a fold the current split lacks.
    results = tmp_path / "results"
    for folder in ("splits", "features"):
        (results / folder).parent.mkdir(parents=True, exist_ok=True)
        (results / folder).symlink_to(tiny_run / "results" / folder)
    folds = results / "models" / "cnn" / "holdout"
    folds.mkdir(parents=True)
    (folds / "fold0").symlink_to(tiny_run / "results" / "models" / "cnn" / "holdout" / "fold0")
    (folds / "fold1" / "model").mkdir(parents=True)  # left by an earlier split
    assert check_batchnorm.main([str(tmp_path), "cnn"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[2:]] == ["0", "mean"]
    # A scheme the run did not use is named, not a traceback.
    (results / "models" / "cnn" / "kfold" / "fold0").mkdir(parents=True)
    assert check_batchnorm.main([str(tmp_path), "cnn", "--scheme", "kfold"]) == 2
    assert "kfold.tsv: no such split (this run's split.scheme: holdout)" in capsys.readouterr().err
    # A feature table deleted since: named, not a traceback.
    (results / "features").unlink()
    assert check_batchnorm.main([str(tmp_path), "cnn", "--scheme", "holdout"]) == 2
    assert "seed87.parquet: no such feature table" in capsys.readouterr().err


@pytest.mark.slow
def test_fold_models_of_another_split_are_refused(tiny_run, tmp_path, capsys):
    # A rerun with another seed rewrites the split but not a model it no longer runs:
    # the tool scored the old models on tracks they had trained on.
    import pandas as pd

    results = tmp_path / "results"
    (results / "splits").mkdir(parents=True)
    (results / "features").symlink_to(tiny_run / "results" / "features")
    folds = results / "models" / "cnn" / "holdout"
    folds.mkdir(parents=True)
    (folds / "fold0").symlink_to(tiny_run / "results" / "models" / "cnn" / "holdout" / "fold0")
    split = pd.read_csv(tiny_run / "results" / "splits" / "holdout.tsv", sep="\t")
    first_train = split.index[split["subset"] == "train"][0]
    first_test = split.index[split["subset"] == "test"][0]
    split.loc[[first_train, first_test], "subset"] = ["test", "train"]  # two tracks swap sides
    split.to_csv(results / "splits" / "holdout.tsv", sep="\t", index=False)
    assert check_batchnorm.main([str(tmp_path), "cnn"]) == 2
    assert "was trained on other tracks than fold 0 of" in capsys.readouterr().err


def test_a_folder_that_is_no_run_is_refused(tmp_path, capsys):
    # It said "no fold models (did this run train cnn?)" of a folder that did not exist.
    with pytest.raises(SystemExit) as stop:
        check_batchnorm.main([str(tmp_path / "nowhere"), "cnn"])
    assert stop.value.code == 2
    assert "nowhere holds no results/ folder" in capsys.readouterr().err
