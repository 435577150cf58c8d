"""End-to-end: the real Snakemake workflow on the tiny generated dataset, what a changed
setting reruns, and the jobs it plans (marked slow; CI runs them). Other datasets:
tests/test_workflow_data.py."""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import itertools
import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import (
    PROJECT_ROOT,
    TINY_CONFIG,
    planned_job_details,
    planned_jobs,
    run_workflow,
    snakemake_command,
    write_config,
)

TINY_EXTRA = PROJECT_ROOT / "tests" / "configs" / "tiny_extra.yaml"

pytestmark = pytest.mark.slow

SUMMARY_COLUMNS = [
    "model",
    "dataset",
    "split",
    "feature_set",
    "n_train",
    "n_test",
    "train_accuracy",
    "test_accuracy",
    "fit_seconds",
    "reference_test_accuracy",
]


def test_tiny_run_writes_summary_with_reference_models(tiny_run):
    summary = pd.read_csv(tiny_run / "results" / "summary.csv")
    for column in SUMMARY_COLUMNS:
        assert column in summary.columns
    reference_models = ["gmm", "svm", "nn", "cnn"]
    assert list(summary["model"]) == [*reference_models, "svm_stats", "svm_segments"]
    reference = summary.set_index("model")["reference_test_accuracy"]
    assert reference[reference_models].tolist() == [0.71, 0.74, 0.50, 0.35]
    assert reference[["svm_stats", "svm_segments"]].isna().all()
    assert (summary["dataset"] == "synthetic").all()
    assert (summary["n_test"] == 16).all() and (summary["n_train"] == 64).all()
    assert summary["test_accuracy"].between(0, 1).all()
    assert summary["train_accuracy"].between(0, 1).all()
    # The evaluation outputs of every model exist, the confusion matrix counts every test clip.
    for model in summary["model"]:
        metrics = tiny_run / "results" / "metrics" / model
        confusion = pd.read_csv(metrics / "holdout_confusion.csv", index_col=0)
        assert confusion.to_numpy().sum() == 16
        per_genre = (metrics / "holdout_per_genre.csv").read_text(encoding="utf-8").splitlines()
        assert per_genre[0] == "genre,precision,recall,f1,support,predicted"
        for column in (-2, -1):  # counts: 2, not 2.0000, of the clips and of the answers
            assert sum(int(line.split(",")[column]) for line in per_genre[1:]) == 16
        assert (metrics / "holdout_confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        predictions = pd.read_csv(
            tiny_run / "results" / "models" / model / "holdout" / "fold0" / "predictions.tsv",
            sep="\t",
        )
        assert (predictions["subset"] == "test").sum() == 16
        # The fold bundle records how its audio was read, for genrepipe-predict.
        fold_model = tiny_run / "results" / "models" / model / "holdout" / "fold0" / "model"
        card = json.loads((fold_model / "card.json").read_text(encoding="utf-8"))
        assert (card["sample_rate"], card["max_duration"]) == (22050, 4.0)
    # One cached file per track; stats is extracted though no model reads it.
    assert len(list((tiny_run / "results" / "features" / "seed87").glob("*/*.npy"))) == 80
    assert (tiny_run / "results" / "features" / "stats.parquet").is_file()


def test_fold_bundles_link_their_folds_transform(tiny_run):
    # Written anew into each model's bundle, a fold's PCA cost 26 GB over GTZAN's folds.
    fold = tiny_run / "results" / "preprocessed" / "seed87-pca" / "holdout" / "fold0"
    for model in ("gmm", "svm", "nn"):
        bundle = tiny_run / "results" / "models" / model / "holdout" / "fold0" / "model"
        assert os.path.samefile(bundle / "transform.skops", fold / "transform.skops"), model


def test_same_config_gives_same_summary_on_any_number_of_cores(tiny_run, tmp_path):
    """A second run from nothing repeats every probability, on one core where the tiny run
    had two. Of the tiny run's models only nn's training job asks for `threads.train`
    cores (the others, and the scaler and PCA, take one under either count): --cores 1
    grants it one, and TensorFlow's thread count must come from the config, not the
    grant."""
    assert yaml.safe_load(TINY_CONFIG.read_text(encoding="utf-8"))["threads"]["train"] > 1
    # Up to the summary only: the final models do not feed it.
    run_workflow(tmp_path, TINY_CONFIG, extra=["results/summary.csv"], cores=1)
    first = pd.read_csv(tiny_run / "results" / "summary.csv").drop(columns="fit_seconds")
    second = pd.read_csv(tmp_path / "results" / "summary.csv").drop(columns="fit_seconds")
    pd.testing.assert_frame_equal(first, second)
    assert {"svm", "gmm", "nn", "cnn", "svm_stats", "svm_segments"} <= set(first["model"])
    # The summary rounds accuracies on 16 clips: every probability must repeat too.
    for model in first["model"]:
        table = f"results/models/{model}/holdout/fold0/predictions.tsv"
        same = (tiny_run / table).read_bytes() == (tmp_path / table).read_bytes()
        assert same, f"{model}: other probabilities with --cores 1 than with --cores 2"


