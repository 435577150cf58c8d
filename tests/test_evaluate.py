"""Tests of genrepipe.evaluate: intervals, fold summaries, per-genre scores, confusion plot."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from genrepipe.evaluate import (
    evaluate_predictions,
    mean_interval,
    plot_confusion,
    wilson_interval,
)

# --------------------------------------------------------------------------- wilson_interval


def test_wilson_74_of_100_by_hand():
    # z = 1.959964, z^2 = 3.841459, n = 100, p = 0.74:
    # centre = (0.74 + z^2/200) / (1 + z^2/100) = 0.7592073 / 1.0384146 = 0.731122
    # half = z * sqrt(0.74*0.26/100 + z^2/40000) / 1.0384146 = 0.0880902 / 1.0384146 = 0.084832
    low, high = wilson_interval(74, 100)
    assert low == pytest.approx(0.731122 - 0.084832, abs=2e-5)
    assert high == pytest.approx(0.731122 + 0.084832, abs=2e-5)
    # The docstring's "about plus or minus 8.5 points".
    assert (high - low) / 2 == pytest.approx(0.085, abs=0.001)
    # Wilson pulls the interval toward one half: asymmetric around 0.74.
    assert 0.74 - low > high - 0.74


def test_wilson_level_widens_the_interval():
    narrow = wilson_interval(74, 100, level=0.90)
    wide = wilson_interval(74, 100, level=0.99)
    assert wide[0] < narrow[0] < 0.74 < narrow[1] < wide[1]


def test_wilson_bounds_within_unit_interval():
    rng = np.random.default_rng(0)
    for n in range(1, 301):
        for correct in {0, n, int(rng.integers(0, n + 1))}:
            low, high = wilson_interval(correct, n)
            assert 0.0 <= low <= correct / n <= high <= 1.0, (correct, n, low, high)
    # All right or all wrong: the interval touches the bound exactly (no 1 + 2e-16, no -1e-17).
    for n in (16, 21, 40, 100):
        assert wilson_interval(0, n)[0] == 0.0
        assert wilson_interval(n, n)[1] == 1.0


def test_wilson_shrinks_with_more_clips():
    widths = [np.diff(wilson_interval(n // 2, n))[0] for n in (10, 100, 1000)]
    assert widths[0] > widths[1] > widths[2]


def test_wilson_without_clips_is_nan():
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


# --------------------------------------------------------------------------- mean_interval


def test_mean_interval_by_hand():
    # mean 0.75, sample std 0.05, t(0.975, df=2) = 4.302653
    low, high = mean_interval([0.70, 0.80, 0.75])
    half = 4.302653 * 0.05 / math.sqrt(3)
    assert low == pytest.approx(0.75 - half, abs=1e-6)
    assert high == pytest.approx(0.75 + half, abs=1e-6)


def test_mean_interval_corrected_for_shared_training_tracks_by_hand():
    """Nadeau and Bengio's correction: the variance of the mean is var * (1/n + test/train)."""
    low, high = mean_interval([0.70, 0.80, 0.75], test_train_ratio=1 / 9)
    half = 4.302653 * 0.05 * math.sqrt(1 / 3 + 1 / 9)
    assert (low, high) == pytest.approx((0.75 - half, 0.75 + half), abs=1e-6)
    # 10-fold x 3: the plain interval treats 30 folds as 30 independent test sets;
    # corrected, it is twice as wide.
    folds = [0.6, 0.7, 0.8, 0.7, 0.9, 0.8, 0.7, 0.6, 0.8, 0.7] * 3
    corrected = np.diff(mean_interval(folds, test_train_ratio=1 / 9))[0]
    assert corrected > 2 * np.diff(mean_interval(folds))[0]


def test_mean_interval_of_identical_values_is_a_point():
    low, high = mean_interval([0.6] * 5)
    assert low == pytest.approx(0.6) and high == pytest.approx(0.6)


def test_mean_interval_needs_two_values():
    assert all(math.isnan(v) for v in mean_interval([0.8]))
    assert all(math.isnan(v) for v in mean_interval([]))


