# Helpers shared by the rule files (config validation, the tracks of the
# configured dataset, their extraction batches, input functions). No rules.

import logging

from snakemake.utils import validate

from genrepipe.config import ConfigError, check_config, dataset_tracks, n_folds
from genrepipe.dataset import assign_batches


validate(config, schema="../config/schema.yaml")
try:
    check_config(config)
except (ConfigError, FileNotFoundError) as error:
    raise WorkflowError(f"Invalid configuration: {error}") from None

try:
    DISCOVERY = dataset_tracks(config)
except FileNotFoundError as error:
    raise WorkflowError(f"Invalid configuration: dataset.gtzan.root: {error}") from None
for skipped_path, reason in DISCOVERY.skipped:
    logging.getLogger("snakemake").warning(f"dataset: skipped {skipped_path}: {reason}")
if not DISCOVERY.tracks:
    raise WorkflowError("Invalid configuration: the dataset holds no audio clips")

TRACKS = DISCOVERY.tracks
BATCHES = assign_batches(TRACKS, config["features"]["tracks_per_job"])
FEATURE_SETS = ["seed87", "stats", "logmel", "segment_stats"]
SCHEME = config["split"]["scheme"]
FOLDS = list(range(n_folds(config)))
RUN_MODELS = config["run_models"]


def feature_file(feature_set, track):
    return f"results/features/{feature_set}/{track.genre}/{track.track}.npy"


def model_spec(model):
    """The settings of one model that its training reads (not its reference accuracy)."""
    spec = config["models"][model]
    return {key: spec[key] for key in ("estimator", "features", "input")} | {
        "params": spec.get("params") or {},
        "search": spec.get("search"),
        "vote": spec.get("vote"),
    }


def training_inputs(wildcards):
    """Raw features for image models; fold-fitted preprocessed features for the others."""
    spec = config["models"][wildcards.model]
    inputs = {"split": f"results/splits/{wildcards.scheme}.tsv"}
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