def test_changing_a_model_setting_reruns_only_that_model(tiny_run, tmp_path):
    override = write_config(tmp_path / "svm_c.yaml", {"models": {"svm": {"params": {"C": 10.0}}}})
    jobs = planned_jobs(tiny_run, TINY_CONFIG, override)
    rules = sorted(rule for rule, _ in jobs)
    # The svm's fold model and final model, its evaluation and card, and what reads every model.
    assert rules == [
        "all",
        "evaluate_model",
        "plot_results",
        "record_run",
        "summarize_results",
        "train_final_model",
        "train_model",
        "write_model_card",
    ]
    for rule, wildcards in jobs:
        if rule in ("train_model", "evaluate_model", "train_final_model", "write_model_card"):
            # Exactly svm: "model=svm" is also the start of svm_stats and svm_segments.
            assert re.search(r"model=([^,\s]+)", wildcards).group(1) == "svm", wildcards


def test_the_readmes_python_example_runs_in_a_finished_run(tiny_run, tmp_path, monkeypatch, capsys):
    # The README's "From Python" block, as written, in a folder holding the tiny run's results
    # and a clip of it as my_audio/song.wav: a renamed function or argument fails it here.
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n### From Python\n", 1)[1].split("\n## ", 1)[0]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "results").symlink_to(tiny_run / "results")
    (tmp_path / "my_audio").mkdir()
    clip = tiny_run / "results" / "synthetic" / "genres" / "jazz" / "jazz.00000.wav"
    shutil.copy(clip, tmp_path / "my_audio" / "song.wav")
    monkeypatch.chdir(tmp_path)

    namespace: dict = {}
    exec(compile(example, "README.md, From Python", "exec"), namespace)

    classifier, result = namespace["classifier"], namespace["result"]
    printed = capsys.readouterr().out.splitlines()
    top = ast.literal_eval(printed[0])
    assert 0.0 <= float(printed[-1]) <= 1.0  # the model of one's own's test accuracy
    assert [genre for genre, _ in top] == [genre for genre, _ in classifier.top(result.proba)]
    assert len(top) == 3 and set(dict(top)) <= set(classifier.classes)
    np.testing.assert_allclose(namespace["proba"], result.proba, rtol=1e-6)
    # The model of one's own saw the split's training clips with their genres, no test clip.
    train, test = namespace["train"], namespace["test"]
    assert list(namespace["genres_train"]) == list(train["genre"])
    assert list(namespace["genres_test"]) == list(test["genre"])
    assert len(namespace["X_train"]) == len(train) and len(namespace["X_test"]) == len(test)
    assert set(train["subset"]) == {"train"} and set(test["subset"]) == {"test"} and len(test)


def test_every_final_bundle_built_gets_its_card(tiny_run, tmp_path):
    """An ensemble's member outside run_models has a final bundle (the ensemble's holds
    a copy): it had no card, or kept the card of its earlier settings beside a new model."""
    ensemble = {"estimator": "ensemble", "members": ["svm", "logreg_stats"]}
    override = write_config(
        tmp_path / "ensemble.yaml",
        {"run_models": ["svm", "svm_logreg"], "models": {"svm_logreg": ensemble}},
    )
    jobs = planned_jobs(tiny_run, TINY_CONFIG, override)
    finals = sorted(w for rule, w in jobs if rule == "train_final_model")
    cards = sorted(w for rule, w in jobs if rule == "write_model_card")
    assert finals == ["model=logreg_stats"]
    assert cards == ["model=logreg_stats", "model=svm_logreg"]


def test_a_dry_run_says_why_the_run_record_reruns_in_one_short_line(tiny_run, tmp_path):
    # Its param was the whole config: every changed setting printed two copies of it,
    # 15 KB on one line, as the reason record_run would rerun.
    # A model the run does not use: the run's record is all that reruns.
    unused = {"models": {"logreg_rich": {"search": {"inner_folds": 4}}}}
    override = write_config(tmp_path / "unused.yaml", unused)
    result = run_workflow(tiny_run, TINY_CONFIG, override, extra=["--dry-run"])
    output = result.stdout + result.stderr
    record = output[output.index("rule record_run:") :].split("rule all:")[0]
    (reason,) = [line for line in record.splitlines() if "reason:" in line]
    assert "Params have changed" in reason and len(reason) < 400, reason[:400]


def test_changing_the_pca_size_reruns_only_the_pca_models(tiny_run, tmp_path):
    # svm_stats and svm_segments read standardized features: no PCA, nothing to redo.
    override = write_config(tmp_path / "pca.yaml", {"preprocess": {"pca_components": 10}})
    jobs = planned_jobs(tiny_run, TINY_CONFIG, override)
    refitted = {wildcards for rule, wildcards in jobs if rule == "fit_preprocessing"}
    assert refitted == {"feature_set=seed87, preprocessing=pca, scheme=holdout, fold=0"}
    # One final PCA for the three final models: each refitted the same one of its own.
    final = [wildcards for rule, wildcards in jobs if rule == "fit_final_preprocessing"]
    assert final == ["feature_set=seed87, preprocessing=pca"]
    for rule in ("train_model", "train_final_model", "evaluate_model", "write_model_card"):
        models = sorted(w.split("model=")[1].split(",")[0] for r, w in jobs if r == rule)
        assert models == ["gmm", "nn", "svm"], rule


