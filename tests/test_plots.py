"""The charts of results/plots: what they show must stay visible."""

import itertools
import re

import numpy as np
import pandas as pd
import pytest

from genrepipe import plots
from genrepipe.evaluate import plot_confusion
from genrepipe.feature_table import write_feature_table


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
    assert plots.wrap_name("svm-stats-rbf-C10") == "svm-stats-\nrbf-C10"
    # Dots and blanks break too (model names may hold dots, titles blanks); a run longer
    # than the width is cut, else it overflowed the figure.
    assert plots.wrap_name("cnn.logmel.v2.mixup") == "cnn.logmel.\nv2.mixup"
    assert plots.wrap_name("mean of 30 folds; the cells", 16) == "mean of 30\nfolds; the cells"
    assert plots.wrap_name("averyverylongnamewithoutbreaks") == "averyverylon\ngnamewithout\nbreaks"
    # A number's decimal point is no break (85.\n1%, C0.\n5), and blanks make no empty line.
    assert plots.wrap_name("logreg_rich_balanced_C0.5", 24) == "logreg_rich_balanced_\nC0.5"
    assert (
        plots.wrap_name("the cells pool to 85.1%), each", 24) == "the cells pool to\n85.1%), each"
    )
    assert plots.wrap_name(" leading  and  double", 8) == "leading\nand\ndouble"


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
    assert ax.get_window_extent(renderer).width > 0.5 * fig.bbox.width
    # A row per model, the first on top; the names whole (wrapped) and apart.
    names = [label.get_text().replace("\n", "") for label in ax.get_yticklabels()]
    assert names == summary["model"].tolist()
    ticks = [label.get_window_extent(renderer) for label in ax.get_yticklabels()]
    for upper, lower in itertools.pairwise(ticks):
        assert upper.y0 > lower.y1
    assert all(tick.x0 >= 0 for tick in ticks)  # inside the saved figure
    # Each bar's label: one decimal (a clip of 16 is 6.25 points), n/a for no value.
    labels = [text.get_text() for text in ax.texts]
    assert labels == ["50.0%", "n/a", "4.0%", "12.5%"]
    # In one column past 100%, on its own bar's row, clear of every interval's end.
    assert [text.xy for text in ax.texts] == [
        pytest.approx((plots.VALUE_COLUMN, row)) for row in range(len(summary))
    ]
    assert plots.VALUE_COLUMN > summary["test_accuracy_ci95_high"].max()


def test_accuracy_label_leaves_the_reference_marker_visible(saved_figures):
    # svm's 74% from the study sat under the white box of its 31.3% label; then the
    # label sat just past the marker, and read as the study's number.
    summary = pd.DataFrame(
        {
            "model": ["svm", "svm_stats"],
            "test_accuracy": [0.3125, 0.8],
            "test_accuracy_ci95_low": [0.14, 0.7],
            "test_accuracy_ci95_high": [0.56, 0.9],
            "reference_test_accuracy": [0.74, None],
        }
    )
    plots.plot_accuracy(summary, "unused.png")
    (ax,) = saved_figures[0].axes
    renderer = saved_figures[0].canvas.get_renderer()
    (marker,) = [
        c
        for c in ax.collections
        if c.get_label() == "reference study (GTZAN, one leaky 90/10 split)"
    ]
    marker_right = (
        ax.transData.transform((0.74, 0))[0] + np.sqrt(60) / 2 * saved_figures[0].dpi / 72
    )
    # Apart from the marker by more than a label's own height: the value column.
    label = ax.texts[0].get_window_extent(renderer)
    assert label.x0 - marker_right > 2 * label.height
    assert ax.texts[1].xy == pytest.approx((plots.VALUE_COLUMN, 1))


def test_f1_heatmap_says_n_a_for_a_genre_without_test_clips(saved_figures):
    scores = pd.DataFrame({"genre": ["blues", "jazz"], "f1": [0.0, 0.5], "support": [0, 2]})
    plots.plot_f1_heatmap({"svm": scores}, "unused.png", protocol="gtzan data, holdout split")
    (ax, _) = saved_figures[0].axes
    assert [text.get_text() for text in ax.texts] == ["n/a", "0.50"]
    assert ax.get_title().endswith("\ngtzan data, holdout split")


