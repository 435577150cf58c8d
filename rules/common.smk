# Helpers shared by the rule files (config validation, the tracks of the
# configured dataset, their extraction batches, input functions). No rules.

import logging
import math
import re

from snakemake.utils import validate

import yaml

from genrepipe.config import (
    ENSEMBLE,
    FEATURE_DEFAULTS,
    GTZAN_DOWNLOAD_RECORD,
    GTZAN_DOWNLOAD_ROOT,
    ConfigError,
    check_config,
    check_model_fits,
    check_unique_keys,
    config_hash,
    dataset_tracks,
    drop_null_settings,
    expand_home_paths,
    extracted_feature_sets,
    frame_count_warnings,
    gtzan_download_pending,
    holdout_warnings,
    inner_search_error,
    installed_release,
    key_order,
    matrix_megabytes,
    model_feature_sets,
    models_in_use,
    n_folds,
    order_config_keys,
    schema_error_message,
    split_size_error,
    type_command_line_values,
    window_check_samples,
    working_directory_path,
)
from genrepipe.dataset import assign_batches
from genrepipe.estimators import (
    CNN_ESTIMATORS,
    TENSORFLOW_ESTIMATORS,
    THREAD_DEPENDENT_ESTIMATORS,
)


# Snakemake's YAML loader keeps the last of a key given twice: say so instead.
try:
    check_unique_keys(workflow.configfiles)
except ConfigError as error:
    raise WorkflowError(f"Invalid configuration: {error}") from None
with open(workflow.source_path("../config/schema.yaml"), encoding="utf-8") as schema_file:
    SCHEMA = yaml.safe_load(schema_file)
# Snakemake leaves the values inside a --config mapping as strings ('5'): type them first.
type_command_line_values(config, SCHEMA)
drop_null_settings(config)
try:
    validate(config, schema="../config/schema.yaml")
except WorkflowError as error:  # its message is the whole schema: name the key instead
    raise WorkflowError(f"Invalid configuration: {schema_error_message(error)}") from None
expand_home_paths(config)
try:
    check_config(config)
except (ConfigError, FileNotFoundError) as error:
    raise WorkflowError(f"Invalid configuration: {error}") from None
# Params are compared as text: the same settings in another key order (a --config
# merge puts the keys it names first, an edit swaps two lines) must rerun nothing. The
# order is the schema's, config/config.yaml's where the schema leaves keys free.
with open(workflow.source_path("../config/config.yaml"), encoding="utf-8") as defaults_file:
    DEFAULT_CONFIG = yaml.safe_load(defaults_file)
order_config_keys(config, key_order(SCHEMA, DEFAULT_CONFIG, config))

try:
    DISCOVERY = dataset_tracks(config)
except (FileNotFoundError, ValueError) as error:
    raise WorkflowError(f"Invalid configuration: dataset.gtzan.root: {error}") from None
for skipped_path, reason in DISCOVERY.skipped:
    logging.getLogger("snakemake").warning(f"dataset: skipped {skipped_path}: {reason}")
for message in frame_count_warnings(config):
    logging.getLogger("snakemake").warning(message)
if folder_label_warning := DISCOVERY.folder_label_warning():
    logging.getLogger("snakemake").warning(f"dataset: {folder_label_warning}")
# GTZAN read from the download's folder before the download: plan the download alone.
DOWNLOAD_PENDING = gtzan_download_pending(config)
if DOWNLOAD_PENDING:
    logging.getLogger("snakemake").warning(
        f"dataset: {GTZAN_DOWNLOAD_ROOT} does not exist yet: this run only downloads GTZAN "
        "into it (rule download_gtzan); run the workflow again to use it"
    )
elif not DISCOVERY.tracks:
    raise WorkflowError("Invalid configuration: the dataset holds no audio clips")

TRACKS = DISCOVERY.tracks
BATCHES = assign_batches(TRACKS, config["features"]["tracks_per_job"])
FEATURE_SETS = list(FEATURE_DEFAULTS)
# Each extraction job's param: features cached under another librosa release (one
# upgrade away) may be computed differently, and would otherwise be merged with new ones.
LIBROSA_RELEASE = installed_release("librosa")
if LIBROSA_RELEASE is None:
    logging.getLogger("snakemake").warning(
        "librosa is not installed where Snakemake runs (jobs in conda environments?): "
        "a new librosa release in the jobs' environment will not re-extract the features "
        "by itself (README.md, Changing the code)"
    )
