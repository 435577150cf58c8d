"""Bad configuration is refused before any job runs, with a message naming the key.

The slow tests dry-run the real workflow with an override config file and check
that Snakemake exits non-zero, that the line saying "Invalid configuration"
names the key at fault, that the message is short (not the whole schema), and
that no ``results/`` folder appears. The fast tests call the checks directly.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from conftest import PROJECT_ROOT, SHARED_DATA, TINY_CONFIG, readme_commands, run_workflow
from snakemake.utils import validate

from genrepipe import GENRES
from genrepipe.config import (
    ConfigError,
    check_config,
    dataset_tracks,
    drop_null_settings,
    expand_home_paths,
    extracted_feature_sets,
    feature_dimension,
    feature_rows,
    feature_settings,
    gtzan_download_pending,
    holdout_warnings,
    inner_search_error,
    key_order,
    matrix_megabytes,
    min_clip_samples,
    order_config_keys,
    schema_error_message,
    type_command_line_values,
    window_check_samples,
    working_directory_path,
)
from genrepipe.features import stats_feature_names
from genrepipe.splits import holdout_split

SCHEMA = PROJECT_ROOT / "config" / "schema.yaml"


def _merge(base: dict, override: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _config(override: dict | None = None) -> dict:
    """config/config.yaml, tests/configs/tiny.yaml and ``override``, merged as Snakemake does."""
    config = yaml.safe_load((PROJECT_ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    config = _merge(config, yaml.safe_load(TINY_CONFIG.read_text(encoding="utf-8")))
    return _merge(config, override or {})


def _dry_run(tmp_path: Path, override: dict) -> tuple[int, str]:
    override_file = tmp_path / "override.yaml"
    override_file.write_text(yaml.safe_dump(override), encoding="utf-8")
    result = run_workflow(
        tmp_path, TINY_CONFIG, override_file, extra=["--dry-run"], cores=1, check=False
    )
    return result.returncode, result.stdout + result.stderr


BAD_CONFIGS = {
    "unknown dataset kind": ({"dataset": {"kind": "mp3"}}, "dataset.kind"),
    "unknown model in run_models": ({"run_models": ["gmm", "svmm"]}, "run_models names 'svmm'"),
    "unknown estimator": (
        {"models": {"gmm": {"estimator": "no_such_estimator"}}},
        "models.gmm.estimator",
    ),
    "missing dataset folder": (
        {"dataset": {"kind": "gtzan", "gtzan": {"root": "no/such/folder"}}},
        "dataset.gtzan.root",
    ),
    "negative svm C": ({"models": {"svm": {"params": {"C": -1}}}}, "models.svm.params.C"),
    "svm C not a number": (
        {"models": {"svm": {"params": {"C": "ten"}}}},
        "models.svm.params.C must be a number, got 'ten'",
    ),
    "dropout above 1": (
        {"models": {"nn": {"params": {"dropout": 1.5}}}},
        "models.nn.params.dropout",
    ),
    "zero epochs": ({"models": {"nn": {"params": {"epochs": 0}}}}, "models.nn.params.epochs"),
    "unknown model param": ({"models": {"svm": {"params": {"CC": 1.0}}}}, "models.svm.params.CC"),
    "more PCA components than features": (
        {"preprocess": {"pca_components": 20000}},
        "preprocess.pca_components",
    ),
    "empty model list": ({"run_models": []}, "run_models"),
    "missing split list file": (
        {"split": {"scheme": "lists", "lists": {"train": str(TINY_CONFIG), "test": "nowhere.txt"}}},
        "split.lists.test",
    ),
    "unknown CNN layout": (
        {"run_models": ["cnn_logmel"], "models": {"cnn_logmel": {"params": {"convolution": "2d"}}}},
        "models.cnn_logmel.params.convolution",
    ),
    "misspelled top-level key": ({"seeed": 1}, "seeed"),
    # Settings each valid alone, clashing with each other or with the genres found:
    # every training job failed, after the extraction.
    "a solver without a dual form": (
        {"run_models": ["logreg_stats"], "models": {"logreg_stats": {"params": {"dual": True}}}},
        "models.logreg_stats.params: Solver lbfgs supports only dual=False, got dual=True",
    ),
    "misspelled nested key": ({"models": {"svm": {"parms": {"C": 1.0}}}}, "models.svm.parms"),
    # Known from the config before any clip is generated: these failed in list_tracks or
    # make_split after every clip had been made and checked.
    "generated clips shorter than min_duration": (
        {"dataset": {"synthetic": {"duration": 1.5}}},
        "dataset.synthetic.duration=1.5 is below dataset.min_duration=2",
    ),
    "too few tracks for a stratified holdout": (
        {"dataset": {"synthetic": {"n_per_genre": 2}}, "split": {"scheme": "holdout"}},
        "split.holdout.test_size",
    ),
    "more folds than tracks of a genre": (
        {"dataset": {"synthetic": {"n_per_genre": 3}}, "split": {"scheme": "kfold"}},
        "split.kfold.n_splits=10 exceeds the 3 tracks",
    ),
    # Caught in every training job, after the extraction.
    "too few training tracks for an inner search": (
        {
            "dataset": {"synthetic": {"n_per_genre": 2}},
            "split": {"holdout": {"test_size": 0.5}},
            "run_models": ["svm_stats"],
        },
        "models.svm_stats.search: an inner cross-validation needs two training tracks",
    ),
    "out-of-range test size": (
        {"split": {"holdout": {"test_size": 1.5}}},
        "split.holdout.test_size",
    ),
    # Passed every range check (NaN compares false), or crashed the check itself.
    "a NaN duration": (
        {"dataset": {"min_duration": float("nan")}},
        "dataset.min_duration must be a finite number, got nan",
    ),
    "models given as a list": ({"models": ["svm"]}, "models: ['svm'] is not of type 'object'"),
}


@pytest.mark.slow
def test_a_key_given_twice_in_a_config_file_is_refused(tmp_path):
    # YAML keeps the last: a split block added at the end of a file dropped the first's
    # scheme without a word, and the run used holdout.
    override = tmp_path / "override.yaml"
    override.write_text(
        "split:\n  scheme: kfold\nseed: 1\nsplit:\n  kfold:\n    n_splits: 3\n", encoding="utf-8"
    )
    result = run_workflow(tmp_path, TINY_CONFIG, override, extra=["-n"], cores=1, check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert (
        f"Invalid configuration: {override}, line 4: 'split' is given twice in one mapping "
        "(also on line 1)"
    ) in output


def test_keys_given_twice_are_found_at_any_depth(tmp_path):
    from genrepipe.config import check_unique_keys

    nested = tmp_path / "nested.yaml"
    nested.write_text("models:\n  svm:\n    params: {C: 2.0, C: 3.0}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"nested\.yaml, line 3: 'C' is given twice"):
        check_unique_keys([nested])
    # The same key in two mappings, and the default config, are fine.
    apart = tmp_path / "apart.yaml"
    apart.write_text(
        "models:\n  svm: {params: {C: 2.0}}\n  gmm: {params: {C: 2.0}}\n", encoding="utf-8"
    )
    check_unique_keys([apart, PROJECT_ROOT / "config" / "config.yaml", TINY_CONFIG])
    # YAML merge keys share settings (a key after them overrides the merged one), and
    # Snakemake reads JSON indented with tabs, which is no YAML: both were refused.
    shared = tmp_path / "shared.yaml"
    shared.write_text(
        "base: &net {epochs: 3, patience: 2}\n"
        "models:\n  nn: {params: {<<: *net, epochs: 4}}\n  cnn: {params: {<<: *net}}\n",
        encoding="utf-8",
    )
    check_unique_keys([shared])
    json_file = tmp_path / "override.json"
    json_file.write_text('{\n\t"seed": 3\n}\n', encoding="utf-8")
    check_unique_keys([json_file])
    merged_twice = tmp_path / "merged_twice.yaml"
    merged_twice.write_text(
        "base: &net {epochs: 3}\nnn: {<<: *net, patience: 1, patience: 2}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"line 2: 'patience' is given twice"):
        check_unique_keys([merged_twice])


def test_a_count_written_as_a_whole_decimal_is_the_integer():
    # epochs: 10.0 was refused as not whole; the schema's integers read it as 10.
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    config = _config({"models": {"nn": {"params": {"epochs": 10.0}}}})
    config["models"]["gmm"]["params"]["n_components"] = 4.0
    type_command_line_values(config, schema)
    assert config["models"]["nn"]["params"]["epochs"] == 10
    assert type(config["models"]["nn"]["params"]["epochs"]) is int
    assert type(config["models"]["gmm"]["params"]["n_components"]) is int
    from genrepipe.config import check_estimator_params

    check_estimator_params("nn", {"epochs": 10.0}, key="models.nn.params")  # whole: fine


@pytest.mark.slow
@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_config_is_refused_before_any_job(tmp_path, case):
    override, key = BAD_CONFIGS[case]
    returncode, output = _dry_run(tmp_path, override)
    assert returncode != 0, output
    lines = [line for line in output.splitlines() if "Invalid configuration" in line]
    assert lines, output
    assert key in lines[0], output  # the first line of the message names the key
    assert len(output) < 3000, output  # one message, not the whole schema
    assert not (tmp_path / "results").exists()


def test_a_holdout_that_tests_no_clip_of_a_small_genre_is_said():
    # Two blues clips beside 12 of metal: a 10 % holdout held out two metal clips, and
    # every model scored 1.0 with blues untested, said only inside make_split's log.
    tracks = [f"blues.{i:05d}" for i in range(2)] + [f"metal.{i:05d}" for i in range(12)]
    genres = [track.split(".")[0] for track in tracks]
    assert holdout_warnings(tracks, genres, {"test_size": 0.1, "seed": 42}) == [
        "split.holdout: no test track of blues (blues 2 of 14 tracks; test_size 0.1 holds "
        "out 2): the test accuracy will say nothing of them; raise "
        "split.holdout.test_size, or use split.scheme: kfold"
    ]
    split = holdout_split(tracks, genres, test_size=0.1, seed=42)
    assert set(split.loc[split["subset"] == "test", "genre"]) == {"metal"}
    # A larger share tests both; so does a balanced set, whatever its size.
    assert holdout_warnings(tracks, genres, {"test_size": 0.3, "seed": 42}) == []
    balanced = [f"{genre}.{i:05d}" for genre in GENRES for i in range(10)]
    assert holdout_warnings(balanced, [t.split(".")[0] for t in balanced], {}) == []


@pytest.mark.slow
def test_a_holdout_leaving_a_genre_untested_is_said_on_the_console(tmp_path):
    genres = tmp_path / "genres"
    for genre, n in [("blues", 2), ("metal", 12)]:
        for i in range(n):
            (genres / genre).mkdir(parents=True, exist_ok=True)
            (genres / genre / f"{genre}.{i:05d}.wav").touch()  # a plan reads no audio
    override = {"dataset": {"kind": "gtzan", "gtzan": {"root": str(genres)}}}
    returncode, output = _dry_run(tmp_path, override)
    assert returncode == 0, output
    assert "split.holdout: no test track of blues (blues 2 of 14 tracks;" in output, output


@pytest.mark.slow
def test_braces_in_the_dataset_folder_are_refused_by_name(tmp_path):
    clip = tmp_path / "GTZAN {v2}" / "genres" / "blues" / "blues.00000.wav"
    clip.parent.mkdir(parents=True)
    clip.touch()
    override = {"dataset": {"kind": "gtzan", "gtzan": {"root": str(clip.parents[1])}}}
    returncode, output = _dry_run(tmp_path, override)
    assert returncode != 0, output
    lines = [line for line in output.splitlines() if "Invalid configuration" in line]
    assert lines and "dataset.gtzan.root" in lines[0] and "GTZAN {v2}" in lines[0], output
    assert "Traceback" not in output, output


@pytest.mark.slow
def test_a_root_in_the_home_folder_holding_one_genre_is_refused_when_parsed(tmp_path, monkeypatch):
    """`~/gtz` named a folder "~" here; one genre found (the others' folders capitalized,
    then unknown) passed the parse and failed in train_model with scikit-learn's traceback."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    genres = tmp_path / "home" / "gtz" / "genres"
    for i in range(5):
        for folder in ("blues", "Classical"):
            clip = genres / folder / f"{folder.lower()}.{i:05d}.wav"
            clip.parent.mkdir(parents=True, exist_ok=True)
            clip.touch()
    override = {"dataset": {"kind": "gtzan", "gtzan": {"root": "~/gtz"}}}
    returncode, output = _dry_run(tmp_path, override)
    assert returncode == 0, output  # Classical/ is classical
    shutil.rmtree(genres / "Classical")
    returncode, output = _dry_run(tmp_path, override)
    assert returncode != 0, output
    assert "Invalid configuration: the dataset holds clips of one genre only (blues)" in output, (
        output
    )
    assert "Traceback" not in output, output