def test_changing_min_duration_rechecks_the_audio_but_reextracts_nothing(tiny_run, tmp_path):
    # Which clips are long enough can change, so the track list and all after it are redone;
    # the cached per-track features cannot.
    override = write_config(tmp_path / "min.yaml", {"dataset": {"min_duration": 1.5}})
    rules = {rule for rule, _ in planned_jobs(tiny_run, TINY_CONFIG, override)}
    assert {"check_audio_batch0000", "list_tracks", "merge_features", "train_model"} <= rules
    assert not [rule for rule in rules if rule.startswith("extract_features")]


def test_changing_the_training_threads_reruns_only_the_tensorflow_models(tiny_run, tmp_path):
    # TensorFlow's results depend on its thread count; the GMM's and libsvm's do not
    # (logistic regression's do: tests/test_workflow_extra.py), and the reference cnn
    # trains on one thread whatever the count.
    override = write_config(tmp_path / "threads.yaml", {"threads": {"train": 1}})
    jobs = planned_jobs(tiny_run, TINY_CONFIG, override)
    for rule in ("train_model", "train_final_model", "evaluate_model", "write_model_card"):
        models = sorted(w.split("model=")[1].split(",")[0] for r, w in jobs if r == rule)
        assert models == ["nn"], rule
    assert not [rule for rule, _ in jobs if rule.startswith(("extract", "fit_preprocessing"))]


def test_changing_the_seed_refits_no_preprocessing(tiny_run, tmp_path):
    # Scalers and the exact-SVD PCA draw no random number: a new seed retrains the
    # models on the same features instead of refitting every fold's transform.
    override = write_config(tmp_path / "seed.yaml", {"seed": 7})
    jobs = planned_jobs(tiny_run, TINY_CONFIG, override)
    rules = {rule for rule, _ in jobs}
    assert "fit_preprocessing" not in rules and "fit_final_preprocessing" not in rules
    assert {"train_model", "train_final_model"} <= rules


def test_a_seed_taking_the_place_of_the_fold_or_thread_count_still_retrains(tiny_run, tmp_path):
    """Snakemake compares a job's params as a set of values, names left out: nn's fold 0
    trained with seed 0 on one thread recorded {0, 1}, and seed 1 gave {0, 1} again, so
    the fold kept its seed-0 model while the final model and its card took seed 1. On
    the tiny run's two threads, seeds 0 and 2 both give {0, 2}."""
    threads = yaml.safe_load(TINY_CONFIG.read_text(encoding="utf-8"))["threads"]["train"]
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    seed0 = write_config(tmp_path / "seed0.yaml", {"seed": 0})
    nn_fold = "results/models/nn/holdout/fold0/model"
    # The target first: --forcerun takes every value after it, and a target there
    # becomes another name to force, leaving the default target (every model) to run.
    run_workflow(workdir, TINY_CONFIG, seed0, extra=[nn_fold, "--forcerun", "train_model"])
    card = json.loads((workdir / nn_fold / "card.json").read_text(encoding="utf-8"))
    assert card["seed"] == 0  # fold 0, seed 0, `threads` threads: the values {0, threads}
    other_seed = write_config(tmp_path / "other_seed.yaml", {"seed": threads})
    jobs = planned_jobs(workdir, TINY_CONFIG, other_seed)
    retrained = [w for rule, w in jobs if rule == "train_model" and w.startswith("model=nn,")]
    assert retrained == ["model=nn, scheme=holdout, fold=0"], jobs


def test_training_jobs_start_first_among_the_jobs_ready(tmp_path):
    """The CNNs train for minutes, every other job for seconds: started after the
    remaining extractions and small fits, the reference CNN's fold model ended the
    default run alone. Training jobs come first; the CNNs' inputs are ready first."""
    result = run_workflow(tmp_path, TINY_CONFIG, extra=["--dry-run"])
    first, job = set(), None
    for line in (result.stdout + result.stderr).splitlines():
        line = line.strip()
        if match := re.match(r"^(?:local)?rule (\S+):$", line):
            job = (match.group(1), "")
        elif job and line.startswith("wildcards:"):
            job = (job[0], line.removeprefix("wildcards:").strip())
        elif job and line == "priority: 1":  # a job of priority 0 prints none
            first.add(job)
    trainings = {job for job in planned_jobs(tmp_path, TINY_CONFIG) if job[0].startswith("train_")}
    assert ("train_model", "model=cnn, scheme=holdout, fold=0") in trainings
    assert first == trainings


def test_changing_a_feature_setting_reextracts_only_that_set(tiny_run, tmp_path):
    # A window longer than any other set's, too: 2 s clips hold it, so no clip is rechecked.
    stats = {"n_mfcc": 13, "n_fft": 4096}
    override = write_config(tmp_path / "stats.yaml", {"features": {"stats": stats}})
    jobs = planned_jobs(tiny_run, TINY_CONFIG, override)
    extracted = {wildcards for rule, wildcards in jobs if rule.startswith("extract_features")}
    assert extracted == {"feature_set=stats"}
    assert {rule for rule, _ in jobs} == {
        "extract_features_batch0000",
        "extract_features_batch0001",
        "merge_features",
        # svm_stats reads stats: its preprocessing (fold and final), fold and final models,
        # evaluation and card
        "fit_preprocessing",
        "fit_final_preprocessing",
        "train_model",
        "train_final_model",
        "evaluate_model",
        "write_model_card",
        # what reads every model or the stats map
        "summarize_results",
        "plot_results",
        "record_run",
        "all",
    }
    for rule, wildcards in jobs:
        if rule in ("train_model", "train_final_model", "evaluate_model", "write_model_card"):
            assert "model=svm_stats" in wildcards
        if rule in ("fit_preprocessing", "fit_final_preprocessing"):
            assert "feature_set=stats" in wildcards