def test_f1_heatmap_rounds_as_the_summary_table_does(saved_figures):
    # An F1 of 0.625 (5/8) is 0.63 in the summary's per-genre table (rounded, halves up);
    # Python's format wrote 0.62 on the heat map beside it.
    scores = pd.DataFrame({"genre": ["blues", "jazz"], "f1": [0.625, 0.375], "support": [4, 4]})
    plots.plot_f1_heatmap({"svm": scores}, "unused.png")
    (ax, _) = saved_figures[0].axes
    assert [text.get_text() for text in ax.texts] == ["0.63", "0.38"]


DOTTED_NAME = "cnn.logmel.v2.with.mixup.and.specaugment.trained.forty.epochs"


@pytest.mark.parametrize(
    "title",
    [
        f"{LONG_NAME} (kfold): test accuracy 100.0%",
        f"{DOTTED_NAME} (kfold): test accuracy 100.0%",
        # Repeated folds of unequal size: the line evaluate_model writes had no _ or -.
        "svm_segments (gtzan data, kfold split)\ntest accuracy 77.9% (mean of 30 folds; "
        "the cells pool to 78.0%), each clip counted 3 times",
    ],
)
def test_confusion_title_stays_in_the_figure(saved_figures, title):
    plot_confusion(np.eye(3, dtype=int), ["blues", "jazz", "rock"], "unused.png", title=title)
    (fig,) = saved_figures
    title_box = fig.axes[0].title.get_window_extent(fig.canvas.get_renderer())
    assert fig.bbox.x0 <= title_box.x0 and title_box.x1 <= fig.bbox.x1
    shown = fig.axes[0].get_title()
    assert shown.replace("\n", "").replace(" ", "") == title.replace("\n", "").replace(" ", "")


def test_f1_heatmap_title_of_few_genres_stays_in_the_figure(saved_figures):
    scores = pd.DataFrame({"genre": ["blues", "jazz"], "f1": [0.5, 0.5], "support": [2, 2]})
    protocol = "gtzan data, kfold split, 10-fold x 3 repeats, each clip counted 3 times"
    plots.plot_f1_heatmap({"svm": scores}, "unused.png", protocol=protocol)
    (fig,) = saved_figures
    title_box = fig.axes[0].title.get_window_extent(fig.canvas.get_renderer())
    assert fig.bbox.x0 <= title_box.x0 and title_box.x1 <= fig.bbox.x1


def test_accuracy_values_stay_clear_of_the_legend_with_a_long_dotted_name(saved_figures):
    summary = pd.DataFrame(
        {
            "model": [DOTTED_NAME, "svm"],
            "test_accuracy": [0.5, 0.75],
            "test_accuracy_ci95_low": [0.3, 0.6],
            "test_accuracy_ci95_high": [0.7, 0.9],
        }
    )
    plots.plot_accuracy(summary, "unused.png")
    (fig,) = saved_figures
    (ax,) = fig.axes
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    for text in ax.texts:
        assert text.get_window_extent(renderer).x1 <= legend.x0, text.get_text()
    assert ax.get_window_extent(renderer).width > 0.5 * fig.bbox.width


def test_percentages_round_halves_up():
    # 1 of 16 clips is 6.25%: one half rounds as the next one does (43.75% reads 43.8%).
    assert [plots.percent(v) for v in (0.0625, 0.3125, 0.4375, 0.125, 1.0)] == [
        "6.3%",
        "31.3%",
        "43.8%",
        "12.5%",
        "100.0%",
    ]
    assert plots.percent(float("nan")) == "n/a"
    # 23 of 80 clips: the float 0.2875 * 100 is 28.749999999999996, which read 28.7%
    # beside 0.288 in the summary table.
    assert [plots.percent(v) for v in (0.2875, 0.5125)] == ["28.8%", "51.3%"]
    assert plots.rounded(0.2875, 3) == "0.288"
    # Four folds of 20 clips, 13, 17, 18 and 19 right: 67/80 = 0.8375 pooled, but the
    # float mean of the folds is 0.8374999999999999, which read 83.7%.
    mean = float(np.mean([13 / 20, 17 / 20, 18 / 20, 19 / 20]))
    assert mean < 0.8375 and plots.percent(mean) == plots.percent(67 / 80) == "83.8%"


