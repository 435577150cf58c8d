"""Figures of the workflow report: accuracies, per-genre F1, a map of the tracks.

Each ``plot_*`` function takes plain tables or arrays and writes one PNG
atomically (matplotlib's Agg backend, no display needed); :func:`plot_results`
wires the workflow's files to them for the ``plot_results`` rule.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from genrepipe import GENRES
from genrepipe.io import atomic_path, read_json

logger = logging.getLogger("genrepipe")

__all__ = [
    "genre_order",
    "plot_accuracy",
    "protocol_text",
    "wrap_name",
    "plot_f1_heatmap",
    "plot_feature_map",
    "plot_results",
    "project_2d",
    "summary_html",
]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike) -> None:
    plt = _pyplot()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def genre_order(genres: Iterable[str]) -> list[str]:
    """The GTZAN genres present, in the collection's order, then any others sorted."""
    present = {str(g) for g in genres}
    return [g for g in GENRES if g in present] + sorted(present - set(GENRES))


def rounded(
    value: float, places: int, nan: str = "n/a", *, plus: bool = False, scale: int = 0
) -> str:
    """``value`` with ``places`` decimals, halves rounded up: 0.0625 (one clip of 16)
    reads 0.063, as 0.4375 reads 0.438 (Python's format rounds a half to the even
    digit: 0.062 beside 0.438). Every figure, table and comparison rounds so, and
    reads one accuracy alike; ``plus`` writes a difference's "+" as ``{:+}`` does.
    ``scale`` multiplies by that power of ten first, exactly (2: a percentage; the
    float product 0.2875 * 100 is 28.749999999999996, which would read 28.7)."""
    from decimal import ROUND_HALF_UP, Decimal

    if np.isnan(value):
        return nan
    # Twelve significant digits, not the binary expansion of the float: a mean of fold
    # accuracies that is 0.8375 in exact sums comes as 0.8374999999999999 (83.7%,
    # beside 83.8% from summary.csv's ten digits, and from the pooled cells).
    number = Decimal(f"{float(value):.12g}").scaleb(scale)
    number = number.quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    return f"{number:+}" if plus else str(number)


def percent(value: float) -> str:
    """An accuracy as a percentage with one decimal, halves rounded up (see
    :func:`rounded`): 6.25% of a 16-clip test set reads 6.3%; NaN reads "n/a"."""
    if np.isnan(value):
        return "n/a"
    return f"{rounded(value, 1, scale=2)}%"


def wrap_name(name: str, width: int = 12) -> str:
    """A name or title over lines of at most ``width`` characters.

    Lines break after ``_``, ``-``, a blank (dropped) or a ``.`` that is no decimal
    point (``C0.5`` and ``85.1%`` stay whole), and a run longer than ``width`` is cut.
    Bar labels stay level and inside their bar's width: a rotated 50-character name
    took most of the figure and squeezed the bars into a corner, and a line with no
    break overflowed the figure's edges.
    """
    lines: list[str] = []
    for part in re.split(r"(?<=[_\- ])|(?<=\.)(?!\d)", name):
        for piece in [part[i : i + width] for i in range(0, len(part), width)]:
            if lines and len(lines[-1]) + len(piece.rstrip(" ")) <= width:
                lines[-1] += piece
            elif piece.strip(" "):  # a blank alone starts no line
                lines.append(piece)
    return "\n".join(line.rstrip(" ") for line in lines)


#: Where the accuracy chart writes each model's value: past 100%, which no bar,
#: interval or marker passes.
VALUE_COLUMN = 1.02