@pytest.mark.slow
def test_gtzan_before_its_download_plans_the_download_alone(tmp_path):
    """`dataset.kind: gtzan` at the default root, not downloaded yet: the configuration check
    used to stop every command, `snakemake --cores 1 download_gtzan` included."""
    returncode, output = _dry_run(tmp_path, {"dataset": {"kind": "gtzan"}})
    assert returncode == 0, output
    assert "resources/gtzan/genres does not exist yet" in output, output
    planned = re.findall(r"^(\w+)\s+\d+$", output, flags=re.MULTILINE)
    assert set(planned) == {"all", "download_gtzan", "total"}, output
    # Empty, or holding only the hidden record (Snakemake makes the folder for it, and
    # leaves it so when the download fails), it still plans the download...
    genres = tmp_path / "resources" / "gtzan" / "genres"
    genres.mkdir(parents=True)
    (genres / ".download.json").write_text("{}", encoding="utf-8")
    returncode, output = _dry_run(tmp_path, {"dataset": {"kind": "gtzan"}})
    assert returncode == 0 and "download_gtzan" in output, output
    # ... while one holding anything else is read, here an error as holding no genre.
    # (Elsewhere a missing folder is an error too: BAD_CONFIGS.)
    (genres / "notes.txt").write_text("to do\n", encoding="utf-8")
    returncode, output = _dry_run(tmp_path, {"dataset": {"kind": "gtzan"}})
    assert returncode != 0 and "Invalid configuration: dataset.gtzan.root" in output, output


@pytest.mark.slow
def test_split_lists_are_checked_against_the_dataset_before_any_job(tmp_path):
    """Lists naming no clip of the dataset wrote an empty split and failed later, in a
    fold job, naming neither list; what they lack was said only in make_split's log."""
    genres = ("blues", "classical", "country", "disco", "hiphop")
    trained = [f"{genre}.{i:05d}" for genre in genres if genre != "disco" for i in range(6)]
    train = tmp_path / "train.txt"  # ids without an extension, as some lists have them
    train.write_text("\n".join([*trained, "jazz.00099"]) + "\n", encoding="utf-8")
    test = tmp_path / "test.txt"
    test.write_text("".join(f"{genre}/{genre}.00006.wav\n" for genre in genres), encoding="utf-8")
    lists = {"scheme": "lists", "lists": {"train": str(train), "test": str(test)}}
    returncode, output = _dry_run(tmp_path, {"split": lists})
    assert returncode == 0, output
    assert f"split.lists.train: 1 of the 25 tracks listed in {train} are not in" in output
    assert "split.lists: no training track of disco: their test tracks can only" in output
    # A list none of whose tracks the dataset holds: refused, naming it.
    test.write_text("blues/blues.00099.wav\n", encoding="utf-8")
    returncode, output = _dry_run(tmp_path, {"split": lists})
    assert returncode != 0, output
    lines = [line for line in output.splitlines() if "Invalid configuration" in line]
    assert lines and lines[0].endswith(
        f"split.lists.test: none of the 1 tracks listed in {test} is in the dataset "
        "(it lists 'blues.00099', the dataset has 'blues.00000')"
    ), output
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("root", "pending"),
    [
        ("resources/gtzan/genres", True),
        ("./resources/gtzan/genres/", True),
        ("resources/gtzan", True),  # its parent, which the scan accepts once it is there
        ("ABSOLUTE/resources/gtzan/genres", True),
        ("resources/other/genres", False),
    ],
)
def test_the_download_folder_however_written_waits_for_the_download(
    tmp_path, monkeypatch, root, pending
):
    # Only the literal default was pending: its parent or absolute path was refused as a
    # missing folder, with the download as the hint, which the same refusal stopped.
    monkeypatch.chdir(tmp_path)
    root = root.replace("ABSOLUTE", str(tmp_path))
    config = {"dataset": {"kind": "gtzan", "gtzan": {"root": root}}}
    assert gtzan_download_pending(config) is pending
    if pending:
        check_config(_config(config))  # no error: the run downloads first
    (tmp_path / "resources" / "gtzan" / "genres").mkdir(parents=True)
    assert gtzan_download_pending(config) is pending  # empty: a failed download's
    (tmp_path / "resources" / "gtzan" / "genres" / "blues").mkdir()
    assert not gtzan_download_pending(config)  # downloaded: read it


def test_clips_of_their_own_under_the_download_folders_parent_are_read(tmp_path, monkeypatch):
    # A copy of another layout there is data, not a download to wait for.
    monkeypatch.chdir(tmp_path)
    config = {"dataset": {"kind": "gtzan", "gtzan": {"root": "resources/gtzan"}}}
    (tmp_path / "resources" / "gtzan").mkdir(parents=True)
    assert gtzan_download_pending(config)  # only the archive there, say
    # Kaggle's layout one level down: its error says where to point, no download hides it.
    (tmp_path / "resources" / "gtzan" / "Data" / "genres_original" / "blues").mkdir(parents=True)
    assert not gtzan_download_pending(config)
    with pytest.raises(FileNotFoundError, match="genre folders are in resources/gtzan/Data"):
        dataset_tracks(config)
    (tmp_path / "resources" / "gtzan" / "genres_original" / "blues").mkdir(parents=True)
    assert not gtzan_download_pending(config)


def test_a_home_folder_in_the_dataset_root_and_lists_is_expanded(tmp_path, monkeypatch):
    # YAML and a quoted --config leave ~ to the program: it named a folder "~" here.
    monkeypatch.setenv("HOME", str(tmp_path))
    config = {
        "dataset": {"kind": "gtzan", "gtzan": {"root": "~/gtzan"}},
        "split": {"scheme": "lists", "lists": {"train": "~/l/train.txt", "test": "lists/t.txt"}},
    }
    expand_home_paths(config)
    assert config["dataset"]["gtzan"]["root"] == str(tmp_path / "gtzan")
    assert config["split"]["lists"] == {
        "train": str(tmp_path / "l/train.txt"),
        "test": "lists/t.txt",
    }


def test_a_missing_relative_root_is_named_with_where_it_was_looked_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        check_config(_config({"dataset": {"kind": "gtzan", "gtzan": {"root": "data/genres"}}}))
    where = f"relative paths start at the working directory, here {tmp_path / 'data' / 'genres'};"
    assert f"folder data/genres does not exist ({where}" in str(info.value)


def test_a_split_list_that_is_a_folder_or_holds_braces_is_refused_by_name(tmp_path):
    """A folder read as "does not exist"; braces failed the DAG with a WildcardError."""
    braced = tmp_path / "lists {v2}" / "train.txt"
    braced.parent.mkdir()
    braced.write_text("blues.00000\n", encoding="utf-8")
    test_list = tmp_path / "test.txt"
    test_list.write_text("blues.00001\n", encoding="utf-8")
    cases = {
        str(tmp_path): f"split.lists.train: {tmp_path} is a folder, not a list file",
        str(braced): f"split.lists.train: list file {braced} has {{ or }} in its path, which "
        "Snakemake reads as a wildcard: rename it, or point to a link to it without braces",
    }
    for train, message in cases.items():
        split = {"scheme": "lists", "lists": {"train": train, "test": str(test_list)}}
        with pytest.raises(ConfigError) as info:
            check_config(_config({"split": split}))
        assert str(info.value) == message


@pytest.mark.slow
def test_good_config_passes_the_dry_run(tmp_path):
    """The baseline of the cases above: the tiny config itself is accepted."""
    returncode, output = _dry_run(tmp_path, {"run_models": ["gmm"]})
    assert returncode == 0, output
    assert "Invalid configuration" not in output