def test_protocol_of_repeated_k_fold_says_k_and_the_repeats():
    """6 folds of 3-fold x 2 repeats must not read as 6-fold cross-validation."""
    summary = pd.DataFrame(
        {
            "model": ["svm"],
            "dataset": ["gtzan"],
            "split": ["kfold"],
            "n_folds": [6],
            "n_train": [53.3],
            "n_test": [26.7],
        }
    )
    assert plots.protocol_text(summary) == "gtzan data, kfold split, 3-fold x 2 repeats, " + (
        "26.7 test tracks per fold"
    )
    thirty = summary.assign(n_folds=30, n_train=90, n_test=10)
    assert "10-fold x 3 repeats" in plots.protocol_text(thirty)
    once = summary.assign(n_folds=10, n_train=90, n_test=10)
    assert "10-fold, 10 test tracks" in plots.protocol_text(once)
    # 7 folds of 2 test tracks in 10 are no whole number of 5-fold repeats: say 7 folds.
    uneven = summary.assign(n_folds=7, n_train=8, n_test=2)
    assert "kfold split, 7 folds, 2 test tracks" in plots.protocol_text(uneven)


def test_f1_heatmap_scores_a_genre_only_predicted_as_zero(saved_figures):
    # No blues clip in the test set, but 3 clips were called blues: F1 0, as the macro F1
    # counts it, not "n/a", which would hide the genre soaking up wrong answers.
    scores = pd.DataFrame(
        {
            "genre": ["blues", "jazz", "rock"],
            "f1": [0.0, 0.5, 1.0],
            "support": [0, 2, 0],
            "predicted": [3, 1, 0],
        }
    )
    plots.plot_f1_heatmap({"gmm": scores}, "unused.png")
    (ax, _) = saved_figures[0].axes
    assert [text.get_text() for text in ax.texts] == ["0.00", "0.50", "n/a"]


def test_feature_map_title_names_the_data_and_the_tracks(saved_figures):
    rng = np.random.default_rng(0)
    genres = ["blues"] * 4 + ["jazz"] * 4
    plots.plot_feature_map(
        rng.normal(size=(8, 5)), genres, "unused.png", feature_set="stats", dataset="synthetic"
    )
    title = saved_figures[0].axes[0].get_title()
    assert title.endswith("standardized stats\nsynthetic data, 8 tracks")


def test_map_prefers_track_level_features_over_spectrogram_pixels():
    from genrepipe.config import map_feature_set

    assert map_feature_set([], ["logmel", "rich"]) == "rich"
    assert map_feature_set(["mfcc"], ["logmel", "segment_stats"]) == "segment_stats"
    assert map_feature_set(["stats", "seed87"], ["rich"]) == "stats"
    assert map_feature_set([], ["mfcc", "logmel"]) == "logmel"


def _evaluate_folds(folder, folds: list[pd.DataFrame], title: str = "svm (kfold)"):
    """tasks.evaluate_model on these folds' prediction rows; its metrics and output paths."""
    import json

    from genrepipe.tasks import evaluate_model, write_table

    tables, models = [], []
    for fold, rows in enumerate(folds):
        tables.append(folder / f"fold{fold}.tsv")
        write_table(rows.assign(fold=fold), tables[-1])
        models.append(folder / f"model{fold}")
        models[-1].mkdir()
        classes = sorted({g for rows in folds for g in rows["genre"] if isinstance(g, str)})
        (models[-1] / "card.json").write_text(
            json.dumps({"fit_seconds": 1.0, "classes": classes}), encoding="utf-8"
        )
    outputs = [folder / name for name in ("m.json", "g.csv", "c.csv", "c.png")]
    return evaluate_model(tables, models, *outputs, title=title), outputs


