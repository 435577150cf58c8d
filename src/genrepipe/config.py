"""Checks of the workflow configuration beyond its schema, and what it implies.

``config/schema.yaml`` checks types and ranges of single keys. The checks here
need several keys at once (a model named in ``run_models`` must be defined, a
split list file must exist, a model's ``params`` must be arguments of its
estimator). They run when the workflow is parsed, before any job.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from genrepipe import GENRES
from genrepipe.dataset import (
    Discovery,
    Track,
    discover_tracks,
    find_genre_root,
    genre_roots_inside,
)
from genrepipe.estimators import (
    EMBEDDING_LAYERS,
    ESTIMATOR_NAMES,
    WINDOW_FRAMES_DEFAULT,
    allowed_params,
)

#: Feature sets whose per-track arrays are matrices (rows x frames), not vectors.
MATRIX_FEATURE_SETS = ("seed87", "logmel", "mfcc")
#: Feature sets that store several windows per track (segment mode): models train
#: on windows and vote per track.
SEGMENT_FEATURE_SETS = ("segment_stats",)
#: Estimators whose hyperparameters an inner cross-validation can search.
SEARCHABLE_ESTIMATORS = ("gmm", "svm", "logreg")
#: Estimators that read whole per-track matrices (input ``image``).
IMAGE_ESTIMATORS = ("cnn", "cnn_windows", "cnn_svm", "cnn_gmm")
#: Estimators on a window CNN's embeddings; their ``base`` may name a ``cnn_windows``
#: entry whose fitted fold models they reuse instead of training their own CNN.
EMBEDDING_ESTIMATORS = ("cnn_svm", "cnn_gmm")
#: Model keys an overlay may set to null to drop them (it cannot delete a default's key).
NULLABLE_MODEL_KEYS = ("search", "base")
#: The soft-voting ensemble: averages its ``members``' test probabilities, fits nothing.
ENSEMBLE = "ensemble"
#: Where the ``download_gtzan`` rule unpacks GTZAN (the default ``dataset.gtzan.root``).
GTZAN_DOWNLOAD_ROOT = "resources/gtzan/genres"
#: The ``download_gtzan`` rule's output: a record of the archive it unpacked, hidden
#: inside the folder (the scan skips it), so that deleting the folder downloads again.
GTZAN_DOWNLOAD_RECORD = f"{GTZAN_DOWNLOAD_ROOT}/.download.json"


class ConfigError(ValueError):
    """A setting that cannot work; the message names the key."""


#: Characters a model name may not hold: path separators, Snakemake's wildcard braces,
#: and those Windows refuses in a file name (a run's results may be copied there).
MODEL_NAME_FORBIDDEN = frozenset('/\\{}<>:"|?*')
#: Names Windows keeps for devices, with any extension: it makes no folder ``con``.
WINDOWS_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"{port}{digit}" for port in ("COM", "LPT") for digit in "123456789\u00b9\u00b2\u00b3"]
)


def model_name_problem(name: str) -> str | None:
    """What a model name may not be, where ``name`` is that, else None: it names folders
    under results/ on any system and is a Snakemake wildcard value."""
    # A control character as Python writes it (\\t), the others as they are.
    bad = {c if c >= " " else repr(c)[1:-1] for c in name if c in MODEL_NAME_FORBIDDEN or c < " "}
    if bad:
        return f"hold {' '.join(sorted(bad))}"
    if not name.strip("."):
        return "be empty, . or .."
    if name != name.rstrip(". "):
        return "end in a dot or a space (Windows drops them from folder names)"
    device = name.partition(".")[0].rstrip(" ")  # as Windows compares it
    if device.upper() in WINDOWS_DEVICE_NAMES:
        return f"be {name} (Windows keeps {device} for a device, with any extension)"
    return None


def check_config(config: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` naming the first key whose value cannot work."""
    _check_finite(config, "")
    models = config["models"]
    for name in models:
        if not isinstance(name, str):
            raise ConfigError(f"models: a model name must be text, got {name!r} (quote it)")
        # A name is a folder (results/models/<name>/) and a wildcard value.
        if problem := model_name_problem(name):
            raise ConfigError(
                f"models.{name}: a model name may not {problem} (it names folders under "
                "results/ and is a Snakemake wildcard value); use letters, digits, _ or -"
            )
    for name in config["run_models"]:
        if name not in models:
            raise ConfigError(
                f"run_models names {name!r}, which is not defined under models "
                f"(defined: {', '.join(models)})"
            )
    _check_references(config)
    # macOS and Windows file systems ignore case: results/models/SVM/ would be svm/.
    folded: dict[str, str] = {}
    for name in models_in_use(config):
        if (other := folded.setdefault(name.casefold(), name)) != name:
            raise ConfigError(
                f"models.{other} and models.{name} differ only in case: their folders under "
                "results/ would be one on macOS and Windows; rename one"
            )
    for name in models_in_use(config):
        spec = models[name]
        key = f"models.{name}"
        estimator = spec["estimator"]
        if estimator == ENSEMBLE:
            continue
        for required in ("features", "input"):
            if required not in spec:
                raise ConfigError(f"{key}.{required} is required for estimator {estimator!r}")
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
            # GridSearchCV sets the grid's values over the constructor's: a fixed value
            # of the same setting outside the grid would be dropped without a word.
            params = spec.get("params") or {}
            grid = search["param_grid"]
            if clash := [n for n in grid if n in params and params[n] not in grid[n]]:
                name = clash[0]
                raise ConfigError(
                    f"{key}.params.{name} is also searched ({key}.search.param_grid.{name}), "
                    f"whose values replace it: to fix {name}, give the grid that one value "
                    f"({name}: [{params[name]}]), or set {key}.search to null to search nothing"
                )
        if spec.get("vote") and spec["features"] not in SEGMENT_FEATURE_SETS:
            # Ignored there, yet a param: changing it retrained the model for nothing.
            raise ConfigError(
                f"{key}.vote is for models reading windows of {', '.join(SEGMENT_FEATURE_SETS)}; "
                f"{key}.features is {spec['features']!r} (the window CNNs always average their "
                "windows' log-probabilities): remove it, or set it to null in an overlay"
            )
        if estimator in IMAGE_ESTIMATORS and spec["input"] != "image":
            raise ConfigError(
                f"{key}: the {estimator} estimator needs input: image, got {spec['input']!r}"
            )
        if estimator not in IMAGE_ESTIMATORS and spec["input"] == "image":
            raise ConfigError(
                f"{key}: input 'image' is for the {', '.join(IMAGE_ESTIMATORS)} estimators, "
                f"not {estimator!r}"
            )

    dataset = config["dataset"]
    if dataset["kind"] == "gtzan":
        root = (dataset.get("gtzan") or {}).get("root")
        if not root:
            raise ConfigError("dataset.gtzan.root must be set when dataset.kind is 'gtzan'")
        if Path(root).is_file():
            # A clip of a genre folder: its genres folder is two levels up.
            clip_of_genre = Path(root).parent.name in GENRES
            hint = f", such as {Path(root).parent.parent}" if clip_of_genre else ""
            raise ConfigError(
                f"dataset.gtzan.root: {root} is a file; point at the folder of genre folders "
                f"(or its parent){hint}"
            )
        if not Path(root).is_dir() and not gtzan_download_pending(config):
            where = "" if Path(root).is_absolute() else f", here {os.path.abspath(root)}"
            raise ConfigError(
                f"dataset.gtzan.root: folder {root} does not exist (relative paths start at the "
                f"working directory{where}; `snakemake --cores 1 download_gtzan` fills "
                f"{GTZAN_DOWNLOAD_ROOT}, from a URL README.md says is gone)"
            )
    synthetic_duration = (dataset.get("synthetic") or {}).get("duration", 30.0)
    if dataset["kind"] == "synthetic" and synthetic_duration < dataset.get("min_duration", 0.0):
        raise ConfigError(
            f"dataset.synthetic.duration={synthetic_duration:g} is below "
            f"dataset.min_duration={dataset.get('min_duration'):g}: every generated clip "
            "would be left out as too short"
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
            if Path(list_file).is_dir():
                raise ConfigError(f"split.lists.{subset}: {list_file} is a folder, not a list file")
            if not Path(list_file).is_file():
                raise ConfigError(f"split.lists.{subset}: list file {list_file} does not exist")
            if "{" in str(list_file) or "}" in str(list_file):
                # The list is make_split's input, and Snakemake reads braces as a wildcard.
                raise ConfigError(
                    f"split.lists.{subset}: list file {list_file} has {{ or }} in its path, "
                    "which Snakemake reads as a wildcard: rename it, or point to a link to it "
                    "without braces"
                )

    for set_name in FEATURE_DEFAULTS:
        settings = feature_settings(config, set_name)
        if settings.get("hop_length", 0) > settings["n_fft"]:
            raise ConfigError(
                f"features.{set_name}.hop_length ({settings['hop_length']}) must not exceed "
                f"n_fft ({settings['n_fft']})"
            )
    _check_feature_bands(config)
    mfcc = feature_settings(config, "mfcc")
    if mfcc["n_mfcc"] > mfcc["n_mels"]:
        raise ConfigError(
            f"features.mfcc.n_mfcc ({mfcc['n_mfcc']}) must not exceed n_mels ({mfcc['n_mels']}): "
            "there are no more coefficients than mel bands"
        )
    if mfcc.get("delta_width", 9) % 2 == 0:
        raise ConfigError(
            f"features.mfcc.delta_width must be odd (a centred filter), got {mfcc['delta_width']}"
        )

    # Clips are cropped to max_duration, and generated ones all last the same: what
    # needs more audio fits in none of them (every track failed its extraction, or the
    # audio check refused every clip, after the dataset was read or generated).
    longest, limit = _longest_clip(dataset)
    sr = config.get("audio", {}).get("sample_rate", 22050)
    for set_name in ("segment_stats", "rich"):
        if set_name not in extracted_feature_sets(config):
            continue
        settings = feature_settings(config, set_name)
        window, hop_length = settings["window"], settings.get("hop_length", 512)
        if window > longest:
            raise ConfigError(
                f"features.{set_name}.window ({window:g} s) is longer than {limit}: "
                "no clip would hold one window"
            )
        window_frames = round(window * sr / hop_length)
        if window_frames < 2:
            # The features stretched it to two frames without a word.
            raise ConfigError(
                f"features.{set_name}.window ({window:g} s) rounds to fewer than two frames "
                f"of features.{set_name}.hop_length (at least {1.5 * hop_length / sr:.3g} s "
                f"at {sr} Hz): a window's spread needs two"
            )
        # Frames of the longest clip read (librosa's centred frames). On GTZAN, whose
        # clips last 30 s, max_duration (31 s) is a bound a little above theirs.
        clip_frames = 1 + round(longest * sr) // hop_length
        if set_name == "rich" and clip_frames - window_frames < max(1, window_frames // 2):
            # Windows every half window: one alone has no spread of window means, and
            # those statistics were 0 for every track.
            raise ConfigError(
                f"features.rich.window ({window:g} s) leaves fewer than two of its half-"
                f"overlapping windows in {limit}: its window statistics would be 0 for "
                "every track"
            )
        if set_name == "segment_stats":
            positions = clip_frames - window_frames + 1
            if (n_windows := settings["n_windows"]) > positions:
                # Windows beyond that repeat others: counted twice in the track's vote.
                raise ConfigError(
                    f"features.segment_stats.n_windows ({n_windows}) exceeds the "
                    f"{positions} distinct windows of {window:g} s in {limit}"
                )
    for set_name in extracted_feature_sets(config):
        n_fft = feature_settings(config, set_name)["n_fft"]
        if n_fft > longest * sr:
            raise ConfigError(
                f"features.{set_name}.n_fft ({n_fft} samples, {n_fft / sr:.3g} s) is longer "
                f"than {limit}: no clip would hold one analysis window"
            )
    if "mfcc" in extracted_feature_sets(config):
        # librosa's delta filter needs as many frames; a fixed n_frames pads short clips.
        frames = mfcc.get("n_frames") or 1 + int(longest * sr) // mfcc.get("hop_length", 512)
        if (delta_width := mfcc.get("delta_width", 9)) > frames:
            raise ConfigError(
                f"features.mfcc.delta_width ({delta_width}) exceeds the {frames} frames "
                "of a track (features.mfcc.n_frames, or the longest clip read)"
            )

    # A window CNN crops windows from fixed-length tracks: a longer window fits in none.
    for name in models_in_use(config):
        spec = config["models"][name]
        params = spec.get("params") or {}
        if spec["estimator"] == "cnn_windows":
            key, cnn = f"models.{name}.params", params
        elif spec["estimator"] in EMBEDDING_ESTIMATORS and not spec.get("base"):
            key, cnn = f"models.{name}.params.cnn", params.get("cnn") or {}
        else:
            continue
        window_frames = cnn.get("window_frames", WINDOW_FRAMES_DEFAULT)
        settings = feature_settings(config, spec["features"])
        n_frames = settings.get("n_frames")
        if n_frames is not None and window_frames > n_frames:
            raise ConfigError(
                f"{key}.window_frames ({window_frames}) exceeds features.{spec['features']}"
                f".n_frames ({n_frames}): no track holds one window"
            )
        clip_frames = 1 + round(longest * sr) // settings.get("hop_length", 512)
        if window_frames > clip_frames:
            # Within n_frames, yet every window would be mostly the features' padding.
            raise ConfigError(
                f"{key}.window_frames ({window_frames}) exceeds the {clip_frames} frames "
                f"of features.{spec['features']} in {limit}"
            )
        two_d = cnn.get("convolution", "time_frequency") == "time_frequency"
        _check_kernel_fits(
            cnn.get("kernel_size", 3),
            (feature_rows(config, spec["features"]) if two_d else None, window_frames),
            key=f"{key}.kernel_size",
            image=f"a window of features.{spec['features']} ({{}})",
        )
    for name in models_in_use(config):
        spec = config["models"][name]
        if spec["estimator"] == "cnn" and spec.get("input") == "image":
            _check_kernel_fits(
                (spec.get("params") or {}).get("kernel_size", 3),
                (
                    feature_rows(config, spec["features"]),
                    feature_settings(config, spec["features"]).get("n_frames"),
                ),
                key=f"models.{name}.params.kernel_size",
                image=f"the features.{spec['features']} image ({{}})",
            )

    # PCA is capped, with a warning, at the training rows a fold has less one (known only
    # later); more components than features per row can never work: an error now.
    pca_components = (config.get("preprocess") or {}).get("pca_components", 900)
    for name in models_in_use(config):
        spec = models[name]
        if spec["estimator"] == ENSEMBLE:
            continue
        size = feature_dimension(config, spec["features"])
        if spec["input"] == "pca" and size is not None and pca_components > size:
            raise ConfigError(
                f"preprocess.pca_components={pca_components} exceeds the {size} values per "
                f"row of feature set {spec['features']!r} read by models.{name} (set it to at "
                f"most {size}, or change features.{spec['features']})"
            )


#: Defaults of the feature functions in :mod:`genrepipe.features` for the settings
#: read here. Not imported from there: that module loads librosa, which would slow
#: every parse of the workflow; tests/test_config_validation.py keeps them equal.
FEATURE_DEFAULTS: dict[str, dict[str, Any]] = {
    "seed87": {"n_frames": 1400, "n_fft": 2048, "n_mfcc": 20, "n_mels": 20},
    "stats": {"n_fft": 2048, "n_mfcc": 20},
    "segment_stats": {"n_fft": 2048, "n_mfcc": 20, "window": 3.0, "n_windows": 10},
    "rich": {"n_fft": 2048, "n_mfcc": 20, "tempo_bands": 8, "window": 3.0},
    "logmel": {"n_fft": 1024, "n_mels": 96, "n_frames": None},
    "mfcc": {"n_fft": 2048, "n_mels": 128, "n_mfcc": 20, "n_frames": None},
}


def feature_settings(config: Mapping[str, Any], feature_set: str) -> dict[str, Any]:
    """The settings of a feature set: the config's, over the feature function's defaults."""
    defaults = FEATURE_DEFAULTS.get(feature_set, {})
    return defaults | dict(config["features"].get(feature_set) or {})


def feature_dimension(config: Mapping[str, Any], feature_set: str) -> int | None:
    """Values per row that preprocessing sees: per track, or per window of a segmented set.

    ``seed87`` is ``(n_mfcc + n_mels + 47) x n_frames`` (``seed87_row_names``),
    ``stats`` and each window of ``segment_stats`` ``4 n_mfcc + 51`` values
    (``stats_feature_names``: mean and std of 2 n_mfcc + 25 frame features, and
    the tempo), ``rich`` ``8 n_mfcc + 2 tempo_bands + 141`` (``rich_feature_names``),
    ``logmel`` ``n_mels x n_frames``, ``mfcc`` ``2 n_mfcc x n_frames``; ``None`` where
    it is not known before the clips are (``logmel`` or ``mfcc`` without ``n_frames``,
    a feature set not listed here).
    """
    settings = feature_settings(config, feature_set)
    if feature_set == "seed87":
        return feature_rows(config, feature_set) * settings["n_frames"]
    if feature_set in ("stats", "segment_stats"):
        return 2 * (2 * settings["n_mfcc"] + 25) + 1
    if feature_set == "rich":  # rich_feature_names: stats, tonal, tempo and window statistics
        return 8 * settings["n_mfcc"] + 2 * settings["tempo_bands"] + 141
    if feature_set in ("logmel", "mfcc") and settings.get("n_frames"):
        return feature_rows(config, feature_set) * settings["n_frames"]
    return None


def matrix_megabytes(config: Mapping[str, Any], feature_set: str, n_tracks: int) -> float | None:
    """The size in MB of a matrix feature set's values of ``n_tracks`` tracks (float32),
    what a job holding them whole reads; without ``n_frames``, at most the frames of the
    longest clip read. ``None`` for the vector sets."""
    rows = feature_rows(config, feature_set)
    if rows is None:
        return None
    settings = feature_settings(config, feature_set)
    frames = settings.get("n_frames")
    if frames is None:  # every clip's own: at most the longest clip's
        longest, _ = _longest_clip(config["dataset"])
        sr = config.get("audio", {}).get("sample_rate", 22050)
        frames = 1 + int(longest * sr) // settings.get("hop_length", 512)
    return n_tracks * rows * frames * 4 / 1e6


def feature_rows(config: Mapping[str, Any], feature_set: str) -> int | None:
    """Rows of a matrix feature set's per-track matrix (its frames are the columns):
    ``seed87`` ``n_mfcc + n_mels + 47``, ``logmel`` ``n_mels``, ``mfcc`` ``2 n_mfcc``
    (coefficients and their deltas); ``None`` for the vector sets."""
    settings = feature_settings(config, feature_set)
    if feature_set == "seed87":
        return settings["n_mfcc"] + settings["n_mels"] + 47
    if feature_set == "logmel":
        return settings["n_mels"]
    if feature_set == "mfcc":
        return 2 * settings["n_mfcc"]
    return None


def frame_count_warnings(config: Mapping[str, Any]) -> list[str]:
    """The fixed frame counts that keep much less audio than the clips read hold.

    ``n_frames`` and ``hop_length`` count samples: set for 22050 Hz, they keep half
    as many seconds at 44100 Hz, and the rest of every clip goes unheard.
    """
    sr = config.get("audio", {}).get("sample_rate", 22050)
    longest, limit = _longest_clip(config["dataset"])
    messages = []
    for name in MATRIX_FEATURE_SETS:
        settings = feature_settings(config, name)
        n_frames = settings.get("n_frames")
        if name not in extracted_feature_sets(config) or n_frames is None:
            continue
        heard = n_frames * settings.get("hop_length", 512) / sr
        if heard < 0.9 * longest:
            messages.append(
                f"features.{name}.n_frames={n_frames} at hop_length "
                f"{settings.get('hop_length', 512)} keeps {heard:.1f} s of audio at "
                f"audio.sample_rate={sr}, less than {limit}: the rest of every clip goes "
                "unheard (frames count samples: scale n_frames, or hop_length, with the rate)"
            )
    return messages


def extracted_feature_sets(config: Mapping[str, Any]) -> list[str]:
    """Feature sets a run extracts: ``features.sets`` and those of the models in ``run_models``."""
    sets = list(config["features"].get("sets") or [])
    for name in models_in_use(config):
        for feature_set in model_feature_sets(config, name):
            if feature_set not in sets:
                sets.append(feature_set)
    return sets


def _check_references(config: Mapping[str, Any]) -> None:
    """Check the models that other models name: an ensemble's members, a CNN head's base."""
    models = config["models"]
    for name, spec in models.items():
        key = f"models.{name}"
        if spec["estimator"] == ENSEMBLE:
            members = spec.get("members") or []
            if len(members) < 2:
                raise ConfigError(f"{key}.members must name at least 2 models, got {members}")
            for member in members:
                if member not in models:
                    raise ConfigError(f"{key}.members names {member!r}, which is not defined")
                if models[member]["estimator"] == ENSEMBLE:
                    raise ConfigError(f"{key}.members: {member!r} is an ensemble itself")
            extra = sorted(
                k for k in ("features", "input", "params", "search", "vote", "base") if spec.get(k)
            )
            if extra:
                raise ConfigError(f"{key}: an ensemble fits nothing; remove {', '.join(extra)}")
        elif spec.get("members"):
            raise ConfigError(f"{key}.members is only for estimator {ENSEMBLE!r}")
        base = spec.get("base")
        if base is None:
            continue
        if spec["estimator"] not in EMBEDDING_ESTIMATORS:
            raise ConfigError(f"{key}.base is only for {', '.join(EMBEDDING_ESTIMATORS)}")
        if base not in models or models[base]["estimator"] != "cnn_windows":
            raise ConfigError(f"{key}.base must name a cnn_windows model, got {base!r}")
        for setting in ("features", "input"):
            if models[base].get(setting) != spec.get(setting):
                raise ConfigError(
                    f"{key}.{setting} must equal that of its base {base!r} "
                    f"({models[base].get(setting)!r})"
                )
        if "cnn" in (spec.get("params") or {}):
            raise ConfigError(
                f"{key}.params.cnn: the CNN is that of base {base!r}; set it there instead"
            )


def map_feature_set(sets: Sequence[str], model_sets: Sequence[str]) -> str:
    """The feature set drawn on the map of tracks: ``stats`` if extracted, else ``seed87``.

    Parameters
    ----------
    sets
        ``features.sets`` of the config (extracted whether or not a model reads them).
    model_sets
        The feature sets the run models read (extracted too).

    Returns
    -------
    str
        ``stats`` (small vectors: a cheap map), else ``seed87``, ``rich`` or
        ``segment_stats``, else the first extracted set by name.
    """
    extracted = set(sets) | set(model_sets)
    if not extracted:
        raise ValueError("no feature set is extracted: nothing to draw a map of")
    # Track-level descriptors first: flattened logmel or MFCC frames are pixels whose
    # principal components follow where in time the music falls, not its genre.
    for name in ("stats", "seed87", "rich", "segment_stats"):
        if name in extracted:
            return name
    return sorted(extracted)[0]


def models_in_use(config: Mapping[str, Any]) -> list[str]:
    """``run_models``, then the models they need: ensemble members and CNN bases."""
    models = config["models"]
    names: list[str] = []
    pending = list(config["run_models"])
    while pending:
        name = pending.pop(0)
        if name in names or name not in models:
            continue
        names.append(name)
        spec = models[name]
        pending += list(spec.get("members") or []) + ([spec["base"]] if spec.get("base") else [])
    return names


def model_feature_sets(config: Mapping[str, Any], name: str) -> list[str]:
    """Feature sets a model reads: its own, or for an ensemble its members' (in order)."""
    spec = config["models"][name]
    if spec["estimator"] != ENSEMBLE:
        return [spec["features"]]
    sets: list[str] = []
    for member in spec.get("members") or []:
        for feature_set in model_feature_sets(config, member):
            if feature_set not in sets:
                sets.append(feature_set)
    return sets


def min_clip_samples(config: Mapping[str, Any]) -> int:
    """The longest analysis window (``n_fft``) of the extracted feature sets, in samples."""
    sets = extracted_feature_sets(config)
    return max(feature_settings(config, s).get("n_fft", 0) for s in sets)


def window_check_samples(config: Mapping[str, Any]) -> int:
    """The shortest clip, in samples, that the audio check must refuse beyond ``min_duration``.

    :func:`min_clip_samples` when a clip of ``dataset.min_duration`` seconds could be
    shorter than it, else 0: the duration check already covers it, and a larger
    ``n_fft`` then reruns no audio check (nor the track list and every model after it).
    """
    window = min_clip_samples(config)
    covered = config["dataset"]["min_duration"] * config["audio"]["sample_rate"]
    return window if window > covered else 0


def schema_error_message(error: BaseException) -> str:
    """One line naming the key of a config that ``config/schema.yaml`` refuses, and why.

    ``error`` is the ``WorkflowError`` of ``snakemake.utils.validate`` (raised while
    handling jsonschema's ``ValidationError``, its ``__context__``) or that
    ``ValidationError`` itself.
    """
    from jsonschema import ValidationError

    candidates = (error, error.__cause__, error.__context__)
    found = next((e for e in candidates if isinstance(e, ValidationError)), None)
    if found is None:
        return str(error)
    path = ".".join(str(part) for part in found.absolute_path)
    prefix = f"{path}." if path else ""
    if found.validator == "additionalProperties" and isinstance(found.instance, Mapping):
        known = sorted(found.schema.get("properties") or {})
        unknown = sorted(str(key) for key in found.instance if key not in known)
        where = f"under {path}" if path else "at the top level"
        return (
            f"{', '.join(prefix + key for key in unknown)}: unknown setting {where} "
            f"(misspelled? known: {', '.join(known)})"
        )
    if found.validator == "required" and isinstance(found.instance, Mapping):
        missing = [key for key in found.validator_value if key not in found.instance]
        return f"{', '.join(prefix + key for key in missing)}: required setting is missing"
    return f"{path or 'the configuration'}: {found.message}"


def order_config_keys(node: Any, template: Any = None) -> None:
    """Put the keys of every mapping in ``node`` (a config) in one canonical order, in place.

    Snakemake tells a changed setting by the ``repr`` of a job's params, where
    key order shows: a ``--config models='{svm: {params: {C: 1.0}}}'`` merge puts
    ``C`` first, so the unchanged value would retrain the model, as would a
    config file listing the same settings in another order. The order is the
    ``template``'s (:func:`key_order`), then the keys it lacks, sorted. Lists keep
    their order (``run_models``, ``members``, ``filters``: it means something).
    """
    if isinstance(node, dict):
        known = template if isinstance(template, dict) else {}
        keys = [key for key in known if key in node]
        keys += sorted((key for key in node if key not in known), key=str)
        items = [(key, node[key]) for key in keys]
        node.clear()
        node.update(items)
        for key, child in items:
            order_config_keys(child, known.get(key))
    elif isinstance(node, list):
        for child in node:
            order_config_keys(child)


def key_order(schema: Mapping[str, Any], defaults: Any, config: Any) -> Any:
    """The template :func:`order_config_keys` puts ``config`` in: the ``schema``'s order
    of every mapping whose keys it lists, the ``defaults``' (config/config.yaml's) where
    it leaves them free (a model's params, a search's grid).

    The schema lists its keys as config/config.yaml does, so runs of the defaults keep
    the order their params always had; but that file is the one users edit, and two of
    its lines swapped (a feature set's ``n_fft`` below its ``hop_length``) must not
    re-extract every clip. Mappings of keys the user names (``models``) give each entry
    the order the schema gives any.
    """
    if not isinstance(schema, Mapping):
        return defaults
    listed, any_key = schema.get("properties"), schema.get("additionalProperties")
    if listed is None and not isinstance(any_key, Mapping):
        return defaults
    defaults = defaults if isinstance(defaults, Mapping) else {}
    config = config if isinstance(config, Mapping) else {}
    template = {
        key: key_order(entry, defaults.get(key), config.get(key))
        for key, entry in (listed or {}).items()
    }
    if isinstance(any_key, Mapping):
        named = [key for key in defaults if key not in template]
        named += sorted(
            (key for key in config if key not in template and key not in defaults), key=str
        )
        for key in named:
            template[key] = key_order(any_key, defaults.get(key), config.get(key))
    return template


def plain_config(value: Any) -> Any:
    """Mappings and sequences (Snakemake's config objects included) as plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): plain_config(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_config(v) for v in value]
    return value


def release(version: str) -> str:
    """A version's major and minor numbers ("0.11" of "0.11.0", of "0.11.0.post1" and of
    "0.11+local"): a library's patch releases fix bugs without changing what it
    computes, its minor releases may not."""
    match = re.match(r"\d+(?:\.\d+)?", version)
    return match.group(0) if match else version


def installed_release(distribution: str) -> str | None:
    """The installed ``distribution``'s :func:`release`, or None where it is missing."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return release(version(distribution))
    except PackageNotFoundError:
        return None


def config_hash(config: Mapping[str, Any]) -> str:
    """First 8 hex digits of the SHA-256 of the config as sorted YAML: the same
    settings in any key order give the same hash."""
    text = yaml.safe_dump(plain_config(config), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def type_command_line_values(config: dict[str, Any], schema: Mapping[str, Any]) -> None:
    """Give the strings Snakemake's ``--config`` leaves inside mappings their types.

    Snakemake reads a ``--config key=VALUE`` mapping or list with YAML's
    ``BaseLoader``, so ``--config split='{kfold: {n_splits: 5}}'`` holds the
    string ``'5'``, which the schema then refuses ("'5' is not of type
    'integer'") and an estimator would choke on. Where the schema asks for a
    number, an integer, a boolean or null, a string that reads as one (``5``,
    ``0.5``, ``1e-3``, ``true``, ``null``) becomes it. A model's ``params`` and
    ``search.param_grid`` have no schema types, so their strings that read as
    numbers, booleans or null become those, and other strings (``rbf``,
    ``scale``) stay. A whole float where the schema asks for an integer
    (``n_mfcc: 13.0``, from the command line or a file) becomes the integer.
    A model setting that takes any real number (:data:`REAL_PARAMS`: ``C``,
    ``learning_rate``, ...) written as a whole number becomes a float, so that
    ``C: 1`` gives the params ``C: 1.0`` gave and retrains nothing; a count
    (:data:`_WHOLE`: ``epochs``, ``n_components``, ...) written ``10.0`` becomes
    the integer. ``config`` is
    changed in place; other values already typed, as in a config file, are left alone.
    """
    _type_values(config, schema)
    models = config.get("models")
    for spec in models.values() if isinstance(models, Mapping) else ():  # else the schema says
        if isinstance(spec, dict):
            _real_model_params(spec)


def _real_model_params(spec: dict[str, Any]) -> None:
    """``C: 1`` as ``C: 1.0``, and ``epochs: 10.0`` as ``epochs: 10``, in a model's params,
    its cnn's and its search grid."""

    def mapping(value: Any) -> dict:
        return value if isinstance(value, dict) else {}

    params = mapping(spec.get("params"))
    for settings in (params, mapping(params.get("cnn"))):
        for name, value in settings.items():
            settings[name] = _real_param(name, value)
    grid = mapping(mapping(spec.get("search")).get("param_grid"))
    for name, values in grid.items():
        if isinstance(values, list):
            grid[name] = [_real_param(name, value) for value in values]


#: Model settings that take any real number: a whole number written for one (``C: 1``)
#: is the float, as the schema's numbers are (:func:`_real_number`).
REAL_PARAMS = frozenset(
    {
        "C",
        "coef0",
        "gamma",
        "tol",
        "reg_covar",
        "l1_ratio",
        "intercept_scaling",
        "dropout",
        "learning_rate",
        "negative_slope",
        "validation_fraction",
        "gain_db",
        "mixup_alpha",
        "weight_decay",
    }
)


def _real_param(name: str, value: Any) -> Any:
    if name in REAL_PARAMS and type(value) is int:
        return float(value)
    if name in _WHOLE and type(value) is float and value.is_integer():
        return int(value)  # a count written 10.0 reads as 10, as schema integers do
    return value


def drop_null_settings(config: Mapping[str, Any]) -> None:
    """Remove each model's ``search: null`` and ``base: null``, as if it had none.

    An overlay (``--configfile`` or ``--config``) merges into the defaults and
    cannot delete their keys; null is how it turns a model's grid search off, or
    has a CNN head train a CNN of its own instead of reusing its base's. Removed
    before validation, whose defaults cannot be set on null; ``"null"`` (or ``"~"``)
    is how ``--config`` hands it over.
    """
    models = config.get("models")
    for spec in models.values() if isinstance(models, Mapping) else ():  # else the schema says
        if not isinstance(spec, dict):
            continue
        for key in NULLABLE_MODEL_KEYS:
            value = spec.get(key, False)
            if value is None or (isinstance(value, str) and _read_scalar(value) is None):
                del spec[key]


def expand_home_paths(config: Mapping[str, Any]) -> None:
    """Expand a leading ``~`` in the dataset root and the split's list files.

    A shell expands ``~/gtzan`` on the command line, but not inside YAML or a
    quoted ``--config`` value: read literally, it names a folder ``~`` in the
    working directory. Done after validation, which checks that they are text.
    """
    gtzan = config["dataset"].get("gtzan") or {}
    if isinstance(gtzan.get("root"), str):
        gtzan["root"] = os.path.expanduser(gtzan["root"])
    lists = config["split"].get("lists") or {}
    for subset, path in lists.items():
        if isinstance(path, str):
            lists[subset] = os.path.expanduser(path)


def _type_values(node: Any, schema: Mapping[str, Any]) -> Any:
    """``node`` with its strings typed as ``schema`` asks (containers changed in place)."""
    if isinstance(node, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, value in node.items():
            if key in properties:
                node[key] = _type_values(value, properties[key])
            elif isinstance(extra, Mapping):
                node[key] = _type_values(value, extra)
            elif schema.get("type") == "object" and not properties and extra is None:
                node[key] = _type_untyped(value)  # free-form, as a model's params
        return node
    if isinstance(node, list):
        items = schema.get("items")
        for i, value in enumerate(node):
            node[i] = _type_values(value, items) if items else _type_untyped(value)
        return node
    types = schema.get("type")
    wanted = {types} if isinstance(types, str) else set(types or ())
    if isinstance(node, str):
        parsed = _read_scalar(node)
        if (
            (isinstance(parsed, bool) and "boolean" in wanted)
            or (parsed is None and "null" in wanted)
            or (type(parsed) is float and "number" in wanted)
        ):
            return parsed
        if type(parsed) is int and wanted & {"integer", "number"}:
            return _real_number(parsed, wanted)
        return _whole_integer(parsed, wanted, text=node) if type(parsed) is float else node
    if type(node) is float:
        return _whole_integer(node, wanted, text=node)
    if type(node) is int:
        return _real_number(node, wanted)
    return node


def _real_number(value: int, wanted: set[str]) -> int | float:
    """``3`` as ``3.0`` where the schema's types (``wanted``) ask for a number, not an
    integer: a setting written ``3`` then gives the params ``3.0`` gave, and reruns
    nothing (results made while a file said ``3`` rerun once)."""
    return float(value) if "number" in wanted and "integer" not in wanted else value


def _whole_integer(value: float, wanted: set[str], text: Any) -> Any:
    """``13.0`` as ``13`` where the schema's types (``wanted``) ask for an integer, else
    ``text`` unchanged.

    The schema's integer type lets 13.0 through (JSON Schema counts it an integer),
    and the feature functions refuse it inside every job. As an int, 20.0 gives the
    params 20 gave, so nothing reruns (results made while a file said 22050.0, which
    some functions took, rerun once).
    """
    if value.is_integer() and "integer" in wanted and "number" not in wanted:
        return int(value)
    return text


def _type_untyped(node: Any) -> Any:
    """A free-form value with its strings read as numbers, booleans or null where they are."""
    if isinstance(node, dict):
        return {key: _type_untyped(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_type_untyped(value) for value in node]
    return _read_scalar(node) if isinstance(node, str) else node


#: The words a config file's YAML (1.1, as PyYAML reads it) takes for booleans and null.
_YAML_TRUE, _YAML_FALSE = ("true", "yes", "on"), ("false", "no", "off")
_YAML_NULL = ("null", "~", "")


def _read_scalar(text: str) -> Any:
    """``text`` as an int, float, bool or None if it reads as one (as YAML would), else itself."""
    for parse in (int, float):
        try:
            number = parse(text)
        except ValueError:
            continue
        return number if math.isfinite(number) else text  # "nan" and "inf" stay words
    lowered = text.strip().lower()
    if lowered in _YAML_TRUE + _YAML_FALSE:
        return lowered in _YAML_TRUE
    if lowered in _YAML_NULL:
        return None
    return text


#: Sets whose MFCCs come from one shared mel spectrogram of this many bands, and that
#: take spectral contrast: 6 octave bands from 200 Hz, which need a Nyquist frequency
#: above 6400 Hz (genrepipe.features checks the same in every job).
SHARED_MEL_BANDS = 128
CONTRAST_SETS = ("seed87", "stats", "segment_stats", "rich")
CONTRAST_MIN_SAMPLE_RATE = 12800
#: The lower edge of spectral contrast's second band, in Hz (genrepipe.features reads it).
CONTRAST_FMIN = 200.0


def _longest_clip(dataset: Mapping[str, Any]) -> tuple[float, str]:
    """The most seconds of a clip the workflow reads, and the setting that says so."""
    max_duration = dataset.get("max_duration", 31.0)
    generated = (dataset.get("synthetic") or {}).get("duration")
    if dataset.get("kind") == "synthetic" and generated is not None and generated < max_duration:
        return generated, f"dataset.synthetic.duration ({generated:g} s), every generated clip's"
    return (
        max_duration,
        f"dataset.max_duration ({max_duration:g} s), the most of a clip that is read",
    )


def _check_feature_bands(config: Mapping[str, Any]) -> None:
    """Refuse the feature settings that every extraction job would refuse: a sample
    rate too low for spectral contrast, a mel band limit above half the sample rate,
    more MFCCs than the shared mel bands."""
    sr = config.get("audio", {}).get("sample_rate", 22050)
    extracted = extracted_feature_sets(config)
    if low := [
        name for name in CONTRAST_SETS if name in extracted and sr <= CONTRAST_MIN_SAMPLE_RATE
    ]:
        raise ConfigError(
            f"audio.sample_rate={sr} is too low for the spectral contrast of "
            f"{', '.join(low)} (needs more than {CONTRAST_MIN_SAMPLE_RATE} Hz)"
        )
    for name in CONTRAST_SETS:
        # librosa's lowest contrast band, 0 to fmin Hz, needs two frequency bins: wider
        # bins gave NaN (or an IndexError) in every track's features.
        n_fft = feature_settings(config, name)["n_fft"]
        if name in extracted and sr / n_fft > CONTRAST_FMIN:
            raise ConfigError(
                f"features.{name}.n_fft ({n_fft}) is too small for the spectral contrast at "
                f"audio.sample_rate={sr}: its frequency bins would be {sr / n_fft:.0f} Hz wide, "
                f"more than the {CONTRAST_FMIN:g} Hz of its lowest band (use n_fft of at least "
                f"{math.ceil(sr / CONTRAST_FMIN)})"
            )
    for name, limit in (("seed87", "mel_fmax"), ("logmel", "fmax")):
        value = feature_settings(config, name).get(limit)
        if name in extracted and value is not None and value > sr / 2:
            raise ConfigError(
                f"features.{name}.{limit} ({value:g} Hz) is above half of audio.sample_rate "
                f"({sr / 2:g} Hz), the highest frequency a clip holds"
            )
    for name in CONTRAST_SETS:
        n_mfcc = feature_settings(config, name).get("n_mfcc", 20)
        if name in extracted and n_mfcc > SHARED_MEL_BANDS:
            raise ConfigError(
                f"features.{name}.n_mfcc ({n_mfcc}) exceeds the {SHARED_MEL_BANDS} mel bands "
                "its coefficients are taken from"
            )


def _check_kernel_fits(
    kernel_size: Any, shape: tuple[int | None, int | None], *, key: str, image: str
) -> None:
    """Raise :class:`ConfigError` if a first convolution's kernel is larger than its input.

    ``shape`` is (rows, frames) of the input, ``None`` where not known before the clips
    are (or, for a 1-D convolution, the rows); a single ``kernel_size`` is both sides
    of a 2-D kernel, the frames of a 1-D one. Such a kernel sees little but padding,
    and a kernel some hundred times taller than its input aborted inside TensorFlow
    (a failed C++ check, no Python error) in every training job.
    """
    sizes = kernel_size if isinstance(kernel_size, list) else [kernel_size]
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in sizes):
        return  # refused by check_estimator_params
    rows, frames = shape
    kernel = (None, sizes[0]) if rows is None else (sizes[0], sizes[-1])
    for size, length, side in zip(kernel, (rows, frames), ("rows", "frames"), strict=True):
        if size is not None and length is not None and size > length:
            known = " x ".join(
                f"{n} {label}" for n, label in zip(shape, ("rows", "frames"), strict=True) if n
            )
            raise ConfigError(
                f"{key} ({kernel_size!r}) spans {size} {side}, more than "
                + image.format(known)
                + " holds"
            )


def _check_finite(value: Any, key: str) -> None:
    """Refuse YAML's .nan and .inf anywhere: every range check passes NaN."""
    if isinstance(value, Mapping):
        for name, item in value.items():
            _check_finite(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for item in value:
            _check_finite(item, key)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{key} must be a finite number, got {value}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping."""

    def construct_mapping(self, node, deep=False):
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`, merged below
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                first = lines.get(key)
            except TypeError:  # an unhashable key: the loader itself refuses it
                continue
            lines[key] = line
            if first is not None:
                raise ConfigError(
                    f"{key_node.start_mark.name}, line {line}: {key!r} is given twice in one "
                    f"mapping (also on line {first}); YAML keeps only the last, so the "
                    "settings under the first would be ignored: merge the two"
                )
        return super().construct_mapping(node, deep=deep)


def check_unique_keys(config_files: Iterable[str | os.PathLike]) -> None:
    """Raise :class:`ConfigError` naming a key repeated in one mapping of a config file.

    Snakemake's loader keeps the last of two ``split:`` blocks, and the settings
    of the first are dropped without a word (a block added at the end of the file).
    """
    for path in config_files:
        with open(path, encoding="utf-8") as stream:
            try:
                yaml.load(stream, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
            except yaml.YAMLError:  # JSON indented with tabs: Snakemake read it as JSON
                continue


def check_estimator_params(estimator: str, params: Mapping[str, Any], *, key: str) -> None:
    """Raise :class:`ConfigError` if ``params`` are not arguments of ``estimator``.

    Names are checked against :data:`genrepipe.estimators.ESTIMATOR_PARAMS`, without
    importing TensorFlow; so are numbers that must be positive or fractions, switches,
    and settings whose values are names (:data:`_NAMED_VALUES`, the window CNN's
    choices). Other scikit-learn values are checked against the class's declared
    constraints (:func:`_check_sklearn_value`), and settings that clash together by
    :func:`check_model_fits`; the rest by the estimator when it is built.
    """
    if estimator not in ESTIMATOR_NAMES:
        raise ConfigError(
            f"{key}: unknown estimator {estimator!r} (known: {', '.join(ESTIMATOR_NAMES)})"
        )
    allowed = sorted(allowed_params(estimator))
    if (
        estimator == "cnn_windows"
        and params.get("convolution", "time_frequency") != "time_frequency"
    ):
        # Convolutions along time alone: one size in frames, not a [bands, frames] pair.
        for name in ("kernel_size", "pool_size"):
            if isinstance(params.get(name), list) and len(params[name]) != 1:
                raise ConfigError(
                    f"{key}.{name} must be one number with convolution: "
                    f"{params['convolution']}, got {params[name]!r}"
                )
        if params.get("convolution") == "timbral" and "band_heights" not in params:
            # The default band heights need a first block of as many maps.
            _check_timbral_filters(params, _TIMBRAL_BAND_HEIGHTS, key)
    elif estimator in ("cnn", "cnn_windows"):
        # 2-D convolutions: a list is a [bands, frames] pair (one number is both).
        for name in ("kernel_size", "pool_size"):
            if isinstance(params.get(name), list) and len(params[name]) == 1:
                raise ConfigError(
                    f"{key}.{name} must be one number or a [bands, frames] pair, "
                    f"got {params[name]!r}"
                )
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
        if name == "cnn" and estimator in EMBEDDING_ESTIMATORS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{key}.cnn must be a mapping of cnn_windows settings")
            check_estimator_params("cnn_windows", value, key=f"{key}.cnn")
            continue
        if name == "embedding" and estimator in EMBEDDING_ESTIMATORS:
            if value not in EMBEDDING_LAYERS:
                raise ConfigError(
                    f"{key}.embedding must be one of {', '.join(EMBEDDING_LAYERS)}, got {value!r}"
                )
            continue
        if estimator == "cnn_windows" and name in _CHOICES and value not in _CHOICES[name]:
            raise ConfigError(
                f"{key}.{name} must be one of {', '.join(_CHOICES[name])}, got {value!r}"
            )
        named = _NAMED_VALUES.get((_HEAD_OF.get(estimator, estimator), name))
        if named is not None:
            if isinstance(value, str) or name != "gamma":
                if value not in named:
                    raise ConfigError(
                        f"{key}.{name} must be one of {', '.join(named)}"
                        + (" or a positive number" if name == "gamma" else "")
                        + f", got {value!r}"
                    )
                continue
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{key}.{name} must be scale, auto or a positive number")
            continue
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if value is None:
            # Where null is a value (validation_fraction: none kept aside; scikit-learn's
            # class_weight, ...); elsewhere it reached the estimator, and every training
            # job failed, after the extraction, in words naming neither model nor key.
            if name in _NULLABLE or _sklearn_accepts_none(_HEAD_OF.get(estimator, estimator), name):
                continue
            raise ConfigError(
                f"{key}.{name} cannot be null: leave it out for the {estimator} model's default"
            )
        if name in _WHOLE and is_number and not float(value).is_integer():
            # The estimators cut it to a whole number: 2.5 components fitted 2.
            raise ConfigError(f"{key}.{name} must be a whole number, got {value}")
        if (name in _SWITCHES or (name == "global_pool" and estimator == "cnn")) and not (
            isinstance(value, bool)
        ):
            # Read as `if value:`, a text "no" or "off" (--config hands words over as
            # text) switched it on; the reference CNN's global_pool read mean_max as true.
            raise ConfigError(f"{key}.{name} must be true or false, got {value!r}")
        if name == "band_heights":
            heights = value if isinstance(value, list) else [value]
            if not heights or any(
                not isinstance(h, int | float) or isinstance(h, bool) or not 0 < h <= 1
                for h in heights
            ):
                raise ConfigError(
                    f"{key}.band_heights must be shares of the bands in (0, 1], got {value!r}"
                )
            if params.get("convolution") == "timbral":
                _check_timbral_filters(params, heights, key)
            continue
        if name in ("filters", "kernel_size", "pool_size"):
            # filters: a count per block; kernel_size, pool_size: n, or [bands, frames].
            sizes = value if isinstance(value, list) else [value]
            if (
                not sizes
                or any(not isinstance(n, int) or isinstance(n, bool) or n < 1 for n in sizes)
                or (name != "filters" and len(sizes) > 2)
            ):
                wanted = (
                    "positive whole numbers"
                    if name == "filters"
                    else "a positive whole number or a pair of them"
                )
                raise ConfigError(f"{key}.{name} must be {wanted}, got {value!r}")
            continue
        if name in _POSITIVE | _FRACTIONS | _NON_NEGATIVE:
            if not is_number:  # also a grid's list written under params
                raise ConfigError(f"{key}.{name} must be a number, got {value!r}")
            unlimited = name == "max_iter" and _HEAD_OF.get(estimator, estimator) == "svm"
            if unlimited and value == -1:
                continue  # SVC's own default: no limit
            if name in _POSITIVE and value <= 0:
                more = " (or -1, no limit)" if unlimited else ""
                raise ConfigError(f"{key}.{name} must be positive{more}, got {value}")
            if name in _FRACTIONS and not 0 <= value < 1:
                raise ConfigError(f"{key}.{name} must be in [0, 1), got {value}")
            if name in _NON_NEGATIVE and value < 0:
                raise ConfigError(f"{key}.{name} must be 0 or more, got {value}")
        elif _HEAD_OF.get(estimator, estimator) in _SKLEARN_CLASSES:
            _check_sklearn_value(_HEAD_OF.get(estimator, estimator), name, value, key=key)


#: scikit-learn settings each valid alone but not in every combination (a solver with dual
#: or l1_ratio; liblinear with more than two genres, in recent releases) or not for every
#: dataset (class_weight's genre names): :func:`check_model_fits` fits them.
_COMBINED_SETTINGS = frozenset({"solver", "dual", "l1_ratio", "class_weight", "intercept_scaling"})


def check_model_fits(config: Mapping[str, Any], genres: Sequence[str]) -> None:
    """Fit each SVM and logistic regression in use whose settings can clash on a few random
    rows of the dataset's genres, every combination of its search grid; raise
    :class:`ConfigError` naming the model where scikit-learn refuses.

    Without this they failed in every training job, after the extraction. Imports
    scikit-learn only for such settings (not for the default config).
    """
    classes = sorted(set(map(str, genres)))
    if len(classes) < 2:  # no dataset yet (a pending download), or refused elsewhere
        return
    for name in models_in_use(config):
        spec = config["models"][name]
        head = _HEAD_OF.get(spec["estimator"], spec["estimator"])
        params = dict(spec.get("params") or {})
        grid = dict((spec.get("search") or {}).get("param_grid") or {})
        if head not in ("svm", "logreg") or not _COMBINED_SETTINGS & {*params, *grid}:
            continue
        weight_sets = [("params", params.get("class_weight"))]
        weight_sets += [("search.param_grid", w) for w in grid.get("class_weight", [])]
        for where, weights in weight_sets:
            # scikit-learn takes weights of other classes too, when every genre has one.
            if not isinstance(weights, Mapping) or {*classes} <= set(map(str, weights)):
                continue
            if unknown := set(map(str, weights)) - {*classes}:
                raise ConfigError(
                    f"models.{name}.{where}.class_weight names {', '.join(sorted(unknown))}, "
                    f"no genre of the dataset ({', '.join(classes)})"
                )
        import importlib
        import itertools
        import warnings

        import numpy as np

        module, class_name = _SKLEARN_CLASSES[head]
        estimator_class = getattr(importlib.import_module(module), class_name)
        accepted = estimator_class().get_params()
        y = np.repeat(classes, 3)
        X = np.random.default_rng(0).normal(size=(len(y), 4))
        for values in itertools.product(*grid.values()):
            combination = dict(zip(grid, values, strict=True))
            settings = {**params, **combination}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # convergence on random rows
                    estimator_class(**{k: v for k, v in settings.items() if k in accepted}).fit(
                        X, y
                    )
            except (ValueError, TypeError) as error:
                # The grid's values only where they can take part in the clash.
                searched = (
                    f" with search {combination}" if _COMBINED_SETTINGS & {*combination} else ""
                )
                raise ConfigError(f"models.{name}.params{searched}: {error}") from None


def _sklearn_accepts_none(head: str, name: str) -> bool:
    """Whether ``head``'s scikit-learn class takes None for setting ``name``."""
    if head not in _SKLEARN_CLASSES or name not in _sklearn_constraints(head):
        return False
    try:
        from sklearn.utils._param_validation import validate_parameter_constraints
    except ImportError:  # a private module: without it, null is not taken on trust
        return False
    try:
        validate_parameter_constraints(
            {name: _sklearn_constraints(head)[name]}, {name: None}, caller_name=head
        )
    except ValueError:  # InvalidParameterError
        return False
    return True


#: The scikit-learn class each head estimator passes its other settings to.
_SKLEARN_CLASSES = {
    "svm": ("sklearn.svm", "SVC"),
    "logreg": ("sklearn.linear_model", "LogisticRegression"),
    "gmm": ("sklearn.mixture", "GaussianMixture"),
}


def _check_sklearn_value(head: str, name: str, value: Any, *, key: str) -> None:
    """Check one setting against its scikit-learn class's declared constraints.

    For the settings not checked above (class_weight, tol, ...): without this they
    failed in every training job, in words naming cross_val_predict and not the key.
    Imports scikit-learn (about 2 s), so only when a config holds such a setting.
    """
    try:
        from sklearn.utils._param_validation import (
            InvalidParameterError,
            validate_parameter_constraints,
        )
    except ImportError:  # a private module: where it moves, the estimator checks in the job
        return
    constraints = _sklearn_constraints(head)
    class_name = _SKLEARN_CLASSES[head][1]
    if name not in constraints:
        return
    try:
        validate_parameter_constraints(
            {name: constraints[name]}, {name: value}, caller_name=class_name
        )
    except InvalidParameterError as error:
        raise ConfigError(f"{key}.{name}: {error}") from None


def _sklearn_constraints(head: str) -> Mapping[str, Any]:
    """The declared parameter constraints of ``head``'s scikit-learn class."""
    import importlib

    module, class_name = _SKLEARN_CLASSES[head]
    return getattr(
        getattr(importlib.import_module(module), class_name), "_parameter_constraints", {}
    )


#: WindowCNNClassifier's default band_heights (tests/test_config_validation.py checks).
_TIMBRAL_BAND_HEIGHTS = (0.4, 0.7)


def _check_timbral_filters(params: Mapping[str, Any], heights: Sequence[float], key: str) -> None:
    """A timbral first block gives a map to each band height: it needs as many filters."""
    filters = params.get("filters", [16])  # WindowCNNClassifier's (16, 32, 64, 64)
    first = filters[0] if isinstance(filters, list) and filters else filters
    if isinstance(first, int) and first < len(heights):
        raise ConfigError(
            f"{key}.filters[0] ({first}) cannot give a map to each of the "
            f"{len(heights)} band_heights"
        )


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
    "patience",
    "window_frames",
    "hop_frames",
    "crops_per_track",
    "band_stride",
}
_FRACTIONS = {"dropout", "validation_fraction"}
#: The window CNN's augmentation and schedule counts (0 turns them off).
_NON_NEGATIVE = {
    "gain_db",
    "mixup_alpha",
    "time_masks",
    "time_mask_frames",
    "freq_masks",
    "freq_mask_bins",
    "lr_patience",
    "weight_decay",
    "negative_slope",
}
#: Settings that are switches: true or false only.
_SWITCHES = {"use_priors"}
#: The window CNN's layout and schedule settings and their values (checked before any job starts).
_CHOICES = {
    "convolution": ("time_frequency", "time", "timbral"),
    "global_pool": ("mean", "mean_max", "mean_std"),
    "lr_schedule": ("constant", "cosine"),
}


#: scikit-learn settings whose values are names, checked before any job starts rather than
#: failing inside every training job (SVC's and GaussianMixture's, also for the CNN heads).
_NAMED_VALUES = {
    ("svm", "kernel"): ("linear", "poly", "rbf", "sigmoid"),
    ("svm", "gamma"): ("scale", "auto"),
    ("gmm", "covariance_type"): ("full", "tied", "diag", "spherical"),
}
_HEAD_OF = {"cnn_svm": "svm", "cnn_gmm": "gmm"}
#: Settings whose null the estimators read as a value (no validation slice).
_NULLABLE = {"validation_fraction"}
#: Counts: the estimators cut a fraction to a whole number without a word.
_WHOLE = {
    "n_components",
    "max_iter",
    "hidden_units",
    "dense_units",
    "epochs",
    "batch_size",
    "patience",
    "window_frames",
    "hop_frames",
    "crops_per_track",
    "band_stride",
    "time_masks",
    "time_mask_frames",
    "freq_masks",
    "freq_mask_bins",
    "lr_patience",
}


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


def gtzan_download_pending(config: Mapping[str, Any]) -> bool:
    """Whether the run reads GTZAN from the download rule's folder, not there yet.

    The workflow then has no tracks to plan: it runs the download alone, so
    that ``snakemake --cores 1 download_gtzan`` also works with ``kind: gtzan``.
    """
    dataset = config["dataset"]
    root = (dataset.get("gtzan") or {}).get("root")
    if dataset["kind"] != "gtzan" or not root:
        return False
    # The folder however written (absolute, ./resources/...), or its parent, which
    # the scan accepts too: a literal comparison sent those to an error whose hint,
    # the download, the same error stopped.
    download = Path(os.path.abspath(GTZAN_DOWNLOAD_ROOT))
    given = Path(os.path.abspath(root))
    if holds_unhidden_files(download) or given not in (download, download.parent):
        return False
    if given == download.parent and given.is_dir():
        # Genre folders of their own there (a Kaggle copy): read them, or say where they
        # are (Data/genres_original: point there), but download nothing.
        try:
            find_genre_root(given)
            return False
        except FileNotFoundError:
            if genre_roots_inside(given):
                return False
    return True


def holds_unhidden_files(folder: Path) -> bool:
    """Whether ``folder`` holds anything but hidden files: Snakemake makes the download's
    folder, empty, for its record before the job runs, and may leave it so when it fails."""
    try:
        return any(not entry.name.startswith(".") for entry in folder.iterdir())
    except OSError:  # not there, or not a folder
        return False


def dataset_tracks(config: Mapping[str, Any]) -> Discovery:
    """Every track of the configured dataset, discovered when the workflow is parsed
    (none while the GTZAN download is pending)."""
    if config["dataset"]["kind"] == "synthetic":
        return Discovery(tracks=synthetic_tracks(config), skipped=[])
    if gtzan_download_pending(config):
        return Discovery(tracks=[], skipped=[])
    return discover_tracks(working_directory_path(config["dataset"]["gtzan"]["root"]))


def working_directory_path(path: str | os.PathLike) -> str:
    """``path`` relative to the working directory when it lies inside it, else as given.

    The clips' paths are their jobs' inputs, and Snakemake reruns a job whose inputs
    are spelled otherwise: ``/home/me/genrepipe/resources/gtzan``,
    ``./resources/gtzan/`` and ``resources/gtzan`` must name the same clips. A folder
    outside is left as written (relative, or absolute so that a moved checkout still
    finds it), but for ``.`` parts and repeated or trailing slashes; ``..`` is left
    alone, since it may follow a link.
    """
    if not os.path.isabs(path) or os.pardir in Path(path).parts:
        return str(Path(path))  # drops ./, // and a trailing /; keeps every ..
    # The working directory as the shell spells it ($PWD, through links such as macOS's
    # /tmp), and as the system does: a path written either way is recognized.
    shell = os.environ.get("PWD", "")
    starts = [os.getcwd()]
    if os.path.isabs(shell) and shell != starts[0] and os.path.isdir(shell):
        if os.path.samefile(shell, os.curdir):
            starts.append(shell)
    for start in starts:
        try:
            relative = os.path.relpath(path, start)
        except ValueError:  # another drive (Windows)
            continue
        if relative.split(os.sep, 1)[0] != os.pardir:
            return relative
    return str(Path(path))


def holdout_warnings(
    tracks: Sequence[str], genres: Sequence[str], settings: Mapping[str, Any]
) -> list[str]:
    """What a user should hear of a holdout split of these tracks before the run: the
    genres it tests no track of (a small genre's share of the test tracks can round to
    none), which the test accuracy then says nothing of.

    Every genre with at least ``len(genres) / n_test`` tracks gets a test track
    (scikit-learn's stratified allocation); only where one has fewer is the split made
    here, so that a parse loads scikit-learn for such datasets alone.
    """
    counts, n = Counter(genres), len(genres)
    test_size, seed = settings.get("test_size", 0.1), settings.get("seed", 42)
    n_test = math.ceil(test_size * n)
    if split_size_error("holdout", settings, genres) or all(
        count * n_test >= n for count in counts.values()
    ):
        return []
    from genrepipe.splits import holdout_split, untested_genres

    untested = untested_genres(holdout_split(tracks, genres, test_size=test_size, seed=seed))
    if not untested:
        return []
    sizes = ", ".join(f"{genre} {counts[genre]}" for genre in untested)
    return [
        f"split.holdout: no test track of {', '.join(untested)} ({sizes} of {n} tracks; "
        f"test_size {test_size:g} holds out {n_test}): the test accuracy will say nothing "
        "of them; raise split.holdout.test_size, or use split.scheme: kfold"
    ]


def split_size_error(scheme: str, settings: Mapping[str, Any], genres: Sequence[str]) -> str | None:
    """Why ``scheme`` cannot split tracks of these ``genres`` (one per track), or None.

    Plain Python, so that the workflow asks it when it is parsed, before any job;
    the split functions raise the same message.
    """
    counts = Counter(genres)
    if not counts:
        return None
    if len(counts) < 2:
        return (
            f"the dataset holds clips of one genre only ({next(iter(counts))}): a classifier "
            "needs at least two"
        )
    if scheme == "holdout":
        if alone := sorted(genre for genre, count in counts.items() if count < 2):
            each = " each" if len(alone) > 1 else ""
            return (
                f"{', '.join(alone)}: one track{each}, and a stratified split "
                "(split.scheme: holdout) needs at least two of every genre, one for "
                "training and one for testing"
            )
        test_size, n = settings.get("test_size", 0.1), len(genres)
        n_test = math.ceil(test_size * n)
        # sklearn rounds the test count up; each side needs a track of every genre.
        if 0 < test_size < 1 and min(n_test, n - n_test) < len(counts):
            return (
                f"split.holdout.test_size {test_size} of {n} tracks gives {n_test} test and "
                f"{n - n_test} training tracks; a stratified split needs at least one per "
                f"genre ({len(counts)}) on each side"
            )
    elif scheme == "kfold":
        n_splits, smallest = settings.get("n_splits", 10), min(counts.values())
        if n_splits >= 2 and smallest < n_splits:
            fewest = sorted(genre for genre, count in counts.items() if count == smallest)
            return (
                f"split.kfold.n_splits={n_splits} exceeds the {smallest} tracks of the "
                f"smallest genre ({', '.join(fewest)}): each fold tests a track of every genre"
            )
    return None


def inner_search_error(config: Mapping[str, Any], genres: Sequence[str]) -> str | None:
    """Why the inner-CV search of a model in use cannot run in the configured split's
    folds (every genre with fewer than two training tracks in a fold), or None.

    Known when the workflow is parsed; the training jobs raise it only after the
    extraction. A bound from the genres' counts alone (the folds are drawn later),
    so it speaks only where every fold must fail.
    """
    searched = [name for name in models_in_use(config) if config["models"][name].get("search")]
    counts = Counter(genres)
    scheme = config["split"]["scheme"]
    settings = config["split"].get(scheme) or {}
    if not searched or len(counts) < 2 or scheme not in ("holdout", "kfold"):
        return None
    if scheme == "holdout":
        # scikit-learn's stratified allocation of the training tracks (_approximate_mode):
        # each genre its share rounded down, then one more for the genres of the largest
        # remainders (ties drawn at random) until the training count is reached.
        test_size = settings.get("test_size", 0.1)
        n = len(genres)
        n_train = n - math.ceil(test_size * n)
        share = {genre: count / n * n_train for genre, count in counts.items()}
        left = {genre: value - math.floor(value) for genre, value in share.items()}
        spare = n_train - sum(math.floor(value) for value in share.values())
        most = max(
            math.floor(share[genre])
            + (left[genre] > 0 and sum(other > left[genre] for other in left.values()) < spare)
            for genre in counts
        )
        split = f"split.holdout.test_size {test_size}"
    else:
        n_splits = settings.get("n_splits", 10)
        most = max(count - count // n_splits for count in counts.values())
        split = f"split.kfold.n_splits={n_splits}"
    if most >= 2:
        return None
    return (
        f"models.{searched[0]}.search: an inner cross-validation needs two training tracks of "
        f"a genre, and {split} of {len(genres)} tracks leaves at most one of each in a fold "
        f"(more clips, a smaller test share or fewer folds, or search: null)"
    )


def n_folds(config: Mapping[str, Any]) -> int:
    """How many folds the configured split scheme makes."""
    split = config["split"]
    if split["scheme"] == "kfold":
        settings = split.get("kfold") or {}
        return settings.get("n_splits", 10) * settings.get("n_repeats", 1)
    return 1
