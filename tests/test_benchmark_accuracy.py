"""Tests of tools/benchmark_accuracy.py on a made-up finished run (no workflow run)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import PROJECT_ROOT

from genrepipe import plots


@pytest.fixture(scope="module")
def bench():
    path = PROJECT_ROOT / "tools" / "benchmark_accuracy.py"
    spec = importlib.util.spec_from_file_location("benchmark_accuracy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_fold(workdir, model: str, fold: int, correct: int, n_test: int = 10) -> None:
    folder = workdir / "results" / "models" / model / "kfold" / f"fold{fold}"
    folder.mkdir(parents=True)
    genre = ["rock"] * (n_test + 2)
    predicted = ["rock"] * correct + ["jazz"] * (n_test - correct) + ["rock", "rock"]
    subset = ["test"] * n_test + ["train", "train"]
    table = pd.DataFrame({"fold": fold, "track": range(n_test + 2), "genre": genre})
    table["subset"], table["predicted"] = subset, predicted
    table.to_csv(folder / "predictions.tsv", sep="\t", index=False)


def _write_split(workdir, folds, n_train: int = 90, n_test: int = 10, scheme="kfold") -> None:
    """results/splits/<scheme>.tsv: which folds the run's split has, and their sizes."""
    rows = [
        {"fold": fold, "track": f"t{fold}.{i}", "genre": "rock", "subset": subset}
        for fold in folds
        for subset, n in (("train", n_train), ("test", n_test))
        for i in range(n)
    ]
    (workdir / "results" / "splits").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(workdir / "results" / "splits" / f"{scheme}.tsv", sep="\t")


def _refused_configfile(bench, tmp_path: Path, capsys, text: str) -> tuple[Path, str]:
    """Run the benchmark with a --configfile holding ``text``; it must refuse it before
    any run (usage error, no working folder). Returns the file and stderr."""
    path = tmp_path / "override.yaml"
    path.write_text(text, encoding="utf-8")
    data, workdir = _genres_folder(tmp_path), tmp_path / "run"
    with pytest.raises(SystemExit) as stop:
        bench.main([str(data), "--configfile", str(path), "--workdir", str(workdir)])
    assert stop.value.code == 2
    assert not workdir.exists()
    return path, capsys.readouterr().err


def _genres_folder(tmp_path: Path) -> Path:
    """A dataset folder the benchmark accepts before it runs anything: one genre folder."""
    data = tmp_path / "genres"
    (data / "rock").mkdir(parents=True)
    return data


def test_accuracy_table_pairs_folds_with_the_reference(bench, tmp_path) -> None:
    svm, better = [5, 6, 7], [8, 8, 9]  # correct test tracks of 10, per fold
    for fold in range(3):
        _write_fold(tmp_path, "svm", fold, svm[fold])
        _write_fold(tmp_path, "logreg_rich", fold, better[fold])
    _write_split(tmp_path, range(3))
    pd.DataFrame(
        {"model": ["svm", "logreg_rich"], "feature_set": ["seed87", "rich"], "fit_seconds": [1, 2]}
    ).to_csv(tmp_path / "results" / "summary.csv", index=False)
    table = bench.accuracy_table(tmp_path, ["svm", "logreg_rich"]).set_index("model")
    row = table.loc["logreg_rich"]
    assert row["accuracy"] == pytest.approx(np.mean([0.8, 0.8, 0.9]))
    assert row["std"] == pytest.approx(np.std([0.8, 0.8, 0.9], ddof=1))
    assert row["svm_accuracy"] == pytest.approx(0.6)
    # Paired differences 0.3, 0.2, 0.2: mean 0.2333, t(2) interval around it, widened
    # for the training tracks folds share (10 test over 90 training tracks).
    assert row["difference"] == pytest.approx(0.7 / 3)
    half = 4.302653 * np.std([0.3, 0.2, 0.2], ddof=1) * np.sqrt(1 / 3 + 1 / 9)
    assert row["difference_ci95_low"] == pytest.approx(0.7 / 3 - half, rel=1e-5)
    assert row["difference_ci95_high"] == pytest.approx(0.7 / 3 + half, rel=1e-5)
    # The accuracy's own interval, widened the same way (and within [0, 1]).
    half = 4.302653 * np.std([0.8, 0.8, 0.9], ddof=1) * np.sqrt(1 / 3 + 1 / 9)
    assert row["ci95_low"] == pytest.approx(2.5 / 3 - half, rel=1e-5)
    assert row["ci95_high"] == pytest.approx(min(2.5 / 3 + half, 1.0), rel=1e-5)
    assert table.loc["svm", "difference"] == 0.0
    text = bench.format_table(table.reset_index())
    line = next(line for line in text.splitlines() if line.startswith("logreg_rich"))
    assert "83.3 %" in line and "+23.3" in line
    # An ensemble's long feature names widen the column instead of shifting its row.
    table = table.reset_index()
    table.loc[table["model"] == "logreg_rich", "features"] = "segment_stats+logmel+rich"
    lines = bench.format_table(table).splitlines()
    assert len({line.index(" % ±") for line in lines[1:]}) == 1, lines