@pytest.mark.slow
def test_numbers_inside_command_line_mappings_are_numbers(tmp_path):
    """Snakemake reads a --config mapping with YAML's BaseLoader: every value a string."""
    kfold = "split={scheme: kfold, kfold: {n_splits: 3}}"
    result = run_workflow(
        tmp_path,
        TINY_CONFIG,
        extra=["--dry-run", "--config", kfold, "run_models=[gmm]"],
        cores=1,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output  # was: split.kfold.n_splits: '3' is not of type 'integer'
    assert re.search(r"^train_model\s+3$", output, re.MULTILINE), output  # one job a fold
    # A model's params have no schema types: '-1' was not range-checked, and reached SVC.
    result = run_workflow(
        tmp_path,
        TINY_CONFIG,
        extra=["--dry-run", "--config", "models={svm: {params: {C: -1}}}"],
        cores=1,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Invalid configuration: models.svm.params.C must be positive, got -1" in output


# -- the checks themselves, without Snakemake -----------------------------------------------------


@pytest.mark.parametrize(
    ("model", "params", "message"),
    [
        ("svm", {"kernel": "rbff"}, r"models\.svm\.params\.kernel must be one of linear, poly, "),
        ("svm", {"gamma": "scalee"}, r"gamma must be one of scale, auto or a positive number"),
        ("svm", {"gamma": -0.1}, r"models\.svm\.params\.gamma must be scale, auto or a positive"),
        ("gmm", {"covariance_type": "fulll"}, r"models\.gmm\.params\.covariance_type must be "),
        ("cnn_svm", {"kernel": "rbff"}, r"models\.cnn_svm\.params\.kernel must be one of"),
        ("cnn_gmm", {"covariance_type": 2}, r"models\.cnn_gmm\.params\.covariance_type must"),
    ],
)
def test_named_sklearn_values_are_checked_before_any_job(model, params, message):
    # Each of these used to pass the check and fail inside every training job.
    with pytest.raises(ConfigError, match=message):
        check_config(_validated({"run_models": [model], "models": {model: {"params": params}}}))


def test_named_sklearn_values_of_the_defaults_and_grids_pass():
    check_config(_validated({"models": {"svm": {"params": {"gamma": 0.01, "kernel": "linear"}}}}))
    grid = {"param_grid": {"gamma": ["scale", 0.001], "kernel": ["rbf", "poly"]}}
    check_config(
        _validated({"run_models": ["svm_stats"], "models": {"svm_stats": {"search": grid}}})
    )
    bad = {"param_grid": {"kernel": ["rbf", "rfb"]}}
    with pytest.raises(ConfigError, match="kernel must be one of"):
        check_config(
            _validated({"run_models": ["svm_stats"], "models": {"svm_stats": {"search": bad}}})
        )


def _validated(override: dict | None = None) -> dict:
    config = _config(override)
    validate(config, schema=str(SCHEMA))
    return config


@pytest.mark.parametrize(
    ("feature_set", "settings", "size"),
    [
        ("seed87", {"n_frames": 130}, 87 * 130),
        ("seed87", {"n_frames": 10, "n_mfcc": 13, "n_mels": 30}, (13 + 30 + 47) * 10),
        ("stats", {"n_mfcc": 20}, len(stats_feature_names(20))),
        ("stats", {"n_mfcc": 13}, len(stats_feature_names(13))),
        ("segment_stats", {"n_mfcc": 13}, len(stats_feature_names(13))),  # per window
        ("logmel", {"n_mels": 16, "n_frames": 50}, 16 * 50),
        ("mfcc", {"n_mfcc": 5, "n_frames": 50}, 2 * 5 * 50),  # coefficients and deltas
    ],
)
def test_pca_components_above_the_feature_dimension_is_an_error(feature_set, settings, size):
    model = {"estimator": "svm", "features": feature_set, "input": "pca", "params": {}}
    override = {"features": {feature_set: settings}, "models": {"probe": model}}
    config = _validated(override | {"run_models": ["probe"]})
    assert feature_dimension(config, feature_set) == size
    config["preprocess"]["pca_components"] = size
    check_config(config)  # exactly as many components as features: fine
    config["preprocess"]["pca_components"] = size + 1
    with pytest.raises(ConfigError, match=r"preprocess\.pca_components.*models\.probe"):
        check_config(config)


@pytest.mark.parametrize("n_mfcc", [1, 13, 20, 40])
@pytest.mark.parametrize("n_mels", [1, 20, 64])
def test_feature_dimension_follows_the_feature_names(n_mfcc, n_mels):
    """config.py counts without importing genrepipe.features: the counts must agree."""
    from genrepipe.features import seed87_row_names

    config = {"features": {"seed87": {"n_mfcc": n_mfcc, "n_mels": n_mels, "n_frames": 7}}}
    config["features"]["stats"] = config["features"]["segment_stats"] = {"n_mfcc": n_mfcc}
    assert feature_dimension(config, "seed87") == len(seed87_row_names(n_mfcc, n_mels)) * 7
    assert feature_dimension(config, "stats") == len(stats_feature_names(n_mfcc))
    assert feature_dimension(config, "segment_stats") == len(stats_feature_names(n_mfcc))


@pytest.mark.parametrize(("n_mfcc", "tempo_bands"), [(20, 8), (13, 4), (1, 1)])
def test_rich_dimension_follows_its_feature_names(n_mfcc, tempo_bands):
    from genrepipe.features import rich_feature_names

    config = {"features": {"rich": {"n_mfcc": n_mfcc, "tempo_bands": tempo_bands}}}
    assert feature_dimension(config, "rich") == len(rich_feature_names(n_mfcc, tempo_bands))


@pytest.mark.parametrize(("duration", "sample_rate"), [(3.0, 22050), (30.0, 22050), (3.0, 16000)])
def test_matrix_megabytes_are_those_of_the_extracted_arrays(duration, sample_rate):
    """The memory a fitting or training job asks for grows with this size: without
    n_frames, the frames of a clip as long as the longest read, at audio.sample_rate."""
    from genrepipe import features

    config = _config(
        {
            "dataset": {"synthetic": {"duration": duration}, "max_duration": 31.0},
            "audio": {"sample_rate": sample_rate},
        }
    )
    config["features"]["logmel"]["n_frames"] = config["features"]["mfcc"]["n_frames"] = None
    y = np.random.default_rng(0).normal(0, 0.1, int(duration * sample_rate)).astype(np.float32)
    for name in ("logmel", "mfcc", "seed87"):
        array = features.extract(name, y, sample_rate, config["features"][name])
        assert matrix_megabytes(config, name, 25) == pytest.approx(25 * array.nbytes / 1e6), name
    assert matrix_megabytes(config, "stats", 25) is None


def test_feature_limits_are_those_the_feature_functions_check():
    from genrepipe import features
    from genrepipe.config import CONTRAST_MIN_SAMPLE_RATE, SHARED_MEL_BANDS

    assert SHARED_MEL_BANDS == features._MEL_BANDS_SHARED
    top_band_edge = features._CONTRAST_FMIN * 2.0 ** (features._CONTRAST_BANDS - 1)
    assert CONTRAST_MIN_SAMPLE_RATE == 2 * top_band_edge
    y = np.random.default_rng(0).normal(0, 0.1, CONTRAST_MIN_SAMPLE_RATE * 2).astype(np.float32)
    with pytest.raises(ValueError, match="too low for spectral contrast"):
        features.extract("stats", y, CONTRAST_MIN_SAMPLE_RATE)
    assert features.extract("stats", y, CONTRAST_MIN_SAMPLE_RATE + 2).size


def test_feature_defaults_are_those_of_the_feature_functions():
    import inspect

    from genrepipe.config import FEATURE_DEFAULTS
    from genrepipe.features import FEATURE_SETS

    assert set(FEATURE_DEFAULTS) == set(FEATURE_SETS)  # a new feature set needs its entry
    for feature_set, defaults in FEATURE_DEFAULTS.items():
        parameters = inspect.signature(FEATURE_SETS[feature_set]).parameters
        assert {key: parameters[key].default for key in defaults} == defaults, feature_set
        assert "n_fft" in defaults, feature_set  # for the shortest usable clip


def test_the_schema_knows_every_feature_set():
    """A set added in code needs three entries in config/schema.yaml (README, "Changing
    the code"); each one missed failed late, as a missing input or a KeyError."""
    from genrepipe.config import FEATURE_DEFAULTS

    features = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))["properties"]["features"][
        "properties"
    ]
    model = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))["properties"]["models"][
        "additionalProperties"
    ]
    assert set(features["sets"]["items"]["enum"]) == set(FEATURE_DEFAULTS)
    assert set(model["properties"]["features"]["enum"]) == set(FEATURE_DEFAULTS)
    assert set(FEATURE_DEFAULTS) <= set(features)  # each set's settings block


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"n_mfcc": 40, "n_mels": 32}, r"features\.mfcc\.n_mfcc \(40\) must not exceed n_mels"),
        ({"delta_width": 8}, r"features\.mfcc\.delta_width must be odd"),
    ],
)
def test_mfcc_settings_that_cannot_work_are_errors(settings, message):
    config = _validated({"features": {"mfcc": settings}})
    with pytest.raises(ConfigError, match=message):
        check_config(config)


def test_segment_window_longer_than_the_read_clips_is_an_error():
    """Clips are cropped to dataset.max_duration: a longer segment window fits in none."""
    config = _validated({"dataset": {"kind": "gtzan", "gtzan": {"root": "resources/gtzan"}}})
    assert "segment_stats" in extracted_feature_sets(config)  # svm_segments reads it
    max_duration = config["dataset"]["max_duration"]
    config["features"]["segment_stats"] |= {"window": max_duration, "n_windows": 1}
    check_config(config)  # a window as long as the crop: fine
    config["features"]["segment_stats"]["window"] = max_duration + 1
    with pytest.raises(
        ConfigError, match=rf"features\.segment_stats\.window \({max_duration + 1:g} s\) is longer"
    ):
        check_config(config)
    # Generated clips all last dataset.synthetic.duration: a window longer than that
    # failed every track's extraction, after the run had started.
    config["features"]["segment_stats"]["window"] = max_duration
    config["dataset"]["kind"] = "synthetic"
    config["dataset"]["synthetic"]["duration"] = max_duration - 0.5
    with pytest.raises(ConfigError) as info:
        check_config(config)
    assert str(info.value) == (
        f"features.segment_stats.window ({max_duration:g} s) is longer than "
        f"dataset.synthetic.duration ({max_duration - 0.5:g} s), every generated clip's: "
        "no clip would hold one window"
    )
    config["features"]["segment_stats"]["window"] = max_duration - 0.5
    check_config(config)
    # Not extracted (no model reads it, not listed in features.sets): not checked.
    config["run_models"] = ["svm"]
    config["features"]["sets"] = []
    assert "segment_stats" not in extracted_feature_sets(config)
    check_config(config)


def test_windows_of_window_statistics_that_cannot_work_are_errors():
    config = _validated(
        {"run_models": ["svm_segments", "logreg_rich"], "features": {"rich": {"window": 1.0}}}
    )
    assert {"segment_stats", "rich"} <= set(extracted_feature_sets(config))
    check_config(config)
    # Under two frames (46 ms at hop 512): the features stretched it to two, unsaid.
    for set_name in ("segment_stats", "rich"):
        broken = copy.deepcopy(config)
        broken["features"][set_name] = {"window": 0.001}
        with pytest.raises(
            ConfigError,
            match=rf"features\.{set_name}\.window \(0\.001 s\) rounds to fewer than two "
            rf"frames of features\.{set_name}\.hop_length \(at least 0\.0348 s at 22050 Hz\)",
        ):
            check_config(broken)
    # rich's window longer than the clips: its window statistics were 0 for every track.
    broken = copy.deepcopy(config)
    broken["features"]["rich"] = {"window": 60.0}
    with pytest.raises(ConfigError, match=r"features\.rich\.window \(60 s\) is longer than"):
        check_config(broken)
    # Its windows start every half window: in the 3 s clips (130 frames), 2 s windows (86
    # frames) fit twice; 2.5 s once, and one window has no spread of window means.
    broken["features"]["rich"] = {"window": 2.0}
    check_config(broken)
    broken["features"]["rich"] = {"window": 2.5}
    with pytest.raises(
        ConfigError,
        match=r"features\.rich\.window \(2\.5 s\) leaves fewer than two of its "
        r"half-overlapping windows in dataset\.synthetic\.duration \(3 s\)",
    ):
        check_config(broken)
    # Tiny clips last 3 s (130 frames): 1 s windows (43 frames) have 88 distinct starts.
    config["features"]["segment_stats"] = {"window": 1.0, "n_windows": 88}
    check_config(config)
    config["features"]["segment_stats"]["n_windows"] = 89
    with pytest.raises(
        ConfigError,
        match=r"features\.segment_stats\.n_windows \(89\) exceeds the 88 distinct windows "
        r"of 1 s in dataset\.synthetic\.duration \(3 s\)",
    ):
        check_config(config)


