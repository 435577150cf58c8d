"""Checks of the workflow configuration beyond its schema, and what it implies.

``config/schema.yaml`` checks types and ranges of single keys. The checks here
need several keys at once (a model named in ``run_models`` must be defined, a
split list file must exist, a model's ``params`` must be arguments of its
estimator). They run when the workflow is parsed, before any job.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from genrepipe import GENRES
from genrepipe.dataset import Discovery, Track, discover_tracks

#: Feature sets whose per-track arrays are matrices (rows x frames), not vectors.
MATRIX_FEATURE_SETS = ("seed87", "logmel")
#: Feature sets that store several windows per track (segment mode): models train
#: on windows and vote per track.
SEGMENT_FEATURE_SETS = ("segment_stats",)
#: Estimators whose hyperparameters an inner cross-validation can search.
SEARCHABLE_ESTIMATORS = ("gmm", "svm")


class ConfigError(ValueError):
    """A setting that cannot work; the message names the key."""


def check_config(config: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the first key whose value cannot work."""
    models = config["models"]
    for name in config["run_models"]:
        if name not in models:
            raise ConfigError(
                f"run_models names {name!r}, which is not defined under models "
                f"(defined: {', '.join(models)})"
            )
    for name in config["run_models"]:
        spec = models[name]
        key = f"models.{name}"
        estimator = spec["estimator"]
        check_estimator_params(estimator, spec.get("params") or {}, key=f"{key}.params")
        if spec["input"] == "image" and spec["features"] not in MATRIX_FEATURE_SETS:
            raise ConfigError(
                f"{key}.input is 'image' but {key}.features={spec['features']!r} is a vector "
                f"per track (image inputs need one of {MATRIX_FEATURE_SETS})"
            )
        search = spec.get("search")
        if search:
            if estimator not in SEARCHABLE_ESTIMATORS:
                raise ConfigError(
                    f"{key}.search: inner-CV search is for {', '.join(SEARCHABLE_ESTIMATORS)}, "
                    f"not {estimator!r}"
                )
            check_estimator_params(estimator, search["param_grid"], key=f"{key}.search.param_grid")
        if spec["input"] == "image" and spec["features"] in SEGMENT_FEATURE_SETS:
            raise ConfigError(f"{key}: segmented features {spec['features']!r} are not images")
        if estimator == "cnn" and spec["input"] != "image":
            raise ConfigError(f"{key}: the cnn estimator needs input: image, got {spec['input']!r}")
        if estimator != "cnn" and spec["input"] == "image":
            raise ConfigError(f"{key}: input 'image' is for the cnn estimator, not {estimator!r}")

    dataset = config["dataset"]
    if dataset["kind"] == "gtzan":
        root = (dataset.get("gtzan") or {}).get("root")
        if not root:
            raise ConfigError("dataset.gtzan.root must be set when dataset.kind is 'gtzan'")
        if not Path(root).is_dir():
            raise ConfigError(
                f"dataset.gtzan.root: folder {root} does not exist (relative paths start at the "
                f"working directory; `snakemake download_gtzan` fills resources/gtzan)"
            )
    if dataset.get("max_duration", 31.0) <= dataset.get("min_duration", 0.0):
        raise ConfigError(
            f"dataset.max_duration={dataset.get('max_duration')} must exceed "
            f"dataset.min_duration={dataset.get('min_duration')}"
        )

    split = config["split"]
    if split["scheme"] == "lists":
        lists = split.get("lists")
        if not lists:
            raise ConfigError(
                "split.lists must give train and test list files when scheme is 'lists'"
            )
        for subset, list_file in lists.items():
            if not Path(list_file).is_file():
                raise ConfigError(f"split.lists.{subset}: list file {list_file} does not exist")

    for set_name in ("seed87", "stats", "logmel"):
        settings = config["features"].get(set_name) or {}
        if settings.get("hop_length", 0) > settings.get("n_fft", 2048):
            raise ConfigError(f"features.{set_name}.hop_length must not exceed n_fft")


def check_estimator_params(estimator: str, params: Mapping[str, Any], *, key: str) -> None:
    """Raise :class:`ConfigError` if ``params`` are not arguments of ``estimator``.

    Only the names are checked here, from the constructor's signature, without
    importing TensorFlow; values are checked by the estimator when it is built.
    """
    from genrepipe.models import MODEL_NAMES, allowed_params

    if estimator not in MODEL_NAMES:
        raise ConfigError(
            f"{key}: unknown estimator {estimator!r} (known: {', '.join(MODEL_NAMES)})"
        )
    allowed = sorted(allowed_params(estimator))
    for name, value in params.items():
        if isinstance(value, list) and key.endswith("param_grid"):
            for item in value:
                check_estimator_params(estimator, {name: item}, key=key)
            continue
        if name not in allowed:
            raise ConfigError(
                f"{key}.{name} is not a setting of the {estimator} model "
                f"(settings: {', '.join(allowed)})"
            )
        if isinstance(value, int | float) and not isinstance(value, bool):
            if name in _POSITIVE and value <= 0:
                raise ConfigError(f"{key}.{name} must be positive, got {value}")
            if name in _FRACTIONS and not 0 <= value < 1:
                raise ConfigError(f"{key}.{name} must be in [0, 1), got {value}")


_POSITIVE = {
    "n_components",
    "reg_covar",
    "max_iter",
    "C",
    "hidden_units",
    "dense_units",
    "epochs",
    "batch_size",
    "learning_rate",
    "kernel_size",
    "patience",
}
_FRACTIONS = {"dropout", "validation_fraction"}


def synthetic_tracks(
    config: Mapping[str, Any], root: str = "results/synthetic/genres"
) -> list[Track]:
    """The tracks the synthetic dataset will hold (known before it is generated)."""
    settings = config["dataset"].get("synthetic") or {}
    n_per_genre = settings.get("n_per_genre", 16)
    return [
        Track(track=f"{genre}.{i:05d}", genre=genre, path=f"{root}/{genre}/{genre}.{i:05d}.wav")
        for genre in GENRES
        for i in range(n_per_genre)
    ]


def dataset_tracks(config: Mapping[str, Any]) -> Discovery:
    """Every track of the configured dataset, discovered when the workflow is parsed."""
    if config["dataset"]["kind"] == "synthetic":
        return Discovery(tracks=synthetic_tracks(config), skipped=[])
    return discover_tracks(config["dataset"]["gtzan"]["root"])


def n_folds(config: Mapping[str, Any]) -> int:
    """How many folds the configured split scheme makes."""
    split = config["split"]
    if split["scheme"] == "kfold":
        settings = split.get("kfold") or {}
        return settings.get("n_splits", 10) * settings.get("n_repeats", 1)
    return 1