def test_confusion_of_repeated_k_fold_counts_predictions_not_clips(saved_figures, tmp_path):
    """Each clip is tested once per repeat: cells add up to twice the clips with 2 repeats."""
    folds = [
        pd.DataFrame(
            {
                "track": [f"blues.{test}", f"jazz.{test}", f"blues.{train}", f"jazz.{train}"],
                "genre": ["blues", "jazz", "blues", "jazz"],
                "subset": ["test", "test", "train", "train"],
                "predicted": ["blues", "blues", "blues", "jazz"],
            }
        )
        for test, train in [("a", "b"), ("b", "a"), ("a", "b"), ("b", "a")]
    ]
    _, outputs = _evaluate_folds(tmp_path, folds)
    (ax, colorbar) = saved_figures[0].axes
    assert colorbar.get_ylabel() == "test predictions (2 per clip)"
    assert ax.get_title().endswith("test accuracy 50.0%, each clip counted 2 times")
    per_genre = pd.read_csv(outputs[1])
    assert per_genre["predicted"].tolist() == [8, 0] and per_genre["support"].tolist() == [4, 4]


def test_a_prediction_table_naming_a_genre_its_model_lacks_is_refused(saved_figures, tmp_path):
    # A table cut outside the workflow: its last row's label "meta" was counted a genre.
    fold = pd.DataFrame(
        {
            "track": ["blues.a", "metal.a", "blues.b", "metal.b"],
            "genre": ["blues", "metal", "blues", "metal"],
            "subset": ["test", "test", "train", "train"],
            "predicted": ["blues", "meta", "blues", "metal"],
        }
    )
    with pytest.raises(
        ValueError, match=r"fold0\.tsv: predictions with genres its model does not know \(meta\)"
    ):
        _evaluate_folds(tmp_path, [fold])
    assert not (tmp_path / "m.json").exists()
    # Cut inside a row's genre or after its subset: empty cells (read as NaN) are refused
    # too, where joining them into the message raised a TypeError naming no file.
    for i, empty in enumerate((["predicted"], ["genre", "subset", "predicted"])):
        cut = fold.assign(predicted=["blues", "metal", "blues", "metal"]).astype(object)
        cut.loc[1, empty] = None
        (tmp_path / str(i)).mkdir()
        with pytest.raises(ValueError, match=r"fold0\.tsv: predictions with empty cells"):
            _evaluate_folds(tmp_path / str(i), [cut])


def test_accuracy_chart_shows_every_fold_over_its_bar(saved_figures):
    """The spread a mean hides: 30 folds of 10 clips swing by tens of points."""
    summary = pd.DataFrame(
        {
            "model": ["svm", "nn"],
            "test_accuracy": [0.5, 0.7],
            "test_accuracy_ci95_low": [0.4, 0.6],
            "test_accuracy_ci95_high": [0.6, 0.8],
        }
    )
    folds = {"svm": [0.3, 0.5, 0.7, 0.5], "nn": [0.7]}  # one fold: nothing to spread
    plots.plot_accuracy(summary, "unused.png", fold_accuracies=folds)
    (ax,) = saved_figures[0].axes
    dots = [c for c in ax.collections if c.get_label() == "each fold"]
    assert len(dots) == 1
    x, y = dots[0].get_offsets().T
    assert sorted(x) == [0.3, 0.5, 0.5, 0.7]
    assert np.all(np.abs(y - 0) < 0.4)  # over svm's bar, the first row
    assert "each fold" in [t.get_text() for t in ax.get_legend().get_texts()]
    # svm's label sits past its highest fold, not among the dots.
    label = ax.texts[0].get_window_extent(saved_figures[0].canvas.get_renderer())
    assert label.x0 > ax.transData.transform((0.7, 0))[0]


def test_accuracy_chart_draws_only_the_folds_that_were_scored(saved_figures):
    # A fold without a score (NaN) is no dot, and a model left with one scored fold has
    # no spread to show: a lone dot would read as one fold among several.
    from matplotlib.collections import PathCollection

    summary = pd.DataFrame(
        {
            "model": ["svm", "nn"],
            "test_accuracy": [0.5, 0.6],
            "test_accuracy_ci95_low": [0.4, 0.5],
            "test_accuracy_ci95_high": [0.6, 0.7],
        }
    )
    folds = {"svm": [0.3, np.nan, 0.7], "nn": [0.6, np.nan]}
    plots.plot_accuracy(summary, "unused.png", fold_accuracies=folds)
    (ax,) = saved_figures[0].axes
    (dots,) = [c for c in ax.collections if isinstance(c, PathCollection)]
    x, y = dots.get_offsets().T
    assert x.tolist() == [0.3, 0.7]
    assert y.tolist() == [-0.25, 0.25]  # spread over svm's bar, the first row