def test_fold_accuracy_of_a_genre_named_na_counts_its_right_answers(bench, tmp_path) -> None:
    # A genre folder "NA" read as a missing value: NaN == NaN is false, so every right
    # answer counted as wrong.
    folder = tmp_path / "results" / "models" / "svm" / "kfold" / "fold0"
    folder.mkdir(parents=True)
    table = pd.DataFrame(
        {"fold": 0, "track": ["a", "b", "c", "d"], "genre": ["NA", "NA", "rock", "rock"]}
    )
    table["subset"], table["predicted"] = "test", ["NA", "NA", "rock", "NA"]
    table.to_csv(folder / "predictions.tsv", sep="\t", index=False)
    assert bench.fold_accuracies(tmp_path, "svm", [0]).tolist() == [0.75]


def test_benchmark_config_runs_the_reference_first_with_kfold(bench, tmp_path) -> None:
    data, workdir = tmp_path / "genres", tmp_path / "benchmarks" / "genres"
    config = bench.benchmark_config(
        data, ["cnn_logmel", "svm"], workdir=workdir, n_splits=10, n_repeats=3, seed=7
    )
    assert config["run_models"] == ["svm", "cnn_logmel"]
    assert config["split"] == {
        "scheme": "kfold",
        "kfold": {"n_splits": 10, "n_repeats": 3, "seed": 7},
    }
    # Relative to the working directory, where the workflow runs: no machine's folders.
    assert config["dataset"] == {"kind": "gtzan", "gtzan": {"root": "../../genres"}}
    assert config["final_models"] is False


def test_only_the_current_splits_folds_count(bench, tmp_path) -> None:
    """A kept working directory holds the folds of an earlier, larger split: left out."""
    for fold in range(4):  # folds 2 and 3 are left from an earlier run
        _write_fold(tmp_path, "svm", fold, 5)
        _write_fold(tmp_path, "nn", fold, 9 if fold < 2 else 0)
    _write_split(tmp_path, range(2))
    pd.DataFrame({"model": ["svm", "nn"], "feature_set": ["a", "b"], "fit_seconds": [1, 1]}).to_csv(
        tmp_path / "results" / "summary.csv", index=False
    )
    table = bench.accuracy_table(tmp_path, ["svm", "nn"]).set_index("model")
    assert table.loc["nn", "n_folds"] == 2 and table.loc["nn", "accuracy"] == pytest.approx(0.9)
    # A fold of the split that a model lacks is named.
    (tmp_path / "results" / "models" / "nn" / "kfold" / "fold1" / "predictions.tsv").unlink()
    with pytest.raises(FileNotFoundError, match="no predictions of nn for fold 1"):
        bench.accuracy_table(tmp_path, ["svm", "nn"])