# --------------------------------------------------------------------------- evaluate_predictions


def test_a_fold_without_test_rows_gives_no_interval_not_zero_to_one():
    rows = _rows(0, "train", [("a", "a")] * 3) + _rows(0, "test", [("a", "a"), ("a", "b")])
    rows += _rows(1, "train", [("a", "a")] * 3)  # no test rows: its accuracy is NaN
    result = evaluate_predictions(pd.DataFrame(rows), CLASSES)
    assert all(math.isnan(bound) for bound in result["test_accuracy_ci95"])


def test_k_fold_interval_is_widened_by_the_folds_test_to_train_ratio():
    """Four folds of 10 test and 30 training tracks: the summary's interval is the
    corrected one, wider than a plain t across the folds."""
    rows = []
    for fold, correct in enumerate((6, 7, 8, 7)):
        rows += _rows(fold, "train", [("a", "a")] * 30)
        rows += _rows(fold, "test", [("a", "a")] * correct + [("a", "b")] * (10 - correct))
    result = evaluate_predictions(pd.DataFrame(rows), CLASSES)
    expected = mean_interval([0.6, 0.7, 0.8, 0.7], test_train_ratio=10 / 30)
    assert result["test_accuracy_ci95"] == pytest.approx(list(expected))
    plain = mean_interval([0.6, 0.7, 0.8, 0.7])
    assert expected[0] < plain[0] and expected[1] > plain[1]


CLASSES = ["a", "b", "c", "d"]  # "d" never occurs: support 0


def _rows(fold, subset, pairs):
    return [
        {
            "fold": fold,
            "track": f"{t}.{fold}{subset}{i}",
            "genre": t,
            "subset": subset,
            "predicted": p,
        }
        for i, (t, p) in enumerate(pairs)
    ]


@pytest.fixture
def predictions() -> pd.DataFrame:
    rows = (
        _rows(0, "train", [("a", "a"), ("b", "b")])  # 2/2
        + _rows(0, "test", [("a", "a"), ("a", "b"), ("b", "b"), ("c", "c")])  # 3/4
        + _rows(1, "train", [("a", "a"), ("c", "b")])  # 1/2
        + _rows(1, "test", [("a", "a"), ("b", "c"), ("b", "b"), ("c", "a")])  # 2/4
    )
    frame = pd.DataFrame(rows)
    for c in CLASSES:  # probability columns are carried but not needed
        frame[f"proba_{c}"] = (frame["predicted"] == c).astype(float)
    return frame


