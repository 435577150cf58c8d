"""Rule train_model: fit one model on one fold and predict its tracks."""

from genrepipe.log import log_to_file
from genrepipe.tasks import combine_ensemble, train_model

log_to_file(snakemake.log[0])
fold = int(snakemake.wildcards.fold)
if snakemake.params.spec["estimator"] == "ensemble":
    # Soft voting over the members' predictions of this fold: nothing is fitted.
    combine_ensemble(
        snakemake.params.spec,
        snakemake.input.members,
        snakemake.input.member_models,
        fold,
        snakemake.output.model,
        snakemake.output.predictions,
        seed=snakemake.params.fit["seed"],
    )
else:
    train_model(
        snakemake.params.spec,
        snakemake.params.feature_settings,
        snakemake.input.features,
        snakemake.input.split,
        fold,
        snakemake.output.model,
        snakemake.output.predictions,
        transform_path=snakemake.input.get("transform"),
        base_dir=snakemake.input.get("base"),
        seed=snakemake.params.fit["seed"],
        threads=snakemake.threads,
        fit_threads=snakemake.params.fit["threads"],
        sample_rate=snakemake.params.audio["sample_rate"],
        max_duration=snakemake.params.audio["max_duration"],
    )