def test_targets_compare_new_rows_with_the_reference_rows(bench) -> None:
    table = pd.DataFrame(
        {
            "model": ["svm", "nn", "cnn", "svm_segments", "cnn_logmel", "cnn_svm"],
            "accuracy": [0.50, 0.60, 0.30, 0.90, 0.80, 0.86],
        }
    )
    checks = {
        target.split()[0]: (measured, holds)
        for target, measured, holds in bench.check_targets(table)
    }
    assert checks["best"] == ("svm_segments 90.0 % (+40.0 vs svm; best of 3 by this table)", True)
    assert checks["cnn_logmel"] == ("+50.0 vs cnn, +20.0 vs nn", False)  # 25 above nn missed
    assert checks["cnn_svm"][1] is True
    table.loc[table["model"] == "svm_segments", "accuracy"] = 0.87  # under 88 %
    assert bench.check_targets(table)[0][2] is False


def test_percentages_round_halves_up_as_the_accuracy_chart_does(bench) -> None:
    # 13 of 16 clips, 81.25 %: the chart of the same run (plots.percent) reads 81.3 %, and
    # Python's format gave 81.2 here; a difference of one clip in 16 reads +6.3 alike.
    row = {"features": "stats", "n_folds": 1, "std": np.nan, "fit_seconds": 1.0}
    row |= {"ci95_low": np.nan, "ci95_high": np.nan}
    table = pd.DataFrame(
        [
            row | {"model": "svm", "accuracy": 0.75, "difference": 0.0},
            row | {"model": "svm_stats", "accuracy": 0.8125, "difference": 0.0625},
        ]
    )
    table["difference_ci95_low"], table["difference_ci95_high"] = -0.0625, 0.1875
    (line,) = [line for line in bench.format_table(table).splitlines() if "svm_stats" in line]
    assert f"{plots.percent(0.8125)[:-1]} %" in line and "81.2" not in line
    assert "   +6.3  [  -6.3,  +18.8]" in line
    measured = bench.check_targets(table.drop(columns="difference"))[0][1]
    assert measured.startswith("svm_stats 81.3 % (+6.3 vs svm;")


def test_targets_met_exactly_hold_whatever_the_float_sums_give(bench) -> None:
    # Fold means as accuracy_table computes them: 25 points above nn came out as
    # 0.2499999999999999, and 88 % as 0.8799999999999999, both printed MISSED.
    cnn = pd.Series([0.8, 0.7, 0.7, 1, 0.8, 1, 0.7, 0.7, 0.8, 1]).mean()
    nn = pd.Series([0.6, 0.4, 0.5, 0.8, 0.5, 0.7, 0.7, 0.6, 0.9, 0]).mean()
    best = pd.Series([0.8, 0.9, 1, 0.8, 0.9, 0.8, 0.9, 1, 0.8, 0.9]).mean()
    assert cnn - nn < 0.25 and best < 0.88  # what the comparison met
    table = pd.DataFrame(
        {"model": ["svm", "nn", "cnn_mfcc", "svm_rich"], "accuracy": [0.5, nn, cnn, best]}
    )
    checks = {target.split()[0]: holds for target, _, holds in bench.check_targets(table)}
    assert checks == {"best": True, "cnn_mfcc": True}
    # A track short of a target still misses it.
    table.loc[table["model"] == "cnn_mfcc", "accuracy"] = cnn - 0.01
    assert (
        dict((target.split()[0], holds) for target, _, holds in bench.check_targets(table))[
            "cnn_mfcc"
        ]
        is False
    )