def plot_accuracy(
    summary: pd.DataFrame,
    path: str | os.PathLike,
    *,
    lines: Mapping[str, float] | None = None,
    title: str | None = None,
    fold_accuracies: Mapping[str, Sequence[float]] | None = None,
    chance: float | None = None,
) -> None:
    """Bar chart of each model's test accuracy with its 95% interval, a row per model.

    Parameters
    ----------
    summary
        ``results/summary.csv`` as a table: ``model``, ``test_accuracy``,
        ``test_accuracy_ci95_low``, ``test_accuracy_ci95_high`` and optionally
        ``reference_test_accuracy`` (drawn as a marker where given).
    path
        PNG to write.
    lines
        Accuracies to mark across the chart (such as targets), by label.
    title
        The chart's title; by default it names the protocol the numbers come from
        (:func:`protocol_text`), which a chart shown alone would otherwise hide.
    fold_accuracies
        Each model's test accuracy in every fold (``fold_test_accuracy`` of its
        metrics), drawn as dots over its bar where there are several: the spread
        a mean and an interval summarize.
    chance
        The accuracy of guessing (one over the genres a model may answer), drawn as a line.
    """
    plt = _pyplot()
    if title is None:
        title = "Test accuracy per model, with 95% interval"
        protocol = protocol_text(summary)
        if protocol:
            title += f"\n{protocol}"
    models = summary["model"].astype(str).tolist()
    accuracy = summary["test_accuracy"].to_numpy(dtype=float)
    low = summary["test_accuracy_ci95_low"].to_numpy(dtype=float)
    high = summary["test_accuracy_ci95_high"].to_numpy(dtype=float)
    # A missing interval (NaN) draws no error bar rather than failing.
    errors = np.nan_to_num(np.vstack([accuracy - low, high - accuracy]), nan=0.0).clip(min=0)
    # One row per model, top to bottom in the summary's order: the chart grows down,
    # names stay whole and level (16 models made a 20-inch-wide column chart).
    y = np.arange(len(models))
    fig, ax = plt.subplots(figsize=(8.5, max(3.2, 0.42 * len(models) + 1.9)), layout="constrained")
    bars = ax.barh(
        y, accuracy, height=0.7, color="tab:blue", alpha=0.8, label="test accuracy (this run)"
    )
    # Only where there is one: a model of one fold has no interval, and a zero-length
    # bar would draw caps at its end.
    if (has_interval := np.isfinite(low) & np.isfinite(high)).any():
        ax.errorbar(
            accuracy[has_interval],
            y[has_interval],
            xerr=errors[:, has_interval],
            fmt="none",
            ecolor="black",
            capsize=4,
            label="95% CI",
        )
    folds_drawn = False
    for i, model in enumerate(models):
        folds = np.asarray((fold_accuracies or {}).get(model, ()), dtype=float)
        folds = folds[~np.isnan(folds)]
        if len(folds) < 2:
            continue
        # Spread evenly across the bar (no random jitter: the same figure every run).
        offsets = np.linspace(-0.25, 0.25, len(folds))
        ax.scatter(
            folds,
            i + offsets,
            s=10,
            color="0.15",
            alpha=0.55,
            lw=0,
            zorder=3,
            label=None if folds_drawn else "each fold",
        )
        folds_drawn = True
    reference = pd.to_numeric(
        summary.get("reference_test_accuracy", pd.Series(np.nan, index=summary.index)),
        errors="coerce",
    ).to_numpy(dtype=float)
    if (shown := ~np.isnan(reference)).any():
        ax.scatter(
            reference[shown],
            y[shown],
            marker="D",
            s=60,
            color="tab:red",
            zorder=3,
            # The study's numbers are GTZAN's, on a 90/10 split, with a leak.
            label="reference study (GTZAN, one leaky 90/10 split)",
        )
    for bar, value in zip(bars, accuracy, strict=True):
        # One decimal: a clip of 16 is 6.25 points, and the confusion titles say 12.5%.
        # In a column past 100%: it hides no interval, fold or reference marker, and is
        # not read as the value of the marker it would sit beside.
        ax.annotate(
            percent(value),
            (VALUE_COLUMN, bar.get_y() + bar.get_height() / 2),
            ha="left",
            va="center",
            fontsize=9,
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.85, "lw": 0},
            zorder=4,
        )
    for i, (label, level) in enumerate((lines or {}).items()):
        style = ("--", ":", "-.")[i % 3]
        ax.axvline(level, color="tab:gray", linestyle=style, linewidth=1.2, label=label)
    if chance is not None:
        ax.axvline(
            chance,
            color="tab:red",
            alpha=0.6,
            linestyle=":",
            linewidth=1.2,
            label=f"chance (1 in {round(1 / chance)} genres)",
        )
    ax.set_yticks(y, [wrap_name(model, 24) for model in models], fontsize=9)
    ax.set_ylim(len(models) - 0.5, -0.5)  # the first model on top
    ax.set_xlim(0, 1.15)  # room for the column of values past 100%
    ax.set_xticks(np.linspace(0, 1, 6))
    ax.set_xlabel("test accuracy")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    # Beside the axes: inside, the legend hid the interval of a long bar (and target
    # lines near the right).
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    _save(fig, path)