def test_a_new_librosa_release_reextracts_every_feature_set(tiny_run, tmp_path, monkeypatch):
    # Features cached by another release may be computed differently: without the
    # release as a param, a run after an upgrade merged old and new tracks' features into
    # one table. Its release is what Snakemake's environment reports: a metadata folder
    # early on PYTHONPATH stands in for an upgrade, the real librosa still imported.
    from genrepipe.config import release

    major, minor = release(importlib.metadata.version("librosa")).split(".")

    def plan_with_librosa(version: str) -> list[dict[str, str]]:
        info = tmp_path / version / f"librosa-{version}.dist-info"
        info.mkdir(parents=True)
        metadata = f"Metadata-Version: 2.1\nName: librosa\nVersion: {version}\n"
        (info / "METADATA").write_text(metadata, encoding="utf-8")
        path = [str(info.parent), *filter(None, [os.environ.get("PYTHONPATH")])]
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
        return planned_job_details(tiny_run, TINY_CONFIG)

    # A patch release computes the same features: nothing to redo.
    assert plan_with_librosa(f"{major}.{minor}.999") == []
    newer = f"{major}.{int(minor) + 1}"
    jobs = plan_with_librosa(f"{newer}.0")
    extracted = [job for job in jobs if job["rule"].startswith("extract_features")]
    batches = {job["rule"] for job in extracted}
    feature_sets = sorted({job["wildcards"] for job in extracted})
    assert len(batches) == 2 and len(feature_sets) >= 3, extracted
    assert len(extracted) == len(batches) * len(feature_sets)  # every batch of every set
    for job in extracted:  # the reason names the library, not a bare number
        assert f"now: {{'librosa': '{newer}'}}" in job["reason"], job["reason"]
    merged = sorted(job["wildcards"] for job in jobs if job["rule"] == "merge_features")
    assert merged == feature_sets
    # and all that reads features, but neither the clips nor their check
    rules = {job["rule"] for job in jobs}
    assert {"train_model", "train_final_model", "summarize_results"} <= rules
    assert not [rule for rule in rules if rule.startswith(("generate", "check"))]


def test_changing_the_split_seed_resplits_but_reextracts_nothing(tiny_run, tmp_path):
    # make_split's settings are its param: read from the config by the script instead,
    # a new seed reran nothing and every model kept the old split's folds.
    override = write_config(tmp_path / "split.yaml", {"split": {"holdout": {"seed": 43}}})
    rules = {rule for rule, _ in planned_jobs(tiny_run, TINY_CONFIG, override)}
    assert {"make_split", "fit_preprocessing", "train_model", "summarize_results"} <= rules
    assert not [rule for rule in rules if rule.startswith(("generate", "check", "extract"))]


def test_changing_the_synthetic_seed_regenerates_the_clips(tiny_run, tmp_path):
    # The model cards record the dataset's settings: a seed that regenerated nothing
    # left cards naming seed 8 on models of the seed-7 clips.
    override = write_config(tmp_path / "synth.yaml", {"dataset": {"synthetic": {"seed": 8}}})
    rules = {rule for rule, _ in planned_jobs(tiny_run, TINY_CONFIG, override)}
    assert {"generate_synthetic_batch0000", "generate_synthetic_batch0001"} <= rules
    assert {"check_audio_batch0000", "train_model", "write_model_card"} <= rules


def test_changing_a_reference_accuracy_rewrites_only_the_summary(tiny_run, tmp_path):
    # The reference accuracies are summarize_results' param, and no model's: the
    # summary must show the new one, and no model retrains for it.
    override = write_config(
        tmp_path / "reference.yaml", {"models": {"svm": {"reference_test_accuracy": 0.5}}}
    )
    rules = {rule for rule, _ in planned_jobs(tiny_run, TINY_CONFIG, override)}
    assert rules == {"summarize_results", "plot_results", "record_run", "all"}


def test_each_folds_preprocessing_is_fitted_on_that_folds_training_tracks(tiny_run, tmp_path):
    """The holdout split has one fold, so a fold number lost on the way to the script
    (every fold fitting fold 0's transform) showed nowhere: with k folds, fold 1's
    scaler learnt from fold 0's training tracks, among them fold 1's test tracks."""
    from genrepipe.feature_table import read_feature_table
    from genrepipe.models import load_model

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, symlinks=True)  # its features: only the fits run
    kfold = write_config(
        tmp_path / "kfold.yaml", {"split": {"scheme": "kfold", "kfold": {"n_splits": 3}}}
    )
    folder = "results/preprocessed/stats-scaled/kfold/fold{}/transform.skops"
    run_workflow(run, TINY_CONFIG, kfold, extra=[folder.format(1), folder.format(2)])
    split = pd.read_csv(run / "results" / "splits" / "kfold.tsv", sep="\t")
    for fold in (1, 2):
        train = split[(split["fold"] == fold) & (split["subset"] == "train")]["track"]
        _, _, X = read_feature_table(run / "results" / "features" / "stats.parquet", list(train))
        scaler = load_model(run / folder.format(fold))  # "scaled": a StandardScaler
        assert scaler.n_samples_seen_ == len(train), fold
        np.testing.assert_allclose(scaler.mean_, X.mean(axis=0), rtol=1e-6, atol=1e-9)