def test_f1_heatmap_writes_each_score_in_its_own_cell(saved_figures):
    # Row i is the model, column j the genre: a score in another cell is another genre's.
    scores = pd.DataFrame({"genre": ["blues", "classical", "country"], "f1": [0.1, 0.5, 0.9]})
    plots.plot_f1_heatmap({"svm": scores}, "unused.png")
    (ax, _) = saved_figures[0].axes
    cells = {text.get_text(): tuple(text.get_position()) for text in ax.texts}
    assert cells == {"0.10": (0, 0), "0.50": (1, 0), "0.90": (2, 0)}


def test_genres_outside_gtzan_follow_gtzans_sorted():
    # The same order in every figure and run, whatever order the tables list them in.
    extra = ["zydeco", "ambient", "techno", "folk", "ska", "grunge", "house", "dub"]
    assert plots.genre_order([*extra, "rock", "blues"]) == ["blues", "rock", *sorted(extra)]


def test_map_of_tracks_with_a_constant_feature_stays_finite():
    # A feature equal on every track (a silent band, a padded frame) has no spread:
    # standardized as 0/0 it turned the whole map into NaN.
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=(6, 4)), np.full(6, 3.0)])
    points, explained = plots.project_2d(X)
    assert np.all(np.isfinite(points)) and np.all(np.isfinite(explained))


def test_summary_table_shows_fit_seconds_under_one_tenth(tmp_path):
    # A tiny run's logistic regression fitted in 0.025 s, which one decimal showed as 0.0.
    summary = pd.DataFrame(
        {
            "model": ["logreg", "cnn", "svm", "gmm", "nn"],
            "fit_seconds": [0.025, 1234.56, np.nan, 0.9995, 5e-05],
        }
    )
    plots.summary_html(summary, tmp_path / "summary.html")
    cells = re.findall(r"<td>([^<]*)</td>", (tmp_path / "summary.html").read_text(encoding="utf-8"))
    assert cells[1::2] == ["0.025", "1234.6", "", "1.0", "0.00005"]


def test_accuracy_chart_without_intervals_draws_no_interval(saved_figures):
    # One fold of tools/benchmark_accuracy.py: NaN intervals drew flat caps at each bar
    # and a "95% CI" legend entry for nothing.
    summary = pd.DataFrame(
        {
            "model": ["svm", "nn"],
            "test_accuracy": [0.5, 0.7],
            "test_accuracy_ci95_low": [np.nan, np.nan],
            "test_accuracy_ci95_high": [np.nan, np.nan],
        }
    )
    plots.plot_accuracy(summary, "unused.png")
    (ax,) = saved_figures[0].axes
    assert "95% CI" not in [t.get_text() for t in ax.get_legend().get_texts()]
    assert not ax.containers[1:]  # the bars alone, no error bar container
    # Beside a model with one, only that one is drawn: no caps at the other's bar end.
    summary.loc[0, ["test_accuracy_ci95_low", "test_accuracy_ci95_high"]] = [0.4, 0.6]
    plots.plot_accuracy(summary, "unused.png")
    (ax,) = saved_figures[1].axes
    (intervals,) = ax.containers[1:]
    _, caps, (lines,) = intervals.lines
    assert [segment[:, 1].tolist() for segment in lines.get_segments()] == [[0.0, 0.0]]


def _plot_results(tmp_path, model: str, accuracy: float, per_genre: pd.DataFrame) -> list:
    """plot_results on the files a run of one ``model`` writes: its summary and per-genre
    table as given, a feature table of two clips of each genre; it returns the HTML."""
    summary = pd.DataFrame(
        {
            "model": [model],
            "test_accuracy": [accuracy],
            "test_accuracy_ci95_low": [accuracy / 2],
            "test_accuracy_ci95_high": [(1 + accuracy) / 2],
        }
    )
    summary.to_csv(tmp_path / "summary.csv", index=False)
    per_genre.to_csv(tmp_path / f"{model}_per_genre.csv", index=False)
    write_feature_table(
        tmp_path / "stats.parquet",
        [(f"{g}.0000{i}", g, np.full(4, float(i))) for i, g in enumerate([*per_genre.genre] * 2)],
        feature_set="stats",
    )
    outputs = [tmp_path / name for name in ("a.png", "f1.png", "map.png", "summary.html")]
    plots.plot_results(
        tmp_path / "summary.csv",
        [tmp_path / f"{model}_per_genre.csv"],
        [model],
        tmp_path / "stats.parquet",
        *outputs,
        feature_set="stats",
    )
    return outputs[-1].read_text(encoding="utf-8")