def test_cnn_window_longer_than_the_clips_is_an_error():
    """Within n_frames, a window longer than the audio is mostly the features' padding."""
    cnn = {"estimator": "cnn_windows", "features": "logmel", "input": "image", "params": {}}
    config = _validated(
        {
            "features": {"logmel": {"n_frames": 1290}},
            "models": {"probe": cnn},
            "run_models": ["probe"],
        }
    )
    config["models"]["probe"]["params"]["window_frames"] = 130  # the 3 s clips' frames
    check_config(config)
    config["models"]["probe"]["params"]["window_frames"] = 131
    with pytest.raises(
        ConfigError,
        match=r"models\.probe\.params\.window_frames \(131\) exceeds the 130 frames of "
        r"features\.logmel in dataset\.synthetic\.duration \(3 s\)",
    ):
        check_config(config)


def test_cnn_window_longer_than_the_tracks_frames_is_an_error():
    """A window CNN crops windows from tracks of features.<set>.n_frames frames."""
    cnn = {"estimator": "cnn_windows", "features": "logmel", "input": "image", "params": {}}
    head = {"estimator": "cnn_svm", "features": "logmel", "input": "image", "params": {}}
    config = _validated({"models": {"probe": cnn, "head": head}, "run_models": ["probe", "head"]})
    n_frames = config["features"]["logmel"]["n_frames"]
    config["models"]["probe"]["params"]["window_frames"] = n_frames
    config["models"]["head"]["params"]["cnn"] = {"window_frames": n_frames}
    check_config(config)  # one window per track: fine
    config["models"]["probe"]["params"]["window_frames"] = n_frames + 1
    with pytest.raises(
        ConfigError,
        match=rf"models\.probe\.params\.window_frames \({n_frames + 1}\) exceeds "
        rf"features\.logmel\.n_frames \({n_frames}\)",
    ):
        check_config(config)
    config["models"]["probe"]["params"]["window_frames"] = n_frames
    config["models"]["head"]["params"]["cnn"] = {"window_frames": n_frames + 1}
    with pytest.raises(ConfigError, match=r"models\.head\.params\.cnn\.window_frames"):
        check_config(config)
    # The default window (128 frames) is checked too: the tiny config's tracks hold 130.
    config["models"]["head"]["params"]["cnn"] = {}
    config["features"]["logmel"]["n_frames"] = 100
    config["models"]["probe"]["params"]["window_frames"] = 100
    with pytest.raises(ConfigError, match=r"models\.head\.params\.cnn\.window_frames \(128\)"):
        check_config(config)


def test_max_duration_must_exceed_min_duration():
    """Every clip would be cropped below the length it must reach, and left out."""
    config = _validated()
    config["dataset"] |= {"kind": "synthetic", "min_duration": 20.0, "max_duration": 20.5}
    config["dataset"]["synthetic"]["duration"] = 20.0
    check_config(config)
    for max_duration in (20.0, 10.0):
        config["dataset"]["max_duration"] = max_duration
        with pytest.raises(
            ConfigError,
            match=rf"dataset\.max_duration={max_duration} must exceed dataset\.min_duration=20\.0",
        ):
            check_config(config)


def test_a_convolution_kernel_larger_than_its_input_is_an_error():
    """Such kernels see padding; some aborted inside TensorFlow with no Python error."""
    reference = {"estimator": "cnn", "features": "seed87", "input": "image", "params": {}}
    window = {"estimator": "cnn_windows", "features": "logmel", "input": "image", "params": {}}
    head = {"estimator": "cnn_svm", "features": "logmel", "input": "image", "params": {}}
    config = _validated(
        {
            "features": {"seed87": {"n_frames": 60}, "logmel": {"n_mels": 16}},
            "models": {"ref": reference, "win": window, "head": head},
            "run_models": ["ref", "win", "head"],
        }
    )
    rows = feature_rows(config, "seed87")
    fits = {
        "ref": [rows, 60],
        "win": [16, 32],
        "head": {"cnn": {"kernel_size": [16, 32], "window_frames": 32}},
    }
    config["models"]["ref"]["params"]["kernel_size"] = fits["ref"]
    config["models"]["win"]["params"] |= {"kernel_size": fits["win"], "window_frames": 32}
    config["models"]["head"]["params"] = fits["head"]
    check_config(config)  # as large as the input: fine
    too_large = [
        ("ref", [rows + 1, 3], rf"models\.ref\.params\.kernel_size \(\[{rows + 1}, 3\]\)"),
        ("ref", [3, 61], r"spans 61 frames, more than the features\.seed87 image"),
        ("ref", 1000, r"models\.ref\.params\.kernel_size \(1000\) spans 1000 rows"),
        ("win", [17, 3], r"models\.win\.params\.kernel_size .* window of features\.logmel"),
        ("win", 17, r"kernel_size \(17\) spans 17 rows"),  # one size: 17 x 17
        ("win", [3, 33], r"spans 33 frames, more than a window of features\.logmel \(16 rows x 32"),
    ]
    for name, kernel, message in too_large:
        broken = copy.deepcopy(config)
        broken["models"][name]["params"]["kernel_size"] = kernel
        with pytest.raises(ConfigError, match=message):
            check_config(broken)
    broken = copy.deepcopy(config)
    broken["models"]["head"]["params"]["cnn"]["kernel_size"] = [3, 33]
    with pytest.raises(ConfigError, match=r"models\.head\.params\.cnn\.kernel_size"):
        check_config(broken)
    # Convolving along time, a kernel spans every band: only its frames are checked.
    config["models"]["win"]["params"] |= {"convolution": "time", "kernel_size": 32}
    check_config(config)
    config["models"]["win"]["params"]["kernel_size"] = 33
    with pytest.raises(ConfigError, match=r"spans 33 frames, more than a window .* \(32 frames\)"):
        check_config(config)


def test_pca_check_ignores_models_without_pca():
    model = {"estimator": "svm", "features": "stats", "input": "scaled", "params": {}}
    config = _validated({"models": {"probe": model}, "run_models": ["probe"]})
    config["preprocess"]["pca_components"] = 100_000
    check_config(config)


def test_logmel_without_n_frames_has_no_fixed_dimension():
    config = _validated()
    config["features"]["logmel"].pop("n_frames")
    assert feature_dimension(config, "logmel") is None


def test_the_default_run_extracts_no_feature_set_that_nothing_reads():
    """`logmel` (79 MB, three extraction jobs and a merge) was in the default
    features.sets while no default model, nor the map of tracks, read it."""
    from genrepipe.config import map_feature_set, model_feature_sets

    defaults = yaml.safe_load((PROJECT_ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    validate(defaults, schema=str(SCHEMA))
    read = [s for model in defaults["run_models"] for s in model_feature_sets(defaults, model)]
    read.append(map_feature_set(defaults["features"]["sets"], read))
    assert set(defaults["features"]["sets"]) <= set(read)
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    sets_default = schema["properties"]["features"]["properties"]["sets"]["default"]
    assert sets_default == defaults["features"]["sets"]  # the schema's default agrees


def test_min_clip_samples_is_the_longest_window_of_the_extracted_sets():
    config = _validated({"features": {"sets": ["logmel"]}, "run_models": ["gmm"]})
    assert min_clip_samples(config) == 2048  # seed87 (read by gmm) beats logmel's 1024
    config["features"]["seed87"]["n_fft"] = 4096
    assert min_clip_samples(config) == 4096


def test_the_window_check_applies_only_below_min_duration():
    # 20 s of audio covers any window: a larger n_fft must not rerun every clip's check.
    config = _validated({"features": {"seed87": {"n_fft": 4096}}})
    assert window_check_samples(config) == 0
    config = _validated({"features": {"seed87": {"n_fft": 4096}}, "dataset": {"min_duration": 0.1}})
    assert window_check_samples(config) == 4096  # 0.1 s is 2205 samples


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"dataset": {"kind": "mp3"}}, "dataset.kind: 'mp3' is not one of"),
        ({"seeed": 1}, "seeed: unknown setting at the top level"),
        ({"dataset": {"gtzn": {}}}, "dataset.gtzn: unknown setting under dataset"),
        ({"models": {"x": {"estimator": "svm"}}}, "models.x.features, models.x.input: required"),
        # Only what is missing, not every required setting of the mapping.
        ({"models": {"x": {"estimator": "svm", "input": "scaled"}}}, "models.x.features: required"),
        # jsonschema's own words follow ("should be non-empty"; "is too short" before 4.21).
        ({"run_models": []}, "run_models: [] "),
        ({"threads": {"train": 0}}, "threads.train: 0 is less than the minimum of 1"),
    ],
)
def test_schema_errors_become_one_line_naming_the_key(override, message):
    from snakemake.exceptions import WorkflowError

    with pytest.raises(WorkflowError) as info:
        validate(_config(override), schema=str(SCHEMA))
    text = schema_error_message(info.value)
    assert text.startswith(message), text
    assert "\n" not in text


@pytest.mark.slow
def test_config_is_data_not_code(tmp_path):
    """A YAML tag that would run code is refused by the loader; nothing runs."""
    override = tmp_path / "evil.yaml"
    override.write_text('seed: !!python/object/apply:os.system ["touch pwned"]\n', encoding="utf-8")
    result = run_workflow(
        tmp_path, TINY_CONFIG, override, extra=["--dry-run"], cores=1, check=False
    )
    assert result.returncode != 0
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(
    "feature_set", ["seed87", "stats", "segment_stats", "rich", "logmel", "mfcc"]
)
def test_hop_longer_than_the_analysis_window_is_an_error(feature_set):
    config = _validated()
    n_fft = feature_settings(config, feature_set)["n_fft"]
    config["features"][feature_set] = dict(config["features"].get(feature_set) or {})
    config["features"][feature_set]["hop_length"] = n_fft
    check_config(config)  # a hop of one whole window: fine
    config["features"][feature_set]["hop_length"] = n_fft + 1
    with pytest.raises(ConfigError, match=rf"features\.{feature_set}\.hop_length"):
        check_config(config)


def _from_command_line(**entries: str) -> dict:
    """``--config KEY=VALUE ...`` over the tiny config, parsed as Snakemake parses mappings."""
    override = {key: yaml.load(value, Loader=yaml.BaseLoader) for key, value in entries.items()}
    config = _config(override)
    type_command_line_values(config, yaml.safe_load(SCHEMA.read_text(encoding="utf-8")))
    return config


def test_command_line_strings_get_the_types_the_schema_asks_for():
    config = _from_command_line(
        split="{scheme: kfold, kfold: {n_splits: 5, seed: 0}, holdout: {test_size: 0.25}}",
        features="{logmel: {fmax: null}, segment_stats: {window: 2}}",
        dataset="{kind: gtzan, gtzan: {root: '2024'}}",
        final_models="false",
    )
    validate(config, schema=str(SCHEMA))
    assert config["split"]["kfold"] == {"n_splits": 5, "seed": 0, "n_repeats": 1}
    assert config["split"]["holdout"]["test_size"] == 0.25
    assert config["features"]["logmel"]["fmax"] is None
    assert config["features"]["segment_stats"]["window"] == 2
    assert config["final_models"] is False
    assert config["dataset"]["gtzan"]["root"] == "2024"  # a string setting stays a string
    assert config["split"]["scheme"] == "kfold"