SCHEME = config["split"]["scheme"]
# Too few tracks for the split, or for a search inside its folds, is known now; clips
# failing the audio check can still make it fail later, in make_split or training.
TRACK_GENRES = [track.genre for track in TRACKS]
if problem := split_size_error(
    SCHEME, config["split"].get(SCHEME) or {}, TRACK_GENRES
) or inner_search_error(config, TRACK_GENRES):
    raise WorkflowError(f"Invalid configuration: {problem}")
if SCHEME == "holdout":  # a small genre's share of the test tracks can round to none
    for message in holdout_warnings(
        [track.track for track in TRACKS], TRACK_GENRES, config["split"]["holdout"]
    ):
        logging.getLogger("snakemake").warning(message)
try:  # settings that clash with each other or with the genres found
    check_model_fits(config, TRACK_GENRES)
except ConfigError as error:
    raise WorkflowError(f"Invalid configuration: {error}") from None
if SCHEME == "lists" and TRACKS:
    # The lists are known now too: a list naming no clip of the dataset stops here,
    # before any extraction, and the listed clips it lacks are said on the console.
    from genrepipe.splits import lists_warnings  # loads pandas (0.5 s): only for lists

    try:
        for message in lists_warnings(
            [track.track for track in TRACKS],
            TRACK_GENRES,
            config["split"]["lists"],
        ):
            logging.getLogger("snakemake").warning(message)
    except (FileNotFoundError, ValueError) as error:
        raise WorkflowError(f"Invalid configuration: {error}") from None
# A file inside the working directory written absolute or relative is one file: one
# spelling in params and inputs, so that respelling it reruns nothing (the model cards
# record the root, the split reads the lists); the messages above keep the user's.
if root := (config["dataset"].get("gtzan") or {}).get("root"):
    config["dataset"]["gtzan"]["root"] = working_directory_path(root)
if lists := config["split"].get("lists"):
    config["split"]["lists"] = {
        subset: working_directory_path(path) for subset, path in lists.items()
    }
FOLDS = list(range(n_folds(config)))
RUN_MODELS = config["run_models"]


def names_pattern(names):
    """A wildcard constraint matching exactly one of ``names`` (nothing when empty)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def feature_file(feature_set, track):
    return f"results/features/{feature_set}/{track.genre}/{track.track}.npy"


def model_spec(model):
    """The settings of one model that its training reads (not its reference accuracy).

    An ensemble's are its members. A CNN head with a `base` carries the base's
    settings as `params.cnn`, so it reruns when they change and, without the
    base's fitted CNN at hand, trains the same CNN itself.
    """
    spec = config["models"][model]
    if spec["estimator"] == ENSEMBLE:
        return {"estimator": ENSEMBLE, "members": list(spec["members"]), "params": {}}
    settings = {key: spec[key] for key in ("estimator", "features", "input")} | {
        "params": spec.get("params") or {},
        "search": spec.get("search"),
        "vote": spec.get("vote"),
    }
    if spec.get("base"):
        base_params = config["models"][spec["base"]].get("params") or {}
        settings["base"] = spec["base"]
        settings["params"] = settings["params"] | {"cnn": base_params}
    return settings


def split_list_files(wildcards):
    """The `lists` scheme's list files: inputs, so that editing one reruns the split
    (params hold their paths only). No files for the other schemes."""
    if wildcards.scheme != "lists":
        return []
    return list((config["split"].get("lists") or {}).values())


def pca_components(input_kind):
    """`preprocess.pca_components` for a PCA input; None for the others, which
    must not refit or retrain when it changes."""
    return config["preprocess"]["pca_components"] if input_kind == "pca" else None


def model_features(model):
    """The feature set(s) a model reads, for the summary: `stats`, or `stats+logmel`."""
    return "+".join(model_feature_sets(config, model))


def fit_threads(model):
    """The threads of a model whose results depend on the count (TensorFlow's but the
    reference cnn's, which trains on one; logistic regression's BLAS sums); None for
    the others.

    So the count is a param (changing `threads.train` reruns these models only)
    and comes from the config, not from the threads Snakemake grants a job
    (fewer under `--cores 1`).
    """
    spec = config["models"][model]
    return config["threads"]["train"] if spec["estimator"] in THREAD_DEPENDENT_ESTIMATORS else None


def fit_settings(model):
    """The seed and, where results depend on it, the thread count of a model's fit, as
    one mapping: a param's name is not part of what Snakemake compares."""
    return {"seed": config["seed"], "threads": fit_threads(model)}


