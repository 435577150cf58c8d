"""The charts of results/plots: what they show must stay visible."""

import itertools

import numpy as np
import pandas as pd
import pytest

from genrepipe import plots
from genrepipe.evaluate import plot_confusion


@pytest.fixture
def saved_figures(monkeypatch):
    """Keep each figure a plot function saves, drawn, instead of closing it."""
    figures = []

    def keep(fig, path):
        fig.canvas.draw()
        figures.append(fig)

    monkeypatch.setattr(plots, "_save", keep)
    yield figures
    plots._pyplot().close("all")


@pytest.mark.parametrize("lines", [None, {"88 %": 0.88}])
def test_accuracy_legend_sits_beside_the_bars(saved_figures, lines):
    # A tall right-hand bar whose interval reaches the top, as svm_segments in the default run.
    summary = pd.DataFrame(
        {
            "model": ["gmm", "svm", "svm_segments"],
            "test_accuracy": [0.375, 0.3125, 0.75],
            "test_accuracy_ci95_low": [0.18, 0.14, 0.50],
            "test_accuracy_ci95_high": [0.61, 0.56, 0.98],
            "reference_test_accuracy": [0.71, 0.74, None],
        }
    )
    plots.plot_accuracy(summary, "unused.png", lines=lines)
    (fig,) = saved_figures
    (ax,) = fig.axes
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    # Beside the plotting area, it covers nothing drawn in it.
    assert legend.x0 >= ax.get_window_extent(renderer).x1
    # And the saved figure keeps it whole.
    assert legend.x1 <= fig.bbox.x1


def test_accuracy_title_names_the_protocol(saved_figures):
    """A chart shown alone must say whether 80% is 8 of 10 held-out clips or 30 folds."""
    summary = pd.DataFrame(
        {
            "model": ["gmm", "svm"],
            "dataset": ["gtzan", "gtzan"],
            "split": ["holdout", "holdout"],
            "n_folds": [1, 1],
            "n_test": [10, 10],
            "test_accuracy": [0.8, 0.2],
            "test_accuracy_ci95_low": [0.49, 0.06],
            "test_accuracy_ci95_high": [0.94, 0.51],
        }
    )
    plots.plot_accuracy(summary, "unused.png")
    title = saved_figures[0].axes[0].get_title()
    assert title.endswith("\ngtzan data, holdout split, 1 fold, 10 test tracks")
    # Rows of differing test sets: no single count to state.
    plots.plot_accuracy(summary.assign(n_test=[10, 12]), "unused.png")
    assert saved_figures[1].axes[0].get_title().endswith("\ngtzan data, holdout split, 1 fold")
    # k-fold: the summary's count is a fold's mean, not the tracks tested in all.
    kfold = summary.assign(split="kfold", n_folds=10, n_test=99.9)
    plots.plot_accuracy(kfold, "unused.png")
    assert saved_figures[2].axes[0].get_title().endswith("10 folds, 99.9 test tracks per fold")


def test_confusion_colour_scale_counts_whole_clips(saved_figures):
    # Two clips at most in a cell: the scale must not tick at fractions of a clip.
    confusion = np.array([[2, 0, 1], [0, 1, 0], [1, 0, 2]])
    plot_confusion(confusion, ["blues", "jazz", "rock"], "unused.png")
    (fig,) = saved_figures
    colour_scale = fig.axes[-1]
    ticks = [t for t in colour_scale.get_yticks() if 0 <= t <= confusion.max()]
    assert ticks == [0, 1, 2]


LONG_NAME = "svm_stats_rbf_C10_gamma_scale_inner_cv5_with_segments"


def test_wrap_name_breaks_after_underscores():
    assert plots.wrap_name("svm_segments") == "svm_segments"
    assert (
        plots.wrap_name(LONG_NAME)
        == "svm_stats_\nrbf_C10_\ngamma_scale_\ninner_cv5_\nwith_\nsegments"
    )
    assert plots.wrap_name("averyverylongnamewithoutbreaks") == "averyverylongnamewithoutbreaks"
    assert plots.wrap_name("svm-stats-rbf-C10") == "svm-stats-\nrbf-C10"


def test_accuracy_bars_keep_their_room_with_long_names(saved_figures):
    """Rotated 50-character names once took most of the figure; labels must not collide."""
    summary = pd.DataFrame(
        {
            "model": [LONG_NAME, "cnn_windows_logmel_96x1290_dropout0.5", "nn", "gmm"],
            "test_accuracy": [0.5, np.nan, 0.04, 0.125],
            "test_accuracy_ci95_low": [0.3, np.nan, 0.0, 0.02],
            "test_accuracy_ci95_high": [0.7, np.nan, 0.2, 0.3],
        }
    )
    plots.plot_accuracy(summary, "unused.png")
    (fig,) = saved_figures
    (ax,) = fig.axes
    renderer = fig.canvas.get_renderer()
    assert ax.get_window_extent(renderer).height > 0.5 * fig.bbox.height
    ticks = [label.get_window_extent(renderer) for label in ax.get_xticklabels()]
    for left, right in itertools.pairwise(ticks):
        assert left.x1 < right.x0
    # Each bar's label: one decimal (a clip of 16 is 6.25 points), n/a for no value.
    labels = [text.get_text() for text in ax.texts]
    assert labels == ["50.0%", "n/a", "4.0%", "12.5%"]


def test_f1_heatmap_says_n_a_for_a_genre_without_test_clips(saved_figures):
    scores = pd.DataFrame({"genre": ["blues", "jazz"], "f1": [0.0, 0.5], "support": [0, 2]})
    plots.plot_f1_heatmap({"svm": scores}, "unused.png", protocol="gtzan data, holdout split")
    (ax, _) = saved_figures[0].axes
    assert [text.get_text() for text in ax.texts] == ["n/a", "0.50"]
    assert ax.get_title().endswith("\ngtzan data, holdout split")


def test_confusion_title_of_a_long_model_name_stays_in_the_figure(saved_figures):
    plot_confusion(
        np.eye(3, dtype=int),
        ["blues", "jazz", "rock"],
        "unused.png",
        title=f"{LONG_NAME} (kfold): test accuracy 100.0%",
    )
    (fig,) = saved_figures
    title = fig.axes[0].title.get_window_extent(fig.canvas.get_renderer())
    assert fig.bbox.x0 <= title.x0 and title.x1 <= fig.bbox.x1
