"""Does batch normalization hold a Keras model back? Re-estimate its statistics and compare.

Keras's ``BatchNormalization`` predicts with moving averages of its inputs' mean and
variance (momentum 0.99), not with the statistics of the rows at hand. A network
trained for a few hundred steps (the reference ``cnn``: 9 steps an epoch, 30 epochs,
on 144 tracks) can predict with averages that still lag its weights, and then score
far below what its training log says even on its own training tracks.

For every fold of a finished run, this loads the model's fold bundle, re-estimates
every ``BatchNormalization`` layer's statistics from the fold's training tracks alone
(the mean of per-batch statistics over the tracks in a seeded shuffle, as
``torch.optim.swa_utils.update_bn`` does over a shuffling loader; dropout off; no weight
changes and no test track seen), and prints the fold's training and
test accuracy before and after. The run's bundles are not changed. For the reference
``nn`` and ``cnn`` (``KerasClassifier`` models on whole tracks). From the project root::

    .venv/bin/python tools/check_batchnorm.py RUN_DIR cnn

``RUN_DIR`` is the workflow's working directory (the one holding ``results/``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import workflow_command  # noqa: F401  (this checkout's genrepipe first on the path)


def refresh_batchnorm(network, X: np.ndarray, batch_size: int = 64) -> int:
    """Set every ``BatchNormalization`` layer's moving statistics of ``network`` to the
    mean of its batch statistics over ``X`` (in order, ``batch_size`` rows a batch).

    Only the moving mean and variance change; dropout is off while ``X`` passes.
    Returns the number of layers refreshed.
    """
    import keras

    norms = [
        layer for layer in network.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    dropouts = [layer for layer in network.layers if isinstance(layer, keras.layers.Dropout)]
    saved = [layer.momentum for layer in norms], [layer.rate for layer in dropouts]
    try:
        for layer in dropouts:
            layer.rate = 0.0
        for k, start in enumerate(range(0, len(X), batch_size)):
            # moving = moving * k/(k+1) + batch / (k+1): the running mean of batch statistics.
            for layer in norms:
                layer.momentum = k / (k + 1)
            network(X[start : start + batch_size], training=True)
    finally:
        for layer, momentum in zip(norms, saved[0], strict=True):
            layer.momentum = momentum
        for layer, rate in zip(dropouts, saved[1], strict=True):
            layer.rate = rate
    return len(norms)


def check_fold(classifier, X: np.ndarray, genres: np.ndarray, train: np.ndarray):
    """Training and test accuracy of one fold's model, as trained and refreshed."""
    model = classifier.model
    Z = classifier.model_input(X)

    def accuracy() -> tuple[float, float]:
        right = model.predict(Z) == genres
        return float(right[train].mean()), float(right[~train].mean())

    before = accuracy()
    # Shuffled as in training: in split order (genre by genre) a batch holds one or two
    # genres, and the mean of its variances leaves out the spread between genres.
    order = np.random.default_rng(0).permutation(np.flatnonzero(train))
    refresh_batchnorm(model.model_, np.asarray(Z[order], np.float32), batch_size=model.batch_size)
    return before, accuracy()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="the workflow's working directory")
    parser.add_argument("model", help="a KerasClassifier model of the run: nn or cnn")
    parser.add_argument("--scheme", help="the split scheme, when the run has several")
    args = parser.parse_args(argv)
    if not (args.run_dir / "results").is_dir():
        parser.error(f"{args.run_dir} holds no results/ folder: not a workflow's working directory")

    from genrepipe.feature_table import read_feature_table
    from genrepipe.models import KerasClassifier
    from genrepipe.predict import Classifier
    from genrepipe.tasks import fold_rows, read_table, train_tracks_digest

    results = args.run_dir / "results"
    schemes = sorted(p.name for p in (results / "models" / args.model).glob("*") if p.is_dir())
    if not schemes:
        print(
            f"{results}/models/{args.model}: no fold models (did this run train {args.model}?)",
            file=sys.stderr,
        )
        return 2
    if args.scheme is None and len(schemes) != 1:
        print(f"{results}/models/{args.model}: give --scheme, one of {schemes}", file=sys.stderr)
        return 2
    scheme = args.scheme or schemes[0]
    split = results / "splits" / f"{scheme}.tsv"
    if not split.is_file():
        present = sorted(p.stem for p in (results / "splits").glob("*.tsv"))
        print(
            f"{split}: no such split (this run's split.scheme: {', '.join(present) or 'none'})",
            file=sys.stderr,
        )
        return 2
    # The current split's folds only: a kept run directory also holds the fold models
    # of earlier splits (3 repeats of k-fold, then 1).
    folds = sorted(int(fold) for fold in read_table(split)["fold"].unique())
    bundles = [results / "models" / args.model / scheme / f"fold{fold}" / "model" for fold in folds]
    if missing := [str(bundle) for bundle in bundles if not bundle.is_dir()]:
        print(f"no fold model {missing[0]} (of {len(missing)} missing)", file=sys.stderr)
        return 2
    scores, tables = [], {}
    for bundle_dir in bundles:
        fold = int(bundle_dir.parent.name.removeprefix("fold"))
        classifier = Classifier.load(bundle_dir)
        # Exactly: the window CNN is a KerasClassifier too, on windows, not whole tracks.
        if type(classifier.model) is not KerasClassifier:
            print(
                f"{bundle_dir}: not a KerasClassifier model (the reference nn or cnn)",
                file=sys.stderr,
            )
            return 2
        if classifier.feature_set not in tables:  # read once, not once a fold
            table = results / "features" / f"{classifier.feature_set}.parquet"
            if not table.is_file():
                print(f"{table}: no such feature table (was it deleted?)", file=sys.stderr)
                return 2
            ids, genres, X = read_feature_table(table)
            tables[classifier.feature_set] = {t: i for i, t in enumerate(ids)}, genres, X
        position, genres, X = tables[classifier.feature_set]
        rows = fold_rows(split, fold, list(position))
        rows = rows[rows["subset"].isin(["train", "test"])]
        index = [position[track] for track in rows["track"]]
        train = (rows["subset"] == "train").to_numpy()
        # A model of an earlier split (another seed, say) would be scored on tracks
        # it trained on, and its statistics re-estimated on its own test tracks.
        recorded = classifier.card.get("train_tracks_sha256")
        if recorded is not None and recorded != train_tracks_digest(rows["track"][train]):
            print(
                f"{bundle_dir} was trained on other tracks than fold {fold} of {split}: the "
                "split changed since it was trained; run the workflow with this split first",
                file=sys.stderr,
            )
            return 2
        before, after = check_fold(classifier, X[index], genres[index], train)
        if not scores:  # after the first fold's checks: a refusal is all that is printed
            print(
                f"{args.model} ({scheme}): accuracy as trained -> with batch-norm statistics "
                "re-estimated on the fold's training tracks"
            )
            print(f"{'fold':>4}  {'train':>15}  {'test':>15}")
        print(
            f"{fold:>4}  {before[0]:6.3f} -> {after[0]:5.3f}  {before[1]:6.3f} -> {after[1]:5.3f}"
        )
        scores.append((*before, *after))
    if not scores:
        print(f"no fold bundles under {results}/models/{args.model}/{scheme}", file=sys.stderr)
        return 2
    mean = np.mean(scores, axis=0)
    print(f"{'mean':>4}  {mean[0]:6.3f} -> {mean[2]:5.3f}  {mean[1]:6.3f} -> {mean[3]:5.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