# How clips are read, recorded in each bundle's card so that genrepipe-predict reads
# audio the same way.
AUDIO_SETTINGS = {
    "sample_rate": config["audio"]["sample_rate"],
    "max_duration": config["dataset"]["max_duration"],
}


def training_threads(wildcards):
    """The cores a training job takes: `threads.train` where the fit uses them, one
    for the others (libsvm and the GMM use about one whatever they are granted, and
    two such jobs side by side finish sooner than one after the other)."""
    return fit_threads(wildcards.model) or 1


def gpu_request(wildcards):
    """One GPU for a job training a model that trains or runs a CNN, no `gpu` resource
    otherwise (the Kubernetes executor gives a pod with `gpu: 0` a GPU toleration).

    Decided by the estimator, not the model's name (a cluster profile sees only the
    name). Unconstrained on one machine unless `--resources gpu=N` is given, which
    runs at most N such jobs at once; a cluster executor requests the GPU.
    """
    return 1 if config["models"][wildcards.model]["estimator"] in CNN_ESTIMATORS else None


# Memory a job asks for (`mem_mb`): what a cluster reserves and, under `--resources
# mem_mb=N`, what one machine counts. On full GTZAN (tools/benchmark_workflow.py --fit)
# the reference cnn, holding the seed87 matrices whole, took 3.5 GB (3301 MiB),
# cnn_logmel 2.8 GB, the seed87 PCA 2.2 GB, the others under 1 GB. Asking all for the
# most ran two SVMs side by side where eight fit.
MATRIX_JOB_MB = 4000
VECTOR_JOB_MB = 1500
# A larger collection, or longer matrices, asks for more in proportion: the cnn's
# 3.5 GB was 7 times the 0.49 GB of seed87 values it held.
MB_PER_MATRIX_MB = 8


def feature_set_memory(feature_set, attempt=1):
    """The memory of a job holding ``feature_set``'s features of every track whole;
    ``attempt`` times as much on a retry (`--retries`), after a kill for memory."""
    values_mb = matrix_megabytes(config, feature_set, len(TRACKS))
    if values_mb is None:
        return VECTOR_JOB_MB * attempt
    return max(MATRIX_JOB_MB, math.ceil(MB_PER_MATRIX_MB * values_mb)) * attempt


def preprocessing_memory(wildcards, attempt):
    return feature_set_memory(wildcards.feature_set, attempt)


def training_memory(wildcards, attempt):
    """A model reading images (a CNN, or a head running its base CNN) or the scaled
    values of a matrix set holds that set whole; a PCA's components are a few hundred
    values a track, and an ensemble reads its members' predictions."""
    spec = config["models"][wildcards.model]
    if spec["estimator"] == ENSEMBLE or spec["input"] == "pca":
        return VECTOR_JOB_MB * attempt
    return feature_set_memory(spec["features"], attempt)


def feature_set_settings(wildcards):
    """A feature set's block of the config; none (the feature function's defaults, as
    the config check assumes) where the block was deleted from config/config.yaml."""
    return config["features"].get(wildcards.feature_set) or {}


def model_feature_settings(model):
    """The settings of the feature set a model reads (none for an ensemble)."""
    spec = config["models"][model]
    return config["features"].get(spec["features"]) or {} if "features" in spec else {}


def training_inputs(wildcards):
    """Raw features for image models; fold-fitted preprocessed features for the others."""
    spec = config["models"][wildcards.model]
    inputs = {"split": f"results/splits/{wildcards.scheme}.tsv"}
    scheme, fold = wildcards.scheme, wildcards.fold
    if spec["estimator"] == ENSEMBLE:  # the members' predictions of the same fold
        inputs["members"] = [
            f"results/models/{member}/{scheme}/fold{fold}/predictions.tsv"
            for member in spec["members"]
        ]
        inputs["member_models"] = [
            f"results/models/{member}/{scheme}/fold{fold}/model" for member in spec["members"]
        ]
        return inputs
    if spec.get("base"):  # the fitted CNN of the same fold
        inputs["base"] = f"results/models/{spec['base']}/{scheme}/fold{fold}/model"
    if spec["input"] == "image":
        inputs["features"] = f"results/features/{spec['features']}.parquet"
    else:
        folder = (
            f"results/preprocessed/{spec['features']}-{spec['input']}/"
            f"{wildcards.scheme}/fold{wildcards.fold}"
        )
        inputs["features"] = f"{folder}/features.parquet"
        inputs["transform"] = f"{folder}/transform.skops"
    return inputs