def test_nothing_to_do_after_a_complete_run(tiny_run):
    assert planned_jobs(tiny_run, TINY_CONFIG) == []


@pytest.mark.parametrize(
    "lost, first_rules",
    [
        ("results/splits/holdout.tsv", {"make_split", "fit_preprocessing", "train_model"}),
        ("results/features/segment_stats.parquet", {"merge_features", "train_model"}),
        ("results/models/svm/holdout/fold0/predictions.tsv", {"train_model", "evaluate_model"}),
    ],
)
def test_a_lost_intermediate_is_made_again_with_what_reads_it(
    tiny_run, tmp_path, lost, first_rules
):
    """A job that fails on a rerun for a changed setting (killed, out of memory, a
    cluster's time limit) loses its outputs, and Snakemake skips a missing file whose
    readers look up to date: the next run had nothing to do and kept the old results
    in the summary (or fold models of two settings). A lost file is the same state."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, symlinks=True)  # file times and metadata kept
    (run / lost).unlink()
    planned = {rule for rule, _ in planned_jobs(run, TINY_CONFIG)}
    assert first_rules | {"summarize_results", "record_run"} <= planned, planned


def _copy_checkout(folder: Path) -> Path:
    """The workflow's files (Snakefile, rules, scripts, config, package) copied to ``folder``."""
    shutil.copytree(
        PROJECT_ROOT,
        folder,
        ignore=shutil.ignore_patterns(
            ".*", "results", "logs", "benchmarks", "tests", "docs", "*.egg-info", "__pycache__"
        ),
    )
    return folder


def test_a_moved_checkout_reruns_nothing_and_records_its_revision(tiny_run, tmp_path):
    """No job's params hold the checkout's path: the same workflow elsewhere finds the
    results up to date. The history entry still names the commit it ran."""
    moved = _copy_checkout(tmp_path / "elsewhere")
    command = snakemake_command(tiny_run, TINY_CONFIG, extra=["--dry-run"])
    command[command.index("--snakefile") + 1] = str(moved / "Snakefile")
    result = subprocess.run(command, capture_output=True, text=True, cwd=tiny_run)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout[-4000:]
    head = subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    history = tiny_run / "results" / "history"
    entry = history / (history / "latest.txt").read_text(encoding="utf-8").strip()
    recorded = json.loads((entry / "run.json").read_text(encoding="utf-8"))
    assert recorded["git_revision"] == (head.stdout.strip() if head.returncode == 0 else "unknown")
    # And the track list and split it ran on, which no setting names (a split's lists).
    results = tiny_run / "results"
    assert recorded["inputs"] == {
        "tracks": hashlib.sha256((results / "tracks.tsv").read_bytes()).hexdigest(),
        "split": hashlib.sha256((results / "splits" / "holdout.tsv").read_bytes()).hexdigest(),
    }


def test_config_yaml_edited_into_another_key_order_reruns_nothing(tiny_run, tmp_path):
    """The canonical key order of the jobs' params comes from the schema, not from the
    config/config.yaml a user edits: its lines swapped (a feature set's n_fft and
    hop_length, a search's folds below its grid) re-extracted and retrained everything
    they touched."""
    copy = _copy_checkout(tmp_path / "checkout")
    defaults = copy / "config" / "config.yaml"
    text = defaults.read_text(encoding="utf-8")
    for before, after in [
        (
            "  stats:    # mean and std of frame features: a compact vector for classic models\n"
            "    n_fft: 2048\n    hop_length: 512\n",
            "  stats:\n    hop_length: 512\n    n_fft: 2048\n",
        ),
        ("    window: 3.0\n    n_windows: 10\n", "    n_windows: 10\n    window: 3.0\n"),
        (
            "    search:\n      inner_folds: 3\n      param_grid:\n"
            "        C: [1.0, 10.0, 100.0]\n        gamma: [scale, 0.001, 0.01]\n",
            "    search:\n      param_grid:\n"
            "        C: [1.0, 10.0, 100.0]\n        gamma: [scale, 0.001, 0.01]\n"
            "      inner_folds: 3\n",
        ),
    ]:
        assert text.count(before) == 1, before
        text = text.replace(before, after)
    defaults.write_text(text, encoding="utf-8")
    command = snakemake_command(tiny_run, TINY_CONFIG, extra=["--dry-run"])
    command[command.index("--snakefile") + 1] = str(copy / "Snakefile")
    result = subprocess.run(command, capture_output=True, text=True, cwd=tiny_run)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Nothing to be done" in result.stdout + result.stderr, result.stdout[-4000:]