def protocol_text(summary: pd.DataFrame) -> str:
    """The dataset, split and test tracks behind a summary, as in ``"gtzan data,
    kfold split, 10-fold, 10 test tracks per fold"`` (with ``n_train`` and ``n_test``;
    else ``"10 folds"``); parts that differ between rows (or are not in the table) are
    left out."""

    parts = []
    if (dataset := _shared_value(summary, "dataset")) is not None:
        parts.append(f"{dataset} data")
    if (split := _shared_value(summary, "split")) is not None:
        parts.append(f"{split} split")
    folds = _shared_value(summary, "n_folds")
    k = _folds_per_repeat(
        split, folds, _shared_value(summary, "n_train"), _shared_value(summary, "n_test")
    )
    if k is not None:  # 3-fold x 2 repeats, not "6 folds" (which reads as 6-fold)
        repeats = int(folds) // k
        parts.append(f"{k}-fold" + (f" x {repeats} repeats" if repeats > 1 else ""))
    elif folds is not None:
        parts.append(f"{int(folds)} fold{'s' if int(folds) != 1 else ''}")
    if (n_test := _shared_value(summary, "n_test")) is not None:
        # The summary's n_test is a fold's mean (99.9 for 999 clips in 10 folds).
        per_fold = " per fold" if folds is not None and int(folds) > 1 else ""
        parts.append(f"{float(n_test):g} test tracks{per_fold}")
    return ", ".join(parts)


def _shared_value(summary: pd.DataFrame, column: str):
    """The one value ``column`` holds in every row of ``summary``, else None."""
    values = summary[column].dropna().unique() if column in summary else []
    return values[0] if len(values) == 1 else None


def _folds_per_repeat(split, folds, n_train, n_test) -> int | None:
    """k of a (repeated) k-fold summary, from its mean training and test tracks per
    fold (every track is tested once per repeat: k = all tracks / test tracks); None
    for another split or where the counts do not fit a whole number of repeats."""
    if split != "kfold" or folds is None or not n_train or not n_test:
        return None
    k = round((float(n_train) + float(n_test)) / float(n_test))
    return k if k >= 2 and int(folds) % k == 0 else None


#: Columns of ``results/summary.csv`` shown in the report's table, with their headings.
SUMMARY_COLUMNS: dict[str, str] = {
    "model": "model",
    "feature_set": "features",
    "n_folds": "folds",
    "n_train": "train tracks",
    "n_test": "test tracks",
    "train_accuracy": "train acc.",
    "test_accuracy": "test acc.",
    "test_accuracy_ci95_low": "95% CI low",
    "test_accuracy_ci95_high": "95% CI high",
    "test_macro_f1": "macro F1",
    "reference_test_accuracy": "reference acc.",
    "fit_seconds": "fit s",
}


def _seconds(value: float) -> str:
    """Seconds with one decimal, or two significant digits under a second (a
    tiny run's logistic regression fits in 0.025 s, which one decimal shows as 0.0)."""
    if np.isnan(value):
        return ""
    if abs(value) >= 0.95:  # 0.97 s reads 1.0, as one decimal gives, not 0.97 or 1
        return f"{value:.1f}"
    return np.format_float_positional(value, precision=2, fractional=False, trim="-")