def test_command_line_model_params_read_as_yaml_would():
    config = _from_command_line(
        models="{svm: {params: {C: 10.0, gamma: scale, kernel: rbf}},"
        " svm_stats: {search: {param_grid: {C: [1, 1e-3]}}},"
        " cnn_logmel: {params: {filters: [64, 128], mixup_alpha: 0.2}}}"
    )
    assert config["models"]["svm"]["params"] == {"C": 10.0, "gamma": "scale", "kernel": "rbf"}
    assert config["models"]["svm_stats"]["search"]["param_grid"]["C"] == [1, 0.001]
    cnn = config["models"]["cnn_logmel"]["params"]
    assert cnn["filters"] == [64, 128] and cnn["mixup_alpha"] == 0.2
    check_config(config)


def test_command_line_words_read_as_the_config_file_reads_them():
    # YAML 1.1's yes/no/on/off and an empty value: `final_models: no` in the file turned
    # the final models off, `--config final_models=no` was refused as "'no' is not of
    # type 'boolean'"; a model's `shrinking: off` reached SVC as the string 'off'.
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    for word in ("yes", "no", "on", "off", "Yes", "NO", "On", "OFF", "True", "false"):
        from_file = yaml.safe_load(f"value: {word}")["value"]
        config = _config({"final_models": word})
        config["models"]["svm"]["params"]["shrinking"] = word
        type_command_line_values(config, schema)
        assert config["final_models"] is from_file, word
        assert config["models"]["svm"]["params"]["shrinking"] is from_file, word
    config = _from_command_line(
        features="{logmel: {fmax: }}", models="{svm: {params: {class_weight: }}}"
    )
    assert config["features"]["logmel"]["fmax"] is None
    assert config["models"]["svm"]["params"]["class_weight"] is None
    # Words YAML 1.1 keeps as words stay words: y and n, and a model's string settings.
    config = _from_command_line(models="{svm: {params: {kernel: rbf, gamma: y, tol: n}}}")
    assert config["models"]["svm"]["params"] == {
        "kernel": "rbf",
        "gamma": "y",
        "tol": "n",
        "C": 1.0,
    }


def test_command_line_model_params_keep_what_yaml_keeps():
    # YAML reads nan and inf as words, and 10.5 epochs stays 10.5 (for the estimator
    # check to refuse), not 10 trained without a word.
    config = _from_command_line(
        models="{svm: {params: {gamma: nan, tol: inf}}, cnn_logmel: {params: {epochs: 10.5}}}"
    )
    assert config["models"]["svm"]["params"]["gamma"] == "nan"
    assert config["models"]["svm"]["params"]["tol"] == "inf"
    assert config["models"]["cnn_logmel"]["params"]["epochs"] == 10.5


def test_plain_config_turns_mappings_inside_lists_into_dicts():
    # A config object inside a list (an ensemble's members, a grid of mappings) must
    # become a dict too, or the config's YAML hash cannot be written.
    from types import MappingProxyType

    from genrepipe.config import config_hash, plain_config

    config = {"models": {"x": {"grid": [MappingProxyType({"C": 1}), (2, 3)]}}}
    plain = plain_config(config)
    assert plain == {"models": {"x": {"grid": [{"C": 1}, [2, 3]]}}}
    assert type(plain["models"]["x"]["grid"][0]) is dict
    assert config_hash(config) == config_hash(plain)


def test_command_line_typing_leaves_typed_and_unreadable_values_alone():
    config = _config(
        {"split": {"kfold": {"n_splits": "five"}}, "models": {"svm": {"params": {"C": 2}}}}
    )
    before = copy.deepcopy(config)
    type_command_line_values(config, yaml.safe_load(SCHEMA.read_text(encoding="utf-8")))
    assert config == before
    with pytest.raises(Exception, match="five") as info:
        validate(config, schema=str(SCHEMA))
    assert "split.kfold.n_splits" in schema_error_message(info.value)


def test_order_config_keys_follows_the_defaults_then_sorts_the_rest():
    """One order whatever the merge did: the defaults' (so their runs' params stay the
    same text), then keys the defaults lack, sorted; lists keep theirs."""
    defaults = {"run_models": ["svm"], "models": {"svm": {"params": {"kernel": "rbf", "C": 1.0}}}}
    config = {"models": {"svm": {"params": {"C": 2.0, "kernel": "rbf"}}}, "run_models": ["b", "a"]}
    config["models"]["mine"] = {"params": {"filters": [8, 4], "epochs": 3}}
    models = config["models"]
    order_config_keys(config, defaults)
    assert config["models"] is models  # the same objects: Snakemake's config stays one dict
    assert list(config) == ["run_models", "models"] and list(models) == ["svm", "mine"]
    assert list(models["svm"]["params"]) == ["kernel", "C"]
    assert list(models["mine"]["params"]) == ["epochs", "filters"]
    assert models["mine"]["params"]["filters"] == [8, 4] and config["run_models"] == ["b", "a"]


def _key_orders(node, path="config"):
    """(path, keys in order) of every mapping in ``node``."""
    if isinstance(node, dict):
        yield path, list(node)
        for key, child in node.items():
            yield from _key_orders(child, f"{path}.{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _key_orders(child, f"{path}[{index}]")


def test_key_order_is_the_schemas_where_it_lists_keys_the_defaults_where_it_does_not():
    """config/config.yaml is the file users edit: its lines swapped must not reorder the
    jobs' params where the schema lists the keys; a model's params keep the defaults'."""
    schema = {
        "properties": {
            "stats": {"properties": {"n_fft": {}, "hop_length": {}}},
            "models": {
                "additionalProperties": {
                    "properties": {"estimator": {}, "vote": {}, "params": {"type": "object"}}
                }
            },
        }
    }
    defaults = {
        "models": {"svm": {"params": {"kernel": "rbf", "C": 1.0}, "estimator": "svm"}},
        "stats": {"hop_length": 512, "n_fft": 2048},
    }
    config = copy.deepcopy(defaults)
    config["models"]["mine"] = {"params": {"epochs": 3, "dropout": 0.5}, "vote": "majority"}
    config["models"]["aaa"] = {"estimator": "nn"}
    order_config_keys(config, key_order(schema, defaults, config))
    assert list(config) == ["stats", "models"] and list(config["stats"]) == ["n_fft", "hop_length"]
    # The defaults' entries first, then the user's, sorted; each as the schema lists keys.
    assert list(config["models"]) == ["svm", "aaa", "mine"]
    assert list(config["models"]["svm"]) == ["estimator", "params"]
    assert list(config["models"]["mine"]) == ["vote", "params"]
    # Keys the schema leaves free: the defaults' order, then sorted.
    assert list(config["models"]["svm"]["params"]) == ["kernel", "C"]
    assert list(config["models"]["mine"]["params"]) == ["dropout", "epochs"]


def test_the_shipped_config_is_already_in_the_canonical_key_order():
    """The schema lists its keys as config/config.yaml does: runs of the defaults keep the
    params they had (a schema listing n_fft first reran every extraction of seed87,
    which config/config.yaml lists after n_frames)."""
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    shipped = yaml.safe_load((PROJECT_ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    validate(shipped, schema=str(SCHEMA))  # as the workflow does first: defaults added
    ordered = copy.deepcopy(shipped)
    order_config_keys(ordered, key_order(schema, shipped, ordered))
    assert dict(_key_orders(ordered)) == dict(_key_orders(shipped))
    # Settings the shipped config lacks keep the order runs of them had: sorted (a lists
    # split's make_split, and every model after it, reran on a new order).
    lists = {"train": "a.txt", "valid": "b.txt", "test": "c.txt"}
    ordered["split"]["lists"] = lists
    order_config_keys(ordered, key_order(schema, shipped, ordered))
    assert list(ordered["split"]["lists"]) == sorted(lists)


def test_a_clip_given_as_the_dataset_root_is_named_as_a_file(tmp_path):
    clip = tmp_path / "genres" / "blues" / "blues.00000.wav"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"RIFF")
    config = _validated({"dataset": {"kind": "gtzan", "gtzan": {"root": str(clip)}}})
    with pytest.raises(ConfigError) as info:
        check_config(config)
    assert str(info.value) == (
        f"dataset.gtzan.root: {clip} is a file; point at the folder of genre folders (or its "
        f"parent), such as {tmp_path / 'genres'}"
    )
    # An archive is no clip: no folder two levels up to suggest.
    archive = tmp_path / "downloads" / "gtzan.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(b"")
    config = _validated({"dataset": {"kind": "gtzan", "gtzan": {"root": str(archive)}}})
    with pytest.raises(
        ConfigError, match=r"is a file; point at the folder of genre folders \(or its parent\)$"
    ):
        check_config(config)


def test_a_fixed_setting_that_the_search_also_sets_is_an_error():
    # GridSearchCV sets the grid's C over params' C: the fixed value was dropped silently.
    clash = {"models": {"svm_stats": {"params": {"C": 5.0}}}, "run_models": ["svm_stats"]}
    with pytest.raises(ConfigError, match=r"models\.svm_stats\.params\.C is also searched"):
        check_config(_validated(clash))
    # A fixed value the grid holds is one of its candidates: the search decides, as the
    # README says (an overlay could not otherwise add values to a setting the defaults fix).
    check_config(_validated(_merge(clash, {"models": {"svm_stats": {"params": {"C": 10.0}}}})))
    # The way out the message names: no search at all (an overlay cannot drop a grid key),
    # as null in a file or the string --config hands over.
    for null in (None, "null", "~"):
        config = _config(_merge(clash, {"models": {"svm_stats": {"search": null}}}))
        drop_null_settings(config)
        validate(config, schema=str(SCHEMA))
        check_config(config)
        assert "search" not in config["models"]["svm_stats"]
        assert config["models"]["svm_stats"]["params"]["C"] == 5.0


@pytest.mark.parametrize(
    ("scheme", "settings", "per_genre", "refused"),
    [
        ("holdout", {"test_size": 0.5}, [2] * 10, True),
        ("holdout", {"test_size": 0.5}, [3] * 10, False),
        ("holdout", {"test_size": 0.5}, [2] * 9 + [4], False),  # one genre keeps two
        # Nine genres' remainders outrank the tenth's: its 1.43 share rounds to 1 too.
        ("holdout", {"test_size": 0.5}, [2] * 9 + [3], True),
        ("kfold", {"n_splits": 2}, [2] * 10, True),
        ("kfold", {"n_splits": 3}, [3] * 10, False),
        ("kfold", {"n_splits": 2}, [2] * 9 + [4], False),
    ],
)
def test_an_inner_search_without_training_tracks_is_refused_where_every_fold_must_fail(
    scheme, settings, per_genre, refused
):
    from genrepipe.splits import holdout_split, kfold_split

    genres = [f"g{k}" for k, count in enumerate(per_genre) for _ in range(count)]
    tracks = [f"t{i}" for i in range(len(genres))]
    config = _config({"run_models": ["svm_stats"], "split": {"scheme": scheme, scheme: settings}})
    problem = inner_search_error(config, genres)
    assert bool(problem) is refused
    # The folds the job would get, over a few seeds: the job's own test
    # (tasks._inner_search) fails a fold where no genre has two training tracks.
    fails = []
    for seed in range(5):
        table = (holdout_split if scheme == "holdout" else kfold_split)(
            tracks, genres, **settings, seed=seed
        )
        for _, fold in table[table["subset"] == "train"].groupby("fold"):
            fails.append(fold["genre"].value_counts().max() < 2)
    if problem:
        assert all(fails), problem  # refused only where the job must fail
        assert problem.startswith("models.svm_stats.search: an inner cross-validation")
        assert f"split.{scheme}" in problem
    else:
        assert not all(fails)
    config["run_models"] = ["svm"]  # no search: nothing to say
    assert inner_search_error(config, genres) is None


def test_model_names_differing_only_in_case_are_refused():
    # results/models/SVM and results/models/svm are one folder on macOS and Windows.
    twin = {"models": {"SVM": {"estimator": "svm", "features": "stats", "input": "scaled"}}}
    with pytest.raises(ConfigError, match=r"models\.svm and models\.SVM differ only in case"):
        check_config(_validated(_merge(twin, {"run_models": ["svm", "SVM"]})))
    check_config(_validated(_merge(twin, {"run_models": ["SVM", "gmm"]})))  # one in use


def test_a_head_set_to_no_base_in_an_overlay_trains_a_cnn_of_its_own():
    # An overlay cannot delete the defaults' base; null (or its text from --config) drops
    # it, as null drops a search. The schema refused null and read "null" as a model name.
    for null in (None, "null", "~"):
        override = {"models": {"cnn_svm": {"base": null, "params": {"cnn": {"epochs": 3}}}}}
        config = _config(_merge(override, {"run_models": ["cnn_svm"]}))
        drop_null_settings(config)
        validate(config, schema=str(SCHEMA))
        check_config(config)
        assert "base" not in config["models"]["cnn_svm"]
        assert config["models"]["cnn_logmel"]["estimator"] == "cnn_windows"  # untouched


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"audio": {"sample_rate": 8000}},
            "audio.sample_rate=8000 is too low for the spectral contrast of seed87, stats",
        ),
        (
            {"features": {"seed87": {"mel_fmax": 20000.0}}},
            "features.seed87.mel_fmax (20000 Hz) is above half of audio.sample_rate (11025 Hz)",
        ),
        (
            {"features": {"sets": ["logmel"], "logmel": {"fmax": 50000.0}}},
            "features.logmel.fmax (50000 Hz) is above half",
        ),
        (
            {"features": {"stats": {"n_mfcc": 200}}},
            "features.stats.n_mfcc (200) exceeds the 128 mel bands",
        ),
        (
            {"models": {"cnn_logmel": {"params": {"mixup_alpha": -1.0}}}},
            "models.cnn_logmel.params.mixup_alpha must be 0 or more, got -1.0",
        ),
        (
            {"models": {"cnn_logmel": {"params": {"lr_patience": -1}}}},
            "models.cnn_logmel.params.lr_patience must be 0 or more",
        ),
        (
            {"models": {"cnn_logmel": {"params": {"weight_decay": -1.0}}}},
            "models.cnn_logmel.params.weight_decay must be 0 or more",
        ),
        (
            {"models": {"cnn_logmel": {"params": {"filters": [0]}}}},
            "models.cnn_logmel.params.filters must be positive whole numbers, got [0]",
        ),
        (
            {"models": {"cnn": {"params": {"global_pool": "mean_max"}}}},
            "models.cnn.params.global_pool must be true or false, got 'mean_max'",
        ),
        (
            {"models": {"cnn": {"params": {"kernel_size": [3, 5, 7]}}}},
            "models.cnn.params.kernel_size must be a positive whole number or a pair of them",
        ),
        (
            {"models": {"cnn": {"params": {"pool_size": [0, 2]}}}},
            "models.cnn.params.pool_size must be a positive whole number or a pair of them",
        ),
        (
            {"models": {"cnn_logmel": {"params": {"kernel_size": [3, 5]}}}},
            "models.cnn_logmel.params.kernel_size must be one number with convolution: time, "
            "got [3, 5]",
        ),
        (
            {"models": {"svm_stats": {"vote": "majority"}}},
            "models.svm_stats.vote is for models reading windows of segment_stats",
        ),
        (
            {"models": {"ensemble": {"features": "stats", "input": "pca"}}},
            "models.ensemble: an ensemble fits nothing; remove features, input",
        ),
        # null reached the estimator, which failed in every training job after the
        # extraction (or, for window_frames, crashed this check with a TypeError).
        (
            {"models": {"svm_stats": {"params": {"C": None}}}},
            "models.svm_stats.params.C cannot be null: leave it out for the svm model's default",
        ),
        (
            {"models": {"svm_stats": {"search": {"param_grid": {"C": [1.0, None]}}}}},
            "models.svm_stats.search.param_grid.C cannot be null",
        ),
        ({"models": {"gmm": {"params": {"reg_covar": None}}}}, "gmm.params.reg_covar cannot be"),
        ({"models": {"cnn": {"params": {"epochs": None}}}}, "models.cnn.params.epochs cannot be"),
        (
            {"models": {"cnn_logmel": {"params": {"window_frames": None}}}},
            "models.cnn_logmel.params.window_frames cannot be null",
        ),
        # Cut to a whole number by the estimator: 2.5 components fitted 2.
        (
            {"models": {"gmm": {"params": {"n_components": 2.5}}}},
            "models.gmm.params.n_components must be a whole number, got 2.5",
        ),
        (
            {"models": {"cnn_logmel": {"params": {"epochs": 5.5}}}},
            "models.cnn_logmel.params.epochs must be a whole number, got 5.5",
        ),
        (
            {"models": {"svm_stats": {"params": {"C": float("inf")}}}},
            "models.svm_stats.params.C must be a finite number, got inf",
        ),
    ],
)
def test_settings_every_job_would_refuse_are_refused_first(override, message):
    # Each passed the start-up check and failed in every extraction or training job
    # (or, for vote and an ensemble's features, was ignored).
    run = {"run_models": ["gmm", "svm_stats", "cnn", "cnn_logmel", "ensemble"]}
    config = _config(run | override)
    validate(config, schema=str(SCHEMA))
    with pytest.raises(ConfigError) as info:
        check_config(config)
    assert message in str(info.value)