def test_the_same_settings_in_another_key_order_rerun_nothing(tiny_run):
    """Snakemake compares params as text, and a --config merge puts the keys it names
    first: the README's way of changing one setting must not retrain for unchanged ones."""
    same = ["models={svm: {params: {gamma: scale, C: 1.0}}}", "split={holdout: {seed: 42}}"]
    assert planned_jobs(tiny_run, TINY_CONFIG, extra=["--config", *same]) == []
    changed = planned_jobs(
        tiny_run, TINY_CONFIG, extra=["--config", "models={svm: {params: {C: 2.0}}}"]
    )
    assert {wildcards for rule, wildcards in changed if rule == "train_model"} == {
        "model=svm, scheme=holdout, fold=0"
    }


def test_snakemake_lint_finds_nothing(tmp_path):
    """The standards' `snakemake --lint` stays clean (a folder param hard-coding the
    download's output prefix slipped through unnoticed)."""
    command = snakemake_command(tmp_path, TINY_CONFIG, extra=["--lint"])
    result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_scripts_take_their_settings_from_params_not_the_config():
    """A setting a script reads from snakemake.config is no param of its job: changing
    it reruns nothing. record_run alone reads the config, whose hash is its param."""
    for path in sorted((PROJECT_ROOT / "workflow" / "scripts").glob("*.py")):
        if path.name == "record_run.py":
            continue
        reads = [
            node.lineno
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Attribute)
            and node.attr == "config"
            and isinstance(node.value, ast.Name)
            and node.value.id == "snakemake"
        ]
        assert not reads, f"{path.name} reads snakemake.config on line(s) {reads}"


@pytest.fixture(scope="module")
def kfold_plan(tmp_path_factory) -> list[dict[str, str]]:
    """Every job of a fresh 3-fold run with an ensemble, as a dry run plans it."""
    workdir = tmp_path_factory.mktemp("kfold_plan")
    settings = {
        "split": {"scheme": "kfold", "kfold": {"n_splits": 3}},
        "models": {"svm_nn": {"estimator": "ensemble", "members": ["svm", "nn"]}},
        "run_models": ["svm", "svm_stats", "cnn", "svm_nn"],
    }
    return planned_job_details(workdir, TINY_CONFIG, write_config(workdir / "k.yaml", settings))


def test_every_fold_job_reads_and_writes_its_own_fold_only(kfold_plan):
    # One fold in the tiny run: a fold wildcard swapped or fixed (an ensemble of fold 2
    # averaging its members' fold-0 predictions, a fold model reading another fold's
    # preprocessing) mixed test tracks into training unseen.
    fold_jobs = [job for job in kfold_plan if "fold=" in job.get("wildcards", "")]
    assert {job["rule"] for job in fold_jobs} == {"fit_preprocessing", "train_model"}
    # Per fold: the seed87 PCA and the stats scaling; svm, nn, svm_stats, cnn and svm_nn.
    assert len(fold_jobs) == 3 * 7
    for job in fold_jobs:
        fold = re.search(r"fold=(\d+)", job["wildcards"]).group(1)
        for path in job["input"].split(", ") + job["output"].split(", "):
            if "results/splits/" not in path and "results/features/" not in path:
                assert f"/fold{fold}/" in path, (job["rule"], job["wildcards"], path)


def test_every_job_has_one_log_and_one_benchmark(kfold_plan):
    # The standards: a job's messages and its time and memory, each in a file of its own.
    rules = {job["rule"] for job in kfold_plan}
    assert {"generate_synthetic_batch0000", "combine_final_ensemble", "record_run"} <= rules
    for job in kfold_plan:
        if job["rule"] != "all":
            assert "," not in job.get("log", ","), (job["rule"], job.get("log"))
            assert "," not in job.get("benchmark", ","), (job["rule"], job.get("benchmark"))


