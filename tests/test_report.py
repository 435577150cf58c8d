"""End-to-end: the tiny workflow, then its HTML report, final models and run record (slow)."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import TINY_CONFIG, run_workflow

pytestmark = pytest.mark.slow

MODELS = ["gmm", "svm", "nn", "cnn", "svm_stats", "svm_segments"]


def planned_rules(workdir: Path, *configs: Path) -> list[str]:
    """The rule of every job a dry run plans."""
    result = run_workflow(workdir, *configs, extra=["--dry-run"])
    return re.findall(r"^(?:local)?rule (\S+):$", result.stdout + result.stderr, re.MULTILINE)


def test_report_holds_summary_plots_and_captions(tiny_run):
    html = (tiny_run / "results" / "report.html").read_text(encoding="utf-8")
    for name in [
        "results/summary.csv",
        "results/plots/summary.html",
        "results/plots/accuracy.png",
        "results/plots/per_genre_f1.png",
        "results/plots/feature_map.png",
        *[f"results/metrics/{model}/holdout_confusion.png" for model in MODELS],
    ]:
        assert f'"{name}"' in html, name
    # Captions (rendered from report/*.rst) and the workflow description.
    assert "Red diamonds: the accuracy the reference study reported" in html
    assert "F1 score of each model (rows) on each genre (columns)" in html
    assert "standardized stats features" in html  # the map's caption names its feature set
    assert "Music genre recognition of GTZAN's ten genres with genrepipe" in html
    # A synthetic run's accuracies are not to be read beside the study's GTZAN numbers.
    assert "clips the workflow synthesized, not recordings" in html
    assert "on GTZAN (one 90/10 split)" in html
    # The confusion matrices share a file name: labels tell them apart.
    for model in MODELS:
        assert f'"labels": {{"model": "{model}", "split": "holdout"}}' in html, model
    # Categories, and the rules whose runtimes the statistics show.
    for category in ("Summary", "Confusion matrices", "Dataset"):
        assert f'"{category}"' in html
    for rule in ("plot_results", "train_final_model", "record_run", "train_model"):
        assert rule in html
    # Self-contained: figures are embedded, nothing is fetched from elsewhere.
    assert "data:image/png" in html and "data:text/html" in html
    assert not re.search(r'(?:src|href)="https?://', html)


def test_plots_are_pngs_and_the_table_has_every_model(tiny_run):
    plots = tiny_run / "results" / "plots"
    for name in ("accuracy.png", "per_genre_f1.png", "feature_map.png"):
        assert (plots / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (plots / "summary.html").read_text(encoding="utf-8")
    first_cells = re.findall(r"<tr>\s*<td>([^<]*)</td>", table)
    assert first_cells == MODELS


def test_outputs_are_as_readable_as_the_umask_allows(tiny_run):
    # Written through temporary files, outputs came out owner-only (0600), whatever the
    # umask: colleagues sharing a results folder on a cluster could not read the summary.
    umask = os.umask(0o022)
    os.umask(umask)
    paths = [tiny_run / "results", *(tiny_run / "results").rglob("*")]
    unreadable = [
        str(path.relative_to(tiny_run))
        for path in paths
        if stat.S_IMODE(path.stat().st_mode) & 0o044 != 0o044 & ~umask
    ]
    assert not unreadable, unreadable[:10]


def test_final_models_trained_on_every_track_with_cards(tiny_run):
    summary = pd.read_csv(tiny_run / "results" / "summary.csv").set_index("model")
    for model in MODELS:
        final = tiny_run / "results" / "final" / model
        card = json.loads((final / "card.json").read_text(encoding="utf-8"))
        assert card["model"] == model
        assert card["n_train"] == 80  # all usable tracks; each fold model had 64
        assert card["evaluation"]["test_accuracy"] == pytest.approx(
            summary.loc[model, "test_accuracy"], abs=1e-4
        )
        # A count of clips, as in the summary (16, not 16.0).
        assert card["evaluation"]["n_test"] == summary.loc[model, "n_test"]
        assert type(card["evaluation"]["n_test"]) is int
        assert card["feature_settings"] and card["classes"] and card["genrepipe_version"]
        estimator = "estimator.keras" if model in ("nn", "cnn") else "estimator.skops"
        files = {p.name for p in (final / "model").iterdir() if not p.name.startswith(".")}
        assert files == {
            "transform.skops",
            estimator,
            "card.json",
        }
    # The final models of a feature set and preprocessing share one fitted transform,
    # linked into each bundle (the image models' standardizer is their own).
    shared = tiny_run / "results" / "preprocessed" / "seed87-pca" / "final" / "transform.skops"
    for model in ("gmm", "svm", "nn"):
        bundled = tiny_run / "results" / "final" / model / "model" / "transform.skops"
        assert os.path.samefile(bundled, shared), model
    assert not os.path.samefile(
        tiny_run / "results" / "final" / "cnn" / "model" / "transform.skops", shared
    )


def test_final_model_classifies_a_clip(tiny_run, capsys):
    from genrepipe.predict import main

    clip = tiny_run / "results" / "synthetic" / "genres" / "metal" / "metal.00003.wav"
    final = tiny_run / "results" / "final" / "svm_stats"
    status = main([str(final), str(clip), "--format", "json"])
    assert status == 0
    out, err = capsys.readouterr()
    (entry,) = json.loads(out)["files"]
    assert entry["path"] == str(clip)
    # The answer is the bundle's own on the workflow's own features of the clip (a
    # 3 s clip: one window, the whole clip), not a second run of the same command.
    from genrepipe.bundle import load_bundle
    from genrepipe.feature_table import read_feature_table

    transform, model, card = load_bundle(final / "model")
    _, _, X = read_feature_table(
        tiny_run / "results" / "features" / "stats.parquet", tracks=["metal.00003"]
    )
    proba = model.predict_proba(transform.transform(X.reshape(1, -1)))[0]
    expected = dict(zip(card["classes"], proba.tolist(), strict=True))
    assert entry["genre"] == max(expected, key=expected.get)
    assert entry["probabilities"] == pytest.approx(expected, abs=1e-4)
    # Its model card says it learned synthesized music, and the command passes that on.
    assert "trained on the workflow's generated dataset" in err


def test_run_recorded_once(tiny_run, capsys):
    history = tiny_run / "results" / "history"
    (entry,) = [p for p in history.iterdir() if p.is_dir()]
    assert (history / "latest.txt").read_text(encoding="utf-8").strip() == entry.name
    assert (entry / "summary.csv").read_bytes() == (
        tiny_run / "results" / "summary.csv"
    ).read_bytes()
    config = yaml.safe_load((entry / "config.yaml").read_text(encoding="utf-8"))
    assert config["dataset"]["synthetic"]["n_per_genre"] == 8  # tiny.yaml merged in
    info = json.loads((entry / "run.json").read_text(encoding="utf-8"))
    assert info["git_revision"] == "unknown" or len(info["git_revision"]) == 40
    # Nothing to do: nothing runs, nothing is recorded.
    assert planned_rules(tiny_run, TINY_CONFIG) == []
    assert [p for p in history.iterdir() if p.is_dir()] == [entry]

    from genrepipe.history import main

    assert main(["--history", str(history)]) == 0
    out = capsys.readouterr().out
    assert entry.name in out and "test_accuracy.svm" in out


def test_final_models_switch(tmp_path):
    off = tmp_path / "off.yaml"
    off.write_text(yaml.safe_dump({"final_models": False}), encoding="utf-8")
    assert "train_final_model" in planned_rules(tmp_path, TINY_CONFIG)
    rules = planned_rules(tmp_path, TINY_CONFIG, off)
    assert "train_final_model" not in rules and "write_model_card" not in rules
    assert "plot_results" in rules and "record_run" in rules


@pytest.mark.parametrize("model, in_summary", [("svm", True), ("svm_rich", False)])
def test_a_confusion_caption_says_when_its_model_is_not_in_the_summary(model, in_summary):
    """Final models evaluate an ensemble's members and a head's base, and their matrices
    join the report beside the summary's models, unexplained (without final models, not)."""
    from types import SimpleNamespace

    import jinja2
    from conftest import PROJECT_ROOT

    template = (PROJECT_ROOT / "report" / "confusion.rst").read_text(encoding="utf-8")
    snakemake = SimpleNamespace(
        wildcards=SimpleNamespace(model=model, scheme="kfold"),
        config={"run_models": ["svm", "ensemble"]},
    )
    caption = jinja2.Environment().from_string(template).render(snakemake=snakemake)
    assert caption.startswith(f"Confusion matrix of {model} (kfold split)")
    assert ("is not in run_models, so not in the summary" in caption) is not in_summary