def test_what_the_new_checks_refuse_has_a_valid_spelling():
    # A pair of kernel sizes is the reference CNN's own (rows, frames); a default's vote
    # on a model now reading whole tracks is turned off by null, as an overlay cannot
    # delete a key.
    run = {"run_models": ["cnn", "svm_segments"]}
    override = {
        "models": {
            "cnn": {"params": {"kernel_size": [3, 5], "pool_size": 2}},
            "svm_segments": {"features": "rich", "vote": None},
        },
        "features": {"rich": {"window": 1.0}},  # windows of 3 s: one in the tiny 3 s clips
    }
    config = _config(run | override)
    validate(config, schema=str(SCHEMA))
    check_config(config)
    # From the command line, null arrives as text.
    config = _config(run | override)
    config["models"]["svm_segments"]["vote"] = "null"
    type_command_line_values(config, yaml.safe_load(SCHEMA.read_text(encoding="utf-8")))
    assert config["models"]["svm_segments"]["vote"] is None


def test_whole_numbers_take_the_type_the_schema_asks_for():
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    config = _config(
        {
            "features": {"stats": {"n_mfcc": 13.0}, "mfcc": {"n_mels": "64.0"}},
            "dataset": {
                "kind": "gtzan",
                "gtzan": {"root": "2024.0"},
                "min_duration": 2,
                "max_duration": "4",
            },
        }
    )
    # A model setting of any real number, written whole: `C: 1` retrained what `C: 1.0` made.
    config["models"]["svm"]["params"]["C"] = 1
    config["models"]["svm_rich"]["search"]["param_grid"]["C"] = [1, 10.0]
    config["models"]["cnn_svm"]["params"]["cnn"] = {"learning_rate": 1, "epochs": 3}
    config["models"]["gmm"]["params"]["n_components"] = 2  # an integer setting stays one
    type_command_line_values(config, schema)
    assert type(config["features"]["stats"]["n_mfcc"]) is int
    assert config["features"]["stats"]["n_mfcc"] == 13
    assert config["features"]["mfcc"]["n_mels"] == 64
    assert config["dataset"]["gtzan"]["root"] == "2024.0"  # a string where one is asked
    assert config["dataset"]["synthetic"]["duration"] == 3.0  # a number stays a float
    assert type(config["dataset"]["synthetic"]["duration"]) is float
    assert type(config["models"]["svm"]["params"]["C"]) is float
    assert [type(c) for c in config["models"]["svm_rich"]["search"]["param_grid"]["C"]] == [
        float,
        float,
    ]
    assert config["models"]["cnn_svm"]["params"]["cnn"] == {"learning_rate": 1.0, "epochs": 3}
    assert type(config["models"]["cnn_svm"]["params"]["cnn"]["learning_rate"]) is float
    assert type(config["models"]["cnn_svm"]["params"]["cnn"]["epochs"]) is int
    assert type(config["models"]["gmm"]["params"]["n_components"]) is int
    # Whole numbers where a number is asked become floats: `2` and `2.0` rerun nothing.
    assert config["dataset"]["min_duration"] == 2.0
    assert type(config["dataset"]["min_duration"]) is float
    assert type(config["dataset"]["max_duration"]) is float
    assert type(config["dataset"]["synthetic"]["n_per_genre"]) is int  # an integer stays one
    # Not whole: left for the schema to refuse by name.
    config = _config({"features": {"stats": {"n_mfcc": 13.5}}})
    type_command_line_values(config, schema)
    assert config["features"]["stats"]["n_mfcc"] == 13.5


@pytest.mark.parametrize(
    ("model", "params", "message"),
    [
        ("svm", {"class_weight": "balance"}, r"svm\.params\.class_weight: The 'class_weight' "),
        ("svm", {"tol": -1}, r"models\.svm\.params\.tol: The 'tol' parameter of SVC must be"),
        ("svm", {"C": [1.0, 10.0]}, r"models\.svm\.params\.C must be a number, got \[1\.0"),
        ("logreg_stats", {"solver": "lbfgsx"}, r"logreg_stats\.params\.solver: The 'solver' "),
        ("cnn_svm", {"shrinking": "yes"}, r"cnn_svm\.params\.shrinking: The .shrinking. "),
    ],
)
def test_other_sklearn_settings_are_checked_by_their_constraints(model, params, message):
    # These passed the check and failed in every training job, naming cross_val_predict.
    override = {"run_models": [model], "models": {model: {"params": params}}}
    with pytest.raises(ConfigError, match=message):
        check_config(_validated(override))


def test_null_settings_stay_the_estimators_own_default():
    from genrepipe.config import check_estimator_params

    # KerasClassifier reads validation_fraction: null as 0; the check let it through before.
    check_estimator_params("nn", {"validation_fraction": None}, key="models.nn.params")
    check_estimator_params("svm", {"class_weight": None}, key="models.svm.params")