def test_cluster_jobs_name_real_rules_ask_no_gpu_and_sum_no_chain(tmp_path):
    """The profiles' set-resources name rules of the workflow (a renamed rule would
    silently lose its memory and time), and keep training on CPUs: the project installs
    tensorflow-cpu, and a GPU request was refused by CPU partitions or idled a GPU."""
    listed = run_workflow(tmp_path, TINY_CONFIG, extra=["--list-rules"], cores=None)
    rules = set(listed.stdout.split())
    for profile in ("slurm", "kubernetes"):
        settings = yaml.safe_load(
            (PROJECT_ROOT / "profiles" / profile / "config.yaml").read_text(encoding="utf-8")
        )
        assert set(settings["set-resources"]) <= rules, profile
    # On a cluster, jobs of one group that depend on each other form one cluster job
    # with their resources summed, run one after another by the SLURM plugin: the
    # generated clips' batch made one with its check and extractions (4 CPUs held for
    # one busy). Now no per-batch job reads another's output: without
    # --group-components, each is a cluster job of its own.
    cluster = ["--executor", "cluster-generic", "--cluster-generic-submit-cmd", "true"]
    result = run_workflow(tmp_path, TINY_CONFIG, extra=[*cluster, "--jobs", "2", "--dry-run"])
    groups = result.stdout.split("Group job ")[1:]
    assert len(groups) >= 4  # the tiny run's batches' checks and extractions
    for group in groups:
        body = itertools.takewhile(
            lambda line: not line or line[0].isspace(), group.split("\n")[1:]
        )
        assert len([line for line in body if re.match(r"^\s+rule ", line)]) == 1, group
    # The SLURM profile's resources as its executor gets them (the local one plans alike).
    override = write_config(tmp_path / "override.yaml", {"run_models": ["cnn", "svm"]})
    extra = ["--profile", str(PROJECT_ROOT / "profiles" / "slurm"), "--executor", "local"]
    result = run_workflow(tmp_path, TINY_CONFIG, override, extra=[*extra, "--dry-run"])
    memory, gpu, rule, model = {}, {}, None, None
    for line in result.stdout.splitlines():
        line = line.strip()
        if match := re.match(r"^(?:local)?rule (\S+):$", line):
            rule, model = match.group(1), None
        elif line.startswith("wildcards:") and (found := re.search(r"model=([^,\s]+)", line)):
            model = found.group(1)
        elif line.startswith("resources:") and rule in ("train_model", "train_final_model"):
            # "name=value, name=value": a value may hold commas (slurm_extra), never ", name=".
            items = re.split(r", (?=\w+=)", line[len("resources:") :].strip())
            resources = dict(item.split("=", 1) for item in items)
            memory[rule, model], gpu[rule, model] = resources.get("mem_mb"), resources.get("gpu")
    # The memory is the rules' own (a profile's 8000 for every job reserved 8 GB for SVMs).
    # (The profile's own values: test_a_job_retried_after_a_kill_asks_for_more_memory.)
    assert memory == {
        (rule, model): size
        for rule in ("train_model", "train_final_model")
        for model, size in (("cnn", "4000"), ("svm", "1500"))
    }
    if "<TBD>" in gpu.values():
        # Snakemake 9.11 leaves it unevaluated in a dry run (the README, Dependency versions).
        version = importlib.metadata.version("snakemake")
        pytest.skip(f"Snakemake {version} prints the gpu request as <TBD> in a dry run")
    assert gpu == dict.fromkeys(memory)


def test_training_jobs_ask_for_cores_a_gpu_and_memory_by_estimator_not_by_name(tmp_path):
    """A cluster executor requests the `gpu` resource: CNN models get one whatever
    they are called, and a model named like a CNN that is none gets none. Cores:
    `threads.train` where the fit uses them, one for the others and the reference cnn.
    Memory: 4000 MB for a job holding a matrix set's values whole (a CNN's images, a
    matrix set scaled), 1500 for one reading a PCA's components or vectors (asking all
    for 4000 ran two SVMs side by side under --resources mem_mb=8000 where eight fit)."""
    defaults = yaml.safe_load(
        (PROJECT_ROOT / "config" / "config.yaml").read_text(encoding="utf-8")
    )["models"]
    override = write_config(
        tmp_path / "override.yaml",
        {
            "models": {
                "convnet": defaults["cnn"],
                "cnn_named_svm": defaults["svm"],
                "svm_scaled": defaults["svm"] | {"input": "scaled"},
            },
            # tiny_extra's: a window CNN's head (and so the CNN) and an ensemble of
            # svm_rich and cnn_logmel
            "run_models": [
                *("convnet", "cnn_named_svm", "svm_stats", "nn", "svm_scaled"),
                *("cnn_svm", "ensemble"),
            ],
            "final_models": True,
            "threads": {"train": 2},
        },
    )
    result = run_workflow(tmp_path, TINY_CONFIG, TINY_EXTRA, override, extra=["--dry-run"])
    requests, rule, model, threads = {}, None, None, 1
    for line in (result.stdout + result.stderr).splitlines():
        line = line.strip()
        if match := re.match(r"^(?:local)?rule (\S+):$", line):
            rule, model, threads = match.group(1), None, 1
        elif line.startswith("wildcards:") and (found := re.search(r"model=([^,\s]+)", line)):
            model = found.group(1)
        elif line.startswith("threads:"):  # printed for more than one
            threads = int(line.split()[1])
        elif line.startswith("wildcards:") and (found := re.search(r"feature_set=(\S+),", line)):
            model = found.group(1) + "-" + re.search(r"preprocessing=(\w+)", line).group(1)
        elif line.startswith("resources:") and rule in ("train_model", "train_final_model"):
            gpus = re.search(r"\bgpu=(\d+)", line)
            memory = int(re.search(r"\bmem_mb=(\d+)", line).group(1))
            requests[rule, model] = (threads, gpus and gpus.group(1), memory)
        elif line.startswith("resources:") and ("preprocessing" in rule or rule == "plot_results"):
            requests[rule, model] = int(re.search(r"\bmem_mb=(\d+)", line).group(1))
    assert requests == {
        (rule, model): request
        for rule in ("train_model", "train_final_model")
        for model, request in (
            ("convnet", (1, "1", 4000)),
            ("cnn_named_svm", (1, None, 1500)),  # no gpu resource: Kubernetes tolerates even 0
            ("svm_stats", (1, None, 1500)),
            ("nn", (2, None, 1500)),
            ("svm_scaled", (1, None, 4000)),
            ("cnn_logmel", (2, "1", 4000)),
            ("cnn_svm", (2, "1", 4000)),  # a head runs its base CNN on the whole log-mel
            ("svm_rich", (1, None, 1500)),
        )
    } | {
        ("train_model", "ensemble"): (1, None, 1500),  # its members' predictions
    } | {
        (rule, preprocessing): memory
        for rule in ("fit_preprocessing", "fit_final_preprocessing")
        for preprocessing, memory in (
            ("seed87-pca", 4000),
            ("stats-scaled", 1500),
            ("seed87-scaled", 4000),
            ("rich-scaled", 1500),
        )
    } | {("plot_results", None): 1500}  # its map of stats