def test_lists_option_trains_on_one_list_and_tests_on_another(bench, tmp_path) -> None:
    train, test = tmp_path / "train.txt", tmp_path / "test.txt"
    config = bench.benchmark_config(
        tmp_path,
        ["svm", "gmm"],
        workdir=tmp_path / "run",
        n_splits=10,
        n_repeats=3,
        seed=7,
        lists=(train, test),
    )
    assert config["split"] == {
        "scheme": "lists",
        "lists": {"train": "../train.txt", "test": "../test.txt"},
    }
    for model, correct in (("svm", 4), ("gmm", 7)):
        folder = tmp_path / "results" / "models" / model / "lists" / "fold0"
        folder.mkdir(parents=True)
        pd.DataFrame(
            {
                "genre": ["rock"] * 10,
                "predicted": ["rock"] * correct + ["jazz"] * (10 - correct),
                "subset": ["test"] * 10,
            }
        ).to_csv(folder / "predictions.tsv", sep="\t", index=False)
    pd.DataFrame(
        {"model": ["svm", "gmm"], "feature_set": ["seed87", "seed87"], "fit_seconds": [1, 1]}
    ).to_csv(tmp_path / "results" / "summary.csv", index=False)
    _write_split(tmp_path, [0], scheme="lists")
    table = bench.accuracy_table(tmp_path, ["svm", "gmm"], scheme="lists").set_index("model")
    assert table.loc["gmm", "accuracy"] == pytest.approx(0.7)
    assert table.loc["gmm", "difference"] == pytest.approx(0.3)
    # One fold has no spread to make an interval from: none is shown, not [0, 100] %.
    assert np.isnan(table.loc["gmm", "ci95_low"]) and np.isnan(table.loc["gmm", "ci95_high"])
    text = bench.format_table(table.reset_index())
    assert "[   nan,    nan]" in text
    # Nor a spread (it printed ± 0.0 %), nor an interval of the difference ([+nan, +nan]).
    assert np.isnan(table.loc["gmm", "std"])
    (gmm,) = [line for line in text.splitlines() if line.startswith("gmm")]
    assert "70.0 % ±   nan %" in gmm and "+nan" not in gmm


def test_chart_marks_the_targets_of_the_run(bench, tmp_path) -> None:
    table = pd.DataFrame(
        {
            "model": ["svm", "nn", "cnn", "cnn_logmel"],
            "accuracy": [0.50, 0.60, 0.30, 0.80],
            "ci95_low": [0.45, 0.55, 0.25, 0.75],
            "ci95_high": [0.55, 0.65, 0.35, 0.85],
        }
    )
    lines = bench.target_lines(table)
    # The CNN line stands 25 points above the better of the reference cnn and nn.
    assert lines == pytest.approx(
        {"88 %": 0.88, "svm + 10 points": 0.60, "nn + 25 points (CNN rows)": 0.85}
    )
    assert bench.target_lines(table[table["model"] != "nn"])["cnn + 25 points (CNN rows)"] == (
        pytest.approx(0.55)
    )
    # No CNN row: no target for one, and no line.
    no_cnn_rows = bench.target_lines(table[table["model"] != "cnn_logmel"])
    assert not [label for label in no_cnn_rows if "CNN rows" in label]
    path = tmp_path / "benchmark_accuracy.png"
    bench.plot_table(table, path, "made-up run")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_failed_workflow_ends_with_one_line_not_a_traceback(bench, tmp_path, capfd) -> None:
    # A misspelled model: Snakemake refuses the config and says why; the tool then
    # exits with one line pointing there.
    data = _genres_folder(tmp_path)
    with pytest.raises(SystemExit) as stop:
        bench.main([str(data), "--models", "svm_rihc", "--workdir", str(tmp_path / "run")])
    assert "snakemake exit status 1" in str(stop.value.code)
    assert "svm_rihc" in capfd.readouterr().err


def test_the_default_working_folder_is_named_after_the_dataset(bench, tmp_path) -> None:
    # gtzan_mini/genres and gtzan/genres must not share benchmarks/accuracy/genres.
    def named(*argv):
        return bench.dataset_name(argparse.Namespace(data=Path(argv[0]), lists=argv[1:] or None))

    assert named(tmp_path / "gtzan_mini" / "genres") == "gtzan_mini"
    assert named(tmp_path / "Data" / "genres_original") == "Data"
    assert named(tmp_path / "my_clips") == "my_clips"
    assert named(tmp_path / "gtzan" / "genres", "train.txt", "test.txt") == "gtzan-lists"