def test_checking_the_default_config_does_not_import_sklearn():
    """The workflow checks its config at every parse; scikit-learn costs about 2 s to load."""
    import subprocess
    import sys

    code = (
        "import sys, yaml; from snakemake.utils import validate; "
        "from genrepipe.config import check_config; "
        f"config = yaml.safe_load(open({str(PROJECT_ROOT / 'config' / 'config.yaml')!r})); "
        f"validate(config, schema={str(SCHEMA)!r}); check_config(config); "
        "assert 'sklearn' not in sys.modules, 'sklearn imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize(
    "name",
    [
        "svm/c10",
        "svm{c}",
        "a\\b",
        "..",
        "",
        123,
        "svm:c10",
        "svm?",
        "svm\t2",
        "svm.",
        "svm ",
        "nul",
        "Com1.b",
    ],
)
def test_model_names_that_cannot_name_a_folder_are_errors(name):
    # svm/c10 ran inside svm's folders; svm{c} failed in rule all as a WildcardError.
    # svm:c10 made on Linux a folder Windows cannot hold (its results copied there, or
    # a run there: an NTFS stream), as nul made a device's name.
    config = _validated(
        {"models": {name: {"estimator": "svm", "features": "stats", "input": "scaled"}}}
    )
    with pytest.raises(ConfigError, match="a model name may not|a model name must be text"):
        check_config(config)
    config["models"]["svm_c10-B.2"] = config["models"].pop(name)
    check_config(config)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("a\\b", "hold \\ ("),
        ("svm\t2", "hold \\t ("),
        ("svm:c<10>", "hold : < > ("),
        ("nul .txt", "be nul .txt (Windows keeps nul for a device, with any extension)"),
        ("svm ", "end in a dot or a space (Windows drops them from folder names)"),
        ("com\u00b9", "be com\u00b9 (Windows keeps"),
    ],
)
def test_a_refused_model_name_is_told_what_is_wrong_with_it(name, problem):
    config = _validated(
        {"models": {name: {"estimator": "svm", "features": "stats", "input": "scaled"}}}
    )
    with pytest.raises(ConfigError, match=f"a model name may not {re.escape(problem)}"):
        check_config(config)


@pytest.mark.slow
def test_a_feature_block_deleted_from_the_defaults_uses_the_feature_functions_defaults(tmp_path):
    """Removing `rich:` from config/config.yaml failed with KeyError: 'rich' in merge_features."""
    import shutil
    import subprocess
    import sys

    project = tmp_path / "project"
    project.mkdir()
    for part in ("Snakefile", "rules", "workflow", "config", "report", "envs", "profiles", "src"):
        source = PROJECT_ROOT / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, project / part)
    defaults = yaml.safe_load((project / "config" / "config.yaml").read_text(encoding="utf-8"))
    del defaults["features"]["rich"]
    (project / "config" / "config.yaml").write_text(
        yaml.safe_dump(defaults, sort_keys=False), encoding="utf-8"
    )
    override = tmp_path / "override.yaml"
    # Clips of 7 s: the default 3 s windows of rich fit but once in the tiny 3 s clips.
    longer = {"dataset": {"synthetic": {"duration": 7.0}, "max_duration": 8.0}}
    override.write_text(yaml.safe_dump({"run_models": ["logreg_rich"]} | longer), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--snakefile",
         str(project / "Snakefile"), "--directory", str(tmp_path),
         "--configfile", str(TINY_CONFIG), str(override)],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "merge_features" in result.stdout


def test_the_schema_knows_every_estimator():
    from genrepipe.estimators import ESTIMATOR_NAMES, ESTIMATOR_PARAMS

    model = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))["properties"]["models"][
        "additionalProperties"
    ]
    assert set(model["properties"]["estimator"]["enum"]) == {*ESTIMATOR_NAMES, "ensemble"}
    assert set(ESTIMATOR_PARAMS) == set(ESTIMATOR_NAMES)


def test_the_check_reads_only_settings_with_defaults():
    """Every feature block may be deleted from config/config.yaml: the check falls back to
    FEATURE_DEFAULTS (a deleted segment_stats block raised KeyError: 'window')."""
    from genrepipe.config import FEATURE_DEFAULTS

    config = _validated()
    config["run_models"] = list(config["models"])
    # Clips of 30 s: the tiny run's 3 s hold 2 distinct windows of the default 3 s, not
    # 10, and no window of cnn_mfcc's 256 frames.
    config["dataset"]["synthetic"]["duration"] = 30.0
    config["dataset"]["max_duration"] = 31.0
    for feature_set in FEATURE_DEFAULTS:
        config["features"].pop(feature_set, None)  # a new set may have no block at all
    check_config(config)


def test_a_dataset_folder_inside_the_working_directory_is_named_relative(tmp_path, monkeypatch):
    # Clip paths are job inputs: two spellings of one folder would rerun every job.
    monkeypatch.chdir(tmp_path)
    assert working_directory_path(tmp_path / "resources" / "genres") == "resources/genres"
    assert working_directory_path(f"{tmp_path}/resources/genres/") == "resources/genres"
    assert working_directory_path("resources/genres") == "resources/genres"
    assert working_directory_path("./resources//genres/") == "resources/genres"
    # Outside: as written, so a moved checkout still finds an absolute folder.
    outside = tmp_path.parent / "elsewhere"
    assert working_directory_path(outside) == str(outside)
    assert working_directory_path(f"{outside}//x/") == str(outside / "x")
    assert working_directory_path("../elsewhere") == "../elsewhere"
    assert working_directory_path("./../elsewhere/") == "../elsewhere"
    assert working_directory_path("data/../elsewhere") == "data/../elsewhere"  # a link?
    # '..' may follow a link: never folded away by hand.
    assert working_directory_path(f"{tmp_path}/link/../genres") == f"{tmp_path}/link/../genres"
    # Reached through a link, the shell's spelling ($PWD) names it too.
    (tmp_path.parent / f"{tmp_path.name}-link").symlink_to(tmp_path)
    linked = tmp_path.parent / f"{tmp_path.name}-link"
    monkeypatch.setenv("PWD", str(linked))
    assert working_directory_path(linked / "resources" / "genres") == "resources/genres"
    assert working_directory_path(tmp_path / "resources" / "genres") == "resources/genres"
    monkeypatch.setenv("PWD", str(outside))  # stale: not the working directory
    assert working_directory_path(linked / "genres") == str(linked / "genres")


@pytest.mark.parametrize(
    ("model", "name", "value"),
    [
        ("logreg_stats", "n_jobs", True),
        ("nn", "log", True),
        ("cnn_logmel", "log", True),
        ("svm_stats", "break_ties", True),
        ("svm_stats", "decision_function_shape", "ovo"),
        ("cnn_svm", "decision_function_shape", "ovr"),
    ],
)
def test_settings_without_effect_are_not_settings(model, name, value):
    # logistic regression's n_jobs does nothing since scikit-learn 1.8, and the
    # networks' log is pointed at the job's log: both retrained a model for nothing.
    # The SVM's probabilities are calibrated, and predict is their argmax: SVC's
    # break_ties does nothing, and ovo's pairwise decision columns were calibrated as
    # if one per genre (argmax accuracy 0.32 where SVC's own was 0.70).
    override = {"run_models": [model], "models": {model: {"params": {name: value}}}}
    with pytest.raises(ConfigError, match=rf"models\.{model}\.params\.{name} is not a setting"):
        check_config(_validated(override))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        # Read as `if use_priors:`, the text "no" switched the priors on.
        ({"models": {"gmm": {"params": {"use_priors": "no"}}}}, "use_priors must be true or false"),
        ({"models": {"gmm": {"params": {"use_priors": 0}}}}, "use_priors must be true or false"),
        ({"models": {"nn": {"params": {"negative_slope": -0.5}}}}, "negative_slope must be 0 or"),
        ({"models": {"nn": {"params": {"negative_slope": "abc"}}}}, "negative_slope must be a nu"),
        ({"features": {"stats": {"n_fft": 131072}}}, "features.stats.n_fft (131072 samples"),
        (
            {"dataset": {"min_duration": 0.0, "max_duration": 0.05}},
            "dataset.max_duration (0.05 s), the most of a clip that is read: no clip would hold",
        ),
        ({"features": {"stats": {"n_fft": 64, "hop_length": 64}}}, "at least 111)"),
        (
            {"features": {"sets": ["mfcc"], "mfcc": {"n_frames": 130, "delta_width": 131}}},
            "features.mfcc.delta_width (131) exceeds the 130 frames",
        ),
    ],
)
def test_more_settings_every_job_would_refuse_are_refused_first(override, message):
    """Each passed the check and failed inside a job (some after every clip's extraction)."""
    with pytest.raises(ConfigError) as info:
        check_config(_validated({"run_models": ["gmm", "nn"], **override}))
    assert message in str(info.value)


@pytest.mark.parametrize("override", [{"seed": 2**32}, {"split": {"holdout": {"seed": 2**32}}}])
def test_seeds_beyond_32_bits_are_refused_by_the_schema(override):
    # numpy's legacy seeding and scikit-learn's random_state take 32 bits: the split or
    # every training job failed.
    from snakemake.exceptions import WorkflowError

    with pytest.raises(WorkflowError) as info:
        _validated(override)
    assert "4294967295" in schema_error_message(info.value)
    _validated({"seed": 2**32 - 1})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"band_heights": [1.5]}, "band_heights must be shares of the bands in (0, 1], got [1.5]"),
        ({"band_heights": "abc"}, "band_heights must be shares of the bands in (0, 1], got 'abc'"),
        (
            {"convolution": "timbral", "filters": [1, 4], "band_heights": [0.4, 0.7]},
            "filters[0] (1) cannot give a map to each of the 2 band_heights",
        ),
    ],
)
def test_window_cnn_band_heights_are_checked_first(params, message):
    from genrepipe.config import check_estimator_params

    with pytest.raises(ConfigError) as info:
        check_estimator_params("cnn_windows", params, key="models.cnn_logmel.params")
    assert str(info.value) == f"models.cnn_logmel.params.{message}"
    check_estimator_params(
        "cnn_windows", {"convolution": "timbral", "band_heights": [0.5]}, key="k"
    )


@pytest.mark.parametrize(
    ("estimator", "params", "message"),
    [
        # A one-number list: the 2-D networks' kernels and pools are pairs; it passed
        # the check, then every training job failed in the network's builder.
        ("cnn", {"kernel_size": [3]}, "kernel_size must be one number or a [bands, frames]"),
        ("cnn", {"pool_size": [2]}, "pool_size must be one number or a [bands, frames]"),
        ("cnn_windows", {"kernel_size": [3]}, "kernel_size must be one number or a [bands"),
        # The default band_heights (two) want two maps of the first block: checked only
        # when band_heights was written out.
        ("cnn_windows", {"convolution": "timbral", "filters": [1, 8]}, "filters[0] (1) cannot"),
    ],
)
def test_network_shapes_the_builders_refuse_are_refused_by_the_check(estimator, params, message):
    from genrepipe.config import _TIMBRAL_BAND_HEIGHTS, check_estimator_params
    from genrepipe.windows import WindowCNNClassifier

    with pytest.raises(ConfigError, match=re.escape(f"k.{message}")):
        check_estimator_params(estimator, params, key="k")
    default = inspect.signature(WindowCNNClassifier).parameters["band_heights"].default
    assert _TIMBRAL_BAND_HEIGHTS == tuple(default)
    # Still accepted: a time convolution's one-number list, a pair for a 2-D one.
    check_estimator_params("cnn_windows", {"convolution": "time", "kernel_size": [3]}, key="k")
    check_estimator_params("cnn", {"kernel_size": [3, 5], "pool_size": 2}, key="k")