def memory_requests(
    output: str, rules: tuple[str, ...], resource: str = "mem_mb"
) -> list[tuple[str, str, int]]:
    """(rule, wildcards, mem_mb or another resource) of every job of ``rules`` Snakemake
    printed, in order (a retried job twice)."""
    requests, rule, wildcards = [], None, ""
    for line in output.splitlines():
        line = line.strip()
        if match := re.match(r"^(?:local)?rule (\S+):$", line):
            rule, wildcards = match.group(1), ""
        elif line.startswith("wildcards:"):
            wildcards = line.removeprefix("wildcards:").strip()
        elif line.startswith("resources:") and rule in rules:
            value = int(re.search(rf"\b{resource}=(\d+)", line).group(1))
            requests.append((rule, wildcards, value))
    return requests


def test_memory_grows_with_the_matrices_a_job_holds(tmp_path):
    """4000 MB held full GTZAN's seed87 matrices (0.49 GB of values; the cnn took
    3.5 GB): longer matrices or more tracks ask for 8 MB per MB of values where that
    is more. A cluster killed such a job at 4000, and `--resources mem_mb=N` counted
    it as a small one. Vector sets and PCA components stay small."""
    n_frames = 20_000  # 80 tracks x 87 rows: 557 MB of values
    override = write_config(
        tmp_path / "long.yaml",
        {
            "features": {"seed87": {"n_frames": n_frames}},
            "run_models": ["cnn", "nn", "svm_stats"],
        },
    )
    result = run_workflow(tmp_path, TINY_CONFIG, override, extra=["--dry-run"])
    rules = ("fit_preprocessing", "fit_final_preprocessing", "train_model", "train_final_model")
    requests = {
        (rule, re.search(r"(?:model|feature_set)=([^,\s]+)", wildcards).group(1)): memory
        for rule, wildcards, memory in memory_requests(result.stdout + result.stderr, rules)
    }
    grown = math.ceil(8 * 80 * 87 * n_frames * 4 / 1e6)
    assert grown > 4000
    assert requests == {
        ("fit_preprocessing", "seed87"): grown,  # the PCA of nn
        ("fit_final_preprocessing", "seed87"): grown,
        ("fit_preprocessing", "stats"): 1500,
        ("fit_final_preprocessing", "stats"): 1500,
        ("train_model", "cnn"): grown,
        ("train_final_model", "cnn"): grown,
        ("train_model", "nn"): 1500,
        ("train_final_model", "nn"): 1500,
        ("train_model", "svm_stats"): 1500,
        ("train_final_model", "svm_stats"): 1500,
    }


def test_a_job_retried_after_a_kill_asks_for_more_memory(tiny_run, tmp_path):
    """The cluster profiles retry a failed job once; killed for its memory (or its
    time), it failed again with the same request. Each attempt now asks for that many
    times as much: the rules' own memory and the profile's (here SLURM's, run
    locally), and the profile's time."""
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run, symlinks=True)
    hook = tmp_path / "hook"
    hook.mkdir()
    # The first attempt of an extraction and of a preprocessing fit ends as the
    # kernel's out-of-memory killer ends one.
    (hook / "sitecustomize.py").write_text(
        "import os, sys\n"
        "for script in ('extract_features.py', 'fit_preprocessing.py'):\n"
        f"    marker = os.path.join({str(tmp_path)!r}, 'killed_' + script)\n"
        "    if sys.argv[0].endswith(script) and not os.path.exists(marker):\n"
        "        open(marker, 'w').close()\n"
        "        os._exit(137)\n",
        encoding="utf-8",
    )
    profile = ["--profile", str(PROJECT_ROOT / "profiles" / "slurm"), "--executor", "local"]
    target = "results/preprocessed/stats-scaled/holdout/fold0/transform.skops"
    forced = ["--forcerun", "extract_features_batch0000", "fit_preprocessing"]
    command = snakemake_command(run, TINY_CONFIG, extra=[target, *profile, *forced])
    environment = os.environ | {"PYTHONPATH": str(hook)}
    result = subprocess.run(command, capture_output=True, text=True, cwd=run, env=environment)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert len(list(tmp_path.glob("killed_*"))) == 2  # both first attempts were killed
    rules = ("extract_features_batch0000", "merge_features", "fit_preprocessing")
    requests = [(rule, memory) for rule, _, memory in memory_requests(output, rules)]
    assert requests == [
        ("extract_features_batch0000", 1000),
        ("extract_features_batch0000", 2000),
        ("merge_features", 2000),
        ("fit_preprocessing", 1500),
        ("fit_preprocessing", 3000),
    ], output[-4000:]
    minutes = [(rule, value) for rule, _, value in memory_requests(output, rules, "runtime")]
    assert minutes == [
        ("extract_features_batch0000", 15),
        ("extract_features_batch0000", 30),
        ("merge_features", 30),
        ("fit_preprocessing", 60),
        ("fit_preprocessing", 120),
    ]
