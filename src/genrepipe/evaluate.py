"""Metrics from prediction tables: accuracy with uncertainty, per-genre scores, confusion.

A prediction table has one row per (fold, track, subset) with columns ``fold``,
``track``, ``genre`` (truth), ``subset`` (``train``, ``valid`` or ``test``), ``predicted``
and one ``proba_<class>`` column per class.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support


def wilson_interval(correct: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``correct / n``.

    The honest interval for one accuracy measured on ``n`` test clips: on 100
    clips at 74% it spans about plus or minus 8.5 points.
    """
    if n <= 0:
        return (math.nan, math.nan)
    z = stats.norm.ppf(0.5 + level / 2)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # Exactly, the interval lies in [0, 1] and holds p; rounding can push a bound
    # just past 0, 1 or p (0/21 gives -1e-17, 16/16 gives 1 + 2e-16).
    return (float(max(0.0, min(p, centre - half))), float(min(1.0, max(p, centre + half))))


def mean_interval(
    values: Sequence[float], level: float = 0.95, test_train_ratio: float = 0.0
) -> tuple[float, float]:
    """Student-t interval of the mean of per-fold accuracies.

    Folds of cross-validation share most of their training tracks, and the repeats
    of repeated k-fold test the same tracks again, so fold accuracies are not
    independent and the plain interval (``test_train_ratio=0``) is too narrow (30
    folds of 10-fold x 3 would give one as narrow as 30 independent test sets).
    ``test_train_ratio``, a fold's test tracks over its training tracks, widens it
    as the corrected resampled t of Nadeau and Bengio (2003) does, the variance of
    the mean taken as ``var * (1 / n_folds + test_train_ratio)`` (Bouckaert and
    Frank (2004) for repeated k-fold).
    """
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return (math.nan, math.nan)
    scale = math.sqrt(1 / len(values) + test_train_ratio)
    half = stats.t.ppf(0.5 + level / 2, len(values) - 1) * values.std(ddof=1) * scale
    return (values.mean() - half, values.mean() + half)


def track_count(mean: float) -> int | float:
    """A per-fold mean of tracks as a count: 144, not 144.0; 99.9 where the folds differ."""
    return int(mean) if float(mean).is_integer() else round(float(mean), 1)


def macro_f1(
    truth: Sequence[str] | np.ndarray | pd.Series,
    predicted: Sequence[str] | np.ndarray | pd.Series,
    classes: Sequence[str],
) -> float:
    """Mean F1 of the ``classes`` that occur in ``truth`` or ``predicted``.

    A genre with no test clip that no clip was called has no F1 to speak of:
    counting it as 0 (``f1_score(labels=classes)``) would lower the score of a
    small test set for genres it never held. scikit-learn's own default label
    set, the labels seen, leaves it out the same way; a genre only predicted
    still counts, with F1 0.
    """
    seen = set(truth) | set(predicted)
    return float(
        f1_score(
            truth,
            predicted,
            labels=[c for c in classes if c in seen],
            average="macro",
            zero_division=0,
        )
    )