def summary_html(summary: pd.DataFrame, path: str | os.PathLike) -> None:
    """The summary table as a small self-contained HTML page, for the report.

    Parameters
    ----------
    summary
        ``results/summary.csv`` as a table; the columns of :data:`SUMMARY_COLUMNS`
        present are shown, numbers with 3 decimals, fit seconds with 1 (two
        significant digits under a second: 0.025 s, not 0.0).
    path
        HTML file to write.
    """
    shown = summary[[c for c in SUMMARY_COLUMNS if c in summary]].copy()
    formats = {c: lambda v: rounded(v, 3, nan="") for c in shown.select_dtypes("number").columns}
    formats |= {c: "{:g}".format for c in ("n_folds", "n_train", "n_test") if c in shown}
    if "fit_seconds" in shown:
        formats["fit_seconds"] = _seconds
    table = shown.rename(columns=SUMMARY_COLUMNS).to_html(
        index=False,
        na_rep="",
        formatters={SUMMARY_COLUMNS[c]: f for c, f in formats.items()},
        border=0,
        classes="summary",
    )
    dataset = ", ".join(str(v) for v in summary.get("dataset", pd.Series()).unique())
    split = ", ".join(str(v) for v in summary.get("split", pd.Series()).unique())
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>genrepipe summary</title>
<style>
body {{ font-family: sans-serif; font-size: 14px; margin: 1em; }}
table.summary {{ border-collapse: collapse; }}
table.summary th, table.summary td {{ padding: 4px 10px; text-align: right; }}
table.summary th {{ border-bottom: 2px solid #444; }}
table.summary td:first-child, table.summary th:first-child {{ text-align: left; }}
table.summary tr:nth-child(even) {{ background: #f2f2f2; }}
</style></head><body>
<p>Dataset: {dataset}; split: {split}. Test accuracies are means over folds on held-out tracks;
train accuracies on each fold's training tracks, which the model learned from.</p>
{table}
</body></html>
"""
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")


def plot_f1_heatmap(
    per_genre: Mapping[str, pd.DataFrame], path: str | os.PathLike, *, protocol: str = ""
) -> None:
    """Heat map of the F1 score of each model (rows) on each genre (columns).

    Parameters
    ----------
    per_genre
        For each model, its ``<scheme>_per_genre.csv`` table (``genre`` and ``f1``
        columns, and ``support`` where known), in the order the rows should appear.
        A genre without test clips (support 0) that no clip was called (``predicted``
        0, where known) shows as "n/a", not as an F1 of 0, as the macro F1 leaves it out.
    path
        PNG to write.
    protocol
        The dataset and split the scores come from (:func:`protocol_text`), shown
        under the title.
    """
    plt = _pyplot()
    if not per_genre:
        raise ValueError("no per-genre tables to plot")
    genres = genre_order(g for table in per_genre.values() for g in table["genre"])
    models = list(per_genre)
    f1 = np.full((len(models), len(genres)), np.nan)
    for i, model in enumerate(models):
        table = per_genre[model].set_index("genre")
        # No clip of the genre and none called it: no F1. A genre only called has F1 0.
        unseen = table["support"] == 0 if "support" in table else pd.Series(False, table.index)
        if "predicted" in table:
            unseen &= table["predicted"] == 0
        untested = set(table.index[unseen])
        for j, genre in enumerate(genres):
            if genre in table.index and genre not in untested:
                f1[i, j] = float(table.at[genre, "f1"])
    width = max(6.5, 0.75 * len(genres) + 3)  # few genres: room for the protocol line
    fig, ax = plt.subplots(figsize=(width, 0.45 * len(models) + 2), layout="constrained")
    image = ax.imshow(f1, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(genres)), genres, rotation=45, ha="right")
    ax.set_yticks(range(len(models)), models)
    for (i, j), value in np.ndenumerate(f1):
        if not np.isnan(value):
            color = "black" if value > 0.6 else "white"
            ax.text(j, i, rounded(value, 2), ha="center", va="center", color=color, fontsize=8)
        else:  # no test clip of that genre nor one called it, or a genre the table lacks
            ax.text(j, i, "n/a", ha="center", va="center", color="tab:gray", fontsize=8)
    title = "F1 per genre on the test clips"
    if protocol:  # about 8 characters an inch fit over the axes, left of the colour bar
        title += "\n" + wrap_name(protocol, int(8 * width))
    ax.set_title(title)
    fig.colorbar(image, ax=ax, label="F1")
    _save(fig, path)


def project_2d(X: np.ndarray, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Standardize the flattened features of each track, then project on 2 principal components.

    Parameters
    ----------
    X
        Per-track features ``(n_tracks, ...)``; flattened to one row per track.
    seed
        Random state of the (randomized) PCA solver.

    Returns
    -------
    points, explained
        ``(n_tracks, 2)`` coordinates and the share of variance each axis explains.
    """
    from sklearn.decomposition import PCA

    X = np.asarray(X, dtype=np.float32).reshape(len(X), -1)
    if len(X) < 3:
        raise ValueError(f"a 2-D map needs at least 3 tracks, got {len(X)}")
    mean = X.mean(axis=0, dtype=np.float64).astype(np.float32)
    std = X.std(axis=0, dtype=np.float64).astype(np.float32)
    Z = (X - mean) / np.maximum(std, 1e-6)
    pca = PCA(n_components=2, svd_solver="randomized", random_state=seed)
    points = pca.fit_transform(Z)
    return points, pca.explained_variance_ratio_


def plot_feature_map(
    X: np.ndarray,
    genres: Sequence[str],
    path: str | os.PathLike,
    *,
    feature_set: str,
    seed: int = 0,
    dataset: str | None = None,
) -> None:
    """Scatter plot of the tracks on the first two principal components, coloured by genre.

    ``dataset`` (such as ``synthetic``) is named in the title with the track count.

    A picture of how separable the genres are in one feature set; the PCA here
    is fitted on every track and serves only this picture, never a model.
    """
    plt = _pyplot()
    points, explained = project_2d(X, seed=seed)
    genres = np.asarray([str(g) for g in genres])
    order = genre_order(genres)
    colors = plt.get_cmap("tab10" if len(order) <= 10 else "tab20")
    fig, ax = plt.subplots(figsize=(7.5, 5.5), layout="constrained")
    for k, genre in enumerate(order):
        mine = genres == genre
        ax.scatter(
            points[mine, 0],
            points[mine, 1],
            s=18,
            alpha=0.8,
            color=colors(k % colors.N),
            label=f"{genre} ({mine.sum()})",
        )
    ax.set_xlabel(f"PC 1 ({explained[0]:.0%} of variance)")
    ax.set_ylabel(f"PC 2 ({explained[1]:.0%} of variance)")
    title = f"Tracks on the first two principal components of standardized {feature_set}"
    data = f"{dataset} data, " if dataset else ""
    ax.set_title(f"{title}\n{data}{len(genres)} tracks")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    _save(fig, path)


def plot_results(
    summary_csv: str | os.PathLike,
    per_genre_files: Sequence[str | os.PathLike],
    models: Sequence[str],
    features_table: str | os.PathLike,
    accuracy_png: str | os.PathLike,
    f1_png: str | os.PathLike,
    map_png: str | os.PathLike,
    summary_out: str | os.PathLike,
    *,
    feature_set: str,
    seed: int = 0,
    metrics_files: Sequence[str | os.PathLike] | None = None,
) -> None:
    """The report's figures from the summary, the per-genre scores and a feature table.

    ``metrics_files``, each model's metrics JSON in the order of ``models``, add
    the accuracy of every fold to the accuracy chart.

    Writes the accuracy bar chart, the per-genre F1 heat map, the map of the
    tracks on two principal components of ``feature_set`` (PNG files) and the
    summary as an HTML table.
    """
    from genrepipe.feature_table import read_feature_table
    from genrepipe.tasks import read_per_genre, read_summary

    summary = read_summary(summary_csv)
    summary_html(summary, summary_out)
    folds = {
        model: read_json(path).get("fold_test_accuracy", [])
        for model, path in zip(models, metrics_files or [], strict=metrics_files is not None)
    }
    per_genre = {
        model: read_per_genre(path) for model, path in zip(models, per_genre_files, strict=True)
    }
    # Guessing among the classes a model may answer (a genre never tested is one).
    classes = {genre for table in per_genre.values() for genre in table["genre"]}
    chance = 1 / len(classes) if classes else None
    plot_accuracy(summary, accuracy_png, fold_accuracies=folds, chance=chance)
    plot_f1_heatmap(per_genre, f1_png, protocol=protocol_text(summary))
    _, genres, X = read_feature_table(features_table)
    dataset = _shared_value(summary, "dataset")
    plot_feature_map(
        X,
        genres,
        map_png,
        feature_set=feature_set,
        seed=seed,
        dataset=None if dataset is None else str(dataset),
    )
    logger.info("plotted %d models and a map of %d tracks (%s)", len(models), len(X), feature_set)
