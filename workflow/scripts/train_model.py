"""Rule train_model: fit one model on one fold and predict its tracks."""

from genrepipe.log import log_to_file
from genrepipe.tasks import train_model

log_to_file(snakemake.log[0])
train_model(
    snakemake.params.spec,
    snakemake.params.feature_settings,
    snakemake.input.features,
    snakemake.input.split,
    snakemake.params.fold,
    snakemake.output.model,
    snakemake.output.predictions,
    transform_path=snakemake.input.get("transform"),
    seed=snakemake.params.seed,
    threads=snakemake.threads,
)