def test_evaluate_two_folds_by_hand(predictions):
    result = evaluate_predictions(predictions, CLASSES)

    assert result["n_folds"] == 2
    # Counts, not 4.0: model cards and the summary copy them.
    assert (result["n_train"], result["n_test"]) == (2, 4)
    assert type(result["n_train"]) is int and type(result["n_test"]) is int
    assert result["fold_test_accuracy"] == [0.75, 0.5]
    assert result["test_accuracy"] == pytest.approx(0.625)
    assert result["train_accuracy"] == pytest.approx(0.75)  # mean of 1.0 and 0.5
    assert result["test_accuracy_std"] == pytest.approx(math.sqrt(2 * 0.125**2))
    # Student-t across the two folds, clipped to the range an accuracy can take.
    low, high = mean_interval([0.75, 0.5])
    assert low < 0 and high > 1  # two folds: a very wide interval
    assert result["test_accuracy_ci95"] == pytest.approx([max(0.0, low), min(1.0, high)])
    assert result["classes"] == CLASSES

    # Pooled test confusion, rows true a, b, c, d and columns predicted a, b, c, d.
    assert result["confusion"] == [
        [2, 1, 0, 0],
        [0, 2, 1, 0],
        [1, 0, 1, 0],
        [0, 0, 0, 0],
    ]
    per_genre = result["per_genre"]
    assert {g: per_genre[g]["support"] for g in CLASSES} == {"a": 3, "b": 3, "c": 2, "d": 0}
    # a: predicted a 3 times, 2 right, of 3 true a: P = R = F1 = 2/3.
    assert per_genre["a"]["precision"] == pytest.approx(2 / 3)
    assert per_genre["a"]["recall"] == pytest.approx(2 / 3)
    assert per_genre["b"]["f1"] == pytest.approx(2 / 3)
    assert per_genre["c"]["precision"] == pytest.approx(1 / 2)
    assert per_genre["c"]["recall"] == pytest.approx(1 / 2)
    assert per_genre["d"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 0,
        "predicted": 0,
    }
    # How many test clips were called each genre: the confusion matrix's column sums.
    assert [per_genre[g]["predicted"] for g in CLASSES] == [3, 3, 2, 0]

    # Macro F1 over the genres the test clips hold or were called: "d" is neither.
    test = predictions[predictions["subset"] == "test"]
    expected_f1 = f1_score(test["genre"], test["predicted"], average="macro")
    assert result["test_macro_f1"] == pytest.approx(expected_f1)
    assert result["test_macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 2) / 3)


def test_macro_f1_counts_a_genre_only_predicted_as_zero(predictions):
    # One test clip of "c" called "d": "d" has no clip but was predicted, so it counts, F1 0.
    test = predictions["subset"] == "test"
    row = predictions.index[test & (predictions["genre"] == "c")][0]
    predictions.loc[row, "predicted"] = "d"
    result = evaluate_predictions(predictions, CLASSES)

    per_genre = result["per_genre"]
    assert per_genre["d"]["f1"] == 0.0
    # Calls, the confusion matrix's column sums, apart from clips, its row sums.
    assert [per_genre[g]["predicted"] for g in CLASSES] == [3, 3, 1, 1]
    assert [per_genre[g]["support"] for g in CLASSES] == [3, 3, 2, 0]
    f1 = [per_genre[g]["f1"] for g in CLASSES]
    assert result["test_macro_f1"] == pytest.approx(sum(f1) / 4)
    assert result["test_macro_f1"] < sum(f1) / 3


def test_evaluate_summary_is_json_ready(predictions):
    import json

    result = evaluate_predictions(predictions, CLASSES)
    assert json.loads(json.dumps(result)) == result


def test_evaluate_single_fold_uses_wilson(predictions):
    one = predictions[predictions["fold"] == 0]
    result = evaluate_predictions(one, CLASSES)
    assert result["n_folds"] == 1
    assert result["test_accuracy"] == pytest.approx(0.75)
    assert result["test_accuracy_std"] == 0.0
    assert result["test_accuracy_ci95"] == pytest.approx(list(wilson_interval(3, 4)))


def test_evaluate_without_train_rows(predictions):
    result = evaluate_predictions(predictions[predictions["subset"] == "test"], CLASSES)
    assert math.isnan(result["train_accuracy"])
    assert result["n_train"] == 0.0
    assert result["test_accuracy"] == pytest.approx(0.625)


def test_evaluate_unequal_folds_give_a_mean_count(predictions):
    # One test row fewer in fold 1: 4 and 3 test tracks, 3.5 a fold.
    dropped = predictions.drop(index=predictions.index[-1])
    result = evaluate_predictions(dropped, CLASSES)
    assert result["n_test"] == 3.5
    # The mean of the folds' accuracies (3/4 and 2/3), not that of the pooled tracks (5/7).
    assert result["test_accuracy"] == pytest.approx((0.75 + 2 / 3) / 2)
    # So is the training accuracy: fold 0 keeps one training track (1/1), fold 1 1/2.
    is_train = (predictions["subset"] == "train") & (predictions["fold"] == 0)
    one_train_row = predictions.drop(index=predictions.index[is_train][-1])
    assert evaluate_predictions(one_train_row, CLASSES)["train_accuracy"] == pytest.approx(0.75)


def test_evaluate_ignores_train_rows_in_test_scores(predictions):
    wrong_train = predictions.copy()
    is_train = wrong_train["subset"] == "train"
    wrong_train.loc[is_train, "predicted"] = "d"
    a = evaluate_predictions(predictions, CLASSES)
    b = evaluate_predictions(wrong_train, CLASSES)
    assert b["train_accuracy"] == 0.0
    for key in ("test_accuracy", "test_macro_f1", "confusion", "per_genre"):
        assert a[key] == b[key], key


def test_evaluate_requires_columns(predictions):
    with pytest.raises(ValueError, match="predicted"):
        evaluate_predictions(predictions.drop(columns="predicted"), CLASSES)


def test_evaluate_requires_test_rows(predictions):
    with pytest.raises(ValueError, match="no test rows"):
        evaluate_predictions(predictions[predictions["subset"] == "train"], CLASSES)


# --------------------------------------------------------------------------- plot_confusion

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plot_confusion_writes_a_png(tmp_path):
    import matplotlib.image

    confusion = np.array([[8, 2, 0], [1, 9, 0], [0, 3, 7]])
    path = tmp_path / "plots" / "confusion.png"
    plot_confusion(confusion, ["blues", "jazz", "rock"], path, title="svm on mfcc")

    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5_000
    image = matplotlib.image.imread(path)
    # figsize 6.5 x 5.5 inches at 120 dpi
    assert image.shape[:2] == (660, 780)
    assert image.std() > 0.05  # not a blank canvas
    # Several distinct shades: the colour map, text and axes.
    assert len(np.unique(image.reshape(-1, image.shape[-1]), axis=0)) > 50
    assert [p.name for p in path.parent.iterdir()] == ["confusion.png"]  # no temp file left


def test_plot_confusion_of_zeros(tmp_path):
    path = tmp_path / "zeros.png"
    plot_confusion(np.zeros((2, 2), dtype=int), ["a", "b"], path)
    assert path.read_bytes()[:8] == PNG_MAGIC


# --------------------------------------------------------------------------- summary


def _metrics_file(path, n_train: float, n_test: float):
    path.write_text(
        json.dumps(
            {
                "n_folds": 10,
                "n_train": n_train,
                "n_test": n_test,
                "train_accuracy": 1.0,
                "test_accuracy": 0.5,
                "test_accuracy_std": 0.1,
                "test_accuracy_ci95": [0.43, 0.57],
                "test_macro_f1": 0.48,
                "fit_seconds": 1.5,
            }
        ),
        encoding="utf-8",
    )
    return path


def test_summary_writes_track_counts_as_counts(tmp_path):
    from genrepipe.tasks import summarize_results

    # Equal folds give whole means; 999 clips in 10 folds give 899.1 and 99.9.
    files = [
        _metrics_file(tmp_path / "svm.json", 90.0, 10.0),
        _metrics_file(tmp_path / "gmm.json", 899.1, 99.9),
    ]
    output = tmp_path / "summary.csv"
    summarize_results(
        files,
        ["svm", "gmm"],
        ["seed87", "seed87"],
        [0.74, 0.71],
        output,
        dataset="gtzan",
        scheme="kfold",
    )
    lines = output.read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith("svm,gtzan,kfold,seed87,10,90,10,1,0.5,"), lines[1]
    assert lines[2].startswith("gmm,gtzan,kfold,seed87,10,899.1,99.9,1,"), lines[2]


def test_summary_keeps_the_digits_the_figures_round(tmp_path):
    """6 of 11 clips: written as 0.5455, the chart, the HTML table and genrepipe-compare,
    which read the summary, rounded it again to 54.6% and 0.546, where the confusion
    title, from the metrics, said 54.5%."""
    from genrepipe.plots import percent, rounded
    from genrepipe.tasks import read_summary, summarize_results

    metrics = _metrics_file(tmp_path / "svm.json", 90.0, 11.0)
    values = json.loads(metrics.read_text(encoding="utf-8")) | {"test_accuracy": 6 / 11}
    metrics.write_text(json.dumps(values), encoding="utf-8")
    output = tmp_path / "summary.csv"
    summarize_results(
        [metrics], ["svm"], ["stats"], [None], output, dataset="gtzan", scheme="holdout"
    )
    (accuracy,) = read_summary(output)["test_accuracy"]
    assert (
        (percent(accuracy), rounded(accuracy, 3))
        == (percent(6 / 11), "0.545")
        == (
            "54.5%",
            "0.545",
        )
    )