def evaluate_predictions(predictions: pd.DataFrame, classes: Sequence[str]) -> dict:
    """Summarize a model's predictions over all folds.

    Returns
    -------
    dict
        ``train_accuracy`` and ``test_accuracy`` (means over folds),
        ``test_accuracy_std`` (across folds, 0 for one fold), the 95% interval
        ``test_accuracy_ci95`` (the corrected resampled Student-t across folds when
        there are several, see :func:`mean_interval`, else Wilson on the test
        clips), ``test_macro_f1`` (see :func:`macro_f1`) and ``per_genre`` (precision, recall, F1,
        support, and ``predicted``: how many test clips were called that genre) and
        ``confusion`` on the test rows pooled over folds, ``classes`` (the order
        of ``confusion``'s rows and columns), ``fold_test_accuracy``, ``n_folds``,
        and the mean ``n_train`` and ``n_test`` per fold (see :func:`track_count`).
    """
    classes = list(classes)
    required = {"fold", "track", "genre", "subset", "predicted"}
    if missing := required - set(predictions.columns):
        raise ValueError(f"prediction table lacks columns {sorted(missing)}")
    correct = predictions["genre"] == predictions["predicted"]
    by_fold = predictions.assign(correct=correct).groupby(["fold", "subset"])["correct"]
    accuracy = by_fold.mean().unstack("subset")
    counts = by_fold.size().unstack("subset")
    if "test" not in accuracy:
        raise ValueError("prediction table has no test rows")

    test = predictions[predictions["subset"] == "test"]
    fold_test = accuracy["test"].to_numpy(dtype=float)
    if len(fold_test) > 1:
        ratio = counts["test"].mean() / counts["train"].mean() if "train" in counts else 0.0
        low, high = mean_interval(fold_test, test_train_ratio=ratio)
        # An accuracy lies in [0, 1]; NaN (a fold without test rows) stays NaN.
        ci = (float(np.clip(low, 0.0, 1.0)), float(np.clip(high, 0.0, 1.0)))
    else:
        ci = wilson_interval(int((test["genre"] == test["predicted"]).sum()), len(test))
    precision, recall, f1, support = precision_recall_fscore_support(
        test["genre"], test["predicted"], labels=classes, zero_division=0
    )
    confusion = confusion_matrix(test["genre"], test["predicted"], labels=classes)
    return {
        "n_folds": int(len(fold_test)),
        "n_train": track_count(counts["train"].mean()) if "train" in counts else 0,
        "n_test": track_count(counts["test"].mean()),
        "train_accuracy": float(accuracy["train"].mean()) if "train" in accuracy else math.nan,
        "test_accuracy": float(fold_test.mean()),
        "test_accuracy_std": float(fold_test.std(ddof=1)) if len(fold_test) > 1 else 0.0,
        "test_accuracy_ci95": [float(ci[0]), float(ci[1])],
        "test_macro_f1": macro_f1(test["genre"], test["predicted"], classes),
        "fold_test_accuracy": [float(a) for a in fold_test],
        "classes": classes,
        "per_genre": {
            genre: {
                "precision": float(p),
                "recall": float(r),
                "f1": float(f),
                "support": int(s),
                "predicted": int(n),
            }
            for genre, p, r, f, s, n in zip(
                classes, precision, recall, f1, support, confusion.sum(axis=0), strict=True
            )
        },
        "confusion": confusion.tolist(),
    }


def plot_confusion(
    confusion: np.ndarray,
    classes: Sequence[str],
    path: str | os.PathLike,
    title: str = "",
    *,
    unit: str = "test clips",
) -> None:
    """Save a confusion matrix as a PNG: rows are true genres, columns predicted.

    ``unit`` names what a cell counts: test clips, or test predictions where
    repeated k-fold tests every clip once per repeat.
    """
    from matplotlib.ticker import MaxNLocator

    from genrepipe.plots import _pyplot, _save, wrap_name

    confusion = np.asarray(confusion)
    fig, ax = _pyplot().subplots(figsize=(6.5, 5.5), layout="constrained")
    image = ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted genre")
    ax.set_ylabel("true genre")
    # Long lines break (at _ - . or blanks) rather than run off the figure: about 64
    # characters fit over the axes, centred right of the genre names.
    ax.set_title("\n".join(wrap_name(line, 64) for line in title.splitlines()))
    threshold = confusion.max() / 2 if confusion.size else 0
    for (i, j), count in np.ndenumerate(confusion):
        if count:
            color = "white" if count > threshold else "black"
            ax.text(j, i, str(count), ha="center", va="center", color=color, fontsize=8)
    # Whole clips only: a count scale with ticks at 0.25 clips reads wrong.
    fig.colorbar(image, ax=ax, shrink=0.8, label=unit, ticks=MaxNLocator(integer=True))
    _save(fig, path)
