"""Rule train_final_model: fit one model on every usable track (every listed one with
the `lists` split)."""

from genrepipe.log import log_to_file
from genrepipe.tasks import train_final_model

log_to_file(snakemake.log[0])
train_final_model(
    snakemake.params.spec,
    snakemake.params.feature_settings,
    snakemake.input.features,
    snakemake.input.tracks,
    snakemake.output.model,
    transform_path=snakemake.input.get("transform"),
    seed=snakemake.params.fit["seed"],
    threads=snakemake.threads,
    fit_threads=snakemake.params.fit["threads"],
    sample_rate=snakemake.params.audio["sample_rate"],
    max_duration=snakemake.params.audio["max_duration"],
    base_model_dir=snakemake.input.get("base"),
    lists_split_table=snakemake.input.get("lists_split"),
    fold_model_dir=snakemake.input.get("fold_model"),
)