def test_a_configfile_may_not_set_the_split_or_models_the_table_reads(
    bench, tmp_path, capsys
) -> None:
    # Layered after the benchmark's settings, a holdout split ran while the table
    # still read the k-fold folds of an earlier run in the same folder.
    holdout = "split: {scheme: holdout, holdout: {test_size: 0.2}}\nrun_models: [gmm]\n"
    path, err = _refused_configfile(bench, tmp_path, capsys, holdout)
    assert (
        f"--configfile {path} sets run_models, split.holdout.test_size, split.scheme, "
        "which this benchmark sets itself" in err
    )
    settings = bench.benchmark_config(
        tmp_path / "genres", ["svm"], workdir=tmp_path, n_splits=10, n_repeats=3, seed=42
    )
    # Other settings pass: a model's params, the threads, the clips' minimum length.
    other = {"models": {"cnn": {"params": {"epochs": 3}}}, "dataset": {"min_duration": 20.0}}
    assert bench.taken_settings(settings, other | {"threads": {"train": 2}}) == []
    assert bench.taken_settings(settings, {"dataset": {"gtzan": {"root": "x"}}}) == [
        "dataset.gtzan.root"
    ]


def test_the_run_settings_file_holds_the_configfiles_too(bench, tmp_path, monkeypatch) -> None:
    # The README reruns a benchmark's jobs with --configfile DIR/benchmark_config.yaml;
    # it held the benchmark's settings only, so a --configfile's params changed and
    # every model they touch retrained.
    data = _genres_folder(tmp_path)
    mine = tmp_path / "mine.yaml"
    mine.write_text("models: {cnn: {params: {epochs: 3}}}\nthreads: {train: 1}\n", encoding="utf-8")
    ran = []

    def run_workflow(workdir, configfiles, cores):
        ran.append(configfiles)
        raise SystemExit(0)

    monkeypatch.setattr(bench, "run_workflow", run_workflow)
    with pytest.raises(SystemExit):
        bench.main([str(data), "--configfile", str(mine), "--workdir", str(tmp_path / "run")])
    written = tmp_path / "run" / "benchmark_config.yaml"
    assert ran == [[written]]
    settings = yaml.safe_load(written.read_text(encoding="utf-8"))
    assert settings["models"]["cnn"]["params"] == {"epochs": 3}
    assert settings["threads"] == {"train": 1}
    assert settings["split"]["scheme"] == "kfold" and settings["run_models"][0] == "svm"
    assert written.read_text(encoding="utf-8").startswith(
        f"# {mine} and this benchmark's settings, merged"
    )


def test_a_configfile_with_a_key_given_twice_is_refused(bench, tmp_path, capsys) -> None:
    # Merged into benchmark_config.yaml, the first of two blocks was dropped unseen.
    path, err = _refused_configfile(
        bench, tmp_path, capsys, "threads: {train: 1}\nthreads: {train: 2}\n"
    )
    assert f"--configfile {path}, line 2: 'threads' is given twice" in err