def final_features(wildcards):
    """Raw features for image models; for the others, preprocessing fitted on the
    final models' tracks (shared, as training_inputs' fold preprocessing is)."""
    spec = config["models"][wildcards.model]
    if spec["input"] == "image":
        return {"features": f"results/features/{spec['features']}.parquet"}
    folder = f"results/preprocessed/{spec['features']}-{spec['input']}/final"
    return {"features": f"{folder}/features.parquet", "transform": f"{folder}/transform.skops"}


def final_base(wildcards):
    """A CNN head's `base` final model: its CNN is reused, as the fold heads reuse theirs."""
    base = config["models"][wildcards.model].get("base")
    return {"base": f"results/final/{base}/model"} if base else {}


def final_epochs(wildcards):
    """With the `lists` split, a network's fold model, which stopped early on the valid
    list: a final model without a validation slice of its own, which learns from those
    tracks too, trains as many epochs. Other schemes' fold models stop (if at all) on
    a slice of their training tracks, as the final model does on its own."""
    spec = config["models"][wildcards.model]
    if SCHEME != "lists" or spec["estimator"] not in TENSORFLOW_ESTIMATORS or spec.get("base"):
        return {}
    return {"fold_model": f"results/models/{wildcards.model}/lists/fold0/model"}


def final_tracks(wildcards):
    """The `lists` split's table, whose tracks alone a final model may train on (a
    filtered split's lists leave out faulty clips); none for the other schemes,
    whose final models train on every usable track, whatever the folds."""
    return {"lists_split": "results/splits/lists.tsv"} if SCHEME == "lists" else {}


def intermediate_outputs():
    """Every file a later job of a plain run reads, itself a target of the run.

    Snakemake skips a job whose output is missing when the jobs reading it look up
    to date (snakemake issue 1978). A job that fails on a rerun for a changed
    setting (killed, out of memory, a cluster's time limit) has lost its outputs:
    the next run then had "Nothing to be done" and left the previous results in
    results/summary.csv, or fold models of two settings side by side. As targets,
    a missing one is made again, and the jobs reading it rerun.
    """
    final = config.get("final_models", True)
    models = models_in_use(config)
    sets = extracted_feature_sets(config)
    outputs = [track.path for track in TRACKS] if config["dataset"]["kind"] == "synthetic" else []
    outputs += expand("results/tracks/{batch}.tsv", batch=BATCHES) + ["results/tracks.tsv"]
    outputs += expand(
        "results/features/{feature_set}/reports/{batch}.tsv", feature_set=sets, batch=BATCHES
    )
    outputs += expand("results/features/{feature_set}.parquet", feature_set=sets)
    outputs += expand("results/features/{feature_set}_failed.tsv", feature_set=sets)
    outputs += [f"results/splits/{SCHEME}.tsv", f"results/splits/{SCHEME}.json"]
    for model in models:
        spec = config["models"][model]
        fold = f"results/models/{model}/{SCHEME}/fold{{fold}}"
        outputs += expand(f"{fold}/model", fold=FOLDS) + expand(f"{fold}/predictions.tsv", fold=FOLDS)
        if spec["estimator"] != ENSEMBLE and spec["input"] != "image":
            prefix = f"results/preprocessed/{spec['features']}-{spec['input']}"
            for folder in expand(f"{prefix}/{SCHEME}/fold{{fold}}", fold=FOLDS) + (
                [f"{prefix}/final"] if final else []
            ):
                outputs += [f"{folder}/transform.skops", f"{folder}/features.parquet"]
    # Every model's metrics where final models are made (each one's card reads them).
    for model in models if final else RUN_MODELS:
        outputs += [
            f"results/metrics/{model}/{SCHEME}{suffix}"
            for suffix in (".json", "_per_genre.csv", "_confusion.csv", "_confusion.png")
        ]
    if final:
        outputs += expand("results/final/{model}/model", model=models)
    return list(dict.fromkeys(outputs))


def run_outputs():
    """What a plain run makes (rule all); only the download while GTZAN is pending."""
    if DOWNLOAD_PENDING:
        return rules.download_gtzan.output
    return [
        intermediate_outputs(),  # the merged tables of features.sets among them
        "results/summary.csv",
        "results/failed_tracks.tsv",
        rules.plot_results.output,
        rules.record_run.output,
        (
            expand("results/final/{model}/card.json", model=FINAL_MODELS)
            if config.get("final_models", True)
            else []
        ),
    ]