def test_an_svm_may_run_without_an_iteration_limit():
    """max_iter -1 is SVC's own default, no limit: refused as not positive."""
    from genrepipe.config import check_estimator_params

    for estimator in ("svm", "cnn_svm"):
        check_estimator_params(estimator, {"max_iter": -1}, key="k")
    with pytest.raises(ConfigError, match=r"k.max_iter must be positive \(or -1, no limit\)"):
        check_estimator_params("svm", {"max_iter": 0}, key="k")
    with pytest.raises(ConfigError, match=r"k.max_iter must be positive, got -1"):
        check_estimator_params("gmm", {"max_iter": -1}, key="k")


@pytest.mark.parametrize(("sr", "n_fft"), [(22050, 110), (22050, 111), (44100, 220), (16000, 80)])
def test_the_contrast_n_fft_check_agrees_with_librosa(sr, n_fft):
    """Refused exactly where librosa's spectral contrast gives NaN or fails."""
    import warnings

    import librosa

    from genrepipe import features

    stats = {"n_fft": n_fft, "hop_length": n_fft // 2}
    override = {"audio": {"sample_rate": sr}, "features": {"stats": stats}}
    config = _validated({"run_models": ["svm_stats"], **override})
    try:
        check_config(config)
        refused = False
    except ConfigError as error:
        refused = "too small for the spectral contrast" in str(error)
    y = np.random.default_rng(0).normal(size=sr).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            contrast = librosa.feature.spectral_contrast(
                y=y, sr=sr, n_fft=n_fft, hop_length=n_fft // 2, fmin=features._CONTRAST_FMIN
            )
            fails = not np.isfinite(contrast).all()
        except (IndexError, librosa.util.exceptions.ParameterError):
            fails = True
    assert refused == fails


def test_sklearn_settings_that_clash_are_refused_with_the_genres_found():
    from genrepipe import GENRES
    from genrepipe.config import check_model_fits

    def check(model, params, genres=GENRES):
        config = _validated({"run_models": [model], "models": {model: {"params": params}}})
        check_model_fits(config, list(genres))

    with pytest.raises(ConfigError) as info:
        check("logreg_stats", {"dual": True})
    assert str(info.value) == (
        "models.logreg_stats.params: Solver lbfgs supports only dual=False, got dual=True"
    )
    with pytest.raises(ConfigError) as info:
        check("svm", {"class_weight": {"blues": 2.0, "polka": 3.0}})
    assert str(info.value) == (
        "models.svm.params.class_weight names polka, no genre of the dataset "
        f"({', '.join(sorted(GENRES))})"
    )
    check("svm", {"class_weight": {"blues": 2.0}})
    # Weights of every genre, and of more: as scikit-learn takes them.
    check("svm", {"class_weight": {"blues": 2.0, "rock": 1.0, "polka": 3.0}}, ["blues", "rock"])
    with pytest.raises(ConfigError) as info:
        grid = {"class_weight": [None, {"blues": 2.0, "polka": 3.0}]}
        override = {"search": {"inner_folds": 2, "param_grid": grid}}
        check_model_fits(
            _validated({"run_models": ["svm_stats"], "models": {"svm_stats": override}}),
            list(GENRES),
        )
    assert str(info.value).startswith(
        "models.svm_stats.search.param_grid.class_weight names polka, no genre of the dataset"
    )
    check("logreg_stats", {"solver": "liblinear", "dual": True}, genres=["blues", "rock"])
    with pytest.raises(ConfigError, match=r"with search \{'C': 0\.01, 'dual': True\}: Solver"):
        override = {"search": {"inner_folds": 2, "param_grid": {"dual": [False, True]}}}
        config = _validated({"run_models": ["logreg_stats"], "models": {"logreg_stats": override}})
        check_model_fits(config, list(GENRES))


def test_frame_counts_that_keep_little_of_the_clips_warn():
    """Frames count samples: seed87's 1400 at hop 512 keep 32.5 s at 22050 Hz but 16.3 s at
    44100 Hz, and the CNNs' 1290 keep 15.0 s: the rest of every clip went unheard, unsaid."""
    from genrepipe.config import frame_count_warnings

    sets = {
        "sets": ["seed87", "logmel"],
        "seed87": {"n_frames": 1400},
        "logmel": {"n_frames": 1290},
    }
    dataset = {"synthetic": {"duration": 30.0}, "max_duration": 31.0, "min_duration": 20.0}
    config = _validated({"dataset": dataset, "features": sets})
    assert frame_count_warnings(config) == []  # logmel's 1290 keep 29.95 s of 30: as meant
    config = _validated({"dataset": dataset, "features": sets, "audio": {"sample_rate": 44100}})
    assert frame_count_warnings(config) == [
        "features.seed87.n_frames=1400 at hop_length 512 keeps 16.3 s of audio at "
        "audio.sample_rate=44100, less than dataset.synthetic.duration (30 s), every generated "
        "clip's: the rest of every clip goes unheard (frames count samples: scale n_frames, or "
        "hop_length, with the rate)",
        "features.logmel.n_frames=1290 at hop_length 512 keeps 15.0 s of audio at "
        "audio.sample_rate=44100, less than dataset.synthetic.duration (30 s), every generated "
        "clip's: the rest of every clip goes unheard (frames count samples: scale n_frames, or "
        "hop_length, with the rate)",
    ]


@pytest.mark.parametrize(
    ("version", "expected"),
    [("0.11.0", "0.11"), ("0.11.0.post1", "0.11"), ("0.11+local", "0.11"), ("1.0rc1", "1.0")],
)
def test_a_release_is_a_versions_major_and_minor_numbers(version, expected):
    """The extraction jobs' rerun trigger: a local build or a post-release of the same
    release re-extracts nothing."""
    from genrepipe.config import installed_release, release

    assert release(version) == expected
    assert installed_release("no-such-distribution-here") is None


@pytest.mark.parametrize(
    ("scheme", "settings"),
    [
        ("holdout", {"test_size": 0.1, "seed": 42}),
        ("kfold", {"n_splits": 10, "n_repeats": 1, "seed": 42}),
    ],
)
def test_a_split_without_its_settings_block_splits_with_the_schemas_defaults(scheme, settings):
    """make_split passes split.<scheme> as it is, and the split functions' own seed is 0:
    a config file without the block (only ``scheme``) must still split as the schema says,
    the block filled in when the config is checked."""
    config = _config()
    config["split"] = {"scheme": scheme}
    validate(config, schema=str(SCHEMA))
    assert config["split"][scheme] == settings


def _config_values(words: list[str]) -> list[str]:
    """The values of a snakemake command line's --config: every word up to the next option."""
    start = words.index("--config") + 1
    stop = next((i for i in range(start, len(words)) if words[i].startswith("-")), len(words))
    return words[start:stop]


README_CONFIG_VALUES = [
    _config_values(words) for words in readme_commands("snakemake") if "--config" in words
]


def test_the_readme_has_config_commands_to_check():
    assert len(README_CONFIG_VALUES) >= 5, README_CONFIG_VALUES


@pytest.mark.slow
@pytest.mark.parametrize("values", README_CONFIG_VALUES, ids=" ".join)
def test_the_readmes_config_commands_are_accepted(values, tmp_path, request):
    """Each ``--config`` the README tells a user to type, dry-run as given: a renamed
    setting or value (the schema refuses unknown keys) fails here, not for the reader.
    Its paths into ../shared and its placeholder dataset are the mini set's (skipped
    without ../shared, as are the split lists')."""
    text = " ".join(values)
    if "../shared/" in text or "path/to/genres" in text:
        mini = request.getfixturevalue("gtzan_mini_dir")
        if "gtzan_splits" in text:
            request.getfixturevalue("kereliuk_splits_dir")
        values = [
            value.replace("../shared/data/", f"{SHARED_DATA}/").replace("path/to/genres", str(mini))
            for value in values
        ]
    defaults = PROJECT_ROOT / "config" / "config.yaml"  # the runner adds a --configfile
    result = run_workflow(tmp_path, defaults, extra=["--dry-run", "--config", *values], check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Invalid configuration" not in output
    assert "Job stats:" in output  # a plan, not an early exit


def _snakemake_arguments(words: list[str]) -> argparse.Namespace:
    """A README snakemake command line as Snakemake's own parser reads it (its placeholder
    core count N as a number): an option renamed or misspelt fails the test, naming it."""
    from snakemake.cli import get_argument_parser

    arguments = ["8" if word == "N" else word for word in words[1:]]
    try:
        return get_argument_parser().parse_args(arguments)
    except SystemExit:  # argparse has printed why to stderr, which pytest shows
        pytest.fail(f"snakemake refuses the README's `{shlex.join(words)}`")


def _rules_named(arguments: argparse.Namespace) -> set[str]:
    """The rules a parsed snakemake command names: its targets that are no file (no path or
    suffix) and the rules of --forcerun, --until and --omit-from."""
    targets = {target for target in arguments.targets if target.isidentifier()}
    return targets | arguments.forcerun | arguments.until | arguments.omit_from


@pytest.mark.slow
def test_files_of_another_split_scheme_are_not_planned(tmp_path):
    """Asked for results/metrics/svm/kfold.json under a holdout config, the workflow made
    a 10-fold split and evaluated its fold 0 alone: a one-fold 'kfold' result, silently."""
    other = run_workflow(
        tmp_path, TINY_CONFIG, extra=["--dry-run", "results/metrics/svm/kfold.json"], check=False
    )
    assert other.returncode != 0
    assert "results/metrics/svm/kfold.json" in other.stdout + other.stderr
    run_workflow(tmp_path, TINY_CONFIG, extra=["--dry-run", "results/metrics/svm/holdout.json"])
    # Nor a fold the split lacks: holdout's fold 1 was planned, then its preprocessing
    # failed on "results/splits/holdout.tsv has no fold 1".
    missing = "results/models/svm_stats/holdout/fold1/predictions.tsv"
    other = run_workflow(tmp_path, TINY_CONFIG, extra=["--dry-run", missing], check=False)
    assert other.returncode != 0 and "fit_preprocessing" not in other.stdout, other.stdout
    assert missing in other.stdout + other.stderr


@pytest.mark.slow
def test_the_readmes_snakemake_commands_parse_and_name_rules_that_exist(tmp_path):
    """Every snakemake command of the README is one Snakemake's parser accepts, and its
    targets and --forcerun/--until rules are rules of the workflow (``snakemake
    --list-rules``): a renamed rule or option fails here, not for a reader whose command
    then stops on "No rule to produce train_model"."""
    commands = readme_commands("snakemake")
    named = set().union(*(_rules_named(_snakemake_arguments(words)) for words in commands))
    assert {"download_gtzan", "train_model", "train_final_model"} <= named, named
    result = run_workflow(tmp_path, TINY_CONFIG, extra=["--list-rules"], cores=None)
    rules = set(result.stdout.split())
    assert named <= rules, sorted(named - rules)