def test_missing_list_files_are_named_before_the_run(bench, tmp_path, capsys) -> None:
    data = _genres_folder(tmp_path)
    train = tmp_path / "train.txt"
    train.write_text("rock/rock.00000.wav\n", encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        bench.main(
            [str(data), "--lists", str(train), str(tmp_path / "nope.txt")]
            + ["--workdir", str(tmp_path / "run")]
        )
    assert stop.value.code == 2
    assert f"--lists {tmp_path / 'nope.txt'}: no such file" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_folder_without_genre_folders_is_named_as_given(bench, tmp_path, capsys) -> None:
    # The workflow named it relative to the benchmark's working folder (../../../..).
    with pytest.raises(SystemExit) as stop:
        bench.main([str(tmp_path), "--workdir", str(tmp_path / "run")])
    assert stop.value.code == 2
    assert f"dataset folder {tmp_path} holds no genre folder" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_target_missed_by_a_hair_shows_the_digit_that_misses_it(bench) -> None:
    # Folds of 34, 33 and 33 clips, 30, 30 and 28 right: 0.879976, printed "88.0 %"
    # beside MISSED.
    best = pd.Series([30 / 34, 30 / 33, 28 / 33]).mean()
    table = pd.DataFrame({"model": ["svm", "svm_segments"], "accuracy": [0.5, best]})
    ((_, measured, holds),) = bench.check_targets(table)
    assert holds is False
    assert measured.startswith("svm_segments 87.998 % (+38.0 vs svm;"), measured
    table.loc[1, "accuracy"] = 0.88  # met: one decimal, as before
    assert bench.check_targets(table)[0][1].startswith("svm_segments 88.0 % (")
    assert bench._beside(float("nan"), 0.88) == "n/a"  # no float("n/a")


def test_the_interval_of_a_difference_stays_within_100_points(bench, tmp_path) -> None:
    # Two folds far apart: the t interval of the difference reached -152 and +200 points.
    _write_split(tmp_path, [0, 1])
    for fold, (svm, gmm) in enumerate([(2, 10), (9, 0)]):
        _write_fold(tmp_path, "svm", fold, svm)
        _write_fold(tmp_path, "gmm", fold, gmm)
    summary = pd.DataFrame(
        {"model": ["svm", "gmm"], "feature_set": "stats", "fit_seconds": 1.0}
        | {"test_accuracy": 0.5}
    )
    summary.to_csv(tmp_path / "results" / "summary.csv", index=False)
    row = bench.accuracy_table(tmp_path, ["svm", "gmm"]).set_index("model").loc["gmm"]
    assert row["difference_ci95_low"] == -1.0 and row["difference_ci95_high"] == 1.0


def test_a_workdir_that_is_a_file_is_a_usage_error(bench, tmp_path, capsys) -> None:
    data, file = _genres_folder(tmp_path), tmp_path / "notes.yaml"
    file.write_text("", encoding="utf-8")
    with pytest.raises(SystemExit) as stop:
        bench.main([str(data), "--workdir", str(file)])
    assert stop.value.code == 2
    assert f"--workdir {file}: a file, not a folder" in capsys.readouterr().err


def _stderr_before_running(bench, tmp_path, monkeypatch, capsys, configfile, text) -> str:
    """What benchmark_accuracy says about ``--configfile configfile`` (holding ``text``)
    before it would run the workflow."""
    configfile.write_text(text, encoding="utf-8")

    def run_workflow(workdir, configfiles, cores):
        raise SystemExit(0)

    monkeypatch.setattr(bench, "run_workflow", run_workflow)
    data = _genres_folder(tmp_path)
    with pytest.raises(SystemExit):
        bench.main([str(data), "--configfile", str(configfile), "--workdir", str(tmp_path / "run")])
    return capsys.readouterr().err


def test_a_configfile_changing_a_reference_model_is_said(bench, tmp_path, monkeypatch, capsys):
    # models.svm.params.C: 10 moved the reference svm from 37.9 to 43.9 % unseen, and every
    # "vs svm" with it.
    mine = tmp_path / "mine.yaml"
    err = _stderr_before_running(
        bench,
        tmp_path,
        monkeypatch,
        capsys,
        mine,
        "models: {svm: {params: {C: 10}}, cnn_logmel: {params: {epochs: 3}}}\n"
        "preprocess: {pca_components: 50}\nthreads: {train: 1}\n",
    )
    assert (
        f"note: --configfile {mine} changes the reference models' settings "
        "(models.svm.params.C, preprocess.pca_components): not every row named gmm, svm, "
        "nn or cnn is the study's" in err
    ), err


def test_a_configfile_cropping_the_clips_is_said(bench, tmp_path, monkeypatch, capsys):
    # dataset.max_duration: 10 cuts the seed87 stack the reference models read to a third
    # of its frames (the rest padding), yet passed without the note; the model seed and
    # min_duration (which clips count) leave the reference models what they are.
    mine = tmp_path / "mine.yaml"
    text = "dataset: {max_duration: 10.0, min_duration: 5.0}\nseed: 7\n"
    err = _stderr_before_running(bench, tmp_path, monkeypatch, capsys, mine, text)
    assert "changes the reference models' settings (dataset.max_duration):" in err, err


def test_a_model_named_twice_is_refused_in_the_options_words(bench, tmp_path, capsys) -> None:
    # The workflow refused it as "run_models", a setting the user never typed.
    with pytest.raises(SystemExit) as stop:
        bench.main(
            [str(_genres_folder(tmp_path)), "--models", "gmm", "svm_stats", "gmm"]
            + ["--workdir", str(tmp_path / "run")]
        )
    assert stop.value.code == 2
    assert "--models names gmm more than once" in capsys.readouterr().err