def test_accuracy_chart_marks_chance_from_the_genres_tested(tmp_path, saved_figures):
    """Models below 10% on ten genres do worse than guessing: a line says where that is."""
    # Four genres, one never tested (support 0) but answerable: chance is one in four.
    per_genre = pd.DataFrame(
        {
            "genre": ["blues", "jazz", "pop", "rock"],
            "f1": 0.0,
            "support": [2, 2, 2, 0],
            "predicted": [3, 1, 2, 0],
        }
    )
    _plot_results(tmp_path, "svm", 0.05, per_genre)
    # Read from the file, the genre no clip was called and none tested has no F1 (a count
    # of 0 read as the text "0" made it 0.00).
    assert [text.get_text() for text in saved_figures[1].axes[0].texts][-1] == "n/a"
    ax = saved_figures[0].axes[0]
    (chance,) = [line for line in ax.get_lines() if line.get_label().startswith("chance")]
    assert chance.get_label() == "chance (1 in 4 genres)"
    assert chance.get_xdata()[0] == pytest.approx(1 / 4)
    assert "chance (1 in 4 genres)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_results_of_genres_and_models_named_like_numbers_keep_their_names(tmp_path, saved_figures):
    """Genre folders "07" and "NA" and a model "007" (all accepted): read back as 7, NaN
    and 7.0, the heat map showed "n/a" for real scores and the chart labelled 7.0."""
    per_genre = pd.DataFrame({"genre": ["07", "NA"], "f1": [0.75, 0.25], "support": [2, 2]})
    html = _plot_results(tmp_path, "007", 0.5, per_genre)
    accuracy, (heat_map, _) = saved_figures[0].axes[0], saved_figures[1].axes
    assert [label.get_text() for label in accuracy.get_yticklabels()] == ["007"]
    assert [label.get_text() for label in heat_map.get_xticklabels()] == ["07", "NA"]
    assert [text.get_text() for text in heat_map.texts] == ["0.75", "0.25"]
    assert "<td>007</td>" in html


def test_confusion_title_of_unequal_folds_says_what_the_cells_pool_to(saved_figures, tmp_path):
    """The title gave the summary's mean over folds (fold of 1 clip right, of 3 clips one
    right: 67%), the cells 2 of 4 right: a reader checking the diagonal found 50%."""
    folds = [
        pd.DataFrame(
            {
                "track": tests + ["blues.x", "jazz.y"],
                "genre": [t.split(".")[0] for t in tests] + ["blues", "jazz"],
                "subset": ["test"] * len(tests) + ["train", "train"],
                "predicted": ["blues"] * len(tests) + ["blues", "jazz"],
            }
        )
        for tests in [["blues.a"], ["blues.b", "jazz.c", "jazz.d"]]
    ]
    metrics, _ = _evaluate_folds(tmp_path, folds)
    assert metrics["test_accuracy"] == pytest.approx(2 / 3)
    (ax, _) = saved_figures[0].axes
    assert ax.get_title().endswith("test accuracy 66.7% (mean of 2 folds; the cells pool to 50.0%)")


def test_the_summary_table_rounds_an_accuracy_as_the_figures_do(tmp_path):
    # One clip of 16 right: 6.3% in the accuracy chart and the confusion title, 0.062
    # in this table (Python's format rounds a half to the even digit).
    summary = pd.DataFrame({"model": ["cnn", "svm"], "test_accuracy": [0.0625, np.nan]})
    plots.summary_html(summary, tmp_path / "summary.html")
    cells = re.findall(r"<td>([^<]*)</td>", (tmp_path / "summary.html").read_text(encoding="utf-8"))
    assert cells == ["cnn", "0.063", "svm", ""]
    assert plots.percent(0.0625) == "6.3%" and plots.rounded(0.4375, 3) == "0.438"
