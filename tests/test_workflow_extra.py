"""End-to-end: the new models in the real workflow on the tiny dataset (marked slow).

tests/configs/tiny_extra.yaml over tiny.yaml: logistic regression, the rich feature set,
the window CNN, SVM and GMM heads reusing its fold models, and a soft-voting ensemble.
Runs up to results/summary.csv.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import PROJECT_ROOT, run_workflow

pytestmark = pytest.mark.slow

CONFIGS = [
    PROJECT_ROOT / "tests" / "configs" / "tiny.yaml",
    PROJECT_ROOT / "tests" / "configs" / "tiny_extra.yaml",
]
NEW_MODELS = [
    "logreg_rich",
    "svm_rich",
    "cnn_logmel",
    "cnn_svm",
    "cnn_gmm",
    "cnn_mfcc",
    "ensemble",
]


def snakemake(workdir: Path, *configs: Path, extra=(), targets=("results/summary.csv",)) -> str:
    """Run the workflow up to ``targets`` in ``workdir``; return what it printed."""
    result = run_workflow(workdir, *configs, extra=[*targets, *extra])
    return result.stdout + result.stderr


def trained_models(workdir: Path, override: dict) -> set[str]:
    """Models whose training a dry run plans after layering ``override`` on the configs."""
    path = workdir / "override.yaml"
    path.write_text(yaml.safe_dump(override), encoding="utf-8")
    output = snakemake(workdir, *CONFIGS, path, extra=["--dry-run"])
    models, rule = set(), None
    for line in output.splitlines():
        match = re.match(r"^(?:local)?rule (\S+):$", line.strip())
        if match:
            rule = match.group(1)
        elif rule == "train_model" and line.strip().startswith("wildcards:"):
            models.add(re.search(r"model=([^,\s]+)", line).group(1))
    return models


@pytest.fixture(scope="module")
def extra_run(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("tiny_extra")
    snakemake(workdir, *CONFIGS)
    return workdir


def predictions(workdir: Path, model: str) -> pd.DataFrame:
    path = workdir / "results" / "models" / model / "holdout" / "fold0" / "predictions.tsv"
    return pd.read_csv(path, sep="\t")


def test_new_models_reach_the_summary(extra_run) -> None:
    summary = pd.read_csv(extra_run / "results" / "summary.csv")
    assert list(summary["model"]) == NEW_MODELS
    features = dict(zip(summary["model"], summary["feature_set"], strict=True))
    assert features["svm_rich"] == "rich" and features["ensemble"] == "rich+logmel"
    assert (summary["n_test"] == 16).all()
    # Each row's accuracy is its own model's, on the 16 test clips of its predictions.
    for model, accuracy in zip(summary["model"], summary["test_accuracy"], strict=True):
        test = predictions(extra_run, model).query("subset == 'test'")
        assert accuracy == pytest.approx((test["genre"] == test["predicted"]).mean()), model
    rich = pd.read_parquet(extra_run / "results" / "features" / "rich.parquet")
    assert len(rich) == 80 and len(rich["features"].iloc[0]) == 317


def test_cnn_on_mfcc_frames_reads_its_own_cached_set(extra_run) -> None:
    from genrepipe.audio import load_audio
    from genrepipe.features import mfcc

    cached = sorted((extra_run / "results" / "features" / "mfcc").rglob("*.npy"))
    assert len(cached) == 80
    clip = next((extra_run / "results" / "synthetic").rglob(f"{cached[0].stem}.wav"))
    y = load_audio(clip, sr=22050, min_duration=0.0, max_duration=31.0)
    expected = mfcc(y, 22050, n_mfcc=8, n_mels=32, n_frames=130)  # tiny_extra.yaml's settings
    np.testing.assert_allclose(np.load(cached[0]), expected, atol=1e-4)
    table = pd.read_parquet(extra_run / "results" / "features" / "mfcc.parquet")
    assert len(table) == 80
    test = predictions(extra_run, "cnn_mfcc").query("subset == 'test'")
    assert len(test) == 16 and test["predicted"].notna().all()


def test_ensemble_is_the_mean_of_its_members(extra_run) -> None:
    members = [predictions(extra_run, name) for name in ("svm_rich", "cnn_logmel")]
    ensemble = predictions(extra_run, "ensemble")
    columns = [c for c in ensemble.columns if c.startswith("proba_")]
    assert list(ensemble["track"]) == list(members[0]["track"])
    mean = (members[0][columns].to_numpy() + members[1][columns].to_numpy()) / 2
    np.testing.assert_allclose(ensemble[columns].to_numpy(), mean, atol=2e-6)
    best = np.asarray([c.removeprefix("proba_") for c in columns])[mean.argmax(axis=1)]
    assert list(ensemble["predicted"]) == list(best)


def test_cnn_heads_reuse_the_fold_cnn(extra_run) -> None:
    for head in ("cnn_svm", "cnn_gmm"):
        log = (extra_run / "logs" / "train_model" / head / "holdout" / "fold0.log").read_text(
            encoding="utf-8"
        )
        assert "reusing the fitted CNN of results/models/cnn_logmel/holdout/fold0/model" in log
        assert "epoch 1/" not in log  # no CNN training of its own


def test_changing_a_member_reruns_the_ensemble(extra_run) -> None:
    override = {"models": {"svm_rich": {"search": {"param_grid": {"C": [1.0, 100.0]}}}}}
    assert trained_models(extra_run, override) == {"svm_rich", "ensemble"}


def test_changing_a_non_member_leaves_the_ensemble(extra_run) -> None:
    override = {"models": {"logreg_rich": {"search": {"param_grid": {"C": [0.5]}}}}}
    assert trained_models(extra_run, override) == {"logreg_rich"}


def test_changing_the_training_threads_reruns_the_models_they_move(extra_run) -> None:
    # TensorFlow's and logistic regression's sums depend on the count; libsvm's do not.
    override = {"threads": {"train": 3}}
    assert trained_models(extra_run, override) == {
        "logreg_rich",
        "cnn_logmel",
        "cnn_svm",
        "cnn_gmm",
        "cnn_mfcc",
        "ensemble",
    }


def test_changing_the_base_cnn_reruns_its_heads(extra_run) -> None:
    override = {"models": {"cnn_logmel": {"params": {"epochs": 3}}}}
    assert trained_models(extra_run, override) == {"cnn_logmel", "cnn_svm", "cnn_gmm", "ensemble"}


def test_final_cnn_heads_and_ensemble_bundles_classify_audio(extra_run) -> None:
    from genrepipe.predict import Classifier, EnsembleClassifier

    final = extra_run / "results" / "final"
    cards = [
        f"results/final/{model}/card.json"
        for model in ("cnn_svm", "cnn_gmm", "cnn_mfcc", "ensemble")
    ]
    snakemake(extra_run, *CONFIGS, targets=cards)
    for head in ("cnn_svm", "cnn_gmm"):  # reuse the base's final CNN, as the fold heads do
        log = (extra_run / "logs" / "train_final_model" / f"{head}.log").read_text(encoding="utf-8")
        assert "reusing the fitted CNN of results/final/cnn_logmel/model" in log
        assert "epoch 1/" not in log
    # tiny_extra.yaml's cnn_gmm reads the pooled maps; its cnn_mfcc pools by mean and std.
    assert Classifier.load(final / "cnn_gmm").model.embedding == "global_pool"
    on_mfcc = Classifier.load(final / "cnn_mfcc")  # reads audio into the mfcc set
    assert on_mfcc.model.model_.get_layer("global_std") is not None
    clip = next((extra_run / "results" / "synthetic").rglob("*.wav"))
    answer = on_mfcc.predict_file(clip)
    assert on_mfcc.feature_set == "mfcc" and answer.proba.sum() == pytest.approx(1.0, abs=1e-5)
    ensemble = Classifier.load(final / "ensemble")
    assert isinstance(ensemble, EnsembleClassifier)
    assert [m.folder.name for m in ensemble.members] == ["svm_rich", "cnn_logmel"]
    members = [Classifier.load(final / name) for name in ("svm_rich", "cnn_logmel")]
    expected = np.mean([m.predict_file(clip).proba for m in members], axis=0)
    np.testing.assert_allclose(ensemble.predict_file(clip).proba, expected, atol=1e-6)
    card = json.loads((final / "ensemble" / "card.json").read_text(encoding="utf-8"))
    assert card["estimator"] == "ensemble" and card["features"] == "rich+logmel"
    assert card["evaluation"]["test_accuracy"] == pytest.approx(
        pd.read_csv(extra_run / "results" / "summary.csv")
        .set_index("model")
        .loc["ensemble", "test_accuracy"]
    )


def test_check_batchnorm_refuses_a_window_cnn(extra_run, capsys) -> None:
    # A window CNN is a KerasClassifier too: the tool passed it whole tracks where its
    # network takes windows, and ended in Keras's shape error after its header.
    import check_batchnorm

    assert check_batchnorm.main([str(extra_run), "cnn_logmel"]) == 2
    captured = capsys.readouterr()
    assert "not a KerasClassifier model (the reference nn or cnn)" in captured.err
    assert "accuracy as trained" not in captured.out
